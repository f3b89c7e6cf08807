package networks

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"cyclepix/internal/testsupport"
	"cyclepix/nn"
	"cyclepix/npy"
	"cyclepix/torch"
)

// Every generator and discriminator kind, saved by cyclepix, loads into a
// PyTorch build of the reference architecture with strict key and shape
// checks and gives the same output, on square and non-square inputs.
func TestNetworksMatchPyTorch(t *testing.T) {
	testsupport.NeedPythonLong(t, "torch", "numpy")
	type spec struct {
		Net     string `json:"net"`
		In      int64  `json:"in"`
		Out     int64  `json:"out"`
		NF      int64  `json:"nf"`
		Norm    Norm   `json:"norm"`
		Dropout bool   `json:"dropout"`
		Layers  int    `json:"layers"`
	}
	cases := []struct {
		s    spec
		h, w int64
	}{
		{spec{Net: "resnet_9blocks", In: 3, Out: 3, NF: 8, Norm: NormInstance}, 64, 48},
		{spec{Net: "resnet_6blocks", In: 3, Out: 3, NF: 8, Norm: NormBatch, Dropout: true}, 32, 40},
		{spec{Net: "resnet_2blocks", In: 1, Out: 2, NF: 4, Norm: NormNone}, 36, 36},
		{spec{Net: "unet_256", In: 3, Out: 3, NF: 4, Norm: NormBatch, Dropout: true}, 256, 256},
		{spec{Net: "unet_128", In: 1, Out: 2, NF: 4, Norm: NormInstance}, 128, 256},
		{spec{Net: "unet_64", In: 3, Out: 3, NF: 4, Norm: NormNone}, 64, 128},
		{spec{Net: "basic", In: 6, NF: 8, Norm: NormBatch}, 64, 80},
		{spec{Net: "basic", In: 3, NF: 8, Norm: NormInstance}, 70, 70},
		{spec{Net: "n_layers", In: 3, NF: 4, Norm: NormInstance, Layers: 5}, 128, 96},
		{spec{Net: "n_layers", In: 3, NF: 4, Norm: NormNone, Layers: 1}, 32, 32},
		{spec{Net: "pixel", In: 3, NF: 8, Norm: NormBatch}, 20, 30},
	}
	for _, c := range cases {
		name := fmt.Sprintf("%s_%s_%dx%d", c.s.Net, c.s.Norm, c.h, c.w)
		t.Run(name, func(t *testing.T) {
			defer torch.NewScope().Close()
			torch.ManualSeed(11)
			var net nn.Module
			var err error
			if c.s.Out > 0 {
				net, err = NewGenerator(GOptions{InputNC: c.s.In, OutputNC: c.s.Out, NGF: c.s.NF, NetG: c.s.Net, Norm: c.s.Norm,
					Dropout: c.s.Dropout, InitType: "normal", InitGain: 0.02})
			} else {
				net, err = NewDiscriminator(DOptions{InputNC: c.s.In, NDF: c.s.NF, NetD: c.s.Net, NLayers: c.s.Layers, Norm: c.s.Norm,
					InitType: "normal", InitGain: 0.02})
			}
			if err != nil {
				t.Fatal(err)
			}
			// Non-trivial batch-norm statistics, so eval mode is tested.
			for _, e := range nn.StateDict(net) {
				if !e.Param && e.Tensor.DType() == torch.Float32 {
					e.Tensor.Uniform_(0.5, 1.5)
				}
			}
			nn.SetTraining(net, false)
			dir := t.TempDir()
			weights := filepath.Join(dir, "net.pth")
			if err := nn.SaveFile(net, weights); err != nil {
				t.Fatal(err)
			}
			x := torch.Randn(2, c.s.In, c.h, c.w)
			in, out := filepath.Join(dir, "in.npy"), filepath.Join(dir, "out.npy")
			if err := npy.Write(in, x.Shape(), x.Float32s()); err != nil {
				t.Fatal(err)
			}
			var y *torch.Tensor
			torch.NoGrad(func() { y = net.Forward(x) })
			js, _ := json.Marshal(c.s)
			testsupport.RunPythonFile(t, "testdata/refnets.py", string(js), weights, in, out)
			ref, err := npy.Read(out)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := ref.Float32()
			got := y.Float32s()
			if fmt.Sprint(ref.Shape) != fmt.Sprint(y.Shape()) {
				t.Fatalf("shape %v, PyTorch %v", y.Shape(), ref.Shape)
			}
			worst := 0.0
			for i := range want {
				worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
			}
			if worst > 1e-5 {
				t.Fatalf("max abs difference %.3g from PyTorch", worst)
			}
		})
	}
}
