package pth

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// expectLoaded converts a value given to Save into what Load returns for
// it.
func expectLoaded(v any) any {
	switch x := v.(type) {
	case Tensor:
		return expectLoaded(&x)
	case *Tensor:
		shape := append([]int64{}, x.Shape...)
		return &Tensor{DType: x.DType, Shape: shape, Data: append([]byte{}, x.Data...)}
	case *Dict:
		d := NewDict()
		for _, k := range x.Keys {
			d.Set(k, expectLoaded(x.Values[k]))
		}
		return d
	case map[string]any:
		d := NewDict()
		for _, k := range sortedKeys(x) {
			d.Set(k, expectLoaded(x[k]))
		}
		return d
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = expectLoaded(e)
		}
		return out
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case uint8:
		return int64(x)
	case float32:
		return float64(x)
	}
	return v
}

// diff returns a description of the first difference between got and want,
// or "" if they are equal. Floats compare by bits so that NaN equals itself.
func diff(got, want any, path string) string {
	switch w := want.(type) {
	case *Tensor:
		g, ok := got.(*Tensor)
		switch {
		case !ok:
			return fmt.Sprintf("%s: got %T, want tensor", path, got)
		case g.DType != w.DType:
			return fmt.Sprintf("%s: dtype %v, want %v", path, g.DType, w.DType)
		case g.Shape == nil || fmt.Sprint(g.Shape) != fmt.Sprint(w.Shape):
			return fmt.Sprintf("%s: shape %#v, want %v", path, g.Shape, w.Shape)
		case !bytes.Equal(g.Data, w.Data):
			return fmt.Sprintf("%s: data %x, want %x", path, g.Data, w.Data)
		}
	case *Dict:
		g, ok := got.(*Dict)
		if !ok {
			return fmt.Sprintf("%s: got %T, want dict", path, got)
		}
		if fmt.Sprintf("%q", g.Keys) != fmt.Sprintf("%q", w.Keys) || len(g.Values) != len(w.Values) {
			return fmt.Sprintf("%s: keys %q, want %q", path, g.Keys, w.Keys)
		}
		for _, k := range w.Keys {
			if d := diff(g.Values[k], w.Values[k], fmt.Sprintf("%s[%q]", path, k)); d != "" {
				return d
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: got %#v, want %d-element list", path, got, len(w))
		}
		for i := range w {
			if d := diff(g[i], w[i], fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
	case float64:
		g, ok := got.(float64)
		if !ok || math.Float64bits(g) != math.Float64bits(w) {
			return fmt.Sprintf("%s: got %#v, want %v", path, got, w)
		}
	default:
		if got != want {
			return fmt.Sprintf("%s: got %#v (%T), want %#v (%T)", path, got, got, want, want)
		}
	}
	return ""
}

func dictOf(kv ...any) *Dict {
	d := NewDict()
	for i := 0; i < len(kv); i += 2 {
		d.Set(kv[i].(string), kv[i+1])
	}
	return d
}

// stateDict returns a state_dict with one tensor of every dtype, including
// a 0-d int64 like BatchNorm's num_batches_tracked and an empty tensor.
func stateDict() *Dict {
	return dictOf(
		"model.1.weight", f32Tensor([]int64{2, 3, 1, 1}, arange(6, 0.5)...),
		"model.1.bias", f32Tensor([]int64{2}, -1, 1e-30),
		"model.2.num_batches_tracked", i64Tensor([]int64{}, 200),
		"f64", &Tensor{DType: Float64, Shape: []int64{3}, Data: le([]float64{math.Pi, -0, 1e300})},
		"f16", &Tensor{DType: Float16, Shape: []int64{2}, Data: le([]uint16{0x3c00, 0xc000})},
		"bf16", &Tensor{DType: BFloat16, Shape: []int64{2, 2}, Data: le([]uint16{0x3f80, 0x4000, 0xc040, 0x0001})},
		"i32", &Tensor{DType: Int32, Shape: []int64{2}, Data: le([]int32{math.MinInt32, 7})},
		"i16", &Tensor{DType: Int16, Shape: []int64{1}, Data: le([]int16{-300})},
		"i8", &Tensor{DType: Int8, Shape: []int64{2}, Data: le([]int8{-128, 127})},
		"u8", &Tensor{DType: Uint8, Shape: []int64{2, 2}, Data: []byte{0, 1, 254, 255}},
		"bool", &Tensor{DType: Bool, Shape: []int64{3}, Data: []byte{1, 0, 1}},
		"empty", &Tensor{DType: Float32, Shape: []int64{0, 3}},
		"scalar_f32", Tensor{DType: Float32, Shape: []int64{}, Data: le([]float32{2.5})},
	)
}

func TestRoundTrip(t *testing.T) {
	shared := f32Tensor([]int64{2}, 1, 2)
	bigDict := NewDict()
	for i := range 2500 {
		bigDict.Set(fmt.Sprintf("key.%d", 2500-i), i)
	}
	bigList := make([]any, 1001)
	for i := range bigList {
		bigList[i] = float64(i) / 3
	}
	tests := []struct {
		name string
		v    any
	}{
		{"state dict", stateDict()},
		{"tensor", f32Tensor([]int64{4}, 1, 2, 3, 4)},
		{"0-d tensor", i64Tensor([]int64{}, -5)},
		{"nested", dictOf(
			"epoch", 5,
			"lr", 0.0002,
			"name", "cycle_gan ✓",
			"empty string", "",
			"flags", []any{true, false, nil},
			"ints", []any{0, 255, 256, 65535, 65536, -1, math.MaxInt32, math.MinInt32, int64(math.MaxInt32) + 1,
				int64(math.MinInt32) - 1, int64(1) << 40, -(int64(1) << 40), int64(math.MaxInt64), int64(math.MinInt64),
				int32(-7), uint8(200)},
			"floats", []any{math.Inf(1), math.Inf(-1), math.NaN(), math.Copysign(0, -1), float32(0.1), 1e-310},
			"plain", map[string]any{"z": 1, "a": []any{"x"}, "m": map[string]any{}},
			"one", map[string]any{"only": nil},
			"deep", dictOf("net", stateDict(), "list", []any{[]any{[]any{}}, shared, shared}),
			"empty dict", NewDict(),
			"one item", dictOf("k", 1),
		)},
		{"big containers", dictOf("dict", bigDict, "list", bigList, "plain", func() map[string]any {
			m := map[string]any{}
			for i := range 1000 {
				m[fmt.Sprintf("p%04d", i)] = i
			}
			return m
		}())},
		{"string", "hello"},
		{"int", 42},
		{"none", nil},
		{"list", []any{1, "two", 3.0, stateDict()}},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".pth")
			if err := Save(path, tc.v); err != nil {
				t.Fatal(err)
			}
			got, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if d := diff(got, expectLoaded(tc.v), "value"); d != "" {
				t.Error(d)
			}
		})
	}
}

