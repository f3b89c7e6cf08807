// The C half of libtiff's File: a TIFF held open across calls, whose
// directories are visited by offset and whose strips and tiles are decoded
// one at a time, so that a caller can read any rows of any page without
// decoding the rest.
#ifndef CYCLEPIX_LIBTIFF_FILE_H
#define CYCLEPIX_LIBTIFF_FILE_H

#include <stddef.h>
#include <stdint.h>

typedef struct cp_tiff_file cp_tiff_file;

typedef struct {
	uint32_t width, height, depth;
	int samples, bits, sample_format; // SamplesPerPixel, BitsPerSample, SampleFormat
	int photometric;                  // -1 when the tag is missing
	int planar;                       // 1 contiguous, 2 separate
	int compression;
	int codec_configured; // libtiff can decode compression
	int fill_order;
	int subfile_type;
	int extra_count;
	int extra[8];
	int tiled;
	uint32_t rows_per_strip, tile_width, tile_height;
	uint32_t chunks;    // strips or tiles in the directory, all planes
	int64_t chunk_size; // bytes of a decoded full strip or tile, -1 when it overflows
	int big_endian, byte_swapped, bigtiff;
	int has_description;
} cp_tiff_dir;

// cp_tiff_open_mem opens the len bytes at buf, which must stay in place
// until cp_tiff_close; cp_tiff_open_fd opens a file descriptor (which
// cp_tiff_close closes). Both return NULL with the reason in msg.
cp_tiff_file *cp_tiff_open_mem(const unsigned char *buf, size_t len, char *msg, size_t msg_len);
cp_tiff_file *cp_tiff_open_fd(int fd, const char *name, char *msg, size_t msg_len);

// cp_tiff_set_dir reads the directory at offset, makes it the current one
// and fills d. It returns 0, or 1 with the error in cp_tiff_error.
int cp_tiff_set_dir(cp_tiff_file *f, uint64_t offset, cp_tiff_dir *d);

// cp_tiff_description is the current directory's ImageDescription, NULL
// when it has none; valid until the directory changes.
const char *cp_tiff_description(cp_tiff_file *f);

// cp_tiff_raw_chunk gives where strip or tile i of the current directory
// lies in the file, as stored. It returns 0, or 1 with the error.
int cp_tiff_raw_chunk(cp_tiff_file *f, uint32_t i, uint64_t *offset, uint64_t *count);

// cp_tiff_read_chunk decodes strip or tile i of the current directory into
// out (at most len bytes: a strip is decoded up to len bytes, which bounds
// what a compressed stream may expand to), in the host's byte order. It
// returns the number of bytes decoded, or -1 with the error.
int64_t cp_tiff_read_chunk(cp_tiff_file *f, uint32_t i, unsigned char *out, size_t len);

// cp_tiff_error is the first error libtiff or this code reported since the
// last call that could fail.
const char *cp_tiff_error(cp_tiff_file *f);

void cp_tiff_close(cp_tiff_file *f);

#endif
