/*
 * logline.c - the syslog-header stage of the pipeline. Owns nothing but the
 * year/zone state in ll_ctx. A line it cannot split returns -1 (the caller
 * counts it); it never reads past len.
 */
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "logline.h"

/* ll_init - fresh state for one input (file) */
void
ll_init(ll_ctx *c, int fixed_year, time_t ref_time)
{
	memset(c, 0, sizeof(*c));
	c->fixed_year = fixed_year;
	c->ref_time = ref_time;
	rgt_conv_init(&c->tc);
}

#define DIG(ch) ((unsigned)((ch) - '0') < 10)

/* num2 - two digits at p, -1 if not */
static int
num2(const char *p)
{
	if (!DIG(p[0]) || !DIG(p[1]))
		return -1;
	return (p[0] - '0') * 10 + (p[1] - '0');
}

/* month_of - 1..12 from "Jan".."Dec", 0 if not a month */
static int
month_of(const char *p)
{
	switch (p[0]) {
	case 'J':
		if (p[1] == 'a' && p[2] == 'n') return 1;
		if (p[1] == 'u' && p[2] == 'n') return 6;
		if (p[1] == 'u' && p[2] == 'l') return 7;
		return 0;
	case 'F': return p[1] == 'e' && p[2] == 'b' ? 2 : 0;
	case 'M':
		if (p[1] == 'a' && p[2] == 'r') return 3;
		if (p[1] == 'a' && p[2] == 'y') return 5;
		return 0;
	case 'A':
		if (p[1] == 'p' && p[2] == 'r') return 4;
		if (p[1] == 'u' && p[2] == 'g') return 8;
		return 0;
	case 'S': return p[1] == 'e' && p[2] == 'p' ? 9 : 0;
	case 'O': return p[1] == 'c' && p[2] == 't' ? 10 : 0;
	case 'N': return p[1] == 'o' && p[2] == 'v' ? 11 : 0;
	case 'D': return p[1] == 'e' && p[2] == 'c' ? 12 : 0;
	}
	return 0;
}

/* year_for - the year of a year-less stamp in month mon */
static int
year_for(ll_ctx *c, int mon)
{
	int y;

	if (c->year == 0) {
		if (c->fixed_year) {
			c->year = c->fixed_year;
		} else {
			struct tm tm;

			localtime_r(&c->ref_time, &tm);
			c->year = tm.tm_year + 1900;
			/* a month after the file's last write is last year */
			if (mon > tm.tm_mon + 1)
				c->year--;
		}
		c->last_month = mon;
	}
	y = c->year;
	if (mon < c->last_month && c->last_month - mon >= 6) {
		/* December -> January */
		c->year++;
		y = c->year;
		c->last_month = mon;
	} else if (mon > c->last_month && mon - c->last_month >= 6) {
		/* a line from just before the new year, after it */
		y = c->year - 1;
	} else {
		c->last_month = mon;
	}
	return y;
}

/* frac_usec - ".ddd" at *pp to microseconds; advances *pp */
static inline long
frac_usec(const char **pp, const char *end)
{
	const char *p = *pp;
	long us = 0, scale = 100000;

	if (p < end && (*p == '.' || *p == ',')) {
		p++;
		while (p < end && DIG(*p)) {
			us += (*p - '0') * scale;
			scale /= 10;
			p++;
		}
	}
	*pp = p;
	return us;
}

/* stamp_eq - the 15 bytes at a and b are the same (two words) */
static inline int
stamp_eq(const char *a, const char *b)
{
	uint64_t a0, a1, b0, b1;

	memcpy(&a0, a, 8);
	memcpy(&a1, a + 7, 8);
	memcpy(&b0, b, 8);
	memcpy(&b1, b + 7, 8);
	return a0 == b0 && a1 == b1;
}

/*
 * parse_bsd - "Mmm dd hh:mm:ss[.frac] " at p; returns the end of the stamp
 * (after the space), NULL if it is not one.
 */
