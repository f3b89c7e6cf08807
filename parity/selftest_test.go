package parity

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"cyclepix/internal/testsupport"
	"cyclepix/nn"
	"cyclepix/npy"
	"cyclepix/pth"
	"cyclepix/torch"
)

// TestHarnessCatches runs the harness (TestParity, in a child process of
// this test binary) on a fixture folder made here from the public cases:
// copies under new names, which must pass as their originals do; copies
// with their description changed or a NaN injected, which must fail; a
// kind without a runner, which must fail; and a kind not built yet, which
// is skipped. Cases are picked by kind and content, never by name.
func TestHarnessCatches(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the parity cases again in a child process")
	}
	src := testsupport.ParityDir()
	ix := readIndex(t, src)
	dst := t.TempDir()
	out := index{}
	type expect struct {
		status string // PASS, FAIL or SKIP
		says   string // a regexp the case's output must match
	}
	want := map[string]expect{}
	add := func(name, kind string, e expect) {
		out[name] = struct {
			Kind string `json:"kind"`
		}{kind}
		want[name] = e
	}

	// Every public case under another name: the harness runs cases by
	// kind, whatever they are called.
	for name, e := range ix {
		status := "PASS"
		if _, ok := notBuiltYet[e.Kind]; ok {
			status = "SKIP"
		}
		copyCase(t, src, name, dst, "renamed_"+name)
		add("renamed_"+name, e.Kind, expect{status, ""})
	}

	// A cut_forward generator declared with 6 residual blocks: the
	// network built from the case's description no longer fits its
	// weights.
	if name := findCase(t, src, ix, "cut_forward", func(raw map[string]any) bool { return raw["network"] == "G" }); name != "" {
		c := copyCase(t, src, name, dst, "six_blocks_"+name)
		c["command_line"] = append(c["command_line"].([]any), "--netG", "resnet_6blocks")
		writeCaseJSON(t, dst, "six_blocks_"+name, c)
		add("six_blocks_"+name, "cut_forward", expect{"FAIL", `differs from CUT's`})
	}
	// A forward generator declared with batch norm instead of its own.
	if name := findCase(t, src, ix, "forward", func(raw map[string]any) bool {
		n, _ := raw["network"].(map[string]any)
		return n["role"] == "G" && n["norm"] == "instance"
	}); name != "" {
		c := copyCase(t, src, name, dst, "batch_norm_"+name)
		c["network"].(map[string]any)["norm"] = "batch"
		writeCaseJSON(t, dst, "batch_norm_"+name, c)
		add("batch_norm_"+name, "forward", expect{"FAIL", `checkpoint has no tensor`})
		// And one without its norm: the options' default must not stand in.
		c = copyCase(t, src, name, dst, "no_norm_"+name)
		delete(c["network"].(map[string]any), "norm")
		writeCaseJSON(t, dst, "no_norm_"+name, c)
		add("no_norm_"+name, "forward", expect{"FAIL", `network has no "norm"`})
		// A NaN in the reference's output.
		copyCase(t, src, name, dst, "nan_output_"+name)
		injectNPY(t, filepath.Join(dst, "nan_output_"+name, "output.npy"), float32(math.NaN()))
		add("nan_output_"+name, "forward", expect{"FAIL", `NaN/Inf`})
		// An Inf in the input, so that cyclepix's output is not finite.
		copyCase(t, src, name, dst, "inf_input_"+name)
		injectNPY(t, filepath.Join(dst, "inf_input_"+name, "input.npy"), float32(math.Inf(1)))
		add("inf_input_"+name, "forward", expect{"FAIL", `cyclepix's values hold`})
	}
	// A NaN in a CUT step's discriminator gradients, which no deliberate
	// difference predicts.
	if name := findCase(t, src, ix, "cut_train_step", func(map[string]any) bool { return true }); name != "" {
		copyCase(t, src, name, dst, "nan_grad_"+name)
		injectPTH(t, filepath.Join(dst, "nan_grad_"+name, "grads_net_D.pth"), func([]float32) int { return 0 }, float32(math.NaN()))
		add("nan_grad_"+name, "cut_train_step", expect{"FAIL", `D grad .*no deliberate difference predicts them`})
	}
	// A train step replayed as --direction BtoA: set_input swaps the
	// batch's halves, so the same tensors make the same step.
	if name := findCase(t, src, ix, "train_step", func(raw map[string]any) bool {
		o, _ := raw["options"].(map[string]any)
		return o["direction"] == "AtoB"
	}); name != "" {
		c := copyCase(t, src, name, dst, "btoa_"+name)
		cl := c["command_line"].([]any)
		for i := range cl {
			if cl[i] == "--direction" {
				cl[i+1] = "BtoA"
			}
		}
		c["options"].(map[string]any)["direction"] = "BtoA"
		writeCaseJSON(t, dst, "btoa_"+name, c)
		add("btoa_"+name, "train_step", expect{"PASS", ""})
	}
	// Kinds: one nobody runs, and one not built yet.
	if err := os.MkdirAll(filepath.Join(dst, "mystery_case"), 0o755); err != nil {
		t.Fatal(err)
	}
	add("mystery_case", "mystery", expect{"FAIL", `no runner for kind "mystery"`})
	for kind := range notBuiltYet {
		add("later_"+kind, kind, expect{"SKIP", `not built yet`})
		break
	}
	// A case whose case.json names another kind than the index.
	if name := findCase(t, src, ix, "forward", func(map[string]any) bool { return true }); name != "" {
		copyCase(t, src, name, dst, "kind_mismatch_"+name)
		add("kind_mismatch_"+name, "backward", expect{"FAIL", `case.json says kind "forward", index.json "backward"`})
	}

	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "index.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	results := runHarness(t, dst)
	for name, e := range want {
		r, ok := results[name]
		switch {
		case !ok:
			t.Errorf("%s: the harness did not run it", name)
		case r.status != e.status:
			t.Errorf("%s: %s, want %s; its output:\n%s", name, r.status, e.status, r.output)
		case e.says != "" && !regexp.MustCompile(e.says).MatchString(r.output):
			t.Errorf("%s: %s as it should, but its output does not match %q:\n%s", name, r.status, e.says, r.output)
		}
	}
}

