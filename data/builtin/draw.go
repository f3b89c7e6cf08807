package builtin

import (
	"math"
	"math/rand/v2"

	"cyclepix/data"
)

// canvas is an RGB float image in [0, 1] that the generators paint on.
type canvas struct {
	w, h int
	pix  []float64
}

func newCanvas(w, h int, bg [3]float64) *canvas {
	c := &canvas{w: w, h: h, pix: make([]float64, w*h*3)}
	for i := 0; i < w*h; i++ {
		copy(c.pix[3*i:3*i+3], bg[:])
	}
	return c
}

// blend mixes colour col into pixel (x, y) with weight a.
func (c *canvas) blend(x, y int, col [3]float64, a float64) {
	p := c.pix[3*(y*c.w+x):]
	for i := 0; i < 3; i++ {
		p[i] += (col[i] - p[i]) * a
	}
}

// image quantises to 8 bits (rounding), the format the folders hold.
func (c *canvas) image() *data.Image {
	m := &data.Image{W: c.w, H: c.h, C: 3, Pix: make([]uint8, len(c.pix))}
	for i, v := range c.pix {
		switch {
		case v <= 0:
			m.Pix[i] = 0
		case v >= 1:
			m.Pix[i] = 255
		default:
			m.Pix[i] = uint8(v*255 + 0.5)
		}
	}
	return m
}

func clamp01(v float64) float64 {
	if v < 0 {
		return 0
	}
	if v > 1 {
		return 1
	}
	return v
}

func smoothstep(e0, e1, x float64) float64 {
	t := clamp01((x - e0) / (e1 - e0))
	return t * t * (3 - 2*t)
}

// hsv converts hue (turns), saturation and value to RGB.
func hsv(h, s, v float64) [3]float64 {
	h = (h - math.Floor(h)) * 6
	i := int(h)
	f := h - float64(i)
	p, q, t := v*(1-s), v*(1-s*f), v*(1-s*(1-f))
	switch i % 6 {
	case 0:
		return [3]float64{v, t, p}
	case 1:
		return [3]float64{q, v, p}
	case 2:
		return [3]float64{p, v, t}
	case 3:
		return [3]float64{p, q, v}
	case 4:
		return [3]float64{t, p, v}
	}
	return [3]float64{v, p, q}
}

// ellipse is a rotated ellipse in pixel coordinates.
type ellipse struct {
	cx, cy, rx, ry float64
	sin, cos       float64 // of the rotation angle
}

func randomEllipse(r *rand.Rand, size float64) ellipse {
	e := ellipse{
		cx: size * (0.2 + 0.6*r.Float64()), cy: size * (0.2 + 0.6*r.Float64()),
		rx: size * (0.12 + 0.18*r.Float64()), ry: size * (0.08 + 0.14*r.Float64()),
	}
	e.sin, e.cos = math.Sincos(math.Pi * r.Float64())
	return e
}

// local returns the pixel centre's coordinates along the ellipse's axes
// and its normalised radius (1 on the outline).
func (e ellipse) local(x, y int) (u, v, rad float64) {
	dx, dy := float64(x)+0.5-e.cx, float64(y)+0.5-e.cy
	u, v = dx*e.cos+dy*e.sin, -dx*e.sin+dy*e.cos
	return u, v, math.Hypot(u/e.rx, v/e.ry)
}

// bounds is the pixel box that contains the ellipse, clipped to size.
func (e ellipse) bounds(size int) (x0, y0, x1, y1 int) {
	r := math.Max(e.rx, e.ry) + 2
	return max(int(e.cx-r), 0), max(int(e.cy-r), 0), min(int(e.cx+r)+1, size), min(int(e.cy+r)+1, size)
}

// coverage is an antialiased inside-ness: the outline is about one pixel
// wide.
func (e ellipse) coverage(rad float64) float64 {
	return clamp01((1-rad)*math.Min(e.rx, e.ry) + 0.5)
}

// background is a plain, light or muted colour shared by both domains.
func background(r *rand.Rand) [3]float64 {
	return hsv(r.Float64(), 0.1+0.25*r.Float64(), 0.55+0.4*r.Float64())
}

