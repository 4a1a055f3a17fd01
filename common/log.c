/*
 * log.c - diagnostics to standard error, one line each, with Postfix's
 * severity words: "relayguard: warning: ...", "relayguard: fatal: ..."
 * (informational and debugging lines have none, as in Postfix). Owns only
 * the program name, the verbosity and whether standard error is the
 * systemd journal: then each line starts with its syslog priority, "<3>"
 * fatal, "<4>" warning, "<6>" info, "<7>" debug (sd-daemon(3)), which
 * journald strips and stores as PRIORITY. Never fails: a write error on
 * stderr is ignored.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

enum log_sev { LOG_SEV_FATAL = 3, LOG_SEV_WARN = 4, LOG_SEV_INFO = 6,
    LOG_SEV_DEBUG = 7 };

static const char *log_prog = "relayguard";
static int log_verbose;
static int log_journal;
static int log_syslog_on;	/* log_to_syslog: lines go to syslog(3) */

/*
 * log_stderr_is_journal - JOURNAL_STREAM ("DEV:INODE", set by systemd for
 * a unit whose stderr is the journal) names the file on descriptor 2
 */
static int
log_stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char *end;

	if (js == NULL || *js == '\0')
		return 0;
	errno = 0;
	dev = strtoull(js, &end, 10);
	if (errno != 0 || *end != ':')
		return 0;
	ino = strtoull(end + 1, &end, 10);
	if (errno != 0 || *end != '\0')
		return 0;
	if (fstat(STDERR_FILENO, &st) != 0)
		return 0;
	return (unsigned long long)st.st_dev == dev
	    && (unsigned long long)st.st_ino == ino;
}

/* log_init - set the program name and the verbosity (0 quiet, 1 info, 2 debug) */
void
log_init(const char *progname, int verbose)
{
	int saved = errno;

	if (progname != NULL)
		log_prog = progname;
	log_verbose = verbose;
	log_journal = log_stderr_is_journal();
	errno = saved;
}

/*
 * log_to_syslog - send every line to syslog(3), facility mail, as IDENT
 * with the pid (a process whose stderr is not for diagnostics: Postfix's
 * spawn(8) connects it to the client)
 */
void
log_to_syslog(const char *ident)
{
	int saved = errno;

	openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
	log_syslog_on = 1;
	errno = saved;
}

/* log_vmsg - print one line: "[<P>]prog: [severity: ]message[: strerror]" */
static void
log_vmsg(enum log_sev sev, const char *fmt, va_list ap, int with_errno)
{
	int saved = errno;

	if (log_syslog_on) {
		char line[2048];

		vsnprintf(line, sizeof(line), fmt, ap);
		syslog(LOG_MAIL | (sev == LOG_SEV_FATAL ? LOG_ERR : sev
		    == LOG_SEV_WARN ? LOG_WARNING : sev == LOG_SEV_INFO
		    ? LOG_INFO : LOG_DEBUG), "%s%s%s%s", sev == LOG_SEV_FATAL
		    ? "fatal: " : sev == LOG_SEV_WARN ? "warning: " : "", line,
		    with_errno ? ": " : "", with_errno ? strerror(saved) : "");
		errno = saved;
		return;
	}
	if (log_journal)
		fprintf(stderr, "<%d>", (int)sev);
	fprintf(stderr, "%s: %s", log_prog, sev == LOG_SEV_FATAL ? "fatal: "
	    : sev == LOG_SEV_WARN ? "warning: " : "");
	vfprintf(stderr, fmt, ap);
	if (with_errno)
		fprintf(stderr, ": %s", strerror(saved));
	fputc('\n', stderr);
	errno = saved;
}

/* log_warn - a warning with the reason from errno */
void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_SEV_WARN, fmt, ap, 1);
	va_end(ap);
}

/* log_warnx - a warning without errno */
void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_SEV_WARN, fmt, ap, 0);
	va_end(ap);
}

/* log_fatal - the error that ends the command, with errno (the caller exits) */
void
log_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_SEV_FATAL, fmt, ap, 1);
	va_end(ap);
}

/* log_fatalx - the error that ends the command, without errno */
void
log_fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_SEV_FATAL, fmt, ap, 0);
	va_end(ap);
}

/* log_info - an informational line, shown from verbosity 1 */
void
log_info(const char *fmt, ...)
{
	va_list ap;

	if (log_verbose < 1)
		return;
	va_start(ap, fmt);
	log_vmsg(LOG_SEV_INFO, fmt, ap, 0);
	va_end(ap);
}

/* log_debug - a debugging line, shown from verbosity 2 */
void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (log_verbose < 2)
		return;
	va_start(ap, fmt);
	log_vmsg(LOG_SEV_DEBUG, fmt, ap, 0);
	va_end(ap);
}

/*
 * log_phase - at verbosity 2, how long the phase that ends here took (since
 * the previous call, or since the program started): "timing: WHAT 0.123 s"
 */
void
log_phase(const char *what)
{
	static struct timespec last;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (log_verbose >= 2 && what != NULL)
		log_debug("timing: %s %.3f s", what, (double)(now.tv_sec
		    - last.tv_sec) + (double)(now.tv_nsec - last.tv_nsec) / 1e9);
	last = now;
}
