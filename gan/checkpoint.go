package gan

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"cyclepix/nn"
	"cyclepix/pth"
	"cyclepix/torch"
)

// checkpointFormat tags latest.pth so that a file of another layout is
// refused with a clear message rather than half read.
const checkpointFormat = "cyclepix-gan-1"

// save writes latest.pth — both networks, both optimizers' moments and
// step counts, the libtorch generator state and where training stands — in
// one torch.save file, written to a temporary name and renamed, so a crash
// leaves either the old or the new checkpoint whole. G's and D's state
// dicts are also written on their own for use outside cyclepix.
func (t *trainer) save() error {
	defer torch.NewScope().Close()
	st := t.st
	st.Elapsed = t.elapsed()
	d := pth.NewDict()
	d.Set("format", checkpointFormat)
	d.Set("model", t.cfg.Model)
	d.Set("latent_dim", int64(t.cfg.LatentDim))
	d.Set("batch_size", int64(t.cfg.BatchSize))
	d.Set("seed", int64(t.cfg.Seed))
	d.Set("train_size", int64(t.cfg.Train.Len()))
	d.Set("epoch", int64(st.Epoch))
	d.Set("iter", int64(st.Iter))
	d.Set("step", int64(st.Step))
	d.Set("sum_D", st.SumD)
	d.Set("sum_G", st.SumG)
	d.Set("elapsed", st.Elapsed)
	for _, n := range []struct {
		key string
		m   nn.Module
	}{{"netG", t.p.G}, {"netD", t.p.D}} {
		sd, err := stateDictPTH(n.m)
		if err != nil {
			return fmt.Errorf("checkpoint %s: %w", n.key, err)
		}
		d.Set(n.key, sd)
	}
	for _, o := range []struct {
		key string
		a   *torch.Adam
	}{{"optimizer_G", t.optG}, {"optimizer_D", t.optD}} {
		od, err := adamPTH(o.a)
		if err != nil {
			return fmt.Errorf("checkpoint %s: %w", o.key, err)
		}
		d.Set(o.key, od)
	}
	rng, err := nn.ToPTH(torch.RNGState())
	if err != nil {
		return fmt.Errorf("checkpoint rng state: %w", err)
	}
	d.Set("rng_state", rng)
	if err := pth.Save(filepath.Join(t.cfg.Dir, CheckpointFile), d); err != nil {
		return err
	}
	if err := nn.SaveFile(t.p.G, filepath.Join(t.cfg.Dir, GeneratorFile)); err != nil {
		return err
	}
	return nn.SaveFile(t.p.D, filepath.Join(t.cfg.Dir, DiscrimFile))
}

func stateDictPTH(m nn.Module) (*pth.Dict, error) {
	d := pth.NewDict()
	for _, e := range nn.StateDict(m) {
		pt, err := nn.ToPTH(e.Tensor)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", e.Name, err)
		}
		d.Set(e.Name, pt)
	}
	return d, nil
}

// adamPTH stores an optimizer's state as lists in parameter order.
func adamPTH(a *torch.Adam) (*pth.Dict, error) {
	d := pth.NewDict()
	d.Set("step", a.StepCount)
	for _, l := range []struct {
		key string
		ts  []*torch.Tensor
	}{{"exp_avg", a.ExpAvg}, {"exp_avg_sq", a.ExpAvgSq}} {
		list := make([]any, len(l.ts))
		for i, t := range l.ts {
			pt, err := nn.ToPTH(t)
			if err != nil {
				return nil, err
			}
			list[i] = pt
		}
		d.Set(l.key, list)
	}
	return d, nil
}

