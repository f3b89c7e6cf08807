package serve

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cyclepix/infer"
	"cyclepix/torch"
)

// TestSoak runs rounds of the load test's mixed valid and malformed
// uploads while hostile clients keep at it alongside: uploads dribbled
// past the body timeout (408), a flood of idle connections from one
// address over its limit (503 for the excess, header timeout for the
// rest), and uploads abandoned halfway. Over a few thousand requests
// every valid one must succeed, the resident set must stay flat between
// the second round (allocator pools warm) and the last, and goroutines,
// connections, body memory, slots and tensors must all come back to
// where they started. CYCLEPIX_SOAK_ROUNDS changes the number of rounds.
func TestSoak(t *testing.T) {
	const clients, perClient, maxBody = 6, 100, 256 << 10
	rounds := envInt("CYCLEPIX_SOAK_ROUNDS", 4)
	s, _ := newTestServer(t, Config{MaxBodyBytes: maxBody, MaxPixels: 1 << 20, Queue: clients + 2, MaxConnsPerIP: 16,
		BodyTimeout: 250 * time.Millisecond, HeaderTimeout: 250 * time.Millisecond, IdleTimeout: time.Second},
		infer.Config{MaxBatch: 4, Queue: clients + 2})
	tensors := torch.LiveTensors()
	addr := liveServer(t, s)
	goroutines := runtime.NumGoroutine()
	url := "http://" + addr
	cases := loadCases(t, maxBody)
	valid := map[string]bool{}
	for _, c := range cases {
		valid[c.kind] = c.valid
	}
	img := testImage(t, 32, 24, "png", false)

	var hostile struct {
		sync.Mutex
		outcomes map[string]int
	}
	hostile.outcomes = map[string]int{}
	note := func(what string) {
		hostile.Lock()
		hostile.outcomes[what]++
		hostile.Unlock()
	}
	dial := func(from string) net.Conn {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			note("dial error")
			return nil
		}
		return c
	}
	// answer reads one status line (or notes the close) within 10 s.
	answer := func(c net.Conn, kind string) {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(io.LimitReader(c, 4096))
		status := "closed"
		if line, _, _ := strings.Cut(string(b), "\r\n"); strings.HasPrefix(line, "HTTP/1.1 ") {
			status = strings.Fields(line)[1]
		}
		note(kind + " " + status)
	}
	dribbler := func(ctx context.Context) {
		for ctx.Err() == nil {
			c := dial("127.0.0.1")
			if c == nil {
				return
			}
			io.WriteString(c, postHead("image/png", len(img)))
			go func() {
				for _, b := range img {
					time.Sleep(40 * time.Millisecond)
					if _, err := c.Write([]byte{b}); err != nil {
						return
					}
				}
			}()
			answer(c, "dribbled upload")
			c.Close()
		}
	}
	flooder := func(ctx context.Context) {
		for ctx.Err() == nil {
			var conns []net.Conn
			for range 20 {
				if c := dial("127.0.0.2"); c != nil {
					conns = append(conns, c)
				}
			}
			var wg sync.WaitGroup
			for _, c := range conns {
				wg.Add(1)
				go func() { defer wg.Done(); answer(c, "idle connection"); c.Close() }()
			}
			wg.Wait()
		}
	}
	abandoner := func(ctx context.Context) {
		for ctx.Err() == nil {
			c := dial("127.0.0.3")
			if c == nil {
				return
			}
			io.WriteString(c, postHead("image/png", len(img))+string(img[:len(img)/2]))
			time.Sleep(20 * time.Millisecond)
			c.Close()
			note("abandoned upload")
		}
	}

	var rss []int64
	var rep *loadReport
	var requests atomic.Int64
	lctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	for round := 0; round < rounds; round++ {
		hctx, stopHostile := context.WithCancel(lctx)
		var wg sync.WaitGroup
		for _, f := range []func(context.Context){dribbler, dribbler, flooder, abandoner} {
			wg.Add(1)
			go func() { defer wg.Done(); f(hctx) }()
		}
		rep = runLoad(lctx, url, cases, clients, perClient)
		stopHostile()
		wg.Wait()
		requests.Add(int64(rep.requests))
		for kind, statuses := range rep.byKind {
			for st, n := range statuses {
				code, _ := strconv.Atoi(st)
				if valid[kind] && code != 200 || !valid[kind] && (code < 400 || code >= 500) {
					t.Errorf("round %d, %s: %d× %s", round, kind, n, st)
				}
			}
		}
		runtime.GC()
		debug.FreeOSMemory()
		rss = append(rss, currentRSS())
	}
	elapsed := time.Since(start)

	hostile.Lock()
	var hostileTotal int
	var parts []string
	for k, n := range hostile.outcomes {
		hostileTotal += n
		parts = append(parts, fmt.Sprintf("%s×%d", k, n))
	}
	hostile.Unlock()
	// Everything closes: the idle connections at the idle timeout, the
	// refused ones after their answer.
	waitFor(t, "the connections to close", func() bool { return s.conns.Load().openConns() == 0 })
	http.DefaultClient.CloseIdleConnections()
	var leaked int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		// A few are allowed for: the runtime's and net/http's own.
		if leaked = runtime.NumGoroutine() - goroutines - 4; leaked <= 0 || time.Now().After(deadline) {
			break
		}
	}
	h := healthOf(t, s)
	var rssList []string
	for _, r := range rss {
		rssList = append(rssList, fmt.Sprintf("%.1f", float64(r)/1024))
	}
	summary := fmt.Sprintf("soak: %d rounds, %d load requests and %d hostile ones in %.1f s; RSS after each round %s MiB; hostile outcomes %s; healthz rejected %v cut_off %v idle_closed %d\nlast round: %s",
		rounds, requests.Load(), hostileTotal, elapsed.Seconds(), strings.Join(rssList, ", "), strings.Join(parts, " "), h.Rejected, h.CutOff, h.IdleClosed, rep)
	t.Log("\n" + summary)
	if err := os.WriteFile(filepath.Join(artifactDir(t), "soak.txt"), []byte(summary), 0o644); err != nil {
		t.Error(err)
	}

	if rounds >= 3 {
		if grow := rss[len(rss)-1] - rss[1]; grow > 16<<10 {
			t.Errorf("resident set grew by %d KiB from the second round to the last", grow)
		}
	}
	if leaked > 0 {
		t.Errorf("%d goroutines more than before the soak", leaked)
	}
	if h.BodyMemoryBytes != 0 || h.InFlight != 0 || h.Connections != 0 {
		t.Errorf("after the soak: %d bytes of bodies held, %d slots taken, %d connections open", h.BodyMemoryBytes, h.InFlight, h.Connections)
	}
	if n := torch.LiveTensors(); n > tensors {
		t.Errorf("%d tensors alive after the soak, %d before", n, tensors)
	}
	// The hostile clients met the limits they aimed at.
	hostile.Lock()
	defer hostile.Unlock()
	if hostile.outcomes["dribbled upload 408"] == 0 || hostile.outcomes["idle connection 503"] == 0 || h.CutOff["slow_body"] == 0 ||
		h.CutOff["slow_headers"] == 0 || h.Rejected["max_conns_per_ip"] == 0 {
		t.Errorf("hostile clients did not meet the limits: %v, healthz %+v", hostile.outcomes, h)
	}
	for k, n := range hostile.outcomes {
		if !strings.HasSuffix(k, " 408") && !strings.HasSuffix(k, " 503") && !strings.HasSuffix(k, " closed") && k != "abandoned upload" {
			t.Errorf("hostile: %d× %s", n, k)
		}
	}
}
