/*
 * asm_persist.c - the assembler's open state as blobs and back. The
 * collector stores them in SQLite (store/store.c) and restores them
 * at start, so the format below is read from existing databases: change
 * it only with a new STATE_VERSION that still reads the old one. Every
 * reader is bounded (ser.h): a damaged blob is refused, never trusted.
 * An open message is saved with its key (asm_msg_key) and restored from
 * the key alone (asm_restore_key): a stub that asm_msg_load decodes in
 * place, through the collector's loader, when it is first needed. Its
 * state is saved in the lean open form (open_lean: what its messages row
 * and child rows do not hold), which the store turns back into the full
 * form with the rows (asm_open_full) before the loader hands it over.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/ser.h"
#include "../common/xalloc.h"
#include "asm_int.h"

#define STATE_VERSION 1

/* rec_flags - the record's flags word (ser_record's) */
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

/* ser_record - a record and the node's own state */
static void
ser_record(strbuf *sb, const rg_record *r, const msg_node *m)
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

/* host_intern_str - the shared copy of a host name */
static const char *
host_intern_str(assembler *a, const char *h)
{
	return asm_host_intern_n(a, h, strlen(h));
}

/* gstr - a string of the blob, copied into ar (NULL stays NULL) */
static char *
gstr(ser_reader *rd, rg_arena *ar)
{
	size_t n;
	const char *t = ser_get_strn(rd, &n);

	return t == NULL ? NULL : rg_arena_str(ar, t, n);
}

/*
 * deser_into - a record written by ser_record into m's empty record (and
 * m's own state); -1 if damaged
 */
