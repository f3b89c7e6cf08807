package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"syscall"
)

// launch is `cyclepix train --nproc N …`: it runs the same command line as N
// processes of one data-parallel run on this machine, as torchrun
// --nproc_per_node N would, with RANK, LOCAL_RANK, WORLD_SIZE,
// LOCAL_WORLD_SIZE, MASTER_ADDR (127.0.0.1) and MASTER_PORT (a free port)
// set. Rank 0 keeps this process's stdout and stderr; the other ranks'
// stdout is dropped (they print nothing) and their stderr comes out
// prefixed with "[rank r] ". When the user set neither CYCLEPIX_THREADS nor
// OMP_NUM_THREADS, each rank gets NumCPU/N intra-op threads, so that the
// ranks do not fight over the cores.
//
// A rank that fails takes the others down with it. Ctrl-C and SIGTERM are
// passed to every rank (each is in its own process group, so the terminal's
// Ctrl-C reaches only this process and is passed on once): the ranks agree
// to stop after the same iteration and rank 0 saves a resumable `latest`; a
// second Ctrl-C aborts them.
func launch(n int, args []string, stdout, stderr io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("--nproc: find this program to start its ranks: %w", err)
	}
	return launchCmd(n, append([]string{exe, "train"}, args...), stdout, stderr)
}

// launchCmd is launch for any command line argv (a test runs its own
// binary).
func launchCmd(n int, argv []string, stdout, stderr io.Writer) error {
	port, err := freePort()
	if err != nil {
		return fmt.Errorf("--nproc: find a free port for the rendezvous: %w", err)
	}
	env := append(os.Environ(), "WORLD_SIZE="+strconv.Itoa(n), "LOCAL_WORLD_SIZE="+strconv.Itoa(n),
		"MASTER_ADDR=127.0.0.1", "MASTER_PORT="+strconv.Itoa(port))
	if os.Getenv("CYCLEPIX_THREADS") == "" && os.Getenv("OMP_NUM_THREADS") == "" {
		env = append(env, "CYCLEPIX_THREADS="+strconv.Itoa(max(1, runtime.NumCPU()/n)))
	}
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)

	var errMu sync.Mutex // serialises the ranks' prefixed stderr lines
	cmds := make([]*exec.Cmd, n)
	prefixed := make([]*prefixWriter, n)
	for r := range n {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(env, "RANK="+strconv.Itoa(r), "LOCAL_RANK="+strconv.Itoa(r))
		cmd.SysProcAttr = childProcAttr()
		if r == 0 {
			cmd.Stdout, cmd.Stderr = stdout, stderr
		} else {
			prefixed[r] = &prefixWriter{w: stderr, mu: &errMu, prefix: fmt.Sprintf("[rank %d] ", r)}
			cmd.Stderr = prefixed[r]
		}
		if err := cmd.Start(); err != nil {
			killAll(cmds)
			return fmt.Errorf("--nproc: start rank %d: %w", r, err)
		}
		cmds[r] = cmd
	}
	slog.Debug("launched data-parallel ranks", "n", n, "port", port)

	type exit struct {
		rank int
		err  error
	}
	exits := make(chan exit, n)
	for r, cmd := range cmds {
		go func() { exits <- exit{r, cmd.Wait()} }()
	}
	var first error
	for left := n; left > 0; {
		select {
		case s := <-sig:
			for _, cmd := range cmds {
				_ = cmd.Process.Signal(s) // an exited rank returns an error: nothing to do
			}
		case e := <-exits:
			left--
			if pw := prefixed[e.rank]; pw != nil {
				pw.Flush()
			}
			if e.err != nil && first == nil {
				first = fmt.Errorf("rank %d: %w", e.rank, e.err)
				// The others would only wait for it in their next
				// collective (or fail there): stop them now.
				killAll(cmds)
			}
		}
	}
	return first
}

// killAll kills the started ranks that are still running.
func killAll(cmds []*exec.Cmd) {
	for _, cmd := range cmds {
		if cmd != nil && cmd.Process != nil {
			_ = cmd.Process.Kill() // fails only for a rank that has exited
		}
	}
}

// freePort asks the kernel for a free TCP port on loopback. Another program
// could take it before rank 0 listens on it; rank 0 then fails to start and
// the launch is simply retried by the user.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// prefixWriter writes whole lines to w, each starting with prefix; a
// shared mutex keeps lines of several writers from interleaving.
type prefixWriter struct {
	w      io.Writer
	mu     *sync.Mutex
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		p.emit(p.buf[:i+1])
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

// Flush writes a last line that had no newline.
func (p *prefixWriter) Flush() {
	if len(p.buf) > 0 {
		p.emit(append(p.buf, '\n'))
		p.buf = nil
	}
}

func (p *prefixWriter) emit(line []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// A lost diagnostic line is not worth failing the run for.
	_, _ = io.WriteString(p.w, p.prefix)
	_, _ = p.w.Write(line)
}

// errNprocWorld reports a --nproc that disagrees with the environment of a
// rank started by another launcher (torchrun).
var errNprocWorld = errors.New("--nproc disagrees with WORLD_SIZE")
