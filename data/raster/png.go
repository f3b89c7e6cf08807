package raster

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strings"

	"cyclepix/atomicfile"
)

const pngSignature = "\x89PNG\r\n\x1a\n"

// pngInfo is what DecodePNG needs from a file's chunks beyond what
// image/png's DecodeConfig says: DecodeConfig reports grey+alpha and RGBA
// alike (NRGBA), and an RGB or palette image with a transparent colour
// like one with alpha, so the channel count as stored comes from IHDR.
type pngInfo struct {
	depth, colorType byte
	trns             bool  // a tRNS chunk before the image data
	idat             int64 // bytes of compressed image data present
}

// pngScan walks the chunks of b, whose signature and IHDR DecodeConfig has
// accepted; a file cut short ends the walk without error (the decoder
// reports it).
func pngScan(b []byte) pngInfo {
	info := pngInfo{depth: b[24], colorType: b[25]}
	seenIDAT := false
	for pos := int64(8); pos+8 <= int64(len(b)); {
		n := int64(binary.BigEndian.Uint32(b[pos:]))
		switch string(b[pos+4 : pos+8]) {
		case "tRNS":
			info.trns = info.trns || !seenIDAT
		case "IDAT":
			seenIDAT = true
			info.idat += min(n, int64(len(b))-pos-8)
		case "IEND":
			return info
		}
		pos += 12 + n
	}
	return info
}

// channels is the number of samples per pixel a PNG colour type stores
// (a palette index expanded to RGB, or RGBA when the file has a tRNS
// chunk).
func (p pngInfo) channels() int {
	switch p.colorType {
	case 0:
		return 1
	case 4:
		return 2
	case 2:
		return 3
	case 3:
		if p.trns {
			return 4
		}
		return 3
	}
	return 4
}

// pngMaxRatio bounds how much deflate expands data (1032:1 at most, the
// zlib FAQ says), with room to spare: a file whose declared size needs
// more than this of its compressed data is truncated or hostile, and is
// refused before the image is allocated.
const pngMaxRatio = 1100

// DecodePNG reads a PNG at 8 or 16 bits per sample with its channels as
// stored: grey (1), grey+alpha (2), RGB (3), RGBA (4), with no conversion
// and no premultiplication, so that data kept in PNG (masks, 16-bit
// scans) reach the networks unchanged. Palette images are expanded to RGB,
// or RGBA when they have a tRNS chunk; grey at 1, 2 or 4 bits is scaled
// to 0..255 as PNG defines it (bit replication: 1-bit 0/255, 2-bit
// 0/85/170/255, 4-bit v×17), as Pillow's convert("L") reads it; a tRNS
// transparent colour of a grey or RGB image is ignored (Pillow keeps it as
// metadata only). DType is Uint8, or Uint16 for 16-bit files. The size is
// checked before anything is decoded: checkSize's limits, and a declared
// size that the compressed data present could not hold is refused.
func DecodePNG(b []byte) (*Raster, error) {
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, pngError(err)
	}
	info := pngScan(b)
	c := info.channels()
	if err := checkSize(cfg.Width, cfg.Height, c); err != nil {
		return nil, fmt.Errorf("png: %d×%d: %w", cfg.Width, cfg.Height, err)
	}
	samples := int64(c)
	if info.colorType == 3 {
		samples = 1
	}
	rowBytes := (int64(cfg.Width)*samples*int64(info.depth) + 7) / 8
	if raw := rowBytes * int64(cfg.Height); raw > pngMaxRatio*info.idat+1<<16 {
		return nil, fmt.Errorf("png: %d×%d image with %d bytes of compressed data, which cannot hold it: truncated or corrupt",
			cfg.Width, cfg.Height, info.idat)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, pngError(err)
	}
	dt := Uint8
	if info.depth == 16 {
		dt = Uint16
	}
	r := New(cfg.Width, cfg.Height, c, dt)
	// Which of the decoded image's R, G, B, A hold the stored channels.
	var srcs []int
	switch info.colorType {
	case 0:
		srcs = []int{0}
	case 4:
		srcs = []int{0, 3}
	case 2:
		srcs = []int{0, 1, 2}
	default:
		srcs = []int{0, 1, 2, 3}[:c]
	}
	w, plane := r.W, r.W*r.H
	bounds := img.Bounds()
	if bounds.Dx() != r.W || bounds.Dy() != r.H {
		return nil, fmt.Errorf("png: decoded %v, header says %d×%d", bounds, r.W, r.H)
	}
	switch m := img.(type) {
	case *image.Gray:
		for y := range r.H {
			for x, v := range m.Pix[y*m.Stride : y*m.Stride+w] {
				r.Data[y*w+x] = float32(v)
			}
		}
	case *image.Gray16:
		for y := range r.H {
			row := m.Pix[y*m.Stride:]
			for x := range w {
				r.Data[y*w+x] = float32(binary.BigEndian.Uint16(row[2*x:]))
			}
		}
	case *image.RGBA, *image.NRGBA:
		// An opaque RGB image decodes as RGBA with alpha 255: its colours
		// are as stored. Every image with alpha decodes as NRGBA.
		pix, stride := pngPix8(m)
		for y := range r.H {
			row := pix[y*stride:]
			for x := range w {
				for k, s := range srcs {
					r.Data[k*plane+y*w+x] = float32(row[4*x+s])
				}
			}
		}
	case *image.RGBA64, *image.NRGBA64:
		pix, stride := pngPix16(m)
		for y := range r.H {
			row := pix[y*stride:]
			for x := range w {
				for k, s := range srcs {
					r.Data[k*plane+y*w+x] = float32(binary.BigEndian.Uint16(row[8*x+2*s:]))
				}
			}
		}
	case *image.Paletted:
		// Palette entries are colour.RGBA (opaque) or, after a tRNS
		// chunk, colour.NRGBA: NRGBAModel gives both as stored.
		var lut [256][4]float32
		for i, pc := range m.Palette {
			n := color.NRGBAModel.Convert(pc).(color.NRGBA)
			lut[i] = [4]float32{float32(n.R), float32(n.G), float32(n.B), float32(n.A)}
		}
		for y := range r.H {
			for x, idx := range m.Pix[y*m.Stride : y*m.Stride+w] {
				for k := range c {
					r.Data[k*plane+y*w+x] = lut[idx][k]
				}
			}
		}
	default:
		return nil, fmt.Errorf("png: decoded as %T, which this reader does not expect", img)
	}
	return r, nil
}

