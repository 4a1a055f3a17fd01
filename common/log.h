/*
 * log.h - diagnostics to standard error, OpenSMTPD style.
 *
 * log_warn() appends strerror(errno), log_warnx() does not; both preserve
 * errno. log_debug() prints only when the verbosity is raised. There is no
 * fatal() here: library code returns errors, only main() exits.
 */
#ifndef RG_LOG_H
#define RG_LOG_H

void log_init(const char *progname, int verbose);
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_phase(const char *what);

#endif
