// Package networks builds the reference's generators and discriminators
// (models/networks.py) with identical layer order, so state dict keys and
// shapes match PyTorch checkpoints of the same options.
package networks

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"cyclepix/nn"
	"cyclepix/torch"
)

// Norm names a normalisation layer (--norm).
type Norm string

// Norms the reference offers.
const (
	NormBatch    Norm = "batch"
	NormInstance Norm = "instance"
	NormNone     Norm = "none"
)

// ParseNorm validates a --norm value.
func ParseNorm(s string) (Norm, error) {
	switch Norm(s) {
	case NormBatch, NormInstance, NormNone:
		return Norm(s), nil
	}
	return "", fmt.Errorf("--norm %q: want batch, instance or none", s)
}

func (n Norm) layer(c int64) nn.Module {
	switch n {
	case NormBatch:
		return nn.NewBatchNorm(c, 1e-5)
	case NormInstance:
		return &nn.InstanceNorm2d{Eps: 1e-5}
	}
	return nn.Identity()
}

// relu is the ReLU that follows a norm layer: in place, as the reference's
// ReLU(True), when the norm's backward does not need its output (instance
// and batch norm keep their input and statistics); a plain one after no
// norm, where the conv before may still need the value.
func (n Norm) relu() nn.Module {
	if n == NormNone {
		return nn.ReLU()
	}
	return nn.ReLUInPlace()
}

// useBias is the reference's rule: convs followed by a norm carry a bias only
// with instance norm (batch norm has its own shift; "none" also gets no bias,
// a quirk kept so checkpoints stay compatible).
func (n Norm) useBias() bool { return n == NormInstance }

// ResnetBlock is x + conv_block(x).
type ResnetBlock struct{ ConvBlock *nn.Sequential }

func newResnetBlock(dim int64, norm Norm, dropout bool) *ResnetBlock {
	bias := norm.useBias()
	l := []nn.Module{nn.ReflectionPad2d(1), nn.NewConv2d(dim, dim, 3, 1, 0, bias), norm.layer(dim), norm.relu()}
	if dropout {
		l = append(l, &nn.Dropout{P: 0.5, Training: true})
	}
	l = append(l, nn.ReflectionPad2d(1), nn.NewConv2d(dim, dim, 3, 1, 0, bias), norm.layer(dim))
	return &ResnetBlock{ConvBlock: nn.Seq(l...)}
}

// Forward returns x + conv_block(x), releasing conv_block's output at once
// (see nn.Chain).
func (b *ResnetBlock) Forward(x *torch.Tensor) *torch.Tensor {
	y := b.ConvBlock.Forward(x)
	out := x.Add(y)
	y.Free()
	return out
}

// Children names the block's sequence "conv_block".
func (b *ResnetBlock) Children() []nn.Child {
	return []nn.Child{{Name: "conv_block", Module: b.ConvBlock}}
}

// Wrapped is a network whose layers sit under one attribute name ("model"
// for most reference networks, "net" for the PixelGAN).
type Wrapped struct {
	Attr string
	Net  nn.Module
}

// Forward runs the wrapped network.
func (w *Wrapped) Forward(x *torch.Tensor) *torch.Tensor { return w.Net.Forward(x) }

// Children exposes the attribute.
func (w *Wrapped) Children() []nn.Child { return []nn.Child{{Name: w.Attr, Module: w.Net}} }

// NewResnetGenerator is ResnetGenerator: 7×7 conv, two stride-2 downs,
// nBlocks residual blocks, two transposed-conv ups, 7×7 conv, tanh.
func NewResnetGenerator(inputNC, outputNC, ngf int64, norm Norm, dropout bool, nBlocks int) *Wrapped {
	bias := norm.useBias()
	l := []nn.Module{nn.ReflectionPad2d(3), nn.NewConv2d(inputNC, ngf, 7, 1, 0, bias), norm.layer(ngf), norm.relu()}
	for i := 0; i < 2; i++ {
		mult := int64(1) << i
		l = append(l, nn.NewConv2d(ngf*mult, ngf*mult*2, 3, 2, 1, bias), norm.layer(ngf*mult*2), norm.relu())
	}
	for i := 0; i < nBlocks; i++ {
		l = append(l, newResnetBlock(ngf*4, norm, dropout))
	}
	for i := 0; i < 2; i++ {
		mult := int64(1) << (2 - i)
		l = append(l, nn.NewConvTranspose2d(ngf*mult, ngf*mult/2, 3, 2, 1, 1, bias), norm.layer(ngf*mult/2), norm.relu())
	}
	l = append(l, nn.ReflectionPad2d(3), nn.NewConv2d(ngf, outputNC, 7, 1, 0, true), nn.Tanh())
	return &Wrapped{Attr: "model", Net: nn.Seq(l...)}
}

