/*
 * assemble.c - message and session assembly. Owns every open record, the
 * hash tables that find them, the interned host names and the pending
 * spamd results. Nothing here fails: malformed events were filtered out by
 * the parser, and odd orders (a delivery before its client= line, a
 * removed without anything before it) still make a record.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/ser.h"
#include "../common/xalloc.h"
#include "assemble.h"

typedef struct msg_node {
	rg_record r;
	uint32_t hash;
	unsigned char qlen;
	struct msg_node *hnext;
	struct msg_node *lprev, *lnext;	/* LRU by last_seen, or the closing FIFO */
	struct mid_entry *mid;	/* its entry in the message-id index */
	int ended;		/* finished, lingering for late verdict lines */
	int queued;		/* cleanup or a later stage has seen it */
	uint64_t seq;		/* order of last activity (restores the lists) */
	int dirty_idx;		/* index in the dirty array, -1 if clean */
	rg_usec ended_at;
} msg_node;

typedef struct sess_node {
	rg_session s;
	uint32_t hash;
	struct sess_node *hnext;
	struct sess_node *lprev, *lnext;
	rg_usec last_seen;
	msg_node **pending;	/* NOQUEUE records waiting for the session end */
	int npending, pcap;
	char (*qids)[32];	/* queue IDs handed out in this session */
	int nqids, qcap;
	uint64_t seq;
	int dirty_idx;
} sess_node;

/* the nodes changed since the last checkpoint; a node knows its slot */
typedef struct dirty_list {
	void **v;
	size_t n, cap;
} dirty_list;

typedef struct mid_entry {
	msg_node *m;
	uint32_t hash;
	struct mid_entry *next, **pprev;	/* O(1) removal */
} mid_entry;

typedef struct spamd_pending {
	char *msgid;
	rg_usec ts;
	int spam;
	char *score, *required, *symbols;
} spamd_pending;

#define SPAMD_PENDING_MAX 1024
#define ABORT_MAX 4096

/* a queue ID whose session ended before cleanup saw any of it */
typedef struct abort_cand {
	const char *host;
	char qid[32];
	rg_usec deadline;
} abort_cand;
#define LINGER_USEC (5 * RG_USEC)

struct assembler {
	asm_options opt;
	asm_callbacks cb;
	msg_node **mtab;
	size_t mbuckets, nmsgs;
	msg_node *mhead, *mtail;		/* open messages, least recent first */
	msg_node *chead, *ctail;		/* ended messages, in order of ending */
	size_t nclosing;
	sess_node **stab;
	size_t sbuckets, nsess;
	sess_node *shead, *stail;
	mid_entry **idtab;
	size_t idbuckets, nids;
	char **hosts;
	size_t *hostlens;
	size_t nhosts;
	const char *last_host;
	size_t last_hostlen;
	rg_usec now, last_sweep;
	spamd_pending spamd[SPAMD_PENDING_MAX];
	int nspamd;
	abort_cand aborts[ABORT_MAX];	/* a ring */
	int ahead, acount;
	uint64_t next_id, seq;
	dirty_list mdirty;		/* messages changed since the checkpoint */
	dirty_list sdirty;		/* sessions changed since the checkpoint */
	msg_node **rmsgs;		/* restored, waiting for asm_restore_done */
	size_t nrmsgs;
	sess_node **rsess;
	size_t nrsess;
};

static void msg_emit(assembler *a, msg_node *m);

/* ---- helpers ---- */

/* hash_bytes - FNV-1a */
static uint32_t
hash_bytes(uint32_t h, const char *p, size_t n)
{
	while (n--) {
		h ^= (unsigned char)*p++;
		h *= 16777619u;
	}
	return h;
}

/* sdup - a NUL-terminated copy of a slice (NULL for an unset slice) */
static char *
sdup(rg_slice s)
{
	return s.p == NULL ? NULL : xstrndup(s.p, s.n);
}

/* put - replace *dst by a copy of s when s is set */
static void
put(char **dst, rg_slice s)
{
	if (s.p == NULL)
		return;
	if (*dst != NULL && strlen(*dst) == s.n && memcmp(*dst, s.p, s.n) == 0)
		return;
	free(*dst);
	*dst = xstrndup(s.p, s.n);
}

/* put_if_unset - set *dst from s only when it has no value yet */
static void
put_if_unset(char **dst, rg_slice s)
{
	if (*dst == NULL)
		put(dst, s);
}

/* sl_num - a slice of digits as a number, -1 if not one */
static long long
sl_num(rg_slice s)
{
	long long v = 0;
	size_t i;

	if (s.p == NULL || s.n == 0 || s.n > 18)
		return -1;
	for (i = 0; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return -1;
		v = v * 10 + (s.p[i] - '0');
	}
	return v;
}

/* sl_eq - slice equals a C string */
static int
sl_eq(rg_slice s, const char *lit)
{
	return s.p != NULL && strlen(lit) == s.n && memcmp(s.p, lit, s.n) == 0;
}

/* str_eq_sl - C string (maybe NULL) equals slice */
static int
str_eq_sl(const char *str, rg_slice s)
{
	return str != NULL && s.p != NULL && strlen(str) == s.n
	    && memcmp(str, s.p, s.n) == 0;
}

/* host_intern - one shared copy of each host name */
static const char *
host_intern(assembler *a, const logline *ll)
{
	const char *p = ll->host, *nul;
	size_t n = ll->hostlen, i;

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
			return a->last_host != NULL ? a->last_host : "";
		}
	}
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
		a->hosts[i] = xstrndup(p, n);
		a->hostlens[i] = n;
		a->nhosts++;
	}
	a->last_hostlen = n;
	return a->last_host = a->hosts[i];
}

/* dirty_add - put a node into a dirty list once (its slot in *idx) */
static void
dirty_add(dirty_list *d, void *node, int *idx)
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

/* dirty_remove - a node is going away: not in the next checkpoint */
static void
dirty_remove(dirty_list *d, int *idx)
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
		dirty_add(&a->mdirty, m, &m->dirty_idx);
}

/* unmark_msg - m is going away: not in the next checkpoint */
static void
unmark_msg(assembler *a, msg_node *m)
{
	dirty_remove(&a->mdirty, &m->dirty_idx);
}

/* ---- messages ---- */

/* msg_hash - hash of host and queue ID */
static uint32_t
msg_hash(const char *host, const char *qid, size_t n)
{
	uint32_t h = hash_bytes(2166136261u, qid, n);

	return hash_bytes(h, (const char *)&host, sizeof(host));
}

/* mtab_grow - double the message table */
static void
mtab_grow(assembler *a)
{
	size_t nb = a->mbuckets * 2, i;
	msg_node **t = xcalloc(nb, sizeof(*t));

	for (i = 0; i < a->mbuckets; i++) {
		msg_node *m = a->mtab[i], *next;

		for (; m != NULL; m = next) {
			next = m->hnext;
			m->hnext = t[m->hash & (nb - 1)];
			t[m->hash & (nb - 1)] = m;
		}
	}
	free(a->mtab);
	a->mtab = t;
	a->mbuckets = nb;
}

