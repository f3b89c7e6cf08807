package train

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"

	"cyclepix/models"
	"cyclepix/nn"
	"cyclepix/pth"
	"cyclepix/torch"
)

// stateFormat names the layout of <label>_state.pth.
const stateFormat = "cyclepix-train-state-1"

// position is where a run continues: the first batch (0-based) of Epoch
// not yet trained, and the reference's counters.
type position struct {
	Epoch      int
	Batch      int
	TotalIters int
	Seed       uint64
}

// StatePath is <dir>/<label>_state.pth, the companion of the networks'
// <label>_net_*.pth files with everything else a run needs to continue
// exactly.
func StatePath(dir, label string) string { return filepath.Join(dir, label+"_state.pth") }

func tensorList(ts []*torch.Tensor) ([]any, error) {
	out := make([]any, len(ts))
	for i, t := range ts {
		p, err := nn.ToPTH(t)
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

// saveState writes the optimizer moments, schedulers, image pools, random
// generators and position as a torch.save-compatible dict; world is the
// number of data-parallel processes that trained (1 without --nproc).
func saveState(path string, m models.Model, pos position, pcg *rand.PCG, world int) error {
	b := m.Base()
	d := pth.NewDict()
	d.Set("format", stateFormat)
	d.Set("epoch", int64(pos.Epoch))
	d.Set("batch", int64(pos.Batch))
	d.Set("total_iters", int64(pos.TotalIters))
	d.Set("seed", int64(pos.Seed))
	d.Set("world_size", int64(world))
	err := torch.TryErr(func() error {
		var opts []any
		for _, o := range b.Optimizers {
			od := pth.NewDict()
			od.Set("step", o.StepCount)
			od.Set("lr", o.LR)
			m1, err := tensorList(o.ExpAvg)
			if err != nil {
				return err
			}
			m2, err := tensorList(o.ExpAvgSq)
			if err != nil {
				return err
			}
			od.Set("exp_avg", m1)
			od.Set("exp_avg_sq", m2)
			opts = append(opts, od)
		}
		d.Set("optimizers", opts)
		var scheds []any
		for _, s := range b.Schedulers {
			sd := pth.NewDict()
			sd.Set("last_epoch", int64(s.LastEpoch))
			sd.Set("lr", s.LR)
			sd.Set("best", s.Best)
			sd.Set("num_bad_epochs", int64(s.NumBadEpochs))
			scheds = append(scheds, sd)
		}
		d.Set("schedulers", scheds)
		return nil
	})
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	if err := setRankLocal(d, b, pcg); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return pth.Save(path, d)
}

// setRankLocal puts into d what differs between data-parallel processes:
// the image pools and both random generators.
func setRankLocal(d *pth.Dict, b *models.BaseModel, pcg *rand.PCG) error {
	err := torch.TryErr(func() error {
		pools := pth.NewDict()
		for _, name := range slices.Sorted(maps.Keys(b.Pools)) {
			l, err := tensorList(b.Pools[name].Images)
			if err != nil {
				return err
			}
			pools.Set(name, l)
		}
		d.Set("pools", pools)
		rng, err := nn.ToPTH(torch.RNGState())
		if err != nil {
			return err
		}
		d.Set("torch_rng", rng)
		return nil
	})
	if err != nil {
		return err
	}
	g, err := pcg.MarshalBinary()
	if err != nil {
		return err
	}
	d.Set("go_rng", &pth.Tensor{DType: pth.Uint8, Shape: []int64{int64(len(g))}, Data: g})
	return nil
}

// rankStateFormat names the layout of <label>_state.rank<r>.pth.
const rankStateFormat = "cyclepix-rank-state-1"

// RankStatePath is <dir>/<label>_state.rank<r>.pth: the image pools and
// random generators of data-parallel rank r > 0, whose weights, optimizer
// and position are rank 0's (StatePath).
func RankStatePath(dir, label string, rank int) string {
	return filepath.Join(dir, fmt.Sprintf("%s_state.rank%d.pth", label, rank))
}

// saveRankState writes a rank's own part of the state (setRankLocal).
func saveRankState(path string, m models.Model, pcg *rand.PCG) error {
	d := pth.NewDict()
	d.Set("format", rankStateFormat)
	if err := setRankLocal(d, m.Base(), pcg); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return pth.Save(path, d)
}

// loadRankState restores what saveRankState wrote.
func loadRankState(path string, m models.Model, pcg *rand.PCG, dev torch.Device) error {
	v, err := pth.Load(path)
	if err != nil {
		return err
	}
	d, ok := v.(*pth.Dict)
	if f, _ := d.Get("format"); !ok || f != rankStateFormat {
		return fmt.Errorf("%s is not a cyclepix rank state file", path)
	}
	return restoreRankLocal(path, d, m.Base(), pcg, dev)
}

// loadState restores what saveState wrote into m (already built with the
// same options and with its networks loaded).
func loadState(path string, m models.Model, pcg *rand.PCG, dev torch.Device) (position, error) {
	pos, _, err := loadStateWorld(path, m, pcg, dev)
	return pos, err
}

// loadStateWorld is loadState that also returns the number of processes
// that trained (1 for files without it).
func loadStateWorld(path string, m models.Model, pcg *rand.PCG, dev torch.Device) (position, int, error) {
	pos, d, err := loadStateDict(path, m, pcg, dev)
	if err != nil {
		return pos, 0, err
	}
	world := 1
	if w, ok := d.Get("world_size"); ok {
		if n, ok := w.(int64); ok && n > 0 {
			world = int(n)
		}
	}
	return pos, world, nil
}

func loadStateDict(path string, m models.Model, pcg *rand.PCG, dev torch.Device) (position, *pth.Dict, error) {
	var pos position
	v, err := pth.Load(path)
	if err != nil {
		return pos, nil, err
	}
	d, ok := v.(*pth.Dict)
	if f, _ := d.Get("format"); !ok || f != stateFormat {
		return pos, nil, fmt.Errorf("%s is not a cyclepix training state file", path)
	}
	geti := func(k string) int {
		x, _ := d.Get(k)
		n, _ := x.(int64)
		return int(n)
	}
	pos = position{Epoch: geti("epoch"), Batch: geti("batch"), TotalIters: geti("total_iters"), Seed: uint64(geti("seed"))}
	if ea, ok := m.(models.EpochAware); ok {
		// The saved optimizers are those of the epoch the state was taken
		// in: the one it continues mid-way (batch > 0), or the one that
		// ended (batch 0; the loop then begins the next).
		e := pos.Epoch
		if pos.Batch == 0 {
			e--
		}
		ea.BeginEpoch(e)
	}
	b := m.Base()
	err = torch.TryErr(func() error {
		defer torch.NewScope().Close()
		opts, _ := d.Get("optimizers")
		ol, _ := opts.([]any)
		if len(ol) != len(b.Optimizers) {
			return fmt.Errorf("%s has %d optimizers, the model has %d (was it saved with another --model?)", path, len(ol), len(b.Optimizers))
		}
		for i, x := range ol {
			od, _ := x.(*pth.Dict)
			m1, err := readTensors(od, "exp_avg", dev)
			if err != nil {
				return err
			}
			m2, err := readTensors(od, "exp_avg_sq", dev)
			if err != nil {
				return err
			}
			step, _ := od.Get("step")
			lr, _ := od.Get("lr")
			if err := b.Optimizers[i].LoadState(step.(int64), m1, m2); err != nil {
				return fmt.Errorf("%s: optimizer %d: %w", path, i, err)
			}
			b.Optimizers[i].LR = lr.(float64)
		}
		sc, _ := d.Get("schedulers")
		sl, _ := sc.([]any)
		if len(sl) != len(b.Schedulers) {
			return fmt.Errorf("%s has %d schedulers, the model has %d", path, len(sl), len(b.Schedulers))
		}
		for i, x := range sl {
			sd := x.(*pth.Dict)
			s := b.Schedulers[i]
			le, _ := sd.Get("last_epoch")
			lr, _ := sd.Get("lr")
			best, _ := sd.Get("best")
			bad, _ := sd.Get("num_bad_epochs")
			s.LastEpoch, s.LR, s.Best, s.NumBadEpochs = int(le.(int64)), lr.(float64), best.(float64), int(bad.(int64))
		}
		return nil
	})
	if err != nil {
		return pos, nil, fmt.Errorf("load %s: %w", path, err)
	}
	return pos, d, restoreRankLocal(path, d, b, pcg, dev)
}

// restoreRankLocal restores what setRankLocal put into d.
func restoreRankLocal(path string, d *pth.Dict, b *models.BaseModel, pcg *rand.PCG, dev torch.Device) error {
	err := torch.TryErr(func() error {
		defer torch.NewScope().Close()
		pv, _ := d.Get("pools")
		pd, _ := pv.(*pth.Dict)
		for name, pool := range b.Pools {
			imgs, err := readTensors(pd, name, dev)
			if err != nil {
				return err
			}
			pool.Free()
			for _, t := range imgs {
				pool.Images = append(pool.Images, t.Clone().Persist())
			}
		}
		rv, _ := d.Get("torch_rng")
		rt, ok := rv.(*pth.Tensor)
		if !ok {
			return fmt.Errorf("%s: no torch_rng", path)
		}
		st, err := nn.FromPTH(rt)
		if err != nil {
			return err
		}
		torch.SetRNGState(st)
		return nil
	})
	if err != nil {
		return fmt.Errorf("load %s: %w", path, err)
	}
	gv, _ := d.Get("go_rng")
	if gt, ok := gv.(*pth.Tensor); ok {
		if err := pcg.UnmarshalBinary(gt.Data); err != nil {
			return fmt.Errorf("load %s: go_rng: %w", path, err)
		}
	}
	return nil
}

func readTensors(d *pth.Dict, key string, dev torch.Device) ([]*torch.Tensor, error) {
	if d == nil {
		return nil, fmt.Errorf("missing %s", key)
	}
	v, ok := d.Get(key)
	if !ok {
		return nil, fmt.Errorf("missing %s", key)
	}
	l, _ := v.([]any)
	out := make([]*torch.Tensor, len(l))
	for i, x := range l {
		pt, ok := x.(*pth.Tensor)
		if !ok {
			return nil, fmt.Errorf("%s[%d] is not a tensor", key, i)
		}
		t, err := nn.FromPTH(pt)
		if err != nil {
			return nil, err
		}
		if dev != torch.CPU {
			t = t.ToDevice(dev, t.DType())
		}
		out[i] = t
	}
	return out, nil
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }
