// Package options holds the reference's command-line options: the same
// names, defaults and meanings as base_options.py, train_options.py and
// test_options.py, plus the options each model and dataset mode adds.
//
// Options live in a Set keyed by name, so that a model or dataset mode adds
// its own (or changes a default) in its own file, as the reference's
// modify_commandline_options does.
package options

import (
	"cyclepix/atomicfile"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Def defines one option.
type Def struct {
	Name    string
	Default any // string, int, float64 or bool (bool options are switches)
	Help    string
	Group   string // "base", "train", "test", or the model/dataset mode that added it
	// Inherit marks what describes a trained run's networks and data
	// (model, architecture, direction, …): the commands that work on a
	// run (test, translate, serve, export) take it from the run's
	// train_opt.txt unless the command line gives it.
	Inherit bool
	// overrides say who changed the default, and what it was before, for
	// --help: "--model cycle_gan" sets --no_dropout's to true.
	by   string
	base any
	// aliases are other spellings of the flag (Set.Alias).
	aliases []string
}

// Set is a parsed (or parsable) collection of options.
type Set struct {
	IsTrain bool
	defs    []*Def
	byName  map[string]*Def
	// alias maps another program's spelling of an option to its name.
	alias  map[string]string
	values map[string]any
	given  map[string]bool
	// args are the raw arguments Peek scans (SetArgs).
	args []string
}

// NewSet makes an empty set.
func NewSet(isTrain bool) *Set {
	return &Set{IsTrain: isTrain, byName: map[string]*Def{}, alias: map[string]string{}, values: map[string]any{}, given: map[string]bool{}}
}

// Alias makes --alias another spelling of --name, so that another
// program's command lines run unchanged (pix2pixHD's --batchSize for
// --batch_size). It is the same option: it has one value, recorded under
// name; given both, the later on the command line wins, as with a flag
// given twice. An alias that is already an option's name is ignored.
func (s *Set) Alias(alias, name string) {
	d, ok := s.byName[name]
	if !ok {
		panic("options: Alias of undefined option " + name)
	}
	if _, taken := s.byName[alias]; taken {
		return
	}
	if _, dup := s.alias[alias]; dup {
		return
	}
	s.alias[alias] = name
	d.aliases = append(d.aliases, alias)
}

// Resolve returns the option name that name spells: itself or the option
// it is an alias of; "" when it is neither.
func (s *Set) Resolve(name string) string {
	if _, ok := s.byName[name]; ok {
		return name
	}
	return s.alias[name]
}

// Add defines options; a name already defined keeps its first definition
// (like argparse, which would refuse a duplicate, models may share options).
func (s *Set) Add(group string, defs ...Def) {
	for _, d := range defs {
		if _, ok := s.byName[d.Name]; ok {
			continue
		}
		d := d
		d.Group = group
		s.defs = append(s.defs, &d)
		s.byName[d.Name] = &d
		s.values[d.Name] = d.Default
	}
}

// Has reports whether an option is defined.
func (s *Set) Has(name string) bool { _, ok := s.byName[name]; return ok }

// SetDefault changes an option's default (parser.set_defaults); a value the
// user gave is kept.
func (s *Set) SetDefault(name string, v any) {
	d, ok := s.byName[name]
	if !ok {
		panic("options: SetDefault of undefined option " + name)
	}
	d.Default = v
	if !s.given[name] {
		s.values[name] = v
	}
}

// SetHelp replaces an option's help text (the list of registered models
// in --model's, say).
func (s *Set) SetHelp(name, help string) {
	if d, ok := s.byName[name]; ok {
		d.Help = help
	}
}

// Defaults returns every option's current default, for NoteDefaults.
func (s *Set) Defaults() map[string]any {
	m := make(map[string]any, len(s.defs))
	for _, d := range s.defs {
		m[d.Name] = d.Default
	}
	return m
}

// NoteDefaults records that by (a model, a dataset mode, a command)
// changed the defaults that differ from before, so that --help shows the
// default as that one's ("default with --model cycle_gan: true") rather
// than as everyone's.
func (s *Set) NoteDefaults(by string, before map[string]any) {
	for _, d := range s.defs {
		old, ok := before[d.Name]
		if !ok || format(old) == format(d.Default) {
			continue
		}
		if d.by == "" {
			d.base = old
		}
		d.by = by
	}
}

// Inherited lists the options marked Inherit.
func (s *Set) Inherited() []string {
	var names []string
	for _, d := range s.defs {
		if d.Inherit {
			names = append(names, d.Name)
		}
	}
	return names
}

// Set assigns a value as if given on the command line (used by code that
// forces options, as test.py does).
func (s *Set) Set(name string, v any) {
	if _, ok := s.byName[name]; !ok {
		panic("options: Set of undefined option " + name)
	}
	s.values[name] = v
}

// SetArgs gives the raw command line to Peek, before Parse: a model's
// options may take their defaults from another of its options, as CUT's
// --CUT_mode chooses --lambda_NCE's.
func (s *Set) SetArgs(args []string) { s.args = append([]string(nil), args...) }

// Peek returns the value the raw arguments (SetArgs) give --name, else the
// option's current default: the reference's parse_known_args pass inside
// modify_commandline_options.
func (s *Set) Peek(name string) string {
	if v, ok := scanNames(s.args, append([]string{name}, s.aliasesOf(name)...)); ok {
		return v
	}
	if d, ok := s.byName[name]; ok {
		return format(d.Default)
	}
	return ""
}

// Given reports whether the user set the option explicitly.
func (s *Set) Given(name string) bool { return s.given[name] }

func (s *Set) get(name string) any {
	v, ok := s.values[name]
	if !ok {
		panic("options: undefined option " + name)
	}
	return v
}

// String returns a string option.
func (s *Set) String(name string) string { return s.get(name).(string) }

// Int returns an int option.
func (s *Set) Int(name string) int { return s.get(name).(int) }

// Float returns a float option.
func (s *Set) Float(name string) float64 { return s.get(name).(float64) }

// Bool returns a switch.
func (s *Set) Bool(name string) bool { return s.get(name).(bool) }

// value adapts one option to flag.Value.
type value struct {
	s *Set
	d *Def
}

func (v value) String() string {
	if v.s == nil {
		return ""
	}
	return format(v.s.values[v.d.Name])
}

func (v value) Set(text string) error {
	var x any
	switch v.d.Default.(type) {
	case string:
		x = text
	case int:
		if v.d.Name == "max_dataset_size" && (text == "inf" || text == "all") {
			x = math.MaxInt
			break
		}
		n, err := strconv.Atoi(text)
		if err != nil {
			return fmt.Errorf("want an integer, got %q", text)
		}
		x = n
	case float64:
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return fmt.Errorf("want a number, got %q", text)
		}
		x = f
	case bool:
		b, ok := parseBool(text)
		if !ok {
			return fmt.Errorf("want true or false, got %q", text)
		}
		x = b
	}
	v.s.values[v.d.Name] = x
	v.s.given[v.d.Name] = true
	return nil
}

