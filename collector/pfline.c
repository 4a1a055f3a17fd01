/*
 * pfline.c - recognise Postfix, rspamd, amavis and spamd log messages.
 *
 * Every field is attacker-controlled text (addresses, header values, helo
 * names, remote replies): addresses are scanned quote-aware, as Postfix
 * quotes a local part with special characters, and the fixed tails that
 * Postfix appends ("; from=<s> to=<r> proto=P helo=<h>") are found from the
 * right, so a value cannot end early and pose as another. Owns nothing; a
 * line it cannot read becomes EV_UNKNOWN, never a crash.
 */
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "../common/memfind.h"
#include "../common/zero.h"
#include "pfline.h"

#define DIG(c) ((unsigned)((c) - '0') < 10)
#define LIT(s) (s), (sizeof(s) - 1)

static const char *kind_names[EV__COUNT] = {
	"unknown", "ignored", "warning", "connect", "disconnect", "lost",
	"sasl-fail", "client", "noqueue", "rcpt-reject", "smtpd-action",
	"pickup", "message-id", "header", "milter", "qmgr-from",
	"qmgr-expired", "removed", "delivery", "notification", "hold",
	"release", "postsuper-removed", "requeued", "rspamd", "amavis",
	"spamd",
};

static const char *prog_names[PROG__COUNT] = {
	"other", "smtpd", "cleanup", "qmgr", "delivery", "bounce",
	"postsuper", "pickup", "postfix", "rspamd", "amavis", "spamd",
};

/* ev_kind_name - a kind's name in --stats */
const char *
ev_kind_name(enum ev_kind k)
{
	return k < EV__COUNT ? kind_names[k] : "?";
}

/* ev_prog_name - a program class's name in --stats */
const char *
ev_prog_name(enum ev_prog p)
{
	return p < PROG__COUNT ? prog_names[p] : "?";
}

/* eq - slice equals literal */
static int
eq(const char *p, size_t n, const char *lit, size_t litlen)
{
	/* litlen, not n: a constant where eq is inlined (no memcmp call) */
	return n == litlen && memcmp(p, lit, litlen) == 0;
}

/* sl_same - two slices hold the same text */
static int
sl_same(rg_slice a, rg_slice b)
{
	return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

/* pf_classify - which mail program (if any) logged the line */
enum ev_prog
pf_classify(const logline *ll)
{
	const char *d = ll->daemon;
	size_t n = ll->daemonlen;

	if (ll->daemon == ll->prog) {
		/* no "/": only the content filters log under a bare name */
		if (eq(d, n, LIT("rspamd")))
			return PROG_RSPAMD;
		if (eq(d, n, LIT("amavis")) || eq(d, n, LIT("amavisd"))
		    || eq(d, n, LIT("amavisd-new")))
			return PROG_AMAVIS;
		if (eq(d, n, LIT("spamd")))
			return PROG_SPAMD;
		return PROG_OTHER;
	}
	if (eq(d, n, LIT("amavisd-new")) || eq(d, n, LIT("amavisd")))
		return PROG_AMAVIS;	/* /usr/sbin/amavisd-new[pid] */
	switch (d[0]) {
	case 's':
		if (eq(d, n, LIT("smtpd")))
			return PROG_SMTPD;
		if (eq(d, n, LIT("smtp")))
			return PROG_DELIVERY;
		break;
	case 'c':
		if (eq(d, n, LIT("cleanup")))
			return PROG_CLEANUP;
		break;
	case 'q':
		if (eq(d, n, LIT("qmgr")))
			return PROG_QMGR;
		break;
	case 'n':
	case 'o':
		if (eq(d, n, LIT("nqmgr")) || eq(d, n, LIT("oqmgr")))
			return PROG_QMGR;
		break;
	case 'l':
		if (eq(d, n, LIT("lmtp")) || eq(d, n, LIT("local")))
			return PROG_DELIVERY;
		break;
	case 'v':
		if (eq(d, n, LIT("virtual")))
			return PROG_DELIVERY;
		break;
	case 'p':
		if (eq(d, n, LIT("pipe")))
			return PROG_DELIVERY;
		if (eq(d, n, LIT("postsuper")))
			return PROG_POSTSUPER;
		if (eq(d, n, LIT("pickup")))
			return PROG_PICKUP;
		break;
	case 'e':
		if (eq(d, n, LIT("error")))
			return PROG_DELIVERY;
		break;
	case 'd':
		if (eq(d, n, LIT("discard")))
			return PROG_DELIVERY;
		break;
	case 'r':
		if (eq(d, n, LIT("retry")) || eq(d, n, LIT("relay")))
			return PROG_DELIVERY;
		break;
	case 'b':
		if (eq(d, n, LIT("bounce")))
			return PROG_BOUNCE;
		break;
	}
	/* other programs under a postfix syslog_name: anvil, master, ... */
	if (ll->proglen >= 7 && memcmp(ll->prog, "postfix", 7) == 0)
		return PROG_POSTFIX_OTHER;
	return PROG_OTHER;
}

/* ---- small scanners over [p, end) ---- */

/*
 * comma_sp - the first ", " in [p, end), or NULL: rg_memfind(p, end,
 * ", ", 2) for the short values between a line's fields, without a call
 * (16 places at once where SSE2 is)
 */
static inline const char *
comma_sp(const char *p, const char *end)
{
#ifdef __SSE2__
	/* the ' ' of the last place is p[16]: 17 bytes readable */
	while (end - p >= 17) {
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_and_si128(
		    _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)
		    (const void *)p), _mm_set1_epi8(',')),
		    _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)
		    (const void *)(p + 1)), _mm_set1_epi8(' '))));

		if (m != 0)
			return p + __builtin_ctz(m);
		p += 16;
	}
#endif
	for (; end - p >= 2; p++)
		if (p[0] == ',' && p[1] == ' ')
			return p;
	return NULL;
}

/*
 * upto4 - the first of the bytes a, b, c, d in [p, end), or end (16 bytes
 * at a time where SSE2 is)
 */
static inline const char *
upto4(const char *p, const char *end, char a, char b, char c, char d)
{
#ifdef __SSE2__
	__m128i va = _mm_set1_epi8(a), vb = _mm_set1_epi8(b),
	    vc = _mm_set1_epi8(c), vd = _mm_set1_epi8(d);

	while (end - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(
		    _mm_or_si128(_mm_cmpeq_epi8(v, va), _mm_cmpeq_epi8(v, vb)),
		    _mm_or_si128(_mm_cmpeq_epi8(v, vc), _mm_cmpeq_epi8(v, vd))));

		if (m != 0)
			return p + __builtin_ctz(m);
		p += 16;
	}
