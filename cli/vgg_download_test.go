package cli_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/data/download"
	"cyclepix/internal/testsupport/clitest"
	"cyclepix/networks"
)

// TestDataDownloadVGG19: 'data download vgg19' puts torchvision's file in
// torch's hub cache (where training finds it) or in --to, refuses a file
// whose SHA-256 does not start with the digits in its name, leaving
// nothing behind, and says where the file is. The real file cannot be
// served (its hash prefix cannot be forged), so the success path starts
// from a file in place; the download itself is tested in data/download.
func TestDataDownloadVGG19(t *testing.T) {
	root := t.TempDir()
	t.Setenv("HOME", filepath.Join(root, "home"))
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("TORCH_HOME", filepath.Join(root, "torch"))
	t.Setenv("CYCLEPIX_VGG19", "")
	cache := networks.VGG19CachePath()
	if want := filepath.Join(root, "torch", "hub", "checkpoints", download.VGG19.File); cache != want || networks.VGG19File != download.VGG19.File {
		t.Fatalf("networks says %s (%s), download says %s: they must agree", cache, networks.VGG19File, download.VGG19.File)
	}

	var requests []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests = append(requests, r.URL.Path)
		w.Write([]byte("not the weights"))
	}))
	defer ts.Close()

	stdout, stderr, code := clitest.Run("data", "download", "vgg19", "--base_url", ts.URL)
	url := ts.URL + "/models/vgg19-dcbb9e9d.pth"
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	// sha256("not the weights") starts with 35245741.
	want := "cyclepix data: download " + url + ": SHA-256 starts with 35245741, expected dcbb9e9d (a corrupted download or a changed file on the server): removed it; run the command again"
	if code != 1 || lines[len(lines)-1] != want {
		t.Errorf("mismatch: exit %d, stderr %q\nwant last line %s", code, stderr, want)
	}
	if len(requests) != 1 || requests[0] != "/models/vgg19-dcbb9e9d.pth" || !strings.Contains(stdout, "→ "+cache) {
		t.Errorf("requests %q, stdout %q: want one for the file, into %s", requests, stdout, cache)
	}
	for _, p := range []string{cache, cache + ".part"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left after the mismatch: %v", p, err)
		}
	}

	// In place in torch's cache: nothing to download, and training finds
	// it without a flag.
	if err := os.WriteFile(cache, []byte("weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = clitest.Run("data", "download", "vgg19", "--base_url", ts.URL)
	if code != 0 || len(requests) != 1 || !strings.HasSuffix(stdout, "vgg19 weights (torchvision's vgg19-dcbb9e9d.pth): "+cache+"\n") ||
		!strings.Contains(stdout, "already exists") || strings.Contains(stdout, "--vgg19") {
		t.Errorf("in the cache: exit %d, %d requests, stdout %q, stderr %q", code, len(requests), stdout, stderr)
	}

	// Elsewhere (--to): the output says how to point training at it.
	dir := filepath.Join(root, "weights")
	os.MkdirAll(dir, 0o755)
	other := filepath.Join(dir, "vgg19-dcbb9e9d.pth")
	os.WriteFile(other, []byte("weights"), 0o644)
	stdout, stderr, code = clitest.Run("data", "download", "--to", dir, "vgg19")
	if code != 0 || !strings.HasSuffix(stdout, "vgg19 weights (torchvision's vgg19-dcbb9e9d.pth): "+other+"\ntrain with --vgg19 "+other+" (or set CYCLEPIX_VGG19="+other+")\n") {
		t.Errorf("--to: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	if got := oneLineError(t, "data", "download", "vgg19", "--source", "cut"); got != "cyclepix data: vgg19 is torchvision's weights file, not a cut download: drop --source cut" {
		t.Errorf("--source: %s", got)
	}
	const listed = "\nWeights: vgg19 (torchvision's vgg19-dcbb9e9d.pth, 548 MB, for pix2pixHD's VGG loss)\n"
	_, stderr, code = clitest.Run("data", "download")
	if code != 1 || !strings.Contains(stderr, listed) || !strings.HasSuffix(stderr, listed+"cyclepix data: give one dataset, model or weights NAME\n") {
		t.Errorf("without a NAME: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = clitest.Run("data", "download", "--help")
	if code != 0 || !strings.Contains(stderr, "--to STRING") || !strings.HasSuffix(stderr, listed) {
		t.Errorf("--help: exit %d, stderr %q", code, stderr)
	}
}
