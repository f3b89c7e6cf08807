package gan

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Gaussian is the mean and covariance of a set of feature vectors.
type Gaussian struct {
	Mean []float64
	Cov  *mat.SymDense
}

// FitGaussian returns the sample mean and the unbiased (n−1) covariance of
// n row vectors of dimension d stored row-major in x, as numpy's mean and
// cov(rowvar=False) compute them. It needs n ≥ 2.
func FitGaussian(x []float32, n, d int) (Gaussian, error) {
	if n < 2 || d < 1 || len(x) != n*d {
		return Gaussian{}, fmt.Errorf("fit gaussian: need at least 2 vectors of %d values, have %d values for %d", d, len(x), n)
	}
	mean := make([]float64, d)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			mean[j] += float64(x[i*d+j])
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	// Centred data, then Cᵀ·C / (n−1) with a symmetric rank-k update.
	c := mat.NewDense(n, d, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			c.Set(i, j, float64(x[i*d+j])-mean[j])
		}
	}
	cov := mat.NewSymDense(d, nil)
	cov.SymRankK(cov, 1/float64(n-1), c.T())
	return Gaussian{Mean: mean, Cov: cov}, nil
}

// FrechetDistance is the squared Fréchet (2-Wasserstein) distance between
// two Gaussians, the quantity FID reports:
//
//	|μa − μb|² + tr(Σa + Σb − 2 (Σa Σb)^½).
//
// tr((Σa Σb)^½) is computed as tr((Σa^½ Σb Σa^½)^½): the two matrices are
// similar, and the second is symmetric positive semi-definite, so both
// square roots come from symmetric eigendecompositions. That stays real and
// stable for the rank-deficient covariances that dead ReLU features give,
// where a general matrix square root (scipy's sqrtm) returns complex noise.
// Eigenvalues that rounding makes slightly negative count as zero.
func FrechetDistance(a, b Gaussian) (float64, error) {
	d := len(a.Mean)
	if d == 0 || len(b.Mean) != d || a.Cov == nil || b.Cov == nil || a.Cov.SymmetricDim() != d || b.Cov.SymmetricDim() != d {
		return 0, errors.New("frechet distance: the Gaussians have different or empty dimensions")
	}
	var dm float64
	for i := range a.Mean {
		v := a.Mean[i] - b.Mean[i]
		dm += v * v
	}
	sqrtA, err := symSqrt(a.Cov)
	if err != nil {
		return 0, err
	}
	var m mat.Dense
	m.Mul(sqrtA, b.Cov)
	m.Mul(&m, sqrtA)
	// Symmetrise away the rounding of the two products.
	ms := mat.NewSymDense(d, nil)
	for i := 0; i < d; i++ {
		for j := i; j < d; j++ {
			ms.SetSym(i, j, (m.At(i, j)+m.At(j, i))/2)
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(ms, false) {
		return 0, errors.New("frechet distance: eigendecomposition did not converge")
	}
	var trSqrt float64
	for _, v := range eig.Values(nil) {
		trSqrt += math.Sqrt(math.Max(v, 0))
	}
	fd := dm + mat.Trace(a.Cov) + mat.Trace(b.Cov) - 2*trSqrt
	// Identical inputs can land a hair below zero.
	return math.Max(fd, 0), nil
}

// symSqrt returns the principal square root of a symmetric positive
// semi-definite matrix, V·diag(√λ)·Vᵀ.
func symSqrt(s *mat.SymDense) (*mat.Dense, error) {
	var eig mat.EigenSym
	if !eig.Factorize(s, true) {
		return nil, errors.New("frechet distance: eigendecomposition did not converge")
	}
	vals := eig.Values(nil)
	var v mat.Dense
	eig.VectorsTo(&v)
	d := len(vals)
	scaled := mat.NewDense(d, d, nil)
	for j, l := range vals {
		r := math.Sqrt(math.Max(l, 0))
		for i := 0; i < d; i++ {
			scaled.Set(i, j, v.At(i, j)*r)
		}
	}
	var out mat.Dense
	out.Mul(scaled, v.T())
	return &out, nil
}
