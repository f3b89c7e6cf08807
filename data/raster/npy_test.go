package raster

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/internal/testsupport"
	"cyclepix/npy"
)

var npyTestDTypes = []DType{Uint8, Uint16, Int16, Uint32, Float32, Float64}

// npyTestRaster is a w×h×c raster whose values test dt's rounding and
// clipping: in range, fractions and ties, beyond both limits, NaN.
func npyTestRaster(w, h, c int, dt DType, seed uint64) *Raster {
	r := New(w, h, c, dt)
	rng := rand.New(rand.NewPCG(seed, 7))
	special := []float32{0, 1, 2.5, 3.5, -0.5, -1, 255, 256, 65535, 65536, -32768, -32769, 32767.5,
		4294967040, 1e10, -1e10, float32(math.NaN()), float32(math.Inf(1)), 0.1}
	for i := range r.Data {
		if i < len(special) {
			r.Data[i] = special[(i+int(seed))%len(special)]
			continue
		}
		r.Data[i] = float32(rng.NormFloat64() * 1000)
	}
	if dt == Uint8 || dt == Uint16 {
		for i := len(special); i < len(r.Data); i++ {
			r.Data[i] = float32(math.Abs(float64(r.Data[i])))
		}
	}
	return r
}

// npyTestRounded is what a writer stores of r: planar values through
// r.DType.Round, as float64.
func npyTestRounded(r *Raster) []float64 {
	out := make([]float64, len(r.Data))
	for i, v := range r.Data {
		out[i] = r.DType.Round(float64(v))
	}
	return out
}

// npyTestSame compares a decoded raster with the planar values want,
// bit for bit (NaN equal to NaN).
func npyTestSame(t *testing.T, name string, got *Raster, w, h, c int, dt DType, want []float64) {
	t.Helper()
	if got.W != w || got.H != h || got.C != c || got.DType != dt || len(got.Data) != len(want) {
		t.Errorf("%s: %d×%d×%d %v (%d values), want %d×%d×%d %v", name, got.W, got.H, got.C, got.DType, len(got.Data), w, h, c, dt)
		return
	}
	for i, v := range want {
		g := got.Data[i]
		same := math.Float32bits(g) == math.Float32bits(float32(v)) // floats keep -0
		if dt.Integer() {
			same = g == float32(v)
		}
		if !same && !(math.IsNaN(float64(g)) && math.IsNaN(v)) {
			t.Errorf("%s: value %d (channel %d, pixel %d) is %v, want %v", name, i, i/(w*h), i%(w*h), g, float32(v))
			return
		}
	}
}

func TestNPYRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, dt := range npyTestDTypes {
		for _, c := range []int{1, 3, 5} {
			name := fmt.Sprintf("%v_c%d", dt, c)
			r := npyTestRaster(7, 4, c, dt, uint64(c))
			path := filepath.Join(dir, name+".npy")
			if err := WriteNPY(path, r); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			a, err := npy.Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			wantShape := []int64{4, 7, int64(c)}
			if c == 1 {
				wantShape = wantShape[:2]
			}
			if a.DType != npyDescrs[dt] || fmt.Sprint(a.Shape) != fmt.Sprint(wantShape) || a.FortranOrder {
				t.Errorf("%s: file holds %q %v fortran=%v, want %q %v", name, a.DType, a.Shape, a.FortranOrder, npyDescrs[dt], wantShape)
			}
			// Channels last: element (y, x, k) of the file is channel k
			// of pixel (x, y).
			vals, _ := a.AsFloat64()
			want := npyTestRounded(r)
			if got, w := vals[(1*7+2)*c+c-1], want[(c-1)*28+1*7+2]; got != w && !(math.IsNaN(got) && math.IsNaN(w)) {
				t.Errorf("%s: element (1, 2, %d) is %v, want %v", name, c-1, got, w)
			}
			back, err := DecodeNPY(b)
			if err != nil {
				t.Fatal(err)
			}
			npyTestSame(t, name, back, 7, 4, c, dt, want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 18 {
		t.Errorf("folder holds %d files, want 18 (temporary files left?)", len(ents))
	}
}

// npyTestFile builds a .npy file around raw data, as a writer other than
// numpy (or a hostile one) might.
func npyTestFile(header string, data []byte) []byte {
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(header)), byte(len(header)>>8))
	return append(append(b, header...), data...)
}

