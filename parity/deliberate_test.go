package parity

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"cyclepix/models"
	"cyclepix/nn"
	"cyclepix/npy"
)

// deliberateDifference is a documented place where cyclepix computes
// something other than the reference on purpose, and where the reference's
// values can be NaN or Inf while cyclepix's are finite. It is the only
// way a non-finite value passes a comparison (compare.values): the
// reference must be non-finite exactly where the same replay with the
// difference undone is, and cyclepix finite everywhere.
type deliberateDifference struct {
	// Kind is the case kind it can occur in.
	Kind string
	// What and why, as the README's Parity section says it.
	What string
	// Undo makes a freshly built model compute as the reference does.
	Undo func(models.Model)
}

// deliberate is the table of deliberate differences.
var deliberate = []deliberateDifference{{
	Kind: "cut_train_step",
	What: "PatchNCE's normalisation of an all-zero feature row (CUT's sqrt has an infinite slope at 0, so its gradient there is 0·∞ = NaN, which reaches netF's last layer and everything after it; cyclepix clamps the sum of squares at 1e-30 and gives the row gradient 0)",
	Undo: func(m models.Model) { m.(*models.CUT).F.UnclampedNorm = true },
}}

// predictNonFinite prepares cmp for a case whose files hold NaN or Inf:
// when a deliberate difference applies to the case's kind, replay (the
// runner's iteration, with the difference undone) gives the positions
// where the reference must be non-finite. Without non-finite values, or
// without a deliberate difference for the kind, it does nothing: the
// comparisons then fail on every NaN or Inf.
func predictNonFinite(t *testing.T, c *Case, cmp *compare, replay func(undo func(models.Model)) *models.BaseModel) {
	t.Helper()
	files := nonFiniteFiles(t, c)
	if len(files) == 0 {
		return
	}
	for _, d := range deliberate {
		if d.Kind != c.Kind {
			continue
		}
		t.Logf("the reference's %s hold NaN or Inf; checking them against %s", strings.Join(files, ", "), d.What)
		cmp.predicted, cmp.why = nonFiniteMasks(replay(d.Undo)), d.What
		return
	}
}

// nonFiniteFiles lists the case's .npy and .pth files that hold a NaN or
// an Inf.
func nonFiniteFiles(t *testing.T, c *Case) []string {
	t.Helper()
	entries, err := os.ReadDir(c.Dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		name, path := e.Name(), filepath.Join(c.Dir, e.Name())
		var values [][]float32
		switch {
		case strings.HasSuffix(name, ".npy"):
			a, err := npy.Read(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(a.DType, "f") {
				continue
			}
			v, err := a.Float32()
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			values = append(values, v)
		case strings.HasSuffix(name, ".pth"):
			sd, _ := readPTH(t, path)
			for _, v := range sd {
				values = append(values, v.Float32s())
			}
		}
		for _, v := range values {
			if finiteCount(v) != len(v) {
				out = append(out, name)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

func finiteCount(v []float32) int {
	n := 0
	for _, x := range v {
		if !bad(x) {
			n++
		}
	}
	return n
}

// nonFiniteMasks records where a model's visuals, parameter gradients and
// parameters are NaN or Inf, under the labels the comparisons use; tensors
// without any are left out.
func nonFiniteMasks(b *models.BaseModel) map[string][]bool {
	out := map[string][]bool{}
	add := func(label string, v []float32) {
		if finiteCount(v) == len(v) {
			return
		}
		mask := make([]bool, len(v))
		for i, x := range v {
			mask[i] = bad(x)
		}
		out[label] = mask
	}
	for _, v := range b.Visuals() {
		add("visual "+v.Name, v.Tensor.Float32s())
	}
	for _, n := range b.NetNames {
		for _, e := range nn.StateDict(b.Nets[n]) {
			if !e.Param {
				continue
			}
			if g := e.Tensor.Grad(); g != nil {
				add(n+" grad "+e.Name, g.Float32s())
			}
			add(n+" after "+e.Name, e.Tensor.Float32s())
		}
	}
	return out
}
