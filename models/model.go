// Package models holds the reference's models (cycle_gan, pix2pix,
// colorization, test, template). Each model is one file that registers
// itself by name with the options it adds, so that adding a model means
// adding one file.
package models

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"cyclepix/networks"
	"cyclepix/nn"
	"cyclepix/options"
	"cyclepix/torch"
)

// Input is one batch: NCHW tensors by name ("A", "B") and source paths by
// name ("A_paths", "B_paths").
type Input struct {
	Tensors map[string]*torch.Tensor
	Paths   map[string][]string
}

// Model is what the training and test loops drive.
type Model interface {
	// Base gives access to the state every model shares.
	Base() *BaseModel
	// SetInput takes a batch (tensors already on the model's device).
	SetInput(in Input) error
	// Forward computes the visuals from the current input.
	Forward()
	// OptimizeParameters runs one training iteration.
	OptimizeParameters()
}

// Def registers a model: everything the commands need to know about it.
// No code outside the model's own file asks which model it is.
type Def struct {
	// Summary is one line for --help.
	Summary string
	// ModifyOptions adds the model's options and changes defaults
	// (modify_commandline_options).
	ModifyOptions func(s *options.Set, isTrain bool)
	// New builds the model from parsed options.
	New func(o *options.Set, env Env) (Model, error)
	// Generators are the networks test, translate, serve and export can
	// run, as the options build them (New builds the same ones).
	Generators func(o *options.Set) ([]Generator, error)
	// Eval is what --eval_freq scores; nil: no held-out metric.
	Eval *EvalPair
	// VisualSides says which dataset side ("A" or "B") each visual's
	// images belong to, so that they are written on that domain's scale
	// (its range and file type); visuals not listed are pictures of no
	// domain (colorization's RGB views), written as 8-bit PNGs.
	VisualSides func(o *options.Set) (map[string]string, error)
	// InferenceOnly models cannot train (the test model): New refuses a
	// training option set.
	InferenceOnly bool
}

// Generator is one of a model's generators as inference sees it.
type Generator struct {
	// Net is its name among the model's networks: checkpoints are
	// <label>_net_<Net>.pth.
	Net string
	// Direction is what it translates, by the dataset's folders: AtoB
	// (trainA → trainB, or A|B's left half to its right) or BtoA.
	Direction string
	// Spec rebuilds it from a checkpoint.
	Spec networks.GenSpec
	// Colour says how images map to its channels: ColourImage (images in
	// and out, grey or RGB by Spec's channel counts), ColourLab, or
	// ColourLabels (Labels says how).
	Colour string
	// Labels says how a ColourLabels generator's input is made.
	Labels *LabelInput
}

// LabelInput is how pix2pixHD's generator input is made from a label map
// (and an instance map): LabelNC one-hot channels of the label map's class
// ids (or, with LabelNC 0, the image itself, ImageNC channels), then with
// Edges the instance boundaries as one channel, then FeatNum channels of
// instance features.
type LabelInput struct {
	LabelNC int  `json:"label_nc"`
	ImageNC int  `json:"image_nc"`
	Edges   bool `json:"edges"`
	FeatNum int  `json:"feat_num,omitempty"`
	// Clusters are the feature clusters each instance's features are
	// drawn from (SampleFeatures), when FeatNum > 0; nil until
	// `cyclepix encode_features` has made them.
	Clusters FeatureClusters `json:"clusters,omitempty"`
}

// How images map to a generator's channels (Generator.Colour).
const (
	// ColourImage feeds images as they are: Spec.InputNC channels in
	// (grey or RGB), Spec.OutputNC out.
	ColourImage = ""
	// ColourLab is colorization's: the L channel of the image in L*a*b*
	// (L/50 − 1) in, the a*b* channels (ab/110) out, shown as RGB with the
	// input's L.
	ColourLab = "lab"
	// ColourLabels is pix2pixHD's: a label map (class ids, one channel)
	// in as one-hot channels with instance edges (LabelInput), an image
	// out.
	ColourLabels = "labels"
)

// EpochAware models change with the epoch (pix2pixHD's --niter_fix_global
// trains the local enhancer alone first): the training loop calls
// BeginEpoch before each epoch's first iteration, and before a resumed
// run's optimizer state is loaded.
type EpochAware interface {
	BeginEpoch(epoch int)
}

// EvalPair names the visual --eval_freq scores and its ground truth.
// Paired models are scored image by image (L1, PSNR, SSIM); unpaired ones
// by distribution (FID, KID).
type EvalPair struct {
	Fake, Real string
	Paired     bool
}

