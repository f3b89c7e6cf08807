package data

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestMakeDataset(t *testing.T) {
	dir := t.TempDir()
	files := []string{"b.png", "a.JPG", "sub/c.Jpeg", "sub/deeper/d.tiff", "e.TIF", "f.ppm", "g.BMP", "notes.txt", "h.gif", "sub/x.png.bak"}
	for _, f := range files {
		writeFile(t, filepath.Join(dir, f), []byte("x"))
	}
	if err := os.Symlink(dir, filepath.Join(dir, "sub", "loop")); err != nil {
		t.Fatal(err)
	}
	got, err := MakeDataset(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	var rel []string
	for _, p := range got {
		r, _ := filepath.Rel(dir, p)
		rel = append(rel, r)
	}
	want := []string{"a.JPG", "b.png", "e.TIF", "f.ppm", "g.BMP", "sub/c.Jpeg", "sub/deeper/d.tiff"}
	if !reflect.DeepEqual(rel, want) {
		t.Errorf("got %v\nwant %v", rel, want)
	}
	got, _ = MakeDataset(dir, 3)
	if len(got) != 3 || filepath.Base(got[2]) != "e.TIF" {
		t.Errorf("max 3: %v", got)
	}
	got, _ = MakeDataset(dir, 100)
	if len(got) != 7 {
		t.Errorf("max 100: %d files", len(got))
	}
}
