package metrics

import (
	"fmt"
	"math"
	"math/rand/v2"

	"cyclepix/torch"
)

// Stats are the mean and covariance of a feature set, the statistics FID
// compares (pytorch-fid's mu and sigma; its .npz files hold the same).
type Stats struct {
	N     int       // images
	D     int       // feature size
	Mu    []float64 // D
	Sigma []float64 // D×D row-major, unbiased (divides by N−1, as np.cov)
}

func (f *Features) check(what string) error {
	if f == nil || f.N == 0 {
		return fmt.Errorf("%s: no images", what)
	}
	if len(f.X) != f.N*f.D {
		return fmt.Errorf("%s: %d values for %d×%d features", what, len(f.X), f.N, f.D)
	}
	return nil
}

func float64Tensor(v []float64, shape ...int64) *torch.Tensor {
	t, err := torch.FromBytes(float64Bytes(v), torch.Float64, shape, torch.CPU)
	if err != nil {
		panic(&torch.Error{Op: "from_float64", Msg: err.Error()})
	}
	return t
}

func tensorFloat64s(t *torch.Tensor) []float64 {
	return bytesFloat64(t.Contiguous().ToDevice(torch.CPU, torch.Float64).Bytes())
}

// ComputeStats returns the mean and covariance of f (at least 2 images).
func ComputeStats(f *Features) (*Stats, error) {
	if err := f.check("features"); err != nil {
		return nil, err
	}
	if f.N < 2 {
		return nil, fmt.Errorf("a covariance needs at least 2 images, have %d", f.N)
	}
	st := &Stats{N: f.N, D: f.D}
	err := torch.Try(func() {
		defer torch.NewScope().Close()
		x := float64Tensor(f.X, int64(f.N), int64(f.D))
		mu := x.MeanDims(true, 0)
		xc := x.Sub(mu)
		sigma := torch.Matmul(xc.Transpose(0, 1), xc).DivScalar(float64(f.N - 1))
		st.Mu = tensorFloat64s(mu)
		st.Sigma = tensorFloat64s(sigma)
	})
	if err != nil {
		return nil, fmt.Errorf("feature statistics: %w", err)
	}
	return st, nil
}

// FrechetDistance is ‖μ₁−μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁Σ₂)^½, the FID of
// two sets' statistics.
//
// pytorch-fid takes scipy.linalg.sqrtm of the non-symmetric product Σ₁Σ₂
// and, when that fails, retries with 1e-6 added to the diagonals. Only the
// trace is needed, and Σ₁Σ₂ has the eigenvalues of the symmetric PSD
// matrix Σ₁^½ Σ₂ Σ₁^½ (AB and BA share eigenvalues), so here the trace is
// the sum of their square roots from two symmetric eigendecompositions in
// float64: stable also when the covariances are singular (fewer images
// than 2048), where sqrtm's result is only approximate.
func FrechetDistance(a, b *Stats) (float64, error) {
	if a.D != b.D {
		return 0, fmt.Errorf("feature sizes differ: %d and %d", a.D, b.D)
	}
	var fd float64
	err := torch.Try(func() {
		defer torch.NewScope().Close()
		d := int64(a.D)
		mu1, mu2 := float64Tensor(a.Mu, d), float64Tensor(b.Mu, d)
		s1, s2 := float64Tensor(a.Sigma, d, d), float64Tensor(b.Sigma, d, d)
		diff := mu1.Sub(mu2).Square().Sum().Item()
		tr1, tr2 := s1.Diag().Sum().Item(), s2.Diag().Sum().Item()
		vals, vecs := torch.Eigh(s1)
		root := vecs.Mul(vals.Clamp(0, math.Inf(1)).Sqrt().Unsqueeze(0))
		root = torch.Matmul(root, vecs.Transpose(0, 1)) // Σ₁^½
		m := torch.Matmul(torch.Matmul(root, s2), root)
		m = m.Add(m.Transpose(0, 1)).MulScalar(0.5) // symmetric up to rounding
		trSqrt := torch.EigvalsH(m).Clamp(0, math.Inf(1)).Sqrt().Sum().Item()
		fd = diff + tr1 + tr2 - 2*trSqrt
	})
	if err != nil {
		return 0, fmt.Errorf("fréchet distance: %w", err)
	}
	return fd, nil
}

