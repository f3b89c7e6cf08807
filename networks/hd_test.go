package networks

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"cyclepix/nn"
	"cyclepix/torch"
)

// pix2pixHD's learning-rate rule: constant through --niter epochs, then
// lr₀/niter_decay subtracted at the end of each later epoch (repeated
// float subtraction, so the last value is 1.4e-20, not 0); a run starting
// at --epoch_count starts where the rule has brought the rate.
func TestPix2PixHDSchedule(t *testing.T) {
	lr := 0.0002
	sub := func(k int) float64 {
		v := lr
		for i := 0; i < k; i++ {
			v -= lr / 4
		}
		return v
	}
	cases := []struct {
		name        string
		niter, dec  int
		epochCount  int
		during      []float64 // lr during epochs epochCount, epochCount+1, …
		afterLast   float64
		decayNeeded bool
	}{
		{"3+4", 3, 4, 1, []float64{lr, lr, lr, lr, sub(1), sub(2), sub(3)}, sub(4), false},
		{"from epoch 6", 3, 4, 6, []float64{sub(2), sub(3)}, sub(4), false},
		{"no decay", 2, 0, 1, []float64{lr, lr}, lr, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := NewScheduler(SchedulerOptions{Policy: "pix2pixhd", LR: lr, EpochCount: c.epochCount, NEpochs: c.niter, NEpochsDecay: c.dec})
			if err != nil {
				t.Fatal(err)
			}
			if c.dec == 4 && c.epochCount == 1 && sub(4) == 0 {
				t.Fatal("the repeated subtraction should not reach exactly 0")
			}
			for i, want := range c.during {
				if s.LR != want {
					t.Errorf("epoch %d: lr %.17g, want %.17g", c.epochCount+i, s.LR, want)
				}
				s.Step(0)
			}
			if s.LR != c.afterLast {
				t.Errorf("after the last epoch: %.17g, want %.17g", s.LR, c.afterLast)
			}
		})
	}
	if _, err := NewScheduler(SchedulerOptions{Policy: "pix2pixhd", LR: lr, EpochCount: 1, NEpochs: 1, NEpochsDecay: -1}); err == nil {
		t.Error("--niter_decay -1 accepted")
	}
}

// The multi-scale discriminator names its parameters as pix2pixHD's
// (scale<k>_layer<j> with intermediate features, layer<k> without), caps
// channels at 512, and gives the spatial sizes of kernel 4 / padding 2.
func TestMultiscaleDiscriminatorLayout(t *testing.T) {
	defer torch.NewScope().Close()
	d := NewMultiscaleDiscriminator(6, 128, 3, NormInstance, 3, true)
	keys := map[string][]int64{}
	for _, e := range nn.StateDict(d) {
		keys[e.Name] = e.Tensor.Shape()
	}
	for k, want := range map[string][]int64{
		"scale0_layer0.0.weight": {128, 6, 4, 4}, "scale2_layer2.0.weight": {512, 256, 4, 4},
		"scale1_layer3.0.weight": {512, 512, 4, 4}, "scale0_layer4.0.weight": {1, 512, 4, 4},
	} {
		if got := keys[k]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: %v, want %v", k, got, want)
		}
	}
	flat := NewMultiscaleDiscriminator(6, 8, 2, NormBatch, 2, false)
	var names []string
	for _, e := range nn.StateDict(flat) {
		if strings.HasSuffix(e.Name, ".weight") {
			names = append(names, e.Name)
		}
	}
	want := "layer0.0.weight layer0.2.weight layer0.3.weight layer0.5.weight layer0.6.weight layer0.8.weight layer1.0.weight layer1.2.weight layer1.3.weight layer1.5.weight layer1.6.weight layer1.8.weight"
	if strings.Join(names, " ") != want {
		t.Errorf("keys without intermediate features:\n%s\nwant\n%s", strings.Join(names, " "), want)
	}
	var out [][]*torch.Tensor
	torch.NoGrad(func() { out = d.ForwardScales(torch.Rand(2, 6, 64, 48)) })
	sizes := [][2]int64{{33, 25}, {17, 13}, {9, 7}, {10, 8}, {11, 9}}
	for j, s := range sizes {
		if h, w := out[0][j].Size(2), out[0][j].Size(3); h != s[0] || w != s[1] {
			t.Errorf("scale 0 group %d: %dx%d, want %dx%d", j, h, w, s[0], s[1])
		}
	}
	if len(out) != 3 || out[1][0].Size(2) != 17 || out[2][0].Size(2) != 9 {
		t.Errorf("scales 1 and 2 see the input pooled once and twice")
	}
}

// InitHD keeps PyTorch's default U(±1/√fan_in) conv biases (not zeros)
// and draws conv weights from N(0, 0.02).
func TestInitHD(t *testing.T) {
	defer torch.NewScope().Close()
	torch.ManualSeed(3)
	g := NewGlobalGenerator(3, 3, 16, 2, 1, NormInstance)
	if err := InitHD(g); err != nil {
		t.Fatal(err)
	}
	for _, e := range nn.StateDict(g) {
		v := e.Tensor.Float32s()
		switch {
		case strings.HasSuffix(e.Name, "model.1.bias"): // fan_in 3·7·7
			bound := 1 / math.Sqrt(147)
			nonzero := 0
			for _, x := range v {
				if math.Abs(float64(x)) > bound {
					t.Fatalf("%s: %g outside ±%g", e.Name, x, bound)
				}
				if x != 0 {
					nonzero++
				}
			}
			if nonzero == 0 {
				t.Errorf("%s is zero", e.Name)
			}
		case strings.HasSuffix(e.Name, "model.4.weight"):
			s := 0.0
			for _, x := range v {
				s += float64(x) * float64(x)
			}
			if std := math.Sqrt(s / float64(len(v))); std < 0.015 || std > 0.025 {
				t.Errorf("%s: std %.4f, want 0.02", e.Name, std)
			}
		}
	}
}

// InstanceMean gives every pixel its instance's mean, per sample and
// channel.
func TestInstanceMean(t *testing.T) {
	defer torch.NewScope().Close()
	feat := torch.FromFloat32([]float32{1, 2, 3, 4, 10, 20, 30, 40}, 2, 1, 2, 2)
	inst := torch.FromFloat32([]float32{5, 5, 7, 7, 5, 7, 7, 7}, 2, 1, 2, 2)
	got := InstanceMean(feat, inst).Float32s()
	want := []float32{1.5, 1.5, 3.5, 3.5, 10, 30, 30, 30}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-6 {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}
