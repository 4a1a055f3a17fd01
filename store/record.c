/*
 * record.c - message and session records as plain values: their life
 * (rec_init, rec_free, rec_compact: one arena per record) and their JSON
 * Lines output, which parse writes and the store rebuilds
 * (store_message_json). The JSON is appended to the caller's buffer (one
 * object, no newline); all text is escaped by sb_json_str: log content
 * cannot break the framing. Nothing here fails: memory comes from the
 * record's arena (xalloc's: out of memory aborts).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "../common/zero.h"
#include "record.h"

/* rec_dup - a copy of an arena string (maybe NULL) in ar */
char *
rec_dup(rg_arena *ar, const char *str)
{
	return str == NULL ? NULL : rg_arena_str(ar, str, rg_str_len(str));
}

/* rec_init - an empty record whose arena draws from pool */
void
rec_init(rg_record *r, rg_pool *pool)
{
	RG_ZERO(r);
	rg_arena_init(&r->ar, pool);
	r->size = r->nrcpt = -1;
	r->smtpd_pid = -1;
}

/* rec_free - release a record's strings and lists (its arena) at once */
void
rec_free(rg_record *r)
{
	rg_arena_free(&r->ar);
}

/* copy_into - point r at copies of its values and lists made in na */
static void
copy_into(rg_record *r, rg_arena *ar)
{
	int i, j;

#define CP(f) ((f) = rec_dup(ar, (f)))
	CP(r->client_host);
	CP(r->client_ip);
	CP(r->client_port);
	CP(r->sasl_method);
	CP(r->sasl_username);
	CP(r->sender);
	CP(r->message_id);
	if (r->nheaders > 0) {
		r->headers = rg_arena_grow(ar, r->headers, (size_t)r->nheaders,
		    (size_t)r->nheaders, sizeof(rg_header));
		r->hcap = r->nheaders;
		for (i = 0; i < r->nheaders; i++) {
			CP(r->headers[i].name);
			CP(r->headers[i].value);
		}
	}
	if (r->nrcpts > 0) {
		r->rcpts = rg_arena_grow(ar, r->rcpts, (size_t)r->nrcpts,
		    (size_t)r->nrcpts, sizeof(rg_rcpt));
		r->rcap = r->nrcpts;
	}
	for (i = 0; i < r->nrcpts; i++) {
		rg_rcpt *rc = &r->rcpts[i];
		int cap = 1;

		CP(rc->address);
		CP(rc->orig_to);
		CP(rc->status);
		CP(rc->dsn);
		CP(rc->relay);
		CP(rc->delay);
		CP(rc->response);
		if (rc->nhist == 0)
			continue;
		/* room up to the next power of two: rec_hist_add grows there */
		while (cap < rc->nhist)
			cap *= 2;
		rc->hist = rg_arena_grow(ar, rc->hist, (size_t)rc->nhist,
		    (size_t)cap, sizeof(rg_attempt));
		for (j = 0; j < rc->nhist; j++) {
			CP(rc->hist[j].status);
			CP(rc->hist[j].dsn);
		}
	}
	CP(r->verdict.score);
	CP(r->verdict.required);
	CP(r->verdict.action);
	CP(r->verdict.symbols);
	CP(r->rejected.stage);
	CP(r->rejected.code);
	CP(r->rejected.dsn);
	CP(r->rejected.text);
	CP(r->bounce_of);
	CP(r->orig_queue_id);
	CP(r->filtered_as);
#undef CP
}

/* SB - where a copy of arena string f (maybe NULL) ends, from offset o */
#define SB(o, f) ((f) != NULL ? (o) + sizeof(uint32_t) + rg_str_len(f) + 1 \
	: (o))
/* AB - where an array of n elements of size el ends (16-aligned start) */
#define AB(o, n, el) ((((o) + 15) & ~(size_t)15) + (size_t)(n) * (el))

/*
 * live_bound - the bytes copy_into(r) takes in one chunk whose data starts
 * 16-aligned: the same copies in the same order, strings packed, lists
 * aligned (so the chunk is exactly as big as what is live)
 */
