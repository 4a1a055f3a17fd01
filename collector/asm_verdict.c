/*
 * asm_verdict.c - joining content-filter verdicts to messages. rspamd and
 * amavis log the queue ID; spamd logs only the Message-ID (mid=), found
 * through an index of the open messages by message-id (built at the first
 * spamd line, kept from then on), with a window of log time; a spamd
 * result logged before its message's message-id= line waits in a bounded
 * list (the oldest is dropped). Owns the index entries and the pending
 * results.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/xalloc.h"
#include "asm_int.h"

/* mid_link - put m at the head of its index chain */
static void
mid_link(msg_node **slot, msg_node *m)
{
	m->mid_next = *slot;
	if (*slot != NULL)
		(*slot)->mid_pprev = &m->mid_next;
	*slot = m;
	m->mid_pprev = slot;
}

/*
 * mid_grow - twice the buckets; each chain keeps its order (newest first)
 * in the new table, so that a resize never changes which of two messages
 * with one Message-ID mid_find() meets first
 */
static void
mid_grow(assembler *a)
{
	size_t nb = a->idbuckets * 2, i, k;
	msg_node **t = xcalloc(nb, sizeof(*t)), **tail;

	/* the last link of each new chain, to append in order */
	tail = xcalloc(nb, sizeof(*tail));
	for (i = 0; i < a->idbuckets; i++) {
		msg_node *x = a->idtab[i], *next;

		for (; x != NULL; x = next) {
			next = x->mid_next;
			k = x->mid_hash & (nb - 1);
			x->mid_next = NULL;
			if (tail[k] == NULL) {
				t[k] = x;
				x->mid_pprev = &t[k];
			} else {
				tail[k]->mid_next = x;
				x->mid_pprev = &tail[k]->mid_next;
			}
			tail[k] = x;
		}
	}
	free(tail);
	free(a->idtab);
	a->idtab = t;
	a->idbuckets = nb;
}

/* mid_index - put m into the message-id index, at the head of its chain */
static void
mid_index(assembler *a, msg_node *m)
{
	if (a->nids + 1 > a->idbuckets)
		mid_grow(a);
	a->nids++;
	m->mid_hash = rg_hash_words(m->r.message_id,
	    rg_str_len(m->r.message_id));
	mid_link(&a->idtab[m->mid_hash & (a->idbuckets - 1)], m);
}

/*
 * asm_mid_add - index m by its message-id. The index is built only once a
 * spamd line has asked for it (mid_build): a log without spamd lines never
 * pays for it (two cache misses a message on a busy relay).
 */
void
asm_mid_add(assembler *a, msg_node *m)
{
	if (a->mid_on)
		mid_index(a, m);
}

/* cmp_node_id - by record id, oldest message first */
static int
cmp_node_id(const void *x, const void *y)
{
	const msg_node *const *p = x, *const *q = y;

	if ((*p)->r.id != (*q)->r.id)
		return (*p)->r.id < (*q)->r.id ? -1 : 1;
	return 0;
}

/*
 * mid_build - the first spamd line: index every message held (open or
 * lingering) that has a message-id, oldest first, so that the newest is
 * at the head of its chain as if each had been indexed as it came
 */
static void
mid_build(assembler *a)
{
	const rg_htab *tabs[2] = { &a->mtab, &a->ctab };	/* the cold too */
	msg_node **v;
	size_t i, k, n = 0;

	a->mid_on = 1;
	if (a->nmsgs == 0)
		return;
	v = xcalloc(a->nmsgs, sizeof(*v));
	for (k = 0; k < 2; k++)
		for (i = 0; tabs[k]->n > 0 && i <= tabs[k]->mask; i++) {
			msg_node *m = tabs[k]->slot[i].val;

			if (m != NULL && m->r.message_id != NULL
			    && n < a->nmsgs)
				v[n++] = m;
		}
	qsort(v, n, sizeof(*v), cmp_node_id);
	for (i = 0; i < n; i++)
		mid_index(a, v[i]);
	free(v);
}

/* mid_find - the newest open message with this message-id near ts */
static msg_node *
mid_find(assembler *a, rg_slice mid, rg_usec ts)
{
	uint32_t h = rg_hash_words(mid.p, mid.n);
	msg_node *e;
	rg_usec win = a->opt.spamd_window * RG_USEC;
	int n = 0;

	/* newest first; a flood of one Message-ID is not searched whole */
	for (e = a->idtab[h & (a->idbuckets - 1)]; e != NULL && n < 64;
	    e = e->mid_next, n++) {
		rg_record *r = &e->r;

		if (e->mid_hash == h && str_eq_sl(r->message_id, mid)
		    && ts >= r->first_seen - win && ts <= r->last_seen + win) {
			asm_need(a, e);
			return e;
		}
	}
	return NULL;
}

