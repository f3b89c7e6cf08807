package raster

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"cyclepix/data/libtiff"
)

// TIFF files hold channels in several ways, and this file reads them all
// into one Raster of C planes:
//
//   - pages: each page (IFD) is a channel, as tifffile writes a (C,H,W)
//     array; every page must have page 0's size and type;
//   - samples: a page of S samples per pixel, interleaved (PlanarConfig
//     1) or in planes (2), is S channels, RGB, RGBA (alpha kept) or
//     MINISBLACK with extra samples; pages of several samples give their
//     channels page by page, sample by sample;
//   - OME-TIFF (OME-XML in page 0's ImageDescription; see ome.go) and
//     ImageJ hyperstacks ("ImageJ=" descriptions): the channels of the
//     first Z slice and the first time point, the other pages unread;
//   - tifffile's JSON description {"shape": [...]}: it gives the pages of
//     the first series and, for 4-D and larger shapes, which axis is C;
//     an (H,W,C) array, which tifffile stores as H pages of W rows and C
//     columns, is read back as C channels of H×W (see shapeLayout).
//
// Sample types are those of DType: 8, 16, 32 and 64-bit unsigned, 16-bit
// signed and 32 or 64-bit IEEE float, either byte order, strips or tiles,
// classic TIFF or BigTIFF, any compression the system's libtiff decodes.
//
// Pages are found by walking the IFD chain here, in Go (bounded, loops
// caught), and decoded by libtiff strip by strip or tile by tile, so that
// a band of rows costs the strips or tiles it crosses: uncompressed strips
// are read in part, straight from the file. Sizes are checked (checkSize)
// before any sample memory is allocated, and a strip is never decoded past
// the size its page declares, so compression bombs stop there.

// maxTIFFPages bounds the directories walked when OME, ImageJ or tifffile
// metadata say the file holds more pages than channels (a Z stack, a time
// series): only the first Z and T are read, but the page count is
// checked against the metadata up to this many pages. Files without such
// metadata stop at MaxChannels+1 pages, since each page is a channel.
const maxTIFFPages = 1 << 16

// tiffCacheBytes bounds the decoded strips and tiles a TIFFReader keeps
// between bands (those that reach into the next band).
const tiffCacheBytes = 64 << 20

// DecodeTIFF reads a TIFF file's channels (see the layouts above) from its
// bytes, every row at once: what Decode calls for a TIFF; OpenTIFF reads
// large files band by band instead.
func DecodeTIFF(b []byte) (*Raster, error) {
	r, err := newTIFFReader(bytes.NewReader(b), int64(len(b)), func() (*libtiff.File, error) { return libtiff.OpenBytes(b) })
	if err != nil {
		return nil, fmt.Errorf("tiff: %w", err)
	}
	defer r.Close()
	r.noCache = true
	out, err := r.readRows(0, r.h)
	if err != nil {
		return nil, fmt.Errorf("tiff: %w", err)
	}
	return out, nil
}

// TIFFReader reads a TIFF file a band of rows at a time, so that an image
// larger than memory (or than what one wants to spend on it) can be
// translated tile by tile: each band decodes only the strips or tiles it
// crosses. W, H, C and DType describe the whole raster, as DecodeTIFF
// would return it. A TIFFReader is not safe for concurrent use.
type TIFFReader struct {
	W, H, C int
	DType   DType

	// The same, as the reader uses them (a caller may change the
	// exported ones).
	w, h, c int
	dt      DType

	path string
	file *os.File
	src  io.ReaderAt
	size int64
	lt   *libtiff.File

	// pages are the directory offsets of the pages read, each giving spp
	// channels (all of them, in order); pw and ph are their size.
	pages  []int64
	nums   []int // the pages' indexes in the file, for errors
	spp    int
	pw, ph int
	// transposed is tifffile's (H,W,C) layout: raster row y is page y,
	// whose rows are the raster's columns and whose columns are channels.
	transposed bool
	first      *libtiff.Dir

	noCache    bool
	cache      map[tiffChunkKey]*tiffCachedChunk
	cacheBytes int
	scratch    []byte
	buf        []byte
}

type tiffChunkKey struct {
	page int64
	idx  int
}

type tiffCachedChunk struct {
	b   []byte
	end int // the first row after the chunk
}

// OpenTIFF opens a TIFF file for reading in bands (ReadRows). It reads the
// directories it needs to know the layout and checks them, and no sample.
func OpenTIFF(path string) (*TIFFReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	r, err := newTIFFReader(f, st.Size(), func() (*libtiff.File, error) { return libtiff.OpenFile(f) })
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: tiff: %w", path, err)
	}
	r.path, r.file = path, f
	return r, nil
}

// ReadRows returns rows [y0, y1) of every channel, a Raster of H = y1-y0.
// Strips or tiles that reach past y1 are kept for the next band (up to 64
// MiB), so reading bands in order decodes each strip or tile once.
func (r *TIFFReader) ReadRows(y0, y1 int) (*Raster, error) {
	out, err := r.readRows(y0, y1)
	if err != nil {
		return nil, fmt.Errorf("%s: rows %d to %d: %w", r.path, y0, y1, err)
	}
	return out, nil
}

// Close releases the file and libtiff's handle.
func (r *TIFFReader) Close() error {
	if r.lt != nil {
		r.lt.Close()
		r.lt = nil
	}
	r.cache, r.scratch, r.buf = nil, nil, nil
	if r.file != nil {
		err := r.file.Close()
		r.file = nil
		return err
	}
	return nil
}

// newTIFFReader finds the layout: page 0, its metadata, the pages it
// implies (walking no more directories than those need), and checks
// every page read against page 0.
func newTIFFReader(src io.ReaderAt, size int64, open func() (*libtiff.File, error)) (*TIFFReader, error) {
	chain, err := tiffReadIFDChain(src, size, 1)
	if err != nil {
		return nil, err
	}
	lt, err := open()
	if err != nil {
		return nil, err
	}
	r := &TIFFReader{src: src, size: size, lt: lt}
	if err := r.layout(chain.offsets[0]); err != nil {
		lt.Close()
		return nil, err
	}
	return r, nil
}