// UnetBlock is UnetSkipConnectionBlock: down, submodule, up, and (except
// for the outermost block) a skip concatenation.
type UnetBlock struct {
	Model     *nn.Sequential
	Outermost bool
}

// Forward returns cat(x, model(x)) for inner blocks. The reference's first
// layer there is an in-place LeakyReLU, which also rewrites x before the
// concatenation, so the skip carries leaky_relu(x); this keeps that.
func (b *UnetBlock) Forward(x *torch.Tensor) *torch.Tensor {
	if b.Outermost {
		return b.Model.Forward(x)
	}
	h := b.Model.Layers[0].Forward(x)
	y := nn.Chain(b.Model.Layers[1:], h)
	out := torch.Cat(1, h, y)
	if y != h {
		y.Free()
	}
	if h != x {
		h.Free()
	}
	return out
}

// Children names the sequence "model".
func (b *UnetBlock) Children() []nn.Child { return []nn.Child{{Name: "model", Module: b.Model}} }

func newUnetBlock(outerNC, innerNC, inputNC int64, sub nn.Module, outermost, innermost bool, norm Norm, dropout bool) *UnetBlock {
	bias := norm.useBias()
	if inputNC == 0 {
		inputNC = outerNC
	}
	downconv := nn.NewConv2d(inputNC, innerNC, 4, 2, 1, bias)
	var l []nn.Module
	switch {
	case outermost:
		l = []nn.Module{downconv, sub, nn.ReLU(), nn.NewConvTranspose2d(innerNC*2, outerNC, 4, 2, 1, 0, true), nn.Tanh()}
	case innermost:
		l = []nn.Module{nn.LeakyReLU(0.2), downconv, nn.ReLU(), nn.NewConvTranspose2d(innerNC, outerNC, 4, 2, 1, 0, bias), norm.layer(outerNC)}
	default:
		l = []nn.Module{nn.LeakyReLU(0.2), downconv, norm.layer(innerNC), sub, nn.ReLU(),
			nn.NewConvTranspose2d(innerNC*2, outerNC, 4, 2, 1, 0, bias), norm.layer(outerNC)}
		if dropout {
			l = append(l, &nn.Dropout{P: 0.5, Training: true})
		}
	}
	return &UnetBlock{Model: nn.Seq(l...), Outermost: outermost}
}

// NewUnetGenerator is UnetGenerator with numDowns stride-2 levels (7 for
// 128×128 inputs, 8 for 256×256; inputs must be divisible by 2^numDowns).
func NewUnetGenerator(inputNC, outputNC int64, numDowns int, ngf int64, norm Norm, dropout bool) *Wrapped {
	b := newUnetBlock(ngf*8, ngf*8, 0, nil, false, true, norm, false)
	for i := 0; i < numDowns-5; i++ {
		b = newUnetBlock(ngf*8, ngf*8, 0, b, false, false, norm, dropout)
	}
	b = newUnetBlock(ngf*4, ngf*8, 0, b, false, false, norm, false)
	b = newUnetBlock(ngf*2, ngf*4, 0, b, false, false, norm, false)
	b = newUnetBlock(ngf, ngf*2, 0, b, false, false, norm, false)
	b = newUnetBlock(outputNC, ngf, inputNC, b, true, false, norm, false)
	return &Wrapped{Attr: "model", Net: b}
}

// NewNLayerDiscriminator is the PatchGAN discriminator with nLayers
// stride-2 layers (3 = the 70×70 "basic" D).
func NewNLayerDiscriminator(inputNC, ndf int64, nLayers int, norm Norm) *Wrapped {
	bias := norm.useBias()
	l := []nn.Module{nn.NewConv2d(inputNC, ndf, 4, 2, 1, true), nn.LeakyReLU(0.2)}
	mult := int64(1)
	for n := 1; n < nLayers; n++ {
		prev := mult
		mult = min(int64(1)<<n, 8)
		l = append(l, nn.NewConv2d(ndf*prev, ndf*mult, 4, 2, 1, bias), norm.layer(ndf*mult), nn.LeakyReLU(0.2))
	}
	prev := mult
	mult = min(int64(1)<<nLayers, 8)
	l = append(l, nn.NewConv2d(ndf*prev, ndf*mult, 4, 1, 1, bias), norm.layer(ndf*mult), nn.LeakyReLU(0.2))
	l = append(l, nn.NewConv2d(ndf*mult, 1, 4, 1, 1, true))
	return &Wrapped{Attr: "model", Net: nn.Seq(l...)}
}