#endif
	for (; p < end; p++)
		if (*p == a || *p == b || *p == c || *p == d)
			break;
	return p;
}

/* rfind - last occurrence of lit in [p, end), or NULL (memrchr: vectored) */
static const char *
rfind(const char *p, const char *end, const char *lit, size_t litlen)
{
	const char *q;
	size_t n;

	if (litlen == 0 || end - p < (ptrdiff_t)litlen)
		return NULL;
	/* the candidates for lit's first byte: [p, end - litlen] */
	n = (size_t)(end - p) - litlen + 1;
	while (n > 0 && (q = memrchr(p, lit[0], n)) != NULL) {
		if (memcmp(q + 1, lit + 1, litlen - 1) == 0)
			return q;
		n = (size_t)(q - p);
	}
	return NULL;
}

/* starts - [p, end) begins with lit */
static int
starts(const char *p, const char *end, const char *lit, size_t litlen)
{
	return end - p >= (ptrdiff_t)litlen && memcmp(p, lit, litlen) == 0;
}

/* set - a slice */
static void
set(rg_slice *s, const char *p, const char *e)
{
	s->p = p;
	s->n = (size_t)(e - p);
}

/*
 * addr_end - the '>' that closes an address starting at p (after '<'),
 * skipping quoted strings as Postfix writes them; NULL if none.
 */
static const char *
addr_end(const char *p, const char *end)
{
	int quoted = 0;

#ifdef __SSE2__
	/* unquoted, only '>' and '"' matter: look for both 16 bytes at a time */
	while (end - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(
		    _mm_cmpeq_epi8(v, _mm_set1_epi8('>')),
		    _mm_cmpeq_epi8(v, _mm_set1_epi8('"'))));

		if (m == 0) {
			p += 16;
			continue;
		}
		p += __builtin_ctz(m);
		if (*p == '>')
			return p;
		break;		/* a quote: the scan below goes on from it */
	}
#endif
	for (; p < end; p++) {
		if (quoted) {
			if (*p == '\\' && p + 1 < end)
				p++;
			else if (*p == '"')
				quoted = 0;
		} else if (*p == '"') {
			quoted = 1;
		} else if (*p == '>') {
			return p;
		}
	}
	return NULL;
}

/*
 * addr_field - "key=<addr>" or "key=addr" (up to ", " or end) at p; the
 * address goes to *s; returns the position after it, NULL if malformed.
 */
static const char *
addr_field(const char *p, const char *end, rg_slice *s)
{
	const char *e;

	if (p < end && *p == '<') {
		if ((e = addr_end(p + 1, end)) == NULL)
			return NULL;
		set(s, p + 1, e);
		return e + 1;
	}
	/* without angle brackets: up to ", " */
	e = comma_sp(p, end);
	if (e == NULL)
		e = end;
	set(s, p, e);
	return e;
}

#ifdef __SSE2__
/* in_range - the bytes of v from lo to hi (signed compares: ASCII only) */
static inline __m128i
in_range(__m128i v, char lo, char hi)
{
	return _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8((char)(lo - 1))),
	    _mm_cmplt_epi8(v, _mm_set1_epi8((char)(hi + 1))));
}

/*
 * qid_run16 - qid_prefix's run of letters and digits, 16 bytes at p at
 * once: when it ends within them, its end in *q and its classes in *both
 * (bit 1: every byte a short ID's, bit 2: every byte a long ID's) and
 * *digit (8 if any digit), as qid_prefix's loop gives them; 0 when all
 * 16 are letters or digits (the loop's turn)
 */
static inline int
qid_run16(const char *p, unsigned *both, unsigned *digit, const char **q)
{
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i dig = in_range(v, '0', '9');
	__m128i up = in_range(v, 'A', 'Z'), low = in_range(v, 'a', 'z');
	/* case folded: a vowel is one of aeiou either way */
	__m128i f = _mm_or_si128(v, _mm_set1_epi8(0x20));
	__m128i vowel = _mm_or_si128(_mm_or_si128(
	    _mm_cmpeq_epi8(f, _mm_set1_epi8('a')),
	    _mm_cmpeq_epi8(f, _mm_set1_epi8('e'))), _mm_or_si128(
	    _mm_or_si128(_mm_cmpeq_epi8(f, _mm_set1_epi8('i')),
	    _mm_cmpeq_epi8(f, _mm_set1_epi8('o'))),
	    _mm_cmpeq_epi8(f, _mm_set1_epi8('u'))));
	__m128i alpha = _mm_or_si128(up, low);
	unsigned an = (unsigned)_mm_movemask_epi8(_mm_or_si128(dig, alpha));
	unsigned sh = (unsigned)_mm_movemask_epi8(_mm_or_si128(dig,
	    in_range(v, 'A', 'F')));
	unsigned lg = (unsigned)_mm_movemask_epi8(_mm_or_si128(dig,
	    _mm_andnot_si128(vowel, alpha)));
	unsigned dm = (unsigned)_mm_movemask_epi8(dig);
	unsigned n = (unsigned)__builtin_ctz(~an), run;

	if (n >= 16)
		return 0;
	run = (1U << n) - 1;
	*both = ((sh & run) == run ? 1 : 0) | ((lg & run) == run ? 2 : 0);
	*digit = (dm & run) != 0 ? 8 : 0;
	*q = p + n;
	return 1;
}
#endif

/*
 * qid_cls - qid_prefix's classes of bytes: bit 1 a short (hex) ID
 * character (0-9, A-F), bit 2 a long ID character (0-9 and the consonants
 * of both cases: BCDFGHJKLMNPQRSTVWXYZ bcdfghjklmnpqrstvwxyz),
 * bit 4 a letter or digit (the run of them is the candidate), bit 8 a
 * digit. A constant table, so that both of parse's threads may read it.
 */
static const unsigned char qid_cls[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* 00 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* 10 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* 20 */
	15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 0, 0, 0, 0, 0, 0,	/* 30 */
	0, 5, 7, 7, 7, 5, 7, 6, 6, 4, 6, 6, 6, 6, 6, 4,	/* 40 */
	6, 6, 6, 6, 6, 4, 6, 6, 6, 6, 6, 0, 0, 0, 0, 0,	/* 50 */
	0, 4, 6, 6, 6, 4, 6, 6, 6, 4, 6, 6, 6, 6, 6, 4,	/* 60 */
	6, 6, 6, 6, 6, 4, 6, 6, 6, 6, 6, 0, 0, 0, 0, 0,	/* 70 */
	/* 0x80-0xff: 0 */
};

/*
 * qid_prefix - "QID: " at the start of msg: sets *qid and returns the rest;
 * NULL when the message does not start with a queue ID. Short IDs are
 * upper-case hex; long ones (enable_long_queue_ids) use digits and
 * consonants with a 'z' separator. Words such as "Deleted" or "NOQUEUE"
 * are neither.
 */