func (r *TIFFReader) layout(off0 int64) error {
	d0, err := r.lt.SetDir(off0)
	if err != nil {
		return fmt.Errorf("page 0: %w", err)
	}
	dt, err := tiffPageDType(d0)
	if err != nil {
		return fmt.Errorf("page 0: %w", err)
	}
	r.first, r.dt, r.spp, r.pw, r.ph = d0, dt, d0.Samples, d0.Width, d0.Height
	// The page's own size first: its rows and chunks are what is decoded.
	if err := checkSize(d0.Width, d0.Height, 1); err != nil {
		return fmt.Errorf("page 0: %w", err)
	}
	var sel []int // page indexes read, in channel order
	walk := MaxChannels + 1
	need := 0 // pages the metadata require (0: no check)
	needWhat := ""
	exact := false
	desc := d0.Description
	switch {
	case isOMEXML(desc):
		l, err := omeLayout(desc, d0, dt)
		if err != nil {
			return err
		}
		sel, walk, need, needWhat, exact = l.ifds, l.walk, l.total, l.what, true
	case strings.HasPrefix(desc, "ImageJ="):
		l, err := imagejLayout(desc, d0.Samples)
		if err != nil {
			return err
		}
		sel, walk, need, needWhat = l.ifds, l.walk, l.total, l.what
	default:
		l, ok, err := shapeLayout(desc, d0)
		if err != nil {
			return err
		}
		if ok {
			sel, walk, need, needWhat = l.ifds, l.walk, l.total, l.what
			r.transposed = l.transposed
		}
	}
	chain, err := tiffReadIFDChain(r.src, r.size, walk)
	if err != nil {
		return err
	}
	n := len(chain.offsets)
	if sel == nil { // pages as channels
		if chain.more {
			return fmt.Errorf("more than %d pages: each page is a channel and at most %d are supported (a Z stack or time series needs OME-TIFF or ImageJ metadata saying which pages are channels)", MaxChannels, MaxChannels)
		}
		if n*r.spp > MaxChannels {
			return fmt.Errorf("%d pages of %d samples are %d channels: at most %d are supported", n, r.spp, n*r.spp, MaxChannels)
		}
		for i := range n {
			sel = append(sel, i)
		}
	} else {
		// Too few pages for the metadata, or (OME-XML, which accounts
		// for every page) too many.
		if need > 0 && (n < need && !chain.more || exact && n > need) {
			return fmt.Errorf("%s, the file has %s", needWhat, tiffPlural(n, "page"))
		}
		for _, p := range sel {
			if p >= n {
				return fmt.Errorf("%s: page %d is needed, the file has %s", needWhat, p, tiffPlural(n, "page"))
			}
		}
	}
	if r.transposed {
		r.h, r.w, r.c = len(sel), d0.Height, d0.Width
	} else {
		r.w, r.h, r.c = d0.Width, d0.Height, len(sel)*r.spp
	}
	r.W, r.H, r.C, r.DType = r.w, r.h, r.c, r.dt
	if err := checkSize(r.w, r.h, r.c); err != nil {
		return err
	}
	r.pages, r.nums = make([]int64, len(sel)), sel
	// Uncompressed samples must be in the file: a few bytes declaring a
	// huge image are refused before its memory is allocated.
	var raw int64
	for i, p := range sel {
		r.pages[i] = chain.offsets[p]
		d := d0
		if p != 0 {
			if d, err = r.lt.SetDir(r.pages[i]); err != nil {
				return fmt.Errorf("page %d: %w", p, err)
			}
			if err := r.samePage(d, p); err != nil {
				return err
			}
		} else if err := r.checkChunks(d0, 0); err != nil {
			return err
		}
		if d.Compression == 1 {
			rowBytes, _ := r.rowBytes(d)
			raw += rowBytes * int64(d.Height) * int64(r.planes(d))
		}
	}
	if raw > r.size {
		return fmt.Errorf("the pages declare %d bytes of uncompressed samples, the file has %d bytes", raw, r.size)
	}
	return nil
}

// samePage checks a page against page 0: same size, samples, type and
// planar configuration, so that every channel has the same shape.
func (r *TIFFReader) samePage(d *libtiff.Dir, page int) error {
	dt, err := tiffPageDType(d)
	if err != nil {
		return fmt.Errorf("page %d: %w", page, err)
	}
	d0 := r.first
	if d.Width != d0.Width || d.Height != d0.Height || d.Samples != d0.Samples || dt != r.dt ||
		(d.Samples > 1 && d.Planar != d0.Planar) {
		return fmt.Errorf("page %d is %s, page 0 is %s: every page must have the same size and type",
			page, tiffPageKind(d, dt), tiffPageKind(d0, r.dt))
	}
	return r.checkChunks(d, page)
}

func tiffPageKind(d *libtiff.Dir, dt DType) string {
	s := fmt.Sprintf("%d×%d %s", d.Width, d.Height, dt)
	if d.Samples != 1 {
		s += fmt.Sprintf(" × %d samples", d.Samples)
		if d.Planar == 2 {
			s += " (planar)"
		}
	}
	return s
}

