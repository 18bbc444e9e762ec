/* The allocation hook: the library's only route to the heap. */
#include "iomux/alloc.h"
#include "alloc_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>

static struct {
  iom_malloc_fn malloc_fn;
  iom_realloc_fn realloc_fn;
  iom_calloc_fn calloc_fn;
  iom_free_fn free_fn;
} allocator = {malloc, realloc, calloc, free};

int iom_set_allocator(iom_malloc_fn malloc_fn, iom_realloc_fn realloc_fn,
                      iom_calloc_fn calloc_fn, iom_free_fn free_fn) {
  if (!malloc_fn || !realloc_fn || !calloc_fn || !free_fn)
    return -EINVAL;
  allocator.malloc_fn = malloc_fn;
  allocator.realloc_fn = realloc_fn;
  allocator.calloc_fn = calloc_fn;
  allocator.free_fn = free_fn;
  return 0;
}

void *iom__malloc(size_t size) { return allocator.malloc_fn(size); }

void *iom__calloc(size_t count, size_t size) {
  return allocator.calloc_fn(count, size);
}

void iom__free(void *ptr) {
  if (ptr)
    allocator.free_fn(ptr);
}

int iom__grow(void **array, int *cap, int need, size_t size, int min_cap) {
  if (need <= *cap)
    return 0;
  int new_cap = *cap > 0 ? *cap : min_cap;
  while (new_cap < need) {
    if (new_cap > INT_MAX / 2)
      return -ENOMEM;
    new_cap *= 2;
  }
  if ((size_t)new_cap > SIZE_MAX / size)
    return -ENOMEM;
  void *p = allocator.realloc_fn(*array, (size_t)new_cap * size);
  if (!p)
    return -ENOMEM;
  *array = p;
  *cap = new_cap;
  return 0;
}

int iom__grow_zeroed(void **array, int *cap, int need, size_t size,
                     int min_cap) {
  int old = *cap;
  int err = iom__grow(array, cap, need, size, min_cap);
  if (err == 0 && *cap > old)
    memset((char *)*array + (size_t)old * size, 0,
           (size_t)(*cap - old) * size);
  return err;
}
