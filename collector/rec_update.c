/*
 * rec_update.c - what one log line changes in a record: the mutators the
 * assembler folds events into message records with (store/record.h is
 * the record itself). Values are copied from the line's slices into the
 * record's arena; nothing here fails (out of memory aborts, xalloc.h).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "rec_update.h"

/* str_eq_sl - arena string (maybe NULL) equals slice */
static int
str_eq_sl(const char *str, rg_slice s)
{
	return str != NULL && s.p != NULL && rg_str_len(str) == s.n
	    && memcmp(str, s.p, s.n) == 0;
}

/*
 * c_len - the length of a slice as a C string: a NUL in log text ends the
 * value, as it always has (the values are C strings for every consumer)
 */
static size_t
c_len(rg_slice s)
{
	const char *z = memchr(s.p, '\0', s.n);

	return z != NULL ? (size_t)(z - s.p) : s.n;
}

/* rec_sdup - a copy of a slice in ar (NULL for an unset slice) */
char *
rec_sdup(rg_arena *ar, rg_slice s)
{
	return s.p == NULL ? NULL : rg_arena_str(ar, s.p, c_len(s));
}

/*
 * rec_put - replace *dst by a copy of s when s is set. A value no longer
 * than the old one takes its place; a longer one is a new string in ar
 * (the old one stays until the arena is compacted or freed).
 */
void
rec_put(rg_arena *ar, char **dst, rg_slice s)
{
	size_t ol;

	if (s.p == NULL)
		return;
	s.n = c_len(s);
	if (*dst != NULL) {
		ol = rg_str_len(*dst);
		if (ol == s.n && memcmp(*dst, s.p, s.n) == 0)
			return;
		if (s.n <= ol) {
			rg_str_set(*dst, s.p, s.n);
			return;
		}
	}
	*dst = rg_arena_str(ar, s.p, s.n);
}

/* rec_put_if_unset - set *dst from s only when it has no value yet */
void
rec_put_if_unset(rg_arena *ar, char **dst, rg_slice s)
{
	if (*dst == NULL)
		rec_put(ar, dst, s);
}

/* rec_rcpt_get - the recipient addr/orig_to of r, added if new */
rg_rcpt *
rec_rcpt_get(rg_record *r, rg_slice addr, rg_slice orig_to)
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
		r->rcap = r->rcap ? r->rcap * 2 : 1;
		r->rcpts = rg_arena_grow(&r->ar, r->rcpts, (size_t)r->nrcpts,
		    (size_t)r->rcap, sizeof(*rc));
	}
	rc = &r->rcpts[r->nrcpts++];
	memset(rc, 0, sizeof(*rc));
	rc->address = rec_sdup(&r->ar, addr);
	rc->orig_to = rec_sdup(&r->ar, orig_to);
	return rc;
}

/* rec_hist_add - one more attempt in a recipient's status history */
void
rec_hist_add(rg_record *r, rg_rcpt *rc, rg_usec ts, rg_slice status,
    rg_slice dsn)
{
	if (rc->nhist == RG_MAX_ATTEMPTS) {
		memmove(&rc->hist[0], &rc->hist[1],
		    (RG_MAX_ATTEMPTS - 1) * sizeof(rg_attempt));
		rc->nhist--;
	} else if ((rc->nhist & (rc->nhist - 1)) == 0) {
		/* grow at 0, 1, 2, 4, ... */
		rc->hist = rg_arena_grow(&r->ar, rc->hist, (size_t)rc->nhist,
		    (size_t)(rc->nhist ? rc->nhist * 2 : 1), sizeof(rg_attempt));
	}
	rc->hist[rc->nhist].ts = ts;
	rc->hist[rc->nhist].status = rec_sdup(&r->ar, status);
	rc->hist[rc->nhist].dsn = rec_sdup(&r->ar, dsn);
	rc->nhist++;
}

/*
 * rec_verdict_offer - keep the most trusted verdict; fill gaps from equals.
 * A verdict the parser could not read without doubt (spam < 0) is no
 * verdict: it must not outrank what Postfix logged (a milter reject).
 */