// drawBlobs is domain A of blobs2zebras: 1–3 smooth, softly shaded
// ellipses of saturated colours.
func drawBlobs(r *rand.Rand, size int) *data.Image {
	c := newCanvas(size, size, background(r))
	n := 1 + r.IntN(3)
	for k := 0; k < n; k++ {
		e := randomEllipse(r, float64(size))
		col := hsv(r.Float64(), 0.55+0.4*r.Float64(), 0.6+0.4*r.Float64())
		x0, y0, x1, y1 := e.bounds(size)
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				_, _, rad := e.local(x, y)
				a := e.coverage(rad)
				if a == 0 {
					continue
				}
				shade := 0.75 + 0.25*(1-rad*rad) // a rounded, lit-from-the-front look
				c.blend(x, y, [3]float64{col[0] * shade, col[1] * shade, col[2] * shade}, a)
			}
		}
	}
	return c.image()
}

// drawZebras is domain B of blobs2zebras: the same kind of ellipses,
// covered in wavy black-and-white stripes.
func drawZebras(r *rand.Rand, size int) *data.Image {
	c := newCanvas(size, size, background(r))
	n := 1 + r.IntN(3)
	for k := 0; k < n; k++ {
		e := randomEllipse(r, float64(size))
		period := float64(size) * (0.05 + 0.05*r.Float64())
		dir := math.Pi * r.Float64()
		waveAmp := period * (0.3 + 0.7*r.Float64())
		waveLen := float64(size) * (0.15 + 0.2*r.Float64())
		phase := 2 * math.Pi * r.Float64()
		ds, dc := math.Sincos(dir)
		x0, y0, x1, y1 := e.bounds(size)
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				u, v, rad := e.local(x, y)
				a := e.coverage(rad)
				if a == 0 {
					continue
				}
				along, across := u*dc+v*ds, -u*ds+v*dc
				t := math.Sin(2 * math.Pi * (along + waveAmp*math.Sin(2*math.Pi*across/waveLen+phase)) / period)
				stripe := smoothstep(-0.25, 0.25, t)
				shade := 0.85 + 0.15*(1-rad*rad)
				g := (0.06 + 0.88*stripe) * shade
				c.blend(x, y, [3]float64{g, g, g * 0.97}, a)
			}
		}
	}
	return c.image()
}

// Label classes of shapes2photos, with the flat colours of the label map
// (in the spirit of the facades labels) and their photographic look.
const (
	clsSky = iota
	clsWall
	clsWindow
	clsDoor
	clsOrnament
	clsBase
	numClasses
)

var labelColour = [numClasses][3]uint8{
	clsSky:      {0, 0, 170},
	clsWall:     {0, 85, 255},
	clsWindow:   {0, 170, 255},
	clsDoor:     {255, 170, 0},
	clsOrnament: {255, 0, 0},
	clsBase:     {170, 255, 85},
}

// layout is a label map plus per-object data the renderer needs.
type layout struct {
	size   int
	label  []uint8
	object []int16 // which object covers the pixel (-1: none), for frames and shading
	rects  []rect
	discs  []disc
	light  float64 // light direction (radians) for the rendering
	tint   [numClasses][3]float64
}

type rect struct{ x0, y0, x1, y1, cls int }

type disc struct{ cx, cy, r float64 }

