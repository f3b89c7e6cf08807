package infer

import (
	"context"
	"fmt"
	"math"
	"testing"

	"cyclepix/networks"
)

// RunBands gives what the whole image's tiled translation gives: the same
// tiles, ramps and order of additions, with rows read and written a band
// at a time, each output row written once, top to bottom.
func TestRunBandsMatchesTiledRun(t *testing.T) {
	spec := networks.GenSpec{NetG: "resnet_1blocks", NGF: 4, Norm: "instance", InputNC: 4, OutputNC: 2}
	for _, c := range []struct{ h, w, tile, ov int }{{50, 70, 24, 8}, {97, 40, 32, 16}, {24, 24, 24, 8}, {130, 33, 16, 0}} {
		t.Run(fmt.Sprintf("%dx%d_tile%d_ov%d", c.w, c.h, c.tile, c.ov), func(t *testing.T) {
			e := NewEngine(Config{MaxBatch: 1, Tile: c.tile, TileOverlap: c.ov})
			defer e.Close()
			m := loadModel(t, e, spec, 4)
			in := randomArray(4, c.h, c.w, 11)
			want, err := e.Run(context.Background(), m, []Array{in})
			if err != nil {
				t.Fatal(err)
			}
			got := make([]float32, 2*c.h*c.w)
			next := 0
			read := func(y0, y1 int) (Array, error) { return cropArray(in, y0, 0, y1-y0, c.w), nil }
			write := func(y0 int, out Array) error {
				if y0 != next {
					return fmt.Errorf("rows from %d written, expected %d", y0, next)
				}
				for ch := 0; ch < out.C; ch++ {
					copy(got[(ch*c.h+y0)*c.w:], out.Data[ch*out.H*out.W:(ch+1)*out.H*out.W])
				}
				next = y0 + out.H
				return nil
			}
			if err := e.RunBands(context.Background(), m, c.h, c.w, read, write); err != nil {
				t.Fatal(err)
			}
			if next != c.h {
				t.Fatalf("rows up to %d written of %d", next, c.h)
			}
			if d := maxDiff(got, want[0].Data); d > 1e-6 {
				t.Errorf("banded translation differs from the tiled one by %g", d)
			}
		})
	}
}

// seamContrast is the mean absolute difference between neighbouring
// output pixels across the tile seams (the rows and columns where one
// tile's ramp ends and the next's begins) divided by the mean elsewhere:
// 1 means seams are no more visible than the image's own texture.
func seamContrast(out Array, seamRows, seamCols map[int]bool) float64 {
	var seam, rest float64
	var ns, nr int
	for c := 0; c < out.C; c++ {
		p := out.Data[c*out.H*out.W : (c+1)*out.H*out.W]
		for y := 0; y < out.H; y++ {
			for x := 1; x < out.W; x++ {
				d := math.Abs(float64(p[y*out.W+x] - p[y*out.W+x-1]))
				if seamCols[x] {
					seam, ns = seam+d, ns+1
				} else {
					rest, nr = rest+d, nr+1
				}
			}
		}
		for y := 1; y < out.H; y++ {
			for x := 0; x < out.W; x++ {
				d := math.Abs(float64(p[y*out.W+x] - p[(y-1)*out.W+x]))
				if seamRows[y] {
					seam, ns = seam+d, ns+1
				} else {
					rest, nr = rest+d, nr+1
				}
			}
		}
	}
	return (seam / float64(ns)) / (rest / float64(nr))
}

// On a smooth input, tiles blended over their overlap leave no seam. The
// measure is taken on the tiling's error, the tiled output minus the
// whole image's (instance norm normalises each tile on its own, so tiles
// differ): across every place where a tile or its ramp starts or ends,
// that error changes from pixel to pixel no more than elsewhere (seam
// contrast near 1), while tiles without overlap show their borders.
func TestTilesLeaveNoSeams(t *testing.T) {
	spec := networks.GenSpec{NetG: "resnet_1blocks", NGF: 4, Norm: "instance", InputNC: 4, OutputNC: 3}
	h, w := 160, 160
	in := Array{C: 4, H: h, W: w, Data: make([]float32, 4*h*w)}
	for c := 0; c < 4; c++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				in.Data[(c*h+y)*w+x] = float32(0.8 * math.Sin(float64(x)/23+float64(c)) * math.Cos(float64(y)/31-float64(c)))
			}
		}
	}
	whole := func() Array {
		e := NewEngine(Config{})
		defer e.Close()
		m := loadModel(t, e, spec, 3)
		out, err := e.Run(context.Background(), m, []Array{in})
		if err != nil {
			t.Fatal(err)
		}
		return out[0]
	}()
	contrast := map[int]float64{}
	for _, ov := range []int{0, 32} {
		e := NewEngine(Config{MaxBatch: 4, Tile: 64, TileOverlap: ov})
		m := loadModel(t, e, spec, 3)
		out, err := e.Run(context.Background(), m, []Array{in})
		if err != nil {
			t.Fatal(err)
		}
		for i := range out[0].Data {
			out[0].Data[i] -= whole.Data[i]
		}
		ys, xs, th, _ := e.plan(m, h, w)
		rows, cols := map[int]bool{}, map[int]bool{}
		for _, y0 := range ys {
			for _, b := range []int{y0, y0 + ov, y0 + th - ov, y0 + th} {
				rows[b] = b > 0 && b < h
			}
		}
		for _, x0 := range xs {
			for _, b := range []int{x0, x0 + ov, x0 + th - ov, x0 + th} {
				cols[b] = b > 0 && b < w
			}
		}
		contrast[ov] = seamContrast(out[0], rows, cols)
		e.Close()
	}
	t.Logf("seam contrast on a smooth input, 160×160 in 64-pixel tiles: overlap 0: %.3f, overlap 32: %.3f", contrast[0], contrast[32])
	if contrast[32] > 1.15 {
		t.Errorf("with a 32-pixel overlap the seams are %.2f× the image's own change", contrast[32])
	}
	if contrast[0] <= contrast[32] {
		t.Errorf("the seam measure does not see seams without overlap (%.3f ≤ %.3f)", contrast[0], contrast[32])
	}
}
