package train

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	"cyclepix/models"
	"cyclepix/nn"
	"cyclepix/torch"
	"cyclepix/viz"
)

// DistEnv is where this process sits in a data-parallel run: torchrun's
// environment variables, set by `cyclepix train --nproc N` or by torchrun
// itself.
type DistEnv struct {
	Rank       int    // RANK: 0 … WorldSize-1; rank 0 writes checkpoints, logs and pages
	WorldSize  int    // WORLD_SIZE
	LocalRank  int    // LOCAL_RANK: index on this machine (picks cuda:LOCAL_RANK)
	MasterAddr string // MASTER_ADDR: where rank 0 serves the rendezvous store
	MasterPort int    // MASTER_PORT
	// AgentStore is set under torchrun, whose agent serves the store
	// (TORCHELASTIC_USE_AGENT_STORE=True); Attempt is its restart count
	// (TORCHELASTIC_RESTART_COUNT), which scopes the run's keys there.
	AgentStore bool
	Attempt    string
}

// DistFromEnv reads RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT and
// LOCAL_RANK. It returns nil (one process) when WORLD_SIZE is unset, and an
// error naming the variable when one is missing or malformed.
func DistFromEnv() (*DistEnv, error) {
	if os.Getenv("WORLD_SIZE") == "" {
		return nil, nil
	}
	num := func(name string, def int) (int, error) {
		v := os.Getenv(name)
		if v == "" {
			if def >= 0 {
				return def, nil
			}
			return 0, fmt.Errorf("data-parallel run: WORLD_SIZE is set but %s is not", name)
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("data-parallel run: %s=%q is not a non-negative integer", name, v)
		}
		return n, nil
	}
	d := &DistEnv{MasterAddr: os.Getenv("MASTER_ADDR")}
	var err error
	if d.WorldSize, err = num("WORLD_SIZE", -1); err != nil {
		return nil, err
	}
	if d.Rank, err = num("RANK", -1); err != nil {
		return nil, err
	}
	if d.LocalRank, err = num("LOCAL_RANK", d.Rank); err != nil {
		return nil, err
	}
	if d.MasterPort, err = num("MASTER_PORT", 29500); err != nil {
		return nil, err
	}
	if d.MasterAddr == "" {
		d.MasterAddr = "127.0.0.1"
	}
	if os.Getenv("TORCHELASTIC_USE_AGENT_STORE") == "True" {
		d.AgentStore, d.Attempt = true, os.Getenv("TORCHELASTIC_RESTART_COUNT")
		if d.Attempt == "" {
			d.Attempt = "0"
		}
	}
	if d.WorldSize < 1 || d.Rank >= d.WorldSize {
		return nil, fmt.Errorf("data-parallel run: RANK %d is outside WORLD_SIZE %d", d.Rank, d.WorldSize)
	}
	return d, nil
}

// rankDevice is the device of local rank localRank: cuda:LOCAL_RANK when
// training on CUDA (one GPU per process, as DistributedDataParallel), the
// CPU otherwise.
func rankDevice(dev torch.Device, localRank int) (torch.Device, error) {
	if dev == torch.CPU {
		return dev, nil
	}
	if n := torch.CUDADeviceCount(); localRank >= n {
		return dev, fmt.Errorf("data-parallel run: LOCAL_RANK %d needs cuda:%d, but this libtorch sees %d CUDA devices (use --nproc %d or fewer)",
			localRank, localRank, n, n)
	}
	return torch.CUDA(localRank), nil
}

// distRun is a training run's data-parallel side. A nil *distRun is a
// single-process run: every method is then a no-op, so the training loop
// calls them unconditionally.
type distRun struct {
	env *DistEnv
	pg  *torch.ProcessGroup
}

