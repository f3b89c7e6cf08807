package builtin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"cyclepix/data"
	"cyclepix/data/raster"
)

// digest hashes every file under dir, by relative path.
func digest(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil // a second name for a folder of files digested under the first
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = sha256.Sum256(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGenerateDeterministicAndLoadable(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			o := Options{Size: 32, NumTrain: 6, NumTest: 2, Seed: 9}
			d1, d2 := t.TempDir(), t.TempDir()
			var bar bytes.Buffer
			o.Progress = &bar
			rep, err := Generate(context.Background(), name, d1, o)
			if err != nil {
				t.Fatal(err)
			}
			o.Progress = nil
			if _, err := Generate(context.Background(), name, d2, o); err != nil {
				t.Fatal(err)
			}
			h1, h2 := digest(t, d1), digest(t, d2)
			if len(h1) != rep.Images || len(h1) != len(h2) {
				t.Fatalf("%d and %d files, report says %d", len(h1), len(h2), rep.Images)
			}
			for k, v := range h1 {
				if h2[k] != v {
					t.Errorf("%s differs between two runs with one seed", k)
				}
			}
			if bar.Len() == 0 {
				t.Error("no progress output")
			}
			o.Seed = 10
			d3 := t.TempDir()
			Generate(context.Background(), name, d3, o)
			same := 0
			for k, v := range digest(t, d3) {
				if h1[k] == v {
					same++
				}
			}
			if same > 0 {
				t.Errorf("%d files identical under another seed", same)
			}

			// The dataset mode it is meant for reads it, with the flags
			// the report gives, as images of the channel counts they say.
			do := trainOptions(t, d1, rep)
			l, err := data.Create(do, 1)
			if err != nil {
				t.Fatal(err)
			}
			if l.Len() != 6 {
				t.Errorf("train has %d samples, want 6", l.Len())
			}
			e := l.Epoch(context.Background(), 0)
			defer e.Close()
			b, err := e.Next()
			if err != nil {
				t.Fatal(err)
			}
			sides := map[string]int{"A": do.InputNC, "B": do.OutputNC}
			if n := do.Extra["label_nc"]; n != "" && n != "0" {
				sides["A"] = 1 // class-id maps load as one channel of ids
			}
			for side, nc := range sides {
				if got, want := fmt.Sprint(b.Arrays[side].Shape), fmt.Sprint([]int{1, nc, 32, 32}); got != want {
					t.Errorf("%s is %s, want %s", side, got, want)
				}
			}
		})
	}
}

// trainOptions are the data options `cyclepix train` would have with
// --dataroot dir --dataset_mode rep.Mode rep.Flags…, loading at 36 and
// cropping to 32.
func trainOptions(t *testing.T, dir string, rep Report) data.Options {
	t.Helper()
	m := map[string]any{"dataroot": dir, "dataset_mode": rep.Mode, "load_size": 36, "crop_size": 32}
	if len(rep.Flags)%2 != 0 {
		t.Fatalf("flags %q are not name-value pairs", rep.Flags)
	}
	for i := 0; i < len(rep.Flags); i += 2 {
		k, ok := strings.CutPrefix(rep.Flags[i], "--")
		if !ok {
			t.Fatalf("flag %q", rep.Flags[i])
		}
		if k == "model" {
			continue // the model to train, not a data option
		}
		if n, err := strconv.Atoi(rep.Flags[i+1]); err == nil {
			m[k] = n
		} else {
			m[k] = rep.Flags[i+1]
		}
	}
	o, err := data.OptionsFromMap(m)
	if err != nil {
		t.Fatal(err)
	}
	// Flags the dataset mode adds (pix2pixhd's --label_nc) reach it in
	// Extra.
	mode, _ := data.LookupMode(rep.Mode)
	declared := map[string]bool{}
	for _, f := range mode.Flags {
		declared[f.Name] = true
	}
	for k := range o.Extra {
		if !declared[k] {
			t.Errorf("flag --%s of the report is no data option", k)
		}
	}
	return o
}

