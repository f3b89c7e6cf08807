package infer

import (
	"context"
	"cyclepix/models"
	"cyclepix/networks"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cyclepix/data"
	"cyclepix/data/raster"
	"cyclepix/export"
	"cyclepix/nn"
	"cyclepix/torch"
)

// Tiny generators keep the suite fast on two cores.
var (
	resnetSpec = networks.GenSpec{NetG: "resnet_1blocks", NGF: 4, Norm: "instance", InputNC: 3, OutputNC: 3}
	unetSpec   = networks.GenSpec{NetG: "unet_32", NGF: 4, Norm: "batch", InputNC: 3, OutputNC: 1}
)

// writeGenerator saves a generator with random weights (drawn on the
// engine's worker, like all libtorch work here) as a checkpoint, or as a
// bundle when the path ends in export.BundleExt.
func writeGenerator(t *testing.T, e *Engine, spec networks.GenSpec, path string, seed uint64) {
	t.Helper()
	err := e.Do(context.Background(), func() error {
		defer torch.NewScope().Close()
		g, err := spec.Build()
		if err != nil {
			return err
		}
		torch.ManualSeed(seed)
		for _, p := range nn.Parameters(g) {
			p.Detach().Normal_(0, 0.3)
		}
		if strings.HasSuffix(path, export.BundleExt) {
			return export.SaveBundle(path, g, models.Generator{Net: "G_B", Spec: spec}, map[string]any{"name": "bundled", "netG": spec.NetG})
		}
		return nn.SaveFile(g, path)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func loadModel(t *testing.T, e *Engine, spec networks.GenSpec, seed uint64) *Model {
	t.Helper()
	path := filepath.Join(t.TempDir(), "latest_net_G.pth")
	writeGenerator(t, e, spec, path, seed)
	m, err := e.Load(context.Background(), Source{Checkpoint: path, Spec: spec, Net: "G", Name: "tiny", Eval: true, Device: torch.CPU})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// randomArray is a deterministic pseudo-random input in [-1, 1].
func randomArray(c, h, w int, seed uint32) Array {
	a := Array{C: c, H: h, W: w, Data: make([]float32, c*h*w)}
	x := seed*2654435761 + 1
	for i := range a.Data {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		a.Data[i] = float32(x%2001)/1000 - 1
	}
	return a
}

// direct runs the generator on x without the engine's padding, on the
// worker.
func direct(t *testing.T, e *Engine, m *Model, a Array) []float32 {
	t.Helper()
	var y []float32
	err := e.Do(context.Background(), func() error {
		defer torch.NewScope().Close()
		torch.NoGrad(func() {
			y = m.gen.Forward(torch.FromFloat32(a.Data, 1, int64(a.C), int64(a.H), int64(a.W))).Float32s()
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return y
}

func maxDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

func TestAnySizeKeepsShape(t *testing.T) {
	e := NewEngine(Config{MaxBatch: 4})
	defer e.Close()
	for _, spec := range []networks.GenSpec{resnetSpec, unetSpec} {
		m := loadModel(t, e, spec, 1)
		for _, sz := range [][2]int{{1, 1}, {2, 3}, {5, 7}, {33, 17}, {31, 64}, {8, 8}, {40, 9}} {
			h, w := sz[0], sz[1]
			out, err := e.Run(context.Background(), m, []Array{randomArray(3, h, w, uint32(h*w))})
			if err != nil {
				t.Fatalf("%s %dx%d: %v", spec.NetG, w, h, err)
			}
			o := out[0]
			if o.C != spec.OutputNC || o.H != h || o.W != w || len(o.Data) != o.C*h*w {
				t.Fatalf("%s %dx%d: got %dx%dx%d with %d values", spec.NetG, w, h, o.C, o.H, o.W, len(o.Data))
			}
			for _, v := range o.Data {
				if !(v >= -1 && v <= 1) {
					t.Fatalf("%s %dx%d: output value %v outside [-1, 1]", spec.NetG, w, h, v)
				}
			}
		}
	}
}

func TestNoPaddingMatchesDirectForward(t *testing.T) {
	e := NewEngine(Config{MaxBatch: 4})
	defer e.Close()
	cases := []struct {
		spec networks.GenSpec
		h, w int
	}{{resnetSpec, 16, 12}, {resnetSpec, 8, 8}, {unetSpec, 32, 64}}
	for _, c := range cases {
		m := loadModel(t, e, c.spec, 2)
		in := randomArray(3, c.h, c.w, 7)
		want := direct(t, e, m, in)
		out, err := e.Run(context.Background(), m, []Array{in})
		if err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(out[0].Data, want); d != 0 {
			t.Errorf("%s %dx%d: engine differs from a direct forward by %g", c.spec.NetG, c.w, c.h, d)
		}
		// Three same-size images in one call share one forward pass and
		// give each image's own result.
		before := e.Stats().Forwards
		ins := []Array{randomArray(3, c.h, c.w, 8), in, randomArray(3, c.h, c.w, 9)}
		outs, err := e.Run(context.Background(), m, ins)
		if err != nil {
			t.Fatal(err)
		}
		if n := e.Stats().Forwards - before; n != 1 {
			t.Errorf("%s: %d forward passes for a batch of 3", c.spec.NetG, n)
		}
		if d := maxDiff(outs[1].Data, want); d > 1e-5 {
			t.Errorf("%s: batched result differs by %g", c.spec.NetG, d)
		}
	}
}

func TestPaddingIsCroppedBack(t *testing.T) {
	// An odd-sized image is the top-left part of a padded one: the output
	// must be the matching part of the network's output on the padded
	// input, which checks both the padding offsets and the crop.
	e := NewEngine(Config{})
	defer e.Close()
	m := loadModel(t, e, resnetSpec, 3)
	in := randomArray(3, 13, 10, 5)
	top, bottom, left, right := m.padding(13, 10)
	if (top+bottom+13)%4 != 0 || (left+right+10)%4 != 0 || top+bottom+13 < 16 {
		t.Fatalf("padding %d,%d,%d,%d of 13x10", top, bottom, left, right)
	}
	var want []float32
	err := e.Do(context.Background(), func() error {
		defer torch.NewScope().Close()
		x := torch.FromFloat32(in.Data, 1, 3, 13, 10)
		x = torch.Pad2d(x, torch.PadReflect, int64(left), int64(right), int64(top), int64(bottom), 0)
		torch.NoGrad(func() {
			want = m.gen.Forward(x).Narrow(2, int64(top), 13).Narrow(3, int64(left), 10).Float32s()
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Run(context.Background(), m, []Array{in})
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(out[0].Data, want); d != 0 {
		t.Fatalf("differs from pad+forward+crop by %g", d)
	}
}

func TestBlendReassemblesTiles(t *testing.T) {
	// When every tile's output is the matching window of one image, the
	// blended result must be that image exactly, whatever the overlap:
	// this checks the tile plan covers every pixel and the weights
	// normalise.
	for _, c := range []struct{ h, w, tile, ov int }{{70, 90, 32, 8}, {33, 100, 16, 0}, {64, 64, 16, 16}, {20, 200, 32, 31}} {
		e := &Engine{cfg: Config{Tile: c.tile, TileOverlap: c.ov}}
		m := &Model{Multiple: 4, MinSize: 8, Spec: networks.GenSpec{OutputNC: 2}}
		img := randomArray(2, c.h, c.w, 3)
		j := &job{m: m, in: []Array{img}, acc: []*accum{{sum: make([]float32, 2*c.h*c.w), wsum: make([]float32, c.h*c.w)}}}
		ys, xs, th, tw := e.plan(m, c.h, c.w)
		if ys == nil {
			t.Fatalf("%+v: not tiled", c)
		}
		for _, y0 := range ys {
			for _, x0 := range xs {
				p := &piece{j: j, y0: y0, x0: x0, tiled: true}
				blend(p, cropArray(img, y0, x0, th, tw), e.tileOverlap(m))
			}
		}
		got := j.acc[0].finish(2, c.h, c.w)
		if d := maxDiff(got.Data, img.Data); d > 1e-6 {
			t.Errorf("%+v: reassembled image differs by %g", c, d)
		}
	}
}

func TestTiledRun(t *testing.T) {
	e := NewEngine(Config{MaxBatch: 4, Tile: 24, TileOverlap: 8})
	defer e.Close()
	m := loadModel(t, e, resnetSpec, 4)
	in := randomArray(3, 50, 70, 11)
	before := e.Stats()
	out, err := e.Run(context.Background(), m, []Array{in})
	if err != nil {
		t.Fatal(err)
	}
	after := e.Stats()
	if o := out[0]; o.H != 50 || o.W != 70 || o.C != 3 {
		t.Fatalf("tiled output %dx%dx%d", o.C, o.H, o.W)
	}
	// 50 → rows at 0, 16, 26; 70 → columns at 0, 16, 32, 46: 12 tiles of
	// 24×24 in three batches of four.
	if n := after.Images - before.Images; n != 12 {
		t.Errorf("%d tiles translated, want 12", n)
	}
	if n := after.Forwards - before.Forwards; n != 3 {
		t.Errorf("%d forward passes, want 3", n)
	}
	// Far from any tile border the result is the untiled one where the
	// receptive field stays inside one tile… which for a ResNet it does
	// not; just check the values are sane.
	for _, v := range out[0].Data {
		if !(v >= -1 && v <= 1) {
			t.Fatalf("value %v", v)
		}
	}
}

func TestMicroBatching(t *testing.T) {
	e := NewEngine(Config{MaxBatch: 8, Queue: 16})
	defer e.Close()
	m := loadModel(t, e, resnetSpec, 5)
	alone := map[int][]float32{}
	for i := 0; i < 6; i++ {
		out, err := e.Run(context.Background(), m, []Array{randomArray(3, 12, 16, uint32(i))})
		if err != nil {
			t.Fatal(err)
		}
		alone[i] = out[0].Data
	}
	// Hold the worker so that the six requests queue up together.
	release := make(chan struct{})
	held := make(chan struct{})
	go e.Do(context.Background(), func() error { close(held); <-release; return nil })
	<-held
	before := e.Stats().Forwards
	var wg sync.WaitGroup
	results := make([][]float32, 6)
	errs := make([]error, 6)
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			out, err := e.Run(context.Background(), m, []Array{randomArray(3, 12, 16, uint32(i))})
			if err == nil {
				results[i] = out[0].Data
			}
			errs[i] = err
		}(i)
	}
	for deadline := time.Now().Add(5 * time.Second); e.Stats().Queued < 6 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	for i := range results {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if d := maxDiff(results[i], alone[i]); d > 1e-5 {
			t.Errorf("request %d: micro-batched result differs by %g", i, d)
		}
	}
	if n := e.Stats().Forwards - before; n != 1 {
		t.Errorf("%d forward passes for 6 queued same-size requests, want 1", n)
	}
}

func TestLoadErrors(t *testing.T) {
	e := NewEngine(Config{})
	defer e.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "latest_net_G.pth")
	writeGenerator(t, e, resnetSpec, path, 1)
	wrong := resnetSpec
	wrong.NGF = 8
	_, err := e.Load(context.Background(), Source{Checkpoint: path, Spec: wrong, Net: "G", Eval: true, Device: torch.CPU})
	if err == nil || !strings.Contains(err.Error(), `"model.1.weight"`) || !strings.Contains(err.Error(), "[4 3 7 7]") ||
		!strings.Contains(err.Error(), "[8 3 7 7]") {
		t.Errorf("mismatch error does not name the tensor and both shapes: %v", err)
	}
	_, err = e.Load(context.Background(), Source{Checkpoint: filepath.Join(dir, "latest_net_G_A.pth"), Spec: resnetSpec, Net: "G_A", Device: torch.CPU})
	if err == nil || !strings.Contains(err.Error(), "latest_net_G.pth") {
		t.Errorf("missing checkpoint error does not list what the folder has: %v", err)
	}
	two := resnetSpec
	two.OutputNC = 2
	p2 := filepath.Join(dir, "latest_net_G2.pth")
	writeGenerator(t, e, two, p2, 1)
	// A 2-channel output is no grey or RGB image: without a run's
	// recorded ranges it is written on the 8-bit type's scale, as PNG
	// (grey and alpha), not through tensor2im.
	m2, err := e.Load(context.Background(), Source{Checkpoint: p2, Spec: two, Net: "G2", Device: torch.CPU})
	if err != nil || m2.Out.Reference || m2.Out.Format != raster.PNG || m2.Out.DType != raster.Uint8 {
		t.Errorf("2-channel output: %+v, %v; want PNG uint8 on the data's scale", m2, err)
	}
	// With the run's options, outputs take the domain's recorded kind.
	m3, err := e.Load(context.Background(), Source{Checkpoint: p2, Spec: two, Net: "G2", Device: torch.CPU,
		Options: map[string]any{"range_B": "-1:3", "format_B": "npy:float32"}})
	if err != nil || m3.Out.Format != raster.NPY || m3.Out.DType != raster.Float32 || fmt.Sprint(m3.Out.Scale) != "{[-1 -1] [3 3]}" {
		t.Errorf("2-channel output of a float domain: %+v, %v", m3.Out, err)
	}
	// A float domain needs a declared range.
	if _, err := e.Load(context.Background(), Source{Checkpoint: p2, Spec: two, Net: "G2", Device: torch.CPU,
		Options: map[string]any{"format_B": "tif:float32"}}); err == nil || !strings.Contains(err.Error(), "declare one with --range_B") {
		t.Errorf("float domain without a range: %v", err)
	}
}

func TestBundleMatchesCheckpoint(t *testing.T) {
	e := NewEngine(Config{})
	defer e.Close()
	dir := t.TempDir()
	ckpt, bundle := filepath.Join(dir, "latest_net_G.pth"), filepath.Join(dir, "g"+export.BundleExt)
	writeGenerator(t, e, unetSpec, ckpt, 9)
	writeGenerator(t, e, unetSpec, bundle, 9)
	a, err := e.Load(context.Background(), Source{Checkpoint: ckpt, Spec: unetSpec, Net: "G", Eval: true, Device: torch.CPU})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Load(context.Background(), Source{Bundle: bundle, Eval: true, Device: torch.CPU})
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "bundled" || b.Net != "G_B" || b.Direction != "BtoA" || b.Spec != unetSpec || b.Multiple != 32 {
		t.Errorf("bundle model %+v", b)
	}
	in := randomArray(3, 20, 45, 1)
	oa, err := e.Run(context.Background(), a, []Array{in})
	if err != nil {
		t.Fatal(err)
	}
	ob, err := e.Run(context.Background(), b, []Array{in})
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(oa[0].Data, ob[0].Data); d != 0 {
		t.Errorf("bundle and checkpoint differ by %g", d)
	}
}

func TestPrepare(t *testing.T) {
	grey := &data.Image{W: 50, H: 70, C: 1, Pix: make([]uint8, 50*70)}
	m := &Model{Name: "rgb", Spec: resnetSpec}
	a, err := m.Prepare(grey, false)
	if err != nil || a.C != 3 || a.H != 70 || a.W != 50 {
		t.Fatalf("grey into an RGB model: %+v, %v", a, err)
	}
	var ce *ChannelError
	if _, err := m.Prepare(grey, true); !errors.As(err, &ce) || ce.Want != 3 || ce.Got != 1 {
		t.Fatalf("strict: %v", err)
	}
	cases := []struct {
		mode       string
		load, crop int
		w, h       int
	}{
		{"resize_and_crop", 40, 32, 32, 32},
		{"resize_and_crop", 32, 32, 32, 32},
		{"scale_width", 20, 16, 20, 28},
		{"crop", 0, 24, 24, 24},
		{"none", 0, 0, 48, 72},
	}
	for _, c := range cases {
		d := data.DefaultOptions()
		d.Preprocess, d.LoadSize, d.CropSize = c.mode, c.load, c.crop
		m.Preprocess = &d
		a, err := m.Prepare(grey, false)
		if err != nil || a.W != c.w || a.H != c.h {
			t.Errorf("%s %d/%d: %dx%d, %v; want %dx%d", c.mode, c.load, c.crop, a.W, a.H, err, c.w, c.h)
		}
	}
}

func TestClosedEngine(t *testing.T) {
	e := NewEngine(Config{})
	e.Close()
	if err := e.Do(context.Background(), func() error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do on a closed engine: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e2 := NewEngine(Config{})
	defer e2.Close()
	if err := e2.Do(ctx, func() error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Do with a cancelled context: %v", err)
	}
}

// TestEngineReleasesKeptMemoryWhenIdle: the big blocks libtorch's
// allocator keeps for reuse go back to the system once the worker has had
// no work for idleRelease, so a server does not hold a large image's peak.
func TestEngineReleasesKeptMemoryWhenIdle(t *testing.T) {
	defer func(d time.Duration) { idleRelease = d }(idleRelease)
	idleRelease = 50 * time.Millisecond
	e := NewEngine(Config{})
	defer e.Close()
	bigBlock := func() error {
		defer torch.NewScope().Close()
		torch.Zeros(12 << 20) // 48 MiB, kept for reuse once freed
		return nil
	}
	if err := e.Do(context.Background(), bigBlock); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // ten times idleRelease
	var kept int64
	if err := e.Do(context.Background(), func() error { kept = torch.ReleaseCachedMemory(); return nil }); err != nil {
		t.Fatal(err)
	}
	if kept != 0 {
		t.Errorf("the engine still kept %d MiB after 0.5 s without work", kept>>20)
	}
}