// joinDist joins the process group of env (nil: one process) and moves dev
// to this rank's device. NCCL carries CUDA tensors where the build has it,
// Gloo everything else.
func joinDist(env *DistEnv, dev *torch.Device) (*distRun, error) {
	if env == nil || env.WorldSize == 1 {
		return nil, nil
	}
	d, err := rankDevice(*dev, env.LocalRank)
	if err != nil {
		return nil, err
	}
	*dev = d
	backend := "gloo"
	if d != torch.CPU && torch.DistAvailable("nccl") {
		backend = "nccl"
	}
	start := time.Now()
	o := torch.DistOptions{Backend: backend, Rank: env.Rank, WorldSize: env.WorldSize,
		MasterAddr: env.MasterAddr, MasterPort: env.MasterPort}
	if env.AgentStore {
		// As torch.distributed's env:// rendezvous under torchrun.
		o.ExternalStore, o.StorePrefix = true, "/worker/attempt_"+env.Attempt
	}
	pg, err := torch.NewProcessGroup(o)
	if err != nil {
		return nil, err
	}
	slog.Debug("joined process group", "backend", backend, "rank", env.Rank, "world", env.WorldSize,
		"device", d.String(), "seconds", time.Since(start).Seconds())
	return &distRun{env: env, pg: pg}, nil
}

func (d *distRun) rank() int {
	if d == nil {
		return 0
	}
	return d.env.Rank
}

func (d *distRun) world() int {
	if d == nil {
		return 1
	}
	return d.env.WorldSize
}

// close leaves the group; after a successful run it first waits for every
// rank, so that rank 0 (which serves the rendezvous store) leaves last.
func (d *distRun) close(runErr error) error {
	if d == nil {
		return runErr
	}
	if runErr == nil || errors.Is(runErr, ErrStopped) {
		if err := d.pg.Barrier(); err != nil && runErr == nil {
			runErr = fmt.Errorf("data-parallel run: final barrier: %w", err)
		}
	}
	d.pg.Close()
	return runErr
}

// agreeSeed makes every rank use rank 0's seed (which may be time-based):
// the data order and the shards depend on it.
func (d *distRun) agreeSeed(seed uint64) (uint64, error) {
	if d == nil {
		return seed, nil
	}
	var out uint64
	err := torch.TryErr(func() error {
		defer torch.NewScope().Close()
		t := torch.FromInt64([]int64{int64(seed)}, 1)
		if err := d.pg.Broadcast([]*torch.Tensor{t}, 0); err != nil {
			return err
		}
		out = uint64(t.Int64s()[0])
		return nil
	})
	if err != nil {
		return seed, fmt.Errorf("data-parallel run: share the seed: %w", err)
	}
	return out, nil
}

// pcgStream is the stream of the Go generator (image pools) of this rank:
// rank 0 keeps the single-process stream, the others get their own so that
// their pools make independent choices.
func (d *distRun) pcgStream(seed uint64) *rand.PCG {
	return rand.NewPCG(seed, seed^0x9e3779b97f4a7c15+uint64(d.rank()))
}

// reseed gives ranks > 0 their own libtorch random stream (dropout) after
// the weights were drawn; rank 0 keeps the single-process stream.
func (d *distRun) reseed(seed uint64) {
	if d.rank() > 0 {
		torch.ManualSeed(seed ^ uint64(d.rank())*0xbf58476d1ce4e5b9)
	}
}

// setup makes every rank start from rank 0's networks (parameters and
// buffers) and installs the gradient averaging on every optimizer, the
// two things DistributedDataParallel's wrapper does.
func (d *distRun) setup(b *models.BaseModel) error {
	if d == nil {
		return nil
	}
	var ts []*torch.Tensor
	for _, n := range b.NetNames {
		for _, e := range nn.StateDict(b.Nets[n]) {
			ts = append(ts, e.Tensor)
		}
	}
	if err := torch.TryErr(func() error { return d.pg.Broadcast(ts, 0) }); err != nil {
		return fmt.Errorf("data-parallel run: broadcast rank 0's weights: %w", err)
	}
	for _, opt := range b.Optimizers {
		opt.GradSync = d.pg.AllReduceGradsMean
	}
	return nil
}