type harnessResult struct {
	status string
	output string
}

var resultLine = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): TestParity/([^/\s]+) `)

// runHarness runs TestParity on dir in a child process and returns each
// case's status and output.
func runHarness(t *testing.T, dir string) map[string]harnessResult {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestParity$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "CYCLEPIX_PARITY_DIR="+dir)
	raw, _ := cmd.CombinedOutput() // fails by design
	// With -test.v each case's log follows its "=== RUN" line; the
	// "--- PASS/FAIL/SKIP" lines of subtests come after their parent's.
	outputs, statuses := map[string][]string{}, map[string]string{}
	var cur string
	for _, line := range strings.Split(string(raw), "\n") {
		if n, ok := strings.CutPrefix(line, "=== RUN   TestParity/"); ok {
			cur, _, _ = strings.Cut(n, "/")
		}
		if m := resultLine.FindStringSubmatch(line); m != nil {
			statuses[m[2]] = m[1]
		}
		if cur != "" {
			outputs[cur] = append(outputs[cur], line)
		}
	}
	results := map[string]harnessResult{}
	for name, st := range statuses {
		results[name] = harnessResult{st, strings.Join(outputs[name], "\n")}
	}
	if len(results) == 0 {
		t.Fatalf("the harness reported no cases:\n%s", raw)
	}
	return results
}

// findCase returns the first case (by name) of a kind whose case.json
// satisfies pred, or "" (the test then checks the rest).
func findCase(t *testing.T, dir string, ix index, kind string, pred func(map[string]any) bool) string {
	t.Helper()
	for _, name := range sortedKeys(ix) {
		if ix[name].Kind != kind {
			continue
		}
		if raw := readCaseJSON(t, filepath.Join(dir, name)); raw != nil && pred(raw) {
			return name
		}
	}
	t.Logf("no %s case to modify in %s", kind, dir)
	return ""
}

func readCaseJSON(t *testing.T, dir string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "case.json"))
	if err != nil {
		return nil
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	return raw
}

// copyCase makes dst/to a copy of src/from: links to its files and a copy
// of its case.json, which it returns decoded.
func copyCase(t *testing.T, src, from, dst, to string) map[string]any {
	t.Helper()
	in, out := filepath.Join(src, from), filepath.Join(dst, to)
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "case.json" {
			continue
		}
		if err := os.Symlink(filepath.Join(in, e.Name()), filepath.Join(out, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	raw := readCaseJSON(t, in)
	writeCaseJSON(t, dst, to, raw)
	return raw
}

func writeCaseJSON(t *testing.T, dst, name string, raw map[string]any) {
	t.Helper()
	b, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, name, "case.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// injectNPY replaces the (symlinked) float32 .npy at path by a copy with
// element 7 set to v.
func injectNPY(t *testing.T, path string, v float32) {
	t.Helper()
	a, err := npy.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	data, err := a.Float32()
	if err != nil {
		t.Fatal(err)
	}
	data[7%len(data)] = v
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := npy.Write(path, a.Shape, data); err != nil {
		t.Fatal(err)
	}
}

// injectPTH replaces the (symlinked) state dict at path by a copy where
// element pick(values) of the first float tensor for which pick is not -1
// is set to v.
func injectPTH(t *testing.T, path string, pick func([]float32) int, v float32) {
	t.Helper()
	defer torch.NewScope().Close()
	sd, keys := readPTH(t, path)
	d := pth.NewDict()
	done := false
	for _, k := range keys {
		x := sd[k]
		if !done && x.DType() == torch.Float32 {
			vals := x.Float32s()
			if i := pick(vals); i >= 0 {
				vals[i] = v
				x, done = torch.FromFloat32(vals, x.Shape()...), true
			}
		}
		p, err := nn.ToPTH(x)
		if err != nil {
			t.Fatal(err)
		}
		d.Set(k, p)
	}
	if !done {
		t.Fatalf("%s: nothing to change", path)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := pth.Save(path, d); err != nil {
		t.Fatal(err)
	}
}

// TestParityVariants runs the harness on cases of every runnable kind with
// other options, sizes and batch sizes than the public set's (other
// architectures, norms, channel counts, batch 2 and 3, BtoA, vanilla GAN,
// no anti-aliasing, crops past the border, other schedules), written by
// testdata/variants.py in the fixture layout from PyTorch and Pillow and
// checked there against float64. One CUT case has all-zero netF rows, so
// that its PyTorch gradients hold NaN where CUT's normalisation puts
// them: the deliberate difference must recognise them.
func TestParityVariants(t *testing.T) {
	testsupport.NeedPythonLong(t, "torch", "numpy", "PIL")
	dir := t.TempDir()
	testsupport.RunPythonFile(t, filepath.Join("testdata", "variants.py"), dir)
	ix := readIndex(t, dir)
	results := runHarness(t, dir)
	kinds := map[string]bool{}
	predicted := "" // a case whose NaN the deliberate difference predicted
	for name, e := range ix {
		kinds[e.Kind] = true
		r, ok := results[name]
		switch {
		case !ok:
			t.Errorf("%s: the harness did not run it", name)
		case r.status != "PASS":
			t.Errorf("%s (%s): %s; its output:\n%s", name, e.Kind, r.status, r.output)
		}
		if strings.Contains(r.output, "where the deliberate difference predicts them") {
			predicted = name
		}
	}
	for k := range runners {
		if !kinds[k] {
			t.Errorf("variants.py wrote no %s case", k)
		}
	}
	if predicted == "" {
		t.Fatal("no case went through the deliberate difference: the zero-row CUT case lost its NaN")
	}

	// The prediction is exact: a copy of that case with one of the
	// reference's NaN made finite, or one more NaN, fails.
	firstNaN := func(v []float32) int {
		for i, x := range v {
			if math.IsNaN(float64(x)) {
				return i
			}
		}
		return -1
	}
	firstFinite := func(v []float32) int {
		for i, x := range v {
			if !bad(x) && x != 0 {
				return i
			}
		}
		return -1
	}
	broken := t.TempDir()
	out := index{}
	says := map[string]string{}
	for _, c := range []struct {
		name string
		pick func([]float32) int
		v    float32
		says string
	}{
		{"one_nan_less", firstNaN, 0.5, "is 0.5 at element 0 where PatchNCE's normalisation"},
		{"one_nan_more", firstFinite, float32(math.NaN()), "no deliberate difference predicts them"},
	} {
		says[c.name] = c.says
		copyCase(t, dir, predicted, broken, c.name)
		injectPTH(t, filepath.Join(broken, c.name, "grads_net_F.pth"), c.pick, c.v)
		out[c.name] = ix[predicted]
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(broken, "index.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, r := range runHarness(t, broken) {
		if r.status != "FAIL" || !strings.Contains(r.output, says[name]) {
			t.Errorf("%s: %s, want a failure of the prediction; its output:\n%s", name, r.status, r.output)
		}
	}
}
