package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
)

// LoaderOptions configure a Loader.
type LoaderOptions struct {
	BatchSize int // --batch_size; at least 1
	// NumThreads is the number of goroutines decoding and transforming
	// (--num_threads); 0 means 1.
	NumThreads int
	// Prefetch is how many batches may be ready or in progress ahead of
	// the consumer; 0 means 2 per thread (PyTorch's prefetch_factor).
	Prefetch int
	// Shuffle draws a new sample order every epoch (not --serial_batches).
	Shuffle bool
	// Seed fixes the order and every random crop, flip and unaligned B
	// choice: the same seed gives the same batches whatever NumThreads is.
	Seed uint64
	// Rank and World shard each epoch for data-parallel training, as
	// PyTorch's DistributedSampler: every rank draws the same order (same
	// Seed), pads it to a multiple of World by repeating its first samples,
	// and takes every World-th sample from position Rank. World 0 or 1
	// means no sharding.
	Rank, World int
}

// Batch is BatchSize samples stacked: NCHW arrays by name and the source
// paths by name, in sample order.
type Batch struct {
	Size    int
	Indices []int // dataset indices of the samples
	Arrays  map[string]*Array
	Paths   map[string][]string
}

// Loader cuts a dataset into batches, the reference's DataLoader: a new
// order each epoch (or the file order with --serial_batches), the last
// batch smaller when the dataset size is not a multiple of the batch size
// (nothing is dropped).
type Loader struct {
	ds Dataset
	o  LoaderOptions
}

// NewLoader makes a loader over ds.
func NewLoader(ds Dataset, o LoaderOptions) (*Loader, error) {
	if o.BatchSize < 1 {
		return nil, fmt.Errorf("--batch_size %d must be at least 1", o.BatchSize)
	}
	if o.NumThreads < 0 {
		return nil, fmt.Errorf("--num_threads %d must not be negative", o.NumThreads)
	}
	o.NumThreads = max(o.NumThreads, 1)
	if o.Prefetch <= 0 {
		o.Prefetch = 2 * o.NumThreads
	}
	return &Loader{ds: ds, o: o}, nil
}

// Create makes the dataset of o.DatasetMode and a loader over it with the
// options' batch size, threads and shuffling (the reference's
// create_dataset).
func Create(o Options, seed uint64) (*Loader, error) {
	ds, err := New(o.DatasetMode, o)
	if err != nil {
		return nil, err
	}
	return NewLoader(ds, LoaderOptions{BatchSize: o.BatchSize, NumThreads: o.NumThreads, Shuffle: !o.SerialBatches, Seed: seed})
}

// Dataset returns the loader's dataset.
func (l *Loader) Dataset() Dataset { return l.ds }

// Len is the number of samples per epoch.
func (l *Loader) Len() int { return l.ds.Len() }

// NumBatches is the number of batches per epoch (of this rank's shard).
func (l *Loader) NumBatches() int { return (l.ShardLen() + l.o.BatchSize - 1) / l.o.BatchSize }

// Shard makes the loader yield only rank's share of each epoch (see
// LoaderOptions.Rank); the same call on every rank splits each epoch into
// disjoint shards of equal length.
func (l *Loader) Shard(rank, world int) error {
	if world < 1 || rank < 0 || rank >= world {
		return fmt.Errorf("data shard: rank %d is outside world size %d", rank, world)
	}
	l.o.Rank, l.o.World = rank, world
	return nil
}

// ShardLen is the number of samples this rank sees per epoch: Len rounded
// up to a multiple of the world size, divided by it.
func (l *Loader) ShardLen() int {
	w := max(l.o.World, 1)
	return (l.ds.Len() + w - 1) / w
}

// splitmix64 scrambles seeds so that nearby epochs and indices give
// unrelated streams.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// order is the sample order of an epoch (this rank's shard of it).
func (l *Loader) order(epoch int) []int {
	idx := l.fullOrder(epoch)
	w := l.o.World
	if w <= 1 {
		return idx
	}
	n := l.ShardLen() * w
	for i := 0; len(idx) < n; i++ {
		idx = append(idx, idx[i])
	}
	shard := make([]int, 0, n/w)
	for i := l.o.Rank; i < n; i += w {
		shard = append(shard, idx[i])
	}
	return shard
}

