package pair

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/data"
)

func save(t *testing.T, path string, w, h int, v uint8) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	m := &data.Image{W: w, H: h, C: 3, Pix: make([]uint8, w*h*3)}
	for i := range m.Pix {
		m.Pix[i] = v
	}
	if err := data.SaveImage(path, m); err != nil {
		t.Fatal(err)
	}
}

func TestCombine(t *testing.T) {
	root := t.TempDir()
	A, B, AB := filepath.Join(root, "A"), filepath.Join(root, "B"), filepath.Join(root, "AB")
	for _, sp := range []string{"train", "test"} {
		save(t, filepath.Join(A, sp, "1.png"), 8, 6, 10)
		save(t, filepath.Join(B, sp, "1.png"), 5, 6, 200)
		save(t, filepath.Join(A, sp, "2.png"), 8, 6, 10)
		save(t, filepath.Join(B, sp, "2.png"), 8, 6, 200)
	}
	save(t, filepath.Join(A, "train", "3.png"), 8, 6, 10) // no partner
	var log strings.Builder
	rep, err := Combine(context.Background(), CombineOptions{FoldA: A, FoldB: B, FoldAB: AB, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Written != 4 || len(rep.Missing) != 1 || !strings.Contains(log.String(), "1 A images have no B image") {
		t.Fatalf("report %+v, log %q", rep, log.String())
	}
	m, err := data.LoadImage(filepath.Join(AB, "train", "1.png"))
	if err != nil {
		t.Fatal(err)
	}
	if m.W != 13 || m.H != 6 || m.Pix[0] != 10 || m.Pix[3*8] != 200 {
		t.Errorf("combined %dx%d, left %d right %d", m.W, m.H, m.Pix[0], m.Pix[3*8])
	}

	// --use_AB and --num_imgs, one goroutine.
	root = t.TempDir()
	A, B, AB = filepath.Join(root, "A"), filepath.Join(root, "B"), filepath.Join(root, "AB")
	for _, n := range []string{"0001", "0002", "0003"} {
		save(t, filepath.Join(A, "val", n+"_A.jpg"), 4, 4, 50)
		save(t, filepath.Join(B, "val", n+"_B.jpg"), 4, 4, 150)
	}
	save(t, filepath.Join(A, "val", "other.jpg"), 4, 4, 50)
	rep, err = Combine(context.Background(), CombineOptions{FoldA: A, FoldB: B, FoldAB: AB, UseAB: true, NumImgs: 2, NoMultiprocessing: true})
	if err != nil || rep.Written != 2 {
		t.Fatalf("use_AB: %+v, %v", rep, err)
	}
	for _, n := range []string{"0001.jpg", "0002.jpg"} {
		if _, err := os.Stat(filepath.Join(AB, "val", n)); err != nil {
			t.Error(err)
		}
	}
}

func TestCombineAndAlignErrors(t *testing.T) {
	root := t.TempDir()
	save(t, filepath.Join(root, "A", "train", "1.png"), 8, 6, 1)
	save(t, filepath.Join(root, "B", "train", "1.png"), 8, 7, 1)
	save(t, filepath.Join(root, "A", "test", "1.png"), 8, 6, 1)
	save(t, filepath.Join(root, "D", "trainA", "1.png"), 8, 6, 1)
	save(t, filepath.Join(root, "D", "trainB", "1.png"), 8, 6, 1)
	save(t, filepath.Join(root, "D", "trainB", "2.png"), 8, 6, 1)
	save(t, filepath.Join(root, "E", "testA", "1.png"), 8, 6, 1)
	save(t, filepath.Join(root, "E", "testB", "1.png"), 9, 6, 1)
	ctx := context.Background()
	combine := func(a, b string) error {
		_, err := Combine(ctx, CombineOptions{FoldA: filepath.Join(root, a), FoldB: filepath.Join(root, b), FoldAB: filepath.Join(root, "out")})
		return err
	}
	align := func(d string) error { _, err := Align(ctx, filepath.Join(root, d), nil); return err }
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"missing fold_A", combine("nope", "B"), "--fold_A " + filepath.Join(root, "nope") + " does not exist"},
		{"no splits", combine("A/train", "B"), "has no split folders"},
		{"split missing in B", combine("A", "D"), "has no test folder to pair with"},
		{"align counts", align("D"), "trainA has 1 images but " + filepath.Join(root, "D", "trainB") + " has 2"},
		{"align sizes", align("E"), "(8x6) with " + filepath.Join(root, "E", "testB", "1.png") + " (9x6): sizes differ"},
		{"align nothing", align("A"), "has none of testA/testB, trainA/trainB"},
	}
	for _, c := range cases {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, c.err, c.want)
		}
	}
	os.RemoveAll(filepath.Join(root, "A", "test"))
	if err := combine("A", "B"); err == nil || !strings.Contains(err.Error(), "heights differ") {
		t.Errorf("height mismatch: %v", err)
	}
}

func TestAlign(t *testing.T) {
	root := t.TempDir()
	for i, n := range []string{"b.png", "a.png"} {
		save(t, filepath.Join(root, "trainA", n), 6, 4, uint8(10*i))
		save(t, filepath.Join(root, "trainB", "x"+n), 6, 4, 200)
	}
	rep, err := Align(context.Background(), root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Written != 2 || len(rep.Phases) != 1 {
		t.Fatalf("%+v", rep)
	}
	m, err := data.LoadImage(filepath.Join(root, "train", "0000.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	// 0000 pairs the first names in sorted order: a.png (value 10).
	if m.W != 12 || m.H != 4 || m.Pix[0] < 5 || m.Pix[0] > 15 {
		t.Errorf("aligned %dx%d, first pixel %d", m.W, m.H, m.Pix[0])
	}
}
