package dashboard

import (
	"math"
	"strconv"
)

// DefaultMaxPoints is how many points a loss curve keeps by default. A run
// of 200 epochs of 1000 images logged every 100 images has 2000 points, so
// short runs are kept whole and only long ones are downsampled.
const DefaultMaxPoints = 4000

// series is one loss curve with bounded memory: once it holds max points,
// neighbouring pairs are averaged into one point and from then on every
// stored point stands for twice as many raw points (stride). Curves thus
// keep their whole history at a resolution that halves each time the buffer
// fills, which costs O(1) amortised per point.
type series struct {
	name   string
	max    int // even, >= 2
	x, y   []float64
	stride int // raw points per stored point
	// the raw points not yet making a full stored point
	px, py float64
	pn     int
}

func newSeries(name string, max int) *series {
	if max < 2 {
		max = 2
	}
	max &^= 1 // even, so that compaction pairs every point
	return &series{name: name, max: max, stride: 1}
}

// add appends one raw point; x must not be below the last point's (see
// truncate).
func (s *series) add(x, y float64) {
	s.px += x
	s.py += y
	s.pn++
	if s.pn < s.stride {
		return
	}
	s.x = append(s.x, s.px/float64(s.pn))
	s.y = append(s.y, s.py/float64(s.pn))
	s.px, s.py, s.pn = 0, 0, 0
	if len(s.x) >= s.max {
		s.compact()
	}
}

// compact averages neighbouring pairs, halving the number of points.
func (s *series) compact() {
	n := len(s.x) / 2
	for i := 0; i < n; i++ {
		s.x[i] = (s.x[2*i] + s.x[2*i+1]) / 2
		s.y[i] = (s.y[2*i] + s.y[2*i+1]) / 2
	}
	s.x, s.y = s.x[:n], s.y[:n]
	s.stride *= 2
}

// truncate drops the points at or after x: a resumed run goes back to its
// checkpoint's position and a fresh run in the same folder to the start,
// and what the log said after that point belongs to a run that was
// abandoned.
func (s *series) truncate(x float64) {
	n := len(s.x)
	for n > 0 && s.x[n-1] >= x {
		n--
	}
	s.x, s.y = s.x[:n], s.y[:n]
	if s.pn > 0 && s.px/float64(s.pn) >= x {
		s.px, s.py, s.pn = 0, 0, 0
	}
}

// last is the x of the newest raw data (pending or stored), or -Inf.
func (s *series) last() float64 {
	if s.pn > 0 {
		return s.px / float64(s.pn)
	}
	if len(s.x) > 0 {
		return s.x[len(s.x)-1]
	}
	return math.Inf(-1)
}

// curve copies the points out, with the pending partial point last so
// that the newest value is always shown.
func (s *series) curve() Curve {
	c := Curve{Name: s.name, Stride: s.stride, X: make([]Num, 0, len(s.x)+1), Y: make([]Num, 0, len(s.x)+1)}
	for i := range s.x {
		c.X = append(c.X, Num(s.x[i]))
		c.Y = append(c.Y, Num(s.y[i]))
	}
	if s.pn > 0 {
		c.X = append(c.X, Num(s.px/float64(s.pn)))
		c.Y = append(c.Y, Num(s.py/float64(s.pn)))
	}
	return c
}

// Curve is one loss curve as the page gets it.
type Curve struct {
	Name string `json:"name"`
	// Stride is how many logged values each point averages.
	Stride int   `json:"stride"`
	X      []Num `json:"x"` // epochs (1.5: half-way through epoch 2)
	Y      []Num `json:"y"`
	// Better is "lower" or "higher" for the held-out metrics.
	Better string `json:"better,omitempty"`
}

// Num is a float64 that JSON-encodes NaN and ±Inf (a diverging loss) as
// null, which encoding/json refuses to do for a plain float64.
type Num float64

// MarshalJSON implements json.Marshaler.
func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', 6, 64), nil
}
