package pth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"cyclepix/internal/testsupport"
)

// These tests check the package against PyTorch itself, run through
// Debian's /usr/bin/python3 with python3-torch (1.13). They are skipped
// where that is not installed.

// pythonDescription parses the JSON that a pyCanon script printed.
func pythonDescription(t *testing.T, out []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("python output: %v\n%s", err, out)
	}
	return v
}

func compareDescriptions(t *testing.T, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("descriptions differ\ngot:  %s\nwant: %s", g, w)
	}
}

// allOrderedDicts marks every dict in a description as an OrderedDict,
// since Load returns *Dict for both kinds.
func allOrderedDicts(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x["type"]; ok {
			x["type"] = "OrderedDict"
		}
		for _, e := range x {
			allOrderedDicts(e)
		}
	case []any:
		for _, e := range x {
			allOrderedDicts(e)
		}
	}
	return v
}

// TestTorchLoadsSave has PyTorch load what Save writes, with
// weights_only=False for a checkpoint with nested plain data and
// weights_only=True for a flat state dict.
func TestTorchLoadsSave(t *testing.T) {
	testsupport.NeedPythonLong(t, "torch")
	t.Parallel()
	dir := t.TempDir()
	checkpoint := dictOf(
		"state", stateDict(),
		"epoch", 7,
		"lr", 2e-4,
		"name", "pix2pix",
		"flags", []any{true, false, nil},
		"plain", map[string]any{"b": 1, "a": -2.5},
		"ints", []any{int64(1) << 40, int64(math.MinInt64), int64(math.MaxInt64), -70000},
		"list", []any{f32Tensor([]int64{2}, 1, 2), "x", []any{}},
	)
	for _, tc := range []struct {
		name        string
		v           any
		weightsOnly string
	}{
		{"checkpoint", checkpoint, "False"},
		{"state_dict", stateDict(), "True"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".pth")
			if err := Save(path, tc.v); err != nil {
				t.Fatal(err)
			}
			out := testsupport.RunPython(t, pyCanon+`
obj = torch.load(sys.argv[1], weights_only=`+tc.weightsOnly+`)
for v in (obj.values() if isinstance(obj, dict) else []):
    if isinstance(v, torch.Tensor):
        assert v.is_contiguous() and not v.requires_grad
print(json.dumps(canon(obj)))
`, path)
			compareDescriptions(t, pythonDescription(t, out), jsonNormalize(t, canon(tc.v)))
		})
	}
}

// TestLoadTorchSave has PyTorch save tensors of several dtypes, including
// non-contiguous views and tensors sharing a storage, in the zip and the
// legacy format, and checks that Load reads the same values.
func TestLoadTorchSave(t *testing.T) {
	testsupport.NeedPythonLong(t, "torch")
	t.Parallel()
	dir := t.TempDir()
	zipPath := filepath.Join(dir, "zip.pth")
	legacyPath := filepath.Join(dir, "legacy.pth")
	out := testsupport.RunPython(t, pyCanon+`
torch.manual_seed(0)
base = torch.randn(3, 4)
od = collections.OrderedDict()
od["base"] = base
od["t"] = base.t()
od["row"] = base[1]
od["cols"] = base[:, 1:3]
od["half"] = torch.randn(5).half()
od["bf_t"] = torch.randn(2, 3).bfloat16().t()
od["long"] = torch.randint(-1000, 1000, (3, 3)).t()
od["f64_scalar"] = torch.tensor(3.5, dtype=torch.float64)
od["num_batches_tracked"] = torch.tensor(0)
od["mask"] = torch.rand(4) > 0.5
od["u8"] = torch.randint(0, 255, (2, 3), dtype=torch.uint8)
od["i8"] = torch.randint(-100, 100, (3,), dtype=torch.int8)
od["i16"] = torch.randint(-100, 100, (3,), dtype=torch.int16)
od["i32"] = torch.randint(-100, 100, (3,), dtype=torch.int32)
od["empty"] = torch.zeros(2, 0)
od["meta"] = {"epoch": 200, "name": "cycle_gan", "list": [1, 2.5, None, True], "pair": (3, 4)}
torch.save(od, sys.argv[1])
torch.save(od, sys.argv[2], _use_new_zipfile_serialization=False)
print(json.dumps(canon(od)))
`, zipPath, legacyPath)
	want := allOrderedDicts(pythonDescription(t, out))
	for _, path := range []string{zipPath, legacyPath} {
		v, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		compareDescriptions(t, jsonNormalize(t, canon(v)), want)
	}
}