static int
deser_into(assembler *a, msg_node *m, ser_reader *rd)
{
	rg_record *r = &m->r;
	rg_arena *ar = &r->ar;
	char *host, *qid;
	uint64_t n, flags, i, j;

	r->id = ser_get_u64(rd);
	host = ser_get_str(rd);
	qid = ser_get_str(rd);
	r->host = host_intern_str(a, host ? host : "");
	free(host);
	if (qid != NULL) {
		snprintf(r->qid, sizeof(r->qid), "%s", qid);
		free(qid);
	}
	m->qlen = (unsigned char)strlen(r->qid);
	r->first_seen = ser_get_i64(rd);
	r->last_seen = ser_get_i64(rd);
	r->client_host = gstr(rd, ar);
	r->client_ip = gstr(rd, ar);
	r->client_port = gstr(rd, ar);
	r->sasl_method = gstr(rd, ar);
	r->sasl_username = gstr(rd, ar);
	r->sender = gstr(rd, ar);
	r->size = ser_get_i64(rd);
	r->nrcpt = ser_get_i64(rd);
	r->message_id = gstr(rd, ar);
	n = ser_get_u64(rd);
	if (n > 32)
		rd->bad = 1;
	if (n > 0 && !rd->bad) {
		r->headers = rg_arena_alloc(ar, n * sizeof(rg_header));
		r->hcap = (int)n;
	}
	for (i = 0; i < n && !rd->bad; i++) {
		r->headers[i].name = gstr(rd, ar);
		r->headers[i].value = gstr(rd, ar);
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
		rc->address = gstr(rd, ar);
		rc->orig_to = gstr(rd, ar);
		rc->status = gstr(rd, ar);
		rc->dsn = gstr(rd, ar);
		rc->relay = gstr(rd, ar);
		rc->delay = gstr(rd, ar);
		rc->response = gstr(rd, ar);
		rc->attempts = (int)ser_get_u64(rd);
		nh = ser_get_u64(rd);
		if (nh > RG_MAX_ATTEMPTS)
			rd->bad = 1;
		if (nh > 0 && !rd->bad) {
			/* room as rec_hist_add leaves it: it grows at
			 * 1, 2, 4, ... attempts */
			size_t cap = 1;

			while (cap < nh)
				cap *= 2;
			rc->hist = rg_arena_alloc(ar, cap * sizeof(rg_attempt));
		}
		for (j = 0; j < nh && !rd->bad; j++) {
			rc->hist[j].ts = ser_get_i64(rd);
			rc->hist[j].status = gstr(rd, ar);
			rc->hist[j].dsn = gstr(rd, ar);
			rc->nhist++;
		}
	}
	r->verdict.source = (enum verdict_source)ser_get_u64(rd);
	r->verdict.spam = (int)ser_get_u64(rd);
	r->verdict.score = gstr(rd, ar);
	r->verdict.required = gstr(rd, ar);
	r->verdict.action = gstr(rd, ar);
	r->verdict.symbols = gstr(rd, ar);
	r->rejected.stage = gstr(rd, ar);
	r->rejected.code = gstr(rd, ar);
	r->rejected.dsn = gstr(rd, ar);
	r->rejected.text = gstr(rd, ar);
	r->bounce_of = gstr(rd, ar);
	r->orig_queue_id = gstr(rd, ar);
	r->filtered_as = gstr(rd, ar);
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

/* deser_record - a record written by ser_record; NULL if damaged */
static msg_node *
deser_record(assembler *a, ser_reader *rd)
{
	msg_node *m = asm_node_alloc(a);

	if (deser_into(a, m, rd) != 0) {
		asm_node_release(a, m);
		return NULL;
	}
	return m;
}

/* ser_session - a session, its pending NOQUEUE records and queue IDs */
static void
ser_session(strbuf *sb, const sess_node *s)
{
	int i;

	ser_put_u64(sb, STATE_VERSION);
	ser_put_u64(sb, s->s.id);
	ser_put_str(sb, s->s.host);
	ser_put_i64(sb, s->s.pid);
	ser_put_str(sb, s->s.prog);
	ser_put_i64(sb, s->s.connect);
	ser_put_i64(sb, s->s.disconnect);
	ser_put_str(sb, s->s.client_host);
	ser_put_str(sb, s->s.client_ip);
	ser_put_str(sb, s->s.client_port);
	ser_put_str(sb, s->s.sasl_method);
	ser_put_str(sb, s->s.sasl_username);
	ser_put_str(sb, s->s.counters);
	ser_put_str(sb, s->s.lost);
	ser_put_u64(sb, (uint64_t)s->s.sasl_failures);
	ser_put_u64(sb, (uint64_t)s->s.messages);
	ser_put_u64(sb, (uint64_t)s->s.rejects);
	ser_put_i64(sb, s->last_seen);
	ser_put_u64(sb, s->seq);
	ser_put_u64(sb, (uint64_t)s->npending);
	for (i = 0; i < s->npending; i++)
		ser_record(sb, &s->pending[i]->r, NULL);
	ser_put_u64(sb, (uint64_t)s->nqids);
	for (i = 0; i < s->nqids; i++)
		ser_put_str(sb, s->qids[i]);
}

static void open_blob(strbuf *sb, const msg_node *m, asm_intern_fn intern,
    asm_text_fn text, void *arg);

/* asm_checkpoint - hand out what changed since the last checkpoint */
void
asm_checkpoint(assembler *a, const asm_store_ops *ops)
{
	asm_msg_key key;
	strbuf sb;
	size_t i;
	int k;

	sb_init(&sb);
	for (i = 0; i < a->mdirty.n; i++) {
		msg_node *m = a->mdirty.v[i];

		if (m == NULL)
			continue;
		asm_need(a, m);	/* (only asm_free marks a lazy one) */
		m->dirty_idx = -1;
		sb_reset(&sb);
		open_blob(&sb, m, ops->intern, ops->intern_text, ops->intern_arg);
		key.id = m->r.id;
		key.seq = m->seq;
		key.host = m->r.host;
		key.qid = m->r.qid;
		key.message_id = m->r.message_id;
		key.first_seen = m->r.first_seen;
		key.last_seen = m->r.last_seen;
		key.ended = m->ended;
		if (ops->save_message != NULL)
			ops->save_message(ops->arg, &m->r, &key, sb.s, sb.len);
		m->r.persisted = 1;
	}
	a->mdirty.n = 0;
	for (i = 0; i < a->sdirty.n; i++) {
		sess_node *s = a->sdirty.v[i];

		if (s == NULL)
			continue;
		s->dirty_idx = -1;
		sb_reset(&sb);
		ser_session(&sb, s);
		if (ops->save_session != NULL)
			ops->save_session(ops->arg, &s->s, sb.s, sb.len);
	}
	a->sdirty.n = 0;
	/* the global state: counters, clocks, pending spamd results, aborts */
	sb_reset(&sb);
	ser_put_u64(&sb, STATE_VERSION);
	ser_put_u64(&sb, a->next_id);
	ser_put_u64(&sb, a->seq);
	ser_put_i64(&sb, a->now);
	ser_put_i64(&sb, a->last_sweep);
	ser_put_str(&sb, a->last_host);
	ser_put_u64(&sb, (uint64_t)a->nspamd);
	for (k = 0; k < a->nspamd; k++) {
		ser_put_str(&sb, a->spamd[k].msgid);
		ser_put_i64(&sb, a->spamd[k].ts);
		ser_put_i64(&sb, a->spamd[k].spam);
		ser_put_str(&sb, a->spamd[k].score);
		ser_put_str(&sb, a->spamd[k].required);
		ser_put_str(&sb, a->spamd[k].symbols);
	}
	ser_put_u64(&sb, (uint64_t)a->acount);
	for (k = 0; k < a->acount; k++) {
		abort_cand *c = &a->aborts[(a->ahead + k) % ABORT_MAX];

		ser_put_str(&sb, c->host);
		ser_put_str(&sb, c->qid);
		ser_put_i64(&sb, c->deadline);
	}
	if (ops->save_global != NULL)
		ops->save_global(ops->arg, sb.s, sb.len);
	sb_free(&sb);
}

/* rmsgs_add - a restored message, for asm_restore_done */
static void
rmsgs_add(assembler *a, msg_node *m)
{
	/* room doubles at powers of two: no copy per restored record */
	if ((a->nrmsgs & (a->nrmsgs - 1)) == 0)
		a->rmsgs = xrealloc(a->rmsgs, (a->nrmsgs ? a->nrmsgs * 2 : 1)
		    * sizeof(msg_node *));
	a->rmsgs[a->nrmsgs++] = m;
}

/*
 * asm_restore_message - take back an open or lingering message whole;
 * rewrite: it goes into the next checkpoint (a row stored without its key)
 */
int
asm_restore_message(assembler *a, const void *state, size_t len,
    int rewrite)
{
	ser_reader rd;
	msg_node *m;

	ser_reader_init(&rd, state, len);
	if (ser_get_u64(&rd) != STATE_VERSION)
		return -1;
	if ((m = deser_record(a, &rd)) == NULL || !ser_ok(&rd)) {
		if (m != NULL)
			asm_node_release(a, m);
		return -1;
	}
	if (rewrite && a->opt.persist)
		asm_dirty_add(&a->mdirty, m, &m->dirty_idx);
	rmsgs_add(a, m);
	return 0;
}

/*
 * asm_restore_key - take back an open message by its key alone: a stub in
 * the table, the lists and the message-id index, decoded by asm_msg_load
 * when it is needed. -1 if the key is unusable.
 */
int
asm_restore_key(assembler *a, const asm_msg_key *k)
{
	msg_node *m;
	size_t n;

	if (k->host == NULL || k->qid == NULL || k->ended)
		return -1;
	if ((n = strlen(k->qid)) == 0 || n >= sizeof(m->r.qid))
		return -1;
	m = asm_node_alloc(a);
	m->r.id = k->id;
	m->r.host = host_intern_str(a, k->host);
	memcpy(m->r.qid, k->qid, n + 1);
	m->qlen = (unsigned char)n;
	m->r.first_seen = k->first_seen;
	m->r.last_seen = k->last_seen;
	/* the index compares it: one arena for all the stubs' */
	if (k->message_id != NULL)
		m->r.message_id = rg_arena_str(&a->keyar, k->message_id,
		    strlen(k->message_id));
	m->r.persisted = 1;
	m->seq = k->seq;
	m->lazy = 1;
	m->tight = 1;		/* nothing to compact */
	rmsgs_add(a, m);
	return 0;
}

/* asm_set_loader - where asm_msg_load reads a lazy message's state */
void
asm_set_loader(assembler *a, asm_loader fn, void *arg)
{
	a->load = fn;
	a->load_arg = arg;
}

/* asm_load_failed - whether (and how) a lazy message could not be loaded */
int
asm_load_failed(const assembler *a, uint64_t *id)
{
	if (id != NULL)
		*id = a->load_failed_id;
	return a->load_failed;
}

/*
 * asm_msg_load - decode a lazy message in place (its node stays in the
 * table, its list and the index). Nothing in the assembler fails: if the
 * state cannot be read, is damaged or does not match the key, the record
 * is left empty under its key and asm_load_failed says so; the collector
 * then commits nothing of the batch.
 */
int
asm_msg_load(assembler *a, msg_node *m)
{
	rg_record *r = &m->r;
	rg_usec first = r->first_seen, last = r->last_seen;
	const char *host = r->host;
	char *mid = r->message_id;
	uint64_t id = r->id, seq = m->seq;
	char qid[sizeof(r->qid)];
	ser_reader rd;
	int fail = 2;

	if (!m->lazy)
		return 0;
	m->lazy = 0;
	memcpy(qid, r->qid, sizeof(qid));
	sb_reset(&a->loadbuf);
	if (a->load == NULL || a->load(a->load_arg, id, &a->loadbuf) != 0) {
		fail = 1;
		goto bad;
	}
	ser_reader_init(&rd, a->loadbuf.s, a->loadbuf.len);
	if (ser_get_u64(&rd) != STATE_VERSION)
		goto bad;
	rec_free(r);
	rec_init(r, a->pool);
	if (deser_into(a, m, &rd) == 0 && ser_ok(&rd) && r->id == id
	    && r->host == host && strcmp(r->qid, qid) == 0 && !m->ended) {
		m->tight = 0;
		return 0;
	}
bad:
	/* an empty record under the key: the batch is not committed */
	rec_free(r);
	rec_init(r, a->pool);
	r->id = id;
	r->host = host;
	memcpy(r->qid, qid, sizeof(qid));
	m->qlen = (unsigned char)strlen(qid);
	r->first_seen = first;
	r->last_seen = last;
	r->message_id = mid;
	r->persisted = 1;
	m->seq = seq;
	m->ended = 0;
	if (!a->load_failed) {
		a->load_failed = fail;
		a->load_failed_id = id;
	}
	return -1;
}

/* asm_restore_session - take back an open session */
int
asm_restore_session(assembler *a, const void *state, size_t len)
{
	ser_reader rd;
	sess_node *s;
	rg_arena *ar;
	char *host;
	uint64_t n, i;

	ser_reader_init(&rd, state, len);
	if (ser_get_u64(&rd) != STATE_VERSION)
		return -1;
	s = asm_sess_node_alloc(a);
	ar = &s->s.ar;
	s->s.id = ser_get_u64(&rd);
	host = ser_get_str(&rd);
	s->s.host = host_intern_str(a, host ? host : "");
	free(host);
	s->s.pid = (long)ser_get_i64(&rd);
	s->s.prog = gstr(&rd, ar);
	s->s.connect = ser_get_i64(&rd);
	s->s.disconnect = ser_get_i64(&rd);
	s->s.client_host = gstr(&rd, ar);
	s->s.client_ip = gstr(&rd, ar);
	s->s.client_port = gstr(&rd, ar);
	s->s.sasl_method = gstr(&rd, ar);
	s->s.sasl_username = gstr(&rd, ar);
	s->s.counters = gstr(&rd, ar);
	s->s.lost = gstr(&rd, ar);
	s->s.sasl_failures = (int)ser_get_u64(&rd);
	s->s.messages = (int)ser_get_u64(&rd);
	s->s.rejects = (int)ser_get_u64(&rd);
	s->last_seen = ser_get_i64(&rd);
	s->seq = ser_get_u64(&rd);
	n = ser_get_u64(&rd);
	for (i = 0; i < n && !rd.bad && i < 1024; i++) {
		msg_node *m = deser_record(a, &rd);

		if (m == NULL)
			break;
		if (s->npending == s->pcap) {
			s->pcap = s->pcap ? s->pcap * 2 : 4;
			s->pending = xrealloc(s->pending,
			    (size_t)s->pcap * sizeof(msg_node *));
		}
		s->pending[s->npending++] = m;
	}
	n = ser_get_u64(&rd);
	for (i = 0; i < n && !rd.bad && i < 256; i++) {
		char *q = ser_get_str(&rd);

		if (s->nqids == s->qcap) {
			char (*v)[32];

			s->qcap = s->qcap ? s->qcap * 2 : 4;
			v = rg_arena_alloc(ar, (size_t)s->qcap * sizeof(*s->qids));
			if (s->nqids > 0)
				memcpy(v, s->qids,
				    (size_t)s->nqids * sizeof(*s->qids));
			s->qids = v;
		}
		snprintf(s->qids[s->nqids++], sizeof(s->qids[0]), "%s",
		    q ? q : "");
		free(q);
	}
	if (!ser_ok(&rd)) {
		int k;

		for (k = 0; k < s->npending; k++)
			asm_node_release(a, s->pending[k]);
		free(s->pending);
		asm_sess_node_free(a, s);
		return -1;
	}
	if ((a->nrsess & (a->nrsess - 1)) == 0)
		a->rsess = xrealloc(a->rsess, (a->nrsess ? a->nrsess * 2 : 1)
		    * sizeof(sess_node *));
	a->rsess[a->nrsess++] = s;
	return 0;
}

/* asm_restore_global - take back the counters and pending state */
int
asm_restore_global(assembler *a, const void *state, size_t len)
{
	ser_reader rd;
	uint64_t n, i;
	char *h;

	ser_reader_init(&rd, state, len);
	if (ser_get_u64(&rd) != STATE_VERSION)
		return -1;
	a->next_id = ser_get_u64(&rd);
	a->seq = ser_get_u64(&rd);
	a->now = ser_get_i64(&rd);
	a->last_sweep = ser_get_i64(&rd);
	h = ser_get_str(&rd);
	if (h != NULL && *h)
		a->last_host = host_intern_str(a, h);
	free(h);
	n = ser_get_u64(&rd);
	for (i = 0; i < n && !rd.bad && a->nspamd < SPAMD_PENDING_MAX; i++) {
		spamd_pending *p = &a->spamd[a->nspamd++];

		p->msgid = ser_get_str(&rd);
		p->ts = ser_get_i64(&rd);
		p->spam = (int)ser_get_i64(&rd);
		p->score = ser_get_str(&rd);
		p->required = ser_get_str(&rd);
		p->symbols = ser_get_str(&rd);
		if (p->msgid == NULL)
			p->msgid = xstrdup("");
	}
	n = ser_get_u64(&rd);
	for (i = 0; i < n && !rd.bad && a->acount < ABORT_MAX; i++) {
		abort_cand *c = &a->aborts[(a->ahead + a->acount++) % ABORT_MAX];
		char *ch = ser_get_str(&rd), *cq = ser_get_str(&rd);

		c->host = host_intern_str(a, ch ? ch : "");
		snprintf(c->qid, sizeof(c->qid), "%s", cq ? cq : "");
		c->deadline = ser_get_i64(&rd);
		free(ch);
		free(cq);
	}
	return ser_ok(&rd) ? 0 : -1;
}

/* cmp_msg_seq - restore order: by last activity */
static int
cmp_msg_seq(const void *x, const void *y)
{
	const msg_node *a = *(msg_node *const *)x, *b = *(msg_node *const *)y;

	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* cmp_sess_seq - restore order: by last activity */
static int
cmp_sess_seq(const void *x, const void *y)
{
	const sess_node *a = *(sess_node *const *)x, *b = *(sess_node *const *)y;

	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/*
 * sort_restored - the restored messages in order of activity. The keys
 * come in that order (the index); only the few restored whole after them
 * are sorted, then merged in.
 */
static void
sort_restored(assembler *a)
{
	msg_node **v = a->rmsgs, **t;
	size_t n = a->nrmsgs, i, j, k, run;

	for (run = 1; run < n && v[run - 1]->seq <= v[run]->seq; run++)
		;
	if (run >= n)
		return;
	qsort(v + run, n - run, sizeof(msg_node *), cmp_msg_seq);
	if (v[run - 1]->seq <= v[run]->seq)
		return;
	t = xmalloc(n * sizeof(msg_node *));
	for (i = 0, j = run, k = 0; i < run || j < n; k++)
		t[k] = j >= n || (i < run && v[i]->seq <= v[j]->seq) ? v[i++]
		    : v[j++];
	free(a->rmsgs);
	a->rmsgs = t;
}

/* asm_restore_done - put the restored records in their tables and lists */
void
asm_restore_done(assembler *a)
{
	size_t i, nmid = 0;

	sort_restored(a);
	/* tables of their final size at once, not doubled step by step */
	if (a->nmsgs == 0 && a->nrmsgs > 0) {
		rg_htab_free(&a->mtab);
		rg_htab_init(&a->mtab, 2 * a->nrmsgs + 2);
	}
	for (i = 0; i < a->nrmsgs; i++)
		nmid += a->rmsgs[i]->r.message_id != NULL;
	if (a->nids == 0 && nmid > a->idbuckets) {
		while (a->idbuckets < nmid)
			a->idbuckets *= 2;
		free(a->idtab);
		a->idtab = xcalloc(a->idbuckets, sizeof(*a->idtab));
	}
	for (i = 0; i < a->nrmsgs; i++) {
		msg_node *m = a->rmsgs[i];

		m->hash = asm_msg_hash(m->r.host, m->r.qid, m->qlen);
		asm_msg_insert(a, m);
		if (m->ended) {
			asm_list_append(&a->chead, &a->ctail, m);
			a->nclosing++;
		} else {
			asm_lru_append(a, m);
		}
		if (m->r.message_id != NULL)
			asm_mid_add(a, m);
	}
	free(a->rmsgs);
	a->rmsgs = NULL;
	a->nrmsgs = 0;
	if (a->nrsess > 0)
		qsort(a->rsess, a->nrsess, sizeof(sess_node *), cmp_sess_seq);
	for (i = 0; i < a->nrsess; i++) {
		sess_node *s = a->rsess[i];

		s->hash = asm_sess_hash(s->s.host, s->s.pid);
		asm_sess_insert(a, s);
		asm_slru_append(a, s);
	}
	free(a->rsess);
	a->rsess = NULL;
	a->nrsess = 0;
}

/*
 * asm_record_blob - a finished record in the blob format of the open ones
 * (its node's own state zero): the store keeps it instead of its JSON
 */
void
asm_record_blob(strbuf *sb, const rg_record *r)
{
	ser_put_u64(sb, STATE_VERSION);
	ser_record(sb, r, NULL);
}

/*
 * blob_record - the record of a full blob (asm_record_blob's or an open
 * one's) in a node of a's pool; NULL if damaged. asm_node_release gives
 * it back.
 */
static msg_node *
blob_record(assembler *a, const void *blob, size_t len)
{
	ser_reader rd;
	msg_node *m;

	ser_reader_init(&rd, blob, len);
	if (ser_get_u64(&rd) != STATE_VERSION)
		return NULL;
	if ((m = deser_record(a, &rd)) == NULL)
		return NULL;
	if (!ser_ok(&rd)) {
		asm_node_release(a, m);
		return NULL;
	}
	return m;
}

/*
 * asm_blob_json - the JSON of a record blob (asm_record_blob's or an open
 * one's), byte for byte as rec_json writes the record: 0, -1 if damaged.
 * a is any assembler (the record's memory comes from its pool and goes
 * back at once).
 */
int
asm_blob_json(assembler *a, const void *blob, size_t len, strbuf *sb)
{
	msg_node *m;

	if ((m = blob_record(a, blob, len)) == NULL)
		return -1;
	rec_json(sb, &m->r);
	asm_node_release(a, m);
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

static void lean_record(strbuf *sb, const rg_record *r, asm_intern_fn intern,
    asm_text_fn text, void *arg);

/*
 * asm_record_lean - a finished record's lean blob (what store_put_message
 * writes beside the row and children made of the same record), or, for a
 * record whose row could not give it back (a header without a name or
 * value), asm_record_blob's full form. intern (may be NULL) numbers a
 * relay: > 0, or 0 to keep it inline.
 */
void
asm_record_lean(strbuf *sb, const rg_record *r, asm_intern_fn intern,
    void *arg)
{
	int i;

	for (i = 0; i < r->nheaders; i++)
		if (r->headers[i].name == NULL || r->headers[i].value == NULL) {
			asm_record_blob(sb, r);
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
lean_record(strbuf *sb, const rg_record *r, asm_intern_fn intern,
    asm_text_fn text, void *arg)
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
lean_text(ser_reader *rd, rg_arena *ar, asm_resolve_fn resolve, void *arg,
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

/* asm_blob_is_lean - whether a finished record's blob is the lean form */
int
asm_blob_is_lean(const void *blob, size_t len)
{
	return len > 0 && *(const unsigned char *)blob == LEAN_VERSION;
}

/*
 * asm_lean_merge - complete r, filled from its row (columns, verdict, and
 * the recipients rows: address, status, dsn, nrcpts), with its lean blob
 * and the headers rows th (by name, as the table keeps them); resolve
 * gives a numbered relay back (into r's arena; NULL: unknown): 0, -1 if
 * the blob is damaged or does not fit the rows
 */
int
asm_lean_merge(rg_record *r, const void *blob, size_t len,
    const rg_header *th, int nth, asm_resolve_fn resolve, void *arg)
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
			h->name = gstr(&rd, ar);
			h->value = gstr(&rd, ar);
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
			rc->orig_to = gstr(&rd, ar);
		switch ((bits >> LRL_SHIFT) & 3) {
		case LRL_NULL:
			break;
		case LRL_TEXT:
			rc->relay = gstr(&rd, ar);
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
			rc->delay = gstr(&rd, ar);
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
				rc->response = gstr(&rd, ar);
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
 * asm_blob_lean - a full record blob (asm_record_blob's, written before
 * schema 7) in the lean form into sb: 0, -1 if damaged (sb unchanged)
 */
int
asm_blob_lean(assembler *a, const void *blob, size_t len, strbuf *sb)
{
	msg_node *m;

	if ((m = blob_record(a, blob, len)) == NULL)
		return -1;
	asm_record_lean(sb, &m->r, NULL, NULL);
	asm_node_release(a, m);
	return 0;
}

/*
 * The lean form of an open message's state (open_msgs.state since schema
 * 9): what its messages row and child rows (written in the same
 * transaction) do not hold. The store rebuilds the full state (the form
 * above, STATE_VERSION) from the row, the children and this
 * (asm_open_full) when the message is needed again.
 *
 *	OPEN_VERSION, the record's flags (as ser_record), smtpd_pid, the
 *	node's flags (ended, queued), ended_at, seq
 *	recipients: count, then per recipient its history: count, then per
 *	    attempt its time (from the one before, the first from
 *	    first_seen), bits (OH_*), and status, dsn unless the bits say
 *	    they are the reference's (the attempt before, the first: the
 *	    recipient's last status)
 *	the lean blob of the record (asm_record_lean), to the end
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
    rg_usec ended_at, uint64_t seq, asm_intern_fn intern, asm_text_fn text,
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

/* open_blob - an open (or lingering) message's state: lean if it fits */
static void
open_blob(strbuf *sb, const msg_node *m, asm_intern_fn intern,
    asm_text_fn text, void *arg)
{
	if (!open_fits(&m->r)) {
		ser_put_u64(sb, STATE_VERSION);
		ser_record(sb, &m->r, m);
		return;
	}
	open_lean(sb, &m->r, m->ended, m->queued, m->ended_at, m->seq, intern,
	    text, arg);
}

/* asm_blob_is_open - whether an open message's state is the lean form */
int
asm_blob_is_open(const void *blob, size_t len)
{
	return len > 0 && *(const unsigned char *)blob == OPEN_VERSION;
}

/*
 * asm_open_full - the full state (STATE_VERSION, as the assembler restores
 * it) into out of an open message whose record r was filled from its row
 * and child rows as for asm_lean_merge (th: the headers rows by name),
 * and its lean open state; resolve gives a numbered relay back. 0, -1 if
 * the state is damaged or does not fit the rows (out unchanged).
 */
int
asm_open_full(rg_record *r, const void *blob, size_t len,
    const rg_header *th, int nth, asm_resolve_fn resolve, void *arg,
    strbuf *out)
{
	rg_arena *ar = &r->ar;
	ser_reader rd;
	msg_node m;
	uint64_t flags, n, i, j, bits;

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
		/* room as rec_hist_add leaves it (deser_into) */
		while (cap < n)
			cap *= 2;
		rc->hist = rg_arena_alloc(ar, cap * sizeof(rg_attempt));
		for (j = 0; j < n && !rd.bad; j++) {
			rg_attempt *h = &rc->hist[j];

			h->ts = prev + ser_get_i64(&rd);
			bits = ser_get_u64(&rd);
			h->status = bits & OH_STATUS ? (char *)st
			    : gstr(&rd, ar);
			h->dsn = bits & OH_DSN ? (char *)dsn : gstr(&rd, ar);
			if (bits > (OH_STATUS | OH_DSN))
				rd.bad = 1;
			prev = h->ts;
			st = h->status;
			dsn = h->dsn;
			rc->nhist++;
		}
	}
	if (rd.bad || asm_lean_merge(r, rd.p, (size_t)(rd.end - rd.p), th, nth,
	    resolve, arg) != 0)
		return -1;
	rec_set_flags(r, flags);
	if (flags >> 10)
		return -1;
	ser_put_u64(out, STATE_VERSION);
	ser_record(out, r, &m);
	return 0;
}

/*
 * asm_open_lean - an open message's full state (schema 8 and before) in
 * the lean open form into out, relays inline: 0, -1 if damaged or if the
 * row could not give it back (out unchanged)
 */
int
asm_open_lean(assembler *a, const void *blob, size_t len, strbuf *out)
{
	ser_reader rd;
	msg_node *m;

	ser_reader_init(&rd, blob, len);
	if (ser_get_u64(&rd) != STATE_VERSION)
		return -1;
	if ((m = deser_record(a, &rd)) == NULL)
		return -1;
	if (!ser_ok(&rd) || !open_fits(&m->r)) {
		asm_node_release(a, m);
		return -1;
	}
	open_lean(out, &m->r, m->ended, m->queued, m->ended_at, m->seq, NULL,
	    NULL, NULL);
	asm_node_release(a, m);
	return 0;
}
