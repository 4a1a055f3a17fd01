/* test_logline.c - every syslog flavour, years and zones */
#include <stdlib.h>
#include <string.h>

#include "../../collector/logline.h"
#include "unit.h"

static char got[128];

/* one line: its time as RFC 3339, or "-" if it did not parse */
static const char *
stamp(ll_ctx *c, const char *line, logline *ll)
{
	if (ll_parse(c, line, strlen(line), ll) != 0)
		return "-";
	rgt_format(got, ll->ts);
	return got;
}

static int
sl_is(const char *p, size_t n, const char *want)
{
	return strlen(want) == n && memcmp(p, want, n) == 0;
}

static void
formats(void)
{
	ll_ctx c;
	logline ll;

	ll_init(&c, 2025, 0);
	CHECK_STR(stamp(&c, "Nov  8 14:42:07 mx1 postfix/smtpd[123]: connect from x[1.2.3.4]", &ll),
	    "2025-11-08T14:42:07Z");
	CHECK(sl_is(ll.host, ll.hostlen, "mx1"));
	CHECK(sl_is(ll.prog, ll.proglen, "postfix/smtpd"));
	CHECK(sl_is(ll.daemon, ll.daemonlen, "smtpd"));
	CHECK(ll.pid == 123);
	CHECK(sl_is(ll.msg, ll.msglen, "connect from x[1.2.3.4]"));
	/* maillog_file: zero-padded day */
	CHECK_STR(stamp(&c, "Nov 08 14:42:08 relay postfix/qmgr[9]: ABC123: removed", &ll),
	    "2025-11-08T14:42:08Z");
	/* journalctl -o short-precise */
	CHECK_STR(stamp(&c, "Nov 08 14:42:08.250000 relay postfix/submission/smtpd[9]: x", &ll),
	    "2025-11-08T14:42:08.250000Z");
	CHECK(sl_is(ll.daemon, ll.daemonlen, "smtpd"));
	/* RFC 3339 with fraction and offset */
	CHECK_STR(stamp(&c, "2025-11-08T15:42:07.123456+01:00 mx1 postfix/smtp[1]: x", &ll),
	    "2025-11-08T14:42:07.123456Z");
	/* journalctl -o short-iso: +0100 */
	CHECK_STR(stamp(&c, "2025-11-08T15:42:07+0100 mx1 postfix/smtp[1]: x", &ll),
	    "2025-11-08T14:42:07Z");
	CHECK_STR(stamp(&c, "2025-11-08T14:42:07Z mx1 postfix-out/smtp[1]: x", &ll),
	    "2025-11-08T14:42:07Z");
	CHECK(sl_is(ll.prog, ll.proglen, "postfix-out/smtp"));
	/* RFC 5424 */
	CHECK_STR(stamp(&c, "<22>1 2025-11-08T14:42:07.5Z mx1 postfix/smtpd 4321 - - connect from a[1.1.1.1]", &ll),
	    "2025-11-08T14:42:07.500000Z");
	CHECK(ll.pid == 4321 && ll.format == LLF_RFC5424);
	CHECK(sl_is(ll.msg, ll.msglen, "connect from a[1.1.1.1]"));
	CHECK_STR(stamp(&c, "<22>1 2025-11-08T14:42:07Z mx1 postfix/smtpd 1 - [meta a=\"]\\\"\"] msg", &ll),
	    "2025-11-08T14:42:07Z");
	CHECK(sl_is(ll.msg, ll.msglen, "msg"));
	/* a <PRI> before a BSD stamp */
	CHECK_STR(stamp(&c, "<22>Nov  8 14:42:07 mx1 postfix/smtpd[1]: x", &ll),
	    "2025-11-08T14:42:07Z");
	/* rspamd's own log: local time, no host */
	CHECK_STR(stamp(&c, "2025-02-15 03:53:31 #1576(normal) <9a8448>; task; rspamd_task_write_log: x", &ll),
	    "2025-02-15T03:53:31Z");
	CHECK(ll.format == LLF_RSPAMD && ll.hostlen == 0 && ll.pid == 1576);
	CHECK(sl_is(ll.prog, ll.proglen, "rspamd"));
	/* not log lines */
	CHECK_STR(stamp(&c, "", &ll), "-");
	CHECK_STR(stamp(&c, "continued text of a wrapped line", &ll), "-");
	CHECK_STR(stamp(&c, "Foo  8 14:42:07 mx1 postfix/smtpd[1]: x", &ll), "-");
	CHECK_STR(stamp(&c, "Nov  8 14:42:07 mx1", &ll), "-");
	CHECK_STR(stamp(&c, "Nov 38 14:42:07 mx1 postfix/smtpd[1]: x", &ll), "-");
	CHECK_STR(stamp(&c, "2025-11-08T14:42:07+01 mx1 p[1]: x", &ll), "-");
}

