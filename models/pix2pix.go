package models

import (
	"fmt"

	"cyclepix/networks"
	"cyclepix/nn"
	"cyclepix/options"
	"cyclepix/torch"
)

func init() {
	Register("pix2pix", Def{
		Summary:       "paired A→B translation (Isola et al. 2017): U-Net generator, conditional PatchGAN, L1 loss",
		ModifyOptions: pix2pixOptions,
		New: func(o *options.Set, env Env) (Model, error) {
			return newPix2Pix(o, env)
		},
		Generators:  pix2pixGenerators,
		Eval:        &EvalPair{Fake: "fake_B", Real: "real_B", Paired: true},
		VisualSides: bySide(map[string]string{"real_A": "A", "fake_B": "B", "real_B": "B"}),
	})
}

// pix2pixGenerators: G maps real_A to real_B, in --direction.
func pix2pixGenerators(o *options.Set) ([]Generator, error) {
	d, err := runDirection(o)
	if err != nil {
		return nil, err
	}
	return []Generator{{Net: "G", Direction: d, Spec: genSpec(o, o.Int("input_nc"), o.Int("output_nc"), !o.Bool("no_dropout"))}}, nil
}

func pix2pixOptions(s *options.Set, isTrain bool) {
	s.SetDefault("norm", "batch")
	s.SetDefault("netG", "unet_256")
	s.SetDefault("dataset_mode", "aligned")
	if isTrain {
		s.SetDefault("pool_size", 0)
		s.SetDefault("gan_mode", "vanilla")
		s.Add("pix2pix", options.Def{Name: "lambda_L1", Default: 100.0, Help: "weight for L1 loss"},
			// pix2pixHD's losses as building blocks (off by default: the
			// reference's pix2pix).
			options.Def{Name: "num_D", Default: 2, Help: "number of discriminator scales with --netD multiscale (pix2pixHD's)", Inherit: true},
			options.Def{Name: "lambda_feat", Default: 0.0, Help: "weight of pix2pixHD's discriminator feature-matching loss (needs --netD multiscale; pix2pixHD uses 10)"},
			options.Def{Name: "lambda_vgg", Default: 0.0, Help: "weight of pix2pixHD's VGG19 perceptual loss (torchvision's vgg19 weights: --vgg19 or 'cyclepix data download vgg19'; pix2pixHD uses 10)"},
			options.Def{Name: "vgg19", Default: "", Help: "torchvision's vgg19 weights for --lambda_vgg (default: torchvision's cache)"},
		)
		s.SetHelp("netD", "specify discriminator architecture [basic | n_layers | pixel | multiscale] (multiscale: pix2pixHD's, --num_D scales of --n_layers_D)")
	}
}

// Pix2Pix is Pix2PixModel: G: A→B, D judges cat(A, B).
type Pix2Pix struct {
	*BaseModel
	G, D       nn.Module
	OptG, OptD *torch.Adam
	ganMode    networks.GANMode
	inA, inB   string
	// vgg is the perceptual loss's network (--lambda_vgg > 0).
	vgg *networks.VGG19

	realA, realB, fakeB *torch.Tensor
}

