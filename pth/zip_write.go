package pth

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math"
)

// alignment is PyTorchStreamWriter's kFieldAlignment: the data of every
// entry starts at a multiple of 64 bytes so that a loader can mmap tensors.
const alignment = 64

// errTooLarge is returned for archives that would need zip64 entry fields.
// PyTorch's miniz writer switches to them at 4 GiB; this writer does not
// implement them.
var errTooLarge = errors.New("archives of 4 GiB or more are not supported")

// zipWriter writes a zip archive laid out exactly like the one
// PyTorchStreamWriter (miniz) writes in PyTorch 1.13:
//
//   - local headers have version 0, flags 0x0808 (data descriptor, UTF-8
//     names), method Store, a zero DOS time and date, and zero CRC and sizes;
//     empty entries (the storage of a tensor with no elements) have flags
//     0x0800 and no data descriptor;
//   - each local header carries an extra field with id "FB" whose payload is
//     'Z' bytes padding the data start to a multiple of 64 (the field is
//     present, possibly empty, on every entry);
//   - each entry's data is followed by a 16-byte data descriptor
//     (signature, CRC-32, 32-bit sizes);
//   - the central directory has no extra fields, and it is followed by a
//     zip64 end record and locator (miniz is opened with
//     MZ_ZIP_FLAG_WRITE_ZIP64) before the classic end record.
type zipWriter struct {
	w       io.Writer
	off     int64
	entries []zipEntry
	err     error
}

type zipEntry struct {
	name   string
	flags  uint16
	crc    uint32
	size   int64
	offset int64
}

func (z *zipWriter) write(b []byte) {
	if z.err != nil {
		return
	}
	n, err := z.w.Write(b)
	z.off += int64(n)
	z.err = err
}

// padding returns the extra field that aligns the data of an entry whose
// local header starts at offset and whose name has nameLen bytes, as
// PyTorchStreamWriter's getPadding computes it.
func padding(offset int64, nameLen int) []byte {
	start := offset + 30 + int64(nameLen) + 4
	pad := (alignment - start%alignment) % alignment
	extra := make([]byte, 4+pad)
	extra[0], extra[1] = 'F', 'B'
	binary.LittleEndian.PutUint16(extra[2:], uint16(pad))
	for i := 4; i < len(extra); i++ {
		extra[i] = 'Z'
	}
	return extra
}

// entry writes one Stored entry whose contents are the concatenation of
// chunks.
func (z *zipWriter) entry(name string, chunks ...[]byte) error {
	var size int64
	for _, c := range chunks {
		size += int64(len(c))
	}
	if z.off >= math.MaxUint32 || size >= math.MaxUint32 {
		return errTooLarge
	}
	e := zipEntry{name: name, size: size, offset: z.off, flags: 0x0808}
	if size == 0 {
		e.flags = 0x0800
	}
	extra := padding(z.off, len(name))

	h := make([]byte, 30, 30+len(name)+len(extra))
	binary.LittleEndian.PutUint32(h[0:], 0x04034b50)
	binary.LittleEndian.PutUint16(h[4:], 0) // version needed
	binary.LittleEndian.PutUint16(h[6:], e.flags)
	// method, time, date, crc, sizes: all zero.
	binary.LittleEndian.PutUint16(h[26:], uint16(len(name)))
	binary.LittleEndian.PutUint16(h[28:], uint16(len(extra)))
	h = append(h, name...)
	h = append(h, extra...)
	z.write(h)

	for _, c := range chunks {
		e.crc = crc32.Update(e.crc, crc32.IEEETable, c)
		z.write(c)
	}

	if size == 0 {
		z.entries = append(z.entries, e)
		return z.err
	}
	d := make([]byte, 16)
	binary.LittleEndian.PutUint32(d[0:], 0x08074b50)
	binary.LittleEndian.PutUint32(d[4:], e.crc)
	binary.LittleEndian.PutUint32(d[8:], uint32(size))
	binary.LittleEndian.PutUint32(d[12:], uint32(size))
	z.write(d)

	z.entries = append(z.entries, e)
	return z.err
}

// close writes the central directory and the end records.
func (z *zipWriter) close() error {
	cdStart := z.off
	for _, e := range z.entries {
		h := make([]byte, 46, 46+len(e.name))
		binary.LittleEndian.PutUint32(h[0:], 0x02014b50)
		// version made by, version needed: 0
		binary.LittleEndian.PutUint16(h[8:], e.flags)
		// method, time, date: 0
		binary.LittleEndian.PutUint32(h[16:], e.crc)
		binary.LittleEndian.PutUint32(h[20:], uint32(e.size))
		binary.LittleEndian.PutUint32(h[24:], uint32(e.size))
		binary.LittleEndian.PutUint16(h[28:], uint16(len(e.name)))
		// extra, comment, disk, attributes: 0
		binary.LittleEndian.PutUint32(h[42:], uint32(e.offset))
		z.write(append(h, e.name...))
	}
	cdSize := z.off - cdStart
	if cdStart >= math.MaxUint32 || cdSize >= math.MaxUint32 || len(z.entries) >= math.MaxUint16 {
		return errTooLarge
	}
	n := uint64(len(z.entries))

	eocd64 := z.off
	r := make([]byte, 56)
	binary.LittleEndian.PutUint32(r[0:], 0x06064b50)
	binary.LittleEndian.PutUint64(r[4:], 56-12) // size of the rest of the record
	binary.LittleEndian.PutUint16(r[12:], 0x031e)
	binary.LittleEndian.PutUint16(r[14:], 0x002d)
	// disk numbers: 0
	binary.LittleEndian.PutUint64(r[24:], n)
	binary.LittleEndian.PutUint64(r[32:], n)
	binary.LittleEndian.PutUint64(r[40:], uint64(cdSize))
	binary.LittleEndian.PutUint64(r[48:], uint64(cdStart))
	z.write(r)

	l := make([]byte, 20)
	binary.LittleEndian.PutUint32(l[0:], 0x07064b50)
	binary.LittleEndian.PutUint64(l[8:], uint64(eocd64))
	binary.LittleEndian.PutUint32(l[16:], 1) // total number of disks
	z.write(l)

	e := make([]byte, 22)
	binary.LittleEndian.PutUint32(e[0:], 0x06054b50)
	binary.LittleEndian.PutUint16(e[8:], uint16(n))
	binary.LittleEndian.PutUint16(e[10:], uint16(n))
	binary.LittleEndian.PutUint32(e[12:], uint32(cdSize))
	binary.LittleEndian.PutUint32(e[16:], uint32(cdStart))
	z.write(e)
	return z.err
}