static size_t
live_bound(const rg_record *r)
{
	size_t o = 0;
	int i, j, cap;

	o = SB(o, r->client_host);
	o = SB(o, r->client_ip);
	o = SB(o, r->client_port);
	o = SB(o, r->sasl_method);
	o = SB(o, r->sasl_username);
	o = SB(o, r->sender);
	o = SB(o, r->message_id);
	if (r->nheaders > 0) {
		o = AB(o, r->nheaders, sizeof(rg_header));
		for (i = 0; i < r->nheaders; i++) {
			o = SB(o, r->headers[i].name);
			o = SB(o, r->headers[i].value);
		}
	}
	if (r->nrcpts > 0)
		o = AB(o, r->nrcpts, sizeof(rg_rcpt));
	for (i = 0; i < r->nrcpts; i++) {
		const rg_rcpt *rc = &r->rcpts[i];

		o = SB(o, rc->address);
		o = SB(o, rc->orig_to);
		o = SB(o, rc->status);
		o = SB(o, rc->dsn);
		o = SB(o, rc->relay);
		o = SB(o, rc->delay);
		o = SB(o, rc->response);
		if (rc->nhist == 0)
			continue;
		for (cap = 1; cap < rc->nhist; cap *= 2)
			;
		o = AB(o, cap, sizeof(rg_attempt));
		for (j = 0; j < rc->nhist; j++) {
			o = SB(o, rc->hist[j].status);
			o = SB(o, rc->hist[j].dsn);
		}
	}
	o = SB(o, r->verdict.score);
	o = SB(o, r->verdict.required);
	o = SB(o, r->verdict.action);
	o = SB(o, r->verdict.symbols);
	o = SB(o, r->rejected.stage);
	o = SB(o, r->rejected.code);
	o = SB(o, r->rejected.dsn);
	o = SB(o, r->rejected.text);
	o = SB(o, r->bounce_of);
	o = SB(o, r->orig_queue_id);
	o = SB(o, r->filtered_as);
	return o;
}
#undef SB
#undef AB

/*
 * rec_compact - copy what r holds into a new arena and free the old one:
 * replaced values and outgrown lists are dropped. Tight: into one chunk
 * of about the size of what is live (for a record that waits, held or
 * deferred, for hours or days). Returns the new size.
 */
size_t
rec_compact(rg_record *r, int tight)
{
	rg_arena na;

	if (tight)	/* one chunk: room for what copy_into will take */
		rg_arena_init_reserve(&na, r->ar.pool, live_bound(r));
	else
		rg_arena_init(&na, r->ar.pool);
	copy_into(r, &na);
	rg_arena_free(&r->ar);
	r->ar = na;
	return r->ar.size;
}

/* ---- JSON output ---- */

/* verdict_source_name - the "source" of a verdict in the output */
const char *
verdict_source_name(enum verdict_source v)
{
	switch (v) {
	case VS_CLIENT_HEADER:
	case VS_HEADER: return "header";
	case VS_MILTER: return "milter";
	case VS_SPAMD: return "spamd";
	case VS_AMAVIS: return "amavis";
	case VS_RSPAMD: return "rspamd";
	default: return "none";
	}
}

/* KEY - a key literal and its length (no strlen at run time) */
#define KEY(k) k, sizeof(k) - 1

/* room - make room for n more bytes (and the NUL); inline when there is */
static inline void
room(strbuf *sb, size_t n)
{
	if (sb->len + n + 1 > sb->cap)
		sb_grow(sb, n);
}

/* put_c - append one byte (sb_addc, inline) */
static inline void
put_c(strbuf *sb, char c)
{
	room(sb, 1);
	sb->s[sb->len++] = c;
	sb->s[sb->len] = '\0';
}

/*
 * key_n - the separator and "key": (sb_json_key_n, inline: the key is a
 * literal of known length, copied without a call)
 */
static inline void
key_n(strbuf *sb, int *first, const char *key, size_t kl)
{
	char *o;

	room(sb, kl + 4);
	o = sb->s + sb->len;
	if (!*first)
		*o++ = ',';
	*first = 0;
	*o++ = '"';
	memcpy(o, key, kl);
	o += kl;
	*o++ = '"';
	*o++ = ':';
	*o = '\0';
	sb->len = (size_t)(o - sb->s);
}

