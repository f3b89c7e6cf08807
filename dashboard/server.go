// Package dashboard is cyclepix's web dashboard for training runs: loss
// curves (raw and smoothed), the model's current visuals, progress, the
// learning rate, speed and ETA, and the training options, updated live in
// the page over server-sent events.
//
// It runs either inside `cyclepix train --display_port N`, fed by the
// training loop as a train.Observer, or on its own (`cyclepix dashboard`),
// fed by polling a run's loss_log.txt, train_opt.txt and web/images, which
// works for finished runs and for runs going on in another process. The
// page, its script and its styles are embedded; nothing is loaded from
// elsewhere.
package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

//go:embed page
var pageFS embed.FS

// Config says what a Server shows.
type Config struct {
	// Dir is the run's folder, <checkpoints_dir>/<name>. Images are served
	// from inside it only.
	Dir string
	// Name is the experiment's name (the page title).
	Name string
	// Files makes the server follow Dir's files (loss_log.txt,
	// train_opt.txt, web/images, live/) instead of being fed by a training
	// loop.
	Files bool
	// MaxPoints bounds each loss curve (DefaultMaxPoints when 0).
	MaxPoints int
	// Poll is how often files are checked for changes (1 s when 0).
	Poll time.Duration
	// Logger gets the server's messages (slog.Default() when nil).
	Logger *slog.Logger
}

// Server serves one run's dashboard. Its Losses, Visuals and EpochEnd
// methods make it a train.Observer.
type Server struct {
	cfg  Config
	dir  string // absolute
	st   *state
	log  *slog.Logger
	done chan struct{} // closed by Shutdown: streams end

	mu       sync.Mutex
	http     *http.Server
	addr     string
	stopPoll context.CancelFunc
	polled   chan struct{} // closed when the poller has returned
	once     sync.Once
}

// New makes a server for cfg; Listen starts it.
func New(cfg Config) (*Server, error) {
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	mode, status := "live", StatusWaiting
	if cfg.Files {
		mode, status = "files", StatusFiles
	}
	s := &Server{cfg: cfg, dir: dir, log: log, done: make(chan struct{}),
		st: newState(cfg.Name, mode, status, cfg.MaxPoints)}
	return s, nil
}

// Dir is the run's folder (absolute).
func (s *Server) Dir() string { return s.dir }

// Listen serves on addr (host:port; port 0 picks a free one) in the
// background and starts following the run's files. It returns the page's
// URL.
func (s *Server) Listen(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("dashboard: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addr = ln.Addr().String()
	// No WriteTimeout: event streams stay open for the whole run; streams
	// set their own deadline on each write instead.
	s.http = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	go func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("dashboard stopped", "err", err)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	s.stopPoll, s.polled = cancel, make(chan struct{})
	go func() {
		defer close(s.polled)
		s.poll(ctx)
	}()
	return "http://" + s.addr + "/", nil
}

// Shutdown tells the pages that the dashboard is closing, ends their
// streams, stops following the files and waits (until ctx is done) for
// requests in flight. The pages keep what they show.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		s.st.setStatus(StatusClosed)
		close(s.done)
		s.mu.Lock()
		h, stop, polled := s.http, s.stopPoll, s.polled
		s.mu.Unlock()
		if stop != nil {
			stop()
			<-polled
		}
		if h != nil {
			if err = h.Shutdown(ctx); err != nil {
				err = fmt.Errorf("dashboard shutdown: %w", err)
			}
		}
	})
	return err
}

// Handler is the dashboard's HTTP handler (Listen serves it).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(pageFS, "page")
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		b, err := fs.ReadFile(static, "index.html")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(b)
	})
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /api/state", s.handleState)
	mux.HandleFunc("GET /events", s.handleEvents)
	mux.HandleFunc("GET /img/{path...}", s.handleImage)
	return s.guard(mux)
}

