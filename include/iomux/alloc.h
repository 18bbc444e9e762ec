/* iomux: memory allocation hook.
 *
 * Every allocation the library makes goes through these four functions, so an
 * application can count, pool or fail them (tests use this to fail each call
 * site in turn). Same contract as libuv's uv_replace_allocator.
 */
#ifndef IOMUX_ALLOC_H
#define IOMUX_ALLOC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void *(*iom_malloc_fn)(size_t size);
typedef void *(*iom_realloc_fn)(void *ptr, size_t size);
typedef void *(*iom_calloc_fn)(size_t count, size_t size);
typedef void (*iom_free_fn)(void *ptr);

/* Replace the allocator. The functions must behave like their C library
 * namesakes (realloc(NULL, n) allocates; free(NULL) does nothing).
 * Call it before any other iomux function, or when no iomux object is alive:
 * memory must be freed by the allocator that gave it. Not thread-safe.
 * Returns 0, or -EINVAL if any function is NULL (nothing changes then). */
int iom_set_allocator(iom_malloc_fn malloc_fn, iom_realloc_fn realloc_fn,
                      iom_calloc_fn calloc_fn, iom_free_fn free_fn);

#ifdef __cplusplus
}
#endif

#endif
