package cli_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/export"
	"cyclepix/internal/testsupport/clitest"
	"cyclepix/torch"
	"cyclepix/train"
)

// The best checkpoint of `train --eval_freq` is what `--epoch best` loads
// in test, translate, export and serve: the same images as the epoch
// best.json names, also once every other checkpoint of the run is gone.
func TestEpochBest(t *testing.T) {
	torch.LockThread()
	dir := t.TempDir()
	data, ck := filepath.Join(dir, "data"), filepath.Join(dir, "ck")
	datasetWriters["aligned"](t, data)
	stdout, stderr, code := clitest.Run(append([]string{"train", "--model", "pix2pix", "--dataroot", data, "--checkpoints_dir", ck, "--name", "run",
		"--seed", "5", "--n_epochs", "1", "--n_epochs_decay", "1", "--num_threads", "1", "--save_epoch_freq", "1",
		"--eval_freq", "1", "--eval_phase", "test"}, conformanceArch...)...)
	if code != 0 {
		t.Fatalf("train: %s", stderr)
	}
	rec, err := train.ReadBestRecord(filepath.Join(ck, "run"))
	if err != nil || rec == nil {
		t.Fatalf("best.json: %v %v", rec, err)
	}
	if line := fmt.Sprintf("epoch %d: L1 ", rec.Epoch); !strings.Contains(stdout, line) || !strings.Contains(stdout, "is the best so far") {
		t.Errorf("train output lacks %q… is the best so far:\n%s", line, stdout)
	}
	inRun := []string{"--checkpoints_dir", ck, "--name", "run"}
	img := filepath.Join(dir, "odd.png")
	writeImage(t, img, 37, 29, false)
	translate := func(epoch string) []byte {
		t.Helper()
		out := filepath.Join(dir, "translated_"+epoch)
		if _, stderr, code := clitest.Run(append([]string{"translate", img, "--output", out, "--epoch", epoch}, inRun...)...); code != 0 {
			t.Fatalf("translate --epoch %s: %s", epoch, stderr)
		}
		b, err := os.ReadFile(filepath.Join(out, "odd.png"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	want := translate(fmt.Sprint(rec.Epoch))

	// Only best_* left: whatever loads them cannot be reading another label.
	others, _ := filepath.Glob(filepath.Join(ck, "run", "*_net_*.pth"))
	for _, f := range others {
		if !strings.HasPrefix(filepath.Base(f), train.BestLabel+"_") {
			os.Remove(f)
		}
	}
	if got := translate("best"); !bytes.Equal(got, want) {
		t.Errorf("translate --epoch best differs from --epoch %d (the best epoch)", rec.Epoch)
	}
	res := filepath.Join(dir, "results")
	if _, stderr, code := clitest.Run(append([]string{"test", "--dataroot", data, "--results_dir", res, "--num_test", "all", "--epoch", "best"}, inRun...)...); code != 0 {
		t.Fatalf("test --epoch best: %s", stderr)
	}
	if pngs, _ := filepath.Glob(filepath.Join(res, "run", "test_best", "images", "*_fake_B.png")); len(pngs) != 3 {
		t.Errorf("test --epoch best wrote %d fake_B images, want 3", len(pngs))
	}
	bundle := filepath.Join(dir, "best"+export.BundleExt)
	if _, stderr, code := clitest.Run(append([]string{"export", "--format", "bundle", "--out", bundle, "--epoch", "best"}, inRun...)...); code != 0 {
		t.Fatalf("export --epoch best: %s", stderr)
	}
	fromBundle := filepath.Join(dir, "fromBundle")
	if _, stderr, code := clitest.Run("translate", "--bundle", bundle, img, "--output", fromBundle); code != 0 {
		t.Fatalf("translate --bundle: %s", stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(fromBundle, "odd.png")); !bytes.Equal(got, want) {
		t.Error("the bundle exported with --epoch best translates differently from the best epoch")
	}
	serveOne(t, append([]string{"--queue", "2", "--epoch", "best"}, inRun...), img, 37, 29)

	// Without best_*, --epoch best says which file it wanted.
	os.Remove(filepath.Join(ck, "run", "best_net_G.pth"))
	_, stderr, code = clitest.Run(append([]string{"translate", img, "--output", filepath.Join(dir, "none"), "--epoch", "best"}, inRun...)...)
	if code == 0 || !strings.Contains(stderr, "best_net_G.pth") || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
		t.Errorf("translate --epoch best without best_net_G.pth: exit %d, %q; want one line naming the file", code, stderr)
	}
}
