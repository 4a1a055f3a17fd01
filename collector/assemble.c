/*
 * assemble.c - message and session assembly: the assembler context, the
 * table and lists of open messages, the event dispatcher, lingering of
 * ended messages and the sweep of silent ones. Sessions, verdict joining
 * and persistence are in asm_session.c, asm_verdict.c and asm_persist.c
 * (asm_int.h lists them); what a line changes in a record, in record.c.
 * Nothing here fails: malformed events were filtered out by the parser,
 * and odd orders (a delivery before its client= line, a removed without
 * anything before it) still make a record.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/memfind.h"
#include "../common/xalloc.h"
#include "../common/zero.h"
#include "asm_int.h"

static void msg_emit(assembler *a, msg_node *m);

/* asm_host_intern - one shared copy of each host name */
const char *
asm_host_intern(assembler *a, const logline *ll)
{
	const char *p = ll->host, *nul;
	size_t n = ll->hostlen;

	/* the host of the line before (it has no NUL): the common case */
	if (n > 0 && n == a->last_hostlen && a->last_host != NULL
	    && memcmp(p, a->last_host, n) == 0)
		return a->last_host;
	/* strings are kept as C strings: a NUL ends the name */
	if (n > 0 && (nul = memchr(p, '\0', n)) != NULL)
		n = (size_t)(nul - p);
	if (n == 0) {
		/* a line without a host (rspamd's own log): the configured
		 * one, interned like any other so that it meets Postfix's */
		if (a->opt.default_host != NULL && *a->opt.default_host) {
			p = a->opt.default_host;
			n = strlen(p);
		} else {
			if (a->last_host != NULL)
				return a->last_host;
			p = "";	/* interned too: it carries its length */
		}
	}
	return asm_host_intern_n(a, p, n);
}

/* asm_host_intern_n - the interned copy of the host name p/n */
const char *
asm_host_intern_n(assembler *a, const char *p, size_t n)
{
	size_t i;

	if (a->last_host != NULL && a->last_hostlen == n
	    && memcmp(a->last_host, p, n) == 0)
		return a->last_host;
	for (i = 0; i < a->nhosts; i++)
		if (a->hostlens[i] == n && memcmp(a->hosts[i], p, n) == 0)
			break;
	if (i == a->nhosts) {
		a->hosts = xrealloc(a->hosts, (a->nhosts + 1) * sizeof(char *));
		a->hostlens = xrealloc(a->hostlens,
		    (a->nhosts + 1) * sizeof(size_t));
		a->hosts[i] = rg_arena_str(&a->hostar, p, n);
		a->hostlens[i] = n;
		a->nhosts++;
	}
	if (n == 0)
		return a->hosts[i];	/* "" never becomes the last host */
	a->last_hostlen = n;
	return a->last_host = a->hosts[i];
}

/* asm_dirty_add - put a node into a dirty list once (its slot in *idx) */
void
asm_dirty_add(dirty_list *d, void *node, int *idx)
{
	if (*idx >= 0)
		return;
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 256;
		d->v = xrealloc(d->v, d->cap * sizeof(void *));
	}
	*idx = (int)d->n;
	d->v[d->n++] = node;
}

/* asm_dirty_remove - a node is going away: not in the next checkpoint */
void
asm_dirty_remove(dirty_list *d, int *idx)
{
	if (*idx >= 0) {
		d->v[*idx] = NULL;
		*idx = -1;
	}
}

/* mark_msg - m changed: it goes into the next checkpoint */
static void
mark_msg(assembler *a, msg_node *m)
{
	m->seq = ++a->seq;
	if (a->opt.persist)
		asm_dirty_add(&a->mdirty, m, &m->dirty_idx);
}

/* unmark_msg - m is going away: not in the next checkpoint */
static void
unmark_msg(assembler *a, msg_node *m)
{
	asm_dirty_remove(&a->mdirty, &m->dirty_idx);
}

/* ---- messages ---- */

/* asm_msg_hash - hash of host and queue ID */
uint32_t
asm_msg_hash(const char *host, const char *qid, size_t n)
{
	return rg_hash_u64(rg_hash_words(qid, n) ^ (uint64_t)(uintptr_t)host);
}

