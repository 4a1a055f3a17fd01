/*
 * logline.h - split one log line into timestamp, host, program, pid and
 * message, whatever the syslog flavour.
 *
 * Understood: classic syslog ("Nov  8 14:42:07 host prog[pid]: msg"),
 * Postfix's maillog_file (zero-padded day), journalctl -o short-precise
 * (fraction), RFC 3339 / ISO 8601 stamps with fraction and "Z", "+01:00" or
 * "+0100" (journalctl -o short-iso, rsyslog's high-precision format), a
 * leading "<PRI>", RFC 5424 ("<PRI>1 STAMP HOST APP PROCID MSGID SD MSG"),
 * and rspamd's own log ("2025-02-15 03:53:31 #1576(normal) <id>; ...").
 *
 * Year-less stamps take the year from the context: the year given, or the
 * reference time (the file's mtime) with lines of a later month than the
 * reference read as last year; a December followed by a January rolls the
 * year. Zone-less stamps are local time (the process zone).
 *
 * The fields point into the caller's line: valid as long as it is.
 */
#ifndef RG_LOGLINE_H
#define RG_LOGLINE_H

#include <stddef.h>
#include <time.h>

#include "../common/rgtime.h"

enum ll_format {
	LLF_NONE, LLF_BSD, LLF_ISO, LLF_RFC5424, LLF_RSPAMD
};

typedef struct logline {
	rg_usec ts;
	enum ll_format format;
	const char *host;
	size_t hostlen;
	const char *prog;	/* "postfix/submission/smtpd" */
	size_t proglen;
	const char *daemon;	/* "smtpd": the last part of prog */
	size_t daemonlen;
	long pid;		/* -1 if none */
	const char *msg;
	size_t msglen;
} logline;

typedef struct ll_ctx {
	int fixed_year;		/* 0: from ref_time */
	time_t ref_time;	/* the file's mtime */
	int year;		/* year of the current BSD stamps, 0 before the first */
	int last_month;
	tz_conv tc;
	char cache_key[32];	/* the last BSD stamp text, and its time */
	size_t cache_len;
	rg_usec cache_ts;
	/* the host of the line before (a relay's lines carry one host) */
	char host[64];
	size_t hostlen;		/* 0: none */
} ll_ctx;

void ll_init(ll_ctx *c, int fixed_year, time_t ref_time);
int ll_parse(ll_ctx *c, const char *line, size_t len, logline *out);

#endif
