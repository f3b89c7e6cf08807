// Package gan trains the three classic GANs on MNIST that the seed material
// walks through before CycleGAN and pix2pix — an MLP GAN, a conditional
// GAN and a DCGAN — and scores their samples with a small LeNet classifier
// (label accuracy for the conditional GAN, a Fréchet distance in the
// classifier's feature space for all three).
//
// Networks keep PyTorch's state-dict names (model.0.weight, …) so that
// their .pth files load in PyTorch into the same architectures.
package gan

import (
	"fmt"
	"math"

	"cyclepix/networks"
	"cyclepix/nn"
	"cyclepix/torch"
)

// Models lists the --model values.
var Models = []string{"gan", "cgan", "dcgan"}

// numClasses is the number of digits a conditional GAN is conditioned on.
const numClasses = 10

// mlpBNEps is the eps of the MLP GANs' BatchNorm1d layers. The seed
// material writes nn.BatchNorm1d(n, 0.8), whose second argument is eps (it
// was likely meant as momentum); kept as written since that is the
// architecture whose behaviour people know.
const mlpBNEps = 0.8

// pair is a generator and discriminator of one model kind.
type pair struct {
	kind   string
	latent int64
	rows   int64 // image height and width (28)
	G, D   nn.Module
}

// conditional reports whether G and D take a digit label.
func (p *pair) conditional() bool { return p.kind == "cgan" }

// generate maps noise z [B, latent] (and for cgan a one-hot [B, 10]) to
// images [B, 1, rows, rows] in [-1, 1].
func (p *pair) generate(z, onehot *torch.Tensor) *torch.Tensor {
	x := z
	if p.conditional() {
		x = torch.Cat(1, z, onehot)
	}
	return p.G.Forward(x).Reshape(-1, 1, p.rows, p.rows)
}

// discriminate returns D's probability [B, 1] that images are real.
func (p *pair) discriminate(img, onehot *torch.Tensor) *torch.Tensor {
	if p.kind == "dcgan" {
		return p.D.Forward(img)
	}
	x := img.Reshape(img.Size(0), -1)
	if p.conditional() {
		x = torch.Cat(1, x, onehot)
	}
	return p.D.Forward(x)
}