// tiffPageDType maps a page's sample layout to a DType, refusing the
// layouts that are not plain samples: palettes, bilevel and sub-byte
// samples, colour spaces that need converting (YCbCr, JPEG colour, CMYK,
// Lab).
func tiffPageDType(d *libtiff.Dir) (DType, error) {
	const convert = "convert it to grey or RGB samples, or read it through the 8-bit image path"
	switch d.Photometric {
	case -1, 1: // BlackIsZero, or missing
	case 2:
		if d.Samples < 3 {
			return 0, fmt.Errorf("RGB with %d samples per pixel", d.Samples)
		}
	case 0:
		return 0, fmt.Errorf("white-is-zero (inverted) samples are not read as data: %s", convert)
	case libtiff.PhotometricPalette:
		return 0, fmt.Errorf("palette (indexed colour) image: its samples are colour indexes, not data; %s", convert)
	case 4:
		return 0, errors.New("transparency mask page: not image data")
	case 5:
		return 0, fmt.Errorf("CMYK (separated) image: %s", convert)
	case libtiff.PhotometricYCbCr:
		return 0, fmt.Errorf("YCbCr colour (as JPEG-in-TIFF stores it): %s", convert)
	case 8, 9, 10:
		return 0, fmt.Errorf("CIE Lab colour: %s", convert)
	default:
		return 0, fmt.Errorf("photometric interpretation %d: %s", d.Photometric, convert)
	}
	if d.Compression == 6 || (d.Compression == 7 && d.Photometric == 2) {
		return 0, fmt.Errorf("JPEG-compressed colour: %s", convert)
	}
	if !d.CodecConfigured {
		return 0, fmt.Errorf("compression %d, which this system's libtiff does not decode", d.Compression)
	}
	if d.Depth > 1 {
		return 0, fmt.Errorf("3-D volume (ImageDepth %d): not supported", d.Depth)
	}
	if d.Samples < 1 || d.Samples > MaxChannels {
		return 0, fmt.Errorf("%d samples per pixel: at most %d channels are supported", d.Samples, MaxChannels)
	}
	if d.Samples > 1 && d.Planar != 1 && d.Planar != 2 {
		return 0, fmt.Errorf("planar configuration %d", d.Planar)
	}
	switch {
	case d.Bits == 1:
		return 0, fmt.Errorf("bilevel (1-bit) image: %s", convert)
	case d.Bits != 8 && d.Bits != 16 && d.Bits != 32 && d.Bits != 64:
		return 0, fmt.Errorf("%d-bit samples: only 8, 16, 32 and 64-bit samples are read (convert to one of those)", d.Bits)
	}
	format := d.SampleFormat
	names := map[int]string{1: "unsigned", 2: "signed", 3: "float", 4: "untyped", 5: "complex integer", 6: "complex float"}
	switch {
	case format == 1 && d.Bits == 8:
		return Uint8, nil
	case format == 1 && d.Bits == 16:
		return Uint16, nil
	case format == 2 && d.Bits == 16:
		return Int16, nil
	case format == 1 && d.Bits == 32:
		return Uint32, nil
	case format == 3 && d.Bits == 32:
		return Float32, nil
	case format == 3 && d.Bits == 64:
		return Float64, nil
	}
	name := names[format]
	if name == "" {
		name = fmt.Sprintf("sample format %d", format)
	}
	return 0, fmt.Errorf("%d-bit %s samples: only uint8, uint16, int16, uint32, float32 and float64 are read", d.Bits, name)
}

// checkChunks validates a page's strip or tile geometry before anything
// is decoded: the decoded size of one strip or tile must follow from the
// page's declared size, so that memory stays bounded by it.
func (r *TIFFReader) checkChunks(d *libtiff.Dir, page int) error {
	rowBytes, pix := r.rowBytes(d)
	var want int64
	if d.Tiled {
		if d.TileWidth <= 0 || d.TileHeight <= 0 || d.TileWidth > 1<<20 || d.TileHeight > 1<<20 {
			return fmt.Errorf("page %d: tiles of %d×%d", page, d.TileWidth, d.TileHeight)
		}
		want = int64(d.TileWidth) * int64(d.TileHeight) * pix
		planeBytes := rowBytes * int64(d.Height)
		if want > max(4*planeBytes, 16<<20) {
			return fmt.Errorf("page %d: %d×%d tiles for a %d×%d page", page, d.TileWidth, d.TileHeight, d.Width, d.Height)
		}
		across := (int64(d.Width) + int64(d.TileWidth) - 1) / int64(d.TileWidth)
		down := (int64(d.Height) + int64(d.TileHeight) - 1) / int64(d.TileHeight)
		if int64(d.Chunks) < across*down*int64(r.planes(d)) {
			return fmt.Errorf("page %d has %d tiles, %d×%d×%d are needed", page, d.Chunks, across, down, r.planes(d))
		}
	} else {
		rps := r.rowsPerStrip(d)
		want = int64(rps) * rowBytes
		per := (int64(d.Height) + int64(rps) - 1) / int64(rps)
		if int64(d.Chunks) < per*int64(r.planes(d)) {
			return fmt.Errorf("page %d has %d strips, %d are needed", page, d.Chunks, per*int64(r.planes(d)))
		}
	}
	if d.ChunkSize != want {
		return fmt.Errorf("page %d: libtiff sizes its strips or tiles at %d bytes, %d expected", page, d.ChunkSize, want)
	}
	return nil
}

// planes is the number of sample planes stored separately.
func (r *TIFFReader) planes(d *libtiff.Dir) int {
	if d.Samples > 1 && d.Planar == 2 {
		return d.Samples
	}
	return 1
}

// rowBytes is the length of one row of one stored plane, and pix that of
// one pixel of it.
func (r *TIFFReader) rowBytes(d *libtiff.Dir) (row, pix int64) {
	pix = int64(d.Bits / 8)
	if r.planes(d) == 1 {
		pix *= int64(d.Samples)
	}
	return int64(d.Width) * pix, pix
}

func (r *TIFFReader) rowsPerStrip(d *libtiff.Dir) int {
	if d.RowsPerStrip <= 0 || d.RowsPerStrip > d.Height {
		return d.Height
	}
	return d.RowsPerStrip
}

func (r *TIFFReader) readRows(y0, y1 int) (*Raster, error) {
	if r.lt == nil {
		return nil, errors.New("reader closed")
	}
	if y0 < 0 || y1 > r.h || y0 >= y1 {
		return nil, fmt.Errorf("want 0 <= y0 < y1 <= %d", r.h)
	}
	out := New(r.w, y1-y0, r.c, r.dt)
	n := y1 - y0
	if r.transposed {
		// Row y is page y: its ph rows are the raster's x, its pw columns
		// the channels.
		for y := y0; y < y1; y++ {
			b, d, err := r.pageRows(y, 0, 0, r.ph, false)
			if err != nil {
				return nil, err
			}
			for c := 0; c < r.c; c++ {
				dst := out.Data[c*r.w*n+(y-y0)*r.w:]
				tiffConvert(dst[:r.w], b, r.dt, d.Width, c)
			}
		}
		return out, nil
	}
	plane := r.w * n
	for i := range r.pages {
		if r.spp > 1 && r.first.Planar == 2 {
			for s := 0; s < r.spp; s++ {
				b, _, err := r.pageRows(i, s, y0, y1, !r.noCache)
				if err != nil {
					return nil, err
				}
				c := i*r.spp + s
				tiffConvert(out.Data[c*plane:(c+1)*plane], b, r.dt, 1, 0)
			}
			continue
		}
		b, _, err := r.pageRows(i, 0, y0, y1, !r.noCache)
		if err != nil {
			return nil, err
		}
		for s := 0; s < r.spp; s++ {
			c := i*r.spp + s
			tiffConvert(out.Data[c*plane:(c+1)*plane], b, r.dt, r.spp, s)
		}
	}
	// What ends within this band is not needed for the next one.
	for k, c := range r.cache {
		if c.end <= y1 {
			r.cacheBytes -= len(c.b)
			delete(r.cache, k)
		}
	}
	return out, nil
}

