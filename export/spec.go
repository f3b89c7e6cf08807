// Package export writes trained generators in forms other programs load:
// ONNX models (for onnxruntime, TensorRT, browsers, …), plain PyTorch state
// dicts as the reference saves them, and cyclepix bundles, single files
// that carry the weights together with every option needed to rebuild and
// run the generator (see LoadBundle).
package export

import (
	"fmt"

	"cyclepix/networks"
	"cyclepix/nn"
	"cyclepix/options"
)

// Spec is what it takes to rebuild a generator: define_G's options.
type Spec struct {
	NetG     string `json:"netG"`
	NGF      int    `json:"ngf"`
	Norm     string `json:"norm"`
	InputNC  int    `json:"input_nc"`
	OutputNC int    `json:"output_nc"`
	// Dropout is the reference's use_dropout (not --no_dropout). It adds no
	// weights; exported models run in eval mode, where it does nothing.
	Dropout bool `json:"dropout"`
}

// SpecFromOptions reads a generator's spec from a run's options. net is
// the network's model name (G, G_A, G_B, …): CycleGAN's G_B maps B to A,
// so its channel counts are swapped.
func SpecFromOptions(o *options.Set, net string) Spec {
	s := Spec{NetG: o.String("netG"), NGF: o.Int("ngf"), Norm: o.String("norm"),
		InputNC: o.Int("input_nc"), OutputNC: o.Int("output_nc"), Dropout: !o.Bool("no_dropout")}
	if net == "G_B" {
		s.InputNC, s.OutputNC = s.OutputNC, s.InputNC
	}
	return s
}

// Build makes the generator (weights initialised, to be overwritten by a
// checkpoint) in eval mode.
func (s Spec) Build() (nn.Module, error) {
	norm, err := networks.ParseNorm(s.Norm)
	if err != nil {
		return nil, err
	}
	if s.InputNC < 1 || s.OutputNC < 1 || s.NGF < 1 {
		return nil, fmt.Errorf("generator with input_nc %d, output_nc %d, ngf %d: each must be at least 1", s.InputNC, s.OutputNC, s.NGF)
	}
	g, err := networks.NewGenerator(networks.GOptions{InputNC: int64(s.InputNC), OutputNC: int64(s.OutputNC),
		NGF: int64(s.NGF), NetG: s.NetG, Norm: norm, Dropout: s.Dropout, InitType: "normal", InitGain: 0.02})
	if err != nil {
		return nil, err
	}
	nn.SetTraining(g, false)
	return g, nil
}

// SizeMultiple is what image height and width must be multiples of for
// the output to have the input's size: 4 for ResNet generators (two
// stride-2 levels), 2^levels for U-Nets (whose skip concatenations fail
// otherwise).
func (s Spec) SizeMultiple() int { return networks.SizeMultiple(s.NetG) }
