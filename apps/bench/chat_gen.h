/* iomux-bench chat: the generator's state, shared by its clients
 * (chat.c: connect, register, join, check every line) and its phases
 * (chat_run.c: pacing, the window, the end). */
#ifndef IOMUX_BENCH_CHAT_GEN_H
#define IOMUX_BENCH_CHAT_GEN_H

#include "chat.h"

#include "iomux/loop.h"
#include "iomux/stream.h"

enum chat_phase { P_SETUP, P_WARMUP, P_MEASURE, P_DRAIN, P_DONE };
enum chat_state { S_IDLE, S_CONNECTING, S_REGISTERING, S_JOINING, S_READY,
                  S_OVER };

/* What one receiver knows of one sender of its channel. */
typedef struct chat_track {
  uint32_t next;   /* the next sequence number expected */
  uint32_t unique; /* distinct messages received */
  uint64_t seen;   /* bit i: message next-1-i was received */
} chat_track;

typedef struct chat_gen chat_gen;

typedef struct chat_client {
  chat_gen *g;
  iom_stream *s;
  iom_lines *lf;
  uint32_t id;
  uint8_t state, failed, nick_len;
  char nick[24];
  chat_track *from; /* one per sender of its channel, by local index */
  uint32_t seq;     /* a sender: messages sent so far */
} chat_client;

struct chat_gen {
  const chat_opts *o;
  chat_result *res;
  iom_loop *loop;
  chat_client *c;
  chat_track *tracks;
  char (*chan)[32];           /* channel names */
  int next, inflight;         /* the connect queue; connecting/registering */
  int ready, over;            /* in their channel; ended */
  enum chat_phase phase;
  char tag[3];                /* two letters: this run's nicks and channels */
  uint64_t base_ns;           /* time 0 of the timestamps in the messages */
  uint64_t read_ns;           /* when the read being checked was made */
  uint64_t send_start_ns, issued; /* open loop: start, messages issued */
  uint64_t window_start_ns, drain_end_ms, setup_start_ms;
  uint64_t last_delivered, last_sent; /* for the progress line */
  iom_timer *pace, *warm, *window, *drain, *setup, *progress;
};

/* Topology: client i is in channel i % C; the senders are clients
 * 0..S-1; sender i is number i / C among its channel's senders. */
static inline int chat_channel(const chat_gen *g, uint32_t id) {
  return (int)(id % (uint32_t)g->o->channels);
}
static inline int chat_members(const chat_gen *g, int ch) {
  return g->o->clients / g->o->channels + (ch < g->o->clients % g->o->channels);
}
static inline int chat_senders_in(const chat_gen *g, int ch) {
  return g->o->senders / g->o->channels + (ch < g->o->senders % g->o->channels);
}
/* The closed loop's designated receiver of sender id: the next member of
 * its channel, wrapping round to the first. */
static inline uint32_t chat_designated(const chat_gen *g, uint32_t id) {
  uint32_t c = (uint32_t)g->o->channels;
  return id + c < (uint32_t)g->o->clients ? id + c : id % c;
}

/* chat.c */
void chat_error(chat_gen *g, int kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void chat_connect_more(chat_gen *g);
/* Send sender c's next message, stamped t_ns (on the clock of base_ns). */
void chat_send_next(chat_gen *g, chat_client *c, uint64_t t_ns);

/* chat_run.c */
void chat_all_ready(chat_gen *g); /* every client has joined: start */
void chat_setup_check(chat_gen *g); /* a client settled during setup */

#endif
