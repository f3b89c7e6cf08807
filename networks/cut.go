package networks

import (
	"fmt"
	"strconv"
	"strings"

	"cyclepix/nn"
	"cyclepix/torch"
)

// CUT's generator and discriminator (taesungp/contrastive-unpaired-translation,
// models/networks.py). They differ from the reference's by anti-aliased
// sampling unless switched off: each stride-2 conv becomes a stride-1 conv
// followed (after its norm and activation) by nn.Downsample, and each
// transposed conv becomes nn.Upsample followed by a stride-1 conv. The
// extra modules occupy Sequential indices and carry "filt" buffers, so
// layer indices and state-dict keys are CUT's own ("model.7.filt",
// "model.12.conv_block.1.weight", …) and CUT's checkpoints load unchanged.

// CUTGenerator is CUT's ResnetGenerator. Besides the plain forward it
// extracts the intermediate features PatchNCE compares (Encode).
type CUTGenerator struct {
	Model *nn.Sequential
	// aliases[i] is true when CUT's layer i hands back the very tensor it
	// was given (ReLU(inplace=True), the Identity of norm "none"). A
	// feature taken at i-1 is then that tensor object, which Python keeps
	// modifying; Encode reproduces that (see there).
	aliases []bool
}

// NewCUTResnetGenerator builds CUT's ResnetGenerator with weights at zero
// (NewCUTGenerator also initialises them). With noAntialias the two
// downsamplings are the reference's stride-2 convs, with noAntialiasUp the
// upsamplings its transposed convs; by default both are anti-aliased.
func NewCUTResnetGenerator(inputNC, outputNC, ngf int64, norm Norm, dropout bool, nBlocks int, noAntialias, noAntialiasUp bool) *CUTGenerator {
	g := &CUTGenerator{Model: nn.Seq()}
	add := func(m nn.Module, alias bool) {
		g.Model.Layers = append(g.Model.Layers, m)
		g.aliases = append(g.aliases, alias)
	}
	none := norm == NormNone
	bias := norm.useBias()
	convNormReLU := func(conv nn.Module, c int64) {
		add(conv, false)
		add(norm.layer(c), none)
		add(norm.relu(), true)
	}
	add(nn.ReflectionPad2d(3), false)
	convNormReLU(nn.NewConv2d(inputNC, ngf, 7, 1, 0, bias), ngf)
	for i := 0; i < 2; i++ {
		c := ngf << i
		if noAntialias {
			convNormReLU(nn.NewConv2d(c, 2*c, 3, 2, 1, bias), 2*c)
			continue
		}
		convNormReLU(nn.NewConv2d(c, 2*c, 3, 1, 1, bias), 2*c)
		add(nn.NewDownsample(2*c), false)
	}
	for i := 0; i < nBlocks; i++ {
		add(newResnetBlock(ngf*4, norm, dropout), false)
	}
	for i := 0; i < 2; i++ {
		c := ngf << (2 - i)
		if noAntialiasUp {
			convNormReLU(nn.NewConvTranspose2d(c, c/2, 3, 2, 1, 1, bias), c/2)
			continue
		}
		add(nn.NewUpsample(c), false)
		convNormReLU(nn.NewConv2d(c, c/2, 3, 1, 1, bias), c/2)
	}
	add(nn.ReflectionPad2d(3), false)
	add(nn.NewConv2d(ngf, outputNC, 7, 1, 0, true), false)
	add(nn.Tanh(), false)
	return g
}

// Forward is the standard forward pass (the translated image).
func (g *CUTGenerator) Forward(x *torch.Tensor) *torch.Tensor { return g.Model.Forward(x) }

// Children names the sequence "model", as CUT does.
func (g *CUTGenerator) Children() []nn.Child { return []nn.Child{{Name: "model", Module: g.Model}} }

// NumLayers is the length of the Sequential that Encode's indices point
// into.
func (g *CUTGenerator) NumLayers() int { return len(g.Model.Layers) }

// ParseNCELayers reads --nce_layers ("0,4,8,12,16") as CUT does: comma
// separated integers, kept in the given order.
func ParseNCELayers(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("--nce_layers %q: %q is not an integer", s, f)
		}
		out = append(out, n)
	}
	return out, nil
}

// CheckLayers validates nce_layers for this generator: every index must
// name a layer. (CUT's own -1, "also the output", makes its encode_only
// return a tuple that calculate_NCE_loss cannot use, so it is refused.)
func (g *CUTGenerator) CheckLayers(layers []int) error {
	if len(layers) == 0 {
		return fmt.Errorf("--nce_layers is empty")
	}
	for _, l := range layers {
		if l < 0 || l >= g.NumLayers() {
			return fmt.Errorf("--nce_layers %d: the generator has layers 0 to %d", l, g.NumLayers()-1)
		}
	}
	return nil
}

