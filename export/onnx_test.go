package export

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/internal/testsupport"
	"cyclepix/networks"
	"cyclepix/nn"
	"cyclepix/torch"
)

// generatorCases cover every layer kind the reference's generators use:
// reflection pad, conv, conv-transpose, instance/batch/no norm, dropout
// (left out in eval), ReLU, LeakyReLU, tanh, residual adds and U-Net skip
// concatenations, with 1- and 3-channel inputs and 2- and 3-channel outputs.
var generatorCases = []struct {
	name  string
	spec  networks.GenSpec
	sizes [][2]int64 // height, width
}{
	{"resnet_instance", networks.GenSpec{NetG: "resnet_2blocks", NGF: 8, Norm: "instance", InputNC: 3, OutputNC: 3}, [][2]int64{{32, 32}, {48, 64}}},
	{"resnet_batch_dropout_grey", networks.GenSpec{NetG: "resnet_3blocks", NGF: 8, Norm: "batch", InputNC: 1, OutputNC: 3, Dropout: true}, [][2]int64{{20, 28}, {36, 36}}},
	{"resnet_none", networks.GenSpec{NetG: "resnet_1blocks", NGF: 4, Norm: "none", InputNC: 3, OutputNC: 3}, [][2]int64{{16, 24}, {8, 8}}},
	{"unet_batch_dropout", networks.GenSpec{NetG: "unet_64", NGF: 8, Norm: "batch", InputNC: 3, OutputNC: 3, Dropout: true}, [][2]int64{{64, 64}, {128, 64}}},
	{"resnet_9blocks_default", networks.GenSpec{NetG: "resnet_9blocks", NGF: 64, Norm: "instance", InputNC: 3, OutputNC: 3}, [][2]int64{{64, 64}, {96, 128}}},
	{"unet_128_batch", networks.GenSpec{NetG: "unet_128", NGF: 16, Norm: "batch", InputNC: 3, OutputNC: 3, Dropout: true}, [][2]int64{{128, 128}, {128, 256}}},
	{"unet_instance", networks.GenSpec{NetG: "unet_32", NGF: 8, Norm: "instance", InputNC: 3, OutputNC: 2}, [][2]int64{{32, 32}, {64, 96}}},
	{"cut_antialiased", networks.GenSpec{NetG: "resnet_2blocks", NGF: 8, Norm: "instance", InputNC: 3, OutputNC: 3, Family: networks.FamilyCUT}, [][2]int64{{32, 32}, {36, 44}}},
	{"cut_no_antialias", networks.GenSpec{NetG: "resnet_1blocks", NGF: 8, Norm: "instance", InputNC: 1, OutputNC: 3, Family: networks.FamilyCUT, NoAntialias: true, NoAntialiasUp: true}, [][2]int64{{32, 32}}},
	{"pix2pixhd_global", networks.GenSpec{NetG: "global", NGF: 8, Norm: "instance", InputNC: 9, OutputNC: 3, Family: networks.FamilyHD,
		NDownsampleGlobal: 3, NBlocksGlobal: 2}, [][2]int64{{32, 32}, {40, 64}}},
	{"pix2pixhd_local", networks.GenSpec{NetG: "local", NGF: 4, Norm: "batch", InputNC: 4, OutputNC: 3, Family: networks.FamilyHD,
		NDownsampleGlobal: 2, NBlocksGlobal: 1, NLocalEnhancers: 2, NBlocksLocal: 1}, [][2]int64{{32, 32}, {48, 80}}},
}

type exportRun struct {
	input, want []float32
	shape       []int64
	inPath      string
	outPath     string
}

// exportCase builds the case's generator with random weights, writes its
// ONNX file and the inputs, and records cyclepix's own outputs.
func exportCase(t *testing.T, dir string, i int, spec networks.GenSpec, sizes [][2]int64) (string, []*exportRun) {
	t.Helper()
	g, err := spec.Build()
	if err != nil {
		t.Fatal(err)
	}
	randomize(t, g, uint64(100+i), 2, int64(spec.InputNC), sizes[0][0], sizes[0][1])
	model := filepath.Join(dir, fmt.Sprintf("g%d.onnx", i))
	if err := SaveONNX(model, g, ONNXOptions{InputNC: spec.InputNC, Metadata: map[string]string{"test": spec.NetG}}); err != nil {
		t.Fatal(err)
	}
	var runs []*exportRun
	for j, s := range sizes {
		r := &exportRun{shape: []int64{2, int64(spec.InputNC), s[0], s[1]},
			inPath: filepath.Join(dir, fmt.Sprintf("in%d_%d.f32", i, j)), outPath: filepath.Join(dir, fmt.Sprintf("out%d_%d.f32", i, j))}
		err := torch.Try(func() {
			defer torch.NewScope().Close()
			x := torch.Rand(r.shape...).MulScalar(2).SubScalar(1)
			r.input = x.Float32s()
			torch.NoGrad(func() { r.want = g.Forward(x).Float32s() })
		})
		if err != nil {
			t.Fatal(err)
		}
		testsupport.WriteFloat32s(t, r.inPath, r.input)
		runs = append(runs, r)
	}
	return model, runs
}