/* kv - "key":"value" when the value (an arena string) is set */
static inline void
kv(strbuf *sb, int *first, const char *key, size_t kl, const char *v)
{
	if (v != NULL) {
		key_n(sb, first, key, kl);
		sb_json_str(sb, v, rg_str_len(v));
	}
}

/* kv_lit - "key":"value" for a constant of ours */
static void
kv_lit(strbuf *sb, int *first, const char *key, size_t kl, const char *v)
{
	key_n(sb, first, key, kl);
	sb_json_str(sb, v, strlen(v));
}

/* kv_int - "key":number */
static void
kv_int(strbuf *sb, int *first, const char *key, size_t kl, long long v)
{
	key_n(sb, first, key, kl);
	sb_add_int(sb, v);
}

/* kv_bool - "key":true|false */
static void
kv_bool(strbuf *sb, int *first, const char *key, size_t kl, int v)
{
	key_n(sb, first, key, kl);
	if (v)
		sb_add(sb, "true", 4);
	else
		sb_add(sb, "false", 5);
}

/* put2 - two decimal digits of v (0..99) at o */
static inline char *
put2(char *o, unsigned v)
{
	o[0] = (char)('0' + v / 10);
	o[1] = (char)('0' + v % 10);
	return o + 2;
}

/*
 * kv_time - "key":"RFC 3339" when t is set (rgt_format's text). Records
 * end in time order: the date is formatted once a day (rgt_format of its
 * midnight), the time of day here (UTC has no leap seconds in gmtime: the
 * hour, minute and second are those of the seconds since midnight).
 */
static void
kv_time(strbuf *sb, int *first, const char *key, size_t kl, rg_usec t)
{
	static struct {
		long long day;
		size_t len;
		char pre[64];
	} cache[4];			/* by day; first_seen and last_seen */
	static int ready;
	long long secs, day, sod;
	unsigned long us;
	unsigned i;
	char *o;

	if (t == 0)
		return;
	if (!ready) {
		for (i = 0; i < 4; i++)
			cache[i].day = LLONG_MIN;
		ready = 1;
	}
	secs = t >= 0 ? t / RG_USEC : -((-t + RG_USEC - 1) / RG_USEC);
	us = (unsigned long)(t - secs * RG_USEC);
	day = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	sod = secs - day * 86400;
	i = (unsigned)day & 3;
	if (cache[i].day != day) {
		/* "YYYY-MM-DDT00:00:00Z" without its "00:00:00Z" */
		rgt_format(cache[i].pre, (rg_usec)day * 86400 * RG_USEC);
		cache[i].len = strlen(cache[i].pre) - 9;
		cache[i].day = day;
	}
	key_n(sb, first, key, kl);
	room(sb, cache[i].len + 20);
	o = sb->s + sb->len;
	*o++ = '"';
	memcpy(o, cache[i].pre, cache[i].len);
	o += cache[i].len;
	o = put2(o, (unsigned)(sod / 3600));
	*o++ = ':';
	o = put2(o, (unsigned)(sod / 60 % 60));
	*o++ = ':';
	o = put2(o, (unsigned)(sod % 60));
	if (us != 0) {
		int d;

		*o++ = '.';
		for (d = 5; d >= 0; d--, us /= 10)
			o[d] = (char)('0' + us % 10);
		o += 6;
	}
	*o++ = 'Z';
	*o++ = '"';
	*o = '\0';
	sb->len = (size_t)(o - sb->s);
}

/* is_number - "-?[0-9]+(.[0-9]+)?": safe to write as a JSON number */
static int
is_number(const char *v)
{
	const char *p = v;

	if (*p == '-')
		p++;
	if (*p < '0' || *p > '9')
		return 0;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return 0;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return *p == '\0' && p - v < 20;
}

/* kv_num - "key":number for a numeric string, else "key":"string" */
static void
kv_num(strbuf *sb, int *first, const char *key, size_t kl, const char *v)
{
	if (v == NULL)
		return;
	if (is_number(v)) {
		key_n(sb, first, key, kl);
		sb_add(sb, v, rg_str_len(v));
	} else {
		kv(sb, first, key, kl, v);
	}
}