static const char *
qid_prefix(const char *p, const char *end, rg_slice *qid)
{
	const char *q = p, *lim;
	unsigned both = 3, digit = 0, c;

	/* at most 21 characters are looked at: more is not an ID */
	lim = end - p > 21 ? p + 21 : end;
#ifdef __SSE2__
	if (end - p >= 16 && qid_run16(p, &both, &digit, &q))
		goto run_end;
#endif
	while (q < lim && (c = qid_cls[(unsigned char)*q]) != 0) {
		both &= c;
		digit |= c;
		q++;
	}
#ifdef __SSE2__
run_end:
#endif
	both &= 3;
	digit &= 8;
	/*
	 * Real IDs fit one of the two alphabets; hand-made ones in other
	 * tools' test logs ("FGHIJ67890") at least have a digit. Words such
	 * as "Deleted" or "NOQUEUE" have neither.
	 */
	if (q - p < 5 || q - p > 20 || end - q < 2 || q[0] != ':' || q[1] != ' '
	    || (both == 0 && !digit))
		return NULL;
	set(qid, p, q);
	return q + 2;
}

/*
 * client_at - "host[ip]" or "host[ip]:port" at p, ending at stop (or at
 * the first delimiter); sets the slices and returns the end, NULL if none.
 */
static const char *
client_at(const char *p, const char *end, rg_event *ev)
{
	const char *lb, *rb, *q;

	q = upto4(p, end, '[', ' ', ',', ';');
	if (q >= end || *q != '[')
		return NULL;
	lb = q;
	rb = memchr(lb, ']', (size_t)(end - lb));
	if (rb == NULL)
		return NULL;
	set(&ev->client_host, p, lb);
	set(&ev->client_ip, lb + 1, rb);
	q = rb + 1;
	if (q < end && *q == ':' && q + 1 < end && DIG(q[1])) {
		const char *d = q + 1;

		while (d < end && DIG(*d))
			d++;
		set(&ev->client_port, q + 1, d);
		q = d;
	}
	return q;
}

/* kv_after - value of ", key=" within [p, end) up to ", " (or end) */
static int
kv_after(const char *p, const char *end, const char *key, size_t keylen,
    rg_slice *s)
{
	const char *k = rg_memfind(p, end, key, keylen), *e;

	if (k == NULL)
		return 0;
	k += keylen;
	e = comma_sp(k, end);
	set(s, k, e ? e : end);
	return 1;
}

/* the envelope of one candidate tail */
typedef struct env_tail {
	rg_slice sender, rcpt, text, sasl_method, sasl_user;
} env_tail;

/*
 * tail_at - "; from=<s> to=<r> proto=P helo=<h>" at cand: 2 when it reaches
 * the end of the message or what Postfix itself writes after it (": text"
 * where text says so: header_checks lines; Postfix 3.10's " sasl_..."), 1
 * when something else follows (a log shipper's field), 0 if it is no tail.
 */
static int
tail_at(const char *cand, const char *end, int text, env_tail *t)
{
	const char *q, *e;

	memset(t, 0, sizeof(*t));
	if (starts(cand, end, LIT("; from=<"))) {
		q = addr_field(cand + 7, end, &t->sender);
		if (q == NULL)
			return 0;
		if (q == end)		/* no recipient yet */
			return 2;
		if (!starts(q, end, LIT(" to=<")))
			return 0;
		q += 1;
	} else if (starts(cand, end, LIT("; to=<"))) {
		q = cand + 2;	/* VRFY and ETRN: no sender */
	} else {
		return 0;
	}
	if ((q = addr_field(q + 3, end, &t->rcpt)) == NULL)
		return 0;
	/* " proto=X helo=<h>" and an optional ": text" or " sasl..." */
	if (starts(q, end, LIT(" proto="))) {
		q = rg_memfind(q, end, LIT(" helo=<"));
		if (q == NULL || (e = addr_end(q + 7, end)) == NULL)
			return 0;
		q = e + 1;
	}
	if (text && starts(q, end, LIT(": ")))
		set(&t->text, q + 2, end);
	else if (q != end && !starts(q, end, LIT(" sasl_"))
	    && !starts(q, end, LIT(", sasl_")))
		return 1;
	/* Postfix 3.10+ adds the login to NOQUEUE lines */
	kv_after(q, end, LIT("sasl_method="), &t->sasl_method);
	kv_after(q, end, LIT("sasl_username="), &t->sasl_user);
	return 2;
}

/*
 * kv_unique - like kv_after, for a line that also carries client text: every
 * occurrence of key must give the same value. 1 with it in *s, 0 if there
 * is none, -1 if they differ (*s unset).
 */
static int
kv_unique(const char *p, const char *end, const char *key, size_t keylen,
    const char *stop, size_t stoplen, rg_slice *s)
{
	const char *k = p, *e;
	rg_slice one;
	int n = 0;

	s->p = NULL, s->n = 0;
	while ((k = rg_memfind(k, end, key, keylen)) != NULL) {
		k += keylen;
		e = rg_memfind(k, end, stop, stoplen);
		set(&one, k, e ? e : end);
		if (n++ > 0 && !sl_same(one, *s)) {
			s->p = NULL, s->n = 0;
			return -1;
		}
		*s = one;
	}
	return n > 0;
}

/* tail_same - two candidate tails name the same envelope */
static int
tail_same(const env_tail *a, const env_tail *b)
{
	return sl_same(a->sender, b->sender) && sl_same(a->rcpt, b->rcpt)
	    && SL_SET(a->sender) == SL_SET(b->sender);
}

/*
 * envelope_tail - "; from=<s> to=<r> proto=P helo=<h>" ending the message
 * (followed by ": text" where text says so). The text before it (a header
 * value, a reply quoting an address) and the addresses in it (a quoted
 * local part keeps its quotes) are the client's and may hold text that
 * looks like a tail: every candidate is tried. The envelope is taken from
 * the only candidate, or else from the candidates that end the line as
 * Postfix ends it, when they all name the same one (Postfix's own tail
 * always does; one in a quoted sender is followed by the rest of the tail);
 * otherwise the line is marked EV_AMB_ENVELOPE and gives none. The
 * rightmost of those candidates says where the tail begins, so a header
 * value before it can only get longer, never pass for a shorter one.
 * Returns where the tail begins, NULL if there is none.
 */
/* in_slice - position q lies inside slice s */
static int
in_slice(const char *q, rg_slice s)
{
	return s.p != NULL && q >= s.p && q < s.p + s.n;
}

#define TAIL_MAX 8	/* more candidates than this: doubt */

