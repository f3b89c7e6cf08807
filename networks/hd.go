package networks

import (
	"fmt"
	"math"
	"sort"
	"strconv"

	"cyclepix/nn"
	"cyclepix/torch"
)

// pix2pixHD's networks (Wang et al., CVPR 2018; NVIDIA/pix2pixHD
// models/networks.py), built with its layer order so that state dict keys
// and shapes match its checkpoints: GlobalGenerator, LocalEnhancer, the
// instance-wise feature Encoder and the MultiscaleDiscriminator. Unlike
// the reference's networks every convolution has a bias, whatever the
// norm.

// HDOptions are define_G's arguments in pix2pixHD.
type HDOptions struct {
	InputNC, OutputNC, NGF int64
	// NetG is global or local.
	NetG              string
	NDownsampleGlobal int
	NBlocksGlobal     int
	NLocalEnhancers   int
	NBlocksLocal      int
	Norm              Norm
}

// hdNorm is get_norm_layer: batch norm with affine parameters or instance
// norm without; cyclepix's "none" (no layer) is allowed too.
func hdNorm(n Norm, c int64) nn.Module { return n.layer(c) }

// newHDResnetBlock is pix2pixHD's ResnetBlock with reflection padding:
// the reference's block, but its convolutions always carry a bias.
func newHDResnetBlock(dim int64, norm Norm) *ResnetBlock {
	return &ResnetBlock{ConvBlock: nn.Seq(
		nn.ReflectionPad2d(1), nn.NewConv2d(dim, dim, 3, 1, 0, true), hdNorm(norm, dim), norm.relu(),
		nn.ReflectionPad2d(1), nn.NewConv2d(dim, dim, 3, 1, 0, true), hdNorm(norm, dim))}
}

// globalLayers are GlobalGenerator's layers: 7×7 conv, nDown stride-2
// convs, nBlocks residual blocks, nDown transposed convs, 7×7 conv, tanh.
func globalLayers(in, out, ngf int64, nDown, nBlocks int, norm Norm) []nn.Module {
	l := []nn.Module{nn.ReflectionPad2d(3), nn.NewConv2d(in, ngf, 7, 1, 0, true), hdNorm(norm, ngf), norm.relu()}
	for i := 0; i < nDown; i++ {
		mult := int64(1) << i
		l = append(l, nn.NewConv2d(ngf*mult, ngf*mult*2, 3, 2, 1, true), hdNorm(norm, ngf*mult*2), norm.relu())
	}
	mult := int64(1) << nDown
	for i := 0; i < nBlocks; i++ {
		l = append(l, newHDResnetBlock(ngf*mult, norm))
	}
	for i := 0; i < nDown; i++ {
		mult := int64(1) << (nDown - i)
		l = append(l, nn.NewConvTranspose2d(ngf*mult, ngf*mult/2, 3, 2, 1, 1, true), hdNorm(norm, ngf*mult/2), norm.relu())
	}
	return append(l, nn.ReflectionPad2d(3), nn.NewConv2d(ngf, out, 7, 1, 0, true), nn.Tanh())
}

// NewGlobalGenerator is GlobalGenerator (keys model.<i>).
func NewGlobalGenerator(in, out, ngf int64, nDown, nBlocks int, norm Norm) *Wrapped {
	return &Wrapped{Attr: "model", Net: nn.Seq(globalLayers(in, out, ngf, nDown, nBlocks, norm)...)}
}

// LocalEnhancer is pix2pixHD's coarse-to-fine generator: a global
// generator (ngf·2^n channels, without its last three layers) runs on the
// input average-pooled n times; each enhancer n = 1…N adds its
// downsampled features of the input pooled N−n times to the result so far
// and refines it at twice the resolution.
type LocalEnhancer struct {
	Global *nn.Sequential
	// Down[n-1] and Up[n-1] are model<n>_1 and model<n>_2.
	Down, Up []*nn.Sequential
}

