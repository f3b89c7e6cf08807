package data

import (
	"errors"
	"fmt"
	"os"

	"cyclepix/data/libtiff"
	"cyclepix/data/raster"
)

// A dataset side ("A" or "B", the folders on disk, whatever --direction)
// is a domain: its images have a channel count (--input_nc or
// --output_nc, by direction) and a declared range (--range_A, --range_B).
// Files load one of two ways:
//
//   - the reference's: grey or RGB images of 8 (or 16) bits, decoded as
//     Pillow does and converted to the channel count as convert('L') or
//     convert('RGB') would, 8-bit values mapped as ToTensor does. Every
//     8-bit RGB and grey dataset stays exactly the reference's.
//   - the data's own (package raster): any channel count, 8/16/32-bit
//     integer or float samples, multi-page and OME-TIFF, .npy, PNG with
//     alpha; the channels must be what the flag says (no conversion) and
//     the values map to [-1, 1] by the domain's range, clipped outside.
//
// The second is taken when the first cannot give what is asked: a channel
// count other than 1 or 3, a declared range, a .npy file, or a TIFF that
// is not one page of 8- or 16-bit unsigned grey or colour samples.

// Side names the flags of one dataset side.
type Side struct {
	Name      string // "A" or "B"
	NC        int
	NCFlag    string // "input_nc" or "output_nc"
	RangeFlag string // "range_A" or "range_B"
	Range     string // its value
}

// Sides returns the dataset's A and B sides. As in the reference, a
// dataset's A is always the source domain on disk (left half, trainA, …)
// and the model swaps A and B for BtoA; so with BtoA, A is the
// generator's target and takes --output_nc.
func (o *Options) Sides() (a, b Side) {
	a = Side{Name: "A", NC: o.InputNC, NCFlag: "input_nc", RangeFlag: "range_A", Range: o.RangeA}
	b = Side{Name: "B", NC: o.OutputNC, NCFlag: "output_nc", RangeFlag: "range_B", Range: o.RangeB}
	if o.Direction == "BtoA" {
		a.NC, a.NCFlag, b.NC, b.NCFlag = b.NC, b.NCFlag, a.NC, a.NCFlag
	}
	return a, b
}

// side returns side name's Side.
func (o *Options) side(name string) Side {
	a, b := o.Sides()
	if name == "B" {
		return b
	}
	return a
}

// check validates a side's flags before any file is read.
func (s Side) check() error {
	if s.NC < 1 || s.NC > raster.MaxChannels {
		return fmt.Errorf("--%s %d: want 1 to %d channels", s.NCFlag, s.NC, raster.MaxChannels)
	}
	_, err := ParseRange(s.RangeFlag, s.Range)
	return err
}

// ownScale reports whether the side's files load on the data's own scale
// rather than as the reference's images, before looking at a file.
func (s Side) ownScale() bool {
	r, err := ParseRange(s.RangeFlag, s.Range)
	return (s.NC != 1 && s.NC != 3) || err != nil || !r.IsDType()
}

// NeedsRaster reports whether a file of the side loads on the data's own
// scale (see above) rather than as the reference's images.
func (s Side) NeedsRaster(b []byte) bool {
	if s.ownScale() {
		return true
	}
	switch raster.Sniff(b) {
	case raster.NPY:
		return true
	case raster.TIFF:
		return !pillowTIFF(b)
	}
	return false
}

// pillowTIFF reports whether a TIFF is what the reference's Pillow path
// reads faithfully: one page of 8- or 16-bit unsigned samples, grey or
// colour.
func pillowTIFF(b []byte) bool {
	h, err := libtiff.DecodeHeader(b)
	if err != nil {
		return true // let the Pillow path say what is wrong
	}
	if h.SampleFormat != 1 || (h.Bits != 8 && h.Bits != 16 && h.Bits != 1) || h.Samples > 4 {
		return false
	}
	pages, err := raster.CountTIFFPages(b, 2)
	return err != nil || pages == 1
}

