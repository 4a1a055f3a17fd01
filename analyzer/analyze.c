/*
 * analyze.c - lock and limit decisions. Owns nothing between calls; every
 * decision goes to the locks and events tables in one transaction (none on
 * --dry-run) and to the log stream as a key=value line.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <ctype.h>
#include <fcntl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../common/json.h"
#include "../common/log.h"
#include "../common/proc.h"
#include "../common/rgtime.h"
#include "../common/strbuf.h"
#include "../common/xalloc.h"
#include "../store/aindex.h"
#include "../store/anaread.h"
#include "../store/locks.h"
#include "analyze.h"
#include "idclass.h"
#include "map_pgsql.h"
#include "maps.h"

#define MIN_USEC 60000000LL

typedef struct item {
	const rul_user *user;
	char *identity;		/* NULL: the user itself */
	char *method;
	char *header;
	long long ts;
} item;

typedef struct items {
	item *v;
	size_t n, cap;
} items;

typedef struct lockrow {
	char *kind, *user, *identity, *reason;
	long long since, until;	/* until 0: none */
	int automatic;
} lockrow;

typedef struct ctx {
	const rg_config *cfg;
	const rul_policy *pol;
	rg_store *st;
	lk_store *lk;		/* the lock state (store/locks.h) */
	long long now;
	int dry_run;
	FILE *log;
	ana_result *res;
	char *err;
	size_t errsz;
	lockrow *locks;
	size_t nlocks;
	char **admitted;	/* users locked automatically in this run */
	int nadmitted;
	int recent_auto;	/* users locked so within the valve's window before */
	aix ix;			/* the index, and who to decide in this run */
} ctx;

/* fmt_time - RFC 3339 of microseconds, for the log lines */
static const char *
fmt_time(long long t, char buf[64])
{
	if (t <= 0)
		return "never";
	rgt_format(buf, t);
	return buf;
}

/* items_add - append one event */
static void
items_add(items *it, const rul_user *u, const char *identity,
    const char *method, const char *header, long long ts)
{
	if (it->n == it->cap) {
		it->cap = it->cap ? it->cap * 2 : 256;
		it->v = xrealloc(it->v, it->cap * sizeof(item));
	}
	it->v[it->n].user = u;
	it->v[it->n].identity = identity ? xstrdup(identity) : NULL;
	it->v[it->n].method = method ? xstrdup(method) : NULL;
	it->v[it->n].header = header ? xstrdup(header) : NULL;
	it->v[it->n].ts = ts;
	it->n++;
}

/* items_free - release */
static void
items_free(items *it)
{
	size_t i;

	for (i = 0; i < it->n; i++) {
		free(it->v[i].identity);
		free(it->v[i].method);
		free(it->v[i].header);
	}
	free(it->v);
	memset(it, 0, sizeof(*it));
}

/* cmp_item - by user, identity, time */
static int
cmp_item(const void *x, const void *y)
{
	const item *a = x, *b = y;
	int r = strcmp(a->user->name, b->user->name);

	if (r)
		return r;
	if ((a->identity == NULL) != (b->identity == NULL))
		return a->identity == NULL ? -1 : 1;
	if (a->identity && (r = strcmp(a->identity, b->identity)) != 0)
		return r;
	return a->ts < b->ts ? -1 : a->ts > b->ts;
}

/* load_row - one active lock, copied */
static void
load_row(void *arg, const lk_lock *r)
{
	ctx *c = arg;
	lockrow *l;

	c->locks = xrealloc(c->locks, (c->nlocks + 1) * sizeof(lockrow));
	l = &c->locks[c->nlocks++];
	l->kind = xstrdup(r->kind);
	l->user = xstrdup(r->user);
	l->identity = xstrdup(r->identity);
	l->reason = xstrdup(r->reason);
	l->since = r->since;
	l->until = r->until;
	l->automatic = r->automatic;
}

/* load_locks - the active locks */
static int
load_locks(ctx *c)
{
	return lk_each(c->lk, NULL, LK_STORED, load_row, c, c->err, c->errsz);
}

/* find_lock - an active lock, NULL if none */
static lockrow *
find_lock(ctx *c, const char *kind, const char *user, const char *identity,
    const char *reason)
{
	size_t i;

	for (i = 0; i < c->nlocks; i++) {
		lockrow *l = &c->locks[i];

		if (strcmp(l->kind, kind) == 0 && strcmp(l->user, user) == 0
		    && strcmp(l->identity, identity ? identity : "") == 0
		    && (reason == NULL || strcmp(l->reason, reason) == 0))
			return l;
	}
	return NULL;
}

/* event - one decision: a key=value line and a row in events */
static int
event(ctx *c, long long ts, const char *action, const char *kind,
    const char *user, const char *identity, const char *rule,
    const char *detail)
{
	lk_event e;
	strbuf sb;
	char t[64];

	sb_init(&sb);
	sb_printf(&sb, "action=%s kind=%s user=", action, kind);
	sb_json_str(&sb, user, strlen(user));
	if (identity && *identity) {
		sb_adds(&sb, " identity=");
		sb_json_str(&sb, identity, strlen(identity));
	}
	sb_printf(&sb, " rule=%s at=%s %s%s", rule, fmt_time(ts, t),
	    detail ? detail : "", c->dry_run ? " dry_run=yes" : "");
	fprintf(c->log, "%s\n", sb.s);
	sb_free(&sb);
	if (c->dry_run)
		return 0;
	e.ts = ts;
	e.action = action;
	e.kind = kind;
	e.user = user;
	e.identity = identity;
	e.rule = rule;
	e.detail = detail;
	return lk_record(c->lk, &e, c->err, c->errsz);
}

/* exec_lock - insert or replace a lock row */
static int
exec_lock(ctx *c, const char *kind, const char *user, const char *identity,
    const char *method, const char *header, const char *reason,
    const char *detail, long long since, long long until, int automatic)
{
	lk_lock l;

	if (c->dry_run)
		return 0;
	l.kind = kind;
	l.user = user;
	l.identity = identity;
	l.method = method;
	l.header = header;
	l.reason = reason;
	l.detail = detail;
	l.since = since;
	l.until = until;
	l.automatic = automatic;
	return lk_put(c->lk, &l, c->err, c->errsz);
}

/* delete_lock - end one lock */
static int
delete_lock(ctx *c, const char *kind, const char *user, const char *identity,
    const char *reason)
{
	if (c->dry_run)
		return 0;
	return lk_delete(c->lk, kind, user, identity, reason, c->err,
	    c->errsz);
}

/* unlock_info - automatic unlocks used and the start of the last spam lock */
static void
unlock_info(ctx *c, const char *kind, const char *user, const char *identity,
    long long *count, long long *last_since)
{
	lk_unlocks(c->lk, kind, user, identity, count, last_since);
}

/* set_unlocks - store the unlock counter and the last spam lock start */
static int
set_unlocks(ctx *c, const char *kind, const char *user, const char *identity,
    long long count, long long last_since)
{
	if (c->dry_run)
		return 0;
	return lk_set_unlocks(c->lk, kind, user, identity, count, last_since,
	    c->err, c->errsz);
}

/* expire - end the automatic locks whose time is over */
static int
expire(ctx *c)
{
	size_t i;

	for (i = 0; i < c->nlocks; i++) {
		lockrow *l = &c->locks[i];
		char det[64];

		if (l->until <= 0 || l->until > c->now)
			continue;
		if (strcmp(l->reason, "spam") == 0 || strcmp(l->reason,
		    "invalid") == 0) {
			long long cnt, last;

			unlock_info(c, l->kind, l->user, l->identity, &cnt, &last);
			if (l->automatic && set_unlocks(c, l->kind, l->user,
			    l->identity, cnt + 1, last) != 0)
				return -1;
			snprintf(det, sizeof(det), "unlocks_used=%lld",
			    cnt + (l->automatic ? 1 : 0));
			c->res->unlocked++;
		} else {
			snprintf(det, sizeof(det), "limit=%s", l->reason);
			c->res->unblocked++;
		}
		if (event(c, l->until, strcmp(l->reason, "spam") == 0
		    || strcmp(l->reason, "invalid") == 0 || strcmp(l->reason,
		    "manual") == 0 ? "unlock" : "unblock", l->kind, l->user,
		    l->identity, "timeout", det) != 0)
			return -1;
		if (delete_lock(c, l->kind, l->user, l->identity, l->reason)
		    != 0)
			return -1;
		/* its user is decided again in this run */
		{
			const rul_user *u = rul_user_named(c->pol, l->user);

			if (u != NULL)
				aix_touch(&c->ix, rul_user_index(c->pol, u));
		}
		/* mark it gone for the rest of this run */
		l->until = -1;
		free(l->reason);
		l->reason = xstrdup("(ended)");
	}
	return 0;
}

/*
 * safety - may this user be locked automatically (the safety valve)? At
 * most safety_valve users within safety_valve_window; a user admitted once
 * in a run may have its identities locked too.
 */
static int
safety(ctx *c, const char *user, long long ts)
{
	int i;

	for (i = 0; i < c->nadmitted; i++)
		if (strcmp(c->admitted[i], user) == 0)
			return 1;
	if (c->nadmitted + c->recent_auto < c->cfg->safety_valve) {
		c->admitted = xrealloc(c->admitted, (size_t)(c->nadmitted + 1)
		    * sizeof(char *));
		c->admitted[c->nadmitted++] = xstrdup(user);
		return 1;
	}
	c->res->held_back++;
	event(c, ts, "alert", "user", user, NULL, "safety_valve",
	    "held_back=yes");
	/* decided again next run, when the valve may have room */
	if (!c->dry_run)
		aix_pend(c->st, user, c->err, c->errsz);
	return 0;
}