func TestRoundTripSharing(t *testing.T) {
	shared := f32Tensor([]int64{2}, 1, 2)
	d := dictOf("a", shared, "b", shared)
	d.Set("self", d)
	path := filepath.Join(t.TempDir(), "shared.pth")
	if err := Save(path, d); err != nil {
		t.Fatal(err)
	}
	v, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	got := v.(*Dict)
	if got.Values["a"] != got.Values["b"] {
		t.Error("a tensor saved twice loaded as two tensors")
	}
	if got.Values["self"] != got {
		t.Error("a dict containing itself did not load as itself")
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if n := len(zr.File); n != 3 {
		t.Errorf("archive has %d entries, want 3 (data.pkl, one storage, version)", n)
	}
}

func TestDictSet(t *testing.T) {
	d := &Dict{}
	d.Set("b", 1)
	d.Set("a", 2)
	d.Set("b", 3)
	if got := fmt.Sprint(d.Keys); got != "[b a]" || d.Len() != 2 {
		t.Errorf("keys %v, want [b a]", got)
	}
	if v, ok := d.Get("b"); !ok || v != 3 {
		t.Errorf("Get(b) = %v, %v", v, ok)
	}
	if _, ok := d.Get("c"); ok {
		t.Error("Get(c) found a value")
	}
}

func TestSaveFormat(t *testing.T) {
	d := NewDict()
	for i := range 12 {
		d.Set(fmt.Sprintf("layer%d.weight", i), f32Tensor([]int64{int64(i + 1)}, arange(i+1, 1)...))
	}
	d.Set("empty", &Tensor{DType: Int64, Shape: []int64{0}})
	dir := t.TempDir()
	path := filepath.Join(dir, "latest_net_G.pth")
	if err := Save(path, d); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Method != zip.Store {
			t.Errorf("%s: method %d, want Store", f.Name, f.Method)
		}
		off, err := f.DataOffset()
		if err != nil {
			t.Fatal(err)
		}
		if off%64 != 0 {
			t.Errorf("%s: data at offset %d, not 64-byte aligned", f.Name, off)
		}
	}
	want := "latest_net_G/data.pkl latest_net_G/data/0 latest_net_G/data/1 latest_net_G/data/10 " +
		"latest_net_G/data/11 latest_net_G/data/12 latest_net_G/data/2 latest_net_G/data/3 latest_net_G/data/4 " +
		"latest_net_G/data/5 latest_net_G/data/6 latest_net_G/data/7 latest_net_G/data/8 latest_net_G/data/9 " +
		"latest_net_G/version"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("entries\n%s\nwant\n%s", got, want)
	}
	rc, err := zr.File[len(zr.File)-1].Open()
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(rc); string(b) != "3\n" {
		t.Errorf("version %q, want \"3\\n\"", b)
	}
	rc.Close()

	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	assertOnlyFiles(t, dir, "latest_net_G.pth")

	// Saving again replaces the file.
	if err := Save(path, "replaced"); err != nil {
		t.Fatal(err)
	}
	if v, err := Load(path); err != nil || v != "replaced" {
		t.Errorf("after overwrite: %v, %v", v, err)
	}
	assertOnlyFiles(t, dir, "latest_net_G.pth")
}

