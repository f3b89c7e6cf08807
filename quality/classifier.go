package quality

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"cyclepix/data"
	"cyclepix/data/builtin"
	"cyclepix/networks"
	"cyclepix/nn"
	"cyclepix/torch"
)

// domainNet is a LeNet-like CNN (gan.LeNet's pattern: conv, ReLU, max
// pool, twice, then a classifier head) for RGB images of any size. Its
// last convolution is averaged over the whole image, so that what it
// measures is how much of a texture there is, wherever it is, and one
// net serves every image size.
type domainNet struct {
	Conv1, Conv2, Conv3 *nn.Conv2d
	FC                  *nn.Linear
}

func newDomainNet() *domainNet {
	return &domainNet{
		Conv1: nn.NewConv2d(3, 8, 5, 1, 2, true), Conv2: nn.NewConv2d(8, 16, 5, 1, 2, true),
		Conv3: nn.NewConv2d(16, 32, 3, 1, 1, true), FC: nn.NewLinear(32, 2, true),
	}
}

// Forward returns logits [B, 2] (A, B) for images [B, 3, H, W] in [-1, 1].
func (n *domainNet) Forward(x *torch.Tensor) *torch.Tensor {
	h := torch.MaxPool2d(n.Conv1.Forward(x).Relu(), 2, 2, 0, false)
	h = torch.MaxPool2d(n.Conv2.Forward(h).Relu(), 2, 2, 0, false)
	h = n.Conv3.Forward(h).Relu().MeanDims(false, 2, 3)
	return n.FC.Forward(h)
}

func (n *domainNet) Children() []nn.Child {
	return []nn.Child{{Name: "conv1", Module: n.Conv1}, {Name: "conv2", Module: n.Conv2},
		{Name: "conv3", Module: n.Conv3}, {Name: "fc", Module: n.FC}}
}

// ClassifierOptions configure TrainClassifier.
type ClassifierOptions struct {
	// Dataset is an unpaired built-in dataset (blobs2zebras).
	Dataset string
	// Size is the side of the images it classifies (other sizes are
	// resized to it); at most MaxClassifierSize.
	Size int
	// PerDomain training images of each domain (default 300) and
	// HeldOut images of each domain to measure the accuracy on (default
	// 100), all freshly drawn.
	PerDomain, HeldOut int
	// Epochs over the training images (default 6).
	Epochs int
	// Seed fixes the images drawn, the initial weights and the order.
	Seed uint64
	Log  *slog.Logger // nil: no log
}

// MaxClassifierSize bounds the classifier's input side: larger results
// are shrunk to it, where the stripes are still several pixels wide, to
// keep training within seconds.
const MaxClassifierSize = 128

// Classifier tells domain A images of an unpaired built-in dataset from
// domain B ones.
type Classifier struct {
	net     *domainNet
	size    int
	heldOut int // images Accuracy is over
	// Accuracy is the share of freshly drawn held-out real images (A and
	// B alike) that it classifies right.
	Accuracy float64
	// Trained says what it was trained on, for the report.
	Trained string
}

// Seeds of the classifier's own images, mixed into ClassifierOptions.Seed
// so that they differ from any dataset `cyclepix data builtin --seed N`
// writes (which uses N itself).
const (
	trainSeedMix   = 0x51a55e7ac1a551f1
	heldOutSeedMix = 0x4e1d0075eed5a1e5
)