void
rec_verdict_offer(rg_record *r, enum verdict_source src, int spam,
    rg_slice score, rg_slice required, rg_slice action, rg_slice symbols)
{
	rg_verdict *v = &r->verdict;

	if (src < v->source || spam < 0)
		return;
	if (src > v->source) {
		memset(v, 0, sizeof(*v));
		v->source = src;
		v->spam = spam > 0;
	} else if (spam > 0) {
		v->spam = 1;
	}
	rec_put_if_unset(&r->ar, &v->score, score);
	rec_put_if_unset(&r->ar, &v->required, required);
	rec_put_if_unset(&r->ar, &v->action, action);
	rec_put_if_unset(&r->ar, &v->symbols, symbols);
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
 * rec_spam_header - X-Spam: / X-Spam-Flag: yes|no, X-Spam-Status: Yes, score=...
 * Offers a verdict; returns 1 if the header was a spam header.
 */
int
rec_spam_header(rg_record *r, rg_slice name, rg_slice value,
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
	rec_verdict_offer(r, src, spam, score, req, none, syms);
	return 1;
}

/* header_push - append a header to r's list */
static void
header_push(rg_record *r, char *name, char *value, int cut)
{
	if (r->nheaders == r->hcap) {
		r->hcap = r->hcap ? r->hcap * 2 : 4;
		r->headers = rg_arena_grow(&r->ar, r->headers,
		    (size_t)r->nheaders, (size_t)r->hcap, sizeof(rg_header));
	}
	r->headers[r->nheaders].name = name;
	r->headers[r->nheaders].value = value;
	r->headers[r->nheaders].cut = cut;
	r->nheaders++;
}

/* rec_header_add - record a logged header (first value of a name wins) */
void
rec_header_add(rg_record *r, char *const *names, int nnames, rg_slice name,
    rg_slice value, int cut)
{
	const char *canon = NULL;
	int i;

	for (i = 0; i < nnames; i++)
		if (ci_eq(name, names[i]))
			canon = names[i];
	for (i = 0; i < r->nheaders; i++)
		if (canon != NULL ? strcmp(r->headers[i].name, canon) == 0
		    : ci_eq(name, r->headers[i].name))
			return;
	if (r->nheaders >= 32)
		return;
	header_push(r, canon ? rg_arena_str(&r->ar, canon, strlen(canon))
	    : rec_sdup(&r->ar, name), rec_sdup(&r->ar, value), cut);
}

/* rec_set_reject - record why the message (or NOQUEUE attempt) was refused */
void
rec_set_reject(rg_record *r, rg_slice stage, const rg_event *ev)
{
	rg_reject *j = &r->rejected;

	j->stage = rec_sdup(&r->ar, stage);
	j->code = rec_sdup(&r->ar, ev->code);
	j->dsn = rec_sdup(&r->ar, ev->dsn);
	j->text = rec_sdup(&r->ar, ev->text);
	if (j->stage == NULL)
		j->stage = rg_arena_str(&r->ar, "unknown", 7);
}

/* rec_spammy - does a reject text say it is spam? */
int
rec_spammy(rg_slice t)
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

/* rec_client_into - copy the client of an event into a record */
void
rec_client_into(rg_record *r, const rg_event *ev)
{
	rec_put(&r->ar, &r->client_host, ev->client_host);
	rec_put(&r->ar, &r->client_ip, ev->client_ip);
	rec_put(&r->ar, &r->client_port, ev->client_port);
	rec_put(&r->ar, &r->sasl_method, ev->sasl_method);
	rec_put(&r->ar, &r->sasl_username, ev->sasl_user);
}

/* a_slice - an arena string (maybe NULL) as a slice */
static rg_slice
a_slice(const char *str)
{
	rg_slice s = { str, str != NULL ? rg_str_len(str) : 0 };

	return s;
}

/* rec_link_filtered - r1 went through a content filter and continues as r2 */
void
rec_link_filtered(rg_record *r1, rg_record *r2)
{
	int i;

	r1->filtered_as = rg_arena_str(&r1->ar, r2->qid, strlen(r2->qid));
	if (r2->orig_queue_id == NULL)
		r2->orig_queue_id = r1->orig_queue_id
		    ? rec_dup(&r2->ar, r1->orig_queue_id)
		    : rg_arena_str(&r2->ar, r1->qid, strlen(r1->qid));
	/* the original client and login, not the filter's re-injection */
#define TAKE(f) if (r1->f != NULL) r2->f = rec_dup(&r2->ar, r1->f)
	TAKE(client_host);
	TAKE(client_ip);
	TAKE(client_port);
	TAKE(sasl_method);
	TAKE(sasl_username);
#undef TAKE
	if (r2->message_id == NULL && r1->message_id != NULL)
		r2->message_id = rec_dup(&r2->ar, r1->message_id);
	for (i = 0; i < r1->nheaders; i++) {
		int j, have = 0;

		for (j = 0; j < r2->nheaders; j++)
			if (strcmp(r2->headers[j].name, r1->headers[i].name) == 0)
				have = 1;
		if (have)
			continue;
		header_push(r2, rec_dup(&r2->ar, r1->headers[i].name),
		    rec_dup(&r2->ar, r1->headers[i].value), r1->headers[i].cut);
	}
	if (r1->verdict.source > r2->verdict.source)
		rec_verdict_offer(r2, r1->verdict.source, r1->verdict.spam,
		    a_slice(r1->verdict.score), a_slice(r1->verdict.required),
		    a_slice(r1->verdict.action), a_slice(r1->verdict.symbols));
}
