package networks

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/internal/testsupport"
	"cyclepix/nn"
	"cyclepix/npy"
	"cyclepix/torch"
)

// CUT's generator, discriminator, netF and PatchNCE loss, saved by
// cyclepix, load into a PyTorch build of CUT's networks
// (testdata/cutnets.py) with strict key and shape checks and compute the
// same outputs, encode_only features, NCE loss and gradients of that loss.
// The layer lists include CUT's quirks: features that later in-place ReLUs
// rewrite (no_antialias, norm none), and an unsorted list with a repeat,
// whose encode_only stops early.
func TestCUTNetworksMatchPyTorch(t *testing.T) {
	testsupport.NeedPythonLong(t, "torch", "numpy")
	type gspec struct {
		In            int64 `json:"in"`
		Out           int64 `json:"out"`
		NGF           int64 `json:"ngf"`
		Norm          Norm  `json:"norm"`
		Blocks        int   `json:"blocks"`
		NoAntialias   bool  `json:"no_antialias"`
		NoAntialiasUp bool  `json:"no_antialias_up"`
		Dropout       bool  `json:"dropout"`
	}
	type dspec struct {
		In          int64 `json:"in"`
		NDF         int64 `json:"ndf"`
		NLayers     int   `json:"n_layers"`
		Norm        Norm  `json:"norm"`
		NoAntialias bool  `json:"no_antialias"`
	}
	cases := []struct {
		name   string
		g      gspec
		d      dspec
		layers []int
		mlp    bool
		nce    PatchNCEOptions
		flip   bool
		h, w   int64
	}{
		{"antialiased_instance", gspec{3, 3, 4, NormInstance, 3, false, false, false}, dspec{3, 4, 3, NormInstance, false},
			[]int{0, 4, 8, 12, 16}, true, PatchNCEOptions{T: 0.07, BatchSize: 2}, false, 32, 40},
		{"no_antialias_instance", gspec{3, 3, 4, NormInstance, 2, true, true, false}, dspec{3, 4, 2, NormInstance, true},
			[]int{0, 4, 8, 12}, true, PatchNCEOptions{T: 0.07, BatchSize: 2}, true, 36, 28},
		{"norm_none_inplace_taps", gspec{3, 2, 4, NormNone, 2, false, true, false}, dspec{3, 4, 1, NormNone, false},
			[]int{1, 2, 4, 11}, true, PatchNCEOptions{T: 0.1, AllNegativesFromMinibatch: true, BatchSize: 2}, true, 24, 24},
		{"batch_unsorted_layers", gspec{1, 3, 4, NormBatch, 1, false, false, false}, dspec{1, 4, 3, NormBatch, false},
			[]int{9, 5, 3, 5}, false, PatchNCEOptions{T: 0.07, BatchSize: 2}, false, 32, 32},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer torch.NewScope().Close()
			torch.ManualSeed(5)
			rng := rand.New(rand.NewPCG(5, 6))
			g, err := NewCUTGenerator(CUTGOptions{GOptions: GOptions{InputNC: c.g.In, OutputNC: c.g.Out, NGF: c.g.NGF,
				NetG: fmt.Sprintf("resnet_%dblocks", c.g.Blocks), Norm: c.g.Norm, InitType: "xavier", InitGain: 1},
				NoAntialias: c.g.NoAntialias, NoAntialiasUp: c.g.NoAntialiasUp})
			if err != nil {
				t.Fatal(err)
			}
			d, err := NewCUTDiscriminator(CUTDOptions{DOptions: DOptions{InputNC: c.d.In, NDF: c.d.NDF, NetD: "n_layers",
				NLayers: c.d.NLayers, Norm: c.d.Norm, InitType: "xavier", InitGain: 1}, NoAntialias: c.d.NoAntialias})
			if err != nil {
				t.Fatal(err)
			}
			if err := g.CheckLayers(c.layers); err != nil {
				t.Fatal(err)
			}
			for _, m := range []nn.Module{g, d} {
				for _, e := range nn.StateDict(m) {
					if strings.HasSuffix(e.Name, "running_var") || strings.HasSuffix(e.Name, "running_mean") {
						e.Tensor.Uniform_(0.5, 1.5)
					}
				}
				nn.SetTraining(m, false)
			}
			x := torch.Randn(2, c.g.In, c.h, c.w)
			src, tgt := torch.Randn(2, c.g.In, c.h, c.w), torch.Randn(2, c.g.In, c.h, c.w)
			f, err := NewNetF(map[bool]string{true: "mlp_sample", false: "sample"}[c.mlp], 8, "xavier", 1)
			if err != nil {
				t.Fatal(err)
			}
			nce := NCE{Layers: c.layers, NumPatches: 24, Lambda: 2, PatchNCEOptions: c.nce}
			loss, ids := nce.Loss(g, f, src, tgt, c.flip, nil, rng)
			loss.Backward()

			dir := t.TempDir()
			for name, m := range map[string]nn.Module{"G": g, "D": d, "F": f} {
				if err := nn.SaveFile(m, filepath.Join(dir, name+".pth")); err != nil {
					t.Fatal(err)
				}
			}
			for name, v := range map[string]*torch.Tensor{"x": x, "src": src, "tgt": tgt} {
				if err := npy.Write(filepath.Join(dir, name+".npy"), v.Shape(), v.Float32s()); err != nil {
					t.Fatal(err)
				}
			}
			spec, _ := json.Marshal(map[string]any{"G": c.g, "D": c.d, "layers": c.layers,
				"F":   map[string]any{"use_mlp": c.mlp, "nc": 8},
				"nce": map[string]any{"ids": ids, "T": c.nce.T, "lambda": nce.Lambda, "batch_size": c.nce.BatchSize, "flipped": c.flip, "all_negatives": c.nce.AllNegativesFromMinibatch}})
			testsupport.RunPythonFile(t, "testdata/cutnets.py", string(spec), dir)

			var out, dout *torch.Tensor
			var feats []*torch.Tensor
			torch.NoGrad(func() {
				out, dout = g.Forward(x), d.Forward(x)
				feats = g.Encode(x, c.layers)
			})
			read := func(name string) ([]int64, []float32) {
				t.Helper()
				ref, err := npy.Read(filepath.Join(dir, name+".npy"))
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				v, _ := ref.Float32()
				return ref.Shape, v
			}
			// near compares with atol = rtol·max(max|ref|, floor).
			near := func(name string, got *torch.Tensor, rtol, floor float64) {
				t.Helper()
				shape, want := read(name)
				if fmt.Sprint(shape) != fmt.Sprint(got.Shape()) {
					t.Fatalf("%s: shape %v, PyTorch %v", name, got.Shape(), shape)
				}
				worst, scale := 0.0, floor
				for i, v := range got.Float32s() {
					worst = math.Max(worst, math.Abs(float64(v-want[i])))
					scale = math.Max(scale, math.Abs(float64(want[i])))
				}
				if worst > rtol*scale {
					t.Errorf("%s: max abs difference %.3g from PyTorch (scale %.3g)", name, worst, scale)
				}
			}
			near("G_out", out, 1e-5, 1e-6)
			near("D_out", dout, 1e-5, 1e-6)
			for i, ft := range feats {
				near(fmt.Sprintf("feat_%d", i), ft, 1e-5, 1e-6)
			}
			near("nce", loss.Reshape(1), 1e-5, 0)
			// Gradients as the fixture README bounds CUT's: per tensor,
			// relative to the larger of its own maximum and 5 % of the
			// network's (conv biases before an InstanceNorm have a true
			// gradient of 0 and carry only rounding noise).
			for prefix, m := range map[string]nn.Module{"G": g, "F": f} {
				netMax := 0.0
				for _, e := range nn.StateDict(m) {
					if e.Param && e.Tensor.Grad() != nil {
						_, v := read("grad_" + prefix + "_" + e.Name)
						for _, x := range v {
							netMax = math.Max(netMax, math.Abs(float64(x)))
						}
					}
				}
				for _, e := range nn.StateDict(m) {
					if gr := e.Tensor.Grad(); e.Param && gr != nil {
						near("grad_"+prefix+"_"+e.Name, gr, 1e-3, 0.05*netMax)
					}
				}
			}
		})
	}
}
