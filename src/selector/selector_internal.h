/* What the loop needs from the selector beyond the public API: functions
 * only. The key table and the backends' contract stay in backend.h, which
 * no other folder includes. */
#ifndef IOMUX_SELECTOR_INTERNAL_H
#define IOMUX_SELECTOR_INTERNAL_H

#include "iomux/selector.h"

/* The fd that becomes readable when the selector has something to report
 * (epoll's own fd), so another waiter can watch it; -1 when the backend has
 * none (select, poll). */
int iom__selector_fd(const iom_selector *sel);

#endif
