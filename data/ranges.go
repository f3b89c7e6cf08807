package data

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"cyclepix/data/raster"
)

// A domain's declared range (--range_A, --range_B) is how its files' values
// map to the networks' [-1, 1]: LO maps to -1, HI to 1, values outside are
// clipped. This file is the one place that mapping and its inverse live.

// RangeKind says how a range is declared.
type RangeKind int

// The ways to declare a range.
const (
	// RangeDType is the full range of the file's integer type: 0..255 for
	// 8-bit files, which is exactly the reference's mapping.
	RangeDType RangeKind = iota
	// RangeValues gives LO:HI on the data's scale, for all channels or
	// one pair per channel (CT in Hounsfield units: -1000:2000).
	RangeValues
	// RangePercentiles gives pLO:pHI, per channel, computed once over the
	// training split and then fixed (ResolvePercentiles).
	RangePercentiles
)

// Range is a parsed --range_A or --range_B.
type Range struct {
	Kind RangeKind
	// Lo and Hi are the values (RangeValues: one pair for every channel,
	// or one per channel) or the percentiles (RangePercentiles: one pair).
	Lo, Hi []float64
}

// ParseRange reads a range flag's value: "dtype" (or ""), "LO:HI",
// "LO:HI,LO:HI,…" or "pLO:pHI". flag names the option in errors.
func ParseRange(flag, s string) (Range, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "dtype" {
		return Range{Kind: RangeDType}, nil
	}
	bad := func(why string) (Range, error) {
		return Range{}, fmt.Errorf("--%s %q: %s (want dtype, LO:HI, LO:HI,LO:HI,… one per channel, or percentiles pLO:pHI such as p0.5:p99.5)", flag, s, why)
	}
	if strings.HasPrefix(s, "p") {
		lo, hi, ok := strings.Cut(s[1:], ":")
		if !ok || !strings.HasPrefix(hi, "p") {
			return bad("percentiles are written pLO:pHI")
		}
		l, err1 := strconv.ParseFloat(lo, 64)
		h, err2 := strconv.ParseFloat(hi[1:], 64)
		if err1 != nil || err2 != nil || !(0 <= l && l < h && h <= 100) {
			return bad("percentiles must be numbers with 0 ≤ LO < HI ≤ 100")
		}
		return Range{Kind: RangePercentiles, Lo: []float64{l}, Hi: []float64{h}}, nil
	}
	r := Range{Kind: RangeValues}
	for _, pair := range strings.Split(s, ",") {
		lo, hi, ok := strings.Cut(pair, ":")
		if !ok {
			return bad(fmt.Sprintf("%q is not LO:HI", pair))
		}
		l, err1 := strconv.ParseFloat(strings.TrimSpace(lo), 64)
		h, err2 := strconv.ParseFloat(strings.TrimSpace(hi), 64)
		if err1 != nil || err2 != nil || math.IsNaN(l) || math.IsNaN(h) || math.IsInf(l, 0) || math.IsInf(h, 0) {
			return bad(fmt.Sprintf("%q is not two numbers", pair))
		}
		if !(l < h) {
			return bad(fmt.Sprintf("%q: LO must be below HI", pair))
		}
		r.Lo, r.Hi = append(r.Lo, l), append(r.Hi, h)
	}
	return r, nil
}

