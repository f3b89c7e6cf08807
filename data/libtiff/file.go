package libtiff

/*
#cgo LDFLAGS: -ltiff
#include <stdlib.h>
#include "file.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"
)

// Dir is one image directory (page) of a File: what a reader needs to
// know to decode any rows of it strip by strip or tile by tile.
type Dir struct {
	Header
	// Depth is ImageDepth (1 but for 3-D tiled volumes).
	Depth int
	// CodecConfigured reports whether libtiff can decode Compression.
	CodecConfigured bool
	// FillOrder is 1 (most significant bit first) or 2.
	FillOrder int
	// SubfileType is NewSubfileType (bit 0: a reduced-resolution copy).
	SubfileType int
	// RowsPerStrip applies to stripped directories (as libtiff presents
	// them: it cuts an uncompressed single strip into smaller ones);
	// TileWidth and TileHeight to tiled ones.
	RowsPerStrip, TileWidth, TileHeight int
	// Chunks is the number of strips or tiles, all planes together:
	// plane p's come after plane p-1's.
	Chunks int
	// ChunkSize is the size of a decoded full strip or tile in bytes, -1
	// when the tags make it overflow.
	ChunkSize int64
	// ByteSwapped reports that the file's byte order is not the host's:
	// raw sample bytes need swapping, decoded ones (ReadChunk) do not.
	ByteSwapped bool
	// BigTIFF reports 8-byte offsets (files past 4 GiB).
	BigTIFF bool
	// Description is ImageDescription (tag 270), "" when absent.
	Description string
}

// File is a TIFF held open so that its pages can be visited in any order
// and decoded strip by strip or tile by tile: scientific stacks keep one
// channel per page and large images are read a band of rows at a time.
// A File is not safe for concurrent use.
type File struct {
	p   *C.cp_tiff_file
	pin runtime.Pinner
}

// OpenBytes opens a TIFF held in memory. b is read in place (pinned for
// libtiff) and must not change until Close.
func OpenBytes(b []byte) (*File, error) {
	if len(b) == 0 {
		return nil, errors.New("empty file")
	}
	f := &File{}
	f.pin.Pin(&b[0])
	var msg [256]C.char
	f.p = C.cp_tiff_open_mem((*C.uchar)(unsafe.Pointer(&b[0])), C.size_t(len(b)), &msg[0], C.size_t(len(msg)))
	if f.p == nil {
		f.pin.Unpin()
		return nil, errors.New(C.GoString(&msg[0]))
	}
	return f, nil
}

// OpenFile opens the TIFF behind an open file; f stays the caller's
// (libtiff reads through its own duplicate of the descriptor, so both see
// the same file even if its path is replaced meanwhile).
func OpenFile(f *os.File) (*File, error) {
	raw, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var dupErr error
	if err := raw.Control(func(s uintptr) { fd, dupErr = syscall.Dup(int(s)) }); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, fmt.Errorf("dup: %w", dupErr)
	}
	syscall.CloseOnExec(fd)
	name := C.CString(f.Name())
	defer C.free(unsafe.Pointer(name))
	var msg [256]C.char
	p := C.cp_tiff_open_fd(C.int(fd), name, &msg[0], C.size_t(len(msg)))
	if p == nil {
		syscall.Close(fd)
		return nil, errors.New(C.GoString(&msg[0]))
	}
	return &File{p: p}, nil
}

func (f *File) err() error { return errors.New(C.GoString(C.cp_tiff_error(f.p))) }

// SetDir reads the directory at a file offset and makes it the current
// one, the one RawChunk and ReadChunk read. Offsets come from the
// caller's own walk of the IFD chain, which is what bounds the pages
// visited and catches loops.
func (f *File) SetDir(offset int64) (*Dir, error) {
	if f.p == nil {
		return nil, errors.New("file closed")
	}
	if offset <= 0 {
		return nil, fmt.Errorf("directory offset %d", offset)
	}
	var d C.cp_tiff_dir
	if C.cp_tiff_set_dir(f.p, C.uint64_t(offset), &d) != 0 {
		return nil, f.err()
	}
	out := &Dir{Header: Header{Width: int(d.width), Height: int(d.height), Samples: int(d.samples), Bits: int(d.bits),
		SampleFormat: int(d.sample_format), Photometric: int(d.photometric), Planar: int(d.planar),
		Compression: int(d.compression), Tiled: d.tiled != 0, BigEndian: d.big_endian != 0},
		Depth: int(d.depth), CodecConfigured: d.codec_configured != 0, FillOrder: int(d.fill_order),
		SubfileType: int(d.subfile_type), RowsPerStrip: int(d.rows_per_strip), TileWidth: int(d.tile_width),
		TileHeight: int(d.tile_height), Chunks: int(d.chunks), ChunkSize: int64(d.chunk_size),
		ByteSwapped: d.byte_swapped != 0, BigTIFF: d.bigtiff != 0}
	for i := 0; i < int(d.extra_count) && i < len(d.extra); i++ {
		out.ExtraSamples = append(out.ExtraSamples, int(d.extra[i]))
	}
	if d.has_description != 0 {
		if s := C.cp_tiff_description(f.p); s != nil {
			out.Description = C.GoString(s)
		}
	}
	return out, nil
}

// RawChunk tells where strip or tile i of the current directory is
// stored, so that uncompressed data can be read in part, straight from
// the file.
func (f *File) RawChunk(i int) (offset, size int64, err error) {
	if f.p == nil {
		return 0, 0, errors.New("file closed")
	}
	if i < 0 || int64(i) > 0xffffffff {
		return 0, 0, fmt.Errorf("strip or tile %d", i)
	}
	var off, n C.uint64_t
	if C.cp_tiff_raw_chunk(f.p, C.uint32_t(i), &off, &n) != 0 {
		return 0, 0, f.err()
	}
	if uint64(off) > 1<<62 || uint64(n) > 1<<62 {
		return 0, 0, fmt.Errorf("strip or tile %d: offset %d, %d bytes", i, uint64(off), uint64(n))
	}
	return int64(off), int64(n), nil
}

// ReadChunk decodes strip or tile i of the current directory into out,
// samples in the host's byte order, and returns the number of bytes
// decoded. A strip is decoded up to len(out) bytes, so a compressed
// stream cannot expand past what the caller expects.
func (f *File) ReadChunk(i int, out []byte) (int, error) {
	if f.p == nil {
		return 0, errors.New("file closed")
	}
	if i < 0 || int64(i) > 0xffffffff || len(out) == 0 {
		return 0, fmt.Errorf("strip or tile %d into %d bytes", i, len(out))
	}
	n := C.cp_tiff_read_chunk(f.p, C.uint32_t(i), (*C.uchar)(unsafe.Pointer(&out[0])), C.size_t(len(out)))
	if n < 0 {
		return 0, f.err()
	}
	return int(n), nil
}

// Close releases libtiff's handle (and unpins OpenBytes' bytes).
func (f *File) Close() error {
	if f.p != nil {
		C.cp_tiff_close(f.p)
		f.p = nil
		f.pin.Unpin()
	}
	return nil
}
