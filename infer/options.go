package infer

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"cyclepix/data"
	"cyclepix/export"
	"cyclepix/models"
	"cyclepix/options"
	"cyclepix/train"
)

// Common are the options translate and serve add to the reference's test
// options.
var Common = []options.Def{
	{Name: "bundle", Default: "", Help: "generator bundle file(s) (cyclepix export --format bundle), comma-separated; replaces --checkpoints_dir/--name and the architecture flags"},
	{Name: "net", Default: "", Help: "which generator to load (G, G_A, G_B, …); empty: G<model_suffix> for --model test, G_A or G_B by --direction for cycle_gan, G otherwise"},
	{Name: "tile", Default: 0, Help: "translate images larger than this many pixels a side as overlapping tiles, bounding memory (0: whole images)"},
	{Name: "tile_overlap", Default: 32, Help: "overlap of neighbouring tiles in pixels, blended linearly"},
}

// OptionSet parses a translate or serve command line: the reference's base
// and test options, the chosen model's, and own (the command's). Unlike
// test.py, --eval defaults to true (see Source.Eval); --eval=false gives the
// reference's train-mode inference.
func OptionSet(cmd string, own []options.Def, args []string, w io.Writer) (*options.Set, error) {
	s := options.NewSet(false)
	s.Add("base", options.Base()...)
	s.Add("test", options.Test()...)
	s.SetDefault("model", "test")
	s.SetDefault("eval", true)
	model := s.String("model")
	if v, ok := options.ScanValue(args, "model"); ok {
		model = v
	}
	def, err := models.Lookup(model)
	if err != nil {
		return nil, err
	}
	def.ModifyOptions(s, false)
	s.Add(cmd, own...)
	s.Add(cmd, Common...)
	if err := s.Parse(cmd, args, w); err != nil {
		return nil, err
	}
	return s, nil
}

// archOptions are what a run's train_opt.txt contributes: what it takes to
// rebuild its generators. Where to find the run, what to load and how to
// preprocess are the command line's.
var archOptions = map[string]bool{"netG": true, "ngf": true, "norm": true, "input_nc": true, "output_nc": true, "no_dropout": true}

// RunOptions is OptionSet for one run --name: when the run has a
// train_opt.txt its model and architecture options come first, so a
// trained run needs no architecture flags; the command line overrides
// them. It returns the file it read ("" if none).
func RunOptions(cmd string, own []options.Def, args []string, name string, w io.Writer) (*options.Set, string, error) {
	dir := "./checkpoints"
	if v, ok := options.ScanValue(args, "checkpoints_dir"); ok {
		dir = v
	}
	file := filepath.Join(dir, name, "train_opt.txt")
	names, values, err := export.ReadOptionsFile(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		file = ""
	case err != nil:
		return nil, "", err
	}
	var pre []string
	if _, ok := options.ScanValue(args, "model"); !ok && values["model"] != "" {
		if _, err := models.Lookup(values["model"]); err == nil {
			pre = append(pre, "--model="+values["model"])
		}
	}
	for _, n := range names {
		if archOptions[n] {
			pre = append(pre, "--"+n+"="+values[n])
		}
	}
	o, err := OptionSet(cmd, own, append(pre, args...), w)
	if err != nil {
		if file != "" && !errors.Is(err, flag.ErrHelp) {
			return nil, "", fmt.Errorf("%w (options from %s, then the command line)", err, file)
		}
		return nil, "", err
	}
	o.Set("name", name)
	return o, file, nil
}

// base fills the run-independent fields of a Source from the options.
func base(o *options.Set) (Source, error) {
	var s Source
	dev, err := train.Device(o)
	if err != nil {
		return s, err
	}
	s.Device = dev
	switch p := o.String("precision"); p {
	case "fp32":
	case "bf16":
		s.BF16 = true
	default:
		return s, fmt.Errorf("--precision %q: want fp32 or bf16", p)
	}
	s.Eval = o.Bool("eval")
	if d := o.String("direction"); d != "AtoB" && d != "BtoA" {
		return s, fmt.Errorf("--direction %q: want AtoB or BtoA", d)
	}
	if o.Given("preprocess") {
		d := data.DefaultOptions()
		d.Preprocess = o.String("preprocess")
		d.CropSize = o.Int("crop_size")
		d.LoadSize = o.Int("load_size")
		if !o.Given("load_size") {
			d.LoadSize = d.CropSize // test.py's default
		}
		d.NoFlip = true
		if err := d.Validate(); err != nil {
			return s, err
		}
		s.Preprocess = &d
	}
	s.Options = o.Map()
	return s, nil
}

// Nets returns the generators a run's options select: --net, else
// G<model_suffix> for the test model, G_A/G_B for CycleGAN (by --direction,
// or both when all is set), G otherwise.
func Nets(o *options.Set, all bool) []string {
	if n := o.String("net"); n != "" {
		return strings.Split(n, ",")
	}
	switch o.String("model") {
	case "test":
		return []string{"G" + o.String("model_suffix")}
	case "cycle_gan":
		switch {
		case all:
			return []string{"G_A", "G_B"}
		case o.String("direction") == "BtoA":
			return []string{"G_B"}
		}
		return []string{"G_A"}
	}
	return []string{"G"}
}

// CheckpointSources returns the generators of run --name to load: the one
// the options select, or with all every generator of the model whose
// checkpoint exists (at least one must).
func CheckpointSources(o *options.Set, all bool) ([]Source, error) {
	b, err := base(o)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(o.String("checkpoints_dir"), o.String("name"))
	label := models.LoadLabel(o)
	nets := Nets(o, all)
	var out []Source
	for _, net := range nets {
		path := models.CheckpointPath(dir, label, net)
		if len(nets) > 1 && all {
			if _, err := os.Stat(path); err != nil {
				continue
			}
		}
		s := b
		s.Checkpoint, s.Net, s.Name = path, net, o.String("name")
		s.Spec = export.SpecFromOptions(o, "G")
		if o.String("model") == "cycle_gan" {
			// CycleGAN's G_B maps B (output_nc channels) to A; the test
			// model takes the channel flags as they are, as the
			// reference's does.
			s.Spec = export.SpecFromOptions(o, net)
		}
		s.Direction = directionOf(net, o.String("direction"))
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, missingCheckpoint(models.CheckpointPath(dir, label, nets[0]), strings.Join(nets, " or "))
	}
	return out, nil
}

// BundleSources returns a Source per --bundle file.
func BundleSources(o *options.Set) ([]Source, error) {
	b, err := base(o)
	if err != nil {
		return nil, err
	}
	b.Options = nil // the bundle's own
	var out []Source
	for _, p := range strings.Split(o.String("bundle"), ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("--bundle: %w", err)
		}
		s := b
		s.Bundle = p
		out = append(out, s)
	}
	return out, nil
}

// EngineConfig reads the engine's settings from the options: --tile,
// --tile_overlap, and batch as the largest batch.
func EngineConfig(o *options.Set, batch, queue int) Config {
	return Config{MaxBatch: batch, Queue: queue, Tile: o.Int("tile"), TileOverlap: o.Int("tile_overlap")}
}
