/* What the layers above the stream inside the library (http) need from it
 * beyond the public API: functions only (stream_impl.h holds the structs). */
#ifndef IOMUX_STREAM_INTERNAL_H
#define IOMUX_STREAM_INTERNAL_H

#include "iomux/stream.h"

/* Keep a stream a layer made for its own use (an HTTP connection) out of
 * the loop's walk (iom_loop_walk), so the app is never handed it to close.
 * Call right after making it. Loop thread only. */
void iom__stream_hide(iom_stream *s);

#endif
