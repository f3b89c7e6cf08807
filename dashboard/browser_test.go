package dashboard

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"cyclepix/data/builtin"
	"cyclepix/internal/testsupport"
	"cyclepix/options"
	"cyclepix/train"
)

// artifacts is where screenshots go: $CYCLEPIX_ARTIFACTS, else
// dashboard/artifacts (ignored by git), so that they outlive the test.
func artifacts(t *testing.T) string {
	dir := os.Getenv("CYCLEPIX_ARTIFACTS")
	if dir == "" {
		dir = "artifacts"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	return abs
}

// browser starts a headless Chromium with a fresh profile.
func browser(t *testing.T) (context.Context, context.CancelFunc) {
	t.Helper()
	path := testsupport.Chromium()
	if path == "" {
		t.Skip("no Chromium (apt-get install chromium, or set $CHROMIUM or $CYCLEPIX_CHROMIUM)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // the tests run as root
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	ctx, cancel := context.WithTimeout(bctx, 3*time.Minute)
	return ctx, func() { cancel(); bcancel(); acancel() }
}

// pageReady is true once the page shows a curve with at least minPoints
// points for every loss, the held-out metrics with a point per epoch, and
// every visual loaded, with the given status.
const pageReady = `(() => {
  const paths = [...document.querySelectorAll('#charts path.raw')];
  const metrics = [...document.querySelectorAll('#metric-charts path.raw')];
  const imgs = [...document.querySelectorAll('#visuals img')];
  return paths.length === %d && paths.every((p) => +p.dataset.points >= %d && p.getAttribute('d').length > 10) &&
    metrics.length === %d && metrics.every((p) => +p.dataset.points === %d) &&
    imgs.length === %d && imgs.every((i) => i.complete && i.naturalWidth > 0) &&
    document.getElementById('status').dataset.status === %q;
})()`

// browserCase is a training run for the browser test.
type browserCase struct {
	model, data string
	args        []string
	losses      int // charts
	points      int // per loss
	metrics     int // charts of held-out metrics, a point per epoch
	visuals     int
}

// TestBrowserLiveTraining trains tiny models with the dashboard attached,
// as `cyclepix train --display_port` does, with a page opened before
// training starts: the page must fill in without being reloaded. Then
// `cyclepix dashboard` shows the same run from its files.
func TestBrowserLiveTraining(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models and drives a browser")
	}
	ctx, cancel := browser(t)
	defer cancel()
	// 6 images a epoch, 2 epochs, a report every 2: 6 points per loss.
	cases := []browserCase{
		{model: "cycle_gan", data: "blobs2zebras", args: []string{"--netG", "resnet_1blocks"},
			losses: 8, points: 6, visuals: 8},
		{model: "pix2pix", data: "shapes2photos", args: []string{"--netG", "unet_32", "--eval_freq", "1"},
			losses: 4, points: 6, metrics: 3, visuals: 3},
	}
	for _, c := range cases {
		t.Run(c.model, func(t *testing.T) { browserRun(t, ctx, c) })
	}
}

func browserRun(t *testing.T, ctx context.Context, c browserCase) {
	// As cyclepix's main goroutine is, so that libtorch's per-thread state
	// stays the same (see torch/init.go); training runs here.
	runtime.LockOSThread()
	root := t.TempDir()
	data := filepath.Join(root, c.data)
	if _, err := builtin.Generate(context.Background(), c.data, data, builtin.Options{Size: 32, NumTrain: 6, NumTest: 3, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(root, "checkpoints")
	args := append([]string{"--model", c.model, "--dataroot", data, "--checkpoints_dir", ckpt, "--name", "run", "--seed", "7", "--num_threads", "2",
		"--ngf", "4", "--ndf", "4", "--load_size", "36", "--crop_size", "32",
		"--n_epochs", "1", "--n_epochs_decay", "1", "--print_freq", "2", "--display_freq", "2",
		"--display_port", strconv.Itoa(testsupport.FreePort(t))}, c.args...)
	o, err := train.ParseOptions(true, args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg := train.Config{Out: io.Discard}
	s, url, err := Attach(o, &cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())

	// The page before training: waiting, no curves.
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("opening %s: %v", url, err)
	}
	waitFor(t, ctx, `document.getElementById('status').dataset.status === 'waiting'`)
	eval[bool](t, ctx, `window.__notReloaded = true`)
	if n := eval[int](t, ctx, `document.querySelectorAll('#charts .chart').length`); n != 0 {
		t.Fatalf("%d charts before training", n)
	}

	start := time.Now()
	if err := train.Train(o, cfg); err != nil {
		t.Fatal(err)
	}
	t.Logf("trained in %v", time.Since(start).Round(time.Millisecond))

	waitFor(t, ctx, fmt.Sprintf(pageReady, c.losses, c.points, c.metrics, 2, c.visuals, StatusFinished))
	if !eval[bool](t, ctx, `window.__notReloaded === true`) {
		t.Fatal("the page was reloaded")
	}
	stats := eval[map[string]string](t, ctx, `Object.fromEntries(['s-epoch','s-iter','s-total','s-lr','s-ips','s-eta'].map((id) => [id, document.getElementById(id).textContent]))`)
	if stats["s-epoch"] != "2 / 2" || stats["s-iter"] != "6 / 6" || stats["s-total"] != "12" || stats["s-lr"] == "—" || stats["s-ips"] == "—" || stats["s-eta"] != "done" {
		t.Errorf("stats %v", stats)
	}
	waitBestMark(t, ctx, s.Dir(), c)
	shot(t, ctx, "dashboard-live-"+c.model+".png")
	order := `[...document.querySelectorAll('.chart')].map((c) => c.dataset.loss).join(' ')`
	liveOrder := eval[string](t, ctx, order)

	// The curve controls (the metrics are never smoothed).
	for _, m := range []struct {
		mode        string
		raw, smooth int
	}{{"raw", c.losses, 0}, {"smoothed", 0, c.losses}, {"both", c.losses, c.losses}} {
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#curve-mode button[data-mode="`+m.mode+`"]`))); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, fmt.Sprintf(`document.querySelectorAll('#charts path.raw').length === %d && document.querySelectorAll('#charts path.smoothed').length === %d && document.querySelectorAll('#metric-charts path.raw').length === %d`,
			m.raw, m.smooth, c.metrics))
	}

	// The same run from its files, as `cyclepix dashboard` shows it.
	fs, err := New(Config{Dir: s.Dir(), Name: "run", Files: true, Logger: quiet, Poll: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	furl, err := fs.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Shutdown(context.Background())
	if err := chromedp.Do(ctx, chromedp.Navigate(furl)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, fmt.Sprintf(pageReady, c.losses, c.points, c.metrics, 2, c.visuals, StatusFiles))
	waitBestMark(t, ctx, s.Dir(), c)
	if n := eval[int](t, ctx, `document.querySelectorAll('#gallery-select option').length`); n != 3 {
		t.Errorf("%d gallery entries, want 3 (current, epoch 2, epoch 1)", n)
	}
	if got := eval[string](t, ctx, order); got != liveOrder {
		t.Errorf("charts in order %q from the files, %q live", got, liveOrder)
	}
	shot(t, ctx, "dashboard-files-"+c.model+".png")
}

func TestAttach(t *testing.T) {
	parse := func(port int) *options.Set {
		o, err := train.ParseOptions(true, []string{"--dataroot", t.TempDir(), "--checkpoints_dir", t.TempDir(), "--display_port", strconv.Itoa(port)}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	var cfg train.Config
	if s, _, err := Attach(parse(0), &cfg, quiet); s != nil || err != nil || len(cfg.Observers) != 0 {
		t.Fatalf("--display_port 0: %v, %v, %d observers", s, err, len(cfg.Observers))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().(*net.TCPAddr).Port
	if _, _, err := Attach(parse(busy), &cfg, quiet); err == nil || !strings.Contains(err.Error(), "choose another port") {
		t.Fatalf("busy port: %v", err)
	}
	stop := make(chan struct{})
	cfg = train.Config{Stop: stop}
	s, url, err := Attach(parse(testsupport.FreePort(t)), &cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	if !strings.HasPrefix(url, "http://127.0.0.1:") || len(cfg.Observers) != 1 {
		t.Fatalf("url %s, %d observers", url, len(cfg.Observers))
	}
	if snap := s.Snapshot(); !strings.Contains(snap.Options, "display_port") || snap.Progress.Epochs != 200 {
		t.Fatalf("options not shown: %+v", snap.Progress)
	}
	close(stop) // Ctrl-C
	deadline := time.Now().Add(5 * time.Second)
	for s.Snapshot().Status != StatusStopping {
		if time.Now().After(deadline) {
			t.Fatal("status did not become stopping")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitBestMark waits until the page rings the epoch of the run's best.json
// on that metric's chart, and nothing else (runs without --eval_freq have
// neither).
func waitBestMark(t *testing.T, ctx context.Context, dir string, c browserCase) {
	t.Helper()
	rec, err := train.ReadBestRecord(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.metrics == 0 {
		if rec != nil {
			t.Fatalf("best.json without --eval_freq: %+v", rec)
		}
		return
	}
	if rec == nil {
		t.Fatal("no best.json after training with --eval_freq")
	}
	waitFor(t, ctx, fmt.Sprintf(`(() => {
  const rings = [...document.querySelectorAll('#metric-charts circle.best')];
  return rings.length === 1 && rings[0].dataset.epoch === '%d' && rings[0].closest('.chart').dataset.loss === %q &&
    rings[0].closest('.chart').querySelector('.readout').textContent.includes('best: epoch %d');
})()`, rec.Epoch, rec.Metric, rec.Epoch))
}

// eval evaluates a script in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// waitFor waits until a script is true in the page.
func waitFor(t *testing.T, ctx context.Context, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("waiting for %s: %v\npage: %s", expr, err, pageState(ctx))
	}
}

// pageState describes the page for a failure message.
func pageState(ctx context.Context) string {
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({status: document.getElementById('status').dataset.status,
	  paths: [...document.querySelectorAll('#charts path.raw')].map((p) => p.dataset.points),
	  metrics: [...document.querySelectorAll('#metric-charts path.raw')].map((p) => p.dataset.points),
	  imgs: [...document.querySelectorAll('#visuals img')].map((i) => i.naturalWidth)})`))
	return s
}

// shot saves a full-page screenshot under artifacts().
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	// Let the progress bars' transitions end.
	if err := chromedp.Do(ctx, chromedp.Sleep(500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	p := filepath.Join(artifacts(t), name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", p)
}
