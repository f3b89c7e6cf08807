package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cyclepix/train"
	"cyclepix/viz"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// runDir makes a run folder with two saved visuals and a file outside it.
func runDir(t *testing.T) (root, dir string) {
	t.Helper()
	root = t.TempDir()
	dir = filepath.Join(root, "ckpt", "run")
	for _, d := range []string{"web/images", "live"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(dir, "web/images/epoch001_real_A.png"), pngBytes)
	write(t, filepath.Join(dir, "live/fake_B.png"), pngBytes)
	write(t, filepath.Join(dir, "latest_net_G.pth"), "weights")
	write(t, filepath.Join(root, "secret.png"), "outside the run folder")
	return root, dir
}

// pngBytes is a 1x1 PNG.
var pngBytes = "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestImageHandler(t *testing.T) {
	root, dir := runDir(t)
	// A link inside the folder that leads out of it.
	if err := os.Symlink(filepath.Join(root, "secret.png"), filepath.Join(dir, "web/images/link.png")); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Dir: dir, Name: "run", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	cases := []struct {
		path string
		want int
	}{
		{"/img/web/images/epoch001_real_A.png", 200},
		{"/img/live/fake_B.png?v=12", 200},
		{"/img/web/images/missing.png", 404},
		{"/img/web/images/link.png", 404},
		{"/img/latest_net_G.pth", 400},
		{"/img/web", 400},
		{"/img/..%2fsecret.png", 400},
		{"/img/web%2f..%2f..%2fsecret.png", 400},
		{"/img/%2e%2e/secret.png", 400},
		{"/img/web/images/..%5c..%5c..%5csecret.png", 400},
		{"/img/%2Fetc%2Fpasswd.png", 400},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			// Raw paths, as a client that does not clean them sends them.
			req, _ := http.NewRequest("GET", srv.URL+"/", nil)
			req.URL.Opaque = "//" + req.URL.Host + strings.SplitN(c.path, "?", 2)[0]
			if i := strings.Index(c.path, "?"); i >= 0 {
				req.URL.RawQuery = c.path[i+1:]
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), "outside the run folder") {
				t.Fatalf("served a file outside the run folder")
			}
			if got := resp.StatusCode; got != c.want {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, c.want, body)
			}
			if c.want == 200 && resp.Header.Get("Content-Type") != "image/png" {
				t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
			}
		})
	}
	// The mux redirects a literal dot-dot path to its cleaned form, which
	// is outside /img/.
	resp, err := http.Get(srv.URL + "/img/web/../../secret.png")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == 200 || strings.Contains(string(body), "outside") {
		t.Fatalf("dot-dot path: %d %q", resp.StatusCode, body)
	}
}

func TestHostGuard(t *testing.T) {
	_, dir := runDir(t)
	s, _ := New(Config{Dir: dir, Logger: quiet})
	h := s.Handler()
	for host, want := range map[string]int{"127.0.0.1:8097": 200, "localhost:8097": 200, "attacker.example:8097": 403} {
		req := httptest.NewRequest("GET", "/api/state", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("Host %s: status %d, want %d", host, rec.Code, want)
		}
		if rec.Header().Get("Content-Security-Policy") == "" {
			t.Errorf("Host %s: no CSP", host)
		}
	}
}

func TestPageAndStatic(t *testing.T) {
	_, dir := runDir(t)
	s, _ := New(Config{Dir: dir, Logger: quiet})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for path, want := range map[string]string{"/": "<title>", "/static/app.js": "EventSource", "/static/style.css": ".charts"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d, no %q", path, resp.StatusCode, want)
		}
	}
	// The page must not load anything from elsewhere.
	for _, f := range []string{"page/index.html", "page/app.js", "page/style.css"} {
		b, _ := pageFS.ReadFile(f)
		if strings.Contains(string(b), "http://") || strings.Contains(string(b), "https://") || strings.Contains(string(b), "//cdn") {
			if !strings.Contains(string(b), "http://www.w3.org/2000/svg") || strings.Count(string(b), "http") > 1 {
				t.Errorf("%s refers to another site", f)
			}
		}
	}
}

// sse reads server-sent events.
type sse struct {
	r    *bufio.Reader
	body io.Closer
}

type sseEvent struct {
	id, kind, data string
}

func openSSE(t *testing.T, url string) *sse {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	return &sse{bufio.NewReader(resp.Body), resp.Body}
}

// next returns the next event, skipping comments.
func (s *sse) next() (sseEvent, error) {
	var ev sseEvent
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if ev.kind != "" {
				return ev, nil
			}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.kind = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.data = line[6:]
		}
	}
}

