package builtin

import (
	"math"
	"math/rand/v2"

	"cyclepix/data"
	"cyclepix/data/raster"
)

// fluo2he is a toy virtual-staining task: a multiplexed fluorescence image
// of a tissue section in, the H&E bright-field image of the same section
// out. Both are rendered from one tissue (tissue below), drawn from the
// sample's random stream, so trainA/0007.tif and trainB/0007.png show the
// same cells.
//
// Domain A, 4-page uint16 TIFFs on a 12-bit camera's scale (0..4095: a dark
// offset of 100, shot noise growing with the signal and read noise of 4):
//
//	channel 0, nuclei (DAPI-like): ~1300..3600 in nuclei, chromatin-textured,
//	           ~180 elsewhere in tissue;
//	channel 1, membranes: bright cell outlines of the epithelium (~2000),
//	           faint cytoplasm (~350);
//	channel 2, cytoplasm (a protein stain): ~1400 in epithelial cells, ~700
//	           on stroma fibres, ~250 elsewhere in tissue;
//	channel 3, autofluorescence: a broad, uneven ~250..450 over tissue, ~1000
//	           on collagen fibres, ~2800 on red blood cells.
//
// Slide and camera vary a little per image (gains of 0.85..1.15 per
// channel). Glass (lumen, gaps) reads the dark offset in every channel.
//
// Domain B, 8-bit RGB PNGs: Beer–Lambert absorption of hematoxylin
// (nuclei: purple, down to (85, 65, 140) in the densest chromatin) and eosin
// (cytoplasm and fibres pink, red blood cells red) under a near-white
// (245, 242, 246) illumination, with per-image stain strengths of
// 0.92..1.08 and a little sensor noise. The stain variation is not
// visible in A, so no model reaches L1 0 (as with shapes2photos's walls).

const (
	fluoOffset = 100  // the camera's dark level, in ADU
	fluoFull   = 4095 // a 12-bit camera's full scale
	fluoRead   = 4    // read noise, ADU
)

// Stain optical densities per unit concentration, for R, G and B (after
// Ruifrok and Johnston's hematoxylin; an eosin that absorbs a little
// blue, for a pink rather than magenta).
var (
	odHematoxylin = [3]float64{0.65, 0.70, 0.29}
	odEosin       = [3]float64{0.05, 0.905, 0.42}
	illumination  = [3]float64{245.0 / 255, 242.0 / 255, 246.0 / 255}
)

// tissue is one field of view: per-pixel densities in [0, 1] that both
// renderings read.
type tissue struct {
	size int
	in   []float64 // tissue (1) or glass (0)
	nuc  []float64 // DNA: nuclei, chromatin-textured
	memb []float64 // epithelial cell membranes
	cyto []float64 // epithelial cytoplasm
	fib  []float64 // stroma's collagen fibres
	rbc  []float64 // red blood cells
	auto []float64 // uneven autofluorescence of the tissue itself
}

