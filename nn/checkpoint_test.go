package nn

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/pth"
	"cyclepix/torch"
)

// newTinyNet is a conv, a batch norm and a conv: parameters and buffers.
func newTinyNet() *Sequential {
	return Seq(NewConv2d(2, 3, 3, 1, 1, true), NewBatchNorm(3, 1e-5), NewConv2d(3, 1, 1, 1, 0, false))
}

// saveWithKeys writes m's state dict with each key renamed by rename.
func saveWithKeys(t *testing.T, m Module, path string, rename func(string) string) {
	t.Helper()
	d := pth.NewDict()
	err := torch.TryErr(func() error {
		for _, e := range StateDict(m) {
			pt, err := ToPTH(e.Tensor)
			if err != nil {
				return err
			}
			d.Set(rename(e.Name), pt)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := pth.Save(path, d); err != nil {
		t.Fatal(err)
	}
}

func randomize(t *testing.T, m Module, seed uint64) {
	t.Helper()
	torch.ManualSeed(seed)
	if err := torch.Try(func() {
		for _, e := range StateDict(m) {
			if e.Tensor.DType() == torch.Float32 {
				e.Tensor.Detach().Uniform_(0.5, 1.5)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
}

func sameTensors(t *testing.T, got, want Module) {
	t.Helper()
	g, w := StateDict(got), StateDict(want)
	for i := range w {
		if !bytes.Equal(g[i].Tensor.Bytes(), w[i].Tensor.Bytes()) {
			t.Errorf("%s differs from the saved net's", w[i].Name)
		}
	}
}

// captureLog sends slog's default logger to a buffer for the test.
func captureLog(t *testing.T) *bytes.Buffer {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	return &buf
}

// A file whose every key has DataParallel's "module." prefix loads into
// the bare net, saying so once per file however often it is loaded.
func TestLoadFileDataParallel(t *testing.T) {
	defer torch.NewScope().Close()
	src := newTinyNet()
	randomize(t, src, 1)
	path := filepath.Join(t.TempDir(), "dp.pth")
	saveWithKeys(t, src, path, func(k string) string { return "module." + k })
	log := captureLog(t)
	for range 2 {
		dst := newTinyNet()
		if err := LoadFile(dst, path); err != nil {
			t.Fatal(err)
		}
		sameTensors(t, dst, src)
	}
	if n := strings.Count(log.String(), "level=INFO"); n != 1 {
		t.Errorf("two loads of one DataParallel file logged %d times, want once:\n%s", n, log)
	}
}

// The prefix comes off only when every key has it: a file where some keys
// lack it is an error naming a missing key, as any mismatched file is.
func TestLoadFilePartlyPrefixed(t *testing.T) {
	defer torch.NewScope().Close()
	src := newTinyNet()
	path := filepath.Join(t.TempDir(), "mixed.pth")
	saveWithKeys(t, src, path, func(k string) string {
		if strings.HasPrefix(k, "0.") {
			return "module." + k
		}
		return k
	})
	log := captureLog(t)
	err := LoadFile(newTinyNet(), path)
	if err == nil || !strings.Contains(err.Error(), `checkpoint has no tensor "0.weight"`) {
		t.Fatalf("loading a partly prefixed file: %v, want an error naming 0.weight", err)
	}
	if log.Len() != 0 {
		t.Errorf("logged %q for a file that was not stripped", log)
	}
}

// moduleWrapper is a net whose only child is named "module": every key of
// its own state dict has the prefix, and its files load unchanged.
type moduleWrapper struct{ inner Module }

func (w moduleWrapper) Forward(x *torch.Tensor) *torch.Tensor { return w.inner.Forward(x) }
func (w moduleWrapper) Children() []Child                     { return []Child{{"module", w.inner}} }

func TestLoadFileOwnModuleChild(t *testing.T) {
	defer torch.NewScope().Close()
	src := moduleWrapper{newTinyNet()}
	randomize(t, src, 2)
	path := filepath.Join(t.TempDir(), "own.pth")
	if err := SaveFile(src, path); err != nil {
		t.Fatal(err)
	}
	dst := moduleWrapper{newTinyNet()}
	if err := LoadFile(dst, path); err != nil {
		t.Fatal(err)
	}
	sameTensors(t, dst, src)
}
