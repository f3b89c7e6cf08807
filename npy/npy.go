// Package npy reads and writes NumPy .npy files (format versions 1.0, 2.0
// and 3.0, as written by numpy.save).
//
// A file is the magic string "\x93NUMPY", a version, a header length, and a
// header that is a Python dict literal such as
//
//	{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 64, 64), }
//
// padded with spaces and a newline so that the data starts at a multiple of
// 64 bytes, followed by the raw array data.
package npy

import (
	"bufio"
	"bytes"
	"cyclepix/atomicfile"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// Array is the content of a .npy file.
type Array struct {
	// DType is the NumPy array-protocol type string (descr), such as "<f4",
	// "<f8", "<i8" or "|u1": byte order, kind and item size.
	DType string
	// Shape is the array's shape; a 0-d array has an empty Shape and one
	// element.
	Shape []int64
	// Data is the raw array data, in the byte order that DType names.
	Data []byte
	// FortranOrder is true when Data is in column-major order.
	FortranOrder bool
}

// NumElements returns the number of elements Shape describes (1 for a 0-d
// array), or -1 if a dimension is negative or the product overflows.
func (a *Array) NumElements() int64 {
	return numElements(a.Shape)
}

func numElements(shape []int64) int64 {
	n := int64(1)
	for _, s := range shape {
		if s < 0 {
			return -1
		}
		if s != 0 && n > (1<<62)/s {
			return -1
		}
		n *= s
	}
	return n
}

// Float32 returns the elements of a float32 or float64 array ("<f4", ">f4",
// "<f8", ">f8") as float32s in C order, converting float64 with rounding and
// transposing Fortran-ordered data. Other dtypes are an error.
func (a *Array) Float32() ([]float32, error) {
	order, size, err := a.numeric("f", "float32")
	if err != nil {
		return nil, err
	}
	out := make([]float32, a.NumElements())
	a.walk(func(i, off int64) {
		if size == 4 {
			out[i] = math.Float32frombits(order.Uint32(a.Data[4*off:]))
		} else {
			out[i] = float32(math.Float64frombits(order.Uint64(a.Data[8*off:])))
		}
	})
	return out, nil
}

// Int64 returns the elements of a signed integer array of 4 or 8 bytes
// ("<i4", "<i8", big-endian too) as int64s in C order, such as the patch
// indices of the CUT fixtures. Other dtypes are an error.
func (a *Array) Int64() ([]int64, error) {
	order, size, err := a.numeric("i", "int64")
	if err != nil {
		return nil, err
	}
	out := make([]int64, a.NumElements())
	a.walk(func(i, off int64) {
		if size == 4 {
			out[i] = int64(int32(order.Uint32(a.Data[4*off:])))
		} else {
			out[i] = int64(order.Uint64(a.Data[8*off:]))
		}
	})
	return out, nil
}

// numeric checks that the array holds 4- or 8-byte elements of the given
// kind ("f" or "i") and that Data has the size Shape needs.
func (a *Array) numeric(kind, target string) (binary.ByteOrder, int, error) {
	m := descrRE.FindStringSubmatch(a.DType)
	if m == nil || m[2] != kind || (m[3] != "4" && m[3] != "8") || m[1] == "|" || m[4] != "" {
		return nil, 0, fmt.Errorf("npy: cannot convert dtype %q to %s", a.DType, target)
	}
	var order binary.ByteOrder = binary.LittleEndian
	if m[1] == ">" {
		order = binary.BigEndian
	}
	size := 4
	if m[3] == "8" {
		size = 8
	}
	n := a.NumElements()
	if n < 0 || int64(len(a.Data)) != n*int64(size) {
		return nil, 0, fmt.Errorf("npy: %d bytes of data for shape %v and dtype %q", len(a.Data), a.Shape, a.DType)
	}
	return order, size, nil
}

// walk calls f with each element's C-order index and its offset (in
// elements) in Data, which differ for Fortran-ordered arrays.
func (a *Array) walk(f func(i, off int64)) {
	n := a.NumElements()
	if !a.FortranOrder || len(a.Shape) < 2 {
		for i := int64(0); i < n; i++ {
			f(i, i)
		}
		return
	}
	// Walk C-order indices; in Fortran order the first index varies
	// fastest.
	strides := make([]int64, len(a.Shape))
	s := int64(1)
	for i, d := range a.Shape {
		strides[i] = s
		s *= d
	}
	idx := make([]int64, len(a.Shape))
	for i := int64(0); i < n; i++ {
		var off int64
		for k, v := range idx {
			off += v * strides[k]
		}
		f(i, off)
		for k := len(idx) - 1; k >= 0; k-- {
			idx[k]++
			if idx[k] < a.Shape[k] {
				break
			}
			idx[k] = 0
		}
	}
}

// descrRE matches simple (non-structured) dtype strings: byte order, kind
// character, item size and, for datetimes, a unit.
var descrRE = regexp.MustCompile(`^([<>|=]?)([a-zA-Z])(\d+)(\[\w+\])?$`)

// itemSize returns the number of bytes per element of a simple dtype.
func itemSize(descr string) (int64, error) {
	m := descrRE.FindStringSubmatch(descr)
	if m == nil {
		return 0, fmt.Errorf("unsupported dtype %q", descr)
	}
	if m[2] == "O" {
		return 0, errors.New("object arrays (pickled data) are not supported")
	}
	n, err := strconv.ParseInt(m[3], 10, 64)
	if err != nil || n > 1<<20 {
		return 0, fmt.Errorf("unsupported dtype %q", descr)
	}
	if m[2] == "U" { // UCS-4 strings: the number counts characters
		n *= 4
	}
	return n, nil
}

const magic = "\x93NUMPY"

// Read reads a .npy file. Only simple dtypes are supported; structured and
// object arrays are an error.
func Read(path string) (*Array, error) {
	a, err := read(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return a, nil
}

func read(path string) (*Array, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	r := bufio.NewReader(f)
	a, off, err := readHeader(r, st.Size())
	if err != nil {
		return nil, err
	}
	// readHeader checked the size against the file's: this allocation is
	// no larger than the file.
	a.Data = make([]byte, st.Size()-off)
	if _, err := io.ReadFull(r, a.Data); err != nil {
		return nil, fmt.Errorf("data: %w", unexpectedEOF(err))
	}
	return a, nil
}

// Parse reads a .npy file's content from memory, as Read reads a file,
// for callers that already hold the bytes (a decoder given a file's
// content, an HTTP upload). The checks are Read's: a header declaring
// more (or less) data than b holds is an error before anything is
// allocated. Data aliases b (no copy): a caller that changes b changes
// the array.
func Parse(b []byte) (*Array, error) {
	a, off, err := readHeader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, err
	}
	a.Data = b[off:len(b):len(b)]
	return a, nil
}

// readHeader reads the magic string, version and header from r, the start
// of a file of size bytes, and checks that the data the header declares
// fills the rest of the file exactly. It returns the array without Data,
// and the data's offset: the data is the size-offset bytes after it.
func readHeader(r io.Reader, size int64) (*Array, int64, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, 0, fmt.Errorf("not a .npy file: %w", unexpectedEOF(err))
	}
	if string(pre[:6]) != magic {
		return nil, 0, errors.New("not a .npy file: bad magic string")
	}
	major, minor := pre[6], pre[7]
	var hlen, consumed int64
	switch major {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, 0, fmt.Errorf("header: %w", unexpectedEOF(err))
		}
		hlen, consumed = int64(binary.LittleEndian.Uint16(b[:])), 10
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, 0, fmt.Errorf("header: %w", unexpectedEOF(err))
		}
		hlen, consumed = int64(binary.LittleEndian.Uint32(b[:])), 12
	default:
		return nil, 0, fmt.Errorf("unsupported format version %d.%d", major, minor)
	}
	if hlen > size-consumed {
		return nil, 0, fmt.Errorf("header length %d exceeds the file", hlen)
	}
	header := make([]byte, hlen)
	if _, err := io.ReadFull(r, header); err != nil {
		return nil, 0, fmt.Errorf("header: %w", unexpectedEOF(err))
	}
	consumed += hlen
	a, err := parseHeader(string(header))
	if err != nil {
		return nil, 0, fmt.Errorf("header %q: %w", strings.TrimSpace(string(header)), err)
	}
	isize, err := itemSize(a.DType)
	if err != nil {
		return nil, 0, err
	}
	n := a.NumElements()
	if n < 0 || isize > 0 && n > (1<<62)/isize {
		return nil, 0, fmt.Errorf("invalid shape %v", a.Shape)
	}
	if want, have := n*isize, size-consumed; want != have {
		return nil, 0, fmt.Errorf("header describes %d bytes of data (shape %v, dtype %q), file has %d", want, a.Shape, a.DType, have)
	}
	return a, consumed, nil
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseHeader interprets the header dict.
func parseHeader(h string) (*Array, error) {
	p := &literalParser{s: h}
	v, err := p.parse()
	if err != nil {
		return nil, err
	}
	d, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("header is not a dict")
	}
	if len(d) != 3 {
		return nil, errors.New("header must have exactly the keys descr, fortran_order and shape")
	}
	a := &Array{}
	switch descr := d["descr"].(type) {
	case string:
		a.DType = descr
	case []any:
		return nil, errors.New("structured dtypes are not supported")
	default:
		return nil, errors.New("descr is missing or not a string")
	}
	if a.FortranOrder, ok = d["fortran_order"].(bool); !ok {
		return nil, errors.New("fortran_order is missing or not a bool")
	}
	shape, ok := d["shape"].(tuple)
	if !ok {
		return nil, errors.New("shape is missing or not a tuple")
	}
	a.Shape = make([]int64, len(shape))
	for i, s := range shape {
		n, ok := s.(int64)
		if !ok || n < 0 {
			return nil, fmt.Errorf("shape element %v is not a non-negative int", s)
		}
		a.Shape[i] = n
	}
	return a, nil
}

