package builtin

import (
	"math"
	"math/rand/v2"
	"sort"

	"cyclepix/data"
	"cyclepix/data/raster"
)

// labels2scenes is a toy Cityscapes for pix2pixHD: street scenes seen from
// the road, written in NVIDIA pix2pixHD's layout (train_label, train_inst,
// train_img; test_* and val_* alike), the three files of one scene under
// one name.
//
//	*_label: 8-bit grey PNGs of class ids 0..7 (the scene classes below);
//	*_inst:  16-bit grey PNGs of instance ids, as Cityscapes writes them:
//	         a "stuff" pixel (sky, road, grass, window) holds its class id,
//	         a "thing" pixel (building, tree, car, person) class*1000+k, k
//	         counting that class's instances in the image from 0. Buildings
//	         stand wall to wall, trees grow in overlapping clusters, cars
//	         queue behind each other and people walk in pairs, so that the
//	         instance edges carry boundaries the label map does not;
//	*_img:   8-bit RGB renderings.
//
// The rendering is meant to need pix2pixHD's multi-scale discriminator:
// structure at the scale of the image (a sky gradient with clouds, a
// ground plane in perspective whose textures shrink toward the horizon,
// buildings lit by a light from one side), and class textures at the scale
// of a few pixels that the label map does not draw (bricks and mortar,
// window frames and sills, grass blades, leaves, bark, road grain and lane
// markings, car glass, wheels and lights). Colours follow the label map
// closely (so L1, PSNR and SSIM against the rendering mean something),
// with moderate variation: per image (sky, grass, asphalt, light side,
// texture phase) and per instance (each building, tree, car and person
// its own tint, constant over the instance, so the instance map says where
// one tint ends). Every length scales with the image size.

// Scene classes: the label ids of labels2scenes.
const (
	scSky = iota
	scRoad
	scGrass
	scBuilding
	scWindow
	scTree
	scCar
	scPerson
	sceneClasses // K, the --label_nc to train with
)

// sceneClassNames name the classes, for messages.
var sceneClassNames = [sceneClasses]string{"sky", "road", "grass", "building", "window", "tree", "car", "person"}

// sceneThing marks the classes whose instances are counted (class*1000+k);
// the others are stuff and carry their class id.
var sceneThing = [sceneClasses]bool{scBuilding: true, scTree: true, scCar: true, scPerson: true}

// Parts of an instance the rendering tells apart but the label map does
// not.
const (
	partMain  = iota
	partTrunk // a tree's trunk
	partGlass // a car's rear window
	partWheel
	partLight // a car's rear lights
	partHead  // a person's head
	partLegs
)

// sceneObj is one drawn object: a thing instance, or a window (stuff in the
// instance map, but the rendering frames each one).
type sceneObj struct {
	cls            int
	id             uint16  // the instance map's value
	x0, y0, x1, y1 float64 // bounding box in pixels
	cx, cy, r      float64 // a tree's crown, a person's head
	depth          float64 // 0 at the buildings' base line … 1 at the bottom edge
	col, col2      [3]float64
	phase          float64    // texture offset, in pixels
	lobes          [2]float64 // phases of a tree crown's lumpy outline
	lit            bool       // a window with the light on
}

// scene is one street scene: the label and instance maps, and what the
// rendering needs beyond them.
type scene struct {
	size           int
	s              float64
	horizon, base  float64 // y of the horizon and of the buildings' base line
	vx             float64 // x of the vanishing point of the road
	roadW          float64 // half the road's width, in pixels per pixel below the horizon
	label          []uint8
	obj            []int16 // index into objs, -1 for none
	part           []uint8
	objs           []sceneObj
	count          [sceneClasses]int // instances so far, per thing class
	tex            uint64            // seed of the texture noise
	sky0, sky1     [3]float64        // zenith and horizon
	clouds         float64           // how cloudy, 0..0.6
	cloudDx        float64           // where the cloud pattern starts
	grass, asphalt [3]float64        // base colours
	lightFromLeft  bool              // which side buildings, crowns and people are lit from
	bladeA         float64           // how far grass blades lean
}

