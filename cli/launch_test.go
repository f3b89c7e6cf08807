package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SyncBuffer is a bytes.Buffer safe for a writer on one goroutine (the
// launcher's copying goroutines, a running command) while the test reads on
// another. Exported for the cli_test package's tests.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// helperArgv runs this test binary as a rank doing mode (TestLaunchHelper).
func helperArgv(t *testing.T, mode string) []string {
	t.Setenv("CYCLEPIX_LAUNCH_HELPER", mode)
	return []string{os.Args[0], "-test.run=^TestLaunchHelper$"}
}

// TestLaunchHelper is a rank started by the launcher tests; it does nothing
// otherwise.
func TestLaunchHelper(t *testing.T) {
	mode := os.Getenv("CYCLEPIX_LAUNCH_HELPER")
	if mode == "" || os.Getenv("RANK") == "" {
		t.Skip("helper process of the launcher tests")
	}
	rank := os.Getenv("RANK")
	switch mode {
	case "fail": // rank 1 fails at once; rank 0 would run for a minute
		if rank == "1" {
			fmt.Fprint(os.Stderr, "boom\nno newline")
			os.Exit(3)
		}
		time.Sleep(time.Minute)
	case "signal": // wait for the forwarded Ctrl-C
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt)
		fmt.Printf("env RANK=%s LOCAL_RANK=%s WORLD_SIZE=%s LOCAL_WORLD_SIZE=%s MASTER_ADDR=%s port_set=%t threads=%s\n",
			rank, os.Getenv("LOCAL_RANK"), os.Getenv("WORLD_SIZE"), os.Getenv("LOCAL_WORLD_SIZE"), os.Getenv("MASTER_ADDR"),
			os.Getenv("MASTER_PORT") != "", os.Getenv("CYCLEPIX_THREADS"))
		fmt.Fprintf(os.Stderr, "ready %s\n", rank)
		select {
		case <-sig:
			fmt.Fprintf(os.Stderr, "interrupted %s\n", rank)
			os.Exit(0)
		case <-time.After(time.Minute):
			os.Exit(4)
		}
	}
	os.Exit(0)
}

// A rank that fails stops the others at once, and the launch fails naming
// it; its stderr comes out prefixed, also a last line without newline.
func TestLaunchFailingRankStopsAll(t *testing.T) {
	var out, errs SyncBuffer
	start := time.Now()
	err := launchCmd(2, helperArgv(t, "fail"), &out, &errs)
	if err == nil || !strings.Contains(err.Error(), "rank 1") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("launch: %v, want rank 1's exit status 3", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("launch took %s: rank 0 was not stopped", d)
	}
	if s := errs.String(); !strings.Contains(s, "[rank 1] boom\n") || !strings.Contains(s, "[rank 1] no newline\n") {
		t.Errorf("stderr %q lacks rank 1's prefixed lines", s)
	}
}

// Ctrl-C reaches every rank once, through the launcher; the ranks see the
// torchrun environment.
func TestLaunchForwardsInterrupt(t *testing.T) {
	t.Setenv("CYCLEPIX_THREADS", "")
	t.Setenv("OMP_NUM_THREADS", "")
	var out, errs SyncBuffer
	done := make(chan error, 1)
	go func() { done <- launchCmd(2, helperArgv(t, "signal"), &out, &errs) }()
	deadline := time.Now().Add(30 * time.Second)
	for !(strings.Contains(errs.String(), "ready 0") && strings.Contains(errs.String(), "[rank 1] ready 1")) {
		if time.Now().After(deadline) {
			t.Fatalf("ranks not ready; stdout %q stderr %q", out.String(), errs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("launch: %v\n%s", err, errs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ranks did not stop after Ctrl-C")
	}
	s := errs.String()
	if !strings.Contains(s, "interrupted 0") || !strings.Contains(s, "[rank 1] interrupted 1") {
		t.Errorf("not every rank was interrupted: %q", s)
	}
	threads := fmt.Sprint(max(1, runtime.NumCPU()/2))
	want := "env RANK=0 LOCAL_RANK=0 WORLD_SIZE=2 LOCAL_WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 port_set=true threads=" + threads
	if !strings.Contains(out.String(), want) {
		t.Errorf("rank 0 stdout %q, want %q (rank 1's stdout is dropped)", out.String(), want)
	}
	if strings.Contains(out.String(), "RANK=1") {
		t.Errorf("rank 1's stdout reached the launcher's: %q", out.String())
	}
}