// tuple is a parsed Python tuple; lists parse as []any.
type tuple []any

// literalParser parses the subset of Python literals that .npy headers use:
// dicts, tuples, lists, strings, ints, True, False and None.
type literalParser struct {
	s   string
	pos int
}

func (p *literalParser) parse() (any, error) {
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.s) {
		return nil, fmt.Errorf("unexpected %q after the dict", p.s[p.pos:])
	}
	return v, nil
}

func (p *literalParser) space() {
	for p.pos < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.pos]) >= 0 {
		p.pos++
	}
}

func (p *literalParser) value(depth int) (any, error) {
	if depth > 32 {
		return nil, errors.New("nested too deeply")
	}
	p.space()
	if p.pos >= len(p.s) {
		return nil, errors.New("unexpected end")
	}
	switch c := p.s[p.pos]; {
	case c == '{':
		p.pos++
		d := map[string]any{}
		for {
			p.space()
			if p.pos < len(p.s) && p.s[p.pos] == '}' {
				p.pos++
				return d, nil
			}
			k, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			key, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("dict key %v is not a string", k)
			}
			if err := p.expect(':'); err != nil {
				return nil, err
			}
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			if _, dup := d[key]; dup {
				return nil, fmt.Errorf("duplicate key %q", key)
			}
			d[key] = v
			if done, _, err := p.separator('}'); err != nil || done {
				return d, err
			}
		}
	case c == '(' || c == '[':
		end := byte(')')
		if c == '[' {
			end = ']'
		}
		p.pos++
		var items []any
		for {
			p.space()
			if p.pos < len(p.s) && p.s[p.pos] == end {
				p.pos++
				break
			}
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			items = append(items, v)
			done, comma, err := p.separator(end)
			if err != nil {
				return nil, err
			}
			if done {
				// (5) is an int in Python, not a tuple.
				if c == '(' && len(items) == 1 && !comma {
					return items[0], nil
				}
				break
			}
		}
		if c == '(' {
			return tuple(items), nil
		}
		return items, nil
	case c == '\'' || c == '"':
		return p.str(c)
	case c == '-' || c >= '0' && c <= '9':
		start := p.pos
		p.pos++
		for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
			p.pos++
		}
		// Python 2 era headers may write longs as 3L.
		n, err := strconv.ParseInt(p.s[start:p.pos], 10, 64)
		if p.pos < len(p.s) && p.s[p.pos] == 'L' {
			p.pos++
		}
		if err != nil {
			return nil, fmt.Errorf("invalid int %q", p.s[start:p.pos])
		}
		return n, nil
	}
	for word, v := range map[string]any{"True": true, "False": false, "None": nil} {
		if strings.HasPrefix(p.s[p.pos:], word) {
			p.pos += len(word)
			return v, nil
		}
	}
	return nil, fmt.Errorf("unexpected %q", p.s[p.pos:min(p.pos+10, len(p.s))])
}