// newScene draws a scene's layout from r. The label, instance and image
// folders all draw it from the same stream, so they agree pixel by pixel.
func newScene(r *rand.Rand, size int) *scene {
	s := float64(size)
	n := size * size
	sc := &scene{size: size, s: s, label: make([]uint8, n), obj: make([]int16, n), part: make([]uint8, n)}
	for i := range sc.obj {
		sc.obj[i] = -1
	}
	sc.horizon = s * (0.40 + 0.1*r.Float64())
	sc.base = sc.horizon + s*(0.02+0.03*r.Float64())
	sc.vx = s * (0.3 + 0.4*r.Float64())
	sc.roadW = 0.45 + 0.35*r.Float64()

	// Per-image appearance.
	sc.tex = r.Uint64()
	sc.sky0 = hsv(0.57+0.05*r.Float64(), 0.45+0.25*r.Float64(), 0.7+0.15*r.Float64())
	sc.sky1 = hsv(0.55+0.05*r.Float64(), 0.1+0.12*r.Float64(), 0.9+0.08*r.Float64())
	sc.clouds = 0.6 * r.Float64()
	sc.cloudDx = 100 * r.Float64()
	sc.grass = hsv(0.22+0.08*r.Float64(), 0.5+0.2*r.Float64(), 0.42+0.15*r.Float64())
	sc.asphalt = hsv(0.6, 0.03+0.05*r.Float64(), 0.33+0.1*r.Float64())
	sc.lightFromLeft = r.IntN(2) == 0
	sc.bladeA = 0.4 * (r.Float64() - 0.5) // grass leans a little

	// Sky above the horizon, the ground below: road between two lines
	// through the vanishing point, grass beside it.
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			i := y*size + x
			switch {
			case float64(y)+0.5 < sc.horizon:
				sc.label[i] = scSky
			case math.Abs(sc.groundX(x, y)) < sc.roadW:
				sc.label[i] = scRoad
			default:
				sc.label[i] = scGrass
			}
		}
	}

	// A row of buildings along the far edge of the ground, the first two
	// always wall to wall (touching instances of one class), later ones
	// now and then with a gap.
	x := -s * 0.1 * r.Float64()
	for k := 0; x < s; k++ {
		w := s * (0.13 + 0.15*r.Float64())
		top := math.Max(sc.base-s*(0.16+0.24*r.Float64()), s*0.04)
		sc.building(r, x, x+w, top)
		x += w
		if k > 0 && r.Float64() < 0.35 {
			x += s * (0.04 + 0.1*r.Float64())
		}
	}

	// Trees, cars and people stand on the ground: planned first, then
	// painted from far to near so that near ones hide far ones.
	type plan struct {
		baseY float64
		draw  func()
	}
	var plans []plan
	depthOf := func(y float64) float64 { return clamp01((y - sc.base) / (s - sc.base)) }
	for c := 1 + r.IntN(3); c > 0; c-- {
		yb := sc.base + (s*1.02-sc.base)*(0.12+0.88*r.Float64())
		k := depthOf(yb)
		rr := s * 0.11 * (0.7 + 0.6*r.Float64()) * (0.35 + 0.65*k)
		xt := s * r.Float64()
		// Keep the trunk on the grass: out of the road, beside it.
		d := yb - sc.horizon
		side := 1.0
		if xt < sc.vx {
			side = -1
		}
		if math.Abs(xt-sc.vx) < (sc.roadW+0.05)*d+0.3*rr {
			xt = sc.vx + side*((sc.roadW+0.05)*d+0.3*rr)
		}
		// A cluster of overlapping crowns, growing away from the road.
		for t := 1 + r.IntN(3); t > 0; t-- {
			o := sceneObj{cls: scTree, depth: k, r: rr, x0: xt, y1: yb, phase: 1000 * r.Float64(),
				col:   hsv(0.24+0.1*r.Float64(), 0.5+0.25*r.Float64(), 0.35+0.15*r.Float64()),
				col2:  hsv(0.06+0.04*r.Float64(), 0.35+0.2*r.Float64(), 0.25+0.12*r.Float64()),
				lobes: [2]float64{5 * r.Float64(), 5 * r.Float64()}}
			plans = append(plans, plan{yb, func() { sc.tree(o) }})
			xt += side * rr * (1.0 + 0.3*r.Float64())
			yb += rr * 0.15 * (r.Float64() - 0.5)
			rr *= 0.85 + 0.3*r.Float64()
		}
	}
	for c := 1 + r.IntN(3); c > 0; c-- {
		lane := sc.roadW / 2
		if r.IntN(2) == 0 {
			lane = -lane
		}
		yc := sc.base + (s*1.05-sc.base)*(0.2+0.8*r.Float64())
		// A queue: each next car farther along the lane, its bottom hidden
		// behind the one before.
		for q := 1 + r.IntN(2); q > 0; q-- {
			d := yc - sc.horizon
			w := 0.72 * sc.roadW * d * (0.9 + 0.15*r.Float64())
			h := 0.8 * w
			cx := sc.vx + lane*d + 0.1*w*(r.Float64()-0.5)
			o := sceneObj{cls: scCar, depth: depthOf(yc), x0: cx - w/2, x1: cx + w/2, y0: yc - h, y1: yc,
				col: carColour(r), phase: r.Float64()}
			plans = append(plans, plan{yc, func() { sc.car(o) }})
			yc -= 0.3 * h
		}
	}
	for c := r.IntN(3); c > 0; c-- {
		yb := sc.base + (s*1.02-sc.base)*(0.25+0.75*r.Float64())
		d := yb - sc.horizon
		side := 1.0
		if r.IntN(2) == 0 {
			side = -1
		}
		x := sc.vx + side*(sc.roadW+0.04+0.2*r.Float64())*d
		for p := 1 + r.IntN(2); p > 0; p-- {
			h := 0.55 * sc.roadW * d * (0.85 + 0.25*r.Float64())
			o := sceneObj{cls: scPerson, depth: depthOf(yb), x0: x - 0.2*h, x1: x + 0.2*h, y0: yb - h, y1: yb,
				col:  hsv(r.Float64(), 0.4+0.4*r.Float64(), 0.35+0.5*r.Float64()),
				col2: hsv(0.06+0.03*r.Float64(), 0.35+0.25*r.Float64(), 0.45+0.45*r.Float64())}
			plans = append(plans, plan{yb, func() { sc.person(o) }})
			// The next of a pair walks shoulder to shoulder.
			x += side * 0.3 * h
			yb += 0.02 * h
		}
	}
	sort.SliceStable(plans, func(a, b int) bool { return plans[a].baseY < plans[b].baseY })
	for _, p := range plans {
		p.draw()
	}
	return sc
}