// PickGenerators chooses among a model's generators: those named in nets
// (comma-separated, as --net gives them) if any; else with all every one;
// else the only one, or the first whose Direction is direction, or the
// first.
func PickGenerators(gens []Generator, nets, direction string, all bool) ([]Generator, error) {
	if len(gens) == 0 {
		return nil, fmt.Errorf("the model has no generators to run")
	}
	if nets != "" {
		var out []Generator
		for _, n := range strings.Split(nets, ",") {
			n = strings.TrimSpace(n)
			found := false
			for _, g := range gens {
				if g.Net == n {
					out, found = append(out, g), true
				}
			}
			if !found {
				var have []string
				for _, g := range gens {
					have = append(have, g.Net)
				}
				return nil, fmt.Errorf("--net %s: the model's generators are %s", n, strings.Join(have, ", "))
			}
		}
		return out, nil
	}
	if all {
		return append([]Generator(nil), gens...), nil
	}
	for _, g := range gens {
		if g.Direction == direction {
			return []Generator{g}, nil
		}
	}
	return []Generator{gens[0]}, nil
}

// Env is what a model needs besides options.
type Env struct {
	Device torch.Device
	Rng    *rand.Rand // for the image pools
}

var registry = map[string]Def{}

// Register adds a model under name; model files call it from init.
func Register(name string, d Def) { registry[name] = d }

// Lookup returns the named model's definition.
func Lookup(name string) (Def, error) {
	d, ok := registry[name]
	if !ok {
		return Def{}, fmt.Errorf("--model %q: unknown model (have %s)", name, strings.Join(Names(), ", "))
	}
	return d, nil
}

