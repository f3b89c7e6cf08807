package gan

import (
	"fmt"
	"math"

	"cyclepix/data"
	"cyclepix/gan/mnist"
	"cyclepix/nn"
	"cyclepix/torch"
)

// evalSeedMix derives the seed of the evaluation noise from --seed. The
// grid and the scored samples use the same noise every epoch, so grids of
// successive epochs show the same latent points and metrics move only with
// the generator; the training generator's state is restored afterwards, so
// evaluating does not change the course of training.
const evalSeedMix = 0x5eed_5eed

// Grid layout: 10×10 samples of 28×28 with 2 px of black between them, as
// torchvision's save_image(nrow=10) lays them out.
const (
	gridSide = 10
	gridPad  = 2
)

// scorer holds the classifier and the feature statistics of real digits.
type scorer struct {
	net  *LeNet
	real Gaussian
}

func newScorer(net *LeNet, test *mnist.Set) (*scorer, error) {
	feats := make([]float32, 0, test.Len()*FeatureDim)
	forChunks(test, func(x *torch.Tensor, _ []int64) {
		f, _ := net.Features(x)
		feats = append(feats, f.Float32s()...)
	})
	real, err := FitGaussian(feats, test.Len(), FeatureDim)
	if err != nil {
		return nil, fmt.Errorf("real digit features: %w", err)
	}
	return &scorer{net: net, real: real}, nil
}

// evaluate writes the epoch's sample grid and fills in the metrics. G runs
// in eval mode (batch norms use their running statistics), as it would
// when deployed.
func (t *trainer) evaluate(es *EpochStats) error {
	defer torch.NewScope().Close()
	rng := torch.RNGState()
	defer torch.SetRNGState(rng)
	torch.ManualSeed(t.cfg.Seed + evalSeedMix)
	nn.SetTraining(t.p.G, false)
	defer nn.SetTraining(t.p.G, true)
	var err error
	torch.NoGrad(func() {
		n := gridSide * gridSide
		labels := make([]int64, n)
		for i := range labels {
			labels[i] = int64(i / gridSide) // row r shows digit r
		}
		imgs := t.p.sample(labels)
		if err = saveGrid(es.Grid, imgs.Float32s(), int(t.p.rows)); err != nil {
			return
		}
		if t.sc != nil {
			es.Accuracy, es.Frechet, err = t.sc.score(t.p, t.cfg.EvalSamples)
			if !t.p.conditional() {
				es.Accuracy = math.NaN()
			}
		}
	})
	return err
}

// sample draws one image per label (labels matter for cgan only) from
// fresh noise.
func (p *pair) sample(labels []int64) *torch.Tensor {
	n := int64(len(labels))
	z := torch.Randn(n, p.latent)
	var oh *torch.Tensor
	if p.conditional() {
		oh = oneHot(torch.FromInt64(labels, n))
	}
	return p.generate(z, oh)
}

// score generates n samples (for cgan, digit i%10 for the i-th) and
// returns the share the classifier labels as asked and the Fréchet
// distance of their features to the real test digits'.
func (s *scorer) score(p *pair, n int) (acc, fd float64, err error) {
	feats := make([]float32, 0, n*FeatureDim)
	right := 0
	for start := 0; start < n; start += evalChunk {
		c := min(evalChunk, n-start)
		func() {
			defer torch.NewScope().Close()
			labels := make([]int64, c)
			for i := range labels {
				labels[i] = int64((start + i) % numClasses)
			}
			f, logits := s.net.Features(p.sample(labels))
			feats = append(feats, f.Float32s()...)
			for i, pred := range logits.Argmax(1, false).Int64s() {
				if pred == labels[i] {
					right++
				}
			}
		}()
	}
	gen, err := FitGaussian(feats, n, FeatureDim)
	if err != nil {
		return 0, 0, fmt.Errorf("sample features: %w", err)
	}
	fd, err = FrechetDistance(gen, s.real)
	return float64(right) / float64(n), fd, err
}

// saveGrid writes 100 images of size×size in [-1, 1] (row-major, one after
// the other) as a 10×10 grid PNG.
func saveGrid(path string, imgs []float32, size int) error {
	side := gridSide*size + (gridSide+1)*gridPad
	out := make([]float32, side*side)
	for i := range out {
		out[i] = -1
	}
	for k := 0; k < gridSide*gridSide; k++ {
		r, c := k/gridSide, k%gridSide
		y0, x0 := gridPad+r*(size+gridPad), gridPad+c*(size+gridPad)
		for y := 0; y < size; y++ {
			copy(out[(y0+y)*side+x0:(y0+y)*side+x0+size], imgs[(k*size+y)*size:(k*size+y+1)*size])
		}
	}
	return data.SavePNG(path, out, 1, side, side)
}