// carColour is a car's paint: mostly white, black, grey or silver, some
// red, blue or another colour.
func carColour(r *rand.Rand) [3]float64 {
	u := r.Float64()
	switch {
	case u < 0.2:
		return hsv(0.6, 0.03, 0.85+0.1*r.Float64())
	case u < 0.35:
		return hsv(0.6, 0.05, 0.1+0.08*r.Float64())
	case u < 0.55:
		return hsv(0.6, 0.05, 0.45+0.25*r.Float64())
	case u < 0.7:
		return hsv(0.99+0.03*r.Float64(), 0.75, 0.55+0.2*r.Float64())
	case u < 0.85:
		return hsv(0.6+0.05*r.Float64(), 0.65, 0.4+0.25*r.Float64())
	}
	return hsv(r.Float64(), 0.5+0.3*r.Float64(), 0.4+0.4*r.Float64())
}

// groundX is a ground pixel's sideways position relative to the road's
// centre line, in units that keep the road's half-width roadW at every
// distance: pixels from the vanishing point's x over pixels below the
// horizon.
func (sc *scene) groundX(x, y int) float64 {
	return (float64(x) + 0.5 - sc.vx) / math.Max(float64(y)+0.5-sc.horizon, 0.5)
}

// newObj adds an object and gives it its instance id.
func (sc *scene) newObj(o sceneObj) int16 {
	o.id = uint16(o.cls)
	if sceneThing[o.cls] {
		o.id = uint16(o.cls*1000 + sc.count[o.cls])
		sc.count[o.cls]++
	}
	sc.objs = append(sc.objs, o)
	return int16(len(sc.objs) - 1)
}

func (sc *scene) put(x, y, cls int, obj int16, part uint8) {
	i := y*sc.size + x
	sc.label[i], sc.obj[i], sc.part[i] = uint8(cls), obj, part
}

// box is a float box's pixel range, clipped to the image: the pixels whose
// centres it covers.
func (sc *scene) box(x0, y0, x1, y1 float64) (ix0, iy0, ix1, iy1 int) {
	c := func(v float64) int { return min(max(int(math.Round(v)), 0), sc.size) }
	return c(x0), c(y0), c(x1), c(y1)
}