static void
years(void)
{
	ll_ctx c;
	logline ll;
	struct tm tm;
	time_t ref;

	/* --year: December rolls into January */
	ll_init(&c, 2024, 0);
	CHECK_STR(stamp(&c, "Dec 31 23:59:59 h postfix/qmgr[1]: x", &ll), "2024-12-31T23:59:59Z");
	CHECK_STR(stamp(&c, "Jan  1 00:00:01 h postfix/qmgr[1]: x", &ll), "2025-01-01T00:00:01Z");
	/* a line a second earlier, from the old year, after the new one */
	CHECK_STR(stamp(&c, "Dec 31 23:59:59 h postfix/qmgr[1]: x", &ll), "2024-12-31T23:59:59Z");
	CHECK_STR(stamp(&c, "Jan  1 00:00:02 h postfix/qmgr[1]: x", &ll), "2025-01-01T00:00:02Z");
	/* from the file's mtime: a month after it is last year */
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = 2026 - 1900;
	tm.tm_mon = 1;		/* written in February 2026 */
	tm.tm_mday = 10;
	ref = timegm(&tm);
	ll_init(&c, 0, ref);
	CHECK_STR(stamp(&c, "Dec 30 10:00:00 h postfix/qmgr[1]: x", &ll), "2025-12-30T10:00:00Z");
	CHECK_STR(stamp(&c, "Feb  9 10:00:00 h postfix/qmgr[1]: x", &ll), "2026-02-09T10:00:00Z");
	ll_init(&c, 0, ref);
	CHECK_STR(stamp(&c, "Feb  1 10:00:00 h postfix/qmgr[1]: x", &ll), "2026-02-01T10:00:00Z");
	/* Feb 29 of a leap year */
	ll_init(&c, 2024, 0);
	CHECK_STR(stamp(&c, "Feb 29 12:00:00 h postfix/qmgr[1]: x", &ll), "2024-02-29T12:00:00Z");
}

static void
zones(void)
{
	ll_ctx c;
	logline ll;

	rgt_set_zone("America/New_York");
	ll_init(&c, 2025, 0);
	/* zone-less stamps are local; explicit offsets are not */
	CHECK_STR(stamp(&c, "Jul  4 12:00:00 h postfix/qmgr[1]: x", &ll), "2025-07-04T16:00:00Z");
	CHECK_STR(stamp(&c, "2025-07-04T12:00:00 h postfix/qmgr[1]: x", &ll), "2025-07-04T16:00:00Z");
	CHECK_STR(stamp(&c, "2025-07-04T12:00:00Z h postfix/qmgr[1]: x", &ll), "2025-07-04T12:00:00Z");
	/* the repeated hour at the end of DST (2025-11-02 01:00-01:59) */
	CHECK_STR(stamp(&c, "Nov  2 01:30:00 h postfix/qmgr[1]: x", &ll), "2025-11-02T05:30:00Z");
	CHECK_STR(stamp(&c, "Nov  2 01:59:59 h postfix/qmgr[1]: x", &ll), "2025-11-02T05:59:59Z");
	CHECK_STR(stamp(&c, "Nov  2 01:00:00 h postfix/qmgr[1]: x", &ll), "2025-11-02T06:00:00Z");
	CHECK_STR(stamp(&c, "Nov  2 01:30:00 h postfix/qmgr[1]: x", &ll), "2025-11-02T06:30:00Z");
	CHECK_STR(stamp(&c, "Nov  2 02:00:00 h postfix/qmgr[1]: x", &ll), "2025-11-02T07:00:00Z");
	rgt_set_zone("UTC");
}

