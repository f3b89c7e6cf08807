package dashboard

import (
	"sync"
	"time"

	"cyclepix/viz"
)

// Progress is where training is, as the page shows it. Zero values mean
// unknown.
type Progress struct {
	Epoch         int  `json:"epoch"`
	Epochs        int  `json:"epochs"` // n_epochs + n_epochs_decay
	EpochIter     int  `json:"epochIter"`
	ItersPerEpoch int  `json:"itersPerEpoch"`
	TotalIters    int  `json:"totalIters"`
	LR            *Num `json:"lr"` // null: unknown
	ImagesPerSec  Num  `json:"imagesPerSec"`
	ETASeconds    Num  `json:"etaSeconds"`
	// EpochSeconds is how long the last finished epoch took.
	EpochSeconds Num `json:"epochSeconds"`
	// Updated is when the last report came (Unix milliseconds).
	Updated int64 `json:"updated"`
}

// Visual is one image of the model's current visuals.
type Visual struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// Note says which channels a preview of data with other channel
	// counts shows ("channels 0,1,2 of 5 as RGB"); empty for grey and RGB.
	Note string `json:"note,omitempty"`
}

// EpochVisuals are the visuals saved for one epoch under web/images.
type EpochVisuals struct {
	Epoch   int      `json:"epoch"`
	Visuals []Visual `json:"visuals"`
}

// Snapshot is the whole state: the page's first message and what it gets
// again whenever increments cannot bring it up to date.
type Snapshot struct {
	Seq      uint64   `json:"seq"`
	Name     string   `json:"name"`
	Mode     string   `json:"mode"`   // "live" (inside train) or "files"
	Status   string   `json:"status"` // see the Status constants
	Progress Progress `json:"progress"`
	Curves   []Curve  `json:"curves"`
	// Metrics are the held-out metrics of --eval_freq, one point an
	// evaluated epoch.
	Metrics []Curve `json:"metrics"`
	// Best is the evaluation best_net_*.pth hold; null: none yet.
	Best *BestMark `json:"best"`
	// Visuals are the newest images; VisualsEpoch and VisualsIters say
	// when they were made.
	Visuals      []Visual       `json:"visuals"`
	VisualsEpoch int            `json:"visualsEpoch"`
	VisualsIters int            `json:"visualsIters"`
	Gallery      []EpochVisuals `json:"gallery"` // newest epoch first
	Options      string         `json:"options"` // train_opt.txt
	MaxPoints    int            `json:"maxPoints"`
}

// Statuses of a run.
const (
	StatusWaiting  = "waiting"  // live, before the first report
	StatusTraining = "training" // live
	StatusStopping = "stopping" // live, Ctrl-C: saving a checkpoint
	StatusFinished = "finished" // live, all epochs done
	StatusFiles    = "files"    // shown from the run's files
	StatusClosed   = "closed"   // the server is shutting down
)

// event is one increment sent to the pages. Kind "reset" carries no data:
// it tells the stream to send a whole snapshot instead.
type event struct {
	seq  uint64
	kind string
	data any
}

// pointEvent is a "point" event: one loss report.
type pointEvent struct {
	X Num `json:"x"`
	// Losses keep the model's order (a JSON object's keys would be
	// sorted), which the page follows for its charts.
	Losses   []namedNum `json:"losses"`
	Progress Progress   `json:"progress"`
}

// metricsEvent is a "metrics" event: one epoch's held-out metrics.
type metricsEvent struct {
	Epoch  int        `json:"epoch"`
	Values []namedNum `json:"values"`
	// Better says for each metric whether "lower" or "higher" is better.
	Better map[string]string `json:"better"`
}

// BestMark is the best evaluated epoch of a run (train.BestRecord): the
// page marks it on its metric's chart. It is also the "best" event.
type BestMark struct {
	Epoch  int    `json:"epoch"`
	Metric string `json:"metric"`
	Value  Num    `json:"value"`
}

type namedNum struct {
	Name  string `json:"name"`
	Value Num    `json:"value"`
}

// visualsEvent is a "visuals" event.
type visualsEvent struct {
	Epoch   int      `json:"epoch"`
	Iters   int      `json:"iters"`
	Visuals []Visual `json:"visuals"`
}

// ringSize bounds the increments kept for streams that fell behind; a
// stream further behind gets a snapshot.
const ringSize = 256

