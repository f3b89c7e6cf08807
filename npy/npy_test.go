package npy

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"cyclepix/internal/testsupport"
)

func arange(n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(i)*0.5 - 3
	}
	return out
}

var shapes = [][]int64{{2, 3}, {5}, {}, {0, 4}, {1, 3, 64, 64}, {7, 1, 2}, {1234567, 0}, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}}

func TestWriteRead(t *testing.T) {
	dir := t.TempDir()
	for _, shape := range shapes {
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			data := arange(int(numElements(shape)))
			path := filepath.Join(dir, "a.npy")
			if err := Write(path, shape, data); err != nil {
				t.Fatal(err)
			}
			a, err := Read(path)
			if err != nil {
				t.Fatal(err)
			}
			if a.DType != "<f4" || a.FortranOrder || fmt.Sprint(a.Shape) != fmt.Sprint(shape) || a.Shape == nil {
				t.Errorf("read %q %v fortran=%v, want <f4 %v", a.DType, a.Shape, a.FortranOrder, shape)
			}
			got, err := a.Float32()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, data) {
				t.Errorf("data %v, want %v", got, data)
			}
			st, _ := os.Stat(path)
			if off := st.Size() - int64(4*len(data)); off%64 != 0 {
				t.Errorf("data starts at %d, not 64-byte aligned", off)
			}
		})
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory has %d entries, want 1 (temporary files left behind?)", len(ents))
	}
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.npy")
	for _, tc := range []struct {
		shape []int64
		data  []float32
		want  string
	}{
		{[]int64{2, 2}, arange(3), "has 4 elements, data has 3"},
		{[]int64{-1}, nil, "invalid shape"},
		{[]int64{}, nil, "has 1 elements, data has 0"},
	} {
		err := Write(path, tc.shape, tc.data)
		if err == nil || !strings.Contains(err.Error(), "write "+path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Write(%v, %d values) error %v, want %q", tc.shape, len(tc.data), err, tc.want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("failed writes left %d files", len(ents))
	}
}

func TestParseHeader(t *testing.T) {
	for _, tc := range []struct {
		header  string
		dtype   string
		shape   []int64
		fortran bool
	}{
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 64, 64), }          \n", "<f4", []int64{1, 3, 64, 64}, false},
		{"{'descr': '<f8', 'fortran_order': True, 'shape': (3,), }", "<f8", []int64{3}, true},
		{"{'descr': '|u1', 'fortran_order': False, 'shape': ()}", "|u1", []int64{}, false},
		{`{"shape": (2L, 3L), "descr": ">i8", "fortran_order": False}`, ">i8", []int64{2, 3}, false},
		{"{'descr':'<f4','fortran_order':False,'shape':( 4 , 5 ),}", "<f4", []int64{4, 5}, false},
	} {
		a, err := parseHeader(tc.header)
		if err != nil {
			t.Errorf("%q: %v", tc.header, err)
			continue
		}
		if a.DType != tc.dtype || fmt.Sprint(a.Shape) != fmt.Sprint(tc.shape) || a.Shape == nil || a.FortranOrder != tc.fortran {
			t.Errorf("%q: got %q %v %v", tc.header, a.DType, a.Shape, a.FortranOrder)
		}
	}
	for _, h := range []string{
		"", "{", "{'descr': '<f4'}", "[1, 2]",
		"{'descr': '<f4', 'fortran_order': False, 'shape': (3)}",
		"{'descr': '<f4', 'fortran_order': 0, 'shape': (3,)}",
		"{'descr': '<f4', 'fortran_order': False, 'shape': (-3,)}",
		"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'extra': 1}",
		"{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (3,)}",
		"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}",
		"{'descr': '<f4', 'fortran_order': False, 'shape': (3,)} trailing",
		"{'descr': '<f4, 'fortran_order': False, 'shape': (3,)}",
		strings.Repeat("(", 100),
	} {
		if _, err := parseHeader(h); err == nil {
			t.Errorf("%q parsed without error", h)
		}
	}
}

