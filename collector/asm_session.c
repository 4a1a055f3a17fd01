/*
 * asm_session.c - SMTP sessions, keyed by host and smtpd pid: connect,
 * disconnect, lost connections, SASL failures; the client= line that ties
 * a queue ID to its session; NOQUEUE rejects, held until their session
 * ends so that its login (Postfix 3.7 logs it only on client= lines) is
 * filled in. Owns the open sessions and their pending NOQUEUE records.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/xalloc.h"
#include "../common/zero.h"
#include "asm_int.h"

/* mark_sess - s changed: it goes into the next checkpoint */
static void
mark_sess(assembler *a, sess_node *s)
{
	s->seq = ++a->seq;
	if (a->opt.persist)
		asm_dirty_add(&a->sdirty, s, &s->dirty_idx);
}

/* asm_sess_hash - hash of host and pid */
uint32_t
asm_sess_hash(const char *host, long pid)
{
	return rg_hash_u64(((uint64_t)pid * 0xBF58476D1CE4E5B9ull)
	    ^ (uint64_t)(uintptr_t)host);
}

/* sess_find - the open session host/pid, or NULL */
static sess_node *
sess_find(assembler *a, const char *host, long pid)
{
	uint32_t h = asm_sess_hash(host, pid);
	sess_node *s;
	size_t i;

	if (pid < 0)
		return NULL;
	i = rg_htab_start(&a->stab, h);
	while ((s = rg_htab_next(&a->stab, h, &i)) != NULL)
		if (s->s.host == host && s->s.pid == pid)
			return s;
	return NULL;
}

/* slru_unlink - take s out of the session LRU */
static void
slru_unlink(assembler *a, sess_node *s)
{
	if (s->lprev)
		s->lprev->lnext = s->lnext;
	else
		a->shead = s->lnext;
	if (s->lnext)
		s->lnext->lprev = s->lprev;
	else
		a->stail = s->lprev;
	s->lprev = s->lnext = NULL;
}

/* asm_slru_append - put s at the session LRU tail */
void
asm_slru_append(assembler *a, sess_node *s)
{
	s->lnext = NULL;
	s->lprev = a->stail;
	if (a->stail)
		a->stail->lnext = s;
	else
		a->shead = s;
	a->stail = s;
}

/* asm_sess_insert - put a session node (hash set) into the table */
void
asm_sess_insert(assembler *a, sess_node *s)
{
	rg_htab_insert(&a->stab, s->hash, s);
	a->nsess++;
}

/* asm_sess_node_alloc - an empty session node (a block of the pool) */
sess_node *
asm_sess_node_alloc(assembler *a)
{
	sess_node *s = rg_pool_block(a->pool);

	RG_ZERO(s);
	rg_arena_init(&s->s.ar, a->pool);
	s->dirty_idx = -1;
	return s;
}

/* sess_new - a new open session host/pid */
static sess_node *
sess_new(assembler *a, const char *host, const logline *ll, rg_usec ts)
{
	sess_node *s = asm_sess_node_alloc(a);

	s->s.id = ++a->next_id;
	s->s.host = host;
	s->s.pid = ll->pid;
	s->s.prog = rec_sdup(&s->s.ar, (rg_slice){ ll->prog, ll->proglen });
	s->last_seen = ts;
	s->hash = asm_sess_hash(host, ll->pid);
	asm_sess_insert(a, s);
	asm_slru_append(a, s);
	mark_sess(a, s);
	return s;
}

/* emit_noqueue - hand out a NOQUEUE record, its login filled from the session */
static void
emit_noqueue(assembler *a, msg_node *m, const rg_session *s)
{
	if (s != NULL && m->r.sasl_username == NULL && s->sasl_username != NULL) {
		m->r.sasl_username = rec_dup(&m->r.ar, s->sasl_username);
		if (m->r.sasl_method == NULL && s->sasl_method != NULL)
			m->r.sasl_method = rec_dup(&m->r.ar, s->sasl_method);
	}
	m->r.complete = 1;
	if (a->cb.message != NULL)
		a->cb.message(a->cb.arg, &m->r);
	asm_node_release(a, m);
}

/* asm_sess_node_free - release a session node and its arena */
void
asm_sess_node_free(assembler *a, sess_node *s)
{
	rg_arena_free(&s->s.ar);
	rg_pool_unblock(a->pool, s);
}

/* asm_sess_finish - hand out a session (and its NOQUEUE records) and forget it */
void
asm_sess_finish(assembler *a, sess_node *s, int complete)
{
	int i;

	s->s.complete = complete ? 1 : 0;
	for (i = 0; i < s->npending; i++)
		emit_noqueue(a, s->pending[i], &s->s);
	free(s->pending);
	/*
	 * A queue ID that cleanup never saw when the session ends (the client
	 * went away after RCPT) will get no other line: close it shortly.
	 */
	for (i = 0; i < s->nqids; i++) {
		rg_slice q = { s->qids[i], strnlen(s->qids[i], sizeof(s->qids[i])) };
		msg_node *m = asm_msg_find(a, s->s.host, q);

		if (complete && m != NULL && !m->ended && !m->queued
		    && a->acount < ABORT_MAX) {
			abort_cand *c = &a->aborts[(a->ahead + a->acount++)
			    % ABORT_MAX];

			c->host = s->s.host;
			memcpy(c->qid, s->qids[i], sizeof(c->qid));
			c->deadline = a->now + LINGER_USEC;
		}
	}
	if (a->cb.session != NULL)
		a->cb.session(a->cb.arg, &s->s);
	rg_htab_remove(&a->stab, s->hash, s);
	a->nsess--;
	slru_unlink(a, s);
	asm_dirty_remove(&a->sdirty, &s->dirty_idx);
	asm_sess_node_free(a, s);
}