func (v value) IsBoolFlag() bool { _, ok := v.d.Default.(bool); return ok }

// parseBool reads what CUT's str2bool accepts (yes/no, true/false, t/f,
// y/n, 1/0, any case).
func parseBool(text string) (v, ok bool) {
	switch strings.ToLower(text) {
	case "yes", "true", "t", "y", "1":
		return true, true
	case "no", "false", "f", "n", "0":
		return false, true
	}
	return false, false
}

// joinBoolValues rewrites "--flag False" as "--flag=False" for boolean
// options: CUT's switches (str2bool, nargs='?') take an optional value,
// and its documented command lines write "--nce_idt False"; Go's flag
// package would otherwise take the value as a stray argument.
func (s *Set) joinBoolValues(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		name := strings.TrimLeft(a, "-")
		if d, ok := s.byName[s.Resolve(name)]; ok && len(name) < len(a) && i+1 < len(args) {
			if _, isBool := d.Default.(bool); isBool {
				if _, ok := parseBool(args[i+1]); ok {
					out = append(out, a+"="+args[i+1])
					i++
					continue
				}
			}
		}
		out = append(out, a)
	}
	return out
}

func format(v any) string {
	switch x := v.(type) {
	case int:
		if x == math.MaxInt {
			return "inf"
		}
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// Parse reads command-line flags (-name or --name, "--name value" or
// "--name=value"; a switch alone, or with a value as CUT writes them:
// "--nce_idt False"). Positional arguments are an error. -h/--help prints every
// option, grouped, to w and returns flag.ErrHelp.
func (s *Set) Parse(cmd string, args []string, w io.Writer) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, d := range s.defs {
		fs.Var(value{s, d}, d.Name, d.Help)
		for _, a := range d.aliases {
			fs.Var(value{s, d}, a, d.Help)
		}
	}
	if err := fs.Parse(s.joinBoolValues(args)); err != nil {
		if err == flag.ErrHelp {
			s.Usage(cmd, w)
			return err
		}
		return FlagError(cmd, err, s.Names())
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (options are written --name value)", fs.Arg(0))
	}
	return nil
}

// Usage prints every option with its default, grouped as defined.
func (s *Set) Usage(cmd string, w io.Writer) {
	fmt.Fprintf(w, "Usage: cyclepix %s [options]\n", cmd)
	group := ""
	for _, d := range s.defs {
		if d.Group != group {
			group = d.Group
			fmt.Fprintf(w, "\n%s options:\n", group)
		}
		arg := ""
		if _, ok := d.Default.(bool); !ok {
			arg = " " + strings.ToUpper(typeName(d.Default))
		}
		def := fmt.Sprintf("default: %s", format(d.Default))
		if d.by != "" {
			def = fmt.Sprintf("default with %s: %s; otherwise %s", d.by, format(d.Default), format(d.base))
		}
		also := ""
		if len(d.aliases) > 0 {
			also = "; also --" + strings.Join(d.aliases, ", --")
		}
		fmt.Fprintf(w, "  --%s%s\n    \t%s (%s%s)\n", d.Name, arg, d.Help, def, also)
	}
}

func typeName(v any) string {
	switch v.(type) {
	case int:
		return "int"
	case float64:
		return "float"
	}
	return "string"
}

// Text renders the options as the reference's print_options does.
func (s *Set) Text() string {
	var b strings.Builder
	b.WriteString("----------------- Options ---------------\n")
	names := make([]string, 0, len(s.defs))
	for _, d := range s.defs {
		names = append(names, d.Name)
	}
	sort.Strings(names)
	for _, n := range names {
		d := s.byName[n]
		v := format(s.values[n])
		comment := ""
		if v != format(d.Default) {
			comment = fmt.Sprintf("\t[default: %s]", format(d.Default))
		}
		fmt.Fprintf(&b, "%25s: %-30s%s\n", n, v, comment)
	}
	b.WriteString("----------------- End -------------------\n")
	return b.String()
}

// Save writes Text to <checkpoints_dir>/<name>/<phase>_opt.txt atomically.
func (s *Set) Save(dir, phase string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, phase+"_opt.txt"), []byte(s.Text()))
}

