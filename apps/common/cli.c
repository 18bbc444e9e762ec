/* apps/common: what every tool's command line has in common. */
#include "common/cli.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#ifndef IOM_VERSION /* set by apps/common/CMakeLists.txt from project() */
#error "IOM_VERSION is not defined"
#endif

int app_version(const char *program) {
  printf("%s %s\n", program, IOM_VERSION);
  return 0;
}

int app_usage_error(const char *tool, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", tool);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "; try '%s --help'\n", tool);
  va_end(ap);
  return 2;
}

int app_bad_value(const char *tool, const char *option, const char *value) {
  return app_usage_error(tool, "bad value for --%s: '%s'", option, value);
}

int app_option_error(const char *tool, int c, char *const argv[]) {
  /* getopt_long() has stepped past a long option (and a missing value's
   * option), not always past a short one among others (-xv). */
  const char *arg = argv[optind - 1];
  if (c == ':')
    return app_usage_error(tool, "option '%s' needs a value", arg);
  if (!optopt) /* getopt_long() knows no such long option */
    return app_usage_error(tool, "unknown option '%s'", arg);
  const char *eq = strchr(arg, '=');
  if (strncmp(arg, "--", 2) == 0 && eq) /* --upper=1 */
    return app_usage_error(tool, "option '%.*s' takes no value",
                           (int)(eq - arg), arg);
  return app_usage_error(tool, "unknown option '-%c'", optopt);
}

int app_no_operands(const char *tool, int argc, char *const argv[]) {
  if (optind >= argc)
    return 0;
  return app_usage_error(tool, "unexpected argument '%s'", argv[optind]);
}
