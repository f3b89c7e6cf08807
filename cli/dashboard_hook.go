package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"cyclepix/dashboard"
	"cyclepix/options"
	"cyclepix/train"
)

// attachDashboard starts the live dashboard of a training run when
// --display_port is set (on 127.0.0.1 only: the options have no host flag)
// and adds it to the run's observers. The dashboard closes gracefully after
// the last epoch so that open pages learn that training finished; the
// returned function closes it when a run ends any other way (Ctrl-C, an
// error), so that pages learn that too.
func attachDashboard(o *options.Set, cfg *train.Config, stderr io.Writer) (closeFn func(), err error) {
	s, url, err := dashboard.Attach(o, cfg, warnLogger(stderr))
	if err != nil {
		return func() {}, err
	}
	if s == nil {
		return func() {}, nil
	}
	cfg.Observers = append(cfg.Observers, s.CloseAtEnd(o.Int("n_epochs")+o.Int("n_epochs_decay")))
	fmt.Fprintf(stderr, "dashboard: %s\n", url)
	return shutdownFunc(s), nil
}

// warnLogger logs the dashboard's warnings and errors to stderr.
func warnLogger(stderr io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// shutdownFunc closes a dashboard gracefully, giving open pages up to two
// seconds to learn that the run ended.
func shutdownFunc(s *dashboard.Server) func() {
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	}
}