// String writes the range as ParseRange reads it; values round-trip
// exactly.
func (r Range) String() string {
	switch r.Kind {
	case RangeDType:
		return "dtype"
	case RangePercentiles:
		return "p" + formatFloat(r.Lo[0]) + ":p" + formatFloat(r.Hi[0])
	}
	parts := make([]string, len(r.Lo))
	for i := range r.Lo {
		parts[i] = formatFloat(r.Lo[i]) + ":" + formatFloat(r.Hi[i])
	}
	return strings.Join(parts, ",")
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// IsDType reports whether the range is the file type's own.
func (r Range) IsDType() bool { return r.Kind == RangeDType }

// ErrUnresolved is returned by Scale for percentile ranges, which need the
// training split's statistics first (ResolvePercentiles).
var ErrUnresolved = errors.New("percentile range not resolved yet")

// Scale returns the per-channel LO and HI for c channels of type dt.
// flag names the option in errors.
func (r Range) Scale(flag string, dt raster.DType, c int) (Scale, error) {
	switch r.Kind {
	case RangeDType:
		if !dt.Integer() {
			return Scale{}, fmt.Errorf("%s samples have no range of their own: declare one with --%s LO:HI (on the data's scale) or percentiles --%s p0.5:p99.5", dt, flag, flag)
		}
		lo, hi := dt.Limits()
		return uniformScale(c, lo, hi), nil
	case RangePercentiles:
		return Scale{}, fmt.Errorf("--%s %s: %w", flag, r, ErrUnresolved)
	}
	switch len(r.Lo) {
	case 1:
		return uniformScale(c, r.Lo[0], r.Hi[0]), nil
	case c:
		return Scale{Lo: append([]float64(nil), r.Lo...), Hi: append([]float64(nil), r.Hi...)}, nil
	}
	return Scale{}, fmt.Errorf("--%s %s gives %d ranges for %d channels: give one LO:HI for all or one per channel", flag, r, len(r.Lo), c)
}

func uniformScale(c int, lo, hi float64) Scale {
	s := Scale{Lo: make([]float64, c), Hi: make([]float64, c)}
	for i := range s.Lo {
		s.Lo[i], s.Hi[i] = lo, hi
	}
	return s
}

// Scale is a resolved range: channel k's values LO[k]..HI[k] map to
// [-1, 1].
type Scale struct {
	Lo, Hi []float64
}

// Range is the scale as a RangeValues range (one pair per channel), what
// a run records so that test, translate, serve and eval use exactly it.
func (s Scale) Range() Range {
	return Range{Kind: RangeValues, Lo: append([]float64(nil), s.Lo...), Hi: append([]float64(nil), s.Hi...)}
}

// ToUnit maps a raster's values to [0, 1] by the scale, clipping what lies
// outside, as an interleaved float image for the transforms (whose
// Tensor then gives [-1, 1]). The division is done as float32(v − LO) /
// float32(HI − LO), which for 8- and 16-bit files with their type's range
// is what the decoders and the reference's ToTensor compute.
func (s Scale) ToUnit(r *raster.Raster) (*Image, error) {
	if len(s.Lo) != r.C {
		return nil, fmt.Errorf("range of %d channels for a %s image", len(s.Lo), r.Shape())
	}
	n := r.W * r.H
	out := &Image{W: r.W, H: r.H, C: r.C, Float: make([]float32, n*r.C)}
	for c := 0; c < r.C; c++ {
		lo, span := float32(s.Lo[c]), float32(s.Hi[c]-s.Lo[c])
		plane := r.Plane(c)
		for i, v := range plane {
			u := (v - lo) / span
			if !(u >= 0) { // also NaN
				u = 0
			} else if u > 1 {
				u = 1
			}
			out.Float[i*r.C+c] = u
		}
	}
	return out, nil
}

// FromSigned maps a network output (C×H×W in [-1, 1]) back to the data's
// scale, rounded as dt stores values (integers rounded and clipped to the
// type, float32 rounded to float32).
func (s Scale) FromSigned(chw []float32, c, h, w int, dt raster.DType) (*raster.Raster, error) {
	if len(s.Lo) != c || len(chw) != c*h*w {
		return nil, fmt.Errorf("range of %d channels for %d channels of %d×%d (%d values)", len(s.Lo), c, w, h, len(chw))
	}
	r := raster.New(w, h, c, dt)
	n := w * h
	for k := 0; k < c; k++ {
		lo, span := s.Lo[k], s.Hi[k]-s.Lo[k]
		src, dst := chw[k*n:(k+1)*n], r.Plane(k)
		for i, v := range src {
			dst[i] = float32(dt.Round(lo + (float64(v)+1)/2*span))
		}
	}
	return r, nil
}
