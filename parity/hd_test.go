package parity

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"testing"

	"cyclepix/models"
	"cyclepix/nn"
	"cyclepix/npy"
	"cyclepix/options"
	"cyclepix/torch"
	"cyclepix/train"
)

func init() {
	runners["hd_forward"] = runHDForward
	runners["hd_train_step"] = runHDTrainStep
	runners["hd_lr"] = runHDLR
}

// hdOptions parses a pix2pixHD case's command_line as `cyclepix train
// --model pix2pixhd` parses it (pix2pixHD's spellings are aliases), with
// extra flags after it.
func hdOptions(t *testing.T, c *Case, extra ...string) *options.Set {
	t.Helper()
	var cmdline []string
	c.Get(t, "command_line", &cmdline)
	args := append(append(programDefaults(c.Kind), cmdline...), extra...)
	o, err := train.ParseOptions(true, args, io.Discard)
	if err != nil {
		t.Fatalf("case.json command_line %v: %v", cmdline, err)
	}
	if c.Has("options") {
		checkParsedOptions(t, c, o)
	}
	return o
}

// readNPYFloat loads a float or integer .npy file as a float32 tensor
// (the integer label and instance maps are fed as floats, as pix2pixHD's
// dataset yields them).
func readNPYFloat(t *testing.T, path string) *torch.Tensor {
	t.Helper()
	a, err := npy.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := a.Float32(); err == nil {
		return torch.FromFloat32(v, a.Shape...)
	}
	iv, err := a.Int64()
	if err != nil {
		t.Fatalf("%s: neither float nor integer: %v", path, err)
	}
	v := make([]float32, len(iv))
	for i, x := range iv {
		v[i] = float32(x)
		if int64(v[i]) != x {
			t.Fatalf("%s: id %d is not exact in float32", path, x)
		}
	}
	return torch.FromFloat32(v, a.Shape...)
}

// hd_forward: a generator or discriminator as Pix2PixHDModel builds it
// from the case's command line, its stored weights, eval mode; every
// output file compared within 1e-5·max|ref|.
func runHDForward(t *testing.T, c *Case) {
	var netw map[string]json.RawMessage
	c.Get(t, "network", &netw)
	var role string
	if err := json.Unmarshal(netw["role"], &role); err != nil {
		t.Fatalf("case.json network.role: %v", err)
	}
	var outputs map[string][]int64
	c.Get(t, "outputs", &outputs)
	if len(outputs) == 0 {
		t.Fatal("case.json outputs lists no files")
	}
	o := hdOptions(t, c)
	input := readNPY(t, c.Need(t, "input.npy"))
	cmp := newCompare(t)
	switch role {
	case "G":
		def, err := models.Lookup(o.String("model"))
		if err != nil {
			t.Fatal(err)
		}
		gens, err := def.Generators(o)
		if err != nil {
			t.Fatal(err)
		}
		spec := gens[0].Spec
		var in int
		if raw, ok := netw["netG_input_nc"]; !ok || json.Unmarshal(raw, &in) != nil {
			t.Fatal("case.json network has no netG_input_nc, which a G case needs")
		}
		if spec.InputNC != in {
			t.Fatalf("the options give G %d input channels, the case's network %d", spec.InputNC, in)
		}
		g, err := spec.Build()
		if err != nil {
			t.Fatal(err)
		}
		if err := nn.LoadFile(g, c.Need(t, "latest_net_G.pth")); err != nil {
			t.Fatal(err)
		}
		nn.SetTraining(g, hdTrainMode(t, c, netw))
		if len(outputs) != 1 {
			t.Fatalf("a G case has one output file, this one lists %v", sortedKeys(outputs))
		}
		var out *torch.Tensor
		torch.NoGrad(func() { out = g.Forward(input) })
		for f := range outputs {
			want := readNPY(t, c.Need(t, f))
			cmp.close(f, out, want, 1e-5*finiteMax(want.Float32s()))
		}
	case "D":
		var in int64
		if raw, ok := netw["netD_input_nc"]; !ok || json.Unmarshal(raw, &in) != nil {
			t.Fatal("case.json network has no netD_input_nc, which a D case needs")
		}
		d, err := models.HDDiscriminator(o, in)
		if err != nil {
			t.Fatal(err)
		}
		if raw, ok := netw["getIntermFeat"]; ok {
			var f bool
			if err := json.Unmarshal(raw, &f); err != nil {
				t.Fatalf("case.json network.getIntermFeat: %v", err)
			}
			if f != d.IntermFeat {
				t.Fatalf("the options give getIntermFeat %v, the case's network %v", d.IntermFeat, f)
			}
		}
		// pix2pixHD's D ends in a Sigmoid with --no_lsgan
		// (use_sigmoid), which it keeps only without getIntermFeat;
		// cyclepix's D gives logits, its vanilla loss applies the
		// sigmoid itself.
		sigmoid := o.Bool("no_lsgan")
		if raw, ok := netw["use_sigmoid"]; ok {
			var f bool
			if err := json.Unmarshal(raw, &f); err != nil {
				t.Fatalf("case.json network.use_sigmoid: %v", err)
			}
			if f != sigmoid {
				t.Fatalf("the options give use_sigmoid (--no_lsgan) %v, the case's network %v", sigmoid, f)
			}
		}
		sigmoid = sigmoid && !d.IntermFeat
		if err := nn.LoadFile(d, c.Need(t, "latest_net_D.pth")); err != nil {
			t.Fatal(err)
		}
		nn.SetTraining(d, hdTrainMode(t, c, netw))
		var out [][]*torch.Tensor
		torch.NoGrad(func() { out = d.ForwardScales(input) })
		n := 0
		for i := range out {
			if sigmoid {
				last := len(out[i]) - 1
				out[i][last] = out[i][last].Sigmoid()
			}
			for j := range out[i] {
				f := fmt.Sprintf("out_s%d_l%d.npy", i, j)
				if _, ok := outputs[f]; !ok {
					t.Errorf("cyclepix's D gives output %s, which the case does not list", f)
					continue
				}
				n++
				want := readNPY(t, c.Need(t, f))
				cmp.close(f, out[i][j], want, 1e-5*finiteMax(want.Float32s()))
			}
		}
		if n != len(outputs) {
			t.Errorf("the case lists %d outputs, cyclepix's D gives %d of them", len(outputs), n)
		}
	default:
		t.Fatalf("case.json network.role %q: want G or D", role)
	}
}

