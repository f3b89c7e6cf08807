package models

import (
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"

	"cyclepix/networks"
	"cyclepix/nn"
	"cyclepix/options"
	"cyclepix/torch"
)

// pix2pixHD (Wang et al., CVPR 2018), as NVIDIA's pix2pixHD code defines
// it in pix2pixHD_model.py: a coarse-to-fine generator (global, or local
// enhancers around a global one), multi-scale discriminators with GAN
// feature matching, a VGG19 perceptual loss, label maps as one-hot
// channels with instance-boundary edges, and optional instance-wise
// encoded features. Its options keep pix2pixHD's names and defaults;
// pix2pixHD's own spellings of the options cyclepix already has
// (--batchSize, --niter, …) are aliases.
func init() {
	Register("pix2pixhd", Def{
		Summary:       "high-resolution paired translation (pix2pixHD, Wang et al. 2018): coarse-to-fine generator, multi-scale discriminators, feature matching and VGG losses, label maps with instance edges",
		ModifyOptions: pix2pixHDOptions,
		New: func(o *options.Set, env Env) (Model, error) {
			return newPix2PixHD(o, env)
		},
		Generators:  pix2pixHDGenerators,
		Eval:        &EvalPair{Fake: "fake_B", Real: "real_B", Paired: true},
		VisualSides: pix2pixHDSides,
	})
}

// hdAliases are pix2pixHD's names for options cyclepix has under the
// reference's names.
var hdAliases = [][2]string{
	{"batchSize", "batch_size"}, {"loadSize", "load_size"}, {"fineSize", "crop_size"}, {"nThreads", "num_threads"},
	{"resize_or_crop", "preprocess"}, {"which_epoch", "epoch"},
}

// hdTrainAliases are the training-only ones.
var hdTrainAliases = [][2]string{{"niter", "n_epochs"}, {"niter_decay", "n_epochs_decay"}}