func TestFloat32Conversions(t *testing.T) {
	le8 := func(v ...float64) []byte {
		var b bytes.Buffer
		binary.Write(&b, binary.LittleEndian, v)
		return b.Bytes()
	}
	be4 := func(v ...float32) []byte {
		var b bytes.Buffer
		binary.Write(&b, binary.BigEndian, v)
		return b.Bytes()
	}
	for _, tc := range []struct {
		name string
		a    Array
		want []float32
	}{
		{"float64", Array{DType: "<f8", Shape: []int64{3}, Data: le8(0.1, -2, 1e300)}, []float32{0.1, -2, float32(math.Inf(1))}},
		{"big-endian", Array{DType: ">f4", Shape: []int64{2}, Data: be4(1.5, -3)}, []float32{1.5, -3}},
		{"fortran", Array{DType: "<f8", Shape: []int64{2, 3}, FortranOrder: true, Data: le8(0, 3, 1, 4, 2, 5)}, []float32{0, 1, 2, 3, 4, 5}},
		{"fortran 3-d", Array{DType: ">f4", Shape: []int64{2, 1, 2}, FortranOrder: true, Data: be4(0, 2, 1, 3)}, []float32{0, 1, 2, 3}},
	} {
		got, err := tc.a.Float32()
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
		} else if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	for _, a := range []Array{
		{DType: "<i8", Shape: []int64{1}, Data: make([]byte, 8)},
		{DType: "|u1", Shape: []int64{1}, Data: []byte{1}},
		{DType: "<f2", Shape: []int64{1}, Data: []byte{0, 0}},
		{DType: "<f4", Shape: []int64{2}, Data: make([]byte, 4)},
	} {
		if _, err := a.Float32(); err == nil {
			t.Errorf("Float32 of %q %v with %d bytes succeeded", a.DType, a.Shape, len(a.Data))
		}
	}
}

func TestInt64Conversions(t *testing.T) {
	enc := func(order binary.ByteOrder, v any) []byte {
		var b bytes.Buffer
		binary.Write(&b, order, v)
		return b.Bytes()
	}
	for _, tc := range []struct {
		name string
		a    Array
		want []int64
	}{
		{"int64", Array{DType: "<i8", Shape: []int64{3}, Data: enc(binary.LittleEndian, []int64{0, -7, 1 << 40})}, []int64{0, -7, 1 << 40}},
		{"int32 big-endian", Array{DType: ">i4", Shape: []int64{2}, Data: enc(binary.BigEndian, []int32{-1, 255})}, []int64{-1, 255}},
		{"fortran", Array{DType: "<i8", Shape: []int64{2, 3}, FortranOrder: true, Data: enc(binary.LittleEndian, []int64{0, 3, 1, 4, 2, 5})}, []int64{0, 1, 2, 3, 4, 5}},
	} {
		got, err := tc.a.Int64()
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
		} else if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	for _, a := range []Array{
		{DType: "<f8", Shape: []int64{1}, Data: make([]byte, 8)},
		{DType: "|i1", Shape: []int64{1}, Data: []byte{1}},
		{DType: "<u8", Shape: []int64{1}, Data: make([]byte, 8)},
		{DType: "<i8", Shape: []int64{2}, Data: make([]byte, 8)},
	} {
		if _, err := a.Int64(); err == nil {
			t.Errorf("Int64 of %q %v with %d bytes succeeded", a.DType, a.Shape, len(a.Data))
		}
	}
}