/* the spam of one user, as the index yields it */
typedef struct spam_arg {
	items *it;
	const rul_user *u;
} spam_arg;

/* spam_row - one trusted spam verdict: for the user, and its identity */
static void
spam_row(void *arg, long long t, const char *identity, const char *method,
    const char *header)
{
	spam_arg *a = arg;

	items_add(a->it, a->u, NULL, NULL, NULL, t);
	if (identity != NULL)
		items_add(a->it, a->u, identity, method, header, t);
}

/* spam_locks - threshold spam within the window: lock user / identity */
static int
spam_locks(ctx *c)
{
	spam_arg sa;
	items it;
	long long maxwin = 0, since;
	size_t i, j;
	int k;

	memset(&it, 0, sizeof(it));
	for (k = 0; k < rul_nusers(c->pol); k++) {
		const rg_user_cfg *u = rul_user_at(c->pol, k)->cfg;
		long long w = u->spam_lock_window + u->lock_timeout;

		if (w > maxwin)
			maxwin = w;
	}
	since = c->now - maxwin * 1000000LL;
	sa.it = &it;
	for (k = 0; k < rul_nusers(c->pol); k++) {
		long long uid;

		if (!c->ix.touched[k] || (uid = aix_uid(&c->ix, k)) == 0)
			continue;
		sa.u = rul_user_at(c->pol, k);
		if (aix_spam(&c->ix, uid, since, c->now, spam_row, &sa, c->err,
		    c->errsz) != 0)
			goto fail;
	}
	if (it.n > 1)
		qsort(it.v, it.n, sizeof(item), cmp_item);
	for (i = 0; i < it.n; i = j) {
		const rul_user *u = it.v[i].user;
		const rg_user_cfg *uc = u->cfg;
		const char *kind = it.v[i].identity ? "identity" : "user";
		long long cnt, last, win = uc->spam_lock_window * 1000000LL;
		long long thr = uc->spam_lock_threshold;
		size_t a, b;

		for (j = i + 1; j < it.n && it.v[j].user == u
		    && ((it.v[j].identity == NULL && it.v[i].identity == NULL)
		    || (it.v[j].identity && it.v[i].identity
		    && strcmp(it.v[j].identity, it.v[i].identity) == 0)); j++)
			;
		if ((it.v[i].identity == NULL && !uc->auto_lock)
		    || rul_never_lock(c->pol, u->name)
		    || find_lock(c, kind, u->name, it.v[i].identity, "spam"))
			continue;
		unlock_info(c, kind, u->name, it.v[i].identity, &cnt, &last);
		/* only spam after the last lock began: that one counted them */
		for (a = i; a < j && it.v[a].ts <= last; a++)
			;
		for (b = a; b < j; b++) {
			long long t = it.v[b].ts, until;
			char det[160];

			if ((long long)(b - a + 1) < thr
			    || t - it.v[b + 1 - thr].ts > win)
				continue;
			/* the threshold is reached at t */
			until = cnt >= uc->max_unlocks_by_timeout ? 0
			    : t + uc->lock_timeout * 1000000LL;
			if (!safety(c, u->name, t))
				break;
			{
				char tb[64], wb[32];

				rgt_format_duration(wb, uc->spam_lock_window);
				snprintf(det, sizeof(det), "count=%lld window=%s "
				    "unlocks_used=%lld until=%s", thr, wb, cnt,
				    until ? fmt_time(until, tb) : "unlock");
			}
			if (event(c, t, "lock", kind, u->name, it.v[b].identity,
			    "spam", det) != 0
			    || exec_lock(c, kind, u->name, it.v[b].identity,
			    it.v[b].method, it.v[b].header, "spam", det, t, until,
			    1) != 0)
				goto fail;
			c->res->locked++;
			last = t;
			if (until > 0 && until <= c->now) {
				/* over already (a replay): it unlocked by itself */
				cnt++;
				c->res->unlocked++;
				if (event(c, until, "unlock", kind, u->name,
				    it.v[b].identity, "timeout", "replayed=yes")
				    != 0 || delete_lock(c, kind, u->name,
				    it.v[b].identity, "spam") != 0)
					goto fail;
				a = b + 1;
				continue;
			}
			break;
		}
		if (set_unlocks(c, kind, u->name, it.v[i].identity, cnt, last)
		    != 0)
			goto fail;
	}
	items_free(&it);
	return 0;
fail:
	items_free(&it);
	return -1;
}

/* limit_block - a limit reached: block until the window has room */
static int
limit_block(ctx *c, const rul_user *u, const char *rule, long long count,
    long long limit, long long until, const char *what)
{
	char det[200], tb[64];
	lockrow *l = find_lock(c, "user", u->name, NULL, rule);

	if (l != NULL && l->until >= until)
		return 0;	/* already blocked that long */
	snprintf(det, sizeof(det), "%s=%lld limit=%lld until=%s", what, count,
	    limit, fmt_time(until, tb));
	if (l == NULL)
		c->res->blocked++;
	if (event(c, c->now, "block", "user", u->name, NULL, rule, det) != 0
	    || exec_lock(c, "user", u->name, NULL, NULL, NULL, rule, det,
	    c->now, until, 1) != 0)
		return -1;
	return 0;
}

/* cmp_ll - ascending */
static int
cmp_ll(const void *x, const void *y)
{
	long long a = *(const long long *)x, b = *(const long long *)y;

	return a < b ? -1 : a > b;
}

/* per-user vectors of times (and for recipients, addresses) */
typedef struct uvec {
	long long *t;
	char **addr;
	size_t n, cap;
} uvec;

/* uvec_add - one time (and address) for a user */
static void
uvec_add(uvec *v, long long t, const char *addr)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 8;
		v->t = xrealloc(v->t, v->cap * sizeof(long long));
		if (addr != NULL || v->addr != NULL)
			v->addr = xrealloc(v->addr, v->cap * sizeof(char *));
	}
	if (addr != NULL && v->addr == NULL)
		v->addr = xcalloc(v->cap, sizeof(char *));
	v->t[v->n] = t;
	if (v->addr != NULL)
		v->addr[v->n] = addr ? xstrdup(addr) : NULL;
	v->n++;
}

/* uvecs_free_one - release one vector's contents */
static void
uvecs_free_one(uvec *v)
{
	size_t j;

	if (v->addr != NULL)
		for (j = 0; j < v->n; j++)
			free(v->addr[j]);
	free(v->addr);
	free(v->t);
}

/* uvecs_free - release nusers vectors */
static void
uvecs_free(uvec *v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		uvecs_free_one(&v[i]);
	free(v);
}

/*
 * connection_limits - SMTP sessions that queued mail (refused ones do not
 * count), per rolling minute, hour, 7 and 30 days: counted in the index,
 * for the users touched in this run
 */
static int
connection_limits(ctx *c)
{
	static const struct { const char *rule; long long secs; size_t off; }
	    lim[] = {
		{ "connections-minute", 60, offsetof(rg_user_cfg, limit_per_minute) },
		{ "connections-hour", 3600, offsetof(rg_user_cfg, limit_per_hour) },
		{ "connections-week", 7 * 86400, offsetof(rg_user_cfg, limit_per_week) },
		{ "connections-month", 30 * 86400, offsetof(rg_user_cfg, limit_per_month) },
	};
	int nu = rul_nusers(c->pol), k, rc = 0;
	size_t l;

	for (k = 0; k < nu && rc == 0; k++) {
		const rul_user *u = rul_user_at(c->pol, k);
		long long uid;

		if (!c->ix.touched[k] || !u->cfg->connection_limits
		    || rul_never_lock(c->pol, u->name)
		    || (uid = aix_uid(&c->ix, k)) == 0)
			continue;
		for (l = 0; l < sizeof(lim) / sizeof(lim[0]) && rc == 0; l++) {
			long long limit = *(const long long *)((const char *)u->cfg
			    + lim[l].off), since = c->now - lim[l].secs * 1000000LL;
			long long n = 0, t = 0;

			if (limit <= 0)
				continue;
			if (aix_sessions(&c->ix, uid, since, c->now, &n, c->err,
			    c->errsz) != 0)
				return -1;
			if (n < limit)
				continue;
			/* the limit-th latest: the window has room when it
			 * leaves */
			if (aix_session_at(&c->ix, uid, since, c->now, limit - 1,
			    &t, c->err, c->errsz) != 0)
				return -1;
			rc = limit_block(c, u, lim[l].rule, n, limit,
			    t + lim[l].secs * 1000000LL, "sessions");
		}
	}
	return rc;
}

/* cmp_addr_t - by address (case-insensitive), then time */
static int
cmp_addr_t(const void *x, const void *y)
{
	const struct at { const char *a; long long t; } *p = x, *q = y;
	int r = strcasecmp(p->a, q->a);

	if (r)
		return r;
	return p->t < q->t ? -1 : p->t > q->t;
}

/*
 * rcpt_block - distinct recipients of user k within the rolling 24 hours
 * (the archive copy is relayguard's, not the user's): blocked at the limit
 */
/* the recipients of one user, as the index yields them */
typedef struct rcpt_arg {
	uvec *v;
	const rg_user_cfg *uc;
} rcpt_arg;

