package metrics

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/data"
	"cyclepix/internal/testsupport"
	"cyclepix/nn"
	"cyclepix/torch"
)

// randomInception fills the network with random weights and statistics
// that keep activations in a reasonable range through its 94 layers.
func randomInception(t *testing.T, seed uint64) *Inception {
	t.Helper()
	m := NewInception()
	torch.ManualSeed(seed)
	err := torch.Try(func() {
		for _, e := range nn.StateDict(m) {
			s := e.Tensor.Shape()
			switch {
			case strings.HasSuffix(e.Name, "conv.weight"):
				e.Tensor.Normal_(0, math.Sqrt(2/float64(s[1]*s[2]*s[3])))
			case strings.HasSuffix(e.Name, "bn.weight"), strings.HasSuffix(e.Name, "running_var"):
				e.Tensor.Uniform_(0.5, 1.5)
			case strings.HasSuffix(e.Name, "bn.bias"), strings.HasSuffix(e.Name, "running_mean"):
				e.Tensor.Normal_(0, 0.1)
			default: // fc
				e.Tensor.Normal_(0, 0.01)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The network with random weights against the same architecture written
// in plain PyTorch (testdata/reference.py), at the smallest input the
// architecture allows and at the real 299×299; then the state dict
// PyTorch writes back (with num_batches_tracked counters, as the
// pytorch-fid file may have) loads and gives the same features.
func TestInceptionAgainstPyTorch(t *testing.T) {
	testsupport.NeedPython(t, "torch", "numpy")
	dir := t.TempDir()
	m := randomInception(t, 42)
	defer m.Free()
	weights := filepath.Join(dir, "random_inception.pth")
	if err := nn.SaveFile(m, weights); err != nil {
		t.Fatal(err)
	}
	type run struct {
		n, size int64
		input   []float32
		got     []float32
	}
	runs := []*run{{n: 2, size: 75}, {n: 1, size: 299}}
	var jobRuns []map[string]any
	for i, r := range runs {
		torch.ManualSeed(uint64(i))
		err := torch.Try(func() {
			defer torch.NewScope().Close()
			x := torch.Rand(r.n, 3, r.size, r.size).MulScalar(2).SubScalar(1)
			r.input = x.Float32s()
			torch.NoGrad(func() { r.got = m.Forward(x).Float32s() })
		})
		if err != nil {
			t.Fatal(err)
		}
		in, out := filepath.Join(dir, fmt.Sprintf("in%d.f32", i)), filepath.Join(dir, fmt.Sprintf("out%d.f32", i))
		testsupport.WriteFloat32s(t, in, r.input)
		jobRuns = append(jobRuns, map[string]any{"input": in, "output": out, "shape": []int64{r.n, 3, r.size, r.size}})
	}
	saved := filepath.Join(dir, "pytorch_state_dict.pth")
	var res map[string][]int
	reference(t, map[string]any{"kind": "inception", "weights": weights, "runs": jobRuns, "save": saved,
		"threads": torch.NumThreads()}, &res)
	for i, r := range runs {
		want := testsupport.ReadFloat32s(t, jobRuns[i]["output"].(string))
		if len(want) != len(r.got) || len(want) != int(r.n)*FeatureDim {
			t.Fatalf("%d features from PyTorch, %d here", len(want), len(r.got))
		}
		d, scale := testsupport.MaxAbsDiff(r.got, want)
		t.Logf("%d×3×%d×%d: max |Δ| %.3g over features up to %.3g (relative %.2g)", r.n, r.size, r.size, d, scale, d/scale)
		if scale < 1e-3 || d > 1e-4*scale {
			t.Errorf("features differ from PyTorch's: max |Δ| %g (scale %g)", d, scale)
		}
	}
	// PyTorch's own file, counters included, loads into a fresh network.
	m2, err := LoadInception(saved)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Free()
	var again []float32
	err = torch.Try(func() {
		defer torch.NewScope().Close()
		x := torch.FromFloat32(runs[0].input, 2, 3, 75, 75)
		torch.NoGrad(func() { again = m2.Forward(x).Float32s() })
	})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := testsupport.MaxAbsDiff(again, runs[0].got); d != 0 {
		t.Errorf("network loaded from PyTorch's state dict differs by %g", d)
	}
}

// The clean-fid resize (Pillow mode F bicubic per channel, then clip)
// for upsampling, downsampling and odd sizes.
func TestInceptionInputAgainstPillow(t *testing.T) {
	testsupport.NeedPython(t, "PIL", "numpy")
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(15, 16))
	cases := []struct{ w, h, size int }{{64, 48, 299}, {512, 400, 299}, {301, 77, 299}, {300, 300, 100}}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%dx%d_to_%d", c.w, c.h, c.size), func(t *testing.T) {
			img := testImage(rng, c.w, c.h, 3, 30)
			// Hard black and white edges make bicubic overshoot the most.
			for i := 0; i < len(img.Pix); i += 7 {
				img.Pix[i] = 255 * uint8(i%2)
			}
			in, out := filepath.Join(dir, "img.u8"), filepath.Join(dir, "want.f32")
			if err := writeBytes(in, img.Pix); err != nil {
				t.Fatal(err)
			}
			var res map[string]any
			reference(t, map[string]any{"kind": "resize", "image": in, "out": out, "w": c.w, "h": c.h, "size": c.size}, &res)
			want := testsupport.ReadFloat32s(t, out)
			got := inceptionInput(img, c.size)
			d, _ := testsupport.MaxAbsDiff(got, want)
			t.Logf("max |Δ| %.2g on the [-1, 1] network input (%.2g of an 8-bit level)", d, d*127.5)
			if d > 2e-6 {
				t.Errorf("resized input differs from clean-fid's by %g", d)
			}
		})
	}
}

func TestInceptionErrors(t *testing.T) {
	if _, err := LoadInception(filepath.Join(t.TempDir(), "missing.pth")); err == nil || !strings.Contains(err.Error(), InceptionURL) {
		t.Fatalf("missing weights: %v, want the download URL in the error", err)
	}
	bad := filepath.Join(t.TempDir(), "generator.pth")
	g := nn.Seq(nn.NewConv2d(3, 4, 3, 1, 1, true))
	if err := nn.SaveFile(g, bad); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadInception(bad); err == nil || !strings.Contains(err.Error(), InceptionFile) {
		t.Fatalf("wrong weights: %v", err)
	}
	m := NewInception()
	defer m.Free()
	if _, err := m.Features([]*data.Image{testImage(rand.New(rand.NewPCG(1, 1)), 20, 20, 3, 0)}, FeatureOptions{Size: 50}); err == nil {
		t.Fatal("no error for a 50×50 input")
	}
}
