package models

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"cyclepix/data"
	"cyclepix/options"
)

// Command describes the options of one cyclepix command. Build is the one
// place option sets are made: base options, train.py's or test.py's, the
// model's, the dataset mode's and the command's own, with one rule for
// taking a trained run's recorded options.
type Command struct {
	// Name is the command as users type it (train, test, translate, …);
	// --help's usage line and error messages name it.
	Name string
	// Train selects train.py's options and a training model; otherwise
	// test.py's options, and --model defaults to test.
	Train bool
	// Dataset adds the chosen dataset mode's options and defaults; for a
	// test command (Train false) it also applies test.py's fixed settings
	// (load_size defaults to crop_size, serial batches, no flips).
	Dataset bool
	// FromRun makes the command work on a trained run: the options marked
	// Inherit (model, architecture, direction, …) come from the run's
	// <checkpoints_dir>/<name>/train_opt.txt when it has one, and the
	// command line overrides them.
	FromRun bool
	// Defaults are the command's own default changes (translate and serve
	// run in eval mode).
	Defaults map[string]any
	// Own are the command's options, listed last in --help.
	Own []options.Def
}

// Built is an option set with where its values came from.
type Built struct {
	*options.Set
	// RunFile is the train_opt.txt the run's options were read from, ""
	// when none was (FromRun off, or a run without one: a reference
	// checkpoint, say).
	RunFile string
}

// Build parses args for cmd. --help prints every option (the model's and
// the dataset mode's too, with the defaults they change shown as theirs)
// to w and returns flag.ErrHelp.
func Build(cmd Command, args []string, w io.Writer) (*Built, error) {
	s := options.NewSet(cmd.Train)
	s.Add("base", options.Base()...)
	if cmd.Train {
		s.Add("train", options.Train()...)
	} else {
		s.Add("test", options.Test()...)
		s.SetDefault("model", "test")
	}
	s.SetHelp("model", "chooses which model to use ["+strings.Join(Names(), " | ")+"]")
	s.SetHelp("dataset_mode", "chooses how datasets are loaded ["+strings.Join(data.Modes(), " | ")+"]")
	if len(cmd.Defaults) > 0 {
		before := s.Defaults()
		for k, v := range cmd.Defaults {
			s.SetDefault(k, v)
		}
		s.NoteDefaults(cmd.Name, before)
	}

	var run options.Recorded
	runFile := ""
	if cmd.FromRun {
		dir := filepath.Join(scan(args, "checkpoints_dir", s.String("checkpoints_dir")), scan(args, "name", s.String("name")))
		p := filepath.Join(dir, "train_opt.txt")
		r, err := options.ReadFile(p)
		switch {
		case err == nil:
			run, runFile = r, p
		case !errors.Is(err, fs.ErrNotExist):
			return nil, err
		}
	}

	model := s.String("model")
	if v, ok := options.ScanValue(args, "model"); ok {
		model = v
	} else if v := run.Values["model"]; v != "" {
		if _, err := Lookup(v); err == nil {
			model = v
		}
	}
	def, err := Lookup(model)
	if err != nil {
		return nil, err
	}
	if cmd.Train && def.InferenceOnly {
		return nil, fmt.Errorf("--model %s is for inference only: use it with 'cyclepix test' (or translate, serve, export)", model)
	}
	s.SetDefault("model", model)
	s.SetArgs(args)
	before := s.Defaults()
	def.ModifyOptions(s, cmd.Train)
	s.NoteDefaults("--model "+model, before)

	// The run's recorded options, before the command line's: only those
	// this option set defines and marks Inherit (a newer cyclepix's, the
	// reference's wandb options and everything that says how to train or
	// where to find the run stay out).
	var pre []string
	if runFile != "" {
		for _, n := range s.Inherited() {
			if v, ok := run.Values[n]; ok && n != "model" {
				pre = append(pre, "--"+n+"="+v)
			}
		}
	}
	full := append(pre, args...)

	if cmd.Dataset {
		if err := addDatasetOptions(s, full); err != nil {
			return nil, err
		}
	}
	if len(cmd.Own) > 0 {
		s.Add(cmd.Name, cmd.Own...)
	}
	if err := s.Parse(cmd.Name, full, w); err != nil {
		var u *options.UnknownFlagError
		if errors.As(err, &u) {
			u.Owner = ownerOf(u.Name, cmd.Train)
		}
		if runFile != "" && !errors.Is(err, flag.ErrHelp) {
			return nil, fmt.Errorf("%w (options from %s, then the command line)", err, runFile)
		}
		return nil, err
	}
	if cmd.Dataset && !cmd.Train {
		// test.py: load_size defaults to crop_size; one image at a time
		// in file order, no flips (we keep --batch_size and
		// --num_threads, which the reference forces to 1 and 0).
		if !s.Given("load_size") {
			s.Set("load_size", s.Int("crop_size"))
		}
		s.Set("serial_batches", true)
		s.Set("no_flip", true)
	}
	if _, err := Precision(s); err != nil {
		return nil, err
	}
	if _, err := data.ParseDepth(s.String("bit_depth")); err != nil {
		return nil, err
	}
	if suffix := s.String("suffix"); suffix != "" {
		s.Set("name", s.String("name")+"_"+expandSuffix(suffix, s))
	}
	return &Built{Set: s, RunFile: runFile}, nil
}