// until returns the first event of kind, with a deadline.
func (s *sse) until(t *testing.T, kind string) sseEvent {
	t.Helper()
	type res struct {
		ev  sseEvent
		err error
	}
	ch := make(chan res, 1)
	go func() {
		for {
			ev, err := s.next()
			if err != nil || ev.kind == kind {
				ch <- res{ev, err}
				return
			}
		}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("waiting for %q: %v", kind, r.err)
		}
		return r.ev
	case <-time.After(10 * time.Second):
		t.Fatalf("no %q event in 10 s", kind)
	}
	return sseEvent{}
}

func TestEventStream(t *testing.T) {
	_, dir := runDir(t)
	s, _ := New(Config{Dir: dir, Name: "run", Logger: quiet})
	s.SetOptions("  n_epochs: 2\n  n_epochs_decay: 3\n")
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	st := openSSE(t, srv.URL+"/events")
	defer st.body.Close()

	var snap Snapshot
	if err := json.Unmarshal([]byte(st.until(t, "snapshot").data), &snap); err != nil {
		t.Fatal(err)
	}
	if snap.Name != "run" || snap.Status != StatusWaiting || snap.Progress.Epochs != 5 || len(snap.Curves) != 0 {
		t.Fatalf("first snapshot %+v", snap)
	}

	// An observer call shows up on the stream.
	s.Losses(train.LossEvent{Epoch: 1, EpochIter: 4, TotalIters: 4, ItersPerEpoch: 8, LR: 2e-4, ImagesPerSec: 2,
		ETA: 36 * time.Second, Losses: []viz.Loss{{Name: "G_A", Value: 0.5}, {Name: "D_A", Value: 0.25}}})
	if ev := st.until(t, "status"); ev.data != `"training"` {
		t.Fatalf("status %s", ev.data)
	}
	var pt pointEvent
	if err := json.Unmarshal([]byte(st.until(t, "point").data), &pt); err != nil {
		t.Fatal(err)
	}
	if pt.X != 0.5 || len(pt.Losses) != 2 || pt.Losses[0] != (namedNum{"G_A", 0.5}) || pt.Losses[1].Name != "D_A" || pt.Progress.ETASeconds != 36 || pt.Progress.TotalIters != 4 || *pt.Progress.LR != 2e-4 {
		t.Fatalf("point %+v", pt)
	}

	s.Visuals(1, 4, []train.NamedFile{{Name: "fake_B", Path: filepath.Join(dir, "live/fake_B.png")}, {Name: "evil", Path: "/etc/passwd.png"}})
	var vis visualsEvent
	if err := json.Unmarshal([]byte(st.until(t, "visuals").data), &vis); err != nil {
		t.Fatal(err)
	}
	if len(vis.Visuals) != 1 || vis.Visuals[0].URL != "/img/live/fake_B.png?v=4" {
		t.Fatalf("visuals %+v", vis)
	}

	// A second page gets everything in its snapshot.
	resp, err := http.Get(srv.URL + "/api/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
		t.Fatal(err)
	}
	if len(snap.Curves) != 2 || snap.Curves[1].Name != "D_A" || len(snap.Visuals) != 1 || snap.Progress.EpochIter != 4 {
		t.Fatalf("state %+v", snap)
	}

	// A NaN loss does not break the stream.
	s.Losses(train.LossEvent{Epoch: 1, EpochIter: 8, ItersPerEpoch: 8, Losses: []viz.Loss{{Name: "G_A", Value: nan()}}})
	if ev := st.until(t, "point"); !strings.Contains(ev.data, `{"name":"G_A","value":null}`) {
		t.Fatalf("NaN point %s", ev.data)
	}
}

func nan() float64 { var z float64; return z / z }

