// What read.c and file.c share: a TIFF held in memory as libtiff's client
// I/O sees it, and error and warning handlers that keep libtiff's words in
// a per-file message instead of printing them.
#ifndef CYCLEPIX_LIBTIFF_MEMIO_H
#define CYCLEPIX_LIBTIFF_MEMIO_H

#include <stdarg.h>
#include <stddef.h>

#include <tiffio.h>

// cp_memfile is a file's bytes and a read position.
typedef struct {
	const unsigned char *data;
	size_t len, pos;
} cp_memfile;

// cp_tiff_msgs counts libtiff's errors and warnings and keeps the first
// error's text.
typedef struct {
	int errors, warnings;
	char msg[256];
} cp_tiff_msgs;

// cp_mem_open opens m (which must stay in place while the TIFF is open)
// read-only through libtiff's client interface, its messages going to msgs
// and no single allocation above max_alloc bytes.
TIFF *cp_mem_open(cp_memfile *m, cp_tiff_msgs *msgs, tmsize_t max_alloc);

// cp_msgs_error and cp_msgs_warning are the handlers (the user data is a
// cp_tiff_msgs); cp_msgs_fail records a message of cyclepix's own unless
// libtiff already said why, and returns 1.
int cp_msgs_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap);
int cp_msgs_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap);
int cp_msgs_fail(cp_tiff_msgs *msgs, const char *msg);

#endif
