package models

import (
	"fmt"

	"cyclepix/networks"
	"cyclepix/nn"
	"cyclepix/options"
	"cyclepix/torch"
)

func init() {
	Register("cycle_gan", Def{
		Summary: "unpaired A↔B translation (Zhu et al. 2017): two generators, two discriminators, cycle and identity losses",
		ModifyOptions: func(s *options.Set, isTrain bool) {
			s.SetDefault("no_dropout", true)
			if isTrain {
				s.Add("cycle_gan",
					options.Def{Name: "lambda_A", Default: 10.0, Help: "weight for cycle loss (A -> B -> A)"},
					options.Def{Name: "lambda_B", Default: 10.0, Help: "weight for cycle loss (B -> A -> B)"},
					options.Def{Name: "lambda_identity", Default: 0.5, Help: "use identity mapping. Setting lambda_identity other than 0 has an effect of scaling the weight of the identity mapping loss. For example, if the weight of the identity loss should be 10 times smaller than the weight of the reconstruction loss, please set lambda_identity = 0.1"})
			}
		},
		New:        newCycleGAN,
		Generators: cycleGANGenerators,
		Eval:       &EvalPair{Fake: "fake_B", Real: "real_B"},
		// idt_A = G_A(real_B) is a B image, idt_B = G_B(real_A) an A one.
		VisualSides: bySide(map[string]string{"real_A": "A", "fake_B": "B", "rec_A": "A", "idt_B": "A",
			"real_B": "B", "fake_A": "A", "rec_B": "B", "idt_A": "B"}),
	})
}

// cycleGANGenerators: G_A maps real_A to B, G_B back; with --direction
// BtoA real_A is the dataset's B side, so G_A translates B to A.
func cycleGANGenerators(o *options.Set) ([]Generator, error) {
	d, err := runDirection(o)
	if err != nil {
		return nil, err
	}
	in, out, dropout := o.Int("input_nc"), o.Int("output_nc"), !o.Bool("no_dropout")
	return []Generator{
		{Net: "G_A", Direction: d, Spec: genSpec(o, in, out, dropout)},
		{Net: "G_B", Direction: opposite(d), Spec: genSpec(o, out, in, dropout)},
	}, nil
}

// CycleGAN is CycleGANModel: G_A: A→B, G_B: B→A, D_A judges B, D_B judges A.
type CycleGAN struct {
	*BaseModel
	GA, GB, DA, DB nn.Module
	OptG, OptD     *torch.Adam
	PoolA, PoolB   *networks.ImagePool // fake_A and fake_B histories
	ganMode        networks.GANMode
	inA, inB       string

	realA, realB, fakeA, fakeB, recA, recB *torch.Tensor
}

func newCycleGAN(o *options.Set, env Env) (Model, error) {
	m := &CycleGAN{BaseModel: newBase(o, env)}
	var err error
	if m.inA, m.inB, err = direction(o); err != nil {
		return nil, err
	}
	in, out := int64(o.Int("input_nc")), int64(o.Int("output_nc"))
	m.LossNames = []string{"D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"}
	va, vb := []string{"real_A", "fake_B", "rec_A"}, []string{"real_B", "fake_A", "rec_B"}
	if m.IsTrain && o.Float("lambda_identity") > 0 {
		if in != out {
			return nil, fmt.Errorf("--lambda_identity %g needs --input_nc == --output_nc (got %d and %d); set --lambda_identity 0", o.Float("lambda_identity"), in, out)
		}
		va, vb = append(va, "idt_B"), append(vb, "idt_A")
	}
	m.VisualNames = append(va, vb...)
	gens, err := cycleGANGenerators(o)
	if err != nil {
		return nil, err
	}
	if m.GA, err = newGenerator(o, gens[0]); err != nil {
		return nil, err
	}
	if m.GB, err = newGenerator(o, gens[1]); err != nil {
		return nil, err
	}
	m.AddNet("G_A", m.GA)
	m.AddNet("G_B", m.GB)
	if m.IsTrain {
		if m.DA, err = Discriminator(o, out); err != nil {
			return nil, err
		}
		if m.DB, err = Discriminator(o, in); err != nil {
			return nil, err
		}
		m.AddNet("D_A", m.DA)
		m.AddNet("D_B", m.DB)
		if m.ganMode, err = networks.ParseGANMode(o.String("gan_mode")); err != nil {
			return nil, err
		}
		m.PoolA = networks.NewImagePool(o.Int("pool_size"), env.Rng)
		m.PoolB = networks.NewImagePool(o.Int("pool_size"), env.Rng)
		m.Pools["fake_A"], m.Pools["fake_B"] = m.PoolA, m.PoolB
		m.OptG = adam(o, m.GA, m.GB)
		m.OptD = adam(o, m.DA, m.DB)
		m.Optimizers = []*torch.Adam{m.OptG, m.OptD}
	}
	return m, nil
}