/*
 * The messages that wait (tightened: silent for TIGHT_IDLE) are cold: they
 * live in a table of their own (ctab), so that the table of the others
 * (mtab), which every line with a queue ID looks in, stays small enough
 * for the CPU's cache. A relay's deferred and held queue fills a table of
 * megabytes, read at random: each new queue ID's look and insert there
 * missed the cache (8% of a parse's time at 32,000 waiting). A Bloom
 * filter of ctab's hashes, 64 KiB, tells most new queue IDs that ctab
 * does not have them; a taken-out hash stays in it until it is rebuilt,
 * once as many were taken out as there are cold messages.
 */

/* bloom_bits - the filter's two bits for hash h */
static inline void
bloom_bits(uint32_t h, uint32_t *b1, uint32_t *b2)
{
	*b1 = h & (CBLOOM_BITS - 1);
	*b2 = (h * 0x9e3779b1u) >> (32 - CBLOOM_LOG);
}

/* bloom_add - note hash h in the filter */
static void
bloom_add(assembler *a, uint32_t h)
{
	uint32_t b1, b2;

	bloom_bits(h, &b1, &b2);
	a->cbloom[b1 / 64] |= 1ull << (b1 % 64);
	a->cbloom[b2 / 64] |= 1ull << (b2 % 64);
}

/* bloom_maybe - whether ctab may hold a message of hash h */
static inline int
bloom_maybe(const assembler *a, uint32_t h)
{
	uint32_t b1, b2;

	if (a->ctab.n == 0)
		return 0;
	bloom_bits(h, &b1, &b2);
	return (a->cbloom[b1 / 64] >> (b1 % 64) & 1)
	    && (a->cbloom[b2 / 64] >> (b2 % 64) & 1);
}

/* bloom_rebuild - the filter of ctab's hashes alone */
static void
bloom_rebuild(assembler *a)
{
	size_t i;

	memset(a->cbloom, 0, CBLOOM_BITS / 8);
	for (i = 0; a->ctab.n > 0 && i <= a->ctab.mask; i++)
		if (a->ctab.slot[i].val != NULL)
			bloom_add(a, a->ctab.slot[i].hash);
	a->cstale = 0;
}

/* cold_clear - no cold message left (their nodes are the caller's) */
static void
cold_clear(assembler *a)
{
	rg_htab_clear(&a->ctab);
	if (a->cbloom != NULL)
		memset(a->cbloom, 0, CBLOOM_BITS / 8);
	a->cstale = 0;
}

/* cold_out - take m out of ctab (into mtab, or nowhere) */
static void
cold_out(assembler *a, msg_node *m)
{
	rg_htab_remove(&a->ctab, m->hash, m);
	m->cold = 0;
	if (++a->cstale > a->ctab.n + 4096)
		bloom_rebuild(a);
}

/* msg_cool - move the waiting message m from mtab to ctab */
static void
msg_cool(assembler *a, msg_node *m)
{
	if (m->cold)
		return;
	if (a->cbloom == NULL)
		a->cbloom = xcalloc(CBLOOM_BITS / 64, sizeof(uint64_t));
	rg_htab_remove(&a->mtab, m->hash, m);
	rg_htab_insert(&a->ctab, m->hash, m);
	bloom_add(a, m->hash);
	m->cold = 1;
}

/* msg_warm - move m, which has a line again, from ctab to mtab */
static void
msg_warm(assembler *a, msg_node *m)
{
	if (!m->cold)
		return;
	cold_out(a, m);
	rg_htab_insert(&a->mtab, m->hash, m);
}

/* find_in - the message host/qid (hash h) in table t, or NULL */
static msg_node *
find_in(const rg_htab *t, uint32_t h, const char *host, rg_slice qid)
{
	size_t i = rg_htab_start(t, h);
	msg_node *m;

	while ((m = rg_htab_next(t, h, &i)) != NULL)
		if (m->r.host == host && m->qlen == qid.n
		    && memcmp(m->r.qid, qid.p, qid.n) == 0)
			return m;
	return NULL;
}

/*
 * asm_msg_find - the open message host/qid, or NULL. The tables hold the
 * hash beside each pointer: only a node whose hash matches is read.
 */
msg_node *
asm_msg_find(assembler *a, const char *host, rg_slice qid)
{
	uint32_t h;
	msg_node *m;

	if (qid.n == 0 || qid.n >= sizeof(m->r.qid))
		return NULL;
	h = asm_msg_hash(host, qid.p, qid.n);
	if ((m = find_in(&a->mtab, h, host, qid)) == NULL
	    && bloom_maybe(a, h))
		m = find_in(&a->ctab, h, host, qid);
	if (m != NULL)
		asm_need(a, m);
	return m;
}

