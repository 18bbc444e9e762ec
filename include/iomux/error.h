/* iomux: errors.
 *
 * Every iomux function that can fail returns a negative errno value
 * (-EEXIST, -ENOENT, ...) and leaves the global errno alone. The library
 * never prints and never exits; these helpers turn a code into text for the
 * caller to show.
 */
#ifndef IOMUX_ERROR_H
#define IOMUX_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* A short English description of `err` (negative or positive errno), such as
 * "file descriptor already registered". Never NULL; the string is static and
 * may be used from any thread. Unknown codes give "unknown error". */
const char *iom_strerror(int err);

/* The symbolic name of `err`, such as "EEXIST"; "UNKNOWN" when unknown.
 * Static, thread-safe. */
const char *iom_err_name(int err);

#ifdef __cplusplus
}
#endif

#endif
