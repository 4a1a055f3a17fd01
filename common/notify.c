/*
 * notify.c - sd_notify(3) for `collect --follow`: READY=1, STATUS=, and
 * the watchdog keep-alive (see notify.h). Owns two timestamps; no
 * allocation. libsystemd is loaded only under systemd (sd_dl.c: sd_notifyf
 * is not forwarded, the messages are formatted here). Built without
 * libsystemd (RG_NO_JOURNAL) every call is a no-op.
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#ifndef RG_NO_JOURNAL
#include <systemd/sd-daemon.h>
#endif

#include "notify.h"

#ifndef RG_NO_JOURNAL
static uint64_t wd_usec;	/* WatchdogSec=, 0: no watchdog */
static uint64_t last_wd, last_status;

/* mono_usec - CLOCK_MONOTONIC in microseconds */
static uint64_t
mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
#endif

/* rg_notify_ready - READY=1 and STATUS=status; learn the watchdog period */
void
rg_notify_ready(const char *status)
{
#ifndef RG_NO_JOURNAL
	char msg[256];

	if (sd_watchdog_enabled(0, &wd_usec) <= 0)
		wd_usec = 0;
	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status);
	sd_notify(0, msg);
	last_wd = last_status = mono_usec();
#else
	(void)status;
#endif
}

/* rg_notify_alive - one loop turn: WATCHDOG=1 and STATUS= when due */
void
rg_notify_alive(long long lines, unsigned long open_messages)
{
#ifndef RG_NO_JOURNAL
	uint64_t now = mono_usec();

	if (wd_usec > 0 && now - last_wd >= wd_usec / 2) {
		sd_notify(0, "WATCHDOG=1");
		last_wd = now;
	}
	if (now - last_status >= 5000000u) {
		char msg[128];

		snprintf(msg, sizeof(msg), "STATUS=following: %lld lines "
		    "read, %lu open messages", lines, open_messages);
		sd_notify(0, msg);
		last_status = now;
	}
#else
	(void)lines;
	(void)open_messages;
#endif
}

/* rg_notify_stopping - STOPPING=1: the last batch is being committed */
void
rg_notify_stopping(void)
{
#ifndef RG_NO_JOURNAL
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
#endif
}
