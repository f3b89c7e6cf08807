package export_test

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/export"
	"cyclepix/internal/testsupport/clitest"
	"cyclepix/models"
	"cyclepix/networks"
	"cyclepix/nn"
	"cyclepix/torch"
)

// trainedRun writes what a training run leaves in <dir>/<name>:
// train_opt.txt and random-weight generator checkpoints.
func trainedRun(t *testing.T, dir, name string, args []string, nets map[string]networks.GenSpec) map[string]nn.Module {
	t.Helper()
	o, err := models.BuildOptions(true, append([]string{"--name=" + name, "--checkpoints_dir=" + dir}, args...), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(dir, name)
	if err := o.Save(run, "train"); err != nil {
		t.Fatal(err)
	}
	out := map[string]nn.Module{}
	for net, spec := range nets {
		g, err := spec.Build()
		if err != nil {
			t.Fatal(err)
		}
		torch.ManualSeed(uint64(len(net)))
		err = torch.Try(func() {
			for _, p := range nn.Parameters(g) {
				p.Detach().Normal_(0, 0.2)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := nn.SaveFile(g, models.CheckpointPath(run, "latest", net)); err != nil {
			t.Fatal(err)
		}
		out[net] = g
	}
	return out
}

func output(t *testing.T, g nn.Module, c, h, w int64) []float32 {
	t.Helper()
	var y []float32
	err := torch.Try(func() {
		defer torch.NewScope().Close()
		torch.ManualSeed(9)
		x := torch.Rand(1, c, h, w)
		torch.NoGrad(func() { y = g.Forward(x).Float32s() })
	})
	if err != nil {
		t.Fatal(err)
	}
	return y
}

func same(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 1e-6 {
			return false
		}
	}
	return true
}

// `cyclepix export` reads the run's train_opt.txt, so a pix2pix U-Net and
// a CycleGAN's second generator (channels swapped) export without
// architecture flags, in every format.
func TestExportCommand(t *testing.T) {
	dir := t.TempDir()
	p2p := networks.GenSpec{NetG: "unet_32", NGF: 4, Norm: "batch", InputNC: 3, OutputNC: 3, Dropout: true}
	p2pNets := trainedRun(t, dir, "facades", []string{"--model=pix2pix", "--netG=unet_32", "--ngf=4", "--lambda_L1=50"},
		map[string]networks.GenSpec{"G": p2p})
	gb := networks.GenSpec{NetG: "resnet_2blocks", NGF: 4, Norm: "instance", InputNC: 3, OutputNC: 1}
	cgNets := trainedRun(t, dir, "gray", []string{"--model=cycle_gan", "--netG=resnet_2blocks", "--ngf=4", "--input_nc=1"},
		map[string]networks.GenSpec{"G_A": {NetG: "resnet_2blocks", NGF: 4, Norm: "instance", InputNC: 1, OutputNC: 3}, "G_B": gb})

	cases := []struct {
		name string
		args []string
		out  string // file written, below dir
		spec networks.GenSpec
		net  string
		g    nn.Module
	}{
		{"pix2pix bundle", []string{"--name", "facades", "--format", "bundle"}, "facades/export/latest_net_G.bundle.pth", p2p, "G", p2pNets["G"]},
		{"pix2pix onnx", []string{"--name", "facades"}, "facades/export/latest_net_G.onnx", p2p, "G", p2pNets["G"]},
		{"pix2pix pth", []string{"--name", "facades", "--format=pth", "--out", filepath.Join(dir, "g.pth")}, "g.pth", p2p, "G", p2pNets["G"]},
		{"cyclegan G_B bundle", []string{"--name", "gray", "--net", "G_B", "--format", "bundle"}, "gray/export/latest_net_G_B.bundle.pth", gb, "G_B", cgNets["G_B"]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, code := clitest.Run(append([]string{"export", "--checkpoints_dir", dir}, c.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			t.Log(strings.TrimSpace(stdout))
			path := filepath.Join(dir, c.out)
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			want := output(t, c.g, int64(c.spec.InputNC), 32, 32)
			switch {
			case strings.HasSuffix(path, export.BundleExt):
				b, err := export.LoadBundle(path)
				if err != nil {
					t.Fatal(err)
				}
				if b.Spec != c.spec || b.Net != c.net {
					t.Fatalf("bundle spec %+v net %s, want %+v %s", b.Spec, b.Net, c.spec, c.net)
				}
				if c.net == "G" && (export.Option(b, "lambda_L1", 0.0) != 50 || export.Option(b, "name", "") != "facades" ||
					export.Option(b, "load_size", 0) != 286) {
					t.Errorf("bundle options %v", b.Options)
				}
				if !same(output(t, b.Generator, int64(c.spec.InputNC), 32, 32), want) {
					t.Error("bundle generator computes something else")
				}
			case strings.HasSuffix(path, ".pth"):
				g, _ := c.spec.Build()
				if err := nn.LoadFile(g, path); err != nil {
					t.Fatal(err)
				}
				if !same(output(t, g, int64(c.spec.InputNC), 32, 32), want) {
					t.Error("exported state dict computes something else")
				}
			default:
				b, err := export.ONNX(c.g, export.ONNXOptions{InputNC: c.spec.InputNC})
				if err != nil {
					t.Fatal(err)
				}
				// The same graph and weights plus metadata.
				if st.Size() < int64(len(b)) || !strings.Contains(stdout, "multiples of 32") {
					t.Errorf("ONNX file of %d bytes, graph alone %d; stdout %q", st.Size(), len(b), stdout)
				}
			}
		})
	}
}

// Mistakes give one line that says what to do.
func TestExportCommandErrors(t *testing.T) {
	dir := t.TempDir()
	trainedRun(t, dir, "run", []string{"--model=pix2pix", "--netG=unet_32", "--ngf=4"},
		map[string]networks.GenSpec{"G": {NetG: "unet_32", NGF: 4, Norm: "batch", InputNC: 3, OutputNC: 3}})
	bare := filepath.Join(dir, "pretrained")
	os.MkdirAll(bare, 0o755)
	g, _ := networks.GenSpec{NetG: "resnet_1blocks", NGF: 4, Norm: "instance", InputNC: 3, OutputNC: 3}.Build()
	nn.SaveFile(g, filepath.Join(bare, "latest_net_G.pth"))
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no run", []string{"--name", "nope"}, "no latest_net_G.pth in"},
		{"wrong epoch", []string{"--name", "run", "--epoch", "7"}, "it has latest_net_G.pth"},
		{"wrong net", []string{"--name", "run", "--net", "G_B"}, "--net G_B: the model's generators are G"},
		{"bad format", []string{"--name", "run", "--format", "tflite"}, `--format "tflite"`},
		{"flags contradict checkpoint", []string{"--name", "run", "--ngf", "8"}, "has shape"},
		{"no train_opt.txt", []string{"--name", "pretrained"}, "has no train_opt.txt, so the flags must describe the generator"},
		{"unknown flag", []string{"--name", "run", "--colour", "red"}, "unknown flag --colour"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, code := clitest.Run(append([]string{"export", "--checkpoints_dir", dir}, c.args...)...)
			if code == 0 || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
				t.Fatalf("exit %d, stderr %q; want one line containing %q", code, stderr, c.want)
			}
		})
	}
	// With the right flags the bare checkpoint exports.
	_, stderr, code := clitest.Run("export", "--checkpoints_dir", dir, "--name", "pretrained", "--netG", "resnet_1blocks", "--ngf", "4",
		"--format", "pth")
	if code != 0 {
		t.Fatalf("bare checkpoint with flags: %s", stderr)
	}
}
