package dashboard

import (
	"bufio"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"cyclepix/metrics"
	"cyclepix/train"
	"cyclepix/viz"
)

var (
	_ train.MetricsObserver = (*Server)(nil)
	_ train.BestObserver    = (*Server)(nil)
)

// Metrics implements train.MetricsObserver: the held-out metrics of
// --eval_freq, drawn one point an evaluated epoch.
func (s *Server) Metrics(epoch int, values map[string]float64) {
	s.st.addMetrics(epoch, sortedValues(values))
}

// Best implements train.BestObserver: the page marks the new best epoch.
func (s *Server) Best(rec train.BestRecord) { s.st.setBest(bestMark(&rec)) }

func bestMark(rec *train.BestRecord) *BestMark {
	if rec == nil {
		return nil
	}
	return &BestMark{Epoch: rec.Epoch, Metric: rec.Metric, Value: Num(rec.Value)}
}

// loadBest shows the run's best.json (none when it has none or it cannot
// be read: the record is train's to check).
func (s *Server) loadBest() {
	rec, err := train.ReadBestRecord(s.dir)
	if err != nil {
		s.log.Debug("dashboard: best record", "err", err)
	}
	s.st.setBest(bestMark(rec))
}

// pollBest reloads best.json when it changed.
func (s *Server) pollBest(f *follower) {
	sg, _ := sig(train.BestRecordPath(s.dir))
	if sg == f.bestSig {
		return
	}
	f.bestSig = sg
	s.loadBest()
}

// sortedValues lists values by name, as metrics_log.txt does, leaving out
// NaN (a metric that could not be computed).
func sortedValues(values map[string]float64) []viz.Loss {
	vs := make([]viz.Loss, 0, len(values))
	for k, v := range values {
		if !math.IsNaN(v) {
			vs = append(vs, viz.Loss{Name: k, Value: v})
		}
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].Name < vs[j].Name })
	return vs
}

// better is "lower" or "higher": which way a metric improves.
func better(name string) string {
	if metrics.LowerIsBetter(name) {
		return "lower"
	}
	return "higher"
}

// metricsPoint is one line of metrics_log.txt.
type metricsPoint struct {
	epoch  int
	values []viz.Loss
}

// metricsLineRE matches train's "(epoch: 3) held-out, l1: 0.1234, ..."
var metricsLineRE = regexp.MustCompile(`^\(epoch: (\d+)\) held-out(.*)$`)

// readMetricsLog parses a metrics_log.txt.
func readMetricsLog(path string) ([]metricsPoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var pts []metricsPoint
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := metricsLineRE.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		p := metricsPoint{}
		p.epoch, _ = strconv.Atoi(m[1])
		for _, kv := range strings.Split(m[2], ",") {
			k, v, ok := strings.Cut(kv, ":")
			if !ok {
				continue
			}
			x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				continue
			}
			p.values = append(p.values, viz.Loss{Name: strings.TrimSpace(k), Value: x})
		}
		pts = append(pts, p)
	}
	return pts, sc.Err()
}

// pollMetrics reloads metrics_log.txt when it changed: it has a line per
// evaluated epoch, small enough to read whole.
func (s *Server) pollMetrics(f *follower) {
	p := filepath.Join(s.dir, "metrics_log.txt")
	sg, fi := sig(p)
	if sg == f.metSig {
		return
	}
	f.metSig = sg
	pts, err := readMetricsLog(p)
	if err != nil {
		return
	}
	if !endsWithNewline(p, fi) && len(pts) > 0 {
		pts = pts[:len(pts)-1]
		f.metSig = ""
	}
	s.st.loadMetrics(pts)
}
