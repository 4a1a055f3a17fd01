/*
 * recblob.c - a message record as the blobs the store keeps, and back:
 * the full form (the record and the assembler's own state of it, rb_node:
 * the open state before schema 9, a finished record before schema 7, the
 * pending records of a session), the lean form of a finished record
 * (messages.rec: what its row and child rows do not hold) and the lean
 * open form (open_msgs.state). The collector's assembler writes them at
 * its checkpoints (collector/asm_persist.c) and restores from them; the
 * store rebuilds records, their JSON and the full forms from its rows and
 * these, and migrates old forms to new ones. The formats are read from
 * existing databases: change one only with a new version that still reads
 * the old one. Every reader is bounded (ser.h): a damaged blob is
 * refused (-1), never trusted.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/ser.h"
#include "recblob.h"

#define STATE_VERSION RB_STATE_VERSION

/* rec_flags - the record's flags word (rb_put's) */
static uint64_t
rec_flags(const rg_record *r)
{
	return (uint64_t)(r->held | r->was_held << 1 | r->discarded << 2
	    | r->expired << 3 | r->deleted << 4 | r->complete << 5
	    | r->stale << 6 | r->noqueue << 7 | r->pickup << 8
	    | r->aborted << 9);
}

/* rec_set_flags - a flags word of rec_flags back into the record */
static void
rec_set_flags(rg_record *r, uint64_t flags)
{
	r->held = flags & 1;
	r->was_held = (flags >> 1) & 1;
	r->discarded = (flags >> 2) & 1;
	r->expired = (flags >> 3) & 1;
	r->deleted = (flags >> 4) & 1;
	r->complete = (flags >> 5) & 1;
	r->stale = (flags >> 6) & 1;
	r->noqueue = (flags >> 7) & 1;
	r->pickup = (flags >> 8) & 1;
	r->aborted = (flags >> 9) & 1;
}

/* rb_put - a record and the node's own state (n NULL: none) */
void
rb_put(strbuf *sb, const rg_record *r, const rb_node *m)
{
	int i, j;

	ser_put_u64(sb, r->id);
	ser_put_str(sb, r->host);
	ser_put_str(sb, r->qid);
	ser_put_i64(sb, r->first_seen);
	ser_put_i64(sb, r->last_seen);
	ser_put_str(sb, r->client_host);
	ser_put_str(sb, r->client_ip);
	ser_put_str(sb, r->client_port);
	ser_put_str(sb, r->sasl_method);
	ser_put_str(sb, r->sasl_username);
	ser_put_str(sb, r->sender);
	ser_put_i64(sb, r->size);
	ser_put_i64(sb, r->nrcpt);
	ser_put_str(sb, r->message_id);
	ser_put_u64(sb, (uint64_t)r->nheaders);
	for (i = 0; i < r->nheaders; i++) {
		ser_put_str(sb, r->headers[i].name);
		ser_put_str(sb, r->headers[i].value);
		ser_put_u64(sb, (uint64_t)r->headers[i].cut);
	}
	ser_put_u64(sb, (uint64_t)r->nrcpts);
	for (i = 0; i < r->nrcpts; i++) {
		const rg_rcpt *rc = &r->rcpts[i];

		ser_put_str(sb, rc->address);
		ser_put_str(sb, rc->orig_to);
		ser_put_str(sb, rc->status);
		ser_put_str(sb, rc->dsn);
		ser_put_str(sb, rc->relay);
		ser_put_str(sb, rc->delay);
		ser_put_str(sb, rc->response);
		ser_put_u64(sb, (uint64_t)rc->attempts);
		ser_put_u64(sb, (uint64_t)rc->nhist);
		for (j = 0; j < rc->nhist; j++) {
			ser_put_i64(sb, rc->hist[j].ts);
			ser_put_str(sb, rc->hist[j].status);
			ser_put_str(sb, rc->hist[j].dsn);
		}
	}
	ser_put_u64(sb, (uint64_t)r->verdict.source);
	ser_put_u64(sb, (uint64_t)r->verdict.spam);
	ser_put_str(sb, r->verdict.score);
	ser_put_str(sb, r->verdict.required);
	ser_put_str(sb, r->verdict.action);
	ser_put_str(sb, r->verdict.symbols);
	ser_put_str(sb, r->rejected.stage);
	ser_put_str(sb, r->rejected.code);
	ser_put_str(sb, r->rejected.dsn);
	ser_put_str(sb, r->rejected.text);
	ser_put_str(sb, r->bounce_of);
	ser_put_str(sb, r->orig_queue_id);
	ser_put_str(sb, r->filtered_as);
	ser_put_i64(sb, r->smtpd_pid);
	ser_put_u64(sb, rec_flags(r));
	ser_put_u64(sb, m ? (uint64_t)(m->ended | m->queued << 1) : 0);
	ser_put_i64(sb, m ? m->ended_at : 0);
	ser_put_u64(sb, m ? m->seq : 0);
}