// hdTrainMode reads a forward case's mode (network.mode, else mode; its
// first word; eval when the case gives none, as the README defines
// hd_forward): in eval mode batch norm uses its running statistics.
func hdTrainMode(t *testing.T, c *Case, netw map[string]json.RawMessage) bool {
	t.Helper()
	mode := "eval"
	if raw, ok := netw["mode"]; ok {
		if err := json.Unmarshal(raw, &mode); err != nil {
			t.Fatalf("case.json network.mode: %v", err)
		}
	} else if c.Has("mode") {
		c.Get(t, "mode", &mode)
	}
	switch f := strings.Fields(mode + " ")[0]; f {
	case "train", "eval":
		return f == "train"
	}
	t.Fatalf("case.json mode %q: want train or eval", mode)
	return false
}

// hd_train_step: one train.py iteration of Pix2PixHDModel from the stored
// weights and batch: input encoding, fake image, discriminator outputs and
// losses as cyclepix computes them (float32); then the gradients each
// optimiser used and the weights after, from the same iteration replayed
// in float64.
//
// Why the replay: the feature-matching loss is an L1 distance between the
// discriminator's features of the fake and of the real pair, and its
// gradient is the sign of their difference. In step_hd_rgb one feature
// (scale 0, layer group 2, element 64) differs by +8.0e-8 in exact
// arithmetic (float64), while float32 kernels other than the reference's
// own (another CPU's oneDNN code path) put ±5e-7 of noise on it, even fed
// the reference's own fake image: the sign flips, and with it 0.1 % of
// the gradient reaching G (up to 5 % of a first-layer weight's gradient).
// The README's tolerances come from a float64 re-implementation; the
// replay checks against them what the fixture pins down, cyclepix's
// backward pass, without depending on float32 rounding the case cannot
// fix.
func runHDTrainStep(t *testing.T, c *Case) {
	var losses map[string]float64
	c.Get(t, "losses", &losses)
	var extra []string
	if _, err := os.Stat(c.Path("vgg19_features.pth")); err == nil {
		extra = append(extra, "--vgg19="+c.Path("vgg19_features.pth"))
	}
	o := hdOptions(t, c, extra...)
	cmp := newCompare(t)

	m, hd := hdStepModel(t, c, o, torch.Float32)
	b := m.Base()
	labelNC := o.Int("label_nc")
	il := hd.InputLabel()
	ch := int64(o.Int("input_nc"))
	if labelNC > 0 {
		cmp.values("onehot", il.Narrow(1, 0, int64(labelNC)).Contiguous().Float32s(), readNPY(t, c.Need(t, "onehot.npy")).Float32s(), func(int) float64 { return 0 })
		ch = int64(labelNC)
	}
	if !o.Bool("no_instance") {
		cmp.values("edge_map", il.Narrow(1, ch, 1).Contiguous().Float32s(), readNPY(t, c.Need(t, "edge_map.npy")).Float32s(), func(int) float64 { return 0 })
	}
	m.OptimizeParameters()

	want := readNPY(t, c.Need(t, "fake_image.npy"))
	cmp.close("fake_image", b.Visual("fake_B"), want, 1e-5*finiteMax(want.Float32s()))
	real, fake := hd.DiscriminatorOutputs()
	// With --no_lsgan and without feature matching pix2pixHD's D ends in
	// a Sigmoid (use_sigmoid): its outputs are probabilities, cyclepix's
	// logits.
	sigmoid := o.Bool("no_lsgan") && o.Bool("no_ganFeat_loss")
	for i := range real {
		if sigmoid {
			real[i], fake[i] = real[i].Sigmoid(), fake[i].Sigmoid()
		}
		for _, p := range []struct {
			name string
			got  *torch.Tensor
		}{{"pred_real", real[i]}, {"pred_fake", fake[i]}} {
			f := fmt.Sprintf("%s_s%d.npy", p.name, i)
			w := readNPY(t, c.Need(t, f))
			cmp.close(f, p.got, w, 1e-5*finiteMax(w.Float32s()))
		}
	}
	if _, err := os.Stat(c.Path(fmt.Sprintf("pred_real_s%d.npy", len(real)))); err == nil {
		t.Errorf("the case has more discriminator scales than cyclepix's D (%d)", len(real))
	}

	// The per-loss values; loss_G and loss_D are their sums.
	parts := map[string]float64{}
	for k, v := range losses {
		if k != "loss_G" && k != "loss_D" {
			parts[k] = v
		}
	}
	expectLosses(t, cmp, b.Losses(), parts)
	got := map[string]float64{}
	for _, l := range b.Losses() {
		got[l.Name] = l.Value
	}
	if w, ok := losses["loss_G"]; ok {
		cmp.scalar("loss_G", got["G_GAN"]+got["G_GAN_Feat"]+got["G_VGG"], w, 1e-5)
	}
	if w, ok := losses["loss_D"]; ok {
		cmp.scalar("loss_D", 0.5*(got["D_fake"]+got["D_real"]), w, 1e-5)
	}

	m64, _ := hdStepModel(t, c, o, torch.Float64)
	m64.OptimizeParameters()
	b64 := m64.Base()
	var zeroTrue, wasNone map[string][]string
	c.Get(t, "zero_true_gradient", &zeroTrue)
	c.Get(t, "grad_was_none", &wasNone)
	lr := o.Float("lr")
	for _, n := range b64.NetNames {
		gf := "grads_net_" + n + ".pth"
		noise := append(append([]string(nil), zeroTrue[gf]...), wasNone[gf]...)
		noise = append(noise, normFedBiases(b64.Nets[n])...)
		cmp.grads(n+" grad", b64.Nets[n], c.Need(t, gf), noise, gradRule{})
		cmp.afterStep(n, b64.Nets[n], c.Need(t, "after_net_"+n+".pth"), c.Path(gf), lr, noise)
	}
}

