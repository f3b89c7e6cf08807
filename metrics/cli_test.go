package metrics_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/data"
	"cyclepix/internal/testsupport/clitest"
	"cyclepix/metrics"
	"cyclepix/nn"
	"cyclepix/torch"
)

// noisy draws a w×h RGB image: a gradient, a square and noise.
func noisy(rng *rand.Rand, w, h int, shift float64) *data.Image {
	m := &data.Image{W: w, H: h, C: 3, Pix: make([]uint8, w*h*3)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for c := 0; c < 3; c++ {
				v := 200*float64(x+y)/float64(w+h) + 20*float64(c) + shift + rng.NormFloat64()*12
				if x > w/3 && x < 2*w/3 && y > h/4 && y < h/2 {
					v = 255 - v
				}
				m.Pix[(y*w+x)*3+c] = uint8(min(max(v, 0), 255))
			}
		}
	}
	return m
}

func save(t *testing.T, path string, m *data.Image) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := data.SaveImage(path, m); err != nil {
		t.Fatal(err)
	}
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// `cyclepix eval` on folders and on a test result folder gives the
// numbers the package computes, pairs by name, and with Inception weights
// (random ones here) adds FID and KID.
func TestEvalCommand(t *testing.T) {
	torch.LockThread()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(21, 22))
	var real, fake []*data.Image
	for i, name := range []string{"a", "b", "c", "d"} {
		r, f := noisy(rng, 40, 32, 0), noisy(rng, 40, 32, float64(10*i))
		real, fake = append(real, r), append(fake, f)
		save(t, filepath.Join(dir, "real", name+".png"), r)
		save(t, filepath.Join(dir, "fake", name+".png"), f)
		save(t, filepath.Join(dir, "res", "images", name+"_real_B.png"), r)
		save(t, filepath.Join(dir, "res", "images", name+"_fake_B.png"), f)
		save(t, filepath.Join(dir, "res", "images", name+"_real_A.png"), f)
	}
	// An extra generated image without a counterpart joins FID/KID only.
	extra := noisy(rng, 40, 32, 5)
	save(t, filepath.Join(dir, "fake", "extra.png"), extra)
	// FID and KID on a smaller set: the network is slow on the CPU.
	for i, name := range []string{"a", "b"} {
		save(t, filepath.Join(dir, "real2", name+".png"), real[i])
		save(t, filepath.Join(dir, "fake2", name+".png"), fake[i])
	}
	save(t, filepath.Join(dir, "fake2", "extra.png"), extra)
	want, err := metrics.Paired(real, fake)
	if err != nil {
		t.Fatal(err)
	}
	want2, err := metrics.Paired(real[:2], fake[:2])
	if err != nil {
		t.Fatal(err)
	}

	// Random Inception weights: the numbers mean nothing, but they must
	// equal the package's on the same images.
	inc := metrics.NewInception()
	defer inc.Free()
	torch.ManualSeed(3)
	err = torch.Try(func() {
		for _, e := range nn.StateDict(inc) {
			if strings.HasSuffix(e.Name, "conv.weight") {
				s := e.Tensor.Shape()
				e.Tensor.Normal_(0, math.Sqrt(2/float64(s[1]*s[2]*s[3])))
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	weights := filepath.Join(dir, "inception.pth")
	if err := nn.SaveFile(inc, weights); err != nil {
		t.Fatal(err)
	}
	ev, err := metrics.NewEvaluator(metrics.EvaluatorOptions{InceptionPath: weights, KID: metrics.KIDOptions{Subsets: 10}})
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	// In the command's order: sorted by file name.
	full, err := ev.Evaluate(real[:2], []*data.Image{fake[0], fake[1], extra}, false)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		args   []string
		nFake  int
		pairs  int
		paired metrics.Scores
		fid    bool
	}{
		{"folders", []string{"--real", filepath.Join(dir, "real"), "--fake", filepath.Join(dir, "fake"), "--no_fid"}, 5, 4, want, false},
		{"results", []string{"--results", filepath.Join(dir, "res"), "--no_fid"}, 4, 4, want, false},
		{"folders with fid", []string{"--real", filepath.Join(dir, "real2"), "--fake", filepath.Join(dir, "fake2"),
			"--inception", weights, "--kid_subsets", "10", "--device", "cpu"}, 3, 2, want2, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			js := filepath.Join(t.TempDir(), "m.json")
			stdout, stderr, code := clitest.Run(append([]string{"eval", "--json", js}, c.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			t.Log("\n" + stdout)
			got := readJSON(t, js)
			w := c.paired
			if got["pairs"] != float64(c.pairs) || got["n_fake"] != float64(c.nFake) ||
				math.Abs(got["l1"].(float64)-w.L1) > 1e-12 || math.Abs(got["psnr"].(float64)-w.PSNR) > 1e-9 ||
				math.Abs(got["ssim"].(float64)-w.SSIM) > 1e-12 {
				t.Fatalf("eval wrote %v, package computes %+v", got, w)
			}
			if c.fid {
				if math.Abs(got["fid"].(float64)-*full.FID) > 1e-9*math.Abs(*full.FID) || math.Abs(got["kid"].(float64)-full.KID.Mean) > 1e-12 {
					t.Fatalf("FID %v KID %v, package computes %v %+v", got["fid"], got["kid"], *full.FID, *full.KID)
				}
			} else if _, ok := got["fid"]; ok {
				t.Fatal("FID computed with --no_fid")
			}
		})
	}
}

func TestEvalCommandErrors(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(23, 24))
	save(t, filepath.Join(dir, "real", "x.png"), noisy(rng, 20, 20, 0))
	save(t, filepath.Join(dir, "fake", "y.png"), noisy(rng, 20, 20, 0))
	save(t, filepath.Join(dir, "small", "x.png"), noisy(rng, 16, 20, 0))
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"nothing", nil, "give --real DIR and --fake DIR, or --results DIR"},
		{"no common names", []string{"--real", filepath.Join(dir, "real"), "--fake", filepath.Join(dir, "fake"), "--no_fid"}, "pass --unpaired"},
		{"size mismatch", []string{"--real", filepath.Join(dir, "real"), "--fake", filepath.Join(dir, "small"), "--no_fid"}, "sizes differ: 20x20 and 16x20"},
		{"missing folder", []string{"--real", filepath.Join(dir, "nope"), "--fake", filepath.Join(dir, "fake")}, "does not exist"},
		{"missing weights", []string{"--real", filepath.Join(dir, "real"), "--fake", filepath.Join(dir, "small"), "--unpaired",
			"--inception", filepath.Join(dir, "none.pth")}, metrics.InceptionURL},
		{"not a results folder", []string{"--results", filepath.Join(dir, "real")}, "need both"},
		{"both", []string{"--results", dir, "--real", dir}, "not both"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, code := clitest.Run(append([]string{"eval"}, c.args...)...)
			if code == 0 || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(lastLine(stderr)), "\n") > 0 {
				t.Fatalf("exit %d, stderr %q; want an error containing %q", code, stderr, c.want)
			}
		})
	}
	// Without weights anywhere, paired metrics are printed and FID/KID
	// skipped with a note on how to get them.
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	t.Setenv("CYCLEPIX_INCEPTION", "")
	t.Setenv("TORCH_HOME", "")
	stdout, stderr, code := clitest.Run("eval", "--real", filepath.Join(dir, "real"), "--fake", filepath.Join(dir, "real"))
	if code != 0 || !strings.Contains(stdout, "FID/KID skipped") || !strings.Contains(stdout, "--download_inception") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// lastLine drops progress-bar output before the error line.
func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexAny(s, "\n\r"); i >= 0 {
		return s[i+1:]
	}
	return s
}
