// The C half of package libtiff: the first image of a TIFF file held in
// memory, its tags and its samples as libtiff decodes them.
#ifndef CYCLEPIX_LIBTIFF_READ_H
#define CYCLEPIX_LIBTIFF_READ_H

#include <stddef.h>
#include <stdint.h>

#include "memio.h"

typedef struct {
	uint32_t width, height;
	int samples;       // SamplesPerPixel
	int bits;          // BitsPerSample
	int sample_format; // 1 unsigned, 2 signed, 3 IEEE float
	int photometric;   // -1 when the tag is missing
	int planar;        // 1 contiguous, 2 separate planes
	int compression;
	int extra_count;
	int extra[8];      // ExtraSamples values
	int tiled;
	int big_endian;    // the file's byte order is MM
	cp_tiff_msgs m; // libtiff's errors and warnings; m.msg: why cp_tiff_read failed, its own words or libtiff's first error
} cp_tiff_info;

// cp_tiff_read opens the len bytes at buf, reads the first directory's
// tags into info and, when out is not NULL, its samples: rows of
// ceil(width*samples*bits/8) bytes, samples interleaved, in the host's
// byte order and fill order (libtiff swaps both), or with rgba set,
// width*height RGBA pixels from libtiff's RGBA interface (for YCbCr).
// colormap (3 << bits entries, may be NULL) receives the palette. It
// returns 0, or 1 with the error in info->msg.
int cp_tiff_read(const unsigned char *buf, size_t len, cp_tiff_info *info, unsigned char *out, size_t out_len, int rgba, uint16_t *colormap, size_t colormap_len);

#endif
