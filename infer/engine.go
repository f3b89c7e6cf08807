// Package infer runs trained generators on arbitrary images: it is the
// engine behind `cyclepix translate` and `cyclepix serve`.
//
// An image of any size goes through: conversion to the network's channel
// count, optional reference-style preprocessing (only when asked for:
// inference keeps the image's own resolution by default), normalisation to
// [-1, 1], reflection padding to the size multiple the architecture needs
// (4 for ResNet generators, 2^levels for U-Nets; never less than the
// smallest size the network runs on), the forward pass, and a crop back to
// the input's size. Very large images can be cut into overlapping tiles
// that are translated separately and blended with linear ramps.
//
// libtorch keeps per-thread state and cyclepix's tensor scopes form one
// process-wide stack, so every libtorch call of the engine, loading
// included, runs on a single worker goroutine locked to its OS thread.
// Callers on any goroutine submit work through a bounded queue; requests
// for the same model and size that are waiting together are stacked into
// one batch (micro-batching) when that cannot change their results.
package infer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"cyclepix/data"
	"cyclepix/torch"
)

// Array is one image as the network sees it: C×H×W float32 samples in
// [-1, 1], channel-major.
type Array struct {
	C, H, W int
	Data    []float32
}

// Config sets the engine's limits.
type Config struct {
	// MaxBatch is the most images (or tiles) stacked into one forward
	// pass; 1 or less turns batching off.
	MaxBatch int
	// Queue is how many submissions may wait for the worker; more block
	// (or fail with their context). 0 means 16.
	Queue int
	// Tile, when positive, translates images taller or wider than Tile
	// pixels as Tile×Tile tiles (rounded up to the model's size multiple)
	// overlapping by TileOverlap pixels, so memory stays bounded whatever
	// the image size. Tiles are normalised separately (instance norm sees
	// one tile), which the blending hides but does not undo.
	Tile, TileOverlap int
}

// ErrClosed is returned for work submitted to, or pending in, an engine
// that has been closed.
var ErrClosed = errors.New("inference engine is shut down")

// Engine owns the worker goroutine that does all libtorch work.
type Engine struct {
	cfg     Config
	jobs    chan *job
	quit    chan struct{}
	stopped chan struct{}
	once    sync.Once

	batches, images, forwards atomic.Int64
}

// job is one submission: either arbitrary libtorch work (fn) or images to
// translate with a model.
type job struct {
	ctx  context.Context
	fn   func() error
	m    *Model
	in   []Array
	out  []Array
	acc  []*accum // blending of tiled images, while the worker has the job
	err  error
	done chan struct{}
}

// NewEngine starts the worker.
func NewEngine(cfg Config) *Engine {
	if cfg.MaxBatch < 1 {
		cfg.MaxBatch = 1
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 16
	}
	if cfg.TileOverlap < 0 {
		cfg.TileOverlap = 0
	}
	e := &Engine{cfg: cfg, jobs: make(chan *job, cfg.Queue), quit: make(chan struct{}), stopped: make(chan struct{})}
	go e.loop()
	return e
}

// Config returns the engine's settings (after defaults).
func (e *Engine) Config() Config { return e.cfg }

// Close stops the worker after the batch it is running; submissions still
// queued fail with ErrClosed. It waits for the worker to exit.
func (e *Engine) Close() {
	e.once.Do(func() { close(e.quit) })
	<-e.stopped
}

// Stats are counters for monitoring.
type Stats struct {
	Queued   int   `json:"queued"`   // submissions waiting for the worker
	Capacity int   `json:"capacity"` // queue size
	Batches  int64 `json:"batches"`  // rounds of queued submissions the worker took together
	Forwards int64 `json:"forwards"` // forward passes run
	Images   int64 `json:"images"`   // images and tiles translated
}

// Stats returns the current counters.
func (e *Engine) Stats() Stats {
	return Stats{Queued: len(e.jobs), Capacity: cap(e.jobs), Batches: e.batches.Load(), Forwards: e.forwards.Load(), Images: e.images.Load()}
}

// Do runs fn on the worker goroutine and returns its error; a libtorch
// panic inside fn comes back as a *torch.Error. Use it for any libtorch
// work outside the engine's own (tests comparing against a direct forward
// pass, seeding the generator).
func (e *Engine) Do(ctx context.Context, fn func() error) error {
	j := &job{ctx: ctx, fn: fn, done: make(chan struct{})}
	if err := e.submit(j); err != nil {
		return err
	}
	return j.err
}

