// Package viz writes what people look at: the loss log, HTML pages of
// result images, and loss-curve plots.
package viz

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Loss is one named loss value.
type Loss struct {
	Name  string
	Value float64
}

// LossLog appends the reference's loss lines to loss_log.txt.
type LossLog struct {
	f *os.File
}

// OpenLossLog opens (appending) path and writes the run header the
// reference writes: "================ Training Loss (<date>) ================".
func OpenLossLog(path string) (*LossLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open loss log: %w", err)
	}
	l := &LossLog{f: f}
	if err := l.write(fmt.Sprintf("================ Training Loss (%s) ================\n", time.Now().Format("Mon Jan _2 15:04:05 2006"))); err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

// FormatLosses is print_current_losses' line.
func FormatLosses(epoch, iters int, tComp, tData float64, losses []Loss) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[Rank 0] (epoch: %d, iters: %d, time: %.3f, data: %.3f) ", epoch, iters, tComp, tData)
	for _, l := range losses {
		fmt.Fprintf(&b, ", %s: %.3f", l.Name, l.Value)
	}
	return b.String()
}

// Append writes one line and syncs it, so a crash loses at most the line
// being written.
func (l *LossLog) Append(line string) error { return l.write(line + "\n") }

func (l *LossLog) write(s string) error {
	if _, err := l.f.WriteString(s); err != nil {
		return fmt.Errorf("write loss log: %w", err)
	}
	return l.f.Sync()
}

// Close closes the file.
func (l *LossLog) Close() error { return l.f.Close() }

// Point is one logged loss line: where in training it was and the values.
type Point struct {
	Epoch  int
	Iters  int // iterations (images) into the epoch
	Losses []Loss
}

var lineRE = regexp.MustCompile(`\(epoch: (\d+), iters: (\d+), time: [-\d.]+, data: [-\d.]+\) (.*)$`)

// ReadLossLog parses a loss_log.txt (ours or the reference's).
func ReadLossLog(path string) ([]Point, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var pts []Point
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		m := lineRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		p := Point{}
		p.Epoch, _ = strconv.Atoi(m[1])
		p.Iters, _ = strconv.Atoi(m[2])
		for _, kv := range strings.Split(m[3], ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(kv), ":")
			if !ok {
				continue
			}
			x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				continue
			}
			p.Losses = append(p.Losses, Loss{strings.TrimSpace(k), x})
		}
		pts = append(pts, p)
	}
	return pts, sc.Err()
}