// building adds one building from x0 to x1 and from top down to the base
// line, with a grid of windows (stuff, but framed one by one).
func (sc *scene) building(r *rand.Rand, x0, x1, top float64) {
	var col [3]float64
	switch u := r.Float64(); {
	case u < 0.45: // red brick
		col = hsv(0.01+0.04*r.Float64(), 0.45+0.2*r.Float64(), 0.5+0.2*r.Float64())
	case u < 0.8: // yellow brick
		col = hsv(0.08+0.04*r.Float64(), 0.3+0.15*r.Float64(), 0.65+0.15*r.Float64())
	default: // grey brick
		col = hsv(r.Float64(), 0.04+0.06*r.Float64(), 0.55+0.2*r.Float64())
	}
	o := sceneObj{cls: scBuilding, x0: x0, x1: x1, y0: top, y1: sc.base, col: col, phase: 1000 * r.Float64()}
	id := sc.newObj(o)
	ix0, iy0, ix1, iy1 := sc.box(x0, top, x1, sc.base)
	for y := iy0; y < iy1; y++ {
		for x := ix0; x < ix1; x++ {
			sc.put(x, y, scBuilding, id, partMain)
		}
	}
	// Windows: a grid over the upper floors, the ground floor left blank.
	s := sc.s
	sx, sy := s*(0.04+0.025*r.Float64()), s*(0.06+0.03*r.Float64())
	fw, fh := 0.45+0.15*r.Float64(), 0.45+0.2*r.Float64()
	cols := int((x1-x0)/sx - 0.4)
	margin := (x1 - x0 - float64(cols)*sx) / 2
	glass := hsv(0.55+0.08*r.Float64(), 0.25+0.2*r.Float64(), 0.22+0.12*r.Float64())
	for wy := top + 0.45*sy; wy+sy < sc.base-0.5*sy; wy += sy {
		for c := 0; c < cols; c++ {
			wx := x0 + margin + float64(c)*sx
			w := sceneObj{cls: scWindow, x0: wx + sx*(1-fw)/2, x1: wx + sx*(1+fw)/2, y0: wy + sy*(1-fh)/2, y1: wy + sy*(1+fh)/2,
				col: glass, lit: r.Float64() < 0.08}
			wx0, wy0, wx1, wy1 := sc.box(w.x0, w.y0, w.x1, w.y1)
			if wx1 <= wx0 || wy1 <= wy0 {
				continue
			}
			w.x0, w.y0, w.x1, w.y1 = float64(wx0), float64(wy0), float64(wx1), float64(wy1)
			wid := sc.newObj(w)
			for y := wy0; y < wy1; y++ {
				for x := wx0; x < wx1; x++ {
					sc.put(x, y, scWindow, wid, partMain)
				}
			}
		}
	}
}

// tree paints a tree whose trunk stands at (x0, y1): a lumpy round crown
// of radius r on a trunk.
func (sc *scene) tree(o sceneObj) {
	trunkH, trunkW := 0.95*o.r, math.Max(0.2*o.r, 1)
	xt, yb := o.x0, o.y1
	o.cx, o.cy = xt, yb-trunkH-0.8*o.r
	o.x0, o.x1, o.y0 = xt-1.2*o.r, xt+1.2*o.r, o.cy-1.2*o.r
	id := sc.newObj(o)
	ix0, iy0, ix1, iy1 := sc.box(o.x0, o.y0, o.x1, o.y1)
	for y := iy0; y < iy1; y++ {
		for x := ix0; x < ix1; x++ {
			px, py := float64(x)+0.5, float64(y)+0.5
			dx, dy := px-o.cx, py-o.cy
			th := math.Atan2(dy, dx)
			edge := o.r * (1 + 0.08*math.Sin(5*th+o.lobes[0]) + 0.05*math.Sin(9*th+o.lobes[1]))
			switch {
			case dx*dx+dy*dy < edge*edge:
				sc.put(x, y, scTree, id, partMain)
			case math.Abs(px-xt) < trunkW/2*(1+0.3*(py-o.cy)/(yb-o.cy)) && py > o.cy && py < yb:
				sc.put(x, y, scTree, id, partTrunk)
			}
		}
	}
}

