package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"cyclepix/data"
	"cyclepix/models"
	"cyclepix/nn"
	"cyclepix/options"
	"cyclepix/torch"
	"cyclepix/viz"
)

// Observer receives training events (the live dashboard is one).
type Observer interface {
	// Losses is called every --print_freq images.
	Losses(ev LossEvent)
	// Visuals is called every --display_freq images with the PNG files of
	// the current visuals (already written).
	Visuals(epoch, totalIters int, files []NamedFile)
	// EpochEnd is called after the learning-rate update of each epoch.
	EpochEnd(epoch int, lr float64, seconds float64)
}

// LossEvent is one print_freq report.
type LossEvent struct {
	Epoch, EpochIter, TotalIters int
	ItersPerEpoch                int
	Losses                       []viz.Loss
	LR                           float64
	ImagesPerSec                 float64
	ETA                          time.Duration // to the end of training
}

// NamedFile is a visual saved to disk; Note says which channels it shows
// when it is a preview of data with other channel counts (else empty).
type NamedFile struct{ Name, Path, Note string }

// Config is what the caller (the CLI) provides besides options.
type Config struct {
	Out       io.Writer       // console output
	Stop      <-chan struct{} // closed to stop (Ctrl-C): the run saves a resumable checkpoint and returns
	Observers []Observer
	// ResumeHint is the command line to print when stopped early.
	ResumeHint string
	// Dist places this process in a data-parallel run (DistFromEnv); nil
	// trains in this process alone.
	Dist *DistEnv

	// evalHook sees (and may change) each --eval_freq evaluation's values
	// before anything uses them: tests script which epochs improve.
	evalHook func(epoch int, vals map[string]float64)
}

// BestObserver is implemented by observers that also want to know when an
// evaluation became the best so far (after best_* were saved).
type BestObserver interface {
	Best(rec BestRecord)
}

// ErrStopped is returned after a requested stop saved its checkpoint.
var ErrStopped = errors.New("training stopped")

