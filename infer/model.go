package infer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"cyclepix/data"
	"cyclepix/data/raster"
	"cyclepix/export"
	"cyclepix/models"
	"cyclepix/networks"
	"cyclepix/nn"
	"cyclepix/torch"
)

// Source says where a generator comes from and how to run it.
type Source struct {
	// Bundle is a bundle file (`cyclepix export --format bundle`); when
	// set, Checkpoint and Spec are ignored.
	Bundle string
	// Checkpoint is a state dict (<label>_net_<net>.pth) for a generator
	// built from Spec.
	Checkpoint string
	Spec       networks.GenSpec
	// Colour is how images map to the generator's channels
	// (models.ColourImage, ColourLab or ColourLabels); bundles carry theirs.
	Colour string
	// Labels says how a ColourLabels generator's input is made.
	Labels *models.LabelInput
	// Name is the model's name for users (the run's --name); empty: the
	// bundle's run name, else its file name.
	Name string
	// Net is the network's model name (G, G_A, G_B); bundles carry theirs.
	Net string
	// Direction labels what the generator does: AtoB (G_A), BtoA (G_B), or
	// the run's direction for a single-generator model.
	Direction string
	// Options are the run's options, shown by `serve`'s /v1/models.
	Options map[string]any
	// Eval runs the network in eval mode: batch norm uses its running
	// statistics and dropout is off, so results are deterministic and do
	// not depend on the other images of a batch. The reference's test.py
	// defaults to train mode; translate and serve default to eval.
	Eval bool
	// Device is where the network runs.
	Device torch.Device
	// BF16 runs the forward pass under bfloat16 autocast.
	BF16 bool
	// Preprocess, when non-nil, applies the reference's test-time
	// transform (resize/scale_width/crop/none) before translating, with
	// crops centred; nil feeds images at their own size.
	Preprocess *data.Options
	// OutputFormat is --output_format: how outputs on the data's scale
	// are written ("" for their domain's training files' kind).
	OutputFormat string
}

// Model is a loaded generator.
type Model struct {
	Name      string
	Net       string
	Direction string
	// Source is the file the weights came from.
	Source string
	Spec   networks.GenSpec
	// Colour is models.ColourImage, models.ColourLab (colorization: the
	// image's L in, ab out, shown as RGB) or models.ColourLabels (label
	// maps in: PrepareLabels).
	Colour string
	Labels *models.LabelInput
	// Multiple is what the padded input's height and width are multiples
	// of; MinSize is the smallest side the network runs on.
	Multiple, MinSize int
	Eval              bool
	Device            torch.Device
	BF16              bool
	Options           map[string]any
	Preprocess        *data.Options
	// Params is the generator's parameter count.
	Params int64
	// In is the domain the generator's inputs come from: how files are
	// decoded and scaled (the run's recorded range of that side). Out is
	// how its outputs are written: the reference's 8-bit images, or the
	// data's own scale through the output side's range.
	In  data.Side
	Out data.Output

	gen nn.Module
	// batchable is false when stacking images would change each one's
	// result: batch norm in train mode normalises over the batch.
	batchable bool
}

// ChannelError reports an image whose channel count is not the network's.
type ChannelError struct {
	Model     string
	Want, Got int
}

func (e *ChannelError) Error() string {
	return fmt.Sprintf("model %s takes %s images, this one has %s", e.Model, channelsText(e.Want), channelsText(e.Got))
}

func channelsText(c int) string {
	switch c {
	case 1:
		return "1-channel (grey)"
	case 3:
		return "3-channel (RGB)"
	}
	return fmt.Sprintf("%d-channel", c)
}

// Load builds the generator described by src on the worker.
func (e *Engine) Load(ctx context.Context, src Source) (*Model, error) {
	var m *Model
	err := e.Do(ctx, func() error {
		var err error
		m, err = load(src)
		return err
	})
	return m, err
}