static const char *
parse_bsd(ll_ctx *c, const char *p, const char *end, rg_usec *ts)
{
	int mon, d, H, M, S;
	const char *q, *t;
	long us;

	if (end - p < 15)
		return NULL;
	if (c->cache_len == 15 && end - p >= 16 && stamp_eq(c->cache_key, p)) {
		/*
		 * the 15 bytes of the stamp before (the same second, the
		 * common case): they read as they did, so only what follows
		 * them is left to look at
		 */
		q = p + 15;
		us = frac_usec(&q, end);
		if (q >= end || *q != ' ')
			return NULL;
		*ts = c->cache_ts + us;
		return q + 1;
	}
	if (p[3] != ' ')
		return NULL;
	if ((mon = month_of(p)) == 0)
		return NULL;
	/* "Nov  8", "Nov 08", and (some syslogs) "Nov 8" */
	if (p[4] == ' ' && DIG(p[5]))
		d = p[5] - '0', t = p + 7;
	else if (DIG(p[4]) && p[5] == ' ')
		d = p[4] - '0', t = p + 6;
	else if ((d = num2(p + 4)) >= 0)
		t = p + 7;
	else
		return NULL;
	if (t[-1] != ' ' || end - t < 9 || t[2] != ':' || t[5] != ':')
		return NULL;
	q = t + 8;
	us = frac_usec(&q, end);
	if (q >= end || *q != ' ')
		return NULL;
	if ((H = num2(t)) < 0 || (M = num2(t + 3)) < 0 || (S = num2(t + 6)) < 0
	    || d < 1 || d > 31 || H > 23 || M > 59 || S > 60)
		return NULL;
	*ts = rgt_local_to_utc(&c->tc, year_for(c, mon), mon, d, H, M, S);
	if (t == p + 7) {
		memcpy(c->cache_key, p, 15);
		c->cache_len = 15;
		c->cache_ts = *ts;
	}
	*ts += us;
	return q + 1;
}

/*
 * parse_iso - "YYYY-MM-DD[T ]hh:mm:ss[.frac][Z|+hh:mm|+hhmm] " at p;
 * returns the end (after the space), NULL if it is not one.
 */
static const char *
parse_iso(ll_ctx *c, const char *p, const char *end, rg_usec *ts)
{
	int y, mon, d, H, M, S, oh, om;
	const char *q;
	long us;
	rg_usec t;

	if (end - p < 20 || p[4] != '-' || p[7] != '-'
	    || (p[10] != 'T' && p[10] != ' ') || p[13] != ':' || p[16] != ':')
		return NULL;
	if (num2(p) < 0 || (y = num2(p + 2)) < 0)
		return NULL;
	y += num2(p) * 100;
	if ((mon = num2(p + 5)) < 1 || mon > 12 || (d = num2(p + 8)) < 1
	    || d > 31 || (H = num2(p + 11)) < 0 || H > 23
	    || (M = num2(p + 14)) < 0 || M > 59 || (S = num2(p + 17)) < 0
	    || S > 60)
		return NULL;
	q = p + 19;
	us = frac_usec(&q, end);
	if (q < end && (*q == 'Z' || *q == 'z')) {
		t = rgt_from_utc_fields(y, mon, d, H, M, S);
		q++;
	} else if (q < end && (*q == '+' || *q == '-')) {
		int sign = *q == '-' ? -1 : 1;

		if (end - q < 5 || (oh = num2(q + 1)) < 0)
			return NULL;
		if (q[3] == ':') {
			if (end - q < 6 || (om = num2(q + 4)) < 0)
				return NULL;
			q += 6;
		} else {
			if ((om = num2(q + 3)) < 0)
				return NULL;
			q += 5;
		}
		t = rgt_from_utc_fields(y, mon, d, H, M, S)
		    - sign * (oh * 3600LL + om * 60LL) * RG_USEC;
	} else {
		t = rgt_local_to_utc(&c->tc, y, mon, d, H, M, S);
	}
	if (q >= end || *q != ' ')
		return NULL;
	*ts = t + us;
	return q + 1;
}

/* token - the run of non-space bytes at p */
static const char *
token(const char *p, const char *end)
{
	while (p < end && *p != ' ')
		p++;
	return p;
}

/* set_prog - program name and its last path component */
static void
set_prog(logline *out, const char *p, size_t n)
{
	const char *slash = NULL, *s;

	out->prog = p;
	out->proglen = n;
	for (s = p; s < p + n; s++)
		if (*s == '/')
			slash = s;
	out->daemon = slash ? slash + 1 : p;
	out->daemonlen = (size_t)(p + n - out->daemon);
}

/* parse_pid - decimal digits; -1 if none */
static long
parse_pid(const char *p, const char *end)
{
	long v = 0;

	if (p >= end || !DIG(*p))
		return -1;
	while (p < end && DIG(*p) && v < 100000000)
		v = v * 10 + (*p++ - '0');
	return v;
}

/* tag_stop - 1 for the '/' of a program path, 2 for what ends the tag */
static const unsigned char tag_stop[256] = {
	[' '] = 2, ['/'] = 1, [':'] = 2, ['['] = 2,
};

