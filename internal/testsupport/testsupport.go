// Package testsupport holds what the module's tests share: the reference
// Python and its modules, where the parity fixtures are, free ports,
// Chromium, comparisons of float slices. It is for _test.go files only
// (internal/ keeps it inside the module; nothing but tests imports it).
//
// It does not import the torch binding, so that pure-Go packages (pth, npy,
// data, …) and the binding's own tests can use it; the libtorch side is
// torchtest (TestMain) and clitest (running the cyclepix command line).
package testsupport

import (
	"bytes"
	"encoding/binary"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Python is Debian's interpreter, where apt installs python3-torch (1.13),
// python3-pil, python3-numpy, python3-scipy and python3-skimage; the
// python3 first on PATH may be another one without them.
const Python = "/usr/bin/python3"

// imports caches, per module list, whether Python imports it: starting
// Python with torch takes a second or two, and most test files ask for the
// same modules again.
var imports sync.Map // string → *importCheck

type importCheck struct {
	once sync.Once
	err  error
}

// NeedPython skips t unless Python exists and imports every module named
// (each a module such as "torch" or "PIL.ImageOps", or a comma-separated
// list of them).
func NeedPython(t testing.TB, modules ...string) {
	t.Helper()
	if _, err := os.Stat(Python); err != nil {
		t.Skipf("%s not found", Python)
	}
	if err := pythonImports(modules); err != nil {
		t.Skipf("%s cannot import %s: %v", Python, strings.Join(modules, ", "), err)
	}
}

// HavePython reports whether Python exists and imports every module named
// (as NeedPython takes them): for optional cross-checks inside a test that
// has more to check without them.
func HavePython(modules ...string) bool {
	if _, err := os.Stat(Python); err != nil {
		return false
	}
	return pythonImports(modules) == nil
}

func pythonImports(modules []string) error {
	list := strings.Join(modules, ", ")
	if list == "" {
		return nil
	}
	v, _ := imports.LoadOrStore(list, &importCheck{})
	c := v.(*importCheck)
	c.once.Do(func() { c.err = exec.Command(Python, "-c", "import "+list).Run() })
	return c.err
}

// NeedPythonLong is NeedPython for the slower cross-checks, which -short
// also skips.
func NeedPythonLong(t testing.TB, modules ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping the cross-check against Python in -short mode")
	}
	NeedPython(t, modules...)
}

// RunPython runs script with Python -c and the given arguments and returns
// its standard output; a failure fails t with the script's standard error.
func RunPython(t testing.TB, script string, args ...string) []byte {
	t.Helper()
	return runPython(t, append([]string{"-c", script}, args...))
}

// RunPythonFile is RunPython for a script file (relative to the test's
// package folder, usually testdata/…).
func RunPythonFile(t testing.TB, path string, args ...string) []byte {
	t.Helper()
	return runPython(t, append([]string{path}, args...))
}

func runPython(t testing.TB, args []string) []byte {
	t.Helper()
	cmd := exec.Command(Python, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		what := args[0]
		if what == "-c" {
			what = "script"
		}
		t.Fatalf("python %s: %v\n%s", what, err, stderr.Bytes())
	}
	return out
}

// ParityDir is the folder of the parity fixtures (made by the PyTorch
// reference): $CYCLEPIX_PARITY_DIR, else shared/parity beside the
// checkout, as seen from a package folder. It may not exist.
func ParityDir() string {
	if d := os.Getenv("CYCLEPIX_PARITY_DIR"); d != "" {
		return d
	}
	d, err := filepath.Abs(filepath.Join("..", "..", "shared", "parity"))
	if err != nil { // only when the working directory is gone
		return filepath.Join("..", "..", "shared", "parity")
	}
	return d
}

// NeedParityDir returns ParityDir, or skips t when it does not exist: for
// tests that read the fixtures as sample files.
func NeedParityDir(t testing.TB) string {
	t.Helper()
	dir := ParityDir()
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("parity fixtures not found at %s (set CYCLEPIX_PARITY_DIR)", dir)
	}
	return dir
}

// MissingFixture reports a parity fixture that could not be read: CI
// checks the fixtures out, so there it fails t; elsewhere it skips t.
func MissingFixture(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("parity fixture missing in CI: %v", err)
	}
	t.Skipf("no parity fixture: %v (set CYCLEPIX_PARITY_DIR)", err)
}

// FreePort asks the kernel for a free TCP port on loopback. Another
// process may take it before the test listens on it; that is rare enough
// for tests.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Chromium returns the browser for the browser tests: $CYCLEPIX_CHROMIUM
// or $CHROMIUM, else the first of the usual names on PATH, else "" (the
// Debian package is chromium; `make test-deps` installs it).
func Chromium() string {
	for _, v := range []string{"CYCLEPIX_CHROMIUM", "CHROMIUM"} {
		if p := os.Getenv(v); p != "" {
			return p
		}
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// MaxAbsDiff returns the largest |a[i] - b[i]| and the largest |b[i]|, the
// scale a tolerance is relative to. b must be at least as long as a.
func MaxAbsDiff(a, b []float32) (diff, scale float64) {
	for i := range a {
		diff = max(diff, math.Abs(float64(a[i]-b[i])))
		scale = max(scale, math.Abs(float64(b[i])))
	}
	return diff, scale
}

// WriteFloat32s writes v as raw little-endian float32s, the form the
// reference scripts read with numpy.fromfile.
func WriteFloat32s(t testing.TB, path string, v []float32) {
	t.Helper()
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// ReadFloat32s reads a file of raw little-endian float32s (what the
// reference scripts write with ndarray.tofile).
func ReadFloat32s(t testing.TB, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}
