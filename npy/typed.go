package npy

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"

	"cyclepix/atomicfile"
)

// Type is a simple numeric dtype: what a reader needs to turn an array's
// raw bytes into numbers, whatever byte order or width a file used.
type Type struct {
	// Kind is NumPy's kind character: 'b' (bool), 'i' (signed integer),
	// 'u' (unsigned integer) or 'f' (IEEE float).
	Kind byte
	// Size is the number of bytes of an element: 1 for 'b'; 1, 2, 4 or 8
	// for 'i' and 'u'; 2, 4 or 8 for 'f'.
	Size int
	// Order is the byte order of elements wider than a byte.
	Order binary.ByteOrder
}

// otherKinds names the dtype kinds that are not numbers, so that an error
// says what a file holds rather than only that its descr is unknown.
var otherKinds = map[byte]string{
	'c': "complex numbers", 'U': "unicode strings", 'S': "byte strings", 'a': "byte strings",
	'V': "raw void (structured) data", 'O': "Python objects", 'M': "datetimes", 'm': "timedeltas",
}

// ParseDescr reads a simple numeric descr ("<u2", ">f4", "|u1", "|b1"), so
// that callers need not know the array-protocol syntax. Other kinds
// (complex, strings, objects, datetimes) are refused by name.
func ParseDescr(descr string) (Type, error) {
	k := strings.TrimLeft(descr, "<>|=")
	if len(descr)-len(k) <= 1 && k != "" {
		if name, ok := otherKinds[k[0]]; ok {
			return Type{}, fmt.Errorf("dtype %q holds %s: only booleans, integers and floats are supported", descr, name)
		}
	}
	m := descrRE.FindStringSubmatch(descr)
	if m == nil {
		return Type{}, fmt.Errorf("dtype %q is not a simple dtype", descr)
	}
	kind := m[2][0]
	size := 0
	if len(m[3]) == 1 {
		size = int(m[3][0] - '0')
	}
	ok := m[4] == "" && (kind == 'b' && size == 1 ||
		(kind == 'i' || kind == 'u') && (size == 1 || size == 2 || size == 4 || size == 8) ||
		kind == 'f' && (size == 2 || size == 4 || size == 8))
	if !ok {
		return Type{}, fmt.Errorf("dtype %q is not a supported number type (want b1, i1-i8, u1-u8 or f2-f8)", descr)
	}
	t := Type{Kind: kind, Size: size, Order: binary.LittleEndian}
	switch m[1] {
	case ">":
		t.Order = binary.BigEndian
	case "=", "": // native
		if binary.NativeEndian.Uint16([]byte{0, 1}) == 1 {
			t.Order = binary.BigEndian
		}
	case "|":
		if size != 1 {
			return Type{}, fmt.Errorf("dtype %q: a %d-byte type needs a byte order ('<' or '>'), not '|'", descr, size)
		}
	}
	return t, nil
}

// Descr is the descr numpy.save writes for the type: '|' for single
// bytes, '<' or '>' otherwise.
func (t Type) Descr() string {
	order := "<"
	switch {
	case t.Size == 1:
		order = "|"
	case t.Order == binary.BigEndian:
		order = ">"
	}
	return fmt.Sprintf("%s%c%d", order, t.Kind, t.Size)
}

// Name is NumPy's name of the type ("uint16", "float32", "bool"), for
// messages.
func (t Type) Name() string {
	switch t.Kind {
	case 'b':
		return "bool"
	case 'i':
		return fmt.Sprintf("int%d", 8*t.Size)
	case 'u':
		return fmt.Sprintf("uint%d", 8*t.Size)
	}
	return fmt.Sprintf("float%d", 8*t.Size)
}

// getter returns a function reading element off (counted in elements) of
// data, converted exactly to float64 (except int64 and uint64 beyond
// 2^53, rounded to nearest).
func (t Type) getter(data []byte) func(off int64) float64 {
	o := t.Order
	switch int(t.Kind)<<8 | t.Size {
	case 'b'<<8 | 1:
		return func(i int64) float64 {
			if data[i] != 0 {
				return 1
			}
			return 0
		}
	case 'i'<<8 | 1:
		return func(i int64) float64 { return float64(int8(data[i])) }
	case 'u'<<8 | 1:
		return func(i int64) float64 { return float64(data[i]) }
	case 'i'<<8 | 2:
		return func(i int64) float64 { return float64(int16(o.Uint16(data[2*i:]))) }
	case 'u'<<8 | 2:
		return func(i int64) float64 { return float64(o.Uint16(data[2*i:])) }
	case 'i'<<8 | 4:
		return func(i int64) float64 { return float64(int32(o.Uint32(data[4*i:]))) }
	case 'u'<<8 | 4:
		return func(i int64) float64 { return float64(o.Uint32(data[4*i:])) }
	case 'i'<<8 | 8:
		return func(i int64) float64 { return float64(int64(o.Uint64(data[8*i:]))) }
	case 'u'<<8 | 8:
		return func(i int64) float64 { return float64(o.Uint64(data[8*i:])) }
	case 'f'<<8 | 2:
		return func(i int64) float64 { return halfToFloat64(o.Uint16(data[2*i:])) }
	case 'f'<<8 | 4:
		return func(i int64) float64 { return float64(math.Float32frombits(o.Uint32(data[4*i:]))) }
	}
	return func(i int64) float64 { return math.Float64frombits(o.Uint64(data[8*i:])) }
}

// ForEach calls f with every element's index in C order and its value, for
// any simple numeric dtype, either byte order and either memory order: the
// one loop a caller needs to put an array's values where it wants them
// without a float64 copy of the whole array. Booleans are 0 or 1; int64
// and uint64 beyond 2^53 are rounded to the nearest float64. It returns an
// error, having called f for nothing, when the dtype is not numeric or
// Data does not hold Shape's elements.
func (a *Array) ForEach(f func(i int64, v float64)) error {
	t, err := a.numericType()
	if err != nil {
		return err
	}
	get := t.getter(a.Data)
	a.walk(func(i, off int64) { f(i, get(off)) })
	return nil
}

// AsFloat64 returns the elements of any simple numeric array (bool, int8
// to int64, uint8 to uint64, float16 to float64, either byte order) as
// float64s in C order. Unlike Float32 it takes every numeric dtype, for
// callers that accept whatever a user saved.
func (a *Array) AsFloat64() ([]float64, error) {
	if err := a.checkNumeric(); err != nil {
		return nil, err
	}
	out := make([]float64, a.NumElements())
	err := a.ForEach(func(i int64, v float64) { out[i] = v })
	return out, err
}

// AsFloat32 is AsFloat64 rounded to float32, the precision the networks
// compute in (exact for bool, 8- and 16-bit integers, float16 and
// float32).
func (a *Array) AsFloat32() ([]float32, error) {
	if err := a.checkNumeric(); err != nil {
		return nil, err
	}
	out := make([]float32, a.NumElements())
	err := a.ForEach(func(i int64, v float64) { out[i] = float32(v) })
	return out, err
}

// checkNumeric runs ForEach's checks before a caller allocates its output.
func (a *Array) checkNumeric() error {
	_, err := a.numericType()
	return err
}

// numericType parses the array's dtype and checks that Data holds Shape's
// elements of it.
func (a *Array) numericType() (Type, error) {
	t, err := ParseDescr(a.DType)
	if err != nil {
		return Type{}, fmt.Errorf("npy: %w", err)
	}
	n := a.NumElements()
	if n < 0 || n > math.MaxInt64/8 || int64(len(a.Data)) != n*int64(t.Size) {
		return Type{}, fmt.Errorf("npy: %d bytes of data for shape %v and dtype %q", len(a.Data), a.Shape, a.DType)
	}
	return t, nil
}

// halfToFloat64 converts IEEE binary16 bits exactly.
func halfToFloat64(h uint16) float64 {
	exp, mant := int(h>>10)&0x1f, float64(h&0x3ff)
	var f float64
	switch exp {
	case 0:
		f = math.Ldexp(mant, -24)
	case 0x1f:
		if mant != 0 {
			return math.NaN()
		}
		f = math.Inf(1)
	default:
		f = math.Ldexp(1024+mant, exp-25)
	}
	if h&0x8000 != 0 {
		f = -f
	}
	return f
}

// float64ToHalf rounds to IEEE binary16, to nearest with ties to even, in
// one step as numpy's astype(np.float16) does (no double rounding through
// float32); overflow gives ±Inf.
func float64ToHalf(f float64) uint16 {
	b := math.Float64bits(f)
	sign := uint16(b>>48) & 0x8000
	exp := int(b>>52) & 0x7ff
	mant := b & (1<<52 - 1)
	if exp == 0x7ff {
		if mant != 0 { // NaN: its payload's top bits, as numpy keeps them
			h := 0x7c00 + uint16(mant>>42)
			if h == 0x7c00 {
				h++
			}
			return sign | h
		}
		return sign | 0x7c00
	}
	e := exp - 1023
	if exp == 0 || e < -26 {
		return sign // below half the smallest subnormal: zero
	}
	if e >= 16 {
		return sign | 0x7c00
	}
	m := mant | 1<<52
	// Keep 11 significant bits for a normal half, fewer for a subnormal:
	// the result counts units of 2^-24 below 2^-14, of 2^(e-10) above.
	shift := uint(42)
	if e < -14 {
		shift = uint(28 - e)
	}
	q, r, half := m>>shift, m&(1<<shift-1), uint64(1)<<(shift-1)
	if r > half || r == half && q&1 == 1 {
		q++
	}
	if e < -14 {
		return sign | uint16(q) // 0x400 after rounding up is the smallest normal
	}
	// q holds the implicit bit at 2^10; rounding may carry into the
	// exponent, up to 0x7c00 (Inf), as it should.
	return sign | (uint16(e+15)<<10 + uint16(q-1024))
}