/* rcpt_row - one counted recipient (not the archive copy) */
static void
rcpt_row(void *arg, long long t, const char *a)
{
	rcpt_arg *ra = arg;

	if (!(ra->uc->archive && a != NULL && strcasecmp(ra->uc->
	    archive_address, a) == 0))
		uvec_add(ra->v, t, a ? a : "");
}

/* invalid_row - a message's invalid recipients, each at its time */
static void
invalid_row(void *arg, long long t, int m)
{
	for (; m > 0; m--)
		uvec_add(arg, t, NULL);
}

static int
rcpt_block(ctx *c, int k, long long uid)
{
	const rul_user *u = rul_user_at(c->pol, k);
	long long max = u->cfg->max_recipients_per_day, n = 0;
	struct at { const char *a; long long t; } *pairs;
	long long *firsts;
	rcpt_arg ra;
	uvec v;
	size_t i;
	int rc = 0;

	/* fewer rows than the limit: fewer distinct addresses too, and
	 * nothing to read (most users, most runs) */
	if (aix_recipient_count(&c->ix, uid, c->now - 86400 * 1000000LL,
	    c->now, &n, c->err, c->errsz) != 0)
		return -1;
	if (n < max)
		return 0;
	n = 0;
	memset(&v, 0, sizeof(v));
	ra.v = &v;
	ra.uc = u->cfg;
	if (aix_recipients(&c->ix, uid, c->now - 86400 * 1000000LL, c->now,
	    rcpt_row, &ra, c->err, c->errsz) != 0) {
		uvecs_free_one(&v);
		return -1;
	}
	if ((long long)v.n >= max) {
		/* distinct addresses, each at its first time */
		pairs = xcalloc(v.n, sizeof(*pairs));
		firsts = xcalloc(v.n, sizeof(long long));
		for (i = 0; i < v.n; i++) {
			pairs[i].a = v.addr[i];
			pairs[i].t = v.t[i];
		}
		qsort(pairs, v.n, sizeof(*pairs), cmp_addr_t);
		for (i = 0; i < v.n; i++)
			if (i == 0 || strcasecmp(pairs[i].a, pairs[i - 1].a) != 0)
				firsts[n++] = pairs[i].t;
		if (n >= max) {
			qsort(firsts, (size_t)n, sizeof(long long), cmp_ll);
			rc = limit_block(c, u, "recipients", n, max,
			    firsts[n - max] + 86400 * 1000000LL, "recipients");
		}
		free(pairs);
		free(firsts);
	}
	uvecs_free_one(&v);
	return rc;
}

/*
 * invalid_lock - invalid recipients of user k (5.1.x bounces and refusals)
 * within its window: locked at the limit, like spam
 */
static int
invalid_lock(ctx *c, int k, long long uid)
{
	const rul_user *u = rul_user_at(c->pol, k);
	const rg_user_cfg *uc = u->cfg;
	long long since = c->now - uc->invalid_recipient_window * 1000000LL;
	long long t, until, cnt, last, n;
	size_t first = 0;
	char det[160], tb[64];
	uvec v;
	int rc = 0;

	if (find_lock(c, "user", u->name, NULL, "invalid"))
		return 0;
	memset(&v, 0, sizeof(v));
	if (aix_invalid(&c->ix, uid, since, c->now, invalid_row, &v, c->err,
	    c->errsz) != 0) {
		uvecs_free_one(&v);
		return -1;
	}
	/* only what came after the last lock (or manual unlock) began */
	unlock_info(c, "user", u->name, NULL, &cnt, &last);
	while (first < v.n && v.t[first] <= last)
		first++;
	n = (long long)(v.n - first);
	if (n >= uc->invalid_recipient_limit) {
		t = v.t[first + (size_t)uc->invalid_recipient_limit - 1];
		until = cnt >= uc->max_unlocks_by_timeout ? 0
		    : t + uc->lock_timeout * 1000000LL;
		snprintf(det, sizeof(det), "invalid=%lld limit=%lld until=%s", n,
		    uc->invalid_recipient_limit, until ? fmt_time(until, tb)
		    : "unlock");
		if (t > last && (until == 0 || until > c->now)
		    && safety(c, u->name, t)) {
			c->res->locked++;
			if (event(c, t, "lock", "user", u->name, NULL, "invalid",
			    det) != 0 || exec_lock(c, "user", u->name, NULL, NULL,
			    NULL, "invalid", det, t, until, 1) != 0
			    || set_unlocks(c, "user", u->name, NULL, cnt, t) != 0)
				rc = -1;
		}
	}
	uvecs_free_one(&v);
	return rc;
}

/*
 * recipient_limits - distinct recipients per rolling 24 hours, and invalid
 * recipients within each user's window, for the users touched in this run
 */
static int
recipient_limits(ctx *c)
{
	int nu = rul_nusers(c->pol), k, rc = 0;

	for (k = 0; k < nu && rc == 0; k++) {
		const rul_user *u = rul_user_at(c->pol, k);
		long long uid;

		if (!c->ix.touched[k] || rul_never_lock(c->pol, u->name)
		    || (uid = aix_uid(&c->ix, k)) == 0)
			continue;
		if (u->cfg->max_recipients_per_day > 0)
			rc = rcpt_block(c, k, uid);
		if (rc == 0 && u->cfg->invalid_recipient_limit > 0)
			rc = invalid_lock(c, k, uid);
	}
	return rc;
}

/* loss_alert - one log loss: an alert (ard_losses) */
static int
loss_alert(void *arg, const char *source, long long ts, long long count,
    const char *why)
{
	char det[600];

	if (count == 0) {
		/* count 0: collect could not open the source at all */
		size_t i, n = 0;

		n = (size_t)snprintf(det, sizeof(det), "reason=\"");
		for (i = 0; why != NULL && why[i] && n < sizeof(det) - 3; i++)
			det[n++] = why[i] == '"' || (unsigned char)why[i] < ' '
			    ? '\'' : why[i];
		det[n++] = '"';
		det[n] = '\0';
		return event(arg, ts, "alert", "source", source, NULL,
		    "source_unreadable", det);
	}
	snprintf(det, sizeof(det), "lost=%lld window_incomplete=yes", count);
	return event(arg, ts, "alert", "source", source, NULL, "log_loss",
	    det);
}

/*
 * log_loss - lines lost before they reached the collector (journald's
 * "Suppressed N messages" notices) since the last run: the windows around
 * them count too little, so each is an alert (the reports mail them)
 */
static int
log_loss(ctx *c)
{
	long long since;
	int rc;

	since = ard_loss_mark(c->st);
	/* the first run: what the longest window still holds */
	if (since < 0 || since > c->now)
		since = c->now - (c->ix.sess_horizon > c->ix.msg_horizon
		    ? c->ix.sess_horizon : c->ix.msg_horizon) * 1000000LL;
	rc = ard_losses(c->st, since, c->now, loss_alert, c, c->err,
	    c->errsz);
	if (rc == 0 && !c->dry_run)
		return ard_set_loss_mark(c->st, c->now, c->err, c->errsz);
	return rc;
}

/* recent_automatic - automatic locks made within the safety valve's window */
static int
recent_automatic(ctx *c)
{
	return lk_recent_locked(c->lk, c->now - c->cfg->safety_valve_window
	    * 1000000LL, c->now);
}

/* free_locks - release the loaded locks */
static void
free_locks(ctx *c)
{
	size_t i;

	for (i = 0; i < c->nlocks; i++) {
		free(c->locks[i].kind);
		free(c->locks[i].user);
		free(c->locks[i].identity);
		free(c->locks[i].reason);
	}
	free(c->locks);
	c->locks = NULL;
	c->nlocks = 0;
	for (i = 0; i < (size_t)c->nadmitted; i++)
		free(c->admitted[i]);
	free(c->admitted);
	c->admitted = NULL;
	c->nadmitted = 0;
}

/* ana_decide - one analyzer run */
int
ana_decide(const rg_config *cfg, const rul_policy *pol, rg_store *st,
    long long now, int dry_run, FILE *log, ana_result *res, char *err,
    size_t errsz)
{
	ctx c;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	c.cfg = cfg;
	c.pol = pol;
	c.st = st;
	c.lk = lk_open_sqlite(st);
	c.now = now;
	c.dry_run = dry_run;
	c.log = log;
	c.res = res;
	c.err = err;
	c.errsz = errsz;
	/* a dry run too: the index is brought up to date, then rolled back */
	if (store_begin(st) != 0) {
		snprintf(err, errsz, "%s", store_error(st));
		lk_close(c.lk);
		return -1;
	}
	if (load_locks(&c) != 0)
		goto out;
	c.recent_auto = recent_automatic(&c);
	if (aix_update(&c.ix, st, cfg, pol, now, err, errsz) != 0)
		goto out;
	log_phase("index");
	log_debug("analyzer index: %s, %lld rows (re)indexed, %d users to "
	    "decide", c.ix.rebuilt ? "rebuilt" : "updated", c.ix.indexed,
	    c.ix.ntouched);
	if (expire(&c) != 0 || log_loss(&c) != 0)
		goto out;
	log_phase("locks and expiry");
	if (spam_locks(&c) != 0)
		goto out;
	log_phase("spam locks");
	if (connection_limits(&c) != 0)
		goto out;
	log_phase("connection limits");
	if (recipient_limits(&c) != 0)
		goto out;
	log_phase("recipient limits");
	if (aix_finish(&c.ix, err, errsz) != 0)
		goto out;
	if (dry_run) {
		store_rollback(st);
	} else if (store_commit(st) != 0) {
		snprintf(err, errsz, "%s", store_error(st));
		goto out;
	}
	log_phase("commit");
	rc = 0;
out:
	if (rc != 0)
		store_rollback(st);
	free_locks(&c);
	aix_free(&c.ix);
	lk_close(c.lk);
	return rc;
}

