// Package serve is cyclepix's HTTP inference service: trained generators
// behind a small JSON/image API and a web page to try them.
//
//	POST /v1/translate   image in (raw body or multipart field "image"),
//	                     translated image out (PNG, or JPEG on request)
//	GET  /v1/models      the loaded models, their generators and options
//	GET  /healthz        liveness and queue state
//	GET  /               the web page (embedded; no external resources)
//
// /v1/translate takes its parameters from the query string or, for
// multipart requests, from form fields: model (a loaded run name; default
// the first), direction (AtoB or BtoA; default the model's first
// generator), format (png or jpeg; default from Accept, else PNG) and
// strict (refuse images whose channel count is not the model's instead of
// converting them as the reference does). Errors are JSON objects
// {"error": "..."}: 400 malformed or truncated images and bad parameters,
// 404 unknown models or directions, 413 bodies or images over the limits,
// 422 images the model cannot take, 503 when busy or shutting down.
//
// Handlers never call libtorch: they decode, check and convert images on
// their own goroutines and hand network inputs to the infer.Engine's
// single worker. A fixed number of translate requests are admitted at a
// time (waiting or running); beyond that the service answers 503 at once,
// so memory stays bounded under any load.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"cyclepix/infer"
)

// Config are the service's limits.
type Config struct {
	// MaxBodyBytes bounds a request body (413 beyond).
	MaxBodyBytes int64
	// MaxPixels bounds width×height as the image header states it,
	// checked before decoding (413 beyond): a small file can claim a huge
	// image (a decompression bomb).
	MaxPixels int64
	// Queue is how many translate requests are admitted at once, waiting
	// or running; more get 503 with Retry-After.
	Queue int
	// RequestTimeout bounds a request's wait and work (503 beyond).
	RequestTimeout time.Duration
	// JPEGQuality is used for JPEG responses.
	JPEGQuality int
	// Logger receives one line per request; nil: slog.Default().
	Logger *slog.Logger
}

// DefaultConfig are the limits `cyclepix serve` starts with.
func DefaultConfig() Config {
	return Config{MaxBodyBytes: 32 << 20, MaxPixels: 4096 * 4096, Queue: 16, RequestTimeout: 2 * time.Minute, JPEGQuality: 92}
}

// model is one name users choose: a run with one generator per direction.
type model struct {
	name  string
	dirs  []string // in load order; the first is the default
	byDir map[string]*infer.Model
}

// Server is the service; it is an http.Handler.
type Server struct {
	cfg    Config
	eng    *infer.Engine
	models map[string]*model
	order  []string
	slots  chan struct{}
	log    *slog.Logger
	mux    *http.ServeMux
	// draining is set when shutdown begins: health checks fail so that a
	// load balancer stops sending, while requests in flight finish.
	draining atomic.Bool
	served   atomic.Int64
}

// New makes a server for the loaded generators. Generators with the same
// Name are one model with several directions (a CycleGAN's G_A and G_B).
func New(eng *infer.Engine, gens []*infer.Model, cfg Config) (*Server, error) {
	def := DefaultConfig()
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = def.MaxBodyBytes
	}
	if cfg.MaxPixels <= 0 {
		cfg.MaxPixels = def.MaxPixels
	}
	if cfg.Queue <= 0 {
		cfg.Queue = def.Queue
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = def.RequestTimeout
	}
	if cfg.JPEGQuality <= 0 || cfg.JPEGQuality > 100 {
		cfg.JPEGQuality = def.JPEGQuality
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if len(gens) == 0 {
		return nil, errors.New("no models to serve")
	}
	s := &Server{cfg: cfg, eng: eng, models: map[string]*model{}, slots: make(chan struct{}, cfg.Queue), log: cfg.Logger}
	for _, g := range gens {
		m := s.models[g.Name]
		if m == nil {
			m = &model{name: g.Name, byDir: map[string]*infer.Model{}}
			s.models[g.Name] = m
			s.order = append(s.order, g.Name)
		}
		if prev := m.byDir[g.Direction]; prev != nil {
			return nil, fmt.Errorf("model %s has two %s generators (%s and %s)", g.Name, g.Direction, prev.Source, g.Source)
		}
		m.byDir[g.Direction] = g
		m.dirs = append(m.dirs, g.Direction)
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("/v1/translate", s.handleTranslate)
	s.mux.HandleFunc("/v1/models", s.handleModels)
	s.mux.HandleFunc("/healthz", s.handleHealth)
	s.mux.HandleFunc("/", s.handleIndex)
	return s, nil
}

// ServeHTTP logs each request and turns a panic into a 500 JSON answer
// rather than a dropped connection.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic in handler", "path", r.URL.Path, "panic", fmt.Sprint(p))
			if !rec.wrote {
				writeError(rec, http.StatusInternalServerError, "internal error: %v", p)
			}
		}
		attrs := []any{"method", r.Method, "path", r.URL.Path, "status", rec.status, "bytes", rec.bytes,
			"ms", math.Round(float64(time.Since(start).Microseconds())/10) / 100, "remote", r.RemoteAddr}
		if rec.note != "" {
			attrs = append(attrs, "note", rec.note)
		}
		level := slog.LevelInfo
		if rec.status >= 500 && rec.status != http.StatusServiceUnavailable {
			level = slog.LevelError
		}
		s.log.Log(r.Context(), level, "request", attrs...)
	}()
	s.mux.ServeHTTP(rec, r)
}

// recorder keeps what the log line reports.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
	note   string // an error message or the model used
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Serve answers on ln until ctx is cancelled, then shuts down gracefully:
// it stops accepting, lets requests in flight finish (at most
// shutdownTimeout) and returns. The engine is the caller's to close after.
func (s *Server) Serve(ctx context.Context, ln net.Listener, shutdownTimeout time.Duration) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// Request contexts are not derived from ctx: cancelling ctx starts
		// the shutdown, and requests in flight must be able to finish.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.log.Info("shutting down: finishing requests in flight", "in_flight", len(s.slots), "timeout", shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("shutdown: %w (requests still running were cut off)", err)
	}
	<-errc
	s.log.Info("stopped", "served", s.served.Load())
	return nil
}

// modelNames lists the model names in load order.
func (s *Server) modelNames() []string { return append([]string(nil), s.order...) }

// sortedDirs returns a model's directions, default first then sorted.
func (m *model) sortedDirs() []string {
	d := append([]string(nil), m.dirs[1:]...)
	sort.Strings(d)
	return append([]string{m.dirs[0]}, d...)
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}
