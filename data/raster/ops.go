package raster

// Crop returns the w×h region at (x, y), which must lie inside the raster:
// the halves of a side-by-side pair, a tile.
func (r *Raster) Crop(x, y, w, h int) *Raster {
	out := New(w, h, r.C, r.DType)
	for c := 0; c < r.C; c++ {
		src, dst := r.Plane(c), out.Plane(c)
		for row := 0; row < h; row++ {
			copy(dst[row*w:(row+1)*w], src[(y+row)*r.W+x:(y+row)*r.W+x+w])
		}
	}
	return out
}