// car paints a car seen from behind: a cabin with its rear window on a
// wider body with rear lights, two wheels below.
func (sc *scene) car(o sceneObj) {
	id := sc.newObj(o)
	w, h := o.x1-o.x0, o.y1-o.y0
	pillar := math.Max(0.07*w, 1)
	round := 0.12 * w
	ix0, iy0, ix1, iy1 := sc.box(o.x0, o.y0, o.x1, o.y1)
	for y := iy0; y < iy1; y++ {
		for x := ix0; x < ix1; x++ {
			u, v := (float64(x)+0.5-o.x0)/w, (float64(y)+0.5-o.y0)/h // 0..1 across, top to bottom
			du := math.Abs(u-0.5) * w                                // pixels from the centre line
			switch {
			case v < 0.45: // cabin: a trapezoid, rounded at the roof
				half := w * (0.33 + 0.1*v/0.45)
				if du > half || (v < 0.08 && du > half-round*(1-v/0.08)) {
					continue
				}
				part := uint8(partMain)
				if du < half-pillar && v > 0.08 && v < 0.42 {
					part = partGlass
				}
				sc.put(x, y, scCar, id, part)
			case v < 0.86: // body, corners rounded
				cy := math.Max(0, math.Max(0.45*h+round-v*h, v*h-0.86*h+round))
				cx := math.Max(0, du-(w/2-round))
				if cx*cx+cy*cy > round*round {
					continue
				}
				part := uint8(partMain)
				if v > 0.52 && v < 0.64 && du > 0.3*w && du < 0.47*w {
					part = partLight
				}
				sc.put(x, y, scCar, id, part)
			default: // wheels
				if du > 0.28*w && du < 0.44*w {
					sc.put(x, y, scCar, id, partWheel)
				}
			}
		}
	}
}

// person paints a person-like blob: a round head, an oval torso, two legs.
func (sc *scene) person(o sceneObj) {
	h := o.y1 - o.y0
	xc := (o.x0 + o.x1) / 2
	o.cx, o.cy, o.r = xc, o.y0+0.1*h, math.Max(0.09*h, 0.7)
	id := sc.newObj(o)
	ix0, iy0, ix1, iy1 := sc.box(o.x0, o.y0, o.x1, o.y1)
	for y := iy0; y < iy1; y++ {
		for x := ix0; x < ix1; x++ {
			px, py := float64(x)+0.5, float64(y)+0.5
			v := (py - o.y0) / h
			hx, hy := px-o.cx, py-o.cy
			tx, ty := (px-xc)/(0.17*h), (v-0.41)/0.22
			leg := math.Abs(math.Abs(px-xc)-0.06*h) < math.Max(0.05*h, 0.5)
			switch {
			case hx*hx+hy*hy < o.r*o.r:
				sc.put(x, y, scPerson, id, partHead)
			case tx*tx+ty*ty < 1:
				sc.put(x, y, scPerson, id, partMain)
			case v > 0.55 && leg:
				sc.put(x, y, scPerson, id, partLegs)
			}
		}
	}
}

// labelImage is the label map, class ids as grey levels.
func (sc *scene) labelImage() *data.Image {
	return &data.Image{W: sc.size, H: sc.size, C: 1, Pix: append([]uint8(nil), sc.label...)}
}

// sceneColours are the classes' colours in the colour label maps
// (Cityscapes' palette where it has the class).
var sceneColours = [sceneClasses][3]uint8{
	{70, 130, 180}, {128, 64, 128}, {152, 251, 152}, {70, 70, 70}, {250, 170, 30}, {107, 142, 35}, {0, 0, 142}, {220, 20, 60},
}

// colourImage is the label map in colour, as pix2pix takes label maps
// (facades, cityscapes' A images).
func (sc *scene) colourImage() *data.Image {
	m := &data.Image{W: sc.size, H: sc.size, C: 3, Pix: make([]uint8, 3*len(sc.label))}
	for i, cls := range sc.label {
		copy(m.Pix[3*i:3*i+3], sceneColours[cls][:])
	}
	return m
}

// instanceRaster is the 16-bit instance map.
func (sc *scene) instanceRaster() *raster.Raster {
	out := raster.New(sc.size, sc.size, 1, raster.Uint16)
	p := out.Plane(0)
	for i, cls := range sc.label {
		p[i] = float32(cls)
		if o := sc.obj[i]; o >= 0 {
			p[i] = float32(sc.objs[o].id)
		}
	}
	return out
}