func pix2pixHDOptions(s *options.Set, isTrain bool) {
	s.Add("pix2pixhd",
		options.Def{Name: "label_nc", Default: 35, Help: "# of input label classes: the input is a label map of class ids 0..label_nc-1, fed as one-hot channels (0: the input is an image of --input_nc channels)", Inherit: true},
		options.Def{Name: "no_instance", Default: false, Help: "if specified, do *not* add the instance map's edges as an input channel", Inherit: true},
		options.Def{Name: "instance_feat", Default: false, Help: "if specified, add encoded instance features as input", Inherit: true},
		options.Def{Name: "label_feat", Default: false, Help: "if specified, add encoded label features as input", Inherit: true},
		options.Def{Name: "feat_num", Default: 3, Help: "vector length for encoded features", Inherit: true},
		options.Def{Name: "load_features", Default: false, Help: "if specified, load precomputed feature maps (<dataroot>/<phase>_feat)", Inherit: true},
		options.Def{Name: "n_downsample_E", Default: 4, Help: "# of downsampling layers in encoder", Inherit: true},
		options.Def{Name: "nef", Default: 16, Help: "# of encoder filters in the first conv layer", Inherit: true},
		options.Def{Name: "n_clusters", Default: 10, Help: "number of clusters for features (encode_features)", Inherit: true},
		options.Def{Name: "n_downsample_global", Default: 4, Help: "number of downsampling layers in netG", Inherit: true},
		options.Def{Name: "n_blocks_global", Default: 9, Help: "number of residual blocks in the global generator network", Inherit: true},
		options.Def{Name: "n_blocks_local", Default: 3, Help: "number of residual blocks in the local enhancer network", Inherit: true},
		options.Def{Name: "n_local_enhancers", Default: 1, Help: "number of local enhancers to use", Inherit: true},
		options.Def{Name: "data_type", Default: 32, Help: "pix2pixHD's float precision [32]; for 16-bit compute use --precision bf16 or fp16"},
		options.Def{Name: "use_dropout", Default: false, Help: "accepted for pix2pixHD's command lines; its generators have no dropout layers"},
		options.Def{Name: "tf_log", Default: false, Help: "accepted for pix2pixHD's command lines (TensorBoard logging); cyclepix's live dashboard is --display_port"},
	)
	for _, a := range hdAliases {
		s.Alias(a[0], a[1])
	}
	s.SetDefault("netG", "global")
	s.SetHelp("netG", "selects model to use for netG [global | local]")
	s.SetDefault("ngf", 64)
	s.SetDefault("norm", "instance")
	s.SetHelp("norm", "instance normalization or batch normalization [instance | batch]")
	s.SetDefault("dataset_mode", "pix2pixhd")
	s.SetDefault("load_size", 1024)
	s.SetDefault("crop_size", 512)
	s.SetDefault("preprocess", "scale_width")
	s.SetDefault("num_threads", 2)
	s.SetDefault("display_winsize", 512)
	s.SetDefault("no_dropout", true)
	if isTrain {
		s.Add("pix2pixhd",
			options.Def{Name: "niter_fix_global", Default: 0, Help: "number of epochs that we only train the outmost local enhancer (then all of G)"},
			options.Def{Name: "num_D", Default: 2, Help: "number of discriminators to use", Inherit: true},
			options.Def{Name: "lambda_feat", Default: 10.0, Help: "weight for feature matching loss"},
			options.Def{Name: "no_ganFeat_loss", Default: false, Help: "if specified, do *not* use discriminator feature matching loss", Inherit: true},
			options.Def{Name: "no_vgg_loss", Default: false, Help: "if specified, do *not* use VGG feature matching loss"},
			options.Def{Name: "no_lsgan", Default: false, Help: "do *not* use least square GAN, if false, use vanilla GAN"},
			options.Def{Name: "load_pretrain", Default: "", Help: "load the pretrained model from the specified location (a run folder: its <epoch>_net_G/D/E.pth, matched by name and shape)"},
			options.Def{Name: "vgg19", Default: "", Help: "torchvision's vgg19 weights for the VGG loss (vgg19-dcbb9e9d.pth; default: torchvision's cache, where 'cyclepix data download vgg19' puts it)"},
			options.Def{Name: "fp16", Default: false, Help: "pix2pixHD's apex mixed precision: use --precision bf16 or fp16 instead"},
		)
		for _, a := range hdTrainAliases {
			s.Alias(a[0], a[1])
		}
		s.SetDefault("netD", "multiscale")
		s.SetHelp("netD", "discriminator architecture [multiscale] (pix2pixHD's)")
		s.SetDefault("pool_size", 0)
		s.SetDefault("gan_mode", "lsgan")
		s.SetDefault("lr_policy", "pix2pixhd")
		s.SetDefault("save_epoch_freq", 10)
		s.SetDefault("save_latest_freq", 1000)
		s.SetDefault("display_freq", 100)
		s.SetDefault("print_freq", 100)
	} else {
		s.Add("pix2pixhd",
			options.Def{Name: "use_encoded_image", Default: false, Help: "encode the real image (<dataroot>/<phase>_img) to get the instance features (models trained with --instance_feat/--label_feat)"},
			options.Def{Name: "cluster_path", Default: "features_clustered_010.npy", Help: "the features clustered by encode_features, in the run's folder, sampled per instance at test time"},
		)
		s.Alias("how_many", "num_test")
	}
}

// hdConfig is what the options say about a pix2pixHD model's inputs.
type hdConfig struct {
	labelNC     int  // 0: the input is an image
	inputNC     int  // label channels (label_nc or input_nc)
	edges       bool // an instance-edge channel follows
	useFeatures bool // encoded features follow (feat_num channels)
	genFeatures bool // ... computed by the encoder E (not loaded)
	labelFeat   bool // features averaged over labels rather than instances
	featNum     int
}