/* rec_json - one message record as a JSON object */
void
rec_json(strbuf *sb, const rg_record *r)
{
	int first = 1, i;

	put_c(sb, '{');
	kv_lit(sb, &first, KEY("type"), "message");
	kv(sb, &first, KEY("host"), r->host);
	if (r->qid[0])
		kv_lit(sb, &first, KEY("queue_id"), r->qid);
	kv(sb, &first, KEY("orig_queue_id"), r->orig_queue_id);
	kv(sb, &first, KEY("bounce_of"), r->bounce_of);
	kv_bool(sb, &first, KEY("complete"), r->complete);
	if (r->stale)
		kv_bool(sb, &first, KEY("stale"), 1);
	kv_time(sb, &first, KEY("first_seen"), r->first_seen);
	kv_time(sb, &first, KEY("last_seen"), r->last_seen);
	kv(sb, &first, KEY("client_host"), r->client_host);
	kv(sb, &first, KEY("client_ip"), r->client_ip);
	kv_num(sb, &first, KEY("client_port"), r->client_port);
	kv(sb, &first, KEY("sasl_method"), r->sasl_method);
	kv(sb, &first, KEY("sasl_username"), r->sasl_username);
	if (r->pickup)
		kv_bool(sb, &first, KEY("local_submission"), 1);
	kv(sb, &first, KEY("sender"), r->sender);
	if (r->size >= 0)
		kv_int(sb, &first, KEY("size"), r->size);
	if (r->nrcpt >= 0)
		kv_int(sb, &first, KEY("nrcpt"), r->nrcpt);
	kv(sb, &first, KEY("message_id"), r->message_id);
	if (r->nheaders > 0) {
		int f2 = 1, ncut = 0;

		key_n(sb, &first, KEY("headers"));
		put_c(sb, '{');
		for (i = 0; i < r->nheaders; i++) {
			/* the name came from the log too: escape it as a key */
			if (!f2)
				put_c(sb, ',');
			f2 = 0;
			sb_json_str(sb, r->headers[i].name,
			    rg_str_len(r->headers[i].name));
			put_c(sb, ':');
			sb_json_str(sb, r->headers[i].value,
			    rg_str_len(r->headers[i].value));
			ncut += r->headers[i].cut;
		}
		put_c(sb, '}');
		if (ncut) {
			int f3 = 1;

			key_n(sb, &first, KEY("headers_cut"));
			put_c(sb, '[');
			for (i = 0; i < r->nheaders; i++) {
				if (!r->headers[i].cut)
					continue;
				if (!f3)
					put_c(sb, ',');
				f3 = 0;
				sb_json_str(sb, r->headers[i].name,
				    rg_str_len(r->headers[i].name));
			}
			put_c(sb, ']');
		}
	}
	if (r->nrcpts > 0) {
		key_n(sb, &first, KEY("recipients"));
		put_c(sb, '[');
		for (i = 0; i < r->nrcpts; i++) {
			const rg_rcpt *rc = &r->rcpts[i];
			int f2 = 1;

			if (i)
				put_c(sb, ',');
			put_c(sb, '{');
			kv(sb, &f2, KEY("address"), rc->address);
			kv(sb, &f2, KEY("orig_to"), rc->orig_to);
			kv(sb, &f2, KEY("status"), rc->status);
			kv(sb, &f2, KEY("dsn"), rc->dsn);
			kv(sb, &f2, KEY("relay"), rc->relay);
			kv_num(sb, &f2, KEY("delay"), rc->delay);
			kv(sb, &f2, KEY("response"), rc->response);
			if (rc->attempts > 0)
				kv_int(sb, &f2, KEY("attempts"), rc->attempts);
			put_c(sb, '}');
		}
		put_c(sb, ']');
	}
	if (r->verdict.source != VS_NONE) {
		int f2 = 1;

		key_n(sb, &first, KEY("verdict"));
		put_c(sb, '{');
		kv_lit(sb, &f2, KEY("source"), verdict_source_name(r->verdict.source));
		kv_bool(sb, &f2, KEY("spam"), r->verdict.spam);
		kv_num(sb, &f2, KEY("score"), r->verdict.score);
		kv_num(sb, &f2, KEY("required"), r->verdict.required);
		kv(sb, &f2, KEY("action"), r->verdict.action);
		kv(sb, &f2, KEY("symbols"), r->verdict.symbols);
		if (r->verdict.source == VS_CLIENT_HEADER)
			kv_bool(sb, &f2, KEY("from_client"), 1);
		put_c(sb, '}');
	}
	if (r->held || r->was_held)
		kv_bool(sb, &first, KEY("held"), r->held);
	if (r->discarded)
		kv_bool(sb, &first, KEY("discarded"), 1);
	if (r->expired)
		kv_bool(sb, &first, KEY("expired"), 1);
	if (r->deleted)
		kv_bool(sb, &first, KEY("deleted"), 1);
	if (r->aborted)
		kv_bool(sb, &first, KEY("aborted"), 1);
	if (r->rejected.stage != NULL) {
		int f2 = 1;

		key_n(sb, &first, KEY("rejected"));
		put_c(sb, '{');
		kv(sb, &f2, KEY("stage"), r->rejected.stage);
		kv_num(sb, &f2, KEY("code"), r->rejected.code);
		kv(sb, &f2, KEY("dsn"), r->rejected.dsn);
		kv(sb, &f2, KEY("text"), r->rejected.text);
		put_c(sb, '}');
	}
	kv(sb, &first, KEY("filtered_as"), r->filtered_as);
	put_c(sb, '}');
}

