package cli

import (
	"fmt"
	"io"
	"log/slog"

	"cyclepix/dashboard"
	"cyclepix/options"
	"cyclepix/train"
)

// attachDashboard starts the live dashboard of a training run when
// --display_port is set (on 127.0.0.1 only: the options have no host flag)
// and adds it to the run's observers. The dashboard closes gracefully after
// the last epoch so that open pages learn that training finished; a run
// stopped with Ctrl-C ends with the process, and its pages say they lost
// the server.
func attachDashboard(o *options.Set, cfg *train.Config, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, url, err := dashboard.Attach(o, cfg, log)
	if err != nil {
		return err
	}
	if s == nil {
		return nil
	}
	cfg.Observers = append(cfg.Observers, s.CloseAtEnd(o.Int("n_epochs")+o.Int("n_epochs_decay")))
	fmt.Fprintf(stderr, "dashboard: %s\n", url)
	return nil
}