/* asm_msg_insert - put a message node (hash set) into the table */
void
asm_msg_insert(assembler *a, msg_node *m)
{
	rg_htab_insert(&a->mtab, m->hash, m);
	a->nmsgs++;
}

/* asm_list_append - put m at the tail of a list (open LRU or closing FIFO) */
void
asm_list_append(msg_node **head, msg_node **tail, msg_node *m)
{
	m->lnext = NULL;
	m->lprev = *tail;
	if (*tail)
		(*tail)->lnext = m;
	else
		*head = m;
	*tail = m;
}

/* list_unlink - take m out of a list */
static void
list_unlink(msg_node **head, msg_node **tail, msg_node *m)
{
	if (m->lprev)
		m->lprev->lnext = m->lnext;
	else
		*head = m->lnext;
	if (m->lnext)
		m->lnext->lprev = m->lprev;
	else
		*tail = m->lprev;
	m->lprev = m->lnext = NULL;
}

/* asm_lru_append - put an open message at the tail of the LRU list */
void
asm_lru_append(assembler *a, msg_node *m)
{
	asm_list_append(&a->mhead, &a->mtail, m);
}

/* open_unlink - take an open message out of the LRU list */
static void
open_unlink(assembler *a, msg_node *m)
{
	if (a->tight_cursor == m)
		a->tight_cursor = m->lprev;
	if (a->evict_cursor == m)
		a->evict_cursor = m->lprev;
	list_unlink(&a->mhead, &a->mtail, m);
}

/* lru_unlink - take m out of whichever list holds it */
static void
lru_unlink(assembler *a, msg_node *m)
{
	if (m->ended)
		list_unlink(&a->chead, &a->ctail, m);
	else
		open_unlink(a, m);
}

/* asm_node_alloc - an empty message node (of the pool's size classes) */
msg_node *
asm_node_alloc(assembler *a)
{
	msg_node *m = rg_pool_get(a->pool, sizeof(*m));

	RG_ZERO(m);
	rec_init(&m->r, a->pool);
	m->dirty_idx = -1;
	m->compact_at = COMPACT_MIN;
	return m;
}

/* asm_node_release - free a node's record (its arena) and the node */
void
asm_node_release(assembler *a, msg_node *m)
{
	rec_free(&m->r);
	rg_pool_put(a->pool, m, sizeof(*m));
}

/* asm_node_new - an empty record with a new id */
msg_node *
asm_node_new(assembler *a, const char *host, rg_usec ts)
{
	msg_node *m = asm_node_alloc(a);

	m->r.id = ++a->next_id;
	m->r.host = host;
	m->r.first_seen = m->r.last_seen = ts;
	return m;
}

/* msg_new - a new open message host/qid */
static msg_node *
msg_new(assembler *a, const char *host, rg_slice qid, rg_usec ts)
{
	msg_node *m = asm_node_new(a, host, ts);

	memcpy(m->r.qid, qid.p, qid.n);
	m->r.qid[qid.n] = '\0';
	m->qlen = (unsigned char)qid.n;
	m->hash = asm_msg_hash(host, qid.p, qid.n);
	asm_msg_insert(a, m);
	asm_lru_append(a, m);
	return m;
}

/* touch - note activity on m at ts */
static void
touch(assembler *a, msg_node *m, rg_usec ts)
{
	if (ts > m->r.last_seen)
		m->r.last_seen = ts;
	msg_warm(a, m);
	mark_msg(a, m);
	if (!m->ended && a->mtail != m) {
		lru_unlink(a, m);
		asm_lru_append(a, m);
	}
	m->tight = 0;
	/* replaced values stay in the arena until it is compacted */
	if (m->r.ar.size > m->compact_at) {
		size_t live = rec_compact(&m->r, 0);

		m->compact_at = live * 2 > COMPACT_MIN ? live * 2 : COMPACT_MIN;
	}
}

/*
 * asm_msg_take - the open message host/qid, m if it was found, created if
 * need be. An ended one counts only for a late verdict; anything else
 * about that queue ID is a new message (short queue IDs are reused).
 */
