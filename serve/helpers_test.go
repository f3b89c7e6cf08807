package serve

import (
	"bytes"
	"context"
	"cyclepix/networks"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"cyclepix/infer"
	"cyclepix/nn"
	"cyclepix/torch"
)

// Tiny generators keep the suite fast on two cores: a CycleGAN-like
// "tiny" with G_A (RGB→RGB) and G_B (RGB→grey), and a grey U-Net "grey".
var testGens = []struct {
	name, net, dir string
	spec           networks.GenSpec
}{
	{"tiny", "G_A", "AtoB", networks.GenSpec{NetG: "resnet_1blocks", NGF: 4, Norm: "instance", InputNC: 3, OutputNC: 3}},
	{"tiny", "G_B", "BtoA", networks.GenSpec{NetG: "resnet_1blocks", NGF: 4, Norm: "instance", InputNC: 3, OutputNC: 1}},
	{"grey", "G", "AtoB", networks.GenSpec{NetG: "unet_32", NGF: 4, Norm: "batch", InputNC: 1, OutputNC: 1}},
}

// loadTestModels writes random-weight checkpoints (on the engine's
// worker, the only goroutine that may call libtorch) and loads them.
func loadTestModels(t testing.TB, eng *infer.Engine) []*infer.Model {
	t.Helper()
	dir := t.TempDir()
	var out []*infer.Model
	for i, g := range testGens {
		path := filepath.Join(dir, g.name, "latest_net_"+g.net+".pth")
		err := eng.Do(context.Background(), func() error {
			defer torch.NewScope().Close()
			net, err := g.spec.Build()
			if err != nil {
				return err
			}
			torch.ManualSeed(uint64(i + 1))
			for _, p := range nn.Parameters(net) {
				p.Detach().Normal_(0, 0.3)
			}
			if err := mkdirFor(path); err != nil {
				return err
			}
			return nn.SaveFile(net, path)
		})
		if err != nil {
			t.Fatal(err)
		}
		m, err := eng.Load(context.Background(), infer.Source{Checkpoint: path, Spec: g.spec, Name: g.name, Net: g.net,
			Direction: g.dir, Eval: true, Device: torch.CPU, Options: map[string]any{"name": g.name, "netG": g.spec.NetG, "lr": 0.0002}})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// newTestServer starts an engine and a server over the test models; both
// are closed with the test.
func newTestServer(t testing.TB, cfg Config, ecfg infer.Config) (*Server, *infer.Engine) {
	t.Helper()
	eng := infer.NewEngine(ecfg)
	t.Cleanup(eng.Close)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := New(eng, loadTestModels(t, eng), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, eng
}

// holdWorker occupies the engine's worker until the returned function is
// called, so that requests queue up behind it.
func holdWorker(t testing.TB, eng *infer.Engine) (release func()) {
	t.Helper()
	held, done := make(chan struct{}), make(chan struct{})
	go eng.Do(context.Background(), func() error { close(held); <-done; return nil })
	<-held
	return func() { close(done) }
}

// testImage is a w×h gradient encoded as png or jpeg, grey when gray.
func testImage(t testing.TB, w, h int, format string, gray bool) []byte {
	t.Helper()
	var img image.Image
	if gray {
		g := image.NewGray(image.Rect(0, 0, w, h))
		for i := range g.Pix {
			g.Pix[i] = uint8(i * 3)
		}
		img = g
	} else {
		m := image.NewNRGBA(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				m.Set(x, y, color.NRGBA{uint8(x * 7), uint8(y * 11), uint8((x + y) * 3), 255})
			}
		}
		img = m
	}
	var b bytes.Buffer
	var err error
	if format == "jpeg" {
		err = jpeg.Encode(&b, img, &jpeg.Options{Quality: 90})
	} else {
		err = png.Encode(&b, img)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// bombPNG is a valid PNG header claiming a w×h RGB image, with no pixel
// data: decoding it would allocate w·h·4 bytes before finding out.
func bombPNG(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	chunk := append([]byte("IHDR"), ihdr...)
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func mkdirFor(path string) error { return os.MkdirAll(filepath.Dir(path), 0o755) }