/* ---- the maps ---- */

/* reply - "450 4.7.1 TEXT: DETAIL, until HH:MM UTC" for an access map */
static void
reply(char *buf, size_t sz, const char *code, const char *text,
    const char *reason, long long until)
{
	char tb[64] = "";
	const char *why = strcmp(reason, "spam") == 0 ? "spam"
	    : strcmp(reason, "invalid") == 0 ? "invalid recipients"
	    : strcmp(reason, "recipients") == 0 ? "recipients per day"
	    : strcmp(reason, "manual") == 0 ? "by the administrator"
	    : "connections";

	if (until > 0) {
		time_t t = (time_t)(until / 1000000);
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(tb, sizeof(tb), ", until %Y-%m-%d %H:%M UTC", &tm);
	}
	snprintf(buf, sz, "%s %s: %s%s", code, text, why, tb);
}

/*
 * accepted - quarantine_response = accepted: a spam lock takes the mail and
 * puts it on hold (Postfix's quarantine) instead of refusing it; limits
 * still refuse (holding would not slow a flood down).
 */
static int
accepted(const rg_config *cfg, const rul_user *u, const char *reason)
{
	/* enforce = dry-run: the reply, which warn_if_reject only logs */
	return !cfg_dry_run(cfg)
	    && strcmp(u->cfg->quarantine_response, "accepted") == 0
	    && (strcmp(reason, "spam") == 0 || strcmp(reason, "manual") == 0
	    || strcmp(reason, "invalid") == 0);
}

/*
 * add - one entry; one that Postfix would misread is skipped with an
 * alert line, and never keeps the rest of its map from being written
 */
static void
add(map_set *ms, const char *key, const char *value, FILE *log)
{
	char e[256];

	if (map_set_add(ms, key, value, e, sizeof(e)) != 0)
		fprintf(log, "action=alert kind=map map=%s rule=bad_entry "
		    "result=skipped reason=\"%s\"\n",
		    map_kind_name(map_set_kind(ms)), e);
}

/*
 * add_sender - an envelope-sender entry: the indexed sender map when a
 * hash key can hold the address, else the pcre sender map ("a b"@x,
 * #x@y), which smtpd looks up with the same (quoted, folded) text
 */
static void
add_sender(map_set *idx, map_set *pcre, const char *key, const char *value,
    int utf8, FILE *log)
{
	add(map_key_check(MAP_SENDER, key, utf8) == NULL ? idx : pcre, key,
	    value, log);
}

/*
 * ana_enforceable - can a lock of this identity be written into a map
 * that Postfix checks? NULL if so, else why not (for lock and users)
 */
const char *
ana_enforceable(const rul_policy *pol, const char *method,
    const char *header, const char *id)
{
	const rg_idheader_cfg *hc;
	int utf8 = rul_fold_utf8(pol);
	const char *why = NULL;
	char line[1024];

	if (method == NULL || id == NULL)
		return NULL;
	if (strcmp(method, "envelope_sender") == 0) {
		if (map_key_check(MAP_SENDER, id, utf8) != NULL)
			why = map_key_check(MAP_SENDER_PCRE, id, utf8);
	} else if (strcmp(method, "auth_user") == 0) {
		why = map_key_check(MAP_SASL, id, utf8);
	} else if (header != NULL && ((hc = rul_header_cfg(pol, header))
	    == NULL || *hc->regex == '\0')) {
		/* the whole value is the identity: one header_checks rule
		 * (a regex capture is enforced through its logged values) */
		snprintf(line, sizeof(line), "%s: %s", header, id);
		why = map_key_check(MAP_HEADER_PCRE, line, utf8);
	}
	return why;
}

/*
 * ana_postfix_fold - read Postfix's smtputf8_enable (postconf) into the
 * policy, so identities and map keys fold as Postfix's lookups do; on
 * failure the error is in err and the policy keeps Postfix's default (yes)
 */
int
ana_postfix_fold(const rg_config *cfg, rul_policy *pol, char *err,
    size_t errsz)
{
	map_writer_cfg wc;
	char postconf[1100];
	int utf8 = 1;

	memset(&wc, 0, sizeof(wc));
	wc.directory = cfg->map_directory;	/* the answer is kept there */
	wc.config_directory = cfg->postfix_config_directory;
	snprintf(postconf, sizeof(postconf), "%s/postconf",
	    cfg->command_directory);
	wc.postconf = postconf;
	wc.timeout_ms = cfg->command_timeout * 1000;
	if (map_postfix_utf8(&wc, &utf8, err, errsz) != 0)
		return -1;
	rul_set_fold_utf8(pol, utf8);
	return 0;
}

/* one header identity lock's entries, as the values come */
typedef struct hval_arg {
	const rul_policy *pol;
	const rul_user *u;
	const char *header, *id;
	map_set *ms;
	const char *value;
	FILE *log;
} hval_arg;

/* hval_indexed - a value the index holds for the identity: an entry */
static void
hval_indexed(void *arg, const char *v)
{
	hval_arg *a = arg;
	char line[1024];

	snprintf(line, sizeof(line), "%s: %s", a->header, v);
	add(a->ms, line, a->value, a->log);
}

/* hval_logged - a stored value: an entry if it gives the identity */
static void
hval_logged(void *arg, const char *v)
{
	hval_arg *a = arg;
	rul_header h = { a->header, v, 0 };
	char got[512];
	const char *hn;

	if (rul_identity(a->pol, a->u, NULL, NULL, &h, 1, got, sizeof(got),
	    &hn) && strcmp(got, a->id) == 0)
		hval_indexed(arg, v);
}

/* header_values - the logged values of a header whose identity is id */
static void
header_values(rg_store *st, const rul_policy *pol, const rul_user *u,
    const char *header, const char *id, map_set *ms, const char *value,
    FILE *log)
{
	const rg_idheader_cfg *hc = rul_header_cfg(pol, header);
	hval_arg ha = { pol, u, header, id, ms, value, log };
	char line[1024];
	int found;

	if (hc == NULL || *hc->regex == '\0') {
		/* the identity is the whole value */
		snprintf(line, sizeof(line), "%s: %s", header, id);
		add(ms, line, value, log);
		return;
	}
	/* a regex capture: every logged value that gives this identity (the
	 * analyzer's index keeps them, aindex.c) */
	if ((found = aix_header_values(st, header, id, hval_indexed, &ha))
	    != 0)
		return;		/* some, or a database error */
	/* none indexed (a lock by hand before the analyzer's first run):
	 * every stored value of the header, through the regex */
	ard_header_values(st, header, hval_logged, &ha);
}

/*
 * ana_sender_lock - a locked envelope-sender identity: into its user's
 * class (idclass.h), never into the global sender_access, except for a
 * domain user with match_sender_domain and a sender in its own domain:
 * mail without a login that is the domain's by its sender has no login or
 * network to hang a class on, so that identity is refused there as the
 * domain's own user lock is (for anyone who uses that exact address)
 */
static void
ana_sender_lock(icl_pool *icl, const rul_user *u, const char *id,
    const char *value, long long until, map_set *sender, map_set *pcre,
    int utf8, FILE *log)
{
	const char *at = strrchr(id, '@');

	if (map_key_check(MAP_SENDER, id, utf8) != NULL
	    && map_key_check(MAP_SENDER_PCRE, id, utf8) != NULL) {
		/* no map can hold it (`lock` refuses such a lock, `users`
		 * shows it "not enforceable"): the add fails with an alert */
		add_sender(sender, pcre, id, value, utf8, log);
		return;
	}
	icl_lock(icl, u, id, value, until);
	if (u->type == RUL_DOMAIN && u->cfg->match_sender_domain
	    && at != NULL && strcasecmp(at + 1, u->name) == 0)
		add_sender(sender, pcre, id, value, utf8, log);
}

/*
 * ana_classes - hand out the identity lock classes, and point each class
 * user's login at its class (or, escalated, at its lock reply); an IP
 * user's networks follow with the cidr map
 */
static int
ana_classes(icl_pool *icl, const rul_policy *pol, rg_store *st, int dry_run,
    map_set *sasl, FILE *log, char *err, size_t errsz)
{
	int i;

	if (icl_assign(icl, st, dry_run, log, err, errsz) != 0)
		return -1;
	for (i = 0; i < rul_nusers(pol); i++) {
		const rul_user *u = rul_user_at(pol, i);
		const char *v;

		if (u->type != RUL_IP && (v = icl_value(icl, u)) != NULL)
			add(sasl, u->name, v, log);
	}
	return 0;
}

/*
 * map_failed - a map that could not be written: an alert line, counted; the
 * caller's err gets the first failure and the count
 */
