/* Signals as ordinary callbacks on the loop thread.
 *
 * A process has one disposition per signal, and loops may live on several
 * threads, so the watchers of each signal are kept in one process-wide list.
 * The handler, which may run on any thread, walks that list, marks each
 * watcher caught and wakes its loop (iom__wake: one write, async-signal-
 * safe); the loop then calls the caught watchers on its own thread. The mark
 * is per watcher, and start and stop clear it, so a delivery reaches exactly
 * the watchers that were started when the signal came, once each.
 *
 * The list is guarded by a spin lock that is taken only with every signal
 * blocked in the taking thread (and the handler runs with every signal
 * blocked), so the handler can never spin on a lock its own thread holds.
 * The handler is installed when a signal's first watcher starts, and the
 * previous disposition put back when its last watcher stops.
 */
#include "loop_impl.h"

#include "../core/alloc_internal.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

static struct {
  atomic_flag lock;
  iom_signal *watchers[IOM__NSIG];
  struct sigaction previous[IOM__NSIG];
} registry = {.lock = ATOMIC_FLAG_INIT};

static void registry_lock(void) {
  while (atomic_flag_test_and_set_explicit(&registry.lock,
                                           memory_order_acquire))
    ;
}

static void registry_unlock(void) {
  atomic_flag_clear_explicit(&registry.lock, memory_order_release);
}

static void on_signal(int signo) {
  registry_lock();
  for (iom_signal *w = registry.watchers[signo]; w; w = w->next_global) {
    atomic_store(&w->caught, 1);
    iom__wake(w->loop);
  }
  registry_unlock();
}

/* Add or remove a watcher from the process-wide list, installing or
 * restoring the handler as the list becomes non-empty or empty. */
static int registry_change(iom_signal *w, int signo, int add) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  registry_lock();
  int err = 0;
  iom_signal **head = &registry.watchers[signo];
  if (add) {
    if (!*head) {
      struct sigaction sa;
      memset(&sa, 0, sizeof sa);
      sa.sa_handler = on_signal;
      sa.sa_flags = SA_RESTART;
      sigfillset(&sa.sa_mask);
      if (sigaction(signo, &sa, &registry.previous[signo]) < 0)
        err = -errno;
    }
    if (!err) {
      w->next_global = *head;
      *head = w;
    }
  } else {
    while (*head != w)
      head = &(*head)->next_global;
    *head = w->next_global;
    if (!registry.watchers[signo])
      sigaction(signo, &registry.previous[signo], NULL);
  }
  registry_unlock();
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return err;
}

int iom_signal_new(iom_loop *loop, iom_signal_cb cb, void *data,
                   iom_signal **out) {
  iom_signal *w = iom__calloc(1, sizeof *w);
  if (!w)
    return -ENOMEM;
  atomic_init(&w->caught, 0);
  w->loop = loop;
  w->cb = cb;
  w->data = data;
  iom__loop_walk_add(loop, &w->walk, IOM_HANDLE_SIGNAL, w);
  loop->handles++;
  *out = w;
  return 0;
}

int iom_signal_start(iom_signal *w, int signo) {
  if (signo <= 0 || signo >= IOM__NSIG || signo == SIGKILL || signo == SIGSTOP)
    return -EINVAL;
  if (w->signo)
    return w->signo == signo ? 0 : -EBUSY;
  int err = registry_change(w, signo, 1);
  if (err < 0)
    return err;
  iom_loop *loop = w->loop;
  w->signo = signo;
  atomic_store(&w->caught, 0);
  iom__list_push_back(&loop->signals, &w->link);
  loop->active++;
  return 0;
}

void iom_signal_stop(iom_signal *w) {
  if (!w->signo)
    return;
  registry_change(w, w->signo, 0);
  atomic_store(&w->caught, 0);
  iom__list_remove(&w->link);
  w->signo = 0;
  w->loop->active--;
}

void iom_signal_free(iom_signal *w) {
  if (!w)
    return;
  iom_signal_stop(w);
  iom__loop_walk_remove(&w->walk);
  w->loop->handles--;
  iom__free(w);
}

/* Call the watchers caught since the last call, once each. A callback may
 * stop, free or start any watcher (list.h's walk); a watcher started (or
 * restarted) meanwhile is not caught. */
void iom__signals_dispatch(iom_loop *loop) {
  iom__list rest, *node;
  iom__list_move(&loop->signals, &rest);
  while ((node = iom__list_walk_next(&loop->signals, &rest))) {
    iom_signal *w = iom__list_entry(node, iom_signal, link);
    if (atomic_exchange(&w->caught, 0))
      w->cb(w, w->signo, w->data);
  }
}