/* msg_find - the open message host/qid, or NULL */
static msg_node *
msg_find(assembler *a, const char *host, rg_slice qid)
{
	uint32_t h;
	msg_node *m;

	if (qid.n == 0 || qid.n >= sizeof(m->r.qid))
		return NULL;
	h = msg_hash(host, qid.p, qid.n);
	for (m = a->mtab[h & (a->mbuckets - 1)]; m != NULL; m = m->hnext)
		if (m->hash == h && m->r.host == host && m->qlen == qid.n
		    && memcmp(m->r.qid, qid.p, qid.n) == 0)
			return m;
	return NULL;
}

/* list_append - put m at the tail of a list (open LRU or closing FIFO) */
static void
list_append(msg_node **head, msg_node **tail, msg_node *m)
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

/* lru_append - put an open message at the tail of the LRU list */
static void
lru_append(assembler *a, msg_node *m)
{
	list_append(&a->mhead, &a->mtail, m);
}

/* lru_unlink - take m out of whichever list holds it */
static void
lru_unlink(assembler *a, msg_node *m)
{
	if (m->ended)
		list_unlink(&a->chead, &a->ctail, m);
	else
		list_unlink(&a->mhead, &a->mtail, m);
}

/* node_new - an empty record with a new id */
static msg_node *
node_new(assembler *a, const char *host, rg_usec ts)
{
	msg_node *m = xcalloc(1, sizeof(*m));

	m->r.id = ++a->next_id;
	m->dirty_idx = -1;
	m->r.host = host;
	m->r.first_seen = m->r.last_seen = ts;
	m->r.size = m->r.nrcpt = -1;
	m->r.smtpd_pid = -1;
	return m;
}

/* msg_new - a new open message host/qid */
static msg_node *
msg_new(assembler *a, const char *host, rg_slice qid, rg_usec ts)
{
	msg_node *m = node_new(a, host, ts);

	memcpy(m->r.qid, qid.p, qid.n);
	m->r.qid[qid.n] = '\0';
	m->qlen = (unsigned char)qid.n;
	m->hash = msg_hash(host, qid.p, qid.n);
	if (a->nmsgs + 1 > a->mbuckets)
		mtab_grow(a);
	m->hnext = a->mtab[m->hash & (a->mbuckets - 1)];
	a->mtab[m->hash & (a->mbuckets - 1)] = m;
	a->nmsgs++;
	lru_append(a, m);
	return m;
}

/* touch - note activity on m at ts */
static void
touch(assembler *a, msg_node *m, rg_usec ts)
{
	if (ts > m->r.last_seen)
		m->r.last_seen = ts;
	mark_msg(a, m);
	if (!m->ended && a->mtail != m) {
		lru_unlink(a, m);
		lru_append(a, m);
	}
}

/*
 * msg_get - the open message host/qid, created if need be. An ended one
 * counts only for a late verdict; anything else about that queue ID is a
 * new message (short queue IDs are reused).
 */
