package networks

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"cyclepix/nn"
	"cyclepix/torch"
)

// CUT's patchwise contrastive loss: netF (PatchSampleF, models/networks.py)
// samples feature vectors at the same positions of the input's and the
// output's generator features and projects them; PatchNCELoss
// (models/patchnce.py) scores each output patch against the input patch at
// its position (the positive) and the input's other sampled patches (the
// negatives). NCE puts the two together as CUTModel.calculate_NCE_loss.

// l2Normalize is CUT's Normalize(2) over dim 1: x / (‖x‖₂ + 1e-7), with
// the norm computed as pow(2).sum.pow(1/2), the ops CUT uses (the rounding
// and the gradient follow them).
//
// One deliberate difference: the sum of squares is clamped below at
// minSquares before the square root. A row of zeros (a small network's
// conv output where its input was rectified to zero everywhere, with the
// zero biases xavier gives: ngf 4 on flat backgrounds does it in the
// first iterations) has a square root whose gradient is infinite, and
// CUT's 0·∞ turns every weight into NaN one step later. Clamped, such a
// row gets gradient 0 and a norm of 1e-15 instead of 0 (negligible next
// to the 1e-7 CUT adds); every other row is computed bit for bit as CUT's.
// With clamp false it is CUT's Normalize exactly, NaN gradients included.
func l2Normalize(x *torch.Tensor, clamp bool) *torch.Tensor {
	sq := x.PowScalar(2)
	s := sq.SumDims(true, 1)
	sq.Free()
	c := s
	if clamp {
		c = s.Clamp(minSquares, math.Inf(1))
		s.Free()
	}
	n := c.PowScalar(0.5)
	c.Free()
	d := n.AddScalar(1e-7)
	n.Free()
	out := x.Div(d)
	d.Free()
	return out
}

// minSquares is the least sum of squares l2Normalize takes the root of.
const minSquares = 1e-30

// PatchIDs holds, per feature layer, the sampled positions: indices into
// the row-major H·W grid of that layer, shared by every image of the
// batch (as CUT shares them).
type PatchIDs [][]int64

// RandomPatchIDs draws what CUT's np.random.permutation(hw)[:n] draws, from
// a Go generator: the first min(n, hw) entries of a random permutation of
// 0…hw-1. Training draws from its seeded generator, so runs are
// reproducible; NumPy's stream itself is not reproduced (the parity
// fixtures store the ids CUT drew instead).
func RandomPatchIDs(rng *rand.Rand, hw, n int) []int64 {
	p := rng.Perm(hw)
	ids := make([]int64, min(n, hw))
	for i := range ids {
		ids[i] = int64(p[i])
	}
	return ids
}

// PatchSampleF is CUT's netF for --netF sample (UseMLP false) and
// mlp_sample (UseMLP true). The MLP heads, mlp_<i> = Linear(C_i, NC),
// ReLU, Linear(NC, NC) with C_i the channel count of feature i, exist only
// once the feature shapes are known: CUT creates them in the first forward
// (during data_dependent_initialize), so does Sample; CreateMLPs makes them
// directly, from ChannelsOf(features) or from a checkpoint's HeadChannels
// (to load latest_net_F.pth before any batch). The state dict is empty
// until then, so loading a checkpoint first fails; parameters created
// later need an optimizer created after them, as CUT's optimizer_F is.
type PatchSampleF struct {
	UseMLP   bool
	NC       int64  // --netF_nc
	InitType string // init_weights' scheme for the heads (CUT: --init_type)
	InitGain float64
	MLPs     []*nn.Sequential // mlp_0, mlp_1, …; nil until created
	// UnclampedNorm normalises the sampled rows as CUT does, without
	// l2Normalize's clamp, so that an all-zero row gets CUT's NaN
	// gradient. Training never sets it: the parity harness does, to
	// predict where CUT's gradients are NaN.
	UnclampedNorm bool
}

