/*
 * report.c - the reports' model: the totals of a period per outgoing user
 * and identity, and per relay, and the tables (Summary, Relays, Quarantine,
 * Locks, Daily) that the writers (xlsx.c, and CSV and text in output.c)
 * stream row by row.
 *
 * Owns the totals; the rows of the long tables are read from the store as
 * they are written (store/report.h), so memory holds the users and the
 * identities, never the messages. Fails with -1 and the store's error.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/hash.h"
#include "../common/rgtime.h"
#include "../common/strbuf.h"
#include "../common/xalloc.h"
#include "../store/report.h"
#include "report_int.h"

#define UNASSIGNED "(unassigned)"
#define NO_IDENTITY "(none)"

/* rep_kind_name - the kind as the command line names it */
const char *
rep_kind_name(enum rep_kind k)
{
	return k == REP_QUARANTINE ? "quarantine" : k == REP_SENDERS
	    ? "senders" : k == REP_RELAYS ? "relays" : "locks";
}

/* relay_of - the totals of relay name (a log line's host), made if new */
static rep_tot *
relay_of(rep_data *d, const char *name)
{
	uint32_t h = rg_hash(name, strlen(name));
	size_t i = rg_htab_start(&d->rtab, h);
	rep_relay *r;

	while ((r = rg_htab_next(&d->rtab, h, &i)) != NULL)
		if (strcmp(r->name, name) == 0)
			return &r->t;
	r = xcalloc(1, sizeof(*r));
	r->name = xstrdup(name);
	if (d->nrelay == d->rcap) {
		d->rcap = d->rcap ? d->rcap * 2 : 8;
		d->relays = xrealloc(d->relays, d->rcap * sizeof(*d->relays));
	}
	d->relays[d->nrelay++] = r;
	rg_htab_insert(&d->rtab, h, r);
	return &r->t;
}

/* str_hash - FNV-1a of a user index and a string */
static unsigned long long
str_hash(int u, const char *s)
{
	return rg_hash64_more(RG_HASH64_INIT ^ (unsigned)u, s, strlen(s));
}

/* ident_of - the totals of identity name inside user u, made if new */
static rep_tot *
ident_of(rep_data *d, int u, const char *name)
{
	unsigned long long h = str_hash(u, name);
	size_t i, j;

	if ((d->nident + 1) * 2 > d->icap) {
		size_t ncap = d->icap ? d->icap * 2 : 256;
		rep_ident **nt = xcalloc(ncap, sizeof(*nt));

		for (i = 0; i < d->icap; i++) {
			if (d->itab[i] == NULL)
				continue;
			j = str_hash(d->itab[i]->user, d->itab[i]->name)
			    & (ncap - 1);
			while (nt[j] != NULL)
				j = (j + 1) & (ncap - 1);
			nt[j] = d->itab[i];
		}
		free(d->itab);
		d->itab = nt;
		d->icap = ncap;
	}
	for (j = h & (d->icap - 1); d->itab[j] != NULL;
	    j = (j + 1) & (d->icap - 1))
		if (d->itab[j]->user == u && strcmp(d->itab[j]->name, name) == 0)
			return &d->itab[j]->t;
	d->itab[j] = xcalloc(1, sizeof(rep_ident));
	d->itab[j]->user = u;
	d->itab[j]->name = xstrdup(name);
	d->nident++;
	return &d->itab[j]->t;
}

/* rep_day_of - the day index of t in the period (local days), -1 outside */
int
rep_day_of(const rep_data *d, long long t)
{
	long long day = rep_local_days(t);

	if (day < d->day0 || day >= d->day0 + d->ndays)
		return -1;
	return (int)(day - d->day0);
}

/* rep_local_days - days since 1970-01-01 of t in the process's zone */
long long
rep_local_days(long long t)
{
	time_t s = (time_t)(t / RG_USEC);
	struct tm tm;

	localtime_r(&s, &tm);
	return rgt_days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1,
	    tm.tm_mday);
}

/* rep_excel_time - t as an Excel serial date-time in the process's zone */
double
rep_excel_time(long long t)
{
	time_t s = (time_t)(t / RG_USEC);
	struct tm tm;

	localtime_r(&s, &tm);
	return ((double)s + (double)tm.tm_gmtoff) / 86400.0 + 25569.0
	    + (double)(t % RG_USEC) / 1e6 / 86400.0;
}

