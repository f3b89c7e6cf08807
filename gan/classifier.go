package gan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"cyclepix/data/progress"
	"cyclepix/gan/mnist"
	"cyclepix/nn"
	"cyclepix/torch"
)

// DefaultClassifierPath is where `cyclepix gan classifier` saves the LeNet
// weights and where `cyclepix gan` looks for them.
const DefaultClassifierPath = "checkpoints/mnist_lenet.pth"

// FeatureDim is the size of the classifier features that the Fréchet
// distance compares (LeNet's second fully connected layer).
const FeatureDim = 84

// LeNet is LeNet-5 with ReLU and max pooling, for 28×28 digits:
// conv 5×5 (pad 2) → 6@28² → pool → conv 5×5 → 16@10² → pool → 400 → 120 →
// 84 → 10.
type LeNet struct {
	Conv1, Conv2  *nn.Conv2d
	FC1, FC2, FC3 *nn.Linear
}

// NewLeNet builds a LeNet with PyTorch's default initialisation.
func NewLeNet() *LeNet {
	n := &LeNet{
		Conv1: nn.NewConv2d(1, 6, 5, 1, 2, true), Conv2: nn.NewConv2d(6, 16, 5, 1, 0, true),
		FC1: nn.NewLinear(16*5*5, 120, true), FC2: nn.NewLinear(120, FeatureDim, true), FC3: nn.NewLinear(FeatureDim, 10, true),
	}
	defaultInit(n)
	return n
}

// Forward returns class logits [B, 10] for images [B, 1, 28, 28] in [-1, 1].
func (n *LeNet) Forward(x *torch.Tensor) *torch.Tensor {
	_, logits := n.Features(x)
	return logits
}

// Features returns the activations of the last hidden layer [B, 84] and
// the logits [B, 10].
func (n *LeNet) Features(x *torch.Tensor) (feat, logits *torch.Tensor) {
	h := torch.MaxPool2d(n.Conv1.Forward(x).Relu(), 2, 2, 0, false)
	h = torch.MaxPool2d(n.Conv2.Forward(h).Relu(), 2, 2, 0, false)
	h = n.FC1.Forward(h.Reshape(h.Size(0), -1)).Relu()
	feat = n.FC2.Forward(h).Relu()
	return feat, n.FC3.Forward(feat)
}

// Children names the layers as a PyTorch LeNet module's attributes.
func (n *LeNet) Children() []nn.Child {
	return []nn.Child{{Name: "conv1", Module: n.Conv1}, {Name: "conv2", Module: n.Conv2},
		{Name: "fc1", Module: n.FC1}, {Name: "fc2", Module: n.FC2}, {Name: "fc3", Module: n.FC3}}
}

// ErrNoClassifier is returned (wrapped) by LoadClassifier when the weights
// file does not exist.
var ErrNoClassifier = errors.New("no classifier weights")

// LoadClassifier reads LeNet weights saved by TrainClassifier.
func LoadClassifier(path string) (*LeNet, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s: train them with `cyclepix gan classifier --out %s` (about a minute)", ErrNoClassifier, path, path)
	}
	n := NewLeNet()
	if err := nn.LoadFile(n, path); err != nil {
		return nil, fmt.Errorf("classifier: %w", err)
	}
	return n, nil
}

// ClassifierConfig are the options of TrainClassifier.
type ClassifierConfig struct {
	Epochs    int
	BatchSize int
	LR        float64
	Seed      uint64
	Out       string // weights file; "" saves nothing
	Train     *mnist.Set
	Test      *mnist.Set
	Log       io.Writer // epoch lines; nil for none
	Progress  io.Writer // progress bar; nil for none
}

