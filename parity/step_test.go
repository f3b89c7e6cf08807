package parity

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"cyclepix/models"
	"cyclepix/torch"
)

func init() { runners["train_step"] = runTrainStep }

// train_step: one optimize_parameters() of the model the case's command
// line names, from the stored weights and batch: the visuals, the losses,
// the gradients each optimizer used and the weights after the step.
func runTrainStep(t *testing.T, c *Case) {
	var losses map[string]float64
	c.Get(t, "losses", &losses)
	o := commandLineOptions(t, c)
	m := newModel(t, o)
	b := m.Base()
	loadNets(t, c, b)
	b.SetTraining(true)
	a, bb := batchNames(o)
	in := models.Input{Tensors: map[string]*torch.Tensor{
		a: readNPY(t, c.Need(t, "real_A.npy")), bb: readNPY(t, c.Need(t, "real_B.npy"))}}
	if err := m.SetInput(in); err != nil {
		t.Fatal(err)
	}
	m.OptimizeParameters()

	cmp := newCompare(t)
	expectVisuals(t, c, cmp, b.Visuals(), 1e-5, false)
	expectLosses(t, cmp, b.Losses(), losses)
	lr := o.Float("lr")
	for _, n := range b.NetNames {
		gf := "grads_net_" + n + ".pth"
		zt, wn := zeroTrueOf(t, c, gf)
		noise := append(zt, wn...)
		cmp.grads(n+" grad", b.Nets[n], c.Need(t, gf), noise, gradRule{})
		cmp.afterStep(n, b.Nets[n], c.Need(t, "after_net_"+n+".pth"), c.Path(gf), lr, noise)
	}
}

// expectVisuals compares a model's visuals (but the real_* inputs) with
// the case's <visual>.npy files, and fails on an image file of the case
// that the model does not compute. scaled: atol relative to max|ref|
// beyond 1 (closeRel).
func expectVisuals(t *testing.T, c *Case, cmp *compare, visuals []models.NamedTensor, atol float64, scaled bool) {
	t.Helper()
	have := map[string]bool{}
	for _, v := range visuals {
		have[v.Name] = true
		if strings.HasPrefix(v.Name, "real_") {
			continue
		}
		want := readNPY(t, c.Need(t, v.Name+".npy"))
		if scaled {
			cmp.closeRel("visual "+v.Name, v.Tensor, want, atol)
		} else {
			cmp.close("visual "+v.Name, v.Tensor, want, atol)
		}
	}
	var files map[string]json.RawMessage
	c.Get(t, "files", &files)
	for f := range files {
		name, ok := strings.CutSuffix(f, ".npy")
		if !ok || strings.HasPrefix(name, "real_") || strings.HasPrefix(name, "patch_ids_") {
			continue
		}
		if !have[name] {
			t.Errorf("the case holds %s; cyclepix's model has no such visual", f)
		}
	}
}

// expectLosses compares every loss both ways: each of the model's with the
// case's, and no loss of the case missing from the model.
func expectLosses(t *testing.T, cmp *compare, got []models.NamedValue, want map[string]float64) {
	t.Helper()
	have := map[string]bool{}
	for _, l := range got {
		have[l.Name] = true
		w, ok := want[l.Name]
		if !ok {
			t.Errorf("loss %s: the case has no such loss (has %v)", l.Name, sortedKeys(want))
			continue
		}
		cmp.scalar("loss "+l.Name, l.Value, w, 1e-5)
	}
	var missing []string
	for k := range want {
		if !have[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("losses %v of the case are not computed by cyclepix's model", missing)
	}
}