func TestReadOtherDTypes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "u8.npy")
	h := "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2), }"
	h += strings.Repeat(" ", 64-(10+len(h)+1)%64) + "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), byte(len(h)>>8))
	b = append(append(b, h...), 1, 2, 3, 4)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if a.DType != "|u1" || !bytes.Equal(a.Data, []byte{1, 2, 3, 4}) {
		t.Errorf("got %q %v", a.DType, a.Data)
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.npy")
	if err := Write(good, []int64{2, 3}, arange(6)); err != nil {
		t.Fatal(err)
	}
	valid, _ := os.ReadFile(good)
	withHeader := func(h string, data []byte) []byte {
		b := append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), byte(len(h)>>8))
		return append(append(b, h...), data...)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not a .npy file"},
		{"bad magic", []byte("\x93NUMPZ\x01\x00\x00\x00"), "bad magic"},
		{"version 4", []byte("\x93NUMPY\x04\x00\x00\x00"), "unsupported format version 4.0"},
		{"header beyond file", []byte("\x93NUMPY\x01\x00\xff\xff{}"), "exceeds the file"},
		{"huge v2 header", []byte("\x93NUMPY\x02\x00\xff\xff\xff\xff{}"), "exceeds the file"},
		{"truncated data", valid[:len(valid)-1], "header describes 24 bytes of data"},
		{"trailing data", append(bytes.Clone(valid), 0), "file has 25"},
		{"bad literal", withHeader("{'descr': '<f4', 'fortran_order': Nope, 'shape': (1,)}", nil), "header"},
		{"structured", withHeader("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}", nil), "structured dtypes"},
		{"object", withHeader("{'descr': '|O', 'fortran_order': False, 'shape': (1,)}", nil), "unsupported dtype"},
		{"object8", withHeader("{'descr': '|O8', 'fortran_order': False, 'shape': (1,)}", nil), "object arrays"},
		{"huge shape", withHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4),}", nil), "invalid shape"},
	}
	for _, tc := range tests {
		path := filepath.Join(dir, "bad.npy")
		if err := os.WriteFile(path, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Read(path)
		if err == nil || !strings.HasPrefix(err.Error(), "read "+path+": ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming the file and containing %q", tc.name, err, tc.want)
		}
	}
	for n := range len(valid) {
		path := filepath.Join(dir, "cut.npy")
		os.WriteFile(path, valid[:n], 0o644)
		if _, err := Read(path); err == nil {
			t.Errorf("file cut to %d bytes read without error", n)
		}
	}
}

// npyDType is the descr NumPy writes for the dtype names case.json uses.
var npyDType = map[string]string{"float32": "<f4", "int64": "<i8", "int32": "<i4"}

// TestParity reads every .npy file of the parity fixtures and checks its
// shape and dtype against the case's case.json.
func TestParity(t *testing.T) {
	dir := testsupport.NeedParityDir(t)
	cases, err := filepath.Glob(filepath.Join(dir, "*", "case.json"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, cj := range cases {
		b, err := os.ReadFile(cj)
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			Files map[string]struct {
				DType string  `json:"dtype"`
				Shape []int64 `json:"shape"`
			} `json:"files"`
		}
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatalf("%s: %v", cj, err)
		}
		for name, f := range c.Files {
			if !strings.HasSuffix(name, ".npy") {
				continue
			}
			// "grads/<name>.npy" stands for one file per parameter.
			paths, err := filepath.Glob(filepath.Join(filepath.Dir(cj), strings.ReplaceAll(name, "<name>", "*")))
			if err != nil || len(paths) == 0 {
				t.Errorf("%s: no file matches %s", cj, name)
				continue
			}
			for _, path := range paths {
				a, err := Read(path)
				if err != nil {
					t.Error(err)
					continue
				}
				// The CUT cases leave the dtype out: their README says
				// float32 for tensors and int64 for the patch indices.
				want := f.DType
				if want == "" {
					want = "float32"
					if strings.HasPrefix(filepath.Base(path), "patch_ids_") {
						want = "int64"
					}
				}
				if npyDType[want] != a.DType {
					t.Errorf("%s: dtype %q, case.json says %q", path, a.DType, want)
				}
				if f.Shape != nil && fmt.Sprint(a.Shape) != fmt.Sprint(f.Shape) {
					t.Errorf("%s: shape %v, case.json says %v", path, a.Shape, f.Shape)
				}
				var n int
				if strings.HasPrefix(want, "int") {
					v, e := a.Int64()
					n, err = len(v), e
				} else {
					v, e := a.Float32()
					n, err = len(v), e
				}
				if err != nil || int64(n) != a.NumElements() {
					t.Errorf("%s: %d values, %v", path, n, err)
				}
				checked++
			}
		}
	}
	if checked == 0 {
		t.Fatalf("no .npy files listed in %s/*/case.json", dir)
	}
}