/* asm_mid_remove - drop m from the message-id index */
void
asm_mid_remove(assembler *a, msg_node *m)
{
	if (m->mid_pprev == NULL)
		return;
	*m->mid_pprev = m->mid_next;
	if (m->mid_next != NULL)
		m->mid_next->mid_pprev = m->mid_pprev;
	m->mid_pprev = NULL;
	m->mid_next = NULL;
	a->nids--;
}

/*
 * asm_mid_clear - empty the message-id index at once (its messages are
 * all being released)
 */
void
asm_mid_clear(assembler *a)
{
	if (a->idtab != NULL)
		memset(a->idtab, 0, a->idbuckets * sizeof(*a->idtab));
	a->nids = 0;
}

/* sdup - a malloc'ed copy of a slice (NULL for an unset slice) */
static char *
sdup(rg_slice s)
{
	return s.p == NULL ? NULL : xstrndup(s.p, s.n);
}

/* spamd_apply - give a spamd result to a message */
static void
spamd_apply(rg_record *r, int spam, rg_slice score, rg_slice req,
    rg_slice syms)
{
	rg_slice none = { 0 };

	rec_verdict_offer(r, VS_SPAMD, spam, score, req, none, syms);
}

/* asm_spamd_pending_take - results that were logged before the message-id */
void
asm_spamd_pending_take(assembler *a, msg_node *m)
{
	int i;
	rg_usec win = a->opt.spamd_window * RG_USEC;

	for (i = 0; i < a->nspamd; i++) {
		spamd_pending *p = &a->spamd[i];
		rg_slice sc = { p->score, p->score ? strlen(p->score) : 0 };
		rg_slice rq = { p->required, p->required ? strlen(p->required) : 0 };
		rg_slice sy = { p->symbols, p->symbols ? strlen(p->symbols) : 0 };

		if (strcmp(p->msgid, m->r.message_id) != 0
		    || p->ts < m->r.first_seen - win
		    || p->ts > m->r.last_seen + win)
			continue;
		spamd_apply(&m->r, p->spam, sc, rq, sy);
		free(p->msgid);
		free(p->score);
		free(p->required);
		free(p->symbols);
		a->spamd[i--] = a->spamd[--a->nspamd];
	}
}

/* spamd_pending_add - keep a result whose message is not known yet */
static void
spamd_pending_add(assembler *a, const rg_event *ev, rg_usec ts)
{
	spamd_pending *p;

	if (a->nspamd == SPAMD_PENDING_MAX) {
		/* drop the oldest */
		free(a->spamd[0].msgid);
		free(a->spamd[0].score);
		free(a->spamd[0].required);
		free(a->spamd[0].symbols);
		memmove(&a->spamd[0], &a->spamd[1],
		    (SPAMD_PENDING_MAX - 1) * sizeof(spamd_pending));
		a->nspamd--;
	}
	p = &a->spamd[a->nspamd++];
	p->msgid = sdup(ev->msgid);
	p->ts = ts;
	p->spam = ev->spam;
	p->score = sdup(ev->score);
	p->required = sdup(ev->required);
	p->symbols = sdup(ev->symbols);
}

/* asm_on_spamd - spamd has no queue ID: match its mid= to a message-id */
void
asm_on_spamd(assembler *a, const rg_event *ev, rg_usec ts)
{
	msg_node *m;

	if (!a->mid_on)
		mid_build(a);
	if ((m = mid_find(a, ev->msgid, ts)) != NULL) {
		spamd_apply(&m->r, ev->spam, ev->score, ev->required,
		    ev->symbols);
		/* into the next checkpoint (not an activity of the message:
		 * its place in the lists stays) */
		if (a->opt.persist)
			asm_dirty_add(&a->mdirty, m, &m->dirty_idx);
	} else
		spamd_pending_add(a, ev, ts);
}

/*
 * asm_on_filter - rspamd's or amavis's own line about a queued message; an
 * amavis re-injection ("queued_as") links the two queue IDs
 */
void
asm_on_filter(assembler *a, msg_node *m, const char *host, const rg_event *ev,
    rg_usec ts)
{
	rg_slice none = { 0 };
	msg_node *m2;

	if (ev->kind == EV_RSPAMD) {
		rec_verdict_offer(&m->r, VS_RSPAMD, ev->spam, ev->score,
		    ev->required, ev->filter_action, ev->symbols);
		return;
	}
	rec_verdict_offer(&m->r, VS_AMAVIS, ev->spam, ev->score, none,
	    ev->filter_action, ev->symbols);
	if (ev->qid2.p != NULL && ev->qid2.n > 0
	    && (m2 = asm_msg_get(a, host, ev->qid2, ts, 0)) != NULL && m2 != m)
		rec_link_filtered(&m->r, &m2->r);
}

/* asm_spamd_free - release the pending spamd results */
void
asm_spamd_free(assembler *a)
{
	int j;

	for (j = 0; j < a->nspamd; j++) {
		free(a->spamd[j].msgid);
		free(a->spamd[j].score);
		free(a->spamd[j].required);
		free(a->spamd[j].symbols);
	}
	a->nspamd = 0;
}
