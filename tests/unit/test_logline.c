/*
 * test_logline.c - every syslog flavour, years and zones; the host cache
 * and the tag split (16 bytes at a time) against a byte-at-a-time split
 */
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
 * caches - the stamp and host caches and the tag split give what a fresh
 * context gives, on lines that share prefixes with the cached ones, tags
 * ending one byte early or late, hosts that are prefixes of each other,
 * damaged stamps and random bytes
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
		/*
		 * from the second round on, damage one byte after the stamp
		 * (every fourth line: anywhere, the stamp too, where the warm
		 * context's stamp cache must not answer for the damaged one)
		 */
		if (k >= 18) {
			seed = seed * 1103515245 + 12345;
			if (k % 4 == 0)
				i = (seed >> 8) % n;
			else
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

/*
 * ref_split - the host, tag, pid and message after the 16-byte stamp of a
 * BSD line, one byte at a time (what ll_parse must find); 0, or -1
 */
static int
ref_split(const char *line, size_t n, logline *o)
{
	const char *p = line + 16, *end = line + n, *t, *q, *slash = NULL,
	    *close;

	for (t = p; t < end && *t != ' '; t++)
		;
	if (t == p || t >= end)
		return -1;
	o->host = p;
	o->hostlen = (size_t)(t - p);
	p = t + 1;
	for (q = p; q < end; q++) {
		if (*q == ' ' || *q == ':' || *q == '[')
			break;
		if (*q == '/')
			slash = q;
	}
	if (q == p || q >= end)
		return -1;
	o->prog = p;
	o->proglen = (size_t)(q - p);
	o->daemon = slash != NULL ? slash + 1 : p;
	o->daemonlen = (size_t)(q - o->daemon);
	o->pid = -1;
	if (*q == '[') {
		const char *d;
		long v = 0;

		if ((close = memchr(q, ']', (size_t)(end - q))) == NULL)
			return -1;
		for (d = q + 1; d < close && *d >= '0' && *d <= '9'
		    && v < 100000000; d++)
			v = v * 10 + (*d - '0');
		if (d > q + 1)
			o->pid = v;
		q = close + 1;
	}
	if (q >= end || *q != ':')
		return -1;
	q++;
	if (q < end && *q == ' ')
		q++;
	o->msg = q;
	o->msglen = (size_t)(end - q);
	return 0;
}

/*
 * split_case - random BSD lines (hosts and tags of many lengths, so that a
 * tag ends before, at and after 16 bytes; pids of 0 to 12 digits) damaged
 * in up to three bytes, each in a heap block of exactly its length (ASan
 * sees a read past it), through one context: ll_parse finds what
 * ref_split finds
 */
static void
split_case(void)
{
	static const char *const hosts[] = { "mx1", "mx10", "m",
	    "relay-01.mail.example.org", "mx1x" };
	static const char *const parts[] = { "postfix", "/", "smtpd", "smtp",
	    "submission", "x", "a-much-longer-program-name", "qmgr" };
	static const char *const ends[] = { ": ", ":", " ", "", ": msg",
	    ":x", "]: y" };
	char tmp[256];
	ll_ctx c;
	logline a, b;
	unsigned seed = 99;
	int k, ra, rb, bad = 0;

	ll_init(&c, 2025, 0);
	for (k = 0; k < 200000 && !bad; k++) {
		size_t n = 0, i;
		int j, parts_n;
		char *line;

#define RND() (seed = seed * 1103515245 + 12345, (seed >> 8))
#define ADD(str) do { const char *s_ = (str); size_t l_ = strlen(s_); \
	if (n + l_ < sizeof(tmp)) { memcpy(tmp + n, s_, l_); n += l_; } \
} while (0)
		ADD("Nov  8 14:42:07 ");
		ADD(hosts[RND() % 5]);
		ADD(" ");
		parts_n = (int)(RND() % 5);
		for (j = 0; j < parts_n; j++)
			ADD(parts[RND() % 8]);
		if (RND() % 4 != 0) {
			int digits = (int)(RND() % 13);

			ADD("[");
			for (j = 0; j < digits; j++)
				tmp[n++] = (char)('0' + RND() % 10);
			if (RND() % 8 != 0)
				ADD("]");
		}
		ADD(ends[RND() % 7]);
		for (j = (int)(RND() % 20); j > 0; j--)
			ADD("message text ");
		/* damage up to three bytes after the stamp */
		for (j = (int)(RND() % 4); j > 0 && n > 16; j--) {
			i = 16 + RND() % (n - 16);
			tmp[i] = "[]: /x19\0"[RND() % 9];
		}
#undef ADD
#undef RND
		line = malloc(n > 0 ? n : 1);
		memcpy(line, tmp, n);
		memset(&a, 0, sizeof(a));
		memset(&b, 0, sizeof(b));
		ra = ll_parse(&c, line, n, &a);
		rb = ref_split(line, n, &b);
		if (ra != rb || (ra == 0 && (a.host != b.host
		    || a.hostlen != b.hostlen || a.prog != b.prog
		    || a.proglen != b.proglen || a.daemon != b.daemon
		    || a.daemonlen != b.daemonlen || a.pid != b.pid
		    || a.msg != b.msg || a.msglen != b.msglen))) {
			fprintf(stderr, "split: %.*s: %d %d\n", (int)n, line,
			    ra, rb);
			bad++;
		}
		free(line);
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
	CASE("logline: stamp and host caches, tag split: as a fresh context",
	    caches());
	CASE("logline: host, tag and pid as a byte-at-a-time split finds them",
	    split_case());
	UNIT_EXIT();
}