/*
 * rb_get - a record written by rb_put into the empty record r (rec_init)
 * and the node's own state into m; hostfn (NULL: a copy in r's arena) gives
 * the host name's shared copy. -1 if damaged.
 */
int
rb_get(ser_reader *rd, rg_record *r, rb_node *m, rb_host_fn hostfn,
    void *arg)
{
	rg_arena *ar = &r->ar;
	char *host, *qid;
	uint64_t n, flags, i, j;

	r->id = ser_get_u64(rd);
	host = ser_get_str(rd);
	qid = ser_get_str(rd);
	if (host == NULL)
		r->host = hostfn != NULL ? hostfn(arg, "", 0)
		    : rg_arena_str(ar, "", 0);
	else
		r->host = hostfn != NULL ? hostfn(arg, host, strlen(host))
		    : rg_arena_str(ar, host, strlen(host));
	free(host);
	if (qid != NULL) {
		snprintf(r->qid, sizeof(r->qid), "%s", qid);
		free(qid);
	}
	r->first_seen = ser_get_i64(rd);
	r->last_seen = ser_get_i64(rd);
	r->client_host = ser_get_astr(rd, ar);
	r->client_ip = ser_get_astr(rd, ar);
	r->client_port = ser_get_astr(rd, ar);
	r->sasl_method = ser_get_astr(rd, ar);
	r->sasl_username = ser_get_astr(rd, ar);
	r->sender = ser_get_astr(rd, ar);
	r->size = ser_get_i64(rd);
	r->nrcpt = ser_get_i64(rd);
	r->message_id = ser_get_astr(rd, ar);
	n = ser_get_u64(rd);
	if (n > 32)
		rd->bad = 1;
	if (n > 0 && !rd->bad) {
		r->headers = rg_arena_alloc(ar, n * sizeof(rg_header));
		r->hcap = (int)n;
	}
	for (i = 0; i < n && !rd->bad; i++) {
		r->headers[i].name = ser_get_astr(rd, ar);
		r->headers[i].value = ser_get_astr(rd, ar);
		r->headers[i].cut = (int)ser_get_u64(rd);
		r->nheaders++;
		if (r->headers[i].name == NULL || r->headers[i].value == NULL)
			rd->bad = 1;
	}
	n = ser_get_u64(rd);
	if (n > 1000000)
		rd->bad = 1;
	for (i = 0; i < n && !rd->bad; i++) {
		rg_rcpt *rc;
		uint64_t nh;

		if (r->nrcpts == r->rcap) {
			rg_rcpt *v;

			r->rcap = r->rcap ? r->rcap * 2 : 4;
			v = rg_arena_alloc(ar, (size_t)r->rcap * sizeof(*rc));
			if (r->nrcpts > 0)
				memcpy(v, r->rcpts, (size_t)r->nrcpts * sizeof(*rc));
			r->rcpts = v;
		}
		rc = &r->rcpts[r->nrcpts++];
		memset(rc, 0, sizeof(*rc));
		rc->address = ser_get_astr(rd, ar);
		rc->orig_to = ser_get_astr(rd, ar);
		rc->status = ser_get_astr(rd, ar);
		rc->dsn = ser_get_astr(rd, ar);
		rc->relay = ser_get_astr(rd, ar);
		rc->delay = ser_get_astr(rd, ar);
		rc->response = ser_get_astr(rd, ar);
		rc->attempts = (int)ser_get_u64(rd);
		nh = ser_get_u64(rd);
		if (nh > RG_MAX_ATTEMPTS)
			rd->bad = 1;
		if (nh > 0 && !rd->bad) {
			/* room as rec_hist_add (collector) leaves it: grows at
			 * 1, 2, 4, ... attempts */
			size_t cap = 1;

			while (cap < nh)
				cap *= 2;
			rc->hist = rg_arena_alloc(ar, cap * sizeof(rg_attempt));
		}
		for (j = 0; j < nh && !rd->bad; j++) {
			rc->hist[j].ts = ser_get_i64(rd);
			rc->hist[j].status = ser_get_astr(rd, ar);
			rc->hist[j].dsn = ser_get_astr(rd, ar);
			rc->nhist++;
		}
	}
	r->verdict.source = (enum verdict_source)ser_get_u64(rd);
	r->verdict.spam = (int)ser_get_u64(rd);
	r->verdict.score = ser_get_astr(rd, ar);
	r->verdict.required = ser_get_astr(rd, ar);
	r->verdict.action = ser_get_astr(rd, ar);
	r->verdict.symbols = ser_get_astr(rd, ar);
	r->rejected.stage = ser_get_astr(rd, ar);
	r->rejected.code = ser_get_astr(rd, ar);
	r->rejected.dsn = ser_get_astr(rd, ar);
	r->rejected.text = ser_get_astr(rd, ar);
	r->bounce_of = ser_get_astr(rd, ar);
	r->orig_queue_id = ser_get_astr(rd, ar);
	r->filtered_as = ser_get_astr(rd, ar);
	r->smtpd_pid = (long)ser_get_i64(rd);
	flags = ser_get_u64(rd);
	rec_set_flags(r, flags);
	flags = ser_get_u64(rd);
	m->ended = flags & 1;
	m->queued = (flags >> 1) & 1;
	m->ended_at = ser_get_i64(rd);
	m->seq = ser_get_u64(rd);
	r->persisted = 1;	/* it comes from the store */
	return rd->bad || r->verdict.source > VS_RSPAMD ? -1 : 0;
}

