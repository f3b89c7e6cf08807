package networks

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/internal/testsupport"
	"cyclepix/nn"
	"cyclepix/npy"
	"cyclepix/pth"
	"cyclepix/torch"
)

// A generator and a discriminator saved by PyTorch from inside
// torch.nn.DataParallel (every key prefixed "module.") load as the nets
// themselves: the generator as translate, serve and export load it
// (GenSpec.Load), the discriminator as a model's networks are loaded
// (nn.LoadFile), and both give PyTorch's output.
func TestDataParallelCheckpointMatchesPyTorch(t *testing.T) {
	testsupport.NeedPythonLong(t, "torch", "numpy")
	type spec struct {
		Net     string `json:"net"`
		In      int64  `json:"in"`
		Out     int64  `json:"out"`
		NF      int64  `json:"nf"`
		Norm    Norm   `json:"norm"`
		Dropout bool   `json:"dropout"`
	}
	for _, s := range []spec{
		{Net: "resnet_6blocks", In: 3, Out: 3, NF: 4, Norm: NormInstance},
		{Net: "basic", In: 3, NF: 4, Norm: NormBatch},
	} {
		t.Run(s.Net, func(t *testing.T) {
			defer torch.NewScope().Close()
			dir := t.TempDir()
			weights, in, out := filepath.Join(dir, "net.pth"), filepath.Join(dir, "in.npy"), filepath.Join(dir, "out.npy")
			torch.ManualSeed(4)
			x := torch.Randn(1, s.In, 40, 36)
			if err := npy.Write(in, x.Shape(), x.Float32s()); err != nil {
				t.Fatal(err)
			}
			js, _ := json.Marshal(s)
			testsupport.RunPythonFile(t, "testdata/dataparallel.py", string(js), weights, in, out)

			// The file is what the test is about: every key prefixed.
			d, err := pth.LoadStateDict(weights)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range d.Keys {
				if !strings.HasPrefix(k, "module.") {
					t.Fatalf("PyTorch wrote key %q without the DataParallel prefix", k)
				}
			}

			var net nn.Module
			if s.Out > 0 {
				net, _, err = GenSpec{NetG: s.Net, NGF: int(s.NF), Norm: string(s.Norm), InputNC: int(s.In), OutputNC: int(s.Out)}.Load(weights)
			} else {
				net, err = NewDiscriminator(DOptions{InputNC: s.In, NDF: s.NF, NetD: s.Net, Norm: s.Norm, InitType: "normal", InitGain: 0.02})
				if err == nil {
					err = nn.LoadFile(net, weights)
				}
				nn.SetTraining(net, false)
			}
			if err != nil {
				t.Fatal(err)
			}
			var y *torch.Tensor
			torch.NoGrad(func() { y = net.Forward(x) })
			ref, err := npy.Read(out)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(ref.Shape) != fmt.Sprint(y.Shape()) {
				t.Fatalf("shape %v, PyTorch %v", y.Shape(), ref.Shape)
			}
			want, _ := ref.Float32()
			if d, scale := testsupport.MaxAbsDiff(y.Float32s(), want); d > 1e-5 || scale == 0 {
				t.Fatalf("max abs difference %.3g from PyTorch (outputs up to %.3g)", d, scale)
			}
		})
	}
}