msg_node *
asm_msg_take(assembler *a, msg_node *m, const char *host, rg_slice qid,
    rg_usec ts, int verdict)
{
	if (m != NULL && m->ended && !verdict) {
		msg_emit(a, m);
		m = NULL;
	}
	if (m == NULL) {
		if (qid.n == 0 || qid.n >= sizeof(m->r.qid))
			return NULL;
		m = msg_new(a, host, qid, ts);
	}
	touch(a, m, ts);
	return m;
}

/* asm_msg_get - the open message host/qid, created if need be (asm_msg_take) */
msg_node *
asm_msg_get(assembler *a, const char *host, rg_slice qid, rg_usec ts,
    int verdict)
{
	return asm_msg_take(a, asm_msg_find(a, host, qid), host, qid, ts, verdict);
}

/* msg_drop - forget m (handed out, or ended by the store) */
static void
msg_drop(assembler *a, msg_node *m)
{
	if (m->cold)
		cold_out(a, m);
	else
		rg_htab_remove(&a->mtab, m->hash, m);
	a->nmsgs--;
	if (m->ended)
		a->nclosing--;
	unmark_msg(a, m);
	lru_unlink(a, m);
	asm_mid_remove(a, m);
	asm_node_release(a, m);
}

/* msg_emit - hand m to the caller and forget it */
static void
msg_emit(assembler *a, msg_node *m)
{
	if (a->cb.message != NULL) {
		asm_need(a, m);
		a->cb.message(a->cb.arg, &m->r);
	}
	msg_drop(a, m);
}

/*
 * asm_msg_finish - m has ended. It lingers a few seconds of log time before it
 * is handed out, for a content filter's verdict logged in the same second
 * in another file (rspamd's own log, merged by time).
 */
void
asm_msg_finish(assembler *a, msg_node *m, int complete)
{
	if (a->cb.message != NULL)
		asm_need(a, m);	/* not when asm_free drops everything */
	m->r.complete = complete ? 1 : 0;
	if (m->ended)
		return;
	open_unlink(a, m);
	m->ended = 1;
	m->ended_at = a->now;
	a->nclosing++;
	asm_list_append(&a->chead, &a->ctail, m);
	mark_msg(a, m);
}

/* flush_closing - hand out ended messages whose linger time is over */
static void
flush_closing(assembler *a, int all)
{
	while (a->chead != NULL
	    && (all || a->chead->ended_at < a->now - LINGER_USEC))
		msg_emit(a, a->chead);
}

/* flush_aborts - close the queue IDs whose session ended before cleanup */
static void
flush_aborts(assembler *a, int all)
{
	while (a->acount > 0) {
		abort_cand *c = &a->aborts[a->ahead];
		rg_slice q = { c->qid, strlen(c->qid) };
		msg_node *m;

		if (!all && c->deadline >= a->now)
			break;
		a->ahead = (a->ahead + 1) % ABORT_MAX;
		a->acount--;
		m = asm_msg_find(a, c->host, q);
		if (m != NULL && !m->ended && !m->queued) {
			m->r.aborted = 1;
			asm_msg_finish(a, m, 1);
		}
	}
}

/* ---- the event dispatcher ---- */

/*
 * tighten - compact the messages silent for TIGHT_IDLE of log time into
 * one chunk each: those are the ones that wait (held, deferred, their end
 * not logged yet), and what an open message holds is most of the memory.
 * The open list is in order of activity: the messages before the cursor
 * are tight already.
 */
static void
tighten(assembler *a)
{
	rg_usec limit = a->now - TIGHT_IDLE;
	msg_node *m = a->tight_cursor != NULL ? a->tight_cursor->lnext : a->mhead;

	for (; m != NULL && m->r.last_seen < limit; m = m->lnext) {
		if (!m->tight) {
			size_t live = rec_compact(&m->r, 1);

			m->compact_at = live * 2 > COMPACT_MIN ? live * 2
			    : COMPACT_MIN;
			m->tight = 1;
		}
		msg_cool(a, m);
		a->tight_cursor = m;
	}
}

/*
 * evict - the open messages silent for EVICT_IDLE of log time, whose state
 * the store has (handed over at a checkpoint, unchanged since), become
 * stubs of their keys: a relay with a large deferred or held queue does
 * not keep it in memory. Only with a store to load them from. The open
 * list is in order of activity: those before the cursor were looked at.
 */
