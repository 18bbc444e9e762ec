/* chat_cluster: iomux-chatd --cluster end to end, against a real
 * redis-server and real chatd processes, all on loopback, started and
 * stopped by each case (chat_harness.c drives the chatd processes and the
 * raw-socket clients).
 *
 * The shared parts: the network (a redis-server on a free port, up to
 * three chatd nodes on it) and the crowd (many clients read with one
 * poll(), each line checked as it comes: messages "S<id> <seq>" exactly
 * once and in order per sender, JOIN ends, QUITs, the outage NOTICEs).
 */
#ifndef CHAT_CLUSTER_H
#define CHAT_CLUSTER_H

#include "chat_harness.h"

#include <poll.h>
#include <stdint.h>
#include <sys/types.h>

#define NODES_MAX 3

typedef struct cluster {
  pid_t redis;
  int port; /* redis's */
  char dir[64];
  chat_srv node[NODES_MAX];
  int nodes;
} cluster;

extern const char *redis_server_path;

/* A redis-server on a free loopback port, in a temporary directory. */
int redis_up(cluster *k);
/* Start it again on the same port (after redis_kill). */
int redis_restart(cluster *k);
void redis_kill(cluster *k);
/* SIGSTOP / SIGCONT. */
void redis_freeze(cluster *k, int frozen);

/* Start node i: iomux-chatd --cluster redis://127.0.0.1:PORT --node-id nI
 * plus extra args (NULL-terminated, or NULL). */
int node_up(cluster *k, int i, const char *const *extra);
/* Redis and n nodes (flood control off). */
int cluster_up(cluster *k, int n);
/* SIGTERM every node still running (1 if each exited 0), stop Redis. */
int cluster_down(cluster *k);

/* ---- the crowd ------------------------------------------------------------- */

typedef struct peer {
  tc *c;
  int id, node;
  int joins;          /* 366s seen */
  int down, back;     /* the outage NOTICEs seen */
  int got, bad;       /* messages counted; wrong ones */
  uint64_t *seen;     /* per sender: the seqs received (bit per seq < 64) */
  int *last;          /* per sender: the last seq received, -1 */
  int quits;          /* QUIT lines */
  unsigned char *quit_of; /* per peer id: QUITs of u<id> seen */
  char quit[256];     /* the last QUIT line */
} peer;

typedef struct crowd {
  peer *p;
  int n;
  struct pollfd *pfd;
} crowd;

/* n clients, u<first>..; peer i connects to node i % nodes. */
int crowd_new(crowd *cr, int n);
void crowd_free(crowd *cr);
/* Connect and register u<id> on its node's port, then JOIN each of the
 * channels `joins` gives it (NULL: none) and wait for all the 366s (or the
 * end of the welcome when none). */
int crowd_start(crowd *cr, const cluster *k,
                const char *(*joins)(int id, int k), int nchans);
/* Read for up to ms or until done(cr) says so; returns done(cr). */
int crowd_pump(crowd *cr, int ms, int (*done)(const crowd *cr));
/* Send "PRIVMSG <chan> :S<id> <seq>" for seq in [from, to). */
int peer_say(peer *p, const char *chan, int from, int to);

extern int crowd_expect_n; /* what crowd_got_all waits for, per peer */
int crowd_got_all(const crowd *cr);

/* ---- the groups -------------------------------------------------------------- */

extern const chat_case cluster_load_cases[], cluster_dir_cases[],
    cluster_death_cases[], cluster_restart_cases[], cluster_freeze_cases[],
    cluster_link_cases[];

#endif