// newTissue draws a section: glass gaps, epithelium (packed cells with
// round nuclei and pink cytoplasm) and stroma (wavy fibres, sparse
// spindle-shaped nuclei), sometimes a small vessel of red blood cells.
// Every length scales with size, so a dataset looks alike at every size.
func newTissue(r *rand.Rand, size int) *tissue {
	n := size * size
	t := &tissue{size: size, in: make([]float64, n), nuc: make([]float64, n), memb: make([]float64, n),
		cyto: make([]float64, n), fib: make([]float64, n), rbc: make([]float64, n), auto: make([]float64, n)}
	s := float64(size)
	nz := noise{seed: r.Uint64()}
	gap := 0.28 + 0.14*r.Float64()     // more or less glass
	stromaAt := 0.35 + 0.3*r.Float64() // more or less stroma
	fibreDir := math.Pi * r.Float64()  // fibres run this way
	period := s * (0.05 + 0.02*r.Float64())
	fs, fc := math.Sincos(fibreDir)
	inAt := func(x, y float64) float64 { return smoothstep(gap-0.03, gap+0.03, nz.fractal(x/s*2.5, y/s*2.5)) }
	stromaOf := func(x, y float64) float64 {
		return smoothstep(stromaAt-0.05, stromaAt+0.05, nz.fractal(x/s*2+31, y/s*2+57))
	}
	stroma := make([]float64, n)
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			i := y*size + x
			px, py := float64(x)+0.5, float64(y)+0.5
			t.in[i] = inAt(px, py)
			stroma[i] = stromaOf(px, py)
			t.auto[i] = t.in[i] * (0.5 + 0.5*nz.fractal(px/s*5+11, py/s*5+3))
			along, across := px*fc+py*fs, -px*fs+py*fc
			w := across + 0.5*period*math.Sin(2*math.Pi*along/(0.35*s)) + 2*period*(nz.at(px/s*4+7, py/s*4+9)-0.5)
			f := 0.5 + 0.5*math.Cos(2*math.Pi*w/period)
			t.fib[i] = stroma[i] * t.in[i] * smoothstep(0.5, 0.9, f) * (0.55 + 0.45*nz.at(px/s*10+1, py/s*10+2))
		}
	}

	// Cells on a jittered grid; epithelium is packed, stroma sparse.
	d := s * 0.11
	type cell struct {
		x, y, content float64
	}
	cells := int(math.Ceil(s/d)) + 1
	// Epithelial cells by grid square (gx+1, gy+1), at most one each: the
	// Voronoi search below looks at the squares around a pixel only.
	grid := cells + 1
	epi := make([]*cell, grid*grid)
	cover := make([]float64, n) // nuclei's coverage, which cytoplasm leaves
	for gy := -1; gy < cells; gy++ {
		for gx := -1; gx < cells; gx++ {
			cx, cy := (float64(gx)+0.5+0.7*(r.Float64()-0.5))*d, (float64(gy)+0.5+0.7*(r.Float64()-0.5))*d
			u1, u2, u3, u4, u5, u6 := r.Float64(), r.Float64(), r.Float64(), r.Float64(), r.Float64(), r.Float64()
			if inAt(cx, cy) < 0.5 {
				continue
			}
			e := ellipse{cx: cx, cy: cy}
			angle := math.Pi * u1
			if stromaOf(cx, cy) < 0.5 {
				e.rx = d * (0.26 + 0.08*u2)
				e.ry = e.rx * (0.75 + 0.25*u3)
				epi[(gy+1)*grid+gx+1] = &cell{cx, cy, 0.65 + 0.35*u5}
			} else {
				if u6 > 0.3 {
					continue
				}
				e.rx, e.ry = d*(0.42+0.15*u2), d*(0.11+0.05*u3)
				angle = fibreDir + 0.3*(u1-0.5)
			}
			e.sin, e.cos = math.Sincos(angle)
			dna := 0.65 + 0.35*u4
			x0, y0, x1, y1 := e.bounds(size)
			for y := max(y0, 0); y < y1; y++ {
				for x := max(x0, 0); x < x1; x++ {
					_, _, rad := e.local(x, y)
					a := e.coverage(rad)
					if a == 0 {
						continue
					}
					i := y*size + x
					chromatin := 0.7 + 0.3*nz.at(float64(x)*0.45+cx, float64(y)*0.45+cy)
					t.nuc[i] = math.Max(t.nuc[i], a*dna*chromatin)
					cover[i] = math.Max(cover[i], a)
				}
			}
		}
	}

	// Epithelial cells are the Voronoi cells of their centres, cut off
	// at 0.9 d: cytoplasm inside, a membrane where two cells meet (within
	// 2 line of the bisector). A centre jitters within [0.15, 0.85] d of
	// its square, so one kr squares away or more is at least (kr + 0.15) d
	// from a pixel: searching kr squares each way finds every centre that
	// can colour it.
	line := math.Max(0.8, s/128)
	kr := int(math.Ceil(0.75 + 2*line/d))
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			i := y*size + x
			wEpi := (1 - stroma[i]) * t.in[i]
			if wEpi == 0 {
				continue
			}
			px, py := float64(x)+0.5, float64(y)+0.5
			gx, gy := int(math.Floor(px/d)), int(math.Floor(py/d))
			d1, d2 := math.Inf(1), math.Inf(1) // squared, then not
			var near *cell
			for qy := max(gy-kr, -1); qy <= min(gy+kr, cells-1); qy++ {
				for qx := max(gx-kr, -1); qx <= min(gx+kr, cells-1); qx++ {
					c := epi[(qy+1)*grid+qx+1]
					if c == nil {
						continue
					}
					dx, dy := px-c.x, py-c.y
					dd := dx*dx + dy*dy
					switch {
					case dd < d1:
						d1, d2, near = dd, d1, c
					case dd < d2:
						d2 = dd
					}
				}
			}
			if near == nil {
				continue
			}
			d1, d2 = math.Sqrt(d1), math.Sqrt(d2)
			inside := 1 - smoothstep(0.75*d, 0.9*d, d1)
			t.memb[i] = wEpi * inside * (1 - smoothstep(0, 2*line, d2-d1))
			t.cyto[i] = wEpi * inside * near.content * (1 - cover[i])
		}
	}

	// A small vessel: a cluster of red blood cells, paler in the middle.
	if r.Float64() < 0.6 {
		vx, vy := s*(0.15+0.7*r.Float64()), s*(0.15+0.7*r.Float64())
		rr := s * 0.026
		for k := 4 + r.IntN(10); k > 0; k-- {
			e := ellipse{cx: vx + s*0.08*r.NormFloat64(), cy: vy + s*0.08*r.NormFloat64(), rx: rr * (0.9 + 0.2*r.Float64())}
			e.ry, e.sin, e.cos = e.rx, 0, 1
			x0, y0, x1, y1 := e.bounds(size)
			for y := max(y0, 0); y < y1; y++ {
				for x := max(x0, 0); x < x1; x++ {
					_, _, rad := e.local(x, y)
					a := e.coverage(rad)
					if a == 0 {
						continue
					}
					i := y*size + x
					t.rbc[i] = math.Max(t.rbc[i], a*(0.75+0.25*math.Min(rad*rad, 1)))
					t.in[i] = math.Max(t.in[i], a)
				}
			}
		}
	}
	return t
}

