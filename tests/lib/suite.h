/* The shared main of the cmocka suites: each case runs in its own process
 * with its own time limit, and a case that hangs is named, killed and failed
 * while the others still run. Why processes and not a watchdog thread: see
 * the comment at the top of suite.c.
 *
 *   static const suite_case cases[] = {
 *       SUITE_CASE(test_read_ready),
 *       SUITE_CASE_FIXTURES(test_modify, setup, teardown),
 *       SUITE_CASE_LIMIT(test_many_fds, 60), // legitimately long
 *   };
 *   int main(int argc, char **argv) {
 *     return SUITE_MAIN_PER_BACKEND(argc, argv, "selector", cases);
 *   }
 *
 * Usage of such a program: `prog select|poll|epoll [case-pattern]`; exit 77
 * when this machine lacks the backend (CTest's SKIP_RETURN_CODE). The
 * pattern is cmocka's test filter (* and ? wildcards).
 *
 * Environment: IOM_TEST_NOFORK=1 runs every case in this process, as plain
 * cmocka does, with no time limits (for a debugger); IOM_TEST_TIME_SCALE=N
 * multiplies every limit (valgrind, a loaded machine); IOM_TEST_TIMES=1
 * prints how long each case took (to choose a limit). */
#ifndef IOMUX_SUITE_H
#define IOMUX_SUITE_H

#include "iomux/selector.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* A case's limit when it names none, in seconds. A passing case takes
 * milliseconds, the slowest a few seconds under ThreadSanitizer: the limit
 * only catches a case that would never end. */
#define SUITE_LIMIT_DEFAULT_S 30

typedef struct suite_case {
  const char *name;
  CMUnitTestFunction fn;
  CMFixtureFunction setup, teardown; /* NULL: none */
  unsigned limit_s;                  /* 0: SUITE_LIMIT_DEFAULT_S */
} suite_case;

#define SUITE_CASE(f)                                                          \
  { #f, f, NULL, NULL, 0 }
#define SUITE_CASE_FIXTURES(f, su, td)                                         \
  { #f, f, su, td, 0 }
#define SUITE_CASE_LIMIT(f, seconds)                                           \
  { #f, f, NULL, NULL, seconds }

/* The backend named on the command line, set before any case runs. */
extern iom_backend suite_backend;

/* Runs `cases` as the cmocka group "<name>.<backend>" on the backend named by
 * argv[1]; argv[2], if given, picks the cases to run. Returns main's exit
 * code: 0 all passed (or skipped), 77 no such backend here, 2 bad usage,
 * otherwise the number of cases that failed. */
int suite_main_per_backend(int argc, char **argv, const char *name,
                           const suite_case *cases, size_t n);

/* Runs `cases` as the cmocka group `group`, for suites with no backend;
 * `only`, if not NULL, is a case pattern. Returns the number of failures. */
int suite_run(const char *group, const suite_case *cases, size_t n,
              const char *only);

#define SUITE_MAIN_PER_BACKEND(argc, argv, name, cases)                        \
  suite_main_per_backend(argc, argv, name, cases,                              \
                         sizeof(cases) / sizeof((cases)[0]))
#define SUITE_RUN(group, cases, only)                                          \
  suite_run(group, cases, sizeof(cases) / sizeof((cases)[0]), only)

#endif