#ifdef __SSE2__
/*
 * tag_end16 - in the 16 bytes at p, the offset of the first byte that
 * ends a tag (' ', ':', '['), or 16 if none; *slash the offset of the last
 * '/' before it, or -1
 */
static inline unsigned
tag_end16(const char *p, int *slash)
{
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
	unsigned stop = (unsigned)_mm_movemask_epi8(_mm_or_si128(
	    _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')),
	    _mm_cmpeq_epi8(v, _mm_set1_epi8(':'))),
	    _mm_cmpeq_epi8(v, _mm_set1_epi8('['))));
	unsigned sl = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v,
	    _mm_set1_epi8('/')));
	unsigned n = (unsigned)__builtin_ctz(stop | 0x10000);

	sl &= (1U << n) - 1;
	*slash = sl != 0 ? 31 - __builtin_clz(sl) : -1;
	return n;
}

/*
 * pid8 - the 1 to 8 digits at p (16 bytes readable) as a number in *v,
 * their end in *e; 0 if there are none or more than 8 (the scan's turn)
 */
static inline int
pid8(const char *p, const char **e, long *v)
{
	__m128i b = _mm_loadu_si128((const __m128i *)(const void *)p);
	unsigned dm = (unsigned)_mm_movemask_epi8(_mm_and_si128(
	    _mm_cmpgt_epi8(b, _mm_set1_epi8('0' - 1)),
	    _mm_cmplt_epi8(b, _mm_set1_epi8('9' + 1))));
	unsigned n = (unsigned)__builtin_ctz(~dm);
	uint64_t x;

	if (n == 0 || n > 8)
		return 0;
	/*
	 * the digits to the top of a word (the first the most significant:
	 * the bytes after them, and their borrows, go out at the top), then
	 * two digits, four, eight at a time
	 */
	memcpy(&x, p, 8);
	x = (x - 0x3030303030303030ULL) << (8 * (8 - n));
	x = x * 10 + (x >> 8);
	x = ((x & 0x000000FF000000FFULL) * (100 + (1000000ULL << 32))
	    + ((x >> 16) & 0x000000FF000000FFULL) * (1 + (10000ULL << 32)))
	    >> 32;
	*v = (long)x;
	*e = p + n;
	return 1;
}
#endif

/*
 * host_eq - the line's host at p (end - p bytes left) is the one of the
 * line before, followed by a space
 */
static inline int
host_eq(const ll_ctx *c, const char *p, const char *end)
{
	size_t n = c->hostlen;

	if (n == 0 || (size_t)(end - p) <= n || p[n] != ' ')
		return 0;
#ifdef __SSE2__
	if (n < 16 && end - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		__m128i h = _mm_loadu_si128((const __m128i *)(const void *)
		    c->host);
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, h));

		return (m | ~((1U << n) - 1)) == 0xFFFFFFFFU;
	}
#endif
	return memcmp(p, c->host, n) == 0;
}

/*
 * parse_tag - "host prog[pid]: msg" or "host prog: msg" at p. The host is
 * first compared with the one of the line before (c's cache); the tag's
 * end and its last '/' are found 16 bytes at a time where the line is long
 * enough, else by a scan: the same fields either way.
 */
static int
parse_tag(ll_ctx *c, const char *p, const char *end, logline *out)
{
	const char *h = p, *t, *q, *slash = NULL, *d;
	long v;

	if (host_eq(c, p, end)) {
		t = p + c->hostlen;
	} else {
		t = token(p, end);
		if (t == h || t >= end)
			return -1;
		if ((size_t)(t - h) <= sizeof(c->host)) {
			c->hostlen = (size_t)(t - h);
			memcpy(c->host, h, c->hostlen);
		}
	}
	out->host = h;
	out->hostlen = (size_t)(t - h);
	p = t + 1;
	/*
	 * the tag ends at "[" or ":" (program names have neither): its end
	 * and its last '/' are found 16 bytes at a time, the rest by a scan
	 */
	q = p;
#ifdef __SSE2__
	while (end - q >= 16) {
		int sl;
		unsigned n = tag_end16(q, &sl);

		if (sl >= 0)
			slash = q + sl;
		q += n;
		if (n < 16)
			goto tag_end;
	}
#endif
	for (; q < end; q++) {
		unsigned char k = tag_stop[(unsigned char)*q];

		if (k == 0)
			continue;
		if (k == 2)
			break;
		slash = q;
	}
#ifdef __SSE2__
tag_end:
#endif
	if (q == p || q >= end)
		return -1;
	out->daemon = slash != NULL ? slash + 1 : p;
	out->prog = p;
	out->proglen = (size_t)(q - p);
	out->daemonlen = (size_t)(q - out->daemon);
	if (*q == '[') {
		/* the pid's digits, then (where they end) the ']' */
		const char *lim = end - q > 10 ? q + 10 : end;

		d = q + 1;
		v = 0;
#ifdef __SSE2__
		if (end - d >= 16 && pid8(d, &d, &v))
			goto pid_end;
#endif
		/* up to 9 digits v stays below 10^9: no test for the cap */
		for (; d < lim && DIG(*d); d++)
			v = v * 10 + (*d - '0');
		for (; d < end && DIG(*d); d++)
			if (v < 100000000)
				v = v * 10 + (*d - '0');
#ifdef __SSE2__
pid_end:
#endif
		out->pid = d > q + 1 ? v : -1;
		if (d >= end || *d != ']') {
			if ((d = memchr(d, ']', (size_t)(end - d))) == NULL)
				return -1;
		}
		q = d + 1;
	}
	if (q >= end || *q != ':')
		return -1;
	q++;
	if (q < end && *q == ' ')
		q++;
	out->msg = q;
	out->msglen = (size_t)(end - q);
	return 0;
}

