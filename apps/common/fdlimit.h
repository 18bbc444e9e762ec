/* apps/common: the open-file limit (RLIMIT_NOFILE).
 *
 * A fresh machine's soft limit is often 1,024 descriptors while the hard
 * limit is far higher; a program that wants thousands of connections raises
 * its soft limit itself, and the processes it starts inherit the result. */
#ifndef IOMUX_APP_FDLIMIT_H
#define IOMUX_APP_FDLIMIT_H

/* Raise this process's soft RLIMIT_NOFILE to its hard limit if the soft
 * limit is below `need` (pass LONG_MAX to raise it whatever it is).
 * Returns 1 when setrlimit() was called and succeeded (compare *was and
 * *now: the soft limit may have been the hard one already); 0 when nothing
 * was needed (the soft limit was already >= need) or setrlimit() refused;
 * -errno when getrlimit() failed. Unless it returns -errno, *was gets the
 * soft limit before and *now the one in force after (read again); either
 * pointer may be NULL. Prints nothing: the caller says what it means.
 * Call it from main, before other threads open files. */
int app_raise_fd_limit(long need, long *was, long *now);

#endif