static void
evict(assembler *a)
{
	rg_usec limit = a->now - EVICT_IDLE;
	msg_node *m;

	if (a->load == NULL || !a->opt.persist || a->cb.evicted == NULL)
		return;
	m = a->evict_cursor != NULL ? a->evict_cursor->lnext : a->mhead;
	for (; m != NULL && m->r.last_seen < limit; m = m->lnext) {
		if (!m->lazy && !m->ended && m->dirty_idx < 0 && m->r.persisted)
			asm_msg_evict(a, m);
		a->evict_cursor = m;
	}
}

/* sweep - drop what has been silent too long (in log time) */
static void
sweep(assembler *a)
{
	rg_usec mlimit = a->now - a->opt.max_message_age * RG_USEC;
	rg_usec slimit = a->now - a->opt.max_session_age * RG_USEC;

	while (a->mhead != NULL && a->mhead->r.last_seen < mlimit) {
		msg_node *m = a->mhead;

		/* a stub: ended by the store, not loaded to be ended here */
		if (m->lazy && a->cb.stale != NULL) {
			a->cb.stale(a->cb.arg, m->r.id);
			a->nstale++;
			msg_drop(a, m);
			continue;
		}
		asm_need(a, m);
		m->r.stale = 1;
		asm_msg_finish(a, m, 0);	/* onto the closing list ... */
		msg_emit(a, m);		/* ... and out at once */
	}
	while (a->shead != NULL && a->shead->last_seen < slimit) {
		a->shead->s.stale = 1;
		asm_sess_finish(a, a->shead, 0);
	}
	tighten(a);
	evict(a);
	a->last_sweep = a->now;
}

/* on_delivery - a delivery attempt for one recipient */
static void
on_delivery(assembler *a, msg_node *m, const rg_event *ev)
{
	rg_rcpt *rc = rec_rcpt_get(&m->r, ev->rcpt, ev->orig_to);
	const char *qa;

	rg_arena *ar = &m->r.ar;

	rec_put(ar, &rc->status, ev->status);
	rec_put(ar, &rc->dsn, ev->dsn);
	rec_put(ar, &rc->relay, ev->relay);
	rec_put(ar, &rc->delay, ev->delay);
	rec_put(ar, &rc->response, ev->response);
	rc->attempts++;
	rec_hist_add(&m->r, rc, a->now, ev->status, ev->dsn);
	/* a content filter answered "queued as QID2": the message goes on as QID2 */
	if (sl_eq(ev->status, "sent") && ev->response.p != NULL
	    && (qa = rg_memfind(ev->response.p, ev->response.p
	    + ev->response.n, "queued as ", 10)) != NULL) {
		rg_slice q2 = { qa + 10, 0 };
		const char *end = ev->response.p + ev->response.n;
		msg_node *m2;

		while (q2.p + q2.n < end && q2.p[q2.n] != ' '
		    && q2.p[q2.n] != ')' && q2.p[q2.n] != ',')
			q2.n++;
		m2 = asm_msg_find(a, m->r.host, q2);
		if (m2 != NULL && m2 != m && m2->r.first_seen >= m->r.first_seen
		    && m2->r.client_ip != NULL && rc->relay != NULL
		    && strstr(rc->relay, m2->r.client_ip) != NULL
		    && m2->r.orig_queue_id == NULL) {
			rec_link_filtered(&m->r, &m2->r);
			/* m2 changed too: into the next checkpoint */
			if (a->opt.persist)
				asm_dirty_add(&a->mdirty, m2, &m2->dirty_idx);
		}
	}
}