// pageRows returns rows [y0, y1) of stored plane p of page i (all samples
// interleaved where they are), samples in the host's byte order.
func (r *TIFFReader) pageRows(i, p, y0, y1 int, keep bool) ([]byte, *libtiff.Dir, error) {
	num := r.nums[i]
	d, err := r.lt.SetDir(r.pages[i])
	if err != nil {
		return nil, nil, fmt.Errorf("page %d: %w", num, err)
	}
	// The directory was checked when the reader was opened; a file that
	// changed since must not get past the checks either.
	if num > 0 {
		if err := r.samePage(d, num); err != nil {
			return nil, nil, err
		}
	} else if err := r.checkChunks(d, num); err != nil {
		return nil, nil, err
	}
	rowBytes, pix := r.rowBytes(d)
	need := int64(y1-y0) * rowBytes
	if int64(cap(r.buf)) < need {
		r.buf = make([]byte, need)
	}
	buf := r.buf[:need]
	if d.Tiled {
		err = r.tileRows(d, i, p, y0, y1, buf, rowBytes, pix, keep)
	} else {
		err = r.stripRows(d, i, p, y0, y1, buf, rowBytes, keep)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("page %d: %w", num, err)
	}
	return buf, d, nil
}

func (r *TIFFReader) stripRows(d *libtiff.Dir, page, p, y0, y1 int, buf []byte, rowBytes int64, keep bool) error {
	rps := r.rowsPerStrip(d)
	per := (d.Height + rps - 1) / rps
	// Uncompressed strips are read in part, straight from the file: a
	// page stored as one strip costs only the band's rows.
	raw := d.Compression == 1 && d.FillOrder != 2
	for s := y0 / rps; s*rps < y1; s++ {
		idx := p*per + s
		sr0 := s * rps
		sr1 := min(sr0+rps, d.Height)
		a, b := max(y0, sr0), min(y1, sr1)
		dst := buf[int64(a-y0)*rowBytes : int64(b-y0)*rowBytes]
		if raw {
			off, n, err := r.lt.RawChunk(idx)
			if err != nil {
				return fmt.Errorf("strip %d: %w", idx, err)
			}
			start := int64(a-sr0) * rowBytes
			if start+int64(len(dst)) > n {
				return fmt.Errorf("strip %d holds %d bytes, %d rows of %d need %d", idx, n, sr1-sr0, rowBytes, int64(sr1-sr0)*rowBytes)
			}
			if off < 0 || off+start+int64(len(dst)) > r.size {
				return fmt.Errorf("strip %d (%d bytes at offset %d) lies past the end of the file (%d bytes)", idx, n, off, r.size)
			}
			if _, err := r.src.ReadAt(dst, off+start); err != nil {
				return fmt.Errorf("strip %d: %w", idx, err)
			}
			if d.ByteSwapped {
				tiffSwap(dst, d.Bits/8)
			}
			continue
		}
		c, err := r.chunk(d, page, idx, int64(sr1-sr0)*rowBytes, sr1, keep && sr1 > y1)
		if err != nil {
			return fmt.Errorf("strip %d: %w", idx, err)
		}
		copy(dst, c[int64(a-sr0)*rowBytes:])
	}
	return nil
}

func (r *TIFFReader) tileRows(d *libtiff.Dir, page, p, y0, y1 int, buf []byte, rowBytes, pix int64, keep bool) error {
	tw, th := d.TileWidth, d.TileHeight
	across := (d.Width + tw - 1) / tw
	down := (d.Height + th - 1) / th
	trow := int64(tw) * pix
	for ty := y0 / th; ty*th < y1; ty++ {
		tr0 := ty * th
		tr1 := min(tr0+th, d.Height)
		a, b := max(y0, tr0), min(y1, tr1)
		for tx := 0; tx < across; tx++ {
			idx := p*across*down + ty*across + tx
			c, err := r.chunk(d, page, idx, int64(th)*trow, tr1, keep && tr1 > y1)
			if err != nil {
				return fmt.Errorf("tile %d: %w", idx, err)
			}
			cols := int64(min(tw, d.Width-tx*tw)) * pix
			x := int64(tx) * trow
			for y := a; y < b; y++ {
				copy(buf[int64(y-y0)*rowBytes+x:][:cols], c[int64(y-tr0)*trow:][:cols])
			}
		}
	}
	return nil
}

// chunk decodes strip or tile idx of page (size bytes), from the cache
// when an earlier band kept it; keep asks to keep it for the next band.
func (r *TIFFReader) chunk(d *libtiff.Dir, page, idx int, size int64, end int, keep bool) ([]byte, error) {
	key := tiffChunkKey{r.pages[page], idx}
	if c, ok := r.cache[key]; ok {
		return c.b, nil
	}
	if keep && r.cacheBytes+int(size) > tiffCacheBytes {
		keep = false
	}
	var b []byte
	if keep {
		b = make([]byte, size)
	} else {
		if int64(cap(r.scratch)) < size {
			r.scratch = make([]byte, size)
		}
		b = r.scratch[:size]
	}
	n, err := r.lt.ReadChunk(idx, b)
	if err != nil {
		return nil, err
	}
	if int64(n) != size {
		return nil, fmt.Errorf("decodes to %d bytes, %d expected", n, size)
	}
	if keep {
		if r.cache == nil {
			r.cache = map[tiffChunkKey]*tiffCachedChunk{}
		}
		r.cache[key] = &tiffCachedChunk{b: b, end: end}
		r.cacheBytes += len(b)
	}
	return b, nil
}

