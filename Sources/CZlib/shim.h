#ifndef WISP_CZLIB_SHIM_H
#define WISP_CZLIB_SHIM_H
// zlib's inflate (gzip-compressed IDX files, e.g. MNIST's train-images-idx3-ubyte.gz); the
// include path comes from pkg-config.
#include <zlib.h>

// `inflateInit2` is a macro (it passes the library version and the stream's size, so that a
// header/library mismatch is caught): wrap it in a function Swift can call.
static inline int wisp_inflate_init_gzip(z_stream *stream) {
    // 15 + 16: a 32 KiB window, gzip wrapper only (header, CRC-32 and length checked by zlib).
    return inflateInit2(stream, 15 + 16);
}
#endif
