// Package serve is cyclepix's HTTP inference service: trained generators
// behind a small JSON/image API and a web page to try them.
//
//	POST /v1/translate   image in (raw body or multipart field "image"),
//	                     translated image out (PNG, or JPEG on request)
//	GET  /v1/models      the loaded models, their generators and options
//	GET  /healthz        liveness, queue state and the limits' counters
//	GET  /               the web page (embedded; no external resources)
//
// /v1/translate takes its parameters from the query string or, for
// multipart requests, from form fields: model (a loaded run name; default
// the first), direction (AtoB or BtoA; default the model's first
// generator), format (png or jpeg; default from Accept, else PNG) and
// strict (refuse images whose channel count is not the model's instead of
// converting them as the reference does). JPEG uploads are turned upright
// by their EXIF orientation first, as image viewers show them (Config.
// IgnoreOrientation turns that off). Errors are JSON objects
// {"error": "..."}: 400 malformed or truncated images and bad parameters,
// 404 unknown models or directions, 408 bodies not received within the
// body timeout, 413 bodies or images over the limits, 422 images the model
// cannot take, 503 (with Retry-After) when busy or shutting down.
//
// Handlers never call libtorch: they decode, check and convert images on
// their own goroutines and hand network inputs to the infer.Engine's
// single worker. A request takes one of a fixed number of slots (waiting
// or running) only once its whole body is in memory, so slow uploads
// cannot hold the model from others; beyond the slots the service answers
// 503 at once. What slow or hostile clients can hold instead is bounded
// too: time (header, body, idle and response deadlines), connections (in
// all and per client address) and the bytes of bodies in memory.
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
	"sync"
	"sync/atomic"
	"time"

	"cyclepix/infer"
)

// Config are the service's limits. Zero values take DefaultConfig's.
type Config struct {
	// MaxBodyBytes bounds a request body (413 beyond).
	MaxBodyBytes int64
	// MaxBodyMemory bounds the bytes of request bodies held at once while
	// they arrive and until their image is decoded (503 beyond): bodies
	// are read before a slot is taken, and this keeps their memory within
	// what Queue × MaxBodyBytes, its default, bounded when they were read
	// inside one.
	MaxBodyMemory int64
	// MaxPixels bounds width×height as the image header states it,
	// checked before decoding (413 beyond): a small file can claim a huge
	// image (a decompression bomb).
	MaxPixels int64
	// Queue is how many translate requests, their bodies read, are
	// admitted at once, waiting or running; more get 503 with Retry-After.
	Queue int
	// RequestTimeout bounds an admitted request's wait and work (503
	// beyond).
	RequestTimeout time.Duration
	// HeaderTimeout bounds receiving a request's line and headers; the
	// connection is closed without an answer beyond.
	HeaderTimeout time.Duration
	// BodyTimeout bounds receiving a request's body once its headers are
	// in (408 beyond), and sending a response once it starts (the
	// connection is closed beyond).
	BodyTimeout time.Duration
	// IdleTimeout closes keep-alive connections that wait this long for
	// their next request.
	IdleTimeout time.Duration
	// MaxConns bounds the connections open at once; more are answered 503
	// and closed. Negative: no bound.
	MaxConns int
	// MaxConnsPerIP bounds the connections open at once from one client
	// address (an IPv6 /64); more are answered 503 and closed. Negative:
	// no bound (behind a reverse proxy every client has its address).
	MaxConnsPerIP int
	// IgnoreOrientation translates JPEGs as stored, as train and test
	// read them, instead of turned upright by their EXIF orientation.
	IgnoreOrientation bool
	// JPEGQuality is used for JPEG responses.
	JPEGQuality int
	// Logger receives one line per request; nil: slog.Default().
	Logger *slog.Logger
}

