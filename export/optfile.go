package export

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// ReadOptionsFile reads the options a run recorded (train_opt.txt or
// test_opt.txt, as options.Set.Text and the reference's print_options
// write them: "name: value\t[default: d]" lines between dashed rules) as
// name → value text, in file order.
func ReadOptionsFile(path string) (names []string, values map[string]string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	values = map[string]string{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "---") {
			continue
		}
		name, rest, ok := strings.Cut(text, ":")
		if !ok || strings.ContainsAny(strings.TrimSpace(name), " \t") {
			return nil, nil, fmt.Errorf("%s:%d: not a \"name: value\" line: %q", path, line, text)
		}
		if i := strings.Index(rest, "\t[default:"); i >= 0 {
			rest = rest[:i]
		}
		name = strings.TrimSpace(name)
		if _, dup := values[name]; !dup {
			names = append(names, name)
		}
		values[name] = strings.TrimSpace(rest)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	return names, values, nil
}
