// Package parity checks cyclepix against golden values produced by the
// PyTorch reference (the fixtures in ../shared/parity, or
// $CYCLEPIX_PARITY_DIR).
//
// One test, TestParity, runs every case its fixture folder's index.json
// lists, each as its own subtest named by the case, dispatched by the
// case's kind to one runner (`go test ./parity -run 'Parity/fwd_'`
// selects cases). A runner builds what it checks from the case's own
// description (its command_line, options or network fields) through the
// options layer and the model registry the command line uses, never from
// the case's name. A kind with no runner fails, unless notBuiltYet names
// it.
package parity

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"cyclepix/internal/testsupport"
	"cyclepix/nn"
	"cyclepix/npy"
	"cyclepix/torch"
)

// runners maps a case kind to the function that checks it; each kind's file
// registers itself.
var runners = map[string]func(t *testing.T, c *Case){}

// notBuiltYet lists the kinds whose fixtures exist ahead of the model they
// check, each with the issue that builds it: their cases are skipped by
// kind. Every other kind without a runner fails.
var notBuiltYet = map[string]string{}

// Case is one fixture folder.
type Case struct {
	Name string
	Kind string
	Dir  string
	Raw  map[string]json.RawMessage
}

// Has reports whether case.json has a top-level field.
func (c *Case) Has(field string) bool { _, ok := c.Raw[field]; return ok }

// Get decodes a top-level field of case.json; a missing or malformed field
// fails the test, naming it.
func (c *Case) Get(t *testing.T, field string, v any) {
	t.Helper()
	raw, ok := c.Raw[field]
	if !ok {
		t.Fatalf("case.json has no %q field, which a %s case needs", field, c.Kind)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("case.json %q: %v", field, err)
	}
}

// Path joins a file name to the case folder.
func (c *Case) Path(name string) string { return filepath.Join(c.Dir, name) }

// Need returns the path of a file the case must hold, failing the test
// with the file's name when it is missing.
func (c *Case) Need(t *testing.T, name string) string {
	t.Helper()
	p := c.Path(name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the %s case has no %s: %v", c.Kind, name, err)
	}
	return p
}

// index is a fixture folder's index.json: case name → kind.
type index map[string]struct {
	Kind string `json:"kind"`
}

// readIndex reads dir/index.json; a missing one skips the test (fails in
// CI, where the fixtures are checked out).
func readIndex(t *testing.T, dir string) index {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		testsupport.MissingFixture(t, err)
	}
	var ix index
	if err := json.Unmarshal(raw, &ix); err != nil {
		t.Fatalf("%s: %v", filepath.Join(dir, "index.json"), err)
	}
	if len(ix) == 0 {
		t.Fatalf("%s lists no cases", filepath.Join(dir, "index.json"))
	}
	return ix
}

// TestParity runs every case of the fixture folder.
func TestParity(t *testing.T) {
	dir := testsupport.ParityDir()
	ix := readIndex(t, dir)
	names := make([]string, 0, len(ix))
	for n := range ix {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) { runCase(t, dir, name, ix[name].Kind) })
	}
}

// runCase dispatches one case of the index by its kind.
func runCase(t *testing.T, dir, name, kind string) {
	if kind == "" {
		t.Fatalf("index.json gives case %s no kind", name)
	}
	if why, ok := notBuiltYet[kind]; ok {
		t.Skipf("kind %s is not built yet: %s", kind, why)
	}
	run, ok := runners[kind]
	if !ok {
		var have []string
		for k := range runners {
			have = append(have, k)
		}
		sort.Strings(have)
		t.Fatalf("no runner for kind %q (runners: %s; not built yet: %s)", kind, strings.Join(have, ", "), strings.Join(sortedKeys(notBuiltYet), ", "))
	}
	c := &Case{Name: name, Kind: kind, Dir: filepath.Join(dir, name)}
	b, err := os.ReadFile(c.Path("case.json"))
	if err != nil {
		t.Fatalf("case %s: %v", name, err)
	}
	if err := json.Unmarshal(b, &c.Raw); err != nil {
		t.Fatalf("%s: %v", c.Path("case.json"), err)
	}
	if c.Has("kind") {
		var k string
		c.Get(t, "kind", &k)
		if k != kind {
			t.Fatalf("case.json says kind %q, index.json %q", k, kind)
		}
	}
	defer torch.NewScope().Close()
	// A panic (libtorch's errors panic: a network whose layers do not fit
	// the case's input sizes) is this case's failure; the harness goes on
	// with the other cases instead of the test binary dying.
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("panic: %v", r)
		}
	}()
	run(t, c)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// readNPY loads a float32 .npy file as a CPU tensor.
func readNPY(t *testing.T, path string) *torch.Tensor {
	t.Helper()
	a, err := npy.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := a.Float32()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return torch.FromFloat32(v, a.Shape...)
}

// readPTH loads a state dict file; the tensors are freed when the test ends.
func readPTH(t *testing.T, path string) (map[string]*torch.Tensor, []string) {
	t.Helper()
	sd, keys, err := nn.ReadStateDict(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nn.FreeAll(sd) })
	return sd, keys
}

// paramGrads collects the gradients of a network's parameters by state
// dict key (nil where a parameter has none).
func paramGrads(m nn.Module) map[string]*torch.Tensor {
	got := map[string]*torch.Tensor{}
	for _, e := range nn.StateDict(m) {
		if e.Param {
			got[e.Name] = e.Tensor.Grad()
		}
	}
	return got
}

// zeroTrueOf reads files.<file>.zero_true_gradient and grad_was_none, the
// layout of the reference's gradient cases.
func zeroTrueOf(t *testing.T, c *Case, file string) (zeroTrue, wasNone []string) {
	t.Helper()
	var files map[string]struct {
		ZeroTrue []string `json:"zero_true_gradient"`
		WasNone  []string `json:"grad_was_none"`
	}
	c.Get(t, "files", &files)
	f, ok := files[file]
	if !ok {
		t.Fatalf("case.json files has no entry for %s", file)
	}
	return f.ZeroTrue, f.WasNone
}

func fmtShape(s []int64) string { return fmt.Sprint(s) }