// DefaultConfig are the limits `cyclepix serve` starts with.
func DefaultConfig() Config {
	return Config{MaxBodyBytes: 32 << 20, MaxPixels: 4096 * 4096, Queue: 16, RequestTimeout: 2 * time.Minute,
		HeaderTimeout: 10 * time.Second, BodyTimeout: time.Minute, IdleTimeout: 30 * time.Second,
		MaxConns: 1024, MaxConnsPerIP: 64, JPEGQuality: 92}
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
	counts   counters
	// bodyMem is the bytes of request bodies held now (MaxBodyMemory).
	bodyMem atomic.Int64
	// conns is the listener's limiter while Serve runs.
	conns atomic.Pointer[connLimiter]
	// uploads are the requests reading their body now, cut short when
	// shutdown begins so that a slow upload cannot hold it up.
	uploadsMu sync.Mutex
	uploads   map[*http.ResponseController]struct{}
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
	if cfg.MaxBodyMemory <= 0 {
		cfg.MaxBodyMemory = int64(cfg.Queue) * cfg.MaxBodyBytes
	}
	if cfg.HeaderTimeout <= 0 {
		cfg.HeaderTimeout = def.HeaderTimeout
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = def.BodyTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = def.IdleTimeout
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = def.MaxConns
	}
	if cfg.MaxConnsPerIP == 0 {
		cfg.MaxConnsPerIP = def.MaxConnsPerIP
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
	s := &Server{cfg: cfg, eng: eng, models: map[string]*model{}, slots: make(chan struct{}, cfg.Queue), log: cfg.Logger,
		uploads: map[*http.ResponseController]struct{}{}}
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
// rather than a dropped connection. It sets the connection's deadlines
// (where there is one; not under httptest): the body must arrive within
// BodyTimeout, and the response, once begun, must leave within it too.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rc := http.NewResponseController(w)
	// Ignored errors: a ResponseWriter without a connection has no
	// deadlines to set.
	rc.SetReadDeadline(start.Add(s.cfg.BodyTimeout))
	rc.SetWriteDeadline(start.Add(2*s.cfg.BodyTimeout + s.cfg.RequestTimeout))
	rec := &recorder{ResponseWriter: w, status: http.StatusOK, onStart: func() { rc.SetWriteDeadline(time.Now().Add(s.cfg.BodyTimeout)) }}
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
	status  int
	bytes   int64
	wrote   bool
	note    string // an error message or the model used
	onStart func() // called once, as the response begins
}

func (r *recorder) begin() {
	if !r.wrote {
		r.wrote = true
		if r.onStart != nil {
			r.onStart()
		}
	}
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status = code
	}
	r.begin()
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.begin()
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Serve answers on ln until ctx is cancelled, then shuts down gracefully:
// it stops accepting, cuts uploads still arriving, lets requests in flight
// finish (at most shutdownTimeout) and returns. The engine is the caller's
// to close after.
func (s *Server) Serve(ctx context.Context, ln net.Listener, shutdownTimeout time.Duration) error {
	lim := newConnLimiter(ln, s)
	s.conns.Store(lim)
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.cfg.HeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		// The body and response deadlines are set per request (ServeHTTP),
		// so that a long inference does not eat into the response's time.
		ConnState: func(c net.Conn, st http.ConnState) {
			if tc, ok := c.(*trackedConn); ok {
				tc.setState(st)
			}
		},
		// Request contexts are not derived from ctx: cancelling ctx starts
		// the shutdown, and requests in flight must be able to finish.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lim) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.log.Info("shutting down: finishing requests in flight", "in_flight", len(s.slots), "timeout", shutdownTimeout.String())
	s.cutUploads()
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

// startUpload registers a request reading its body; it returns false when
// shutdown has begun (the request is refused).
func (s *Server) startUpload(rc *http.ResponseController) bool {
	s.uploadsMu.Lock()
	defer s.uploadsMu.Unlock()
	if s.draining.Load() {
		return false
	}
	s.uploads[rc] = struct{}{}
	return true
}

func (s *Server) endUpload(rc *http.ResponseController) {
	s.uploadsMu.Lock()
	defer s.uploadsMu.Unlock()
	delete(s.uploads, rc)
}

// cutUploads ends the body reads in progress now: their requests are
// answered 503 (shutting down) instead of holding the shutdown for up to
// BodyTimeout.
func (s *Server) cutUploads() {
	s.uploadsMu.Lock()
	defer s.uploadsMu.Unlock()
	for rc := range s.uploads {
		rc.SetReadDeadline(time.Now())
	}
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