static const char *
envelope_tail(const char *p, const char *end, int text, rg_event *ev)
{
	const char *cand = end, *found = NULL, *sfound = NULL;
	const char *lpos[TAIL_MAX], *spos[TAIL_MAX];
	env_tail t, last, lax[TAIL_MAX], strict[TAIL_MAX];
	int nlax = 0, nonly = 0, nstrict = 0, differ = 0, r, i, j;

	while ((cand = rfind(p, cand, LIT("; "))) != NULL) {
		if ((r = tail_at(cand, end, text, &t)) > 0) {
			if (nlax++ == 0) {
				found = cand;
				last = t;
			}
			if (r == 1 && nonly < TAIL_MAX) {
				lpos[nonly] = cand;
				lax[nonly] = t;
			} else if (r == 2 && nstrict < TAIL_MAX) {
				if (nstrict == 0)
					sfound = cand;
				else if (!tail_same(&t, &strict[0]))
					differ = 1;
				spos[nstrict] = cand;
				strict[nstrict] = t;
			}
			if (r == 1)
				nonly++;
			else
				nstrict++;
		}
		if (cand == p)
			break;
	}
	if (found == NULL)
		return NULL;
	/*
	 * Several candidates: those that end the line as Postfix does must
	 * agree. When a log shipper added a field after the real tail, that
	 * tail does not end the line: so no such candidate may lie inside
	 * another candidate's addresses, nor another inside its text.
	 */
	if (nlax > 1 && (nstrict == 0 || nstrict > TAIL_MAX
	    || nonly > TAIL_MAX))
		differ = 1;
	for (i = 0; nlax > 1 && !differ && i < nstrict; i++)
		for (j = 0; j < nonly; j++)
			if (in_slice(spos[i], lax[j].sender)
			    || in_slice(spos[i], lax[j].rcpt)
			    || in_slice(lpos[j], strict[i].text))
				differ = 1;
	if (differ) {
		ev->ambiguous |= EV_AMB_ENVELOPE;
		ev->text = last.text;
		return found;
	}
	if (nlax > 1) {
		found = sfound;
		last = strict[0];
	}
	ev->sender = last.sender;
	ev->rcpt = last.rcpt;
	ev->sasl_method = last.sasl_method;
	ev->sasl_user = last.sasl_user;
	ev->text = last.text;
	return found;
}

/*
 * reply - "550 5.1.1 text" or "5.7.1 text" or "text": code, dsn and text
 */
static void
reply(const char *p, const char *end, rg_event *ev)
{
	if (end - p >= 4 && DIG(p[0]) && DIG(p[1]) && DIG(p[2]) && p[3] == ' ') {
		set(&ev->code, p, p + 3);
		p += 4;
	}
	if (end - p >= 5 && (p[0] == '2' || p[0] == '4' || p[0] == '5')
	    && p[1] == '.' && DIG(p[2])) {
		const char *q = p + 2;

		while (q < end && DIG(*q))
			q++;
		if (q < end && *q == '.' && q + 1 < end && DIG(q[1])) {
			q++;
			while (q < end && DIG(*q))
				q++;
			set(&ev->dsn, p, q);
			p = q;
			if (p < end && *p == ' ')
				p++;
		}
	}
	set(&ev->text, p, end);
}

/*
 * smtpd_action - "reject: RCPT from host[ip]: 550 5.1.1 <r>: text; from=<s>
 * to=<r> proto=ESMTP helo=<h>" after the action word; 0 if malformed.
 */
static int
smtpd_action(const char *p, const char *end, rg_event *ev)
{
	const char *sp = memchr(p, ' ', (size_t)(end - p)), *q, *tail;

	if (sp == NULL || !starts(sp, end, LIT(" from ")))
		return 0;
	set(&ev->stage, p, sp);
	if ((q = client_at(sp + 6, end, ev)) == NULL || !starts(q, end, LIT(": ")))
		return 0;
	q += 2;
	tail = envelope_tail(q, end, 0, ev);
	reply(q, tail ? tail : end, ev);
	return 1;
}

/* action_word - "word: " at p; sets *s and returns the rest, or NULL */
static const char *
action_word(const char *p, const char *end, rg_slice *s)
{
	const char *q = p;

	while (q < end && ((*q >= 'a' && *q <= 'z') || *q == '-' || *q == '_'))
		q++;
	if (q == p || end - q < 2 || q[0] != ':' || q[1] != ' ')
		return NULL;
	set(s, p, q);
	return q + 2;
}

/* parse_smtpd - smtpd's lines */
static void parse_smtpd(const char *p, const char *end, rg_event *ev);