// newPair builds G and D of kind for rows×rows images and initialises them
// (PyTorch's default init for the MLPs, N(0, 0.02) for the DCGAN as its
// weights_init_normal does).
func newPair(kind string, latent, rows int64) (*pair, error) {
	if latent < 1 {
		return nil, fmt.Errorf("--latent_dim %d: want at least 1", latent)
	}
	p := &pair{kind: kind, latent: latent, rows: rows}
	pixels := rows * rows
	err := torch.TryErr(func() error {
		switch kind {
		case "gan":
			p.G = model(mlp(latent, []int64{128, 256, 512, 1024}, pixels, []bool{false, true, true, true}), nn.Tanh())
			p.D = model(mlp(pixels, []int64{512, 256}, 1, []bool{false, false}), nn.Sigmoid())
		case "cgan":
			p.G = model(mlp(latent+numClasses, []int64{128, 256, 512}, pixels, []bool{false, true, true}), nn.Tanh())
			p.D = model(mlp(pixels+numClasses, []int64{512, 256}, 1, []bool{false, false}), nn.Sigmoid())
		case "dcgan":
			if rows != 28 {
				return fmt.Errorf("dcgan needs 28x28 images, not %dx%d", rows, rows)
			}
			p.G, p.D = newDCGenerator(latent), newDCDiscriminator()
			if err := networks.Init(p.G, "normal", 0.02); err != nil {
				return err
			}
			return networks.Init(p.D, "normal", 0.02)
		default:
			return fmt.Errorf("--model %q: want gan, cgan or dcgan", kind)
		}
		defaultInit(p.G)
		defaultInit(p.D)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// mlp is Linear blocks in→hidden…→out with LeakyReLU(0.2) after each hidden
// layer and BatchNorm1d(eps 0.8) before it where bn says so; the caller adds
// the output activation.
func mlp(in int64, hidden []int64, out int64, bn []bool) []nn.Module {
	var l []nn.Module
	for i, h := range hidden {
		l = append(l, nn.NewLinear(in, h, true))
		if bn[i] {
			l = append(l, nn.NewBatchNorm(h, mlpBNEps))
		}
		l = append(l, nn.LeakyReLU(0.2))
		in = h
	}
	return append(l, nn.NewLinear(in, out, true))
}

// model wraps layers as PyTorch's `self.model = nn.Sequential(...)`.
func model(layers []nn.Module, last nn.Module) nn.Module {
	return &networks.Wrapped{Attr: "model", Net: nn.Seq(append(layers, last)...)}
}

// dcGenerator is the DCGAN generator: Linear z→256·4·4, then transposed
// convolutions 4→9→15→28.
//
// The seed material's middle layer (128→64, k3 s2 p1) gives 17×17 and then
// 32×32, while MNIST is 28×28. Padding 2 instead of 1 there gives 15×15 and
// exactly 28×28, so real digits are used as they are (no 32×32 padding that
// G would have to learn to leave blank, no crop before scoring), at the
// cost of one padding value differing from the text.
type dcGenerator struct {
	L1, ConvBlocks *nn.Sequential
}

func newDCGenerator(latent int64) *dcGenerator {
	return &dcGenerator{
		L1: nn.Seq(nn.NewLinear(latent, 256*4*4, true)),
		ConvBlocks: nn.Seq(
			nn.NewBatchNorm(256, 1e-5), nn.ReLU(),
			nn.NewConvTranspose2d(256, 128, 3, 2, 0, 0, true), nn.NewBatchNorm(128, 1e-5), nn.ReLU(), // 4 → 9
			nn.NewConvTranspose2d(128, 64, 3, 2, 2, 0, true), nn.NewBatchNorm(64, 1e-5), nn.ReLU(), // 9 → 15
			nn.NewConvTranspose2d(64, 1, 4, 2, 2, 0, true), nn.Tanh(), // 15 → 28
		),
	}
}

// Forward maps z [B, latent] to [B, 1, 28, 28].
func (g *dcGenerator) Forward(z *torch.Tensor) *torch.Tensor {
	return g.ConvBlocks.Forward(g.L1.Forward(z).Reshape(-1, 256, 4, 4))
}

// Children names the parts as the seed material's module does.
func (g *dcGenerator) Children() []nn.Child {
	return []nn.Child{{Name: "l1", Module: g.L1}, {Name: "conv_blocks", Module: g.ConvBlocks}}
}

// dcDiscriminator is the DCGAN discriminator: strided convolutions
// 28→14→7→4, a 4×4 convolution to 1×1, and Linear 128→1 with Sigmoid.
type dcDiscriminator struct {
	Model, AdvLayer *nn.Sequential
}

func newDCDiscriminator() *dcDiscriminator {
	block := func(in, out int64, bn bool) []nn.Module {
		l := []nn.Module{nn.NewConv2d(in, out, 3, 2, 1, true)}
		if bn {
			l = append(l, nn.NewBatchNorm(out, 1e-5))
		}
		return append(l, nn.LeakyReLU(0.2))
	}
	var l []nn.Module
	l = append(l, block(1, 16, false)...)
	l = append(l, block(16, 32, true)...)
	l = append(l, block(32, 64, true)...)
	l = append(l, nn.NewConv2d(64, 128, 4, 1, 0, true), nn.NewBatchNorm(128, 1e-5), nn.LeakyReLU(0.2))
	return &dcDiscriminator{Model: nn.Seq(l...), AdvLayer: nn.Seq(nn.NewLinear(128, 1, true), nn.Sigmoid())}
}

// Forward maps images [B, 1, 28, 28] to probabilities [B, 1].
func (d *dcDiscriminator) Forward(x *torch.Tensor) *torch.Tensor {
	h := d.Model.Forward(x)
	return d.AdvLayer.Forward(h.Reshape(h.Size(0), -1))
}

// Children names the parts as the seed material's module does.
func (d *dcDiscriminator) Children() []nn.Child {
	return []nn.Child{{Name: "model", Module: d.Model}, {Name: "adv_layer", Module: d.AdvLayer}}
}

// defaultInit gives every Linear and Conv layer PyTorch's default
// initialisation, kaiming_uniform_(a=√5), which is U(±1/√fan_in) for weight
// and bias alike; batch norms keep weight 1, bias 0. nn's constructors
// leave weights at zero, which would never break symmetry.
func defaultInit(m nn.Module) {
	nn.Walk(m, func(_ string, m nn.Module) {
		w, b, ok := nn.WeightBias(m)
		if !ok {
			return
		}
		// PyTorch takes dim 1 as the fan-in for every layer, even for a
		// transposed convolution whose weight is [in, out, k, k].
		s := w.Shape()
		fanIn := s[1]
		for _, k := range s[2:] {
			fanIn *= k
		}
		bound := 1 / math.Sqrt(float64(fanIn))
		w.Uniform_(-bound, bound)
		if b != nil {
			b.Uniform_(-bound, bound)
		}
	})
}
