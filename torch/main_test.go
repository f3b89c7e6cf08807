package torch

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMain cannot use torchtest.Main: that package imports this one.
func TestMain(m *testing.M) {
	if err := Init(); err != nil {
		fmt.Fprintln(os.Stderr, "torch.Init:", err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// Making a tensor without Init is a *Error that says what to do, both as a
// panic and through Try; Init again is a no-op.
func TestInitRequired(t *testing.T) {
	initDone.Store(false)
	defer initDone.Store(true)
	const want = "torch.Init was not called (call it first in main or TestMain)"
	func() {
		defer func() {
			e, ok := recover().(*Error)
			if !ok || !strings.Contains(e.Error(), want) {
				t.Errorf("Zeros before Init panicked with %v, want a *Error saying %q", e, want)
			}
		}()
		Zeros(2)
		t.Error("Zeros before Init did not panic")
	}()
	err := Try(func() { FromFloat32([]float32{1}, 1) })
	if _, ok := AsError(err); !ok || !strings.Contains(err.Error(), want) {
		t.Errorf("Try(FromFloat32) before Init = %v, want a *Error saying %q", err, want)
	}
	initDone.Store(true)
	n := NumThreads()
	if err := Init(); err != nil {
		t.Fatal(err)
	}
	if NumThreads() != n {
		t.Errorf("a second Init changed the thread count from %d to %d", n, NumThreads())
	}
	defer NewScope().Close()
	Zeros(1)
}

// Init re-executes a test binary with the same arguments and the library
// settings added, once: the child sees them and CYCLEPIX_NO_REEXEC, and
// still runs only the test it was asked to.
func TestInitReexec(t *testing.T) {
	if os.Getenv("CYCLEPIX_REEXEC_HELPER") == "1" {
		fmt.Printf("env GOMP_SPINCOUNT=%s CYCLEPIX_NO_REEXEC=%s\n", os.Getenv("GOMP_SPINCOUNT"), os.Getenv("CYCLEPIX_NO_REEXEC"))
		return
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k != "CYCLEPIX_NO_REEXEC" && k != "GOMP_SPINCOUNT" && k != "OMP_WAIT_POLICY" {
			env = append(env, kv)
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestInitReexec$", "-test.v")
	cmd.Env = append(env, "CYCLEPIX_REEXEC_HELPER=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(string(out), "env GOMP_SPINCOUNT=10000 CYCLEPIX_NO_REEXEC=1\n") {
		t.Errorf("the re-executed test binary printed\n%s\nwant GOMP_SPINCOUNT=10000 and CYCLEPIX_NO_REEXEC=1", out)
	}
}