static void
parse_smtpd(const char *p, const char *end, rg_event *ev)
{
	const char *q;

	if (starts(p, end, LIT("connect from "))) {
		if (client_at(p + 13, end, ev))
			ev->kind = EV_CONNECT;
		return;
	}
	if (starts(p, end, LIT("disconnect from "))) {
		if ((q = client_at(p + 16, end, ev)) != NULL) {
			ev->kind = EV_DISCONNECT;
			if (q < end && *q == ' ')
				q++;
			set(&ev->counters, q, end);
		}
		return;
	}
	if (starts(p, end, LIT("lost connection after "))
	    || starts(p, end, LIT("timeout after "))
	    || starts(p, end, LIT("too many errors after "))) {
		q = rg_memfind(p, end, LIT(" from "));
		if (q != NULL && client_at(q + 6, end, ev)) {
			ev->kind = EV_LOST;
			set(&ev->text, p, q);
		}
		return;
	}
	if (starts(p, end, LIT("fatal: ")) || starts(p, end, LIT("error: "))
	    || starts(p, end, LIT("panic: "))) {
		ev->kind = EV_WARNING;
		return;
	}
	if (starts(p, end, LIT("warning: "))) {
		ev->kind = EV_WARNING;
		q = rg_memfind(p, end, LIT(": SASL "));
		if (q != NULL && rg_memfind(q, end, LIT(" authentication failed")) &&
		    client_at(p + 9, q, ev)) {
			const char *m = q + 7, *sp = memchr(m, ' ', (size_t)(end - m));

			ev->kind = EV_SASL_FAIL;
			if (sp != NULL)
				set(&ev->sasl_method, m, sp);
			kv_after(q, end, LIT("sasl_username="), &ev->sasl_user);
		}
		return;
	}
	if (starts(p, end, LIT("NOQUEUE: "))) {
		rg_slice act;

		if (starts(p + 9, end, LIT("lost connection after "))) {
			/* older smtpd: "NOQUEUE: lost connection after ..." */
			parse_smtpd(p + 9, end, ev);
			return;
		}
		if (starts(p + 9, end, LIT("client="))) {
			ev->kind = EV_IGNORED;	/* before-queue proxy filter */
			return;
		}
		if ((q = action_word(p + 9, end, &act)) == NULL)
			return;
		ev->action = act;
		if (eq(act.p, act.n, LIT("reject"))
		    || eq(act.p, act.n, LIT("milter-reject"))) {
			if (smtpd_action(q, end, ev))
				ev->kind = EV_NOQUEUE;
		} else {
			ev->kind = EV_IGNORED;	/* reject_warning, filter, ... */
		}
		return;
	}
	if ((q = qid_prefix(p, end, &ev->qid)) != NULL) {
		rg_slice act;
		const char *r;

		if (starts(q, end, LIT("client="))) {
			if ((r = client_at(q + 7, end, ev)) == NULL)
				return;
			ev->kind = EV_CLIENT;
			kv_after(r, end, LIT("sasl_method="), &ev->sasl_method);
			kv_after(r, end, LIT("sasl_username="), &ev->sasl_user);
			return;
		}
		if ((r = action_word(q, end, &act)) == NULL) {
			ev->kind = EV_IGNORED;
			return;
		}
		ev->action = act;
		if (!smtpd_action(r, end, ev)) {
			ev->kind = EV_UNKNOWN;
			return;
		}
		if (starts(act.p, end, LIT("milter-")))
			ev->kind = EV_MILTER;
		else if (eq(act.p, act.n, LIT("reject"))
		    && eq(ev->stage.p, ev->stage.n, LIT("RCPT")))
			ev->kind = EV_RCPT_REJECT;
		else if (eq(act.p, act.n, LIT("reject"))
		    || eq(act.p, act.n, LIT("hold"))
		    || eq(act.p, act.n, LIT("discard")))
			ev->kind = EV_SMTPD_ACTION;
		else
			ev->kind = EV_IGNORED;	/* filter, redirect, warn */
		return;
	}
	/* TLS chatter, pipelining, proxy and other session noise */
	if (rg_memfind(p, end, LIT(" TLS connection established"))
	    || starts(p, end, LIT("table "))
	    || starts(p, end, LIT("bare <LF> received"))
	    || starts(p, end, LIT("discarding EHLO keywords"))
	    || starts(p, end, LIT("improper command pipelining"))
	    || starts(p, end, LIT("SSL_accept error"))
	    || starts(p, end, LIT("Anonymous TLS"))
	    || starts(p, end, LIT("proxy-"))
	    || starts(p, end, LIT("NOQUEUE")))
		ev->kind = EV_IGNORED;
}

/*
 * header_line - "header NAME: VALUE from host[ip]; from=<s> to=<r> proto=P
 * helo=<h>[: text]" (or "body TEXT ...", "from local; ..."): fills the
 * header slices and the envelope; 0 if malformed.
 */
static int
header_line(const char *p, const char *end, rg_event *ev)
{
	const char *tail, *from, *colon;

	if (starts(p, end, LIT("header ")))
		p += 7;
	else if (starts(p, end, LIT("body ")))
		p += 5, ev->hdr_is_body = 1;
	else
		return 0;
	if ((tail = envelope_tail(p, end, 1, ev)) == NULL)
		return 0;
	/* " from host[ip]" or " from local" just before the tail */
	from = rfind(p, tail, LIT(" from "));
	if (from == NULL)
		return 0;
	if (client_at(from + 6, tail, ev) == NULL)
		set(&ev->client_host, from + 6, tail);
	if (ev->text.p != NULL)
		reply(ev->text.p, end, ev);
	if (ev->hdr_is_body) {
		set(&ev->hdr_value, p, from);
		return 1;
	}
	colon = memchr(p, ':', (size_t)(from - p));
	if (colon == NULL)
		return 0;
	set(&ev->hdr_name, p, colon);
	p = colon + 1;
	if (p < from && *p == ' ')
		p++;
	set(&ev->hdr_value, p, from);
	return 1;
}

/* parse_cleanup - cleanup's lines */
static void
parse_cleanup(const char *p, const char *end, rg_event *ev)
{
	const char *q, *r;
	rg_slice act;

	if (starts(p, end, LIT("warning: "))) {
		ev->kind = EV_WARNING;
		return;
	}
	if ((q = qid_prefix(p, end, &ev->qid)) == NULL)
		return;
	if (starts(q, end, LIT("message-id="))) {
		ev->kind = EV_MSGID;
		set(&ev->msgid, q + 11, end);
		return;
	}
	if (starts(q, end, LIT("resent-message-id="))) {
		ev->kind = EV_IGNORED;
		return;
	}
	if ((r = action_word(q, end, &act)) == NULL)
		return;
	ev->action = act;
	if (starts(act.p, end, LIT("milter-header-"))) {
		ev->hdr_is_milter = 1;
		ev->action.p += 14;
		ev->action.n -= 14;
		if (header_line(r, end, ev))
			ev->kind = EV_HEADER;
		return;
	}
	if (starts(act.p, end, LIT("milter-body-"))) {
		ev->kind = EV_IGNORED;
		return;
	}
	if (starts(act.p, end, LIT("milter-"))) {
		if (smtpd_action(r, end, ev))
			ev->kind = EV_MILTER;
		return;
	}
	if (header_line(r, end, ev)) {
		ev->kind = EV_HEADER;
		return;
	}
	if (eq(act.p, act.n, LIT("reject")) || eq(act.p, act.n, LIT("discard"))
	    || eq(act.p, act.n, LIT("hold"))) {
		/* cleanup's own refusals: "reject: ... message too large" */
		ev->kind = EV_SMTPD_ACTION;
		set(&ev->stage, act.p, act.p);
		ev->stage.p = "cleanup";
		ev->stage.n = 7;
		reply(r, end, ev);
	}
}

/*
 * delivery - "to=<r>, [orig_to=<o>, ]relay=R, ..., dsn=D, status=S (text)"
 * at p; 0 if malformed.
 */
static int
delivery(const char *p, const char *end, rg_event *ev)
{
	const char *q = p + 3, *k;

	if ((q = addr_field(q, end, &ev->rcpt)) == NULL)
		return 0;
	while (starts(q, end, LIT(", "))) {
		q += 2;
		if (starts(q, end, LIT("orig_to="))) {
			if ((q = addr_field(q + 8, end, &ev->orig_to)) == NULL)
				return 0;
			continue;
		}
		if (starts(q, end, LIT("status="))) {
			const char *w = q + 7, *we = w;

			while (we < end && *we != ' ')
				we++;
			set(&ev->status, w, we);
			if (starts(we, end, LIT(" ("))) {
				const char *close = end;

				if (close > we + 2 && close[-1] == ')')
					close--;
				set(&ev->response, we + 2, close);
			} else if (we < end) {
				set(&ev->response, we + 1, end);
			}
			return ev->status.n > 0;
		}
		/* key=value up to the next ", " */
		k = upto4(q, end, '=', ' ', ',', ',');
		if (k >= end || *k != '=')
			return 0;
		{
			const char *v = k + 1, *ve = comma_sp(v, end);
			rg_slice *dst = NULL;

			if (ve == NULL)
				ve = end;
			if (eq(q, (size_t)(k - q), LIT("relay")))
				dst = &ev->relay;
			else if (eq(q, (size_t)(k - q), LIT("delay")))
				dst = &ev->delay;
			else if (eq(q, (size_t)(k - q), LIT("dsn")))
				dst = &ev->dsn;
			if (dst != NULL)
				set(dst, v, ve);
			q = ve;
		}
	}
	return 0;
}

