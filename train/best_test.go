package train

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"cyclepix/metrics"
	"cyclepix/nn"
	"cyclepix/pth"
	"cyclepix/torch"
)

// scriptedRun trains args with the held-out score (BestMetric) of each
// evaluated epoch replaced by scores[epoch] (when listed), so that the
// test decides which epochs improve; it returns the console output.
func scriptedRun(t *testing.T, args []string, scores map[int]float64, stop *stopAfter) (string, error) {
	t.Helper()
	o, err := ParseOptions(true, args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cfg := Config{Out: &out, evalHook: scoreHook(BestMetric(o), scores)}
	if stop != nil {
		stop.stop = make(chan struct{})
		cfg.Stop = stop.stop
		cfg.Observers = []Observer{stop}
	}
	err = Train(o, cfg)
	return out.String(), err
}

// scoreHook is an evalHook that sets metric to scores[epoch].
func scoreHook(metric string, scores map[int]float64) func(int, map[string]float64) {
	return func(epoch int, vals map[string]float64) {
		if v, ok := scores[epoch]; ok {
			vals[metric] = v
		}
	}
}

// inceptionWeights writes an Inception network with random weights (92
// MB, so under the test's own folder, removed after it): FID then runs as
// with pytorch-fid's file, on features that mean nothing (the tests script
// the scores they compare).
func inceptionWeights(t *testing.T) string {
	t.Helper()
	m := metrics.NewInception()
	defer m.Free()
	torch.ManualSeed(1)
	err := torch.Try(func() {
		for _, e := range nn.StateDict(m) {
			if strings.HasSuffix(e.Name, "weight") && len(e.Tensor.Shape()) > 1 {
				e.Tensor.Normal_(0, 0.05)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "inception.pth")
	if err := nn.SaveFile(m, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// bestArgs is a tiny pix2pix that evaluates on the test split every freq
// epochs and saves every epoch (so that best_* can be compared with
// <epoch>_*). The learning rate decays from the second epoch on, so that a
// resume that got the schedule wrong shows in the weights.
func bestArgs(t *testing.T, dir string, epochs, freq int, extra ...string) []string {
	return append(tinyArgs(t, "pix2pix", dir, "--n_epochs", "1", "--n_epochs_decay", fmt.Sprint(epochs-1), "--save_epoch_freq", "1",
		"--eval_freq", fmt.Sprint(freq), "--eval_phase", "test"), extra...)
}

func readBest(t *testing.T, dir string) *BestRecord {
	t.Helper()
	rec, err := ReadBestRecord(filepath.Join(dir, "run"))
	if err != nil {
		t.Fatal(err)
	}
	if rec == nil {
		t.Fatalf("no best.json in %s", dir)
	}
	return rec
}

func differentWeights(a, b map[string][]float32) bool {
	for k, x := range a {
		for i := range x {
			if x[i] != b[k][i] {
				return true
			}
		}
	}
	return false
}

// stateEpoch is the epoch best_state.pth (or another state) continues at.
func stateEpoch(t *testing.T, path string) int64 {
	t.Helper()
	v, err := pth.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := v.(*pth.Dict).Get("epoch")
	return e.(int64)
}

// best_* and best.json follow the best held-out L1: saved when it improves,
// left alone when it worsens, ties or cannot be computed.
func TestBestCheckpoint(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name         string
		epochs, freq int
		l1           map[int]float64
		best         int
		saved        []int // the epochs that print "is the best so far"
	}{
		{"improves then worsens", 3, 1, map[int]float64{1: 0.5, 2: 0.3, 3: 0.4}, 2, []int{1, 2}},
		{"keeps improving", 3, 1, map[int]float64{1: 0.5, 2: 0.4, 3: 0.3}, 3, []int{1, 2, 3}},
		{"a tie keeps the earlier epoch", 3, 1, map[int]float64{1: 0.3, 2: 0.3, 3: 0.6}, 1, []int{1}},
		{"NaN is never the best", 3, 1, map[int]float64{1: nan, 2: 0.4, 3: 0.5}, 2, []int{2}},
		{"every other epoch", 4, 2, map[int]float64{1: 0.1, 2: 0.4, 3: 0.1, 4: 0.5}, 2, []int{2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			out, err := scriptedRun(t, bestArgs(t, dir, c.epochs, c.freq), c.l1, nil)
			if err != nil {
				t.Fatal(err)
			}
			rec := readBest(t, dir)
			if rec.Epoch != c.best || rec.Metric != "l1" || rec.Value != c.l1[c.best] || rec.Better != "lower" ||
				rec.EvalPhase != "test" || rec.Values["l1"] != c.l1[c.best] || rec.Values["psnr"] == 0 {
				t.Errorf("best.json %+v, want epoch %d, l1 %v", rec, c.best, c.l1[c.best])
			}
			best := labelWeights(t, dir, BestLabel, "G", "D")
			sameWeights(t, labelWeights(t, dir, fmt.Sprint(c.best), "G", "D"), best)
			if c.best != c.epochs && !differentWeights(labelWeights(t, dir, "latest", "G", "D"), best) {
				t.Errorf("best_net_* hold the last epoch's weights, not epoch %d's", c.best)
			}
			if e := stateEpoch(t, filepath.Join(dir, "run", "best_state.pth")); e != int64(c.best+1) {
				t.Errorf("best_state.pth continues at epoch %d, want %d", e, c.best+1)
			}
			for e := 1; e <= c.epochs; e++ {
				line := fmt.Sprintf("epoch %d: L1 %v is the best so far; saved %s", e, c.l1[e], filepath.Join(dir, "run", "best_net_*.pth"))
				want := false
				for _, s := range c.saved {
					want = want || s == e
				}
				if got := strings.Contains(out, line); got != want {
					t.Errorf("output has %q: %v, want %v\n%s", line, got, want, out)
				}
			}
		})
	}
}

// --continue_train compares with the run folder's best.json, so a resumed
// run replaces best_* only with a better epoch.
func TestBestSurvivesResume(t *testing.T) {
	cases := []struct {
		name string
		l1   map[int]float64
		best int
	}{
		{"a worse epoch keeps it", map[int]float64{1: 0.3, 2: 0.5, 3: 0.4}, 1},
		{"a better epoch replaces it", map[int]float64{1: 0.3, 2: 0.5, 3: 0.2}, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := scriptedRun(t, bestArgs(t, dir, 3, 1), c.l1, &stopAfter{epoch: 2}); !errors.Is(err, ErrStopped) {
				t.Fatalf("first part: %v, want ErrStopped", err)
			}
			if rec := readBest(t, dir); rec.Epoch != 1 {
				t.Fatalf("best epoch %d before the resume, want 1", rec.Epoch)
			}
			out, err := scriptedRun(t, bestArgs(t, dir, 3, 1, "--continue_train"), c.l1, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rec := readBest(t, dir); rec.Epoch != c.best || rec.Value != c.l1[c.best] {
				t.Errorf("best.json %+v after the resume, want epoch %d", rec, c.best)
			}
			sameWeights(t, labelWeights(t, dir, fmt.Sprint(c.best), "G", "D"), labelWeights(t, dir, BestLabel, "G", "D"))
			if got, want := strings.Contains(out, "is the best so far"), c.best == 3; got != want {
				t.Errorf("resumed run announces a best: %v, want %v\n%s", got, want, out)
			}
		})
	}
}

// A resumed run scored on another held-out set, or a corrupt record, fails
// at once with one line naming best.json and the flags.
func TestBestRecordErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := scriptedRun(t, bestArgs(t, dir, 1, 1), nil, nil); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(dir, "run", "best.json")
	good, _ := os.ReadFile(record)
	cases := []struct {
		name   string
		record string
		extra  []string
		want   []string
	}{
		{"another --eval_num", string(good), []string{"--eval_num", "2"}, []string{record, "--eval_num 200", "--eval_num 2", "does not compare"}},
		{"another --eval_phase", string(good), []string{"--eval_phase", "train"}, []string{record, "--eval_phase test", "--eval_phase train"}},
		{"corrupt record", "{", nil, []string{record, "move it away"}},
		{"unknown format", `{"format": "other"}`, nil, []string{record, `"other"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(record, []byte(c.record), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := scriptedRun(t, append(bestArgs(t, dir, 2, 1, "--continue_train"), c.extra...), nil, nil)
			if err == nil || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// --continue_train --epoch best continues from the best epoch exactly as
// the straight run went on from it (cycle_gan: image pools and both random
// generators too), and test --epoch best translates with the best epoch's
// weights.
func TestResumeFromBestIsExact(t *testing.T) {
	cases := []struct {
		model   string
		dataset string
		nets    []string
		test    []string // test flags besides the run's
		scores  map[int]float64
		metric  string
		slow    bool
	}{
		{"pix2pix", "shapes2photos", []string{"G", "D"}, []string{"--model", "pix2pix"}, map[int]float64{1: 0.5, 2: 0.3, 3: 0.4}, "L1", false},
		// FID on a random Inception network: about 9 s an evaluation here.
		{"cycle_gan", "blobs2zebras", []string{"G_A", "G_B", "D_A", "D_B"}, []string{"--model", "cycle_gan", "--dataset_mode", "unaligned"},
			map[int]float64{1: 80, 2: 60, 3: 70}, "FID", true},
	}
	for _, c := range cases {
		t.Run(c.model, func(t *testing.T) {
			if c.slow && testing.Short() {
				t.Skip("-short: FID takes a while")
			}
			runtime.LockOSThread() // see TestResumeIsExact
			dir := t.TempDir()
			trainArgs := tinyArgs(t, c.model, dir, "--n_epochs", "1", "--n_epochs_decay", "2", "--save_epoch_freq", "1",
				"--eval_freq", "1", "--eval_phase", "test")
			if c.model == "cycle_gan" {
				trainArgs = append(trainArgs, "--inception", inceptionWeights(t))
			}
			args := func(extra ...string) []string { return append(append([]string{}, trainArgs...), extra...) }
			out, err := scriptedRun(t, args(), c.scores, nil)
			if err != nil {
				t.Fatal(err)
			}
			if line := fmt.Sprintf("epoch 2: %s %v is the best so far", c.metric, c.scores[2]); !strings.Contains(out, line) {
				t.Errorf("output lacks %q:\n%s", line, out)
			}
			straight := weights(t, dir, c.nets...)

			testImages := func(epoch string) map[string][]byte {
				t.Helper()
				res := filepath.Join(dir, "results")
				o, err := ParseOptions(false, append([]string{"--dataroot", datasets(t)[c.dataset],
					"--checkpoints_dir", dir, "--name", "run", "--results_dir", res, "--num_test", "all", "--epoch", epoch,
					"--crop_size", "32", "--load_size", "32"}, c.test...), io.Discard)
				if err != nil {
					t.Fatal(err)
				}
				if err := Test(o, io.Discard); err != nil {
					t.Fatal(err)
				}
				files, _ := filepath.Glob(filepath.Join(res, "run", "test_"+epoch, "images", "*_fake_B.png"))
				if len(files) == 0 {
					t.Fatalf("test --epoch %s wrote no fake_B images", epoch)
				}
				imgs := map[string][]byte{}
				for _, f := range files {
					imgs[filepath.Base(f)], _ = os.ReadFile(f)
				}
				return imgs
			}
			best, second, last := testImages("best"), testImages("2"), testImages("latest")
			same := func(a, b map[string][]byte) bool {
				for k, x := range a {
					if !bytes.Equal(x, b[k]) {
						return false
					}
				}
				return len(a) == len(b)
			}
			if !same(best, second) {
				t.Error("test --epoch best differs from test --epoch 2 (the best epoch)")
			}
			if same(best, last) {
				t.Error("test --epoch best gives the last epoch's images")
			}

			out, err = scriptedRun(t, args("--continue_train", "--epoch", "best"), c.scores, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "resuming from "+filepath.Join(dir, "run", "best_state.pth")+": epoch 3, batch 0") {
				t.Errorf("the run did not resume from best_state.pth at epoch 3:\n%s", out)
			}
			sameWeights(t, straight, weights(t, dir, c.nets...))
			if rec := readBest(t, dir); rec.Epoch != 2 {
				t.Errorf("best epoch %d after resuming from it, want 2 (epoch 3 is worse)", rec.Epoch)
			}
		})
	}
}

// In a data-parallel run rank 0 decides which epoch is the best and every
// rank saves its part of best_* (ranks > 0: their pools and random streams
// in best_state.rank<r>.pth), so that --continue_train --epoch best with
// the same number of processes continues exactly.
func TestDataParallelResumeFromBestIsExact(t *testing.T) {
	if !torch.DistAvailable("gloo") {
		t.Fatal("this build has no Gloo (install libgloo-dev and rebuild)")
	}
	t.Setenv("CYCLEPIX_DDP_SCORES", `{"1": 0.5, "2": 0.3, "3": 0.4}`)
	nets := []string{"G", "D"}
	dir := t.TempDir()
	args := func(extra ...string) []string {
		return append(bestArgs(t, dir, 3, 1, "--num_threads", "1"), extra...)
	}
	for _, err := range runRanks(t, 2, args(), 0) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if rec := readBest(t, dir); rec.Epoch != 2 {
		t.Fatalf("best epoch %d, want 2", rec.Epoch)
	}
	if e := stateEpoch(t, filepath.Join(dir, "run", "best_state.pth")); e != 3 {
		t.Errorf("best_state.pth continues at epoch %d, want 3", e)
	}
	if _, err := os.Stat(RankStatePath(filepath.Join(dir, "run"), BestLabel, 1)); err != nil {
		t.Error(err)
	}
	straight := weights(t, dir, nets...)
	for _, err := range runRanks(t, 2, args("--continue_train", "--epoch", "best"), 0) {
		if err != nil {
			t.Fatal(err)
		}
	}
	sameWeights(t, straight, weights(t, dir, nets...))
}