// normFedBiases are the convolution biases of a network (in training
// mode) that feed an InstanceNorm2d or a BatchNorm directly: the norm
// subtracts each channel's mean, so their exact gradient is 0 and the
// reference's values are rounding noise. The README's zero_true_gradient
// names those before an InstanceNorm; pix2pixHD's batch norm has biased
// convolutions too, whose biases a case need not list.
func normFedBiases(m nn.Module) []string {
	var out []string
	nn.Walk(m, func(path string, mod nn.Module) {
		s, ok := mod.(*nn.Sequential)
		if !ok {
			return
		}
		for i := 0; i+1 < len(s.Layers); i++ {
			var bias *torch.Tensor
			switch c := s.Layers[i].(type) {
			case *nn.Conv2d:
				bias = c.Bias
			case *nn.ConvTranspose2d:
				bias = c.Bias
			}
			switch n := s.Layers[i+1].(type) {
			case *nn.InstanceNorm2d:
			case *nn.BatchNorm:
				if !n.Training {
					continue
				}
			default:
				continue
			}
			if bias != nil {
				name := fmt.Sprintf("%d.bias", i)
				if path != "" {
					name = path + "." + name
				}
				out = append(out, name)
			}
		}
	})
	return out
}

// hdStepModel builds the case's model with its stored weights, in dtype
// (networks, VGG and optimizer moments), and sets the case's batch.
func hdStepModel(t *testing.T, c *Case, o *options.Set, dt torch.DType) (models.Model, *models.Pix2PixHD) {
	t.Helper()
	m := newModel(t, o)
	hd, ok := m.(*models.Pix2PixHD)
	if !ok {
		t.Fatalf("--model %s is not pix2pixhd", o.String("model"))
	}
	b := m.Base()
	loadNets(t, c, b)
	b.SetTraining(true)
	for _, n := range b.NetNames {
		nn.SetDType(b.Nets[n], dt)
	}
	if hd.VGG != nil {
		nn.SetDType(hd.VGG, dt)
	}
	for _, opt := range b.Optimizers {
		for i := range opt.ExpAvg {
			opt.ExpAvg[i].SetDType_(dt)
			opt.ExpAvgSq[i].SetDType_(dt)
		}
	}
	in := models.Input{Tensors: map[string]*torch.Tensor{}}
	if o.Int("label_nc") == 0 {
		in.Tensors["A"] = readNPY(t, c.Need(t, "label.npy"))
	} else {
		in.Tensors["A"] = readNPYFloat(t, c.Need(t, "label_map.npy"))
	}
	if !o.Bool("no_instance") {
		in.Tensors["inst"] = readNPYFloat(t, c.Need(t, "inst_map.npy"))
	}
	in.Tensors["B"] = readNPY(t, c.Need(t, "real_image.npy"))
	for k, v := range in.Tensors {
		in.Tensors[k] = v.To(dt)
	}
	if err := m.SetInput(in); err != nil {
		t.Fatal(err)
	}
	return m, hd
}