// assertOnlyFiles checks that dir holds exactly the named files, so that
// no temporary file was left behind.
func assertOnlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Errorf("directory holds %q, want %q", got, names)
	}
}

func TestArchiveName(t *testing.T) {
	for path, want := range map[string]string{
		"latest_net_G.pth":         "latest_net_G",
		"/a/b/200_net_D_A.pth":     "200_net_D_A",
		"dir.x/model.best.pt":      "model.best",
		"noext":                    "noext",
		"/tmp/.pth":                "archive",
		"checkpoints/exp/iter_1.0": "iter_1",
	} {
		if got := archiveName(path); got != want {
			t.Errorf("archiveName(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestSaveErrors(t *testing.T) {
	deep := []any{}
	for range maxDepth + 5 {
		deep = []any{deep}
	}
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"short data", dictOf("w", f32Tensor([]int64{2, 2}, 1, 2, 3)), `["w"]: float32 tensor of shape [2 2] needs 16 bytes, has 12`},
		{"bad dtype", &Tensor{DType: DType(99), Shape: []int64{1}, Data: []byte{0}}, "invalid dtype"},
		{"negative dim", &Tensor{Shape: []int64{-1}}, "invalid shape"},
		{"nil tensor", dictOf("w", (*Tensor)(nil)), "nil *Tensor"},
		{"struct", dictOf("a", []any{struct{}{}}), `["a"][0] has unsupported type struct {}`},
		{"int map", map[int]any{1: 2}, "unsupported type map[int]interface {}"},
		{"bad utf8", []any{"\xff"}, "not valid UTF-8"},
		{"bad key", map[string]any{"\xff": 1}, "not valid UTF-8"},
		{"dict keys", &Dict{Keys: []string{"a", "b"}, Values: map[string]any{"a": 1}}, "2 keys but 1 values"},
		{"dict dup", &Dict{Keys: []string{"a", "a"}, Values: map[string]any{"a": 1, "b": 2}}, `"a" listed twice`},
		{"too deep", deep, "nested more than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "x.pth")
			err := Save(path, tc.v)
			if err == nil {
				t.Fatal("Save succeeded")
			}
			if !strings.Contains(err.Error(), "save "+path+": ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to name the file and contain %q", err, tc.want)
			}
			assertOnlyFiles(t, dir)
		})
	}
	if err := Save(filepath.Join(t.TempDir(), "missing", "x.pth"), 1); err == nil {
		t.Error("Save into a missing directory succeeded")
	}
}