/*
 * counters_json - "ehlo=1 auth=0/1 rcpt=2/3 commands=5/7" as
 * "counters":{"ehlo":1,"auth":0,"rcpt":2,"commands":5} (the successful
 * ones) and "counters_failed":{"auth":1,"rcpt":1,"commands":2}.
 */
static void
counters_json(strbuf *sb, int *first, const char *p)
{
	int pass, f2, any_failed = 0;

	for (pass = 0; pass < 2; pass++) {
		const char *q = p;

		if (pass == 1 && !any_failed)
			break;
		sb_json_key(sb, first, pass == 0 ? "counters" : "counters_failed");
		put_c(sb, '{');
		f2 = 1;
		while (*q) {
			const char *eq = strchr(q, '='), *sp;
			char *end;
			long ok, total;

			if (eq == NULL)
				break;
			sp = strchr(eq, ' ');
			if (sp == NULL)
				sp = eq + strlen(eq);
			ok = strtol(eq + 1, &end, 10);
			total = ok;
			if (end < sp && *end == '/')
				total = strtol(end + 1, &end, 10);
			if (end == sp && end > eq + 1 && ok >= 0 && total >= ok
			    && (pass == 0 || total > ok)) {
				if (total > ok)
					any_failed = 1;
				if (!f2)
					put_c(sb, ',');
				f2 = 0;
				sb_json_str(sb, q, (size_t)(eq - q));
				sb_printf(sb, ":%ld", pass == 0 ? ok : total - ok);
			}
			q = *sp ? sp + 1 : sp;
		}
		put_c(sb, '}');
	}
}

/* sess_json - one SMTP session record as a JSON object */
void
sess_json(strbuf *sb, const rg_session *s)
{
	int first = 1;

	put_c(sb, '{');
	kv_lit(sb, &first, KEY("type"), "session");
	kv(sb, &first, KEY("host"), s->host);
	kv(sb, &first, KEY("program"), s->prog);
	kv_int(sb, &first, KEY("pid"), s->pid);
	kv_bool(sb, &first, KEY("complete"), s->complete);
	if (s->stale)
		kv_bool(sb, &first, KEY("stale"), 1);
	kv_time(sb, &first, KEY("connect"), s->connect);
	kv_time(sb, &first, KEY("disconnect"), s->disconnect);
	kv(sb, &first, KEY("client_host"), s->client_host);
	kv(sb, &first, KEY("client_ip"), s->client_ip);
	kv_num(sb, &first, KEY("client_port"), s->client_port);
	kv(sb, &first, KEY("sasl_method"), s->sasl_method);
	kv(sb, &first, KEY("sasl_username"), s->sasl_username);
	if (s->sasl_failures)
		kv_int(sb, &first, KEY("sasl_failures"), s->sasl_failures);
	kv_int(sb, &first, KEY("messages"), s->messages);
	kv_int(sb, &first, KEY("rejects"), s->rejects);
	kv(sb, &first, KEY("lost"), s->lost);
	if (s->counters != NULL)
		counters_json(sb, &first, s->counters);
	put_c(sb, '}');
}
