package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"cyclepix/atomicfile"
	"cyclepix/metrics"
	"cyclepix/options"
)

// BestLabel is the checkpoint label of the best evaluated epoch:
// best_net_<name>.pth and best_state.pth, loaded with --epoch best as the
// reference's convention for that name goes.
const BestLabel = "best"

// bestFormat names the layout of best.json.
const bestFormat = "cyclepix-best-1"

// BestRecord is best.json: which epoch the best_* checkpoint holds and the
// held-out score that made it the best.
type BestRecord struct {
	Format string `json:"format"`
	// Epoch is the evaluated epoch; best_state.pth continues after it.
	Epoch      int `json:"epoch"`
	TotalIters int `json:"total_iters"`
	// Metric is the score compared between evaluations (BestMetric) and
	// Value its value; Better is "lower" or "higher".
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
	Better string  `json:"better"`
	// EvalPhase and EvalNum are the held-out set it was scored on; values
	// from another set do not compare.
	EvalPhase string `json:"eval_phase"`
	EvalNum   int    `json:"eval_num"`
	// Values are every metric of that evaluation (finite ones only: JSON
	// has no NaN).
	Values map[string]float64 `json:"values"`
}

// BestRecordPath is <dir>/best.json.
func BestRecordPath(dir string) string { return filepath.Join(dir, "best.json") }

// BestMetric is the held-out score that decides the best epoch: FID when
// it is computed (unpaired models, or any model given --inception), which
// measures what a GAN is for, else the paired L1 distance, the quantity
// pix2pix's generator minimises. The plateau LR policy is fed the same
// score.
func BestMetric(o *options.Set) string {
	if o.String("inception") != "" {
		return "fid"
	}
	return "l1"
}

// betterWord is "lower" or "higher": the way metric improves.
func betterWord(metric string) string {
	if metrics.LowerIsBetter(metric) {
		return "lower"
	}
	return "higher"
}

// beats reports whether v is strictly better than the recorded best (any
// finite value beats no record). A tie keeps the earlier epoch: it got
// there with less training.
func beats(metric string, v float64, rec *BestRecord) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return false
	}
	if rec == nil {
		return true
	}
	if metrics.LowerIsBetter(metric) {
		return v < rec.Value
	}
	return v > rec.Value
}

// newBestRecord is the record of an evaluation that became the best.
func newBestRecord(o *options.Set, epoch, totalIters int, metric string, vals map[string]float64) *BestRecord {
	rec := &BestRecord{Format: bestFormat, Epoch: epoch, TotalIters: totalIters, Metric: metric, Value: vals[metric],
		Better: betterWord(metric), EvalPhase: o.String("eval_phase"), EvalNum: o.Int("eval_num"), Values: map[string]float64{}}
	for k, v := range vals {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			rec.Values[k] = v
		}
	}
	return rec
}

// describe is the record for people: "FID 61.3".
func (r *BestRecord) describe() string {
	return strings.ToUpper(r.Metric) + " " + strconv.FormatFloat(r.Value, 'g', 4, 64)
}

// ReadBestRecord reads <dir>/best.json; a run without one gives nil and no
// error.
func ReadBestRecord(dir string) (*BestRecord, error) {
	p := BestRecordPath(dir)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rec BestRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("%s: %v (move it away to start a new best)", p, err)
	}
	if rec.Format != bestFormat {
		return nil, fmt.Errorf("%s: format %q, want %q (move it away to start a new best)", p, rec.Format, bestFormat)
	}
	return &rec, nil
}

// writeBestRecord writes best.json atomically.
func writeBestRecord(dir string, rec *BestRecord) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", BestRecordPath(dir), err)
	}
	return atomicfile.WriteFile(BestRecordPath(dir), append(b, '\n'))
}

// priorBest is the best so far that a run with --eval_freq starts from:
// with --continue_train the run folder's record, so that a resumed run
// never replaces the best with a worse epoch; a new run starts without one
// (its first evaluation replaces an earlier run's best, as its checkpoints
// replace latest).
func priorBest(o *options.Set, dir string) (*BestRecord, error) {
	rec, err := ReadBestRecord(dir)
	if err != nil {
		return nil, fmt.Errorf("--eval_freq: %w", err)
	}
	if rec == nil {
		return nil, nil
	}
	if !o.Bool("continue_train") {
		slog.Warn("a new run replaces the earlier run's best checkpoint at its first evaluation (--continue_train keeps it)",
			"record", BestRecordPath(dir), "epoch", rec.Epoch, rec.Metric, rec.Value)
		return nil, nil
	}
	metric := BestMetric(o)
	if rec.Metric != metric || rec.EvalPhase != o.String("eval_phase") || rec.EvalNum != o.Int("eval_num") {
		return nil, fmt.Errorf("--continue_train: %s records the best %s on --eval_phase %s --eval_num %d; this run scores %s on --eval_phase %s --eval_num %d, which does not compare (give the same --inception, --eval_phase and --eval_num, or move best.json and best_* away to start a new best)",
			BestRecordPath(dir), rec.Metric, rec.EvalPhase, rec.EvalNum, metric, o.String("eval_phase"), o.Int("eval_num"))
	}
	return rec, nil
}