func hdConfigOf(o *options.Set) (hdConfig, error) {
	c := hdConfig{labelNC: o.Int("label_nc"), edges: !o.Bool("no_instance"), labelFeat: o.Bool("label_feat"), featNum: o.Int("feat_num")}
	if c.labelNC < 0 {
		return c, fmt.Errorf("--label_nc %d: want 0 (image input) or the number of label classes", c.labelNC)
	}
	c.inputNC = c.labelNC
	if c.labelNC == 0 {
		c.inputNC = o.Int("input_nc")
	}
	c.useFeatures = o.Bool("instance_feat") || c.labelFeat
	c.genFeatures = c.useFeatures && !o.Bool("load_features")
	if c.useFeatures && c.featNum < 1 {
		return c, fmt.Errorf("--feat_num %d: want ≥ 1 with --instance_feat or --label_feat", c.featNum)
	}
	if o.Bool("instance_feat") && !c.edges && !c.labelFeat {
		return c, fmt.Errorf("--instance_feat averages the encoder's features over instances, which --no_instance leaves out: drop --no_instance (and give <dataroot>/<phase>_inst), or use --label_feat")
	}
	if o.Int("data_type") != 32 {
		return c, fmt.Errorf("--data_type %d: cyclepix computes in float32 here; for 16-bit compute use --precision bf16 (CPU or CUDA) or fp16 (CUDA)", o.Int("data_type"))
	}
	return c, nil
}

// gInputNC is netG's input channel count.
func (c hdConfig) gInputNC() int {
	n := c.inputNC
	if c.edges {
		n++
	}
	if c.useFeatures {
		n += c.featNum
	}
	return n
}

// hdSpec is the generator's spec from the options.
func hdSpec(o *options.Set, c hdConfig) networks.GenSpec {
	return networks.GenSpec{Family: networks.FamilyHD, NetG: o.String("netG"), NGF: o.Int("ngf"), Norm: o.String("norm"),
		InputNC: c.gInputNC(), OutputNC: o.Int("output_nc"),
		NDownsampleGlobal: o.Int("n_downsample_global"), NBlocksGlobal: o.Int("n_blocks_global"),
		NLocalEnhancers: o.Int("n_local_enhancers"), NBlocksLocal: o.Int("n_blocks_local")}
}

// pix2pixHDGenerators: G maps the label map (or image) to the image. With
// labels its input is made from a label map by Generator.Labels.
func pix2pixHDGenerators(o *options.Set) ([]Generator, error) {
	c, err := hdConfigOf(o)
	if err != nil {
		return nil, err
	}
	d := o.String("direction")
	if c.labelNC == 0 {
		if d, err = runDirection(o); err != nil {
			return nil, err
		}
	} else if d != "AtoB" {
		return nil, fmt.Errorf("--direction %s: with --label_nc %d pix2pixHD maps label maps to images (AtoB); use --label_nc 0 to translate images both ways", d, c.labelNC)
	}
	g := Generator{Net: "G", Direction: d, Spec: hdSpec(o, c)}
	if c.labelNC > 0 || c.edges || c.useFeatures {
		g.Colour = ColourLabels
		g.Labels = &LabelInput{LabelNC: c.labelNC, ImageNC: c.inputNC, Edges: c.edges}
		if c.useFeatures {
			g.Labels.FeatNum = c.featNum
			if g.Labels.Clusters, err = ReadClusters(ClusterPath(o)); err != nil {
				return nil, err
			}
		}
	}
	return []Generator{g}, nil
}

// pix2pixHDSides: with --label_nc 0 the input is an image of domain A;
// label maps are pictures of no domain.
func pix2pixHDSides(o *options.Set) (map[string]string, error) {
	if o.Int("label_nc") == 0 {
		return bySide(map[string]string{"real_A": "A", "fake_B": "B", "real_B": "B"})(o)
	}
	return map[string]string{"fake_B": "B", "real_B": "B"}, nil
}