static msg_node *
msg_get(assembler *a, const char *host, rg_slice qid, rg_usec ts, int verdict)
{
	msg_node *m = msg_find(a, host, qid);

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

/* record_free - release a record's strings */
static void
record_free(rg_record *r)
{
	int i, j;

	free(r->client_host);
	free(r->client_ip);
	free(r->client_port);
	free(r->sasl_method);
	free(r->sasl_username);
	free(r->sender);
	free(r->message_id);
	for (i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	for (i = 0; i < r->nrcpts; i++) {
		rg_rcpt *rc = &r->rcpts[i];

		free(rc->address);
		free(rc->orig_to);
		free(rc->status);
		free(rc->dsn);
		free(rc->relay);
		free(rc->delay);
		free(rc->response);
		for (j = 0; j < rc->nhist; j++) {
			free(rc->hist[j].status);
			free(rc->hist[j].dsn);
		}
		free(rc->hist);
	}
	free(r->rcpts);
	free(r->verdict.score);
	free(r->verdict.required);
	free(r->verdict.action);
	free(r->verdict.symbols);
	free(r->rejected.stage);
	free(r->rejected.code);
	free(r->rejected.dsn);
	free(r->rejected.text);
	free(r->bounce_of);
	free(r->orig_queue_id);
	free(r->filtered_as);
}

/* mid_remove - drop m from the message-id index */
static void
mid_remove(assembler *a, msg_node *m)
{
	mid_entry *e = m->mid;

	if (e == NULL)
		return;
	*e->pprev = e->next;
	if (e->next != NULL)
		e->next->pprev = e->pprev;
	free(e);
	m->mid = NULL;
	a->nids--;
}

/* msg_emit - hand m to the caller and forget it */
static void
msg_emit(assembler *a, msg_node *m)
{
	msg_node **pp;

	if (a->cb.message != NULL)
		a->cb.message(a->cb.arg, &m->r);
	for (pp = &a->mtab[m->hash & (a->mbuckets - 1)]; *pp != NULL;
	    pp = &(*pp)->hnext) {
		if (*pp == m) {
			*pp = m->hnext;
			break;
		}
	}
	a->nmsgs--;
	if (m->ended)
		a->nclosing--;
	unmark_msg(a, m);
	lru_unlink(a, m);
	mid_remove(a, m);
	record_free(&m->r);
	free(m);
}

/*
 * msg_finish - m has ended. It lingers a few seconds of log time before it
 * is handed out, for a content filter's verdict logged in the same second
 * in another file (rspamd's own log, merged by time).
 */
static void
msg_finish(assembler *a, msg_node *m, int complete)
{
	m->r.complete = complete ? 1 : 0;
	if (m->ended)
		return;
	list_unlink(&a->mhead, &a->mtail, m);
	m->ended = 1;
	m->ended_at = a->now;
	a->nclosing++;
	list_append(&a->chead, &a->ctail, m);
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
		m = msg_find(a, c->host, q);
		if (m != NULL && !m->ended && !m->queued) {
			m->r.aborted = 1;
			msg_finish(a, m, 1);
		}
	}
}

/* rcpt_get - the recipient addr/orig_to of r, added if new */
static rg_rcpt *
rcpt_get(rg_record *r, rg_slice addr, rg_slice orig_to)
{
	int i;
	rg_rcpt *rc;

	for (i = 0; i < r->nrcpts; i++) {
		rc = &r->rcpts[i];
		if (str_eq_sl(rc->address, addr)
		    && (orig_to.p == NULL ? rc->orig_to == NULL
		    : str_eq_sl(rc->orig_to, orig_to)))
			return rc;
	}
	if (r->nrcpts == r->rcap) {
		r->rcap = r->rcap ? r->rcap * 2 : 4;
		r->rcpts = xrealloc(r->rcpts, (size_t)r->rcap * sizeof(*rc));
	}
	rc = &r->rcpts[r->nrcpts++];
	memset(rc, 0, sizeof(*rc));
	rc->address = sdup(addr);
	rc->orig_to = sdup(orig_to);
	return rc;
}

/*
 * verdict_offer - keep the most trusted verdict; fill gaps from equals. A
 * verdict the parser could not read without doubt (spam < 0) is no
 * verdict: it must not outrank what Postfix logged (a milter reject).
 */
static void
verdict_offer(rg_record *r, enum verdict_source src, int spam, rg_slice score,
    rg_slice required, rg_slice action, rg_slice symbols)
{
	rg_verdict *v = &r->verdict;

	if (src < v->source || spam < 0)
		return;
	if (src > v->source) {
		free(v->score);
		free(v->required);
		free(v->action);
		free(v->symbols);
		memset(v, 0, sizeof(*v));
		v->source = src;
		v->spam = spam > 0;
	} else if (spam > 0) {
		v->spam = 1;
	}
	put_if_unset(&v->score, score);
	put_if_unset(&v->required, required);
	put_if_unset(&v->action, action);
	put_if_unset(&v->symbols, symbols);
}

/* ci_eq - case-insensitive comparison of a slice and a C string */
static int
ci_eq(rg_slice s, const char *name)
{
	size_t i;

	if (strlen(name) != s.n)
		return 0;
	for (i = 0; i < s.n; i++) {
		char c1 = s.p[i], c2 = name[i];

		if (c1 >= 'A' && c1 <= 'Z')
			c1 += 32;
		if (c2 >= 'A' && c2 <= 'Z')
			c2 += 32;
		if (c1 != c2)
			return 0;
	}
	return 1;
}

/* ci_prefix - case-insensitive prefix test */
static int
ci_prefix(rg_slice s, const char *lit)
{
	rg_slice head = { s.p, strlen(lit) };

	return s.n >= head.n && ci_eq(head, lit);
}

/*
 * spam_header - X-Spam: / X-Spam-Flag: yes|no, X-Spam-Status: Yes, score=...
 * Offers a verdict; returns 1 if the header was a spam header.
 */
static int
spam_header(rg_record *r, rg_slice name, rg_slice value,
    enum verdict_source src)
{
	rg_slice none = { 0 }, score = { 0 }, req = { 0 }, syms = { 0 };
	const char *p, *end = value.p + value.n;
	int spam;

	if (ci_eq(name, "X-Spam") || ci_eq(name, "X-Spam-Flag")) {
		spam = ci_prefix(value, "yes") || ci_prefix(value, "true");
	} else if (ci_eq(name, "X-Spam-Status")) {
		spam = ci_prefix(value, "yes");
		for (p = value.p; p < end; p++) {
			if (end - p > 6 && memcmp(p, "score=", 6) == 0) {
				score.p = p + 6;
				for (score.n = 0; p + 6 + score.n < end
				    && p[6 + score.n] != ' '; score.n++)
					;
			} else if (end - p > 9 && memcmp(p, "required=", 9) == 0) {
				req.p = p + 9;
				for (req.n = 0; p + 9 + req.n < end
				    && p[9 + req.n] != ' '; req.n++)
					;
			} else if (end - p > 6 && memcmp(p, "tests=", 6) == 0) {
				syms.p = p + 6;
				for (syms.n = 0; p + 6 + syms.n < end
				    && p[6 + syms.n] != ' '; syms.n++)
					;
			}
		}
	} else {
		return 0;
	}
	verdict_offer(r, src, spam, score, req, none, syms);
	return 1;
}

/* header_add - record a logged header (first value of a name wins) */
static void
header_add(assembler *a, rg_record *r, rg_slice name, rg_slice value,
    int cut)
{
	const char *canon = NULL;
	int i;

	for (i = 0; i < a->opt.nheaders; i++)
		if (ci_eq(name, a->opt.headers[i]))
			canon = a->opt.headers[i];
	for (i = 0; i < r->nheaders; i++)
		if (canon != NULL ? strcmp(r->headers[i].name, canon) == 0
		    : ci_eq(name, r->headers[i].name))
			return;
	if (r->nheaders >= 32)
		return;
	r->headers = xrealloc(r->headers,
	    (size_t)(r->nheaders + 1) * sizeof(rg_header));
	r->headers[r->nheaders].name = canon ? xstrdup(canon) : sdup(name);
	r->headers[r->nheaders].value = sdup(value);
	r->headers[r->nheaders].cut = cut;
	r->nheaders++;
}

/* set_reject - record why the message (or NOQUEUE attempt) was refused */
static void
set_reject(rg_record *r, rg_slice stage, const rg_event *ev)
{
	rg_reject *j = &r->rejected;

	free(j->stage);
	free(j->code);
	free(j->dsn);
	free(j->text);
	j->stage = sdup(stage);
	j->code = sdup(ev->code);
	j->dsn = sdup(ev->dsn);
	j->text = sdup(ev->text);
	if (j->stage == NULL)
		j->stage = xstrdup("unknown");
}

/* spammy - does a reject text say it is spam? */
static int
spammy(rg_slice t)
{
	size_t i;

	for (i = 0; i + 4 <= t.n; i++) {
		rg_slice w = { t.p + i, 4 };

		if (ci_eq(w, "spam"))
			return 1;
		if (i + 5 <= t.n) {
			rg_slice g = { t.p + i, 5 };

			if (ci_eq(g, "gtube"))
				return 1;
		}
	}
	return 0;
}

/* client_into - copy the client of an event into a record */
static void
client_into(rg_record *r, const rg_event *ev)
{
	put(&r->client_host, ev->client_host);
	put(&r->client_ip, ev->client_ip);
	put(&r->client_port, ev->client_port);
	put(&r->sasl_method, ev->sasl_method);
	put(&r->sasl_username, ev->sasl_user);
}

/* link_filtered - m1 went through a content filter and continues as m2 */
static void
link_filtered(rg_record *r1, rg_record *r2)
{
	int i;

	free(r1->filtered_as);
	r1->filtered_as = xstrdup(r2->qid);
	if (r2->orig_queue_id == NULL)
		r2->orig_queue_id = xstrdup(r1->orig_queue_id ? r1->orig_queue_id
		    : r1->qid);
	/* the original client and login, not the filter's re-injection */
#define TAKE(f) if (r1->f != NULL) { free(r2->f); r2->f = xstrdup(r1->f); }
	TAKE(client_host);
	TAKE(client_ip);
	TAKE(client_port);
	TAKE(sasl_method);
	TAKE(sasl_username);
#undef TAKE
	if (r2->message_id == NULL && r1->message_id != NULL)
		r2->message_id = xstrdup(r1->message_id);
	for (i = 0; i < r1->nheaders; i++) {
		int j, have = 0;

		for (j = 0; j < r2->nheaders; j++)
			if (strcmp(r2->headers[j].name, r1->headers[i].name) == 0)
				have = 1;
		if (have)
			continue;
		r2->headers = xrealloc(r2->headers,
		    (size_t)(r2->nheaders + 1) * sizeof(rg_header));
		r2->headers[r2->nheaders].name = xstrdup(r1->headers[i].name);
		r2->headers[r2->nheaders].value = xstrdup(r1->headers[i].value);
		r2->headers[r2->nheaders].cut = r1->headers[i].cut;
		r2->nheaders++;
	}
	if (r1->verdict.source > r2->verdict.source) {
		rg_slice sc = { r1->verdict.score, r1->verdict.score ? strlen(r1->verdict.score) : 0 };
		rg_slice rq = { r1->verdict.required, r1->verdict.required ? strlen(r1->verdict.required) : 0 };
		rg_slice ac = { r1->verdict.action, r1->verdict.action ? strlen(r1->verdict.action) : 0 };
		rg_slice sy = { r1->verdict.symbols, r1->verdict.symbols ? strlen(r1->verdict.symbols) : 0 };

		verdict_offer(r2, r1->verdict.source, r1->verdict.spam, sc, rq,
		    ac, sy);
	}
}

/* ---- message-id index (for spamd) ---- */

/* mid_add - index m by its message-id */
static void
mid_add(assembler *a, msg_node *m)
{
	mid_entry *e = xmalloc(sizeof(*e));

	if (a->nids + 1 > a->idbuckets) {
		size_t nb = a->idbuckets * 2, i;
		mid_entry **t = xcalloc(nb, sizeof(*t));

		for (i = 0; i < a->idbuckets; i++) {
			mid_entry *x = a->idtab[i], *next;

			for (; x != NULL; x = next) {
				mid_entry **slot = &t[x->hash & (nb - 1)];

				next = x->next;
				x->next = *slot;
				if (*slot != NULL)
					(*slot)->pprev = &x->next;
				*slot = x;
				x->pprev = slot;
			}
		}
		free(a->idtab);
		a->idtab = t;
		a->idbuckets = nb;
	}
	a->nids++;
	e->m = m;
	e->hash = hash_bytes(2166136261u, m->r.message_id,
	    strlen(m->r.message_id));
	{
		mid_entry **slot = &a->idtab[e->hash & (a->idbuckets - 1)];

		e->next = *slot;
		if (*slot != NULL)
			(*slot)->pprev = &e->next;
		*slot = e;
		e->pprev = slot;
	}
	m->mid = e;
}

/* mid_find - the newest open message with this message-id near ts */
static msg_node *
mid_find(assembler *a, rg_slice mid, rg_usec ts)
{
	uint32_t h = hash_bytes(2166136261u, mid.p, mid.n);
	mid_entry *e;
	rg_usec win = a->opt.spamd_window * RG_USEC;

	int n = 0;

	/* newest first; a flood of one Message-ID is not searched whole */
	for (e = a->idtab[h & (a->idbuckets - 1)]; e != NULL && n < 64;
	    e = e->next, n++) {
		rg_record *r = &e->m->r;

		if (e->hash == h && str_eq_sl(r->message_id, mid)
		    && ts >= r->first_seen - win && ts <= r->last_seen + win)
			return e->m;
	}
	return NULL;
}

/* spamd_apply - give a spamd result to a message */
static void
spamd_apply(rg_record *r, int spam, rg_slice score, rg_slice req,
    rg_slice syms)
{
	rg_slice none = { 0 };

	verdict_offer(r, VS_SPAMD, spam, score, req, none, syms);
}

/* spamd_pending_take - results that were logged before the message-id */
static void
spamd_pending_take(assembler *a, msg_node *m)
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

/* ---- sessions ---- */

/* mark_sess - s changed: it goes into the next checkpoint */
static void
mark_sess(assembler *a, sess_node *s)
{
	s->seq = ++a->seq;
	if (a->opt.persist)
		dirty_add(&a->sdirty, s, &s->dirty_idx);
}

/* sess_hash - hash of host and pid */
static uint32_t
sess_hash(const char *host, long pid)
{
	uint32_t h = hash_bytes(2166136261u, (const char *)&pid, sizeof(pid));

	return hash_bytes(h, (const char *)&host, sizeof(host));
}

/* sess_find - the open session host/pid, or NULL */
static sess_node *
sess_find(assembler *a, const char *host, long pid)
{
	uint32_t h = sess_hash(host, pid);
	sess_node *s;

	if (pid < 0)
		return NULL;
	for (s = a->stab[h & (a->sbuckets - 1)]; s != NULL; s = s->hnext)
		if (s->hash == h && s->s.host == host && s->s.pid == pid)
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

/* slru_append - put s at the session LRU tail */
static void
slru_append(assembler *a, sess_node *s)
{
	s->lnext = NULL;
	s->lprev = a->stail;
	if (a->stail)
		a->stail->lnext = s;
	else
		a->shead = s;
	a->stail = s;
}

/* stab_grow - double the session table */
static void
stab_grow(assembler *a)
{
	size_t nb = a->sbuckets * 2, i;
	sess_node **t = xcalloc(nb, sizeof(*t));

	for (i = 0; i < a->sbuckets; i++) {
		sess_node *s = a->stab[i], *next;

		for (; s != NULL; s = next) {
			next = s->hnext;
			s->hnext = t[s->hash & (nb - 1)];
			t[s->hash & (nb - 1)] = s;
		}
	}
	free(a->stab);
	a->stab = t;
	a->sbuckets = nb;
}

/* sess_new - a new open session host/pid */
static sess_node *
sess_new(assembler *a, const char *host, const logline *ll, rg_usec ts)
{
	sess_node *s = xcalloc(1, sizeof(*s));

	s->s.id = ++a->next_id;
	s->dirty_idx = -1;
	s->s.host = host;
	s->s.pid = ll->pid;
	s->s.prog = xstrndup(ll->prog, ll->proglen);
	s->last_seen = ts;
	s->hash = sess_hash(host, ll->pid);
	if (a->nsess + 1 > a->sbuckets)
		stab_grow(a);
	s->hnext = a->stab[s->hash & (a->sbuckets - 1)];
	a->stab[s->hash & (a->sbuckets - 1)] = s;
	a->nsess++;
	slru_append(a, s);
	mark_sess(a, s);
	return s;
}

/* emit_noqueue - hand out a NOQUEUE record, its login filled from the session */
static void
emit_noqueue(assembler *a, msg_node *m, const rg_session *s)
{
	if (s != NULL && m->r.sasl_username == NULL && s->sasl_username != NULL) {
		m->r.sasl_username = xstrdup(s->sasl_username);
		if (m->r.sasl_method == NULL && s->sasl_method != NULL)
			m->r.sasl_method = xstrdup(s->sasl_method);
	}
	m->r.complete = 1;
	if (a->cb.message != NULL)
		a->cb.message(a->cb.arg, &m->r);
	record_free(&m->r);
	free(m);
}

/* sess_node_free - release a session node and its strings */
static void
sess_node_free(sess_node *s)
{
	free(s->s.prog);
	free(s->s.client_host);
	free(s->s.client_ip);
	free(s->s.client_port);
	free(s->s.sasl_method);
	free(s->s.sasl_username);
	free(s->s.counters);
	free(s->s.lost);
	free(s);
}

/* sess_finish - hand out a session (and its NOQUEUE records) and forget it */
static void
sess_finish(assembler *a, sess_node *s, int complete)
{
	sess_node **pp;
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
		rg_slice q = { s->qids[i], strlen(s->qids[i]) };
		msg_node *m = msg_find(a, s->s.host, q);

		if (complete && m != NULL && !m->ended && !m->queued
		    && a->acount < ABORT_MAX) {
			abort_cand *c = &a->aborts[(a->ahead + a->acount++)
			    % ABORT_MAX];

			c->host = s->s.host;
			memcpy(c->qid, s->qids[i], sizeof(c->qid));
			c->deadline = a->now + LINGER_USEC;
		}
	}
	free(s->qids);
	if (a->cb.session != NULL)
		a->cb.session(a->cb.arg, &s->s);
	for (pp = &a->stab[s->hash & (a->sbuckets - 1)]; *pp != NULL;
	    pp = &(*pp)->hnext) {
		if (*pp == s) {
			*pp = s->hnext;
			break;
		}
	}
	a->nsess--;
	slru_unlink(a, s);
	dirty_remove(&a->sdirty, &s->dirty_idx);
	sess_node_free(s);
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
		slru_append(a, s);
	}
}