// render paints the scene (see the comment at the top of this file for
// what it is meant to show). It draws nothing random: every variation was
// drawn with the layout, so the image folder agrees with the others.
func (sc *scene) render() *data.Image {
	size, s := sc.size, sc.s
	nz := noise{seed: sc.tex}
	c := newCanvas(size, size, [3]float64{})
	// The light's side: buildings and crowns are brighter toward it.
	light := 1.0
	if !sc.lightFromLeft {
		light = -1
	}
	brickH := math.Max(2, s/85)
	brickW := 2.4 * brickH
	frame := math.Max(1, math.Round(s/256))
	for y := 0; y < size; y++ {
		fy := (float64(y) + 0.5) / s
		d := float64(y) + 0.5 - sc.horizon // pixels below the horizon
		// The sky darker toward the zenith, pale at the horizon.
		sky := mix(sc.sky0, sc.sky1, math.Pow(clamp01(fy/(sc.horizon/s)), 0.7))
		for x := 0; x < size; x++ {
			i := y*size + x
			fx := (float64(x) + 0.5) / s
			var o *sceneObj
			if k := sc.obj[i]; k >= 0 {
				o = &sc.objs[k]
			}
			var col [3]float64
			switch sc.label[i] {
			case scSky:
				// Stretched clouds over the gradient.
				cl := nz.fractal(fx*2.5+sc.cloudDx, fy*8) + 0.15*(nz.at(fx*12, fy*30)-0.5)
				a := sc.clouds * smoothstep(0.5, 0.75, cl)
				col = mix(sky, [3]float64{0.97, 0.97, 0.98}, a)
			case scRoad:
				col = sc.road(nz, x, y, d)
			case scGrass:
				col = sc.grassAt(nz, x, y, d)
			case scBuilding:
				col = sc.wall(nz, o, x, y, brickH, brickW, light)
			case scWindow:
				col = sc.window(o, x, y, frame)
			case scTree:
				col = sc.treeAt(nz, o, x, y, light)
			case scCar:
				col = sc.carAt(nz, o, x, y)
			case scPerson:
				col = sc.personAt(o, x, y, light)
			}
			copy(c.pix[3*i:3*i+3], col[:])
		}
	}
	return c.image()
}

func mix(a, b [3]float64, t float64) [3]float64 {
	return [3]float64{a[0] + (b[0]-a[0])*t, a[1] + (b[1]-a[1])*t, a[2] + (b[2]-a[2])*t}
}

func scale(a [3]float64, k float64) [3]float64 { return [3]float64{a[0] * k, a[1] * k, a[2] * k} }

// haze blends a colour toward the horizon's sky the farther it is (depth
// 0 at the buildings' base line).
func (sc *scene) haze(col [3]float64, depth float64) [3]float64 {
	return mix(col, sc.sky1, 0.3*(1-depth)*(1-depth))
}

// road is asphalt: grain at the pixel scale and stains at a larger one,
// both in ground coordinates so that they shrink toward the horizon, a
// dashed centre line and solid edge lines.
func (sc *scene) road(nz noise, x, y int, d float64) [3]float64 {
	s := sc.s
	d = math.Max(d, 0.5)
	X := sc.groundX(x, y)
	Z := s / d // distance, 1 per camera height at the bottom edge
	grain := nz.at(float64(x)*0.8+311, float64(y)*0.8+17)
	stain := nz.fractal(X*6+50, Z*3)
	shade := 0.92 + 0.14*(grain-0.5) + 0.2*(stain-0.5)
	col := scale(sc.asphalt, shade)
	// Lines: each pixel covers 1/d of X and s/d² of Z, so coverage fades
	// thin far lines instead of aliasing them.
	cover := func(dist, halfW, foot float64) float64 { return clamp01((halfW-dist)/foot + 0.5) }
	dash := cover(math.Abs(math.Mod(Z, 1.6)-0.5), 0.35, s/(d*d)) // 0.7 of every 1.6 units
	paint := math.Max(cover(math.Abs(X), 0.012, 1/d)*dash, cover(math.Abs(math.Abs(X)-(sc.roadW-0.04)), 0.012, 1/d))
	col = mix(col, [3]float64{0.9, 0.9, 0.86}, 0.9*paint*(0.85+0.3*grain))
	return sc.haze(col, clamp01((float64(y)+0.5-sc.base)/(s-sc.base)))
}