// Train is train.py: it returns nil when all epochs are done, ErrStopped
// after a stop request (with `latest` saved), or the first error.
func Train(o *options.Set, cfg Config) (err error) {
	dev, err := models.Device(o)
	if err != nil {
		return err
	}
	dp, err := joinDist(cfg.Dist, &dev)
	if err != nil {
		return err
	}
	defer func() { err = dp.close(err) }()
	if dp.rank() > 0 {
		// Only rank 0 talks to the user and writes the run's files.
		cfg.Out, cfg.Observers = io.Discard, nil
	} else {
		// Once per run, not once per rank: it may time a convolution.
		dt, _ := models.Precision(o)
		if advice := models.PrecisionAdvice(dev, dt); advice != "" {
			slog.Warn(advice)
		}
	}
	out := cfg.Out
	dopt, err := models.DataOptions(o)
	if err != nil {
		return err
	}
	if err := checkImageSize(o); err != nil {
		return err
	}
	for _, nc := range []int{o.Int("input_nc"), o.Int("output_nc")} {
		if _, err := data.PreviewChannels(o.String("preview_channels"), nc); err != nil {
			return fmt.Errorf("%w (the visuals have %d and %d channels)", err, o.Int("input_nc"), o.Int("output_nc"))
		}
	}
	seed, err := dp.agreeSeed(Seed(o))
	if err != nil {
		return err
	}
	torch.ManualSeed(seed)
	pcg := dp.pcgStream(seed)
	m, err := newModel(o, dev, rand.New(pcg))
	if err != nil {
		return err
	}
	b := m.Base()
	if err := b.SetupSchedulers(); err != nil {
		return err
	}
	dp.reseed(seed)
	dir := filepath.Join(o.String("checkpoints_dir"), o.String("name"))
	if o.Bool("continue_train") {
		// Checked before anything is written to the run's folder.
		if p := models.CheckpointPath(dir, models.LoadLabel(o), b.NetNames[0]); !exists(p) {
			return fmt.Errorf("--continue_train: no checkpoint %s (train without --continue_train first, or check --name, --checkpoints_dir and --epoch)", p)
		}
	}
	var best *BestRecord
	if o.Int("eval_freq") > 0 && dp.rank() == 0 {
		if best, err = priorBest(o, dir); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if dopt, err = surveySides(context.Background(), o, dopt, out); err != nil {
		return err
	}
	fmt.Fprint(out, o.Text())
	if dp.rank() == 0 {
		if err := o.Save(dir, "train"); err != nil {
			return err
		}
	}
	pos := position{Epoch: o.Int("epoch_count"), Seed: seed}
	if o.Bool("continue_train") {
		label := models.LoadLabel(o)
		if err := b.LoadNetworks(dir, label); err != nil {
			return err
		}
		if sp := StatePath(dir, label); exists(sp) {
			if pos, err = dp.loadState(dir, label, m, pcg, dev, o.Int("batch_size")); err != nil {
				return err
			}
			if o.Given("epoch_count") {
				pos.Epoch, pos.Batch = o.Int("epoch_count"), 0
			}
			fmt.Fprintf(out, "resuming from %s: epoch %d, batch %d, total iters %d\n", sp, pos.Epoch, pos.Batch, pos.TotalIters)
		} else {
			fmt.Fprintf(out, "no %s: loaded the weights only (optimizer and schedule start fresh, as the reference does)\n", sp)
		}
	}
	if err := dp.setup(b); err != nil {
		return err
	}
	for _, n := range b.NetNames {
		fmt.Fprintf(out, "[Network %s] Total number of parameters : %.3f M\n", n, float64(nn.NumParams(b.Nets[n]))/1e6)
	}
	loader, err := data.Create(dopt, pos.Seed)
	if err != nil {
		return err
	}
	if err := loader.Shard(dp.rank(), dp.world()); err != nil {
		return err
	}
	fmt.Fprintf(out, "The number of training images = %d\n", loader.Len())
	var log *viz.LossLog // rank 0's only
	if dp.rank() == 0 {
		if log, err = viz.OpenLossLog(filepath.Join(dir, "loss_log.txt")); err != nil {
			return err
		}
		defer log.Close()
	}

	r := &run{o: o, cfg: cfg, m: m, b: b, dir: dir, dev: dev, pcg: pcg, loader: loader, log: log, pos: pos, dp: dp}
	if o.Int("eval_freq") > 0 && dp.rank() == 0 {
		if r.eval, err = newEvaluator(r); err != nil {
			return err
		}
		defer r.eval.Close()
		r.eval.best = best
	}
	return r.loop()
}

type run struct {
	o      *options.Set
	cfg    Config
	m      models.Model
	b      *models.BaseModel
	dir    string
	dev    torch.Device
	pcg    *rand.PCG
	loader *data.Loader
	log    *viz.LossLog
	pos    position
	eval   *evaluator // nil without --eval_freq, and on ranks > 0
	dp     *distRun   // nil in a single-process run
	saved  bool       // HTML written this epoch
	start  time.Time
	done   int // images trained in this process, for the images/s rate
	// iters counts the iterations this process has run, firstDone is
	// when the first ended: the ETA leaves that one out, as it carries
	// the warm-up (oneDNN's kernel choice, first allocations).
	iters     int
	firstDone time.Time
	etaShown  bool // the early "eta" line is printed once
}

func (r *run) lastEpoch() int { return r.o.Int("n_epochs") + r.o.Int("n_epochs_decay") }

func (r *run) stopRequested() bool {
	select {
	case <-r.cfg.Stop:
		return true
	default:
		return false
	}
}

// save writes the networks and the state for label, the state saying where
// to continue.
func (r *run) save(label string, next position) error {
	if rank := r.dp.rank(); rank > 0 {
		// Weights, optimizer and position are rank 0's; a rank keeps
		// only its own pools and random streams.
		return saveRankState(RankStatePath(r.dir, label, rank), r.m, r.pcg)
	}
	if err := r.b.SaveNetworks(r.dir, label); err != nil {
		return err
	}
	return saveState(StatePath(r.dir, label), r.m, next, r.pcg, r.dp.world())
}

// saveBest saves the best checkpoint, best_* with the state to continue
// from next (what latest holds at this point), then its record; rec is nil
// on ranks > 0, which save only their part of the state.
func (r *run) saveBest(rec *BestRecord, next position) error {
	if err := r.save(BestLabel, next); err != nil {
		return err
	}
	if rec == nil {
		return nil
	}
	if err := writeBestRecord(r.dir, rec); err != nil {
		return err
	}
	r.eval.best = rec
	fmt.Fprintf(r.cfg.Out, "epoch %d: %s is the best so far; saved %s\n", rec.Epoch, rec.describe(), filepath.Join(r.dir, BestLabel+"_net_*.pth"))
	for _, ob := range r.cfg.Observers {
		if bo, ok := ob.(BestObserver); ok {
			bo.Best(*rec)
		}
	}
	return nil
}

func (r *run) loop() error {
	o, out := r.o, r.cfg.Out
	bs := o.Int("batch_size") * r.dp.world() // images per iteration, all ranks together
	nb := r.loader.NumBatches()
	r.start = time.Now()
	for epoch := r.pos.Epoch; epoch <= r.lastEpoch(); epoch++ {
		if ea, ok := r.m.(models.EpochAware); ok {
			ea.BeginEpoch(epoch)
		}
		epochStart := time.Now()
		skip := 0
		if epoch == r.pos.Epoch {
			skip = r.pos.Batch
		}
		epochIter := skip * bs
		r.saved = false
		bar := r.progress(epoch, nb, skip)
		ep := r.loader.EpochFrom(context.Background(), epoch, skip)
		iterDataTime := time.Now()
		for i := skip; ; i++ {
			batch, err := ep.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				ep.Close()
				return err
			}
			iterStart := time.Now()
			tData := iterStart.Sub(iterDataTime).Seconds()
			r.pos.TotalIters += bs
			epochIter += bs
			if err := r.step(batch, epoch, epochIter, tData, iterStart, nb, bar); err != nil {
				ep.Close()
				return err
			}
			r.done += batch.Size * r.dp.world()
			if r.pos.TotalIters%o.Int("save_latest_freq") == 0 {
				label := "latest"
				if o.Bool("save_by_iter") {
					label = fmt.Sprintf("iter_%d", r.pos.TotalIters)
				}
				r.println(bar, fmt.Sprintf("saving the latest model (epoch %d, total_iters %d)", epoch, r.pos.TotalIters))
				if err := r.save(label, position{epoch, i + 1, r.pos.TotalIters, r.pos.Seed}); err != nil {
					ep.Close()
					return err
				}
			}
			if stop, err := r.dp.stop(r.stopRequested()); err != nil || stop {
				ep.Close()
				if err != nil {
					return err
				}
				return r.stop(bar, position{epoch, i + 1, r.pos.TotalIters, r.pos.Seed})
			}
			iterDataTime = time.Now()
		}
		ep.Close()
		if bar != nil {
			bar.Finish()
			fmt.Fprintln(out)
		}
		var rec *BestRecord // rank 0's, when this epoch's evaluation is the best so far
		improved := false
		if r.eval != nil && epoch%o.Int("eval_freq") == 0 {
			vals, err := r.eval.run(epoch)
			if err != nil {
				return err
			}
			for _, ob := range r.cfg.Observers {
				if mo, ok := ob.(MetricsObserver); ok {
					mo.Metrics(epoch, vals)
				}
			}
			rec = r.eval.improved(epoch, vals)
			improved = rec != nil
		}
		if o.Int("eval_freq") > 0 && epoch%o.Int("eval_freq") == 0 {
			var err error
			if improved, err = r.dp.shareMetric(r.b, improved); err != nil {
				return err
			}
		}
		old, lr := r.b.UpdateLearningRate()
		fmt.Fprintf(out, "learning rate %.7f -> %.7f\n", old, lr)
		next := position{epoch + 1, 0, r.pos.TotalIters, r.pos.Seed}
		if improved {
			// Before latest, and best.json after best_*: a run that dies
			// in between resumes from an earlier latest and evaluates this
			// epoch again, saving best_* again unless best.json already
			// names this epoch, which it does only once they are complete.
			// Saving latest first could leave half-saved best_* behind a
			// latest that has moved past this epoch.
			if err := r.saveBest(rec, next); err != nil {
				return err
			}
		}
		if epoch%o.Int("save_epoch_freq") == 0 {
			fmt.Fprintf(out, "saving the model at the end of epoch %d, iters %d\n", epoch, r.pos.TotalIters)
			if err := r.save("latest", next); err != nil {
				return err
			}
			if err := r.save(fmt.Sprint(epoch), next); err != nil {
				return err
			}
		} else if epoch == r.lastEpoch() {
			// The reference ends without saving the last epochs when their
			// number is not a multiple of --save_epoch_freq.
			fmt.Fprintf(out, "saving the final model (epoch %d, iters %d)\n", epoch, r.pos.TotalIters)
			if err := r.save("latest", next); err != nil {
				return err
			}
		}
		secs := time.Since(epochStart).Seconds()
		eta := ""
		if d, ok := r.eta((r.lastEpoch() - epoch) * nb); ok && epoch < r.lastEpoch() {
			eta = " \t eta " + FormatETA(d)
		}
		fmt.Fprintf(out, "End of epoch %d / %d \t Time Taken: %.0f sec%s\n", epoch, r.lastEpoch(), secs, eta)
		for _, ob := range r.cfg.Observers {
			ob.EpochEnd(epoch, lr, secs)
		}
		if stop, err := r.dp.stop(r.stopRequested()); err != nil {
			return err
		} else if stop {
			return r.stop(nil, next)
		}
	}
	return nil
}

