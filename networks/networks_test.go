package networks

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/nn"
	"cyclepix/torch"
)

// Parameter counts the reference prints for its default networks.
func TestParameterCounts(t *testing.T) {
	cases := []struct {
		name  string
		build func() (nn.Module, error)
		want  float64 // millions, as printed (3 decimals)
	}{
		{"resnet_9blocks", func() (nn.Module, error) { return NewGenerator(gopt(3, 3, "resnet_9blocks", NormInstance)) }, 11.378},
		{"unet_256", func() (nn.Module, error) { return NewGenerator(gopt(3, 3, "unet_256", NormBatch)) }, 54.414},
		{"unet_128", func() (nn.Module, error) { return NewGenerator(gopt(3, 3, "unet_128", NormBatch)) }, 41.829},
		{"unet_128 colorization", func() (nn.Module, error) { return NewGenerator(gopt(1, 2, "unet_128", NormBatch)) }, 41.825},
		{"basic D 3ch", func() (nn.Module, error) { return NewDiscriminator(dopt(3, "basic", NormInstance)) }, 2.765},
		{"basic D 6ch batch", func() (nn.Module, error) { return NewDiscriminator(dopt(6, "basic", NormBatch)) }, 2.769},
		{"basic D 3ch batch", func() (nn.Module, error) { return NewDiscriminator(dopt(3, "basic", NormBatch)) }, 2.766},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := c.build()
			if err != nil {
				t.Fatal(err)
			}
			got := math.Round(float64(nn.NumParams(m))/1e3) / 1e3
			if got != c.want {
				t.Fatalf("%.3f M parameters, reference prints %.3f M", got, c.want)
			}
		})
	}
}

func gopt(in, out int64, net string, norm Norm) GOptions {
	return GOptions{InputNC: in, OutputNC: out, NGF: 64, NetG: net, Norm: norm, InitType: "normal", InitGain: 0.02}
}

func dopt(in int64, net string, norm Norm) DOptions {
	return DOptions{InputNC: in, NDF: 64, NetD: net, NLayers: 3, Norm: norm, InitType: "normal", InitGain: 0.02}
}