/*
 * rb_full - a finished record in the blob format of the open ones (its
 * node's own state zero): the store kept it instead of its JSON
 */
void
rb_full(strbuf *sb, const rg_record *r)
{
	ser_put_u64(sb, STATE_VERSION);
	rb_put(sb, r, NULL);
}

/*
 * blob_record - the record of a full blob (rb_full's or an open one's)
 * into r (its arena drawing from pool, NULL: malloc), and the node's
 * state into m: 0, -1 if damaged (r freed). rec_free gives it back.
 */
static int
blob_record(rg_record *r, rb_node *m, const void *blob, size_t len,
    rg_pool *pool)
{
	ser_reader rd;

	rec_init(r, pool);
	ser_reader_init(&rd, blob, len);
	if (ser_get_u64(&rd) != STATE_VERSION
	    || rb_get(&rd, r, m, NULL, NULL) != 0 || !ser_ok(&rd)) {
		rec_free(r);
		return -1;
	}
	return 0;
}

/*
 * rb_json - the JSON of a record blob (rb_full's or an open one's), byte
 * for byte as rec_json writes the record: 0, -1 if damaged
 */
int
rb_json(const void *blob, size_t len, rg_pool *pool, strbuf *sb)
{
	rg_record r;
	rb_node m;

	if (blob_record(&r, &m, blob, len, pool) != 0)
		return -1;
	rec_json(sb, &r);
	rec_free(&r);
	return 0;
}

/*
 * The lean form of a finished record (messages.rec since schema 7): only
 * what its row's columns and child rows (headers, recipients, verdicts)
 * do not hold, so that store/store.c rebuilds the record from them and
 * this. LEAN_VERSION is far from STATE_VERSION so that the two never meet.
 *
 *	version, flags (1: local submission)
 *	headers: count, then per header its rank + 1 among the headers
 *	    table's rows (sorted by name, first of a name kept), or 0 and
 *	    the header itself (a repeated name)
 *	recipients: count (that of the recipients rows), then per recipient
 *	    bits (the response's form LR_*, the relay's LRL_*, LB_*), then
 *	    as they say orig_to, the relay, delay, the response, attempts
 *
 * A recipient's response is often the reply code, its DSN and a short
 * rest ("250 2.0.0 Ok"), or the same after "host " the relay without its
 * port " said: " (LR_SAID: a remote reply), or the reject text, or its
 * predecessor's; its
 * relay its predecessor's, or one of the few the relay talks to: those
 * are numbered by the store (the relays table) through intern/resolve.
 * The delivery history (read by nothing once the message is finished) is
 * not kept. The bits of the usual recipient fit one byte.
 */
#define LEAN_VERSION	16