// fluorescence renders domain A: four channels as a 12-bit camera
// records them (values in the doc comment above).
func (t *tissue) fluorescence(r *rand.Rand) *raster.Raster {
	var g [4]float64
	for k := range g {
		g[k] = 0.85 + 0.3*r.Float64()
	}
	out := raster.New(t.size, t.size, 4, raster.Uint16)
	planes := [4][]float32{out.Plane(0), out.Plane(1), out.Plane(2), out.Plane(3)}
	for i := range t.in {
		sig := [4]float64{
			g[0] * (3000*t.nuc[i] + 80*t.in[i]),
			g[1] * (2000*t.memb[i] + 300*t.cyto[i]),
			g[2] * (1300*t.cyto[i] + 700*t.fib[i] + 150*t.in[i]),
			g[3] * (300*t.auto[i] + 900*t.fib[i] + 2700*t.rbc[i]),
		}
		for k, v := range sig {
			v += fluoOffset + r.NormFloat64()*math.Sqrt(fluoRead*fluoRead+0.8*v)
			planes[k][i] = float32(raster.Uint16.Round(math.Min(v, fluoFull)))
		}
	}
	return out
}

// hematoxylinEosin renders domain B, the stained section under a
// bright-field microscope.
func (t *tissue) hematoxylinEosin(r *rand.Rand) *data.Image {
	kh, ke := 0.92+0.16*r.Float64(), 0.92+0.16*r.Float64()
	c := newCanvas(t.size, t.size, [3]float64{})
	for i := range t.in {
		h := kh * (1.6*t.nuc[i] + 0.1*t.cyto[i] + 0.06*t.fib[i] + 0.03*t.in[i])
		e := ke * (0.5*t.cyto[i] + 0.6*t.fib[i] + 0.18*t.in[i] + 1.3*t.rbc[i] + 0.25*t.nuc[i])
		p := c.pix[3*i : 3*i+3]
		for k := range p {
			p[k] = illumination[k]*math.Exp(-(h*odHematoxylin[k]+e*odEosin[k])) + 0.005*r.NormFloat64()
		}
	}
	return c.image()
}

// drawFluorescence is fluo2he's domain A (trainA, testA, valA).
func drawFluorescence(r *rand.Rand, size int) *raster.Raster {
	return newTissue(r, size).fluorescence(r)
}

// drawHE is fluo2he's domain B (trainB, testB, valB): drawn from the same
// stream as A's sample of that name, so the same tissue.
func drawHE(r *rand.Rand, size int) *data.Image {
	return newTissue(r, size).hematoxylinEosin(r)
}