/* ---- the event dispatcher ---- */

/* sweep - drop what has been silent too long (in log time) */
static void
sweep(assembler *a)
{
	rg_usec mlimit = a->now - a->opt.max_message_age * RG_USEC;
	rg_usec slimit = a->now - a->opt.max_session_age * RG_USEC;

	while (a->mhead != NULL && a->mhead->r.last_seen < mlimit) {
		msg_node *m = a->mhead;

		m->r.stale = 1;
		msg_finish(a, m, 0);	/* onto the closing list ... */
		msg_emit(a, m);		/* ... and out at once */
	}
	while (a->shead != NULL && a->shead->last_seen < slimit) {
		a->shead->s.stale = 1;
		sess_finish(a, a->shead, 0);
	}
	a->last_sweep = a->now;
}

/* on_session_event - connect, disconnect, lost, SASL failure */
static void
on_session_event(assembler *a, const char *host, const logline *ll,
    const rg_event *ev, rg_usec ts)
{
	sess_node *s = sess_find(a, host, ll->pid);

	if (ev->kind == EV_CONNECT) {
		if (s != NULL)	/* pid reuse: the old one lost its disconnect */
			sess_finish(a, s, 0);
		s = sess_new(a, host, ll, ts);
		s->s.connect = ts;
		put(&s->s.client_host, ev->client_host);
		put(&s->s.client_ip, ev->client_ip);
		put(&s->s.client_port, ev->client_port);
		return;
	}
	if (s != NULL && s->s.client_ip != NULL && ev->client_ip.p != NULL
	    && !str_eq_sl(s->s.client_ip, ev->client_ip)) {
		/* the pid was reused and we missed the disconnect */
		sess_finish(a, s, 0);
		s = NULL;
	}
	if (s == NULL) {
		/* its connect was before the start of the log */
		s = sess_new(a, host, ll, ts);
		put(&s->s.client_host, ev->client_host);
		put(&s->s.client_ip, ev->client_ip);
	}
	sess_touch(a, s, ts);
	switch (ev->kind) {
	case EV_DISCONNECT:
		s->s.disconnect = ts;
		put(&s->s.counters, ev->counters);
		sess_finish(a, s, s->s.connect != 0);
		break;
	case EV_LOST:
		put(&s->s.lost, ev->text);
		break;
	case EV_SASL_FAIL:
		s->s.sasl_failures++;
		break;
	default:
		break;
	}
}