// NewLocalEnhancer builds it with nEnh enhancers of nBlocksLocal blocks.
func NewLocalEnhancer(in, out, ngf int64, nDown, nBlocks, nEnh, nBlocksLocal int, norm Norm) *LocalEnhancer {
	ngfGlobal := ngf << nEnh
	g := globalLayers(in, out, ngfGlobal, nDown, nBlocks, norm)
	le := &LocalEnhancer{Global: nn.Seq(g[:len(g)-3]...)}
	for n := 1; n <= nEnh; n++ {
		c := ngf << (nEnh - n)
		down := nn.Seq(nn.ReflectionPad2d(3), nn.NewConv2d(in, c, 7, 1, 0, true), hdNorm(norm, c), norm.relu(),
			nn.NewConv2d(c, c*2, 3, 2, 1, true), hdNorm(norm, c*2), norm.relu())
		var up []nn.Module
		for i := 0; i < nBlocksLocal; i++ {
			up = append(up, newHDResnetBlock(c*2, norm))
		}
		up = append(up, nn.NewConvTranspose2d(c*2, c, 3, 2, 1, 1, true), hdNorm(norm, c), norm.relu())
		if n == nEnh {
			up = append(up, nn.ReflectionPad2d(3), nn.NewConv2d(ngf, out, 7, 1, 0, true), nn.Tanh())
		}
		le.Down = append(le.Down, down)
		le.Up = append(le.Up, nn.Seq(up...))
	}
	return le
}

// Children names the parts as pix2pixHD does: model, model1_1, model1_2, …
func (l *LocalEnhancer) Children() []nn.Child {
	c := []nn.Child{{Name: "model", Module: l.Global}}
	for i := range l.Down {
		n := strconv.Itoa(i + 1)
		c = append(c, nn.Child{Name: "model" + n + "_1", Module: l.Down[i]}, nn.Child{Name: "model" + n + "_2", Module: l.Up[i]})
	}
	return c
}

// Forward builds the input pyramid, runs the global part on its coarsest
// level and each enhancer on the next finer one.
func (l *LocalEnhancer) Forward(x *torch.Tensor) *torch.Tensor {
	n := len(l.Down)
	pyramid := []*torch.Tensor{x}
	for i := 0; i < n; i++ {
		pyramid = append(pyramid, hdDownsample(pyramid[len(pyramid)-1]))
	}
	out := l.Global.Forward(pyramid[n])
	for k := 1; k <= n; k++ {
		d := l.Down[k-1].Forward(pyramid[n-k])
		sum := d.Add(out)
		d.Free()
		out.Free()
		out = l.Up[k-1].Forward(sum)
		sum.Free()
	}
	for _, p := range pyramid[1:] {
		p.Free()
	}
	return out
}

// hdDownsample is pix2pixHD's AvgPool2d(3, stride 2, padding 1,
// count_include_pad=False): border windows average only the pixels inside.
func hdDownsample(x *torch.Tensor) *torch.Tensor { return torch.AvgPool2d(x, 3, 2, 1, false, false) }

// Encoder is pix2pixHD's feature encoder (an image-to-features network of
// the GlobalGenerator's shape without residual blocks); InstanceMean then
// averages its output over each instance.
type Encoder struct {
	Model *nn.Sequential
}

// NewEncoder builds it: in image channels to out feature channels, ngf
// filters, nDown levels.
func NewEncoder(in, out, ngf int64, nDown int, norm Norm) *Encoder {
	l := globalLayers(in, out, ngf, nDown, 0, norm)
	return &Encoder{Model: nn.Seq(l...)}
}

// Forward returns the per-pixel features (before instance averaging).
func (e *Encoder) Forward(x *torch.Tensor) *torch.Tensor { return e.Model.Forward(x) }

// Children names the sequence "model".
func (e *Encoder) Children() []nn.Child { return []nn.Child{{Name: "model", Module: e.Model}} }

// InstanceMean replaces every pixel's features by their mean over its
// instance (the pixels of the same sample with the same id in inst,
// [N,1,H,W]), differentiably: pix2pixHD's instance-wise average pooling.
func InstanceMean(feat, inst *torch.Tensor) *torch.Tensor {
	ids := UniqueIDs(inst)
	var out *torch.Tensor
	for _, id := range ids {
		m := inst.EqScalar(id).To(feat.DType())
		cnt := m.SumDims(true, 2, 3).Clamp(1, math.Inf(1))
		mean := feat.Mul(m).SumDims(true, 2, 3).Div(cnt)
		term := m.Mul(mean)
		if out == nil {
			out = term
		} else {
			out = out.Add(term)
		}
	}
	if out == nil {
		return feat.MulScalar(0)
	}
	return out
}

// UniqueIDs lists the distinct values of an id map, sorted.
func UniqueIDs(inst *torch.Tensor) []float64 {
	v := inst.ToDevice(torch.CPU, torch.Float32).Float32s()
	seen := map[float32]bool{}
	for _, x := range v {
		seen[x] = true
	}
	ids := make([]float64, 0, len(seen))
	for x := range seen {
		ids = append(ids, float64(x))
	}
	sort.Float64s(ids)
	return ids
}