// DecodeSide decodes a file of a side (a domain) into what the transforms
// take: the reference's grey or RGB image (8-bit, or 16-bit at depth d),
// or the file's own channels as float samples in [0, 1] by the side's
// range, checked against the side's channel count. Inference decodes its
// inputs with it too, so that they are scaled as training scaled them.
func DecodeSide(b []byte, path string, s Side, d Depth) (*Image, error) {
	if !s.NeedsRaster(b) {
		img, err := DecodeImage(b, path, d)
		if err != nil {
			return nil, err
		}
		return img, nil
	}
	r, err := decodeRaster(b, path, s)
	if err != nil {
		return nil, err
	}
	return scaleSide(r, path, s)
}

// decodeRaster reads a file on the data's own scale and checks its
// channel count against the side's flag.
func decodeRaster(b []byte, path string, s Side) (*raster.Raster, error) {
	if raster.Sniff(b) == "" {
		if f := sniff(b); f != "" {
			return nil, fmt.Errorf("%s is a %s image, which loads as grey or RGB only: --%s %d needs TIFF, .npy or PNG files", path, f, s.NCFlag, s.NC)
		}
	}
	r, err := raster.Decode(b, path)
	if err != nil {
		return nil, err
	}
	if r.C != s.NC {
		return nil, fmt.Errorf("%s holds %s samples (%d channels) but --%s is %d: set --%s %d or convert the file", path, r.Shape(), r.C, s.NCFlag, s.NC, s.NCFlag, r.C)
	}
	return r, nil
}

// scaleSide maps a raster to [0, 1] by the side's range.
func scaleSide(r *raster.Raster, path string, s Side) (*Image, error) {
	rg, err := ParseRange(s.RangeFlag, s.Range)
	if err != nil {
		return nil, err
	}
	sc, err := rg.Scale(s.RangeFlag, r.DType, r.C)
	if err != nil {
		return nil, fmt.Errorf("%s (%s): %w", path, r.Shape(), err)
	}
	return sc.ToUnit(r)
}

// loadSide decodes one side's file at path and runs a transform on it;
// errors name the file.
func loadSide(path string, o *Options, s Side, f func(*Image) (*Image, error)) (*Image, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read image: %w", err)
	}
	img, err := DecodeSide(b, path, s, o.Depth)
	if err != nil {
		return nil, err
	}
	out, err := f(img)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// DomainSide is the side name ("A" or "B") of a trained run as inference
// sees it: images of nc channels (the generator's, ncFlag naming the
// run's option) scaled by the run's recorded range of that side.
func DomainSide(name string, nc int, ncFlag, rangeValue string) Side {
	return Side{Name: name, NC: nc, NCFlag: ncFlag, RangeFlag: "range_" + name, Range: rangeValue}
}

// Reference reports whether the side's images are the reference's grey or
// RGB images (read as Pillow does, 8-bit values as ToTensor maps them),
// before looking at a file.
func (s Side) Reference() bool { return !s.ownScale() }

// probeSide decodes a side's file as DecodeSide does, for the checks made
// before training: a range in percentiles, not resolved yet, does not
// stop it (the file's channels and size are what is checked).
func probeSide(b []byte, path string, s Side, d Depth) (*Image, error) {
	img, err := DecodeSide(b, path, s, d)
	if !errors.Is(err, ErrUnresolved) {
		return img, err
	}
	r, err := decodeRaster(b, path, s)
	if err != nil {
		return nil, err
	}
	return &Image{W: r.W, H: r.H, C: r.C}, nil
}

// Scale is the side's resolved range for files of c channels of type dt:
// what maps them to [0, 1] (Scale.ToUnit) when they are read a band at a
// time rather than through DecodeSide.
func (s Side) Scale(dt raster.DType, c int) (Scale, error) {
	rg, err := ParseRange(s.RangeFlag, s.Range)
	if err != nil {
		return Scale{}, err
	}
	return rg.Scale(s.RangeFlag, dt, c)
}
