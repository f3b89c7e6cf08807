// Package parity checks cyclepix against golden values produced by the
// PyTorch reference (the fixtures in ../shared/parity, or
// $CYCLEPIX_PARITY_DIR). Each case runs as its own subtest named after its
// folder, so `go test ./parity -run 'Parity/fwd_'` selects cases.
package parity

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"cyclepix/internal/testsupport"
	"cyclepix/networks"
	"cyclepix/nn"
	"cyclepix/npy"
	"cyclepix/torch"
)

// runners maps a case kind to the function that checks it; each kind's file
// registers itself.
var runners = map[string]func(t *testing.T, c *Case){}

// Case is one fixture folder.
type Case struct {
	Name string
	Dir  string
	Raw  map[string]json.RawMessage
}

// Get decodes a top-level field of case.json.
func (c *Case) Get(t *testing.T, field string, v any) {
	t.Helper()
	raw, ok := c.Raw[field]
	if !ok {
		t.Fatalf("case.json has no %q", field)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("case.json %q: %v", field, err)
	}
}

// Path joins a file name to the case folder.
func (c *Case) Path(name string) string { return filepath.Join(c.Dir, name) }

func TestParity(t *testing.T) {
	dir := testsupport.ParityDir()
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		testsupport.MissingFixture(t, err)
	}
	var index map[string]struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(raw, &index); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	names := make([]string, 0, len(index))
	for n := range index {
		names = append(names, n)
	}
	sort.Strings(names)
	unsupported := map[string]bool{}
	for _, name := range names {
		kind := index[name].Kind
		run, ok := runners[kind]
		if !ok {
			unsupported[kind] = true
		}
		t.Run(name, func(t *testing.T) {
			if !ok {
				t.Skipf("kind %q not supported yet", kind)
			}
			c := &Case{Name: name, Dir: filepath.Join(dir, name)}
			b, err := os.ReadFile(c.Path("case.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &c.Raw); err != nil {
				t.Fatalf("case.json: %v", err)
			}
			defer torch.NewScope().Close()
			run(t, c)
		})
	}
	if len(unsupported) > 0 {
		var ks []string
		for k := range unsupported {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		t.Logf("kinds not supported yet: %s", strings.Join(ks, ", "))
	}
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

// diff returns the largest absolute difference and the largest |want|.
func diff(got, want []float32) (maxAbs, maxRef float64) {
	for i := range want {
		maxAbs = math.Max(maxAbs, math.Abs(float64(got[i])-float64(want[i])))
		maxRef = math.Max(maxRef, math.Abs(float64(want[i])))
	}
	return
}

// expectClose fails when any element differs by more than atol; it logs the
// max absolute and relative errors either way.
func expectClose(t *testing.T, name string, got, want *torch.Tensor, atol float64) {
	t.Helper()
	gs, ws := got.Shape(), want.Shape()
	if fmt.Sprint(gs) != fmt.Sprint(ws) {
		t.Errorf("%s: shape %v, want %v", name, gs, ws)
		return
	}
	maxAbs, maxRef := diff(got.Float32s(), want.Float32s())
	rel := maxAbs / math.Max(maxRef, 1e-30)
	if maxAbs > atol {
		t.Errorf("%s: max abs err %.3g (rel %.3g of max|ref| %.3g) > atol %.3g", name, maxAbs, rel, maxRef, atol)
	} else if testing.Verbose() {
		t.Logf("%s: max abs err %.3g, rel %.3g", name, maxAbs, rel)
	}
}

// expectScalar compares a scalar with relative tolerance rtol.
func expectScalar(t *testing.T, name string, got, want, rtol float64) {
	t.Helper()
	rel := math.Abs(got-want) / math.Max(math.Abs(want), 1e-30)
	if rel > rtol {
		t.Errorf("%s = %.9g, want %.9g (rel err %.3g > %.3g)", name, got, want, rel, rtol)
	} else if testing.Verbose() {
		t.Logf("%s: rel err %.3g", name, rel)
	}
}

// netSpec is the "network" object of a case.json.
type netSpec struct {
	Role       string  `json:"role"`
	NetG       string  `json:"netG"`
	NetD       string  `json:"netD"`
	InputNC    int64   `json:"input_nc"`
	OutputNC   int64   `json:"output_nc"`
	NGF        int64   `json:"ngf"`
	NDF        int64   `json:"ndf"`
	NLayersD   int     `json:"n_layers_D"`
	Norm       string  `json:"norm"`
	UseDropout bool    `json:"use_dropout"`
	InitType   string  `json:"init_type"`
	InitGain   float64 `json:"init_gain"`
	Mode       string  `json:"mode"`
}

// build makes the network a spec describes and loads weights into it.
func (s netSpec) build(t *testing.T, weights string) nn.Module {
	t.Helper()
	norm, err := networks.ParseNorm(s.Norm)
	if err != nil {
		t.Fatal(err)
	}
	var net nn.Module
	if s.Role == "G" {
		net, err = networks.NewGenerator(networks.GOptions{InputNC: s.InputNC, OutputNC: s.OutputNC, NGF: s.NGF,
			NetG: s.NetG, Norm: norm, Dropout: s.UseDropout, InitType: "normal", InitGain: 0.02})
	} else {
		net, err = networks.NewDiscriminator(networks.DOptions{InputNC: s.InputNC, NDF: s.NDF, NetD: s.NetD,
			NLayers: s.NLayersD, Norm: norm, InitType: "normal", InitGain: 0.02})
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := nn.LoadFile(net, weights); err != nil {
		t.Fatal(err)
	}
	nn.SetTraining(net, s.Mode == "train")
	return net
}

// gradTolerance follows the fixture README: per tensor atol 1e-3·max|ref|,
// and parameters with an exact zero gradient compared with 0 relative to
// the network's largest gradient.
func expectGrads(t *testing.T, label string, got map[string]*torch.Tensor, wantPath string, zeroTrue, wasNone []string) {
	t.Helper()
	want, keys := readPTH(t, wantPath)
	zero := map[string]bool{}
	for _, k := range append(append([]string{}, zeroTrue...), wasNone...) {
		zero[k] = true
	}
	netMax := 0.0
	for _, k := range keys {
		_, m := diff(want[k].Float32s(), want[k].Float32s())
		netMax = math.Max(netMax, m)
	}
	for _, k := range keys {
		g := got[k]
		if g == nil {
			if zero[k] {
				continue
			}
			t.Errorf("%s %s: no gradient", label, k)
			continue
		}
		if zero[k] {
			_, m := diff(make([]float32, g.Numel()), g.Float32s())
			if m > 1e-4*netMax {
				t.Errorf("%s %s: gradient %.3g should be 0 (network max %.3g)", label, k, m, netMax)
			}
			continue
		}
		_, m := diff(want[k].Float32s(), want[k].Float32s())
		expectClose(t, label+" "+k, g, want[k], 1e-3*m)
	}
}

// zeroTrueOf reads files.<file>.zero_true_gradient and grad_was_none.
func zeroTrueOf(t *testing.T, c *Case, file string) (zeroTrue, wasNone []string) {
	var files map[string]struct {
		ZeroTrue []string `json:"zero_true_gradient"`
		WasNone  []string `json:"grad_was_none"`
	}
	c.Get(t, "files", &files)
	f := files[file]
	return f.ZeroTrue, f.WasNone
}