func randomLayout(r *rand.Rand, size int) *layout {
	l := &layout{size: size, label: make([]uint8, size*size), object: make([]int16, size*size)}
	for i := range l.object {
		l.object[i] = -1
	}
	s := float64(size)
	fill := func(x0, y0, x1, y1, cls int) {
		x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, size), min(y1, size)
		obj := int16(len(l.rects))
		l.rects = append(l.rects, rect{x0, y0, x1, y1, cls})
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				l.label[y*size+x] = uint8(cls)
				l.object[y*size+x] = obj
			}
		}
	}
	// The wall, with sky around it and a base strip at the bottom.
	wx0, wx1 := int(s*(0.05+0.1*r.Float64())), int(s*(0.85+0.1*r.Float64()))
	wy0 := int(s * (0.05 + 0.2*r.Float64()))
	fill(wx0, wy0, wx1, size, clsWall)
	baseH := int(s * (0.04 + 0.04*r.Float64()))
	fill(wx0, size-baseH, wx1, size, clsBase)
	// A grid of windows.
	cols, rows := 2+r.IntN(3), 1+r.IntN(3)
	cw, rh := float64(wx1-wx0)/float64(cols), float64(size-baseH-wy0)/float64(rows+1)
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			if r.Float64() < 0.15 {
				continue
			}
			mx, my := cw*(0.2+0.1*r.Float64()), rh*(0.15+0.1*r.Float64())
			x0, y0 := wx0+int(float64(j)*cw+mx), wy0+int(float64(i)*rh+my)
			fill(x0, y0, wx0+int(float64(j+1)*cw-mx), wy0+int(float64(i+1)*rh-my), clsWindow)
		}
	}
	// A door in the bottom row.
	dw := int(cw * (0.4 + 0.2*r.Float64()))
	dx := wx0 + int(cw*float64(r.IntN(cols))+(cw-float64(dw))/2)
	fill(dx, size-baseH-int(rh*0.85), dx+dw, size-baseH, clsDoor)
	// Round ornaments.
	for k := r.IntN(3); k > 0; k-- {
		d := disc{cx: s * (0.15 + 0.7*r.Float64()), cy: s * (0.1 + 0.5*r.Float64()), r: s * (0.04 + 0.05*r.Float64())}
		obj := int16(-2 - len(l.discs))
		l.discs = append(l.discs, d)
		for y := 0; y < size; y++ {
			for x := 0; x < size; x++ {
				if math.Hypot(float64(x)+0.5-d.cx, float64(y)+0.5-d.cy) < d.r {
					l.label[y*size+x] = clsOrnament
					l.object[y*size+x] = obj
				}
			}
		}
	}
	l.light = math.Pi * (0.15 + 0.2*r.Float64())
	base := [numClasses][3]float64{
		clsSky:      hsv(0.56+0.04*r.Float64(), 0.35+0.2*r.Float64(), 0.85+0.1*r.Float64()),
		clsWall:     hsv(0.05+0.08*r.Float64(), 0.25+0.35*r.Float64(), 0.6+0.3*r.Float64()),
		clsWindow:   hsv(0.55+0.1*r.Float64(), 0.3+0.2*r.Float64(), 0.25+0.15*r.Float64()),
		clsDoor:     hsv(0.06+0.04*r.Float64(), 0.5+0.3*r.Float64(), 0.3+0.2*r.Float64()),
		clsOrnament: hsv(0.25+0.15*r.Float64(), 0.4+0.3*r.Float64(), 0.45+0.3*r.Float64()),
		clsBase:     hsv(0.08, 0.1*r.Float64(), 0.35+0.2*r.Float64()),
	}
	l.tint = base
	return l
}

// labelImage draws the label map: flat class colours, no antialiasing, as
// label maps are.
func (l *layout) labelImage() *data.Image {
	m := &data.Image{W: l.size, H: l.size, C: 3, Pix: make([]uint8, l.size*l.size*3)}
	for i, cls := range l.label {
		copy(m.Pix[3*i:3*i+3], labelColour[cls][:])
	}
	return m
}

// noise is smooth value noise on an integer lattice, seeded per image.
type noise struct{ seed uint64 }

func (n noise) lattice(x, y int) float64 {
	h := uint64(int64(x))*0x9e3779b97f4a7c15 ^ uint64(int64(y))*0xc2b2ae3d27d4eb4f ^ n.seed
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return float64(h>>11) / (1 << 53)
}

func (n noise) at(x, y float64) float64 {
	x0, y0 := math.Floor(x), math.Floor(y)
	fx, fy := smoothstep(0, 1, x-x0), smoothstep(0, 1, y-y0)
	ix, iy := int(x0), int(y0)
	a := n.lattice(ix, iy) + (n.lattice(ix+1, iy)-n.lattice(ix, iy))*fx
	b := n.lattice(ix, iy+1) + (n.lattice(ix+1, iy+1)-n.lattice(ix, iy+1))*fx
	return a + (b-a)*fy
}

// fractal sums three octaves, in [0, 1].
func (n noise) fractal(x, y float64) float64 {
	return (n.at(x, y)*4 + n.at(2*x+17, 2*y+5)*2 + n.at(4*x+3, 4*y+29)) / 7
}

