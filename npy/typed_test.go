package npy

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"cyclepix/internal/testsupport"
)

func TestParseDescr(t *testing.T) {
	for _, tc := range []struct {
		descr string
		kind  byte
		size  int
		order binary.ByteOrder
		canon string
	}{
		{"|u1", 'u', 1, binary.LittleEndian, "|u1"},
		{"<u1", 'u', 1, binary.LittleEndian, "|u1"},
		{"|i1", 'i', 1, binary.LittleEndian, "|i1"},
		{"|b1", 'b', 1, binary.LittleEndian, "|b1"},
		{"<u2", 'u', 2, binary.LittleEndian, "<u2"},
		{">i2", 'i', 2, binary.BigEndian, ">i2"},
		{"<u8", 'u', 8, binary.LittleEndian, "<u8"},
		{">f2", 'f', 2, binary.BigEndian, ">f2"},
		{"<f4", 'f', 4, binary.LittleEndian, "<f4"},
		{">f8", 'f', 8, binary.BigEndian, ">f8"},
		{"=f4", 'f', 4, binary.LittleEndian, "<f4"}, // the tests run on little-endian machines
		{"i4", 'i', 4, binary.LittleEndian, "<i4"},
	} {
		got, err := ParseDescr(tc.descr)
		if err != nil {
			t.Errorf("%q: %v", tc.descr, err)
			continue
		}
		if got.Kind != tc.kind || got.Size != tc.size || got.Order != tc.order || got.Descr() != tc.canon {
			t.Errorf("%q: %c%d %v %q, want %c%d %v %q", tc.descr, got.Kind, got.Size, got.Order, got.Descr(), tc.kind, tc.size, tc.order, tc.canon)
		}
	}
	for _, tc := range []struct{ descr, want string }{
		{"<c8", "complex numbers"},
		{">c16", "complex numbers"},
		{"<U4", "unicode strings"},
		{"|S3", "byte strings"},
		{"|O", "Python objects"},
		{"|V8", "raw void"},
		{"<M8[ns]", "datetimes"},
		{"<m8", "timedeltas"},
		{"|f4", "needs a byte order"},
		{"<f16", "not a supported number type"},
		{"<f1", "not a supported number type"},
		{"<i3", "not a supported number type"},
		{"|b2", "not a supported number type"},
		{"<x4", "not a supported number type"},
		{"", "not a simple dtype"},
		{"float32", "not a simple dtype"},
		{"<i99999999999999999999", "not a supported number type"},
	} {
		_, err := ParseDescr(tc.descr)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.descr)) {
			t.Errorf("%q: error %v, want one naming the descr and saying %q", tc.descr, err, tc.want)
		}
	}
}

// npyBytes builds a .npy file around raw data, as a hostile or unusual
// writer might.
func npyBytes(header string, data []byte) []byte {
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(header)), byte(len(header)>>8))
	return append(append(b, header...), data...)
}

