/*
 * log.h - diagnostics to standard error, OpenSMTPD style.
 *
 * log_warn() appends strerror(errno), log_warnx() does not; both preserve
 * errno. log_debug() prints only when the verbosity is raised. Lines carry
 * Postfix's severity words ("warning: ", "fatal: "); under systemd (stderr
 * is the journal, JOURNAL_STREAM) a "<N>" syslog priority prefix too.
 * log_fatal()/log_fatalx() only print the error that ends a command: they
 * do not exit (library code returns errors, only main() exits).
 */
#ifndef RG_LOG_H
#define RG_LOG_H

void log_init(const char *progname, int verbose);
/* log_to_syslog - from now on, lines go to syslog (mail) as IDENT[pid] */
void log_to_syslog(const char *ident);
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_phase(const char *what);

#endif
