package data

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"cyclepix/data/progress"
	"cyclepix/data/raster"
)

// Before training, each side's files are surveyed once: their kind and
// sample type (what test, translate and serve write outputs as by
// default) and, for a side whose range is declared in percentiles, the
// per-channel values at those percentiles over the whole training split,
// which then stay fixed.

// SideSurvey is what the survey learns of one side.
type SideSurvey struct {
	Side Side
	// Format is the kind and sample type of the side's first file, as
	// --format_A/--format_B record it ("tif:uint16", "png:uint8").
	Format string
	// Range is the side's range with percentiles resolved to values, as
	// --range_A/--range_B record it.
	Range Range
}

// sideSource is implemented by the dataset modes whose sides can be
// surveyed: it lists a side's files and reads one unscaled.
type sideSource interface {
	sideFiles(side string) []string
	readSide(path string, s Side) (*raster.Raster, error)
}

// SurveySides surveys the A and B sides of ds (a dataset made by New with o),
// resolving percentile ranges with a progress bar on w (nil: none).
// Modes without per-side files (colorization) have nothing to survey.
func SurveySides(ctx context.Context, ds Dataset, o *Options, w io.Writer) ([]SideSurvey, error) {
	src, ok := ds.(sideSource)
	if !ok {
		return nil, nil
	}
	var out []SideSurvey
	a, b := o.Sides()
	for _, s := range []Side{a, b} {
		files := src.sideFiles(s.Name)
		if len(files) == 0 {
			continue
		}
		rg, err := ParseRange(s.RangeFlag, s.Range)
		if err != nil {
			return nil, err
		}
		sv := SideSurvey{Side: s, Range: rg}
		if sv.Format, err = fileFormat(files[0], s); err != nil {
			return nil, err
		}
		if rg.Kind == RangePercentiles {
			if sv.Range, err = resolvePercentiles(ctx, src, files, s, rg, w); err != nil {
				return nil, err
			}
		}
		out = append(out, sv)
	}
	return out, nil
}

// fileFormat names a file's kind and sample type: raster formats by their
// content, other images (JPEG, BMP, PPM) as the 8-bit PNGs their outputs
// become.
func fileFormat(path string, s Side) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read image: %w", err)
	}
	f := raster.Sniff(b)
	if f == "" || !s.NeedsRaster(b) && f != raster.PNG {
		img, err := DecodeImage(b, path, DepthFull)
		if err != nil {
			return "", err
		}
		if img.HighDepth() {
			return "png:uint16", nil
		}
		return "png:uint8", nil
	}
	r, err := raster.Decode(b, path)
	if err != nil {
		return "", err
	}
	return string(f) + ":" + r.DType.String(), nil
}

// ParseFileFormat splits a recorded --format_A/--format_B value.
func ParseFileFormat(s string) (raster.Format, raster.DType, error) {
	kind, dt, ok := strings.Cut(s, ":")
	if !ok {
		return "", 0, fmt.Errorf("file format %q: want KIND:DTYPE such as tif:uint16", s)
	}
	f, err := raster.ParseFormat(kind)
	if err != nil {
		return "", 0, err
	}
	d, err := raster.ParseDType(dt)
	if err != nil {
		return "", 0, err
	}
	return f, d, nil
}

// maxPercentileValues bounds the values kept per channel for the
// percentiles of types without an exact histogram (float, uint32): each of
// n files contributes at most maxPercentileValues/n values per channel,
// evenly strided, so above that the answer is the percentile of an even
// subsample.
const maxPercentileValues = 1 << 24

// resolvePercentiles computes a side's per-channel percentiles over its
// files as numpy.percentile (linear interpolation) does: exactly, from a
// histogram, for 8- and 16-bit integer samples; from the values (or an
// even subsample of them, maxPercentileValues per channel) otherwise.
func resolvePercentiles(ctx context.Context, src sideSource, files []string, s Side, rg Range, w io.Writer) (Range, error) {
	var bar *progress.Bar
	if w != nil {
		bar = progress.Count(w, len(files), fmt.Sprintf("--%s %s", s.RangeFlag, rg), "file")
		defer func() { _ = bar.Finish() }()
	}
	acc := &percentileAcc{perFile: max(1, maxPercentileValues/len(files))}
	var mu sync.Mutex
	err := progress.Each(ctx, len(files), 2, bar, func(i int) error {
		r, err := src.readSide(files[i], s)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		return acc.add(r, files[i])
	})
	if err != nil {
		return Range{}, err
	}
	out := Range{Kind: RangeValues}
	for c := 0; c < acc.c; c++ {
		lo, hi := acc.percentile(c, rg.Lo[0]), acc.percentile(c, rg.Hi[0])
		if !(lo < hi) {
			return Range{}, fmt.Errorf("--%s %s: channel %d of the %s files has the value %g at both percentiles (a constant channel): declare its range with LO:HI values", s.RangeFlag, rg, c, s.Name, lo)
		}
		out.Lo, out.Hi = append(out.Lo, lo), append(out.Hi, hi)
	}
	return out, nil
}