/*
 * rep_user_of - the index of m's outgoing user (nusers: unassigned) and
 * its identity in ident
 */
int
rep_user_of(rep_data *d, rps_iter *it, const rps_msg *m, char *ident,
    size_t isz)
{
	const rul_user *u = rul_user_of(d->pol, m->sasl, m->client_ip,
	    m->sender);
	rps_header rh[16];
	rul_header hs[16];
	const char *hname = NULL;
	int k, nh = 0, i;

	snprintf(ident, isz, "%s", NO_IDENTITY);
	if (u == NULL)
		return d->nusers;
	k = rul_user_index(d->pol, u);
	if (strcmp(u->cfg->identification, "header") == 0) {
		nh = rps_msg_headers(it, m->id, rh, 16);
		for (i = 0; i < nh; i++) {
			hs[i].name = rh[i].name;
			hs[i].value = rh[i].value;
			hs[i].cut = rh[i].cut;
		}
	}
	if (!rul_identity(d->pol, u, m->sender, m->sasl, hs, nh, ident, isz,
	    &hname))
		snprintf(ident, isz, "%s", NO_IDENTITY);
	for (i = 0; i < nh; i++) {
		free((char *)rh[i].name);
		free((char *)rh[i].value);
	}
	return k;
}

/* rep_user_name - the name of user index k */
const char *
rep_user_name(const rep_data *d, int k)
{
	return k >= d->nusers ? UNASSIGNED : rul_user_at(d->pol, k)->name;
}

/* add - one message into a total */
static void
add(rep_tot *t, const rps_msg *m)
{
	t->v[T_MESSAGES]++;
	t->v[T_RCPTS] += m->rcpts;
	t->v[T_SENT] += m->sent;
	t->v[T_BOUNCED] += m->bounced;
	t->v[T_DEFERRED] += m->deferred;
	t->v[T_REJECTED] += m->rejected
	    + (m->state == RPS_REFUSED && m->rcpts == 0);
	t->v[T_SPAM] += m->spam;
	t->v[T_QUARANTINED] += m->was_held;
}

/* read_messages - the totals of every message of the period */
static int
read_messages(rep_data *d, char *err, size_t errsz)
{
	rps_iter *it;
	rps_msg m;
	char ident[512];
	int k, rc, day;

	if ((it = rps_messages(d->st, d->o.since, d->o.until, 0, err,
	    errsz)) == NULL)
		return -1;
	while ((rc = rps_msg_next(it, &m)) == 1) {
		k = rep_user_of(d, it, &m, ident, sizeof(ident));
		if (d->only >= 0 && k != d->only)
			continue;
		add(&d->users[k], &m);
		add(ident_of(d, k, ident), &m);
		add(relay_of(d, m.host ? m.host : ""), &m);
		if ((m.spam || m.was_held)
		    && (day = rep_day_of(d, m.first_seen)) >= 0) {
			if (d->daily[k] == NULL)
				d->daily[k] = xcalloc((size_t)d->ndays * 2,
				    sizeof(int));
			d->daily[k][day * 2] += m.spam;
			d->daily[k][day * 2 + 1] += m.was_held;
		}
		if (m.spam && m.was_held)
			d->nquarantine++;
		else if (m.was_held || (m.spam && (m.state == RPS_REFUSED
		    || m.state == RPS_DELETED || m.state == RPS_DISCARDED)))
			d->nquarantine++;
	}
	if (rc < 0)
		snprintf(err, errsz, "%s", rps_strerror(it));
	rps_free(it);
	return rc;
}

/* read_locks - the lock decisions of the period, per user and identity */
static int
read_locks(rep_data *d, char *err, size_t errsz)
{
	rps_iter *it;
	rps_event e;
	const rul_user *u;
	int k, rc;

	if ((it = rps_events(d->st, d->o.since, d->o.until, err, errsz))
	    == NULL)
		return -1;
	while ((rc = rps_event_next(it, &e)) == 1) {
		k = e.user && (u = rul_user_named(d->pol, e.user)) != NULL
		    ? rul_user_index(d->pol, u) : d->nusers;
		if (d->only >= 0 && k != d->only)
			continue;
		d->nevents++;
		if (e.action == NULL || strcmp(e.action, "lock") != 0)
			continue;
		if (e.kind && strcmp(e.kind, "identity") == 0 && e.identity)
			ident_of(d, k, e.identity)->v[T_LOCKS]++;
		else
			d->users[k].v[T_LOCKS]++;
	}
	if (rc < 0)
		snprintf(err, errsz, "%s", rps_strerror(it));
	rps_free(it);
	return rc;
}