// stop saves `latest` with the position to continue from.
func (r *run) stop(bar *progressbar.ProgressBar, next position) error {
	if bar != nil {
		bar.Exit()
		fmt.Fprintln(r.cfg.Out)
	}
	if err := r.save("latest", next); err != nil {
		return err
	}
	fmt.Fprintf(r.cfg.Out, "stopped at epoch %d, total iters %d; saved %s/latest_*.pth\n", next.Epoch, next.TotalIters, r.dir)
	if r.cfg.ResumeHint != "" {
		fmt.Fprintf(r.cfg.Out, "resume with: %s\n", r.cfg.ResumeHint)
	}
	return ErrStopped
}

// step trains on one batch and does the display/print work of that
// iteration, inside a scope that frees every temporary tensor.
func (r *run) step(batch *data.Batch, epoch, epochIter int, tData float64, iterStart time.Time, nb int, bar *progressbar.ProgressBar) error {
	defer torch.NewScope().Close()
	o := r.o
	err := torch.TryErr(func() error {
		if err := r.m.SetInput(BatchInput(batch, r.dev)); err != nil {
			return err
		}
		if dt, _ := models.Precision(o); dt != torch.Float32 {
			torch.Autocast(dt, r.m.OptimizeParameters)
		} else {
			r.m.OptimizeParameters()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("epoch %d, iters %d: %w", epoch, epochIter, err)
	}
	r.iters++
	if r.iters == 1 {
		r.firstDone = time.Now()
	}
	// Iterations left to this process: the rest of this epoch's batches
	// (epochIter counts images of all ranks) and every later epoch's.
	left := nb - epochIter/(o.Int("batch_size")*r.dp.world()) + (r.lastEpoch()-epoch)*nb
	if d, ok := r.eta(left); ok && !r.etaShown && left > 0 && (r.iters >= 5 || time.Since(r.start) >= 10*time.Second) {
		r.etaShown = true
		r.println(bar, fmt.Sprintf("eta %s: %d iterations left at %.3g s each", FormatETA(d), left, d.Seconds()/float64(left)))
	}
	total := r.pos.TotalIters
	if total%o.Int("display_freq") == 0 && r.dp.rank() == 0 {
		if err := r.display(epoch, total%o.Int("update_html_freq") == 0); err != nil {
			return err
		}
	}
	losses := r.losses()
	if bar != nil {
		bar.Describe(fmt.Sprintf("epoch %d %s", epoch, shortLosses(losses)))
		bar.Add(1)
	}
	if total%o.Int("print_freq") == 0 {
		if losses, err = r.dp.meanLosses(losses); err != nil {
			return err
		}
		tComp := time.Since(iterStart).Seconds() / float64(o.Int("batch_size"))
		line := viz.FormatLosses(epoch, epochIter, tComp, tData, losses)
		r.println(bar, line)
		if r.log != nil {
			if err := r.log.Append(line); err != nil {
				return err
			}
		}
		ev := LossEvent{Epoch: epoch, EpochIter: epochIter, TotalIters: total, ItersPerEpoch: r.loader.Len(),
			Losses: losses, ImagesPerSec: r.rate()}
		if len(r.b.Optimizers) > 0 {
			ev.LR = r.b.Optimizers[0].LR
		}
		remaining := (r.lastEpoch()-epoch+1)*r.loader.Len() - epochIter
		if d, ok := r.eta(left); ok {
			ev.ETA = d // what the console says
		} else if ev.ImagesPerSec > 0 {
			ev.ETA = time.Duration(float64(remaining) / ev.ImagesPerSec * float64(time.Second))
		}
		for _, ob := range r.cfg.Observers {
			ob.Losses(ev)
		}
	}
	return nil
}

// eta estimates the time that iterations more will take from the mean
// wall time per iteration since the first ended (so that data loading,
// display, checkpoints and evaluation count as they occur); ok is false
// until a second iteration has been timed.
func (r *run) eta(iterations int) (d time.Duration, ok bool) {
	if r.iters < 2 {
		return 0, false
	}
	per := time.Since(r.firstDone) / time.Duration(r.iters-1)
	return per * time.Duration(max(iterations, 0)), true
}

// FormatETA writes a remaining time as the console shows it: "45s",
// "12m30s", "3h05m" (seconds do not matter at that scale).
func FormatETA(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02dm", s/3600, s/60%60)
}

func (r *run) rate() float64 {
	s := time.Since(r.start).Seconds()
	if s <= 0 {
		return 0
	}
	return float64(r.done+r.o.Int("batch_size")) / s
}

func (r *run) losses() []viz.Loss {
	var ls []viz.Loss
	for _, l := range r.b.Losses() {
		ls = append(ls, viz.Loss{Name: l.Name, Value: l.Value})
	}
	return ls
}

func shortLosses(ls []viz.Loss) string {
	var parts []string
	for _, l := range ls {
		parts = append(parts, fmt.Sprintf("%s %.3f", l.Name, l.Value))
	}
	return strings.Join(parts, " ")
}

// display saves the visuals and rewrites web/index.html (the reference's
// display_current_results), once per epoch or every update_html_freq.
func (r *run) display(epoch int, saveResult bool) error {
	web := filepath.Join(r.dir, "web")
	models.ComputeVisuals(r.m)
	var files []NamedFile
	if !r.o.Bool("no_html") && (saveResult || !r.saved) {
		r.saved = true
		if err := os.MkdirAll(filepath.Join(web, "images"), 0o755); err != nil {
			return err
		}
		for _, v := range r.b.Visuals() {
			p := filepath.Join(web, "images", fmt.Sprintf("epoch%03d_%s.png", epoch, v.Name))
			note, err := saveVisual(p, v.Tensor, 0, r.o.String("preview_channels"))
			if err != nil {
				return err
			}
			files = append(files, NamedFile{v.Name, p, note})
		}
		if err := r.writeIndex(web, epoch); err != nil {
			return err
		}
	}
	if len(r.cfg.Observers) > 0 {
		if files == nil {
			// No HTML this time: still give observers fresh images.
			dir := filepath.Join(r.dir, "live")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			for _, v := range r.b.Visuals() {
				p := filepath.Join(dir, v.Name+".png")
				note, err := saveVisual(p, v.Tensor, 0, r.o.String("preview_channels"))
				if err != nil {
					return err
				}
				files = append(files, NamedFile{v.Name, p, note})
			}
		}
		for _, ob := range r.cfg.Observers {
			ob.Visuals(epoch, r.pos.TotalIters, files)
		}
	}
	return nil
}

// writeIndex lists every epoch's images, newest first, under a plot of the
// loss log.
func (r *run) writeIndex(web string, epoch int) error {
	page, err := viz.NewPage(web, "Experiment name = "+r.o.String("name"), 0)
	if err != nil {
		return err
	}
	if pts, err := viz.ReadLossLog(filepath.Join(r.dir, "loss_log.txt")); err == nil && len(pts) > 0 {
		page.Header("losses")
		page.Raw(viz.LossPlotSVG(pts, r.loader.Len()))
	}
	names := r.b.VisualNames
	// Previews of data with other channel counts say which channels they
	// show (the counts are the same every epoch).
	notes := map[string]string{}
	for _, v := range r.b.Visuals() {
		c := int(v.Tensor.Size(1))
		if ch, err := data.PreviewChannels(r.o.String("preview_channels"), c); err == nil {
			notes[v.Name] = data.PreviewLabel(ch, c)
		}
	}
	for n := epoch; n >= 1; n-- {
		var files, caps []string
		for _, v := range names {
			f := fmt.Sprintf("epoch%03d_%s.png", n, v)
			if exists(filepath.Join(web, "images", f)) {
				files = append(files, f)
				if notes[v] != "" {
					caps = append(caps, v+" ("+notes[v]+")")
				} else {
					caps = append(caps, v)
				}
			}
		}
		if len(files) == 0 {
			continue
		}
		page.Header(fmt.Sprintf("epoch [%d]", n))
		page.Images(files, caps, r.o.Int("display_winsize"))
	}
	return page.Save()
}

// progress makes the epoch's bar on a terminal (nil otherwise: plain log
// lines are printed instead).
func (r *run) progress(epoch, nb, skip int) *progressbar.ProgressBar {
	f, ok := r.cfg.Out.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	bar := progressbar.NewOptions(nb,
		progressbar.OptionSetWriter(f),
		progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", epoch, r.lastEpoch())),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("batch"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionFullWidth(),
		progressbar.OptionThrottle(200*time.Millisecond),
	)
	if skip > 0 {
		bar.Set(skip)
	}
	return bar
}

// println prints a line above the bar.
func (r *run) println(bar *progressbar.ProgressBar, s string) {
	if bar != nil {
		bar.Clear()
	}
	fmt.Fprintln(r.cfg.Out, s)
	if bar != nil {
		bar.RenderBlank()
	}
}