static void
map_failed(FILE *log, const char *name, const char *why, int *failed,
    char *err, size_t errsz)
{
	char q[1024];
	size_t i;

	snprintf(q, sizeof(q), "%s", why);
	for (i = 0; q[i] != '\0'; i++)
		if (q[i] == '"' || (unsigned char)q[i] < 0x20)
			q[i] = '\'';
	fprintf(log, "action=alert kind=map name=%s rule=write_failed "
	    "reason=\"%s\"\n", name, q);
	if (++*failed == 1)
		snprintf(err, errsz, "map %s not written: %s", name, why);
}

/*
 * request_reload - not root (the hardened relayguard-analyze.service): ask
 * the root helper for `postfix reload` by rewriting MAP_DIRECTORY/
 * reload.request, which relayguard-reload.path watches.
 */
static void
request_reload(const rg_config *cfg, FILE *log)
{
	char path[1100], stamp[32];
	int fd, n;

	snprintf(path, sizeof(path), "%s/reload.request", cfg->map_directory);
	n = snprintf(stamp, sizeof(stamp), "%lld\n", (long long)time(NULL));
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0640)) < 0 || write(fd, stamp, (size_t)n) != n) {
		fprintf(log, "action=reload result=failed reason=\"%s: %s\"\n",
		    path, strerror(errno));
	} else {
		fprintf(log, "action=reload result=requested request=%s\n",
		    path);
	}
	if (fd >= 0)
		close(fd);
}

/* the maps being made from the locks */
typedef struct maps_ctx {
	const rg_config *cfg;
	const rul_policy *pol;
	rg_store *st;
	icl_pool *icl;
	map_set **ms;
	int utf8;
	FILE *log;
	char *prev_kind, *prev_user, *prev_id;
} maps_ctx;

/* map_lock - one lock into its map entries (lk_each, LK_MAPS order) */
static void
map_lock(void *arg, const lk_lock *l)
{
	maps_ctx *m = arg;
	const rg_config *cfg = m->cfg;
	const rul_policy *pol = m->pol;
	map_set **ms = m->ms;
	FILE *log = m->log;
	const char *kind = l->kind, *uname = l->user, *id = l->identity;
	const char *method = l->method, *header = l->header;
	const char *reason = l->reason;
	long long until = l->until;
	char value[512];
	const rul_user *u = rul_user_named(pol, uname);
	const char *text = strcmp(reason, "spam") == 0
	    || strcmp(reason, "invalid") == 0
	    || strcmp(reason, "manual") == 0 ? cfg->lock_reply
	    : cfg->limit_reply;

	if (u == NULL)
		return;	/* no longer configured */
	/* several locks on one key: the longest-lasting (first) wins */
	if (m->prev_kind != NULL && strcmp(m->prev_kind, kind) == 0
	    && strcmp(m->prev_user, uname) == 0
	    && strcmp(m->prev_id, id) == 0)
		return;
	free(m->prev_kind);
	free(m->prev_user);
	free(m->prev_id);
	m->prev_kind = xstrdup(kind);
	m->prev_user = xstrdup(uname);
	m->prev_id = xstrdup(id);
	/* quarantine_response = accepted: take the mail and hold it */
	reply(value, sizeof(value), accepted(cfg, u, reason) ? "HOLD"
	    : "450 4.7.1", text, reason, until);
	if (strcmp(kind, "user") == 0) {
		icl_user_locked(m->icl, u);
		if (u->type == RUL_IP)
			return;	/* below, with every CIDR */
		add(ms[0], u->name, value, log);
		if (u->type == RUL_DOMAIN && u->cfg->match_sender_domain)
			add(ms[2], u->name, value, log);
		return;
	}
	if (method == NULL)
		return;
	if (strcmp(method, "auth_user") == 0) {
		add(ms[0], id, value, log);
	} else if (strcmp(method, "envelope_sender") == 0) {
		ana_sender_lock(m->icl, u, id, value, until, ms[2], ms[8],
		    m->utf8, log);
	} else if (header != NULL) {
		/* no 4xx action in header_checks: REJECT 4.7.1 -> 451;
		 * dry-run: WARN logs the match and takes the mail */
		reply(value, sizeof(value), cfg_dry_run(cfg) ? "WARN"
		    : accepted(cfg, u, reason) ? "HOLD" : "REJECT 4.7.1",
		    text, reason, until);
		header_values(m->st, pol, u, header, id, ms[3], value, log);
	}
}

