package networks

import (
	"fmt"

	"cyclepix/nn"
	"cyclepix/torch"
)

// GANMode names a GAN objective (--gan_mode).
type GANMode string

// The reference's GAN objectives.
const (
	GANVanilla GANMode = "vanilla" // BCE with logits, the original GAN paper
	GANLSGAN   GANMode = "lsgan"   // least squares
	GANWGANGP  GANMode = "wgangp"  // Wasserstein with gradient penalty
)

// ParseGANMode validates --gan_mode.
func ParseGANMode(s string) (GANMode, error) {
	switch GANMode(s) {
	case GANVanilla, GANLSGAN, GANWGANGP:
		return GANMode(s), nil
	}
	return "", fmt.Errorf("--gan_mode %q: want vanilla, lsgan or wgangp", s)
}

// GANLoss is the loss of a discriminator output against "real" (label 1)
// or "fake" (label 0), with the target broadcast to the output's shape.
func GANLoss(mode GANMode, pred *torch.Tensor, real bool) *torch.Tensor {
	label := 0.0
	if real {
		label = 1.0
	}
	switch mode {
	case GANLSGAN:
		return torch.MSELoss(pred, torch.FullLike(pred, label), torch.ReduceMean)
	case GANVanilla:
		return torch.BCEWithLogits(pred, torch.FullLike(pred, label), torch.ReduceMean)
	case GANWGANGP:
		if real {
			return pred.Mean().Neg()
		}
		return pred.Mean()
	}
	panic(&torch.Error{Op: "gan_loss", Msg: fmt.Sprintf("unknown gan mode %q", mode)})
}

// PenaltyType says where the gradient penalty is evaluated.
type PenaltyType string

// Gradient penalty sample points, as cal_gradient_penalty's type.
const (
	PenaltyMixed PenaltyType = "mixed" // random interpolates of real and fake
	PenaltyReal  PenaltyType = "real"
	PenaltyFake  PenaltyType = "fake"
)

// GradientPenalty is the WGAN-GP term
// lambda · mean_n((‖∇x D(x)_n + 1e-16‖₂ − constant)²), differentiable with
// respect to D's parameters (second order). fake must be detached. alpha
// holds one mixing weight per sample ([N,1]); nil draws it from libtorch's
// generator as torch.rand(N, 1) does.
func GradientPenalty(d nn.Module, real, fake *torch.Tensor, kind PenaltyType, constant, lambda float64, alpha *torch.Tensor) *torch.Tensor {
	var x *torch.Tensor
	switch kind {
	case PenaltyReal:
		x = real.Detach()
	case PenaltyFake:
		x = fake.Detach()
	case PenaltyMixed:
		n := real.Size(0)
		if alpha == nil {
			alpha = torch.Rand(n, 1) // CPU generator, as on the CPU path
			if dev := real.Device(); dev != torch.CPU {
				alpha = alpha.ToDevice(dev, real.DType())
			}
		}
		a := alpha.Expand(n, real.Numel()/n).Contiguous().Reshape(real.Shape()...)
		x = a.Mul(real).Add(a.RSubScalar(1).Mul(fake))
		x = x.Detach()
	default:
		panic(&torch.Error{Op: "gradient_penalty", Msg: fmt.Sprintf("unknown penalty type %q", kind)})
	}
	x.SetRequiresGrad(true)
	out := d.Forward(x)
	g := torch.Grad([]*torch.Tensor{out}, []*torch.Tensor{x}, torch.GradOpts{
		GradOutputs: []*torch.Tensor{torch.FullLike(out, 1)}, CreateGraph: true, RetainGraph: true})[0]
	g = g.Reshape(real.Size(0), -1)
	return g.AddScalar(1e-16).Norm(2, false, 1).SubScalar(constant).PowScalar(2).Mean().MulScalar(lambda)
}
