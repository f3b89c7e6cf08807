package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"cyclepix/infer"
)

// post sends body to /v1/translate?query, multipart with the given form
// fields when fields is non-nil.
func post(t testing.TB, h http.Handler, query string, body []byte, fields map[string]string, accept string) *httptest.ResponseRecorder {
	t.Helper()
	ctype := "application/octet-stream"
	if fields != nil {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		for k, v := range fields {
			mw.WriteField(k, v)
		}
		if body != nil {
			fw, _ := mw.CreateFormFile("image", "upload.bin")
			fw.Write(body)
		}
		mw.Close()
		body, ctype = b.Bytes(), mw.FormDataContentType()
	}
	r := httptest.NewRequest(http.MethodPost, "/v1/translate?"+query, bytes.NewReader(body))
	r.Header.Set("Content-Type", ctype)
	if accept != "" {
		r.Header.Set("Accept", accept)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestTranslateValid(t *testing.T) {
	s, _ := newTestServer(t, Config{}, infer.Config{MaxBatch: 4})
	cases := []struct {
		name, query string
		body        []byte
		fields      map[string]string
		accept      string
		w, h        int
		ctype       string
		grey        bool
	}{
		{"png raw", "", testImage(t, 13, 9, "png", false), nil, "", 13, 9, "image/png", false},
		{"jpeg raw, png back", "model=tiny", testImage(t, 40, 24, "jpeg", false), nil, "", 40, 24, "image/png", false},
		{"jpeg on request", "format=jpeg", testImage(t, 17, 31, "png", false), nil, "", 17, 31, "image/jpeg", false},
		{"jpeg by Accept", "", testImage(t, 16, 16, "png", false), nil, "image/jpeg, */*;q=0.5", 16, 16, "image/jpeg", false},
		{"grey input converted", "", testImage(t, 5, 7, "png", true), nil, "", 5, 7, "image/png", false},
		{"multipart with fields", "", testImage(t, 33, 12, "png", false), map[string]string{"model": "tiny", "direction": "BtoA"}, "", 33, 12, "image/png", true},
		{"grey model, RGB converted", "model=grey", testImage(t, 50, 3, "jpeg", false), nil, "", 50, 3, "image/png", true},
		{"grey model, strict grey", "model=grey&strict=1", testImage(t, 1, 1, "png", true), nil, "", 1, 1, "image/png", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := post(t, s, c.query, c.body, c.fields, c.accept)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body.String())
			}
			if ct := w.Header().Get("Content-Type"); ct != c.ctype {
				t.Errorf("Content-Type %q, want %q", ct, c.ctype)
			}
			img, format, err := image.Decode(w.Body)
			if err != nil {
				t.Fatalf("response is not an image: %v", err)
			}
			if "image/"+format != c.ctype {
				t.Errorf("body is %s, header says %s", format, c.ctype)
			}
			if b := img.Bounds(); b.Dx() != c.w || b.Dy() != c.h {
				t.Errorf("output %dx%d, want %dx%d", b.Dx(), b.Dy(), c.w, c.h)
			}
			isGrey := img.ColorModel() == color.GrayModel
			if isGrey != c.grey {
				t.Errorf("grey output %v, want %v", isGrey, c.grey)
			}
		})
	}
}