// BuildOptions builds a train (isTrain) or test command's options
// without a dataset mode's: what code that drives a model itself (bench,
// the parity tests) needs.
func BuildOptions(isTrain bool, args []string, w io.Writer) (*options.Set, error) {
	name := "test"
	if isTrain {
		name = "train"
	}
	b, err := Build(Command{Name: name, Train: isTrain}, args, w)
	if err != nil {
		return nil, err
	}
	return b.Set, nil
}

func scan(args []string, name, def string) string {
	if v, ok := options.ScanValue(args, name); ok {
		return v
	}
	return def
}

// ownerOf names the --model or --dataset_mode that defines the option
// name ("--model pix2pix"), "" when none does: a flag unknown only because
// of the model chosen deserves a pointer rather than a typo hunt.
func ownerOf(name string, isTrain bool) string {
	var owners []string
	for _, m := range Names() {
		s := options.NewSet(isTrain)
		s.Add("base", options.Base()...)
		if isTrain {
			s.Add("train", options.Train()...)
		} else {
			s.Add("test", options.Test()...)
		}
		if mod := registry[m].ModifyOptions; mod != nil {
			mod(s, isTrain)
		}
		if s.Has(name) {
			owners = append(owners, "--model "+m)
		}
	}
	for _, mode := range data.Modes() {
		m, _ := data.LookupMode(mode)
		for _, f := range m.Flags {
			if f.Name == name {
				owners = append(owners, "--dataset_mode "+mode)
			}
		}
	}
	return strings.Join(owners, ", ")
}

// addDatasetOptions adds the chosen dataset mode's options and defaults
// (the reference's dataset modify_commandline_options).
func addDatasetOptions(s *options.Set, args []string) error {
	mode := scan(args, "dataset_mode", s.String("dataset_mode"))
	m, ok := data.LookupMode(mode)
	if !ok {
		return fmt.Errorf("--dataset_mode %q: unknown (have %s)", mode, strings.Join(data.Modes(), ", "))
	}
	for _, f := range m.Flags {
		s.Add(mode, options.Def{Name: f.Name, Default: f.Default, Help: f.Help})
	}
	before := s.Defaults()
	for k, v := range m.Defaults {
		if s.Has(k) {
			s.SetDefault(k, v)
		}
	}
	s.NoteDefaults("--dataset_mode "+mode, before)
	return nil
}

// expandSuffix fills {option} fields of --suffix, as opt.suffix.format(**vars(opt)).
func expandSuffix(suffix string, o *options.Set) string {
	out := suffix
	m := o.Map()
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = strings.ReplaceAll(out, "{"+k+"}", fmt.Sprint(m[k]))
	}
	return out
}

// DataOptions converts an option set into the data package's options.
func DataOptions(o *options.Set) (data.Options, error) {
	d, err := data.OptionsFromMap(o.Map())
	if err != nil {
		return d, err
	}
	if d.Dataroot == "" {
		return d, fmt.Errorf("--dataroot is required (the folder with your images)")
	}
	return d, nil
}

// RecordedOptions reads a run's options file as typed values: the
// options a training run of its --model defines, parsed from their
// recorded text (a newer cyclepix's or the reference's extra options are
// left out). An empty path gives an empty map.
func RecordedOptions(path string) (map[string]any, error) {
	if path == "" {
		return map[string]any{}, nil
	}
	r, err := options.ReadFile(path)
	if err != nil {
		return nil, err
	}
	model := r.Values["model"]
	if _, err := Lookup(model); err != nil {
		return map[string]any{}, nil
	}
	known, err := Build(Command{Name: "train", Train: true, Dataset: true}, []string{"--model=" + model}, io.Discard)
	if err != nil {
		return nil, err
	}
	var args []string
	for _, n := range r.Names {
		// The recorded name already carries its suffix.
		if known.Has(n) && n != "suffix" {
			args = append(args, "--"+n+"="+r.Values[n])
		}
	}
	s, err := Build(Command{Name: "train", Train: true, Dataset: true}, args, io.Discard)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s.Map(), nil
}