// NewPixelDiscriminator is the 1×1 PixelGAN discriminator.
func NewPixelDiscriminator(inputNC, ndf int64, norm Norm) *Wrapped {
	bias := norm.useBias()
	return &Wrapped{Attr: "net", Net: nn.Seq(
		nn.NewConv2d(inputNC, ndf, 1, 1, 0, true), nn.LeakyReLU(0.2),
		nn.NewConv2d(ndf, ndf*2, 1, 1, 0, bias), norm.layer(ndf*2), nn.LeakyReLU(0.2),
		nn.NewConv2d(ndf*2, 1, 1, 1, 0, bias))}
}

// GOptions are the generator options of define_G.
type GOptions struct {
	InputNC, OutputNC, NGF int64
	NetG                   string // resnet_9blocks, resnet_6blocks, resnet_<N>blocks, unet_128, unet_256, unet_<2^k>
	Norm                   Norm
	Dropout                bool
	InitType               string
	InitGain               float64
}

// NewGenerator is define_G: builds and initialises a generator.
func NewGenerator(o GOptions) (nn.Module, error) {
	var net nn.Module
	switch {
	case strings.HasPrefix(o.NetG, "resnet_") && strings.HasSuffix(o.NetG, "blocks"):
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(o.NetG, "resnet_"), "blocks"))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--netG %q: want resnet_<N>blocks with N ≥ 1", o.NetG)
		}
		net = NewResnetGenerator(o.InputNC, o.OutputNC, o.NGF, o.Norm, o.Dropout, n)
	case strings.HasPrefix(o.NetG, "unet_"):
		size, err := strconv.Atoi(strings.TrimPrefix(o.NetG, "unet_"))
		if err != nil || size < 32 || size&(size-1) != 0 {
			return nil, fmt.Errorf("--netG %q: want unet_<N> with N a power of two ≥ 32 (unet_128, unet_256, …)", o.NetG)
		}
		net = NewUnetGenerator(o.InputNC, o.OutputNC, int(math.Round(math.Log2(float64(size)))), o.NGF, o.Norm, o.Dropout)
	default:
		return nil, fmt.Errorf("--netG %q is not a generator (want resnet_9blocks, resnet_6blocks, unet_128, unet_256 or unet_<2^k>)", o.NetG)
	}
	if err := Init(net, o.InitType, o.InitGain); err != nil {
		return nil, err
	}
	return net, nil
}

// DOptions are the discriminator options of define_D.
type DOptions struct {
	InputNC, NDF int64
	NetD         string // basic, n_layers, pixel
	NLayers      int
	Norm         Norm
	InitType     string
	InitGain     float64
}

// NewDiscriminator is define_D: builds and initialises a discriminator.
func NewDiscriminator(o DOptions) (nn.Module, error) {
	var net nn.Module
	switch o.NetD {
	case "basic":
		net = NewNLayerDiscriminator(o.InputNC, o.NDF, 3, o.Norm)
	case "n_layers":
		if o.NLayers < 1 {
			return nil, fmt.Errorf("--n_layers_D %d: want ≥ 1", o.NLayers)
		}
		net = NewNLayerDiscriminator(o.InputNC, o.NDF, o.NLayers, o.Norm)
	case "pixel":
		net = NewPixelDiscriminator(o.InputNC, o.NDF, o.Norm)
	default:
		return nil, fmt.Errorf("--netD %q: want basic, n_layers or pixel", o.NetD)
	}
	if err := Init(net, o.InitType, o.InitGain); err != nil {
		return nil, err
	}
	return net, nil
}

// SizeMultiple is what image height and width must be multiples of for a
// generator to return its input's size: 4 for ResNet generators (two
// stride-2 levels), N for unet_N (whose skip concatenations fail
// otherwise).
func SizeMultiple(netG string) int {
	if n, ok := strings.CutPrefix(netG, "unet_"); ok {
		if v, err := strconv.Atoi(n); err == nil && v > 0 {
			return 1 << int(math.Round(math.Log2(float64(v))))
		}
	}
	return 4
}