// HDDiscriminator is pix2pixHD's define_D as Pix2PixHDModel calls it: a
// multi-scale discriminator of in input channels (--num_D,
// --n_layers_D, --ndf, --norm), with intermediate outputs unless
// --no_ganFeat_loss, initialised as pix2pixHD does.
func HDDiscriminator(o *options.Set, in int64) (*networks.MultiscaleDiscriminator, error) {
	norm, err := networks.ParseNorm(o.String("norm"))
	if err != nil {
		return nil, err
	}
	if o.String("netD") != "multiscale" {
		return nil, fmt.Errorf("--netD %s: pix2pixhd's discriminator is multiscale (--num_D, --n_layers_D, --ndf)", o.String("netD"))
	}
	if o.Int("num_D") < 1 || o.Int("n_layers_D") < 1 {
		return nil, fmt.Errorf("--num_D %d, --n_layers_D %d: want ≥ 1", o.Int("num_D"), o.Int("n_layers_D"))
	}
	d := networks.NewMultiscaleDiscriminator(in, int64(o.Int("ndf")), o.Int("n_layers_D"), norm, o.Int("num_D"), !o.Bool("no_ganFeat_loss"))
	if err := networks.InitHD(d); err != nil {
		return nil, err
	}
	return d, nil
}

// Pix2PixHD is Pix2PixHDModel.
type Pix2PixHD struct {
	*BaseModel
	G    nn.Module
	D    *networks.MultiscaleDiscriminator
	E    *networks.Encoder // nil unless features are encoded
	VGG  *networks.VGG19   // nil with --no_vgg_loss
	OptG *torch.Adam
	OptD *torch.Adam

	cfg        hdConfig
	ganMode    networks.GANMode
	lambdaFeat float64
	featLoss   bool
	nLayersD   int
	inA, inB   string
	pool       *networks.ImagePool
	// fixGlobal is --niter_fix_global with --netG local: until that
	// epoch ends only the outermost enhancer (and E) trains.
	fixGlobal   int
	globalFixed bool

	realA, realB, inst, featIn *torch.Tensor
	inputLabel, fakeB          *torch.Tensor
	// predReal and predFake are the last output of each scale for the
	// real and the fake pair, from the last iteration's forward.
	predReal, predFake []*torch.Tensor
	// clusters, at test time without --use_encoded_image, give the
	// instance features (encode_features).
	clusters FeatureClusters
}

// sampledFeatures are test.py's sample_features: each instance gets a
// cluster centre of its label.
func (m *Pix2PixHD) sampledFeatures() *torch.Tensor {
	ids := m.inst
	if m.cfg.labelFeat {
		ids = m.realA
	}
	n, h, w := int(ids.Size(0)), int(ids.Size(2)), int(ids.Size(3))
	iv := ids.ToDevice(torch.CPU, torch.Float32).Contiguous().Float32s()
	var all []float32
	for b := 0; b < n; b++ {
		all = append(all, SampleFeatures(iv[b*h*w:(b+1)*h*w], h, w, m.cfg.featNum, m.clusters)...)
	}
	return torch.FromFloat32(all, int64(n), int64(m.cfg.featNum), int64(h), int64(w)).ToDevice(m.realA.Device(), m.realA.DType())
}

// InputLabel is G's input without features from the last SetInput: the
// one-hot label map (or the image) and the instance edges.
func (m *Pix2PixHD) InputLabel() *torch.Tensor { return m.inputLabel }

// DiscriminatorOutputs are the last output of each scale (0: full
// resolution) for the real and the fake pair in the last iteration,
// computed with the weights before its updates.
func (m *Pix2PixHD) DiscriminatorOutputs() (real, fake []*torch.Tensor) {
	return m.predReal, m.predFake
}

func lastOutputs(preds [][]*torch.Tensor) []*torch.Tensor {
	out := make([]*torch.Tensor, len(preds))
	for i, p := range preds {
		out[i] = p[len(p)-1]
	}
	return out
}

func newPix2PixHD(o *options.Set, env Env) (*Pix2PixHD, error) {
	c, err := hdConfigOf(o)
	if err != nil {
		return nil, err
	}
	m := &Pix2PixHD{BaseModel: newBase(o, env), cfg: c}
	if m.inA, m.inB, err = direction(o); err != nil {
		return nil, err
	}
	if o.String("norm") != "instance" && o.String("norm") != "batch" {
		return nil, fmt.Errorf("--norm %s: pix2pixHD's norms are instance and batch", o.String("norm"))
	}
	gens, err := pix2pixHDGenerators(o)
	if err != nil {
		return nil, err
	}
	if m.G, err = newGenerator(o, gens[0]); err != nil {
		return nil, err
	}
	m.AddNet("G", m.G)
	m.VisualNames = []string{"real_A", "fake_B", "real_B"}
	if c.labelNC > 0 {
		m.VisualNames = []string{"input_label", "fake_B", "real_B"}
	}
	if c.genFeatures {
		norm, _ := networks.ParseNorm(o.String("norm"))
		m.E = networks.NewEncoder(int64(o.Int("output_nc")), int64(c.featNum), int64(o.Int("nef")), o.Int("n_downsample_E"), norm)
		if err := networks.InitHD(m.E); err != nil {
			return nil, err
		}
		m.AddNet("E", m.E)
	}
	if !m.IsTrain {
		if c.genFeatures && !o.Bool("use_encoded_image") {
			m.clusters = gens[0].Labels.Clusters
			if m.clusters == nil {
				slog.Warn("no feature clusters (run 'cyclepix encode_features' first): the instance features come from the real images, as with --use_encoded_image", "looked_for", ClusterPath(o))
			}
		}
		return m, nil
	}
	if o.Bool("fp16") {
		return nil, fmt.Errorf("--fp16 (pix2pixHD's apex mixed precision): use --precision bf16 (CPU or CUDA) or fp16 (CUDA) instead")
	}
	dIn := int64(c.inputNC + o.Int("output_nc"))
	if c.edges {
		dIn++
	}
	if m.D, err = HDDiscriminator(o, dIn); err != nil {
		return nil, err
	}
	m.AddNet("D", m.D)
	m.ganMode = networks.GANLSGAN
	if o.Bool("no_lsgan") {
		// pix2pixHD's BCELoss after a sigmoid that its multi-scale D
		// drops when feature matching is on (so that combination
		// crashes there); BCE on logits is the same loss, and works.
		m.ganMode = networks.GANVanilla
	} else if gm := o.String("gan_mode"); gm != "lsgan" {
		if m.ganMode, err = networks.ParseGANMode(gm); err != nil {
			return nil, err
		}
		if m.ganMode == networks.GANWGANGP {
			return nil, fmt.Errorf("--gan_mode wgangp is not offered with --model pix2pixhd (lsgan, or vanilla: --no_lsgan)")
		}
	}
	m.lambdaFeat = o.Float("lambda_feat")
	m.featLoss = !o.Bool("no_ganFeat_loss")
	m.nLayersD = o.Int("n_layers_D")
	m.LossNames = []string{"G_GAN"}
	if m.featLoss {
		m.LossNames = append(m.LossNames, "G_GAN_Feat")
	}
	if !o.Bool("no_vgg_loss") {
		m.LossNames = append(m.LossNames, "G_VGG")
		path, err := networks.LocateVGG19(o.String("vgg19"))
		if err != nil {
			return nil, err
		}
		if m.VGG, err = networks.LoadVGG19(path); err != nil {
			return nil, err
		}
		if m.Device != torch.CPU {
			if err := nn.ToDevice(m.VGG, m.Device); err != nil {
				return nil, err
			}
		}
	}
	m.LossNames = append(m.LossNames, "D_real", "D_fake")
	if o.Int("pool_size") > 0 {
		m.pool = networks.NewImagePool(o.Int("pool_size"), env.Rng)
		m.Pools["fake"] = m.pool
	}
	if p := o.String("load_pretrain"); p != "" && !o.Bool("continue_train") {
		if err := m.loadPretrain(p, LoadLabel(o)); err != nil {
			return nil, err
		}
	}
	if o.String("netG") == "local" {
		m.fixGlobal = o.Int("niter_fix_global")
	}
	m.globalFixed = m.fixGlobal > 0 && o.Int("epoch_count") <= m.fixGlobal
	m.OptG = m.newOptG()
	m.OptD = adam(o, m.D)
	m.Optimizers = []*torch.Adam{m.OptG, m.OptD}
	return m, nil
}