func TestTranslateErrors(t *testing.T) {
	s, _ := newTestServer(t, Config{MaxBodyBytes: 64 << 10, MaxPixels: 512 * 512}, infer.Config{})
	good := testImage(t, 20, 20, "png", false)
	big := make([]byte, 65<<10)
	copy(big, good)
	cases := []struct {
		name, query string
		body        []byte
		fields      map[string]string
		status      int
		want        string
	}{
		{"garbage", "", []byte("GIF? no, just some text that is not an image"), nil, 400, "not an image"},
		{"empty", "", []byte{}, nil, 400, "empty image"},
		{"truncated png", "", good[:len(good)-30], nil, 400, "truncated PNG image (20x20"},
		{"truncated jpeg", "", testImage(t, 64, 64, "jpeg", false)[:400], nil, 400, "truncated JPEG image"},
		{"corrupt png header", "", append([]byte("\x89PNG\r\n\x1a\n"), 0, 0, 0, 13, 'I', 'H', 'D', 'R'), nil, 400, "PNG"},
		{"body over the limit", "", big, nil, 413, "65536-byte limit"},
		{"multipart over the limit", "", big, map[string]string{"model": "tiny"}, 413, "limit"},
		{"decompression bomb", "", bombPNG(100000, 100000), nil, 413, "100000x100000 = 10000000000 pixels, over the 262144-pixel limit"},
		{"too many pixels", "", bombPNG(513, 512), nil, 413, "over the 262144-pixel limit"},
		{"zero width", "", bombPNG(0, 10), nil, 400, "PNG"},
		{"unknown model", "model=zebra", good, nil, 404, `unknown model "zebra" (loaded: "tiny", "grey")`},
		{"bad direction", "direction=sideways", good, nil, 400, "want AtoB or BtoA"},
		{"missing direction", "model=grey&direction=BtoA", good, nil, 404, `has no BtoA generator (it has "AtoB")`},
		{"wrong channel count", "model=grey&strict=true", good, nil, 422, "takes 1-channel (grey) images, this one has 3-channel (RGB)"},
		{"bad strict", "strict=perhaps", good, nil, 400, "strict"},
		{"bad format", "format=gif", good, nil, 400, "want png or jpeg"},
		{"multipart without image", "", nil, map[string]string{"model": "tiny"}, 400, `no "image" field`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := post(t, s, c.query, c.body, c.fields, "")
			if w.Code != c.status {
				t.Fatalf("status %d, want %d: %s", w.Code, c.status, w.Body.String())
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var e struct{ Error string }
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("body %q is not {\"error\": ...}: %v", w.Body.String(), err)
			}
			if !strings.Contains(e.Error, c.want) {
				t.Errorf("error %q lacks %q", e.Error, c.want)
			}
		})
	}
	// Methods and paths.
	for _, c := range []struct {
		method, path string
		status       int
	}{{"GET", "/v1/translate", 405}, {"POST", "/v1/models", 405}, {"DELETE", "/healthz", 405}, {"GET", "/nope", 404}} {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(c.method, c.path, nil))
		if w.Code != c.status || !strings.Contains(w.Body.String(), `"error"`) {
			t.Errorf("%s %s: %d %s", c.method, c.path, w.Code, w.Body.String())
		}
	}
}

