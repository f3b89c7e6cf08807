// A TIFF file held open: directories by offset, strips and tiles one at a
// time. Errors go to a per-file message, never to stderr; warnings are
// dropped.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tiffio.h>

#include "file.h"
#include "memio.h"

// maxAlloc bounds libtiff's single allocations: a hostile header must not
// make it allocate gigabytes at once.
static const tmsize_t maxAlloc = (tmsize_t)1 << 30;

struct cp_tiff_file {
	TIFF *tif;
	cp_memfile mem; // memory files
	cp_tiff_msgs msgs;
};

static void reset(cp_tiff_file *f) {
	f->msgs.errors = 0;
	f->msgs.msg[0] = 0;
}

static int file_fail(cp_tiff_file *f, const char *msg) { return cp_msgs_fail(&f->msgs, msg); }

static TIFFOpenOptions *options(cp_tiff_file *f) {
	TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
	if (opts == NULL) {
		return NULL;
	}
	TIFFOpenOptionsSetErrorHandlerExtR(opts, cp_msgs_error, &f->msgs);
	TIFFOpenOptionsSetWarningHandlerExtR(opts, cp_msgs_warning, &f->msgs);
	// A hostile header must not make libtiff allocate gigabytes at once.
	TIFFOpenOptionsSetMaxSingleMemAlloc(opts, maxAlloc);
	return opts;
}

static cp_tiff_file *opened(cp_tiff_file *f, TIFF *tif, char *msg, size_t msg_len) {
	if (tif == NULL) {
		snprintf(msg, msg_len, "%s", f->msgs.errors ? f->msgs.msg : "not a readable TIFF file");
		free(f);
		return NULL;
	}
	f->tif = tif;
	reset(f);
	return f;
}

cp_tiff_file *cp_tiff_open_mem(const unsigned char *buf, size_t len, char *msg, size_t msg_len) {
	cp_tiff_file *f = calloc(1, sizeof *f);
	if (f == NULL) {
		snprintf(msg, msg_len, "out of memory");
		return NULL;
	}
	f->mem.data = buf;
	f->mem.len = len;
	return opened(f, cp_mem_open(&f->mem, &f->msgs, maxAlloc), msg, msg_len);
}

cp_tiff_file *cp_tiff_open_fd(int fd, const char *name, char *msg, size_t msg_len) {
	cp_tiff_file *f = calloc(1, sizeof *f);
	if (f == NULL) {
		snprintf(msg, msg_len, "out of memory");
		return NULL;
	}
	TIFFOpenOptions *opts = options(f);
	if (opts == NULL) {
		free(f);
		snprintf(msg, msg_len, "out of memory");
		return NULL;
	}
	// "m": read with read(2), not mmap, so that memory stays bounded by
	// what is decoded.
	TIFF *tif = TIFFFdOpenExt(fd, name, "rm", opts);
	TIFFOpenOptionsFree(opts);
	return opened(f, tif, msg, msg_len);
}

int cp_tiff_set_dir(cp_tiff_file *f, uint64_t offset, cp_tiff_dir *d) {
	reset(f);
	memset(d, 0, sizeof *d);
	TIFF *tif = f->tif;
	if (!TIFFSetSubDirectory(tif, offset)) {
		return file_fail(f, "cannot read the image directory");
	}
	uint16_t v16 = 0;
	uint32_t v32 = 0;
	uint16_t count = 0, *extra = NULL;
	TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &d->width);
	TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &d->height);
	d->depth = 1;
	TIFFGetFieldDefaulted(tif, TIFFTAG_IMAGEDEPTH, &d->depth);
	TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &v16);
	d->samples = v16;
	TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &v16);
	d->bits = v16;
	TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &v16);
	d->sample_format = v16;
	d->photometric = TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &v16) ? v16 : -1;
	TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &v16);
	d->planar = v16;
	TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &v16);
	d->compression = v16;
	d->codec_configured = TIFFIsCODECConfigured(v16);
	TIFFGetFieldDefaulted(tif, TIFFTAG_FILLORDER, &v16);
	d->fill_order = v16;
	if (TIFFGetField(tif, TIFFTAG_SUBFILETYPE, &v32)) {
		d->subfile_type = (int)v32;
	}
	if (TIFFGetField(tif, TIFFTAG_EXTRASAMPLES, &count, &extra) && extra != NULL) {
		d->extra_count = count;
		for (int i = 0; i < count && i < 8; i++) {
			d->extra[i] = extra[i];
		}
	}
	d->tiled = TIFFIsTiled(tif);
	if (d->tiled) {
		TIFFGetField(tif, TIFFTAG_TILEWIDTH, &d->tile_width);
		TIFFGetField(tif, TIFFTAG_TILELENGTH, &d->tile_height);
		d->chunks = TIFFNumberOfTiles(tif);
	} else {
		d->rows_per_strip = d->height;
		TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &d->rows_per_strip);
		d->chunks = TIFFNumberOfStrips(tif);
	}
	d->big_endian = TIFFIsBigEndian(tif);
	d->byte_swapped = TIFFIsByteSwapped(tif);
	d->bigtiff = TIFFIsBigTIFF(tif);
	char *desc = NULL;
	d->has_description = TIFFGetField(tif, TIFFTAG_IMAGEDESCRIPTION, &desc) && desc != NULL;
	// The size computations below report overflow as errors; those are
	// not the caller's business until it decodes.
	int errors = f->msgs.errors;
	d->chunk_size = -1;
	if (d->width > 0 && d->height > 0 && (!d->tiled || (d->tile_width > 0 && d->tile_height > 0))) {
		tmsize_t n = d->tiled ? TIFFTileSize(tif) : TIFFStripSize(tif);
		d->chunk_size = n > 0 ? (int64_t)n : -1;
	}
	if (f->msgs.errors != errors) {
		reset(f);
	}
	return 0;
}

const char *cp_tiff_description(cp_tiff_file *f) {
	char *desc = NULL;
	if (!TIFFGetField(f->tif, TIFFTAG_IMAGEDESCRIPTION, &desc)) {
		return NULL;
	}
	return desc;
}

int cp_tiff_raw_chunk(cp_tiff_file *f, uint32_t i, uint64_t *offset, uint64_t *count) {
	reset(f);
	int err = 0;
	*offset = TIFFGetStrileOffsetWithErr(f->tif, i, &err);
	if (err) {
		return file_fail(f, "no such strip or tile");
	}
	*count = TIFFGetStrileByteCountWithErr(f->tif, i, &err);
	if (err) {
		return file_fail(f, "no such strip or tile");
	}
	return 0;
}

int64_t cp_tiff_read_chunk(cp_tiff_file *f, uint32_t i, unsigned char *out, size_t len) {
	reset(f);
	tmsize_t n = TIFFIsTiled(f->tif) ? TIFFReadEncodedTile(f->tif, i, out, (tmsize_t)len)
	                                 : TIFFReadEncodedStrip(f->tif, i, out, (tmsize_t)len);
	if (n < 0) {
		file_fail(f, TIFFIsTiled(f->tif) ? "cannot decode a tile" : "cannot decode a strip");
		return -1;
	}
	return (int64_t)n;
}

const char *cp_tiff_error(cp_tiff_file *f) { return f->msgs.msg; }

void cp_tiff_close(cp_tiff_file *f) {
	if (f == NULL) {
		return;
	}
	if (f->tif != NULL) {
		TIFFClose(f->tif);
	}
	free(f);
}