// grassAt is grass: blades (noise stretched upward, leaning a little) whose
// width shrinks toward the horizon, in lighter and darker patches.
func (sc *scene) grassAt(nz noise, x, y int, d float64) [3]float64 {
	s := sc.s
	depth := clamp01((float64(y) + 0.5 - sc.base) / (s - sc.base))
	w := math.Max(0.8, s/220*(0.25+1.2*depth)) // blade width in pixels
	px, py := float64(x)+0.5, float64(y)+0.5
	bx := (px + sc.bladeA*py) / w
	blade := nz.at(bx+700, py/(6*w))
	fine := nz.at(bx*2.1+900, py/(2*w))
	patch := nz.fractal(px/s*5+40, py/s*9)
	// Sharpened, so that blades have edges rather than blur.
	shade := 0.7 + 0.45*smoothstep(0.25, 0.75, blade) + 0.2*(fine-0.5) + 0.35*(patch-0.5)
	col := scale(sc.grass, shade)
	// Tips catch the light: brighter and yellower where a blade peaks.
	col = mix(col, hsv(0.18, 0.5, 0.8), 0.35*smoothstep(0.7, 0.9, blade))
	return sc.haze(col, depth)
}

// wall is a building's brick wall: bricks in a running bond with mortar
// joints, each brick a little lighter or darker; lit more toward the
// light's side of the image and less toward the ground; a light cornice
// along the top and sills under the windows.
func (sc *scene) wall(nz noise, o *sceneObj, x, y int, brickH, brickW, light float64) [3]float64 {
	s := sc.s
	px, py := float64(x)+o.phase, float64(y)+o.phase*0.37
	row := math.Floor(py / brickH)
	off := 0.0
	if int(row)%2 != 0 {
		off = brickW / 2
	}
	colN := math.Floor((px + off) / brickW)
	by, bx := py-row*brickH, px+off-colN*brickW
	jitter := nz.lattice(int(colN)+7919, int(row)-104729) - 0.5
	shade := 1 + 0.22*jitter + 0.1*(nz.at(float64(x)*0.9+123, float64(y)*0.9+45)-0.5)
	col := o.col
	if by < 1 || bx < 1 { // mortar
		col, shade = mix(o.col, [3]float64{0.8, 0.78, 0.74}, 0.7), 1
	}
	fx := (float64(x) + 0.5) / s
	if light < 0 {
		fx = 1 - fx
	}
	shade *= 1.15 - 0.35*fx                                                     // the light's side of the image
	shade *= 0.8 + 0.2*smoothstep(0, 1, (sc.base-float64(y))/(0.15*s))          // darker at the foot
	shade *= 1 - 0.12*smoothstep(o.x0, o.x1, float64(x)+0.5)*light + 0.06*light // and across each front
	if float64(y)+0.5-o.y0 < math.Max(2, s/100) {
		col, shade = mix(o.col, [3]float64{0.85, 0.83, 0.8}, 0.6), 1.05 // cornice
	}
	if y > 0 && sc.label[(y-1)*sc.size+x] == scWindow {
		col, shade = [3]float64{0.82, 0.8, 0.76}, 1 // sill
	}
	return sc.haze(scale(col, shade), 0)
}

// window is glass reflecting the sky, lighter toward its top, or warm
// light, in a light frame with a mullion when wide enough.
func (sc *scene) window(o *sceneObj, x, y int, frame float64) [3]float64 {
	px, py := float64(x)+0.5, float64(y)+0.5
	w := o.x1 - o.x0
	if w >= 5 && (px-o.x0 < frame || o.x1-px < frame || py-o.y0 < frame || o.y1-py < frame ||
		math.Abs(px-(o.x0+o.x1)/2) < frame/2) {
		return sc.haze([3]float64{0.88, 0.87, 0.83}, 0)
	}
	t := (py - o.y0) / (o.y1 - o.y0)
	col := mix(mix(o.col, sc.sky1, 0.35), o.col, t)
	if o.lit {
		col = mix(hsv(0.12, 0.45, 0.95), hsv(0.1, 0.6, 0.75), t)
	}
	return sc.haze(col, 0)
}