/* on_noqueue - a refusal before any queue ID: a record of its own */
static void
on_noqueue(assembler *a, const char *host, const logline *ll,
    const rg_event *ev, rg_usec ts)
{
	msg_node *m = node_new(a, host, ts);
	sess_node *s = sess_find(a, host, ll->pid);
	rg_rcpt *rc;
	rg_slice none = { 0 };

	m->r.noqueue = 1;
	m->r.smtpd_pid = ll->pid;
	client_into(&m->r, ev);
	put(&m->r.sender, ev->sender);
	if (ev->rcpt.p != NULL) {
		rc = rcpt_get(&m->r, ev->rcpt, none);
		rc->status = xstrdup("rejected");
		rc->dsn = sdup(ev->dsn);
		rc->response = sdup(ev->text);
	}
	set_reject(&m->r, ev->stage, ev);
	if (sl_eq(ev->action, "milter-reject") && spammy(ev->text))
		verdict_offer(&m->r, VS_MILTER, 1, none, none, ev->action, none);
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

/* on_client - smtpd QID: client=...: the message's origin */
static void
on_client(assembler *a, const char *host, const logline *ll,
    const rg_event *ev, rg_usec ts)
{
	msg_node *m = msg_find(a, host, ev->qid);
	sess_node *s = sess_find(a, host, ll->pid);

	/* a reused short queue ID whose end we did not see */
	if (m != NULL && !m->ended && (m->r.client_ip != NULL || m->r.pickup))
		msg_finish(a, m, 0);
	m = msg_get(a, host, ev->qid, ts, 0);
	m->r.first_seen = m->r.first_seen < ts ? m->r.first_seen : ts;
	client_into(&m->r, ev);
	m->r.smtpd_pid = ll->pid;
	if (s != NULL) {
		sess_touch(a, s, ts);
		s->s.messages++;
		if (s->nqids < 256) {
			if (s->nqids == s->qcap) {
				s->qcap = s->qcap ? s->qcap * 2 : 4;
				s->qids = xrealloc(s->qids,
				    (size_t)s->qcap * sizeof(*s->qids));
			}
			memcpy(s->qids[s->nqids++], m->r.qid, sizeof(m->r.qid));
		}
		if (ev->sasl_user.p != NULL) {
			put(&s->s.sasl_username, ev->sasl_user);
			put(&s->s.sasl_method, ev->sasl_method);
		}
	}
}

/* hist_add - one more attempt in a recipient's status history */
static void
hist_add(rg_rcpt *rc, rg_usec ts, rg_slice status, rg_slice dsn)
{
	if (rc->nhist == RG_MAX_ATTEMPTS) {
		free(rc->hist[0].status);
		free(rc->hist[0].dsn);
		memmove(&rc->hist[0], &rc->hist[1],
		    (RG_MAX_ATTEMPTS - 1) * sizeof(rg_attempt));
		rc->nhist--;
	} else if ((rc->nhist & (rc->nhist - 1)) == 0) {
		/* grow at 0, 1, 2, 4, ... */
		rc->hist = xrealloc(rc->hist,
		    (size_t)(rc->nhist ? rc->nhist * 2 : 1) * sizeof(rg_attempt));
	}
	rc->hist[rc->nhist].ts = ts;
	rc->hist[rc->nhist].status = sdup(status);
	rc->hist[rc->nhist].dsn = sdup(dsn);
	rc->nhist++;
}

/* on_delivery - a delivery attempt for one recipient */
static void
on_delivery(assembler *a, msg_node *m, const rg_event *ev)
{
	rg_rcpt *rc = rcpt_get(&m->r, ev->rcpt, ev->orig_to);
	const char *qa;

	put(&rc->status, ev->status);
	put(&rc->dsn, ev->dsn);
	put(&rc->relay, ev->relay);
	put(&rc->delay, ev->delay);
	put(&rc->response, ev->response);
	rc->attempts++;
	hist_add(rc, a->now, ev->status, ev->dsn);
	/* a content filter answered "queued as QID2": the message goes on as QID2 */
	if (sl_eq(ev->status, "sent") && ev->response.p != NULL
	    && (qa = memmem(ev->response.p, ev->response.n, "queued as ", 10))
	    != NULL) {
		rg_slice q2 = { qa + 10, 0 };
		const char *end = ev->response.p + ev->response.n;
		msg_node *m2;

		while (q2.p + q2.n < end && q2.p[q2.n] != ' '
		    && q2.p[q2.n] != ')' && q2.p[q2.n] != ',')
			q2.n++;
		m2 = msg_find(a, m->r.host, q2);
		if (m2 != NULL && m2 != m && m2->r.first_seen >= m->r.first_seen
		    && m2->r.client_ip != NULL && rc->relay != NULL
		    && strstr(rc->relay, m2->r.client_ip) != NULL
		    && m2->r.orig_queue_id == NULL)
			link_filtered(&m->r, &m2->r);
	}
}

/* on_spamd - spamd has no queue ID: match its mid= to a message-id */
static void
on_spamd(assembler *a, const rg_event *ev, rg_usec ts)
{
	msg_node *m = mid_find(a, ev->msgid, ts);

	if (m != NULL)
		spamd_apply(&m->r, ev->spam, ev->score, ev->required,
		    ev->symbols);
	else
		spamd_pending_add(a, ev, ts);
}

/* asm_event - fold one recognised line into the open records */
void
asm_event(assembler *a, const logline *ll, const rg_event *ev)
{
	const char *host = host_intern(a, ll);
	rg_usec ts = ll->ts;
	msg_node *m = NULL, *m2;
	rg_slice none = { 0 };

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
		on_session_event(a, host, ll, ev, ts);
		return;
	case EV_NOQUEUE:
		on_noqueue(a, host, ll, ev, ts);
		return;
	case EV_CLIENT:
		on_client(a, host, ll, ev, ts);
		return;
	case EV_SPAMD:
		on_spamd(a, ev, ts);
		return;
	default:
		break;
	}
	if (ev->qid.p == NULL)
		return;
	if (ev->kind == EV_PICKUP) {
		m = msg_find(a, host, ev->qid);
		if (m != NULL && !m->ended
		    && (m->r.client_ip != NULL || m->r.pickup))
			msg_finish(a, m, 0);
	}
	if ((m = msg_get(a, host, ev->qid, ts, ev->kind == EV_RSPAMD || ev->kind == EV_AMAVIS)) == NULL)
		return;
	if (ev->kind != EV_RCPT_REJECT)
		m->queued = 1;
	switch (ev->kind) {
	case EV_PICKUP:
		m->r.pickup = 1;
		put(&m->r.sender, ev->sender);
		break;
	case EV_RCPT_REJECT: {
		rg_rcpt *rc = rcpt_get(&m->r, ev->rcpt, none);

		put(&rc->status, (rg_slice){ "rejected", 8 });
		put(&rc->dsn, ev->dsn);
		put(&rc->response, ev->text);
		rc->attempts++;
		put_if_unset(&m->r.sender, ev->sender);
		put_if_unset(&m->r.client_host, ev->client_host);
		put_if_unset(&m->r.client_ip, ev->client_ip);
		break;
	}
	case EV_SMTPD_ACTION:
		if (sl_eq(ev->action, "hold")) {
			m->r.held = m->r.was_held = 1;
		} else if (sl_eq(ev->action, "discard")) {
			/* smtpd's DISCARD: cleanup drops the message, nothing follows */
			m->r.discarded = 1;
			msg_finish(a, m, 1);
		} else {
			set_reject(&m->r, ev->stage, ev);
			put_if_unset(&m->r.sender, ev->sender);
			msg_finish(a, m, 1);
		}
		break;
	case EV_MSGID:
		if (m->r.message_id == NULL && ev->msgid.n > 0) {
			m->r.message_id = sdup(ev->msgid);
			mid_add(a, m);
			if (a->nspamd > 0)
				spamd_pending_take(a, m);
		}
		break;
	case EV_HEADER: {
		int cut = ev->hdr_is_milter
		    ? ev->hdr_name.n + 2 + ev->hdr_value.n >= 60
		    : ev->hdr_name.n + 2 + ev->hdr_value.n >= 200;

		put_if_unset(&m->r.sender, ev->sender);
		if (ev->hdr_is_milter) {
			if (!ev->hdr_is_body)
				spam_header(&m->r, ev->hdr_name, ev->hdr_value,
				    VS_HEADER);
		} else if (!ev->hdr_is_body) {
			header_add(a, &m->r, ev->hdr_name, ev->hdr_value, cut);
			spam_header(&m->r, ev->hdr_name, ev->hdr_value,
			    VS_CLIENT_HEADER);
		}
		if (sl_eq(ev->action, "hold")) {
			m->r.held = m->r.was_held = 1;
		} else if (sl_eq(ev->action, "discard")) {
			/* no message-id, qmgr or removed line follows a discard */
			m->r.discarded = 1;
			msg_finish(a, m, 1);
		} else if (sl_eq(ev->action, "reject")) {
			set_reject(&m->r, (rg_slice){ ev->hdr_is_body ? "body"
			    : "header", ev->hdr_is_body ? 4 : 6 }, ev);
			msg_finish(a, m, 1);
		}
		break;
	}
	case EV_MILTER:
		put_if_unset(&m->r.sender, ev->sender);
		if (sl_eq(ev->action, "milter-hold")) {
			m->r.held = m->r.was_held = 1;
		} else if (sl_eq(ev->action, "milter-discard")) {
			m->r.discarded = 1;
			msg_finish(a, m, 1);
		} else if (sl_eq(ev->action, "milter-reject")) {
			if (spammy(ev->text))
				verdict_offer(&m->r, VS_MILTER, 1, none, none,
				    (rg_slice){ "reject", 6 }, none);
			set_reject(&m->r, ev->stage, ev);
			msg_finish(a, m, 1);
		}
		break;
	case EV_QMGR_FROM:
		put(&m->r.sender, ev->sender);
		if (ev->size.p)
			m->r.size = sl_num(ev->size);
		if (ev->nrcpt.p)
			m->r.nrcpt = sl_num(ev->nrcpt);
		break;
	case EV_QMGR_EXPIRED:
		put_if_unset(&m->r.sender, ev->sender);
		m->r.expired = 1;
		break;
	case EV_REMOVED:
		msg_finish(a, m, 1);
		break;
	case EV_PS_REMOVED:
		m->r.deleted = 1;
		msg_finish(a, m, 1);
		break;
	case EV_DELIVERY:
		on_delivery(a, m, ev);
		break;
	case EV_NOTIFY:
		if ((m2 = msg_get(a, host, ev->qid2, ts, 0)) != NULL)
			put(&m2->r.bounce_of, ev->qid);
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
		verdict_offer(&m->r, VS_RSPAMD, ev->spam, ev->score,
		    ev->required, ev->filter_action, ev->symbols);
		break;
	case EV_AMAVIS:
		verdict_offer(&m->r, VS_AMAVIS, ev->spam, ev->score, none,
		    ev->filter_action, ev->symbols);
		if (ev->qid2.p != NULL && ev->qid2.n > 0
		    && (m2 = msg_get(a, host, ev->qid2, ts, 0)) != NULL && m2 != m)
			link_filtered(&m->r, &m2->r);
		break;
	default:
		break;
	}
}

