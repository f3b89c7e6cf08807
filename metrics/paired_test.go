package metrics

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cyclepix/data"
	"cyclepix/internal/testsupport"
)

func TestPairedBasics(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	img := testImage(rng, 32, 24, 3, 5)
	same := &data.Image{W: img.W, H: img.H, C: 3, Pix: append([]uint8(nil), img.Pix...)}
	flat := func(v uint8) *data.Image {
		m := &data.Image{W: 16, H: 16, C: 1, Pix: make([]uint8, 256)}
		for i := range m.Pix {
			m.Pix[i] = v
		}
		return m
	}
	cases := []struct {
		name       string
		real, fake *data.Image
		l1, psnr   float64
		ssim       float64 // NaN: not checked
		err        string
	}{
		{name: "identical", real: img, fake: same, l1: 0, psnr: math.Inf(1), ssim: 1},
		// A constant offset of 51 levels: MSE (0.2)², PSNR 20·log10(5).
		{name: "offset", real: flat(100), fake: flat(151), l1: 0.2, psnr: 20 * math.Log10(5), ssim: math.NaN()},
		{name: "grey vs rgb", real: flat(10), fake: flat(10).RGB(), l1: 0, psnr: math.Inf(1), ssim: 1},
		{name: "size mismatch", real: img, fake: flat(0).RGB(), err: "sizes differ: 32x24 and 16x16"},
		{name: "too small", real: &data.Image{W: 10, H: 40, C: 1, Pix: make([]uint8, 400)},
			fake: &data.Image{W: 10, H: 40, C: 1, Pix: make([]uint8, 400)}, err: "smaller than the 11x11 SSIM window"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Pair(c.real, c.fake)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(s.L1-c.l1) > 1e-12 || !(s.PSNR == c.psnr || math.Abs(s.PSNR-c.psnr) < 1e-9) {
				t.Errorf("L1 %v PSNR %v, want %v and %v", s.L1, s.PSNR, c.l1, c.psnr)
			}
			if !math.IsNaN(c.ssim) && math.Abs(s.SSIM-c.ssim) > 1e-12 {
				t.Errorf("SSIM %v, want %v", s.SSIM, c.ssim)
			}
		})
	}
}

func TestPairedMeans(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	a := testImage(rng, 20, 20, 3, 3)
	b := distort(rng, a, 4)
	s, err := Paired([]*data.Image{a, a, b}, []*data.Image{b, a, a})
	if err != nil {
		t.Fatal(err)
	}
	one, _ := Pair(a, b)
	if s.Pairs != 3 || s.Identical != 1 || math.Abs(s.PSNR-one.PSNR) > 1e-9 || math.Abs(s.L1-2*one.L1/3) > 1e-12 {
		t.Fatalf("got %+v; one pair %+v", s, one)
	}
	if _, err := Paired([]*data.Image{a}, nil); err == nil {
		t.Fatal("no error for unequal set sizes")
	}
	// The tensor path quantises like SavePNG: a CHW array of the image's
	// own [-1, 1] values compares equal to the saved image.
	chw := make([]float32, 3*20*20)
	for i := 0; i < 400; i++ {
		for c := 0; c < 3; c++ {
			chw[c*400+i] = float32(a.Pix[i*3+c])/127.5 - 1 + 1e-6
		}
	}
	s, err = PairedCHW([][]float32{chw}, [][]float32{chw}, 3, 20, 20)
	if err != nil || s.Identical != 1 {
		t.Fatalf("PairedCHW: %+v, %v", s, err)
	}
}

// SSIM, PSNR and L1 equal scikit-image's on 8-bit pairs of several sizes
// and channel counts.
func TestPairedAgainstSkimage(t *testing.T) {
	testsupport.NeedPython(t, "skimage", "numpy")
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(5, 6))
	shapes := []struct{ w, h, c int }{{64, 64, 3}, {53, 37, 3}, {11, 11, 1}, {40, 90, 1}, {128, 96, 3}}
	var pairs []map[string]any
	var got []PairScore
	for i, s := range shapes {
		real := testImage(rng, s.w, s.h, s.c, 6)
		fake := distort(rng, real, float64(3*i+2))
		rp, fp := filepath.Join(dir, "r"+string(rune('a'+i))), filepath.Join(dir, "f"+string(rune('a'+i)))
		if err := os.WriteFile(rp, real.Pix, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(fp, fake.Pix, 0o644); err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, map[string]any{"real": rp, "fake": fp, "w": s.w, "h": s.h, "c": s.c})
		p, err := Pair(real, fake)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	var want []struct{ SSIM, PSNR, L1 float64 }
	reference(t, map[string]any{"kind": "paired", "pairs": pairs}, &want)
	var dSSIM, dPSNR, dL1 float64
	for i, w := range want {
		g := got[i]
		t.Logf("%dx%dx%d: SSIM %.6f PSNR %.4f dB L1 %.6f", shapes[i].w, shapes[i].h, shapes[i].c, w.SSIM, w.PSNR, w.L1)
		dSSIM = max(dSSIM, math.Abs(g.SSIM-w.SSIM))
		dPSNR = max(dPSNR, math.Abs(g.PSNR-w.PSNR))
		dL1 = max(dL1, math.Abs(g.L1-w.L1))
	}
	t.Logf("max |Δ| against scikit-image: SSIM %.2g, PSNR %.2g dB, L1 %.2g", dSSIM, dPSNR, dL1)
	if dSSIM > 1e-9 || dPSNR > 1e-9 || dL1 > 1e-12 {
		t.Errorf("differs from scikit-image")
	}
}