func load(src Source) (*Model, error) {
	m := &Model{Name: src.Name, Net: src.Net, Direction: src.Direction, Colour: src.Colour, Labels: src.Labels, Eval: src.Eval, Device: src.Device,
		BF16: src.BF16, Options: src.Options, Preprocess: src.Preprocess}
	if src.Bundle != "" {
		b, err := export.LoadBundle(src.Bundle)
		if err != nil {
			return nil, err
		}
		m.gen, m.Spec, m.Source, m.Colour, m.Labels = b.Generator, b.Spec, src.Bundle, b.Colour, b.Labels
		if m.Net == "" {
			m.Net = b.Net
		}
		if m.Direction == "" {
			m.Direction = b.Direction
		}
		if m.Options == nil {
			m.Options = b.Options
		}
		if m.Name == "" {
			m.Name = export.Option(b, "name", "")
		}
		if m.Name == "" {
			m.Name = strings.TrimSuffix(strings.TrimSuffix(filepath.Base(src.Bundle), export.BundleExt), filepath.Ext(src.Bundle))
		}
		if m.Direction == "" {
			m.Direction = directionOf(m.Net, export.Option(b, "direction", "AtoB"))
		}
	} else {
		if _, err := os.Stat(src.Checkpoint); err != nil {
			return nil, missingCheckpoint(src.Checkpoint, src.Net)
		}
		g, spec, err := src.Spec.Load(src.Checkpoint)
		if err != nil {
			return nil, err
		}
		nn.SetRequiresGrad(g, false)
		m.gen, m.Spec, m.Source = g, spec, src.Checkpoint
	}
	switch m.Colour {
	case models.ColourLab:
		if m.Spec.InputNC != 1 || m.Spec.OutputNC != 2 {
			return nil, fmt.Errorf("%s: a colorization generator maps L (1 channel) to ab (2 channels), this one %d to %d", m.Source, m.Spec.InputNC, m.Spec.OutputNC)
		}
	case models.ColourLabels:
		if err := m.checkLabels(); err != nil {
			return nil, err
		}
	case models.ColourImage:
	default:
		return nil, fmt.Errorf("%s: unknown colour mapping %q", m.Source, m.Colour)
	}
	if err := m.setDomains(src.OutputFormat); err != nil {
		return nil, err
	}
	nn.SetTraining(m.gen, !m.Eval)
	if m.Device != torch.CPU {
		if err := nn.ToDevice(m.gen, m.Device); err != nil {
			return nil, fmt.Errorf("%s: move to %s: %w", m.Source, m.Device, err)
		}
	}
	m.Multiple, m.MinSize = m.Spec.SizeMultiple(), m.Spec.MinSize()
	m.batchable = m.Eval || m.Spec.Norm != string(networks.NormBatch)
	m.Params = nn.NumParams(m.gen)
	return m, nil
}

// SetOutputFormat changes how outputs on the data's scale are written
// (tif, npy or png); the reference's 8-bit outputs are unaffected.
func (m *Model) SetOutputFormat(f string) error {
	if m.Out.Reference {
		return nil
	}
	return m.setDomains(f)
}

// setDomains works out the generator's input and output domains from its
// run's recorded options: a generator that translates AtoB takes the
// run's A images (range_A) and makes B images (range_B, format_B).
// Colorization generators keep the reference's RGB images.
func (m *Model) setDomains(outputFormat string) error {
	in, out := "A", "B"
	if m.Direction == "BtoA" {
		in, out = out, in
	}
	opt := func(name string) string {
		if v, ok := m.Options[name].(string); ok {
			return v
		}
		return ""
	}
	if m.Colour == models.ColourLab {
		m.In = data.DomainSide(in, 3, "input_nc", "dtype")
		m.Out = data.Output{Reference: true, Format: raster.PNG, DType: raster.Uint8}
		return nil
	}
	nc := m.Spec.InputNC
	if m.Colour == models.ColourLabels && m.Labels != nil {
		// Label maps are read as ids; an image input has its own channels.
		nc = max(m.Labels.ImageNC, 1)
		if m.Labels.LabelNC > 0 {
			nc = 1
		}
	}
	m.In = data.DomainSide(in, nc, "input_nc", opt("range_"+in))
	o, err := data.DomainOutput("range_"+out, opt("range_"+out), opt("format_"+out), outputFormat, m.Spec.OutputNC)
	if err != nil {
		return fmt.Errorf("%s: the %s outputs: %w", m.Source, out, err)
	}
	m.Out = o
	return nil
}

