package pth

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/internal/testsupport"
)

// These tests check the two forms in which pix2pixHD's VGG19 weights come:
// torchvision's vgg19-dcbb9e9d.pth (2017, PyTorch's legacy format) and the
// parity fixture vgg19_features.pth (zip format, DEFLATE-compressed
// entries, which torch.save never writes but zip tools do).

// torchTensors is what pyTensors prints: per key, shape and every value.
type torchTensors map[string]struct {
	Shape  []int64   `json:"shape"`
	Values []float64 `json:"values"`
}

// pyTensors loads argv[1] with torch.load and prints its tensors (or those
// of argv[2:], when given) as torchTensors, with the dict's type and keys.
const pyTensors = `
import json, sys, torch
d = torch.load(sys.argv[1])
keys = sys.argv[2:] or list(d.keys())
print(json.dumps({"type": type(d).__name__, "keys": list(d.keys()), "tensors": {
    k: {"shape": list(d[k].shape), "values": d[k].double().flatten().tolist()} for k in keys}}))
`

// compareWithTorch loads path with LoadStateDict and checks keys, their
// order, shapes and values (exactly) against what torch.load gives.
func compareWithTorch(t *testing.T, path string, only ...string) {
	t.Helper()
	var want struct {
		Type    string       `json:"type"`
		Keys    []string     `json:"keys"`
		Tensors torchTensors `json:"tensors"`
	}
	out := testsupport.RunPython(t, pyTensors, append([]string{path}, only...)...)
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("python output: %v\n%s", err, out)
	}
	d, err := LoadStateDict(path)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%q", d.Keys) != fmt.Sprintf("%q", want.Keys) {
		t.Errorf("keys %q, torch.load (%s) gives %q", d.Keys, want.Type, want.Keys)
	}
	for k, w := range want.Tensors {
		got, ok := d.Tensor(k)
		if !ok {
			t.Errorf("%s: missing", k)
			continue
		}
		if fmt.Sprint(got.Shape) != fmt.Sprint(w.Shape) || got.DType != Float32 {
			t.Errorf("%s: %v %v, want float32 %v", k, got.DType, got.Shape, w.Shape)
			continue
		}
		vals := tensorValues(got)
		for i, v := range w.Values {
			if vals[i] != v {
				t.Errorf("%s: element %d is %v, torch.load gives %v", k, i, vals[i], v)
				break
			}
		}
	}
}

// TestLoadLegacyVGGLayouts writes a small VGG-like state dict (features.N
// and classifier keys) in the legacy format as PyTorch 1.13 writes it, as
// a plain dict and as an OrderedDict, and in the layouts of the 2017 files
// torchvision still serves: tensors pickled through _rebuild_tensor (four
// arguments, PyTorch 0.1.10 to 0.3), and, in case a file came from Python
// 2, strings as SHORT_BINSTRING and the OrderedDict reduced to a list of
// [key, value] pairs.
func TestLoadLegacyVGGLayouts(t *testing.T) {
	testsupport.NeedPythonLong(t, "torch")
	t.Parallel()
	dir := t.TempDir()
	testsupport.RunPython(t, `
import collections, pickle, struct, sys, types, torch
torch.manual_seed(0)
def sd(cls):
    d = cls()
    d["features.0.weight"] = torch.randn(64, 3, 3, 3)
    d["features.0.bias"] = torch.randn(64)
    d["features.2.weight"] = torch.randn(64, 64, 3, 3)[:, :, 1:, :].contiguous()
    d["classifier.0.weight"] = torch.randn(20, 10).t()  # stored transposed
    return d
def path(name):
    return sys.argv[1] + "/" + name + ".pth"
torch.save(sd(dict), path("dict"), _use_new_zipfile_serialization=False)
torch.save(sd(collections.OrderedDict), path("ordered"), _use_new_zipfile_serialization=False)

def reduce_v1(self, proto):
    return (torch._utils._rebuild_tensor, (self.storage(), self.storage_offset(), tuple(self.size()), self.stride()))
torch.Tensor.__reduce_ex__ = reduce_v1
torch.save(sd(collections.OrderedDict), path("rebuild_v1"), _use_new_zipfile_serialization=False)

class Py2Pickler(pickle._Pickler):
    def save_str(self, obj):
        b = obj.encode("ascii")
        self.write(b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<i", len(b)) + b)
        self.memoize(obj)
    dispatch = dict(pickle._Pickler.dispatch)
    dispatch[str] = save_str
    def reducer_override(self, obj):
        if type(obj) is collections.OrderedDict:
            items = ([[k, v] for k, v in obj.items()],)
            return (collections.OrderedDict, items, vars(obj)) if vars(obj) else (collections.OrderedDict, items)
        return NotImplemented
py2 = types.SimpleNamespace(__name__="py2", Pickler=Py2Pickler, dump=lambda o, f, protocol: Py2Pickler(f, protocol).dump(o))
torch.save(sd(collections.OrderedDict), path("python2"), pickle_module=py2, _use_new_zipfile_serialization=False)
# PyTorch 0.4 to 1.4 under Python 2: the state_dict's _metadata as the
# OrderedDict's instance dict (a BUILD after the call).
d = sd(collections.OrderedDict)
d._metadata = collections.OrderedDict([("", {"version": 1}), ("features.0", {"version": 1})])
torch.save(d, path("python2_metadata"), pickle_module=py2, _use_new_zipfile_serialization=False)
`, dir)
	for _, name := range []string{"dict", "ordered", "rebuild_v1", "python2", "python2_metadata"} {
		t.Run(name, func(t *testing.T) {
			compareWithTorch(t, filepath.Join(dir, name+".pth"))
		})
	}
}

