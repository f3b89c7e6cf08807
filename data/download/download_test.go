package download

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestResolve(t *testing.T) {
	cases := []struct {
		name   string
		model  bool
		source string
		path   string // want, or
		err    string // an error containing this
	}{
		{"horse2zebra", false, "", "/cyclegan/datasets/horse2zebra.zip", ""},
		{"edges2shoes", false, "", "/pix2pix/datasets/edges2shoes.tar.gz", ""},
		{"facades", false, "", "", "dataset facades exists for both CycleGAN and pix2pix: add --source cyclegan or --source pix2pix"},
		{"facades", false, "pix2pix", "/pix2pix/datasets/facades.tar.gz", ""},
		{"maps", false, "cyclegan", "/cyclegan/datasets/maps.zip", ""},
		{"horse2zebra", true, "", "/cyclegan/pretrained_models/horse2zebra.pth", ""},
		{"day2night", true, "", "/pix2pix/models-pytorch/day2night.pth", ""},
		{"sat2map", true, "", "", "pretrained model sat2map exists for both"},
		{"sat2map", true, "pix2pix", "/pix2pix/models-pytorch/sat2map.pth", ""},
		{"cityscapes", false, "", "", "cannot be redistributed (license)"},
		{"style_monet", false, "", "", `unknown dataset "style_monet" (it is a pretrained model: add --model)`},
		{"mini", true, "", "", `unknown pretrained model "mini" (it is a dataset: drop --model)`},
		{"horses", false, "", "", "unknown dataset \"horses\"; CycleGAN: ae_photos, apple2orange"},
		{"edges2shoes", false, "cyclegan", "", "unknown dataset"},
		{"mini", false, "caffe", "", `unknown --source "caffe"`},
		{"grumpifycat", false, "", "/~taesung_park/CycleGAN/datasets/grumpifycat.zip", ""},
		{"grumpifycat", false, "cut", "/~taesung_park/CycleGAN/datasets/grumpifycat.zip", ""},
		{"horse2zebra_cut", true, "", "/CUT/pretrained_models.tar", ""},
		{"horse2zebra_fastcut_pretrained", true, "", "/CUT/pretrained_models.tar", ""},
		{"cat2dog_cut", true, "cut", "/CUT/pretrained_models.tar", ""},
		{"horse2zebra_cut", false, "", "", "(it is a pretrained model: add --model)"},
		{"grumpifycat", true, "", "", "(it is a dataset: drop --model)"},
		{"horse2zebra", true, "cut", "", "CUT: horse2zebra_cut, horse2zebra_fastcut"},
	}
	for _, c := range cases {
		it, err := Resolve(c.name, c.model, c.source)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s model=%v source=%q: error %v, want %q", c.name, c.model, c.source, err, c.err)
			}
			continue
		}
		if err != nil || it.Path != c.path {
			t.Errorf("%s model=%v source=%q: %+v %v, want %s", c.name, c.model, c.source, it, err, c.path)
		}
	}
}

