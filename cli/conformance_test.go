package cli_test

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/png"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"cyclepix/export"
	"cyclepix/internal/testsupport"
	"cyclepix/internal/testsupport/clitest"
	"cyclepix/models"
	"cyclepix/nn"
	"cyclepix/torch"
	"cyclepix/train"
)

// conformanceArch keeps every model tiny: one residual block, 4 filters,
// 32-pixel images.
var conformanceArch = []string{"--netG", "resnet_1blocks", "--ngf", "4", "--ndf", "4", "--load_size", "32", "--crop_size", "32"}

// conformanceFlags replace conformanceArch for models whose architecture
// options differ (pix2pixhd's generators are global or local).
var conformanceFlags = map[string][]string{}

// datasetWriters write a tiny dataset of each dataset mode (train and
// test splits): what a model's default --dataset_mode reads.
var datasetWriters = map[string]func(t *testing.T, root string){
	"unaligned": func(t *testing.T, root string) {
		for _, d := range []string{"trainA", "trainB", "testA", "testB"} {
			for i := 0; i < 3; i++ {
				writeImage(t, filepath.Join(root, d, fmt.Sprintf("%d.png", i)), 32+4*i, 32, false)
			}
		}
	},
	"aligned": func(t *testing.T, root string) {
		for _, d := range []string{"train", "test"} {
			for i := 0; i < 3; i++ {
				writeImage(t, filepath.Join(root, d, fmt.Sprintf("%d.png", i)), 64, 32, false)
			}
		}
	},
	"single": func(t *testing.T, root string) {
		for i := 0; i < 3; i++ {
			writeImage(t, filepath.Join(root, fmt.Sprintf("%d.png", i)), 32, 32+4*i, false)
		}
	},
}

func init() {
	// Plain images in <dataroot>/<phase>.
	datasetWriters["colorization"] = func(t *testing.T, root string) {
		for _, d := range []string{"train", "test"} {
			datasetWriters["single"](t, filepath.Join(root, d))
		}
	}
	datasetWriters["template"] = datasetWriters["colorization"]
}

// epochStop stops a training run at the end of its first epoch, as Ctrl-C
// there would.
type epochStop struct {
	stop chan struct{}
	once sync.Once
}

func (s *epochStop) Losses(train.LossEvent)              {}
func (s *epochStop) Visuals(int, int, []train.NamedFile) {}
func (s *epochStop) EpochEnd(epoch int, _, _ float64)    { s.once.Do(func() { close(s.stop) }) }
func (s *epochStop) config() train.Config {
	return train.Config{Out: io.Discard, Stop: s.stop, Observers: []train.Observer{s}}
}
func newEpochStop() *epochStop { return &epochStop{stop: make(chan struct{})} }

// TestEveryModelThroughEveryCommand walks the model registry: for each
// model, on tiny data of its default dataset mode, it trains two epochs
// straight and again stopped after the first and resumed with
// --continue_train (the weights must be bit-identical), then runs test,
// translates an image of odd size, exports ONNX and a bundle and loads
// the bundle back, and serves one request. Inference-only models get
// random weights instead of training. A model added to the registry is
// covered without editing this test.
func TestEveryModelThroughEveryCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	for _, name := range models.Names() {
		t.Run(name, func(t *testing.T) {
			// Bit-exact resumes need libtorch's per-thread state to stay
			// put (see torch.LockThread).
			torch.LockThread()
			conformance(t, name)
		})
	}
}

