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
	expectVisuals(t, c, cmp, b, 1e-5, false)
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

// expectVisuals compares the case's images (its .npy files but the real_*
// inputs and CUT's patch ids: the model's tensors after the iteration,
// fake_B, rec_A, …) with the tensors of those names the model recorded,
// and fails on a visual of the model that was computed but is missing from
// the case. scaled: atol relative to max|ref| beyond 1 (closeRel).
func expectVisuals(t *testing.T, c *Case, cmp *compare, b *models.BaseModel, atol float64, scaled bool) {
	t.Helper()
	var files map[string]json.RawMessage
	c.Get(t, "files", &files)
	have := map[string]bool{}
	for _, f := range sortedKeys(files) {
		name, ok := strings.CutSuffix(f, ".npy")
		if !ok || strings.HasPrefix(name, "real_") || strings.HasPrefix(name, "patch_ids_") {
			continue
		}
		have[name] = true
		got := b.Visual(name)
		if got == nil {
			t.Errorf("the case holds %s; cyclepix's model computed no %s", f, name)
			continue
		}
		want := readNPY(t, c.Need(t, f))
		if scaled {
			cmp.closeRel("visual "+name, got, want, atol)
		} else {
			cmp.close("visual "+name, got, want, atol)
		}
	}
	for _, v := range b.Visuals() {
		if !strings.HasPrefix(v.Name, "real_") && !have[v.Name] {
			t.Errorf("cyclepix's model computed the visual %s, which the case does not hold", v.Name)
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