// hd_lr: the learning rate of both optimisers during each epoch, with the
// model's schedulers stepped at each epoch's end as the training loop
// steps them; exact (pix2pixHD's repeated subtraction).
func runHDLR(t *testing.T, c *Case) {
	type lrs struct {
		Epoch int     `json:"epoch"`
		G     float64 `json:"lr_G"`
		D     float64 `json:"lr_D"`
	}
	var per []lrs
	c.Get(t, "lr_per_epoch", &per)
	var after lrs
	c.Get(t, "lr_after_last_epoch", &after)
	if len(per) == 0 {
		t.Fatal("case.json lr_per_epoch is empty")
	}
	o := hdOptions(t, c)
	m := newModel(t, o)
	b := m.Base()
	if err := b.SetupSchedulers(); err != nil {
		t.Fatal(err)
	}
	if len(b.Optimizers) != 2 {
		t.Fatalf("pix2pixhd has %d optimizers, want 2 (G, D)", len(b.Optimizers))
	}
	last := o.Int("n_epochs") + o.Int("n_epochs_decay")
	if last != len(per) {
		t.Fatalf("the options train %d epochs, the case lists %d", last, len(per))
	}
	exact := func(what string, got, want float64) {
		t.Helper()
		if math.IsNaN(got) || got != want {
			t.Errorf("%s: lr %.17g, pix2pixHD's %.17g", what, got, want)
		}
	}
	for epoch := o.Int("epoch_count"); epoch <= last; epoch++ {
		if ea, ok := m.(models.EpochAware); ok {
			ea.BeginEpoch(epoch)
		}
		w := per[epoch-1]
		if w.Epoch != epoch {
			t.Fatalf("lr_per_epoch[%d] is epoch %d", epoch-1, w.Epoch)
		}
		exact(fmt.Sprintf("epoch %d G", epoch), b.Optimizers[0].LR, w.G)
		exact(fmt.Sprintf("epoch %d D", epoch), b.Optimizers[1].LR, w.D)
		b.UpdateLearningRate()
	}
	exact("after the last epoch G", b.Optimizers[0].LR, after.G)
	exact("after the last epoch D", b.Optimizers[1].LR, after.D)
	if !strings.HasPrefix(models.SchedulerOptions(o).Policy, "pix2pixhd") {
		t.Errorf("--model pix2pixhd schedules with %s, want pix2pixhd's rule", models.SchedulerOptions(o).Policy)
	}
}