// Exported generators run in onnxruntime (the npm package onnxruntime-node)
// and reproduce cyclepix's eval-mode outputs within 1e-4, at two image
// sizes each from one file (dynamic height and width).
func TestONNXMatchesOnnxruntime(t *testing.T) {
	nodePath := ortNodePath(t)
	dir := t.TempDir()
	var jobRuns []map[string]any
	all := map[string][]*exportRun{}
	for i, c := range generatorCases {
		model, runs := exportCase(t, dir, i, c.spec, c.sizes)
		all[c.name] = runs
		for _, r := range runs {
			jobRuns = append(jobRuns, map[string]any{"model": model, "input": r.inPath, "shape": r.shape, "output": r.outPath})
		}
	}
	job := filepath.Join(dir, "job.json")
	writeJSON(t, job, map[string]any{"runs": jobRuns})
	cmd := exec.Command("node", "testdata/ort_run.js", job)
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodePath)
	var dims map[string][]int64
	runJSON(t, cmd, &dims)
	for _, c := range generatorCases {
		t.Run(c.name, func(t *testing.T) {
			for _, r := range all[c.name] {
				got := testsupport.ReadFloat32s(t, r.outPath)
				wantDims := []int64{2, int64(c.spec.OutputNC), r.shape[2], r.shape[3]}
				if fmt.Sprint(dims[r.outPath]) != fmt.Sprint(wantDims) || len(got) != len(r.want) {
					t.Fatalf("onnxruntime output %v, want %v", dims[r.outPath], wantDims)
				}
				d, scale := testsupport.MaxAbsDiff(got, r.want)
				sat := 0
				for _, v := range r.want {
					if math.Abs(float64(v)) > 0.99 {
						sat++
					}
				}
				frac := float64(sat) / float64(len(r.want))
				t.Logf("%s %v: max |Δ| %.2g (outputs up to %.3f, %.0f%% saturated beyond ±0.99)", c.name, r.shape, d, scale, 100*frac)
				if d > 1e-4 || scale < 0.05 || frac > 0.25 {
					t.Errorf("onnxruntime differs by %g (scale %g)", d, scale)
				}
			}
		})
	}
}

// The onnx package's checker accepts the files, and its strict shape
// inference derives the output shape with symbolic batch, height and width.
func TestONNXChecker(t *testing.T) {
	testsupport.NeedPython(t, "onnx")
	dir := t.TempDir()
	var paths []string
	for i, c := range generatorCases {
		g, err := c.spec.Build()
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, filepath.Join(dir, fmt.Sprintf("g%d.onnx", i)))
		if err := SaveONNX(paths[i], g, ONNXOptions{InputNC: c.spec.InputNC}); err != nil {
			t.Fatal(err)
		}
	}
	var res []struct {
		Opset, IR  int
		OutputDims []any `json:"output_dims"`
		Nodes      int
	}
	runJSON(t, exec.Command(testsupport.Python, append([]string{"testdata/onnx_check.py"}, paths...)...), &res)
	for i, c := range generatorCases {
		r := res[i]
		t.Logf("%s: opset %d, IR %d, %d nodes, output %v", c.name, r.Opset, r.IR, r.Nodes, r.OutputDims)
		if r.Opset != ONNXOpset || len(r.OutputDims) != 4 || r.OutputDims[0] != "batch" ||
			r.OutputDims[1] != float64(c.spec.OutputNC) {
			t.Errorf("%s: unexpected %+v", c.name, r)
		}
	}
}

// Exporting names the layer it cannot handle.
func TestONNXUnsupported(t *testing.T) {
	cases := []struct {
		name string
		m    nn.Module
		in   int
		want string
	}{
		{"linear", nn.Seq(nn.NewConv2d(3, 4, 3, 1, 1, true), nn.NewLinear(4, 4, true)), 3, "1: cannot export a *nn.Linear"},
		{"channels", nn.Seq(nn.NewConv2d(3, 4, 3, 1, 1, true)), 1, "conv expects 3 input channels, gets 1"},
		{"empty", nn.Seq(), 3, "computes nothing"},
		{"custom func", nn.Seq(&nn.Func{Name: "Swish", Fn: func(x *torch.Tensor) *torch.Tensor { return x }}), 3, "cannot export a Swish layer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ONNX(c.m, ONNXOptions{InputNC: c.in})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}