// state is the dashboard's data. Writers (training observers, the file
// poller) hold mu only to copy small values in, so that training is never
// slowed by the pages; streams wait on changed, which is closed and
// replaced at each change (a broadcast).
type state struct {
	mu        sync.Mutex
	name      string
	mode      string
	status    string
	progress  Progress
	losses    curveSet // x: epochs
	metrics   curveSet // held-out metrics (--eval_freq); x: epoch
	best      *BestMark
	maxPoints int
	visuals   visualsEvent
	gallery   []EpochVisuals
	options   string
	seq       uint64
	ring      []event // the last ringSize events, oldest first
	changed   chan struct{}
}

func newState(name, mode, status string, maxPoints int) *state {
	if maxPoints <= 0 {
		maxPoints = DefaultMaxPoints
	}
	return &state{name: name, mode: mode, status: status, maxPoints: maxPoints,
		losses: newCurveSet(maxPoints), metrics: newCurveSet(maxPoints), changed: make(chan struct{})}
}

// curveSet is a group of curves drawn against the same x, in the order
// their names first came.
type curveSet struct {
	order []string
	m     map[string]*series
	max   int
}

func newCurveSet(max int) curveSet { return curveSet{m: map[string]*series{}, max: max} }

// add adds a point to each named curve and says whether it went back
// before the newest point, which drops the later points first (see
// series.truncate).
func (c *curveSet) add(x float64, vals []viz.Loss) (rewound bool) {
	for _, name := range c.order {
		if x < c.m[name].last() {
			rewound = true
			break
		}
	}
	if rewound {
		for _, name := range c.order {
			c.m[name].truncate(x)
		}
	}
	for _, v := range vals {
		sr, ok := c.m[v.Name]
		if !ok {
			sr = newSeries(v.Name, c.max)
			c.m[v.Name] = sr
			c.order = append(c.order, v.Name)
		}
		sr.add(x, v.Value)
	}
	return rewound
}

func (c *curveSet) curves() []Curve {
	out := make([]Curve, 0, len(c.order))
	for _, n := range c.order {
		out = append(out, c.m[n].curve())
	}
	return out
}

// metricCurves are the metric curves with which way each improves.
func (s *state) metricCurves() []Curve {
	cs := s.metrics.curves()
	for i := range cs {
		cs[i].Better = better(cs[i].Name)
	}
	return cs
}

// push records an event and wakes the streams; mu is held.
func (s *state) push(kind string, data any) {
	s.seq++
	if len(s.ring) == ringSize {
		copy(s.ring, s.ring[1:])
		s.ring = s.ring[:ringSize-1]
	}
	s.ring = append(s.ring, event{s.seq, kind, data})
	close(s.changed)
	s.changed = make(chan struct{})
}

// addPoint adds one loss report at x (epochs). A report before the newest
// one means the run went back (resumed from a checkpoint, or started
// afresh in the same folder): the later points are dropped and the pages
// get a snapshot.
func (s *state) addPoint(x float64, losses []viz.Loss, p Progress) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rewound := s.losses.add(x, losses)
	s.mergeProgress(p)
	if rewound {
		s.push("reset", nil)
		return
	}
	ev := pointEvent{X: Num(x), Losses: make([]namedNum, len(losses)), Progress: s.progress}
	for i, l := range losses {
		ev.Losses[i] = namedNum{l.Name, Num(l.Value)}
	}
	s.push("point", ev)
}

// mergeProgress takes p's known fields; mu is held.
func (s *state) mergeProgress(p Progress) {
	q := &s.progress
	q.Epoch, q.EpochIter = p.Epoch, p.EpochIter
	if p.Epochs > 0 {
		q.Epochs = p.Epochs
	}
	if p.ItersPerEpoch > 0 {
		q.ItersPerEpoch = p.ItersPerEpoch
	}
	if p.TotalIters > 0 {
		q.TotalIters = p.TotalIters
	}
	if p.LR != nil {
		q.LR = p.LR
	}
	q.ImagesPerSec, q.ETASeconds = p.ImagesPerSec, p.ETASeconds
	if p.Updated != 0 {
		q.Updated = p.Updated
	}
}

// load replaces the curves by pts (a loss log), with x from itersPerEpoch,
// and sends the pages a snapshot.
func (s *state) load(pts []viz.Point, itersPerEpoch int, p Progress) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.losses = newCurveSet(s.maxPoints)
	for _, pt := range pts {
		s.losses.add(epochX(pt.Epoch, pt.Iters, itersPerEpoch), pt.Losses)
	}
	s.mergeProgress(p)
	s.push("reset", nil)
}