/* asm_event - fold one recognised line into the open records */
void
asm_event(assembler *a, const logline *ll, const rg_event *ev)
{
	const char *host = asm_host_intern(a, ll);
	rg_usec ts = ll->ts;
	msg_node *m = NULL, *m2;
	rg_slice none = { 0 };
	rg_arena *ar;

	if (ts > a->now)
		a->now = ts;
	if (a->chead != NULL)
		flush_closing(a, 0);
	if (a->acount > 0)
		flush_aborts(a, 0);
	if (a->now - a->last_sweep > 60 * RG_USEC)
		sweep(a);
	switch (ev->kind) {
	case EV_CONNECT:
	case EV_DISCONNECT:
	case EV_LOST:
	case EV_SASL_FAIL:
		asm_on_session_event(a, host, ll, ev, ts);
		return;
	case EV_NOQUEUE:
		asm_on_noqueue(a, host, ll, ev, ts);
		return;
	case EV_CLIENT:
		asm_on_client(a, host, ll, ev, ts);
		return;
	case EV_SPAMD:
		asm_on_spamd(a, ev, ts);
		return;
	default:
		break;
	}
	if (ev->qid.p == NULL)
		return;
	/* the message is looked up once per line */
	m = asm_msg_find(a, host, ev->qid);
	if (ev->kind == EV_PICKUP && m != NULL && !m->ended
	    && (m->r.client_ip != NULL || m->r.pickup))
		asm_msg_finish(a, m, 0);
	if ((m = asm_msg_take(a, m, host, ev->qid, ts,
	    ev->kind == EV_RSPAMD || ev->kind == EV_AMAVIS)) == NULL)
		return;
	ar = &m->r.ar;
	if (ev->kind != EV_RCPT_REJECT)
		m->queued = 1;
	switch (ev->kind) {
	case EV_PICKUP:
		m->r.pickup = 1;
		rec_put(ar, &m->r.sender, ev->sender);
		break;
	case EV_RCPT_REJECT: {
		rg_rcpt *rc = rec_rcpt_get(&m->r, ev->rcpt, none);

		rec_put(ar, &rc->status, (rg_slice){ "rejected", 8 });
		rec_put(ar, &rc->dsn, ev->dsn);
		rec_put(ar, &rc->response, ev->text);
		rc->attempts++;
		rec_put_if_unset(ar, &m->r.sender, ev->sender);
		rec_put_if_unset(ar, &m->r.client_host, ev->client_host);
		rec_put_if_unset(ar, &m->r.client_ip, ev->client_ip);
		break;
	}
	case EV_SMTPD_ACTION:
		if (sl_eq(ev->action, "hold")) {
			m->r.held = m->r.was_held = 1;
		} else if (sl_eq(ev->action, "discard")) {
			/* smtpd's DISCARD: cleanup drops the message, nothing follows */
			m->r.discarded = 1;
			asm_msg_finish(a, m, 1);
		} else {
			rec_set_reject(&m->r, ev->stage, ev);
			rec_put_if_unset(ar, &m->r.sender, ev->sender);
			asm_msg_finish(a, m, 1);
		}
		break;
	case EV_MSGID:
		if (m->r.message_id == NULL && ev->msgid.n > 0) {
			m->r.message_id = rec_sdup(ar, ev->msgid);
			asm_mid_add(a, m);
			if (a->nspamd > 0)
				asm_spamd_pending_take(a, m);
		}
		break;
	case EV_HEADER: {
		int cut = ev->hdr_is_milter
		    ? ev->hdr_name.n + 2 + ev->hdr_value.n >= 60
		    : ev->hdr_name.n + 2 + ev->hdr_value.n >= 200;

		rec_put_if_unset(ar, &m->r.sender, ev->sender);
		if (ev->hdr_is_milter) {
			if (!ev->hdr_is_body)
				rec_spam_header(&m->r, ev->hdr_name, ev->hdr_value,
				    VS_HEADER);
		} else if (!ev->hdr_is_body) {
			rec_header_add(&m->r, a->opt.headers,
			    a->opt.nheaders, ev->hdr_name, ev->hdr_value, cut);
			rec_spam_header(&m->r, ev->hdr_name, ev->hdr_value,
			    VS_CLIENT_HEADER);
		}
		if (sl_eq(ev->action, "hold")) {
			m->r.held = m->r.was_held = 1;
		} else if (sl_eq(ev->action, "discard")) {
			/* no message-id, qmgr or removed line follows a discard */
			m->r.discarded = 1;
			asm_msg_finish(a, m, 1);
		} else if (sl_eq(ev->action, "reject")) {
			rec_set_reject(&m->r, (rg_slice){ ev->hdr_is_body ? "body"
			    : "header", ev->hdr_is_body ? 4 : 6 }, ev);
			asm_msg_finish(a, m, 1);
		}
		break;
	}
	case EV_MILTER:
		rec_put_if_unset(ar, &m->r.sender, ev->sender);
		if (sl_eq(ev->action, "milter-hold")) {
			m->r.held = m->r.was_held = 1;
		} else if (sl_eq(ev->action, "milter-discard")) {
			m->r.discarded = 1;
			asm_msg_finish(a, m, 1);
		} else if (sl_eq(ev->action, "milter-reject")) {
			if (rec_spammy(ev->text))
				rec_verdict_offer(&m->r, VS_MILTER, 1, none, none,
				    (rg_slice){ "reject", 6 }, none);
			rec_set_reject(&m->r, ev->stage, ev);
			asm_msg_finish(a, m, 1);
		}
		break;
	case EV_QMGR_FROM:
		rec_put(ar, &m->r.sender, ev->sender);
		if (ev->size.p)
			m->r.size = sl_num(ev->size);
		if (ev->nrcpt.p)
			m->r.nrcpt = sl_num(ev->nrcpt);
		break;
	case EV_QMGR_EXPIRED:
		rec_put_if_unset(ar, &m->r.sender, ev->sender);
		m->r.expired = 1;
		break;
	case EV_REMOVED:
		asm_msg_finish(a, m, 1);
		break;
	case EV_PS_REMOVED:
		m->r.deleted = 1;
		asm_msg_finish(a, m, 1);
		break;
	case EV_DELIVERY:
		on_delivery(a, m, ev);
		break;
	case EV_NOTIFY:
		if ((m2 = asm_msg_get(a, host, ev->qid2, ts, 0)) != NULL)
			rec_put(&m2->r.ar, &m2->r.bounce_of, ev->qid);
		break;
	case EV_HOLD:
		m->r.held = m->r.was_held = 1;
		break;
	case EV_RELEASE:
		m->r.held = 0;
		break;
	case EV_REQUEUED:
		break;
	case EV_RSPAMD:
	case EV_AMAVIS:
		asm_on_filter(a, m, host, ev, ts);
		break;
	default:
		break;
	}
}

