/*
 * sd_dl.c - libsystemd (sd-daemon for common/notify.c, sd-journal for
 * collector/src_journal.c), loaded when first needed instead of at every
 * start. Linked, it brings libgcrypt, liblz4, libzstd, liblzma and libcap
 * into every run of relayguard, and only `collect` under systemd or with
 * a journal source calls it. An empty main() linked with it took 3.8 ms
 * of CPU to start, 2.1 ms without; with libxlsxwriter, libesmtp and
 * OpenSSL too (reports/xlsx_dl.c, reports/esmtp_dl.c), 6.6 ms.
 *
 * Each sd_* function relayguard calls is defined here with libsystemd's
 * own prototype (<systemd/sd-daemon.h>, <systemd/sd-journal.h>, so a
 * mismatch does not compile) and forwards to the library's, found with
 * dlsym on first use (common/dynlib.h). A new call elsewhere needs its
 * line here (the link fails without it); sd_notifyf, variadic, is not
 * forwarded (notify.c formats and calls sd_notify).
 *
 * Not under systemd ($NOTIFY_SOCKET, $WATCHDOG_USEC unset) sd_notify and
 * sd_watchdog_enabled return 0, as libsystemd does, without loading it.
 * Without libsystemd.so.0 they return 0 too (a warning with the loader's
 * reason when under systemd), and sd_journal_open and
 * sd_journal_open_directory return -ELIBACC ("Can not access a needed
 * shared library": src_journal.c says it cannot open the journal);
 * nothing else of sd-journal is reached without a journal.
 */
#ifndef RG_NO_JOURNAL

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include "dynlib.h"

#ifndef RG_SYSTEMD_SONAME
#define RG_SYSTEMD_SONAME "libsystemd.so.0"
#endif

static rg_dynlib sd = RG_DYNLIB(RG_SYSTEMD_SONAME, "systemd");

/* sd_notify - libsystemd's; 0 (not under systemd) without it */
int
sd_notify(int unset_environment, const char *state)
{
	if (getenv("NOTIFY_SOCKET") == NULL)
		return 0;
	{
		RG_DL_FN(&sd, sd_notify, f)
			return 0;
		return f(unset_environment, state);
	}
}

/* sd_watchdog_enabled - libsystemd's; 0 (no watchdog) without it */
int
sd_watchdog_enabled(int unset_environment, uint64_t *usec)
{
	if (getenv("WATCHDOG_USEC") == NULL)
		return 0;
	{
		RG_DL_FN(&sd, sd_watchdog_enabled, f)
			return 0;
		return f(unset_environment, usec);
	}
}

/* sd_journal_open - -ELIBACC without libsystemd */
int
sd_journal_open(sd_journal **ret, int flags)
{
	RG_DL_FN(&sd, sd_journal_open, f)
		return -ELIBACC;
	return f(ret, flags);
}

/* sd_journal_open_directory - -ELIBACC without libsystemd */
int
sd_journal_open_directory(sd_journal **ret, const char *path, int flags)
{
	RG_DL_FN(&sd, sd_journal_open_directory, f)
		return -ELIBACC;
	return f(ret, path, flags);
}

/* sd_journal_close - forwarded (a journal means libsystemd is loaded) */
void
sd_journal_close(sd_journal *j)
{
	RG_DL_FN(&sd, sd_journal_close, f)
		return;
	f(j);
}

/* sd_journal_add_match - forwarded */
int
sd_journal_add_match(sd_journal *j, const void *data, size_t size)
{
	RG_DL_FN(&sd, sd_journal_add_match, f)
		return -ELIBACC;
	return f(j, data, size);
}

/* sd_journal_add_disjunction - forwarded */
int
sd_journal_add_disjunction(sd_journal *j)
{
	RG_DL_FN(&sd, sd_journal_add_disjunction, f)
		return -ELIBACC;
	return f(j);
}

/* sd_journal_set_data_threshold - forwarded */
int
sd_journal_set_data_threshold(sd_journal *j, size_t sz)
{
	RG_DL_FN(&sd, sd_journal_set_data_threshold, f)
		return -ELIBACC;
	return f(j, sz);
}

/* sd_journal_get_fd - forwarded */
int
sd_journal_get_fd(sd_journal *j)
{
	RG_DL_FN(&sd, sd_journal_get_fd, f)
		return -ELIBACC;
	return f(j);
}

/* sd_journal_process - forwarded */
int
sd_journal_process(sd_journal *j)
{
	RG_DL_FN(&sd, sd_journal_process, f)
		return -ELIBACC;
	return f(j);
}

/* sd_journal_seek_head - forwarded */
int
sd_journal_seek_head(sd_journal *j)
{
	RG_DL_FN(&sd, sd_journal_seek_head, f)
		return -ELIBACC;
	return f(j);
}

/* sd_journal_seek_cursor - forwarded */
int
sd_journal_seek_cursor(sd_journal *j, const char *cursor)
{
	RG_DL_FN(&sd, sd_journal_seek_cursor, f)
		return -ELIBACC;
	return f(j, cursor);
}

/* sd_journal_test_cursor - forwarded */
int
sd_journal_test_cursor(sd_journal *j, const char *cursor)
{
	RG_DL_FN(&sd, sd_journal_test_cursor, f)
		return -ELIBACC;
	return f(j, cursor);
}

/* sd_journal_get_cursor - forwarded */
int
sd_journal_get_cursor(sd_journal *j, char **cursor)
{
	RG_DL_FN(&sd, sd_journal_get_cursor, f)
		return -ELIBACC;
	return f(j, cursor);
}

/* sd_journal_next - forwarded */
int
sd_journal_next(sd_journal *j)
{
	RG_DL_FN(&sd, sd_journal_next, f)
		return -ELIBACC;
	return f(j);
}

/* sd_journal_get_realtime_usec - forwarded */
int
sd_journal_get_realtime_usec(sd_journal *j, uint64_t *ret)
{
	RG_DL_FN(&sd, sd_journal_get_realtime_usec, f)
		return -ELIBACC;
	return f(j, ret);
}

/* sd_journal_restart_data - forwarded */
void
sd_journal_restart_data(sd_journal *j)
{
	RG_DL_FN(&sd, sd_journal_restart_data, f)
		return;
	f(j);
}

/* sd_journal_enumerate_available_data - forwarded */
int
sd_journal_enumerate_available_data(sd_journal *j, const void **data,
    size_t *l)
{
	RG_DL_FN(&sd, sd_journal_enumerate_available_data, f)
		return -ELIBACC;
	return f(j, data, l);
}

#endif /* RG_NO_JOURNAL */