// NewPatchSampleF makes netF with no heads yet.
func NewPatchSampleF(useMLP bool, nc int64, initType string, initGain float64) (*PatchSampleF, error) {
	if useMLP && nc < 1 {
		return nil, fmt.Errorf("--netF_nc %d: want ≥ 1", nc)
	}
	if err := Init(nn.Seq(), initType, initGain); err != nil { // validates initType now, not at the first batch
		return nil, err
	}
	return &PatchSampleF{UseMLP: useMLP, NC: nc, InitType: initType, InitGain: initGain}, nil
}

// NewNetF is CUT's define_F for the projections its model can train with:
// "mlp_sample" and "sample". (CUT's "reshape" is a ReshapeF whose forward
// takes no patch arguments, so calculate_NCE_loss fails with it, and
// "sample" has no parameters, which CUT's Adam for netF refuses when
// lambda_NCE > 0.)
func NewNetF(netF string, nc int64, initType string, initGain float64) (*PatchSampleF, error) {
	switch netF {
	case "mlp_sample":
		return NewPatchSampleF(true, nc, initType, initGain)
	case "sample":
		return NewPatchSampleF(false, nc, initType, initGain)
	}
	return nil, fmt.Errorf("--netF %q: want mlp_sample or sample", netF)
}

// Initialized reports whether the heads exist (CUT's mlp_init), or are not
// needed.
func (f *PatchSampleF) Initialized() bool { return !f.UseMLP || f.MLPs != nil }

// CreateMLPs is CUT's create_mlp: one head per feature layer with the given
// input channel counts, initialised by InitType (biases 0) and moved to
// dev. It replaces any heads already there.
func (f *PatchSampleF) CreateMLPs(channels []int64, dev torch.Device) error {
	mlps := make([]*nn.Sequential, len(channels))
	err := torch.TryErr(func() error {
		for i, c := range channels {
			mlps[i] = nn.Seq(nn.NewLinear(c, f.NC, true), nn.ReLU(), nn.NewLinear(f.NC, f.NC, true))
		}
		heads := &PatchSampleF{UseMLP: true, MLPs: mlps}
		if err := Init(heads, f.InitType, f.InitGain); err != nil {
			return err
		}
		return nn.ToDevice(heads, dev)
	})
	if err != nil {
		return fmt.Errorf("netF heads: %w", err)
	}
	f.MLPs = mlps
	return nil
}

// HeadChannels reads the channel counts of the heads a netF state dict
// holds (mlp_<i>.0.weight is [NC, C_i]), for CreateMLPs before loading it
// when no batch has been seen yet. It checks NC against f's.
func (f *PatchSampleF) HeadChannels(sd map[string]*torch.Tensor) ([]int64, error) {
	var out []int64
	for i := 0; ; i++ {
		w, ok := sd["mlp_"+strconv.Itoa(i)+".0.weight"]
		if !ok {
			break
		}
		s := w.Shape()
		if len(s) != 2 || s[0] != f.NC {
			return nil, fmt.Errorf("netF head mlp_%d has weight %v, want [%d, channels] (check --netF_nc)", i, s, f.NC)
		}
		out = append(out, s[1])
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no netF heads (mlp_0.0.weight) in the state dict")
	}
	return out, nil
}

// ChannelsOf returns the channel counts (dim 1) of features, what
// CreateMLPs takes.
func ChannelsOf(feats []*torch.Tensor) []int64 {
	c := make([]int64, len(feats))
	for i, t := range feats {
		c[i] = t.Size(1)
	}
	return c
}

// Children names the heads mlp_<i>, as CUT's setattr does.
func (f *PatchSampleF) Children() []nn.Child {
	c := make([]nn.Child, len(f.MLPs))
	for i, m := range f.MLPs {
		c[i] = nn.Child{Name: "mlp_" + strconv.Itoa(i), Module: m}
	}
	return c
}

// Forward exists so that netF is an nn.Module (state dict, devices,
// checkpoints); netF takes a list of features, so use Sample.
func (f *PatchSampleF) Forward(*torch.Tensor) *torch.Tensor {
	panic(&torch.Error{Op: "PatchSampleF", Msg: "netF takes a list of features: call Sample"})
}