// load restores everything save wrote, after checking that the checkpoint
// was made with the same model, sizes, seed and data (the data order of a
// resumed epoch depends on them).
func (t *trainer) load(path string) error {
	defer torch.NewScope().Close()
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("nothing to resume: %s does not exist (run without --continue to start)", path)
	}
	v, err := pth.Load(path)
	if err != nil {
		return err
	}
	c := ckpt{path: path}
	if c.d, _ = v.(*pth.Dict); c.d == nil {
		return fmt.Errorf("%s is not a cyclepix gan checkpoint", path)
	}
	if f := c.str("format"); c.err == nil && f != checkpointFormat {
		return fmt.Errorf("%s has format %q; this cyclepix reads %q", path, f, checkpointFormat)
	}
	if m := c.str("model"); c.err == nil && m != t.cfg.Model {
		return fmt.Errorf("%s holds a %s model, not %s (set --model %s or another --out)", path, m, t.cfg.Model, m)
	}
	for _, chk := range []struct {
		key, flag string
		want      int64
	}{
		{"latent_dim", "--latent_dim", int64(t.cfg.LatentDim)},
		{"batch_size", "--batch_size", int64(t.cfg.BatchSize)},
		{"seed", "--seed", int64(t.cfg.Seed)},
		{"train_size", "the training set size", int64(t.cfg.Train.Len())},
	} {
		if got := c.int(chk.key); c.err == nil && got != chk.want {
			return fmt.Errorf("%s was trained with %s %d, not %d: resuming needs the same value", path, chk.flag, got, chk.want)
		}
	}
	st := runState{Epoch: int(c.int("epoch")), Iter: int(c.int("iter")), Step: int(c.int("step")),
		SumD: c.float("sum_D"), SumG: c.float("sum_G"), Elapsed: c.float("elapsed")}
	if c.err != nil {
		return c.err
	}
	if st.Epoch < 1 || st.Iter < 0 || st.Iter >= t.batches() || st.Step < 0 {
		return fmt.Errorf("%s: epoch %d, step %d out of range", path, st.Epoch, st.Iter)
	}
	if err := c.net("netG", t.p.G); err != nil {
		return err
	}
	if err := c.net("netD", t.p.D); err != nil {
		return err
	}
	if err := c.adam("optimizer_G", t.optG); err != nil {
		return err
	}
	if err := c.adam("optimizer_D", t.optD); err != nil {
		return err
	}
	rng, err := c.tensor(c.d, "rng_state")
	if err != nil {
		return err
	}
	if err := torch.Try(func() { torch.SetRNGState(rng) }); err != nil {
		return fmt.Errorf("%s: rng_state: %w", path, err)
	}
	t.st = st
	return nil
}

// ckpt reads typed values from a loaded checkpoint, remembering the first
// error so that a run of reads is checked once.
type ckpt struct {
	path string
	d    *pth.Dict
	err  error
}

func (c *ckpt) get(key string) any {
	if c.err != nil {
		return nil
	}
	v, ok := c.d.Get(key)
	if !ok {
		c.err = fmt.Errorf("%s has no %q", c.path, key)
	}
	return v
}

func (c *ckpt) str(key string) string {
	v := c.get(key)
	s, ok := v.(string)
	if !ok && c.err == nil {
		c.err = fmt.Errorf("%s: %q is not a string", c.path, key)
	}
	return s
}

func (c *ckpt) int(key string) int64 {
	v := c.get(key)
	n, ok := v.(int64)
	if !ok && c.err == nil {
		c.err = fmt.Errorf("%s: %q is not an integer", c.path, key)
	}
	return n
}

func (c *ckpt) float(key string) float64 {
	switch v := c.get(key).(type) {
	case float64:
		return v
	case int64:
		return float64(v)
	}
	if c.err == nil {
		c.err = fmt.Errorf("%s: %q is not a number", c.path, key)
	}
	return 0
}

func (c *ckpt) tensor(d *pth.Dict, key string) (*torch.Tensor, error) {
	pt, ok := d.Tensor(key)
	if !ok {
		return nil, fmt.Errorf("%s: %q is missing or not a tensor", c.path, key)
	}
	t, err := nn.FromPTH(pt)
	if err != nil {
		return nil, fmt.Errorf("%s: %q: %w", c.path, key, err)
	}
	return t, nil
}

func (c *ckpt) dict(key string) (*pth.Dict, error) {
	v, _ := c.d.Get(key)
	d, ok := v.(*pth.Dict)
	if !ok {
		return nil, fmt.Errorf("%s: %q is missing or not a dict", c.path, key)
	}
	return d, nil
}

func (c *ckpt) net(key string, m nn.Module) error {
	d, err := c.dict(key)
	if err != nil {
		return err
	}
	sd := make(map[string]*torch.Tensor, d.Len())
	for _, k := range d.Keys {
		if sd[k], err = c.tensor(d, k); err != nil {
			return err
		}
	}
	if err := nn.LoadStateDict(m, sd); err != nil {
		return fmt.Errorf("%s: %s: %w", c.path, key, err)
	}
	return nil
}

func (c *ckpt) adam(key string, a *torch.Adam) error {
	d, err := c.dict(key)
	if err != nil {
		return err
	}
	step, ok := func() (int64, bool) { v, _ := d.Get("step"); n, ok := v.(int64); return n, ok }()
	if !ok {
		return fmt.Errorf("%s: %s has no integer step", c.path, key)
	}
	var moments [2][]*torch.Tensor
	for i, k := range []string{"exp_avg", "exp_avg_sq"} {
		v, _ := d.Get(k)
		list, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: %s.%s is missing or not a list", c.path, key, k)
		}
		for j, e := range list {
			pt, ok := e.(*pth.Tensor)
			if !ok {
				return fmt.Errorf("%s: %s.%s[%d] is not a tensor", c.path, key, k, j)
			}
			t, err := nn.FromPTH(pt)
			if err != nil {
				return fmt.Errorf("%s: %s.%s[%d]: %w", c.path, key, k, j, err)
			}
			moments[i] = append(moments[i], t)
		}
	}
	if err := a.LoadState(step, moments[0], moments[1]); err != nil {
		return fmt.Errorf("%s: %s: %w", c.path, key, err)
	}
	return nil
}