// newOptG is optimizer_G: while the global generator is fixed only the
// outermost local enhancer's parameters (model<n>_*), else all of G; and
// the encoder's.
func (m *Pix2PixHD) newOptG() *torch.Adam {
	var ps []*torch.Tensor
	prefix := fmt.Sprintf("model%d", m.Opt.Int("n_local_enhancers"))
	var trained []string
	for _, e := range nn.StateDict(m.G) {
		if !e.Param {
			continue
		}
		if m.globalFixed && !strings.HasPrefix(e.Name, prefix+"_") {
			continue
		}
		ps = append(ps, e.Tensor)
		trained = append(trained, strings.SplitN(e.Name, ".", 2)[0])
	}
	if m.globalFixed {
		slog.Info("only training the outermost local enhancer", "epochs", m.fixGlobal, "layers", uniqueSorted(trained))
	}
	if m.E != nil {
		ps = append(ps, nn.Parameters(m.E)...)
	}
	beta2 := 0.999
	return torch.NewAdam(ps, m.Opt.Float("lr"), m.Opt.Float("beta1"), beta2)
}

func uniqueSorted(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

// BeginEpoch starts fine-tuning all of G once --niter_fix_global epochs
// are done. pix2pixHD's update_fixed_params makes a new optimizer for this,
// but its train.py keeps stepping the old one, so there the global
// generator is never trained; here the new optimizer (fresh moments, at
// the current learning rate) replaces the old, as the option's help and
// the paper describe.
func (m *Pix2PixHD) BeginEpoch(epoch int) {
	if !m.globalFixed || epoch <= m.fixGlobal {
		return
	}
	m.globalFixed = false
	lr := m.OptG.LR
	m.OptG = m.newOptG()
	m.OptG.LR = lr
	m.Optimizers[0] = m.OptG
	slog.Info("now also fine-tuning the global generator", "epoch", epoch)
}

// loadPretrain is load_network with --load_pretrain: every tensor of the
// pretrained run's checkpoint whose name and shape match one of the
// network's is copied (a 512p global run into a 1024p local one: the
// global part's layers); the others keep their initialisation, and are
// named.
func (m *Pix2PixHD) loadPretrain(dir, label string) error {
	for _, n := range m.NetNames {
		p := CheckpointPath(dir, label, n)
		loaded, missing, err := nn.LoadMatching(m.Nets[n], p)
		if err != nil {
			if n != "G" && strings.Contains(err.Error(), "no such file") {
				slog.Warn("--load_pretrain: no checkpoint, the network starts fresh", "net", n, "path", p)
				continue
			}
			return fmt.Errorf("--load_pretrain %s: %w", dir, err)
		}
		if len(missing) > 0 {
			slog.Info("--load_pretrain: layers not initialised from the pretrained network", "net", n, "loaded", loaded, "layers", missing)
		}
	}
	return nil
}

// SetInput takes the label map (or image) A, the image B, and the
// instance map and precomputed features when the options use them.
func (m *Pix2PixHD) SetInput(in Input) error {
	a, err := need(in, m.inA)
	if err != nil {
		return err
	}
	m.realA = a
	m.imagePaths = in.Paths[m.inA+"_paths"]
	m.realB = in.Tensors[m.inB]
	if m.realB == nil && m.IsTrain {
		return fmt.Errorf("batch has no %q images, which pix2pixhd needs (check --dataset_mode and the <phase>_img or <phase>_B folder)", m.inB)
	}
	m.inst = in.Tensors["inst"]
	if m.cfg.edges && m.inst == nil {
		return fmt.Errorf("batch has no instance maps: give <dataroot>/<phase>_inst with --dataset_mode pix2pixhd, or train without them: --no_instance")
	}
	m.featIn = in.Tensors["feat"]
	if m.cfg.useFeatures && !m.cfg.genFeatures && m.featIn == nil {
		return fmt.Errorf("batch has no precomputed features (--load_features reads <dataroot>/<phase>_feat with --dataset_mode pix2pixhd)")
	}
	if m.cfg.genFeatures && m.realB == nil && m.clusters == nil {
		return fmt.Errorf("this model encodes instance features from the real image: give the images (<phase>_img), or run 'cyclepix encode_features' to cluster the training set's features")
	}
	if m.realB != nil {
		m.SetVisual("real_B", m.realB)
	}
	if m.cfg.labelNC == 0 {
		m.SetVisual("real_A", m.realA)
	}
	m.inputLabel, err = m.encodeInput()
	return err
}

// encodeInput is encode_input: the label map as one-hot channels (or the
// image as it is), then the instance edges.
func (m *Pix2PixHD) encodeInput() (*torch.Tensor, error) {
	x := m.realA
	if m.cfg.labelNC > 0 {
		oh, err := OneHotLabels(m.realA, m.cfg.labelNC, strings.Join(m.imagePaths, ", "))
		if err != nil {
			return nil, err
		}
		x = oh
		m.SetVisual("input_label", LabelPreview(m.realA, m.cfg.labelNC))
	}
	if m.cfg.edges {
		x = torch.Cat(1, x, EdgeMap(m.inst))
	}
	return x, nil
}

// OneHotLabels turns a label map [N,1,H,W] of class ids into label_nc
// one-hot channels. Ids must be integers in 0..labelNC-1: pix2pixHD's
// scatter_ crashes (or writes out of bounds) otherwise.
func OneHotLabels(label *torch.Tensor, labelNC int, source string) (*torch.Tensor, error) {
	if label.Dim() != 4 || label.Size(1) != 1 {
		return nil, fmt.Errorf("label maps must have one channel (class ids), these have shape %v (%s)", label.Shape(), source)
	}
	lo, hi := label.Min().Item(), label.Max().Item()
	if lo < 0 || hi >= float64(labelNC) || math.IsNaN(hi) {
		bad := hi
		if lo < 0 {
			bad = lo
		}
		return nil, fmt.Errorf("label value %g is outside 0..%d (--label_nc %d) in %s: give --label_nc larger than the largest class id, or remap the ids", bad, labelNC-1, labelNC, source)
	}
	if label.Sub(label.Floor()).Abs().Max().Item() != 0 {
		return nil, fmt.Errorf("label maps must hold integer class ids; %s has fractional values (were they resized with bicubic? label maps need NEAREST)", source)
	}
	oh := label.Squeeze(1).To(torch.Int64).OneHot(int64(labelNC)).Permute(0, 3, 1, 2).To(label.DType()).Contiguous()
	return oh, nil
}

// EdgeMap is get_edges: 1 where a pixel's instance id differs from its
// left, right, upper or lower neighbour (both sides of a boundary), else
// 0; neighbours outside the image do not count.
func EdgeMap(inst *torch.Tensor) *torch.Tensor {
	w, h := inst.Size(3), inst.Size(2)
	dx := inst.Narrow(3, 1, w-1).Sub(inst.Narrow(3, 0, w-1)).Abs().GtScalar(0).To(torch.Float32)
	dy := inst.Narrow(2, 1, h-1).Sub(inst.Narrow(2, 0, h-1)).Abs().GtScalar(0).To(torch.Float32)
	n := inst.Size(0)
	zc := torch.Zeros(n, 1, h, 1).ToDevice(inst.Device(), torch.Float32)
	zr := torch.Zeros(n, 1, 1, w).ToDevice(inst.Device(), torch.Float32)
	e := torch.Cat(3, zc, dx).Maximum(torch.Cat(3, dx, zc))
	e = e.Maximum(torch.Cat(2, zr, dy)).Maximum(torch.Cat(2, dy, zr))
	return e.To(inst.DType())
}

// Edges is EdgeMap on one h×w id map in memory (inference prepares its
// inputs outside libtorch).
func Edges(ids []float32, w, h int) []float32 {
	out := make([]float32, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			if x+1 < w && ids[i] != ids[i+1] {
				out[i], out[i+1] = 1, 1
			}
			if y+1 < h && ids[i] != ids[i+w] {
				out[i], out[i+w] = 1, 1
			}
		}
	}
	return out
}

