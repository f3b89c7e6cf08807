package options

import (
	"errors"
	"slices"
	"testing"
)

func TestSuggest(t *testing.T) {
	known := []string{"n_epochs", "n_epochs_decay", "lr", "lr_policy", "lambda_A", "lambda_B", "crop_size", "display_freq", "print_freq", "dataroot", "netG", "netD"}
	cases := []struct {
		name string
		want []string
	}{
		{"n_epoch", []string{"n_epochs"}},              // a letter missing
		{"n-epochs", []string{"n_epochs"}},             // kebab-case
		{"n_epcohs", []string{"n_epochs"}},             // swapped letters: one edit
		{"N_EPOCHS", []string{"n_epochs"}},             // case
		{"lambda_a", []string{"lambda_A"}},             // case of a mixed-case name
		{"lambda_C", []string{"lambda_A", "lambda_B"}}, // equally near: both
		{"crop_sizes", []string{"crop_size"}},
		{"dataroots", []string{"dataroot"}},
		{"n_epochs_d", []string{"n_epochs_decay"}}, // a unique abbreviation
		{"lt", []string{"lr"}},                     // short names: one edit
		{"lrxx_policyy", nil},                      // three edits: too far
		{"lx_y", nil},                              // two edits on a short name
		{"gpu", nil},
		{"frobnicate", nil},
		{"net", []string{"netD", "netG"}}, // an ambiguous prefix, one edit from both
		{"crop", []string{"crop_size"}},
	}
	for _, c := range cases {
		if got := Suggest(c.name, known); !slices.Equal(got, c.want) {
			t.Errorf("Suggest(%q) = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"abc", "", 3}, {"kitten", "sitting", 3}, {"ab", "ba", 1}, {"n_epoch", "n_epochs", 1}, {"ca", "abc", 3}} {
		if got := editDistance(c.a, c.b); got != c.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

// TestParseUnknownFlag goes through the flag package, so that a change of
// its error wording (which FlagError recognises) fails here.
func TestParseUnknownFlag(t *testing.T) {
	s := NewSet(true)
	s.Add("base", Def{Name: "n_epochs", Default: 100}, Def{Name: "dataroot", Default: ""})
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--n_epoch", "5"}, "unknown flag --n_epoch (did you mean --n_epochs?)"},
		{[]string{"-n-epochs=5"}, "unknown flag --n-epochs (did you mean --n_epochs?)"},
		{[]string{"--frobnicate"}, "unknown flag --frobnicate ('cyclepix train --help' lists the options)"},
		{[]string{"--dataroot"}, "--dataroot needs a value (--dataroot VALUE or --dataroot=VALUE)"},
	}
	for _, c := range cases {
		err := s.Parse("train", c.args, nil)
		if err == nil || err.Error() != c.want {
			t.Errorf("Parse(%q) = %v, want %q", c.args, err, c.want)
		}
	}
	var u *UnknownFlagError
	if err := s.Parse("train", []string{"--n_epoch", "5"}, nil); !errors.As(err, &u) || u.Name != "n_epoch" {
		t.Errorf("an unknown flag gives %T %v, want an *UnknownFlagError", err, err)
	}
}
