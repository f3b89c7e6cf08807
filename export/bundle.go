package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"cyclepix/models"
	"cyclepix/networks"
	"cyclepix/nn"
	"cyclepix/pth"
	"cyclepix/torch"
)

// A bundle is one file holding a generator and everything needed to run it
// without flags. It is a torch.save file (zip format, as PyTorch 1.13
// writes it), so Python reads it with torch.load, holding a dict:
//
//	"format"          "cyclepix-generator-bundle"
//	"format_version"  1
//	"generator"       JSON string: {"netG", "ngf", "norm", "input_nc",
//	                  "output_nc", "dropout", "net", "size_multiple",
//	                  and where they apply "family", "no_antialias",
//	                  "no_antialias_up" (CUT's generators), "direction"
//	                  (AtoB or BtoA), "colour" ("lab": colorization)}
//	"options"         JSON string: every option of the training run (its
//	                  train_opt.txt, with the export's overrides) as typed
//	                  JSON values: strings, booleans, integers, and floats,
//	                  which always have a '.' or an exponent
//	"state_dict"      the generator's state dict (float32 tensors; the
//	                  reference's key names, loadable by its networks)
//
// The network's input is N×input_nc×H×W float32 in [-1, 1] (an 8-bit image
// maps to v/127.5 − 1) with H and W multiples of size_multiple; its output
// is N×output_nc×H×W in [-1, 1].
const (
	BundleFormat  = "cyclepix-generator-bundle"
	BundleVersion = 1
)

// BundleExt is the file extension bundles are written with.
const BundleExt = ".bundle.pth"

// Bundle is a loaded bundle.
type Bundle struct {
	// Generator is built from Spec with the bundle's weights, on the CPU,
	// in eval mode.
	Generator nn.Module
	Spec      networks.GenSpec
	// Net is the network's model name (G, G_A, G_B, …).
	Net string
	// Direction is what it translates (AtoB or BtoA); "" in bundles of
	// older cyclepix versions.
	Direction string
	// Colour is models.ColourImage, models.ColourLab or models.ColourLabels.
	Colour string
	// Labels says how a ColourLabels generator's input is made.
	Labels *models.LabelInput
	// SizeMultiple is what input height and width must be multiples of.
	SizeMultiple int
	// Options are the run's options as typed values: string, bool, int or
	// float64, as options.Set holds them.
	Options map[string]any
}

// Option returns an option's value, or def if the bundle lacks it or it has
// another type.
func Option[T any](b *Bundle, name string, def T) T {
	if v, ok := b.Options[name].(T); ok {
		return v
	}
	return def
}

type bundleGenerator struct {
	networks.GenSpec
	Net          string             `json:"net"`
	Direction    string             `json:"direction,omitempty"`
	Colour       string             `json:"colour,omitempty"`
	Labels       *models.LabelInput `json:"labels,omitempty"`
	SizeMultiple int                `json:"size_multiple"`
}

func describe(gen models.Generator) bundleGenerator {
	return bundleGenerator{GenSpec: gen.Spec, Net: gen.Net, Direction: gen.Direction, Colour: gen.Colour, Labels: gen.Labels, SizeMultiple: gen.Spec.SizeMultiple()}
}