enum { LR_NULL, LR_TEXT, LR_PREV, LR_REJECT, LR_REPLY, LR_SAID }; /* bits 0-2 */
#define LRL_SHIFT	3	/* the relay: 2 bits from here */
enum { LRL_NULL, LRL_TEXT, LRL_PREV, LRL_ID };
#define LB_DELAY	0x20	/* delay follows */
#define LB_ORIG		0x40	/* orig_to follows */
#define LB_NOADDR	0x80	/* address NULL (the row holds "") */
#define LB_TEXTID	0x100	/* the text (LR_TEXT) or the rest (LR_REPLY,
				 * LR_SAID) is numbered (open states only) */

/* reply_split - response is "CODE DSN REST" with rc's DSN: code, rest */
static int
reply_split(const char *resp, const char *dsn, unsigned *code,
    const char **rest)
{
	size_t n;

	if (resp == NULL || dsn == NULL || *dsn == '\0'
	    || resp[0] < '2' || resp[0] > '5' || resp[1] < '0' || resp[1] > '9'
	    || resp[2] < '0' || resp[2] > '9' || resp[3] != ' ')
		return 0;
	n = strlen(dsn);
	if (strncmp(resp + 4, dsn, n) != 0)
		return 0;
	*code = (unsigned)(resp[0] - '0') * 100 + (unsigned)(resp[1] - '0') * 10
	    + (unsigned)(resp[2] - '0');
	*rest = resp + 4 + n;
	return 1;
}

/* relay_host_len - the length of a relay without its ":port" */
static size_t
relay_host_len(const char *relay)
{
	size_t n = strlen(relay), i = n;

	while (i > 0 && relay[i - 1] >= '0' && relay[i - 1] <= '9')
		i--;
	if (i < n && i > 1 && relay[i - 1] == ':' && relay[i - 2] == ']')
		return i - 1;
	return n;
}

/*
 * said_split - response is "host RELAY said: CODE DSN REST" (RELAY: rc's
 * relay without its port, DSN rc's): code, rest
 */
static int
said_split(const rg_rcpt *rc, unsigned *code, const char **rest)
{
	const char *p = rc->response;
	size_t n;

	if (p == NULL || rc->relay == NULL || strncmp(p, "host ", 5) != 0)
		return 0;
	n = relay_host_len(rc->relay);
	if (strncmp(p + 5, rc->relay, n) != 0
	    || strncmp(p + 5 + n, " said: ", 7) != 0)
		return 0;
	return reply_split(p + 12 + n, rc->dsn, code, rest);
}

/* same - both NULL or equal */
static int
same(const char *x, const char *y)
{
	return x == NULL ? y == NULL : y != NULL && strcmp(x, y) == 0;
}

static void lean_record(strbuf *sb, const rg_record *r, rb_intern_fn intern,
    rb_text_fn text, void *arg);

/*
 * rb_lean - a finished record's lean blob (what store_put_message
 * writes beside the row and children made of the same record), or, for a
 * record whose row could not give it back (a header without a name or
 * value), rb_full's form. intern (may be NULL) numbers a
 * relay: > 0, or 0 to keep it inline.
 */
void
rb_lean(strbuf *sb, const rg_record *r, rb_intern_fn intern, void *arg)
{
	int i;

	for (i = 0; i < r->nheaders; i++)
		if (r->headers[i].name == NULL || r->headers[i].value == NULL) {
			rb_full(sb, r);
			return;
		}
	lean_record(sb, r, intern, NULL, arg);
}

/*
 * lean_record - the lean blob of r (its headers all named and valued);
 * text (may be NULL) numbers a response text, or the rest of a reply,
 * that other messages repeat: > 0 (LB_TEXTID), or 0 to keep it inline
 */
