package metrics

import (
	"fmt"
	"os"

	"cyclepix/nn"
	"cyclepix/torch"
)

// InceptionURL is where pytorch-fid publishes the FID Inception weights
// (TensorFlow's inception-2015-12-05 graph ported to PyTorch).
const InceptionURL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"

// InceptionFile is the weights file's name; its SHA-256 starts with the
// 8 hex digits in it, as torch.hub checks.
const InceptionFile = "pt_inception-2015-12-05-6726825d.pth"

// InceptionSHA256Prefix is the start of the weights file's SHA-256.
const InceptionSHA256Prefix = "6726825d"

// InceptionSize is the input size the network was trained at.
const InceptionSize = 299

// FeatureDim is the size of the pool features.
const FeatureDim = 2048

// Inception is pytorch-fid's FID Inception-v3 up to the final average pool:
// torchvision's Inception3 (aux classifier off, 1008 classes) with the
// blocks pytorch-fid patches to match TensorFlow: average pools inside
// Mixed_5*, Mixed_6b–e and Mixed_7b that exclude the zero padding from the
// average, and a max pool in Mixed_7c's pool branch. Module and tensor
// names are torchvision's, so the pytorch-fid state dict loads as is
// (fc is kept for that, and never run).
type Inception struct {
	children []nn.Child
}

// Forward maps N×3×H×W images in [-1, 1] (H, W ≥ 75; 299 for comparable
// features) to N×2048 pool features.
func (m *Inception) Forward(x *torch.Tensor) *torch.Tensor {
	get := func(name string) nn.Module {
		for _, c := range m.children {
			if c.Name == name {
				return c.Module
			}
		}
		panic("metrics: inception has no " + name)
	}
	for _, name := range []string{"Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3"} {
		x = get(name).Forward(x)
	}
	x = torch.MaxPool2d(x, 3, 2, 0, false)
	x = get("Conv2d_4a_3x3").Forward(get("Conv2d_3b_1x1").Forward(x))
	x = torch.MaxPool2d(x, 3, 2, 0, false)
	for _, name := range []string{"Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
		"Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"} {
		x = get(name).Forward(x)
	}
	x = torch.AdaptiveAvgPool2d(x, 1, 1)
	return x.Reshape(x.Size(0), -1)
}

// Children lists the layers under torchvision's names.
func (m *Inception) Children() []nn.Child { return m.children }

// NewInception builds the network with zero weights and unit variances;
// load weights with LoadInception (or nn.LoadFile).
func NewInception() *Inception {
	c := func(name string, mod nn.Module) nn.Child { return nn.Child{Name: name, Module: mod} }
	return &Inception{children: []nn.Child{
		c("Conv2d_1a_3x3", basic(3, 32, 3, 3, 2, 0, 0)),
		c("Conv2d_2a_3x3", basic(32, 32, 3, 3, 1, 0, 0)),
		c("Conv2d_2b_3x3", basic(32, 64, 3, 3, 1, 1, 1)),
		c("Conv2d_3b_1x1", basic(64, 80, 1, 1, 1, 0, 0)),
		c("Conv2d_4a_3x3", basic(80, 192, 3, 3, 1, 0, 0)),
		c("Mixed_5b", newInceptionA(192, 32)),
		c("Mixed_5c", newInceptionA(256, 64)),
		c("Mixed_5d", newInceptionA(288, 64)),
		c("Mixed_6a", newInceptionB(288)),
		c("Mixed_6b", newInceptionC(768, 128)),
		c("Mixed_6c", newInceptionC(768, 160)),
		c("Mixed_6d", newInceptionC(768, 160)),
		c("Mixed_6e", newInceptionC(768, 192)),
		c("Mixed_7a", newInceptionD(768)),
		c("Mixed_7b", newInceptionE(1280, false)),
		c("Mixed_7c", newInceptionE(2048, true)),
		c("fc", nn.NewLinear(2048, 1008, true)),
	}}
}

