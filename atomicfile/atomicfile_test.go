package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.txt")
	cases := []struct {
		name    string
		write   func(io.Writer) error
		want    string
		wantErr bool
	}{
		{"new", func(w io.Writer) error { _, err := io.WriteString(w, "one"); return err }, "one", false},
		{"replace", func(w io.Writer) error { _, err := io.WriteString(w, "two"); return err }, "two", false},
		{"failed write keeps the old file", func(w io.Writer) error { io.WriteString(w, "partial"); return errors.New("boom") }, "two", true},
	}
	for _, c := range cases {
		err := Write(p, c.write)
		if (err != nil) != c.wantErr {
			t.Fatalf("%s: error %v", c.name, err)
		}
		b, _ := os.ReadFile(p)
		if string(b) != c.want {
			t.Fatalf("%s: file holds %q, want %q", c.name, b, c.want)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x"), nil); err == nil {
		t.Fatal("writing into a missing folder succeeded")
	}
}
