/*
 * asm_persist.c - the assembler's open state as blobs and back. The
 * collector stores them in SQLite (store/store.c) and restores them
 * at start, so the formats are read from existing databases: change
 * one only with a new STATE_VERSION that still reads the old one. Every
 * reader is bounded (ser.h): a damaged blob is refused, never trusted.
 * A message's blob forms are the store's (store/recblob.c: rb_open,
 * rb_get); the sessions' and the global state are written here.
 * An open message is saved with its key (rb_key) and restored from
 * the key alone (asm_restore_key): a stub that asm_msg_load decodes in
 * place, through the collector's loader, when it is first needed. Its
 * state is saved in the lean open form (what its messages row and child
 * rows do not hold), which the store turns back into the full form with
 * the rows (rb_open_full) before the loader hands it over.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/ser.h"
#include "../common/xalloc.h"
#include "../store/recblob.h"
#include "asm_int.h"

#define STATE_VERSION RB_STATE_VERSION

/* host_intern_str - the shared copy of a host name */
static const char *
host_intern_str(assembler *a, const char *h)
{
	return asm_host_intern_n(a, h, strlen(h));
}

/* host_intern_fn - asm_host_intern_n as rb_get's rb_host_fn */
static const char *
host_intern_fn(void *arg, const char *h, size_t n)
{
	return asm_host_intern_n(arg, h, n);
}

/*
 * deser_into - a record written by rb_put into m's empty record (and m's
 * own state); -1 if damaged
 */
static int
deser_into(assembler *a, msg_node *m, ser_reader *rd)
{
	rb_node n;
	int ret;

	memset(&n, 0, sizeof(n));
	ret = rb_get(rd, &m->r, &n, host_intern_fn, a);
	m->qlen = (unsigned char)strlen(m->r.qid);
	m->ended = n.ended;
	m->queued = n.queued;
	m->ended_at = n.ended_at;
	m->seq = n.seq;
	return ret;
}

/* node_state - m's own state, as rb_put and rb_open write it */
static rb_node
node_state(const msg_node *m)
{
	rb_node n;

	n.ended = m->ended;
	n.queued = m->queued;
	n.ended_at = m->ended_at;
	n.seq = m->seq;
	return n;
}

/* deser_record - a record written by rb_put; NULL if damaged */
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
		rb_put(sb, &s->pending[i]->r, NULL);
	ser_put_u64(sb, (uint64_t)s->nqids);
	for (i = 0; i < s->nqids; i++)
		ser_put_str(sb, s->qids[i]);
}

/* asm_checkpoint - hand out what changed since the last checkpoint */
void
asm_checkpoint(assembler *a, const asm_store_ops *ops)
{
	rb_key key;
	rb_node ns;
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
		ns = node_state(m);
		rb_open(&sb, &m->r, &ns, ops->intern, ops->intern_text,
		    ops->intern_arg);
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
asm_restore_key(assembler *a, const rb_key *k)
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
	char *mid = r->message_id, *own_mid = NULL;
	uint64_t id = r->id, seq = m->seq;
	char qid[sizeof(r->qid)];
	ser_reader rd;
	int fail = 2;

	if (!m->lazy)
		return 0;
	m->lazy = 0;
	a->nloaded++;
	/* an evicted stub's message-id is in its own arena, which goes */
	if (mid != NULL && r->ar.size > 0)
		mid = own_mid = xstrdup(mid);
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
		free(own_mid);
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
	r->message_id = own_mid != NULL ? rg_arena_str(&r->ar, own_mid,
	    strlen(own_mid)) : mid;
	free(own_mid);
	r->persisted = 1;
	m->seq = seq;
	m->ended = 0;
	if (!a->load_failed) {
		a->load_failed = fail;
		a->load_failed_id = id;
	}
	return -1;
}

/*
 * asm_msg_evict - make an open message whose state the store has (saved
 * at a checkpoint, unchanged since) a stub of its key, as asm_restore_key
 * makes one: what stays is its node in the table, the lists and the
 * message-id index, and the message-id itself, in an arena of its own
 * (one small chunk). asm_msg_load brings the rest back from the store.
 */
void
asm_msg_evict(assembler *a, msg_node *m)
{
	rg_record *r = &m->r, keep = m->r;
	size_t n = r->message_id != NULL ? rg_str_len(r->message_id) : 0;

	rec_init(r, a->pool);
	if (keep.message_id != NULL) {
		rg_arena_init_reserve(&r->ar, a->pool, n + 8);
		r->message_id = rg_arena_str(&r->ar, keep.message_id, n);
	}
	rec_free(&keep);
	r->id = keep.id;
	r->host = keep.host;
	memcpy(r->qid, keep.qid, sizeof(r->qid));
	r->first_seen = keep.first_seen;
	r->last_seen = keep.last_seen;
	r->persisted = 1;
	m->lazy = 1;
	m->tight = 1;
	m->queued = 0;
	a->nevicted++;
	a->cb.evicted(a->cb.arg, r->id);
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
	s->s.prog = ser_get_astr(&rd, ar);
	s->s.connect = ser_get_i64(&rd);
	s->s.disconnect = ser_get_i64(&rd);
	s->s.client_host = ser_get_astr(&rd, ar);
	s->s.client_ip = ser_get_astr(&rd, ar);
	s->s.client_port = ser_get_astr(&rd, ar);
	s->s.sasl_method = ser_get_astr(&rd, ar);
	s->s.sasl_username = ser_get_astr(&rd, ar);
	s->s.counters = ser_get_astr(&rd, ar);
	s->s.lost = ser_get_astr(&rd, ar);
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