// TestSaveMatchesTorchBytes checks that Save writes exactly the bytes
// that torch.save writes for the same object: pickle opcodes, memo
// numbering, batching of large containers, zip layout and padding.
func TestSaveMatchesTorchBytes(t *testing.T) {
	testsupport.NeedPythonLong(t, "torch")
	t.Parallel()
	torchPath := filepath.Join(t.TempDir(), "checkpoint.pth")
	goPath := filepath.Join(t.TempDir(), "checkpoint.pth")
	testsupport.RunPython(t, `
import collections, sys, torch
od = collections.OrderedDict()
od["weight"] = torch.arange(6, dtype=torch.float32).reshape(2, 3)
od["four_d"] = torch.ones(2, 3, 4, 5)
od["bias"] = torch.arange(3, dtype=torch.float64)
od["half"] = torch.arange(2, dtype=torch.float16)
od["brain"] = torch.arange(2, dtype=torch.bfloat16)
od["long0d"] = torch.tensor(200)
od["int"] = torch.arange(3, dtype=torch.int32)
od["short"] = torch.arange(3, dtype=torch.int16)
od["char"] = torch.arange(3, dtype=torch.int8)
od["byte"] = torch.arange(3, dtype=torch.uint8)
od["mask"] = torch.tensor([True, False])
od["nothing"] = torch.zeros(0, 2)
od["ints"] = [0, 255, 256, 65535, 65536, -1, 2**31-1, -2**31, 2**31, -2**31-1, 2**40, -2**40, 2**63-1, -2**63]
od["floats"] = [0.5, -1e300, float("inf"), float("nan"), -0.0]
od["text"] = ["h\u00e9llo \u2713", ""]
od["flags"] = [True, False, None]
od["plain"] = {"alpha": 1, "zeta": [2]}
od["single"] = {"only": None}
od["no_items"] = {}
od["no_list"] = []
od["one_list"] = [42]
od["nested"] = collections.OrderedDict([("x1", True), ("y1", False)])
od["one_od"] = collections.OrderedDict([("q1", 1)])
od["big_od"] = collections.OrderedDict((f"k{i}", i) for i in range(1001))
od["big_dict"] = {f"d{i:04d}": i for i in range(2000)}
od["big_list"] = list(range(2001))
od["late"] = [torch.full((2,), float(i)) for i in range(3)]
torch.save(od, sys.argv[1])
`, torchPath)

	tensor := func(d DType, shape []int64, data []byte) *Tensor { return &Tensor{DType: d, Shape: shape, Data: data} }
	ones := make([]float32, 120)
	for i := range ones {
		ones[i] = 1
	}
	bigOD := NewDict()
	for i := range 1001 {
		bigOD.Set(fmt.Sprintf("k%d", i), i)
	}
	bigDict := map[string]any{}
	for i := range 2000 {
		bigDict[fmt.Sprintf("d%04d", i)] = i
	}
	bigList := make([]any, 2001)
	for i := range bigList {
		bigList[i] = i
	}
	v := dictOf(
		"weight", f32Tensor([]int64{2, 3}, arange(6, 1)...),
		"four_d", f32Tensor([]int64{2, 3, 4, 5}, ones...),
		"bias", tensor(Float64, []int64{3}, le([]float64{0, 1, 2})),
		"half", tensor(Float16, []int64{2}, le([]uint16{0, 0x3c00})),
		"brain", tensor(BFloat16, []int64{2}, le([]uint16{0, 0x3f80})),
		"long0d", i64Tensor([]int64{}, 200),
		"int", tensor(Int32, []int64{3}, le([]int32{0, 1, 2})),
		"short", tensor(Int16, []int64{3}, le([]int16{0, 1, 2})),
		"char", tensor(Int8, []int64{3}, []byte{0, 1, 2}),
		"byte", tensor(Uint8, []int64{3}, []byte{0, 1, 2}),
		"mask", tensor(Bool, []int64{2}, []byte{1, 0}),
		"nothing", tensor(Float32, []int64{0, 2}, nil),
		"ints", []any{0, 255, 256, 65535, 65536, -1, math.MaxInt32, math.MinInt32, int64(1) << 31, -(int64(1) << 31) - 1,
			int64(1) << 40, -(int64(1) << 40), int64(math.MaxInt64), int64(math.MinInt64)},
		"floats", []any{0.5, -1e300, math.Inf(1), math.Float64frombits(0x7ff8000000000000), math.Copysign(0, -1)},
		"text", []any{"héllo ✓", ""},
		"flags", []any{true, false, nil},
		"plain", map[string]any{"alpha": 1, "zeta": []any{2}},
		"single", map[string]any{"only": nil},
		"no_items", map[string]any{},
		"no_list", []any{},
		"one_list", []any{42},
		"nested", dictOf("x1", true, "y1", false),
		"one_od", dictOf("q1", 1),
		"big_od", bigOD,
		"big_dict", bigDict,
		"big_list", bigList,
		"late", []any{f32Tensor([]int64{2}, 0, 0), f32Tensor([]int64{2}, 1, 1), f32Tensor([]int64{2}, 2, 2)},
	)
	if err := Save(goPath, v); err != nil {
		t.Fatal(err)
	}
	compareFiles(t, goPath, torchPath)
}

