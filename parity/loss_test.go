package parity

import (
	"encoding/json"
	"os"
	"testing"

	"cyclepix/networks"
	"cyclepix/nn"
	"cyclepix/torch"
)

func init() {
	runners["gradient_penalty"] = runGradientPenalty
	runners["lr_schedules"] = runLRSchedules
}

// gradient_penalty: value, D(x), input gradients and second-order parameter
// gradients of cal_gradient_penalty('mixed', 1.0, 10.0).
func runGradientPenalty(t *testing.T, c *Case) {
	var spec netSpec
	var want float64
	var call struct {
		Type     string  `json:"type"`
		Constant float64 `json:"constant"`
		Lambda   float64 `json:"lambda_gp"`
	}
	c.Get(t, "network", &spec)
	c.Get(t, "penalty", &want)
	c.Get(t, "penalty_call", &call)
	d := spec.build(t, c.Path("latest_net_D.pth"))
	real, fake := readNPY(t, c.Path("real.npy")), readNPY(t, c.Path("fake.npy"))
	alpha := readNPY(t, c.Path("alpha.npy"))
	gp := networks.GradientPenalty(d, real, fake, networks.PenaltyType(call.Type), call.Constant, call.Lambda, alpha)
	expectScalar(t, "penalty", gp.Item(), want, 1e-5)
	gp.Backward()
	got := map[string]*torch.Tensor{}
	for _, e := range nn.StateDict(d) {
		if e.Param {
			got[e.Name] = e.Tensor.Grad()
		}
	}
	zt, wn := zeroTrueOf(t, c, "grads.pth")
	expectGrads(t, "grad", got, c.Path("grads.pth"), zt, wn)
}

// lr_schedules: the learning rate after each scheduler step, per policy.
func runLRSchedules(t *testing.T, c *Case) {
	raw, err := os.ReadFile(c.Path("lr_schedules.json"))
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]struct {
		Opt struct {
			LR           float64 `json:"lr"`
			EpochCount   int     `json:"epoch_count"`
			NEpochs      int     `json:"n_epochs"`
			NEpochsDecay int     `json:"n_epochs_decay"`
			LRDecayIters int     `json:"lr_decay_iters"`
			Policy       string  `json:"lr_policy"`
		} `json:"opt"`
		Initial float64   `json:"initial_lr"`
		After   []float64 `json:"lr_after_step"`
		Metrics []float64 `json:"metrics"`
	}
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	for name, p := range all {
		t.Run(name, func(t *testing.T) {
			s, err := networks.NewScheduler(networks.SchedulerOptions{Policy: p.Opt.Policy, LR: p.Opt.LR,
				EpochCount: p.Opt.EpochCount, NEpochs: p.Opt.NEpochs, NEpochsDecay: p.Opt.NEpochsDecay, LRDecayIters: p.Opt.LRDecayIters})
			if err != nil {
				t.Fatal(err)
			}
			closeLR(t, "initial", s.LR, p.Initial)
			for i, want := range p.After {
				m := 0.0
				if i < len(p.Metrics) {
					m = p.Metrics[i]
				}
				closeLR(t, "after step "+string(rune('1'+i)), s.Step(m), want)
			}
		})
	}
}

// closeLR allows 1e-15 relative (the README: recursive cosine vs closed
// form agree within 5e-16·lr).
func closeLR(t *testing.T, what string, got, want float64) {
	t.Helper()
	d := got - want
	if d < 0 {
		d = -d
	}
	if d > 1e-15*0.0002+1e-20 {
		t.Errorf("%s: lr %.17g, want %.17g", what, got, want)
	}
}
