/* The stream layer's private state, shared by stream.c and connect.c. */
#ifndef IOMUX_STREAM_IMPL_H
#define IOMUX_STREAM_IMPL_H

#include "iomux/stream.h"

#include "../loop/loop_internal.h"
#include "stream_internal.h"

#include <stddef.h>

/* A queued piece of output: either the caller's buffer (write_ref, `done`
 * set) or a copy held inline after the header, with room to append. */
typedef struct iom__chunk {
  struct iom__chunk *next;
  const char *base;
  size_t len, off, cap; /* cap: inline room (0 for the caller's buffers) */
  void (*done)(void *ctx, int status);
  void *ctx;
  char bytes[];
} iom__chunk;

struct iom_stream {
  iom_loop *loop;
  iom_io *io;
  int fd;
  const iom_stream_cbs *cbs;
  void *data;
  iom__chunk *head, *tail;
  size_t queued;
  size_t high, low;
  iom_timer *connect_timer;
  iom__defer finish; /* runs on_close on a later turn */
  iom__walk_node walk; /* in the loop's walk until finish */
  int err;
  unsigned reading : 1;    /* the app wants on_read */
  unsigned connecting : 1;
  unsigned paused : 1;     /* on_pause_writing was called */
  unsigned shut_wanted : 1;
  unsigned closing : 1;    /* close(): flush, then finish */
  unsigned over : 1;       /* finish is scheduled: nothing more happens */
  unsigned corked : 1;     /* writes queue until iom_stream_uncork */
};

/* Make a stream around `fd` (already non-blocking), connected, or with
 * `connecting` set, connecting (and with a connect timer when timeout_ms >
 * 0). On error nothing is left behind but `fd`, still open. */
int iom__stream_make(iom_loop *loop, int fd, const iom_stream_cbs *cbs,
                     void *data, int connecting, int timeout_ms,
                     iom_stream **out);

/* End the stream with `err`: no more I/O; on_close(err) on a later turn. */
void iom__stream_fail(iom_stream *s, int err);

/* connect.c: the socket of a connecting stream became writable. */
void iom__stream_connected(iom_stream *s);

/* Watch for what the stream needs now: reading, queued output, connecting. */
void iom__stream_update(iom_stream *s);

#endif