// putter returns a function appending v to buf as one element of type t:
// integers rounded half to even and clipped to the type's range (NaN is
// 0), bool nonzero (NaN too) as 1, floats rounded to nearest.
func (t Type) putter() func(buf []byte, v float64) []byte {
	o, ok := t.Order.(binary.AppendByteOrder)
	if !ok { // only ParseDescr's orders reach here
		o = binary.LittleEndian
	}
	switch t.Kind {
	case 'b':
		return func(buf []byte, v float64) []byte {
			if v != 0 {
				return append(buf, 1)
			}
			return append(buf, 0)
		}
	case 'f':
		switch t.Size {
		case 2:
			return func(buf []byte, v float64) []byte { return o.AppendUint16(buf, float64ToHalf(v)) }
		case 4:
			return func(buf []byte, v float64) []byte { return o.AppendUint32(buf, math.Float32bits(float32(v))) }
		}
		return func(buf []byte, v float64) []byte { return o.AppendUint64(buf, math.Float64bits(v)) }
	}
	bits := 8 * t.Size
	var lo, hi float64
	if t.Kind == 'u' {
		lo, hi = 0, math.Ldexp(1, bits) // hi is exclusive
	} else {
		lo, hi = -math.Ldexp(1, bits-1), math.Ldexp(1, bits-1)
	}
	toBits := func(v float64) uint64 {
		if math.IsNaN(v) {
			return 0
		}
		v = math.RoundToEven(v)
		switch {
		case v < lo:
			v = lo
		case v >= hi:
			if t.Kind == 'u' {
				return 1<<bits - 1
			}
			return 1<<(bits-1) - 1
		}
		if t.Kind == 'u' {
			return uint64(v)
		}
		return uint64(int64(v))
	}
	switch t.Size {
	case 1:
		return func(buf []byte, v float64) []byte { return append(buf, byte(toBits(v))) }
	case 2:
		return func(buf []byte, v float64) []byte { return o.AppendUint16(buf, uint16(toBits(v))) }
	case 4:
		return func(buf []byte, v float64) []byte { return o.AppendUint32(buf, uint32(toBits(v))) }
	}
	return func(buf []byte, v float64) []byte { return o.AppendUint64(buf, toBits(v)) }
}

// WriteTyped writes values (in C order) as an array of the given shape and
// numeric dtype ("|u1", "<u2", "<i2", "<u4", "<f4", "<f8", big-endian or
// any other simple numeric descr), byte for byte as numpy.save writes
// np.asarray(values).reshape(shape).astype(dtype) — integer types rounded
// half to even and clipped to their range, NaN as 0 — so that images keep
// their sample type in a file Python reads directly. The file is replaced
// atomically.
func WriteTyped(path string, shape []int64, descr string, values []float64) error {
	if n := numElements(shape); n >= 0 && n != int64(len(values)) {
		return fmt.Errorf("write %s: shape %v has %d elements, data has %d", path, shape, n, len(values))
	}
	return WriteFunc(path, shape, descr, func(i int64) float64 { return values[i] })
}

// WriteFunc is WriteTyped with the values given by a function of the C
// order index, for callers whose data is in another layout or type (a
// planar float32 raster written channels last) so that no converted copy
// of the whole array is needed.
func WriteFunc(path string, shape []int64, descr string, value func(i int64) float64) error {
	n := numElements(shape)
	if n < 0 {
		return fmt.Errorf("write %s: invalid shape %v", path, shape)
	}
	t, err := ParseDescr(descr)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if n > math.MaxInt64/int64(t.Size) {
		return fmt.Errorf("write %s: invalid shape %v", path, shape)
	}
	return atomicfile.Write(path, func(w io.Writer) error { return encode(w, shape, t, n, value) })
}

// EncodeFunc writes what WriteFunc writes to w instead of a file (an HTTP
// answer, say).
func EncodeFunc(w io.Writer, shape []int64, descr string, value func(i int64) float64) error {
	n := numElements(shape)
	if n < 0 {
		return fmt.Errorf("invalid shape %v", shape)
	}
	t, err := ParseDescr(descr)
	if err != nil {
		return err
	}
	if n > math.MaxInt64/int64(t.Size) {
		return fmt.Errorf("invalid shape %v", shape)
	}
	return encode(w, shape, t, n, value)
}

func encode(w io.Writer, shape []int64, t Type, n int64, value func(i int64) float64) error {
	put := t.putter()
	if _, err := w.Write(header(t.Descr(), shape)); err != nil {
		return err
	}
	buf := make([]byte, 0, 64<<10)
	for i := int64(0); i < n; i++ {
		buf = put(buf, value(i))
		if len(buf) > cap(buf)-8 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	_, err := w.Write(buf)
	return err
}
