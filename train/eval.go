package train

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"cyclepix/data"
	"cyclepix/metrics"
	"cyclepix/models"
	"cyclepix/options"
	"cyclepix/torch"
)

// MetricsObserver is implemented by observers that also want the held-out
// metrics of --eval_freq.
type MetricsObserver interface {
	Metrics(epoch int, values map[string]float64)
}

// evaluator runs --eval_freq evaluations of one run.
type evaluator struct {
	r      *run
	pair   models.EvalPair
	loader *data.Loader
	ev     *metrics.Evaluator
	log    string
	metric string      // BestMetric
	best   *BestRecord // the best so far; nil before the first evaluation
	// science is how the real visual's domain maps back to the data's
	// scale when it is not the reference's 8-bit images: paired metrics
	// are then computed there (ScienceScores), with each channel's
	// declared HI − LO as its data range.
	science *data.Output
}

func newEvaluator(r *run) (*evaluator, error) {
	o := r.o
	def, err := models.Lookup(o.String("model"))
	if err != nil {
		return nil, err
	}
	if def.Eval == nil {
		return nil, fmt.Errorf("--eval_freq: no held-out metric is defined for --model %s", o.String("model"))
	}
	if !def.Eval.Paired && o.String("inception") == "" {
		return nil, fmt.Errorf("--eval_freq with --model %s needs --inception (FID/KID: its images are not paired)", o.String("model"))
	}
	dopt, err := models.DataOptions(o)
	if err != nil {
		return nil, err
	}
	dopt.Phase = o.String("eval_phase")
	dopt.SerialBatches, dopt.NoFlip = true, true
	dopt.LoadSize = dopt.CropSize
	dopt.MaxDatasetSize = min(dopt.MaxDatasetSize, o.Int("eval_num"))
	loader, err := data.Create(dopt, 0)
	if err != nil {
		return nil, fmt.Errorf("--eval_freq: %w", err)
	}
	ev, err := metrics.NewEvaluator(metrics.EvaluatorOptions{InceptionPath: o.String("inception"), Device: r.dev.String()})
	if err != nil {
		return nil, err
	}
	e := &evaluator{r: r, pair: *def.Eval, loader: loader, ev: ev, log: filepath.Join(r.dir, "metrics_log.txt"), metric: BestMetric(o)}
	if def.Eval.Paired {
		sides, err := models.VisualSides(o)
		if err != nil {
			return nil, err
		}
		if side := sides[def.Eval.Real]; side != "" {
			out, err := data.DomainOutput("range_"+side, o.String("range_"+side), o.String("format_"+side), "", sideNC(o, side))
			if err != nil {
				return nil, fmt.Errorf("--eval_freq: %w", err)
			}
			if !out.Reference {
				e.science = &out
			}
		}
	}
	return e, nil
}

// sideNC is the channel count of a dataset side's images.
func sideNC(o *options.Set, side string) int {
	in := side == "A"
	if o.String("direction") == "BtoA" {
		in = !in
	}
	if in {
		return o.Int("input_nc")
	}
	return o.Int("output_nc")
}

// scoreScience is the paired metrics on the data's scale: real and fake
// (C×H×W in [-1, 1]) mapped back through the domain's range and sample
// type, as test would write them, scored per channel. The values are
// named as the 8-bit metrics are, lower case: l1 is the mean absolute
// error on the data's scale, then mse, psnr, ssim and pearson, and per
// channel psnr[c0] and so on.
func (e *evaluator) scoreScience(reals, fakes [][]float32, c, h, w int) (map[string]float64, error) {
	out := e.science
	ranges := make([]float64, len(out.Scale.Lo))
	for k := range ranges {
		ranges[k] = out.Scale.Hi[k] - out.Scale.Lo[k]
	}
	var set metrics.ScienceSet
	for i := range reals {
		rr, err := out.Scale.FromSigned(reals[i], c, h, w, out.DType)
		if err != nil {
			return nil, err
		}
		fr, err := out.Scale.FromSigned(fakes[i], c, h, w, out.DType)
		if err != nil {
			return nil, err
		}
		if _, err := set.Add(rr.Data, fr.Data, c, h, w, ranges, nil); err != nil {
			return nil, err
		}
	}
	res, err := set.Result()
	if err != nil {
		return nil, err
	}
	vals := map[string]float64{}
	for _, v := range res.Values() {
		name := strings.ToLower(v.Name)
		if name == "mae" {
			name = "l1"
		}
		vals[name] = v.Value
	}
	return vals, nil
}