/* parse_5424 - "HOST APP PROCID MSGID SD MSG" after "<PRI>1 STAMP " */
static int
parse_5424(const char *p, const char *end, logline *out)
{
	const char *f[4], *fe[4];
	int i;

	for (i = 0; i < 4; i++) {
		f[i] = p;
		fe[i] = token(p, end);
		if (fe[i] == p || fe[i] >= end)
			return -1;
		p = fe[i] + 1;
	}
	out->host = f[0];
	out->hostlen = (size_t)(fe[0] - f[0]);
	set_prog(out, f[1], (size_t)(fe[1] - f[1]));
	out->pid = parse_pid(f[2], fe[2]);
	/* structured data: "-" or one or more [id ...] elements */
	if (p < end && *p == '-') {
		p++;
	} else {
		while (p < end && *p == '[') {
			int esc = 0, quoted = 0;

			for (p++; p < end; p++) {
				if (esc)
					esc = 0;
				else if (*p == '\\')
					esc = 1;
				else if (*p == '"')
					quoted = !quoted;
				else if (*p == ']' && !quoted)
					break;
			}
			if (p < end)
				p++;
		}
	}
	if (p < end && *p == ' ')
		p++;
	/* a UTF-8 BOM may start the message */
	if (end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3;
	out->msg = p;
	out->msglen = (size_t)(end - p);
	return 0;
}

/* parse_rspamd - "#pid(worker) <id>; module; msg" after the stamp */
static int
parse_rspamd(const char *p, const char *end, logline *out)
{
	const char *q;

	out->host = "";
	out->hostlen = 0;
	set_prog(out, "rspamd", 6);
	out->pid = parse_pid(p + 1, end);
	q = token(p, end);
	if (q < end)
		q++;
	out->msg = q;
	out->msglen = (size_t)(end - q);
	return 0;
}

/* ll_parse - split a line; 0 on success, -1 if it is not a log line */
int
ll_parse(ll_ctx *c, const char *line, size_t len, logline *out)
{
	const char *p = line, *end = line + len, *q;
	int rfc5424 = 0;

	out->pid = -1;
	out->format = LLF_NONE;
	if (p < end && *p == '<') {
		/* <PRI>, then RFC 5424 ("1 ") or a BSD stamp */
		for (q = p + 1; q < end && DIG(*q) && q - p < 5; q++)
			;
		if (q >= end || *q != '>' || q == p + 1)
			return -1;
		p = q + 1;
		if (end - p > 2 && p[0] == '1' && p[1] == ' ') {
			rfc5424 = 1;
			p += 2;
		}
	}
	if (end - p < 16)
		return -1;
	if (DIG(p[0])) {
		if ((q = parse_iso(c, p, end, &out->ts)) == NULL)
			return -1;
		if (rfc5424) {
			out->format = LLF_RFC5424;
			return parse_5424(q, end, out);
		}
		if (q < end && *q == '#') {
			out->format = LLF_RSPAMD;
			return parse_rspamd(q, end, out);
		}
		out->format = LLF_ISO;
	} else {
		if (rfc5424 || (q = parse_bsd(c, p, end, &out->ts)) == NULL)
			return -1;
		out->format = LLF_BSD;
	}
	return parse_tag(c, q, end, out);
}