// Run translates network inputs with m and returns the outputs, each the
// size of its input with m's output channel count.
func (e *Engine) Run(ctx context.Context, m *Model, in []Array) ([]Array, error) {
	for i, a := range in {
		if a.C != m.Spec.InputNC {
			return nil, &ChannelError{Model: m.Name, Want: m.Spec.InputNC, Got: a.C}
		}
		if a.H < 1 || a.W < 1 || len(a.Data) != a.C*a.H*a.W {
			return nil, fmt.Errorf("input %d: %d values for a %dx%dx%d image", i, len(a.Data), a.C, a.H, a.W)
		}
	}
	if len(in) == 0 {
		return nil, nil
	}
	j := &job{ctx: ctx, m: m, in: in, done: make(chan struct{})}
	if err := e.submit(j); err != nil {
		return nil, err
	}
	return j.out, j.err
}

// Translate converts, translates and quantises images with m: the
// convenience path for callers holding decoded images. Each result has its
// (preprocessed) input's size.
func (e *Engine) Translate(ctx context.Context, m *Model, imgs []*data.Image) ([]*data.Image, error) {
	in := make([]Array, len(imgs))
	for i, img := range imgs {
		a, err := m.Prepare(img, false)
		if err != nil {
			return nil, err
		}
		in[i] = a
	}
	out, err := e.Run(ctx, m, in)
	if err != nil {
		return nil, err
	}
	res := make([]*data.Image, len(out))
	for i, a := range out {
		if res[i], err = m.Output(in[i], a); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// submit queues j and waits for the worker to finish it.
func (e *Engine) submit(j *job) error {
	ctx := j.ctx
	if ctx == nil {
		ctx = context.Background()
		j.ctx = ctx
	}
	select {
	case <-e.quit:
		return ErrClosed
	default:
	}
	select {
	case e.jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	case <-e.quit:
		return ErrClosed
	}
	select {
	case <-j.done:
		return nil
	case <-ctx.Done():
		// The worker skips the job when it gets to it; its memory is held
		// until then, which the queue bounds.
		return ctx.Err()
	case <-e.stopped:
		select {
		case <-j.done:
			return nil
		default:
			return ErrClosed
		}
	}
}

// idleRelease is how long the worker waits without work before giving
// kept memory back (a variable for tests).
var idleRelease = 10 * time.Second

// loop is the worker: the only goroutine that calls libtorch.
func (e *Engine) loop() {
	torch.LockThread()
	defer close(e.stopped)
	defer e.failQueued()
	// After a while without work the big blocks libtorch's allocator kept
	// for reuse go back to the system, so that a server that answered one
	// large image does not hold its peak memory for good.
	var idle <-chan time.Time
	for {
		var j *job
		select {
		case <-e.quit:
			return
		case <-idle:
			idle = nil
			if n := torch.ReleaseCachedMemory(); n > 0 {
				slog.Debug("idle: released kept memory", "MiB", n>>20)
			}
			continue
		case j = <-e.jobs:
		}
		idle = time.After(idleRelease)
		if j.fn != nil {
			e.runFn(j)
			continue
		}
		// Micro-batching: whatever else is already waiting goes in the same
		// round. A function job ends the round, so that it still runs in
		// submission order relative to the translations around it.
		round := []*job{j}
		var next *job
	drain:
		for len(round) < cap(e.jobs) {
			select {
			case k := <-e.jobs:
				if k.fn != nil {
					next = k
					break drain
				}
				round = append(round, k)
			default:
				break drain
			}
		}
		e.runRound(round)
		if next != nil {
			e.runFn(next)
		}
	}
}

func (e *Engine) runFn(j *job) {
	if err := j.ctx.Err(); err != nil {
		j.err = err
	} else {
		j.err = torch.TryErr(j.fn)
	}
	close(j.done)
}

// failQueued answers the submissions left when the worker stops.
func (e *Engine) failQueued() {
	for {
		select {
		case j := <-e.jobs:
			j.err = ErrClosed
			close(j.done)
		default:
			return
		}
	}
}
