/* Internal allocation entry points: every allocation goes through the hook
 * that iom_set_allocator() installs (include/iomux/alloc.h). */
#ifndef IOMUX_ALLOC_INTERNAL_H
#define IOMUX_ALLOC_INTERNAL_H

#include <stddef.h>

void *iom__malloc(size_t size);
void *iom__calloc(size_t count, size_t size);
void iom__free(void *ptr);

/* Grow an array to hold at least `need` elements of `size` bytes, doubling
 * from `*cap` (or from `min_cap`). Returns 0 and updates *array and *cap, or
 * -ENOMEM leaving both unchanged. */
int iom__grow(void **array, int *cap, int need, size_t size, int min_cap);

/* The same for the tables indexed by fd (the selector's page directory, the
 * proactors' per-fd records): the new elements are zeroed. */
int iom__grow_zeroed(void **array, int *cap, int need, size_t size,
                     int min_cap);

#endif
