package infer

import (
	"context"
	"fmt"
)

// RunBands translates an h×w image that is read and written a band of
// rows at a time, so that memory stays bounded by the tile size times the
// image's width rather than by the image: the tiles are those --tile
// cuts the whole image into (Engine.plan), translated one row of tiles at
// a time and blended with the same linear ramps, so the result equals the
// whole image's tiled translation (up to the order of float additions).
// read returns the network input (C×(y1−y0)×w in [-1, 1]) of rows
// [y0, y1); write receives each band of finished output rows, top to
// bottom, exactly once. Without tiling (--tile 0, or an image no larger
// than a tile) the image is read and translated whole.
func (e *Engine) RunBands(ctx context.Context, m *Model, h, w int, read func(y0, y1 int) (Array, error), write func(y0 int, out Array) error) error {
	ys, xs, th, tw := e.plan(m, h, w)
	if ys == nil {
		in, err := read(0, h)
		if err != nil {
			return err
		}
		out, err := e.Run(ctx, m, []Array{in})
		if err != nil {
			return err
		}
		return write(0, out[0])
	}
	oc, ov := m.Spec.OutputNC, e.tileOverlap(m)
	rx := make([][]float32, len(xs))
	for i, x0 := range xs {
		rx[i] = ramp(tw, x0, w, ov)
	}
	// The window holds the output rows [lo, lo+th) that tiles still add
	// to; rows above the next tile row are final and go to write.
	lo := ys[0]
	sum := make([]float32, oc*th*w)
	wsum := make([]float32, th*w)
	flush := func(upto int) error {
		n := upto - lo
		if n <= 0 {
			return nil
		}
		out := Array{C: oc, H: n, W: w, Data: make([]float32, oc*n*w)}
		for c := 0; c < oc; c++ {
			for i := 0; i < n*w; i++ {
				out.Data[c*n*w+i] = sum[c*th*w+i] / wsum[i]
			}
		}
		if err := write(lo, out); err != nil {
			return err
		}
		// Slide the window up by n rows.
		keep := th - n
		for c := 0; c < oc; c++ {
			plane := sum[c*th*w : (c+1)*th*w]
			copy(plane, plane[n*w:])
			clear(plane[keep*w:])
		}
		copy(wsum, wsum[n*w:])
		clear(wsum[keep*w:])
		lo = upto
		return nil
	}
	for r, y0 := range ys {
		if y0 > lo {
			if err := flush(y0); err != nil {
				return err
			}
		}
		in, err := read(y0, y0+th)
		if err != nil {
			return err
		}
		if in.H != th || in.W != w {
			return fmt.Errorf("rows %d to %d: read %dx%d, want %dx%d", y0, y0+th, in.W, in.H, w, th)
		}
		tiles := make([]Array, len(xs))
		for i, x0 := range xs {
			tiles[i] = cropArray(in, 0, x0, th, tw)
		}
		out, err := e.Run(ctx, m, tiles)
		if err != nil {
			return err
		}
		ry := ramp(th, y0, h, ov)
		off := y0 - lo // the tile row's first row in the window
		for i, x0 := range xs {
			t := out[i]
			for y := 0; y < th; y++ {
				for x := 0; x < tw; x++ {
					wt := ry[y] * rx[i][x]
					k := (off+y)*w + x0 + x
					wsum[k] += wt
					for c := 0; c < oc; c++ {
						sum[c*th*w+k] += wt * t.Data[(c*th+y)*tw+x]
					}
				}
			}
		}
		if r == len(ys)-1 {
			return flush(h)
		}
	}
	return nil
}
