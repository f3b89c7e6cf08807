package infer

// piece is what one forward pass takes for one image: the whole image, or
// one tile of it.
type piece struct {
	j      *job
	img    int // index in j.in
	y0, x0 int // tile origin in the image
	tiled  bool
	arr    Array
}

// groupKey collects the pieces that can share a forward pass.
type groupKey struct {
	m       *Model
	c, h, w int
}

// accum blends the tiles of one image: weighted sums and their weights.
type accum struct {
	sum  []float32 // C×H×W
	wsum []float32 // H×W
}

// runRound translates every image of the jobs taken together: pieces of
// the same model and size are stacked into batches of at most MaxBatch.
func (e *Engine) runRound(round []*job) {
	e.batches.Add(1)
	var pieces []*piece
	for _, j := range round {
		if err := j.ctx.Err(); err != nil {
			j.err = err
			continue
		}
		j.out = make([]Array, len(j.in))
		for i, a := range j.in {
			ys, xs, th, tw := e.plan(j.m, a.H, a.W)
			if ys == nil {
				pieces = append(pieces, &piece{j: j, img: i, arr: a})
				continue
			}
			if j.acc == nil {
				j.acc = make([]*accum, len(j.in))
			}
			oc := j.m.Spec.OutputNC
			j.acc[i] = &accum{sum: make([]float32, oc*a.H*a.W), wsum: make([]float32, a.H*a.W)}
			for _, y0 := range ys {
				for _, x0 := range xs {
					pieces = append(pieces, &piece{j: j, img: i, y0: y0, x0: x0, tiled: true, arr: cropArray(a, y0, x0, th, tw)})
				}
			}
		}
	}

	var order []groupKey
	groups := map[groupKey][]*piece{}
	for _, p := range pieces {
		k := groupKey{p.j.m, p.arr.C, p.arr.H, p.arr.W}
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], p)
	}
	for _, k := range order {
		bs := e.cfg.MaxBatch
		if !k.m.batchable {
			bs = 1
		}
		g := groups[k]
		for len(g) > 0 {
			n := min(bs, len(g))
			e.runPieces(k.m, g[:n])
			g = g[n:]
		}
	}

	for _, j := range round {
		if j.err == nil {
			for i, acc := range j.acc {
				if acc != nil {
					j.out[i] = acc.finish(j.m.Spec.OutputNC, j.in[i].H, j.in[i].W)
				}
			}
		} else {
			j.out = nil
		}
		j.acc = nil
		close(j.done)
	}
}

// runPieces runs one batch and hands the results to their jobs. When a
// batch fails it retries its pieces one by one, so that the failure is
// charged to the job that caused it only.
func (e *Engine) runPieces(m *Model, ps []*piece) {
	live := ps[:0:0]
	for _, p := range ps {
		if p.j.err != nil {
			continue
		}
		if err := p.j.ctx.Err(); err != nil {
			p.j.err = err
			continue
		}
		live = append(live, p)
	}
	if len(live) == 0 {
		return
	}
	in := make([]Array, len(live))
	for i, p := range live {
		in[i] = p.arr
	}
	e.forwards.Add(1)
	out, err := m.forward(in)
	if err != nil && len(live) > 1 {
		for _, p := range live {
			e.runPieces(m, []*piece{p})
		}
		return
	}
	if err != nil {
		live[0].j.err = err
		return
	}
	e.images.Add(int64(len(live)))
	for i, p := range live {
		if p.tiled {
			blend(p, out[i], e.tileOverlap(m))
		} else {
			p.j.out[p.img] = out[i]
		}
	}
}

// tileSize is the tile side for m: Config.Tile rounded up to m's size
// multiple and to at least its smallest input.
func (e *Engine) tileSize(m *Model) int {
	t := max(e.cfg.Tile, m.MinSize)
	return roundUp(t, m.Multiple)
}

func (e *Engine) tileOverlap(m *Model) int { return min(e.cfg.TileOverlap, e.tileSize(m)/2) }

// plan returns the tile origins for an h×w image and the tile size, or
// nil when the image is translated whole. Tiles all have one size (the
// last row and column are aligned to the image's edge), so they batch.
func (e *Engine) plan(m *Model, h, w int) (ys, xs []int, th, tw int) {
	if e.cfg.Tile <= 0 {
		return nil, nil, 0, 0
	}
	t := e.tileSize(m)
	if h <= t && w <= t {
		return nil, nil, 0, 0
	}
	ov := e.tileOverlap(m)
	th, tw = min(t, h), min(t, w)
	return starts(h, th, t-ov), starts(w, tw, t-ov), th, tw
}

// starts covers [0, n) with windows of size t advancing by step.
func starts(n, t, step int) []int {
	if n <= t {
		return []int{0}
	}
	var s []int
	for p := 0; p+t < n; p += step {
		s = append(s, p)
	}
	return append(s, n-t)
}

func roundUp(v, m int) int {
	if m <= 1 {
		return v
	}
	return (v + m - 1) / m * m
}

// cropArray copies the h×w window at (y0, x0).
func cropArray(a Array, y0, x0, h, w int) Array {
	out := Array{C: a.C, H: h, W: w, Data: make([]float32, a.C*h*w)}
	for c := 0; c < a.C; c++ {
		for y := 0; y < h; y++ {
			src := a.Data[(c*a.H+y0+y)*a.W+x0:]
			copy(out.Data[(c*h+y)*w:(c*h+y+1)*w], src[:w])
		}
	}
	return out
}

// ramp is a tile's blending weight along one axis: 1 inside, falling
// linearly to about 1/ov at sides that overlap a neighbour (not at the
// image's border), so seams fade across the overlap.
func ramp(n, origin, total, ov int) []float32 {
	r := make([]float32, n)
	for i := range r {
		w := float32(1)
		if ov > 0 && origin > 0 {
			w = min(w, (float32(i)+0.5)/float32(ov))
		}
		if ov > 0 && origin+n < total {
			w = min(w, (float32(n-i)-0.5)/float32(ov))
		}
		r[i] = w
	}
	return r
}

// blend adds a translated tile into its image's accumulator.
func blend(p *piece, out Array, ov int) {
	acc := p.j.acc[p.img]
	H, W := p.j.in[p.img].H, p.j.in[p.img].W
	ry := ramp(out.H, p.y0, H, ov)
	rx := ramp(out.W, p.x0, W, ov)
	for y := 0; y < out.H; y++ {
		for x := 0; x < out.W; x++ {
			w := ry[y] * rx[x]
			i := (p.y0+y)*W + p.x0 + x
			acc.wsum[i] += w
			for c := 0; c < out.C; c++ {
				acc.sum[c*H*W+i] += w * out.Data[(c*out.H+y)*out.W+x]
			}
		}
	}
}

func (a *accum) finish(c, h, w int) Array {
	n := h * w
	for ch := 0; ch < c; ch++ {
		s := a.sum[ch*n : (ch+1)*n]
		for i := range s {
			s[i] /= a.wsum[i]
		}
	}
	return Array{C: c, H: h, W: w, Data: a.sum}
}