// Map returns every option's value (for the dashboard and JSON).
func (s *Set) Map() map[string]any {
	m := make(map[string]any, len(s.values))
	for k, v := range s.values {
		m[k] = v
	}
	return m
}

// WriteFileAtomic writes data to a temporary file in the same folder,
// syncs it and renames it over path, so readers never see a partial file.
func WriteFileAtomic(path string, data []byte) error { return atomicfile.WriteFile(path, data) }

// ScanValue finds the value of --name in raw args without parsing the rest
// (the reference's first parse_known_args pass for --model and
// --dataset_mode, whose options must be added before the full parse). A
// flag given more than once takes its last value, as the full parse (and
// argparse) does.
func ScanValue(args []string, name string) (string, bool) { return scanNames(args, []string{name}) }

// scanNames is ScanValue for a flag with several spellings.
func scanNames(args []string, names []string) (string, bool) {
	val, found := "", false
	for i, a := range args {
		t := strings.TrimLeft(a, "-")
		if len(t) == len(a) {
			continue
		}
		for _, name := range names {
			if t == name && i+1 < len(args) {
				val, found = args[i+1], true
			}
			if strings.HasPrefix(t, name+"=") {
				val, found = t[len(name)+1:], true
			}
		}
	}
	return val, found
}

func (s *Set) aliasesOf(name string) []string {
	if d, ok := s.byName[name]; ok {
		return d.aliases
	}
	return nil
}

// DropFlag returns args without --name (or -name) and its value, in
// either form ("--name value", "--name=value"). name must take a value.
func DropFlag(args []string, name string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		t := strings.TrimLeft(args[i], "-")
		switch {
		case len(t) == len(args[i]):
		case t == name:
			i++
			continue
		case strings.HasPrefix(t, name+"="):
			continue
		}
		out = append(out, args[i])
	}
	return out
}
