package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"cyclepix/infer"
	"cyclepix/options"
	"cyclepix/serve"
	"cyclepix/torch"
)

func init() {
	register("serve", "HTTP inference service and web page for trained generators (POST /v1/translate)", runServe)
}

// serveDefs are serve's own options; the reference's test options and
// infer.Common are accepted too.
var serveDefs = func() []options.Def {
	d := serve.DefaultConfig()
	return []options.Def{
		{Name: "addr", Default: "127.0.0.1:8080", Help: "listen address; the default keeps the service on this machine, :8080 opens it to the network"},
		{Name: "max_body_bytes", Default: int(d.MaxBodyBytes), Help: "largest request body accepted (413 beyond)"},
		{Name: "max_body_memory", Default: 0, Help: "bytes of request bodies held in memory at once, while they arrive and until decoded (503 beyond); 0: --queue × --max_body_bytes"},
		{Name: "max_pixels", Default: int(d.MaxPixels), Help: "largest image accepted, width×height as its header states, checked before decoding (413 beyond)"},
		{Name: "queue", Default: d.Queue, Help: "translate requests admitted at once, their bodies received, waiting or running; more are answered 503"},
		{Name: "max_batch", Default: 4, Help: "most waiting same-size requests stacked into one forward pass (1: no micro-batching)"},
		{Name: "request_timeout", Default: d.RequestTimeout.Seconds(), Help: "seconds an admitted request may wait and run (503 beyond)"},
		{Name: "header_timeout", Default: d.HeaderTimeout.Seconds(), Help: "seconds a client has to send a request's line and headers (the connection is closed beyond)"},
		{Name: "body_timeout", Default: d.BodyTimeout.Seconds(), Help: "seconds a client has to send a request body once its headers are in (408 beyond), and to take a response once it starts (closed beyond)"},
		{Name: "idle_timeout", Default: d.IdleTimeout.Seconds(), Help: "seconds a keep-alive connection may wait for its next request before it is closed"},
		{Name: "max_conns", Default: d.MaxConns, Help: "connections open at once; more are answered 503 and closed (0: no limit)"},
		{Name: "max_conns_per_ip", Default: d.MaxConnsPerIP, Help: "connections open at once from one client address (IPv6: one /64); more are answered 503 and closed (0: no limit; behind a reverse proxy every client has the proxy's address)"},
		{Name: "exif_transpose", Default: true, Help: exifHelp},
		{Name: "shutdown_timeout", Default: 30.0, Help: "seconds to let requests in flight finish on SIGINT/SIGTERM"},
		{Name: "jpeg_quality", Default: d.JPEGQuality, Help: "quality of JPEG responses (1-100)"},
	}
}()

// noLimit maps a flag's 0 (no limit) to serve.Config's negative.
func noLimit(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

func runServe(args []string, stdout, stderr io.Writer) error {
	var (
		o       *options.Set
		sources []infer.Source
		err     error
	)
	if _, ok := options.ScanValue(args, "bundle"); ok {
		if o, err = infer.OptionSet("serve", serveDefs, args, stdout); err != nil {
			return err
		}
		if sources, err = infer.BundleSources(o); err != nil {
			return err
		}
		if len(sources) == 0 {
			return fmt.Errorf("--bundle: no files given")
		}
	} else {
		names := []string{"experiment_name"}
		if v, ok := options.ScanValue(args, "name"); ok {
			names = strings.Split(v, ",")
		}
		for _, name := range names {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			run, err := infer.RunOptions("serve", serveDefs, args, name, stdout)
			if err != nil {
				return err
			}
			src, err := infer.CheckpointSources(run, true)
			if err != nil {
				return err
			}
			sources = append(sources, src...)
			if o == nil {
				o = run.Set
			}
		}
		if o == nil {
			return fmt.Errorf("--name: no run names given")
		}
	}
	seconds := func(name string) time.Duration { return time.Duration(o.Float(name) * float64(time.Second)) }
	cfg := serve.Config{MaxBodyBytes: int64(o.Int("max_body_bytes")), MaxBodyMemory: int64(o.Int("max_body_memory")),
		MaxPixels: int64(o.Int("max_pixels")), Queue: o.Int("queue"), RequestTimeout: seconds("request_timeout"),
		HeaderTimeout: seconds("header_timeout"), BodyTimeout: seconds("body_timeout"), IdleTimeout: seconds("idle_timeout"),
		MaxConns: noLimit(o.Int("max_conns")), MaxConnsPerIP: noLimit(o.Int("max_conns_per_ip")),
		IgnoreOrientation: !o.Bool("exif_transpose"), JPEGQuality: o.Int("jpeg_quality"),
		Logger: slog.New(slog.NewTextHandler(stderr, nil))}
	if cfg.MaxBodyBytes <= 0 || cfg.MaxPixels <= 0 || cfg.Queue <= 0 || cfg.RequestTimeout <= 0 || o.Int("max_batch") < 1 {
		return fmt.Errorf("--max_body_bytes, --max_pixels, --queue, --max_batch and --request_timeout must be positive")
	}
	for _, name := range []string{"header_timeout", "body_timeout", "idle_timeout"} {
		if o.Float(name) <= 0 {
			return fmt.Errorf("--%s %g: want a positive number of seconds", name, o.Float(name))
		}
	}
	for _, name := range []string{"max_conns", "max_conns_per_ip", "max_body_memory"} {
		if o.Int(name) < 0 {
			return fmt.Errorf("--%s %d: want 0 (see --help) or a positive number", name, o.Int(name))
		}
	}
	if cfg.MaxBodyMemory > 0 && cfg.MaxBodyMemory < cfg.MaxBodyBytes {
		return fmt.Errorf("--max_body_memory %d is less than --max_body_bytes %d, so a body of the largest size could never be held: raise it, or give 0 for --queue × --max_body_bytes", cfg.MaxBodyMemory, cfg.MaxBodyBytes)
	}

	// The engine's queue has room for every admitted request, so that
	// admission (503 when full) is the only limit a client meets.
	eng := infer.NewEngine(infer.EngineConfig(o, o.Int("max_batch"), cfg.Queue))
	defer eng.Close()
	ctx := context.Background()
	if seed := o.Int("seed"); seed != 0 {
		if err := eng.Do(ctx, func() error { torch.ManualSeed(uint64(seed)); return nil }); err != nil {
			return err
		}
	}
	var gens []*infer.Model
	for _, src := range sources {
		m, err := eng.Load(ctx, src)
		if err != nil {
			return err
		}
		gens = append(gens, m)
		fmt.Fprintf(stdout, "loaded %s %s: %s of %s (%s, ngf %d, norm %s, %s→%s) from %s\n", m.Name, m.Direction, m.Net, m.Name,
			m.Spec.NetG, m.Spec.NGF, m.Spec.Norm, translateChannels(m.Spec.InputNC), translateChannels(m.Spec.OutputNC), m.Source)
	}
	srv, err := serve.New(eng, gens, cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.String("addr"))
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	sigCtx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal a second one kills the process at once.
		<-sigCtx.Done()
		stop()
	}()
	fmt.Fprintf(stdout, "serving on http://%s/ (POST /v1/translate, GET /v1/models, GET /healthz); Ctrl-C stops\n", ln.Addr())
	shutdown := time.Duration(o.Float("shutdown_timeout") * float64(time.Second))
	return srv.Serve(sigCtx, ln, shutdown)
}
