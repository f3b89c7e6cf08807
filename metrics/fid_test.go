package metrics

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"cyclepix/internal/testsupport"
)

// randomFeatures draws n correlated, non-negative d-dimensional features
// (like post-ReLU pool features), shifted by shift.
func randomFeatures(rng *rand.Rand, n, d int, shift float64) *Features {
	f := &Features{N: n, D: d, X: make([]float64, n*d)}
	mix := make([]float64, d)
	for j := range mix {
		mix[j] = rng.Float64()
	}
	for i := 0; i < n; i++ {
		common := rng.NormFloat64()
		for j := 0; j < d; j++ {
			f.X[i*d+j] = math.Abs(rng.NormFloat64()+mix[j]*common) + shift*mix[j]
		}
	}
	return f
}

func TestFrechetDistanceProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	a := randomFeatures(rng, 50, 8, 0)
	fid, err := FID(a, a)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(fid) > 1e-9 {
		t.Fatalf("FID of a set with itself is %g", fid)
	}
	// Two Gaussians with the same covariance: FID is ‖μ₁−μ₂‖² exactly.
	b := &Features{N: a.N, D: a.D, X: append([]float64(nil), a.X...)}
	for i := range b.X {
		b.X[i] += 0.5
	}
	fid, err = FID(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(fid-0.25*8) > 1e-9 {
		t.Fatalf("FID of a shifted copy is %g, want 2", fid)
	}
	if _, err := FID(a, &Features{N: 1, D: 8, X: make([]float64, 8)}); err == nil {
		t.Fatal("no error for a single image")
	}
	if _, err := FID(a, &Features{N: 3, D: 4, X: make([]float64, 12)}); err == nil {
		t.Fatal("no error for different feature sizes")
	}
}

// FID against pytorch-fid's recipe with scipy.linalg.sqrtm, for
// well-conditioned covariances (more images than dimensions) and singular
// ones (fewer), where sqrtm is only approximate.
func TestFIDAgainstSciPy(t *testing.T) {
	testsupport.NeedPython(t, "scipy", "numpy")
	cases := []struct {
		name          string
		nReal, nFake  int
		d             int
		shift, relTol float64
	}{
		{"well conditioned", 400, 300, 64, 0.3, 1e-9},
		{"d 256", 600, 500, 256, 0.1, 1e-9},
		{"singular (n < d)", 40, 30, 64, 0.3, 1e-5},
	}
	rng := rand.New(rand.NewPCG(9, 10))
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			real, fake := randomFeatures(rng, c.nReal, c.d, 0), randomFeatures(rng, c.nFake, c.d, c.shift)
			rp, fp := filepath.Join(dir, "real.f64"), filepath.Join(dir, "fake.f64")
			writeFloat64s(t, rp, real.X)
			writeFloat64s(t, fp, fake.X)
			var want struct{ FID float64 }
			reference(t, map[string]any{"kind": "fid", "real": rp, "fake": fp, "n_real": c.nReal, "n_fake": c.nFake, "d": c.d}, &want)
			got, err := FID(real, fake)
			if err != nil {
				t.Fatal(err)
			}
			rel := math.Abs(got-want.FID) / math.Abs(want.FID)
			t.Logf("FID %.10f, SciPy %.10f, relative difference %.2g", got, want.FID, rel)
			if rel > c.relTol {
				t.Errorf("relative difference %.3g > %g", rel, c.relTol)
			}
		})
	}
}

func TestKIDAgainstNumPy(t *testing.T) {
	testsupport.NeedPython(t, "numpy")
	rng := rand.New(rand.NewPCG(11, 12))
	dir := t.TempDir()
	for _, d := range []int{16, 2048} {
		real, fake := randomFeatures(rng, 120, d, 0), randomFeatures(rng, 120, d, 0.2)
		rp, fp := filepath.Join(dir, "real.f64"), filepath.Join(dir, "fake.f64")
		writeFloat64s(t, rp, real.X)
		writeFloat64s(t, fp, fake.X)
		var want struct{ KID float64 }
		reference(t, map[string]any{"kind": "kid", "real": rp, "fake": fp, "n_real": 120, "n_fake": 120, "d": d}, &want)
		// Equal sets no larger than the subset size: every subset is a
		// permutation of the whole set, so each estimate is exact.
		got, err := KID(real, fake, KIDOptions{Subsets: 3})
		if err != nil {
			t.Fatal(err)
		}
		rel := math.Abs(got.Mean-want.KID) / math.Abs(want.KID)
		t.Logf("d %d: KID %.12g, NumPy %.12g, relative difference %.2g, std %.2g", d, got.Mean, want.KID, rel, got.Std)
		if rel > 1e-9 || got.Std > 1e-9*math.Abs(got.Mean) || got.SubsetSize != 120 {
			t.Errorf("KID %+v differs from NumPy's %g", got, want.KID)
		}
	}
}

func TestKIDSubsets(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	real, fake := randomFeatures(rng, 80, 8, 0), randomFeatures(rng, 60, 8, 1)
	o := KIDOptions{Subsets: 20, SubsetSize: 30, Seed: 5}
	a, err := KID(real, fake, o)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := KID(real, fake, o)
	if a != b {
		t.Fatalf("same seed, different KID: %+v %+v", a, b)
	}
	if a.SubsetSize != 30 || a.Subsets != 20 || a.Std <= 0 || a.Mean <= 0 {
		t.Fatalf("unexpected %+v", a)
	}
	// Two samples of one distribution: the estimator is unbiased, so the
	// mean over subsets is near 0 (while the shifted set is far).
	both := randomFeatures(rng, 160, 8, 0)
	half1 := &Features{N: 80, D: 8, X: both.X[:640]}
	half2 := &Features{N: 80, D: 8, X: both.X[640:]}
	same, _ := KID(half1, half2, o)
	if math.Abs(same.Mean) > 4*same.Std/math.Sqrt(20) || a.Mean < 10*math.Abs(same.Mean) {
		t.Fatalf("KID of two samples of one distribution %+v is not near 0 (shifted: %+v)", same, a)
	}
	if _, err := KID(real, &Features{N: 1, D: 8, X: make([]float64, 8)}, o); err == nil {
		t.Fatal("no error for a single image")
	}
}
