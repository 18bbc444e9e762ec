/* http_get: download one URL with the HTTP client (include/iomux/http.h)
 * and write its body to stdout, the status line to stderr. Redirects are
 * followed; https works when the library was built with OpenSSL.
 *
 * The client runs on the loop: the name is resolved on a worker thread,
 * then connecting, TLS, sending and the response's bytes are callbacks.
 *
 *   cc -o http_get http_get.c $(pkg-config --cflags --libs iomux)
 *   ./http_get https://example.com/ > page.html
 */
#include <iomux/error.h>
#include <iomux/http.h>
#include <iomux/loop.h>

#include <stdio.h>

struct result {
  iom_loop *loop;
  int err;
};

static void on_response(iom_http_req *req, const iom_http_response *resp,
                        void *data) {
  (void)req;
  (void)data;
  fprintf(stderr, "HTTP/1.%d %d %s\n", resp->version % 10, resp->status,
          resp->reason);
}

static void on_body(iom_http_req *req, const char *buf, size_t len,
                    void *data) {
  (void)req;
  (void)data;
  fwrite(buf, 1, len, stdout);
}

static void on_done(iom_http_req *req, int err, void *data) {
  struct result *r = data;
  if (err < 0)
    fprintf(stderr, "http_get: %s %s\n", iom_strerror(err),
            iom_http_req_reason(req));
  r->err = err;
  iom_loop_stop(r->loop); /* the client keeps the connection for reuse */
}

static const iom_http_req_cbs cbs = {
    .on_response = on_response,
    .on_body = on_body,
    .on_done = on_done,
};

int main(int argc, char **argv) {
  struct result r = {0};
  iom_http_client *client;
  int err;
  if (argc != 2) {
    fprintf(stderr, "usage: http_get URL\n");
    return 2;
  }
  if ((err = iom_loop_new(IOM_DEFAULT, &r.loop)) < 0 ||
      (err = iom_http_client_new(r.loop, NULL, &client)) < 0 ||
      (err = iom_http_get(client, argv[1], &cbs, &r, NULL)) < 0) {
    fprintf(stderr, "http_get: %s\n", iom_strerror(err));
    return 1;
  }
  if ((err = iom_loop_run(r.loop, IOM_RUN_DEFAULT)) < 0)
    r.err = err;
  /* The client's connections close on the next loop turns. */
  iom_http_client_free(client);
  iom_loop_run(r.loop, IOM_RUN_DEFAULT);
  iom_loop_free(r.loop);
  return r.err < 0;
}