// expectedViews is the content of testdata/views.pth and legacy.pth; see
// testdata/gen.py.
func expectedViews() *Dict {
	base := arange(24, 1)
	at := func(i, j, k int) float32 { return base[i*12+j*4+k] }
	var transposed, column []float32
	for k := range 4 {
		for j := range 3 {
			for i := range 2 {
				transposed = append(transposed, at(i, j, k))
			}
		}
	}
	for i := range 2 {
		for j := range 3 {
			column = append(column, at(i, j, 2))
		}
	}
	f64 := &Tensor{DType: Float64, Shape: []int64{5}, Data: le([]float64{0, 0.25, 0.5, 0.75, 1})}
	return dictOf(
		"base", f32Tensor([]int64{2, 3, 4}, base...),
		"transposed", f32Tensor([]int64{4, 3, 2}, transposed...),
		"slice", f32Tensor([]int64{2, 4}, base[16:]...),
		"column", f32Tensor([]int64{2, 3}, column...),
		"step", f32Tensor([]int64{5}, 1, 6, 11, 16, 21),
		"expanded", &Tensor{DType: Int16, Shape: []int64{2, 3}, Data: le([]int16{0, 1, 2, 0, 1, 2})},
		"i64_t", i64Tensor([]int64{3, 2}, 0, 3, 1, 4, 2, 5),
		"f64", f64,
		"f16", &Tensor{DType: Float16, Shape: []int64{4}, Data: le([]uint16{0, 0x3c00, 0x4000, 0x4200})},
		"bf16", &Tensor{DType: BFloat16, Shape: []int64{4}, Data: le([]uint16{0, 0x3f80, 0x4000, 0x4040})},
		"i32", &Tensor{DType: Int32, Shape: []int64{4}, Data: le([]int32{-2, -1, 0, 1})},
		"i8", &Tensor{DType: Int8, Shape: []int64{4}, Data: le([]int8{-2, -1, 0, 1})},
		"u8", &Tensor{DType: Uint8, Shape: []int64{4}, Data: []byte{250, 251, 252, 253}},
		"bool", &Tensor{DType: Bool, Shape: []int64{3}, Data: []byte{1, 0, 1}},
		"scalar", i64Tensor([]int64{}, 7),
		"empty", &Tensor{DType: Float32, Shape: []int64{0, 3}, Data: []byte{}},
		"param", f32Tensor([]int64{2}, 0, 1),
		"same", f64,
		"meta", dictOf("epoch", int64(3), "lr", 0.5, "name", "x", "flags", []any{true, nil},
			"pair", []any{int64(1), int64(-2)}, "big", int64(1)<<40),
	)
}

// TestLoadTorchFiles reads files written by PyTorch 1.13 (testdata/gen.py):
// views with offsets and strides, shared storages, every dtype, and the
// legacy format.
func TestLoadTorchFiles(t *testing.T) {
	for _, name := range []string{"views.pth", "legacy.pth"} {
		t.Run(name, func(t *testing.T) {
			v, err := Load(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			if d := diff(v, expectedViews(), "value"); d != "" {
				t.Error(d)
			}
			d := v.(*Dict)
			if d.Values["same"] != d.Values["f64"] {
				t.Error("the same tensor under two keys loaded as two tensors")
			}
		})
	}
}

func TestLoadStateDict(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.pth")
	if err := Save(good, stateDict()); err != nil {
		t.Fatal(err)
	}
	d, err := LoadStateDict(good)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != stateDict().Len() {
		t.Errorf("%d keys, want %d", d.Len(), stateDict().Len())
	}
	for _, tc := range []struct {
		v    any
		want string
	}{
		{dictOf("a", f32Tensor([]int64{1}, 1), "opt", dictOf("lr", 1.0)), `value of key "opt" is a dict, not a tensor`},
		{dictOf("a", f32Tensor([]int64{1}, 1), "n", 3), `value of key "n" is an int, not a tensor`},
		{[]any{1}, "holds a list, not a dict"},
	} {
		path := filepath.Join(dir, "bad.pth")
		if err := Save(path, tc.v); err != nil {
			t.Fatal(err)
		}
		_, err := LoadStateDict(path)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadStateDict error %v, want one naming %s and containing %q", err, path, tc.want)
		}
	}
	if _, err := LoadStateDict(filepath.Join("testdata", "legacy.pth")); err == nil ||
		!strings.Contains(err.Error(), `value of key "meta" is a dict`) {
		t.Errorf("legacy.pth: error %v", err)
	}
}
