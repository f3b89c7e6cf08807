package options

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// UnknownFlagError is a flag no option of the command defines, with the
// known flags that look like a typo of it.
type UnknownFlagError struct {
	Cmd  string // the command, for the --help hint ("train")
	Name string // as given, without dashes
	// Suggestions are the nearest known flags (several only when equally
	// near); empty when none is near enough to be a plausible typo.
	Suggestions []string
	// Owner, when set, says which choice would define it ("--model
	// pix2pix"): the flag exists, only not with this command line. It
	// takes the place of Suggestions in the message.
	Owner string
}

func (e *UnknownFlagError) Error() string {
	switch {
	case e.Owner != "":
		// Known elsewhere by exactly this name: more telling than a guess.
		return fmt.Sprintf("unknown flag --%s: it is an option of %s", e.Name, e.Owner)
	case len(e.Suggestions) > 0:
		return fmt.Sprintf("unknown flag --%s (did you mean --%s?)", e.Name, strings.Join(e.Suggestions, " or --"))
	case e.Cmd != "":
		return fmt.Sprintf("unknown flag --%s ('cyclepix %s --help' lists the options)", e.Name, e.Cmd)
	}
	return fmt.Sprintf("unknown flag --%s", e.Name)
}

// FlagError rewrites the flag package's parse errors for cmd, whose
// flags are known: an undefined flag becomes an *UnknownFlagError with the
// nearest known names, a flag without its value says so in one line.
// Other errors (and nil) are returned as they are.
func FlagError(cmd string, err error, known []string) error {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	msg := err.Error()
	// The flag package has no typed errors; these two messages have been
	// its wording since Go 1 (the tests of package options and cli fail
	// if that changes).
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return &UnknownFlagError{Cmd: cmd, Name: name, Suggestions: Suggest(name, known)}
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return fmt.Errorf("--%s needs a value (--%s VALUE or --%s=VALUE)", name, name, name)
	}
	return err
}

// FlagNames lists the flags a flag set defines.
func FlagNames(fs *flag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return names
}

// FlagUsage prints a plain flag set's flags as Set.Usage prints options:
// "Usage: cyclepix <name> [options]", then each --flag with its value's
// type, its help and its default.
func FlagUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: cyclepix %s [options]\n\n%s options:\n", fs.Name(), fs.Name())
	fs.VisitAll(func(f *flag.Flag) {
		arg := ""
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
			arg, _ = flag.UnquoteUsage(f)
			arg = " " + strings.ToUpper(arg)
		}
		def := f.DefValue
		if def == "" {
			def = `""`
		}
		_, help := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s%s\n    \t%s (default: %s)\n", f.Name, arg, help, def)
	})
}

// Names lists the options the set defines.
func (s *Set) Names() []string {
	names := make([]string, 0, len(s.defs)+len(s.alias))
	for _, d := range s.defs {
		names = append(names, d.Name)
		names = append(names, d.aliases...)
	}
	return names
}

// Suggest returns the known names that name is most plausibly a typo of:
// those at the smallest edit distance (Damerau-Levenshtein, ignoring case
// and taking '-' for '_', since the reference's flags are snake_case and
// other tools' are kebab-case), when that distance is small for name's
// length (at most 2, and at most a third of its length but at least 1:
// "n_epoch" becomes "n_epochs", while a short name may be off by one
// character only). A name that starts only one known name suggests that
// one, as argparse would have expanded the abbreviation ("n_epochs_d" is
// --n_epochs_decay, not --n_epochs). Sorted; nil when nothing is close.
func Suggest(name string, known []string) []string {
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "-", "_")) }
	n := norm(name)
	if len(n) >= 3 {
		var prefixed []string
		for _, k := range known {
			if strings.HasPrefix(norm(k), n) {
				prefixed = append(prefixed, k)
			}
		}
		if len(prefixed) == 1 {
			return prefixed
		}
	}
	limit := min(2, max(1, len([]rune(n))/3))
	best, out := limit+1, []string(nil)
	for _, k := range known {
		d := editDistance(n, norm(k))
		switch {
		case d > limit:
		case d < best:
			best, out = d, []string{k}
		case d == best:
			out = append(out, k)
		}
	}
	sort.Strings(out)
	if len(out) > 3 {
		out = nil // so many equally near names that none is a likely typo
	}
	return out
}

// editDistance is the optimal-string-alignment Damerau-Levenshtein
// distance: insertions, deletions, substitutions and transpositions of
// adjacent characters each cost 1 (a swapped pair is the commonest typo).
func editDistance(a, b string) int {
	x, y := []rune(a), []rune(b)
	// d[i][j] is the distance between x[:i] and y[:j].
	d := make([][]int, len(x)+1)
	for i := range d {
		d[i] = make([]int, len(y)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(x); i++ {
		for j := 1; j <= len(y); j++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && x[i-1] == y[j-2] && x[i-2] == y[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(x)][len(y)]
}