func newPix2Pix(o *options.Set, env Env) (*Pix2Pix, error) {
	m := &Pix2Pix{BaseModel: newBase(o, env)}
	var err error
	if m.inA, m.inB, err = direction(o); err != nil {
		return nil, err
	}
	in, out := int64(o.Int("input_nc")), int64(o.Int("output_nc"))
	m.LossNames = []string{"G_GAN", "G_L1", "D_real", "D_fake"}
	m.VisualNames = []string{"real_A", "fake_B", "real_B"}
	gens, err := pix2pixGenerators(o)
	if err != nil {
		return nil, err
	}
	if m.G, err = newGenerator(o, gens[0]); err != nil {
		return nil, err
	}
	m.AddNet("G", m.G)
	if m.IsTrain {
		if m.D, err = Discriminator(o, in+out); err != nil {
			return nil, err
		}
		m.AddNet("D", m.D)
		if m.ganMode, err = networks.ParseGANMode(o.String("gan_mode")); err != nil {
			return nil, err
		}
		if o.Float("lambda_feat") > 0 {
			if _, ok := m.D.(networks.MultiScale); !ok {
				return nil, fmt.Errorf("--lambda_feat matches the discriminator's intermediate features, which --netD %s does not give: use --netD multiscale", o.String("netD"))
			}
			m.LossNames = append(m.LossNames, "G_GAN_Feat")
		}
		if o.Float("lambda_vgg") > 0 {
			path, err := networks.LocateVGG19(o.String("vgg19"))
			if err != nil {
				return nil, err
			}
			if m.vgg, err = networks.LoadVGG19(path); err != nil {
				return nil, err
			}
			if err := nn.ToDevice(m.vgg, m.Device); err != nil {
				return nil, err
			}
			m.LossNames = append(m.LossNames, "G_VGG")
		}
		m.OptG = adam(o, m.G)
		m.OptD = adam(o, m.D)
		m.Optimizers = []*torch.Adam{m.OptG, m.OptD}
	}
	return m, nil
}

// SetInput takes real_A and real_B according to --direction.
func (m *Pix2Pix) SetInput(in Input) error {
	var err error
	m.realA, m.realB, err = m.setPair(in, m.inA, m.inB, "real_A", "real_B")
	return err
}

// Forward computes fake_B = G(real_A).
func (m *Pix2Pix) Forward() {
	m.fakeB = m.G.Forward(m.realA)
	m.SetVisual("fake_B", m.fakeB)
}

// OptimizeParameters is one iteration: D step, then G step against the
// updated (frozen) D.
func (m *Pix2Pix) OptimizeParameters() {
	m.Forward()
	setRequiresGrad(true, m.D)
	m.OptD.ZeroGrad()
	fakeAB := torch.Cat(1, m.realA, m.fakeB).Detach()
	realAB := torch.Cat(1, m.realA, m.realB)
	dFake := networks.GANLossScales(m.ganMode, networks.Judge(m.D, fakeAB), false)
	dReal := networks.GANLossScales(m.ganMode, networks.Judge(m.D, realAB), true)
	lossD := dFake.Add(dReal).MulScalar(0.5)
	if m.ganMode == networks.GANWGANGP && m.Opt.Float("lambda_gp") > 0 {
		lossD = lossD.Add(networks.GradientPenalty(m.D, realAB, fakeAB, networks.PenaltyMixed, 1, m.Opt.Float("lambda_gp"), nil))
	}
	lossD.Backward()
	m.OptD.Step()
	setRequiresGrad(false, m.D)
	m.OptG.ZeroGrad()
	predFake := networks.Judge(m.D, torch.Cat(1, m.realA, m.fakeB))
	gGAN := networks.GANLossScales(m.ganMode, predFake, true)
	gL1 := torch.L1Loss(m.fakeB, m.realB, torch.ReduceMean).MulScalar(m.Opt.Float("lambda_L1"))
	lossG := gGAN.Add(gL1)
	if lf := m.Opt.Float("lambda_feat"); lf > 0 {
		// The targets: the (updated) D's features of the real pair.
		var predReal [][]*torch.Tensor
		torch.NoGrad(func() { predReal = networks.Judge(m.D, realAB) })
		f := networks.FeatureMatchingLoss(predFake, predReal, m.Opt.Int("n_layers_D"), lf)
		lossG = lossG.Add(f)
		m.SetLoss("G_GAN_Feat", f)
	}
	if m.vgg != nil {
		v := networks.VGGLoss(m.vgg, m.fakeB, m.realB).MulScalar(m.Opt.Float("lambda_vgg"))
		lossG = lossG.Add(v)
		m.SetLoss("G_VGG", v)
	}
	lossG.Backward()
	m.OptG.Step()
	m.SetLoss("D_fake", dFake)
	m.SetLoss("D_real", dReal)
	m.SetLoss("G_GAN", gGAN)
	m.SetLoss("G_L1", gL1)
}
