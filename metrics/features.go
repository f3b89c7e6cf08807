package metrics

import (
	"fmt"

	"cyclepix/data"
	"cyclepix/nn"
	"cyclepix/torch"
)

// Features are per-image feature vectors, one row of D values per image.
type Features struct {
	N, D int
	X    []float64 // row-major N×D
}

// Row returns image i's features.
func (f *Features) Row(i int) []float64 { return f.X[i*f.D : (i+1)*f.D] }

// inceptionInput resizes an image to size×size as clean-fid does and
// returns the CHW network input in [-1, 1].
//
// clean-fid resizes each channel as a Pillow mode-F (float32) image with
// the bicubic filter and clips to [0, 255] afterwards. data.Image.Resize
// has Pillow's windows and weights bit for bit, and its float path is
// mode F's arithmetic (float64 sums stored as float32), but it clips to
// [0, 1] after each pass. Bicubic overshoot is under 14% of the range per
// pass (the largest sum of negative weights over Pillow's windows, border
// windows included, for any input size up to 700 resized to 299), so the
// samples are mapped into [0.25, 0.75] first: then no clip can bite before
// the final one, and the map, being affine, commutes with the resampling
// (weights sum to 1).
func inceptionInput(m *data.Image, size int) []float32 {
	m = m.RGB()
	n := m.W * m.H
	f := &data.Image{W: m.W, H: m.H, C: 3, Float: make([]float32, 3*n)}
	for i := range f.Float {
		var u float32
		if m.HighDepth() {
			u = m.Float[i]
		} else {
			u = float32(m.Pix[i]) / 255
		}
		f.Float[i] = 0.25 + 0.5*u
	}
	r := f
	if m.W != size || m.H != size {
		r = f.Resize(size, size)
	}
	out := make([]float32, 3*size*size)
	plane := size * size
	for i := 0; i < plane; i++ {
		for c := 0; c < 3; c++ {
			u := min(max((r.Float[i*3+c]-0.25)*2, 0), 1)
			out[c*plane+i] = 2*u - 1
		}
	}
	return out
}

// FeatureOptions configure Features.
type FeatureOptions struct {
	// Batch is how many images go through the network at once (default 16).
	Batch int
	// Device is where the network's tensors are (see Inception.To): ""
	// or "cpu", "cuda", "cuda:N" (torch.Device.String's form).
	Device string
	// Size overrides the 299×299 input (tests use small ones; features at
	// other sizes are not comparable with published FIDs).
	Size int
	// Progress, when set, is called after each batch with the number of
	// images done.
	Progress func(done int)
}

// Features runs the images through the network and returns their pool
// features. Images are resized to 299×299 as clean-fid does.
func (m *Inception) Features(imgs []*data.Image, o FeatureOptions) (*Features, error) {
	if o.Batch <= 0 {
		o.Batch = 16
	}
	if o.Size == 0 {
		o.Size = InceptionSize
	}
	if o.Size < 75 {
		return nil, fmt.Errorf("inception input size %d: need at least 75", o.Size)
	}
	dev := torch.CPU
	if o.Device != "" {
		var err error
		if dev, err = torch.ParseDevice(o.Device); err != nil {
			return nil, err
		}
	}
	out := &Features{N: len(imgs), D: FeatureDim, X: make([]float64, 0, len(imgs)*FeatureDim)}
	s := int64(o.Size)
	for start := 0; start < len(imgs); start += o.Batch {
		end := min(start+o.Batch, len(imgs))
		buf := make([]float32, 0, (end-start)*3*o.Size*o.Size)
		for _, img := range imgs[start:end] {
			buf = append(buf, inceptionInput(img, o.Size)...)
		}
		var feats []float32
		err := torch.Try(func() {
			defer torch.NewScope().Close()
			torch.NoGrad(func() {
				x := torch.FromFloat32(buf, int64(end-start), 3, s, s)
				if dev != torch.CPU {
					x = x.ToDevice(dev, torch.Float32)
				}
				feats = m.Forward(x).Float32s()
			})
		})
		if err != nil {
			return nil, fmt.Errorf("inception features of images %d–%d: %w", start, end-1, err)
		}
		for _, v := range feats {
			out.X = append(out.X, float64(v))
		}
		if o.Progress != nil {
			o.Progress(end)
		}
	}
	return out, nil
}

// To moves the network's tensors to dev.
func (m *Inception) To(dev torch.Device) error { return nn.ToDevice(m, dev) }

// Free releases the network's tensors now rather than at garbage
// collection (about 95 MB).
func (m *Inception) Free() {
	for _, e := range nn.StateDict(m) {
		e.Tensor.Free()
	}
}
