package networks

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"cyclepix/internal/testsupport"
	"cyclepix/nn"
	"cyclepix/npy"
	"cyclepix/torch"
)

// hdRef is the PyTorch pix2pixHD of the parity harness, written from the
// fixtures' README; as a script it loads and builds networks for this
// test (its crosscheck mode).
var hdRef = filepath.Join("..", "parity", "testdata", "hd_ref.py")

// hdNet is one network of the cross-check, in hd_ref.py's crosscheck
// spec: the arguments of its define_G, define_D or define_E.
type hdNet struct {
	Name         string `json:"name"`
	Kind         string `json:"kind"` // G, D or E
	In           int64  `json:"in"`
	Out          int64  `json:"out,omitempty"`
	NGF          int64  `json:"ngf,omitempty"`
	NetG         string `json:"netG,omitempty"`
	NDown        int    `json:"n_down,omitempty"`
	NBlocks      int    `json:"n_blocks,omitempty"`
	NEnh         int    `json:"n_enh,omitempty"`
	NBlocksLocal int    `json:"n_blocks_local,omitempty"`
	NDF          int64  `json:"ndf,omitempty"`
	NLayers      int    `json:"n_layers,omitempty"`
	NumD         int    `json:"num_D,omitempty"`
	Interm       bool   `json:"interm"`
	Norm         Norm   `json:"norm"`
	Seed         int    `json:"seed"`

	// The input's batch and size.
	N, H, W int64 `json:"-"`
}

func (s hdNet) build(t *testing.T) nn.Module {
	t.Helper()
	var net nn.Module
	switch s.Kind {
	case "G":
		g, err := NewHDGenerator(HDOptions{InputNC: s.In, OutputNC: s.Out, NGF: s.NGF, NetG: s.NetG,
			NDownsampleGlobal: s.NDown, NBlocksGlobal: s.NBlocks, NLocalEnhancers: s.NEnh, NBlocksLocal: s.NBlocksLocal,
			Norm: s.Norm})
		if err != nil {
			t.Fatal(err)
		}
		net = g
	case "D":
		net = NewMultiscaleDiscriminator(s.In, s.NDF, s.NLayers, s.Norm, s.NumD, s.Interm)
	case "E":
		net = NewEncoder(s.In, s.Out, s.NGF, s.NDown, s.Norm)
	default:
		t.Fatalf("kind %q", s.Kind)
	}
	if s.Kind != "G" { // NewHDGenerator initialises already
		if err := InitHD(net); err != nil {
			t.Fatal(err)
		}
	}
	return net
}

// run gives the network's outputs in eval mode by the names hd_ref.py
// writes them under: out (G); s<i>_l<j> (D, every scale and layer group);
// raw and mean (E, its features before and after instance averaging).
func (s hdNet) run(net nn.Module, x, inst *torch.Tensor) map[string]*torch.Tensor {
	nn.SetTraining(net, false)
	out := map[string]*torch.Tensor{}
	torch.NoGrad(func() {
		switch s.Kind {
		case "G":
			out["out"] = net.Forward(x)
		case "D":
			for i, r := range net.(*MultiscaleDiscriminator).ForwardScales(x) {
				for j, o := range r {
					out[fmt.Sprintf("s%d_l%d", i, j)] = o
				}
			}
		case "E":
			raw := net.Forward(x)
			out["raw"], out["mean"] = raw, InstanceMean(raw, inst)
		}
	})
	return out
}

// hdInstances is a Cityscapes-style instance map [n,1,h,w]: stuff ids
// (class ids) and thing ids class*1000+k, in blocks of a few pixels, with
// some ids in only one sample of the batch.
func hdInstances(n, h, w int64) []float64 {
	ids := []float64{0, 7, 26001, 26002, 24000, 11, 26003}
	v := make([]float64, n*h*w)
	for b := int64(0); b < n; b++ {
		for y := int64(0); y < h; y++ {
			for x := int64(0); x < w; x++ {
				k := (y/5)*3 + (x/7)*2 + b*(x/9)
				v[(b*h+y)*w+x] = ids[k%int64(len(ids)-int(b))]
			}
		}
	}
	return v
}

