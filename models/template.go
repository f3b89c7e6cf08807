package models

import (
	"cyclepix/networks"
	"cyclepix/nn"
	"cyclepix/options"
	"cyclepix/torch"
)

// The template model is the documented starting point for a new model: copy
// this file, rename the type and the registered name, and change SetInput,
// Forward and OptimizeParameters. Everything else (options, checkpoints,
// logging, HTML, the dashboard) comes from BaseModel and the training loop.
func init() {
	Register("template", Def{
		Summary: "a documented skeleton: L1 regression G(A) ≈ B; copy it to add a model",
		ModifyOptions: func(s *options.Set, isTrain bool) {
			s.SetDefault("dataset_mode", "aligned")
			if isTrain {
				s.Add("template", options.Def{Name: "lambda_regression", Default: 1.0, Help: "weight for the regression loss"})
			}
		},
		New:         newTemplate,
		Generators:  templateGenerators,
		Eval:        &EvalPair{Fake: "output", Real: "data_B", Paired: true},
		VisualSides: bySide(map[string]string{"data_A": "A", "data_B": "B", "output": "B"}),
	})
}

// templateGenerators: G maps data_A to data_B with define_G's own
// defaults (batch norm, no dropout), as the reference's template calls
// define_G without passing --norm or --no_dropout.
func templateGenerators(o *options.Set) ([]Generator, error) {
	d, err := runDirection(o)
	if err != nil {
		return nil, err
	}
	spec := genSpec(o, o.Int("input_nc"), o.Int("output_nc"), false)
	spec.Norm = string(networks.NormBatch)
	return []Generator{{Net: "G", Direction: d, Spec: spec}}, nil
}

// Template is TemplateModel: output = G(data_A), loss = L1(output, data_B).
type Template struct {
	*BaseModel
	G        nn.Module
	Optim    *torch.Adam
	inA, inB string
	dataA    *torch.Tensor
	dataB    *torch.Tensor
}

func newTemplate(o *options.Set, env Env) (Model, error) {
	m := &Template{BaseModel: newBase(o, env)}
	var err error
	if m.inA, m.inB, err = direction(o); err != nil {
		return nil, err
	}
	m.LossNames = []string{"G"}
	m.VisualNames = []string{"data_A", "data_B", "output"}
	gens, err := templateGenerators(o)
	if err != nil {
		return nil, err
	}
	// Initialised as define_G's defaults too: normal, gain 0.02.
	if m.G, err = gens[0].Spec.New("normal", 0.02); err != nil {
		return nil, err
	}
	m.AddNet("G", m.G)
	if m.IsTrain {
		m.Optim = adam(o, m.G)
		m.Optimizers = []*torch.Adam{m.Optim}
	}
	return m, nil
}

// SetInput takes data_A and data_B according to --direction.
func (m *Template) SetInput(in Input) error {
	var err error
	m.dataA, m.dataB, err = m.setPair(in, m.inA, m.inB, "data_A", "data_B")
	return err
}

// Forward computes output = G(data_A).
func (m *Template) Forward() { m.SetVisual("output", m.G.Forward(m.dataA)) }

// OptimizeParameters is one regression step.
func (m *Template) OptimizeParameters() {
	m.Forward()
	m.Optim.ZeroGrad()
	loss := torch.L1Loss(m.visuals["output"], m.dataB, torch.ReduceMean).MulScalar(m.Opt.Float("lambda_regression"))
	loss.Backward()
	m.Optim.Step()
	m.SetLoss("G", loss)
}
