/* fuzz_irc: libFuzzer target for the IRC side of iomux-chatd.
 *
 * Each input is a script for four clients of one server: the input is cut
 * at each '\n', a piece's first byte picks the client (mod 4), and the rest
 * of the piece, with its '\n', goes in as bytes that client sent
 * (irc_feed: the same seam the stream's on_read uses). So the fuzzer drives
 * the framer, the parser (irc_parse), the dispatch table and every
 * command, across clients that share channels, with no network: the
 * clients are socketpairs whose far ends the target drains.
 *
 * The servers live across inputs (as real ones do); after each input the
 * loop runs without waiting, so drops are reaped, queues flushed and due
 * timers run, and clients the server closed are replaced by new ones.
 * Clients 0 and 1 share a server without flood control, so every line
 * runs; clients 2 and 3 share one with flood control on, --ping 1 and a
 * small send queue, so waiting lines, Excess Flood, the sweep's timeouts
 * and drops in the middle of the sweep run too.
 *
 *   make fuzz                          (FUZZ_SECONDS, default 60)
 *   build-fuzz/fuzz_irc FILE...          (replay inputs)
 */
#include "irc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CLIENTS 4

static iom_loop *loop;
static irc_server *servers[2];
static irc_client *clients[CLIENTS];
static int peers[CLIENTS]; /* our end of each client's socketpair */

static const chatd_opts opts[2] = {
    {.host = "127.0.0.1", .name = "fuzz.iomux", .max_clients = 100,
     .sendq = 1 << 20, .ping = 120, .flood = 0},
    {.host = "127.0.0.1", .name = "flood.iomux", .max_clients = 100,
     .sendq = 4096, .ping = 1, .flood = 1},
};

static void connect_client(int i) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    abort();
  fcntl(sv[0], F_SETFL, O_NONBLOCK);
  peers[i] = sv[0];
  clients[i] = irc_client_new(servers[i >= CLIENTS / 2], sv[1]);
  if (!clients[i])
    abort();
}

static void setup(void) {
  if (iom_loop_new(IOM_DEFAULT, &loop) < 0 ||
      irc_server_new(loop, &opts[0], &servers[0]) < 0 ||
      irc_server_new(loop, &opts[1], &servers[1]) < 0)
    abort();
  for (int i = 0; i < CLIENTS; i++)
    connect_client(i);
}

/* Read what the server sent; EOF means it closed (and freed) the client. */
static void drain(int i) {
  char buf[65536];
  for (;;) {
    ssize_t n = recv(peers[i], buf, sizeof buf, 0);
    if (n > 0)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
      return;
    close(peers[i]);
    peers[i] = -1;
    clients[i] = NULL;
    return;
  }
}

/* Let the loop reap, flush and close; replace the clients that ended. */
static void settle(void) {
  for (int round = 0; round < 4; round++) {
    iom_loop_run(loop, IOM_RUN_NOWAIT);
    for (int i = 0; i < CLIENTS; i++)
      if (peers[i] >= 0)
        drain(i);
  }
  for (int i = 0; i < CLIENTS; i++)
    if (peers[i] < 0)
      connect_client(i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!loop)
    setup();
  const char *p = (const char *)data, *end = p + size;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *stop = nl ? nl + 1 : end;
    irc_client *c = clients[(unsigned char)*p % CLIENTS];
    if (c && stop - p > 1)
      irc_feed(c, p + 1, (size_t)(stop - p - 1));
    p = stop;
  }
  settle();
  return 0;
}
