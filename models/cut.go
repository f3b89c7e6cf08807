package models

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"cyclepix/networks"
	"cyclepix/nn"
	"cyclepix/options"
	"cyclepix/torch"
)

// CUT and FastCUT (Park, Efros, Zhang, Zhu, ECCV 2020), as the authors'
// contrastive-unpaired-translation defines them in cut_model.py: one
// generator, one discriminator and PatchNCE between the generator's
// features of its input and of its output, instead of a second generator
// and a cycle.
func init() {
	Register("cut", Def{
		Summary:       "unpaired A→B translation with a patchwise contrastive loss (CUT/FastCUT, Park et al. 2020): one generator, one discriminator, no cycle",
		ModifyOptions: cutOptions,
		New:           newCUT,
		Generators:    cutGenerators,
		Eval:          &EvalPair{Fake: "fake_B", Real: "real_B"},
		VisualSides:   bySide(map[string]string{"real_A": "A", "fake_B": "B", "real_B": "B", "idt_B": "B"}),
	})
}

// cutOptions are CUT's modify_commandline_options together with what its
// base and train options set differently from the reference's: CUT's
// train.py starts from xavier initialisation, no dropout, 200 + 200
// epochs, no image pool and its own --normG/--normD, and --CUT_mode
// chooses the defaults of the rest.
func cutOptions(s *options.Set, isTrain bool) {
	s.Add("cut",
		options.Def{Name: "CUT_mode", Default: "CUT", Help: "CUT, or FastCUT: no identity NCE, --lambda_NCE 10, --flip_equivariance, 150 + 50 epochs [CUT | FastCUT]"},
		options.Def{Name: "lambda_GAN", Default: 1.0, Help: "weight for GAN loss: GAN(G(X))"},
		options.Def{Name: "lambda_NCE", Default: 1.0, Help: "weight for NCE loss: NCE(G(X), X) (FastCUT: 10)"},
		options.Def{Name: "nce_idt", Default: false, Help: "use NCE loss for identity mapping: NCE(G(Y), Y) (CUT: true)"},
		options.Def{Name: "nce_layers", Default: "0,4,8,12,16", Help: "compute NCE loss on which layers (indices into the generator's layer list)"},
		options.Def{Name: "nce_includes_all_negatives_from_minibatch", Default: false, Help: "(used for single image translation) include the negatives from the other samples of the minibatch when computing the contrastive loss"},
		options.Def{Name: "netF", Default: "mlp_sample", Help: "how to downsample the feature map [mlp_sample | sample]"},
		options.Def{Name: "netF_nc", Default: 256, Help: "channels of netF's MLP heads"},
		options.Def{Name: "nce_T", Default: 0.07, Help: "temperature for NCE loss"},
		options.Def{Name: "num_patches", Default: 256, Help: "number of patches per layer"},
		options.Def{Name: "flip_equivariance", Default: false, Help: "enforce flip-equivariance as additional regularization (FastCUT: true)"},
		options.Def{Name: "normG", Default: "instance", Help: "instance normalization or batch normalization for G [instance | batch | none]", Inherit: true},
		options.Def{Name: "normD", Default: "instance", Help: "instance normalization or batch normalization for D [instance | batch | none]"},
		options.Def{Name: "no_antialias", Default: false, Help: "use stride=2 convs instead of antialiased downsampling", Inherit: true},
		options.Def{Name: "no_antialias_up", Default: false, Help: "use [upconv(learned filter)] instead of [upconv(hard-coded [1,3,3,1] filter), conv]", Inherit: true},
	)
	s.SetDefault("init_type", "xavier")
	s.SetDefault("no_dropout", true)
	if isTrain {
		s.Add("cut", options.Def{Name: "beta2", Default: 0.999, Help: "second momentum term of adam"})
		s.SetDefault("pool_size", 0)
		s.SetDefault("n_epochs", 200)
		s.SetDefault("n_epochs_decay", 200)
	}
	switch strings.ToLower(s.Peek("CUT_mode")) {
	case "cut":
		s.SetDefault("nce_idt", true)
		s.SetDefault("lambda_NCE", 1.0)
	case "fastcut":
		s.SetDefault("nce_idt", false)
		s.SetDefault("lambda_NCE", 10.0)
		s.SetDefault("flip_equivariance", true)
		if isTrain {
			s.SetDefault("n_epochs", 150)
			s.SetDefault("n_epochs_decay", 50)
		}
	}
	// Any other --CUT_mode is newCUT's error.
}

