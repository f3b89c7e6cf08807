package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"cyclepix/internal/testsupport/clitest"
)

// oneLineError checks that a command failed with exactly one line on
// stderr, nothing on stdout, and returns that line.
func oneLineError(t *testing.T, args ...string) string {
	t.Helper()
	stdout, stderr, code := clitest.Run(args...)
	if code == 0 {
		t.Fatalf("%q succeeded; stdout %q", args, stdout)
	}
	if stdout != "" {
		t.Errorf("%q printed to stdout before failing: %q", args, stdout)
	}
	if n := strings.Count(stderr, "\n"); n != 1 || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("%q: stderr has %d lines, want one: %q", args, n, stderr)
	}
	return strings.TrimSuffix(stderr, "\n")
}

// TestUnknownFlagSuggestions: a typo'd flag is one line naming the
// nearest known flag of that command; a flag far from every known one
// gets no guess.
func TestUnknownFlagSuggestions(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"missing letter", []string{"train", "--n_epoch", "5"}, "cyclepix train: unknown flag --n_epoch (did you mean --n_epochs?)"},
		{"dashes", []string{"train", "--n-epochs", "5"}, "cyclepix train: unknown flag --n-epochs (did you mean --n_epochs?)"},
		{"abbreviation", []string{"train", "--n_epochs_d", "5"}, "cyclepix train: unknown flag --n_epochs_d (did you mean --n_epochs_decay?)"},
		{"model option", []string{"train", "--model", "cycle_gan", "--lambda_a", "5"}, "cyclepix train: unknown flag --lambda_a (did you mean --lambda_A?)"},
		{"dataset mode option", []string{"train", "--dataset_mode", "template", "--new_dataset_optoin", "3"},
			"cyclepix train: unknown flag --new_dataset_optoin (did you mean --new_dataset_option?)"},
		{"test's flags", []string{"test", "--num_tests", "5"}, "cyclepix test: unknown flag --num_tests (did you mean --num_test?)"},
		{"far from all", []string{"train", "--frobnicate", "5"}, "cyclepix train: unknown flag --frobnicate ('cyclepix train --help' lists the options)"},
		{"another model's", []string{"train", "--model", "cycle_gan", "--lambda_L1", "5"}, "cyclepix train: unknown flag --lambda_L1: it is an option of --model colorization, --model pix2pix"},
		{"translate", []string{"translate", "--inptu", "x.png"}, "cyclepix translate: unknown flag --inptu (did you mean --input?)"},
		{"eval", []string{"eval", "--unpaird"}, "cyclepix eval: unknown flag --unpaird (did you mean --unpaired?)"},
		{"data combine", []string{"data", "combine", "--fold-A", "a"}, "cyclepix data: unknown flag --fold-A (did you mean --fold_A?)"},
		{"version, far", []string{"version", "--verbose"}, "cyclepix version: unknown flag --verbose ('cyclepix version --help' lists the options)"},
		{"no value", []string{"train", "--dataroot"}, "cyclepix train: --dataroot needs a value (--dataroot VALUE or --dataroot=VALUE)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := oneLineError(t, c.args...); got != c.want {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

// TestDatasetErrorsComeFirst: a wrong dataset is the first and only line
// train and test print, before any option listing or network summary,
// and nothing is written to the run's folder.
func TestDatasetErrorsComeFirst(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	datasetWriters["unaligned"](t, good)
	noB := filepath.Join(dir, "noB")
	writeImage(t, filepath.Join(noB, "trainA", "0.png"), 32, 32, false)
	corrupt := filepath.Join(dir, "corrupt")
	writeImage(t, filepath.Join(corrupt, "trainA", "0.png"), 32, 32, false)
	if err := os.MkdirAll(filepath.Join(corrupt, "trainB"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(corrupt, "trainB", "0.png"), []byte("not really a PNG"), 0o644); err != nil {
		t.Fatal(err)
	}
	onlyTrain := filepath.Join(dir, "onlyTrain")
	for _, d := range []string{"trainA", "trainB"} {
		writeImage(t, filepath.Join(onlyTrain, d, "0.png"), 32, 32, false)
	}
	ck := filepath.Join(dir, "ck")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no such dataroot", []string{"train", "--dataroot", filepath.Join(dir, "nope")},
			"cyclepix train: --dataroot DIR/nope: no such folder (check the path; 'cyclepix data download NAME' or 'cyclepix data builtin NAME --out DIR/nope' makes a dataset)"},
		{"no trainB", []string{"train", "--dataroot", noB},
			"cyclepix train: --dataroot DIR/noB: no trainB folder (an unaligned dataset needs trainA and trainB; it has only trainA)"},
		{"unreadable first image", []string{"train", "--dataroot", corrupt},
			"cyclepix train: DIR/corrupt/trainB/0.png: the first image of trainB does not decode (not a PNG, JPEG, BMP, TIFF or PPM file): replace or remove it"},
		{"pix2pix on unaligned folders", []string{"train", "--model", "pix2pix", "--dataroot", good},
			"cyclepix train: --dataroot DIR/good: no train folder (an aligned dataset needs train with A|B pairs side by side; it has trainA and trainB: did you mean --dataset_mode unaligned?)"},
		{"dataroot one level too deep", []string{"train", "--dataroot", filepath.Join(good, "trainA")},
			"cyclepix train: --dataroot DIR/good/trainA: no trainA folder (an unaligned dataset needs trainA and trainB; did you mean --dataroot DIR/good?)"},
		{"before starting ranks", []string{"train", "--nproc", "2", "--dataroot", noB},
			"cyclepix train: --dataroot DIR/noB: no trainB folder (an unaligned dataset needs trainA and trainB; it has only trainA)"},
		{"test split missing", []string{"test", "--model", "cycle_gan", "--dataset_mode", "unaligned", "--dataroot", onlyTrain},
			"cyclepix test: --dataroot DIR/onlyTrain: no testA folder (an unaligned dataset needs testA and testB; it has trainA, trainB: check --phase test and --dataset_mode unaligned)"},
		{"no dataroot", []string{"train"}, "cyclepix train: --dataroot is required (the folder with your images)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append(c.args, "--checkpoints_dir", ck, "--name", "run")
			if got, want := oneLineError(t, args...), strings.ReplaceAll(c.want, "DIR", dir); got != want {
				t.Errorf("got  %q\nwant %q", got, want)
			}
			if _, err := os.Stat(filepath.Join(ck, "run")); err == nil {
				t.Error("the run's folder was created before the dataset was checked")
			}
		})
	}
}