// StateDictPTH copies a module's state dict into a pth.Dict in PyTorch's
// key order: floating tensors as float32, others (batch norm's counter)
// as they are, all on the CPU — what the reference's save_networks writes.
func StateDictPTH(m nn.Module) (*pth.Dict, error) {
	d := pth.NewDict()
	err := torch.TryErr(func() error {
		defer torch.NewScope().Close()
		for _, e := range nn.StateDict(m) {
			t := e.Tensor
			switch t.DType() {
			case torch.Float16, torch.BFloat16, torch.Float32, torch.Float64:
				t = t.ToDevice(torch.CPU, torch.Float32)
			default:
				t = t.ToDevice(torch.CPU, t.DType())
			}
			pt, err := nn.ToPTH(t.Contiguous())
			if err != nil {
				return fmt.Errorf("tensor %q: %w", e.Name, err)
			}
			d.Set(e.Name, pt)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// SavePTH writes the generator's state dict as the reference saves it
// (<epoch>_net_<name>.pth): torch.load and load_state_dict read it.
func SavePTH(path string, g nn.Module) error {
	d, err := StateDictPTH(g)
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return pth.Save(path, d)
}

// SaveBundle writes generator g, as the model's registry describes it,
// with the run's options (typed as options.Set.Map returns them) to path.
func SaveBundle(path string, g nn.Module, info models.Generator, opts map[string]any) error {
	sd, err := StateDictPTH(g)
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	gen, err := json.Marshal(describe(info))
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	optJSON, err := marshalOptions(opts)
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	d := pth.NewDict()
	d.Set("format", BundleFormat)
	d.Set("format_version", int64(BundleVersion))
	d.Set("generator", string(gen))
	d.Set("options", string(optJSON))
	d.Set("state_dict", sd)
	return pth.Save(path, d)
}

// marshalOptions writes options as a JSON object with sorted keys, floats
// always marked as floats so that they load back as float64.
func marshalOptions(opts map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kj, _ := json.Marshal(k)
		b.Write(kj)
		b.WriteByte(':')
		switch v := opts[k].(type) {
		case float64:
			s := strconv.FormatFloat(v, 'g', -1, 64)
			if !strings.ContainsAny(s, ".eEnN") {
				s += ".0"
			}
			b.WriteString(s)
		case float32:
			return nil, fmt.Errorf("option %s: float32 value (options are float64)", k)
		default:
			vj, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("option %s: %w", k, err)
			}
			b.Write(vj)
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// unmarshalOptions reads what marshalOptions wrote.
func unmarshalOptions(s string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, err
	}
	out := make(map[string]any, len(raw))
	for k, v := range raw {
		if n, ok := v.(json.Number); ok {
			if strings.ContainsAny(n.String(), ".eE") {
				f, err := n.Float64()
				if err != nil {
					return nil, fmt.Errorf("option %s: %w", k, err)
				}
				v = f
			} else {
				i, err := strconv.Atoi(n.String())
				if err != nil {
					return nil, fmt.Errorf("option %s: %w", k, err)
				}
				v = i
			}
		}
		out[k] = v
	}
	return out, nil
}

// LoadBundle reads a bundle written by SaveBundle (`cyclepix export
// --format bundle`) and rebuilds its generator on the CPU in eval mode;
// move it with nn.ToDevice. Errors say what is wrong with the file.
func LoadBundle(path string) (*Bundle, error) {
	v, err := pth.Load(path)
	if err != nil {
		return nil, err
	}
	d, ok := v.(*pth.Dict)
	if f, _ := dictString(d, "format"); !ok || f != BundleFormat {
		return nil, fmt.Errorf("%s is not a cyclepix bundle (no format %q; write one with 'cyclepix export --format bundle')", path, BundleFormat)
	}
	if ver, _ := d.Get("format_version"); ver != int64(BundleVersion) {
		return nil, fmt.Errorf("%s: bundle format version %v, this cyclepix reads version %d", path, ver, BundleVersion)
	}
	genJSON, ok := dictString(d, "generator")
	if !ok {
		return nil, fmt.Errorf("%s: bundle has no generator description", path)
	}
	var gen bundleGenerator
	if err := json.Unmarshal([]byte(genJSON), &gen); err != nil {
		return nil, fmt.Errorf("%s: generator description: %w", path, err)
	}
	optJSON, ok := dictString(d, "options")
	if !ok {
		return nil, fmt.Errorf("%s: bundle has no options", path)
	}
	opts, err := unmarshalOptions(optJSON)
	if err != nil {
		return nil, fmt.Errorf("%s: options: %w", path, err)
	}
	sdv, _ := d.Get("state_dict")
	sd, ok := sdv.(*pth.Dict)
	if !ok {
		return nil, fmt.Errorf("%s: bundle has no state_dict", path)
	}
	b := &Bundle{Spec: gen.GenSpec, Net: gen.Net, Direction: gen.Direction, Colour: gen.Colour, Labels: gen.Labels, SizeMultiple: gen.GenSpec.SizeMultiple(), Options: opts}
	err = torch.TryErr(func() error {
		g, err := gen.GenSpec.Build()
		if err != nil {
			return err
		}
		tensors := make(map[string]*torch.Tensor, sd.Len())
		defer nn.FreeAll(tensors)
		for _, k := range sd.Keys {
			pt, ok := sd.Tensor(k)
			if !ok {
				return fmt.Errorf("state_dict value %q is not a tensor", k)
			}
			t, err := nn.FromPTH(pt)
			if err != nil {
				return fmt.Errorf("tensor %q: %w", k, err)
			}
			tensors[k] = t.Persist()
		}
		if err := nn.LoadStateDict(g, tensors); err != nil {
			return err
		}
		nn.SetRequiresGrad(g, false)
		b.Generator = g
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

func dictString(d *pth.Dict, key string) (string, bool) {
	if d == nil {
		return "", false
	}
	v, _ := d.Get(key)
	s, ok := v.(string)
	return s, ok
}

// Metadata describes an exported generator for an ONNX file's
// metadata_props: "cyclepix.generator" (the bundle's generator JSON),
// "cyclepix.options" (the bundle's options JSON) and "cyclepix.io", a
// sentence on the tensors' layout and range.
func Metadata(info models.Generator, opts map[string]any) (map[string]string, error) {
	gen, err := json.Marshal(describe(info))
	if err != nil {
		return nil, err
	}
	optJSON, err := marshalOptions(opts)
	if err != nil {
		return nil, err
	}
	return map[string]string{
		"cyclepix.generator": string(gen),
		"cyclepix.options":   string(optJSON),
		"cyclepix.io":        IOText(info, opts),
	}, nil
}

// IOText says what the network takes and gives: the tensors' layout, and
// how the run's data map to them (its ranges, --range_A and --range_B).
func IOText(info models.Generator, opts map[string]any) string {
	spec := info.Spec
	if info.Colour == models.ColourLab {
		return fmt.Sprintf("input \"input\": N×1×H×W float32, an image's L*a*b* lightness as L/50 − 1, H and W multiples of %d; "+
			"output \"output\": N×2×H×W float32, its a*b* as ab/110 (skimage's rgb2lab/lab2rgb, D65)", spec.SizeMultiple())
	}
	in, out := "A", "B"
	if info.Direction == "BtoA" {
		in, out = out, in
	}
	if l := info.Labels; info.Colour == models.ColourLabels && l != nil {
		what := fmt.Sprintf("the one-hot channels of a label map's class ids 0..%d", l.LabelNC-1)
		if l.LabelNC == 0 {
			what = fmt.Sprintf("an image's %d channels in [-1, 1] (%s)", l.ImageNC, rangeText(opts, in, l.ImageNC, true))
		}
		if l.Edges {
			what += ", then 1 channel of instance boundaries (1 where a pixel's instance id differs from a 4-neighbour's, else 0)"
		}
		if l.FeatNum > 0 {
			what += fmt.Sprintf(", then %d channels of instance features", l.FeatNum)
		}
		return fmt.Sprintf("input \"input\": N×%d×H×W float32: %s; H and W multiples of %d; "+
			"output \"output\": N×%d×H×W float32 in [-1, 1] (%s)", spec.InputNC, what, spec.SizeMultiple(), spec.OutputNC, rangeText(opts, out, spec.OutputNC, false))
	}
	return fmt.Sprintf("input \"input\": N×%d×H×W float32 in [-1, 1] (%s), H and W multiples of %d; "+
		"output \"output\": N×%d×H×W float32 in [-1, 1] (%s)", spec.InputNC, rangeText(opts, in, spec.InputNC, true),
		spec.SizeMultiple(), spec.OutputNC, rangeText(opts, out, spec.OutputNC, false))
}

// rangeText says how a domain's values map to [-1, 1] (input) or back.
func rangeText(opts map[string]any, side string, c int, input bool) string {
	rg, _ := opts["range_"+side].(string)
	format, _ := opts["format_"+side].(string)
	if (rg == "" || rg == "dtype") && (format == "" || strings.HasSuffix(format, ":uint8")) && (c == 1 || c == 3) {
		if input {
			return "8-bit v → v/127.5 − 1"
		}
		return "→ (y+1)·127.5"
	}
	if rg == "" {
		rg = "dtype"
	}
	if input {
		return fmt.Sprintf("domain %s's values v → 2·(v − LO)/(HI − LO) − 1 per channel, clipped, with --range_%s %s (%s files)", side, side, rg, format)
	}
	return fmt.Sprintf("→ LO + (y+1)/2·(HI − LO) per channel on domain %s's scale, with --range_%s %s (%s files)", side, side, rg, format)
}
