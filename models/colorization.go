package models

import (
	"fmt"

	"cyclepix/data"
	"cyclepix/options"
	"cyclepix/torch"
)

func init() {
	Register("colorization", Def{
		Summary: "pix2pix from the L channel to the ab channels of Lab colour (grey → colour)",
		ModifyOptions: func(s *options.Set, isTrain bool) {
			pix2pixOptions(s, isTrain)
			s.SetDefault("dataset_mode", "colorization")
		},
		New: newColorization,
		// pix2pix's G, from the L channel to ab: translating an RGB photo
		// takes its L and returns L with the generated ab as RGB.
		Generators: func(o *options.Set) ([]Generator, error) {
			gens, err := pix2pixGenerators(o)
			for i := range gens {
				gens[i].Colour = ColourLab
			}
			return gens, err
		},
		Eval: &EvalPair{Fake: "fake_B_rgb", Real: "real_B_rgb", Paired: true},
	})
}

// Colorization is ColorizationModel: pix2pix on (L, ab), with RGB visuals.
type Colorization struct {
	*Pix2Pix
}

func newColorization(o *options.Set, env Env) (Model, error) {
	if o.Int("input_nc") != 1 || o.Int("output_nc") != 2 || o.String("direction") != "AtoB" {
		return nil, fmt.Errorf("--model colorization needs --input_nc 1 --output_nc 2 --direction AtoB (got %d, %d, %s); the colorization dataset mode sets them", o.Int("input_nc"), o.Int("output_nc"), o.String("direction"))
	}
	p, err := newPix2Pix(o, env)
	if err != nil {
		return nil, err
	}
	p.VisualNames = []string{"real_A", "real_B_rgb", "fake_B_rgb"}
	return &Colorization{p}, nil
}

// ComputeVisuals converts real and fake (L, ab) to RGB images in [-1, 1]
// (the reference's compute_visuals with skimage's lab2rgb).
func (m *Colorization) ComputeVisuals() {
	m.SetVisual("real_B_rgb", labToRGB(m.realA, m.realB))
	if m.fakeB != nil {
		m.SetVisual("fake_B_rgb", labToRGB(m.realA, m.fakeB))
	}
}

// labToRGB converts [N,1,H,W] L and [N,2,H,W] ab tensors to [N,3,H,W] RGB.
func labToRGB(l, ab *torch.Tensor) *torch.Tensor {
	s := l.Shape()
	n, h, w := s[0], s[2], s[3]
	ls, abs := l.Detach().Float32s(), ab.Detach().Float32s()
	out := make([]float32, 0, n*3*h*w)
	for i := int64(0); i < n; i++ {
		rgb, err := data.LabToRGB(ls[i*h*w:(i+1)*h*w], abs[i*2*h*w:(i+1)*2*h*w], int(h), int(w))
		if err != nil {
			torch.Fail(fmt.Errorf("colorization visuals: %w", err))
		}
		out = append(out, rgb...)
	}
	return torch.FromFloat32(out, n, 3, h, w)
}

// VisualComputer is implemented by models whose visuals need work beyond
// the forward pass (compute_visuals); the loops call it before saving.
type VisualComputer interface {
	ComputeVisuals()
}

// ComputeVisuals runs m's ComputeVisuals if it has one.
func ComputeVisuals(m Model) {
	if v, ok := m.(VisualComputer); ok {
		v.ComputeVisuals()
	}
}
