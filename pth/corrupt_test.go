package pth

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeArchive writes a torch.save-style archive with the given data.pkl
// and storages, bypassing the pickler so that tests can craft bad files.
func writeArchive(t *testing.T, path string, pkl []byte, storages map[string][]byte) {
	t.Helper()
	var buf bytes.Buffer
	z := &zipWriter{w: &buf}
	if err := z.entry("archive/data.pkl", pkl); err != nil {
		t.Fatal(err)
	}
	for k, b := range storages {
		if err := z.entry("archive/data/"+k, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := z.entry("archive/version", []byte("3\n")); err != nil {
		t.Fatal(err)
	}
	if err := z.close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// viewPickle pickles one tensor the way torch.save does, with arbitrary
// storage size, offset, shape and stride.
func viewPickle(dtype DType, numel, offset int64, shape, stride []int64) []byte {
	p := newPickler()
	p.buf.Write([]byte{opProto, 2})
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.buf.WriteByte(opMark)
	p.buf.WriteByte(opMark)
	p.constStr("storage")
	p.global("torch", dtype.StorageClass())
	p.str("0")
	p.constStr("cpu")
	p.int64(numel)
	p.buf.WriteByte(opTuple)
	p.buf.WriteByte(opBinPersID)
	p.int64(offset)
	p.intTuple(shape)
	p.intTuple(stride)
	p.buf.WriteByte(opNewFalse)
	p.emptyOrderedDict()
	p.buf.WriteByte(opTuple)
	p.buf.WriteByte(opReduce)
	p.buf.WriteByte(opStop)
	return p.buf.Bytes()
}

func TestLoadViews(t *testing.T) {
	storage := le(arange(24, 1))
	tests := []struct {
		name          string
		offset        int64
		shape, stride []int64
		want          []float32
	}{
		{"contiguous", 0, []int64{2, 3}, []int64{3, 1}, arange(6, 1)},
		{"offset", 20, []int64{2, 2}, []int64{2, 1}, []float32{20, 21, 22, 23}},
		{"transposed", 0, []int64{3, 2}, []int64{1, 3}, []float32{0, 3, 1, 4, 2, 5}},
		{"broadcast", 5, []int64{2, 3}, []int64{0, 1}, []float32{5, 6, 7, 5, 6, 7}},
		{"size-1 dim with odd stride", 4, []int64{1, 3}, []int64{99, 1}, []float32{4, 5, 6}},
		{"strided 3-d", 1, []int64{2, 2, 2}, []int64{12, 4, 2}, []float32{1, 3, 5, 7, 13, 15, 17, 19}},
		{"scalar", 23, []int64{}, []int64{}, []float32{23}},
		{"empty", 30, []int64{0, 5}, []int64{5, 1}, []float32{}},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "v.pth")
			writeArchive(t, path, viewPickle(Float32, 24, tc.offset, tc.shape, tc.stride), map[string][]byte{"0": storage})
			v, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if d := diff(v, f32Tensor(tc.shape, tc.want...), "tensor"); d != "" {
				t.Error(d)
			}
		})
	}
}