/* asm_new - an empty assembler */
assembler *
asm_new(const asm_options *opt, const asm_callbacks *cb)
{
	assembler *a = xcalloc(1, sizeof(*a));

	a->opt = *opt;
	a->cb = *cb;
	rg_htab_init(&a->mtab, 2048);
	rg_htab_init(&a->ctab, 2048);
	rg_htab_init(&a->stab, 512);
	a->idbuckets = 1024;
	a->idtab = xcalloc(a->idbuckets, sizeof(*a->idtab));
	a->pool = rg_pool_new();
	rg_arena_init(&a->hostar, NULL);
	rg_arena_init(&a->keyar, a->pool);	/* on the pool's huge pages */
	sb_init(&a->loadbuf);
	a->now = INT64_MIN / 2;
	a->last_sweep = INT64_MIN / 2;
	return a;
}

/*
 * drain_open - hand out the open messages as incomplete, oldest first, and
 * release them: what asm_msg_finish and then flush_closing do, in one walk.
 * Only when every message in the table is open (nothing lingers) and no
 * checkpoint follows: the table and the message-id index are then emptied
 * at once, not entry by entry. At the end of a run the nodes are cold
 * (tens of MiB of them): each is read once, not three times.
 */
static void
drain_open(assembler *a)
{
	msg_node *m, *next;

	for (m = a->mhead; m != NULL; m = next) {
		next = m->lnext;
		if (next != NULL)
			__builtin_prefetch(next);
		m->r.complete = 0;
		m->seq = ++a->seq;
		if (a->cb.message != NULL) {
			asm_need(a, m);
			a->cb.message(a->cb.arg, &m->r);
		}
		asm_node_release(a, m);
	}
	a->mhead = a->mtail = a->tight_cursor = a->evict_cursor = NULL;
	a->nmsgs = 0;
	rg_htab_clear(&a->mtab);
	cold_clear(a);
	asm_mid_clear(a);
}

/*
 * finish - hand out everything still open, as incomplete; with count, the
 * open messages (when drain_open would hand them out) are only counted
 * (the number returned) and stay where they are, for asm_free
 */
static size_t
finish(assembler *a, int count)
{
	size_t n;

	flush_closing(a, 1);
	while (a->shead != NULL)
		asm_sess_finish(a, a->shead, 0);
	flush_aborts(a, 1);
	flush_closing(a, 1);	/* those the sessions and aborts ended */
	if (!a->opt.persist && a->nclosing == 0 && a->nmsgs > 0) {
		if (count) {
			n = a->nmsgs;
			a->counted = 1;
			return n;
		}
		drain_open(a);
		return 0;
	}
	while (a->mhead != NULL)
		asm_msg_finish(a, a->mhead, 0);
	flush_closing(a, 1);
	return 0;
}

