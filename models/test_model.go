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
		New: newTestModel,
	})
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
	g, err := generator(o, int64(o.Int("input_nc")), int64(o.Int("output_nc")), !o.Bool("no_dropout"))
	if err != nil {
		return nil, err
	}
	m.G = g
	m.AddNet("G"+o.String("model_suffix"), g)
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
