package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cyclepix/internal/testsupport"
	"cyclepix/nn"
	"cyclepix/torch"
)

// ddpArgs is a tiny cycle_gan whose per-sample computations do not depend
// on the batch: instance norm, no image pool (its random choices differ
// between one process and two), no dropout. Shuffled data with a fixed
// seed: the shards come from the same order as the one-process batches.
func ddpArgs(t *testing.T, ckpt string, batch int, extra ...string) []string {
	args := []string{"--dataroot", datasets(t)["blobs2zebras"], "--checkpoints_dir", ckpt, "--name", "run",
		"--model", "cycle_gan", "--netG", "resnet_1blocks", "--ngf", "8", "--ndf", "8", "--norm", "instance",
		"--load_size", "36", "--crop_size", "32", "--seed", "7", "--num_threads", "1",
		"--batch_size", strconv.Itoa(batch), "--n_epochs", "1", "--n_epochs_decay", "1",
		"--print_freq", "2", "--display_freq", "4"}
	return append(args, extra...)
}

// runRanks trains args as a data-parallel run of world processes (this
// test binary re-executed as TestDataParallelHelper), rank 0 stopping after
// stopAfter loss reports when it is > 0. It returns the ranks' errors.
func runRanks(t *testing.T, world int, args []string, stopAfter int) []error {
	t.Helper()
	port := testsupport.FreePort(t)
	js, _ := json.Marshal(args)
	errs := make([]error, world)
	var wg sync.WaitGroup
	for r := range world {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestDataParallelHelper$")
			cmd.Env = append(os.Environ(), "CYCLEPIX_DDP_HELPER="+string(js), "CYCLEPIX_DDP_STOP="+strconv.Itoa(stopAfter),
				"RANK="+strconv.Itoa(r), "LOCAL_RANK="+strconv.Itoa(r), "WORLD_SIZE="+strconv.Itoa(world),
				"MASTER_ADDR=127.0.0.1", "MASTER_PORT="+strconv.Itoa(port), "CYCLEPIX_THREADS=1")
			timer := time.AfterFunc(90*time.Second, func() { _ = cmd.Process.Kill() })
			defer timer.Stop()
			out, err := cmd.CombinedOutput()
			if err != nil {
				errs[r] = fmt.Errorf("rank %d: %v\n%s", r, err, out)
			} else if s := string(out); strings.Contains(s, "helper error:") {
				errs[r] = fmt.Errorf("rank %d: %s", r, s[strings.Index(s, "helper error:"):])
			}
		}()
	}
	wg.Wait()
	return errs
}

// TestDataParallelHelper is one rank of runRanks; it does nothing unless
// started by it. ErrStopped is reported as "helper error: stopped" so that
// the caller can tell it from success.
func TestDataParallelHelper(t *testing.T) {
	js := os.Getenv("CYCLEPIX_DDP_HELPER")
	if js == "" {
		t.Skip("helper process of the data-parallel tests")
	}
	runtime.LockOSThread()
	var args []string
	if err := json.Unmarshal([]byte(js), &args); err != nil {
		t.Fatal(err)
	}
	dist, err := DistFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	o, err := ParseOptions(true, args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Out: io.Discard, Dist: dist}
	if js := os.Getenv("CYCLEPIX_DDP_SCORES"); js != "" {
		var scores map[int]float64
		if err := json.Unmarshal([]byte(js), &scores); err != nil {
			t.Fatal(err)
		}
		cfg.evalHook = scoreHook(BestMetric(o), scores)
	}
	if n, _ := strconv.Atoi(os.Getenv("CYCLEPIX_DDP_STOP")); n > 0 && dist.Rank == 0 {
		// Only rank 0 is asked to stop: the others must follow it.
		stop := &stopAfter{losses: n, stop: make(chan struct{})}
		cfg.Stop, cfg.Observers = stop.stop, []Observer{stop}
	}
	err = Train(o, cfg)
	switch {
	case errors.Is(err, ErrStopped):
		fmt.Println("helper error: stopped")
	case err != nil:
		fmt.Println("helper error:", err)
	}
}

