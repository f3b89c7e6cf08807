package options

import (
	"fmt"
	"os"
	"strings"
)

// A run's options file (<checkpoints_dir>/<name>/train_opt.txt or
// test_opt.txt) is written by Set.Text and Set.Save, in the reference's
// print_options format, and read back by ReadFile and ParseText: one
// "name: value\t[default: d]" line per option between dashed rules. The
// reference's own files read the same way.

// Recorded is the content of an options file: values as text, by name,
// and the names in file order.
type Recorded struct {
	Names  []string
	Values map[string]string
}

// ReadFile reads an options file. Errors name the file and the line.
func ReadFile(path string) (Recorded, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Recorded{}, err
	}
	r, err := ParseText(string(b))
	if err != nil {
		return Recorded{}, fmt.Errorf("%s%w", path, err)
	}
	return r, nil
}

// ParseText parses the text of an options file; errors start with
// ":<line>: " for the caller to prefix with the file's name.
func ParseText(text string) (Recorded, error) {
	r := Recorded{Values: map[string]string{}}
	for n, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "---") {
			continue
		}
		name, rest, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return Recorded{}, fmt.Errorf(":%d: not a \"name: value\" line: %q", n+1, line)
		}
		if i := strings.Index(rest, "\t[default:"); i >= 0 {
			rest = rest[:i]
		}
		if _, dup := r.Values[name]; !dup {
			r.Names = append(r.Names, name)
		}
		r.Values[name] = strings.TrimSpace(rest)
	}
	return r, nil
}