func TestForEachDTypes(t *testing.T) {
	enc := func(order binary.ByteOrder, v any) []byte {
		var b bytes.Buffer
		if err := binary.Write(&b, order, v); err != nil {
			panic(err)
		}
		return b.Bytes()
	}
	le, be := binary.LittleEndian, binary.BigEndian
	for _, tc := range []struct {
		name string
		a    Array
		want []float64
	}{
		{"bool", Array{DType: "|b1", Shape: []int64{4}, Data: []byte{0, 1, 2, 0}}, []float64{0, 1, 1, 0}},
		{"int8", Array{DType: "|i1", Shape: []int64{3}, Data: []byte{0x80, 0xff, 0x7f}}, []float64{-128, -1, 127}},
		{"uint8", Array{DType: "|u1", Shape: []int64{2}, Data: []byte{0, 255}}, []float64{0, 255}},
		{"uint16 big", Array{DType: ">u2", Shape: []int64{2}, Data: enc(be, []uint16{1, 65535})}, []float64{1, 65535}},
		{"int16", Array{DType: "<i2", Shape: []int64{2}, Data: enc(le, []int16{-32768, 32767})}, []float64{-32768, 32767}},
		{"uint32", Array{DType: "<u4", Shape: []int64{1}, Data: enc(le, []uint32{4294967295})}, []float64{4294967295}},
		{"int32 big", Array{DType: ">i4", Shape: []int64{1}, Data: enc(be, []int32{-2147483648})}, []float64{-2147483648}},
		{"uint64", Array{DType: "<u8", Shape: []int64{1}, Data: enc(le, []uint64{1 << 63})}, []float64{1 << 63}},
		{"int64 big", Array{DType: ">i8", Shape: []int64{1}, Data: enc(be, []int64{-5})}, []float64{-5}},
		{"float16", Array{DType: "<f2", Shape: []int64{5}, Data: enc(le, []uint16{0x3c00, 0xc000, 0x0001, 0x7bff, 0xfc00})},
			[]float64{1, -2, math.Ldexp(1, -24), 65504, math.Inf(-1)}},
		{"float32 big", Array{DType: ">f4", Shape: []int64{1}, Data: enc(be, []float32{0.1})}, []float64{float64(float32(0.1))}},
		{"float64", Array{DType: "<f8", Shape: []int64{1}, Data: enc(le, []float64{0.1})}, []float64{0.1}},
		{"fortran uint16", Array{DType: "<u2", Shape: []int64{2, 3}, FortranOrder: true, Data: enc(le, []uint16{0, 3, 1, 4, 2, 5})},
			[]float64{0, 1, 2, 3, 4, 5}},
		{"fortran 3-d big", Array{DType: ">i2", Shape: []int64{2, 2, 2}, FortranOrder: true, Data: enc(be, []int16{0, 4, 2, 6, 1, 5, 3, 7})},
			[]float64{0, 1, 2, 3, 4, 5, 6, 7}},
		{"0-d", Array{DType: "|u1", Shape: []int64{}, Data: []byte{7}}, []float64{7}},
		{"empty", Array{DType: "<f4", Shape: []int64{0, 3}, Data: nil}, []float64{}},
	} {
		got, err := tc.a.AsFloat64()
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
		got32, err := tc.a.AsFloat32()
		if err != nil || len(got32) != len(tc.want) {
			t.Errorf("%s: AsFloat32 %v, %v", tc.name, got32, err)
			continue
		}
		for i, v := range tc.want {
			if got32[i] != float32(v) {
				t.Errorf("%s: AsFloat32[%d] = %v, want %v", tc.name, i, got32[i], float32(v))
			}
		}
	}
	for _, tc := range []struct {
		a    Array
		want string
	}{
		{Array{DType: "<c8", Shape: []int64{1}, Data: make([]byte, 8)}, "complex numbers"},
		{Array{DType: "<U2", Shape: []int64{1}, Data: make([]byte, 8)}, "unicode strings"},
		{Array{DType: "<u2", Shape: []int64{3}, Data: make([]byte, 4)}, "4 bytes of data for shape [3]"},
		{Array{DType: "<u2", Shape: []int64{-1}, Data: nil}, "bytes of data for shape [-1]"},
	} {
		called := false
		err := tc.a.ForEach(func(int64, float64) { called = true })
		if err == nil || !strings.Contains(err.Error(), tc.want) || called {
			t.Errorf("ForEach of %q %v: error %v (called %v), want %q", tc.a.DType, tc.a.Shape, err, called, tc.want)
		}
		if _, err := tc.a.AsFloat64(); err == nil {
			t.Errorf("AsFloat64 of %q %v succeeded", tc.a.DType, tc.a.Shape)
		}
	}
}

