package serve

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"cyclepix/infer"
	"cyclepix/internal/testsupport"
)

// artifactDir is where tests leave screenshots for people to look at
// (gitignored).
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("testdata", "artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBrowserUpload drives the web page in headless Chromium: it waits for
// the model list, uploads an image through the file input, waits for the
// translated image, checks its size, and saves a screenshot; then it
// uploads a file that is not an image and checks the error shown.
func TestBrowserUpload(t *testing.T) {
	bin := testsupport.Chromium()
	if bin == "" {
		t.Skip("no chromium binary (apt install chromium)")
	}
	s, _ := newTestServer(t, Config{}, infer.Config{MaxBatch: 2})
	ts := httptest.NewServer(s)
	defer ts.Close()
	dir := t.TempDir()
	photo := filepath.Join(dir, "photo.png")
	if err := os.WriteFile(photo, testImage(t, 96, 64, "png", false), 0o644); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk.png")
	if err := os.WriteFile(junk, []byte("not an image at all"), 0o644); err != nil {
		t.Fatal(err)
	}

	// Running as root needs --no-sandbox; a fresh profile keeps runs
	// independent; the rest keeps Chromium off the network.
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.Headless,
		chromedp.DisableGPU, chromedp.UserDataDir(filepath.Join(dir, "profile")), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-first-run", true), chromedp.WindowSize(1100, 720))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	// The first action starts the browser, which lives as long as its
	// context: no timeout on that one.
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()

	err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL),
		// Poll rather than WaitVisible: these are attribute changes made by
		// the page's script, which JavaScript sees at once.
		chromedp.Poll[chromedp.Void](`document.body.dataset.ready === "1"`),
		chromedp.SetUploadFiles(`#file`, []string{photo}),
		chromedp.Poll[chromedp.Void](`document.getElementById("output").dataset.done === "1"`),
	)
	if err != nil {
		status, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("status").textContent`))
		t.Fatalf("upload: %v (status line %q)", err, status)
	}
	dims, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`(() => { const i = document.getElementById("input"), o = document.getElementById("output"); return [i.naturalWidth, i.naturalHeight, o.naturalWidth, o.naturalHeight]; })()`))
	if err != nil {
		t.Fatal(err)
	}
	if len(dims) != 4 || dims[0] != 96 || dims[1] != 64 || dims[2] != 96 || dims[3] != 64 {
		t.Errorf("input and output sizes %v, want 96x64 both", dims)
	}
	status, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("status").textContent`))
	if err != nil || !strings.HasPrefix(status, "tiny AtoB: 96x64 in ") {
		t.Errorf("status line %q (%v)", status, err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(artifactDir(t), "serve_page.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)

	// A file that is not an image: the page shows the service's error.
	err = chromedp.Do(ctx,
		chromedp.SetUploadFiles(`#file`, []string{junk}),
		chromedp.Poll[chromedp.Void](`document.querySelector("#status.error") !== null`),
	)
	if err != nil {
		t.Fatal(err)
	}
	status, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("status").textContent`))
	if !strings.HasPrefix(status, "400: not an image") {
		t.Errorf("error status line %q", status)
	}
	if shot, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		err = os.WriteFile(filepath.Join(artifactDir(t), "serve_page_error.png"), shot, 0o644)
	}
	if err != nil {
		t.Error(err)
	}
}