/* ana_maps - the Postfix maps from the locks, and the static rules */
int
ana_maps(const rg_config *cfg, const rul_policy *pol, rg_store *st,
    long long now, int dry_run, FILE *log, ana_result *res, char *err,
    size_t errsz)
{
	static const char *names[] = { "sasl_access", "client_access",
	    "sender_access", "header_checks", "sender_bcc", "admin_access",
	    "archive_sasl", "archive_client", "sender_access_pcre" };
	enum { NMAPS = sizeof(names) / sizeof(names[0]) };
	map_set *ms[NMAPS];
	int utf8 = rul_fold_utf8(pol), failed = 0;
	char ferr[1024] = "";
	map_writer_cfg wc;
	char postmap[1100];
	icl_pool *icl = icl_new(cfg, pol);
	lk_store *lk = lk_open_sqlite(st);
	maps_ctx mc;
	const char **cidrs;
	const rul_user **owners;
	int i, n, rc = 0, reload = 0;
	char value[512];
	map_pg *pg = NULL;

	ms[0] = map_set_new(MAP_SASL);
	ms[1] = map_set_new(MAP_CLIENT_CIDR);
	ms[2] = map_set_new(MAP_SENDER);
	ms[3] = map_set_new(MAP_HEADER_PCRE);
	ms[4] = map_set_new(MAP_BCC);
	ms[5] = map_set_new(MAP_SENDER);
	ms[6] = map_set_new(MAP_SASL);
	ms[7] = map_set_new(MAP_CLIENT_CIDR);
	ms[8] = map_set_new(MAP_SENDER_PCRE);
	for (i = 0; i < NMAPS; i++)
		map_set_utf8(ms[i], utf8);
	(void)now;
	memset(&mc, 0, sizeof(mc));
	mc.cfg = cfg;
	mc.pol = pol;
	mc.st = st;
	mc.icl = icl;
	mc.ms = ms;
	mc.utf8 = utf8;
	mc.log = log;
	rc = lk_each(lk, NULL, LK_MAPS, map_lock, &mc, err, errsz);
	free(mc.prev_kind);
	free(mc.prev_user);
	free(mc.prev_id);
	if (rc != 0)
		goto out;
	if (ana_classes(icl, pol, st, dry_run, ms[0], log, err, errsz) != 0) {
		rc = -1;
		goto out;
	}
	/*
	 * the IP users' networks, most specific first (Postfix's cidr tables
	 * take the first match in file order): the locked ones, and DUNNO for
	 * each unlocked network inside a locked one, so that it is not locked
	 * with its container; the same for archiving (BCC). Unlocked networks
	 * inside nothing locked are left out: a short table is fast for
	 * Postfix, which reads a cidr table from the top at every connection.
	 */
	n = rul_cidrs(pol, &cidrs, &owners);
	if (n > 0) {
		char **val = xcalloc((size_t)n, sizeof(char *));
		int *locked = xcalloc((size_t)n + 1, sizeof(int));
		int *arch = xcalloc((size_t)n + 1, sizeof(int));
		const char *cv;
		int nl = 0, na = 0, j;

		for (i = 0; i < n; i++) {
			char reason[64];
			long long until;

			if (lk_longest(lk, owners[i]->name, reason,
			    sizeof(reason), &until)) {
				reply(value, sizeof(value), accepted(cfg,
				    owners[i], reason) ? "HOLD" : "450 4.7.1",
				    strcmp(reason, "spam") == 0 || strcmp(reason,
				    "invalid") == 0 || strcmp(reason, "manual") == 0
				    ? cfg->lock_reply : cfg->limit_reply, reason,
				    until);
				val[i] = xstrdup(value);
				locked[nl++] = i;
			} else if ((cv = icl_value(icl, owners[i])) != NULL) {
				/* its identity locks' class, or escalated */
				val[i] = xstrdup(cv);
				locked[nl++] = i;
			}
			if (owners[i]->cfg->archive)
				arch[na++] = i;
		}
		for (i = 0; i < n; i++) {
			if (val[i] != NULL) {
				add(ms[1], cidrs[i], val[i], log);
			} else {
				for (j = 0; j < nl; j++)
					if (rul_cidr_within(pol, i, locked[j]))
						break;
				if (j < nl)
					add(ms[1], cidrs[i], "DUNNO", log);
			}
			/* archiving: checked first, even for the admin contact */
			if (owners[i]->cfg->archive) {
				snprintf(value, sizeof(value), "BCC %s",
				    owners[i]->cfg->archive_address);
				add(ms[7], cidrs[i], value, log);
			} else {
				for (j = 0; j < na; j++)
					if (rul_cidr_within(pol, i, arch[j]))
						break;
				if (j < na)
					add(ms[7], cidrs[i], "DUNNO", log);
			}
			free(val[i]);
		}
		free(val);
		free(locked);
		free(arch);
	}
	/* archiving: the access map's BCC action (Postfix >= 3.0) for logins,
	 * and sender_bcc_maps for a domain's envelope senders */
	for (i = 0; i < rul_nusers(pol); i++) {
		const rul_user *u = rul_user_at(pol, i);
		char k[300];

		if (!u->cfg->archive || u->type == RUL_IP)
			continue;
		snprintf(value, sizeof(value), "BCC %s", u->cfg->archive_address);
		add(ms[6], u->name, value, log);
		if (u->type == RUL_DOMAIN && u->cfg->match_sender_domain) {
			snprintf(k, sizeof(k), "@%s", u->name);
			add(ms[4], k, u->cfg->archive_address, log);
		}
	}
	/* the administrator's address gets through the locks */
	if (*cfg->admin_contact)
		add(ms[5], cfg->admin_contact, "OK", log);

	log_phase("maps: contents");
	memset(&wc, 0, sizeof(wc));
	wc.directory = cfg->map_directory;
	wc.type = cfg->map_type;
	wc.config_directory = cfg->postfix_config_directory;
	snprintf(postmap, sizeof(postmap), "%s/postmap", cfg->command_directory);
	wc.postmap = postmap;
	wc.timeout_ms = cfg->command_timeout * 1000;
	/* map_backend = pgsql: no connection, nothing written (exit 75) */
	if (!dry_run && map_pg_enabled(cfg) && (wc.pg = pg = map_pg_open(cfg,
	    err, errsz)) == NULL) {
		rc = -1;
		goto out;
	}
	/* the class tables before the maps that name the classes */
	if (icl_write(icl, &wc, dry_run, log, &n, &reload, ferr,
	    sizeof(ferr)) != 0)
		map_failed(log, "rg_senders", ferr, &failed, err, errsz);
	res->maps_changed += n;
	for (i = 0; i < NMAPS; i++) {
		int changed = 0;

		if (dry_run) {
			strbuf sb;

			sb_init(&sb);
			map_render(ms[i], &sb);
			fprintf(log, "# %s/%s (%s)\n%s", cfg->map_directory,
			    names[i], map_kind_name(map_set_kind(ms[i])), sb.s);
			sb_free(&sb);
			continue;
		}
		if (map_write(&wc, names[i], ms[i], &changed, ferr,
		    sizeof(ferr)) != 0) {
			/* one failed map never keeps the others from Postfix */
			map_failed(log, names[i], ferr, &failed, err, errsz);
			if (!changed)
				continue;
		}
		if (changed) {
			char what[64];

			snprintf(what, sizeof(what), "maps: %s", names[i]);
			log_phase(what);
		}
		if (changed) {
			res->maps_changed++;
			fprintf(log, "action=map name=%s entries=%zu\n", names[i],
			    map_set_count(ms[i]));
			if (map_set_kind(ms[i]) == MAP_CLIENT_CIDR
			    || map_set_kind(ms[i]) == MAP_HEADER_PCRE
			    || map_set_kind(ms[i]) == MAP_SENDER_PCRE)
				reload = 1;	/* read at process start */
		}
	}
	/* the pgsql maps staged above: one transaction */
	if (pg != NULL && map_pg_commit(pg, log, &n, ferr, sizeof(ferr)) != 0)
		map_failed(log, "pgsql", ferr, &failed, err, errsz);
	else if (pg != NULL)
		res->maps_changed += n;
	if (!dry_run) {
		strbuf info, strip;
		char path[1100];
		int ch1 = 0, ch2 = 0, ch4 = 0;

		sb_init(&info);
		sb_init(&strip);
		ana_static(cfg, &info, &strip);
		snprintf(path, sizeof(path), "%s/header_static", cfg->map_directory);
		if (ana_write_file(path, info.s, &ch1, ferr, sizeof(ferr)) != 0)
			map_failed(log, "header_static", ferr, &failed, err,
			    errsz);
		snprintf(path, sizeof(path), "%s/smtp_header_checks",
		    cfg->map_directory);
		if (ana_write_file(path, strip.s, &ch2, ferr, sizeof(ferr)) != 0)
			map_failed(log, "smtp_header_checks", ferr, &failed, err,
			    errsz);
		sb_reset(&info);
		ana_milter_static(&info);
		snprintf(path, sizeof(path), "%s/milter_header_checks",
		    cfg->map_directory);
		if (ana_write_file(path, info.s, &ch4, ferr, sizeof(ferr)) != 0)
			map_failed(log, "milter_header_checks", ferr, &failed,
			    err, errsz);
		/* rspamd re-reads a changed map by itself: no reload */
		{
			int ch3 = 0;

			sb_reset(&info);
			ana_dkim(cfg, &info);
			snprintf(path, sizeof(path), "%s/dkim_selectors",
			    cfg->map_directory);
			if (ana_write_file(path, info.s, &ch3, ferr,
			    sizeof(ferr)) != 0)
				map_failed(log, "dkim_selectors", ferr, &failed,
				    err, errsz);
			else if (ch3)
				fprintf(log, "action=map name=dkim_selectors\n");
		}
		sb_free(&info);
		sb_free(&strip);
		if (ch1 || ch2 || ch4)
			reload = 1;
	}
	if (reload && geteuid() != 0) {
		request_reload(cfg, log);
	} else if (reload) {
		/* cidr: and pcre: maps are read at process start */
		static const char *status_args[] = { "status", NULL };
		static const char *reload_args[] = { "reload", NULL };
		char why[512];
		int code;

		if (ana_command(cfg, "postfix", status_args, NULL, &code, why,
		    sizeof(why)) != 0) {
			/* hung or missing: the new cidr/pcre maps are not live */
			fprintf(log, "action=reload result=failed reason=\"%s\" "
			    "postfix=%s\n", why, cfg->postfix_config_directory);
			if (rc == 0) {
				snprintf(err, errsz, "%s", why);
				rc = -1;
			}
		} else if (code != 0) {
			/* not running: it reads the new maps when it starts */
			fprintf(log, "action=reload result=skipped reason=\"Postfix "
			    "is not running\" postfix=%s\n",
			    cfg->postfix_config_directory);
		} else if (ana_command(cfg, "postfix", reload_args, NULL, &code,
		    why, sizeof(why)) == 0 && code == 0) {
			res->reloaded = 1;
			fprintf(log, "action=reload postfix=%s\n",
			    cfg->postfix_config_directory);
		} else {
			if (code < 0 && rc == 0) {	/* hung or missing */
				snprintf(err, errsz, "%s", why);
				rc = -1;
			}
			if (*why == '\0')
				snprintf(why, sizeof(why), "exit status %d", code);
			fprintf(log, "action=reload result=failed reason=\"%s\" "
			    "postfix=%s\n", why, cfg->postfix_config_directory);
		}
	}
	if (failed > 0) {
		size_t l = strlen(err);

		if (failed > 1 && l < errsz)
			snprintf(err + l, errsz - l, " (and %d more maps not "
			    "written)", failed - 1);
		rc = -1;	/* every other map was written all the same */
	}
out:
	for (i = 0; i < NMAPS; i++)
		map_set_free(ms[i]);
	icl_free(icl);
	lk_close(lk);
	map_pg_free(pg);
	return rc;
}

/* ana_manual - lock, unlock or reset by hand */
int
ana_manual(const rg_config *cfg, const rul_policy *pol, rg_store *st,
    const char *action, const char *kind, const char *name,
    const char *reason, long long seconds, long long now, FILE *log,
    char *err, size_t errsz)
{
	ctx c;
	const rul_user *u;
	const char *user, *identity = NULL, *method = NULL, *header = NULL;
	const char *given_id = NULL, *why;
	ana_result res;
	char idbuf[512], fold_id[512];
	int rc = -1;

	memset(&c, 0, sizeof(c));
	memset(&res, 0, sizeof(res));
	c.cfg = cfg;
	c.pol = pol;
	c.st = st;
	c.now = now;
	c.log = log;
	c.res = &res;
	c.err = err;
	c.errsz = errsz;
	if (strcmp(kind, "user") == 0) {
		if ((u = rul_user_named(pol, name)) == NULL) {
			snprintf(err, errsz, "no [user %s] in the configuration",
			    name);
			return -1;
		}
		user = u->name;
	} else {
		/* identity: "USER/IDENTITY" or an identity of the only user */
		const char *slash = strchr(name, '/');

		if (slash != NULL) {
			/* a CIDR user's name has a slash itself: the first
			 * prefix that names a user */
			do {
				snprintf(idbuf, sizeof(idbuf), "%.*s",
				    (int)(slash - name), name);
				u = rul_user_named(pol, idbuf);
				identity = slash + 1;
			} while (u == NULL
			    && (slash = strchr(slash + 1, '/')) != NULL);
		} else if (rul_nusers(pol) == 1) {
			u = rul_user_at(pol, 0);
			identity = name;
		} else {
			u = NULL;
		}
		if (u == NULL || *identity == '\0') {
			snprintf(err, errsz, "name an identity as USER/IDENTITY "
			    "(a configured user)");
			return -1;
		}
		user = u->name;
		method = u->cfg->identification;
		if (strcmp(method, "header") == 0 && u->cfg->identity_headers.n)
			header = u->cfg->identity_headers.v[0];
		else {
			/* as counted: folded as Postfix's lookup folds it */
			const char *hn;

			if (!rul_identity(pol, u, identity, identity, NULL, 0,
			    fold_id, sizeof(fold_id), &hn)) {
				snprintf(err, errsz, "identity \"%s\" is too "
				    "long or empty", identity);
				return -1;
			}
			given_id = identity;
			identity = fold_id;
		}
		if (strcmp(action, "lock") == 0 && (why = ana_enforceable(pol,
		    method, header, identity)) != NULL) {
			char shown[512];
			size_t i;

			/* control characters shown as '?' */
			snprintf(shown, sizeof(shown), "%s", identity);
			for (i = 0; shown[i] != '\0'; i++)
				if ((unsigned char)shown[i] < 0x20
				    || shown[i] == 0x7f)
					shown[i] = '?';
			snprintf(err, errsz, "identity \"%s\" of %s is not "
			    "enforceable: as a Postfix map key it %s; not "
			    "locked", shown, user, why);
			return -1;
		}
	}
	if (store_begin(st) != 0) {
		snprintf(err, errsz, "%s", store_error(st));
		return -1;
	}
	c.lk = lk_open_sqlite(st);
	/* the next analyzer run decides this user again */
	if (aix_pend(st, user, err, errsz) != 0)
		goto out;
	if (strcmp(action, "lock") == 0) {
		char det[300];
		long long until = seconds > 0 ? now + seconds * 1000000LL : 0;

		snprintf(det, sizeof(det), "reason=\"%s\"", reason ? reason : "");
		if (event(&c, now, "lock", kind, user, identity, "manual", det)
		    != 0 || exec_lock(&c, kind, user, identity, method, header,
		    "manual", reason, now, until, 0) != 0)
			goto out;
	} else if (strcmp(action, "unlock") == 0) {
		if (event(&c, now, "unlock", kind, user, identity, "manual",
		    NULL) != 0)
			goto out;
		/* given_id: the name as given, for a lock stored before
		 * identities were folded */
		if (lk_delete_any(c.lk, kind, user, identity, given_id, err,
		    errsz) != 0)
			goto out;

		/* spam counted from now on: the old spam is not counted again */
		{
			long long cnt, last;

			unlock_info(&c, kind, user, identity, &cnt, &last);
			if (set_unlocks(&c, kind, user, identity, cnt,
			    now > last ? now : last) != 0)
				goto out;
		}
	} else if (strcmp(action, "reset") == 0) {
		long long cnt, last;

		unlock_info(&c, kind, user, identity, &cnt, &last);
		if (event(&c, now, "reset", kind, user, identity, "manual",
		    NULL) != 0 || set_unlocks(&c, kind, user, identity, 0, last)
		    != 0)
			goto out;
	}
	if (store_commit(st) != 0) {
		snprintf(err, errsz, "%s", store_error(st));
		goto out;
	}
	lk_close(c.lk);
	return 0;
out:
	store_rollback(st);
	lk_close(c.lk);
	return rc;
}

