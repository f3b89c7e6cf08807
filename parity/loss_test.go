package parity

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"testing"

	"cyclepix/models"
	"cyclepix/networks"
	"cyclepix/torch"
)

func init() {
	runners["gradient_penalty"] = runGradientPenalty
	runners["lr_schedules"] = runLRSchedules
}

// gradient_penalty: D(interpolates), the penalty's value and the
// second-order gradients of D's parameters, for the case's
// cal_gradient_penalty call.
func runGradientPenalty(t *testing.T, c *Case) {
	var want float64
	var call struct {
		Type     *string  `json:"type"`
		Constant *float64 `json:"constant"`
		Lambda   *float64 `json:"lambda_gp"`
	}
	c.Get(t, "penalty", &want)
	c.Get(t, "penalty_call", &call)
	if call.Type == nil || call.Constant == nil || call.Lambda == nil {
		t.Fatalf("case.json penalty_call needs type, constant and lambda_gp")
	}
	n := buildNetwork(t, c)
	cmp := newCompare(t)
	real, fake := readNPY(t, c.Need(t, "real.npy")), readNPY(t, c.Need(t, "fake.npy"))
	var alpha *torch.Tensor
	if networks.PenaltyType(*call.Type) == networks.PenaltyMixed {
		alpha = readNPY(t, c.Need(t, "alpha.npy"))
	}
	if c.Has("files") && fileListed(t, c, "d_interpolates.npy") {
		torch.NoGrad(func() {
			cmp.close("D(interpolates)", n.Net.Forward(readNPY(t, c.Need(t, "interpolates.npy"))), readNPY(t, c.Need(t, "d_interpolates.npy")), 1e-5)
		})
	}
	gp := networks.GradientPenalty(n.Net, real, fake, networks.PenaltyType(*call.Type), *call.Constant, *call.Lambda, alpha)
	cmp.scalar("penalty", gp.Item(), want, 1e-5)
	gp.Backward()
	zt, wn := zeroTrueOf(t, c, "grads.pth")
	cmp.grads("grad", n.Net, c.Need(t, "grads.pth"), append(zt, wn...), gradRule{})
}

// fileListed reports whether case.json's files lists name.
func fileListed(t *testing.T, c *Case, name string) bool {
	var files map[string]json.RawMessage
	c.Get(t, "files", &files)
	_, ok := files[name]
	return ok
}

// lr_schedules: the learning rate after each scheduler step, per policy,
// from a scheduler built as the models build theirs (models.SchedulerOptions
// of the policy's options).
func runLRSchedules(t *testing.T, c *Case) {
	raw, err := os.ReadFile(c.Need(t, "lr_schedules.json"))
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]struct {
		Opt     map[string]json.RawMessage `json:"opt"`
		Initial *float64                   `json:"initial_lr"`
		After   []float64                  `json:"lr_after_step"`
		Metrics []float64                  `json:"metrics"`
	}
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatalf("lr_schedules.json: %v", err)
	}
	if len(all) == 0 {
		t.Fatal("lr_schedules.json has no schedules")
	}
	for _, name := range sortedKeys(all) {
		p := all[name]
		t.Run(name, func(t *testing.T) {
			if p.Initial == nil || len(p.After) == 0 {
				t.Fatalf("lr_schedules.json %s needs initial_lr and lr_after_step", name)
			}
			if _, ok := p.Opt["lr_policy"]; !ok {
				t.Fatalf("lr_schedules.json %s.opt has no lr_policy", name)
			}
			args := optionArgs(p.Opt)
			o, err := models.BuildOptions(true, args, io.Discard)
			if err != nil {
				t.Fatalf("lr_schedules.json %s.opt as options %v: %v", name, args, err)
			}
			s, err := networks.NewScheduler(models.SchedulerOptions(o))
			if err != nil {
				t.Fatal(err)
			}
			tol := 1e-15*math.Abs(o.Float("lr")) + 1e-20
			closeLR(t, "initial", s.LR, *p.Initial, tol)
			for i, want := range p.After {
				m := 0.0
				if i < len(p.Metrics) {
					m = p.Metrics[i]
				}
				closeLR(t, fmt.Sprintf("after step %d", i+1), s.Step(m), want, tol)
			}
		})
	}
}

// closeLR allows 1e-15 of the base rate (the README: recursive cosine vs
// closed form agree within 5e-16·lr); NaN or Inf never passes.
func closeLR(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.IsNaN(got) || math.IsInf(got, 0) || math.IsNaN(want) || math.IsInf(want, 0) || math.Abs(got-want) > tol {
		t.Errorf("%s: lr %.17g, the reference's %.17g", what, got, want)
	}
}