static void
lean_record(strbuf *sb, const rg_record *r, rb_intern_fn intern,
    rb_text_fn text, void *arg)
{
	int i, j, rank;

	ser_put_u64(sb, LEAN_VERSION);
	ser_put_u64(sb, r->pickup ? 1 : 0);
	ser_put_u64(sb, (uint64_t)r->nheaders);
	for (i = 0; i < r->nheaders; i++) {
		const char *nm = r->headers[i].name;

		for (j = 0; j < i; j++)
			if (strcmp(r->headers[j].name, nm) == 0)
				break;
		if (j < i) {	/* a repeated name: not in the table */
			ser_put_u64(sb, 0);
			ser_put_str(sb, nm);
			ser_put_str(sb, r->headers[i].value);
			ser_put_u64(sb, (uint64_t)r->headers[i].cut);
			continue;
		}
		/* its rank among the first headers of each name */
		rank = 0;
		for (j = 0; j < r->nheaders; j++) {
			int k;

			if (strcmp(r->headers[j].name, nm) >= 0)
				continue;
			for (k = 0; k < j; k++)
				if (strcmp(r->headers[k].name,
				    r->headers[j].name) == 0)
					break;
			if (k == j)
				rank++;
		}
		ser_put_u64(sb, (uint64_t)rank + 1);
	}
	ser_put_u64(sb, (uint64_t)r->nrcpts);
	for (i = 0; i < r->nrcpts; i++) {
		const rg_rcpt *rc = &r->rcpts[i];
		const rg_rcpt *pv = i > 0 ? &r->rcpts[i - 1] : NULL;
		const char *rest = NULL;
		unsigned bits = 0, code = 0, lr, lrl;
		uint64_t rid = 0, tid = 0;

		if (rc->address == NULL)
			bits |= LB_NOADDR;
		if (rc->orig_to != NULL)
			bits |= LB_ORIG;
		if (rc->delay != NULL)
			bits |= LB_DELAY;
		if (rc->relay == NULL)
			lrl = LRL_NULL;
		else if (pv != NULL && same(pv->relay, rc->relay))
			lrl = LRL_PREV;
		else if (intern != NULL && (rid = intern(arg, rc->relay)) > 0)
			lrl = LRL_ID;
		else
			lrl = LRL_TEXT;
		if (rc->response == NULL)
			lr = LR_NULL;
		else if (pv != NULL && same(pv->response, rc->response))
			lr = LR_PREV;
		else if (same(r->rejected.text, rc->response))
			lr = LR_REJECT;
		else if (reply_split(rc->response, rc->dsn, &code, &rest))
			lr = LR_REPLY;
		else if (said_split(rc, &code, &rest))
			lr = LR_SAID;
		else
			lr = LR_TEXT;
		if (lr == LR_TEXT)
			rest = rc->response;
		if (text != NULL && rest != NULL
		    && (tid = text(arg, rest, r->id)) > 0)
			bits |= LB_TEXTID;
		ser_put_u64(sb, bits | lr | lrl << LRL_SHIFT);
		if (bits & LB_ORIG)
			ser_put_str(sb, rc->orig_to);
		if (lrl == LRL_TEXT)
			ser_put_str(sb, rc->relay);
		else if (lrl == LRL_ID)
			ser_put_u64(sb, rid);
		if (bits & LB_DELAY)
			ser_put_str(sb, rc->delay);
		if (lr == LR_REPLY || lr == LR_SAID)
			ser_put_u64(sb, code);
		if (bits & LB_TEXTID)
			ser_put_u64(sb, tid);
		else if (lr == LR_TEXT || lr == LR_REPLY || lr == LR_SAID)
			ser_put_str(sb, rest);
		ser_put_u64(sb, (uint64_t)rc->attempts);
	}
}

/* lean_text - a numbered text (LB_TEXTID), into ar: NULL and rd bad if
 * unknown */
static char *
lean_text(ser_reader *rd, rg_arena *ar, rb_resolve_fn resolve, void *arg,
    size_t *len)
{
	uint64_t k = ser_get_u64(rd);
	char *t = NULL;

	if (!rd->bad && resolve != NULL)
		t = resolve(arg, k, ar);
	if (t == NULL)
		rd->bad = 1;
	*len = t != NULL ? strlen(t) : 0;
	return t;
}

/* rb_is_lean - whether a finished record's blob is the lean form */
int
rb_is_lean(const void *blob, size_t len)
{
	return len > 0 && *(const unsigned char *)blob == LEAN_VERSION;
}

/*
 * rb_lean_merge - complete r, filled from its row (columns, verdict, and
 * the recipients rows: address, status, dsn, nrcpts), with its lean blob
 * and the headers rows th (by name, as the table keeps them); resolve
 * gives a numbered relay back (into r's arena; NULL: unknown): 0, -1 if
 * the blob is damaged or does not fit the rows
 */
