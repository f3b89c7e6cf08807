package infer

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"cyclepix/data"
	"cyclepix/models"
	"cyclepix/options"
	"cyclepix/torch"
)

// Common are the options translate and serve add to the reference's test
// options.
var Common = []options.Def{
	{Name: "bundle", Default: "", Help: "generator bundle file(s) (cyclepix export --format bundle), comma-separated; replaces --checkpoints_dir/--name and the architecture flags"},
	{Name: "net", Default: "", Help: "which generator to load (G, G_A, G_B, …); empty: the model's generator for --direction (G_A for AtoB, G_B for BtoA of a CycleGAN), or its only one"},
	{Name: "tile", Default: 0, Help: "translate images larger than this many pixels a side as overlapping tiles, bounding memory (0: whole images)"},
	{Name: "tile_overlap", Default: 32, Help: "overlap of neighbouring tiles in pixels, blended linearly"},
}

// command is translate's or serve's: the reference's base and test
// options, the chosen model's, own (the command's) and Common. Unlike
// test.py, --eval defaults to true (see Source.Eval); --eval=false gives
// the reference's train-mode inference.
func command(cmd string, own []options.Def, fromRun bool) models.Command {
	return models.Command{Name: cmd, FromRun: fromRun, Defaults: map[string]any{"eval": true},
		Own: append(append([]options.Def{}, own...), Common...)}
}

// OptionSet parses a translate or serve command line that names no run
// (--bundle gives the generators).
func OptionSet(cmd string, own []options.Def, args []string, w io.Writer) (*options.Set, error) {
	b, err := models.Build(command(cmd, own, false), args, w)
	if err != nil {
		return nil, err
	}
	return b.Set, nil
}

// Run is a translate or serve command's view of one trained run.
type Run struct {
	*options.Set
	// File is the train_opt.txt the run's options came from ("" if none).
	File string
	// Direction is the way the command line asks to translate
	// (--direction), "" when it does not say. It is kept apart: the set's
	// --direction is the run's training direction, by which the model
	// labels its generators (a CycleGAN trained BtoA has G_A map B to A).
	Direction string
}

// RunOptions parses a translate or serve command line for the run name
// (one of --name's comma-separated runs): the run's recorded architecture
// comes first (see models.Command.FromRun), so a trained run needs no
// architecture flags.
func RunOptions(cmd string, own []options.Def, args []string, name string, w io.Writer) (*Run, error) {
	choice, _ := options.ScanValue(args, "direction")
	args = append(options.DropFlag(options.DropFlag(args, "name"), "direction"), "--name="+name)
	b, err := models.Build(command(cmd, own, true), args, w)
	if err != nil {
		return nil, err
	}
	if choice != "" && choice != "AtoB" && choice != "BtoA" {
		return nil, fmt.Errorf("--direction %q: want AtoB or BtoA", choice)
	}
	return &Run{Set: b.Set, File: b.RunFile, Direction: choice}, nil
}

// base fills the run-independent fields of a Source from the options.
func base(o *options.Set) (Source, error) {
	var s Source
	dev, err := models.Device(o)
	if err != nil {
		return s, err
	}
	s.Device = dev
	switch p, _ := models.Precision(o); p {
	case torch.Float32:
	case torch.BFloat16:
		s.BF16 = true
	default:
		return s, fmt.Errorf("--precision %s: translate and serve run fp32 or bf16", o.String("precision"))
	}
	s.Eval = o.Bool("eval")
	if o.Has("output_format") {
		s.OutputFormat = o.String("output_format")
	}
	if o.Given("preprocess") {
		d, err := data.OptionsFromMap(o.Map())
		if err != nil {
			return s, err
		}
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

// CheckpointSources returns the generators of the run to load: the one
// the command line selects (--net, else the one that translates in
// --direction, AtoB when not given), or with all every generator of the
// model whose checkpoint exists (at least one must).
func CheckpointSources(r *Run, all bool) ([]Source, error) {
	o := r.Set
	want := r.Direction
	if want == "" {
		want = "AtoB"
	}
	b, err := base(o)
	if err != nil {
		return nil, err
	}
	def, err := models.Lookup(o.String("model"))
	if err != nil {
		return nil, err
	}
	gens, err := def.Generators(o)
	if err != nil {
		return nil, err
	}
	picked, err := models.PickGenerators(gens, o.String("net"), want, all)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(o.String("checkpoints_dir"), o.String("name"))
	label := models.LoadLabel(o)
	var out []Source
	var nets []string
	for _, g := range picked {
		path := models.CheckpointPath(dir, label, g.Net)
		nets = append(nets, g.Net)
		if len(picked) > 1 && all {
			if _, err := os.Stat(path); err != nil {
				continue
			}
		}
		s := b
		s.Checkpoint, s.Name = path, o.String("name")
		s.Net, s.Direction, s.Spec, s.Colour, s.Labels = g.Net, g.Direction, g.Spec, g.Colour, g.Labels
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
