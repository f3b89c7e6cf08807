package dashboard

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"cyclepix/options"
	"cyclepix/train"
	"cyclepix/viz"
)

var _ train.Observer = (*Server)(nil)

// Losses implements train.Observer. Like the other observer methods it
// runs on the training goroutine, so it only copies the report into the
// state; the streams do the encoding and writing.
func (s *Server) Losses(ev train.LossEvent) {
	p := Progress{Epoch: ev.Epoch, EpochIter: ev.EpochIter, ItersPerEpoch: ev.ItersPerEpoch, TotalIters: ev.TotalIters,
		LR: num(ev.LR), ImagesPerSec: Num(ev.ImagesPerSec), Updated: time.Now().UnixMilli()}
	if ev.ImagesPerSec > 0 {
		p.ETASeconds = Num(ev.ETA.Seconds())
	}
	s.st.promote(StatusWaiting, StatusTraining)
	s.st.addPoint(epochX(ev.Epoch, ev.EpochIter, ev.ItersPerEpoch), ev.Losses, p)
}

// Visuals implements train.Observer. Files outside the run's folder are
// left out (the server would refuse them anyway).
func (s *Server) Visuals(epoch, totalIters int, files []train.NamedFile) {
	vs := make([]Visual, 0, len(files))
	for _, f := range files {
		// The live/ files keep their names from one display to the next:
		// the version makes each display a new URL.
		u, ok := s.imageURL(f.Path, int64(totalIters))
		if !ok {
			s.log.Warn("dashboard: visual outside the run folder, not shown", "file", f.Path, "dir", s.dir)
			continue
		}
		vs = append(vs, Visual{Name: f.Name, URL: u, Note: f.Note})
	}
	s.st.promote(StatusWaiting, StatusTraining)
	s.st.setVisuals(epoch, totalIters, vs)
}

// EpochEnd implements train.Observer.
func (s *Server) EpochEnd(epoch int, lr float64, seconds float64) {
	s.st.epochEnd(epoch, lr, seconds)
}

// SetOptions shows text (train_opt.txt's) as the run's options, and takes
// the number of epochs from it.
func (s *Server) SetOptions(text string) {
	s.st.setOptions(text)
	if n := totalEpochs(text); n > 0 {
		s.st.setProgress(Progress{Epochs: n})
	}
}

// LoadHistory shows the points of a loss log (a resumed run's past).
func (s *Server) LoadHistory(pts []viz.Point) {
	ipe := estimateItersPerEpoch(pts)
	var p Progress
	if n := len(pts); n > 0 {
		p = Progress{Epoch: pts[n-1].Epoch, EpochIter: pts[n-1].Iters, ItersPerEpoch: ipe}
	}
	s.st.load(pts, ipe, p)
}

// Snapshot returns the dashboard's whole state (as GET /api/state does).
func (s *Server) Snapshot() Snapshot { return s.st.snapshot() }

// Attach starts the live dashboard of a training run on 127.0.0.1 at
// --display_port and adds it to cfg.Observers; it returns a nil server
// when the port is 0. Only loopback is served because the options have no
// host flag; use an SSH tunnel to watch from elsewhere. With
// --continue_train the past of the loss and metrics logs is shown too.
func Attach(o *options.Set, cfg *train.Config, log *slog.Logger) (*Server, string, error) {
	port := o.Int("display_port")
	if port == 0 {
		return nil, "", nil
	}
	if port < 0 || port > 65535 {
		return nil, "", fmt.Errorf("--display_port %d: not a port number", port)
	}
	dir := filepath.Join(o.String("checkpoints_dir"), o.String("name"))
	s, err := New(Config{Dir: dir, Name: o.String("name"), Logger: log})
	if err != nil {
		return nil, "", err
	}
	// train writes train_opt.txt only once it starts; the page gets the
	// same text now.
	s.SetOptions(o.Text())
	if o.Bool("continue_train") {
		if pts, err := viz.ReadLossLog(filepath.Join(dir, "loss_log.txt")); err == nil {
			s.LoadHistory(pts)
		}
		if pts, err := readMetricsLog(filepath.Join(dir, "metrics_log.txt")); err == nil {
			s.st.loadMetrics(pts)
		}
		// A new run replaces the earlier best at its first evaluation; a
		// resumed one keeps it until beaten.
		s.loadBest()
	}
	url, err := s.Listen(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, "", fmt.Errorf("--display_port %d: %w (choose another port, or 0 for no dashboard)", port, err)
	}
	cfg.Observers = append(cfg.Observers, s)
	if cfg.Stop != nil {
		go func() {
			select {
			case <-cfg.Stop:
				s.st.setStatus(StatusStopping)
			case <-s.done:
			}
		}()
	}
	return s, url, nil
}

// CloseAtEnd is an observer that shuts s down gracefully when the last
// epoch ends, so that the pages learn that training finished (and keep
// showing it) before the process exits. Shutdown runs on the training
// goroutine, but after the last epoch, when there is nothing left to slow
// down; it waits at most two seconds.
func (s *Server) CloseAtEnd(lastEpoch int) train.Observer {
	return closeAtEnd{s, lastEpoch}
}

type closeAtEnd struct {
	s    *Server
	last int
}

func (c closeAtEnd) Losses(train.LossEvent)              {}
func (c closeAtEnd) Visuals(int, int, []train.NamedFile) {}
func (c closeAtEnd) EpochEnd(epoch int, _, _ float64) {
	if epoch < c.last {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.s.Shutdown(ctx); err != nil {
		c.s.log.Warn("dashboard: shutdown", "err", err)
	}
}