// LoadInception builds the network and loads pytorch-fid's weights file.
// Parameters do not record gradients.
func LoadInception(path string) (*Inception, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("inception weights %s: %w (download %s)", path, err, InceptionURL)
	}
	var m *Inception
	err := torch.TryErr(func() error {
		m = NewInception()
		if err := nn.LoadFile(m, path); err != nil {
			return fmt.Errorf("%w (want pytorch-fid's %s)", err, InceptionFile)
		}
		nn.SetRequiresGrad(m, false)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// convBN is torchvision's BasicConv2d: conv (no bias), batch norm with
// eps 0.001 in eval mode, ReLU.
type convBN struct {
	conv *convHW
	bn   *bnEval
}

func basic(in, out, kh, kw, stride, ph, pw int64) *convBN {
	return &convBN{
		conv: &convHW{Weight: torch.Zeros(out, in, kh, kw).Persist(), Stride: stride, PadH: ph, PadW: pw},
		bn: &bnEval{Weight: torch.Ones(out).Persist(), Bias: torch.Zeros(out).Persist(),
			Mean: torch.Zeros(out).Persist(), Var: torch.Ones(out).Persist()},
	}
}

func (b *convBN) Forward(x *torch.Tensor) *torch.Tensor {
	return b.bn.Forward(b.conv.Forward(x)).Relu()
}

func (b *convBN) Children() []nn.Child {
	return []nn.Child{{Name: "conv", Module: b.conv}, {Name: "bn", Module: b.bn}}
}

// convHW is a bias-free conv whose padding may differ between height and
// width.
type convHW struct {
	Weight     *torch.Tensor
	Stride     int64
	PadH, PadW int64
}

func (c *convHW) Forward(x *torch.Tensor) *torch.Tensor {
	return torch.Conv2dHW(x, c.Weight, nil, c.Stride, c.Stride, c.PadH, c.PadW)
}

func (c *convHW) Tensors() []nn.Entry {
	return []nn.Entry{{Name: "weight", Tensor: c.Weight, Param: true}}
}

// bnEval is BatchNorm2d(eps=0.001) always using its running statistics.
// It lists no num_batches_tracked: the weights file may or may not carry
// those counters, and nn.LoadStateDict accepts them as extras.
type bnEval struct {
	Weight, Bias, Mean, Var *torch.Tensor
}

func (b *bnEval) Forward(x *torch.Tensor) *torch.Tensor {
	return torch.BatchNorm(x, b.Weight, b.Bias, b.Mean, b.Var, false, 0, 1e-3)
}

func (b *bnEval) Tensors() []nn.Entry {
	return []nn.Entry{{Name: "weight", Tensor: b.Weight, Param: true}, {Name: "bias", Tensor: b.Bias, Param: true},
		{Name: "running_mean", Tensor: b.Mean}, {Name: "running_var", Tensor: b.Var}}
}

// block is a mixed block: named branches and how to combine them.
type block struct {
	kids []nn.Child
	fwd  func(get func(string) *convBN, x *torch.Tensor) *torch.Tensor
}

func (b *block) Children() []nn.Child { return b.kids }

func (b *block) Forward(x *torch.Tensor) *torch.Tensor {
	return b.fwd(func(name string) *convBN {
		for _, c := range b.kids {
			if c.Name == name {
				return c.Module.(*convBN)
			}
		}
		panic("metrics: inception block has no " + name)
	}, x)
}

func kid(name string, m *convBN) nn.Child { return nn.Child{Name: name, Module: m} }

// avgPoolTF is the 3×3 stride-1 average pool that, like TensorFlow's,
// leaves the zero padding out of the average (pytorch-fid's patch).
func avgPoolTF(x *torch.Tensor) *torch.Tensor { return torch.AvgPool2d(x, 3, 1, 1, false, false) }

func chain(get func(string) *convBN, x *torch.Tensor, names ...string) *torch.Tensor {
	for _, n := range names {
		x = get(n).Forward(x)
	}
	return x
}

func newInceptionA(in, poolFeatures int64) *block {
	return &block{
		kids: []nn.Child{
			kid("branch1x1", basic(in, 64, 1, 1, 1, 0, 0)),
			kid("branch5x5_1", basic(in, 48, 1, 1, 1, 0, 0)),
			kid("branch5x5_2", basic(48, 64, 5, 5, 1, 2, 2)),
			kid("branch3x3dbl_1", basic(in, 64, 1, 1, 1, 0, 0)),
			kid("branch3x3dbl_2", basic(64, 96, 3, 3, 1, 1, 1)),
			kid("branch3x3dbl_3", basic(96, 96, 3, 3, 1, 1, 1)),
			kid("branch_pool", basic(in, poolFeatures, 1, 1, 1, 0, 0)),
		},
		fwd: func(get func(string) *convBN, x *torch.Tensor) *torch.Tensor {
			return torch.Cat(1,
				get("branch1x1").Forward(x),
				chain(get, x, "branch5x5_1", "branch5x5_2"),
				chain(get, x, "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"),
				get("branch_pool").Forward(avgPoolTF(x)))
		},
	}
}

func newInceptionB(in int64) *block {
	return &block{
		kids: []nn.Child{
			kid("branch3x3", basic(in, 384, 3, 3, 2, 0, 0)),
			kid("branch3x3dbl_1", basic(in, 64, 1, 1, 1, 0, 0)),
			kid("branch3x3dbl_2", basic(64, 96, 3, 3, 1, 1, 1)),
			kid("branch3x3dbl_3", basic(96, 96, 3, 3, 2, 0, 0)),
		},
		fwd: func(get func(string) *convBN, x *torch.Tensor) *torch.Tensor {
			return torch.Cat(1,
				get("branch3x3").Forward(x),
				chain(get, x, "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"),
				torch.MaxPool2d(x, 3, 2, 0, false))
		},
	}
}

func newInceptionC(in, c7 int64) *block {
	return &block{
		kids: []nn.Child{
			kid("branch1x1", basic(in, 192, 1, 1, 1, 0, 0)),
			kid("branch7x7_1", basic(in, c7, 1, 1, 1, 0, 0)),
			kid("branch7x7_2", basic(c7, c7, 1, 7, 1, 0, 3)),
			kid("branch7x7_3", basic(c7, 192, 7, 1, 1, 3, 0)),
			kid("branch7x7dbl_1", basic(in, c7, 1, 1, 1, 0, 0)),
			kid("branch7x7dbl_2", basic(c7, c7, 7, 1, 1, 3, 0)),
			kid("branch7x7dbl_3", basic(c7, c7, 1, 7, 1, 0, 3)),
			kid("branch7x7dbl_4", basic(c7, c7, 7, 1, 1, 3, 0)),
			kid("branch7x7dbl_5", basic(c7, 192, 1, 7, 1, 0, 3)),
			kid("branch_pool", basic(in, 192, 1, 1, 1, 0, 0)),
		},
		fwd: func(get func(string) *convBN, x *torch.Tensor) *torch.Tensor {
			return torch.Cat(1,
				get("branch1x1").Forward(x),
				chain(get, x, "branch7x7_1", "branch7x7_2", "branch7x7_3"),
				chain(get, x, "branch7x7dbl_1", "branch7x7dbl_2", "branch7x7dbl_3", "branch7x7dbl_4", "branch7x7dbl_5"),
				get("branch_pool").Forward(avgPoolTF(x)))
		},
	}
}

func newInceptionD(in int64) *block {
	return &block{
		kids: []nn.Child{
			kid("branch3x3_1", basic(in, 192, 1, 1, 1, 0, 0)),
			kid("branch3x3_2", basic(192, 320, 3, 3, 2, 0, 0)),
			kid("branch7x7x3_1", basic(in, 192, 1, 1, 1, 0, 0)),
			kid("branch7x7x3_2", basic(192, 192, 1, 7, 1, 0, 3)),
			kid("branch7x7x3_3", basic(192, 192, 7, 1, 1, 3, 0)),
			kid("branch7x7x3_4", basic(192, 192, 3, 3, 2, 0, 0)),
		},
		fwd: func(get func(string) *convBN, x *torch.Tensor) *torch.Tensor {
			return torch.Cat(1,
				chain(get, x, "branch3x3_1", "branch3x3_2"),
				chain(get, x, "branch7x7x3_1", "branch7x7x3_2", "branch7x7x3_3", "branch7x7x3_4"),
				torch.MaxPool2d(x, 3, 2, 0, false))
		},
	}
}

// newInceptionE is FIDInceptionE_1 (maxPool false) or FIDInceptionE_2.
func newInceptionE(in int64, maxPool bool) *block {
	return &block{
		kids: []nn.Child{
			kid("branch1x1", basic(in, 320, 1, 1, 1, 0, 0)),
			kid("branch3x3_1", basic(in, 384, 1, 1, 1, 0, 0)),
			kid("branch3x3_2a", basic(384, 384, 1, 3, 1, 0, 1)),
			kid("branch3x3_2b", basic(384, 384, 3, 1, 1, 1, 0)),
			kid("branch3x3dbl_1", basic(in, 448, 1, 1, 1, 0, 0)),
			kid("branch3x3dbl_2", basic(448, 384, 3, 3, 1, 1, 1)),
			kid("branch3x3dbl_3a", basic(384, 384, 1, 3, 1, 0, 1)),
			kid("branch3x3dbl_3b", basic(384, 384, 3, 1, 1, 1, 0)),
			kid("branch_pool", basic(in, 192, 1, 1, 1, 0, 0)),
		},
		fwd: func(get func(string) *convBN, x *torch.Tensor) *torch.Tensor {
			b3 := get("branch3x3_1").Forward(x)
			b3 = torch.Cat(1, get("branch3x3_2a").Forward(b3), get("branch3x3_2b").Forward(b3))
			bd := chain(get, x, "branch3x3dbl_1", "branch3x3dbl_2")
			bd = torch.Cat(1, get("branch3x3dbl_3a").Forward(bd), get("branch3x3dbl_3b").Forward(bd))
			var pool *torch.Tensor
			if maxPool {
				// pytorch-fid's FIDInceptionE_2: the TensorFlow graph
				// max-pools here where the paper average-pools.
				pool = torch.MaxPool2d(x, 3, 1, 1, false)
			} else {
				pool = avgPoolTF(x)
			}
			return torch.Cat(1, get("branch1x1").Forward(x), b3, bd, get("branch_pool").Forward(pool))
		},
	}
}
