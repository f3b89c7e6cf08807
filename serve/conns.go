package serve

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// counters are what /healthz reports about slow and refused clients.
type counters struct {
	queueFull, bodyMemory, tooManyConns, tooManyFromAddr atomic.Int64 // refused
	slowHeaders, slowBody, slowResponse, idleClosed      atomic.Int64 // cut off
}

// connLimiter bounds the connections open at once, in all and per client
// address. A connection over a bound is answered 503 at once and closed,
// rather than left waiting in the kernel's backlog: a client learns it
// should retry instead of hanging, and a flood of connections from one
// address cannot hold the others out.
type connLimiter struct {
	net.Listener
	s      *Server
	max    int // 0: no bound
	perIP  int // 0: no bound
	mu     sync.Mutex
	open   int
	byAddr map[string]int
	// refusing bounds the goroutines that answer refused connections;
	// beyond it they are closed without an answer.
	refusing chan struct{}
	warnAll  throttle
	warnAddr throttle
}

func newConnLimiter(ln net.Listener, s *Server) *connLimiter {
	return &connLimiter{Listener: ln, s: s, max: max(s.cfg.MaxConns, 0), perIP: max(s.cfg.MaxConnsPerIP, 0),
		byAddr: map[string]int{}, refusing: make(chan struct{}, 64)}
}

// Accept returns the next connection within the bounds; the others are
// refused here and never reach the HTTP server.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := clientAddr(c.RemoteAddr())
		l.mu.Lock()
		over := ""
		switch {
		case l.max > 0 && l.open >= l.max:
			over = "all"
		case l.perIP > 0 && l.byAddr[addr] >= l.perIP:
			over = "addr"
		default:
			l.open++
			l.byAddr[addr]++
		}
		open, fromAddr := l.open, l.byAddr[addr]
		l.mu.Unlock()
		switch over {
		case "":
			return &trackedConn{Conn: c, l: l, addr: addr}, nil
		case "all":
			l.s.counts.tooManyConns.Add(1)
			l.warnAll.warn(l.s.log, "connection limit reached: refusing new connections with 503 until some close (--max_conns)",
				"max_conns", l.max, "open", open, "remote", c.RemoteAddr().String())
			l.refuse(c, fmt.Sprintf("server busy: %d connections open, the most it takes; retry shortly", l.max))
		default:
			l.s.counts.tooManyFromAddr.Add(1)
			l.warnAddr.warn(l.s.log, "per-address connection limit reached: refusing new connections from this address with 503 (--max_conns_per_ip)",
				"max_conns_per_ip", l.perIP, "address", addr, "open_from_address", fromAddr, "remote", c.RemoteAddr().String())
			l.refuse(c, fmt.Sprintf("too many connections from %s: %d open, the most one address may have; close idle connections or retry shortly", addr, l.perIP))
		}
	}
}

// release forgets a closed connection.
func (l *connLimiter) release(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.byAddr[addr]--; l.byAddr[addr] <= 0 {
		delete(l.byAddr, addr)
	}
}

// openConns is the number of connections open now.
func (l *connLimiter) openConns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// refuse answers a connection 503 without reading its request and closes
// it. Like net/http after an early answer, it shuts its side down and
// waits a moment before closing, so that the client's unread request does
// not turn the close into a reset that loses the answer.
func (l *connLimiter) refuse(c net.Conn, msg string) {
	select {
	case l.refusing <- struct{}{}:
	default:
		c.Close()
		return
	}
	go func() {
		defer func() { <-l.refusing }()
		defer c.Close()
		body, _ := jsonError(msg)
		resp := "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: " +
			strconv.Itoa(len(body)) + "\r\n\r\n" + string(body)
		c.SetDeadline(time.Now().Add(time.Second))
		if _, err := c.Write([]byte(resp)); err != nil {
			return
		}
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}()
}

// clientAddr is the address a per-client bound counts: the IP, or for
// IPv6 its /64 (one host commonly holds a whole /64).
func clientAddr(a net.Addr) string {
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		return host
	case ip.To4() != nil:
		return ip.To4().String() // an IPv4-mapped address counts as its IPv4 one
	}
	return (&net.IPNet{IP: ip.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
}

// trackedConn is an accepted connection: it gives its place back when
// closed and counts the connections net/http drops for a timeout.
type trackedConn struct {
	net.Conn
	l    *connLimiter
	addr string
	// state is the http.ConnState the server last set; started is whether
	// the request being waited for has sent anything yet.
	state   atomic.Int32
	started atomic.Bool
	counted atomic.Bool
	once    sync.Once
}

func (c *trackedConn) setState(st http.ConnState) {
	if st == http.StateIdle {
		c.started.Store(false)
	}
	c.state.Store(int32(st))
}

// Read counts a read that times out while a request is awaited: in a new
// connection, or in an idle one that has begun a request, that is the
// header timeout (net/http closes the connection without an answer); in
// an idle one that has sent nothing, the idle timeout. (A next request
// pipelined behind the last one arrived with it, so its slow headers
// count as idle.) Timeouts while a request is active are the handler's to
// report (or net/http's own, stopping its background read).
func (c *trackedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	st := http.ConnState(c.state.Load())
	if n > 0 && st != http.StateActive {
		c.started.Store(true)
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && !c.counted.Load() {
		switch {
		case st == http.StateNew, st == http.StateIdle && c.started.Load():
			c.counted.Store(true)
			c.l.s.counts.slowHeaders.Add(1)
		case st == http.StateIdle:
			c.counted.Store(true)
			c.l.s.counts.idleClosed.Add(1)
		}
	}
	return n, err
}

// Write counts a response that could not be sent in time.
func (c *trackedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && c.counted.CompareAndSwap(false, true) {
		c.l.s.counts.slowResponse.Add(1)
	}
	return n, err
}

// CloseWrite gives the connection's place back already: net/http shuts
// the sending side down after a last answer and waits half a second before
// closing, so that the client reads the answer rather than a reset. Such a
// connection serves nothing more, and counting it would let a client that
// is refused quickly and retries run into the connection limits.
func (c *trackedConn) CloseWrite() error {
	c.once.Do(func() { c.l.release(c.addr) })
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { c.l.release(c.addr) })
	return c.Conn.Close()
}

// throttle limits a warning to one line per period, saying how many
// occurrences the silence hid: a client hammering a limit must not flood
// the log.
type throttle struct {
	mu     sync.Mutex
	last   time.Time
	hidden int
}

const warnPeriod = 10 * time.Second

func (t *throttle) warn(log *slog.Logger, msg string, attrs ...any) {
	t.mu.Lock()
	now := time.Now()
	if !t.last.IsZero() && now.Sub(t.last) < warnPeriod {
		t.hidden++
		t.mu.Unlock()
		return
	}
	hidden := t.hidden
	t.last, t.hidden = now, 0
	t.mu.Unlock()
	if hidden > 0 {
		attrs = append(attrs, "refused_since_last_warning", hidden)
	}
	log.Warn(msg, attrs...)
}
