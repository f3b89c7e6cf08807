package nn

import (
	"testing"

	"cyclepix/torch"
)

func TestCountFLOPs(t *testing.T) {
	defer torch.NewScope().Close()
	conv := NewConv2d(2, 3, 3, 1, 1, true)            // 75 outputs × 18 MACs
	up := NewConvTranspose2d(3, 2, 4, 2, 1, 0, false) // 75 inputs × 32 MACs
	cases := []struct {
		name          string
		noGrad        bool
		inputGrad     bool
		weightsFrozen bool
		want          int64
	}{
		{"inference", true, false, false, 2 * (1350 + 2400)},
		{"training, image input", false, false, false, 2*(1350+2400) + 2*(1350+2400) + 2*2400},
		{"frozen weights, input needs grad", false, true, true, 2*(1350+2400) + 2*(1350+2400)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer torch.NewScope().Close()
			for _, w := range []*torch.Tensor{conv.Weight, conv.Bias, up.Weight} {
				w.SetRequiresGrad(!c.weightsFrozen)
			}
			x := torch.Randn(1, 2, 5, 5).SetRequiresGrad(c.inputGrad)
			net := Seq(conv, up)
			run := func() { net.Forward(x) }
			var got int64
			if c.noGrad {
				torch.NoGrad(func() { got = CountFLOPs(run) })
			} else {
				got = CountFLOPs(run)
			}
			if got != c.want {
				t.Errorf("got %d FLOPs, want %d", got, c.want)
			}
		})
	}
}

// TestSequentialReleasesIntermediates: only the output of a chain stays
// alive in the caller's scope.
func TestSequentialReleasesIntermediates(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	x := torch.Randn(1, 2, 4, 4)
	net := Seq(NewConv2d(2, 2, 1, 1, 0, false), &Func{Fn: func(t *torch.Tensor) *torch.Tensor { return t.Relu() }}, NewConv2d(2, 2, 1, 1, 0, false))
	before := s.Len()
	torch.NoGrad(func() { net.Forward(x) })
	if got := s.Len() - before; got != 1 {
		t.Errorf("scope gained %d live tensors, want 1 (the output)", got)
	}
}