// Output shapes for every architecture, including U-Nets of any power of two
// and the n_layers and pixel discriminators.
func TestArchitectures(t *testing.T) {
	defer torch.NewScope().Close()
	cases := []struct {
		g    GOptions
		d    *DOptions
		size int64
		out  []int64
	}{
		{g: GOptions{InputNC: 3, OutputNC: 3, NGF: 4, NetG: "resnet_6blocks", Norm: NormInstance}, size: 32, out: []int64{1, 3, 32, 32}},
		{g: GOptions{InputNC: 1, OutputNC: 2, NGF: 4, NetG: "resnet_2blocks", Norm: NormBatch, Dropout: true}, size: 16, out: []int64{1, 2, 16, 16}},
		{g: GOptions{InputNC: 3, OutputNC: 3, NGF: 4, NetG: "unet_32", Norm: NormBatch, Dropout: true}, size: 32, out: []int64{1, 3, 32, 32}},
		{g: GOptions{InputNC: 3, OutputNC: 1, NGF: 2, NetG: "unet_512", Norm: NormNone}, size: 512, out: []int64{1, 1, 512, 512}},
		{d: &DOptions{InputNC: 3, NDF: 4, NetD: "n_layers", NLayers: 5, Norm: NormBatch}, size: 128, out: []int64{1, 1, 2, 2}},
		{d: &DOptions{InputNC: 6, NDF: 4, NetD: "pixel", Norm: NormInstance}, size: 16, out: []int64{1, 1, 16, 16}},
		{d: &DOptions{InputNC: 3, NDF: 4, NetD: "basic", Norm: NormNone}, size: 64, out: []int64{1, 1, 6, 6}},
	}
	for _, c := range cases {
		var m nn.Module
		var err error
		name := c.g.NetG
		in := c.g.InputNC
		if c.d != nil {
			c.d.InitType, c.d.InitGain = "normal", 0.02
			m, err = NewDiscriminator(*c.d)
			name, in = c.d.NetD, c.d.InputNC
		} else {
			c.g.InitType, c.g.InitGain = "normal", 0.02
			m, err = NewGenerator(c.g)
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		nn.SetTraining(m, false)
		y := m.Forward(torch.Randn(1, in, c.size, c.size))
		if got := y.Shape(); len(got) != 4 || got[1] != c.out[1] || got[2] != c.out[2] || got[3] != c.out[3] {
			t.Errorf("%s: output %v, want %v", name, got, c.out)
		}
	}
}

func TestBadArchitectureNames(t *testing.T) {
	for _, n := range []string{"unet_100", "unet_16", "resnet_blocks", "vgg", "resnet_0blocks"} {
		if _, err := NewGenerator(GOptions{InputNC: 3, OutputNC: 3, NGF: 4, NetG: n, Norm: NormBatch, InitType: "normal"}); err == nil || !strings.Contains(err.Error(), "--netG") {
			t.Errorf("%s: error %v", n, err)
		}
	}
	if _, err := NewDiscriminator(DOptions{InputNC: 3, NDF: 4, NetD: "huge", Norm: NormBatch, InitType: "normal"}); err == nil {
		t.Error("unknown netD accepted")
	}
	if _, err := NewGenerator(GOptions{InputNC: 3, OutputNC: 3, NGF: 4, NetG: "resnet_6blocks", Norm: NormBatch, InitType: "uniform"}); err == nil || !strings.Contains(err.Error(), "--init_type") {
		t.Errorf("bad init accepted: %v", err)
	}
}

// Each init scheme gives weights with the intended spread, biases 0 and
// batch-norm weights around 1.
func TestInit(t *testing.T) {
	defer torch.NewScope().Close()
	torch.ManualSeed(3)
	for _, c := range []struct {
		typ string
		std float64 // expected std of the 256→256 3×3 conv weights
	}{
		{"normal", 0.02},
		{"xavier", 0.02 * math.Sqrt(2.0/(256*9+256*9))},
		{"kaiming", math.Sqrt(2.0 / (256 * 9))},
		{"orthogonal", 0.02 / math.Sqrt(256*9)},
	} {
		g, err := NewGenerator(GOptions{InputNC: 3, OutputNC: 3, NGF: 64, NetG: "resnet_1blocks", Norm: NormBatch, InitType: c.typ, InitGain: 0.02})
		if err != nil {
			t.Fatal(err)
		}
		var w, bn *torch.Tensor
		for _, e := range nn.StateDict(g) {
			switch e.Name {
			case "model.10.conv_block.1.weight":
				w = e.Tensor
			case "model.2.weight":
				bn = e.Tensor
			}
		}
		std := math.Sqrt(w.Var(false, false).Item())
		if math.Abs(std-c.std)/c.std > 0.05 {
			t.Errorf("%s: weight std %.5g, want %.5g", c.typ, std, c.std)
		}
		if m := bn.Mean().Item(); math.Abs(m-1) > 0.01 {
			t.Errorf("%s: batch-norm weight mean %.4f, want ≈ 1", c.typ, m)
		}
	}
}

// A checkpoint of another architecture fails with the key and both shapes.
func TestLoadMismatchNamesTensor(t *testing.T) {
	defer torch.NewScope().Close()
	dir := t.TempDir()
	g9, _ := NewGenerator(GOptions{InputNC: 3, OutputNC: 3, NGF: 8, NetG: "resnet_9blocks", Norm: NormInstance, InitType: "normal", InitGain: 0.02})
	p := filepath.Join(dir, "latest_net_G.pth")
	if err := nn.SaveFile(g9, p); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		g    GOptions
		want string
	}{
		{GOptions{InputNC: 3, OutputNC: 3, NGF: 16, NetG: "resnet_9blocks", Norm: NormInstance}, `"model.1.weight" has shape [8 3 7 7] in the checkpoint but [16 3 7 7]`},
		{GOptions{InputNC: 3, OutputNC: 3, NGF: 8, NetG: "resnet_6blocks", Norm: NormInstance}, `checkpoint has no tensor "model.16.weight"`},
		{GOptions{InputNC: 3, OutputNC: 3, NGF: 8, NetG: "resnet_9blocks", Norm: NormBatch}, `no tensor "model.2.weight"`},
	}
	for _, c := range cases {
		c.g.InitType = "normal"
		m, err := NewGenerator(c.g)
		if err != nil {
			t.Fatal(err)
		}
		err = nn.LoadFile(m, p)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s/%v: error %v, want it to name %s and the file", c.g.NetG, c.g.Norm, err, c.want)
		}
	}
	// And the same architecture round-trips exactly.
	same, _ := NewGenerator(GOptions{InputNC: 3, OutputNC: 3, NGF: 8, NetG: "resnet_9blocks", Norm: NormInstance, InitType: "normal", InitGain: 0.02})
	if err := nn.LoadFile(same, p); err != nil {
		t.Fatal(err)
	}
	a, b := nn.StateDict(g9), nn.StateDict(same)
	for i := range a {
		if a[i].Tensor.Sub(b[i].Tensor).Abs().Max().Item() != 0 {
			t.Fatalf("%s differs after save/load", a[i].Name)
		}
	}
}

func TestImagePool(t *testing.T) {
	defer torch.NewScope().Close()
	p := NewImagePool(3, rand.New(rand.NewPCG(1, 1)))
	defer p.Free()
	img := func(v float64) *torch.Tensor { return torch.Full(v, 1, 1, 2, 2) }
	for i := 0; i < 3; i++ {
		if got := p.Query(img(float64(i))).Mean().Item(); got != float64(i) {
			t.Fatalf("filling: got %v, want %d", got, i)
		}
	}
	seenOld, seenNew := false, false
	for i := 3; i < 40; i++ {
		got := p.Query(img(float64(i))).Mean().Item()
		if got == float64(i) {
			seenNew = true
		} else if got < float64(i) {
			seenOld = true
		}
	}
	if !seenOld || !seenNew {
		t.Fatalf("pool never swapped (old %v new %v)", seenOld, seenNew)
	}
	if len(p.Images) != 3 {
		t.Fatalf("pool holds %d images", len(p.Images))
	}
	if got := NewImagePool(0, nil).Query(img(7)).Mean().Item(); got != 7 {
		t.Fatal("pool_size 0 should return its input")
	}
}

func TestGANLossModes(t *testing.T) {
	defer torch.NewScope().Close()
	pred := torch.FromFloat32([]float32{0.5, -1}, 2)
	cases := []struct {
		mode GANMode
		real bool
		want float64
	}{
		{GANLSGAN, true, (0.25 + 4) / 2},
		{GANLSGAN, false, (0.25 + 1) / 2},
		{GANVanilla, true, (math.Log1p(math.Exp(-0.5)) + math.Log1p(math.Exp(1))) / 2},
		{GANWGANGP, true, 0.25},
		{GANWGANGP, false, -0.25},
	}
	for _, c := range cases {
		if got := GANLoss(c.mode, pred, c.real).Item(); math.Abs(got-c.want) > 1e-6 {
			t.Errorf("%s real=%v: %v, want %v", c.mode, c.real, got, c.want)
		}
	}
}