// TestResaveParityStateDict loads a real state_dict written by the
// reference implementation (the fixtures' first network weights with a
// BatchNorm layer's int64 counter, whatever the case is called), saves it
// again, and checks that PyTorch reads back equal tensors and that
// torch.save of the same OrderedDict (without the module's _metadata,
// which Load drops) gives the same bytes.
func TestResaveParityStateDict(t *testing.T) {
	testsupport.NeedPythonLong(t, "torch")
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(testsupport.NeedParityDir(t), "*", "latest_net_*.pth"))
	if err != nil {
		t.Fatal(err)
	}
	var src string
	var d *Dict
	for _, f := range files {
		fd, err := LoadStateDict(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range fd.Keys {
			if tensor, _ := fd.Tensor(k); tensor.DType == Int64 {
				src, d = f, fd
			}
		}
		if d != nil {
			break
		}
	}
	if d == nil {
		t.Skip("no fixture state dict with an int64 entry")
	}
	goPath := filepath.Join(t.TempDir(), "latest_net_G.pth")
	torchPath := filepath.Join(t.TempDir(), "latest_net_G.pth")
	if err := Save(goPath, d); err != nil {
		t.Fatal(err)
	}
	out := testsupport.RunPython(t, `
import collections, sys, torch
orig = torch.load(sys.argv[1])
ours = torch.load(sys.argv[2], weights_only=True)
assert list(orig.keys()) == list(ours.keys()), "key order"
for k in orig:
    a, b = orig[k], ours[k]
    assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), k
torch.save(collections.OrderedDict(orig), sys.argv[3])
print(len(orig))
`, src, goPath, torchPath)
	if string(bytes.TrimSpace(out)) != fmt.Sprint(d.Len()) {
		t.Errorf("python saw %s entries, want %d", out, d.Len())
	}
	compareFiles(t, goPath, torchPath)
}

func compareFiles(t *testing.T, goPath, torchPath string) {
	t.Helper()
	got, err := os.ReadFile(goPath)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(torchPath)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	lo := max(i-32, 0)
	t.Errorf("Save wrote %d bytes, torch.save %d; first difference at byte %d\nours:  %q\ntorch: %q",
		len(got), len(want), i, got[lo:min(i+32, len(got))], want[lo:min(i+32, len(want))])
}