// addMetrics adds the held-out metrics of an epoch, in name order.
func (s *state) addMetrics(epoch int, vals []viz.Loss) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.metrics.add(float64(epoch), vals) {
		s.push("reset", nil)
		return
	}
	ev := metricsEvent{Epoch: epoch, Values: make([]namedNum, len(vals)), Better: map[string]string{}}
	for i, v := range vals {
		ev.Values[i] = namedNum{v.Name, Num(v.Value)}
		ev.Better[v.Name] = better(v.Name)
	}
	s.push("metrics", ev)
}

// loadMetrics replaces the metric curves (from metrics_log.txt) and sends
// the pages a snapshot.
func (s *state) loadMetrics(pts []metricsPoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.metrics = newCurveSet(s.maxPoints)
	for _, p := range pts {
		s.metrics.add(float64(p.epoch), p.values)
	}
	s.push("reset", nil)
}

// setBest replaces the best epoch (nil: none).
func (s *state) setBest(b *BestMark) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b == nil && s.best == nil || b != nil && s.best != nil && *b == *s.best {
		return
	}
	s.best = b
	s.push("best", b)
}

// epochX places a report on the epoch axis: epoch 3, 50 of 100 images in
// is 2.5 (the x axis counts finished epochs).
func epochX(epoch, iters, itersPerEpoch int) float64 {
	x := float64(epoch - 1)
	if itersPerEpoch > 0 {
		x += float64(iters) / float64(itersPerEpoch)
	}
	return x
}

func (s *state) setVisuals(epoch, iters int, vs []Visual) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.visuals = visualsEvent{Epoch: epoch, Iters: iters, Visuals: vs}
	s.push("visuals", s.visuals)
}

func (s *state) setGallery(g []EpochVisuals) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gallery = g
	s.push("gallery", g)
}

func (s *state) setOptions(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.options = text
	s.push("options", text)
}

func (s *state) setStatus(status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status == status {
		return
	}
	s.status = status
	s.push("status", status)
}

// num is a pointer to v, for the fields that may be unknown.
func num(v float64) *Num {
	n := Num(v)
	return &n
}

// promote changes the status from one value to another, and leaves
// other values alone.
func (s *state) promote(from, to string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status == from {
		s.status = to
		s.push("status", to)
	}
}

// epochEnd records an epoch's end: the new learning rate and its time;
// after the last epoch, training is finished.
func (s *state) epochEnd(epoch int, lr, seconds float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.progress.LR = num(lr)
	s.progress.EpochSeconds = Num(seconds)
	s.progress.Updated = time.Now().UnixMilli()
	s.push("progress", s.progress)
	if s.progress.Epochs > 0 && epoch >= s.progress.Epochs && s.mode == "live" {
		s.status = StatusFinished
		s.push("status", s.status)
	}
}

// setProgress replaces the progress fields that p knows.
func (s *state) setProgress(p Progress) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mergeProgress(p)
	s.push("progress", s.progress)
}

// snapshotEpoch is the epoch of the last report.
func (s *state) snapshotEpoch() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.progress.Epoch
}

func (s *state) snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := Snapshot{Seq: s.seq, Name: s.name, Mode: s.mode, Status: s.status, Progress: s.progress,
		Curves: s.losses.curves(), Metrics: s.metricCurves(), Best: s.best,
		Visuals: s.visuals.Visuals, VisualsEpoch: s.visuals.Epoch, VisualsIters: s.visuals.Iters,
		Gallery: s.gallery, Options: s.options, MaxPoints: s.maxPoints}
	if snap.Visuals == nil {
		snap.Visuals = []Visual{}
	}
	if snap.Gallery == nil {
		snap.Gallery = []EpochVisuals{}
	}
	return snap
}

// since returns the events after seq, or resync when the stream must get a
// snapshot instead (it fell behind the ring, or a reset came), and a
// channel closed at the next change.
func (s *state) since(seq uint64) (evs []event, resync bool, changed <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed = s.changed
	if seq >= s.seq {
		return nil, false, changed
	}
	if len(s.ring) == 0 || s.ring[0].seq > seq+1 {
		return nil, true, changed
	}
	for _, e := range s.ring[seq+1-s.ring[0].seq:] {
		if e.kind == "reset" {
			return nil, true, changed
		}
		evs = append(evs, e)
	}
	return evs, false, changed
}
