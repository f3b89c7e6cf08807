// The C half of package libjpeg: one call that decodes a JPEG held in
// memory with libjpeg-turbo as Pillow's JpegDecode.c drives it.
#ifndef CYCLEPIX_LIBJPEG_DECODE_H
#define CYCLEPIX_LIBJPEG_DECODE_H

#include <stddef.h>

// Outcomes of cp_jpeg_decode.
enum {
	CP_JPEG_OK = 0,
	CP_JPEG_ERROR = 1,     // libjpeg's error_exit; msg holds its message
	CP_JPEG_TRUNCATED = 2, // the data ended before the last scanline
};

// What the header says and how decoding went.
typedef struct {
	int width, height;
	int components;  // in the frame header: 1, 3 or 4 for what Pillow opens
	int precision;   // bits per sample
	int progressive; // SOF2/SOF6/SOF10/SOF14
	int arithmetic;  // arithmetic-coded entropy segments
	int color_space; // libjpeg's J_COLOR_SPACE guess from JFIF/Adobe markers
	int adobe_transform; // -1 without an Adobe APP14 marker
	int warnings;    // recoverable problems libjpeg reported
	char warning[200]; // the first of them
	char msg[200];   // the error, for CP_JPEG_ERROR
} cp_jpeg_info;

// cp_jpeg_decode reads the header of the len bytes at buf and, when out is
// not NULL, decodes the image into out (out_len bytes: width*height*
// components), grey, RGB or CMYK by the frame's component count. It
// never calls exit(): libjpeg's errors return CP_JPEG_ERROR. max_scans
// bounds the scans of a progressive file (hostile files can hold
// thousands).
int cp_jpeg_decode(const unsigned char *buf, size_t len, unsigned char *out, size_t out_len, int max_scans, cp_jpeg_info *info);

#endif