// directionOf labels a generator: G_A maps A to B, G_B maps B to A; any
// other (pix2pix's G) maps in the run's direction.
func directionOf(net, runDirection string) string {
	switch {
	case strings.HasSuffix(net, "_A"):
		return "AtoB"
	case strings.HasSuffix(net, "_B"):
		return "BtoA"
	}
	if runDirection == "" {
		return "AtoB"
	}
	return runDirection
}

func missingCheckpoint(path, net string) error {
	dir := filepath.Dir(path)
	have, _ := filepath.Glob(filepath.Join(dir, "*_net_G*.pth"))
	for i, h := range have {
		have[i] = filepath.Base(h)
	}
	msg := fmt.Sprintf("no checkpoint %s for network %s (check --name, --checkpoints_dir, --epoch/--load_iter", path, net)
	switch {
	case len(have) > 0:
		return fmt.Errorf("%s; %s has %s)", msg, dir, strings.Join(have, ", "))
	default:
		if _, err := os.Stat(dir); err != nil {
			return fmt.Errorf("%s; %s does not exist)", msg, dir)
		}
		return fmt.Errorf("%s; %s has no generator checkpoints)", msg, dir)
	}
}

// Prepare turns a decoded image into the network's input: the optional
// preprocessing, then conversion to the network's channel count as the
// reference's loaders do (PIL's convert('L') or 'RGB'). With strict, an
// image with another channel count is refused with a *ChannelError
// instead.
// A colorization generator takes the L channel of any image (a grey one
// is its own L).
func (m *Model) Prepare(img *data.Image, strict bool) (Array, error) {
	if m.TakesLabels() {
		return Array{}, fmt.Errorf("model %s takes label maps (class ids, --label_nc) and instance maps, read from their files (PrepareLabels), not decoded images", m.Name)
	}
	return m.prepareImage(img, strict)
}

// prepareImage is Prepare for image inputs (also a label generator's
// image input with --label_nc 0).
func (m *Model) prepareImage(img *data.Image, strict bool) (Array, error) {
	nc := m.Spec.InputNC
	if m.TakesLabels() {
		nc = m.Labels.ImageNC
	}
	if m.Colour == models.ColourLab {
		nc = 3
	} else if strict && img.C != nc {
		return Array{}, &ChannelError{Model: m.Name, Want: nc, Got: img.C}
	}
	img, err := img.Channels(nc)
	if err != nil {
		return Array{}, err
	}
	if m.Preprocess != nil {
		if img, err = preprocess(img, m.Preprocess); err != nil {
			return Array{}, err
		}
	}
	if m.Colour == models.ColourLab {
		l, _ := img.LabArrays()
		return Array{C: 1, H: img.H, W: img.W, Data: l}, nil
	}
	return Array{C: img.C, H: img.H, W: img.W, Data: img.Tensor()}, nil
}

// Output turns the network's output for input in (what Prepare made)
// into the image users see: as the reference's tensor2im, and for a
// colorization generator the input's L with the generated ab, as RGB.
func (m *Model) Output(in, out Array) (*data.Image, error) {
	if m.Colour == models.ColourLab {
		rgb, err := data.LabToRGB(in.Data, out.Data, in.H, in.W)
		if err != nil {
			return nil, err
		}
		out = Array{C: 3, H: in.H, W: in.W, Data: rgb}
	}
	return ToImage(out)
}