/* parse_queue_line - "QID: ..." lines of qmgr, delivery agents, bounce, postsuper */
static void
parse_queue_line(enum ev_prog prog, const char *p, const char *end,
    rg_event *ev)
{
	const char *q;

	if (starts(p, end, LIT("warning: ")) || starts(p, end, LIT("fatal: "))
	    || starts(p, end, LIT("panic: ")) || starts(p, end, LIT("error: "))) {
		ev->kind = EV_WARNING;
		return;
	}
	if ((q = qid_prefix(p, end, &ev->qid)) == NULL) {
		/* "connect to host[ip]:25: Connection refused", counts, ... */
		if (prog != PROG_QMGR && prog != PROG_BOUNCE)
			ev->kind = EV_IGNORED;
		else if (prog == PROG_QMGR)
			ev->kind = EV_IGNORED;
		return;
	}
	if (starts(q, end, LIT("to="))) {
		if (delivery(q, end, ev))
			ev->kind = EV_DELIVERY;
		return;
	}
	switch (prog) {
	case PROG_QMGR:
		if (eq(q, (size_t)(end - q), LIT("removed"))) {
			ev->kind = EV_REMOVED;
		} else if (starts(q, end, LIT("from="))) {
			const char *r = addr_field(q + 5, end, &ev->sender);

			if (r == NULL)
				return;
			if (starts(r, end, LIT(", status=expired"))
			    || starts(r, end, LIT(", status=force-expired"))) {
				ev->kind = EV_QMGR_EXPIRED;
				return;
			}
			ev->kind = EV_QMGR_FROM;
			kv_after(r, end, LIT("size="), &ev->size);
			kv_after(r, end, LIT("nrcpt="), &ev->nrcpt);
			if (ev->nrcpt.p != NULL) {
				const char *d = ev->nrcpt.p;

				while (d < ev->nrcpt.p + ev->nrcpt.n && DIG(*d))
					d++;
				ev->nrcpt.n = (size_t)(d - ev->nrcpt.p);
			}
		} else {
			ev->kind = EV_IGNORED;	/* skipped, still being delivered */
		}
		return;
	case PROG_BOUNCE: {
		const char *c = rg_memfind(q, end, LIT(" notification: "));

		if (c != NULL && qid_prefix(c + 15, end, &ev->qid2) == NULL) {
			set(&ev->qid2, c + 15, end);
			set(&ev->text, q, c + 13);
			ev->kind = EV_NOTIFY;
		}
		return;
	}
	case PROG_POSTSUPER:
		if (eq(q, (size_t)(end - q), LIT("placed on hold")))
			ev->kind = EV_HOLD;
		else if (eq(q, (size_t)(end - q), LIT("released from hold")))
			ev->kind = EV_RELEASE;
		else if (eq(q, (size_t)(end - q), LIT("removed")))
			ev->kind = EV_PS_REMOVED;
		else if (eq(q, (size_t)(end - q), LIT("requeued")))
			ev->kind = EV_REQUEUED;
		return;
	default:
		/* "host x said: ...", "lost connection with ...", "conversation ..." */
		ev->kind = EV_IGNORED;
		return;
	}
}

/* parse_pickup - "QID: uid=N from=<s>" */
static void
parse_pickup(const char *p, const char *end, rg_event *ev)
{
	const char *q, *f;

	if (starts(p, end, LIT("warning: ")) || starts(p, end, LIT("fatal: "))) {
		ev->kind = EV_WARNING;
		return;
	}
	if ((q = qid_prefix(p, end, &ev->qid)) == NULL)
		return;
	f = rg_memfind(q, end, LIT(" from="));
	if (starts(q, end, LIT("uid=")) && f != NULL
	    && addr_field(f + 6, end, &ev->sender) != NULL)
		ev->kind = EV_PICKUP;
}

/* symbol_names - "[A(1.0){x;},B(2){}]" -> "A,B" into scratch */
static void
symbol_names(const char *p, const char *end, strbuf *scratch, rg_slice *out)
{
	size_t start = scratch->len;
	int depth = 0, in_name = 1, any = 0;

	for (; p < end; p++) {
		char c = *p;

		if (depth == 0 && (c == '(' || c == '{')) {
			in_name = 0;
			depth++;
		} else if (depth > 0 && (c == '(' || c == '{')) {
			depth++;
		} else if (depth > 0 && (c == ')' || c == '}')) {
			depth--;
		} else if (depth == 0 && c == ',') {
			in_name = 1;
			any = 0;
			if (scratch->len > start)
				sb_addc(scratch, ',');
		} else if (depth == 0 && in_name && c != ' ') {
			if (!any && scratch->len > start
			    && scratch->s[scratch->len - 1] != ',')
				sb_addc(scratch, ',');
			sb_addc(scratch, c);
			any = 1;
		}
	}
	out->p = scratch->s + start;
	out->n = scratch->len - start;
}

/* bracket_end - the ']' closing a '[' list at p, skipping nested (), {} */
static const char *
bracket_end(const char *p, const char *end)
{
	int depth = 0;

	for (; p < end; p++) {
		if (*p == '(' || *p == '{')
			depth++;
		else if ((*p == ')' || *p == '}') && depth > 0)
			depth--;
		else if (*p == ']' && depth == 0)
			return p;
	}
	return NULL;
}

