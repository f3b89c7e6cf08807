package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"cyclepix/dashboard"
)

func init() {
	register("dashboard", "web dashboard of a finished or running experiment, from its loss log and images", runDashboard)
}

func runDashboard(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dashboard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "name of the experiment (its folder under --checkpoints_dir); required")
	ckpt := fs.String("checkpoints_dir", "./checkpoints", "where the experiments are")
	port := fs.Int("port", 8097, "port to serve the page on (0: any free port)")
	host := fs.String("host", "127.0.0.1", "address to listen on; anything but loopback shows the run's losses, images and options to the network")
	poll := fs.Duration("poll", time.Second, "how often the run's files are checked for changes (a run going on elsewhere)")
	maxPoints := fs.Int("max_points", dashboard.DefaultMaxPoints, "points kept per loss curve; longer runs are averaged down")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: cyclepix dashboard --name NAME [flags]\n\nServes a web page with the loss curves, visuals and options of <checkpoints_dir>/<name>,\nfollowing its loss_log.txt, train_opt.txt and web/images as they change.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *name == "" {
		return errors.New("--name is required (an experiment folder under --checkpoints_dir)")
	}
	if *port < 0 || *port > 65535 {
		return fmt.Errorf("--port %d: not a port number", *port)
	}
	dir := filepath.Join(*ckpt, *name)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("no experiment folder %s (check --name and --checkpoints_dir)", dir)
	}
	s, err := dashboard.New(dashboard.Config{Dir: dir, Name: *name, Files: true, Poll: *poll, MaxPoints: *maxPoints, Logger: warnLogger(stderr)})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	url, err := s.Listen(net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "dashboard of %s: %s (Ctrl-C to stop)\n", dir, url)
	<-ctx.Done()
	stop()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Shutdown(sctx)
}