func TestLoadMalformed(t *testing.T) {
	dir := t.TempDir()
	f4 := le(arange(4, 1))
	tests := []struct {
		name     string
		pkl      string
		storages map[string][]byte
		want     string
	}{
		{"view beyond storage", string(viewPickle(Float32, 4, 1, []int64{4}, []int64{1})), map[string][]byte{"0": f4}, "exceed the storage"},
		{"huge stride", string(viewPickle(Float32, 4, 0, []int64{2, 2}, []int64{1 << 62, 1})), map[string][]byte{"0": f4}, "exceed the storage"},
		{"negative stride", string(viewPickle(Float32, 4, 3, []int64{2}, []int64{-1})), map[string][]byte{"0": f4}, "negative stride"},
		{"shape/stride mismatch", string(viewPickle(Float32, 4, 0, []int64{2, 2}, []int64{1})), map[string][]byte{"0": f4}, "differ in length"},
		{"missing storage", string(viewPickle(Float32, 4, 0, []int64{4}, []int64{1})), nil, "no entry archive/data/0"},
		{"short storage", string(viewPickle(Float32, 4, 0, []int64{4}, []int64{1})), map[string][]byte{"0": f4[:12]}, "has 12 bytes, expected 16"},
		{"huge storage", string(viewPickle(Float32, 1<<61, 0, []int64{4}, []int64{1})), map[string][]byte{"0": f4}, "invalid element count"},
		{"huge string", "\x80\x02X\xff\xff\xff\x7f", nil, "exceeds the data"},
		{"huge bytes8", "\x80\x02\x8e\xff\xff\xff\xff\xff\xff\xff\x7f", nil, "exceeds the data"},
		{"no stop", "\x80\x02K\x01", nil, "unexpected EOF"},
		{"unknown opcode", "\x80\x02\xff.", nil, "unknown opcode 0xff"},
		{"empty stack", "\x80\x02s.", nil, "unpickle"},
		{"int key", "\x80\x02}q\x00K\x01K\x02s.", nil, "only string keys"},
		{"numpy", "\x80\x02cnumpy.core.multiarray\n_reconstruct\nq\x00)R.", nil, "numpy.core.multiarray._reconstruct object"},
		{"bare global", "\x80\x02ctorch\nfloat32\n.", nil, "torch.float32"},
		{"bad persistent id", "\x80\x02K\x01Q.", nil, "persistent id"},
		{"module pid", "\x80\x02X\x06\x00\x00\x00moduleq\x00\x85Q.", nil, "kind module"},
		{"huge int", "\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.", nil, "does not fit in int64"},
		{"rebuild args", "\x80\x02ctorch._utils\n_rebuild_tensor_v2\nK\x01\x85R.", nil, "unexpected 1 arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "bad.pth")
			writeArchive(t, path, []byte(tc.pkl), tc.storages)
			_, err := Load(path)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if !strings.HasPrefix(err.Error(), "load "+path+": ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to name the file and contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	valid := filepath.Join(dir, "valid.pth")
	if err := Save(valid, dictOf("w", f32Tensor([]int64{2, 2}, 1, 2, 3, 4), "n", i64Tensor(nil, 3), "meta", []any{"x", 1.5})); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(valid)
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := os.ReadFile(filepath.Join("testdata", "legacy.pth"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "corrupt.pth")
	check := func(data []byte, mustFail bool, what string) {
		t.Helper()
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path) // must not panic
		if err != nil && !strings.HasPrefix(err.Error(), "load "+path+": ") {
			t.Errorf("%s: error %q does not name the file", what, err)
		}
		if mustFail && err == nil {
			t.Errorf("%s: Load succeeded", what)
		}
	}
	check(nil, true, "empty file")
	check([]byte("not a checkpoint at all"), true, "text file")
	check([]byte("PK\x03\x04garbage"), true, "broken zip")
	check([]byte{0x80, 0x02}, true, "truncated legacy")
	for _, src := range [][]byte{good, legacy} {
		for n := 0; n < len(src); n += 3 {
			check(src[:n], true, "truncated file")
		}
	}
	// Flipping bits anywhere must never panic; where they hit tensor data,
	// the CRC must catch them.
	rng := rand.New(rand.NewSource(1))
	for _, src := range [][]byte{good, legacy} {
		for i := range src {
			b := bytes.Clone(src)
			b[i] ^= byte(1 + rng.Intn(255))
			check(b, false, "flipped byte")
		}
	}
	b := bytes.Clone(good)
	i := bytes.Index(b, le([]float32{1, 2, 3, 4}))
	b[i] ^= 1
	check(b, true, "flipped tensor byte")
	if _, err := Load(filepath.Join(dir, "missing.pth")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}
