/* Timers: a binary min-heap of timer pointers ordered by (deadline, seq).
 *
 * The heap's array is grown when a timer is made, never when one starts, so
 * iom_timer_start cannot fail. seq is a counter taken at each start: equal
 * deadlines fire in start order. Deadlines are absolute ns on the monotonic
 * clock, taken from a fresh clock read at start; a timer runs only when the
 * loop's clock has reached its deadline, so it never fires early.
 */
#include "loop_impl.h"

#include "../core/alloc_internal.h"
#include "../core/clock.h"

#include <errno.h>
#include <limits.h>

static int before(const iom_timer *a, const iom_timer *b) {
  return a->deadline < b->deadline ||
         (a->deadline == b->deadline && a->seq < b->seq);
}

static void heap_place(iom_loop *loop, int i, iom_timer *t) {
  loop->heap[i] = t;
  t->heap_index = i;
}

static void sift_up(iom_loop *loop, int i) {
  iom_timer *t = loop->heap[i];
  while (i > 0) {
    int parent = (i - 1) / 2;
    if (!before(t, loop->heap[parent]))
      break;
    heap_place(loop, i, loop->heap[parent]);
    i = parent;
  }
  heap_place(loop, i, t);
}

static void sift_down(iom_loop *loop, int i) {
  iom_timer *t = loop->heap[i];
  for (;;) {
    int child = 2 * i + 1;
    if (child >= loop->nheap)
      break;
    if (child + 1 < loop->nheap && before(loop->heap[child + 1], loop->heap[child]))
      child++;
    if (!before(loop->heap[child], t))
      break;
    heap_place(loop, i, loop->heap[child]);
    i = child;
  }
  heap_place(loop, i, t);
}

static void heap_remove(iom_loop *loop, iom_timer *t) {
  int i = t->heap_index;
  iom_timer *last = loop->heap[--loop->nheap];
  t->heap_index = -1;
  if (last == t)
    return;
  heap_place(loop, i, last);
  if (i > 0 && before(last, loop->heap[(i - 1) / 2]))
    sift_up(loop, i);
  else
    sift_down(loop, i);
}

int iom_timer_new(iom_loop *loop, iom_timer_cb cb, void *data,
                  iom_timer **out) {
  void *heap = loop->heap;
  if (iom__grow(&heap, &loop->heap_cap, loop->ntimers + 1, sizeof *loop->heap,
                16) < 0)
    return -ENOMEM;
  loop->heap = heap;
  iom_timer *t = iom__malloc(sizeof *t);
  if (!t)
    return -ENOMEM;
  *t = (iom_timer){.loop = loop, .heap_index = -1, .cb = cb, .data = data};
  iom__loop_walk_add(loop, &t->walk, IOM_HANDLE_TIMER, t);
  loop->ntimers++;
  loop->handles++;
  *out = t;
  return 0;
}

void iom_timer_free(iom_timer *t) {
  if (!t)
    return;
  iom_timer_stop(t);
  iom__loop_walk_remove(&t->walk);
  t->loop->ntimers--;
  t->loop->handles--;
  iom__free(t);
}

static uint64_t ms_to_ns(uint64_t ms) {
  return ms > UINT64_MAX / 1000000u ? UINT64_MAX : ms * 1000000u;
}

static uint64_t add_sat(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

void iom_timer_start(iom_timer *t, uint64_t timeout_ms, uint64_t repeat_ms) {
  iom_loop *loop = t->loop;
  if (t->heap_index >= 0)
    heap_remove(loop, t);
  else
    loop->active++;
  t->deadline = add_sat(iom__now_ns(), ms_to_ns(timeout_ms));
  t->repeat = ms_to_ns(repeat_ms);
  t->seq = loop->timer_seq++;
  heap_place(loop, loop->nheap++, t);
  sift_up(loop, t->heap_index);
}

void iom_timer_stop(iom_timer *t) {
  if (t->heap_index < 0)
    return;
  heap_remove(t->loop, t);
  t->loop->active--;
}

int iom_timer_active(const iom_timer *t) { return t->heap_index >= 0; }

/* A repeating timer's next deadline: the first tick after `now`, so ticks
 * missed while the loop was blocked are skipped rather than run in a burst. */
static uint64_t next_tick(const iom_timer *t, uint64_t now) {
  uint64_t next = add_sat(t->deadline, t->repeat);
  if (next > now)
    return next;
  uint64_t missed = (now - next) / t->repeat + 1;
  return add_sat(next, missed * t->repeat);
}

/* Run the timers due by the loop's clock. Timers started during this
 * iteration (seq >= timer_limit) wait for the next one, so a timer restarted
 * with timeout 0 from its own callback runs once per iteration. */
void iom__timers_run(iom_loop *loop) {
  while (loop->nheap > 0) {
    iom_timer *t = loop->heap[0];
    if (t->deadline > loop->now || t->seq >= loop->timer_limit)
      break;
    loop->lag_last = loop->now - t->deadline;
    if (loop->lag_last > loop->lag_max)
      loop->lag_max = loop->lag_last;
    if (t->repeat) {
      t->deadline = next_tick(t, loop->now);
      t->seq = loop->timer_seq++;
      sift_down(loop, 0);
    } else {
      heap_remove(loop, t);
      loop->active--;
    }
    loop->ran++;
    t->cb(t, t->data);
  }
}

int iom__timers_timeout(const iom_loop *loop) {
  if (loop->nheap == 0)
    return -1;
  uint64_t deadline = loop->heap[0]->deadline;
  if (deadline <= loop->now)
    return 0;
  uint64_t ms = (deadline - loop->now + 999999) / 1000000;
  return ms > INT_MAX ? INT_MAX : (int)ms;
}
