package networks

import (
	"fmt"

	"cyclepix/nn"
	"cyclepix/torch"
)

// vgg19Config is torchvision's VGG19 ("E") feature layers up to relu5_1,
// the part pix2pixHD's perceptual loss runs: channel counts of the 3×3
// convolutions, 0 for a 2×2 max-pool.
var vgg19Config = []int64{64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512}

// vggSlices end pix2pixHD's five slices (relu1_1, relu2_1, relu3_1,
// relu4_1, relu5_1) at these indices of torchvision's features.
var vggSlices = []int{2, 7, 12, 21, 30}

// VGGWeights are the slices' weights in pix2pixHD's VGG loss.
var VGGWeights = []float64{1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0}

// VGG19 is torchvision's vgg19().features[0:30], frozen.
type VGG19 struct {
	Features *nn.Sequential
}

// NewVGG19 builds the layers with zero weights; LoadVGG19 fills them.
func NewVGG19() *VGG19 {
	var l []nn.Module
	in := int64(3)
	for _, c := range vgg19Config {
		if c == 0 {
			l = append(l, &nn.Func{Name: "MaxPool2d", Fn: func(x *torch.Tensor) *torch.Tensor { return torch.MaxPool2d(x, 2, 2, 0, false) }})
			continue
		}
		l = append(l, nn.NewConv2d(in, c, 3, 1, 1, true), nn.ReLUInPlace())
		in = c
	}
	return &VGG19{Features: nn.Seq(l...)}
}

// Children names the sequence "features", as torchvision does.
func (v *VGG19) Children() []nn.Child { return []nn.Child{{Name: "features", Module: v.Features}} }

// Forward returns relu5_1 (so that VGG19 is a Module); Slices gives all five.
func (v *VGG19) Forward(x *torch.Tensor) *torch.Tensor {
	s := v.Slices(x)
	return s[len(s)-1]
}

// Slices returns the outputs of relu1_1 … relu5_1.
func (v *VGG19) Slices(x *torch.Tensor) []*torch.Tensor {
	out := make([]*torch.Tensor, 0, len(vggSlices))
	start := 0
	h := x
	for _, end := range vggSlices {
		h = nn.Chain(v.Features.Layers[start:end], h)
		out = append(out, h)
		start = end
	}
	return out
}

// LoadVGG19 reads torchvision's vgg19 state dict (keys features.N.weight
// and .bias) into a frozen VGG19: keys it does not use (the classifier,
// convs past relu5_1) are ignored, as torchvision's non-strict load does;
// a missing or misshapen one is an error naming it.
func LoadVGG19(path string) (*VGG19, error) {
	v := NewVGG19()
	sd, _, err := nn.ReadStateDict(path)
	if err != nil {
		return nil, fmt.Errorf("VGG19 weights %s: %w", path, err)
	}
	defer nn.FreeAll(sd)
	err = torch.Try(func() {
		for _, e := range nn.StateDict(v) {
			src, ok := sd[e.Name]
			if !ok {
				panic(&torch.Error{Op: "load", Msg: fmt.Sprintf("has no tensor %q (want torchvision's vgg19 state dict, keys features.<N>.weight/bias)", e.Name)})
			}
			if !nn.SameShape(src.Shape(), e.Tensor.Shape()) {
				panic(&torch.Error{Op: "load", Msg: fmt.Sprintf("tensor %q has shape %v, VGG19's is %v", e.Name, src.Shape(), e.Tensor.Shape())})
			}
			e.Tensor.Copy_(src)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("VGG19 weights %s: %w", path, err)
	}
	nn.SetRequiresGrad(v, false)
	return v, nil
}

// WriteRandomVGG19 writes a VGG19 state dict in torchvision's layout with
// random weights (InitHD's, from libtorch's generator): for benchmarks and
// tests, where the VGG loss's cost and shapes, not its weights, matter.
func WriteRandomVGG19(path string) error {
	return torch.TryErr(func() error {
		defer torch.NewScope().Close()
		v := NewVGG19()
		if err := InitHD(v); err != nil {
			return err
		}
		return nn.SaveFile(v, path)
	})
}

// VGGLoss is pix2pixHD's perceptual loss: Σ_k w_k · L1(vgg(x)_k,
// vgg(y)_k) over the five slices with VGGWeights; y's features are targets
// (computed without gradient). Images go in as they are, in [−1, 1]
// (pix2pixHD applies no ImageNet normalisation).
func VGGLoss(v *VGG19, x, y *torch.Tensor) *torch.Tensor {
	var ys []*torch.Tensor
	torch.NoGrad(func() { ys = v.Slices(y) })
	xs := v.Slices(x)
	var sum *torch.Tensor
	for k := range xs {
		l := torch.L1Loss(xs[k], ys[k], torch.ReduceMean).MulScalar(VGGWeights[k])
		if sum == nil {
			sum = l
		} else {
			sum = sum.Add(l)
		}
	}
	return sum
}
