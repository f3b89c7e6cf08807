package raster

import (
	"fmt"
	"strconv"
	"strings"

	"cyclepix/npy"
)

// npyDescrs is the descr each DType is written as: what numpy.save writes
// for an array of that dtype on a little-endian machine.
var npyDescrs = map[DType]string{Uint8: "|u1", Uint16: "<u2", Int16: "<i2", Uint32: "<u4", Float32: "<f4", Float64: "<f8"}

// npyDType maps a file's numeric type to the DType that holds its values
// exactly: each of the six by itself, and three narrower types widened
// (int8 to int16, bool to uint8 0 or 1, float16 to float32).
func npyDType(t npy.Type) (DType, bool) {
	switch t.Kind {
	case 'u':
		switch t.Size {
		case 1:
			return Uint8, true
		case 2:
			return Uint16, true
		case 4:
			return Uint32, true
		}
	case 'i':
		if t.Size <= 2 {
			return Int16, true
		}
	case 'b':
		return Uint8, true
	case 'f':
		switch t.Size {
		case 2, 4:
			return Float32, true
		case 8:
			return Float64, true
		}
	}
	return 0, false
}

// npyShape writes a shape as Python does, "(4, 6, 3)" or "(5,)", the way
// the user's own code printed it.
func npyShape(shape []int64) string {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = strconv.FormatInt(d, 10)
	}
	if len(dims) == 1 {
		return "(" + dims[0] + ",)"
	}
	return "(" + strings.Join(dims, ", ") + ")"
}

// DecodeNPY reads an image saved with numpy.save: H×W (one channel) or
// H×W×C (channels last, as images are held in NumPy), of dtype uint8,
// uint16, int16, uint32, float32 or float64, or int8, bool or float16
// (widened to int16, uint8 and float32), in either byte order and C or
// Fortran order, so that scientific data need no conversion to an image
// format first. Other dtypes (int32, int64, uint64, complex, strings,
// objects) and other ranks are a one-line error naming the shape and
// dtype.
func DecodeNPY(b []byte) (*Raster, error) {
	a, err := npy.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("npy: %w", err)
	}
	what := fmt.Sprintf("shape %s, dtype %q", npyShape(a.Shape), a.DType)
	t, err := npy.ParseDescr(a.DType)
	if err != nil {
		return nil, fmt.Errorf("npy: %s: %w", what, err)
	}
	dt, ok := npyDType(t)
	if !ok {
		return nil, fmt.Errorf("npy: %s: no image sample type holds %s values exactly; "+
			"save the array as uint8, uint16, int16, uint32, float32 or float64 (a.astype(...))", what, t.Name())
	}
	var h, w, c int64
	switch len(a.Shape) {
	case 2:
		h, w, c = a.Shape[0], a.Shape[1], 1
	case 3:
		h, w, c = a.Shape[0], a.Shape[1], a.Shape[2]
	default:
		return nil, fmt.Errorf("npy: %s: an image is a 2-D array (H, W) or a 3-D array (H, W, C), not %d-D", what, len(a.Shape))
	}
	if c > MaxChannels && a.Shape[0] <= MaxChannels {
		return nil, fmt.Errorf("npy: %s: %d channels, at most %d are supported (channels go last: "+
			"np.moveaxis(a, 0, -1) makes (C, H, W) into (H, W, C))", what, c, MaxChannels)
	}
	// The shape's product is bounded by the file's size (npy.Parse), so
	// the dimensions fit an int; checkSize bounds them further.
	if err := checkSize(int(w), int(h), int(c)); err != nil {
		return nil, fmt.Errorf("npy: %s: %w", what, err)
	}
	r := New(int(w), int(h), int(c), dt)
	plane := h * w
	data := r.Data
	if c == 1 {
		err = a.ForEach(func(i int64, v float64) { data[i] = float32(v) })
	} else {
		// Element i of an (H, W, C) array is channel i%C of pixel i/C.
		err = a.ForEach(func(i int64, v float64) { data[i%c*plane+i/c] = float32(v) })
	}
	if err != nil {
		return nil, fmt.Errorf("npy: %s: %w", what, err)
	}
	return r, nil
}

// WriteNPY writes r as numpy.save writes an array of r.DType (values
// through r.DType.Round): shape (H, W, C), channels last as NumPy and
// Pillow hold images, or (H, W) for one channel, as np.asarray of a grey
// image is; the file is byte for byte what numpy.save writes for that
// array, so Python reads results with np.load and no cyclepix code. The
// file is replaced atomically: a reader sees the old file or the new one.
func WriteNPY(path string, r *Raster) error {
	if err := rasterWritable(r); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	shape, descr := npyLayout(r)
	// npy.WriteFunc's errors name the path.
	return npy.WriteFunc(path, shape, descr, npyValues(r))
}

// npyLayout is WriteNPY's array shape and dtype for r.
func npyLayout(r *Raster) ([]int64, string) {
	shape := []int64{int64(r.H), int64(r.W), int64(r.C)}
	if r.C == 1 {
		shape = shape[:2]
	}
	return shape, npyDescrs[r.DType]
}

// npyValues gives r's values channels last, as WriteNPY stores them.
func npyValues(r *Raster) func(i int64) float64 {
	c, plane, dt := int64(r.C), int64(r.W)*int64(r.H), r.DType
	data := r.Data
	return func(i int64) float64 { return dt.Round(float64(data[i%c*plane+i/c])) }
}

// rasterWritable checks what every writer needs of a raster: a sample type
// of this package, positive dimensions and Data of W×H×C values.
func rasterWritable(r *Raster) error {
	if r == nil {
		return fmt.Errorf("no raster")
	}
	if r.DType.Size() == 0 {
		return fmt.Errorf("raster of unknown sample type %v", r.DType)
	}
	if r.W <= 0 || r.H <= 0 || r.C <= 0 {
		return fmt.Errorf("empty raster %s", r.Shape())
	}
	if int64(len(r.Data)) != int64(r.W)*int64(r.H)*int64(r.C) {
		return fmt.Errorf("raster %s holds %d values, want %d", r.Shape(), len(r.Data), int64(r.W)*int64(r.H)*int64(r.C))
	}
	return nil
}