// MultiscaleDiscriminator is pix2pixHD's: NumD PatchGAN discriminators
// (kernel 4, padding 2, channels capped at 512), the i-th of which judges
// the input average-pooled i times. With IntermFeat every layer group's
// output is returned, for the feature-matching loss.
type MultiscaleDiscriminator struct {
	NumD, NLayers int
	IntermFeat    bool
	// Scales[k] are the groups of the discriminator whose parameters are
	// named scale<k>_layer<j> (IntermFeat) or layer<k>; scale k judges
	// the input pooled NumD-1-k times (the highest k sees it at full
	// resolution).
	Scales [][]*nn.Sequential
	// flat[k] is Scales[k]'s layers in one sequence (without IntermFeat).
	flat []*nn.Sequential
}

// NewMultiscaleDiscriminator is define_D of pix2pixHD. Its last layer
// gives logits: pix2pixHD appends a sigmoid with --no_lsgan, which
// cyclepix's vanilla GAN loss applies inside BCE-with-logits instead (the
// sigmoid has no parameters, so checkpoints are the same).
func NewMultiscaleDiscriminator(in, ndf int64, nLayers int, norm Norm, numD int, intermFeat bool) *MultiscaleDiscriminator {
	d := &MultiscaleDiscriminator{NumD: numD, NLayers: nLayers, IntermFeat: intermFeat}
	for k := 0; k < numD; k++ {
		groups := hdPatchGroups(in, ndf, nLayers, norm)
		d.Scales = append(d.Scales, groups)
		var all []nn.Module
		for _, g := range groups {
			all = append(all, g.Layers...)
		}
		d.flat = append(d.flat, nn.Seq(all...))
	}
	return d
}

// hdPatchGroups are NLayerDiscriminator's layer groups.
func hdPatchGroups(in, ndf int64, nLayers int, norm Norm) []*nn.Sequential {
	const kw, pad = 4, 2 // ceil((4-1)/2)
	g := []*nn.Sequential{nn.Seq(nn.NewConv2d(in, ndf, kw, 2, pad, true), nn.LeakyReLU(0.2))}
	nf := ndf
	for n := 1; n < nLayers; n++ {
		prev := nf
		nf = min(nf*2, 512)
		g = append(g, nn.Seq(nn.NewConv2d(prev, nf, kw, 2, pad, true), hdNorm(norm, nf), nn.LeakyReLU(0.2)))
	}
	prev := nf
	nf = min(nf*2, 512)
	g = append(g, nn.Seq(nn.NewConv2d(prev, nf, kw, 1, pad, true), hdNorm(norm, nf), nn.LeakyReLU(0.2)))
	return append(g, nn.Seq(nn.NewConv2d(nf, 1, kw, 1, pad, true)))
}

// Children names the parameters as pix2pixHD does.
func (d *MultiscaleDiscriminator) Children() []nn.Child {
	var c []nn.Child
	for k := range d.Scales {
		if !d.IntermFeat {
			c = append(c, nn.Child{Name: "layer" + strconv.Itoa(k), Module: d.flat[k]})
			continue
		}
		for j, g := range d.Scales[k] {
			c = append(c, nn.Child{Name: fmt.Sprintf("scale%d_layer%d", k, j), Module: g})
		}
	}
	return c
}

// ForwardScales returns, for each scale i (0: full resolution), the
// outputs of every layer group (IntermFeat) or only the last.
func (d *MultiscaleDiscriminator) ForwardScales(x *torch.Tensor) [][]*torch.Tensor {
	out := make([][]*torch.Tensor, d.NumD)
	in := x
	for i := 0; i < d.NumD; i++ {
		k := d.NumD - 1 - i
		if d.IntermFeat {
			h := in
			for _, g := range d.Scales[k] {
				h = g.Forward(h)
				out[i] = append(out[i], h)
			}
		} else {
			out[i] = []*torch.Tensor{d.flat[k].Forward(in)}
		}
		if i != d.NumD-1 {
			in = hdDownsample(in)
		}
	}
	return out
}

// Forward returns the full-resolution scale's last output, so that the
// discriminator also serves where one output is expected (FLOPs counts);
// the losses use ForwardScales.
func (d *MultiscaleDiscriminator) Forward(x *torch.Tensor) *torch.Tensor {
	s := d.ForwardScales(x)
	return s[0][len(s[0])-1]
}

// MultiScale is a discriminator with several outputs per input
// (ForwardScales): the GAN and feature-matching losses take all of them.
type MultiScale interface {
	ForwardScales(x *torch.Tensor) [][]*torch.Tensor
}

