// Reading through libtiff, as Pillow does for every compressed TIFF: the
// samples come out decompressed, with 16- and 32-bit values in host byte
// order and bits in MSB-first fill order, which is what Pillow's libtiff
// path expects too. Errors and warnings go to per-file handlers, never to
// stderr.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tiffio.h>

#include "read.h"

// fail records why reading stopped unless libtiff already said why.
static int fail(cp_tiff_info *info, const char *msg) { return cp_msgs_fail(&info->m, msg); }

// read_samples copies the decoded strips or tiles into out, chunky.
static int read_samples(TIFF *tif, cp_tiff_info *info, unsigned char *out, size_t out_len) {
	size_t row = ((size_t)info->width * info->samples * info->bits + 7) / 8;
	if (row * info->height != out_len) {
		return fail(info, "output buffer does not fit the image");
	}
	int planes = info->planar == PLANARCONFIG_SEPARATE ? info->samples : 1;
	size_t bytes = (size_t)info->bits / 8; // per sample, planar case
	if (planes > 1 && info->bits % 8 != 0) {
		return fail(info, "separate planes of sub-byte samples are not supported");
	}
	size_t prow = planes > 1 ? (size_t)info->width * bytes : row; // a row of one plane
	tmsize_t chunk = info->tiled ? TIFFTileSize(tif) : TIFFStripSize(tif);
	if (chunk <= 0) {
		return fail(info, "no image data");
	}
	unsigned char *tmp = malloc((size_t)chunk);
	if (tmp == NULL) {
		return fail(info, "out of memory");
	}
	int rc = 0;
	if (!info->tiled) {
		uint32_t rps = info->height;
		TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &rps);
		if (rps == 0 || rps > info->height) {
			rps = info->height;
		}
		for (int p = 0; p < planes && rc == 0; p++) {
			for (uint32_t y0 = 0; y0 < info->height; y0 += rps) {
				uint32_t strip = TIFFComputeStrip(tif, y0, (uint16_t)p);
				uint32_t rows = info->height - y0 < rps ? info->height - y0 : rps;
				if (TIFFReadEncodedStrip(tif, strip, tmp, (tmsize_t)(prow * rows)) < 0) {
					rc = fail(info, "cannot read a strip");
					break;
				}
				for (uint32_t r = 0; r < rows; r++) {
					unsigned char *dst = out + (size_t)(y0 + r) * row;
					const unsigned char *src = tmp + (size_t)r * prow;
					if (planes == 1) {
						memcpy(dst, src, row);
						continue;
					}
					for (uint32_t x = 0; x < info->width; x++) {
						memcpy(dst + ((size_t)x * info->samples + p) * bytes, src + x * bytes, bytes);
					}
				}
			}
		}
	} else {
		uint32_t tw = 0, th = 0;
		TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw);
		TIFFGetField(tif, TIFFTAG_TILELENGTH, &th);
		size_t trow = planes > 1 ? (size_t)tw * bytes : ((size_t)tw * info->samples * info->bits + 7) / 8;
		if (tw == 0 || th == 0 || (info->bits * info->samples) % 8 != 0) {
			rc = fail(info, "tiles of sub-byte pixels are not supported");
		}
		size_t pixel = planes > 1 ? bytes : (size_t)info->samples * info->bits / 8;
		for (int p = 0; p < planes && rc == 0; p++) {
			for (uint32_t y0 = 0; y0 < info->height && rc == 0; y0 += th) {
				for (uint32_t x0 = 0; x0 < info->width; x0 += tw) {
					if (TIFFReadTile(tif, tmp, x0, y0, 0, (uint16_t)p) < 0) {
						rc = fail(info, "cannot read a tile");
						break;
					}
					uint32_t rows = info->height - y0 < th ? info->height - y0 : th;
					uint32_t cols = info->width - x0 < tw ? info->width - x0 : tw;
					for (uint32_t r = 0; r < rows; r++) {
						unsigned char *dst = out + (size_t)(y0 + r) * row;
						const unsigned char *src = tmp + (size_t)r * trow;
						if (planes == 1) {
							memcpy(dst + (size_t)x0 * pixel, src, (size_t)cols * pixel);
							continue;
						}
						for (uint32_t x = 0; x < cols; x++) {
							memcpy(dst + ((size_t)(x0 + x) * info->samples + p) * bytes, src + x * bytes, bytes);
						}
					}
				}
			}
		}
	}
	free(tmp);
	return rc;
}

int cp_tiff_read(const unsigned char *buf, size_t len, cp_tiff_info *info, unsigned char *out, size_t out_len, int rgba, uint16_t *colormap, size_t colormap_len) {
	memset(info, 0, sizeof *info);
	cp_memfile f = {buf, len, 0};
	// A hostile header must not make libtiff allocate gigabytes at once.
	TIFF *tif = cp_mem_open(&f, &info->m, (tmsize_t)1 << 30);
	if (tif == NULL) {
		return fail(info, "not a readable TIFF file");
	}
	uint16_t v16 = 0;
	uint16_t count = 0, *extra = NULL;
	TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &info->width);
	TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &info->height);
	TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &v16);
	info->samples = v16;
	TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &v16);
	info->bits = v16;
	TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &v16);
	info->sample_format = v16;
	info->photometric = TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &v16) ? v16 : -1;
	TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &v16);
	info->planar = v16;
	TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &v16);
	info->compression = v16;
	if (TIFFGetField(tif, TIFFTAG_EXTRASAMPLES, &count, &extra) && extra != NULL) {
		info->extra_count = count;
		for (int i = 0; i < count && i < 8; i++) {
			info->extra[i] = extra[i];
		}
	}
	info->tiled = TIFFIsTiled(tif);
	info->big_endian = TIFFIsBigEndian(tif);
	int rc = 0;
	if (colormap != NULL && info->bits <= 8 && colormap_len == (size_t)3 << info->bits) {
		uint16_t *r, *g, *b;
		if (TIFFGetField(tif, TIFFTAG_COLORMAP, &r, &g, &b)) {
			size_t n = (size_t)1 << info->bits;
			memcpy(colormap, r, n * 2);
			memcpy(colormap + n, g, n * 2);
			memcpy(colormap + 2 * n, b, n * 2);
		} else {
			rc = fail(info, "palette image without a colour map");
		}
	}
	if (rc == 0 && out != NULL) {
		if (rgba) {
			if ((size_t)info->width * info->height * 4 != out_len) {
				rc = fail(info, "output buffer does not fit the image");
			} else if (!TIFFReadRGBAImageOriented(tif, info->width, info->height, (uint32_t *)out, ORIENTATION_TOPLEFT, 0)) {
				rc = fail(info, "cannot decode the image through libtiff's RGBA interface");
			}
		} else {
			rc = read_samples(tif, info, out, out_len);
		}
	}
	TIFFClose(tif);
	return rc;
}