int
rb_lean_merge(rg_record *r, const void *blob, size_t len,
    const rg_header *th, int nth, rb_resolve_fn resolve, void *arg)
{
	rg_arena *ar = &r->ar;
	ser_reader rd;
	strbuf tmp;
	uint64_t n, i, k;

	ser_reader_init(&rd, blob, len);
	if (ser_get_u64(&rd) != LEAN_VERSION)
		return -1;
	r->pickup = ser_get_u64(&rd) & 1;
	n = ser_get_u64(&rd);
	if (n > 32 || rd.bad)
		return -1;
	if (n > 0) {
		r->headers = rg_arena_alloc(ar, n * sizeof(rg_header));
		r->hcap = (int)n;
	}
	for (i = 0; i < n && !rd.bad; i++) {
		rg_header *h = &r->headers[r->nheaders++];

		k = ser_get_u64(&rd);
		if (k > (uint64_t)nth) {
			rd.bad = 1;
		} else if (k > 0) {
			*h = th[k - 1];
		} else {
			h->name = ser_get_astr(&rd, ar);
			h->value = ser_get_astr(&rd, ar);
			h->cut = (int)ser_get_u64(&rd);
			if (h->name == NULL || h->value == NULL)
				rd.bad = 1;
		}
	}
	if (ser_get_u64(&rd) != (uint64_t)r->nrcpts)
		return -1;
	sb_init(&tmp);
	for (i = 0; i < (uint64_t)r->nrcpts && !rd.bad; i++) {
		rg_rcpt *rc = &r->rcpts[i];
		const rg_rcpt *pv = i > 0 ? &r->rcpts[i - 1] : NULL;
		uint64_t bits = ser_get_u64(&rd);
		size_t sl;
		const char *s;
		unsigned code;

		if (bits & LB_NOADDR)
			rc->address = NULL;
		if (bits & LB_ORIG)
			rc->orig_to = ser_get_astr(&rd, ar);
		switch ((bits >> LRL_SHIFT) & 3) {
		case LRL_NULL:
			break;
		case LRL_TEXT:
			rc->relay = ser_get_astr(&rd, ar);
			break;
		case LRL_PREV:
			if (pv == NULL)
				rd.bad = 1;
			else
				rc->relay = pv->relay;
			break;
		case LRL_ID:
			k = ser_get_u64(&rd);
			if (rd.bad || resolve == NULL
			    || (rc->relay = resolve(arg, k, ar)) == NULL)
				rd.bad = 1;
			break;
		}
		if (bits & LB_DELAY)
			rc->delay = ser_get_astr(&rd, ar);
		if (bits > 0x1ff || ((bits & LB_TEXTID) && (bits & 7) != LR_TEXT
		    && (bits & 7) != LR_REPLY && (bits & 7) != LR_SAID))
			rd.bad = 1;
		switch (bits & 7) {
		case LR_NULL:
			break;
		case LR_TEXT:
			if (bits & LB_TEXTID)
				rc->response = lean_text(&rd, ar, resolve, arg,
				    &sl);
			else
				rc->response = ser_get_astr(&rd, ar);
			break;
		case LR_PREV:
			if (pv == NULL)
				rd.bad = 1;
			else
				rc->response = pv->response;
			break;
		case LR_REJECT:
			rc->response = r->rejected.text;
			break;
		case LR_REPLY:
			code = (unsigned)ser_get_u64(&rd);
			s = bits & LB_TEXTID ? lean_text(&rd, ar, resolve, arg, &sl)
			    : ser_get_strn(&rd, &sl);
			if (code < 200 || code > 599 || rc->dsn == NULL) {
				rd.bad = 1;
				break;
			}
			sb_reset(&tmp);
			sb_printf(&tmp, "%u %s", code, rc->dsn);
			if (s != NULL)
				sb_add(&tmp, s, sl);
			rc->response = rg_arena_str(ar, tmp.s, tmp.len);
			break;
		case LR_SAID:
			code = (unsigned)ser_get_u64(&rd);
			s = bits & LB_TEXTID ? lean_text(&rd, ar, resolve, arg, &sl)
			    : ser_get_strn(&rd, &sl);
			if (code < 200 || code > 599 || rc->dsn == NULL
			    || rc->relay == NULL) {
				rd.bad = 1;
				break;
			}
			sb_reset(&tmp);
			sb_adds(&tmp, "host ");
			sb_add(&tmp, rc->relay, relay_host_len(rc->relay));
			sb_printf(&tmp, " said: %u %s", code, rc->dsn);
			if (s != NULL)
				sb_add(&tmp, s, sl);
			rc->response = rg_arena_str(ar, tmp.s, tmp.len);
			break;
		default:
			rd.bad = 1;
		}
		rc->attempts = (int)ser_get_u64(&rd);
	}
	sb_free(&tmp);
	return ser_ok(&rd) ? 0 : -1;
}

