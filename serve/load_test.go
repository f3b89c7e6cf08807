package serve

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cyclepix/infer"
	"cyclepix/torch"
)

// loadCase is one kind of request the load test sends.
type loadCase struct {
	kind  string
	valid bool
	query string
	ctype string
	body  []byte
}

// loadCases mixes valid images of several sizes and formats with
// malformed ones; maxBody is the server's body limit.
func loadCases(t testing.TB, maxBody int) []loadCase {
	png := testImage(t, 32, 24, "png", false)
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	mw.WriteField("direction", "BtoA")
	fw, _ := mw.CreateFormFile("image", "x.png")
	fw.Write(testImage(t, 24, 24, "png", false))
	mw.Close()
	over := make([]byte, maxBody+maxBody/5)
	copy(over, png)
	return []loadCase{
		{"png 32x24", true, "", "image/png", png},
		{"jpeg 48x48 → jpeg", true, "format=jpeg", "image/jpeg", testImage(t, 48, 48, "jpeg", false)},
		{"odd 17x13", true, "", "image/png", testImage(t, 17, 13, "png", false)},
		{"grey model 40x40", true, "model=grey", "image/png", testImage(t, 40, 40, "png", true)},
		{"multipart BtoA", true, "", mw.FormDataContentType(), mp.Bytes()},
		{"garbage", false, "", "application/octet-stream", []byte(strings.Repeat("definitely not an image ", 20))},
		{"truncated png", false, "", "image/png", png[:len(png)*2/3]},
		{"decompression bomb", false, "", "image/png", bombPNG(60000, 60000)},
		{"body over limit", false, "", "image/png", over},
		{"strict channels", false, "model=grey&strict=1", "image/png", png},
	}
}

// loadReport is what a load run measured.
type loadReport struct {
	requests  int
	elapsed   time.Duration
	latencies []time.Duration
	byKind    map[string]map[string]int // kind → status (or transport error) → count
	peakRSSkB int64
}

func (r *loadReport) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	l := append([]time.Duration(nil), r.latencies...)
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l[min(len(l)-1, int(p*float64(len(l))))]
}

func (r *loadReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests in %.2f s: %.1f requests/s, latency p50 %.1f ms, p99 %.1f ms, peak RSS %.1f MiB\n",
		r.requests, r.elapsed.Seconds(), float64(r.requests)/r.elapsed.Seconds(),
		float64(r.percentile(0.50).Microseconds())/1000, float64(r.percentile(0.99).Microseconds())/1000, float64(r.peakRSSkB)/1024)
	kinds := make([]string, 0, len(r.byKind))
	for k := range r.byKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		var parts []string
		for st, n := range r.byKind[k] {
			parts = append(parts, fmt.Sprintf("%s×%d", st, n))
		}
		sort.Strings(parts)
		fmt.Fprintf(&b, "  %-20s %s\n", k, strings.Join(parts, " "))
	}
	return b.String()
}

// runLoad sends clients × perClient requests to url, cycling through the
// cases, each client on its own connection pool. It stops early at
// deadline.
func runLoad(ctx context.Context, url string, cases []loadCase, clients, perClient int) *loadReport {
	rep := &loadReport{byKind: map[string]map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	stopRSS := make(chan struct{})
	rssDone := make(chan struct{})
	go func() {
		defer close(rssDone)
		for {
			if hwm := peakRSS(); hwm > rep.peakRSSkB {
				mu.Lock()
				rep.peakRSSkB = hwm
				mu.Unlock()
			}
			select {
			case <-stopRSS:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}, Timeout: 60 * time.Second}
			defer client.CloseIdleConnections()
			for i := 0; i < perClient && ctx.Err() == nil; i++ {
				lc := cases[(c*7+i)%len(cases)]
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/translate?"+lc.query, bytes.NewReader(lc.body))
				req.Header.Set("Content-Type", lc.ctype)
				t0 := time.Now()
				resp, err := client.Do(req)
				status := ""
				if err != nil {
					status = "transport error"
				} else {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					status = strconv.Itoa(resp.StatusCode)
				}
				d := time.Since(t0)
				mu.Lock()
				rep.requests++
				rep.latencies = append(rep.latencies, d)
				if rep.byKind[lc.kind] == nil {
					rep.byKind[lc.kind] = map[string]int{}
				}
				rep.byKind[lc.kind][status]++
				mu.Unlock()
			}
		}(c)
	}
	wg.Wait()
	rep.elapsed = time.Since(start)
	close(stopRSS)
	<-rssDone
	return rep
}

