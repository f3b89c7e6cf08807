// See memio.h.
#include <stdio.h>
#include <string.h>

#include "memio.h"

static tmsize_t mem_read(thandle_t h, void *buf, tmsize_t n) {
	cp_memfile *f = (cp_memfile *)h;
	if (n < 0) {
		return 0;
	}
	size_t left = f->pos < f->len ? f->len - f->pos : 0;
	size_t k = (size_t)n < left ? (size_t)n : left;
	memcpy(buf, f->data + f->pos, k);
	f->pos += k;
	return (tmsize_t)k;
}

static tmsize_t mem_write(thandle_t h, void *buf, tmsize_t n) {
	(void)h, (void)buf, (void)n;
	return 0;
}

static toff_t mem_seek(thandle_t h, toff_t off, int whence) {
	cp_memfile *f = (cp_memfile *)h;
	uint64_t base = whence == SEEK_CUR ? f->pos : whence == SEEK_END ? f->len : 0;
	uint64_t p = base + off;
	f->pos = p > f->len ? f->len : (size_t)p;
	return (toff_t)p;
}

static int mem_close(thandle_t h) {
	(void)h;
	return 0;
}

static toff_t mem_size(thandle_t h) { return ((cp_memfile *)h)->len; }

static int no_map(thandle_t h, void **base, toff_t *size) {
	(void)h, (void)base, (void)size;
	return 0;
}

static void no_unmap(thandle_t h, void *base, toff_t size) { (void)h, (void)base, (void)size; }

int cp_msgs_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
	(void)tif;
	cp_tiff_msgs *m = (cp_tiff_msgs *)user;
	// Keep the first: later ones are usually its consequences.
	if (m->errors++ == 0) {
		char buf[200];
		vsnprintf(buf, sizeof buf, fmt, ap);
		snprintf(m->msg, sizeof m->msg, "%s: %s", module ? module : "libtiff", buf);
	}
	return 1;
}

int cp_msgs_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
	(void)tif, (void)module, (void)fmt, (void)ap;
	((cp_tiff_msgs *)user)->warnings++;
	return 1;
}

int cp_msgs_fail(cp_tiff_msgs *m, const char *msg) {
	if (m->errors++ == 0) {
		snprintf(m->msg, sizeof m->msg, "%s", msg);
	}
	return 1;
}

TIFF *cp_mem_open(cp_memfile *f, cp_tiff_msgs *msgs, tmsize_t max_alloc) {
	TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
	if (opts == NULL) {
		cp_msgs_fail(msgs, "out of memory");
		return NULL;
	}
	TIFFOpenOptionsSetErrorHandlerExtR(opts, cp_msgs_error, msgs);
	TIFFOpenOptionsSetWarningHandlerExtR(opts, cp_msgs_warning, msgs);
	// A hostile header must not make libtiff allocate gigabytes at once.
	TIFFOpenOptionsSetMaxSingleMemAlloc(opts, max_alloc);
	TIFF *tif = TIFFClientOpenExt("image", "rm", (thandle_t)f, mem_read, mem_write, mem_seek, mem_close, mem_size, no_map,
	                              no_unmap, opts);
	TIFFOpenOptionsFree(opts);
	return tif;
}