/* by_total - users with more messages (then more spam) first, then name */
static const rep_data *sort_d;
static int
by_total(const void *a, const void *b)
{
	const rep_tot *x = &sort_d->users[*(const int *)a];
	const rep_tot *y = &sort_d->users[*(const int *)b];
	int i;

	for (i = 0; i < T__COUNT; i++)
		if (x->v[i] != y->v[i])
			return x->v[i] > y->v[i] ? -1 : 1;
	return strcmp(rep_user_name(sort_d, *(const int *)a),
	    rep_user_name(sort_d, *(const int *)b));
}

/* by_ident - by user order, then more messages, then name */
static int
by_ident(const void *a, const void *b)
{
	const rep_ident *x = *(rep_ident *const *)a;
	const rep_ident *y = *(rep_ident *const *)b;

	if (x->user != y->user)
		return sort_d->rank[x->user] - sort_d->rank[y->user];
	if (x->t.v[T_MESSAGES] != y->t.v[T_MESSAGES])
		return x->t.v[T_MESSAGES] > y->t.v[T_MESSAGES] ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* by_spam - the chart's order: more spam and quarantined first */
static int
by_spam(const void *a, const void *b)
{
	const rep_tot *x = &sort_d->users[*(const int *)a];
	const rep_tot *y = &sort_d->users[*(const int *)b];
	long long sx = x->v[T_SPAM] + x->v[T_QUARANTINED];
	long long sy = y->v[T_SPAM] + y->v[T_QUARANTINED];

	if (sx != sy)
		return sx > sy ? -1 : 1;
	return strcmp(rep_user_name(sort_d, *(const int *)a),
	    rep_user_name(sort_d, *(const int *)b));
}

/* by_relay - more messages (then more spam ...) first, then by name */
static int
by_relay(const void *a, const void *b)
{
	const rep_relay *x = *(rep_relay *const *)a;
	const rep_relay *y = *(rep_relay *const *)b;
	int i;

	for (i = 0; i < T__COUNT; i++)
		if (x->t.v[i] != y->t.v[i])
			return x->t.v[i] > y->t.v[i] ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* order - the users and identities in report order, the chart's top 10 */
static void
order(rep_data *d)
{
	size_t i, n = 0;
	int k;

	d->order = xcalloc((size_t)d->nusers + 1, sizeof(int));
	d->rank = xcalloc((size_t)d->nusers + 1, sizeof(int));
	for (k = 0; k <= d->nusers; k++)
		d->rank[k] = -1;		/* not in the report */
	for (k = 0; k <= d->nusers; k++)
		if (d->users[k].v[T_MESSAGES] > 0 || d->users[k].v[T_LOCKS] > 0
		    || (d->only >= 0 && k == d->only))
			d->order[d->norder++] = k;
	sort_d = d;
	qsort(d->order, (size_t)d->norder, sizeof(int), by_total);
	for (i = 0; i < (size_t)d->norder; i++)
		d->rank[d->order[i]] = (int)i;
	d->idents = xcalloc(d->nident + 1, sizeof(*d->idents));
	for (i = 0; i < d->icap; i++)
		if (d->itab[i] != NULL)
			d->idents[n++] = d->itab[i];
	qsort(d->idents, n, sizeof(*d->idents), by_ident);
	d->top = xcalloc((size_t)d->norder + 1, sizeof(int));
	for (i = 0; i < (size_t)d->norder; i++) {
		k = d->order[i];
		if (d->users[k].v[T_SPAM] + d->users[k].v[T_QUARANTINED] > 0)
			d->top[d->ntop++] = k;
	}
	qsort(d->top, (size_t)d->ntop, sizeof(int), by_spam);
	if (d->ntop > 10)
		d->ntop = 10;
	if (d->nrelay > 0)
		qsort(d->relays, d->nrelay, sizeof(*d->relays), by_relay);
	sort_d = NULL;
}

/* rep_build - read the period's totals */
rep_data *
rep_build(rg_store *st, const rg_config *cfg, const rul_policy *pol,
    const rep_opts *o, char *err, size_t errsz)
{
	rep_data *d = xcalloc(1, sizeof(*d));
	const rul_user *u;

	rg_htab_init(&d->rtab, 16);
	d->st = st;
	d->cfg = cfg;
	d->pol = pol;
	d->o = *o;
	d->made = time(NULL);
	d->nusers = rul_nusers(pol);
	d->only = -1;
	if (o->user != NULL) {
		if ((u = rul_user_named(pol, o->user)) == NULL) {
			snprintf(err, errsz, "%s: not a configured user",
			    o->user);
			rep_free(d);
			return NULL;
		}
		d->only = rul_user_index(pol, u);
	}
	d->users = xcalloc((size_t)d->nusers + 1, sizeof(rep_tot));
	d->daily = xcalloc((size_t)d->nusers + 1, sizeof(int *));
	d->day0 = rep_local_days(o->since);
	d->ndays = (int)(rep_local_days(o->until - 1) - d->day0 + 1);
	if (d->ndays < 1)
		d->ndays = 1;
	if (d->ndays > 400)		/* the chart shows the first 400 days */
		d->ndays = 400;
	if (read_messages(d, err, errsz) != 0 || read_locks(d, err, errsz)
	    != 0) {
		rep_free(d);
		return NULL;
	}
	order(d);
	return d;
}

/* rep_rows - the rows of the report's own kind */
long long
rep_rows(const rep_data *d)
{
	if (d->o.kind == REP_QUARANTINE)
		return d->nquarantine;
	if (d->o.kind == REP_LOCKS)
		return d->nevents;
	if (d->o.kind == REP_RELAYS)
		return (long long)d->nrelay;
	return (long long)d->nident;
}

/* rep_free - release the totals; NULL is a no-op */
void
rep_free(rep_data *d)
{
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < d->icap; i++)
		if (d->itab[i] != NULL) {
			free(d->itab[i]->name);
			free(d->itab[i]);
		}
	if (d->daily != NULL)
		for (i = 0; i <= (size_t)d->nusers; i++)
			free(d->daily[i]);
	free(d->daily);
	for (i = 0; i < d->nrelay; i++) {
		free(d->relays[i]->name);
		free(d->relays[i]);
	}
	free(d->relays);
	rg_htab_free(&d->rtab);
	free(d->itab);
	free(d->idents);
	free(d->users);
	free(d->order);
	free(d->rank);
	free(d->top);
	free(d);
}

/*
 * rep_clean - s as a cell's text: valid UTF-8 (a bad byte becomes U+FFFD),
 * control characters as '?', at most REP_MAX_CELL characters
 */
void
rep_clean(strbuf *sb, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t chars = 0;
	int n, i;

	sb_reset(sb);
	if (s == NULL)
		return;
	while (*p && chars < REP_MAX_CELL) {
		unsigned c = *p;

		n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 && c >= 0xc2 ? 2
		    : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 && c <= 0xf4
		    ? 4 : 0;
		for (i = 1; i < n; i++)
			if ((p[i] & 0xc0) != 0x80)
				n = 0;
		if (n == 3 && ((c == 0xe0 && p[1] < 0xa0)
		    || (c == 0xed && p[1] >= 0xa0)))
			n = 0;		/* overlong, or a surrogate */
		if (n == 4 && ((c == 0xf0 && p[1] < 0x90)
		    || (c == 0xf4 && p[1] >= 0x90)))
			n = 0;
		if (n == 0) {
			sb_adds(sb, "\xef\xbf\xbd");
			p++;
		} else if (n == 1 && (c < 0x20 || c == 0x7f)) {
			sb_addc(sb, '?');
			p++;
		} else {
			sb_add(sb, (const char *)p, (size_t)n);
			p += n;
		}
		chars += n == 4 ? 2 : 1;	/* Excel counts UTF-16 units */
	}
}

/* rep_number - 1 and the value if s is a plain decimal number */
int
rep_number(const char *s, double *v)
{
	const char *p = s;
	char *end;

	if (s == NULL || *s == '\0')
		return 0;
	if (*p == '-' || *p == '+')
		p++;
	if (!isdigit((unsigned char)*p))
		return 0;
	*v = strtod(s, &end);
	return *end == '\0' && isfinite(*v);
}

/* rep_utf8_width - characters in s (UTF-8), for column widths */
size_t
rep_utf8_width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}