func TestHalf(t *testing.T) {
	for h := range 1 << 16 {
		f := halfToFloat64(uint16(h))
		if math.IsNaN(f) {
			if h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
				t.Fatalf("%#04x read as NaN", h)
			}
			continue
		}
		if back := float64ToHalf(f); back != uint16(h) {
			t.Fatalf("%#04x → %v → %#04x", h, f, back)
		}
	}
	for _, tc := range []struct {
		f    float64
		want uint16
	}{
		{1, 0x3c00},
		{1 + math.Ldexp(1, -11), 0x3c00},                      // tie, to even
		{1 + 3*math.Ldexp(1, -11), 0x3c02},                    // tie, to even (up)
		{1 + math.Ldexp(1, -11) + math.Ldexp(1, -40), 0x3c01}, // just above the tie
		{65504, 0x7bff},
		{65519.99, 0x7bff},
		{65520, 0x7c00}, // rounds to Inf
		{1e300, 0x7c00},
		{-1e300, 0xfc00},
		{math.Ldexp(1, -24), 0x0001},
		{math.Ldexp(1, -25), 0x0000}, // tie between 0 and the smallest subnormal
		{math.Ldexp(3, -26), 0x0001},
		{math.Ldexp(1, -26), 0x0000},
		{math.Ldexp(1023, -24) + math.Ldexp(1, -25), 0x0400}, // tie, up into the normals
		{5e-324, 0},
		{math.Copysign(0, -1), 0x8000},
		{math.NaN(), 0x7e00},
	} {
		if got := float64ToHalf(tc.f); got != tc.want {
			t.Errorf("float64ToHalf(%v) = %#04x, want %#04x", tc.f, got, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.npy")
	if err := Write(path, []int64{2, 3}, arange(6)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	a, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, r) {
		t.Errorf("Parse %+v, Read %+v", a, r)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "not a .npy file"},
		{"truncated", b[:len(b)-1], "header describes 24 bytes of data"},
		{"terabytes", npyBytes("{'descr': '|u1', 'fortran_order': False, 'shape': (1099511627776, 1024), }", []byte{1}),
			"header describes 1125899906842624 bytes of data"},
		{"overflow", npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", nil), "invalid shape"},
		{"negative", npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-4,), }", nil), "not a non-negative int"},
		{"dtype and size disagree", npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", make([]byte, 8)),
			"header describes 16 bytes of data"},
		{"structured", npyBytes("{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (1,), }", nil), "structured"},
	} {
		_, err := Parse(tc.b)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line containing %q", tc.name, err, tc.want)
		}
	}
	for n := range len(b) {
		if _, err := Parse(b[:n]); err == nil {
			t.Errorf("content cut to %d bytes parsed without error", n)
		}
	}
}

// typedValues are values that exercise every type's rounding and
// clipping: fractions and ties, out of range both ways, NaN, ±Inf.
var typedValues = []float64{0, 1, -1, 2.5, 3.5, -2.5, 0.49999999999999994, 127, 128, 255, 256, -129,
	32767.5, -32768.5, 65535, 65536, 4294967295, 4294967296, 1e19, -1e19, math.Ldexp(1, 63), math.Ldexp(1, 64),
	math.NaN(), math.Inf(1), math.Inf(-1), 0.1, 1e-8, 65520, 1e300}