// str parses a quoted string with Python's simple backslash escapes.
func (p *literalParser) str(quote byte) (string, error) {
	p.pos++
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		p.pos++
		switch {
		case c == quote:
			return b.String(), nil
		case c == '\\' && p.pos < len(p.s):
			b.WriteByte(p.s[p.pos])
			p.pos++
		default:
			b.WriteByte(c)
		}
	}
	return "", errors.New("unterminated string")
}

func (p *literalParser) expect(c byte) error {
	p.space()
	if p.pos >= len(p.s) || p.s[p.pos] != c {
		return fmt.Errorf("expected %q at offset %d", c, p.pos)
	}
	p.pos++
	return nil
}

// separator consumes the comma after a container item and, if it follows,
// the container's closing character. It reports whether the container
// ended and whether a comma came last.
func (p *literalParser) separator(end byte) (done, comma bool, err error) {
	p.space()
	if p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ',':
			p.pos++
			p.space()
			if p.pos < len(p.s) && p.s[p.pos] == end {
				p.pos++
				return true, true, nil
			}
			return false, true, nil
		case end:
			p.pos++
			return true, false, nil
		}
	}
	return false, false, fmt.Errorf("expected ',' or %q at offset %d", end, p.pos)
}

// growthAxisMaxDigits is numpy.lib.format.GROWTH_AXIS_MAX_DIGITS: numpy
// pads the header so that the length of the first axis can later grow to
// this many digits in place.
const growthAxisMaxDigits = 21