// pix2pixHD's networks as cyclepix builds them (global and local
// generators, the multi-scale discriminator with and without
// intermediate features, the feature encoder with its instance-wise
// average pooling) are the same as a PyTorch build of pix2pixHD's
// (parity/testdata/hd_ref.py): a checkpoint cyclepix writes loads there
// with strict key and shape checks and gives the same outputs, and a
// checkpoint PyTorch writes loads strictly into cyclepix's network with
// the same outputs. Batch norm runs in eval mode with non-trivial running
// statistics.
func TestHDNetworksMatchPyTorch(t *testing.T) {
	testsupport.NeedPythonLong(t, "torch", "numpy")
	defer torch.NewScope().Close()
	nets := []hdNet{
		{Name: "G_global", Kind: "G", In: 4, Out: 3, NGF: 4, NetG: "global", NDown: 2, NBlocks: 2, Norm: NormInstance,
			Seed: 11, N: 2, H: 24, W: 32},
		{Name: "G_local2_batch", Kind: "G", In: 3, Out: 2, NGF: 2, NetG: "local", NDown: 1, NBlocks: 1, NEnh: 2,
			NBlocksLocal: 1, Norm: NormBatch, Seed: 12, N: 1, H: 32, W: 40},
		{Name: "D_interm", Kind: "D", In: 5, NDF: 4, NLayers: 3, NumD: 3, Interm: true, Norm: NormInstance,
			Seed: 13, N: 2, H: 40, W: 48},
		{Name: "D_flat_batch", Kind: "D", In: 6, NDF: 8, NLayers: 2, NumD: 2, Norm: NormBatch, Seed: 14, N: 3,
			H: 32, W: 36},
		{Name: "E", Kind: "E", In: 3, Out: 3, NGF: 4, NDown: 2, Norm: NormInstance, Seed: 15, N: 2, H: 32, W: 36},
	}
	dir := t.TempDir()
	torch.ManualSeed(7)
	ours := map[string]nn.Module{}
	inputs := map[string][2]*torch.Tensor{}
	for _, s := range nets {
		net := s.build(t)
		for _, e := range nn.StateDict(net) {
			switch {
			case strings.HasSuffix(e.Name, "running_mean"):
				e.Tensor.Normal_(0, 0.2)
			case strings.HasSuffix(e.Name, "running_var"):
				e.Tensor.Uniform_(0.5, 1.5)
			}
		}
		if err := nn.SaveFile(net, filepath.Join(dir, s.Name+".pth")); err != nil {
			t.Fatal(err)
		}
		x := torch.Rand(s.N, s.In, s.H, s.W).MulScalar(2).SubScalar(1)
		if err := npy.Write(filepath.Join(dir, s.Name+"_in.npy"), x.Shape(), x.Float32s()); err != nil {
			t.Fatal(err)
		}
		var inst *torch.Tensor
		if s.Kind == "E" {
			ids := hdInstances(s.N, s.H, s.W)
			if err := npy.WriteTyped(filepath.Join(dir, s.Name+"_inst.npy"), []int64{s.N, 1, s.H, s.W}, "<i4", ids); err != nil {
				t.Fatal(err)
			}
			v := make([]float32, len(ids))
			for i, id := range ids {
				v[i] = float32(id)
			}
			inst = torch.FromFloat32(v, s.N, 1, s.H, s.W)
		}
		ours[s.Name], inputs[s.Name] = net, [2]*torch.Tensor{x, inst}
	}
	spec, err := json.Marshal(nets)
	if err != nil {
		t.Fatal(err)
	}
	specPath := filepath.Join(dir, "spec.json")
	if err := os.WriteFile(specPath, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	testsupport.RunPythonFile(t, hdRef, "crosscheck", specPath, dir)

	// near compares with PyTorch's output within 1e-5·max|ref|.
	near := func(t *testing.T, file string, got *torch.Tensor) {
		t.Helper()
		ref, err := npy.Read(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		want, err := ref.Float32()
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(ref.Shape) != fmt.Sprint(got.Shape()) {
			t.Errorf("%s: shape %v, PyTorch's %v", file, got.Shape(), ref.Shape)
			return
		}
		worst, scale := 0.0, 0.0
		for i, v := range got.Float32s() {
			worst = math.Max(worst, math.Abs(float64(v)-float64(want[i])))
			scale = math.Max(scale, math.Abs(float64(want[i])))
		}
		if !(worst <= 1e-5*scale) || scale == 0 {
			t.Errorf("%s: max abs difference %.3g from PyTorch (max|ref| %.3g)", file, worst, scale)
		}
	}
	check := func(t *testing.T, s hdNet, net nn.Module, prefix string) {
		t.Helper()
		in := inputs[s.Name]
		out := s.run(net, in[0], in[1])
		names := make([]string, 0, len(out))
		for k := range out {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			near(t, fmt.Sprintf("%s_%s_%s.npy", prefix, s.Name, k), out[k])
		}
		// PyTorch wrote no output cyclepix lacks.
		extra, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("%s_%s_*.npy", prefix, s.Name)))
		if len(extra) != len(out) {
			t.Errorf("PyTorch wrote %d outputs, cyclepix computes %d (%v)", len(extra), len(out), names)
		}
	}
	for _, s := range nets {
		t.Run(s.Name, func(t *testing.T) {
			// cyclepix's checkpoint in PyTorch's network.
			check(t, s, ours[s.Name], "go")
			// PyTorch's checkpoint in cyclepix's network.
			net := s.build(t)
			if err := nn.LoadFile(net, filepath.Join(dir, "py_"+s.Name+".pth")); err != nil {
				t.Fatal(err)
			}
			check(t, s, net, "py")
		})
	}
	// The instance averaging had several instances to average over.
	if ids := UniqueIDs(inputs["E"][1]); len(ids) < 5 {
		t.Errorf("the instance map has %d ids, want several", len(ids))
	}
}
