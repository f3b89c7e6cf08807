package parity

import (
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/internal/testsupport"
	"cyclepix/models"
	"cyclepix/nn"
	"cyclepix/torch"
)

func init() { runners["train_step"] = runTrainStep }

// train_step: one optimize_parameters() of cycle_gan or pix2pix from stored
// weights and batch: visuals, losses, the gradients each optimizer used, and
// the weights after the step.
func runTrainStep(t *testing.T, c *Case) {
	var cmdline []string
	var losses map[string]float64
	var files map[string]any
	c.Get(t, "command_line", &cmdline)
	c.Get(t, "losses", &losses)
	c.Get(t, "files", &files)
	o, err := models.BuildOptions(true, cmdline, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	def, err := models.Lookup(o.String("model"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := def.New(o, models.Env{Device: torch.CPU, Rng: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatal(err)
	}
	b := m.Base()
	for _, n := range b.NetNames {
		if err := nn.LoadFile(b.Nets[n], c.Path("latest_net_"+n+".pth")); err != nil {
			t.Fatal(err)
		}
	}
	b.SetTraining(true)
	// real_A.npy and real_B.npy are the model's tensors after set_input:
	// with --direction BtoA set_input takes real_A from the batch's B.
	a, bb := "A", "B"
	if o.String("direction") == "BtoA" {
		a, bb = "B", "A"
	}
	in := models.Input{Tensors: map[string]*torch.Tensor{
		a: readNPY(t, c.Path("real_A.npy")), bb: readNPY(t, c.Path("real_B.npy"))}}
	if err := m.SetInput(in); err != nil {
		t.Fatal(err)
	}
	m.OptimizeParameters()

	for _, v := range b.Visuals() {
		if strings.HasPrefix(v.Name, "real_") {
			continue
		}
		expectClose(t, "visual "+v.Name, v.Tensor, readNPY(t, c.Path(v.Name+".npy")), 1e-5)
	}
	for _, l := range b.Losses() {
		expectScalar(t, "loss "+l.Name, l.Value, losses[l.Name], 1e-5)
	}
	lr := o.Float("lr")
	for _, n := range b.NetNames {
		grads := map[string]*torch.Tensor{}
		for _, e := range nn.StateDict(b.Nets[n]) {
			if e.Param {
				grads[e.Name] = e.Tensor.Grad()
			}
		}
		gf := "grads_net_" + n + ".pth"
		zt, wn := zeroTrueOf(t, c, gf)
		expectGrads(t, n+" grad", grads, c.Path(gf), zt, wn)
		expectAfterStep(t, n, b.Nets[n], c.Path("after_net_"+n+".pth"), c.Path(gf), lr, append(zt, wn...))
	}
}

// expectAfterStep applies the README's rule: after-step weights within
// 1e-3·lr where |g_ref| ≥ 1e-3·max|g_ref| of the tensor, within 2·lr
// elsewhere and for every element of a tensor whose true gradient is 0
// (gradients at float32 noise can flip the first Adam step's sign); buffers
// within 1e-6, counters exactly.
func expectAfterStep(t *testing.T, net string, m nn.Module, afterPath, gradPath string, lr float64, noise []string) {
	t.Helper()
	isNoise := map[string]bool{}
	for _, k := range noise {
		isNoise[k] = true
	}
	after, _ := readPTH(t, afterPath)
	grads, _ := readPTH(t, gradPath)
	for _, e := range nn.StateDict(m) {
		want := after[e.Name]
		if want == nil {
			t.Errorf("%s: %s missing from %s", net, e.Name, afterPath)
			continue
		}
		if !e.Param {
			if e.Tensor.DType() == torch.Int64 {
				if g, w := e.Tensor.Int64s(), want.Int64s(); g[0] != w[0] {
					t.Errorf("%s %s = %d, want %d", net, e.Name, g[0], w[0])
				}
				continue
			}
			expectClose(t, net+" after "+e.Name, e.Tensor, want, 1e-6)
			continue
		}
		got, w, g := e.Tensor.Float32s(), want.Float32s(), grads[e.Name].Float32s()
		_, gmax := diff(g, g)
		bad := 0
		worst := 0.0
		for i := range w {
			d := math.Abs(float64(got[i]) - float64(w[i]))
			tol := 1e-3 * lr
			if isNoise[e.Name] || math.Abs(float64(g[i])) < 1e-3*gmax {
				tol = 2 * lr
			}
			if d > tol {
				bad++
			}
			worst = math.Max(worst, d)
		}
		if bad > 0 {
			t.Errorf("%s after %s: %d of %d elements off (max abs err %.3g, lr %.3g)", net, e.Name, bad, len(w), worst, lr)
		}
	}
}

// TestTrainStepBtoA replays step_pix2pix as a --direction BtoA run: the
// same tensors after set_input, so the same step, provided the harness
// hands the batch over with A and B swapped.
func TestTrainStepBtoA(t *testing.T) {
	dir := filepath.Join(testsupport.ParityDir(), "step_pix2pix")
	b, err := os.ReadFile(filepath.Join(dir, "case.json"))
	if err != nil {
		t.Skipf("no step_pix2pix fixture: %v", err)
	}
	c := &Case{Name: "step_pix2pix_BtoA", Dir: dir}
	if err := json.Unmarshal(b, &c.Raw); err != nil {
		t.Fatal(err)
	}
	var cmdline []string
	c.Get(t, "command_line", &cmdline)
	swapped := false
	for i := range cmdline {
		if cmdline[i] == "--direction" && cmdline[i+1] == "AtoB" {
			cmdline[i+1], swapped = "BtoA", true
		}
	}
	if !swapped {
		t.Fatalf("step_pix2pix's command line has no --direction AtoB: %v", cmdline)
	}
	if c.Raw["command_line"], err = json.Marshal(cmdline); err != nil {
		t.Fatal(err)
	}
	defer torch.NewScope().Close()
	runTrainStep(t, c)
}