func TestModelsHealthAndPage(t *testing.T) {
	s, _ := newTestServer(t, Config{Queue: 3}, infer.Config{MaxBatch: 2, Tile: 256, TileOverlap: 16})
	get := func(path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		return w
	}
	w := get("/v1/models")
	var models struct {
		Models []struct {
			Name             string
			DefaultDirection string `json:"default_direction"`
			Generators       []struct {
				Direction, Net, NetG string
				InputNC              int `json:"input_nc"`
				OutputNC             int `json:"output_nc"`
				SizeMultiple         int `json:"size_multiple"`
				Params               int64
				Eval                 bool
			}
			Options map[string]any
		}
		Limits map[string]float64
	}
	if err := json.Unmarshal(w.Body.Bytes(), &models); err != nil || w.Code != 200 {
		t.Fatalf("%d %s: %v", w.Code, w.Body.String(), err)
	}
	if len(models.Models) != 2 || models.Models[0].Name != "tiny" || models.Models[1].Name != "grey" {
		t.Fatalf("models %+v", models.Models)
	}
	tiny := models.Models[0]
	if tiny.DefaultDirection != "AtoB" || len(tiny.Generators) != 2 || tiny.Generators[1].Net != "G_B" || tiny.Generators[1].OutputNC != 1 ||
		tiny.Generators[0].SizeMultiple != 4 || tiny.Generators[0].Params == 0 || !tiny.Generators[0].Eval || tiny.Options["netG"] != "resnet_1blocks" {
		t.Errorf("tiny: %+v", tiny)
	}
	if g := models.Models[1].Generators[0]; g.SizeMultiple != 32 || g.InputNC != 1 {
		t.Errorf("grey: %+v", g)
	}
	if l := models.Limits; l["queue"] != 3 || l["max_batch"] != 2 || l["tile"] != 256 {
		t.Errorf("limits %v", l)
	}

	w = get("/healthz")
	var h struct {
		Status   string
		Models   []string
		Queue    int
		InFlight int `json:"in_flight"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &h); err != nil || w.Code != 200 || h.Status != "ok" || len(h.Models) != 2 || h.Queue != 3 {
		t.Errorf("healthz %d %s", w.Code, w.Body.String())
	}

	w = get("/")
	page := w.Body.String()
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") || !strings.Contains(page, `id="drop"`) {
		t.Fatalf("page %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	// Everything the page needs is in it: no CDN, no external fonts.
	for _, ref := range []string{`src="http`, `href="http`, `url(http`, `@import`} {
		if strings.Contains(page, ref) {
			t.Errorf("page refers to an external resource (%s)", ref)
		}
	}
}

func TestQueueFull(t *testing.T) {
	s, eng := newTestServer(t, Config{Queue: 2}, infer.Config{MaxBatch: 4})
	img := testImage(t, 24, 16, "png", false)
	release := holdWorker(t, eng)
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range codes {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			codes[i] = post(t, s, "", img, nil, "").Code
		}(i)
	}
	for deadline := time.Now().Add(5 * time.Second); len(s.slots) < 2; {
		if time.Now().After(deadline) {
			t.Fatal("requests were not admitted")
		}
		time.Sleep(time.Millisecond)
	}
	w := post(t, s, "", img, nil, "")
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "server busy") {
		t.Errorf("third request: %d %v %s", w.Code, w.Header(), w.Body.String())
	}
	// Admitted is not yet queued (the images may still be decoding): wait
	// until both wait for the worker, so that they share a forward pass.
	for deadline := time.Now().Add(5 * time.Second); eng.Stats().Queued < 2; {
		if time.Now().After(deadline) {
			t.Fatal("admitted requests never reached the engine queue")
		}
		time.Sleep(time.Millisecond)
	}
	release()
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Errorf("admitted request %d: status %d", i, c)
		}
	}
	// Both waited together: one forward pass for the two.
	if st := eng.Stats(); st.Images != 2 || st.Forwards != 1 {
		t.Errorf("engine stats %+v, want 2 images in 1 forward pass", st)
	}
}

func TestRequestTimeout(t *testing.T) {
	s, eng := newTestServer(t, Config{RequestTimeout: 50 * time.Millisecond}, infer.Config{})
	release := holdWorker(t, eng)
	defer release()
	w := post(t, s, "", testImage(t, 8, 8, "png", false), nil, "")
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "request timeout") {
		t.Errorf("%d %s", w.Code, w.Body.String())
	}
}

func TestGracefulShutdown(t *testing.T) {
	s, eng := newTestServer(t, Config{}, infer.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln, 10*time.Second) }()

	release := holdWorker(t, eng)
	type result struct {
		code int
		size image.Point
		err  error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := http.Post(url+"/v1/translate", "image/png", bytes.NewReader(testImage(t, 19, 21, "png", false)))
		if err != nil {
			inflight <- result{err: err}
			return
		}
		defer resp.Body.Close()
		img, _, err := image.Decode(resp.Body)
		r := result{code: resp.StatusCode, err: err}
		if err == nil {
			r.size = img.Bounds().Size()
		}
		inflight <- r
	}()
	for deadline := time.Now().Add(5 * time.Second); len(s.slots) < 1; {
		if time.Now().After(deadline) {
			t.Fatal("request not admitted")
		}
		time.Sleep(time.Millisecond)
	}
	cancel() // SIGINT, as far as the server knows
	for deadline := time.Now().Add(5 * time.Second); !s.draining.Load(); {
		if time.Now().After(deadline) {
			t.Fatal("shutdown did not start")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned with a request in flight: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	// New connections are refused while the request in flight finishes.
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("still accepting connections during shutdown")
	}
	release()
	r := <-inflight
	if r.err != nil || r.code != 200 || r.size != image.Pt(19, 21) {
		t.Errorf("request in flight during shutdown: %+v", r)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "shutting down") {
		t.Errorf("healthz after shutdown: %d %s", w.Code, w.Body.String())
	}
}