/* ---- the static Postfix pieces ---- */

/* header_names - every identity header: [parse] and the users' */
static int
header_names(const rg_config *cfg, const char **out, int max)
{
	int n = 0, i, j, k;

	for (i = -1; i < cfg->nusers; i++) {
		const cfg_list *l = i < 0 ? &cfg->headers
		    : &cfg->users[i].identity_headers;

		for (j = 0; j < l->n; j++) {
			for (k = 0; k < n; k++)
				if (strcasecmp(out[k], l->v[j]) == 0)
					break;
			if (k == n && n < max)
				out[n++] = l->v[j];
		}
	}
	return n;
}

/* pcre_name - a header name as a pcre literal */
static void
pcre_name(strbuf *sb, const char *name)
{
	for (; *name; name++) {
		if (!((*name >= 'a' && *name <= 'z') || (*name >= 'A'
		    && *name <= 'Z') || (*name >= '0' && *name <= '9')))
			sb_addc(sb, '\\');
		sb_addc(sb, *name);
	}
}

/* ana_static - the fixed header_checks and smtp_header_checks rules */
void
ana_static(const rg_config *cfg, strbuf *info, strbuf *strip)
{
	const char *names[64];
	int n = header_names(cfg, names, 64), i, j;

	sb_adds(info, "# relayguard: log every identity header (INFO)\n");
	for (i = 0; i < n; i++) {
		sb_adds(info, "/^");
		pcre_name(info, names[i]);
		sb_adds(info, ":/ INFO\n");
	}
	sb_adds(strip, "# relayguard: identity headers removed before "
	    "delivery (smtp only)\n");
	for (j = 0; j < cfg->nidheaders; j++) {
		if (!cfg->idheaders[j].remove)
			continue;
		sb_adds(strip, "/^");
		pcre_name(strip, cfg->idheaders[j].name);
		sb_adds(strip, ":/ IGNORE\n");
	}
}

/*
 * ana_milter_static - milter_header_checks (postfix-config --filter): the
 * spam headers a milter adds (rspamd's X-Spam) logged as INFO, a verdict
 */
void
ana_milter_static(strbuf *out)
{
	sb_adds(out, "# relayguard: log the spam headers a milter (rspamd) "
	    "adds: a verdict\n/^X-Spam(-Status|-Flag)?:/ INFO\n");
}

/* cmp_domain - [domain] sections by name, case-insensitive */
static int
cmp_domain(const void *x, const void *y)
{
	return strcasecmp((*(const rg_domain_cfg *const *)x)->name,
	    (*(const rg_domain_cfg *const *)y)->name);
}

/*
 * ana_dkim - rspamd's dkim_signing selector_map: "DOMAIN SELECTOR" for
 * every [domain NAME] with a dkim_selector, domains lower-cased (as rspamd
 * looks them up), sorted. The names are checked by the loader: letters,
 * digits, '-' and '.' only.
 */
void
ana_dkim(const rg_config *cfg, strbuf *out)
{
	const rg_domain_cfg **v = xcalloc((size_t)cfg->ndomains + 1,
	    sizeof(*v));
	int i, n = 0;
	const char *p;

	for (i = 0; i < cfg->ndomains; i++)
		if (*cfg->domains[i].dkim_selector)
			v[n++] = &cfg->domains[i];
	qsort(v, (size_t)n, sizeof(*v), cmp_domain);
	sb_adds(out, "# relayguard: DKIM selectors by domain (rspamd "
	    "dkim_signing selector_map)\n");
	for (i = 0; i < n; i++) {
		for (p = v[i]->name; *p; p++)
			sb_addc(out, (char)tolower((unsigned char)*p));
		sb_printf(out, " %s\n", v[i]->dkim_selector);
	}
	free(v);
}