// Two processes with batch 1 each train the same weights as one process
// with batch 2: the shards of every epoch make up the one-process batches
// and the averaged gradients are the batch-2 gradients. The only
// differences are rounding (convolutions over 1 vs 2 images, the sum of
// two gradients), which Adam's first steps amplify where a gradient is
// nothing but rounding: the biases of convolutions followed by an instance
// norm, which subtracts them again (their true gradient is 0 and they
// change no output). Those are left out of the comparison and reported.
func TestDataParallelMatchesBigBatch(t *testing.T) {
	if !torch.DistAvailable("gloo") {
		t.Fatal("this build has no Gloo (install libgloo-dev and rebuild)")
	}
	runtime.LockOSThread()
	nets := []string{"G_A", "G_B", "D_A", "D_B"}
	one := t.TempDir()
	if err := trainRun(t, ddpArgs(t, one, 2), nil); err != nil {
		t.Fatal(err)
	}
	two := t.TempDir()
	for _, err := range runRanks(t, 2, ddpArgs(t, two, 1), 0) {
		if err != nil {
			t.Fatal(err)
		}
	}
	a, b := weights(t, one, nets...), weights(t, two, nets...)
	if len(a) != len(b) {
		t.Fatalf("%d vs %d tensors", len(a), len(b))
	}
	// Scale: the largest weight of each network.
	scale := map[string]float64{}
	for k, x := range a {
		n, _, _ := strings.Cut(k, ".")
		for _, v := range x {
			scale[n] = max(scale[n], math.Abs(float64(v)))
		}
	}
	cancelled := normCancelledBiases(t, ddpArgs(t, one, 2))
	var worstRel, worstAbs, nullAbs float64
	var worstKey string
	for k, x := range a {
		y := b[k]
		n, _, _ := strings.Cut(k, ".")
		for i := range x {
			d := math.Abs(float64(x[i]) - float64(y[i]))
			if cancelled[k] {
				nullAbs = max(nullAbs, d)
				continue
			}
			worstAbs = max(worstAbs, d)
			if rel := d / scale[n]; rel > worstRel {
				worstRel, worstKey = rel, fmt.Sprintf("%s[%d] (%g vs %g)", k, i, x[i], y[i])
			}
		}
	}
	t.Logf("1 process batch 2 vs 2 processes batch 1: max abs weight difference %.3g, max relative to the network's largest weight %.3g at %s; "+
		"biases cancelled by instance norm (%d tensors, true gradient 0): max abs difference %.3g",
		worstAbs, worstRel, worstKey, len(cancelled), nullAbs)
	if worstRel > 1e-4 {
		t.Errorf("weights differ by %.3g of the network's scale at %s", worstRel, worstKey)
	}
	// Rank 0 alone writes the run's files.
	if _, err := os.Stat(filepath.Join(two, "run", "latest_state.pth")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(two, "run", "latest_state.rank1.pth")); err != nil {
		t.Error(err)
	}
	log, _ := os.ReadFile(filepath.Join(two, "run", "loss_log.txt"))
	if n := strings.Count(string(log), "Training Loss"); n != 1 {
		t.Errorf("loss log has %d run headers, want 1 (only rank 0 writes it)", n)
	}
}

// A data-parallel run stopped mid-epoch by rank 0 alone (the others follow
// it) and resumed with --continue_train ends with the weights of a run
// that was not stopped, bit for bit: each rank keeps its own image pools
// (cycle_gan) and random streams (CUT's patch positions and flips) in
// <label>_state.rank<r>.pth, and CUT's netF with its Adam state resumes
// like any network.
func TestDataParallelResumeIsExact(t *testing.T) {
	if !torch.DistAvailable("gloo") {
		t.Fatal("this build has no Gloo (install libgloo-dev and rebuild)")
	}
	cases := []struct {
		model string
		nets  []string
		extra []string
	}{
		{"cycle_gan", []string{"G_A", "G_B", "D_A", "D_B"}, []string{"--pool_size", "3"}},
		{"cut", []string{"G", "F", "D"}, []string{"--CUT_mode", "FastCUT", "--num_patches", "16", "--netF_nc", "16"}},
	}
	for _, c := range cases {
		t.Run(c.model, func(t *testing.T) {
			args := func(dir string, extra ...string) []string {
				a := ddpArgs(t, dir, 1, append(append([]string(nil), c.extra...), extra...)...)
				for i := range a {
					if a[i] == "--model" {
						a[i+1] = c.model
					}
				}
				return a
			}
			straight := t.TempDir()
			for _, err := range runRanks(t, 2, args(straight), 0) {
				if err != nil {
					t.Fatal(err)
				}
			}
			resumed := t.TempDir()
			for r, err := range runRanks(t, 2, args(resumed), 2) {
				if err == nil || !strings.Contains(err.Error(), "helper error: stopped") {
					t.Fatalf("rank %d of the stopped run: %v, want stopped", r, err)
				}
			}
			for _, err := range runRanks(t, 2, args(resumed, "--continue_train"), 0) {
				if err != nil {
					t.Fatal(err)
				}
			}
			sameWeights(t, weights(t, straight, c.nets...), weights(t, resumed, c.nets...))
		})
	}
}

// normCancelledBiases lists the state-dict keys of the biases of layers
// directly followed by an InstanceNorm2d (without affine parameters): the
// norm subtracts the per-channel mean, so they change no output.
func normCancelledBiases(t *testing.T, args []string) map[string]bool {
	t.Helper()
	o, err := ParseOptions(true, args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m, err := newModel(o, torch.CPU, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	b := m.Base()
	out := map[string]bool{}
	for _, name := range b.NetNames {
		nn.Walk(b.Nets[name], func(path string, mod nn.Module) {
			seq, ok := mod.(*nn.Sequential)
			if !ok {
				return
			}
			ch := seq.Children()
			for i := 0; i+1 < len(ch); i++ {
				if _, norm := ch[i+1].Module.(*nn.InstanceNorm2d); !norm {
					continue
				}
				if ht, ok := ch[i].Module.(nn.HasTensors); ok {
					for _, e := range ht.Tensors() {
						if e.Name == "bias" {
							key := ch[i].Name + ".bias"
							if path != "" {
								key = path + "." + key
							}
							out[name+"."+key] = true
						}
					}
				}
			}
		})
	}
	return out
}