// pngError prefixes "png: " to an error of image/png's that lacks it
// (io.ErrUnexpectedEOF); its own errors have it already.
func pngError(err error) error {
	if strings.HasPrefix(err.Error(), "png: ") {
		return err
	}
	return fmt.Errorf("png: %w", err)
}

func pngPix8(m image.Image) ([]byte, int) {
	if m, ok := m.(*image.RGBA); ok {
		return m.Pix, m.Stride
	}
	n := m.(*image.NRGBA)
	return n.Pix, n.Stride
}

func pngPix16(m image.Image) ([]byte, int) {
	if m, ok := m.(*image.RGBA64); ok {
		return m.Pix, m.Stride
	}
	n := m.(*image.NRGBA64)
	return n.Pix, n.Stride
}

// pngColorTypes is the PNG colour type of each channel count.
var pngColorTypes = [5]byte{1: 0, 2: 4, 3: 2, 4: 6}

// WritePNG writes r as a PNG of its channels as they are: grey (C = 1),
// grey+alpha (2), RGB (3) or RGBA (4, even where every alpha is opaque,
// so that a fourth channel comes back as written), at 8 bits for Uint8
// and 16 for Uint16, values through r.DType.Round. Other sample types and
// channel counts are an error that points to tif or npy, which hold them.
// The file is replaced atomically: a reader sees the old file or the new
// one.
func WritePNG(path string, r *Raster) error {
	if err := rasterWritable(r); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if r.DType != Uint8 && r.DType != Uint16 {
		return fmt.Errorf("write %s: PNG holds uint8 or uint16 samples, not %s: write tif or npy, which keep %s, "+
			"or map the values to a uint8 or uint16 range", path, r.DType, r.DType)
	}
	if r.C > 4 {
		return fmt.Errorf("write %s: PNG holds 1 to 4 channels (grey, grey+alpha, RGB, RGBA), not %d: write tif or npy", path, r.C)
	}
	if r.W > math.MaxInt32 || r.H > math.MaxInt32 {
		return fmt.Errorf("write %s: %d×%d is larger than PNG allows (2^31-1 each way): write tif or npy", path, r.W, r.H)
	}
	// atomicfile's errors name the path.
	return atomicfile.Write(path, func(w io.Writer) error { return pngEncode(w, r) })
}

// pngChunk writes one chunk: length, type, data, CRC of type and data.
func pngChunk(w io.Writer, typ string, data []byte) error {
	b := make([]byte, 0, 12+len(data))
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	b = append(b, typ...)
	b = append(b, data...)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[4:]))
	_, err := w.Write(b)
	return err
}

// pngIDAT turns each write into an IDAT chunk.
type pngIDAT struct{ w io.Writer }