// server serves files by path with http.ServeContent (which implements
// Range requests) and records the Range header of every request. Paths in
// cut get only their first half once, then the connection drops.
type server struct {
	mu      sync.Mutex
	files   map[string][]byte
	cut     map[string]bool
	ranges  []string
	noRange bool
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	b, ok := s.files[r.URL.Path]
	cut := s.cut[r.URL.Path]
	delete(s.cut, r.URL.Path)
	noRange := s.noRange
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if cut {
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b[:len(b)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drop the connection mid-body
	}
	if noRange {
		r.Header.Del("Range")
	}
	http.ServeContent(w, r, filepath.Base(r.URL.Path), time.Time{}, bytes.NewReader(b))
}

func newServer(t *testing.T, files map[string][]byte) (*server, *httptest.Server) {
	s := &server{files: files, cut: map[string]bool{}}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestFileResumes(t *testing.T) {
	body := payload(300_000)
	s, ts := newServer(t, map[string][]byte{"/f.bin": body})
	s.cut["/f.bin"] = true
	dest := filepath.Join(t.TempDir(), "f.bin")
	ctx := context.Background()
	err := File(ctx, ts.Client(), ts.URL+"/f.bin", dest, nil)
	if err == nil || !strings.Contains(err.Error(), "run the command again to resume") {
		t.Fatalf("cut download: %v", err)
	}
	st, err := os.Stat(dest + ".part")
	if err != nil || st.Size() == 0 || st.Size() >= int64(len(body)) {
		t.Fatalf(".part after the cut: %v %v", st, err)
	}
	var bar bytes.Buffer
	if err := File(ctx, ts.Client(), ts.URL+"/f.bin", dest, &bar); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dest)
	if !bytes.Equal(got, body) {
		t.Fatal("resumed file differs")
	}
	if _, err := os.Stat(dest + ".part"); !os.IsNotExist(err) {
		t.Error(".part left behind")
	}
	if want := "bytes=" + strconv.FormatInt(st.Size(), 10) + "-"; s.ranges[len(s.ranges)-1] != want {
		t.Errorf("resume asked for %q, want %q", s.ranges[len(s.ranges)-1], want)
	}
	if bar.Len() == 0 {
		t.Error("no progress bar output")
	}
}

func TestFileServerIgnoresRange(t *testing.T) {
	body := payload(5000)
	s, ts := newServer(t, map[string][]byte{"/f.bin": body})
	s.noRange = true
	dest := filepath.Join(t.TempDir(), "f.bin")
	os.WriteFile(dest+".part", []byte("stale bytes"), 0o644)
	if err := File(context.Background(), ts.Client(), ts.URL+"/f.bin", dest, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, body) {
		t.Error("200 response did not replace the .part")
	}
}

func TestFileAlreadyComplete(t *testing.T) {
	body := payload(4000)
	_, ts := newServer(t, map[string][]byte{"/f.bin": body})
	dest := filepath.Join(t.TempDir(), "f.bin")
	os.WriteFile(dest+".part", body, 0o644)
	if err := File(context.Background(), ts.Client(), ts.URL+"/f.bin", dest, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, body) {
		t.Error("complete .part not kept")
	}
	// A .part longer than the file (it changed on the server) restarts.
	os.Remove(dest)
	os.WriteFile(dest+".part", append(body, 1, 2, 3), 0o644)
	if err := File(context.Background(), ts.Client(), ts.URL+"/f.bin", dest, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, body) {
		t.Error("oversized .part not replaced")
	}
}

func TestFileErrors(t *testing.T) {
	_, ts := newServer(t, map[string][]byte{"/f.bin": payload(10)})
	dest := filepath.Join(t.TempDir(), "f.bin")
	err := File(context.Background(), ts.Client(), ts.URL+"/missing.zip", dest, nil)
	if err == nil || !strings.Contains(err.Error(), "missing.zip: HTTP 404 Not Found") {
		t.Errorf("404: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := File(ctx, ts.Client(), ts.URL+"/f.bin", dest, nil); err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("cancelled: %v", err)
	}
	// A short body with an honest length (a proxy that truncates) fails the
	// size check.
	short := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.Write(make([]byte, 40))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}))
	defer short.Close()
	if err := File(context.Background(), short.Client(), short.URL+"/x", dest, nil); err == nil || !strings.Contains(err.Error(), "resume") {
		t.Errorf("short body: %v", err)
	}
}

func zipOf(t *testing.T, files map[string]string) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	zw.Close()
	return b.Bytes()
}