func TestWriteTyped(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t.npy")
	for _, tc := range []struct {
		descr string
		v     float64
		want  []byte
	}{
		{"|u1", 2.5, []byte{2}},
		{"|u1", 3.5, []byte{4}},
		{"|u1", 300, []byte{255}},
		{"|u1", -3, []byte{0}},
		{"|u1", math.NaN(), []byte{0}},
		{"<i2", -40000, []byte{0x00, 0x80}},
		{">u2", 258, []byte{1, 2}},
		{"<u8", 1e30, []byte{255, 255, 255, 255, 255, 255, 255, 255}},
		{"<i8", 1e30, []byte{255, 255, 255, 255, 255, 255, 255, 0x7f}},
		{"<i8", -1e30, []byte{0, 0, 0, 0, 0, 0, 0, 0x80}},
		{"|b1", math.NaN(), []byte{1}},
		{"|b1", 0, []byte{0}},
		{">f2", 1, []byte{0x3c, 0}},
	} {
		if err := WriteTyped(path, []int64{1}, tc.descr, []float64{tc.v}); err != nil {
			t.Fatal(err)
		}
		a, err := Read(path)
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := ParseDescr(tc.descr); a.DType != want.Descr() || !bytes.Equal(a.Data, tc.want) {
			t.Errorf("%s of %v: %q % x, want %q % x", tc.descr, tc.v, a.DType, a.Data, want.Descr(), tc.want)
		}
	}
	for _, tc := range []struct {
		shape  []int64
		descr  string
		values []float64
		want   string
	}{
		{[]int64{2}, "<u2", []float64{1}, "has 2 elements, data has 1"},
		{[]int64{-2}, "<u2", nil, "invalid shape"},
		{[]int64{1}, "<c8", []float64{1}, "complex numbers"},
		{[]int64{1}, "|f4", []float64{1}, "needs a byte order"},
	} {
		err := WriteTyped(path, tc.shape, tc.descr, tc.values)
		if err == nil || !strings.HasPrefix(err.Error(), "write "+path+": ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("WriteTyped(%v, %q): error %v, want %q", tc.shape, tc.descr, err, tc.want)
		}
	}
	if err := WriteTyped(filepath.Join(dir, "missing", "x.npy"), []int64{1}, "<u2", []float64{1}); err == nil ||
		strings.Count(err.Error(), "write ") != 1 {
		t.Errorf("write into a missing folder: %v, want one error naming the path once", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("folder holds %d entries, want 1 (temporary files left?)", len(ents))
	}
}

// TestTypedNumpy checks the typed writer and the converting reader against
// numpy: numpy.load reads WriteTyped's files with the dtype and values
// numpy's own rounding and clipping give, numpy.save writes the same
// bytes, AsFloat64 reads numpy.save's files of every numeric dtype and
// layout, and the float16 conversions agree with numpy's both ways.
func TestTypedNumpy(t *testing.T) {
	testsupport.NeedPythonLong(t, "numpy")
	dir := t.TempDir()
	descrs := []string{"|u1", "<u2", "<i2", "<u4", "<f4", "<f8", ">u2", ">i4", ">f8", "|i1", "|b1", "<i4", "<i8", "<u8", "<f2", ">f2"}
	shapes := [][]int64{{len64(typedValues)}, {}, {0, 3}, {3, 1, 2}}
	var args []string
	for i, descr := range descrs {
		for j, shape := range shapes {
			n := numElements(shape)
			values := make([]float64, n)
			for k := range values {
				values[k] = typedValues[(k+i)%len(typedValues)]
			}
			p := filepath.Join(dir, fmt.Sprintf("go_%d_%d.npy", i, j))
			if err := WriteTyped(p, shape, descr, values); err != nil {
				t.Fatal(err)
			}
			// The values as float64, for Python to convert itself.
			if err := WriteTyped(strings.Replace(p, "go_", "in_", 1), shape, "<f8", values); err != nil {
				t.Fatal(err)
			}
			args = append(args, p)
		}
	}
	testsupport.RunPython(t, `
import sys, warnings
import numpy as np
warnings.simplefilter("ignore")
for p in sys.argv[1:]:
    a = np.load(p)
    x = np.load(p.replace("go_", "in_"))
    dt = a.dtype
    if dt.kind in "iu":
        info = np.iinfo(dt)
        # clip in float64, then pick the exact integer bounds where the
        # float64 bound is not representable (2^63 - 1, 2^64 - 1)
        r = np.round(np.nan_to_num(x, nan=0.0, posinf=np.inf, neginf=-np.inf))
        want = np.empty(x.shape, dt)
        hi = r >= float(info.max)
        lo = r <= float(info.min)
        mid = ~(hi | lo)
        want[mid] = r[mid].astype(dt)
        want[hi] = info.max
        want[lo] = info.min
    else:
        want = x.astype(dt)
    assert not np.isfortran(a), p
    assert a.shape == x.shape, (p, a.shape, x.shape)
    assert np.array_equal(a, want, equal_nan=dt.kind == "f"), (p, a, want)
    np.save(p.replace("go_", "np_"), want)
`, args...)
	for _, p := range args {
		ours, _ := os.ReadFile(p)
		theirs, err := os.ReadFile(strings.Replace(p, "go_", "np_", 1))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ours, theirs) {
			t.Errorf("%s: WriteTyped and numpy.save differ:\nours:  %q\nnumpy: %q", p, ours, theirs)
		}
	}

	// numpy.save's files of every numeric dtype and layout, read back as
	// float64 against numpy's own astype(float64).
	out := testsupport.RunPython(t, `
import json, os, sys
import numpy as np
d = sys.argv[1]
x = (np.arange(24, dtype=np.float64) * 37 % 101 - 30).reshape(2, 3, 4)
names = []
for dt in ["u1", "i1", "b1", "u2", "i2", "u4", "i4", "u8", "i8", "f2", "f4", "f8"]:
    for order in "<>":
        a = (x > 0) if dt == "b1" else np.abs(x) if dt[0] == "u" else x
        a = a.astype(order + dt)
        for name, arr in [("c", a), ("f", np.asfortranarray(a)), ("2d", a[0]), ("1d", a[0, 0])]:
            n = "%s%s_%s" % ({"<": "le", ">": "be"}[order], dt, name)
            np.save(os.path.join(d, n + ".npy"), arr)
            np.save(os.path.join(d, n + ".want.npy"), arr.astype("<f8"))
            names.append(n)
for v in [(2, 0), (3, 0)]:
    n = "v%d" % v[0]
    with open(os.path.join(d, n + ".npy"), "wb") as f:
        np.lib.format.write_array(f, x.astype(">i2"), version=v)
    np.save(os.path.join(d, n + ".want.npy"), x)
    names.append(n)
print(json.dumps(names))
`, dir)
	var names []string
	if err := json.Unmarshal(out, &names); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		a, err := Parse(b)
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		want, err := Read(filepath.Join(dir, n+".want.npy"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := a.AsFloat64()
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		w, _ := want.AsFloat64()
		if !reflect.DeepEqual(got, w) || !reflect.DeepEqual(a.Shape, want.Shape) {
			t.Errorf("%s (%q, fortran=%v): %v %v, want %v %v", n, a.DType, a.FortranOrder, a.Shape, got, want.Shape, w)
		}
	}

	// float16 both ways: every half's value, and the rounding of values
	// near every tie.
	halves := make([]float64, 0, 3<<16)
	rng := rand.New(rand.NewPCG(1, 2))
	for h := range 1 << 16 {
		f := halfToFloat64(uint16(h))
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		next := halfToFloat64(uint16(h + 1))
		if h&0x7fff == 0x7bff {
			next = 65536 // the next half would be 65536 if it existed
		}
		mid := f + (next-f)/2
		halves = append(halves, f, mid, math.Nextafter(mid, f), math.Nextafter(mid, math.Inf(1)), f+(next-f)*rng.Float64())
	}
	in := filepath.Join(dir, "halves_in.npy")
	if err := WriteTyped(in, []int64{len64(halves)}, "<f8", halves); err != nil {
		t.Fatal(err)
	}
	ours := filepath.Join(dir, "halves_go.npy")
	if err := WriteTyped(ours, []int64{len64(halves)}, "<f2", halves); err != nil {
		t.Fatal(err)
	}
	testsupport.RunPython(t, `
import sys, warnings
import numpy as np
warnings.simplefilter("ignore")
np.save(sys.argv[2], np.load(sys.argv[1]).astype("<f2"))
np.save(sys.argv[3], np.arange(1 << 16, dtype=np.uint16).view("<f2"))
np.save(sys.argv[4], np.arange(1 << 16, dtype=np.uint16).view("<f2").astype("<f8"))
`, in, filepath.Join(dir, "halves_np.npy"), filepath.Join(dir, "all_f2.npy"), filepath.Join(dir, "all_f8.npy"))
	a, _ := os.ReadFile(ours)
	b, _ := os.ReadFile(filepath.Join(dir, "halves_np.npy"))
	if !bytes.Equal(a, b) {
		for i := 128; i < min(len(a), len(b)); i += 2 {
			if a[i] != b[i] || a[i+1] != b[i+1] {
				k := (i - 128) / 2
				t.Errorf("float16 of %v (%d): ours % x, numpy's % x", halves[k], k, a[i:i+2], b[i:i+2])
				break
			}
		}
		t.Fatalf("float16 files differ (%d and %d bytes)", len(a), len(b))
	}
	f2, err := Read(filepath.Join(dir, "all_f2.npy"))
	if err != nil {
		t.Fatal(err)
	}
	f8, err := Read(filepath.Join(dir, "all_f8.npy"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := f2.AsFloat64()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := f8.AsFloat64()
	for i := range want {
		if got[i] != want[i] && !(math.IsNaN(got[i]) && math.IsNaN(want[i])) {
			t.Fatalf("half %#04x: %v, numpy %v", i, got[i], want[i])
		}
	}
}

func len64[T any](s []T) int64 { return int64(len(s)) }
