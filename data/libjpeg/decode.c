// Decoding as Pillow 9.4 does it (src/libImaging/JpegDecode.c and
// JpegImagePlugin.py): libjpeg's default DCT method (islow) and fancy
// upsampling, the output colour space chosen by the number of components
// alone (1 grey, 3 RGB, 4 CMYK, whatever the markers say; libjpeg converts
// YCbCr and YCCK), warnings counted and otherwise ignored, and a
// suspending data source, so that a file whose data ends before the last
// scanline is "truncated" exactly where Pillow says so.
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>

#include "decode.h"

typedef struct {
	struct jpeg_error_mgr pub;
	jmp_buf jump;
	cp_jpeg_info *info;
} cp_error_mgr;

typedef struct {
	struct jpeg_progress_mgr pub;
	int max_scans;
} cp_progress_mgr;

static void copy_message(char *dst, size_t n, const char *src) {
	snprintf(dst, n, "%s", src);
}

// error_exit must not return (libjpeg's default calls exit()): jump back
// to cp_jpeg_decode with the message.
static void cp_error_exit(j_common_ptr cinfo) {
	cp_error_mgr *err = (cp_error_mgr *)cinfo->err;
	char buf[JMSG_LENGTH_MAX];
	(*cinfo->err->format_message)(cinfo, buf);
	copy_message(err->info->msg, sizeof err->info->msg, buf);
	longjmp(err->jump, 1);
}

// Warnings (level -1) are counted and the first kept; trace messages
// (level >= 0) are dropped. Pillow installs a silent output_message, so
// it decodes through the same warnings without a word.
static void cp_emit_message(j_common_ptr cinfo, int level) {
	cp_error_mgr *err = (cp_error_mgr *)cinfo->err;
	if (level >= 0) {
		return;
	}
	if (err->info->warnings == 0) {
		char buf[JMSG_LENGTH_MAX];
		(*cinfo->err->format_message)(cinfo, buf);
		copy_message(err->info->warning, sizeof err->info->warning, buf);
	}
	err->info->warnings++;
	cinfo->err->num_warnings++;
}

static void cp_progress(j_common_ptr cinfo) {
	cp_progress_mgr *p = (cp_progress_mgr *)cinfo->progress;
	if (cinfo->is_decompressor && ((j_decompress_ptr)cinfo)->input_scan_number > p->max_scans) {
		cp_error_mgr *err = (cp_error_mgr *)cinfo->err;
		snprintf(err->info->msg, sizeof err->info->msg, "more than %d scans in a progressive JPEG (a corrupt or hostile file)", p->max_scans);
		longjmp(err->jump, 1);
	}
}

// The whole file is in memory: a source that has nothing more to give
// suspends, as Pillow's does when its file has nothing more to read.
static void src_noop(j_decompress_ptr cinfo) { (void)cinfo; }

static boolean src_fill(j_decompress_ptr cinfo) {
	(void)cinfo;
	return FALSE;
}

static void src_skip(j_decompress_ptr cinfo, long n) {
	struct jpeg_source_mgr *src = cinfo->src;
	if (n <= 0) {
		return;
	}
	if ((size_t)n > src->bytes_in_buffer) {
		// Skipping past the end: the next read suspends.
		src->next_input_byte += src->bytes_in_buffer;
		src->bytes_in_buffer = 0;
		return;
	}
	src->next_input_byte += n;
	src->bytes_in_buffer -= (size_t)n;
}

static J_COLOR_SPACE out_space(int components) {
	switch (components) {
	case 1:
		return JCS_GRAYSCALE;
	case 3:
		return JCS_RGB;
	case 4:
		return JCS_CMYK;
	}
	return JCS_UNKNOWN;
}

int cp_jpeg_decode(const unsigned char *buf, size_t len, unsigned char *out, size_t out_len, int max_scans, cp_jpeg_info *info) {
	struct jpeg_decompress_struct cinfo;
	cp_error_mgr err;
	cp_progress_mgr progress;
	struct jpeg_source_mgr src;
	int r;

	memset(info, 0, sizeof *info);
	info->adobe_transform = -1;
	memset(&cinfo, 0, sizeof cinfo);
	cinfo.err = jpeg_std_error(&err.pub);
	err.pub.error_exit = cp_error_exit;
	err.pub.emit_message = cp_emit_message;
	err.info = info;
	if (setjmp(err.jump)) {
		jpeg_destroy_decompress(&cinfo);
		return CP_JPEG_ERROR;
	}
	jpeg_create_decompress(&cinfo);

	src.init_source = src_noop;
	src.fill_input_buffer = src_fill;
	src.skip_input_data = src_skip;
	src.resync_to_restart = jpeg_resync_to_restart;
	src.term_source = src_noop;
	src.next_input_byte = buf;
	src.bytes_in_buffer = len;
	cinfo.src = &src;

	progress.pub.progress_monitor = cp_progress;
	progress.max_scans = max_scans;
	cinfo.progress = &progress.pub;

	// Tables-only datastreams come before the image in some files;
	// Pillow reads past them the same way.
	do {
		r = jpeg_read_header(&cinfo, FALSE);
	} while (r == JPEG_HEADER_TABLES_ONLY);
	if (r == JPEG_SUSPENDED) {
		jpeg_destroy_decompress(&cinfo);
		return CP_JPEG_TRUNCATED;
	}
	info->width = (int)cinfo.image_width;
	info->height = (int)cinfo.image_height;
	info->components = cinfo.num_components;
	info->precision = cinfo.data_precision;
	info->progressive = cinfo.progressive_mode;
	info->arithmetic = cinfo.arith_code;
	info->color_space = cinfo.jpeg_color_space;
	if (cinfo.saw_Adobe_marker) {
		info->adobe_transform = cinfo.Adobe_transform;
	}
	if (out == NULL) {
		jpeg_destroy_decompress(&cinfo);
		return CP_JPEG_OK;
	}
	cinfo.out_color_space = out_space(cinfo.num_components);
	if (cinfo.out_color_space == JCS_UNKNOWN ||
	    (size_t)cinfo.image_width * cinfo.image_height * cinfo.num_components != out_len) {
		snprintf(info->msg, sizeof info->msg, "cannot decode a %d-component %ux%u image into %zu bytes",
		         cinfo.num_components, cinfo.image_width, cinfo.image_height, out_len);
		jpeg_destroy_decompress(&cinfo);
		return CP_JPEG_ERROR;
	}
	if (!jpeg_start_decompress(&cinfo)) {
		jpeg_destroy_decompress(&cinfo);
		return CP_JPEG_TRUNCATED;
	}
	size_t stride = (size_t)cinfo.output_width * cinfo.output_components;
	while (cinfo.output_scanline < cinfo.output_height) {
		JSAMPROW row = out + (size_t)cinfo.output_scanline * stride;
		if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) {
			jpeg_destroy_decompress(&cinfo);
			return CP_JPEG_TRUNCATED;
		}
	}
	// Every scanline is out: like Pillow, accept a file that ends before
	// the EOI marker from here on (finish suspends, nothing is lost).
	jpeg_finish_decompress(&cinfo);
	jpeg_destroy_decompress(&cinfo);
	return CP_JPEG_OK;
}