func TestShutdownEndsStreams(t *testing.T) {
	_, dir := runDir(t)
	s, _ := New(Config{Dir: dir, Logger: quiet})
	url, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	st := openSSE(t, url+"events")
	st.until(t, "snapshot")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	if ev := st.until(t, "status"); ev.data != `"closed"` {
		t.Fatalf("last status %s", ev.data)
	}
	if _, err := st.next(); err == nil {
		t.Fatal("stream still open after shutdown")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(url); err == nil {
		t.Fatal("server still answering after shutdown")
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
}

func TestCloseAtEnd(t *testing.T) {
	_, dir := runDir(t)
	s, _ := New(Config{Dir: dir, Logger: quiet})
	url, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ob := s.CloseAtEnd(2)
	ob.EpochEnd(1, 1e-4, 1)
	if _, err := http.Get(url + "api/state"); err != nil {
		t.Fatalf("closed before the last epoch: %v", err)
	}
	ob.EpochEnd(2, 0, 1)
	if _, err := http.Get(url + "api/state"); err == nil {
		t.Fatal("still open after the last epoch")
	}
}

// logLine is a loss_log.txt line.
func logLine(epoch, iters int, g, d float64) string {
	return viz.FormatLosses(epoch, iters, 0.1, 0.01, []viz.Loss{{Name: "G_A", Value: g}, {Name: "D_A", Value: d}}) + "\n"
}

func TestFollowFiles(t *testing.T) {
	_, dir := runDir(t)
	write(t, filepath.Join(dir, "train_opt.txt"), "                 n_epochs: 1\n           n_epochs_decay: 1\n  display_winsize: 256\n")
	log := "================ Training Loss (Mon Jan  1 00:00:00 2026) ================\n" +
		logLine(1, 4, 1, 0.5) + logLine(1, 8, 0.9, 0.4) + logLine(2, 4, 0.8, 0.3)
	write(t, filepath.Join(dir, "loss_log.txt"), log)
	s, _ := New(Config{Dir: dir, Name: "run", Files: true, Logger: quiet})
	f := &follower{}
	s.pollOnce(f)
	snap := s.Snapshot()
	if snap.Mode != "files" || snap.Status != StatusFiles || !strings.Contains(snap.Options, "n_epochs") {
		t.Fatalf("snapshot %+v", snap)
	}
	if len(snap.Curves) != 2 || len(snap.Curves[0].X) != 3 {
		t.Fatalf("curves %+v", snap.Curves)
	}
	// 8 images per epoch, from the finished first epoch.
	if x := snap.Curves[0].X; x[0] != 0.5 || x[1] != 1 || x[2] != 1.5 {
		t.Fatalf("x %v", x)
	}
	if p := snap.Progress; p.Epoch != 2 || p.EpochIter != 4 || p.ItersPerEpoch != 8 || p.Epochs != 2 || p.LR != nil {
		t.Fatalf("progress %+v", p)
	}
	if len(snap.Gallery) != 1 || snap.Gallery[0].Epoch != 1 || snap.Gallery[0].Visuals[0].Name != "real_A" {
		t.Fatalf("gallery %+v", snap.Gallery)
	}

	// A run going on elsewhere: a half-written line waits for its end.
	fh, err := os.OpenFile(filepath.Join(dir, "loss_log.txt"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	line := logLine(2, 8, 0.7, 0.2)
	fh.WriteString(line[:len(line)-8])
	s.pollOnce(f)
	if n := len(s.Snapshot().Curves[0].X); n != 3 {
		t.Fatalf("%d points after a half line", n)
	}
	fh.WriteString(line[len(line)-8:])
	s.pollOnce(f)
	c := s.Snapshot().Curves[0]
	if len(c.X) != 4 || c.X[3] != 2 || c.Y[3] != 0.7 {
		t.Fatalf("after the line ended: %+v", c)
	}

	// A new run in the same folder starts over: the old curve goes.
	fh.WriteString("================ Training Loss (Mon Jan  1 01:00:00 2026) ================\n" + logLine(1, 4, 5, 5))
	s.pollOnce(f)
	c = s.Snapshot().Curves[0]
	if len(c.X) != 1 || c.Y[0] != 5 {
		t.Fatalf("after a restart: %+v", c)
	}

	// Newer live/ images than the last epoch's become the current ones.
	later := time.Now().Add(time.Minute)
	os.Chtimes(filepath.Join(dir, "live/fake_B.png"), later, later)
	s.pollOnce(f)
	snap = s.Snapshot()
	if len(snap.Visuals) != 1 || !strings.HasPrefix(snap.Visuals[0].URL, "/img/live/fake_B.png?v=") {
		t.Fatalf("visuals %+v", snap.Visuals)
	}
}

func TestLoadHistory(t *testing.T) {
	_, dir := runDir(t)
	var log strings.Builder
	for e := 1; e <= 3; e++ {
		for i := 10; i <= 100; i += 10 {
			log.WriteString(logLine(e, i, float64(e), 1))
		}
	}
	path := filepath.Join(dir, "loss_log.txt")
	write(t, path, log.String())
	pts, err := viz.ReadLossLog(path)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := New(Config{Dir: dir, Logger: quiet, MaxPoints: 8})
	s.LoadHistory(pts)
	c := s.Snapshot().Curves[0]
	if len(c.X) > 8 || c.Stride < 4 {
		t.Fatalf("30 points in a buffer of 8: %d points, stride %d", len(c.X), c.Stride)
	}
	// Resuming at epoch 3 drops the old epoch 3.
	s.Losses(train.LossEvent{Epoch: 3, EpochIter: 10, ItersPerEpoch: 100, Losses: []viz.Loss{{Name: "G_A", Value: 9}, {Name: "D_A", Value: 1}}})
	c = s.Snapshot().Curves[0]
	if last := c.X[len(c.X)-1]; last != 2.1 || c.Y[len(c.Y)-1] != 9 {
		t.Fatalf("after resuming: %v", fmt.Sprint(c.X, c.Y))
	}
	for _, x := range c.X[:len(c.X)-1] {
		if x >= 2.1 {
			t.Fatalf("a point of the abandoned epoch 3 stayed: %v", c.X)
		}
	}
}

func TestMetrics(t *testing.T) {
	_, dir := runDir(t)
	s, _ := New(Config{Dir: dir, Logger: quiet})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	st := openSSE(t, srv.URL+"/events")
	defer st.body.Close()
	st.until(t, "snapshot")
	s.Metrics(1, map[string]float64{"psnr": 20, "l1": 0.25, "ssim": nan()})
	var ev metricsEvent
	if err := json.Unmarshal([]byte(st.until(t, "metrics").data), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Epoch != 1 || len(ev.Values) != 2 || ev.Values[0] != (namedNum{"l1", 0.25}) || ev.Better["psnr"] != "higher" || ev.Better["l1"] != "lower" {
		t.Fatalf("metrics event %+v", ev)
	}
	s.Metrics(2, map[string]float64{"psnr": 21, "l1": 0.2})
	m := s.Snapshot().Metrics
	if len(m) != 2 || m[1].Name != "psnr" || len(m[1].X) != 2 || m[1].X[1] != 2 || m[1].Better != "higher" {
		t.Fatalf("metric curves %+v", m)
	}
}

func TestMetricsLog(t *testing.T) {
	_, dir := runDir(t)
	write(t, filepath.Join(dir, "metrics_log.txt"), "(epoch: 1) held-out, l1: 0.2500, psnr: 20.0000\nnot a metrics line\n(epoch: 2) held-out, l1: 0.2000, psnr: 21.5000\n")
	pts, err := readMetricsLog(filepath.Join(dir, "metrics_log.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 2 || pts[1].epoch != 2 || len(pts[1].values) != 2 || pts[1].values[1] != (viz.Loss{Name: "psnr", Value: 21.5}) {
		t.Fatalf("parsed %+v", pts)
	}
	s, _ := New(Config{Dir: dir, Files: true, Logger: quiet})
	s.pollOnce(&follower{})
	m := s.Snapshot().Metrics
	if len(m) != 2 || len(m[0].X) != 2 || m[0].Y[1] != 0.2 {
		t.Fatalf("metric curves %+v", m)
	}
}

// The best epoch comes live from the training loop (a "best" event) and,
// from the files, from best.json; a new record replaces the mark.
func TestBest(t *testing.T) {
	_, dir := runDir(t)
	s, _ := New(Config{Dir: dir, Logger: quiet})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	st := openSSE(t, srv.URL+"/events")
	defer st.body.Close()
	st.until(t, "snapshot")
	if b := s.Snapshot().Best; b != nil {
		t.Fatalf("best %+v before any evaluation", b)
	}
	s.Best(train.BestRecord{Epoch: 3, Metric: "fid", Value: 61.25})
	var ev BestMark
	if err := json.Unmarshal([]byte(st.until(t, "best").data), &ev); err != nil {
		t.Fatal(err)
	}
	if want := (BestMark{3, "fid", 61.25}); ev != want || *s.Snapshot().Best != want {
		t.Fatalf("best event %+v, snapshot %+v, want %+v", ev, s.Snapshot().Best, want)
	}

	fs, _ := New(Config{Dir: dir, Files: true, Logger: quiet})
	f := &follower{}
	fs.pollOnce(f)
	if b := fs.Snapshot().Best; b != nil {
		t.Fatalf("best %+v without best.json", b)
	}
	for _, rec := range []string{
		`{"format": "cyclepix-best-1", "epoch": 2, "metric": "l1", "value": 0.25}`,
		`{"format": "cyclepix-best-1", "epoch": 14, "metric": "l1", "value": 0.125}`,
	} {
		write(t, train.BestRecordPath(dir), rec)
		// A new modification time even on a coarse clock.
		later := time.Now().Add(time.Duration(len(rec)) * time.Second)
		os.Chtimes(train.BestRecordPath(dir), later, later)
		fs.pollOnce(f)
		var want BestMark
		json.Unmarshal([]byte(rec), &want)
		if b := fs.Snapshot().Best; b == nil || *b != want {
			t.Fatalf("best %+v from %s", b, rec)
		}
	}
}
