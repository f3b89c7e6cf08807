package data

import (
	"fmt"
	"strconv"
	"strings"

	"cyclepix/data/raster"
)

// Output says how the network's images of one domain are written: the
// reference's 8-bit PNGs (tensor2im), or the data's own scale through the
// inverse of the domain's range, as TIFF, .npy or PNG of the domain's
// sample type.
type Output struct {
	// Reference is true for grey and RGB 8-bit domains read with their
	// type's range: PNGs exactly as the reference's tensor2im makes them.
	Reference bool
	Format    raster.Format
	DType     raster.DType
	Scale     Scale
}

// DomainOutput works out how a domain's images of c channels are written
// from the run's recorded options: its range (--range_A/--range_B, as
// training recorded it), its files' kind and type (--format_A/--format_B,
// "" for runs that recorded none) and --output_format ("" for the
// domain's own). rangeFlag names the range option in errors.
func DomainOutput(rangeFlag, rangeValue, fileFormat, outputFormat string, c int) (Output, error) {
	rg, err := ParseRange(rangeFlag, rangeValue)
	if err != nil {
		return Output{}, err
	}
	format, dt := raster.PNG, raster.Uint8
	if fileFormat != "" {
		if format, dt, err = ParseFileFormat(fileFormat); err != nil {
			return Output{}, fmt.Errorf("the run's recorded --format_%s: %w", rangeFlag[len(rangeFlag)-1:], err)
		}
	}
	if outputFormat != "" {
		if format, err = raster.ParseFormat(outputFormat); err != nil {
			return Output{}, fmt.Errorf("--output_format: %w", err)
		}
	}
	if rg.IsDType() && dt == raster.Uint8 && format == raster.PNG && (c == 1 || c == 3) {
		return Output{Reference: true, Format: raster.PNG, DType: raster.Uint8}, nil
	}
	if rg.Kind == RangePercentiles {
		return Output{}, fmt.Errorf("--%s %s is not resolved: use the run's recorded options (train resolves percentiles)", rangeFlag, rg)
	}
	if format == raster.PNG && dt != raster.Uint8 && dt != raster.Uint16 {
		return Output{}, fmt.Errorf("the domain's files hold %s samples, which PNG cannot: use --output_format tif or npy", dt)
	}
	sc, err := rg.Scale(rangeFlag, dt, c)
	if err != nil {
		return Output{}, err
	}
	if format == raster.PNG {
		// Outputs are on the data's scale, in the files' units: a declared
		// range that the PNG's integers cannot hold would be clipped.
		lo, hi := dt.Limits()
		for k := range sc.Lo {
			if sc.Lo[k] < lo || sc.Hi[k] > hi {
				return Output{}, fmt.Errorf("--%s channel %d spans %g..%g, which %s PNGs cannot hold: use --output_format tif or npy", rangeFlag, k, sc.Lo[k], sc.Hi[k], dt)
			}
		}
	}
	return Output{Format: format, DType: dt, Scale: sc}, nil
}

// Write writes an image (C×H×W in [-1, 1]) to stem plus the format's
// extension and returns the path written.
func (out Output) Write(stem string, chw []float32, c, h, w int) (string, error) {
	path := stem + out.Format.Ext()
	if out.Reference {
		return path, SavePNG(path, chw, c, h, w)
	}
	r, err := out.Scale.FromSigned(chw, c, h, w, out.DType)
	if err != nil {
		return "", err
	}
	switch out.Format {
	case raster.TIFF:
		err = raster.WriteTIFF(path, r)
	case raster.NPY:
		err = raster.WriteNPY(path, r)
	default:
		err = raster.WritePNG(path, r)
	}
	return path, err
}

// PreviewChannels parses --preview_channels for an image of c channels:
// the channels an 8-bit preview shows, one (grey) or three (RGB). The
// default is the first three, or the first alone when there are fewer.
func PreviewChannels(s string, c int) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		if c >= 3 {
			return []int{0, 1, 2}, nil
		}
		return []int{0}, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || k < 0 {
			return nil, fmt.Errorf("--preview_channels %q: %q is not a channel number", s, f)
		}
		if k >= c {
			return nil, fmt.Errorf("--preview_channels %q: channel %d of an image of %d (they count from 0)", s, k, c)
		}
		out = append(out, k)
	}
	if len(out) != 1 && len(out) != 3 {
		return nil, fmt.Errorf("--preview_channels %q: give one channel (grey) or three (RGB)", s)
	}
	return out, nil
}

// Preview is the 8-bit image of chosen channels of a network image
// (C×H×W in [-1, 1]), as tensor2im makes them: what pages, the dashboard
// and side-by-side pictures show of data with other channel counts.
func Preview(chw []float32, c, h, w int, channels []int) (*Image, error) {
	n := h * w
	sel := make([]float32, 0, len(channels)*n)
	for _, k := range channels {
		if k < 0 || k >= c {
			return nil, fmt.Errorf("preview channel %d of an image of %d", k, c)
		}
		sel = append(sel, chw[k*n:(k+1)*n]...)
	}
	return ImageFromCHW(sel, len(channels), h, w)
}

// PreviewLabel says which channels a preview shows, for captions.
func PreviewLabel(channels []int, c int) string {
	if c == len(channels) && (c == 1 || c == 3) {
		return ""
	}
	parts := make([]string, len(channels))
	for i, k := range channels {
		parts[i] = strconv.Itoa(k)
	}
	if len(channels) == 1 {
		return fmt.Sprintf("channel %s of %d, grey", parts[0], c)
	}
	return fmt.Sprintf("channels %s of %d as RGB", strings.Join(parts, ","), c)
}