// Judge runs a discriminator and returns its outputs by scale: one scale
// with one output for a single-scale discriminator.
func Judge(d nn.Module, x *torch.Tensor) [][]*torch.Tensor {
	if m, ok := d.(MultiScale); ok {
		return m.ForwardScales(x)
	}
	return [][]*torch.Tensor{{d.Forward(x)}}
}

// GANLossScales is pix2pixHD's GANLoss: the loss of each scale's last
// output against real or fake, summed (not averaged) over the scales.
func GANLossScales(mode GANMode, preds [][]*torch.Tensor, real bool) *torch.Tensor {
	var sum *torch.Tensor
	for _, p := range preds {
		l := GANLoss(mode, p[len(p)-1], real)
		if sum == nil {
			sum = l
		} else {
			sum = sum.Add(l)
		}
	}
	return sum
}

// FeatureMatchingLoss is pix2pixHD's GAN feature-matching loss: the L1
// distance between the discriminator's intermediate outputs (all but each
// scale's last) on the fake and on the real input, each weighted
// (1/numD)·(4/(nLayers+1))·lambda; the real ones are targets (detached).
// It is nil when the discriminator returns no intermediate outputs.
func FeatureMatchingLoss(fake, real [][]*torch.Tensor, nLayers int, lambda float64) *torch.Tensor {
	numD := float64(len(fake))
	w := (1 / numD) * (4 / float64(nLayers+1))
	var sum *torch.Tensor
	for i := range fake {
		for j := 0; j < len(fake[i])-1; j++ {
			l := torch.L1Loss(fake[i][j], real[i][j].Detach(), torch.ReduceMean).MulScalar(w).MulScalar(lambda)
			if sum == nil {
				sum = l
			} else {
				sum = sum.Add(l)
			}
		}
	}
	return sum
}

// InitHD is pix2pixHD's weights_init: convolution weights N(0, 0.02),
// batch-norm weights N(1, 0.02) and biases 0. Convolution biases keep
// PyTorch's default initialisation, U(−1/√fan_in, 1/√fan_in), which
// pix2pixHD never overwrites.
func InitHD(net nn.Module) error {
	return torch.Try(func() {
		nn.Walk(net, func(_ string, m nn.Module) {
			if bn, ok := m.(*nn.BatchNorm); ok {
				bn.Weight.Normal_(1, 0.02)
				bn.Bias.Zero_()
				return
			}
			w, b, ok := nn.WeightBias(m)
			if !ok {
				return
			}
			if _, linear := m.(*nn.Linear); !linear {
				w.Normal_(0, 0.02)
			}
			if b != nil {
				fanIn, _ := fans(w)
				bound := 1 / math.Sqrt(fanIn)
				b.Uniform_(-bound, bound)
			}
		})
	})
}

// NewHDGenerator is pix2pixHD's define_G for global and local.
func NewHDGenerator(o HDOptions) (nn.Module, error) {
	if o.NDownsampleGlobal < 0 || o.NBlocksGlobal < 0 {
		return nil, fmt.Errorf("--n_downsample_global %d, --n_blocks_global %d: want ≥ 0", o.NDownsampleGlobal, o.NBlocksGlobal)
	}
	var net nn.Module
	switch o.NetG {
	case "global":
		net = NewGlobalGenerator(o.InputNC, o.OutputNC, o.NGF, o.NDownsampleGlobal, o.NBlocksGlobal, o.Norm)
	case "local":
		if o.NLocalEnhancers < 1 || o.NBlocksLocal < 0 {
			return nil, fmt.Errorf("--n_local_enhancers %d, --n_blocks_local %d: want ≥ 1 and ≥ 0 with --netG local", o.NLocalEnhancers, o.NBlocksLocal)
		}
		net = NewLocalEnhancer(o.InputNC, o.OutputNC, o.NGF, o.NDownsampleGlobal, o.NBlocksGlobal, o.NLocalEnhancers, o.NBlocksLocal, o.Norm)
	default:
		return nil, fmt.Errorf("--netG %q: pix2pixHD's generators are global and local", o.NetG)
	}
	if err := InitHD(net); err != nil {
		return nil, err
	}
	return net, nil
}

// HDSizeMultiple is what pix2pixHD generators need image sides to be
// multiples of: 2^n_downsample_global, times 2^n_local_enhancers for
// local (its preprocess none rounds to it).
func HDSizeMultiple(netG string, nDown, nEnh int) int {
	m := 1 << nDown
	if netG == "local" {
		m <<= nEnh
	}
	return m
}