// guard sets the headers every response gets and refuses requests whose
// Host is not this machine while the server listens on loopback only: a
// web page elsewhere could otherwise read the dashboard through DNS
// rebinding.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
		if s.loopbackOnly() && !loopbackHost(r.Host) {
			http.Error(w, "dashboard: only this machine's addresses are served", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackOnly says whether the server listens on a loopback address only
// (true before Listen, as for handlers under test).
func (s *Server) loopbackOnly() bool {
	s.mu.Lock()
	addr := s.addr
	s.mu.Unlock()
	if addr == "" {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackHost says whether a Host header names this machine.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Server) handleState(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := json.NewEncoder(w).Encode(s.st.snapshot()); err != nil {
		s.log.Debug("dashboard: state", "err", err)
	}
}

// heartbeat keeps idle streams open through proxies and finds clients
// that went away.
const heartbeat = 15 * time.Second

// handleEvents streams the state as server-sent events: a "snapshot" first
// (and again whenever the stream fell behind or the run was rewound), then
// increments: "point", "visuals", "gallery", "progress", "options",
// "status". Each carries the event's sequence number as its id.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(kind string, id uint64, data any) error {
		b, err := json.Marshal(data)
		if err != nil {
			return fmt.Errorf("encode %s: %w", kind, err)
		}
		// A client that stops reading would otherwise hold this
		// goroutine for good.
		rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", id, kind, b); err != nil {
			return err
		}
		return rc.Flush()
	}
	snap := s.st.snapshot()
	if err := send("snapshot", snap.Seq, snap); err != nil {
		return
	}
	seq := snap.Seq
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		evs, resync, changed := s.st.since(seq)
		if resync {
			snap := s.st.snapshot()
			if err := send("snapshot", snap.Seq, snap); err != nil {
				return
			}
			seq = snap.Seq
			continue
		}
		for _, e := range evs {
			if err := send(e.kind, e.seq, e.data); err != nil {
				return
			}
			seq = e.seq
		}
		if len(evs) > 0 {
			continue // more may have come while writing
		}
		select {
		case <-changed:
		case <-tick.C:
			rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(w, ": ping\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case <-r.Context().Done():
			return
		case <-s.done:
			// Shutdown set StatusClosed before closing done: send it
			// unless it went already.
			evs, _, _ := s.st.since(seq)
			for _, e := range evs {
				if send(e.kind, e.seq, e.data) != nil {
					break
				}
			}
			return
		}
	}
}

// imageExts are the files /img/ serves.
var imageExts = map[string]string{".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}

// handleImage serves an image from inside the run's folder. The path is
// checked lexically (no "..", no hidden files such as the temporary files
// of atomic writes, image extensions only), and opened through os.Root,
// which also refuses symbolic links that lead out of the folder.
func (s *Server) handleImage(w http.ResponseWriter, r *http.Request) {
	rel := r.PathValue("path")
	ctype, ok := imagePathOK(rel)
	if !ok {
		http.Error(w, "dashboard: not an image of this run", http.StatusBadRequest)
		return
	}
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		http.Error(w, "dashboard: no run folder", http.StatusNotFound)
		return
	}
	defer root.Close()
	f, err := root.Open(filepath.FromSlash(rel))
	if err != nil {
		http.Error(w, "dashboard: no such image", http.StatusNotFound)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		http.Error(w, "dashboard: no such image", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", ctype)
	// The live visuals are rewritten under the same names; the page
	// adds ?v= to their URLs, and revalidation covers the rest.
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
}

// imagePathOK checks a slash-separated path relative to the run's folder
// and returns its content type.
func imagePathOK(rel string) (string, bool) {
	if rel == "" || strings.ContainsAny(rel, "\\\x00") || path.IsAbs(rel) || path.Clean(rel) != rel {
		return "", false
	}
	for _, el := range strings.Split(rel, "/") {
		if el == "" || el == ".." || strings.HasPrefix(el, ".") {
			return "", false
		}
	}
	ctype, ok := imageExts[strings.ToLower(path.Ext(rel))]
	return ctype, ok
}

// imageURL is the page's URL of a file inside the run's folder, or false
// for a file outside it.
func (s *Server) imageURL(file string, version int64) (string, bool) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return "", false
	}
	rel, err := filepath.Rel(s.dir, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	rel = filepath.ToSlash(rel)
	if _, ok := imagePathOK(rel); !ok {
		return "", false
	}
	u := "/img/" + escapePath(rel)
	if version != 0 {
		u += fmt.Sprintf("?v=%d", version)
	}
	return u, true
}

// escapePath escapes each element of a slash-separated path for a URL.
func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, el := range parts {
		parts[i] = url.PathEscape(el)
	}
	return strings.Join(parts, "/")
}