// cutGenerators: G maps real_A to real_B, in --direction.
func cutGenerators(o *options.Set) ([]Generator, error) {
	d, err := runDirection(o)
	if err != nil {
		return nil, err
	}
	spec := networks.GenSpec{NetG: o.String("netG"), NGF: o.Int("ngf"), Norm: o.String("normG"),
		InputNC: o.Int("input_nc"), OutputNC: o.Int("output_nc"), Dropout: !o.Bool("no_dropout"),
		Family: networks.FamilyCUT, NoAntialias: o.Bool("no_antialias"), NoAntialiasUp: o.Bool("no_antialias_up")}
	return []Generator{{Net: "G", Direction: d, Spec: spec}}, nil
}

// CUTDraws replace the random choices of a CUT iteration, so that a test
// can replay those the reference drew with NumPy's generator. A nil field
// draws from the model's generator (Env.Rng), as training does.
type CUTDraws struct {
	// Flip says whether --flip_equivariance flips the batch.
	Flip func() bool
	// PatchIDs gives the positions netF samples per NCE layer: call 0 is
	// NCE(real_A, fake_B), call 1 NCE_Y(real_B, idt_B).
	PatchIDs func(call int) networks.PatchIDs
}

// CUT is CUTModel: G: A→B, F projects G's features for PatchNCE, D judges B.
type CUT struct {
	*BaseModel
	G                *networks.CUTGenerator
	F                *networks.PatchSampleF
	D                nn.Module
	OptG, OptD, OptF *torch.Adam // OptF: nil when netF has no parameters or lambda_NCE is 0
	// Draws replaces the random choices (tests); zero: draw from Env.Rng.
	Draws CUTDraws

	ganMode   networks.GANMode
	nce       networks.NCE
	lambdaGAN float64
	idt, flip bool
	inA, inB  string
	rng       *rand.Rand

	realA, realB, fakeB, idtB *torch.Tensor
	flipped                   bool
}

// cutFeatureProbe is the side of the image newCUT runs G on to learn the
// channel counts of its NCE features: any size the generator accepts
// gives the same counts.
const cutFeatureProbe = 32