// tiffSwap reverses the bytes of each size-byte sample in place.
func tiffSwap(b []byte, size int) {
	switch size {
	case 2:
		for i := 0; i+1 < len(b); i += 2 {
			b[i], b[i+1] = b[i+1], b[i]
		}
	case 4:
		for i := 0; i+3 < len(b); i += 4 {
			b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
		}
	case 8:
		for i := 0; i+7 < len(b); i += 8 {
			for j := 0; j < 4; j++ {
				b[i+j], b[i+7-j] = b[i+7-j], b[i+j]
			}
		}
	}
}

// tiffConvert sets dst[i] to sample first+i*stride of src (host byte
// order).
func tiffConvert(dst []float32, src []byte, dt DType, stride, first int) {
	ne := binary.NativeEndian
	switch dt {
	case Uint8:
		for i := range dst {
			dst[i] = float32(src[first+i*stride])
		}
	case Uint16:
		for i := range dst {
			dst[i] = float32(ne.Uint16(src[2*(first+i*stride):]))
		}
	case Int16:
		for i := range dst {
			dst[i] = float32(int16(ne.Uint16(src[2*(first+i*stride):])))
		}
	case Uint32:
		for i := range dst {
			dst[i] = float32(ne.Uint32(src[4*(first+i*stride):]))
		}
	case Float32:
		for i := range dst {
			dst[i] = math.Float32frombits(ne.Uint32(src[4*(first+i*stride):]))
		}
	case Float64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(ne.Uint64(src[8*(first+i*stride):])))
		}
	}
}

// tiffIFDChain is the IFD offsets of a file, in chain order.
type tiffIFDChain struct {
	offsets []int64
	// more reports that the chain goes on past the limit walked.
	more bool
}