// Encode is CUT's netG(x, layers, encode_only=True): it runs the Sequential
// and returns the outputs of the layers whose indices are in layers,
// stopping after the layer named by the last element of layers. As in
// CUT, features come in layer order and each index at most once, so an
// unsorted or repeating list yields fewer features than entries (CUT then
// pairs them with the first criteria and still divides by len(layers)).
//
// A feature taken just before layers that hand back their input (an
// in-place ReLU, the Identity of norm "none") is, in PyTorch, the same
// tensor object those layers then modify: with --no_antialias, say, layer 8
// is an InstanceNorm whose output the in-place ReLU at 9 rectifies, so
// CUT's feature 8 is rectified. Encode returns that final value, provided
// the loop ran those layers, as CUT's does.
//
// Indices are validated by CheckLayers; a bad one panics with *torch.Error
// like any other misuse of an op.
func (g *CUTGenerator) Encode(x *torch.Tensor, layers []int) []*torch.Tensor {
	if err := g.CheckLayers(layers); err != nil {
		panic(&torch.Error{Op: "encode", Msg: err.Error()})
	}
	want := make(map[int]bool, len(layers))
	for _, l := range layers {
		want[l] = true
	}
	last := layers[len(layers)-1]
	var feats []*torch.Tensor
	cur := x
	n := 0 // how many trailing entries of feats are cur's PyTorch object
	for i, l := range g.Model.Layers {
		y := l.Forward(cur)
		keep := cur == x || y == cur
		if n > 0 {
			if i < len(g.aliases) && g.aliases[i] {
				// Those features are this layer's output (see above).
				for j := len(feats) - n; j < len(feats); j++ {
					feats[j] = y
				}
			} else {
				keep, n = true, 0
			}
		}
		if !keep {
			cur.Free()
		}
		cur = y
		if want[i] {
			feats = append(feats, y)
			n++
		}
		if i == last {
			break
		}
	}
	return feats
}

// CUTGOptions are CUT's define_G options.
type CUTGOptions struct {
	GOptions
	NoAntialias, NoAntialiasUp bool
}

// NewCUTGenerator is CUT's define_G for the generators whose features
// PatchNCE can use: resnet_<N>blocks (resnet_9blocks, resnet_6blocks,
// resnet_4blocks, …), built and initialised.
func NewCUTGenerator(o CUTGOptions) (*CUTGenerator, error) {
	n, err := resnetBlocks(o.NetG)
	if err != nil {
		return nil, err
	}
	g := NewCUTResnetGenerator(o.InputNC, o.OutputNC, o.NGF, o.Norm, o.Dropout, n, o.NoAntialias, o.NoAntialiasUp)
	if err := Init(g, o.InitType, o.InitGain); err != nil {
		return nil, err
	}
	return g, nil
}

// resnetBlocks reads N from resnet_<N>blocks. CUT's unet generators take
// no layer list, so CUT's model cannot train with them either.
func resnetBlocks(netG string) (int, error) {
	if s, ok := strings.CutPrefix(netG, "resnet_"); ok {
		if s, ok := strings.CutSuffix(s, "blocks"); ok {
			if n, err := strconv.Atoi(s); err == nil && n >= 1 {
				return n, nil
			}
		}
	}
	if strings.HasPrefix(netG, "unet_") {
		return 0, fmt.Errorf("--netG %q: CUT's U-Net generator has no encode_only feature extraction, so --model cut needs resnet_<N>blocks", netG)
	}
	return 0, fmt.Errorf("--netG %q: want resnet_<N>blocks (resnet_9blocks, resnet_6blocks, resnet_4blocks, …)", netG)
}

// NewCUTNLayerDiscriminator is CUT's NLayerDiscriminator. Anti-aliased,
// every stride-2 conv is a stride-1 conv whose activation is followed by
// nn.Downsample; with noAntialias it is the reference's PatchGAN.
func NewCUTNLayerDiscriminator(inputNC, ndf int64, nLayers int, norm Norm, noAntialias bool) *Wrapped {
	if noAntialias {
		return NewNLayerDiscriminator(inputNC, ndf, nLayers, norm)
	}
	bias := norm.useBias()
	l := []nn.Module{nn.NewConv2d(inputNC, ndf, 4, 1, 1, true), nn.LeakyReLU(0.2), nn.NewDownsample(ndf)}
	mult := int64(1)
	for n := 1; n < nLayers; n++ {
		prev := mult
		mult = min(int64(1)<<n, 8)
		l = append(l, nn.NewConv2d(ndf*prev, ndf*mult, 4, 1, 1, bias), norm.layer(ndf*mult), nn.LeakyReLU(0.2),
			nn.NewDownsample(ndf*mult))
	}
	prev := mult
	mult = min(int64(1)<<nLayers, 8)
	l = append(l, nn.NewConv2d(ndf*prev, ndf*mult, 4, 1, 1, bias), norm.layer(ndf*mult), nn.LeakyReLU(0.2))
	l = append(l, nn.NewConv2d(ndf*mult, 1, 4, 1, 1, true))
	return &Wrapped{Attr: "model", Net: nn.Seq(l...)}
}

// CUTDOptions are CUT's define_D options.
type CUTDOptions struct {
	DOptions
	NoAntialias bool
}

// NewCUTDiscriminator is CUT's define_D for basic, n_layers and pixel
// (CUT's PixelGAN is the reference's), built and initialised.
func NewCUTDiscriminator(o CUTDOptions) (nn.Module, error) {
	var net nn.Module
	switch o.NetD {
	case "basic":
		net = NewCUTNLayerDiscriminator(o.InputNC, o.NDF, 3, o.Norm, o.NoAntialias)
	case "n_layers":
		if o.NLayers < 1 {
			return nil, fmt.Errorf("--n_layers_D %d: want ≥ 1", o.NLayers)
		}
		net = NewCUTNLayerDiscriminator(o.InputNC, o.NDF, o.NLayers, o.Norm, o.NoAntialias)
	case "pixel":
		net = NewPixelDiscriminator(o.InputNC, o.NDF, o.Norm)
	default:
		return nil, fmt.Errorf("--netD %q: want basic, n_layers or pixel (CUT's patch and StyleGAN2 discriminators are not supported)", o.NetD)
	}
	if err := Init(net, o.InitType, o.InitGain); err != nil {
		return nil, err
	}
	return net, nil
}