// Names lists the registered models.
func Names() []string {
	var n []string
	for k := range registry {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// BaseModel is the state and behaviour of the reference's BaseModel.
type BaseModel struct {
	Opt         *options.Set
	IsTrain     bool
	Device      torch.Device
	NetNames    []string // model_names: the networks saved and loaded
	Nets        map[string]nn.Module
	LossNames   []string
	VisualNames []string
	Optimizers  []*torch.Adam
	Schedulers  []*networks.Scheduler
	// Pools are the model's image histories by name, saved with the
	// training state so that a resumed run sees the same history.
	Pools map[string]*networks.ImagePool
	// Metric feeds the plateau LR policy (the reference always passes 0;
	// the training loop sets it from --eval_freq metrics when available).
	Metric float64

	losses     map[string]float64
	visuals    map[string]*torch.Tensor
	imagePaths []string
}

func newBase(o *options.Set, env Env) *BaseModel {
	return &BaseModel{Opt: o, IsTrain: o.IsTrain, Device: env.Device, Nets: map[string]nn.Module{}, Pools: map[string]*networks.ImagePool{},
		losses: map[string]float64{}, visuals: map[string]*torch.Tensor{}}
}

// Base returns b (so that embedding *BaseModel satisfies Model.Base).
func (b *BaseModel) Base() *BaseModel { return b }

// SetLoss records a loss value for Losses.
func (b *BaseModel) SetLoss(name string, v *torch.Tensor) { b.losses[name] = v.Item() }

// SetVisual records an image tensor for Visuals; it stays valid until the
// scope it was made in closes.
func (b *BaseModel) SetVisual(name string, t *torch.Tensor) { b.visuals[name] = t }

// Losses returns the current losses in loss_names order.
func (b *BaseModel) Losses() []NamedValue {
	out := make([]NamedValue, 0, len(b.LossNames))
	for _, n := range b.LossNames {
		out = append(out, NamedValue{n, b.losses[n]})
	}
	return out
}

// NamedValue is a loss with its name.
type NamedValue struct {
	Name  string
	Value float64
}

// NamedTensor is a visual with its name.
type NamedTensor struct {
	Name   string
	Tensor *torch.Tensor
}

// Visual returns the image recorded under name by the last forward or
// iteration (a visual or an intermediate such as pix2pix's fake_B under a
// colorization model), nil when there is none.
func (b *BaseModel) Visual(name string) *torch.Tensor { return b.visuals[name] }

// Visuals returns the current images in visual_names order.
func (b *BaseModel) Visuals() []NamedTensor {
	out := make([]NamedTensor, 0, len(b.VisualNames))
	for _, n := range b.VisualNames {
		if t := b.visuals[n]; t != nil {
			out = append(out, NamedTensor{n, t})
		}
	}
	return out
}

// ImagePaths returns the paths of the current batch's inputs.
func (b *BaseModel) ImagePaths() []string { return b.imagePaths }

// AddNet registers a network under a model name ("G_A", "D") and moves it
// to the model's device (before any optimizer is made for it).
func (b *BaseModel) AddNet(name string, m nn.Module) {
	b.NetNames = append(b.NetNames, name)
	b.Nets[name] = m
	if b.Device != torch.CPU {
		for _, e := range nn.StateDict(m) {
			e.Tensor.MoveTo_(b.Device)
		}
	}
}

// SetupSchedulers makes one LR scheduler per optimizer (get_scheduler).
func (b *BaseModel) SetupSchedulers() error {
	so := SchedulerOptions(b.Opt)
	b.Schedulers = nil
	for _, opt := range b.Optimizers {
		s, err := networks.NewScheduler(so)
		if err != nil {
			return err
		}
		opt.LR = s.LR
		b.Schedulers = append(b.Schedulers, s)
	}
	return nil
}

// SchedulerOptions are get_scheduler's options from a training option set
// (--lr_policy, --lr, --epoch_count, --n_epochs, --n_epochs_decay,
// --lr_decay_iters).
func SchedulerOptions(o *options.Set) networks.SchedulerOptions {
	return networks.SchedulerOptions{Policy: o.String("lr_policy"), LR: o.Float("lr"), EpochCount: o.Int("epoch_count"),
		NEpochs: o.Int("n_epochs"), NEpochsDecay: o.Int("n_epochs_decay"), LRDecayIters: o.Int("lr_decay_iters")}
}

// UpdateLearningRate steps every scheduler at the end of an epoch and
// returns the old and new learning rate of the first optimizer.
func (b *BaseModel) UpdateLearningRate() (old, lr float64) {
	if len(b.Optimizers) == 0 {
		return 0, 0
	}
	old = b.Optimizers[0].LR
	for i, s := range b.Schedulers {
		b.Optimizers[i].LR = s.Step(b.Metric)
	}
	return old, b.Optimizers[0].LR
}

// SetTraining puts every network in training or eval mode.
func (b *BaseModel) SetTraining(on bool) {
	for _, n := range b.NetNames {
		nn.SetTraining(b.Nets[n], on)
	}
}

// CheckpointPath is <dir>/<label>_net_<name>.pth.
func CheckpointPath(dir, label, name string) string {
	return filepath.Join(dir, fmt.Sprintf("%s_net_%s.pth", label, name))
}

// SaveNetworks writes every network as <label>_net_<name>.pth (PyTorch
// state dicts, atomically).
func (b *BaseModel) SaveNetworks(dir, label string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, n := range b.NetNames {
		if err := nn.SaveFile(b.Nets[n], CheckpointPath(dir, label, n)); err != nil {
			return err
		}
	}
	return nil
}

// LoadNetworks reads every network from <label>_net_<name>.pth.
func (b *BaseModel) LoadNetworks(dir, label string) error {
	for _, n := range b.NetNames {
		p := CheckpointPath(dir, label, n)
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("no checkpoint %s for network %s (check --name, --checkpoints_dir, --epoch/--load_iter)", p, n)
		}
		if err := nn.LoadFile(b.Nets[n], p); err != nil {
			return err
		}
	}
	return nil
}

// LoadLabel is the checkpoint label --epoch/--load_iter select.
func LoadLabel(o *options.Set) string {
	if it := o.Int("load_iter"); it > 0 {
		return fmt.Sprintf("iter_%d", it)
	}
	return o.String("epoch")
}

// Test runs Forward without gradients (BaseModel.test).
func Test(m Model) { torch.NoGrad(m.Forward) }

// setRequiresGrad freezes or unfreezes networks.
func setRequiresGrad(on bool, nets ...nn.Module) {
	for _, n := range nets {
		nn.SetRequiresGrad(n, on)
	}
}

// genSpec is define_G's architecture from the shared options.
func genSpec(o *options.Set, in, out int, dropout bool) networks.GenSpec {
	return networks.GenSpec{NetG: o.String("netG"), NGF: o.Int("ngf"), Norm: o.String("norm"), InputNC: in, OutputNC: out, Dropout: dropout}
}

// newGenerator builds a generator of a model's Generators list with the
// run's initialisation (--init_type, --init_gain).
func newGenerator(o *options.Set, g Generator) (nn.Module, error) {
	return g.Spec.New(o.String("init_type"), o.Float("init_gain"))
}

// VisualSides returns the dataset side of each of the model's visuals
// (Def.VisualSides), empty for a model that declares none.
func VisualSides(o *options.Set) (map[string]string, error) {
	def, err := Lookup(o.String("model"))
	if err != nil || def.VisualSides == nil {
		return map[string]string{}, err
	}
	return def.VisualSides(o)
}

// bySide maps visuals of the model's domains ("A": real_A's, the input
// domain; "B": real_B's) to dataset sides: with --direction BtoA the
// model's A is the dataset's B.
func bySide(model map[string]string) func(o *options.Set) (map[string]string, error) {
	return func(o *options.Set) (map[string]string, error) {
		a, b, err := direction(o)
		if err != nil {
			return nil, err
		}
		out := make(map[string]string, len(model))
		for v, d := range model {
			out[v] = map[string]string{"A": a, "B": b}[d]
		}
		return out, nil
	}
}

// opposite is the other direction.
func opposite(d string) string {
	if d == "BtoA" {
		return "AtoB"
	}
	return "BtoA"
}

// Discriminator is define_D as the reference's models call it: a
// discriminator of in input channels with the architecture, norm and
// initialisation the options give (--netD, --ndf, --n_layers_D, --norm,
// --init_type, --init_gain).
func Discriminator(o *options.Set, in int64) (nn.Module, error) {
	norm, err := networks.ParseNorm(o.String("norm"))
	if err != nil {
		return nil, err
	}
	if o.String("netD") == "multiscale" {
		// Only the models whose losses take every scale define --num_D.
		if !o.Has("num_D") {
			return nil, fmt.Errorf("--netD multiscale: --model %s judges one output; the multi-scale discriminator is offered with --model pix2pix and pix2pixhd", o.String("model"))
		}
		if o.Int("num_D") < 1 || o.Int("n_layers_D") < 1 {
			return nil, fmt.Errorf("--num_D %d, --n_layers_D %d: want ≥ 1", o.Int("num_D"), o.Int("n_layers_D"))
		}
		feat := o.Has("lambda_feat") && o.Float("lambda_feat") > 0
		d := networks.NewMultiscaleDiscriminator(in, int64(o.Int("ndf")), o.Int("n_layers_D"), norm, o.Int("num_D"), feat)
		if err := networks.Init(d, o.String("init_type"), o.Float("init_gain")); err != nil {
			return nil, err
		}
		return d, nil
	}
	return networks.NewDiscriminator(networks.DOptions{InputNC: in, NDF: int64(o.Int("ndf")), NetD: o.String("netD"),
		NLayers: o.Int("n_layers_D"), Norm: norm, InitType: o.String("init_type"), InitGain: o.Float("init_gain")})
}

func adam(o *options.Set, nets ...nn.Module) *torch.Adam {
	var ps []*torch.Tensor
	for _, n := range nets {
		ps = append(ps, nn.Parameters(n)...)
	}
	// The reference's Adam has beta2 0.999 fixed; CUT's models add --beta2.
	beta2 := 0.999
	if o.Has("beta2") {
		beta2 = o.Float("beta2")
	}
	return torch.NewAdam(ps, o.Float("lr"), o.Float("beta1"), beta2)
}

// runDirection validates --direction and returns it.
func runDirection(o *options.Set) (string, error) {
	_, _, err := direction(o)
	return o.String("direction"), err
}

// direction returns the input names for real_A and real_B.
func direction(o *options.Set) (a, b string, err error) {
	switch o.String("direction") {
	case "AtoB":
		return "A", "B", nil
	case "BtoA":
		return "B", "A", nil
	}
	return "", "", fmt.Errorf("--direction %q: want AtoB or BtoA", o.String("direction"))
}

// setPair takes the two images of a paired or unpaired model from the
// batch (inputs a and b, by --direction), records them as visuals under the
// given names and keeps a's paths as the image paths.
func (b *BaseModel) setPair(in Input, a, bName, visA, visB string) (*torch.Tensor, *torch.Tensor, error) {
	ta, err := need(in, a)
	if err != nil {
		return nil, nil, err
	}
	tb, err := need(in, bName)
	if err != nil {
		return nil, nil, err
	}
	b.imagePaths = in.Paths[a+"_paths"]
	b.SetVisual(visA, ta)
	b.SetVisual(visB, tb)
	return ta, tb, nil
}

func need(in Input, name string) (*torch.Tensor, error) {
	t := in.Tensors[name]
	if t == nil {
		return nil, fmt.Errorf("batch has no %q images (check --dataset_mode)", name)
	}
	return t, nil
}