/* qid_char - a character of a Postfix queue ID (short or long) */
static int
qid_char(char c)
{
	return DIG(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* one verdict as rspamd writes it: "T (reject): [15.00/15.00] [" */
typedef struct rs_verdict {
	char letter;			/* T, F or S (skipped) */
	rg_slice action, score, required;
	const char *sym;		/* just after the symbol list's '[' */
} rs_verdict;

/*
 * rs_verdict_at - the fixed part of a verdict at p (just after
 * "(default: "), read strictly: only rspamd writes this part, so
 * anything else is not (or not only) rspamd's. 0 if it is not one.
 */
static int
rs_verdict_at(const char *p, const char *end, rs_verdict *v)
{
	const char *q, *n;

	if (end - p < 4 || (p[0] != 'T' && p[0] != 'F' && p[0] != 'S')
	    || p[1] != ' ' || p[2] != '(')
		return 0;
	v->letter = p[0];
	for (q = p + 3; q < end && ((*q >= 'a' && *q <= 'z') || *q == ' '
	    || *q == '_' || *q == '-'); q++)
		;
	if (q == p + 3 || !starts(q, end, LIT("): [")))
		return 0;
	set(&v->action, p + 3, q);
	for (n = q += 4; q < end && (DIG(*q) || *q == '.' || *q == '-'); q++)
		;
	if (q == n || q >= end || *q != '/')
		return 0;
	set(&v->score, n, q);
	for (n = ++q; q < end && (DIG(*q) || *q == '.' || *q == '-'); q++)
		;
	if (q == n || !starts(q, end, LIT("] [")))
		return 0;
	set(&v->required, n, q);
	v->sym = q + 3;
	return 1;
}

/* rs_take - give the event a verdict that was read without doubt */
static void
rs_take(rg_event *ev, const rs_verdict *v)
{
	/*
	 * The letter before the action is not the verdict: T says "not a
	 * ham action" (greylist included), S that the scan was skipped
	 * (GTUBE forces its action). The action says it.
	 */
	ev->filter_action = v->action;
	ev->spam = eq(v->action.p, v->action.n, LIT("reject"))
	    || eq(v->action.p, v->action.n, LIT("add header"))
	    || eq(v->action.p, v->action.n, LIT("rewrite subject"));
	ev->score = v->score;
	ev->required = v->required;
}

/* rs_doubt - a verdict line that cannot be read without doubt */
static void
rs_doubt(rg_event *ev)
{
	ev->kind = EV_RSPAMD;
	ev->spam = -1;
	ev->ambiguous |= EV_AMB_VERDICT;
}

/*
 * rs_strict - relayguard's own log_format (rspamd-config --logging): "rg1
 * qid: <Q>, (default: T (reject): [15.00/15.00] [A(1.00),B(2.00)]), ...".
 * Everything up to the end of the symbols is rspamd's own text (the
 * symbols without their options); what a client can set comes after it
 * and is never read.
 */
static void
rs_strict(const char *p, const char *end, rg_event *ev, strbuf *scratch)
{
	const char *q = p, *e;
	rs_verdict v;

	while (q < end && qid_char(*q))
		q++;
	if (q == p || !starts(q, end, LIT(">, (default: "))
	    || !rs_verdict_at(q + 13, end, &v)) {
		rs_doubt(ev);
		return;
	}
	set(&ev->qid, p, q);
	for (e = v.sym; e < end && (qid_char(*e) || *e == '_' || *e == '('
	    || *e == ')' || *e == ',' || *e == '.' || *e == '-'); e++)
		;
	if (!starts(e, end, LIT("])")) || (e + 2 < end && e[2] != ',')) {
		rs_doubt(ev);
		return;
	}
	rs_take(ev, &v);
	symbol_names(v.sym, e, scratch, &ev->symbols);
	ev->kind = EV_RSPAMD;
}

/*
 * rs_qid - the queue ID of rspamd's default line: every "qid: <" in it must
 * name the same one (the Message-ID before it and the sender, recipients
 * and symbol options after it are the client's). 0 without one, -1 if
 * they differ.
 */
static int
rs_qid(const char *p, const char *end, rg_slice *qid)
{
	const char *r = p, *e;
	rg_slice one;
	int n = 0;

	while ((r = rg_memfind(r, end, LIT("qid: <"))) != NULL) {
		r += 6;
		for (e = r; e < end && qid_char(*e); e++)
			;
		if (e == r || e >= end || *e != '>')
			return -1;
		set(&one, r, e);
		if (n++ > 0 && !sl_same(one, *qid))
			return -1;
		*qid = one;
	}
	return n > 0;
}

/*
 * parse_rspamd - "rspamd_task_write_log: id: <m>, qid: <Q>, ip: I, user: U,
 * from: <s>, (default: T (reject): [15.00/15.00] [SYMS]), len: ..., digest:
 * <d>, rcpts: <r>, ..." (rspamd's default log_format) or relayguard's
 * own format ("rg1 qid: <Q>, (default: ...", read strictly).
 *
 * In the default format the Message-ID, the login and the envelope sender
 * come before the verdict, the symbol options (message text) inside it and
 * the recipients after it, all as the client wrote them (a quoted local
 * part loses its quotes): each can hold text that looks like a verdict.
 * The real verdict is always there, so every "(default: " of the line must
 * be a verdict and all must say the same; otherwise the line gives no
 * verdict (spam -1, never "not spam") and is counted as ambiguous.
 */
static void
parse_rspamd(const char *p, const char *end, rg_event *ev, strbuf *scratch)
{
	const char *q = rg_memfind(p, end, LIT("rspamd_task_write_log: ")), *r, *e;
	rs_verdict v, first;
	int n = 0, doubt = 0, rc;

	memset(&first, 0, sizeof(first));
	if (q == NULL) {
		ev->kind = EV_IGNORED;
		return;
	}
	q += 23;
	if (starts(q, end, LIT("rg1 qid: <"))) {
		rs_strict(q + 10, end, ev, scratch);
		return;
	}
	if ((rc = rs_qid(q, end, &ev->qid)) == 0) {
		ev->kind = EV_IGNORED;	/* not scanned for Postfix */
		return;
	}
	if (rc < 0) {
		ev->qid.p = NULL, ev->qid.n = 0;
		rs_doubt(ev);
		return;
	}
	if (starts(q, end, LIT("id: <")) && (e = addr_end(q + 5, end)) != NULL)
		set(&ev->msgid, q + 4, e + 1);
	for (r = q; (r = rg_memfind(r, end, LIT("(default: "))) != NULL; n++) {
		r += 10;
		if (!rs_verdict_at(r, end, &v))
			doubt = 1;
		else if (n == 0)
			first = v;
		else if (v.letter != first.letter || !sl_same(v.action,
		    first.action) || !sl_same(v.score, first.score)
		    || !sl_same(v.required, first.required))
			doubt = 1;
	}
	if (n == 0)
		return;
	if (doubt) {
		rs_doubt(ev);
		return;
	}
	rs_take(ev, &first);
	/* the symbols only from a line with one verdict in it */
	if (n == 1 && (e = bracket_end(first.sym, end)) != NULL)
		symbol_names(first.sym, e, scratch, &ev->symbols);
	ev->kind = EV_RSPAMD;
}

/*
 * parse_amavis - "(pid-n) Passed CLEAN {...}, [ip]:port [ip] <s> -> <r>,
 * Queue-ID: Q, Message-ID: <m>, mail_id: x, Hits: 1.2, size: n, queued_as:
 * Q2, ..." The category comes first, before any client text; the sender
 * and recipients before the Queue-ID and the Message-ID (and Subject and
 * From, at higher log levels) after it are the client's, so each key read
 * must give one value: differing Queue-IDs give no verdict, differing
 * queued_as no link.
 */
static void
parse_amavis(const char *p, const char *end, rg_event *ev)
{
	const char *q = p, *w, *we, *c;

	ev->kind = EV_IGNORED;
	if (q < end && *q == '(') {
		q = memchr(q, ')', (size_t)(end - q));
		if (q == NULL)
			return;
		q++;
		if (q < end && *q == ' ')
			q++;
	}
	w = q;
	for (we = w; we < end && *we != ' '; we++)
		;
	if (!eq(w, (size_t)(we - w), LIT("Passed"))
	    && !eq(w, (size_t)(we - w), LIT("Blocked"))
	    && !eq(w, (size_t)(we - w), LIT("Not-Delivered")))
		return;
	set(&ev->filter_action, w, we);
	switch (kv_unique(we, end, LIT("Queue-ID: "), LIT(", "), &ev->qid)) {
	case 0:
		return;
	case -1:
		ev->kind = EV_AMAVIS;	/* no queue ID: it goes nowhere */
		ev->ambiguous |= EV_AMB_VERDICT;
		return;
	}
	for (c = ev->qid.p; c < ev->qid.p + ev->qid.n; c++)
		if (!qid_char(*c)) {
			ev->qid.p = NULL, ev->qid.n = 0;
			ev->kind = EV_AMAVIS;
			ev->ambiguous |= EV_AMB_VERDICT;
			return;
		}
	/* the category: CLEAN, SPAM, SPAMMY, INFECTED (name), BANNED, ... */
	w = we + 1;
	for (we = w; we < end && *we != ' ' && *we != ','; we++)
		;
	ev->spam = starts(w, we, LIT("SPAM"));
	set(&ev->symbols, w, we);
	kv_unique(w, end, LIT("Hits: "), LIT(", "), &ev->score);
	if (ev->score.n == 1 && ev->score.p[0] == '-')
		ev->score.p = NULL, ev->score.n = 0;
	if (kv_unique(w, end, LIT("queued_as: "), LIT(", "), &ev->qid2) < 0)
		ev->ambiguous |= EV_AMB_VERDICT;
	if (ev->qid2.p != NULL) {
		/* several re-injections: "Q2/Q3"; the first one */
		const char *s = memchr(ev->qid2.p, '/', ev->qid2.n);

		if (s != NULL)
			ev->qid2.n = (size_t)(s - ev->qid2.p);
	}
	if (kv_after(w, end, LIT("Message-ID: "), &ev->msgid) == 0)
		ev->msgid.p = NULL;
	ev->kind = EV_AMAVIS;
}

/*
 * parse_spamd - "spamd: result: Y 15 - GTUBE,... scantime=..,user=u,..,
 * required_score=5.0,..,mid=<m>,..." The flag, score and rule names come
 * first; the user (which a setup may take from a recipient) and the
 * Message-ID are the client's: every mid= and required_score= must give one
 * value, or the result matches no message (counted as ambiguous).
 */
static void
parse_spamd(const char *p, const char *end, rg_event *ev)
{
	const char *q = rg_memfind(p, end, LIT("result: ")), *s, *e;
	rg_slice mid;

	ev->kind = EV_IGNORED;
	if (q == NULL || end - q < 12)
		return;
	q += 8;
	if ((*q != 'Y' && *q != '.') || q[1] != ' ')
		return;
	ev->spam = *q == 'Y';
	q += 2;
	for (s = q; s < end && *s != ' '; s++)
		;
	set(&ev->score, q, s);
	if (!starts(s, end, LIT(" - ")))
		return;
	q = s + 3;
	for (s = q; s < end && *s != ' '; s++)
		;
	set(&ev->symbols, q, s);
	for (q = s; (q = rg_memfind(q, end, LIT("mid=<"))) != NULL; q = e) {
		if ((e = addr_end(q + 5, end)) == NULL)
			return;
		set(&mid, q + 4, e + 1);
		if (ev->msgid.p != NULL && !sl_same(mid, ev->msgid)) {
			ev->ambiguous |= EV_AMB_VERDICT;
			ev->msgid.p = NULL, ev->msgid.n = 0;
			ev->spam = -1;
			return;
		}
		ev->msgid = mid;
	}
	if (ev->msgid.p == NULL)
		return;
	kv_unique(s, end, LIT("required_score="), LIT(","), &ev->required);
	ev->kind = EV_SPAMD;
}

/* pf_parse - recognise the message of a mail program's line */
void
pf_parse(const logline *ll, enum ev_prog prog, rg_event *ev, strbuf *scratch)
{
	const char *p = ll->msg, *end = ll->msg + ll->msglen;

	RG_ZERO(ev);
	ev->kind = EV_UNKNOWN;
	ev->spam = -1;
	switch (prog) {
	case PROG_SMTPD:
		parse_smtpd(p, end, ev);
		break;
	case PROG_CLEANUP:
		parse_cleanup(p, end, ev);
		break;
	case PROG_QMGR:
	case PROG_DELIVERY:
	case PROG_BOUNCE:
	case PROG_POSTSUPER:
		parse_queue_line(prog, p, end, ev);
		if (prog == PROG_POSTSUPER && ev->kind == EV_UNKNOWN
		    && ev->qid.p == NULL)
			ev->kind = EV_IGNORED;	/* "Deleted: 3 messages" */
		break;
	case PROG_PICKUP:
		parse_pickup(p, end, ev);
		break;
	case PROG_POSTFIX_OTHER: {
		rg_slice qid;
		const char *q = qid_prefix(p, end, &qid);

		/* a custom transport's delivery agent logs deliveries too */
		if (q != NULL && starts(q, end, LIT("to="))) {
			ev->qid = qid;
			if (delivery(q, end, ev))
				ev->kind = EV_DELIVERY;
		} else if (starts(p, end, LIT("warning: "))) {
			ev->kind = EV_WARNING;
		} else {
			ev->kind = EV_IGNORED;
		}
		break;
	}
	case PROG_RSPAMD:
		parse_rspamd(p, end, ev, scratch);
		break;
	case PROG_AMAVIS:
		parse_amavis(p, end, ev);
		break;
	case PROG_SPAMD:
		parse_spamd(p, end, ev);
		break;
	default:
		ev->kind = EV_IGNORED;
		break;
	}
}