// fullOrder is the sample order of an epoch over the whole dataset.
func (l *Loader) fullOrder(epoch int) []int {
	n := l.ds.Len()
	if !l.o.Shuffle {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	rng := rand.New(rand.NewPCG(splitmix64(l.o.Seed), splitmix64(uint64(epoch)^0x5eed)))
	return rng.Perm(n)
}

// SampleRNG is the random source the loader gives sample index in an
// epoch: a function of (seed, epoch, index) only, which is what makes
// loading order and thread count irrelevant to the results.
func SampleRNG(seed uint64, epoch, index int) *rand.Rand {
	return rand.New(rand.NewPCG(splitmix64(seed^splitmix64(uint64(epoch))), splitmix64(uint64(index))))
}

// Epoch streams one epoch's batches. Use Next until io.EOF, then Close
// (also after an error or to stop early). Next is meant for one consumer
// goroutine.
type Epoch struct {
	ctx     context.Context
	cancel  context.CancelFunc
	pending chan chan result
	wg      sync.WaitGroup
	total   int
	got     int
	err     error
	once    sync.Once
}

type result struct {
	b   *Batch
	err error
}

type job struct {
	idx []int
	out chan result
}

// Epoch starts loading epoch number epoch in the background. Batches are
// delivered in order; up to Prefetch of them are prepared ahead by
// NumThreads goroutines. Cancelling ctx or calling Close stops the
// goroutines.
func (l *Loader) Epoch(ctx context.Context, epoch int) *Epoch { return l.EpochFrom(ctx, epoch, 0) }

// EpochFrom is Epoch starting at batch number skip (0-based), without
// loading the batches before it: a resumed run continues mid-epoch with
// exactly the batches the interrupted one would have seen.
func (l *Loader) EpochFrom(ctx context.Context, epoch, skip int) *Epoch {
	ctx, cancel := context.WithCancel(ctx)
	order := l.order(epoch)
	bs := l.o.BatchSize
	skip = min(max(skip, 0), l.NumBatches())
	e := &Epoch{ctx: ctx, cancel: cancel, pending: make(chan chan result, l.o.Prefetch), total: l.NumBatches() - skip}
	jobs := make(chan job)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer close(e.pending)
		defer close(jobs)
		for start := skip * bs; start < len(order); start += bs {
			j := job{idx: order[start:min(start+bs, len(order))], out: make(chan result, 1)}
			// Reserve the slot first: the consumer reads slots in order,
			// so the batch order is the epoch order however the workers
			// race.
			select {
			case e.pending <- j.out:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- j:
			case <-ctx.Done():
				return
			}
		}
	}()
	for w := 0; w < l.o.NumThreads; w++ {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			for j := range jobs {
				b, err := l.build(ctx, epoch, j.idx)
				j.out <- result{b, err} // buffered: never blocks
			}
		}()
	}
	return e
}

// Next returns the next batch, or io.EOF after the last one. After an
// error (a bad image, a cancelled context) it keeps returning that error.
func (e *Epoch) Next() (*Batch, error) {
	if e.err != nil {
		return nil, e.err
	}
	var r result
	if e.ctx.Err() != nil {
		// Closed or cancelled: a batch may still sit ready in the
		// queue, but the caller asked to stop.
		r.err = e.stopped()
		e.err = r.err
		return nil, r.err
	}
	select {
	case slot, ok := <-e.pending:
		if !ok {
			r.err = io.EOF
			if e.got < e.total {
				r.err = e.stopped()
			}
			break
		}
		select {
		case r = <-slot:
		case <-e.ctx.Done():
			r.err = e.stopped()
		}
	case <-e.ctx.Done():
		r.err = e.stopped()
	}
	if r.err != nil {
		e.err = r.err
		e.Close()
		return nil, r.err
	}
	e.got++
	return r.b, nil
}

func (e *Epoch) stopped() error {
	if err := e.ctx.Err(); err != nil {
		return fmt.Errorf("data loader stopped: %w", err)
	}
	return errors.New("data loader stopped")
}

// Close stops the epoch's goroutines and waits for them to exit. It is
// safe to call more than once and after io.EOF.
func (e *Epoch) Close() {
	e.once.Do(func() {
		e.cancel()
		e.wg.Wait()
	})
}

// build loads and stacks the samples idx of a batch.
func (l *Loader) build(ctx context.Context, epoch int, idx []int) (*Batch, error) {
	samples := make([]*Sample, len(idx))
	for i, di := range idx {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s, err := l.ds.Get(di, SampleRNG(l.o.Seed, epoch, di))
		if err != nil {
			return nil, err
		}
		samples[i] = s
	}
	return Collate(samples, idx)
}

// Collate stacks samples into a batch. Every sample must have the same
// array names and shapes: images of different sizes (possible with
// --preprocess none or scale_width) cannot share a batch.
func Collate(samples []*Sample, idx []int) (*Batch, error) {
	if len(samples) == 0 {
		return nil, errors.New("collate: empty batch")
	}
	first := samples[0]
	b := &Batch{Size: len(samples), Indices: idx, Arrays: map[string]*Array{}, Paths: map[string][]string{}}
	names := make([]string, 0, len(first.Arrays))
	for name := range first.Arrays {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		a0 := first.Arrays[name]
		size := len(a0.Data)
		out := &Array{Shape: append([]int{len(samples)}, a0.Shape...), Data: make([]float32, 0, size*len(samples))}
		for i, s := range samples {
			a := s.Arrays[name]
			if a == nil {
				return nil, fmt.Errorf("collate: sample %s has no %q array", describe(s, name), name)
			}
			if !equalShape(a.Shape, a0.Shape) {
				return nil, fmt.Errorf("batch of %d: %s is %s in %s but %s in %s; images in a batch must have one size: use --preprocess resize_and_crop (or crop) or --batch_size 1",
					len(samples), name, shapeString(a0.Shape), describe(first, name), shapeString(a.Shape), describe(samples[i], name))
			}
			out.Data = append(out.Data, a.Data...)
		}
		b.Arrays[name] = out
	}
	for key := range first.Paths {
		ps := make([]string, len(samples))
		for i, s := range samples {
			ps[i] = s.Paths[key]
		}
		b.Paths[key] = ps
	}
	return b, nil
}

// describe names a sample by the file of its array name, else any file.
func describe(s *Sample, name string) string {
	if p, ok := s.Paths[name+"_paths"]; ok {
		return p
	}
	keys := make([]string, 0, len(s.Paths))
	for k := range s.Paths {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return "a sample"
	}
	return s.Paths[keys[0]]
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func shapeString(s []int) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, "x")
}