// tiffReadIFDChain walks at most limit directories of the IFD chain, reading
// only each one's entry count and next pointer: cheap enough to count
// tens of thousands of pages, and the place where loops and pointers out
// of the file are caught before libtiff sees them.
func tiffReadIFDChain(src io.ReaderAt, size int64, limit int) (tiffIFDChain, error) {
	var ch tiffIFDChain
	var hdr [16]byte
	if size < 8 {
		return ch, fmt.Errorf("%d bytes: too short for a TIFF header", size)
	}
	if _, err := src.ReadAt(hdr[:min(16, size)], 0); err != nil && err != io.EOF {
		return ch, err
	}
	var bo binary.ByteOrder
	switch string(hdr[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return ch, errors.New("not a TIFF file (no II or MM byte order mark)")
	}
	big := false
	var next uint64
	switch bo.Uint16(hdr[2:]) {
	case 42:
		next = uint64(bo.Uint32(hdr[4:]))
	case 43:
		if size < 16 || bo.Uint16(hdr[4:]) != 8 || bo.Uint16(hdr[6:]) != 0 {
			return ch, errors.New("BigTIFF header with an offset size other than 8")
		}
		big = true
		next = bo.Uint64(hdr[8:])
	default:
		return ch, fmt.Errorf("not a TIFF file (version %d)", bo.Uint16(hdr[2:]))
	}
	hdrLen, countLen, entryLen, nextLen := uint64(8), uint64(2), uint64(12), uint64(4)
	if big {
		hdrLen, countLen, entryLen, nextLen = 16, 8, 20, 8
	}
	seen := map[uint64]int{}
	var b [8]byte
	for next != 0 {
		page := len(ch.offsets)
		if page >= limit {
			ch.more = true
			break
		}
		if p, ok := seen[next]; ok {
			return ch, fmt.Errorf("IFD loop: page %d's next directory is page %d", page-1, p)
		}
		seen[next] = page
		if next < hdrLen || next > uint64(size)-countLen {
			return ch, fmt.Errorf("page %d's directory offset %d lies outside the file (%d bytes)", page, next, size)
		}
		if _, err := src.ReadAt(b[:countLen], int64(next)); err != nil {
			return ch, fmt.Errorf("page %d's directory: %w", page, err)
		}
		var count uint64
		if big {
			count = bo.Uint64(b[:])
		} else {
			count = uint64(bo.Uint16(b[:]))
		}
		if count == 0 {
			return ch, fmt.Errorf("page %d's directory has no entries", page)
		}
		end := uint64(size) - next - countLen
		if count > end/entryLen || count*entryLen+nextLen > end {
			return ch, fmt.Errorf("page %d's directory (%d entries at offset %d) is cut short by the end of the file", page, count, next)
		}
		ch.offsets = append(ch.offsets, int64(next))
		if _, err := src.ReadAt(b[:nextLen], int64(next+countLen+count*entryLen)); err != nil {
			return ch, fmt.Errorf("page %d's directory: %w", page, err)
		}
		if big {
			next = bo.Uint64(b[:])
		} else {
			next = uint64(bo.Uint32(b[:]))
		}
	}
	if len(ch.offsets) == 0 {
		return ch, errors.New("no image directory")
	}
	return ch, nil
}

// tiffPageLayout is what metadata say about which pages are channels.
type tiffPageLayout struct {
	// ifds are the page indexes read, in channel order.
	ifds []int
	// walk is how many directories to walk; total the page count the
	// metadata imply (0: none; at least, or exactly for OME-XML), what
	// names the metadata in errors.
	walk, total int
	what        string
	transposed  bool
}

// tiffMulCap multiplies positive numbers, saturating at limit+1 so that no
// product of hostile sizes overflows.
func tiffMulCap(limit int64, xs ...int64) int64 {
	p := int64(1)
	for _, x := range xs {
		if x <= 0 {
			return 0
		}
		if p > (limit+1)/x {
			return limit + 1
		}
		p *= x
	}
	return min(p, limit+1)
}

func tiffPlural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// tiffCount is the product of sizes for errors, which may be past
// int64.
func tiffCount(xs ...int64) string {
	if p := tiffMulCap(1<<62, xs...); p <= 1<<62 {
		return strconv.FormatInt(p, 10)
	}
	return "more than 2^62"
}

// imagejLayout reads an ImageJ hyperstack description: pages are ordered
// C fastest, then Z, then T, so the first Z and T are pages 0 to C-1.
func imagejLayout(desc string, spp int) (tiffPageLayout, error) {
	vals := map[string]int64{"channels": 1, "slices": 1, "frames": 1}
	for _, line := range strings.Split(desc, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if _, want := vals[k]; !ok || !want {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n <= 0 {
			return tiffPageLayout{}, fmt.Errorf("ImageJ description: %s=%q is not a positive number", k, v)
		}
		vals[k] = n
	}
	c, z, t := vals["channels"], vals["slices"], vals["frames"]
	if c*int64(spp) > MaxChannels {
		return tiffPageLayout{}, fmt.Errorf("ImageJ description says channels=%d of %d samples: at most %d channels are supported", c, spp, MaxChannels)
	}
	total := tiffMulCap(maxTIFFPages, c, z, t)
	l := tiffPageLayout{total: int(total), walk: int(min(total, maxTIFFPages)),
		what: fmt.Sprintf("ImageJ description says channels %d × slices %d × frames %d = %s images", c, z, t, tiffCount(c, z, t))}
	for i := range int(c) {
		l.ifds = append(l.ifds, i)
	}
	return l, nil
}

// shapeLayout reads tifffile's JSON description ({"shape": [...], and
// "axes" when the writer gave them}; or the older "shape=(...)") of page
// 0, which describes the file's first series. ok is false when there is
// none or it does not fit the page, and the pages are read as channels.
//
// The series has prod(shape)/(page size) pages. For pages of one sample:
//   - 2-D and 3-D shapes: every page is a channel ([C, H, W]), except the
//     (H,W,C) layout: tifffile stores such an array as H pages of W rows
//     and C columns, with the same JSON shape [H, W, C] that a C-page
//     [C, H, W] would have. It is taken for (H,W,C) when "axes" ends in C
//     or S, or, without axes, when the last size is the smallest of the
//     first and last ([12, 7, 5] is 5 channels of 12×7; [5, 7, 12] is 5
//     channels of 7×12);
//   - 4-D and larger: the axis named C in "axes" (else the last of the
//     leading axes that is not Z or T, else none: one channel) holds the
//     channels, and the first index of every other axis is read.
//
// Pages of several samples are read all of them, page by page, sample
// by sample.
func shapeLayout(desc string, d0 *libtiff.Dir) (tiffPageLayout, bool, error) {
	shape, axes, ok := parseShapeDescription(desc)
	if !ok || len(shape) < 2 {
		return tiffPageLayout{}, false, nil
	}
	page := int64(d0.Width) * int64(d0.Height) * int64(d0.Samples)
	prod := tiffMulCap(math.MaxInt64/2, shape...)
	if prod == 0 || prod > math.MaxInt64/2 || prod%page != 0 {
		return tiffPageLayout{}, false, nil
	}
	pages := prod / page
	// Past maxTIFFPages pages only the pages read are checked (as for
	// ImageJ), unless every page is needed.
	l := tiffPageLayout{total: int(min(pages, maxTIFFPages+1)), walk: int(min(pages, maxTIFFPages)),
		what: fmt.Sprintf("tifffile's shape %v is %d pages", shape, pages)}
	k := len(shape) - 2 // leading axes: the pages
	if d0.Samples > 1 || k < 1 || shape[k] != int64(d0.Height) || shape[k+1] != int64(d0.Width) {
		if pages*int64(d0.Samples) > MaxChannels {
			return l, false, fmt.Errorf("tifffile's shape %v is %d pages of %d samples: at most %d channels are supported", shape, pages, d0.Samples, MaxChannels)
		}
		for i := range int(pages) {
			l.ifds = append(l.ifds, i)
		}
		return l, true, nil
	}
	if len(axes) != len(shape) {
		axes = ""
	}
	if k == 1 {
		hwc := shape[2] < shape[0]
		if axes != "" {
			hwc = axes[2] == 'C' || axes[2] == 'S'
		}
		switch {
		case hwc && shape[2] > MaxChannels:
			return l, false, fmt.Errorf("tifffile's shape %v is %d channels of %d×%d: at most %d are supported", shape, shape[2], shape[0], shape[1], MaxChannels)
		case hwc && pages > maxTIFFPages:
			return l, false, fmt.Errorf("tifffile's shape %v is %d rows, each a page: at most %d pages are read", shape, pages, maxTIFFPages)
		case !hwc && pages > MaxChannels:
			return l, false, fmt.Errorf("tifffile's shape %v is %d channels: at most %d are supported", shape, pages, MaxChannels)
		}
		l.transposed = hwc
		for i := range int(pages) {
			l.ifds = append(l.ifds, i)
		}
		return l, true, nil
	}
	ci := -1
	if axes != "" {
		ci = strings.IndexByte(axes[:k], 'C')
		if ci < 0 {
			for i := k - 1; i >= 0; i-- {
				if axes[i] != 'Z' && axes[i] != 'T' {
					ci = i
					break
				}
			}
		}
	} else {
		ci = k - 1
	}
	if ci < 0 {
		l.ifds = []int{0}
		return l, true, nil
	}
	if shape[ci] > MaxChannels {
		return l, false, fmt.Errorf("tifffile's shape %v has %d channels: at most %d are supported", shape, shape[ci], MaxChannels)
	}
	stride := int(tiffMulCap(maxTIFFPages, shape[ci+1:k]...))
	for c := range int(shape[ci]) {
		l.ifds = append(l.ifds, c*stride)
	}
	return l, true, nil
}

// parseShapeDescription reads {"shape": [...], "axes": "..."} or
// "shape=(a, b, c)".
func parseShapeDescription(desc string) (shape []int64, axes string, ok bool) {
	switch {
	case strings.HasPrefix(desc, "{") && strings.Contains(desc, `"shape":`):
		var v struct {
			Shape []int64 `json:"shape"`
			Axes  string  `json:"axes"`
		}
		if json.Unmarshal([]byte(desc), &v) != nil {
			return nil, "", false
		}
		shape, axes = v.Shape, v.Axes
	case strings.HasPrefix(desc, "shape=("):
		s, _, found := strings.Cut(desc[len("shape=("):], ")")
		if !found {
			return nil, "", false
		}
		for _, f := range strings.Split(s, ",") {
			if f = strings.TrimSpace(f); f == "" {
				continue
			}
			n, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return nil, "", false
			}
			shape = append(shape, n)
		}
	default:
		return nil, "", false
	}
	for _, n := range shape {
		if n <= 0 {
			return nil, "", false
		}
	}
	return shape, axes, true
}

// TIFFWriter writes a TIFF band by band, in any order of bands, so that a
// large output never has to be held whole: the layout is fixed when it is
// created (one uncompressed page per channel), so any rows of any page
// have a known place in the file. The file appears at its path, complete,
// only when Close succeeds. WriteRows may be called from several
// goroutines at once (for different bands).
type TIFFWriter struct {
	path, tmp string
	f         *os.File
	w, h, c   int
	dt        DType
	dataStart int64
	rowBytes  int64
	mu        sync.Mutex // guards written and closed
	// written holds the row spans written so far, sorted and merged.
	written [][2]int
	closed  bool
}

// tiffStripBytes is the size the writer aims its strips at: small enough
// that a reader decoding by strips stays within a band, large enough that
// the strip tables stay small.
const tiffStripBytes = 256 << 10

// CreateTIFF starts a TIFF of c pages of w×h samples of type dt: one page
// per channel, BlackIsZero, uncompressed, in strips, little-endian;
// BigTIFF when the data need more than classic TIFF's 4 GiB of offsets.
// Page 0's ImageDescription is tifffile's {"shape": [c, h, w]} (for c = 1
// too: [1, h, w]), so that tifffile.imread returns a (C,H,W) array and
// DecodeTIFF reads it back as it was. Every row must be written
// (WriteRows) before Close.
func CreateTIFF(path string, w, h, c int, dt DType) (*TIFFWriter, error) {
	return createTIFF(path, w, h, c, dt, false)
}

func createTIFF(path string, w, h, c int, dt DType, forceBig bool) (*TIFFWriter, error) {
	if err := checkSize(w, h, c); err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	if dt.Size() == 0 {
		return nil, fmt.Errorf("create %s: %v", path, dt)
	}
	head, dataStart := tiffHeader(w, h, c, dt, forceBig)
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	t := &TIFFWriter{path: path, tmp: f.Name(), f: f, w: w, h: h, c: c, dt: dt, dataStart: dataStart,
		rowBytes: int64(w) * int64(dt.Size())}
	total := dataStart + int64(c)*int64(h)*t.rowBytes
	if _, err = f.WriteAt(head, 0); err == nil {
		err = f.Truncate(total)
	}
	if err != nil {
		t.abort()
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return t, nil
}

// tiffHeader lays out the file: the header, then every page's directory
// with its description and strip tables, then the planes, channel by
// channel. It returns those first bytes and where the planes start.
func tiffHeader(w, h, c int, dt DType, forceBig bool) ([]byte, int64) {
	rowBytes := int64(w) * int64(dt.Size())
	rps := int(max(1, min(int64(h), tiffStripBytes/rowBytes)))
	strips := (h + rps - 1) / rps
	planeBytes := rowBytes * int64(h)
	desc := fmt.Sprintf(`{"shape": [%d, %d, %d]}`, c, h, w) + "\x00"
	format := map[DType]uint16{Uint8: 1, Uint16: 1, Uint32: 1, Int16: 2, Float32: 3, Float64: 3}[dt]
	build := func(big bool) ([]byte, int64) {
		hdrLen, countLen, entryLen, nextLen, word := int64(8), int64(2), int64(12), int64(4), int64(4)
		if big {
			hdrLen, countLen, entryLen, nextLen, word = 16, 8, 20, 8, 8
		}
		// Sizes first: they do not depend on where things go.
		ifdSize := func(page int) int64 {
			n := int64(12)
			extra := int64(0)
			if page == 0 {
				n++
				if int64(len(desc)) > word {
					extra += tiffEven(int64(len(desc)))
				}
			}
			if int64(strips)*word > word {
				extra += 2 * int64(strips) * word
			}
			return tiffEven(countLen + n*entryLen + nextLen + extra)
		}
		off := hdrLen
		ifdAt := make([]int64, c)
		for p := range c {
			ifdAt[p] = off
			off += ifdSize(p)
		}
		dataStart := (off + 15) &^ 15
		out := make([]byte, dataStart)
		le := binary.LittleEndian
		copy(out, "II")
		if big {
			le.PutUint16(out[2:], 43)
			le.PutUint16(out[4:], 8)
			le.PutUint64(out[8:], uint64(ifdAt[0]))
		} else {
			le.PutUint16(out[2:], 42)
			le.PutUint32(out[4:], uint32(ifdAt[0]))
		}
		for p := range c {
			type entry struct {
				tag, typ uint16
				count    int64
				val      []byte
			}
			short := func(v uint16) []byte { return le.AppendUint16(nil, v) }
			long := func(v uint32) []byte { return le.AppendUint32(nil, v) }
			offsets := make([]byte, 0, int64(strips)*word)
			counts := make([]byte, 0, int64(strips)*word)
			for s := range strips {
				o := dataStart + int64(p)*planeBytes + int64(s*rps)*rowBytes
				n := int64(min(rps, h-s*rps)) * rowBytes
				if big {
					offsets, counts = le.AppendUint64(offsets, uint64(o)), le.AppendUint64(counts, uint64(n))
				} else {
					offsets, counts = le.AppendUint32(offsets, uint32(o)), le.AppendUint32(counts, uint32(n))
				}
			}
			offType := uint16(4) // LONG
			if big {
				offType = 16 // LONG8
			}
			entries := []entry{
				{254, 4, 1, long(0)},
				{256, 4, 1, long(uint32(w))},
				{257, 4, 1, long(uint32(h))},
				{258, 3, 1, short(uint16(8 * dt.Size()))},
				{259, 3, 1, short(1)},
				{262, 3, 1, short(1)},
			}
			if p == 0 {
				entries = append(entries, entry{270, 2, int64(len(desc)), []byte(desc)})
			}
			entries = append(entries,
				entry{273, offType, int64(strips), offsets},
				entry{277, 3, 1, short(1)},
				entry{278, 4, 1, long(uint32(rps))},
				entry{279, offType, int64(strips), counts},
				entry{284, 3, 1, short(1)},
				entry{339, 3, 1, short(format)},
			)
			at := ifdAt[p]
			b := out[at:]
			pos := int64(0)
			if big {
				le.PutUint64(b, uint64(len(entries)))
			} else {
				le.PutUint16(b, uint16(len(entries)))
			}
			pos += countLen
			extra := countLen + int64(len(entries))*entryLen + nextLen
			for _, e := range entries {
				le.PutUint16(b[pos:], e.tag)
				le.PutUint16(b[pos+2:], e.typ)
				if big {
					le.PutUint64(b[pos+4:], uint64(e.count))
				} else {
					le.PutUint32(b[pos+4:], uint32(e.count))
				}
				v := b[pos+8 : pos+12]
				if big {
					v = b[pos+12 : pos+20]
				}
				if int64(len(e.val)) <= word {
					copy(v, e.val)
				} else {
					if big {
						le.PutUint64(v, uint64(at+extra))
					} else {
						le.PutUint32(v, uint32(at+extra))
					}
					copy(b[extra:], e.val)
					extra += tiffEven(int64(len(e.val)))
				}
				pos += entryLen
			}
			next := int64(0)
			if p+1 < c {
				next = ifdAt[p+1]
			}
			if big {
				le.PutUint64(b[pos:], uint64(next))
			} else {
				le.PutUint32(b[pos:], uint32(next))
			}
		}
		return out, dataStart
	}
	if !forceBig {
		head, start := build(false)
		if start+int64(c)*planeBytes <= math.MaxUint32 {
			return head, start
		}
	}
	return build(true)
}

func tiffEven(n int64) int64 { return (n + 1) &^ 1 }

// WriteRows writes r's rows as rows [y0, y0+r.H) of every channel, its
// values converted with the writer's DType.Round. Bands may come in any
// order and may be written again.
func (t *TIFFWriter) WriteRows(y0 int, r *Raster) error {
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return fmt.Errorf("write %s: writer closed", t.path)
	}
	if r.W != t.w || r.C != t.c || y0 < 0 || r.H <= 0 || y0+r.H > t.h || len(r.Data) != r.W*r.H*r.C {
		return fmt.Errorf("write %s: rows %d to %d of a %s raster into a %d×%d×%d file", t.path, y0, y0+r.H, r.Shape(), t.c, t.h, t.w)
	}
	// A channel's rows are contiguous in the file: write them in pieces
	// of a bounded buffer.
	size := t.dt.Size()
	piece := tiffStripBytes / size
	buf := make([]byte, min(piece, r.W*r.H)*size)
	for c := 0; c < r.C; c++ {
		plane := r.Plane(c)
		off := t.dataStart + (int64(c)*int64(t.h)+int64(y0))*t.rowBytes
		for a := 0; a < len(plane); a += piece {
			src := plane[a:min(a+piece, len(plane))]
			dst := buf[:len(src)*size]
			tiffEncode(dst, src, t.dt)
			if _, err := t.f.WriteAt(dst, off+int64(a*size)); err != nil {
				return fmt.Errorf("write %s: %w", t.path, err)
			}
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return fmt.Errorf("write %s: writer closed", t.path)
	}
	t.markWritten(y0, y0+r.H)
	return nil
}

// tiffEncode stores src as little-endian samples of dt, each rounded
// as dt.Round does it.
func tiffEncode(dst []byte, src []float32, dt DType) {
	le := binary.LittleEndian
	lo, hi := dt.Limits()
	// round is dt.Round for the integer types, without its function
	// calls: this runs once per sample written.
	round := func(v float32) float64 {
		x := float64(v)
		switch {
		case x != x:
			return 0
		case x <= lo:
			return lo
		case x >= hi:
			return hi
		}
		return math.RoundToEven(x)
	}
	switch dt {
	case Uint8:
		for i, v := range src {
			dst[i] = uint8(round(v))
		}
	case Uint16:
		for i, v := range src {
			le.PutUint16(dst[2*i:], uint16(round(v)))
		}
	case Int16:
		for i, v := range src {
			le.PutUint16(dst[2*i:], uint16(int16(round(v))))
		}
	case Uint32:
		for i, v := range src {
			le.PutUint32(dst[4*i:], uint32(round(v)))
		}
	case Float32:
		for i, v := range src {
			le.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	case Float64:
		for i, v := range src {
			le.PutUint64(dst[8*i:], math.Float64bits(float64(v)))
		}
	}
}

func (t *TIFFWriter) markWritten(a, b int) {
	t.written = append(t.written, [2]int{a, b})
	sort.Slice(t.written, func(i, j int) bool { return t.written[i][0] < t.written[j][0] })
	merged := t.written[:1]
	for _, s := range t.written[1:] {
		last := &merged[len(merged)-1]
		if s[0] <= last[1] {
			last[1] = max(last[1], s[1])
		} else {
			merged = append(merged, s)
		}
	}
	t.written = merged
}

// Close finishes the file: synced, then renamed over the path, so that a
// reader never sees a part of it. If a row was never written, or anything
// failed, nothing appears and the temporary file is removed; calling
// Close on a writer one gives up on is how to discard it.
func (t *TIFFWriter) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	if len(t.written) != 1 || t.written[0] != [2]int{0, t.h} {
		missing := t.missing()
		t.abort()
		return fmt.Errorf("write %s: rows %s were never written; nothing was saved", t.path, missing)
	}
	t.closed = true
	err := t.f.Chmod(0o644)
	if err == nil {
		err = t.f.Sync()
	}
	if cerr := t.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(t.tmp, t.path)
	}
	if err != nil {
		os.Remove(t.tmp)
		return fmt.Errorf("write %s: %w", t.path, err)
	}
	if d, err := os.Open(filepath.Dir(t.path)); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("write %s: %w", t.path, err)
		}
	}
	return nil
}

func (t *TIFFWriter) missing() string {
	y := 0
	for _, s := range t.written {
		if s[0] > y {
			return fmt.Sprintf("%d to %d", y, s[0])
		}
		y = s[1]
	}
	return fmt.Sprintf("%d to %d", y, t.h)
}

func (t *TIFFWriter) abort() {
	t.closed = true
	t.f.Close()
	os.Remove(t.tmp)
}

// WriteTIFF writes a whole raster as CreateTIFF lays it out, its values
// converted with r.DType.Round: the one-call form for rasters that fit in
// memory.
func WriteTIFF(path string, r *Raster) error {
	if len(r.Data) != r.W*r.H*r.C {
		return fmt.Errorf("write %s: %d values for %s", path, len(r.Data), r.Shape())
	}
	t, err := CreateTIFF(path, r.W, r.H, r.C, r.DType)
	if err != nil {
		return err
	}
	if err := t.WriteRows(0, r); err != nil {
		t.abort()
		return err
	}
	return t.Close()
}