// LabelPreview shows a label map as an image in [-1, 1]: class c as grey
// level c/(labelNC-1), for visuals.
func LabelPreview(label *torch.Tensor, labelNC int) *torch.Tensor {
	d := float64(max(labelNC-1, 1))
	g := label.DivScalar(d).MulScalar(2).SubScalar(1)
	return torch.Cat(1, g, g, g)
}

// features is the feature map G takes besides the labels: the encoder's
// output on the real image averaged over instances (or labels), or the
// precomputed one.
func (m *Pix2PixHD) features() *torch.Tensor {
	if !m.cfg.useFeatures {
		return nil
	}
	if !m.cfg.genFeatures {
		return m.featIn
	}
	if m.clusters != nil {
		return m.sampledFeatures()
	}
	ids := m.inst
	if m.cfg.labelFeat {
		ids = m.realA
	}
	return networks.InstanceMean(m.E.Forward(m.realB), ids)
}

// Forward computes fake_B = G(input label [, features]) from what
// SetInput encoded.
func (m *Pix2PixHD) Forward() {
	in := m.inputLabel
	if f := m.features(); f != nil {
		in = torch.Cat(1, in, f)
	}
	m.fakeB = m.G.Forward(in)
	m.SetVisual("fake_B", m.fakeB)
}

