package export

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/internal/testsupport"
	"cyclepix/models"
	"cyclepix/networks"
	"cyclepix/nn"
	"cyclepix/torch"
)

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func forward(t *testing.T, g nn.Module, x []float32, shape ...int64) []float32 {
	t.Helper()
	var y []float32
	err := torch.Try(func() {
		defer torch.NewScope().Close()
		torch.NoGrad(func() { y = g.Forward(torch.FromFloat32(x, shape...)).Float32s() })
	})
	if err != nil {
		t.Fatal(err)
	}
	return y
}

func TestBundleRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for i, c := range generatorCases {
		t.Run(c.name, func(t *testing.T) {
			g, err := c.spec.Build()
			if err != nil {
				t.Fatal(err)
			}
			randomize(t, g, uint64(200+i), 2, int64(c.spec.InputNC), c.sizes[0][0], c.sizes[0][1])
			opts := map[string]any{"netG": c.spec.NetG, "lambda_L1": 100.0, "lr": 0.0002, "load_size": 286,
				"no_flip": true, "max_dataset_size": math.MaxInt, "suffix": "", "init_gain": 0.02, "n_epochs": 100}
			path := filepath.Join(dir, c.name+BundleExt)
			if err := SaveBundle(path, g, models.Generator{Net: "G_A", Spec: c.spec}, opts); err != nil {
				t.Fatal(err)
			}
			b, err := LoadBundle(path)
			if err != nil {
				t.Fatal(err)
			}
			if b.Spec != c.spec || b.Net != "G_A" || b.SizeMultiple != c.spec.SizeMultiple() {
				t.Fatalf("loaded spec %+v net %s multiple %d", b.Spec, b.Net, b.SizeMultiple)
			}
			for k, v := range opts {
				if b.Options[k] != v {
					t.Errorf("option %s: %#v, saved %#v", k, b.Options[k], v)
				}
			}
			if Option(b, "lambda_L1", 0.0) != 100.0 || Option(b, "missing", 7) != 7 {
				t.Error("Option accessor")
			}
			h, w := c.sizes[0][0], c.sizes[0][1]
			torch.ManualSeed(1)
			x := torch.Rand(1, int64(c.spec.InputNC), h, w).Persist()
			defer x.Free()
			in := x.Float32s()
			want := forward(t, g, in, 1, int64(c.spec.InputNC), h, w)
			got := forward(t, b.Generator, in, 1, int64(c.spec.InputNC), h, w)
			if d, _ := testsupport.MaxAbsDiff(got, want); d != 0 {
				t.Errorf("loaded generator differs by %g", d)
			}
		})
	}
}

func TestLoadBundleErrors(t *testing.T) {
	dir := t.TempDir()
	spec := networks.GenSpec{NetG: "resnet_1blocks", NGF: 4, Norm: "instance", InputNC: 3, OutputNC: 3}
	g, err := spec.Build()
	if err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "latest_net_G.pth")
	if err := SavePTH(plain, g); err != nil {
		t.Fatal(err)
	}
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("hello"), 0o644)
	cases := []struct{ name, path, want string }{
		{"state dict", plain, "is not a cyclepix bundle"},
		{"missing", filepath.Join(dir, "nope.bundle.pth"), "no such file"},
		{"text", text, "not a torch.save file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadBundle(c.path)
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Count(err.Error(), "\n") > 0 {
				t.Fatalf("error %v, want one line containing %q", err, c.want)
			}
		})
	}
}

// PyTorch reads both files: the plain state dict with the reference's
// keys, and the bundle's dict with its JSON strings.
func TestExportFilesLoadInPyTorch(t *testing.T) {
	testsupport.NeedPython(t, "torch")
	dir := t.TempDir()
	spec := networks.GenSpec{NetG: "unet_32", NGF: 4, Norm: "batch", InputNC: 3, OutputNC: 3, Dropout: true}
	g, err := spec.Build()
	if err != nil {
		t.Fatal(err)
	}
	plain, bundle := filepath.Join(dir, "latest_net_G.pth"), filepath.Join(dir, "g"+BundleExt)
	if err := SavePTH(plain, g); err != nil {
		t.Fatal(err)
	}
	if err := SaveBundle(bundle, g, models.Generator{Net: "G", Spec: spec}, map[string]any{"netG": "unet_32", "lr": 0.0002}); err != nil {
		t.Fatal(err)
	}
	script := `
import json, sys, torch
sd = torch.load(sys.argv[1])
b = torch.load(sys.argv[2])
print(json.dumps({"keys": list(sd.keys()), "format": b["format"], "generator": json.loads(b["generator"]),
    "options": json.loads(b["options"]), "same": all(torch.equal(sd[k], b["state_dict"][k]) for k in sd)}))
`
	var res struct {
		Keys      []string
		Format    string
		Generator map[string]any
		Options   map[string]any
		Same      bool
	}
	runJSON(t, exec.Command(testsupport.Python, "-c", script, plain, bundle), &res)
	want := nn.StateDict(g)
	if len(res.Keys) != len(want) || res.Keys[0] != "model.model.0.weight" || !res.Same || res.Format != BundleFormat ||
		res.Generator["netG"] != "unet_32" || res.Options["lr"] != 0.0002 {
		t.Fatalf("PyTorch read %+v", res)
	}
	t.Logf("PyTorch reads %d tensors (%s … %s) and the bundle's JSON", len(res.Keys), res.Keys[0], res.Keys[len(res.Keys)-1])
}