// TrainClassifier trains a LeNet with Adam and cross-entropy, prints the
// test accuracy after each epoch, saves the weights to cfg.Out and returns
// the net with its final test accuracy.
func TrainClassifier(ctx context.Context, cfg ClassifierConfig) (*LeNet, float64, error) {
	switch {
	case cfg.Epochs < 1:
		return nil, 0, fmt.Errorf("--epochs %d: want at least 1", cfg.Epochs)
	case cfg.BatchSize < 1:
		return nil, 0, fmt.Errorf("--batch_size %d: want at least 1", cfg.BatchSize)
	case !(cfg.LR > 0):
		return nil, 0, fmt.Errorf("--lr %g: want a positive learning rate", cfg.LR)
	case cfg.Train == nil || cfg.Train.Len() == 0 || cfg.Test == nil || cfg.Test.Len() == 0:
		return nil, 0, errors.New("classifier: no training or test images")
	case cfg.Train.Rows != 28 || cfg.Train.Cols != 28:
		return nil, 0, fmt.Errorf("classifier: LeNet needs 28x28 images, not %dx%d", cfg.Train.Rows, cfg.Train.Cols)
	}
	if cfg.Out != "" {
		if err := os.MkdirAll(filepath.Dir(cfg.Out), 0o755); err != nil {
			return nil, 0, fmt.Errorf("classifier: %w", err)
		}
	}
	logw := cfg.Log
	if logw == nil {
		logw = io.Discard
	}
	var net *LeNet
	var acc float64
	err := torch.TryErr(func() error {
		torch.ManualSeed(cfg.Seed)
		net = NewLeNet()
		opt := torch.NewAdam(nn.Parameters(net), cfg.LR, 0.9, 0.999)
		n := cfg.Train.Len()
		var xs []float32
		var ys []int64
		for epoch := 1; epoch <= cfg.Epochs; epoch++ {
			start := time.Now()
			perm := permutation(cfg.Seed, epoch, n)
			nb := (n + cfg.BatchSize - 1) / cfg.BatchSize
			bar := progress.Count(cfg.Progress, nb, fmt.Sprintf("lenet epoch %d/%d", epoch, cfg.Epochs), "batch")
			var sum float64
			for b := 0; b < nb; b++ {
				if err := ctx.Err(); err != nil {
					return err
				}
				idx := perm[b*cfg.BatchSize : min((b+1)*cfg.BatchSize, n)]
				xs, ys = cfg.Train.Batch(idx, xs, ys)
				func() {
					defer torch.NewScope().Close()
					x := torch.FromFloat32(xs, int64(len(idx)), 1, 28, 28)
					loss := torch.CrossEntropy(net.Forward(x), torch.FromInt64(ys, int64(len(idx))), torch.ReduceMean)
					opt.ZeroGrad()
					loss.Backward()
					opt.Step()
					sum += loss.Item()
				}()
				bar.Add(1)
			}
			bar.Finish()
			acc = Accuracy(net, cfg.Test)
			fmt.Fprintf(logw, "lenet epoch %d/%d: loss %.4f, test accuracy %.2f%% (%.1f s)\n",
				epoch, cfg.Epochs, sum/float64(nb), 100*acc, time.Since(start).Seconds())
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	if cfg.Out != "" {
		if err := nn.SaveFile(net, cfg.Out); err != nil {
			return nil, 0, fmt.Errorf("classifier: %w", err)
		}
	}
	return net, acc, nil
}

// evalChunk bounds the images pushed through a network at once when
// scoring, to keep memory flat whatever the sample count.
const evalChunk = 1000

// Accuracy returns the share of set's images that net classifies right.
func Accuracy(net *LeNet, set *mnist.Set) float64 {
	right := 0
	forChunks(set, func(x *torch.Tensor, labels []int64) {
		pred := net.Forward(x).Argmax(1, false).Int64s()
		for i, p := range pred {
			if p == labels[i] {
				right++
			}
		}
	})
	return float64(right) / float64(set.Len())
}

// forChunks feeds set to fn in chunks of evalChunk images [B, 1, H, W],
// without gradients, each chunk in its own scope.
func forChunks(set *mnist.Set, fn func(x *torch.Tensor, labels []int64)) {
	var xs []float32
	var ys []int64
	idx := make([]int, 0, evalChunk)
	for start := 0; start < set.Len(); start += evalChunk {
		idx = idx[:0]
		for i := start; i < min(start+evalChunk, set.Len()); i++ {
			idx = append(idx, i)
		}
		xs, ys = set.Batch(idx, xs, ys)
		func() {
			defer torch.NewScope().Close()
			torch.NoGrad(func() {
				fn(torch.FromFloat32(xs, int64(len(idx)), 1, int64(set.Rows), int64(set.Cols)), ys)
			})
		}()
	}
}

// permutation is the shuffled order of n training images in epoch. It
// depends only on the seed and the epoch, not on any generator state, so a
// resumed run visits the images in the same order as an uninterrupted one.
func permutation(seed uint64, epoch, n int) []int {
	r := rand.New(rand.NewPCG(seed, uint64(epoch)^0x9e3779b97f4a7c15))
	return r.Perm(n)
}

// finite reports whether v is neither NaN nor infinite.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