// header returns the complete header (magic to final newline) that
// numpy.save writes for a C-ordered array of the given descr (as numpy
// spells it: "<f4", "|u1").
func header(descr string, shape []int64) []byte {
	dims := make([]string, len(shape))
	for i, s := range shape {
		dims[i] = strconv.FormatInt(s, 10)
	}
	shapeRepr := "(" + strings.Join(dims, ", ") + ")"
	if len(shape) == 1 {
		shapeRepr = "(" + dims[0] + ",)"
	}
	h := "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shapeRepr + ", }"
	if len(shape) > 0 {
		h += strings.Repeat(" ", growthAxisMaxDigits-len(dims[0]))
	}
	// Like numpy: version 1.0 unless the header length does not fit in 16
	// bits; the padding is never zero (a full 64 when already aligned).
	for _, v := range []struct {
		major  byte
		prefix int
	}{{1, 10}, {2, 12}} {
		hlen := len(h) + 1
		pad := 64 - (v.prefix+hlen)%64
		if v.major == 1 && hlen+pad > math.MaxUint16 {
			continue
		}
		var b bytes.Buffer
		b.WriteString(magic)
		b.Write([]byte{v.major, 0})
		if v.major == 1 {
			b.Write(binary.LittleEndian.AppendUint16(nil, uint16(hlen+pad)))
		} else {
			b.Write(binary.LittleEndian.AppendUint32(nil, uint32(hlen+pad)))
		}
		b.WriteString(h)
		b.WriteString(strings.Repeat(" ", pad))
		b.WriteByte('\n')
		return b.Bytes()
	}
	panic("unreachable")
}

// Write writes data as a little-endian float32 array of the given shape,
// byte for byte as numpy.save(path, array) does. The file is written to a
// temporary file in the same directory and renamed over path once complete.
func Write(path string, shape []int64, data []float32) error {
	n := numElements(shape)
	if n < 0 {
		return fmt.Errorf("write %s: invalid shape %v", path, shape)
	}
	if n != int64(len(data)) {
		return fmt.Errorf("write %s: shape %v has %d elements, data has %d", path, shape, n, len(data))
	}
	// atomicfile's errors name the path.
	return atomicfile.Write(path, func(w io.Writer) error {
		if _, err := w.Write(header("<f4", shape)); err != nil {
			return err
		}
		buf := make([]byte, 0, 64<<10)
		for i, v := range data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			if len(buf) == cap(buf) || i == len(data)-1 {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
		return nil
	})
}