/* ---- persistence ---- */

#define STATE_VERSION 1

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
	ser_put_u64(sb, (uint64_t)(r->held | r->was_held << 1 | r->discarded << 2
	    | r->expired << 3 | r->deleted << 4 | r->complete << 5
	    | r->stale << 6 | r->noqueue << 7 | r->pickup << 8
	    | r->aborted << 9));
	ser_put_u64(sb, m ? (uint64_t)(m->ended | m->queued << 1) : 0);
	ser_put_i64(sb, m ? m->ended_at : 0);
	ser_put_u64(sb, m ? m->seq : 0);
}

/* host_intern_str - the shared copy of a host name */
static const char *
host_intern_str(assembler *a, const char *h)
{
	logline ll;

	memset(&ll, 0, sizeof(ll));
	ll.host = h;
	ll.hostlen = strlen(h);
	if (ll.hostlen == 0)
		return "";
	return host_intern(a, &ll);
}

/* deser_record - a record written by ser_record; NULL if damaged */
static msg_node *
deser_record(assembler *a, ser_reader *rd)
{
	msg_node *m = xcalloc(1, sizeof(*m));
	rg_record *r = &m->r;
	char *host, *qid;
	uint64_t n, flags, i, j;

	m->dirty_idx = -1;
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
	r->client_host = ser_get_str(rd);
	r->client_ip = ser_get_str(rd);
	r->client_port = ser_get_str(rd);
	r->sasl_method = ser_get_str(rd);
	r->sasl_username = ser_get_str(rd);
	r->sender = ser_get_str(rd);
	r->size = ser_get_i64(rd);
	r->nrcpt = ser_get_i64(rd);
	r->message_id = ser_get_str(rd);
	n = ser_get_u64(rd);
	if (n > 32)
		rd->bad = 1;
	for (i = 0; i < n && !rd->bad; i++) {
		r->headers = xrealloc(r->headers, (i + 1) * sizeof(rg_header));
		r->headers[i].name = ser_get_str(rd);
		r->headers[i].value = ser_get_str(rd);
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
			r->rcap = r->rcap ? r->rcap * 2 : 4;
			r->rcpts = xrealloc(r->rcpts, (size_t)r->rcap * sizeof(*rc));
		}
		rc = &r->rcpts[r->nrcpts++];
		memset(rc, 0, sizeof(*rc));
		rc->address = ser_get_str(rd);
		rc->orig_to = ser_get_str(rd);
		rc->status = ser_get_str(rd);
		rc->dsn = ser_get_str(rd);
		rc->relay = ser_get_str(rd);
		rc->delay = ser_get_str(rd);
		rc->response = ser_get_str(rd);
		rc->attempts = (int)ser_get_u64(rd);
		nh = ser_get_u64(rd);
		if (nh > RG_MAX_ATTEMPTS)
			rd->bad = 1;
		if (nh > 0 && !rd->bad)
			rc->hist = xcalloc((size_t)RG_MAX_ATTEMPTS, sizeof(rg_attempt));
		for (j = 0; j < nh && !rd->bad; j++) {
			rc->hist[j].ts = ser_get_i64(rd);
			rc->hist[j].status = ser_get_str(rd);
			rc->hist[j].dsn = ser_get_str(rd);
			rc->nhist++;
		}
	}
	r->verdict.source = (enum verdict_source)ser_get_u64(rd);
	r->verdict.spam = (int)ser_get_u64(rd);
	r->verdict.score = ser_get_str(rd);
	r->verdict.required = ser_get_str(rd);
	r->verdict.action = ser_get_str(rd);
	r->verdict.symbols = ser_get_str(rd);
	r->rejected.stage = ser_get_str(rd);
	r->rejected.code = ser_get_str(rd);
	r->rejected.dsn = ser_get_str(rd);
	r->rejected.text = ser_get_str(rd);
	r->bounce_of = ser_get_str(rd);
	r->orig_queue_id = ser_get_str(rd);
	r->filtered_as = ser_get_str(rd);
	r->smtpd_pid = (long)ser_get_i64(rd);
	flags = ser_get_u64(rd);
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
	flags = ser_get_u64(rd);
	m->ended = flags & 1;
	m->queued = (flags >> 1) & 1;
	m->ended_at = ser_get_i64(rd);
	m->seq = ser_get_u64(rd);
	if (rd->bad || r->verdict.source > VS_RSPAMD) {
		record_free(r);
		free(m);
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

/* asm_checkpoint - hand out what changed since the last checkpoint */
void
asm_checkpoint(assembler *a, const asm_store_ops *ops)
{
	strbuf sb;
	size_t i;
	int k;

	sb_init(&sb);
	for (i = 0; i < a->mdirty.n; i++) {
		msg_node *m = a->mdirty.v[i];

		if (m == NULL)
			continue;
		m->dirty_idx = -1;
		sb_reset(&sb);
		ser_put_u64(&sb, STATE_VERSION);
		ser_record(&sb, &m->r, m);
		if (ops->save_message != NULL)
			ops->save_message(ops->arg, &m->r, sb.s, sb.len);
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

/* asm_restore_message - take back an open or lingering message */
int
asm_restore_message(assembler *a, const void *state, size_t len)
{
	ser_reader rd;
	msg_node *m;

	ser_reader_init(&rd, state, len);
	if (ser_get_u64(&rd) != STATE_VERSION)
		return -1;
	if ((m = deser_record(a, &rd)) == NULL || !ser_ok(&rd)) {
		if (m != NULL) {
			record_free(&m->r);
			free(m);
		}
		return -1;
	}
	a->rmsgs = xrealloc(a->rmsgs, (a->nrmsgs + 1) * sizeof(msg_node *));
	a->rmsgs[a->nrmsgs++] = m;
	return 0;
}

/* asm_restore_session - take back an open session */
int
asm_restore_session(assembler *a, const void *state, size_t len)
{
	ser_reader rd;
	sess_node *s = xcalloc(1, sizeof(*s));
	char *host;
	uint64_t n, i;

	ser_reader_init(&rd, state, len);
	s->dirty_idx = -1;
	if (ser_get_u64(&rd) != STATE_VERSION) {
		free(s);
		return -1;
	}
	s->s.id = ser_get_u64(&rd);
	host = ser_get_str(&rd);
	s->s.host = host_intern_str(a, host ? host : "");
	free(host);
	s->s.pid = (long)ser_get_i64(&rd);
	s->s.prog = ser_get_str(&rd);
	s->s.connect = ser_get_i64(&rd);
	s->s.disconnect = ser_get_i64(&rd);
	s->s.client_host = ser_get_str(&rd);
	s->s.client_ip = ser_get_str(&rd);
	s->s.client_port = ser_get_str(&rd);
	s->s.sasl_method = ser_get_str(&rd);
	s->s.sasl_username = ser_get_str(&rd);
	s->s.counters = ser_get_str(&rd);
	s->s.lost = ser_get_str(&rd);
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
			s->qcap = s->qcap ? s->qcap * 2 : 4;
			s->qids = xrealloc(s->qids, (size_t)s->qcap * sizeof(*s->qids));
		}
		snprintf(s->qids[s->nqids++], sizeof(s->qids[0]), "%s",
		    q ? q : "");
		free(q);
	}
	if (!ser_ok(&rd)) {
		int k;

		for (k = 0; k < s->npending; k++) {
			record_free(&s->pending[k]->r);
			free(s->pending[k]);
		}
		free(s->pending);
		free(s->qids);
		sess_node_free(s);
		return -1;
	}
	a->rsess = xrealloc(a->rsess, (a->nrsess + 1) * sizeof(sess_node *));
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

/* asm_restore_done - put the restored records in their tables and lists */
void
asm_restore_done(assembler *a)
{
	size_t i;

	if (a->nrmsgs > 0)
		qsort(a->rmsgs, a->nrmsgs, sizeof(msg_node *), cmp_msg_seq);
	for (i = 0; i < a->nrmsgs; i++) {
		msg_node *m = a->rmsgs[i];

		m->hash = msg_hash(m->r.host, m->r.qid, m->qlen);
		if (a->nmsgs + 1 > a->mbuckets)
			mtab_grow(a);
		m->hnext = a->mtab[m->hash & (a->mbuckets - 1)];
		a->mtab[m->hash & (a->mbuckets - 1)] = m;
		a->nmsgs++;
		if (m->ended) {
			list_append(&a->chead, &a->ctail, m);
			a->nclosing++;
		} else {
			lru_append(a, m);
		}
		if (m->r.message_id != NULL)
			mid_add(a, m);
	}
	free(a->rmsgs);
	a->rmsgs = NULL;
	a->nrmsgs = 0;
	if (a->nrsess > 0)
		qsort(a->rsess, a->nrsess, sizeof(sess_node *), cmp_sess_seq);
	for (i = 0; i < a->nrsess; i++) {
		sess_node *s = a->rsess[i];

		s->hash = sess_hash(s->s.host, s->s.pid);
		if (a->nsess + 1 > a->sbuckets)
			stab_grow(a);
		s->hnext = a->stab[s->hash & (a->sbuckets - 1)];
		a->stab[s->hash & (a->sbuckets - 1)] = s;
		a->nsess++;
		slru_append(a, s);
	}
	free(a->rsess);
	a->rsess = NULL;
	a->nrsess = 0;
}

/* asm_new - an empty assembler */
assembler *
asm_new(const asm_options *opt, const asm_callbacks *cb)
{
	assembler *a = xcalloc(1, sizeof(*a));

	a->opt = *opt;
	a->cb = *cb;
	a->mbuckets = 1024;
	a->mtab = xcalloc(a->mbuckets, sizeof(*a->mtab));
	a->sbuckets = 256;
	a->stab = xcalloc(a->sbuckets, sizeof(*a->stab));
	a->idbuckets = 1024;
	a->idtab = xcalloc(a->idbuckets, sizeof(*a->idtab));
	a->now = INT64_MIN / 2;
	a->last_sweep = INT64_MIN / 2;
	return a;
}

/* asm_finish - hand out everything still open, as incomplete */
void
asm_finish(assembler *a)
{
	flush_closing(a, 1);
	while (a->shead != NULL)
		sess_finish(a, a->shead, 0);
	flush_aborts(a, 1);
	while (a->mhead != NULL)
		msg_finish(a, a->mhead, 0);
	flush_closing(a, 1);
}

/* asm_open_messages - how many messages are open (not ended) */
size_t
asm_open_messages(const assembler *a)
{
	return a->nmsgs - a->nclosing;
}

/* asm_open_sessions - how many sessions are open */
size_t
asm_open_sessions(const assembler *a)
{
	return a->nsess;
}

/* asm_free - release everything (without handing it out) */
void
asm_free(assembler *a)
{
	size_t i;
	int j;

	if (a == NULL)
		return;
	a->cb.message = NULL;
	a->cb.session = NULL;
	asm_finish(a);
	free(a->mtab);
	free(a->stab);
	for (i = 0; i < a->idbuckets; i++) {
		mid_entry *e = a->idtab[i], *n;

		for (; e != NULL; e = n) {
			n = e->next;
			free(e);
		}
	}
	free(a->idtab);
	free(a->mdirty.v);
	free(a->sdirty.v);
	for (i = 0; i < a->nhosts; i++)
		free(a->hosts[i]);
	free(a->hosts);
	free(a->hostlens);
	/* restored but never taken in (a later row was damaged) */
	for (i = 0; i < a->nrmsgs; i++) {
		record_free(&a->rmsgs[i]->r);
		free(a->rmsgs[i]);
	}
	free(a->rmsgs);
	for (i = 0; i < a->nrsess; i++) {
		for (j = 0; j < a->rsess[i]->npending; j++) {
			record_free(&a->rsess[i]->pending[j]->r);
			free(a->rsess[i]->pending[j]);
		}
		free(a->rsess[i]->pending);
		free(a->rsess[i]->qids);
		sess_node_free(a->rsess[i]);
	}
	free(a->rsess);
	for (j = 0; j < a->nspamd; j++) {
		free(a->spamd[j].msgid);
		free(a->spamd[j].score);
		free(a->spamd[j].required);
		free(a->spamd[j].symbols);
	}
	free(a);
}