func (p pngIDAT) Write(b []byte) (int, error) {
	if err := pngChunk(p.w, "IDAT", b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// pngEncode writes a PNG of r (checked by WritePNG): rows filtered by the
// usual heuristic (of the five filters, the one whose output bytes, read
// as signed, have the smallest sum of magnitudes), deflated at the
// default level, in IDAT chunks of up to 64 KiB.
func pngEncode(w io.Writer, r *Raster) error {
	size := r.DType.Size()
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(r.W))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(r.H))
	ihdr[8], ihdr[9] = byte(8*size), pngColorTypes[r.C]
	if _, err := io.WriteString(w, pngSignature); err != nil {
		return err
	}
	if err := pngChunk(w, "IHDR", ihdr); err != nil {
		return err
	}
	chunks := newPNGBuffer(pngIDAT{w})
	z := zlib.NewWriter(chunks)
	bpp := r.C * size // bytes per pixel, the filters' distance
	n := r.W * bpp
	prev, cur := make([]byte, n), make([]byte, n)
	var filtered [5][]byte
	for f := range filtered {
		filtered[f] = make([]byte, 1+n)
		filtered[f][0] = byte(f)
	}
	plane := r.W * r.H
	for y := range r.H {
		for x := range r.W {
			for k := range r.C {
				v := r.DType.Round(float64(r.Data[k*plane+y*r.W+x]))
				if size == 1 {
					cur[x*bpp+k] = byte(v)
				} else {
					binary.BigEndian.PutUint16(cur[x*bpp+2*k:], uint16(v))
				}
			}
		}
		best, bestSum := 0, -1
		for f := range filtered {
			sum := pngFilter(filtered[f][1:], cur, prev, bpp, f)
			if bestSum < 0 || sum < bestSum {
				best, bestSum = f, sum
			}
		}
		if _, err := z.Write(filtered[best]); err != nil {
			return err
		}
		prev, cur = cur, prev
	}
	if err := z.Close(); err != nil {
		return err
	}
	if err := chunks.Flush(); err != nil {
		return err
	}
	return pngChunk(w, "IEND", nil)
}

// newPNGBuffer gathers the compressor's small writes into chunks.
func newPNGBuffer(w io.Writer) *pngBuffer { return &pngBuffer{w: w, buf: make([]byte, 0, 64<<10)} }

type pngBuffer struct {
	w   io.Writer
	buf []byte
}

func (b *pngBuffer) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), cap(b.buf)-len(b.buf))
		b.buf = append(b.buf, p[:k]...)
		p = p[k:]
		if len(b.buf) == cap(b.buf) {
			if err := b.Flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// Flush writes what is gathered as one chunk.
func (b *pngBuffer) Flush() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.w.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

// pngFilter writes cur filtered with filter f (0 None, 1 Sub, 2 Up, 3
// Average, 4 Paeth; prev is the row above, zeros for the first) to dst and
// returns the sum of the output bytes' magnitudes as signed bytes.
func pngFilter(dst, cur, prev []byte, bpp, f int) int {
	n := len(cur)
	switch f {
	case 0:
		copy(dst, cur)
	case 1:
		copy(dst[:bpp], cur[:bpp])
		for i := bpp; i < n; i++ {
			dst[i] = cur[i] - cur[i-bpp]
		}
	case 2:
		for i := range n {
			dst[i] = cur[i] - prev[i]
		}
	case 3:
		for i := range bpp {
			dst[i] = cur[i] - prev[i]/2
		}
		for i := bpp; i < n; i++ {
			dst[i] = cur[i] - byte((int(cur[i-bpp])+int(prev[i]))/2)
		}
	case 4:
		for i := range bpp { // the left pixels are zero: Paeth predicts the one above
			dst[i] = cur[i] - prev[i]
		}
		for i := bpp; i < n; i++ {
			dst[i] = cur[i] - pngPaeth(cur[i-bpp], prev[i], prev[i-bpp])
		}
	}
	sum := 0
	for _, d := range dst[:n] {
		if d < 128 {
			sum += int(d)
		} else {
			sum += 256 - int(d)
		}
	}
	return sum
}

// pngPaeth is PNG's Paeth predictor.
func pngPaeth(a, b, c byte) byte {
	p := int(a) + int(b) - int(c)
	pa, pb, pc := pngAbs(p-int(a)), pngAbs(p-int(b)), pngAbs(p-int(c))
	switch {
	case pa <= pb && pa <= pc:
		return a
	case pb <= pc:
		return b
	}
	return c
}

func pngAbs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