// run translates the held-out set with the networks in eval mode, scores it,
// logs the values and sets the model's plateau metric.
func (e *evaluator) run(epoch int) (map[string]float64, error) {
	m, b := e.r.m, e.r.b
	pair := e.pair
	b.SetTraining(false)
	defer b.SetTraining(true)
	var fakes, reals [][]float32
	var c, h, w int
	ep := e.loader.Epoch(context.Background(), 0)
	defer ep.Close()
	for {
		batch, err := ep.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		err = torch.TryErr(func() error {
			defer torch.NewScope().Close()
			if err := m.SetInput(BatchInput(batch, e.r.dev)); err != nil {
				return err
			}
			models.Test(m)
			models.ComputeVisuals(m)
			vis := map[string]*torch.Tensor{}
			for _, v := range b.Visuals() {
				vis[v.Name] = v.Tensor
			}
			fake, real := vis[pair.Fake], vis[pair.Real]
			if fake == nil || real == nil {
				return fmt.Errorf("--eval_freq: model has no %s/%s visuals", pair.Fake, pair.Real)
			}
			s := fake.Shape()
			c, h, w = int(s[1]), int(s[2]), int(s[3])
			for i := int64(0); i < s[0]; i++ {
				fakes = append(fakes, fake.Select(0, i).Float32s())
				reals = append(reals, real.Select(0, i).Float32s())
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	var vals map[string]float64
	if e.science != nil {
		var err error
		if vals, err = e.scoreScience(reals, fakes, c, h, w); err != nil {
			return nil, fmt.Errorf("--eval_freq: %w", err)
		}
	} else {
		rep, err := e.ev.EvaluateCHW(reals, fakes, c, h, w, pair.Paired)
		if err != nil {
			return nil, fmt.Errorf("--eval_freq: %w", err)
		}
		vals = rep.Values()
	}
	if h := e.r.cfg.evalHook; h != nil {
		h(epoch, vals)
	}
	if _, ok := vals[e.metric]; !ok {
		return nil, fmt.Errorf("--eval_freq: the evaluation gave no %s", e.metric)
	}
	line := formatMetrics(epoch, vals)
	fmt.Fprintln(e.r.cfg.Out, line)
	if err := appendLine(e.log, line); err != nil {
		return nil, err
	}
	// The plateau policy minimises.
	b.Metric = vals[e.metric]
	if !metrics.LowerIsBetter(e.metric) {
		b.Metric = -b.Metric
	}
	return vals, nil
}

// improved is the record epoch's values make when they beat the best so
// far, else nil.
func (e *evaluator) improved(epoch int, vals map[string]float64) *BestRecord {
	if !beats(e.metric, vals[e.metric], e.best) {
		return nil
	}
	return newBestRecord(e.r.o, epoch, e.r.pos.TotalIters, e.metric, vals)
}

func (e *evaluator) Close() { e.ev.Close() }

func formatMetrics(epoch int, vals map[string]float64) string {
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := []string{fmt.Sprintf("(epoch: %d) held-out", epoch)}
	for _, k := range keys {
		if !math.IsNaN(vals[k]) {
			parts = append(parts, fmt.Sprintf("%s: %.4f", k, vals[k]))
		}
	}
	return strings.Join(parts, ", ")
}

// appendLine appends one line to a log file and syncs it.
func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(line + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
