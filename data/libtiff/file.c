// A TIFF file held open: directories by offset, strips and tiles one at a
// time. Errors go to a per-file message, never to stderr; warnings are
// dropped.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tiffio.h>

#include "file.h"

struct cp_tiff_file {
	TIFF *tif;
	const unsigned char *data; // memory files
	size_t len, pos;
	int errors;
	char msg[256];
};

static tmsize_t file_read(thandle_t h, void *buf, tmsize_t n) {
	cp_tiff_file *f = (cp_tiff_file *)h;
	if (n < 0) {
		return 0;
	}
	size_t left = f->pos < f->len ? f->len - f->pos : 0;
	size_t k = (size_t)n < left ? (size_t)n : left;
	memcpy(buf, f->data + f->pos, k);
	f->pos += k;
	return (tmsize_t)k;
}

static tmsize_t file_write(thandle_t h, void *buf, tmsize_t n) {
	(void)h, (void)buf, (void)n;
	return 0;
}

static toff_t file_seek(thandle_t h, toff_t off, int whence) {
	cp_tiff_file *f = (cp_tiff_file *)h;
	uint64_t base = whence == SEEK_CUR ? f->pos : whence == SEEK_END ? f->len : 0;
	uint64_t p = base + off;
	f->pos = p > f->len ? f->len : (size_t)p;
	return (toff_t)p;
}

static int file_close(thandle_t h) {
	(void)h;
	return 0;
}

static toff_t file_size(thandle_t h) { return ((cp_tiff_file *)h)->len; }

static int file_no_map(thandle_t h, void **base, toff_t *size) {
	(void)h, (void)base, (void)size;
	return 0;
}

static void file_no_unmap(thandle_t h, void *base, toff_t size) { (void)h, (void)base, (void)size; }

static int file_on_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
	(void)tif;
	cp_tiff_file *f = (cp_tiff_file *)user;
	// Keep the first: later ones are usually its consequences.
	if (f->errors++ == 0) {
		char buf[200];
		vsnprintf(buf, sizeof buf, fmt, ap);
		snprintf(f->msg, sizeof f->msg, "%s: %s", module ? module : "libtiff", buf);
	}
	return 1;
}

static int file_on_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
	(void)tif, (void)user, (void)module, (void)fmt, (void)ap;
	return 1;
}

static void reset(cp_tiff_file *f) {
	f->errors = 0;
	f->msg[0] = 0;
}

static int file_fail(cp_tiff_file *f, const char *msg) {
	if (f->errors++ == 0) {
		snprintf(f->msg, sizeof f->msg, "%s", msg);
	}
	return 1;
}

static TIFFOpenOptions *options(cp_tiff_file *f) {
	TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
	if (opts == NULL) {
		return NULL;
	}
	TIFFOpenOptionsSetErrorHandlerExtR(opts, file_on_error, f);
	TIFFOpenOptionsSetWarningHandlerExtR(opts, file_on_warning, f);
	// A hostile header must not make libtiff allocate gigabytes at once.
	TIFFOpenOptionsSetMaxSingleMemAlloc(opts, (tmsize_t)1 << 30);
	return opts;
}

static cp_tiff_file *opened(cp_tiff_file *f, TIFF *tif, char *msg, size_t msg_len) {
	if (tif == NULL) {
		snprintf(msg, msg_len, "%s", f->errors ? f->msg : "not a readable TIFF file");
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
	f->data = buf;
	f->len = len;
	TIFFOpenOptions *opts = options(f);
	if (opts == NULL) {
		free(f);
		snprintf(msg, msg_len, "out of memory");
		return NULL;
	}
	TIFF *tif = TIFFClientOpenExt("image", "rm", (thandle_t)f, file_read, file_write, file_seek, file_close, file_size,
	                              file_no_map, file_no_unmap, opts);
	TIFFOpenOptionsFree(opts);
	return opened(f, tif, msg, msg_len);
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
	int errors = f->errors;
	d->chunk_size = -1;
	if (d->width > 0 && d->height > 0 && (!d->tiled || (d->tile_width > 0 && d->tile_height > 0))) {
		tmsize_t n = d->tiled ? TIFFTileSize(tif) : TIFFStripSize(tif);
		d->chunk_size = n > 0 ? (int64_t)n : -1;
	}
	if (f->errors != errors) {
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

const char *cp_tiff_error(cp_tiff_file *f) { return f->msg; }

void cp_tiff_close(cp_tiff_file *f) {
	if (f == NULL) {
		return;
	}
	if (f->tif != NULL) {
		TIFFClose(f->tif);
	}
	free(f);
}