// Sample is PatchSampleF.forward(feats, numPatches, ids). For each feature
// [B, C, H, W] it takes the vectors at the positions ids[i] (drawn with
// RandomPatchIDs from rng when ids is nil) of every image, [B·P, C] with
// the images one after the other, passes them through mlp_i (UseMLP) and
// L2-normalises each row. It returns the sampled features and the ids,
// which the caller passes back for the second set of features so that
// both are sampled at the same positions. The heads are created from feats
// on the first call, as in CUT.
//
// With numPatches 0 nothing is sampled: each result is the whole map,
// projected and, as CUT's code does it, normalised over dim 1 of the
// [B, H·W, C] matrix (the positions, not the channels), then reshaped to
// [B, C', H, W]; the returned ids are empty.
//
// Misuse (too few ids, wrong channel counts) panics with *torch.Error.
func (f *PatchSampleF) Sample(feats []*torch.Tensor, numPatches int, ids PatchIDs, rng *rand.Rand) ([]*torch.Tensor, PatchIDs) {
	if !f.Initialized() {
		if err := f.CreateMLPs(ChannelsOf(feats), feats[0].Device()); err != nil {
			panic(&torch.Error{Op: "PatchSampleF", Msg: err.Error()})
		}
	}
	if f.UseMLP && len(f.MLPs) < len(feats) {
		panic(&torch.Error{Op: "PatchSampleF", Msg: fmt.Sprintf("%d features but %d MLP heads", len(feats), len(f.MLPs))})
	}
	if numPatches > 0 && ids != nil && len(ids) < len(feats) {
		panic(&torch.Error{Op: "PatchSampleF", Msg: fmt.Sprintf("%d features but patch ids for %d", len(feats), len(ids))})
	}
	out := make([]*torch.Tensor, len(feats))
	used := make(PatchIDs, len(feats))
	for i, feat := range feats {
		s := feat.Shape()
		b, c, h, w := s[0], s[1], s[2], s[3]
		perm := feat.Permute(0, 2, 3, 1)
		flat := perm.Reshape(b, h*w, c)
		perm.Free()
		var x *torch.Tensor
		if numPatches > 0 {
			id := randomOr(ids, i, rng, int(h*w), numPatches)
			used[i] = id
			idx := torch.FromInt64(id, int64(len(id)))
			if dev := feat.Device(); dev != torch.CPU {
				moved := idx.ToDevice(dev, torch.Int64)
				idx.Free()
				idx = moved
			}
			picked := flat.IndexSelect(1, idx)
			idx.Free()
			flat.Free()
			x = picked.Reshape(b*int64(len(id)), c)
			picked.Free()
		} else {
			x = flat
		}
		if f.UseMLP {
			y := f.MLPs[i].Forward(x)
			x.Free()
			x = y
		}
		y := l2Normalize(x, !f.UnclampedNorm)
		x.Free()
		if numPatches == 0 {
			t := y.Permute(0, 2, 1)
			y.Free()
			y = t.Reshape(b, t.Size(1), h, w)
			t.Free()
		}
		out[i] = y
	}
	if numPatches == 0 {
		used = make(PatchIDs, len(feats))
	}
	return out, used
}

func randomOr(ids PatchIDs, i int, rng *rand.Rand, hw, n int) []int64 {
	if ids != nil {
		return ids[i]
	}
	if rng == nil {
		panic(&torch.Error{Op: "PatchSampleF", Msg: "no patch ids and no random generator to draw them"})
	}
	return RandomPatchIDs(rng, hw, n)
}

// PatchNCEOptions are the options PatchNCELoss reads.
type PatchNCEOptions struct {
	T float64 // --nce_T, the temperature
	// AllNegativesFromMinibatch (--nce_includes_all_negatives_from_minibatch)
	// draws each patch's negatives from every image of the batch instead
	// of its own image only.
	AllNegativesFromMinibatch bool
	// BatchSize is the number of images whose patches featQ stacks; CUT
	// uses --batch_size.
	BatchSize int
}

