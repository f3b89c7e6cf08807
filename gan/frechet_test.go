package gan

import (
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func gauss(mean []float64, cov ...float64) Gaussian {
	return Gaussian{Mean: mean, Cov: mat.NewSymDense(len(mean), cov)}
}

// TestFrechetDistance checks cases worked out by hand:
//   - 1-d: (μa−μb)² + σa² + σb² − 2σaσb = (μa−μb)² + (σa−σb)²;
//   - diagonal covariances: the sum of the 1-d distances per axis;
//   - 2×2 with Σa Σb not symmetric: for a 2×2 matrix M with positive
//     eigenvalues, tr √M = √(tr M + 2√det M).
func TestFrechetDistance(t *testing.T) {
	// Σa = [[2,1],[1,2]], Σb = [[1,0],[0,3]]: Σa Σb = [[2,3],[1,6]],
	// tr 8, det 9, so tr √(Σa Σb) = √(8 + 2·3) = √14.
	nonCommuting := 4.0 + 4 - 2*math.Sqrt(14) + (1*1 + 2*2)
	for _, c := range []struct {
		name string
		a, b Gaussian
		want float64
	}{
		{"1-d equal", gauss([]float64{3}, 4), gauss([]float64{3}, 4), 0},
		{"1-d shift", gauss([]float64{0}, 1), gauss([]float64{2}, 1), 4},
		{"1-d scale", gauss([]float64{1}, 9), gauss([]float64{1}, 1), 4},                // (3−1)²
		{"1-d both", gauss([]float64{-1}, 0.25), gauss([]float64{1.5}, 4), 6.25 + 2.25}, // 2.5² + (0.5−2)²
		{"1-d degenerate", gauss([]float64{0}, 0), gauss([]float64{0}, 4), 4},
		{"2-d diagonal", gauss([]float64{0, 0}, 1, 0, 0, 4), gauss([]float64{1, 1}, 9, 0, 0, 1), 2 + 4 + 1},
		{"2-d identity vs correlated", gauss([]float64{0, 0}, 1, 0, 0, 1), gauss([]float64{0, 0}, 2, 1, 1, 2), 6 - 2*(math.Sqrt(3)+1)},
		{"2-d non-commuting", gauss([]float64{0, 0}, 2, 1, 1, 2), gauss([]float64{1, 2}, 1, 0, 0, 3), nonCommuting},
		{"2-d rank one", gauss([]float64{0, 0}, 1, 1, 1, 1), gauss([]float64{0, 0}, 1, 1, 1, 1), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := FrechetDistance(c.a, c.b)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-c.want) > 1e-9*math.Max(1, c.want) {
				t.Fatalf("got %.12g, want %.12g", got, c.want)
			}
			// The distance is symmetric.
			if back, _ := FrechetDistance(c.b, c.a); math.Abs(back-got) > 1e-9*math.Max(1, got) {
				t.Fatalf("d(a,b) = %g but d(b,a) = %g", got, back)
			}
		})
	}
	if _, err := FrechetDistance(gauss([]float64{0}, 1), gauss([]float64{0, 0}, 1, 0, 0, 1)); err == nil {
		t.Fatal("mismatched dimensions: no error")
	}
}

func TestFitGaussian(t *testing.T) {
	// Points (1,2), (3,2), (2,5): mean (2,3); deviations (−1,−1), (1,−1),
	// (0,2); cov = Σ dᵀd / 2 = [[2,0],[0,6]]/2.
	g, err := FitGaussian([]float32{1, 2, 3, 2, 2, 5}, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]float64{{1, 0}, {0, 3}}
	if g.Mean[0] != 2 || g.Mean[1] != 3 {
		t.Fatalf("mean %v", g.Mean)
	}
	for i := range want {
		for j := range want[i] {
			if math.Abs(g.Cov.At(i, j)-want[i][j]) > 1e-12 {
				t.Fatalf("cov %v, want %v", mat.Formatted(g.Cov), want)
			}
		}
	}
	for _, c := range []struct {
		x    []float32
		n, d int
	}{{[]float32{1, 2}, 1, 2}, {[]float32{1, 2, 3}, 2, 2}} {
		if _, err := FitGaussian(c.x, c.n, c.d); err == nil || !strings.Contains(err.Error(), "at least 2") {
			t.Fatalf("FitGaussian(%v, %d, %d): error %v", c.x, c.n, c.d, err)
		}
	}
}
