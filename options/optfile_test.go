package options

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOptionsFileRoundTrip: what Save writes, ReadFile reads back, with
// the reference's format details (values with colons, default comments).
func TestOptionsFileRoundTrip(t *testing.T) {
	s := NewSet(true)
	s.Add("base", Def{Name: "dataroot", Default: ""}, Def{Name: "n_epochs", Default: 100}, Def{Name: "lr", Default: 0.0002},
		Def{Name: "no_flip", Default: false})
	if err := s.Parse("train", []string{"--dataroot", "./data/a:b", "--n_epochs", "7", "--no_flip"}, nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := s.Save(dir, "train"); err != nil {
		t.Fatal(err)
	}
	r, err := ReadFile(filepath.Join(dir, "train_opt.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"dataroot": "./data/a:b", "n_epochs": "7", "lr": "0.0002", "no_flip": "true"}
	for k, v := range want {
		if r.Values[k] != v {
			t.Errorf("%s = %q, want %q", k, r.Values[k], v)
		}
	}
	if strings.Join(r.Names, ",") != "dataroot,lr,n_epochs,no_flip" {
		t.Errorf("names %v", r.Names)
	}
	bad := filepath.Join(dir, "bad_opt.txt")
	os.WriteFile(bad, []byte("---\n  n_epochs: 3\nthis is not an option\n"), 0o644)
	if _, err := ReadFile(bad); err == nil || !strings.Contains(err.Error(), "bad_opt.txt:3: not a \"name: value\" line") {
		t.Errorf("malformed file: %v", err)
	}
}

// TestUsageShowsWhoChangedADefault: a default a model changed reads as
// that model's in --help, not as everyone's.
func TestUsageShowsWhoChangedADefault(t *testing.T) {
	s := NewSet(true)
	s.Add("base", Def{Name: "no_dropout", Default: false, Help: "no dropout"}, Def{Name: "ngf", Default: 64, Help: "filters"})
	before := s.Defaults()
	s.SetDefault("no_dropout", true)
	s.NoteDefaults("--model cycle_gan", before)
	var b strings.Builder
	s.Usage("translate", &b)
	out := b.String()
	for _, want := range []string{"Usage: cyclepix translate [options]", "no dropout (default with --model cycle_gan: true; otherwise false)", "filters (default: 64)"} {
		if !strings.Contains(out, want) {
			t.Errorf("usage lacks %q:\n%s", want, out)
		}
	}
}

// TestReadReferenceFile reads an options file as the reference writes it:
// padded names, empty values, values with colons.
func TestReadReferenceFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "train_opt.txt")
	text := "----------------- Options ---------------\n" +
		"               batch_size: 1                             \n" +
		"                     name: maps_pix2pix                  \t[default: experiment_name]\n" +
		"                   device: cuda:0                        \t[default: auto]\n" +
		"                   suffix:                               \n" +
		"----------------- End -------------------\n"
	os.WriteFile(path, []byte(text), 0o644)
	r, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(r.Names, ",") != "batch_size,name,device,suffix" || r.Values["name"] != "maps_pix2pix" ||
		r.Values["device"] != "cuda:0" || r.Values["suffix"] != "" || r.Values["batch_size"] != "1" {
		t.Fatalf("read %v %v", r.Names, r.Values)
	}
}

func TestDropFlag(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"--name a --x 1", "--x 1"},
		{"--x 1 -name=a --y", "--x 1 --y"},
		{"--names b --name", "--names b"},
		{"name --name_x 3", "name --name_x 3"},
	} {
		if got := strings.Join(DropFlag(strings.Fields(c.in), "name"), " "); got != c.want {
			t.Errorf("DropFlag(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// Switches take CUT's optional values ("--nce_idt False", str2bool's
// words), and Peek sees the raw command line before Parse.
func TestBoolValuesAndPeek(t *testing.T) {
	cases := []struct {
		args []string
		want bool
		err  string
	}{
		{[]string{"--flag"}, true, ""},
		{[]string{"--flag", "False"}, false, ""},
		{[]string{"--flag", "yes"}, true, ""},
		{[]string{"--flag=n"}, false, ""},
		{[]string{"--flag", "0", "--name", "x"}, false, ""},
		{[]string{"--flag", "maybe"}, true, `unexpected argument "maybe"`},
		{[]string{"--flag=maybe"}, false, "want true or false"},
	}
	for _, c := range cases {
		s := NewSet(true)
		s.Add("t", Def{Name: "flag", Default: false}, Def{Name: "name", Default: "n"}, Def{Name: "mode", Default: "CUT"})
		s.SetArgs(append([]string{"--mode=FastCUT"}, c.args...))
		if got := s.Peek("mode"); got != "FastCUT" {
			t.Errorf("Peek(mode) = %q before parsing", got)
		}
		if got := s.Peek("name"); got != "n" && !strings.Contains(strings.Join(c.args, " "), "--name") {
			t.Errorf("Peek(name) = %q, want the default", got)
		}
		err := s.Parse("t", c.args, io.Discard)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%v: error %v, want %q", c.args, err, c.err)
			}
			continue
		}
		if err != nil || s.Bool("flag") != c.want {
			t.Errorf("%v: flag %v, %v; want %v", c.args, s.Bool("flag"), err, c.want)
		}
	}
}
