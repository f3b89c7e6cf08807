package models

import (
	"fmt"

	"cyclepix/nn"
	"cyclepix/options"
)

func init() {
	Register("test", Def{
		Summary: "one-direction inference with a single generator (G<model_suffix>), e.g. G_A of a CycleGAN",
		ModifyOptions: func(s *options.Set, isTrain bool) {
			s.SetDefault("dataset_mode", "single")
			s.Add("test", options.Def{Name: "model_suffix", Default: "", Help: "In checkpoints_dir, [epoch]_net_G[model_suffix].pth will be loaded as the generator."})
		},
		New:        newTestModel,
		Generators: testGenerators,
		// real is its generator's input domain, fake its output's: G_B
		// (--model_suffix _B) takes B images.
		VisualSides: func(o *options.Set) (map[string]string, error) {
			gens, err := testGenerators(o)
			if err != nil {
				return nil, err
			}
			in, out := "A", "B"
			if gens[0].Direction == "BtoA" {
				in, out = out, in
			}
			return map[string]string{"real": in, "fake": out}, nil
		},
		InferenceOnly: true,
	})
}

// testGenerators: G<model_suffix>, built from the base options as they
// are (the reference's TestModel takes the channel flags without
// swapping them). G_B of a CycleGAN (suffix _B) translates B to A.
func testGenerators(o *options.Set) ([]Generator, error) {
	d, err := runDirection(o)
	if err != nil {
		return nil, err
	}
	suffix := o.String("model_suffix")
	if suffix == "_B" {
		d = opposite(d)
	}
	return []Generator{{Net: "G" + suffix, Direction: d, Spec: genSpec(o, o.Int("input_nc"), o.Int("output_nc"), !o.Bool("no_dropout"))}}, nil
}

// TestModel is TestModel: real → G → fake, inference only.
type TestModel struct {
	*BaseModel
	G nn.Module
}

func newTestModel(o *options.Set, env Env) (Model, error) {
	if o.IsTrain {
		return nil, fmt.Errorf("--model test is for inference only: use it with 'cyclepix test'")
	}
	m := &TestModel{BaseModel: newBase(o, env)}
	m.VisualNames = []string{"real", "fake"}
	gens, err := testGenerators(o)
	if err != nil {
		return nil, err
	}
	if m.G, err = newGenerator(o, gens[0]); err != nil {
		return nil, err
	}
	m.AddNet(gens[0].Net, m.G)
	return m, nil
}

// SetInput takes the "A" images.
func (m *TestModel) SetInput(in Input) error {
	real, err := need(in, "A")
	if err != nil {
		return err
	}
	m.imagePaths = in.Paths["A_paths"]
	m.SetVisual("real", real)
	return nil
}

// Forward computes fake = G(real).
func (m *TestModel) Forward() { m.SetVisual("fake", m.G.Forward(m.visuals["real"])) }

// OptimizeParameters does nothing: the test model does not train.
func (m *TestModel) OptimizeParameters() {}
