package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"cyclepix/export"
	"cyclepix/models"
	"cyclepix/nn"
	"cyclepix/options"
)

func init() {
	register("export", "write a trained generator as ONNX, a reference .pth state dict, or a self-describing bundle", runExport)
}

// exportDefs are export's own options; every train option is accepted too.
var exportDefs = []options.Def{
	{Name: "format", Default: "onnx", Help: "onnx (opset 13, dynamic batch/height/width), pth (the reference's state dict) or bundle (weights + options in one file that serve and translate load without flags)"},
	{Name: "out", Default: "", Help: "output file; empty: <checkpoints_dir>/<name>/export/<epoch>_net_<net>.onnx, .pth or .bundle.pth"},
	{Name: "net", Default: "", Help: "which generator: G, G_A, G_B, …; empty: the model's first generator whose checkpoint exists"},
}

func runExport(args []string, stdout, stderr io.Writer) error {
	o, fromFile, err := exportOptions(args, stdout)
	if err != nil {
		return err
	}
	format := o.String("format")
	ext := map[string]string{"onnx": ".onnx", "pth": ".pth", "bundle": export.BundleExt}[format]
	if ext == "" {
		return fmt.Errorf("--format %q: want onnx, pth or bundle", format)
	}
	runDir := filepath.Join(o.String("checkpoints_dir"), o.String("name"))
	label := models.LoadLabel(o)
	net := o.String("net")
	if net == "" {
		if net, err = exportPickNet(o, runDir, label); err != nil {
			return err
		}
	}
	ckpt := models.CheckpointPath(runDir, label, net)
	if _, err := os.Stat(ckpt); err != nil {
		return fmt.Errorf("no checkpoint %s (check --name, --checkpoints_dir, --epoch/--load_iter and --net)", ckpt)
	}
	spec := export.SpecFromOptions(o, net)
	g, err := spec.Build()
	if err != nil {
		return err
	}
	if err := nn.LoadFile(g, ckpt); err != nil {
		if !fromFile {
			err = fmt.Errorf("%w; %s has no train_opt.txt, so the flags must describe the generator", err, runDir)
		}
		return err
	}

	out := o.String("out")
	if out == "" {
		out = filepath.Join(runDir, "export", fmt.Sprintf("%s_net_%s%s", label, net, ext))
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(out), err)
	}
	opts := o.Map()
	for _, k := range []string{"format", "out"} {
		delete(opts, k)
	}
	opts["net"] = net
	switch format {
	case "onnx":
		meta, err := export.Metadata(spec, net, opts)
		if err != nil {
			return err
		}
		doc := fmt.Sprintf("cyclepix %s generator %s of %s (%s, epoch %s)", spec.NetG, net, o.String("name"), o.String("model"), label)
		err = export.SaveONNX(out, g, export.ONNXOptions{InputNC: spec.InputNC, DocString: doc, Metadata: meta,
			ProducerVersion: Version})
		if err != nil {
			return err
		}
	case "pth":
		if err := export.SavePTH(out, g); err != nil {
			return err
		}
	case "bundle":
		if err := export.SaveBundle(out, g, spec, net, opts); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "exported %s (%s, ngf %d, norm %s, %.3f M parameters) to %s\n", ckpt, spec.NetG, spec.NGF, spec.Norm,
		float64(nn.NumParams(g))/1e6, out)
	switch format {
	case "onnx":
		fmt.Fprintf(stdout, "ONNX opset %d, eval mode (batch norm running statistics, no dropout); %s\n", export.ONNXOpset, export.IOText(spec))
	case "bundle":
		fmt.Fprintf(stdout, "bundle: weights and %d options; load with export.LoadBundle or torch.load\n", len(opts))
	}
	return nil
}

// exportOptions parses the command line over the run's recorded options:
// train_opt.txt of --name under --checkpoints_dir supplies every option it
// has, and flags override them. fromFile reports whether that file exists.
func exportOptions(args []string, stdout io.Writer) (o *options.Set, fromFile bool, err error) {
	scan := func(name, def string) string {
		if v, ok := options.ScanValue(args, name); ok {
			return v
		}
		return def
	}
	runDir := filepath.Join(scan("checkpoints_dir", "./checkpoints"), scan("name", "experiment_name"))
	optPath := filepath.Join(runDir, "train_opt.txt")
	names, values, err := export.ReadOptionsFile(optPath)
	switch {
	case err == nil:
		fromFile = true
	case errors.Is(err, fs.ErrNotExist):
	default:
		return nil, false, err
	}
	hook := func(s *options.Set, _ []string) error {
		s.Add("export", exportDefs...)
		return nil
	}
	model := scan("model", values["model"])
	if model == "" {
		model = "cycle_gan"
	}
	// The options the model defines: recorded ones it lacks (a newer
	// cyclepix's, the reference's gpu_ids, …) are not passed on, nor those
	// that say where the run is and which epoch to load, which are the
	// command line's: the run may have moved, or continued from an epoch.
	known, err := models.BuildOptions(true, []string{"--model=" + model}, io.Discard, hook)
	if err != nil {
		return nil, false, err
	}
	var full []string
	for _, n := range names {
		if known.Has(n) && !exportOwnOptions[n] {
			full = append(full, "--"+n+"="+values[n])
		}
	}
	full = append(append(full, "--model="+model), args...)
	o, err = models.BuildOptions(true, full, stdout, hook)
	if err != nil {
		if errors.Is(err, errHelp) || !fromFile {
			return nil, false, err
		}
		return nil, false, fmt.Errorf("%w (options from %s, then the command line)", err, optPath)
	}
	return o, fromFile, nil
}

var exportOwnOptions = map[string]bool{"model": true, "name": true, "checkpoints_dir": true, "suffix": true,
	"epoch": true, "load_iter": true, "format": true, "out": true, "net": true}

// exportPickNet returns the first generator of the model whose checkpoint
// exists: G<model_suffix> for the test model, G for pix2pix, G_A for
// CycleGAN, then G and G_A whatever the model.
func exportPickNet(o *options.Set, runDir, label string) (string, error) {
	var cands []string
	switch o.String("model") {
	case "test":
		if o.Has("model_suffix") {
			cands = append(cands, "G"+o.String("model_suffix"))
		}
	case "cycle_gan":
		cands = append(cands, "G_A")
	}
	cands = append(cands, "G", "G_A")
	for _, c := range cands {
		if _, err := os.Stat(models.CheckpointPath(runDir, label, c)); err == nil {
			return c, nil
		}
	}
	have, _ := filepath.Glob(filepath.Join(runDir, "*_net_*.pth"))
	for i, h := range have {
		have[i] = filepath.Base(h)
	}
	sort.Strings(have)
	if len(have) == 0 {
		return "", fmt.Errorf("no %s_net_G.pth or %s_net_G_A.pth in %s (check --name, --checkpoints_dir and --epoch)", label, label, runDir)
	}
	return "", fmt.Errorf("no %s_net_G.pth or %s_net_G_A.pth in %s; it has %s (choose with --epoch and --net)", label, label, runDir, strings.Join(have, ", "))
}
