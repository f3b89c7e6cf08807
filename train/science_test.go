package train

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"cyclepix/data"
	"cyclepix/data/raster"
	"cyclepix/internal/testsupport/sciencedata"
)

// scienceArgs are the options of a tiny scientific run: pix2pix from the
// 5-channel TIFFs to the 2-channel .npy files, A's range as percentiles
// resolved over the training split and B's declared; or a CycleGAN from
// 4 bands to RGB.
func scienceArgs(t *testing.T, kind, ckpt, dataroot string, extra ...string) []string {
	args := []string{"--checkpoints_dir", ckpt, "--name", "run", "--seed", "7", "--num_threads", "2",
		"--ngf", "4", "--ndf", "4", "--load_size", "36", "--crop_size", "32", "--print_freq", "2", "--display_freq", "4",
		"--dataroot", dataroot}
	switch kind {
	case "paired":
		args = append(args, "--model", "pix2pix", "--dataset_mode", "paired", "--netG", "unet_32", "--input_nc", "5",
			"--output_nc", "2", "--range_A", "p1:p99", "--range_B", "-1:3", "--batch_size", "2")
	case "bands":
		args = append(args, "--netG", "resnet_1blocks", "--input_nc", "4", "--output_nc", "3", "--range_A", "0:4095",
			"--lambda_identity", "0", "--pool_size", "3")
	}
	return append(args, extra...)
}

// Scientific runs resume exactly too: stopped mid-epoch and continued,
// they end with the weights of a straight run.
func TestScienceResumeIsExact(t *testing.T) {
	paired, bands := sciencedata.Write(t, t.TempDir())
	for _, c := range []struct {
		kind, root string
		nets       []string
	}{{"paired", paired, []string{"G", "D"}}, {"bands", bands, []string{"G_A", "G_B", "D_A", "D_B"}}} {
		t.Run(c.kind, func(t *testing.T) {
			runtime.LockOSThread()
			epochs := []string{"--n_epochs", "1", "--n_epochs_decay", "1"}
			straight := t.TempDir()
			if err := trainRun(t, scienceArgs(t, c.kind, straight, c.root, epochs...), nil); err != nil {
				t.Fatal(err)
			}
			resumed := t.TempDir()
			stop := &stopAfter{losses: 1}
			if err := trainRun(t, scienceArgs(t, c.kind, resumed, c.root, epochs...), stop); !errors.Is(err, ErrStopped) {
				t.Fatalf("first part: %v, want ErrStopped", err)
			}
			if err := trainRun(t, scienceArgs(t, c.kind, resumed, c.root, append(epochs, "--continue_train")...), nil); err != nil {
				t.Fatal(err)
			}
			sameWeights(t, weights(t, straight, c.nets...), weights(t, resumed, c.nets...))
		})
	}
}

// A paired 5-channel uint16 → 2-channel float run records its resolved
// ranges and file kinds, and test writes fake_B as 2-channel float32 .npy
// files on B's scale, with 8-bit previews on the page.
func TestScienceTrainAndTest(t *testing.T) {
	root := t.TempDir()
	paired, _ := sciencedata.Write(t, root)
	ckpt := t.TempDir()
	if err := trainRun(t, scienceArgs(t, "paired", ckpt, paired, "--n_epochs", "1", "--n_epochs_decay", "0",
		"--eval_freq", "1", "--eval_phase", "test"), nil); err != nil {
		t.Fatal(err)
	}
	// --eval_freq scores fake_B against real_B on B's scale, per channel,
	// and keeps the best epoch.
	mlog, err := os.ReadFile(filepath.Join(ckpt, "run", "metrics_log.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"l1: ", "psnr: ", "ssim: ", "pearson: ", "psnr[c1]: ", "ssim[c0]: "} {
		if !strings.Contains(string(mlog), want) {
			t.Errorf("metrics_log.txt lacks %q: %s", want, mlog)
		}
	}
	if _, err := os.Stat(filepath.Join(ckpt, "run", "best_net_G.pth")); err != nil {
		t.Errorf("no best_net_G.pth: %v", err)
	}
	// The training page's previews say which channels they show.
	web, _ := os.ReadFile(filepath.Join(ckpt, "run", "web", "index.html"))
	for _, want := range []string{"real_A (channels 0,1,2 of 5 as RGB)", "fake_B (channel 0 of 2, grey)"} {
		if !strings.Contains(string(web), want) {
			t.Errorf("web/index.html lacks %q", want)
		}
	}
	opt, err := os.ReadFile(filepath.Join(ckpt, "run", "train_opt.txt"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(opt)
	for _, want := range []string{"format_A: tif:uint16", "format_B: npy:float32", "range_B: -1:3"} {
		if !strings.Contains(text, want) {
			t.Errorf("train_opt.txt lacks %q:\n%s", want, text)
		}
	}
	// range_A p1:p99 is recorded as five resolved LO:HI pairs.
	var rangeA string
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "range_A:" {
			rangeA = f[1]
		}
	}
	rg, err := data.ParseRange("range_A", rangeA)
	if err != nil || rg.Kind != data.RangeValues || len(rg.Lo) != 5 {
		t.Fatalf("recorded range_A %q: %+v, %v", rangeA, rg, err)
	}
	for c := range rg.Lo {
		if !(rg.Lo[c] >= 100 && rg.Hi[c] <= 60000 && rg.Lo[c] < rg.Hi[c]) {
			t.Errorf("channel %d range %g:%g outside the data", c, rg.Lo[c], rg.Hi[c])
		}
	}
	o, err := ParseOptions(false, []string{"--dataroot", paired, "--dataset_mode", "paired", "--checkpoints_dir", ckpt,
		"--name", "run", "--results_dir", filepath.Join(root, "results"), "--phase", "test", "--num_test", "all", "--eval",
		"--preprocess", "crop", "--crop_size", "32"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := Test(o, io.Discard); err != nil {
		t.Fatal(err)
	}
	imgs := filepath.Join(root, "results", "run", "test_latest", "images")
	b, err := os.ReadFile(filepath.Join(imgs, "s1_fake_B.npy"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := raster.DecodeNPY(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.C != 2 || r.W != 32 || r.H != 32 || r.DType != raster.Float32 {
		t.Errorf("s1_fake_B.npy is %s, want 2×32×32 float32", r.Shape())
	}
	for _, v := range r.Data {
		if !(v >= -1 && v <= 3) {
			t.Fatalf("fake_B value %v outside range_B -1:3", v)
		}
	}
	for _, f := range []string{"s1_real_A.tif", "s1_real_B.npy", "s1_fake_B.png", "s1_real_A.png"} {
		if _, err := os.Stat(filepath.Join(imgs, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	notes, _ := os.ReadFile(filepath.Join(root, "results", "run", "test_latest", "previews.json"))
	if !strings.Contains(string(notes), `"real_A": "channels 0,1,2 of 5 as RGB"`) {
		t.Errorf("previews.json: %s", notes)
	}
	page, _ := os.ReadFile(filepath.Join(root, "results", "run", "test_latest", "index.html"))
	if !strings.Contains(string(page), "fake_B (s1_fake_B.npy; preview: channel 0 of 2, grey)") {
		t.Errorf("the page does not say which file and channels a preview shows:\n%s", page)
	}
}