// SetInput takes real_A and real_B according to --direction.
func (m *CycleGAN) SetInput(in Input) error {
	var err error
	m.realA, m.realB, err = m.setPair(in, m.inA, m.inB, "real_A", "real_B")
	return err
}

// Forward translates both ways and back.
func (m *CycleGAN) Forward() {
	m.fakeB = m.GA.Forward(m.realA)
	m.recA = m.GB.Forward(m.fakeB)
	m.fakeA = m.GB.Forward(m.realB)
	m.recB = m.GA.Forward(m.fakeA)
	m.SetVisual("fake_B", m.fakeB)
	m.SetVisual("rec_A", m.recA)
	m.SetVisual("fake_A", m.fakeA)
	m.SetVisual("rec_B", m.recB)
}

// backwardD is backward_D_basic: half the sum of the real and fake losses,
// plus the gradient penalty with --gan_mode wgangp (which the reference
// defines but never applies).
func (m *CycleGAN) backwardD(d nn.Module, real, fake *torch.Tensor) *torch.Tensor {
	lossReal := networks.GANLoss(m.ganMode, d.Forward(real), true)
	fake = fake.Detach()
	lossFake := networks.GANLoss(m.ganMode, d.Forward(fake), false)
	loss := lossReal.Add(lossFake).MulScalar(0.5)
	if m.ganMode == networks.GANWGANGP && m.Opt.Float("lambda_gp") > 0 {
		loss = loss.Add(networks.GradientPenalty(d, real, fake, networks.PenaltyMixed, 1, m.Opt.Float("lambda_gp"), nil))
	}
	loss.Backward()
	return loss
}

func (m *CycleGAN) backwardG() {
	o := m.Opt
	lambdaIdt, lambdaA, lambdaB := o.Float("lambda_identity"), o.Float("lambda_A"), o.Float("lambda_B")
	var idtA, idtB *torch.Tensor
	if lambdaIdt > 0 {
		idt := m.GA.Forward(m.realB)
		idtA = torch.L1Loss(idt, m.realB, torch.ReduceMean).MulScalar(lambdaB).MulScalar(lambdaIdt)
		m.SetVisual("idt_A", idt)
		idt = m.GB.Forward(m.realA)
		idtB = torch.L1Loss(idt, m.realA, torch.ReduceMean).MulScalar(lambdaA).MulScalar(lambdaIdt)
		m.SetVisual("idt_B", idt)
	} else {
		idtA, idtB = torch.Scalar(0), torch.Scalar(0)
	}
	gA := networks.GANLoss(m.ganMode, m.DA.Forward(m.fakeB), true)
	gB := networks.GANLoss(m.ganMode, m.DB.Forward(m.fakeA), true)
	cycA := torch.L1Loss(m.recA, m.realA, torch.ReduceMean).MulScalar(lambdaA)
	cycB := torch.L1Loss(m.recB, m.realB, torch.ReduceMean).MulScalar(lambdaB)
	gA.Add(gB).Add(cycA).Add(cycB).Add(idtA).Add(idtB).Backward()
	m.SetLoss("G_A", gA)
	m.SetLoss("G_B", gB)
	m.SetLoss("cycle_A", cycA)
	m.SetLoss("cycle_B", cycB)
	m.SetLoss("idt_A", idtA)
	m.SetLoss("idt_B", idtB)
}

// OptimizeParameters is one iteration: G step with D frozen, then D step.
func (m *CycleGAN) OptimizeParameters() {
	m.Forward()
	setRequiresGrad(false, m.DA, m.DB)
	m.OptG.ZeroGrad()
	m.backwardG()
	m.OptG.Step()
	setRequiresGrad(true, m.DA, m.DB)
	m.OptD.ZeroGrad()
	m.SetLoss("D_A", m.backwardD(m.DA, m.realB, m.PoolB.Query(m.fakeB)))
	m.SetLoss("D_B", m.backwardD(m.DB, m.realA, m.PoolA.Query(m.fakeA)))
	m.OptD.Step()
}