// TestNumpy checks Write against numpy: numpy.load reads what Write writes
// and numpy.save writes the same bytes; and Read against numpy's other
// layouts (float64, Fortran order, big-endian, format versions 2.0 and 3.0).
func TestNumpy(t *testing.T) {
	testsupport.NeedPythonLong(t, "numpy")
	dir := t.TempDir()
	var args []string
	for i, shape := range shapes {
		if numElements(shape) > 1<<16 {
			continue
		}
		path := filepath.Join(dir, fmt.Sprintf("go%d.npy", i))
		if err := Write(path, shape, arange(int(numElements(shape)))); err != nil {
			t.Fatal(err)
		}
		args = append(args, path)
	}
	out := testsupport.RunPython(t, `
import json, sys
import numpy as np
for p in sys.argv[1:]:
    a = np.load(p)
    assert a.dtype == np.float32 and a.flags.c_contiguous, p
    want = (np.arange(a.size, dtype=np.float32) * np.float32(0.5) - np.float32(3)).reshape(a.shape)
    assert np.array_equal(a, want), p
    q = p.replace("go", "np")
    np.save(q, want)
print(json.dumps([list(np.load(p).shape) for p in sys.argv[1:]]))
`, args...)
	var pyShapes [][]int64
	if err := json.Unmarshal(out, &pyShapes); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for i, p := range args {
		a, _ := Read(p)
		if fmt.Sprint(pyShapes[i]) != fmt.Sprint(a.Shape) {
			t.Errorf("%s: numpy sees shape %v, want %v", p, pyShapes[i], a.Shape)
		}
		ours, _ := os.ReadFile(p)
		theirs, err := os.ReadFile(strings.Replace(p, "go", "np", 1))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ours, theirs) {
			t.Errorf("%s: Write and numpy.save differ:\nours:  %q\nnumpy: %q", p, ours[:min(len(ours), 128)], theirs[:min(len(theirs), 128)])
		}
	}

	out = testsupport.RunPython(t, `
import json, os, sys
import numpy as np
d = sys.argv[1]
x = (np.arange(24, dtype=np.float64) / 7 - 1).reshape(2, 3, 4)
arrays = {
    "f8": x,
    "fortran": np.asfortranarray(x.astype(np.float32)),
    "big": x.astype(">f4"),
    "scalar": np.float32(2.5) * np.ones((), np.float32),
}
for name, a in arrays.items():
    np.save(os.path.join(d, name + ".npy"), a)
for v in [(2, 0), (3, 0)]:
    with open(os.path.join(d, "v%d.npy" % v[0]), "wb") as f:
        np.lib.format.write_array(f, x.astype(np.float32), version=v)
    arrays["v%d" % v[0]] = x
print(json.dumps({k: [list(a.shape), [float(np.float32(v)) for v in np.ravel(a, order="C")]] for k, a in arrays.items()}))
`, dir)
	var want map[string][2]json.RawMessage
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for name, w := range want {
		var shape []int64
		var values []float32
		json.Unmarshal(w[0], &shape)
		json.Unmarshal(w[1], &values)
		a, err := Read(filepath.Join(dir, name+".npy"))
		if err != nil {
			t.Error(err)
			continue
		}
		got, err := a.Float32()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if fmt.Sprint(a.Shape) != fmt.Sprint(shape) || !reflect.DeepEqual(got, values) {
			t.Errorf("%s (%q, fortran=%v): %v %v, want %v %v", name, a.DType, a.FortranOrder, a.Shape, got, shape, values)
		}
	}
}