func npyTestHeader(descr string, fortran bool, shape string) string {
	f := "False"
	if fortran {
		f = "True"
	}
	return fmt.Sprintf("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr, f, shape)
}

func TestDecodeNPYLayouts(t *testing.T) {
	be := func(v any) []byte {
		var b bytes.Buffer
		binary.Write(&b, binary.BigEndian, v)
		return b.Bytes()
	}
	le := func(v any) []byte {
		var b bytes.Buffer
		binary.Write(&b, binary.LittleEndian, v)
		return b.Bytes()
	}
	for _, tc := range []struct {
		name    string
		b       []byte
		w, h, c int
		dt      DType
		want    []float64 // planar
	}{
		// A 2×3×2 image: pixel (x, y) has channels 10y+x and -(10y+x).
		{"C order", npyTestFile(npyTestHeader("<i2", false, "(2, 3, 2)"), le([]int16{0, 0, 1, -1, 2, -2, 10, -10, 11, -11, 12, -12})),
			3, 2, 2, Int16, []float64{0, 1, 2, 10, 11, 12, 0, -1, -2, -10, -11, -12}},
		{"Fortran order", npyTestFile(npyTestHeader("<i2", true, "(2, 3, 2)"), le([]int16{0, 10, 1, 11, 2, 12, 0, -10, -1, -11, -2, -12})),
			3, 2, 2, Int16, []float64{0, 1, 2, 10, 11, 12, 0, -1, -2, -10, -11, -12}},
		{"big-endian Fortran", npyTestFile(npyTestHeader(">u2", true, "(2, 3)"), be([]uint16{0, 10, 1, 11, 2, 65535})),
			3, 2, 1, Uint16, []float64{0, 1, 2, 10, 11, 65535}},
		{"big-endian float64", npyTestFile(npyTestHeader(">f8", false, "(1, 2)"), be([]float64{0.1, -1e300})),
			2, 1, 1, Float64, []float64{float64(float32(0.1)), math.Inf(-1)}},
		{"uint32 beyond 2^24", npyTestFile(npyTestHeader("<u4", false, "(1, 1, 1)"), le([]uint32{16777217})),
			1, 1, 1, Uint32, []float64{16777216}},
		{"int8 as int16", npyTestFile(npyTestHeader("|i1", false, "(1, 2)"), []byte{0x80, 0x7f}), 2, 1, 1, Int16, []float64{-128, 127}},
		{"bool as uint8", npyTestFile(npyTestHeader("|b1", false, "(1, 3)"), []byte{0, 1, 1}), 3, 1, 1, Uint8, []float64{0, 1, 1}},
		{"float16 as float32", npyTestFile(npyTestHeader("<f2", false, "(1, 2)"), le([]uint16{0x3555, 0x7c00})),
			2, 1, 1, Float32, []float64{float64(float32(0.333251953125)), math.Inf(1)}},
		{"64 channels", npyTestFile(npyTestHeader("|u1", false, "(1, 1, 64)"), bytes.Repeat([]byte{9}, 64)),
			1, 1, 64, Uint8, func() []float64 {
				v := make([]float64, 64)
				for i := range v {
					v[i] = 9
				}
				return v
			}()},
	} {
		r, err := DecodeNPY(tc.b)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		npyTestSame(t, tc.name, r, tc.w, tc.h, tc.c, tc.dt, tc.want)
	}
}

// TestDecodeNPYHostile checks that files no image reader should accept
// give one-line errors (naming the shape and dtype once the header is
// read) and no panic, before any large allocation.
func TestDecodeNPYHostile(t *testing.T) {
	h := npyTestHeader
	for _, tc := range []struct {
		name string
		b    []byte
		want []string
	}{
		{"empty", nil, []string{"npy: not a .npy file"}},
		{"terabytes declared", npyTestFile(h("<f4", false, "(1048576, 1048576, 3)"), make([]byte, 12)),
			[]string{"header describes 13194139533312 bytes", "file has 12"}},
		{"size and dtype disagree", npyTestFile(h("<f8", false, "(2, 2)"), make([]byte, 16)), []string{"header describes 32 bytes"}},
		{"negative dims", npyTestFile(h("|u1", false, "(-4, 2)"), nil), []string{"not a non-negative int"}},
		{"overflowing dims", npyTestFile(h("|u1", false, "(9223372036854775807, 9223372036854775807)"), nil), []string{"invalid shape"}},
		{"dim beyond int64", npyTestFile(h("|u1", false, "(99999999999999999999, 1)"), nil), []string{"invalid int"}},
		{"unknown descr", npyTestFile(h("<x4", false, "(1, 1)"), make([]byte, 4)), []string{"(1, 1)", `"<x4"`, "not a supported number type"}},
		{"complex", npyTestFile(h("<c8", false, "(1, 1)"), make([]byte, 8)), []string{"(1, 1)", "complex numbers"}},
		{"unicode", npyTestFile(h("<U2", false, "(1, 1)"), make([]byte, 8)), []string{"unicode strings"}},
		{"object", npyTestFile(h("|O", false, "(1, 1)"), make([]byte, 8)), []string{"unsupported dtype"}},
		{"structured", npyTestFile("{'descr': [('r', '|u1')], 'fortran_order': False, 'shape': (1, 1), }", []byte{1}), []string{"structured dtypes"}},
		{"int32", npyTestFile(h("<i4", false, "(2, 2)"), make([]byte, 16)), []string{"shape (2, 2)", `"<i4"`, "int32", "astype"}},
		{"int64", npyTestFile(h(">i8", false, "(1, 1, 1)"), make([]byte, 8)), []string{"int64"}},
		{"uint64", npyTestFile(h("<u8", false, "(1, 1)"), make([]byte, 8)), []string{"uint64"}},
		{"1-D", npyTestFile(h("<f4", false, "(5,)"), make([]byte, 20)), []string{"shape (5,)", "not 1-D"}},
		{"0-D", npyTestFile(h("<f4", false, "()"), make([]byte, 4)), []string{"shape ()", "not 0-D"}},
		{"4-D", npyTestFile(h("|u1", false, "(1, 2, 2, 1)"), make([]byte, 4)), []string{"shape (1, 2, 2, 1)", "not 4-D"}},
		{"65 channels", npyTestFile(h("|u1", false, "(65, 1, 65)"), make([]byte, 65*65)), []string{"(65, 1, 65)", "65 channels: at most 64"}},
		{"channels first", npyTestFile(h("|u1", false, "(3, 9, 80)"), make([]byte, 3*9*80)), []string{"80 channels", "np.moveaxis"}},
		{"empty image", npyTestFile(h("<u2", false, "(0, 5)"), nil), []string{"shape (0, 5)", "empty image"}},
		{"zero channels", npyTestFile(h("<u2", false, "(2, 5, 0)"), nil), []string{"empty image"}},
		{"4 GiB declared", npyTestFile(h("|b1", false, "(65536, 65536)"), nil), []string{"header describes 4294967296 bytes"}},
	} {
		r, err := DecodeNPY(tc.b)
		if err == nil {
			t.Errorf("%s: decoded %s without error", tc.name, r.Shape())
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "npy: ") {
			t.Errorf("%s: error %q is not one line starting npy:", tc.name, msg)
		}
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: error %q does not say %q", tc.name, msg, w)
			}
		}
	}
	// Every truncation of a valid file.
	good := npyTestFile(h("<u2", true, "(2, 3, 2)"), make([]byte, 24))
	if _, err := DecodeNPY(good); err != nil {
		t.Fatal(err)
	}
	for n := range len(good) {
		if _, err := DecodeNPY(good[:n]); err == nil {
			t.Errorf("file cut to %d bytes decoded", n)
		}
	}
}

func TestWriteNPYErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.npy")
	for _, tc := range []struct {
		name string
		r    *Raster
		want string
	}{
		{"nil", nil, "no raster"},
		{"unknown dtype", &Raster{W: 1, H: 1, C: 1, DType: 99, Data: []float32{0}}, "unknown sample type"},
		{"empty", &Raster{W: 0, H: 1, C: 1, DType: Uint8}, "empty raster"},
		{"short data", &Raster{W: 2, H: 2, C: 1, DType: Uint8, Data: []float32{1, 2, 3}}, "holds 3 values, want 4"},
	} {
		err := WriteNPY(p, tc.r)
		if err == nil || !strings.HasPrefix(err.Error(), "write "+p+": ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming the file and saying %q", tc.name, err, tc.want)
		}
	}
	if err := WriteNPY(filepath.Join(dir, "no", "x.npy"), New(1, 1, 1, Uint8)); err == nil || strings.Count(err.Error(), "write ") != 1 {
		t.Errorf("write into a missing folder: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("failed writes left %d files", len(ents))
	}
}

// TestNPYNumpy checks the raster's .npy files against numpy: np.load reads
// what WriteNPY writes with the dtype, shape and values numpy's own
// conversion gives, np.save of that array writes the same bytes, and
// DecodeNPY reads what np.save writes for every dtype it takes, in C and
// Fortran order, both byte orders, H×W and H×W×C, format versions 2.0 and
// 3.0.
func TestNPYNumpy(t *testing.T) {
	testsupport.NeedPythonLong(t, "numpy")
	dir := t.TempDir()
	var args []string
	for _, dt := range npyTestDTypes {
		for _, c := range []int{1, 3} {
			r := npyTestRaster(9, 5, c, dt, uint64(dt)*7+uint64(c))
			p := filepath.Join(dir, fmt.Sprintf("go_%v_%d.npy", dt, c))
			if err := WriteNPY(p, r); err != nil {
				t.Fatal(err)
			}
			// The values before rounding, channels last, as float64 for
			// numpy to convert itself.
			hwc := make([]float64, len(r.Data))
			for k := range c {
				for i, v := range r.Plane(k) {
					hwc[i*c+k] = float64(v)
				}
			}
			shape := []int64{5, 9, int64(c)}
			if c == 1 {
				shape = shape[:2]
			}
			if err := npy.WriteTyped(strings.Replace(p, "go_", "in_", 1), shape, "<f8", hwc); err != nil {
				t.Fatal(err)
			}
			args = append(args, p, dt.String())
		}
	}
	testsupport.RunPython(t, `
import sys, warnings
import numpy as np
warnings.simplefilter("ignore")
for p, dt in zip(sys.argv[1::2], sys.argv[2::2]):
    a = np.load(p)
    x = np.load(p.replace("go_", "in_"))
    if np.dtype(dt).kind in "iu":
        info = np.iinfo(dt)
        want = np.clip(np.round(np.nan_to_num(x, nan=0.0, posinf=np.inf, neginf=-np.inf)), info.min, info.max).astype(dt)
    else:
        want = x.astype(dt)
    assert a.dtype == np.dtype(dt), (p, a.dtype, dt)
    assert a.shape == x.shape, (p, a.shape, x.shape)
    assert not np.isfortran(a), p
    assert np.array_equal(a, want, equal_nan=True), (p, a, want)
    np.save(p.replace("go_", "np_"), want)
`, args...)
	for i := 0; i < len(args); i += 2 {
		p := args[i]
		ours, _ := os.ReadFile(p)
		theirs, err := os.ReadFile(strings.Replace(p, "go_", "np_", 1))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ours, theirs) {
			t.Errorf("%s: WriteNPY and numpy.save differ:\nours:  %q\nnumpy: %q", p, ours[:min(len(ours), 160)], theirs[:min(len(theirs), 160)])
		}
	}

	out := testsupport.RunPython(t, `
import json, os, sys
import numpy as np
d = sys.argv[1]
rng = np.random.default_rng(3)
cases = []
def save(name, a, want_dtype, version=None):
    p = os.path.join(d, name + ".npy")
    if version is None:
        np.save(p, a)
    else:
        with open(p, "wb") as f:
            np.lib.format.write_array(f, a, version=version)
    chw = a[:, :, None] if a.ndim == 2 else a
    np.save(os.path.join(d, name + ".want.npy"), np.ascontiguousarray(np.moveaxis(chw, -1, 0)).astype("<f8"))
    cases.append([name, want_dtype])
specs = {"u1": "uint8", "u2": "uint16", "i2": "int16", "u4": "uint32", "f4": "float32", "f8": "float64",
         "i1": "int16", "b1": "uint8", "f2": "float32"}
for code, want in specs.items():
    dt = np.dtype(code)
    if dt.kind == "b":
        base = rng.random((6, 5, 4)) > 0.5
    elif dt.kind in "iu":
        info = np.iinfo(dt)
        base = rng.integers(info.min, info.max, (6, 5, 4), endpoint=True).astype(dt)
        base.flat[:2] = [info.min, info.max]
    else:
        base = (rng.standard_normal((6, 5, 4)) * 1000).astype(dt)
        base.flat[:4] = [np.nan, np.inf, -np.inf, -0.0]
    for order in "<>":
        a = base.astype(dt.newbyteorder(order)) if dt.itemsize > 1 else base
        tag = "%s%s" % ({"<": "le", ">": "be"}[order], code)
        save(tag + "_hwc", a, want)
        save(tag + "_hw", a[:, :, 0], want)
        save(tag + "_hwc_f", np.asfortranarray(a), want)
        save(tag + "_hw_f", np.asfortranarray(a[:, :, 1]), want)
        save(tag + "_hw1", a[:, :, :1], want)
        if dt.itemsize == 1:
            break
save("v2", base.astype("<u2"), "uint16", (2, 0))
save("v3", np.asfortranarray(base.astype(">f4")), "float32", (3, 0))
print(json.dumps(cases))
`, dir)
	var cases [][2]string
	if err := json.Unmarshal(out, &cases); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(cases) < 60 {
		t.Fatalf("only %d numpy files", len(cases))
	}
	for _, cs := range cases {
		name := cs[0]
		b, err := os.ReadFile(filepath.Join(dir, name+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		r, err := DecodeNPY(b)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		want, err := npy.Read(filepath.Join(dir, name+".want.npy"))
		if err != nil {
			t.Fatal(err)
		}
		dt, _ := ParseDType(cs[1])
		vals, _ := want.AsFloat64()
		npyTestSame(t, name, r, int(want.Shape[2]), int(want.Shape[1]), int(want.Shape[0]), dt, vals)
	}
}

// Encode gives the bytes the writers write, for every format.
func TestEncodeMatchesWriters(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		f  Format
		dt DType
		ch int
	}{{TIFF, Uint16, 5}, {TIFF, Float32, 1}, {NPY, Float32, 2}, {NPY, Int16, 1}, {PNG, Uint8, 4}, {PNG, Uint16, 1}} {
		r := New(7, 5, c.ch, c.dt)
		for i := range r.Data {
			r.Data[i] = float32(i*37%1000) - 3
		}
		path := filepath.Join(dir, "x"+c.f.Ext())
		var err error
		switch c.f {
		case TIFF:
			err = WriteTIFF(path, r)
		case NPY:
			err = WriteNPY(path, r)
		case PNG:
			err = WritePNG(path, r)
		}
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Encode(c.f, r)
		if err != nil {
			t.Fatalf("%s %s: %v", c.f, c.dt, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s %s ×%d: Encode differs from the writer's file", c.f, c.dt, c.ch)
		}
	}
}