// loadState restores the state of label: rank 0's file for everything
// shared, then this rank's own pools and random generators when the run
// that saved them had the same number of processes. With another number
// the position within an epoch is rescaled to the samples already seen.
func (d *distRun) loadState(dir, label string, m models.Model, pcg *rand.PCG, dev torch.Device, batchSize int) (position, error) {
	pos, world, err := loadStateWorld(StatePath(dir, label), m, pcg, dev)
	if err != nil {
		return pos, err
	}
	if world != d.world() {
		// Every rank sees Batch*batchSize samples per batch index.
		seen := pos.Batch * batchSize * world
		pos.Batch = seen / (batchSize * d.world())
		if d.rank() == 0 {
			slog.Warn("resuming with another number of processes: the epoch continues near, not exactly at, where it stopped, and ranks > 0 start fresh image pools and random streams",
				"saved_world", world, "world", d.world(), "batch", pos.Batch)
		}
		return pos, nil
	}
	if d.rank() > 0 {
		if err := loadRankState(RankStatePath(dir, label, d.rank()), m, pcg, dev); err != nil {
			return pos, fmt.Errorf("data-parallel resume of rank %d: %w", d.rank(), err)
		}
	}
	return pos, nil
}

// stop reports whether any rank asked to stop (Ctrl-C), so that every rank
// stops after the same iteration: a rank that stopped alone would leave
// the others waiting in the next all-reduce.
func (d *distRun) stop(local bool) (bool, error) {
	if d == nil {
		return local, nil
	}
	flag := 0.0
	if local {
		flag = 1
	}
	var any bool
	err := torch.TryErr(func() error {
		defer torch.NewScope().Close()
		t := torch.Full(flag, 1)
		if err := d.pg.AllReduceMean([]*torch.Tensor{t}); err != nil {
			return err
		}
		any = t.Item() > 0
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("data-parallel run: agree on stopping: %w", err)
	}
	return any, nil
}

// meanLosses averages the logged losses over the ranks, so that the log
// shows the losses of the whole (global) batch, as one process would.
func (d *distRun) meanLosses(ls []viz.Loss) ([]viz.Loss, error) {
	if d == nil || len(ls) == 0 {
		return ls, nil
	}
	vals := make([]float32, len(ls))
	for i, l := range ls {
		vals[i] = float32(l.Value)
	}
	err := torch.TryErr(func() error {
		defer torch.NewScope().Close()
		t := torch.FromFloat32(vals, int64(len(vals)))
		if err := d.pg.AllReduceMean([]*torch.Tensor{t}); err != nil {
			return err
		}
		copy(vals, t.Float32s())
		return nil
	})
	if err != nil {
		return ls, fmt.Errorf("data-parallel run: average losses: %w", err)
	}
	out := make([]viz.Loss, len(ls))
	for i, l := range ls {
		out[i] = viz.Loss{Name: l.Name, Value: float64(vals[i])}
	}
	return out, nil
}

// shareMetric gives every rank the held-out metric that rank 0 computed,
// so that the plateau LR policy steps the same way everywhere, and rank
// 0's verdict on whether it is the best so far, so that every rank saves
// its part of the best checkpoint (their pools and random streams) too.
func (d *distRun) shareMetric(b *models.BaseModel, best bool) (bool, error) {
	if d == nil {
		return best, nil
	}
	flag := 0.0
	if best {
		flag = 1
	}
	err := torch.TryErr(func() error {
		defer torch.NewScope().Close()
		buf := binary.LittleEndian.AppendUint64(nil, math.Float64bits(b.Metric))
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(flag))
		t, err := torch.FromBytes(buf, torch.Float64, []int64{2}, torch.CPU)
		if err != nil {
			return err
		}
		if err := d.pg.Broadcast([]*torch.Tensor{t}, 0); err != nil {
			return err
		}
		b.Metric, flag = t.Select(0, 0).Item(), t.Select(0, 1).Item()
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("data-parallel run: share the held-out metric: %w", err)
	}
	return flag > 0, nil
}