// photo renders the layout: per-class colour, lighting, texture (bricks
// on the wall, reflections in the glass, grain everywhere), window frames
// and shadows under objects.
func (l *layout) photo(r *rand.Rand) *data.Image {
	size := l.size
	s := float64(size)
	nz := noise{seed: r.Uint64()}
	c := newCanvas(size, size, [3]float64{})
	brickH := math.Max(3, s/24)
	brickW := 2.2 * brickH
	lx, ly := math.Cos(l.light), math.Sin(l.light)
	shadow := max(1, size/40)
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			i := y*size + x
			cls := int(l.label[i])
			col := l.tint[cls]
			fx, fy := float64(x)/s, float64(y)/s
			grain := nz.fractal(fx*12, fy*12)
			shade := 1.0
			switch cls {
			case clsSky:
				shade = 1.1 - 0.35*fy + 0.1*(grain-0.5)
			case clsWall:
				row := math.Floor(float64(y) / brickH)
				off := 0.0
				if int(row)%2 == 1 {
					off = brickW / 2
				}
				bx, by := math.Mod(float64(x)+off, brickW), math.Mod(float64(y), brickH)
				mortar := by < 1 || bx < 1
				shade = 0.9 + 0.25*(nz.at(math.Floor((float64(x)+off)/brickW)*1.7, row*2.3)-0.5) + 0.15*(grain-0.5)
				if mortar {
					shade = 1.25
				}
			case clsWindow:
				rc := l.rects[l.object[i]]
				// A diagonal reflection across the glass and a light frame.
				t := float64(x-rc.x0)/float64(max(rc.x1-rc.x0, 1)) + float64(y-rc.y0)/float64(max(rc.y1-rc.y0, 1))
				shade = 0.8 + 0.6*smoothstep(0.7, 0.9, t)*(1-smoothstep(0.9, 1.1, t))
				if x-rc.x0 < 2 || rc.x1-1-x < 2 || y-rc.y0 < 2 || rc.y1-1-y < 2 {
					col, shade = [3]float64{0.92, 0.9, 0.85}, 1
				}
			case clsDoor:
				rc := l.rects[l.object[i]]
				shade = 0.85 + 0.3*math.Abs(math.Sin(float64(x-rc.x0)*math.Pi/6))*0.3 + 0.2*(grain-0.5)
			case clsOrnament:
				d := l.discs[-2-int(l.object[i])]
				nx, ny := (float64(x)+0.5-d.cx)/d.r, (float64(y)+0.5-d.cy)/d.r
				nzv := math.Sqrt(math.Max(0, 1-nx*nx-ny*ny))
				shade = 0.45 + 0.8*math.Max(0, -nx*lx-ny*ly+nzv*0.6)
			case clsBase:
				shade = 0.9 + 0.3*(grain-0.5)
			}
			// Shadows: objects darken the wall just below and beside them,
			// on the side away from the light.
			if cls == clsWall {
				sx, sy := x-int(math.Round(lx*float64(shadow))), y-int(math.Round(ly*float64(shadow)))
				if sx >= 0 && sy >= 0 && sx < size && sy < size && l.label[sy*size+sx] != clsWall && l.label[sy*size+sx] != clsSky {
					shade *= 0.7
				}
			}
			shade *= 1.05 - 0.2*fy*fy // a little vignetting toward the ground
			p := c.pix[3*i:]
			for k := 0; k < 3; k++ {
				p[k] = col[k] * shade
			}
		}
	}
	return c.image()
}

// drawPair is one shapes2photos image: label map on the left, rendering on
// the right.
func drawPair(r *rand.Rand, size int) *data.Image {
	l := randomLayout(r, size)
	a, b := l.labelImage(), l.photo(r)
	w := 2 * size
	m := &data.Image{W: w, H: size, C: 3, Pix: make([]uint8, w*size*3)}
	for y := 0; y < size; y++ {
		copy(m.Pix[y*w*3:], a.Pix[y*size*3:(y+1)*size*3])
		copy(m.Pix[(y*w+size)*3:], b.Pix[y*size*3:(y+1)*size*3])
	}
	return m
}
