package parity

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"cyclepix/models"
	"cyclepix/nn"
	"cyclepix/options"
	"cyclepix/torch"
	"cyclepix/train"
)

// How a case says what to build, and how the harness turns that into the
// options cyclepix's command line would parse:
//
//   - command_line (train-step and CUT cases): the program's own command
//     line, parsed as `cyclepix train` parses it (train.ParseOptions),
//     after the program's own defaults where they are not cyclepix's
//     (programDefaults).
//   - network (forward, backward and gradient-penalty cases): define_G's or
//     define_D's arguments under the reference's option names, each field
//     that names an option passed as that option (use_dropout as
//     --no_dropout); the other fields (role, mode, builder, notes) describe
//     the case, and those a network cannot be built without
//     (networkRequired) must be there.
//   - options (train-step and CUT cases, beside command_line): the values
//     the program parsed; every one cyclepix defines must come out the same
//     (checkParsedOptions), so that a default of cyclepix's differing from
//     the program's fails by name.

// programDefaults are the options in which the program that wrote a
// kind's command lines behaves as cyclepix does only with other values
// than cyclepix's defaults; they go before the case's command line, which
// can override them. CUT's train.py defaults to --model cut. The
// reference's train.py defines the WGAN-GP penalty but never applies it,
// which is cyclepix's --lambda_gp 0 (cyclepix applies it by default).
func programDefaults(kind string) []string {
	if strings.HasPrefix(kind, "cut_") {
		return []string{"--model=cut"}
	}
	if strings.HasPrefix(kind, "hd_") {
		// pix2pixHD's train.py has one model.
		return []string{"--model=pix2pixhd"}
	}
	return []string{"--model=cycle_gan", "--lambda_gp=0"}
}

// commandLineOptions parses a case's command_line as a training command.
func commandLineOptions(t *testing.T, c *Case) *options.Set {
	t.Helper()
	var cmdline []string
	c.Get(t, "command_line", &cmdline)
	cmdline = append(programDefaults(c.Kind), cmdline...)
	// As `cyclepix train` parses it (train.py's options, the model's and the
	// dataset mode's, whose defaults the reference applies too).
	o, err := train.ParseOptions(true, cmdline, io.Discard)
	if err != nil {
		t.Fatalf("case.json command_line %v: %v", cmdline, err)
	}
	if c.Has("options") {
		checkParsedOptions(t, c, o)
	}
	return o
}

// checkParsedOptions compares the program's parsed options (case.json
// options) with cyclepix's parse of the same command line, for every
// option cyclepix defines; the others (isTrain, adam, …) describe the
// program and are not options here.
func checkParsedOptions(t *testing.T, c *Case, o *options.Set) {
	t.Helper()
	var recorded map[string]any
	c.Get(t, "options", &recorded)
	got := o.Map()
	for _, k := range sortedKeys(recorded) {
		v := recorded[k]
		// pix2pixHD's spellings are aliases of cyclepix's names.
		name := o.Resolve(k)
		if k == "use_dropout" && name == "" {
			name = "no_dropout"
			if b, ok := v.(bool); ok {
				v = !b
			}
		}
		if !o.Has(name) {
			continue
		}
		switch v.(type) {
		case string, bool, float64:
		default:
			continue
		}
		if fmt.Sprint(got[name]) != fmt.Sprint(v) {
			t.Errorf("--%s: cyclepix parses %v from the case's command line, the program parsed %v (case.json options.%s)", name, got[name], v, k)
		}
	}
}

// networkRequired are the fields without which a network is not described:
// the options layer would otherwise fill them with its defaults.
var networkRequired = map[string][]string{
	"G": {"netG", "input_nc", "output_nc", "ngf", "norm", "use_dropout"},
	"D": {"netD", "input_nc", "ndf", "norm"},
}

// builtNetwork is a case's network as the reference's define_G or
// define_D made it, weights loaded, in the case's mode.
type builtNetwork struct {
	Net   nn.Module
	Role  string // G or D
	Train bool   // train mode (else eval)
}