// percentileAcc gathers one side's values per channel.
type percentileAcc struct {
	c     int
	dtype raster.DType
	first string
	// hist counts integer samples of 8 and 16 bits, offset by 32768 for
	// int16; values keeps the others (every stride-th).
	hist    [][]int64
	values  [][]float32
	perFile int
	n       []int64
}

func (a *percentileAcc) add(r *raster.Raster, path string) error {
	if a.c == 0 {
		a.c, a.dtype, a.first = r.C, r.DType, path
		a.n = make([]int64, r.C)
		switch r.DType {
		case raster.Uint8, raster.Uint16, raster.Int16:
			a.hist = make([][]int64, r.C)
			for c := range a.hist {
				a.hist[c] = make([]int64, 1<<16)
			}
		default:
			a.values = make([][]float32, r.C)
		}
	}
	if r.C != a.c || r.DType != a.dtype {
		return fmt.Errorf("%s holds %s samples, %s %d channels of %s: the files of a side must agree", path, r.Shape(), a.first, a.c, a.dtype)
	}
	for c := 0; c < r.C; c++ {
		plane := r.Plane(c)
		if a.hist != nil {
			off := 0
			if r.DType == raster.Int16 {
				off = 1 << 15
			}
			h := a.hist[c]
			for _, v := range plane {
				h[int(v)+off]++
			}
			a.n[c] += int64(len(plane))
			continue
		}
		stride := (len(plane) + a.perFile - 1) / a.perFile
		for i := 0; i < len(plane); i += stride {
			if v := plane[i]; !math.IsNaN(float64(v)) {
				a.values[c] = append(a.values[c], v)
			}
		}
		a.n[c] += int64(len(plane))
	}
	return nil
}

// percentile is numpy.percentile(values of channel c, q) with linear
// interpolation between the order statistics around q/100·(n−1).
func (a *percentileAcc) percentile(c int, q float64) float64 {
	if a.hist != nil {
		off := 0
		if a.dtype == raster.Int16 {
			off = 1 << 15
		}
		n := a.n[c]
		pos := q / 100 * float64(n-1)
		k := int64(math.Floor(pos))
		lo := a.kth(c, k) - float64(off)
		hi := lo
		if k+1 < n {
			hi = a.kth(c, k+1) - float64(off)
		}
		return lo + (hi-lo)*(pos-float64(k))
	}
	v := a.values[c]
	if !sort.SliceIsSorted(v, func(i, j int) bool { return v[i] < v[j] }) {
		sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	}
	if len(v) == 0 {
		return math.NaN()
	}
	pos := q / 100 * float64(len(v)-1)
	k := int(math.Floor(pos))
	lo, hi := float64(v[k]), float64(v[min(k+1, len(v)-1)])
	return lo + (hi-lo)*(pos-float64(k))
}

// kth is the k-th smallest (0-based) histogram bin index of channel c.
func (a *percentileAcc) kth(c int, k int64) float64 {
	var seen int64
	for i, n := range a.hist[c] {
		seen += n
		if seen > k {
			return float64(i)
		}
	}
	return float64(len(a.hist[c]) - 1)
}

// The modes' sides.

func (d *unaligned) sideFiles(side string) []string {
	if side == "B" {
		return d.pb
	}
	return d.pa
}

func (d *unaligned) readSide(path string, s Side) (*raster.Raster, error) {
	return readRasterFile(path, s)
}

func (d *single) sideFiles(side string) []string {
	if side == "A" {
		return d.paths
	}
	return nil
}

func (d *single) readSide(path string, s Side) (*raster.Raster, error) {
	return readRasterFile(path, s)
}

func (d *aligned) sideFiles(string) []string { return d.paths }

// readSide reads one half of a side-by-side pair.
func (d *aligned) readSide(path string, s Side) (*raster.Raster, error) {
	r, err := readRasterFile(path, s)
	if err != nil {
		return nil, err
	}
	w2 := r.W / 2
	if s.Name == "B" {
		return r.Crop(w2, 0, w2, r.H), nil
	}
	return r.Crop(0, 0, w2, r.H), nil
}

func readRasterFile(path string, s Side) (*raster.Raster, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read image: %w", err)
	}
	return decodeRaster(b, filepath.Clean(path), s)
}
