/*
 * log.c - diagnostics to standard error. Owns only the program name and the
 * verbosity. Never fails: a write error on stderr is ignored.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

static const char *log_prog = "relayguard";
static int log_verbose;

/* log_init - set the program name and the verbosity (0 quiet, 1 info, 2 debug) */
void
log_init(const char *progname, int verbose)
{
	if (progname != NULL)
		log_prog = progname;
	log_verbose = verbose;
}

/* log_vmsg - print one line: "prog: message[: strerror]" */
static void
log_vmsg(const char *fmt, va_list ap, int with_errno)
{
	int saved = errno;

	fprintf(stderr, "%s: ", log_prog);
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
	log_vmsg(fmt, ap, 1);
	va_end(ap);
}

/* log_warnx - a warning without errno */
void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(fmt, ap, 0);
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
	log_vmsg(fmt, ap, 0);
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
	log_vmsg(fmt, ap, 0);
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