// PatchNCELoss is CUT's PatchNCELoss(featQ, featK) with reduction none:
// for the N sampled rows of featQ ([N, D], from the output) and featK (the
// input's at the same positions, detached), the cross-entropy of
// [q·k⁺, q·k⁻…] / T against class 0, where the negatives are the other
// rows of featK from the same image (or batch) and the diagonal of that
// similarity matrix is filled with -10 (exp(-10) ≈ 0) as CUT does. It
// returns the N losses.
func PatchNCELoss(featQ, featK *torch.Tensor, o PatchNCEOptions) *torch.Tensor {
	scope := torch.NewScope()
	defer scope.Close()
	n, dim := featQ.Size(0), featQ.Size(1)
	k := featK.Detach()
	pos := torch.Bmm(featQ.Reshape(n, 1, -1), k.Reshape(n, -1, 1)).Reshape(n, 1)

	groups := int64(o.BatchSize)
	if o.AllNegativesFromMinibatch {
		groups = 1
	}
	if groups < 1 {
		panic(&torch.Error{Op: "PatchNCELoss", Msg: fmt.Sprintf("batch size %d", o.BatchSize)})
	}
	q := featQ.Reshape(groups, -1, dim)
	kk := k.Reshape(groups, -1, dim)
	p := q.Size(1)
	neg := torch.Bmm(q, kk.Transpose(2, 1))
	diag := make([]byte, p*p)
	for i := int64(0); i < p; i++ {
		diag[i*p+i] = 1
	}
	mask, err := torch.FromBytes(diag, torch.Bool, []int64{1, p, p}, featQ.Device())
	if err != nil {
		panic(&torch.Error{Op: "PatchNCELoss", Msg: err.Error()})
	}
	neg = neg.MaskedFill(mask, -10).Reshape(-1, p)
	logits := torch.Cat(1, pos, neg).DivScalar(o.T)
	target := torch.New("zeros", torch.Int64, featQ.Device(), logits.Size(0))
	loss := torch.CrossEntropy(logits, target, torch.ReduceNone)
	return scope.Keep(loss)
}

// NCE is CUTModel.calculate_NCE_loss with its options.
type NCE struct {
	Layers     []int   // --nce_layers, indices into the generator's Sequential
	NumPatches int     // --num_patches
	Lambda     float64 // --lambda_NCE
	PatchNCEOptions
}

// Loss returns calculate_NCE_loss(src, tgt): the generator's features of
// tgt (the queries; flipped back along W when flipped, for
// --flip_equivariance after the coin flipped the batch) and of src (the
// keys), both sampled by f at the same positions, scored per layer by
// PatchNCELoss times Lambda, averaged over the patches, summed over the
// layers and divided by len(Layers). ids, when not nil, are the positions
// to use (a replay of stored ids); otherwise f draws them from rng. The
// ids used come back, per layer.
//
// The first call creates f's heads from the key features, as CUT's first
// netF forward does.
func (c NCE) Loss(g *CUTGenerator, f *PatchSampleF, src, tgt *torch.Tensor, flipped bool, ids PatchIDs, rng *rand.Rand) (*torch.Tensor, PatchIDs) {
	// The features and their graphs (the keys' is never used by backward)
	// go when the loss is made, as they do in Python.
	scope := torch.NewScope()
	defer scope.Close()
	featQ := g.Encode(tgt, c.Layers)
	if flipped {
		for i, q := range featQ {
			featQ[i] = q.Flip(3)
		}
	}
	featK := g.Encode(src, c.Layers)
	poolK, used := f.Sample(featK, c.NumPatches, ids, rng)
	poolQ, _ := f.Sample(featQ, c.NumPatches, used, nil)
	var total *torch.Tensor
	for i := range poolQ {
		if i >= len(c.Layers) {
			break
		}
		l := PatchNCELoss(poolQ[i], poolK[i], c.PatchNCEOptions)
		m := l.MulScalar(c.Lambda).Mean()
		if total == nil {
			total = m
		} else {
			total = total.Add(m)
		}
	}
	return scope.Keep(total.DivScalar(float64(len(c.Layers)))), used
}