// treeAt is foliage: a crown shaded as a ball lit from above on the
// light's side, clumps of leaves at a quarter of its radius, single leaves
// at a few pixels, dark holes between clumps; or a trunk with vertical
// bark.
func (sc *scene) treeAt(nz noise, o *sceneObj, x, y int, light float64) [3]float64 {
	s := sc.s
	px, py := float64(x)+0.5, float64(y)+0.5
	if sc.part[y*sc.size+x] == partTrunk {
		bark := nz.at(px/math.Max(1, s/300)+o.phase, py/math.Max(3, s/40))
		side := 0.8 + 0.3*light*(o.cx-px)/math.Max(0.2*o.r, 1)
		return sc.haze(scale(o.col2, (0.7+0.5*bark)*side), o.depth)
	}
	nx, ny := (px-o.cx)/o.r, (py-o.cy)/o.r
	nz2 := math.Sqrt(math.Max(0, 1-nx*nx-ny*ny))
	lambert := math.Max(0, -0.5*light*nx-0.6*ny+0.62*nz2)
	clump := nz.at(px/(0.25*o.r)+o.phase, py/(0.25*o.r))
	leaf := nz.at(px/math.Max(1, s/200)+o.phase, py/math.Max(1, s/200)+3)
	shade := (0.45 + 0.8*lambert) * (0.65 + 0.45*clump + 0.3*(leaf-0.5))
	if clump < 0.25 {
		shade *= 0.6
	}
	col := scale(o.col, shade)
	col = mix(col, hsv(0.2, 0.55, 0.75), 0.25*smoothstep(0.65, 0.9, leaf)*lambert)
	return sc.haze(col, o.depth)
}

// carAt is a car from behind: paint lighter at the top of the body with a
// highlight along its shoulder, dark glass with a sky reflection, red
// lights, black tyres.
func (sc *scene) carAt(nz noise, o *sceneObj, x, y int) [3]float64 {
	px, py := float64(x)+0.5, float64(y)+0.5
	u, v := (px-o.x0)/(o.x1-o.x0), (py-o.y0)/(o.y1-o.y0)
	var col [3]float64
	switch sc.part[y*sc.size+x] {
	case partGlass:
		col = mix([3]float64{0.12, 0.14, 0.18}, sc.sky1, 0.35*smoothstep(0.1, 0.6, u+0.5*v-0.2)*(1-smoothstep(0.6, 0.9, u+0.5*v-0.2)))
	case partWheel:
		col = [3]float64{0.06, 0.06, 0.07}
	case partLight:
		col = [3]float64{0.75, 0.08, 0.06}
	default:
		shade := 1.05 - 0.45*smoothstep(0.45, 0.9, v)
		col = scale(o.col, shade)
		col = mix(col, [3]float64{1, 1, 1}, 0.45*math.Exp(-math.Pow((v-0.5)/0.03, 2)))
		if v > 0.72 && v < 0.8 && math.Abs(u-0.5) < 0.17 { // the number plate
			col = [3]float64{0.85, 0.85, 0.8}
		}
	}
	return sc.haze(col, o.depth)
}

// personAt is a person: skin-toned head, a shirt of the person's colour
// lit from the light's side, dark trousers.
func (sc *scene) personAt(o *sceneObj, x, y int, light float64) [3]float64 {
	px := float64(x) + 0.5
	side := 0.9 + 0.2*light*((o.x0+o.x1)/2-px)/math.Max(o.x1-o.x0, 1)
	var col [3]float64
	switch sc.part[y*sc.size+x] {
	case partHead:
		col = o.col2
	case partLegs:
		col = [3]float64{0.14, 0.16, 0.25}
	default:
		col = o.col
	}
	return sc.haze(scale(col, side), o.depth)
}

// drawSceneLabel, drawSceneInstances and drawSceneImage are the three
// folders of labels2scenes: each draws the scene from the sample's stream.
func drawSceneLabel(r *rand.Rand, size int) *data.Image { return newScene(r, size).labelImage() }

func drawSceneInstances(r *rand.Rand, size int) *raster.Raster {
	return newScene(r, size).instanceRaster()
}

func drawSceneImage(r *rand.Rand, size int) *data.Image { return newScene(r, size).render() }

func drawSceneColours(r *rand.Rand, size int) *data.Image { return newScene(r, size).colourImage() }