func conformance(t *testing.T, name string) {
	def, err := models.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ck := filepath.Join(dir, "ck")
	probe, err := models.Build(models.Command{Name: "test", Train: !def.InferenceOnly, Dataset: true},
		[]string{"--model", name, "--dataroot", "x"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	mode := probe.String("dataset_mode")
	write, ok := datasetWriters[mode]
	if !ok {
		t.Fatalf("no tiny dataset for --dataset_mode %s (add a writer to datasetWriters)", mode)
	}
	data := filepath.Join(dir, "data")
	write(t, data)

	arch := conformanceArch
	if f, ok := conformanceFlags[name]; ok {
		arch = f
	}
	// A model whose generator reads label maps gets a label map to
	// translate (class ids below every tiny dataset's class count).
	labels := false
	if gens, err := def.Generators(probe.Set); err == nil && len(gens) > 0 && gens[0].Colour == models.ColourLabels && gens[0].Labels.LabelNC > 0 {
		labels = true
	}
	run := "straight"
	var flags []string // what inference needs besides --name: nothing once a run recorded its options
	if def.InferenceOnly {
		run = "weights"
		flags = append([]string{"--model", name}, arch...)
		saveRandomModel(t, append([]string{"--checkpoints_dir", ck, "--name", run}, flags...))
	} else {
		trainArgs := func(run string, extra ...string) []string {
			return append(append([]string{"--model", name, "--dataroot", data, "--checkpoints_dir", ck, "--name", run, "--seed", "5",
				"--n_epochs", "1", "--n_epochs_decay", "1", "--num_threads", "1", "--print_freq", "2", "--display_freq", "2"},
				arch...), extra...)
		}
		trainOnce(t, trainArgs("straight"), train.Config{Out: io.Discard}, nil)
		trainOnce(t, trainArgs("resumed"), newEpochStop().config(), train.ErrStopped)
		trainOnce(t, trainArgs("resumed", "--continue_train"), train.Config{Out: io.Discard}, nil)
		sameCheckpoints(t, filepath.Join(ck, "straight"), filepath.Join(ck, "resumed"))
	}
	inRun := append([]string{"--checkpoints_dir", ck, "--name", run}, flags...)

	// test writes a results page.
	res := filepath.Join(dir, "results")
	if _, stderr, code := clitest.Run(append([]string{"test", "--dataroot", data, "--results_dir", res, "--num_test", "all"}, inRun...)...); code != 0 {
		t.Fatalf("test: %s", stderr)
	}
	if pngs, _ := filepath.Glob(filepath.Join(res, run, "test_latest", "images", "*.png")); len(pngs) == 0 {
		t.Errorf("test wrote no images under %s", res)
	}

	// translate keeps an odd size.
	img := filepath.Join(dir, "odd.png")
	if labels {
		writeLabelMap(t, img, 37, 29, 0)
	} else {
		writeImage(t, img, 37, 29, false)
	}
	out := filepath.Join(dir, "translated")
	if _, stderr, code := clitest.Run(append([]string{"translate", img, "--output", out}, inRun...)...); code != 0 {
		t.Fatalf("translate: %s", stderr)
	}
	if w, h, _ := imageSize(t, filepath.Join(out, "odd.png")); w != 37 || h != 29 {
		t.Errorf("translated image is %dx%d, want 37x29", w, h)
	}

	// export: ONNX passes the onnx checker where it is installed, and the
	// bundle translates exactly as the checkpoint.
	onnxFile, bundle := filepath.Join(dir, "g.onnx"), filepath.Join(dir, "g"+export.BundleExt)
	for _, f := range []struct{ format, path string }{{"onnx", onnxFile}, {"bundle", bundle}} {
		if _, stderr, code := clitest.Run(append([]string{"export", "--format", f.format, "--out", f.path}, inRun...)...); code != 0 {
			t.Fatalf("export %s: %s", f.format, stderr)
		}
	}
	if testsupport.HavePython("onnx") {
		if b, err := exec.Command(testsupport.Python, "../export/testdata/onnx_check.py", onnxFile).CombinedOutput(); err != nil {
			t.Errorf("onnx checker: %v\n%s", err, b)
		}
	}
	fromBundle := filepath.Join(dir, "fromBundle")
	if _, stderr, code := clitest.Run("translate", "--bundle", bundle, img, "--output", fromBundle); code != 0 {
		t.Fatalf("translate --bundle: %s", stderr)
	}
	a, _ := os.ReadFile(filepath.Join(out, "odd.png"))
	b, _ := os.ReadFile(filepath.Join(fromBundle, "odd.png"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Error("the exported bundle translates differently from the checkpoint")
	}

	// serve answers one request with an image of the input's size.
	serveOne(t, append([]string{"--queue", "2"}, inRun...), img, 37, 29)
}

func trainOnce(t *testing.T, args []string, cfg train.Config, want error) {
	t.Helper()
	o, err := train.ParseOptions(true, args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := train.Train(o, cfg); !errors.Is(err, want) && err != want {
		t.Fatalf("train %v: %v, want %v", args, err, want)
	}
}

// saveRandomModel writes the networks of an inference-only model, built
// from args, with the weights it was initialised with.
func saveRandomModel(t *testing.T, args []string) {
	t.Helper()
	o, err := models.BuildOptions(false, args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	def, _ := models.Lookup(o.String("model"))
	err = torch.TryErr(func() error {
		defer torch.NewScope().Close()
		m, err := def.New(o, models.Env{Device: torch.CPU, Rng: rand.New(rand.NewPCG(1, 2))})
		if err != nil {
			return err
		}
		return m.Base().SaveNetworks(filepath.Join(o.String("checkpoints_dir"), o.String("name")), "latest")
	})
	if err != nil {
		t.Fatal(err)
	}
}

// sameCheckpoints fails unless every latest_net_*.pth of a has the same
// tensors, bit for bit, in b.
func sameCheckpoints(t *testing.T, a, b string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(a, "latest_net_*.pth"))
	if len(files) == 0 {
		t.Fatalf("no checkpoints in %s", a)
	}
	for _, fa := range files {
		fb := filepath.Join(b, filepath.Base(fa))
		sa, keys, err := nn.ReadStateDict(fa)
		if err != nil {
			t.Fatal(err)
		}
		sb, _, err := nn.ReadStateDict(fb)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			x, y := sa[k].To(torch.Float32).Float32s(), sb[k]
			if y == nil {
				t.Fatalf("%s lacks %s", fb, k)
			}
			yv := y.To(torch.Float32).Float32s()
			for i := range x {
				if x[i] != yv[i] {
					t.Fatalf("%s %s[%d]: %v straight, %v resumed", filepath.Base(fa), k, i, x[i], yv[i])
				}
			}
		}
		nn.FreeAll(sa)
		nn.FreeAll(sb)
	}
}

// serveOne starts `cyclepix serve` with its flags, posts img and checks
// that the answer is a w×h image, then stops the server as Ctrl-C does.
func serveOne(t *testing.T, flags []string, img string, w, h int) {
	t.Helper()
	url, stop := startServe(t, flags...)
	defer stop()
	body, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url+"/v1/translate", "image/png", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := image.Decode(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("serve: %d %v", resp.StatusCode, err)
	} else if m.Bounds().Dx() != w || m.Bounds().Dy() != h {
		t.Errorf("serve answered %v, want %dx%d", m.Bounds(), w, h)
	}
}
