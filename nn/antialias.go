package nn

import "cyclepix/torch"

// Anti-aliased resampling as CUT (contrastive-unpaired-translation,
// models/networks.py) defines it after Zhang, "Making Convolutional Networks
// Shift-Invariant Again": a fixed binomial blur applied to every channel on
// its own (a depthwise convolution) around the stride. The filters are
// buffers named "filt" in CUT's state dicts, so they are state-dict entries
// here too, and Forward uses the loaded values.

// binomialFilter is CUT's get_filter: the outer product of the binomial row
// of length k with itself, normalised to sum 1, times scale, in float32 as
// torch computes it (every value is exact for the sizes CUT uses).
func binomialFilter(k int, scale float32) []float32 {
	row := make([]float32, k)
	row[0] = 1
	for i := 1; i < k; i++ {
		for j := i; j > 0; j-- {
			row[j] += row[j-1]
		}
	}
	out := make([]float32, 0, k*k)
	var sum float32
	for _, a := range row {
		for _, b := range row {
			out = append(out, a*b)
			sum += a * b
		}
	}
	for i := range out {
		out[i] = out[i] / sum * scale
	}
	return out
}

// depthwiseFilter is a [c, 1, k, k] buffer holding the filter for every
// channel (CUT's filt[None, None].repeat(c, 1, 1, 1)).
func depthwiseFilter(c int64, k int, scale float32) *torch.Tensor {
	f := binomialFilter(k, scale)
	all := make([]float32, 0, int(c)*len(f))
	for i := int64(0); i < c; i++ {
		all = append(all, f...)
	}
	return torch.FromFloat32(all, c, 1, int64(k), int64(k)).Persist()
}

// Downsample is CUT's Downsample with its defaults: reflection padding by
// 1, then a 3×3 [1,2,1]⊗[1,2,1]/16 blur per channel with stride 2, so an
// H×W input gives ⌈H/2⌉×⌈W/2⌉.
type Downsample struct {
	Filt   *torch.Tensor // [channels, 1, 3, 3] buffer "filt"
	Stride int64
}

// NewDownsample makes a Downsample over channels channels.
func NewDownsample(channels int64) *Downsample {
	return &Downsample{Filt: depthwiseFilter(channels, 3, 1), Stride: 2}
}

// Forward pads and blurs; groups is the input's channel count, as CUT
// passes it, so a mismatch with the buffer is libtorch's error.
func (d *Downsample) Forward(x *torch.Tensor) *torch.Tensor {
	k := d.Filt.Size(-1)
	lo, hi := (k-1)/2, k/2
	p := torch.Pad2d(x, torch.PadReflect, lo, hi, lo, hi, 0)
	y := torch.Conv2d(p, d.Filt, nil, d.Stride, 0, 1, x.Size(1))
	if countingFLOPs.Load() {
		addConvFLOPs(y.Numel()*k*k, p, d.Filt)
	}
	p.Free()
	return y
}

// Tensors lists the filter buffer.
func (d *Downsample) Tensors() []Entry { return []Entry{{Name: "filt", Tensor: d.Filt}} }

// Upsample is CUT's Upsample with its defaults: replication padding by 1, a
// depthwise transposed convolution with stride 2 and the 4×4
// [1,3,3,1]⊗[1,3,3,1]/64·4 filter, then a crop of one row and column on
// each side, so an H×W input gives 2H×2W.
type Upsample struct {
	Filt   *torch.Tensor // [channels, 1, 4, 4] buffer "filt"
	Stride int64
}

// NewUpsample makes an Upsample over channels channels.
func NewUpsample(channels int64) *Upsample {
	return &Upsample{Filt: depthwiseFilter(channels, 4, 4), Stride: 2}
}

// Forward pads, upsamples and crops as CUT does: transposed conv with
// padding 1 + (k-1)/2, then [1:, 1:], and for even k also [:-1, :-1].
func (u *Upsample) Forward(x *torch.Tensor) *torch.Tensor {
	k := u.Filt.Size(-1)
	p := torch.Pad2d(x, torch.PadReplicate, 1, 1, 1, 1, 0)
	y := torch.ConvTranspose2d(p, u.Filt, nil, u.Stride, 1+(k-1)/2, 0, 1, x.Size(1))
	if countingFLOPs.Load() {
		addConvFLOPs(p.Numel()*k*k, p, u.Filt)
	}
	p.Free()
	h, w := y.Size(2), y.Size(3)
	if k%2 == 0 {
		h, w = h-1, w-1
	}
	c := y.Slice(2, 1, h, 1)
	y.Free()
	out := c.Slice(3, 1, w, 1)
	c.Free()
	return out
}

// Tensors lists the filter buffer.
func (u *Upsample) Tensors() []Entry { return []Entry{{Name: "filt", Tensor: u.Filt}} }