// TestFetchCUT: CUT's dataset comes from its own server, and its models
// from one tar of several, all of which are unpacked (the archive's other
// entries are not), so a second model is there without downloading.
func TestFetchCUT(t *testing.T) {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for _, f := range []struct{ name, body string }{
		{"checkpoints/", ""},
		{"checkpoints/horse2zebra_cut_pretrained/latest_net_G.pth", "cut weights"},
		{"checkpoints/cat2dog_fastcut_pretrained/latest_net_G.pth", "fastcut weights"},
		{"README", "not a model"},
	} {
		h := &tar.Header{Name: f.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.body))}
		if strings.HasSuffix(f.name, "/") {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		}
		tw.WriteHeader(h)
		tw.Write([]byte(f.body))
	}
	tw.Close()
	s, ts := newServer(t, map[string][]byte{
		"/CUT/pretrained_models.tar":                       tb.Bytes(),
		"/~taesung_park/CycleGAN/datasets/grumpifycat.zip": zipOf(t, map[string]string{"grumpifycat/trainA/1.jpg": "cat"}),
	})
	root := t.TempDir()
	ctx := context.Background()
	o := Options{To: filepath.Join(root, "checkpoints"), BaseURL: ts.URL, Client: ts.Client(), Log: io.Discard}

	it, err := Resolve("horse2zebra_cut", true, "")
	if err != nil {
		t.Fatal(err)
	}
	if it.Host != DefaultBaseURL {
		t.Errorf("CUT's models from %s, want %s", it.Host, DefaultBaseURL)
	}
	path, err := Fetch(ctx, it, o)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "checkpoints", "horse2zebra_cut_pretrained", "latest_net_G.pth"); path != want {
		t.Errorf("model at %s, want %s", path, want)
	}
	if b, _ := os.ReadFile(path); string(b) != "cut weights" {
		t.Errorf("model content %q", b)
	}
	for _, p := range []string{"README", "pretrained_models.tar", "checkpoints"} {
		if _, err := os.Stat(filepath.Join(root, "checkpoints", p)); !os.IsNotExist(err) {
			t.Errorf("%s left in the destination", p)
		}
	}
	requests := len(s.ranges)
	it, _ = Resolve("cat2dog_fastcut", true, "")
	if path, err = Fetch(ctx, it, o); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "fastcut weights" || len(s.ranges) != requests {
		t.Errorf("second CUT model: %q after %d more requests, want it unpacked by the first", b, len(s.ranges)-requests)
	}

	it, _ = Resolve("grumpifycat", false, "")
	if it.Host != CUTDatasetsURL {
		t.Errorf("grumpifycat from %s, want %s", it.Host, CUTDatasetsURL)
	}
	o.To = filepath.Join(root, "datasets")
	dir, err := Fetch(ctx, it, o)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "trainA", "1.jpg")); string(b) != "cat" {
		t.Errorf("grumpifycat not unpacked into %s", dir)
	}
}

func tgzOf(t *testing.T, files map[string]string) []byte {
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Name: "facades/", Typeflag: tar.TypeDir, Mode: 0o755})
	for name, body := range files {
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
		tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	return b.Bytes()
}

func TestFetch(t *testing.T) {
	files := map[string][]byte{
		"/cyclegan/datasets/mini.zip":                 zipOf(t, map[string]string{"mini/trainA/1.jpg": "a", "mini/testB/2.jpg": "b"}),
		"/pix2pix/datasets/facades.tar.gz":            tgzOf(t, map[string]string{"facades/train/1.jpg": "ab", "facades/val/2.jpg": "cd"}),
		"/cyclegan/pretrained_models/style_monet.pth": []byte("weights"),
		"/cyclegan/datasets/maps.zip":                 zipOf(t, map[string]string{"../evil.txt": "x"}),
	}
	_, ts := newServer(t, files)
	root := t.TempDir()
	ctx := context.Background()
	o := Options{To: filepath.Join(root, "datasets"), BaseURL: ts.URL + "/", Client: ts.Client()}
	var log bytes.Buffer
	o.Log = &log

	it, _ := Resolve("mini", false, "")
	dir, err := Fetch(ctx, it, o)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "trainA", "1.jpg")); string(b) != "a" {
		t.Errorf("zip not unpacked into %s", dir)
	}
	if _, err := os.Stat(filepath.Join(root, "datasets", "mini.zip")); !os.IsNotExist(err) {
		t.Error("archive not removed")
	}
	if _, err := Fetch(ctx, it, o); err != nil || !strings.Contains(log.String(), "already exists") {
		t.Errorf("second fetch: %v, log %q", err, log.String())
	}

	it, _ = Resolve("facades", false, "pix2pix")
	dir, err = Fetch(ctx, it, o)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "val", "2.jpg")); string(b) != "cd" {
		t.Error("tar.gz not unpacked")
	}

	it, _ = Resolve("style_monet", true, "")
	mo := o
	mo.To = filepath.Join(root, "checkpoints")
	path, err := Fetch(ctx, it, mo)
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(root, "checkpoints", "style_monet_pretrained", "latest_net_G.pth") {
		t.Errorf("model at %s", path)
	}
	if b, _ := os.ReadFile(path); string(b) != "weights" {
		t.Error("model content")
	}

	it, _ = Resolve("maps", false, "cyclegan")
	if _, err := Fetch(ctx, it, o); err == nil || !strings.Contains(err.Error(), `"../evil.txt" points outside the destination`) {
		t.Errorf("zip slip: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "evil.txt")); !os.IsNotExist(err) {
		t.Error("zip slip wrote outside")
	}
}