/* same - two splits of one line agree on every field */
static int
same(const logline *a, const logline *b)
{
	return a->ts == b->ts && a->format == b->format
	    && a->host == b->host && a->hostlen == b->hostlen
	    && a->prog == b->prog && a->proglen == b->proglen
	    && a->daemon == b->daemon && a->daemonlen == b->daemonlen
	    && a->pid == b->pid && a->msg == b->msg && a->msglen == b->msglen;
}

/*
 * caches - the host and tag caches give what a fresh context's scan gives,
 * on lines that share prefixes with the cached ones, tags ending one byte
 * early or late, hosts that are prefixes of each other, and random bytes
 */
static void
caches(void)
{
	static const char *const lines[] = {
		"Nov  8 14:42:07 mx1 postfix/smtpd[123]: connect from x[1.2.3.4]",
		"Nov  8 14:42:07 mx1 postfix/smtp[124]: ABC: to=<a@b>",
		"Nov  8 14:42:07 mx1 postfix/smtpd[125]: disconnect",
		"Nov  8 14:42:07 mx10 postfix/smtpd[125]: other host",
		"Nov  8 14:42:07 mx postfix/smtpd[125]: shorter host",
		"Nov  8 14:42:07 mx1 postfix/smtpd: no pid",
		"Nov  8 14:42:07 mx1 postfix/smtpd x: no colon",
		"Nov  8 14:42:07 mx1 postfix/smtpd",
		"Nov  8 14:42:07 mx1 postfix/smtpd[",
		"Nov  8 14:42:07 mx1 postfix/smtpd[12",
		"Nov  8 14:42:07 mx1 postfix/smtpdx[1]: longer tag",
		"Nov  8 14:42:07 mx1 postfix/smtp/d[1]: a slash more",
		"Nov  8 14:42:07 mx1 postfix/sub/smtpd[9]: x",
		"Nov  8 14:42:07 mx1 postfix/sub/smtpd:x",
		"Nov  8 14:42:07 mx1 ",
		"Nov  8 14:42:07 mx1",
		"Nov  8 14:42:07 mx1 [1]: empty tag",
		"Nov  8 14:42:07 mx1 :",
	};
	char buf[96];
	ll_ctx warm, cold;
	logline a, b;
	size_t i, k, n;
	int ra, rb, bad = 0;
	unsigned seed = 7;

	ll_init(&warm, 2025, 0);
	for (k = 0; k < 20000; k++) {
		const char *l = lines[k % (sizeof(lines) / sizeof(lines[0]))];

		n = strlen(l);
		memcpy(buf, l, n);
		/* from the second round on, damage one byte after the stamp */
		if (k >= 18) {
			seed = seed * 1103515245 + 12345;
			i = 16 + (seed >> 8) % (n > 16 ? n - 16 : 1);
			if (i < n)
				buf[i] = "[]: /xm1\0"[(seed >> 20) % 9];
		}
		ll_init(&cold, 2025, 0);
		ra = ll_parse(&warm, buf, n, &a);
		rb = ll_parse(&cold, buf, n, &b);
		if (ra != rb || (ra == 0 && !same(&a, &b)))
			bad++;
	}
	CHECK(bad == 0);
}

int
main(void)
{
	setenv("TZ", "UTC", 1);
	CASE("logline: timestamp formats", formats());
	CASE("logline: years", years());
	CASE("logline: zones and DST", zones());
	CASE("logline: host and tag caches agree with a scan", caches());
	UNIT_EXIT();
}
