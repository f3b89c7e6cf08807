package cli_test

import (
	"strings"
	"testing"
)

// oneLineError checks that a command failed with exactly one line on
// stderr, nothing on stdout, and returns that line.
func oneLineError(t *testing.T, args ...string) string {
	t.Helper()
	stdout, stderr, code := cliRun(args...)
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