/*
 * rb_full_lean - a full record blob (rb_full's, written before schema 7)
 * in the lean form into sb: 0, -1 if damaged (sb unchanged)
 */
int
rb_full_lean(const void *blob, size_t len, rg_pool *pool, strbuf *sb)
{
	rg_record r;
	rb_node m;

	if (blob_record(&r, &m, blob, len, pool) != 0)
		return -1;
	rb_lean(sb, &r, NULL, NULL);
	rec_free(&r);
	return 0;
}

/*
 * The lean form of an open message's state (open_msgs.state since schema
 * 9): what its messages row and child rows (written in the same
 * transaction) do not hold. The store rebuilds the full state (the form
 * above, STATE_VERSION) from the row, the children and this
 * (rb_open_full) when the message is needed again.
 *
 *	OPEN_VERSION, the record's flags (as rb_put), smtpd_pid, the
 *	node's flags (ended, queued), ended_at, seq
 *	recipients: count, then per recipient its history: count, then per
 *	    attempt its time (from the one before, the first from
 *	    first_seen), bits (OH_*), and status, dsn unless the bits say
 *	    they are the reference's (the attempt before, the first: the
 *	    recipient's last status)
 *	the lean blob of the record (rb_lean), to the end
 *
 * A record that its row could not give back (a header without a name or
 * value, a verdict without a source) is kept in the full form: the store
 * reads both.
 */
#define OPEN_VERSION	17

#define OH_STATUS	1	/* status is the reference's */
#define OH_DSN		2	/* dsn is the reference's */

/* open_fits - whether r's row, children and lean open form hold it all */
static int
open_fits(const rg_record *r)
{
	int i;

	for (i = 0; i < r->nheaders; i++)
		if (r->headers[i].name == NULL || r->headers[i].value == NULL)
			return 0;
	if (r->verdict.source == VS_NONE && (r->verdict.spam
	    || r->verdict.score != NULL || r->verdict.required != NULL
	    || r->verdict.action != NULL || r->verdict.symbols != NULL))
		return 0;
	return r->size >= -1 && r->nrcpt >= -1;
}


/* open_lean - the lean open form of r with the node's own state */
static void
open_lean(strbuf *sb, const rg_record *r, int ended, int queued,
    rg_usec ended_at, uint64_t seq, rb_intern_fn intern, rb_text_fn text,
    void *arg)
{
	int i, j;

	ser_put_u64(sb, OPEN_VERSION);
	ser_put_u64(sb, rec_flags(r));
	ser_put_i64(sb, r->smtpd_pid);
	ser_put_u64(sb, (uint64_t)(ended | queued << 1));
	ser_put_i64(sb, ended_at);
	ser_put_u64(sb, seq);
	ser_put_u64(sb, (uint64_t)r->nrcpts);
	for (i = 0; i < r->nrcpts; i++) {
		const rg_rcpt *rc = &r->rcpts[i];
		const char *st = rc->status, *dsn = rc->dsn;
		rg_usec prev = r->first_seen;

		ser_put_u64(sb, (uint64_t)rc->nhist);
		for (j = 0; j < rc->nhist; j++) {
			const rg_attempt *h = &rc->hist[j];
			unsigned bits = 0;

			if (same(h->status, st))
				bits |= OH_STATUS;
			if (same(h->dsn, dsn))
				bits |= OH_DSN;
			ser_put_i64(sb, h->ts - prev);
			ser_put_u64(sb, bits);
			if (!(bits & OH_STATUS))
				ser_put_str(sb, h->status);
			if (!(bits & OH_DSN))
				ser_put_str(sb, h->dsn);
			prev = h->ts;
			st = h->status;
			dsn = h->dsn;
		}
	}
	lean_record(sb, r, intern, text, arg);
}

/*
 * rb_open - an open (or lingering) message's state, r and the node's own
 * state m: the lean open form if it fits, else the full form
 */
void
rb_open(strbuf *sb, const rg_record *r, const rb_node *m,
    rb_intern_fn intern, rb_text_fn text, void *arg)
{
	if (!open_fits(r)) {
		ser_put_u64(sb, STATE_VERSION);
		rb_put(sb, r, m);
		return;
	}
	open_lean(sb, r, m->ended, m->queued, m->ended_at, m->seq, intern,
	    text, arg);
}

