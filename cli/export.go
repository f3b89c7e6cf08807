package cli

import (
	"fmt"
	"io"
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
	{Name: "net", Default: "", Help: "which generator: G, G_A, G_B, …; empty: the model's generator for --direction, else its first one whose checkpoint exists"},
}

func runExport(args []string, stdout, stderr io.Writer) error {
	// --direction chooses which generator to export; the set's is the
	// run's training direction, by which the model labels them (see
	// infer.Run).
	choice, _ := options.ScanValue(args, "direction")
	b, err := models.Build(models.Command{Name: "export", FromRun: true, Own: exportDefs}, options.DropFlag(args, "direction"), stdout)
	if err != nil {
		return err
	}
	if choice == "" {
		choice = "AtoB"
	}
	o := b.Set
	format := o.String("format")
	ext := map[string]string{"onnx": ".onnx", "pth": ".pth", "bundle": export.BundleExt}[format]
	if ext == "" {
		return fmt.Errorf("--format %q: want onnx, pth or bundle", format)
	}
	runDir := filepath.Join(o.String("checkpoints_dir"), o.String("name"))
	label := models.LoadLabel(o)
	gen, err := exportPickGenerator(o, choice, runDir, label)
	if err != nil {
		return err
	}
	ckpt := models.CheckpointPath(runDir, label, gen.Net)
	g, spec, err := gen.Spec.Load(ckpt)
	if err != nil {
		if b.RunFile == "" {
			err = fmt.Errorf("%w; %s has no train_opt.txt, so the flags must describe the generator", err, runDir)
		}
		return err
	}
	gen.Spec = spec

	out := o.String("out")
	if out == "" {
		out = filepath.Join(runDir, "export", fmt.Sprintf("%s_net_%s%s", label, gen.Net, ext))
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(out), err)
	}
	// The bundle records the training run's options, as train_opt.txt has
	// them, with what this command line changed.
	opts, err := models.RecordedOptions(b.RunFile)
	if err != nil {
		return err
	}
	for k, v := range o.Map() {
		if _, ok := opts[k]; !ok || o.Given(k) {
			opts[k] = v
		}
	}
	for _, k := range []string{"format", "out"} {
		delete(opts, k)
	}
	opts["net"] = gen.Net
	switch format {
	case "onnx":
		meta, err := export.Metadata(gen, opts)
		if err != nil {
			return err
		}
		doc := fmt.Sprintf("cyclepix %s generator %s of %s (%s, epoch %s)", spec.NetG, gen.Net, o.String("name"), o.String("model"), label)
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
		if err := export.SaveBundle(out, g, gen, opts); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "exported %s (%s, ngf %d, norm %s, %.3f M parameters) to %s\n", ckpt, spec.NetG, spec.NGF, spec.Norm,
		float64(nn.NumParams(g))/1e6, out)
	switch format {
	case "onnx":
		fmt.Fprintf(stdout, "ONNX opset %d, eval mode (batch norm running statistics, no dropout); %s\n", export.ONNXOpset, export.IOText(gen, opts))
	case "bundle":
		fmt.Fprintf(stdout, "bundle: weights and %d options; load with export.LoadBundle or torch.load\n", len(opts))
	}
	return nil
}

// exportPickGenerator returns the generator --net names, or else the
// model's generator for --direction, or its first other one, whose
// checkpoint exists.
func exportPickGenerator(o *options.Set, direction, runDir, label string) (models.Generator, error) {
	def, err := models.Lookup(o.String("model"))
	if err != nil {
		return models.Generator{}, err
	}
	gens, err := def.Generators(o)
	if err != nil {
		return models.Generator{}, err
	}
	cands, err := models.PickGenerators(gens, o.String("net"), direction, false)
	if err != nil {
		return models.Generator{}, err
	}
	if o.String("net") == "" {
		cands = append(cands, gens...)
	}
	var tried []string
	seen := map[string]bool{}
	for _, g := range cands {
		p := models.CheckpointPath(runDir, label, g.Net)
		if _, err := os.Stat(p); err == nil {
			return g, nil
		}
		if !seen[g.Net] {
			seen[g.Net] = true
			tried = append(tried, filepath.Base(p))
		}
	}
	have, _ := filepath.Glob(filepath.Join(runDir, "*_net_*.pth"))
	for i, h := range have {
		have[i] = filepath.Base(h)
	}
	sort.Strings(have)
	if len(have) == 0 {
		return models.Generator{}, fmt.Errorf("no %s in %s (check --name, --checkpoints_dir and --epoch)", strings.Join(tried, " or "), runDir)
	}
	return models.Generator{}, fmt.Errorf("no %s in %s; it has %s (choose with --model, --net and --epoch)", strings.Join(tried, " or "), runDir, strings.Join(have, ", "))
}