// preprocess is the reference's get_transform at test time, without flips
// and with centred crops (its single dataset crops at random).
func preprocess(img *data.Image, o *data.Options) (*data.Image, error) {
	mode := o.Preprocess
	crop := strings.Contains(mode, "crop")
	resize := *o
	resize.NoFlip = true
	switch mode {
	case "resize_and_crop":
		resize.Preprocess = "resize"
	case "scale_width_and_crop":
		resize.Preprocess = "scale_width"
	case "crop":
		resize.Preprocess = ""
	}
	img, err := data.ApplyTransform(img, &resize, data.Params{}, img.C)
	if err != nil {
		return nil, err
	}
	if crop {
		cs := o.CropSize
		if img.W < cs || img.H < cs {
			return nil, fmt.Errorf("--crop_size %d is larger than the image (%dx%d after --preprocess %s)", cs, img.W, img.H, mode)
		}
		img = img.Crop((img.W-cs)/2, (img.H-cs)/2, cs, cs)
	}
	return img, nil
}

// ToImage quantises a network output to an 8-bit image as the reference's
// tensor2im does.
func ToImage(a Array) (*data.Image, error) {
	return data.ImageFromCHW(a.Data, a.C, a.H, a.W)
}

// padding returns how much to add on each side of an h×w input.
func (m *Model) padding(h, w int) (top, bottom, left, right int) {
	ph := roundUp(max(h, m.MinSize), m.Multiple) - h
	pw := roundUp(max(w, m.MinSize), m.Multiple) - w
	return ph / 2, ph - ph/2, pw / 2, pw - pw/2
}

// reflectPad pads x by reflection, in steps when the padding is larger
// than the image (reflection cannot add more than size−1 pixels at once);
// a 1-pixel side can only be replicated.
func reflectPad(x *torch.Tensor, top, bottom, left, right int64) *torch.Tensor {
	for top+bottom+left+right > 0 {
		h, w := x.Size(2), x.Size(3)
		t, b, l, r := min(top, h-1), min(bottom, h-1), min(left, w-1), min(right, w-1)
		if t+b+l+r == 0 {
			return torch.Pad2d(x, torch.PadReplicate, left, right, top, bottom, 0)
		}
		x = torch.Pad2d(x, torch.PadReflect, l, r, t, b, 0)
		top, bottom, left, right = top-t, bottom-b, left-l, right-r
	}
	return x
}

// forward runs the generator on same-size inputs stacked into one batch.
// It runs on the worker only.
func (m *Model) forward(in []Array) ([]Array, error) {
	n, c, h, w := len(in), in[0].C, in[0].H, in[0].W
	size := c * h * w
	var out []Array
	err := torch.TryErr(func() error {
		defer torch.NewScope().Close()
		buf := in[0].Data
		if n > 1 {
			buf = make([]float32, 0, n*size)
			for _, a := range in {
				buf = append(buf, a.Data...)
			}
		}
		x := torch.FromFloat32(buf, int64(n), int64(c), int64(h), int64(w))
		if m.Device != torch.CPU {
			x = x.ToDevice(m.Device, torch.Float32)
		}
		top, bottom, left, right := m.padding(h, w)
		x = reflectPad(x, int64(top), int64(bottom), int64(left), int64(right))
		var y *torch.Tensor
		torch.NoGrad(func() {
			if m.BF16 {
				torch.Autocast(torch.BFloat16, func() { y = m.gen.Forward(x) })
			} else {
				y = m.gen.Forward(x)
			}
		})
		s := y.Shape()
		if len(s) != 4 || s[0] != int64(n) || s[1] != int64(m.Spec.OutputNC) || s[2] != x.Size(2) || s[3] != x.Size(3) {
			return fmt.Errorf("generator %s gave shape %v for input %v", m.Net, s, x.Shape())
		}
		y = y.Narrow(2, int64(top), int64(h)).Narrow(3, int64(left), int64(w))
		all := y.Float32s()
		oc := m.Spec.OutputNC
		out = make([]Array, n)
		for i := range out {
			out[i] = Array{C: oc, H: h, W: w, Data: all[i*oc*h*w : (i+1)*oc*h*w : (i+1)*oc*h*w]}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("translate %dx%d with %s: %w", w, h, m.Name, err)
	}
	return out, nil
}