func newCUT(o *options.Set, env Env) (Model, error) {
	switch strings.ToLower(o.String("CUT_mode")) {
	case "cut", "fastcut":
	default:
		return nil, fmt.Errorf("--CUT_mode %q: want CUT or FastCUT", o.String("CUT_mode"))
	}
	m := &CUT{BaseModel: newBase(o, env), rng: env.Rng}
	var err error
	if m.inA, m.inB, err = direction(o); err != nil {
		return nil, err
	}
	layers, err := networks.ParseNCELayers(o.String("nce_layers"))
	if err != nil {
		return nil, err
	}
	m.idt, m.flip = o.Bool("nce_idt"), o.Bool("flip_equivariance")
	m.LossNames = []string{"G_GAN", "D_real", "D_fake", "G", "NCE"}
	m.VisualNames = []string{"real_A", "fake_B", "real_B"}
	if m.IsTrain && m.idt {
		m.LossNames = append(m.LossNames, "NCE_Y")
		m.VisualNames = append(m.VisualNames, "idt_B")
	}
	gens, err := cutGenerators(o)
	if err != nil {
		return nil, err
	}
	g, err := newGenerator(o, gens[0])
	if err != nil {
		return nil, err
	}
	m.G = g.(*networks.CUTGenerator)
	if err := m.G.CheckLayers(layers); err != nil {
		return nil, err
	}
	if !m.IsTrain {
		m.AddNet("G", m.G)
		return m, nil
	}

	lambdaNCE := o.Float("lambda_NCE")
	m.lambdaGAN = o.Float("lambda_GAN")
	if lambdaNCE <= 0 && m.lambdaGAN <= 0 {
		return nil, fmt.Errorf("--lambda_GAN %g and --lambda_NCE %g: the generator has nothing to learn from; make one positive", m.lambdaGAN, lambdaNCE)
	}
	if m.idt && o.Int("input_nc") != o.Int("output_nc") {
		return nil, fmt.Errorf("--nce_idt needs --input_nc == --output_nc (got %d and %d): G(real_B) must take B images; set --nce_idt false", o.Int("input_nc"), o.Int("output_nc"))
	}
	if lambdaNCE > 0 && o.Int("input_nc") != o.Int("output_nc") {
		return nil, fmt.Errorf("--model cut trains with --input_nc == --output_nc only (got %d and %d): PatchNCE runs the generator's encoder on its own output, fake_B, to compare its features with real_A's; use --model cycle_gan for different channel counts, or --lambda_NCE 0 (GAN loss alone)", o.Int("input_nc"), o.Int("output_nc"))
	}
	if m.F, err = networks.NewNetF(o.String("netF"), int64(o.Int("netF_nc")), o.String("init_type"), o.Float("init_gain")); err != nil {
		return nil, err
	}
	normD, err := networks.ParseNorm(o.String("normD"))
	if err != nil {
		return nil, fmt.Errorf("--normD: %w", err)
	}
	if m.D, err = networks.NewCUTDiscriminator(networks.CUTDOptions{DOptions: networks.DOptions{InputNC: int64(o.Int("output_nc")),
		NDF: int64(o.Int("ndf")), NetD: o.String("netD"), NLayers: o.Int("n_layers_D"), Norm: normD,
		InitType: o.String("init_type"), InitGain: o.Float("init_gain")}, NoAntialias: o.Bool("no_antialias")}); err != nil {
		return nil, err
	}
	// CUT makes netF's heads at the first batch (data_dependent_initialize)
	// because their sizes are the features'. The channel counts depend on
	// the architecture only, so they are made here, after D as in CUT:
	// checkpoints, the optimizer, resume and data-parallel ranks then see
	// netF like any other network.
	if m.F.UseMLP {
		var channels []int64
		err := torch.TryErr(func() error {
			scope := torch.NewScope()
			defer scope.Close()
			torch.NoGrad(func() {
				channels = networks.ChannelsOf(m.G.Encode(torch.Zeros(1, int64(o.Int("input_nc")), cutFeatureProbe, cutFeatureProbe), layers))
			})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("netF: the generator's features: %w", err)
		}
		if err := m.F.CreateMLPs(channels, torch.CPU); err != nil {
			return nil, err
		}
	}
	m.AddNet("G", m.G)
	m.AddNet("F", m.F)
	m.AddNet("D", m.D)
	if m.ganMode, err = networks.ParseGANMode(o.String("gan_mode")); err != nil {
		return nil, err
	}
	m.nce = networks.NCE{Layers: layers, NumPatches: o.Int("num_patches"), Lambda: lambdaNCE,
		PatchNCEOptions: networks.PatchNCEOptions{T: o.Float("nce_T"),
			AllNegativesFromMinibatch: o.Bool("nce_includes_all_negatives_from_minibatch"), BatchSize: o.Int("batch_size")}}
	m.OptG = adam(o, m.G)
	m.OptD = adam(o, m.D)
	m.Optimizers = []*torch.Adam{m.OptG, m.OptD}
	if len(nn.Parameters(m.F)) > 0 && lambdaNCE > 0 {
		m.OptF = adam(o, m.F)
		m.Optimizers = append(m.Optimizers, m.OptF)
	}
	return m, nil
}

// SetInput takes real_A and real_B according to --direction.
func (m *CUT) SetInput(in Input) error {
	var err error
	m.realA, m.realB, err = m.setPair(in, m.inA, m.inB, "real_A", "real_B")
	return err
}

// Forward translates real_A, as at test time: no identity batch, no flip.
func (m *CUT) Forward() {
	m.fakeB = m.G.Forward(m.realA)
	m.SetVisual("fake_B", m.fakeB)
}

// forwardTrain is CUT's forward during training: real_B rides along for
// the identity NCE (--nce_idt), and with --flip_equivariance a coin flips
// the whole batch along its width.
func (m *CUT) forwardTrain() {
	real := m.realA
	if m.idt {
		real = torch.Cat(0, m.realA, m.realB)
	}
	m.flipped = false
	if m.flip {
		if m.Draws.Flip != nil {
			m.flipped = m.Draws.Flip()
		} else {
			m.flipped = m.rng.Float64() < 0.5
		}
		if m.flipped {
			real = real.Flip(3)
		}
	}
	fake := m.G.Forward(real)
	n := m.realA.Size(0)
	m.fakeB = fake.Narrow(0, 0, n)
	m.SetVisual("fake_B", m.fakeB)
	m.idtB = nil
	if m.idt {
		m.idtB = fake.Narrow(0, n, n)
		m.SetVisual("idt_B", m.idtB)
	}
}

// dLoss is compute_D_loss: the mean of the losses on fake_B (detached)
// and real_B.
func (m *CUT) dLoss() *torch.Tensor {
	fake := networks.GANLoss(m.ganMode, m.D.Forward(m.fakeB.Detach()), false).Mean()
	real := networks.GANLoss(m.ganMode, m.D.Forward(m.realB), true).Mean()
	m.SetLoss("D_fake", fake)
	m.SetLoss("D_real", real)
	return fake.Add(real).MulScalar(0.5)
}

// ncePatches is the injected patch ids of an NCE call, or nil to draw.
func (m *CUT) ncePatches(call int) networks.PatchIDs {
	if m.Draws.PatchIDs != nil {
		return m.Draws.PatchIDs(call)
	}
	return nil
}

// gLoss is compute_G_loss: the GAN loss times --lambda_GAN plus PatchNCE
// (with --nce_idt the mean of NCE(real_A, fake_B) and NCE(real_B, idt_B)).
func (m *CUT) gLoss() *torch.Tensor {
	gan := torch.Scalar(0)
	if m.lambdaGAN > 0 {
		gan = networks.GANLoss(m.ganMode, m.D.Forward(m.fakeB), true).Mean().MulScalar(m.lambdaGAN)
	}
	nce, nceY := torch.Scalar(0), torch.Scalar(0)
	both := nce
	// Negatives come from each image's own patches: the images are the
	// batch's, which at an epoch's end may be fewer than --batch_size
	// (CUT's reshape by opt.batch_size would mix images there).
	m.nce.BatchSize = int(m.realA.Size(0))
	if m.nce.Lambda > 0 {
		nce, _ = m.nce.Loss(m.G, m.F, m.realA, m.fakeB, m.flipped, m.ncePatches(0), m.rng)
		both = nce
		if m.idt {
			nceY, _ = m.nce.Loss(m.G, m.F, m.realB, m.idtB, m.flipped, m.ncePatches(1), m.rng)
			both = nce.Add(nceY).MulScalar(0.5)
		}
	}
	loss := gan.Add(both)
	m.SetLoss("G_GAN", gan)
	m.SetLoss("NCE", nce)
	if m.idt {
		m.SetLoss("NCE_Y", nceY)
	}
	m.SetLoss("G", loss)
	return loss
}

// OptimizeParameters is one iteration as CUT orders it: D first, then G
// and F with D frozen.
func (m *CUT) OptimizeParameters() {
	m.forwardTrain()
	setRequiresGrad(true, m.D)
	m.OptD.ZeroGrad()
	m.dLoss().Backward()
	m.OptD.Step()

	setRequiresGrad(false, m.D)
	m.OptG.ZeroGrad()
	if m.OptF != nil {
		m.OptF.ZeroGrad()
	}
	m.gLoss().Backward()
	m.OptG.Step()
	if m.OptF != nil {
		m.OptF.Step()
	}
}