/* rb_is_open - whether an open message's state is the lean form */
int
rb_is_open(const void *blob, size_t len)
{
	return len > 0 && *(const unsigned char *)blob == OPEN_VERSION;
}

/*
 * rb_open_full - the full state (STATE_VERSION, as the assembler restores
 * it) into out of an open message whose record r was filled from its row
 * and child rows as for rb_lean_merge (th: the headers rows by name),
 * and its lean open state; resolve gives a numbered relay back. The
 * flags are the state's, but a row marked stale beside a state that is
 * not (ended in the store by the collector's sweep) keeps its stale and
 * complete. 0, -1 if the state is damaged or does not fit the rows (out
 * unchanged).
 */
int
rb_open_full(rg_record *r, const void *blob, size_t len,
    const rg_header *th, int nth, rb_resolve_fn resolve, void *arg,
    strbuf *out)
{
	rg_arena *ar = &r->ar;
	ser_reader rd;
	rb_node m;
	uint64_t flags, n, i, j, bits;
	int row_stale = r->stale, row_complete = r->complete;

	ser_reader_init(&rd, blob, len);
	if (ser_get_u64(&rd) != OPEN_VERSION)
		return -1;
	memset(&m, 0, sizeof(m));
	flags = ser_get_u64(&rd);
	r->smtpd_pid = (long)ser_get_i64(&rd);
	n = ser_get_u64(&rd);
	m.ended = n & 1;
	m.queued = (n >> 1) & 1;
	m.ended_at = ser_get_i64(&rd);
	m.seq = ser_get_u64(&rd);
	if (ser_get_u64(&rd) != (uint64_t)r->nrcpts || rd.bad)
		return -1;
	for (i = 0; i < (uint64_t)r->nrcpts && !rd.bad; i++) {
		rg_rcpt *rc = &r->rcpts[i];
		const char *st = rc->status, *dsn = rc->dsn;
		rg_usec prev = r->first_seen;
		size_t cap = 1;

		n = ser_get_u64(&rd);
		if (n > RG_MAX_ATTEMPTS || rd.bad) {
			rd.bad = 1;
			break;
		}
		if (n == 0)
			continue;
		/* room as rec_hist_add leaves it (rb_get) */
		while (cap < n)
			cap *= 2;
		rc->hist = rg_arena_alloc(ar, cap * sizeof(rg_attempt));
		for (j = 0; j < n && !rd.bad; j++) {
			rg_attempt *h = &rc->hist[j];

			h->ts = prev + ser_get_i64(&rd);
			bits = ser_get_u64(&rd);
			h->status = bits & OH_STATUS ? (char *)st
			    : ser_get_astr(&rd, ar);
			h->dsn = bits & OH_DSN ? (char *)dsn
			    : ser_get_astr(&rd, ar);
			if (bits > (OH_STATUS | OH_DSN))
				rd.bad = 1;
			prev = h->ts;
			st = h->status;
			dsn = h->dsn;
			rc->nhist++;
		}
	}
	if (rd.bad || rb_lean_merge(r, rd.p, (size_t)(rd.end - rd.p), th, nth,
	    resolve, arg) != 0)
		return -1;
	rec_set_flags(r, flags);
	if (flags >> 10)
		return -1;
	/* a message the collector's sweep ended in the store while it was
	 * evicted (store.c's Q_STALE) has that end in its row alone: a row
	 * stale beside a state that is not */
	if (row_stale && !r->stale) {
		r->stale = 1;
		r->complete = row_complete;
	}
	ser_put_u64(out, STATE_VERSION);
	rb_put(out, r, &m);
	return 0;
}

/*
 * rb_open_lean - an open message's full state (schema 8 and before) in
 * the lean open form into out, relays inline: 0, -1 if damaged or if the
 * row could not give it back (out unchanged)
 */
int
rb_open_lean(const void *blob, size_t len, rg_pool *pool, strbuf *out)
{
	rg_record r;
	rb_node m;

	if (blob_record(&r, &m, blob, len, pool) != 0)
		return -1;
	if (!open_fits(&r)) {
		rec_free(&r);
		return -1;
	}
	open_lean(out, &r, m.ended, m.queued, m.ended_at, m.seq, NULL,
	    NULL, NULL);
	rec_free(&r);
	return 0;
}