// TestLoadDeflatedVGGFeatures reads the parity fixture's VGG19 features,
// whose zip entries are DEFLATE-compressed, and checks a few tensors
// against torch.load.
func TestLoadDeflatedVGGFeatures(t *testing.T) {
	testsupport.NeedPythonLong(t, "torch")
	t.Parallel()
	path := filepath.Join(testsupport.NeedParityDir(t), "step_hd_rgb", "vgg19_features.pth")
	if _, err := os.Stat(path); err != nil {
		testsupport.MissingFixture(t, err)
	}
	// The small tensors only: a 512×512×3×3 weight is 2.4 M values of JSON.
	compareWithTorch(t, path, "features.0.weight", "features.0.bias", "features.2.bias", "features.28.bias")
}

// TestLoadOrderedDictArguments: collections.OrderedDict called with its
// items, as Python 2 pickled it, loads; other arguments are errors that
// name the file.
func TestLoadOrderedDictArguments(t *testing.T) {
	dir := t.TempDir()
	const od = "\x80\x02ccollections\nOrderedDict\n"
	for _, tc := range []struct {
		name, pkl, want string // want: an error containing it, or "" for success
	}{
		{"no items", od + "]\x85R.", ""},
		{"pairs", od + "](](X\x01\x00\x00\x00bK\x02e](U\x01aK\x01ee\x85R.", ""},
		{"tuple pairs", od + "]X\x01\x00\x00\x00aK\x01\x86a\x85R.", ""},
		{"int argument", od + "K\x01\x85R.", "argument 1 is not a list of [key, value] pairs"},
		{"two arguments", od + "]]\x86R.", "called with 2 arguments; expected none or one list"},
		{"not a pair", od + "]K\x01a\x85R.", "item 0 is not a [key, value] pair"},
		{"int key", od + "](](K\x01K\x02ee\x85R.", "only string keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "od.pth")
			writeArchive(t, path, []byte(tc.pkl), nil)
			v, err := Load(path)
			if tc.want != "" {
				if err == nil || !strings.HasPrefix(err.Error(), "load "+path+": ") || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %v, want it to name the file and contain %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			d, ok := v.(*Dict)
			if !ok {
				t.Fatalf("loaded %s, want a dict", describe(v))
			}
			want := map[string]string{"no items": "[]", "pairs": `["b" "a"]`, "tuple pairs": `["a"]`}[tc.name]
			if got := fmt.Sprintf("%q", d.Keys); got != want {
				t.Errorf("keys %s, want %s", got, want)
			}
		})
	}
}