/* sess_touch - note activity on a session */
static void
sess_touch(assembler *a, sess_node *s, rg_usec ts)
{
	if (ts > s->last_seen)
		s->last_seen = ts;
	mark_sess(a, s);
	if (a->stail != s) {
		slru_unlink(a, s);
		asm_slru_append(a, s);
	}
}

/* asm_on_session_event - connect, disconnect, lost, SASL failure */
void
asm_on_session_event(assembler *a, const char *host, const logline *ll,
    const rg_event *ev, rg_usec ts)
{
	sess_node *s = sess_find(a, host, ll->pid);

	if (ev->kind == EV_CONNECT) {
		if (s != NULL)	/* pid reuse: the old one lost its disconnect */
			asm_sess_finish(a, s, 0);
		s = sess_new(a, host, ll, ts);
		s->s.connect = ts;
		rec_put(&s->s.ar, &s->s.client_host, ev->client_host);
		rec_put(&s->s.ar, &s->s.client_ip, ev->client_ip);
		rec_put(&s->s.ar, &s->s.client_port, ev->client_port);
		return;
	}
	if (s != NULL && s->s.client_ip != NULL && ev->client_ip.p != NULL
	    && !str_eq_sl(s->s.client_ip, ev->client_ip)) {
		/* the pid was reused and we missed the disconnect */
		asm_sess_finish(a, s, 0);
		s = NULL;
	}
	if (s == NULL) {
		/* its connect was before the start of the log */
		s = sess_new(a, host, ll, ts);
		rec_put(&s->s.ar, &s->s.client_host, ev->client_host);
		rec_put(&s->s.ar, &s->s.client_ip, ev->client_ip);
	}
	sess_touch(a, s, ts);
	switch (ev->kind) {
	case EV_DISCONNECT:
		s->s.disconnect = ts;
		rec_put(&s->s.ar, &s->s.counters, ev->counters);
		asm_sess_finish(a, s, s->s.connect != 0);
		break;
	case EV_LOST:
		rec_put(&s->s.ar, &s->s.lost, ev->text);
		break;
	case EV_SASL_FAIL:
		s->s.sasl_failures++;
		break;
	default:
		break;
	}
}

/* asm_on_noqueue - a refusal before any queue ID: a record of its own */
void
asm_on_noqueue(assembler *a, const char *host, const logline *ll,
    const rg_event *ev, rg_usec ts)
{
	msg_node *m = asm_node_new(a, host, ts);
	sess_node *s = sess_find(a, host, ll->pid);
	rg_rcpt *rc;
	rg_slice none = { 0 };

	m->r.noqueue = 1;
	m->r.smtpd_pid = ll->pid;
	rec_client_into(&m->r, ev);
	rec_put(&m->r.ar, &m->r.sender, ev->sender);
	if (ev->rcpt.p != NULL) {
		rc = rec_rcpt_get(&m->r, ev->rcpt, none);
		rc->status = rg_arena_str(&m->r.ar, "rejected", 8);
		rc->dsn = rec_sdup(&m->r.ar, ev->dsn);
		rc->response = rec_sdup(&m->r.ar, ev->text);
	}
	rec_set_reject(&m->r, ev->stage, ev);
	if (sl_eq(ev->action, "milter-reject") && rec_spammy(ev->text))
		rec_verdict_offer(&m->r, VS_MILTER, 1, none, none, ev->action, none);
	if (s == NULL) {
		emit_noqueue(a, m, NULL);
		return;
	}
	sess_touch(a, s, ts);
	s->s.rejects++;
	if (s->npending == s->pcap) {
		s->pcap = s->pcap ? s->pcap * 2 : 4;
		s->pending = xrealloc(s->pending,
		    (size_t)s->pcap * sizeof(msg_node *));
	}
	s->pending[s->npending++] = m;
	/* a flood of rejects in one session must not grow without bound */
	if (s->npending >= 1024) {
		int i;

		for (i = 0; i < s->npending; i++)
			emit_noqueue(a, s->pending[i], &s->s);
		s->npending = 0;
	}
}

/* asm_on_client - smtpd QID: client=...: the message's origin */
void
asm_on_client(assembler *a, const char *host, const logline *ll,
    const rg_event *ev, rg_usec ts)
{
	msg_node *m = asm_msg_find(a, host, ev->qid);
	sess_node *s = sess_find(a, host, ll->pid);

	/* a reused short queue ID whose end we did not see */
	if (m != NULL && !m->ended && (m->r.client_ip != NULL || m->r.pickup))
		asm_msg_finish(a, m, 0);
	m = asm_msg_take(a, m, host, ev->qid, ts, 0);
	m->r.first_seen = m->r.first_seen < ts ? m->r.first_seen : ts;
	rec_client_into(&m->r, ev);
	m->r.smtpd_pid = ll->pid;
	if (s != NULL) {
		sess_touch(a, s, ts);
		s->s.messages++;
		if (s->nqids < 256) {
			if (s->nqids == s->qcap) {
				s->qcap = s->qcap ? s->qcap * 2 : 4;
				char (*q)[32] = rg_arena_alloc(&s->s.ar,
				    (size_t)s->qcap * sizeof(*s->qids));

				if (s->nqids > 0)
					memcpy(q, s->qids,
					    (size_t)s->nqids * sizeof(*s->qids));
				s->qids = q;
			}
			memcpy(s->qids[s->nqids++], m->r.qid, sizeof(m->r.qid));
		}
		if (ev->sasl_user.p != NULL) {
			rec_put(&s->s.ar, &s->s.sasl_username, ev->sasl_user);
			rec_put(&s->s.ar, &s->s.sasl_method, ev->sasl_method);
		}
	}
}