/* write_file - replace path atomically with content, if it differs */
int
ana_write_file(const char *path, const char *content, int *changed,
    char *err, size_t errsz)
{
	char tmp[1100];
	FILE *fp;
	size_t n = strlen(content);

	*changed = 0;
	if ((fp = fopen(path, "r")) != NULL) {
		char *old = xmalloc(n + 2);
		size_t r = fread(old, 1, n + 1, fp);

		fclose(fp);
		if (r == n && memcmp(old, content, n) == 0) {
			free(old);
			return 0;
		}
		free(old);
	}
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	/* 0644 whatever the umask: Postfix and rspamd run as other users */
	if ((fp = fopen(tmp, "w")) == NULL || fchmod(fileno(fp), 0644) != 0
	    || fwrite(content, 1, n, fp) != n || fflush(fp) != 0
	    || fsync(fileno(fp)) != 0) {
		snprintf(err, errsz, "%s: %s", tmp, strerror(errno));
		if (fp)
			fclose(fp);
		unlink(tmp);
		return -1;
	}
	fclose(fp);
	if (rename(tmp, path) != 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	*changed = 1;
	return 0;
}

/* ---- maximum days to retry ---- */

/*
 * ana_command - run a Postfix command (postfix, postqueue, postsuper,
 * postconf) of command_directory, bounded by command_timeout
 */
int
ana_command(const rg_config *cfg, const char *prog, const char *const *args,
    strbuf *out, int *code, char *why, size_t whysz)
{
	char path[1100], desc[256];
	const char *argv[32];
	proc_req rq;
	proc_res rs;
	strbuf eout;
	int n = 0, rc;

	*code = -1;
	why[0] = '\0';
	snprintf(path, sizeof(path), "%s/%s", cfg->command_directory, prog);
	argv[n++] = path;
	argv[n++] = "-c";
	argv[n++] = cfg->postfix_config_directory;
	while (*args != NULL && n < 31)
		argv[n++] = *args++;
	argv[n] = NULL;
	if (*args != NULL) {
		/* never run a command with its arguments cut short */
		snprintf(why, whysz, "%s: more than 28 arguments", path);
		return -1;
	}
	memset(&rq, 0, sizeof(rq));
	rq.argv = (char *const *)argv;
	rq.errmax = 2000;
	rq.timeout_ms = cfg->command_timeout * 1000;
	sb_init(&eout);
	rs.out = out;
	rs.err = &eout;
	rc = proc_run(&rq, &rs);
	if (rc != 0) {
		proc_describe(rc, &rq, &rs, desc, sizeof(desc));
		snprintf(why, whysz, "%s %s: %s", path, argv[3] ? argv[3] : "",
		    desc);
		sb_free(&eout);
		return -1;
	}
	if (WIFEXITED(rs.status))
		*code = WEXITSTATUS(rs.status);
	else
		*code = 128 + (WIFSIGNALED(rs.status) ? WTERMSIG(rs.status) : 0);
	if (*code != 0) {
		size_t i;

		for (i = 0; i < eout.len; i++)
			if ((unsigned char)eout.s[i] < 0x20 || eout.s[i] == '"')
				eout.s[i] = ' ';
		proc_describe(rc, &rq, &rs, desc, sizeof(desc));
		snprintf(why, whysz, "%s %s: %s%s%.300s", path,
		    argv[3] ? argv[3] : "", desc, eout.len ? ": " : "",
		    eout.len ? eout.s : "");
	}
	sb_free(&eout);
	return 0;
}

/*
 * queue_entry - one postqueue -j object: its queue ID, queue name, arrival
 * time (seconds) and sender; 0, or -1 if it lacks one of them
 */
static int
queue_entry(const json_value *o, const char **qid, const char **qname,
    long long *arrival, const char **sender)
{
	double t;

	if ((*qid = json_str(o, "queue_id")) == NULL
	    || (*qname = json_str(o, "queue_name")) == NULL
	    || (*sender = json_str(o, "sender")) == NULL
	    || json_num(o, "arrival_time", &t) != 0 || t < 0 || t > 1e11)
		return -1;
	*arrival = (long long)t;
	return 0;
}

/*
 * ana_expire_queue - mail of a user with max_days_to_retry that has waited
 * longer in the queue is force-expired (postsuper -f): Postfix returns it to
 * its sender at the next delivery attempt.
 */
int
ana_expire_queue(const rg_config *cfg, const rul_policy *pol, rg_store *st,
    long long now, int dry_run, FILE *log, char *err, size_t errsz)
{
	static const char *json_args[] = { "-j", NULL };
	char why[1024], jerr[128];
	ard_queue *q;
	strbuf out;
	size_t off, end;
	int i, any = 0, code, rc = 0;

	for (i = 0; i < rul_nusers(pol); i++)
		if (rul_user_at(pol, i)->cfg->max_days_to_retry > 0)
			any = 1;
	if (!any)
		return 0;
	if ((q = ard_queue_new(st, err, errsz)) == NULL)
		return -1;
	sb_init(&out);
	if (ana_command(cfg, "postqueue", json_args, &out, &code, why,
	    sizeof(why)) != 0) {
		snprintf(err, errsz, "%s", why);
		ard_queue_free(q);
		sb_free(&out);
		return -1;
	}
	if (code != 0) {
		/* the mail system is down, say: nothing to expire now */
		fprintf(log, "action=expire result=skipped reason=\"%s\"\n",
		    why);
		ard_queue_free(q);
		sb_free(&out);
		return 0;
	}
	/* one JSON object per line */
	for (off = 0; off < out.len; off = end + 1) {
		char *sasl, *ip;
		const char *qid, *qname, *sender;
		const rul_user *u;
		json_value *o;
		long long arrival, age;

		for (end = off; end < out.len && out.s[end] != '\n'; end++)
			;
		if (end == off)
			continue;
		if ((o = json_parse(out.s + off, end - off, jerr,
		    sizeof(jerr))) == NULL || queue_entry(o, &qid, &qname,
		    &arrival, &sender) != 0) {
			log_warnx("postqueue -j: a line not understood (%s); "
			    "skipped", o == NULL ? jerr : "a field is missing");
			json_free(o);
			continue;
		}
		if (strcmp(qname, "hold") == 0) {	/* quarantine: the admin's */
			json_free(o);
			continue;
		}
		ard_queue_owner(q, qid, &sasl, &ip);
		u = rul_user_of(pol, sasl, ip, sender);
		free(sasl);
		free(ip);
		age = now - arrival * 1000000LL;
		if (u == NULL || u->cfg->max_days_to_retry <= 0
		    || age <= u->cfg->max_days_to_retry * 86400LL * 1000000LL
		    || *qid == '\0' || strspn(qid, "0123456789ABCDEFGHIJKLMNOPQRST"
		    "UVWXYZabcdefghijklmnopqrstuvwxyz") != strlen(qid)) {
			json_free(o);
			continue;
		}
		fprintf(log, "action=expire kind=user user=\"%s\" queue_id=%s "
		    "age=%llds max_days_to_retry=%lld%s\n", u->name, qid,
		    age / 1000000, u->cfg->max_days_to_retry,
		    dry_run ? " dry_run=yes" : "");
		if (!dry_run) {
			const char *sargs[] = { "-f", qid, NULL };

			if (ana_command(cfg, "postsuper", sargs, NULL, &code, why,
			    sizeof(why)) != 0 || code != 0) {
				fprintf(log, "action=expire result=failed "
				    "queue_id=%s reason=\"%s\"\n", qid, why);
				if (code < 0)	/* timed out: the rest can wait */
					rc = -1, snprintf(err, errsz, "%s", why);
			}
		}
		json_free(o);
		if (rc != 0)
			break;
	}
	ard_queue_free(q);
	sb_free(&out);
	return rc;
}

/* ---- counts for `users` ---- */

/* the counts being made for `users` */
typedef struct counts_ctx {
	const rul_policy *pol;
	ana_count *cnt;
	uvec *rc;
	long long now;
} counts_ctx;

/* count_spam - a spam verdict: counted if trusted, in its user's window */
static void
count_spam(void *arg, const ard_msg *m)
{
	counts_ctx *cc = arg;
	const rul_user *u = rul_user_of(cc->pol, m->sasl, m->ip, m->sender);

	if (u != NULL && rul_trusted(cc->pol, m->source) && m->t > cc->now
	    - u->cfg->spam_lock_window * 1000000LL)
		cc->cnt[u - rul_user_at(cc->pol, 0)].spam++;
}

/* count_session - a session that queued mail: the month, week, hour, minute */
static void
count_session(void *arg, long long t, const char *sasl, const char *ip)
{
	counts_ctx *cc = arg;
	const rul_user *u = rul_user_of(cc->pol, sasl, ip, NULL);
	int k;

	if (u == NULL)
		return;
	k = (int)(u - rul_user_at(cc->pol, 0));
	cc->cnt[k].sessions_month++;
	if (t > cc->now - 7 * 86400 * 1000000LL)
		cc->cnt[k].sessions_week++;
	if (t > cc->now - 3600 * 1000000LL)
		cc->cnt[k].sessions_hour++;
	if (t > cc->now - 60 * 1000000LL)
		cc->cnt[k].sessions_minute++;
}

/* count_rcpt - a recipient: invalid in its window, or one of the day's */
static void
count_rcpt(void *arg, const ard_rcpt *r)
{
	counts_ctx *cc = arg;
	const rul_user *u = rul_user_of(cc->pol, r->sasl, r->ip, r->sender);
	int k;

	if (u == NULL || r->address == NULL)
		return;
	k = (int)(u - rul_user_at(cc->pol, 0));
	if (r->dsn != NULL && strncmp(r->dsn, "5.1.", 4) == 0 && r->status
	    && (strcmp(r->status, "bounced") == 0 || strcmp(r->status,
	    "rejected") == 0) && r->t > cc->now
	    - u->cfg->invalid_recipient_window * 1000000LL)
		cc->cnt[k].invalid++;
	if (r->t > cc->now - 86400 * 1000000LL && strcmp(r->kind, "message")
	    == 0 && !(u->cfg->archive && strcasecmp(r->address,
	    u->cfg->archive_address) == 0))
		uvec_add(&cc->rc[k], r->t, r->address);
}

/* ana_counts - each user's counts in its windows, at now (nusers rows) */
ana_count *
ana_counts(const rg_config *cfg, const rul_policy *pol, rg_store *st,
    long long now)
{
	int nu = rul_nusers(pol), k;
	ana_count *cnt = xcalloc((size_t)nu + 1, sizeof(ana_count));
	long long maxwin = 0, invwin = 0, win;
	counts_ctx cc;
	uvec *rc;

	(void)cfg;
	for (k = 0; k < nu; k++) {
		const rg_user_cfg *uc = rul_user_at(pol, k)->cfg;

		if (uc->spam_lock_window > maxwin)
			maxwin = uc->spam_lock_window;
		if (uc->invalid_recipient_window > invwin)
			invwin = uc->invalid_recipient_window;
	}
	rc = xcalloc((size_t)nu + 1, sizeof(uvec));
	cc.pol = pol;
	cc.cnt = cnt;
	cc.rc = rc;
	cc.now = now;
	/* trusted spam within the longest spam window */
	ard_spam_in(st, now - maxwin * 1000000LL, now, count_spam, &cc);
	/* sessions that queued mail: the last minute, hour, week, 30 days */
	ard_sessions_in(st, now - 30 * 86400 * 1000000LL, now, count_session,
	    &cc);
	/* distinct recipients in 24 hours; invalid ones in each window */
	win = invwin > 86400 ? invwin : 86400;
	ard_recipients_in(st, now - win * 1000000LL, now, count_rcpt, &cc);
	for (k = 0; k < nu; k++) {
		size_t i, j;

		/* distinct addresses: few per user, a quadratic check is fine
		 * for the sizes `users` shows; sort for large ones */
		if (rc[k].n > 64) {
			struct at { const char *a; long long t; } *pairs =
			    xcalloc(rc[k].n, sizeof(*pairs));

			for (i = 0; i < rc[k].n; i++)
				pairs[i].a = rc[k].addr[i];
			qsort(pairs, rc[k].n, sizeof(*pairs), cmp_addr_t);
			for (i = 0; i < rc[k].n; i++)
				if (i == 0 || strcasecmp(pairs[i].a,
				    pairs[i - 1].a) != 0)
					cnt[k].recipients_day++;
			free(pairs);
			continue;
		}
		for (i = 0; i < rc[k].n; i++) {
			for (j = 0; j < i; j++)
				if (strcasecmp(rc[k].addr[i], rc[k].addr[j]) == 0)
					break;
			if (j == i)
				cnt[k].recipients_day++;
		}
	}
	uvecs_free(rc, nu + 1);
	return cnt;
}
