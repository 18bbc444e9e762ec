/* apps/common: what every tool's command line has in common.
 *
 * One wording for all of them. Each message starts with the tool's name as
 * the user typed the command ("iomux-echo", "iomux-bench load"); a usage
 * error is one line on stderr that ends with "try '<tool> --help'", and
 * exit status 2. The functions return the exit status, so a parser can
 * `return app_usage_error(...)`. Main thread, while parsing options. */
#ifndef IOMUX_APP_CLI_H
#define IOMUX_APP_CLI_H

/* Print "<program> <version>" on stdout: the project's version, given by
 * CMake's project(). Returns 0. */
int app_version(const char *program);

/* "<tool>: <fmt, ...>; try '<tool> --help'" on stderr. Returns 2. */
int app_usage_error(const char *tool, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "<tool>: bad value for --<option>: '<value>'; try ...". Returns 2. */
int app_bad_value(const char *tool, const char *option, const char *value);

/* Name what getopt_long() could not take. Call it when it returned ':' (a
 * value is missing) or '?' (an unknown or ambiguous option, or a value
 * given to one that takes none), with opterr = 0 and the short options
 * starting with ':'. Returns 2. */
int app_option_error(const char *tool, int c, char *const argv[]);

/* Refuse, by name, the first argument left after the options (getopt_long
 * moves them to argv[optind..]). Returns 2 if there is one, else 0. */
int app_no_operands(const char *tool, int argc, char *const argv[]);

#endif