// OptimizeParameters is one iteration of pix2pixHD's train.py: one forward
// with the current weights gives every loss; then the G step; then the D
// step with D's gradient at the weights the forward used (the opposite
// order to pix2pix, whose G step sees the updated D).
func (m *Pix2PixHD) OptimizeParameters() {
	m.Forward()
	fakeAB := torch.Cat(1, m.inputLabel, m.fakeB.Detach())
	if m.pool != nil {
		fakeAB = m.pool.Query(fakeAB)
	}
	predFakePool := m.D.ForwardScales(fakeAB)
	dFake := networks.GANLossScales(m.ganMode, predFakePool, false)
	predReal := m.D.ForwardScales(torch.Cat(1, m.inputLabel, m.realB))
	dReal := networks.GANLossScales(m.ganMode, predReal, true)
	// pix2pixHD's G backward also fills D's gradients, which its D step
	// then zeroes; D's parameters are left out of this pass instead (the
	// same result, without the work).
	setRequiresGrad(false, m.D)
	predFake := m.D.ForwardScales(torch.Cat(1, m.inputLabel, m.fakeB))
	setRequiresGrad(true, m.D)
	m.predReal, m.predFake = lastOutputs(predReal), lastOutputs(predFake)
	gGAN := networks.GANLossScales(m.ganMode, predFake, true)
	lossG := gGAN
	m.SetLoss("G_GAN", gGAN)
	if m.featLoss {
		if f := networks.FeatureMatchingLoss(predFake, predReal, m.nLayersD, m.lambdaFeat); f != nil {
			lossG = lossG.Add(f)
			m.SetLoss("G_GAN_Feat", f)
		}
	}
	if m.VGG != nil {
		v := networks.VGGLoss(m.VGG, m.fakeB, m.realB).MulScalar(m.lambdaFeat)
		lossG = lossG.Add(v)
		m.SetLoss("G_VGG", v)
	}
	lossD := dFake.Add(dReal).MulScalar(0.5)
	m.OptG.ZeroGrad()
	lossG.Backward()
	m.OptG.Step()
	m.OptD.ZeroGrad()
	lossD.Backward()
	m.OptD.Step()
	m.SetLoss("D_real", dReal)
	m.SetLoss("D_fake", dFake)
}