// buildNetwork builds the network object of a forward, backward or
// gradient-penalty case through the options layer: a generator as the
// test model's registry entry declares it (what `cyclepix test` builds),
// a discriminator by models.Discriminator (what the reference's models
// build), with its input_nc as the discriminator's input channels.
func buildNetwork(t *testing.T, c *Case) builtNetwork {
	t.Helper()
	var spec map[string]json.RawMessage
	c.Get(t, "network", &spec)
	field := func(k string) (string, bool) {
		raw, ok := spec[k]
		if !ok {
			return "", false
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s, true
		}
		return strings.TrimSpace(string(raw)), true
	}
	role, ok := field("role")
	if !ok {
		t.Fatalf("case.json network has no \"role\" (G or D)")
	}
	required, ok := networkRequired[role]
	if !ok {
		t.Fatalf("case.json network.role %q: want G or D", role)
	}
	for _, k := range required {
		if _, ok := spec[k]; !ok {
			t.Fatalf("case.json network has no %q, which a %s needs", k, role)
		}
	}
	if v, _ := field("netD"); v == "n_layers" {
		if _, ok := spec["n_layers_D"]; !ok {
			t.Fatalf("case.json network has no \"n_layers_D\", which netD n_layers needs")
		}
	}
	mode, ok := field("mode")
	if !ok {
		if !c.Has("mode") {
			t.Fatalf("case.json has no network.mode or mode (train or eval)")
		}
		c.Get(t, "mode", &mode)
	}
	mode = strings.Fields(mode + " ")[0]
	if mode != "train" && mode != "eval" {
		t.Fatalf("case.json network.mode %q: want train or eval", mode)
	}
	isTrain := role == "D"
	probe := []string{"--model=test"}
	if isTrain {
		probe = nil
	}
	known, err := models.BuildOptions(isTrain, probe, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, k := range sortedKeys(spec) {
		if !known.Has(k) && k != "use_dropout" {
			continue
		}
		v, _ := field(k)
		if k == "use_dropout" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				t.Fatalf("case.json network.use_dropout %s: %v", v, err)
			}
			k, v = "no_dropout", strconv.FormatBool(!b)
		}
		args = append(args, "--"+k+"="+v)
	}

	var net nn.Module
	if !isTrain {
		o, err := models.BuildOptions(false, append(args, probe...), io.Discard)
		if err != nil {
			t.Fatalf("case.json network as options %v: %v", args, err)
		}
		def, err := models.Lookup(o.String("model"))
		if err != nil {
			t.Fatal(err)
		}
		gens, err := def.Generators(o)
		if err != nil {
			t.Fatalf("case.json network: %v", err)
		}
		if net, err = gens[0].Spec.New(o.String("init_type"), o.Float("init_gain")); err != nil {
			t.Fatalf("case.json network: %v", err)
		}
	} else {
		o, err := models.BuildOptions(true, args, io.Discard)
		if err != nil {
			t.Fatalf("case.json network as options %v: %v", args, err)
		}
		if net, err = models.Discriminator(o, int64(o.Int("input_nc"))); err != nil {
			t.Fatalf("case.json network: %v", err)
		}
	}
	weights := "latest_net_" + role + ".pth"
	if c.Has("weights_file") {
		c.Get(t, "weights_file", &weights)
	}
	if err := nn.LoadFile(net, c.Need(t, weights)); err != nil {
		t.Fatal(err)
	}
	nn.SetTraining(net, mode == "train")
	return builtNetwork{Net: net, Role: role, Train: mode == "train"}
}

// newModel builds a training model from options through the registry.
func newModel(t *testing.T, o *options.Set) models.Model {
	t.Helper()
	def, err := models.Lookup(o.String("model"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := def.New(o, models.Env{Device: torch.CPU, Rng: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatalf("--model %s from the case's options: %v", o.String("model"), err)
	}
	return m
}

// loadNets loads latest_net_<name>.pth into each of a model's networks.
func loadNets(t *testing.T, c *Case, b *models.BaseModel) {
	t.Helper()
	for _, n := range b.NetNames {
		if err := nn.LoadFile(b.Nets[n], c.Need(t, "latest_net_"+n+".pth")); err != nil {
			t.Fatal(err)
		}
	}
}

// batchNames says which batch entries real_A.npy and real_B.npy are: they
// are the model's tensors after set_input, which with --direction BtoA
// takes real_A from the batch's B.
func batchNames(o *options.Set) (a, b string) {
	if o.String("direction") == "BtoA" {
		return "B", "A"
	}
	return "A", "B"
}

// optionArgs turns a case's option object (option name → JSON value) into
// command-line flags, in name order: strings unquoted, numbers and
// booleans as JSON writes them.
func optionArgs(opt map[string]json.RawMessage) []string {
	var args []string
	for _, k := range sortedKeys(opt) {
		v := string(opt[k])
		if s, err := strconv.Unquote(v); err == nil {
			v = s
		}
		args = append(args, "--"+k+"="+v)
	}
	return args
}