// TrainClassifier draws real A and real B images of the dataset, trains
// a classifier on them and measures it on other freshly drawn ones.
//
// Half of the training images of each domain are shown in greyscale:
// blobs2zebras's A blobs are colourful and its B blobs black and white,
// so a classifier could tell them apart by colour alone and would then
// count a translation that merely greys the blobs as striped. Without
// colour to go by it has to find the stripes.
func TrainClassifier(ctx context.Context, o ClassifierOptions) (*Classifier, error) {
	if o.PerDomain <= 0 {
		o.PerDomain = 300
	}
	if o.HeldOut <= 0 {
		o.HeldOut = 100
	}
	if o.Epochs <= 0 {
		o.Epochs = 6
	}
	if o.Size < 16 || o.Size > MaxClassifierSize {
		return nil, fmt.Errorf("classifier image size %d: want 16 to %d", o.Size, MaxClassifierSize)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	draw := func(n int, seed uint64, greyHalf bool) (x []float32, y []int64, err error) {
		for i := 0; i < n; i++ {
			for label, folder := range []string{"trainA", "trainB"} {
				m, err := builtin.Draw(o.Dataset, folder, o.Size, seed, i)
				if err != nil {
					return nil, nil, err
				}
				if greyHalf && i%2 == 1 {
					m = m.Gray().RGB()
				}
				x = append(x, m.Tensor()...)
				y = append(y, int64(label))
			}
		}
		return x, y, nil
	}
	trainX, trainY, err := draw(o.PerDomain, o.Seed^trainSeedMix, true)
	if err != nil {
		return nil, err
	}
	testX, testY, err := draw(o.HeldOut, o.Seed^heldOutSeedMix, false)
	if err != nil {
		return nil, err
	}
	c := &Classifier{size: o.Size,
		Trained: fmt.Sprintf("%d+%d generated %s images (%dx%d, half in greyscale), %d epochs, seed %d", o.PerDomain, o.PerDomain, o.Dataset, o.Size, o.Size, o.Epochs, o.Seed)}
	plane := 3 * o.Size * o.Size
	err = torch.TryErr(func() error {
		torch.ManualSeed(o.Seed)
		c.net = newDomainNet()
		if err := networks.Init(c.net, "kaiming", 0); err != nil {
			return err
		}
		opt := torch.NewAdam(nn.Parameters(c.net), 2e-3, 0.9, 0.999)
		const batch = 32
		n := len(trainY)
		xs := make([]float32, 0, batch*plane)
		ys := make([]int64, 0, batch)
		for epoch := 0; epoch < o.Epochs; epoch++ {
			perm := rand.New(rand.NewPCG(o.Seed, uint64(epoch))).Perm(n)
			for b := 0; b < n; b += batch {
				if err := ctx.Err(); err != nil {
					return err
				}
				xs, ys = xs[:0], ys[:0]
				for _, i := range perm[b:min(b+batch, n)] {
					xs = append(xs, trainX[i*plane:(i+1)*plane]...)
					ys = append(ys, trainY[i])
				}
				func() {
					defer torch.NewScope().Close()
					x := torch.FromFloat32(xs, int64(len(ys)), 3, int64(o.Size), int64(o.Size))
					loss := torch.CrossEntropy(c.net.Forward(x), torch.FromInt64(ys, int64(len(ys))), torch.ReduceMean)
					opt.ZeroGrad()
					loss.Backward()
					opt.Step()
				}()
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("domain classifier: %w", err)
	}
	var pred []int
	if err := torch.Try(func() { pred = c.predict(testX, len(testY)) }); err != nil {
		return nil, fmt.Errorf("domain classifier: %w", err)
	}
	right := 0
	for i, p := range pred {
		if int64(p) == testY[i] {
			right++
		}
	}
	c.Accuracy, c.heldOut = float64(right)/float64(len(testY)), len(testY)
	log.Info("domain classifier trained", "dataset", o.Dataset, "size", o.Size, "held_out_accuracy", c.Accuracy,
		"seconds", time.Since(start).Round(100*time.Millisecond).Seconds())
	return c, nil
}

// IsB classifies each image: true for domain B. Images of another size
// than the classifier's are resized to it first (Pillow's bicubic).
func (c *Classifier) IsB(imgs []*data.Image) ([]bool, error) {
	plane := 3 * c.size * c.size
	xs := make([]float32, 0, len(imgs)*plane)
	for _, m := range imgs {
		m = m.RGB()
		if m.W != c.size || m.H != c.size {
			m = m.Resize(c.size, c.size)
		}
		xs = append(xs, m.Tensor()...)
	}
	var pred []int
	if err := torch.Try(func() { pred = c.predict(xs, len(imgs)) }); err != nil {
		return nil, fmt.Errorf("domain classifier: %w", err)
	}
	out := make([]bool, len(pred))
	for i, p := range pred {
		out[i] = p == 1
	}
	return out, nil
}

// predict returns the class of each of n images packed in xs, in chunks
// that keep memory flat however many there are.
func (c *Classifier) predict(xs []float32, n int) []int {
	const chunk = 256
	plane := 3 * c.size * c.size
	out := make([]int, 0, n)
	for s := 0; s < n; s += chunk {
		e := min(s+chunk, n)
		func() {
			defer torch.NewScope().Close()
			torch.NoGrad(func() {
				x := torch.FromFloat32(xs[s*plane:e*plane], int64(e-s), 3, int64(c.size), int64(c.size))
				for _, p := range c.net.Forward(x).Argmax(1, false).Int64s() {
					out = append(out, int(p))
				}
			})
		}()
	}
	return out
}