// FID is the Fréchet Inception Distance between two feature sets.
func FID(real, fake *Features) (float64, error) {
	a, err := ComputeStats(real)
	if err != nil {
		return 0, fmt.Errorf("real: %w", err)
	}
	b, err := ComputeStats(fake)
	if err != nil {
		return 0, fmt.Errorf("fake: %w", err)
	}
	return FrechetDistance(a, b)
}

// KIDOptions configure KID; zero values take clean-fid's defaults.
type KIDOptions struct {
	Subsets    int    // default 100
	SubsetSize int    // default 1000 (capped at the smaller set's size)
	Seed       uint64 // subset draws; the same seed gives the same KID
}

// KIDResult is the mean and standard deviation of the per-subset
// estimates.
type KIDResult struct {
	Mean, Std  float64
	Subsets    int
	SubsetSize int
}

// KID is the Kernel Inception Distance: the unbiased estimate of the
// squared MMD with the kernel k(x, y) = (x·y/d + 1)³, averaged over
// random subsets of m images drawn without replacement from each set
// (clean-fid's kernel_distance, from StyleGAN2-ADA). When both sets have
// at most SubsetSize images and the same size, every subset is the whole
// set and the result is exact.
func KID(real, fake *Features, o KIDOptions) (KIDResult, error) {
	if err := real.check("real"); err != nil {
		return KIDResult{}, err
	}
	if err := fake.check("fake"); err != nil {
		return KIDResult{}, err
	}
	if real.D != fake.D {
		return KIDResult{}, fmt.Errorf("feature sizes differ: %d and %d", real.D, fake.D)
	}
	if o.Subsets <= 0 {
		o.Subsets = 100
	}
	if o.SubsetSize <= 0 {
		o.SubsetSize = 1000
	}
	m := min(real.N, fake.N, o.SubsetSize)
	if m < 2 {
		return KIDResult{}, fmt.Errorf("KID needs at least 2 images in each set, have %d and %d", real.N, fake.N)
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x6b6964))
	ests := make([]float64, o.Subsets)
	err := torch.Try(func() {
		defer torch.NewScope().Close()
		xr := float64Tensor(real.X, int64(real.N), int64(real.D))
		xf := float64Tensor(fake.X, int64(fake.N), int64(fake.D))
		for i := range ests {
			s := torch.NewScope()
			y := xr.IndexSelect(0, torch.FromInt64(choose(rng, real.N, m), int64(m)))
			x := xf.IndexSelect(0, torch.FromInt64(choose(rng, fake.N, m), int64(m)))
			ests[i] = mmdPoly(x, y)
			s.Close()
		}
	})
	if err != nil {
		return KIDResult{}, fmt.Errorf("kernel inception distance: %w", err)
	}
	r := KIDResult{Subsets: o.Subsets, SubsetSize: m}
	for _, e := range ests {
		r.Mean += e
	}
	r.Mean /= float64(len(ests))
	for _, e := range ests {
		r.Std += (e - r.Mean) * (e - r.Mean)
	}
	r.Std = math.Sqrt(r.Std / float64(len(ests)))
	return r, nil
}

// choose draws m of n indices without replacement.
func choose(rng *rand.Rand, n, m int) []int64 {
	p := rng.Perm(n)[:m]
	out := make([]int64, m)
	for i, v := range p {
		out[i] = int64(v)
	}
	return out
}

// mmdPoly is the unbiased squared MMD of two m×d samples under the cubic
// polynomial kernel: off-diagonal means within each sample minus twice the
// mean across them.
func mmdPoly(x, y *torch.Tensor) float64 {
	m := float64(x.Size(0))
	d := float64(x.Size(1))
	k := func(a, b *torch.Tensor) *torch.Tensor {
		return torch.Matmul(a, b.Transpose(0, 1)).DivScalar(d).AddScalar(1).PowScalar(3)
	}
	kxx, kyy, kxy := k(x, x), k(y, y), k(x, y)
	within := kxx.Sum().Item() - kxx.Diag().Sum().Item() + kyy.Sum().Item() - kyy.Diag().Sum().Item()
	return within/(m*(m-1)) - 2*kxy.Sum().Item()/(m*m)
}