// TestTrainWarningsAndETA trains tiny runs end to end: options that are
// legal but unusual for the model and data give one warning line each on
// stderr (and the run goes on); a plain run gives none, and prints its
// ETA after the first iterations and at the end of each epoch but the last.
func TestTrainWarningsAndETA(t *testing.T) {
	dir := t.TempDir()
	unaligned := filepath.Join(dir, "unaligned")
	datasetWriters["unaligned"](t, unaligned) // 3 images per folder
	common := append([]string{"--checkpoints_dir", filepath.Join(dir, "ck"), "--num_threads", "1", "--seed", "3"}, conformanceArch...)
	cases := []struct {
		name     string
		args     []string
		warnings []string // substrings, one per warning line, in order
	}{
		{"plain", []string{"--name", "plain", "--dataroot", unaligned, "--n_epochs", "1", "--n_epochs_decay", "1"}, nil},
		{"pix2pix on unaligned data, batch larger than the data", []string{"--name", "p2p", "--model", "pix2pix", "--dataset_mode", "unaligned", "--dataroot", unaligned,
			"--batch_size", "4", "--n_epochs", "1", "--n_epochs_decay", "0"}, []string{
			`level=WARN msg="--model pix2pix learns from paired images, but --dataroot ` + unaligned + ` looks unaligned (trainA and trainB, no train/): each A is paired with an unrelated B;`,
			`level=WARN msg="--batch_size 4 is more than the 3 images of --dataroot ` + unaligned + `: every epoch is one batch of 3;`,
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, code := clitest.Run(append(append([]string{"train"}, common...), c.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if stderr == "" {
				lines = nil
			}
			if len(lines) != len(c.warnings) {
				t.Fatalf("stderr has %d lines, want %d warnings: %q", len(lines), len(c.warnings), stderr)
			}
			for i, w := range c.warnings {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("warning %d is %q\nwant it to start %q", i, lines[i], w)
				}
			}
			if c.name != "plain" {
				return
			}
			// 2 epochs of 3 iterations: the early estimate comes after the
			// fifth, and epoch 1's line has one; the last epoch's has none.
			if !regexp.MustCompile(`(?m)^eta \d+s: 1 iterations left at [0-9.e+-]+ s each$`).MatchString(stdout) {
				t.Errorf("no early eta line in:\n%s", stdout)
			}
			if !regexp.MustCompile(`(?m)^End of epoch 1 / 2 \t Time Taken: \d+ sec \t eta \d+s$`).MatchString(stdout) {
				t.Errorf("no eta in epoch 1's line:\n%s", stdout)
			}
			if !regexp.MustCompile(`(?m)^End of epoch 2 / 2 \t Time Taken: \d+ sec$`).MatchString(stdout) {
				t.Errorf("epoch 2's line should have no eta:\n%s", stdout)
			}
		})
	}
}