func TestGenerateContent(t *testing.T) {
	dir := t.TempDir()
	if _, err := Generate(context.Background(), "shapes2photos", dir, Options{Size: 64, NumTrain: 3, NumTest: 1}); err != nil {
		t.Fatal(err)
	}
	m, err := data.LoadImage(filepath.Join(dir, "val", "0000.png"))
	if err != nil {
		t.Fatal(err)
	}
	if m.W != 128 || m.H != 64 {
		t.Fatalf("pair is %dx%d, want 128x64", m.W, m.H)
	}
	// The left half uses only the label palette.
	for y := 0; y < 64; y++ {
		for x := 0; x < 64; x++ {
			p := m.Pix[(y*128+x)*3:]
			ok := false
			for _, c := range labelColour {
				ok = ok || (p[0] == c[0] && p[1] == c[1] && p[2] == c[2])
			}
			if !ok {
				t.Fatalf("label pixel (%d,%d) = %v is not a class colour", x, y, p[:3])
			}
		}
	}
	dir = t.TempDir()
	if _, err := Generate(context.Background(), "blobs2zebras", dir, Options{Size: 64, NumTrain: 4, NumTest: 1}); err != nil {
		t.Fatal(err)
	}
	// Zebras are mostly black and white inside; blobs are colourful.
	sat := func(path string) float64 {
		m, err := data.LoadImage(path)
		if err != nil {
			t.Fatal(err)
		}
		s := 0.0
		for i := 0; i < len(m.Pix); i += 3 {
			hi := max(m.Pix[i], m.Pix[i+1], m.Pix[i+2])
			lo := min(m.Pix[i], m.Pix[i+1], m.Pix[i+2])
			s += float64(hi - lo)
		}
		return s / float64(len(m.Pix)/3)
	}
	a, b := 0.0, 0.0
	for _, n := range []string{"0000.png", "0001.png", "0002.png", "0003.png"} {
		a += sat(filepath.Join(dir, "trainA", n))
		b += sat(filepath.Join(dir, "trainB", n))
	}
	if a <= b {
		t.Errorf("blobs (chroma %.1f) should be more colourful than zebras (%.1f)", a/4, b/4)
	}
}

func TestGenerateDefaultsFast(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 700 images")
	}
	start := time.Now()
	for _, name := range Names() {
		if _, err := Generate(context.Background(), name, filepath.Join(t.TempDir(), name), Options{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("default built-in datasets in %v", time.Since(start))
}

func TestGenerateErrors(t *testing.T) {
	_, err := Generate(context.Background(), "mnist", t.TempDir(), Options{})
	if err == nil || !strings.Contains(err.Error(), `unknown built-in dataset "mnist" (choose from blobs2zebras, fluo2he, labels2scenes, shapes2photos)`) {
		t.Errorf("unknown name: %v", err)
	}
	_, err = Generate(context.Background(), "blobs2zebras", t.TempDir(), Options{Size: 8})
	if err == nil || !strings.Contains(err.Error(), "size 8") {
		t.Errorf("tiny size: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Generate(ctx, "blobs2zebras", t.TempDir(), Options{}); err == nil {
		t.Error("cancelled generation succeeded")
	}
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o644)
	if _, err := Generate(context.Background(), "blobs2zebras", file, Options{}); err == nil {
		t.Error("generation into a file succeeded")
	}
}

func TestDrawMatchesGenerate(t *testing.T) {
	cases := []struct {
		name, folder string
		i            int
	}{{"blobs2zebras", "trainA", 0}, {"blobs2zebras", "trainB", 2}, {"blobs2zebras", "testA", 1},
		{"fluo2he", "trainA", 2}, {"fluo2he", "trainB", 2}, {"fluo2he", "valA", 1}, {"fluo2he", "valB", 0}}
	dirs := map[string]string{}
	o := Options{Size: 32, NumTrain: 3, NumTest: 2, Seed: 5}
	for _, c := range cases {
		if dirs[c.name] != "" {
			continue
		}
		dirs[c.name] = t.TempDir()
		if _, err := Generate(context.Background(), c.name, dirs[c.name], o); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range cases {
		t.Run(c.name+"/"+c.folder, func(t *testing.T) {
			ps, _ := filepath.Glob(filepath.Join(dirs[c.name], c.folder, fmt.Sprintf("%04d.*", c.i)))
			if len(ps) != 1 {
				t.Fatalf("files %v", ps)
			}
			b, err := os.ReadFile(ps[0])
			if err != nil {
				t.Fatal(err)
			}
			want, err := raster.Decode(b, ps[0])
			if err != nil {
				t.Fatal(err)
			}
			got, err := DrawRaster(c.name, c.folder, o.Size, o.Seed, c.i)
			if err != nil {
				t.Fatal(err)
			}
			if got.Shape() != want.Shape() || fmt.Sprint(got.Data) != fmt.Sprint(want.Data) {
				t.Errorf("DrawRaster: %s, the file %s", got.Shape(), want.Shape())
			}
			m, err := Draw(c.name, c.folder, o.Size, o.Seed, c.i)
			if filepath.Ext(ps[0]) == ".tif" {
				if err == nil || !strings.Contains(err.Error(), "draw them with DrawRaster") {
					t.Errorf("Draw of a TIFF folder: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			img, err := data.LoadImage(ps[0])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(m.Pix, img.Pix) {
				t.Errorf("Draw differs from the file Generate wrote")
			}
		})
	}
	for _, c := range []struct{ name, folder, want string }{
		{"mnist", "trainA", `unknown built-in dataset "mnist"`},
		{"shapes2photos", "trainA", `has no folder "trainA" (it has train, test, val)`},
		{"fluo2he", "train", `has no folder "train" (it has trainA, trainB, testA, testB, valA, valB)`},
	} {
		if _, err := Draw(c.name, c.folder, 32, 0, 0); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Draw(%s, %s): %v, want %q", c.name, c.folder, err, c.want)
		}
		if _, err := DrawRaster(c.name, c.folder, 32, 0, 0); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("DrawRaster(%s, %s): %v, want %q", c.name, c.folder, err, c.want)
		}
	}
}