// peakRSS is this process's peak resident set (VmHWM) in KiB: server and
// clients together, since the test hosts both.
func peakRSS() int64 { return procStatus("VmHWM:") }

func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// currentRSS is this process's resident set (VmRSS) in KiB.
func currentRSS() int64 { return procStatus("VmRSS:") }

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// TestLoad runs N concurrent clients × M requests over loopback, half of
// the kinds malformed, against a real listener; it reports requests/s,
// latency percentiles, statuses by kind and peak RSS (also written to
// testdata/artifacts/loadtest.txt). Valid requests must all succeed while
// the queue has room for every client; malformed ones must all get 4xx;
// nothing may get a 5xx. A second run with a queue smaller than the number
// of clients must answer the excess with 503 and still nothing else 5xx.
// CYCLEPIX_LOAD_CLIENTS and CYCLEPIX_LOAD_REQUESTS change N and M.
func TestLoad(t *testing.T) {
	clients, perClient := envInt("CYCLEPIX_LOAD_CLIENTS", 16), envInt("CYCLEPIX_LOAD_REQUESTS", 50)
	const maxBody = 256 << 10
	var out strings.Builder
	for _, run := range []struct {
		name     string
		queue    int
		allow503 bool
		allFine  bool // every valid request must succeed (else at least one)
	}{
		{"queue ≥ clients", clients, false, true},
		{"queue 2 < clients", 2, true, false},
	} {
		t.Run(run.name, func(t *testing.T) {
			s, eng := newTestServer(t, Config{MaxBodyBytes: maxBody, MaxPixels: 1 << 20, Queue: run.queue}, infer.Config{MaxBatch: 4, Queue: run.queue})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, stop := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() { served <- s.Serve(ctx, ln, 10*time.Second) }()
			defer func() {
				stop()
				if err := <-served; err != nil {
					t.Error(err)
				}
			}()
			cases := loadCases(t, maxBody)
			lctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			// Three rounds: the resident set after the first (allocator
			// pools warmed up) and after the last must be about the same,
			// and no tensor may outlive its request.
			tensors := torch.LiveTensors()
			var rep *loadReport
			var rss []int64
			for round := 0; round < 3; round++ {
				rep = runLoad(lctx, "http://"+ln.Addr().String(), cases, clients, perClient)
				runtime.GC()
				debug.FreeOSMemory()
				rss = append(rss, currentRSS())
			}
			// Earlier tests' models may be finalised meanwhile, so the count
			// can fall; it must not rise.
			if n := torch.LiveTensors(); n > tensors {
				t.Errorf("%d tensors alive after the load, %d before", n, tensors)
			}
			if grow := rss[2] - rss[0]; grow > 64<<10 {
				t.Errorf("resident set grew by %d KiB between the first and the last round", grow)
			}
			st := eng.Stats()
			summary := fmt.Sprintf("%s: %d clients × %d requests (last of 3 rounds), queue %d, max batch 4, GOMAXPROCS %d\n%sRSS after each round: %.1f, %.1f, %.1f MiB\nengine: %d images in %d forward passes (%.2f per pass)\n",
				run.name, clients, perClient, run.queue, runtime.GOMAXPROCS(0), rep, float64(rss[0])/1024, float64(rss[1])/1024, float64(rss[2])/1024,
				st.Images, st.Forwards, float64(st.Images)/max(float64(st.Forwards), 1))
			t.Log("\n" + summary)
			out.WriteString(summary + "\n")

			if rep.requests != clients*perClient {
				t.Errorf("%d of %d requests sent before the deadline", rep.requests, clients*perClient)
			}
			valid := map[string]bool{}
			for _, c := range cases {
				valid[c.kind] = c.valid
			}
			var ok, validTotal int
			for kind, statuses := range rep.byKind {
				for st, n := range statuses {
					code, _ := strconv.Atoi(st)
					switch {
					case valid[kind] && code == 200:
						ok += n
					case valid[kind] && code == 503 && run.allow503:
					case !valid[kind] && code >= 400 && code < 500:
					case !valid[kind] && code == 503 && run.allow503:
						// refused before its body was read
					default:
						t.Errorf("%s: %d× %s", kind, n, st)
					}
					if valid[kind] {
						validTotal += n
					}
				}
			}
			if (run.allFine && ok < validTotal) || ok == 0 {
				t.Errorf("only %d of %d valid requests succeeded", ok, validTotal)
			}
		})
	}
	if err := os.WriteFile(filepath.Join(artifactDir(t), "loadtest.txt"), []byte(out.String()), 0o644); err != nil {
		t.Error(err)
	}
}