/* asm_finish - hand out everything still open, as incomplete */
void
asm_finish(assembler *a)
{
	if (!a->counted)
		(void)finish(a, 0);
}

/*
 * asm_finish_count - as asm_finish, for a caller that wants only how many
 * records there are (parse --stats): the messages still open are counted,
 * not handed out (the number returned; those ended by the sessions' and
 * the aborts' ends are handed out as before), and are not read again. The
 * assembler is then good for asm_free only.
 */
size_t
asm_finish_count(assembler *a)
{
	return a->counted ? 0 : finish(a, 1);
}

/* asm_open_messages - how many messages are open (not ended) */
size_t
asm_open_messages(const assembler *a)
{
	return a->nmsgs - a->nclosing;
}

/* asm_evictions - open messages evicted to the store, loaded back, and
 * ended there as stale */
void
asm_evictions(const assembler *a, size_t *evicted, size_t *loaded,
    size_t *stale)
{
	*evicted = a->nevicted;
	*loaded = a->nloaded;
	*stale = a->nstale;
}

/*
 * asm_prefault - the memory of open records faulted in ahead of use, in a
 * thread of its own once they fill more than a slab (rg_pool_prefault):
 * for a run on more than one CPU
 */
void
asm_prefault(assembler *a)
{
	rg_pool_prefault(a->pool);
}

/* asm_prefault_stats - what the prefault thread did (rg_pool_prefault_stats) */
void
asm_prefault_stats(const assembler *a, unsigned long *made,
    unsigned long *taken, unsigned long *missed)
{
	rg_pool_prefault_stats(a->pool, made, taken, missed);
}

/* asm_open_sessions - how many sessions are open */
size_t
asm_open_sessions(const assembler *a)
{
	return a->nsess;
}

/*
 * free_messages - release the open and the ended messages without
 * finishing each, and empty their table and index
 */
static void
free_messages(assembler *a)
{
	msg_node *m, *next;
	int k;

	for (k = 0; k < 2; k++)
		for (m = k ? a->chead : a->mhead; m != NULL; m = next) {
			next = m->lnext;
			asm_node_release(a, m);
		}
	a->mhead = a->mtail = a->chead = a->ctail = a->tight_cursor =
	    a->evict_cursor = NULL;
	a->nmsgs = a->nclosing = 0;
	a->mdirty.n = 0;
	rg_htab_free(&a->mtab);
	rg_htab_init(&a->mtab, 16);
	rg_htab_free(&a->ctab);
	rg_htab_init(&a->ctab, 16);
	cold_clear(a);
	memset(a->idtab, 0, a->idbuckets * sizeof(*a->idtab));
	a->nids = 0;
}

/* asm_free - release everything (without handing it out) */
void
asm_free(assembler *a)
{
	size_t i;
	int k;

	if (a == NULL)
		return;
	a->cb.message = NULL;
	a->cb.session = NULL;
	/* nothing is handed out: the messages' memory only, without
	 * finishing each */
	free_messages(a);
	asm_finish(a);
	/* restored but never taken in (a later row was damaged) */
	for (i = 0; i < a->nrmsgs; i++)
		asm_node_release(a, a->rmsgs[i]);
	free(a->rmsgs);
	for (i = 0; i < a->nrsess; i++) {
		for (k = 0; k < a->rsess[i]->npending; k++)
			asm_node_release(a, a->rsess[i]->pending[k]);
		free(a->rsess[i]->pending);
		asm_sess_node_free(a, a->rsess[i]);
	}
	free(a->rsess);
	rg_htab_free(&a->mtab);
	rg_htab_free(&a->ctab);
	free(a->cbloom);
	rg_htab_free(&a->stab);
	free(a->idtab);
	free(a->mdirty.v);
	free(a->sdirty.v);
	rg_arena_free(&a->keyar);	/* before its pool */
	rg_pool_free(a->pool);
	rg_arena_free(&a->hostar);
	sb_free(&a->loadbuf);
	free(a->hosts);
	free(a->hostlens);
	asm_spamd_free(a);
	free(a);
}
