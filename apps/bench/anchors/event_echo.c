/* event_echo: a TCP echo server on libevent, the bufferevent server as most
 * of its users write one (the book's and the samples' shape).
 *
 * A yardstick for iomux-bench: an evconnlistener accepts, each client gets
 * a bufferevent, and the read callback moves everything that arrived into
 * the output buffer with evbuffer_add_buffer (no copy: the chains move);
 * libevent writes it out when the socket is writable. That is libevent's
 * own cost and left as it is: per message it asks FIONREAD before each
 * read, allocates a new input chain for the next read, and turns write
 * interest on and then off again (two epoll_ctl), writing one loop turn
 * later. Reads are allowed up to 64 KiB at a time (libevent's default is
 * 16 KiB), the size iomux's streams read with. The water marks are the
 * iomux reactor model's: above 64 KiB of output the client is not read
 * from until it is down to 16 KiB.
 *
 * usage: event_echo --port P   (0: pick a port and print it on one line)
 * Listens on 127.0.0.1; SIGINT or SIGTERM ends it with status 0.
 */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define READ_SIZE (64 * 1024)
#define HIGH_WATER (64 * 1024)
#define LOW_WATER (16 * 1024)

static void echo_write_cb(struct bufferevent *bev, void *ctx);

static void echo_read_cb(struct bufferevent *bev, void *ctx) {
  (void)ctx;
  struct evbuffer *output = bufferevent_get_output(bev);
  evbuffer_add_buffer(output, bufferevent_get_input(bev));
  if (evbuffer_get_length(output) > HIGH_WATER) {
    /* The client is not reading: wait for the output to drain. */
    bufferevent_disable(bev, EV_READ);
    bufferevent_setwatermark(bev, EV_WRITE, LOW_WATER, 0);
    bufferevent_setcb(bev, echo_read_cb, echo_write_cb, NULL, NULL);
  }
}

/* Called once the output is down to the low-water mark, while paused. */
static void echo_write_cb(struct bufferevent *bev, void *ctx) {
  (void)ctx;
  bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
  bufferevent_setcb(bev, echo_read_cb, NULL, NULL, NULL);
  bufferevent_enable(bev, EV_READ);
}

static void echo_event_cb(struct bufferevent *bev, short events, void *ctx) {
  (void)ctx;
  if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
    bufferevent_free(bev);
}

static void accept_cb(struct evconnlistener *listener, evutil_socket_t fd,
                      struct sockaddr *addr, int socklen, void *ctx) {
  (void)addr;
  (void)socklen;
  (void)ctx;
  struct event_base *base = evconnlistener_get_base(listener);
  struct bufferevent *bev =
      bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
  if (!bev) {
    evutil_closesocket(fd);
    return;
  }
  bufferevent_setcb(bev, echo_read_cb, NULL, echo_event_cb, NULL);
  bufferevent_set_max_single_read(bev, READ_SIZE);
  bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void signal_cb(evutil_socket_t sig, short events, void *ctx) {
  (void)sig;
  (void)events;
  event_base_loopbreak(ctx);
}

static int parse_port(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--port") == 0) {
    char *end;
    long port = strtol(argv[2], &end, 10);
    if (*argv[2] && !*end && port >= 0 && port <= 65535)
      return (int)port;
  }
  fprintf(stderr, "usage: %s --port P   (0: pick one and print it)\n",
          argv[0]);
  return -1;
}

static void print_port(struct evconnlistener *listener) {
  struct sockaddr_in addr;
  socklen_t len = sizeof addr;
  if (getsockname(evconnlistener_get_fd(listener), (struct sockaddr *)&addr,
                  &len) == 0) {
    printf("%d\n", ntohs(addr.sin_port));
    fflush(stdout);
  }
}

int main(int argc, char **argv) {
  int port = parse_port(argc, argv);
  if (port < 0)
    return 2;
  signal(SIGPIPE, SIG_IGN); /* as libevent's samples do */
  struct event_base *base = event_base_new();
  struct sockaddr_in sin = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  /* The backlog is the other servers' SOMAXCONN; libevent's default (-1)
   * is 128, which a burst of 1,000 connects overflows. */
  struct evconnlistener *listener = evconnlistener_new_bind(
      base, accept_cb, NULL,
      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE,
      SOMAXCONN, (struct sockaddr *)&sin, sizeof sin);
  if (!base || !listener) {
    perror("event_echo: listen");
    return 1;
  }
  if (port == 0)
    print_port(listener);
  struct event *sigint_ev = evsignal_new(base, SIGINT, signal_cb, base);
  struct event *sigterm_ev = evsignal_new(base, SIGTERM, signal_cb, base);
  event_add(sigint_ev, NULL);
  event_add(sigterm_ev, NULL);
  event_base_dispatch(base);
  event_free(sigint_ev);
  event_free(sigterm_ev);
  evconnlistener_free(listener);
  event_base_free(base);
  return 0;
}
