/*
 * test_lean.c - a finished record stored by the store (its row, child rows
 * and the lean blob of store/recblob.c) reads back as the same
 * JSON, byte for byte, as rec_json writes the record: random records with
 * what the lean form leaves out or folds (repeated and unsorted header
 * names, a NULL address, responses that are the reply code and DSN, the
 * previous recipient's or the reject text, relays repeated or new, every
 * verdict source), then a batch rolled back (its relay numbers gone) and
 * one committed after it. Random open messages' full states (schema 8,
 * with delivery histories) in the lean open form (schema 9): rebuilt
 * from their rows byte for byte. Sessions' counters, packed or kept as
 * text, read back as the same JSON.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../collector/assemble.h"
#include "../../store/record.h"
#include "../../common/arena.h"
#include "../../common/strbuf.h"
#include "../../store/store_int.h"
#include "unit.h"

#define rnd unit_rnd

/* pick - one of the strings, or NULL (a fifth of the time if nullable) */
static char *
pick(rg_arena *ar, const char *const *v, int n, int nullable)
{
	const char *s;

	if (nullable && rnd(5) == 0)
		return NULL;
	s = v[rnd((unsigned)n)];
	return rg_arena_str(ar, s, strlen(s));
}

#define N(v) ((int)(sizeof(v) / sizeof(v[0])))

static const char *const hnames[] = { "Subject", "X-Client-ID", "From",
    "subject", "X-Spam", "A", "\xc3\xa9t\xc3\xa9", "Z\"q" };
static const char *const hvalues[] = { "tenant-7", "", "hello \"world\"",
    "\x01\x7f?", "a\\b" };
static const char *const relays[] = { "127.0.0.1[127.0.0.1]:25",
    "mx.example.org[192.0.2.1]:25", "none", "" };
static const char *const dsns[] = { "2.0.0", "4.4.1", "5.1.1", "" };
static const char *const statuses[] = { "sent", "deferred", "bounced",
    "expired" };
static const char *const responses[] = { "250 2.0.0 Ok", "250 2.0.0",
    "250 2.0.0 Ok: queued as 4XyZ", "550 5.1.1 <x@y>: unknown",
    "451 4.4.1 timeout", "connect to mx: Connection refused", "999 x",
    "250 2.0.", "", "<x@y>: Relay access denied",
    "host 127.0.0.1[127.0.0.1] said: 550 5.1.1 unknown (in reply to RCPT TO)",
    "host mx.example.org[192.0.2.1] said: 451 4.4.1 later",
    "host mx.example.org[192.0.2.1] said: 250 2.0.0",
    "host none said: 550 5.1.1 x", "host 127.0.0.1[127.0.0.1]:25 said: 550 5.1.1 x" };
static const char *const texts[] = { "<x@y>: Relay access denied",
    "Recipient address rejected" };
static const char *const addrs[] = { "a@example.com", "b@example.org",
    "\"q\"@x", "" };

static int open_hist;	/* make gives recipients a delivery history */

/* make - a random finished record with id */
static void
make(rg_record *r, rg_pool *pool, uint64_t id)
{
	rg_arena *ar;
	int i, n;

	rec_init(r, pool);
	ar = &r->ar;
	r->id = id;
	r->host = rg_arena_str(ar, "relay", 5);
	if (rnd(4))
		snprintf(r->qid, sizeof(r->qid), "%llX", 0x4A000ULL + id);
	else
		r->noqueue = 1;
	r->first_seen = 1795885443000000LL + (long long)rnd(100000) * 1000;
	r->last_seen = r->first_seen + (long long)rnd(3) * 1000000;
	r->complete = rnd(4) != 0;
	r->stale = rnd(8) == 0;
	r->client_ip = pick(ar, addrs, N(addrs), 1);
	r->sender = pick(ar, addrs, N(addrs), 1);
	r->size = rnd(3) ? (long long)rnd(5000) : -1;
	r->nrcpt = rnd(3) ? (long long)rnd(4) : -1;
	r->pickup = rnd(6) == 0;
	r->held = rnd(8) == 0;
	r->was_held = rnd(8) == 0;
	r->discarded = rnd(9) == 0;
	r->expired = rnd(9) == 0;
	r->deleted = rnd(9) == 0;
	r->aborted = rnd(9) == 0;
	if (rnd(3) == 0) {
		r->rejected.stage = rg_arena_str(ar, "RCPT", 4);
		r->rejected.code = rnd(2) ? rg_arena_str(ar, "554", 3) : NULL;
		r->rejected.dsn = rg_arena_str(ar, "5.7.1", 5);
		r->rejected.text = pick(ar, texts, N(texts), 0);
	}
	n = (int)rnd(6);
	if (n > 0) {
		r->headers = rg_arena_alloc(ar, (size_t)n * sizeof(rg_header));
		r->hcap = n;
	}
	for (i = 0; i < n; i++) {
		r->headers[i].name = pick(ar, hnames, N(hnames), 0);
		r->headers[i].value = pick(ar, hvalues, N(hvalues), 0);
		r->headers[i].cut = rnd(4) == 0;
		r->nheaders++;
	}
	n = (int)rnd(5);
	if (n > 0) {
		r->rcpts = rg_arena_alloc(ar, (size_t)n * sizeof(rg_rcpt));
		r->rcap = n;
	}
	for (i = 0; i < n; i++) {
		rg_rcpt *rc = &r->rcpts[i];

		memset(rc, 0, sizeof(*rc));
		rc->address = rnd(10) ? pick(ar, addrs, N(addrs), 0) : NULL;
		rc->orig_to = rnd(4) ? NULL : pick(ar, addrs, N(addrs), 0);
		rc->status = pick(ar, statuses, N(statuses), 1);
		rc->dsn = pick(ar, dsns, N(dsns), 1);
		if (i > 0 && rnd(2))
			rc->relay = r->rcpts[i - 1].relay;
		else
			rc->relay = pick(ar, relays, N(relays), 1);
		rc->delay = rnd(3) ? rg_arena_str(ar, "0.01", 4) : NULL;
		if (i > 0 && rnd(3) == 0)
			rc->response = r->rcpts[i - 1].response;
		else if (rnd(4) == 0 && r->rejected.text != NULL)
			rc->response = r->rejected.text;
		else
			rc->response = pick(ar, responses, N(responses), 1);
		rc->attempts = (int)rnd(4);
		if (open_hist && rnd(2)) {
			int k, nh = 1 + (int)rnd(5);

			rc->hist = rg_arena_alloc(ar, 8 * sizeof(rg_attempt));
			for (k = 0; k < nh; k++) {
				rg_attempt *h = &rc->hist[k];

				h->ts = r->first_seen + (long long)rnd(4000) * 1000;
				h->status = k + 1 == nh && rnd(2) ? rc->status
				    : pick(ar, statuses, N(statuses), 1);
				h->dsn = k > 0 && rnd(2) ? rc->hist[k - 1].dsn
				    : pick(ar, dsns, N(dsns), 1);
				rc->nhist++;
			}
		}
		r->nrcpts++;
	}
	if (rnd(3) == 0) {
		r->verdict.source = (enum verdict_source)(1 + rnd(VS_RSPAMD));
		r->verdict.spam = (int)rnd(2);
		r->verdict.score = rnd(2) ? rg_arena_str(ar, "15.00", 5) : NULL;
		r->verdict.action = rnd(2) ? rg_arena_str(ar, "reject", 6) : NULL;
	}
}

typedef struct got {
	char **v;
	int n;
} got;

/* collect - store_each_json's callback: keep the finished ones' JSON */
static int
collect(void *arg, int open, const char *json, size_t len)
{
	got *g = arg;

	if (open)
		return 0;
	g->v = realloc(g->v, (size_t)(g->n + 1) * sizeof(char *));
	g->v[g->n++] = strndup(json, len);
	return 0;
}

/* collect_open - store_each_json's callback: keep the open ones' JSON */
static int
collect_open(void *arg, int open, const char *json, size_t len)
{
	return open ? collect(arg, 0, json, len) : 0;
}

/* cmp - qsort of strings */
static int
cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

#define NREC 400

/* roundtrip - store random records (a rolled back batch first), read
 * them back, compare */
static void
roundtrip(rg_store *st, rg_pool *pool, strbuf *sbp, char **want, got *gp)
{
	strbuf sb = *sbp;
	got g = *gp;
	int i, ok;

	/* a batch that rolls back: the relays it numbered vanish */
	CHECK(store_begin(st) == 0);
	for (i = 0; i < 20; i++) {
		rg_record r;

		make(&r, pool, 100000 + (uint64_t)i);
		CHECK(store_put_message(st, &r, NULL, 0) == 0);
		rec_free(&r);
	}
	store_rollback(st);
	unit_rnd_state = 42;
	CHECK(store_begin(st) == 0);
	for (i = 0; i < NREC; i++) {
		rg_record r;

		make(&r, pool, (uint64_t)i + 1);
		sb_reset(&sb);
		rec_json(&sb, &r);
		want[i] = strndup(sb.s, sb.len);
		CHECK(store_put_message(st, &r, NULL, 0) == 0);
		rec_free(&r);
	}
	CHECK(store_commit(st) == 0);
	CHECK(store_each_json(st, 0, collect, &g) == 0);
	CHECK(g.n == NREC);
	if (g.n != NREC)
		goto out;
	qsort(want, NREC, sizeof(char *), cmp);
	qsort(g.v, (size_t)g.n, sizeof(char *), cmp);
	ok = 1;
	for (i = 0; i < NREC && ok; i++)
		if (strcmp(want[i], g.v[i]) != 0) {
			fprintf(stderr, "want %s\n got  %s\n", want[i],
			    g.v[i]);
			ok = 0;
		}
	CHECK(ok);
out:
	*sbp = sb;
	*gp = g;
}

#define NOPEN 300

/*
 * open_roundtrip - random open messages stored as schema 8 did (the full
 * state beside the row): rg_open_lean (migration 9) turns every one into
 * the lean open form, which it accepts only if the rows and the lean form
 * give the full state back byte for byte, and each reads back as its JSON
 */
static void
open_roundtrip(rg_store *st, rg_pool *pool)
{
	sqlite3 *db = store_db(st);
	sqlite3_stmt *q;
	char *want[NOPEN];
	strbuf sb, js;
	got g = { NULL, 0 };
	int i, ok = 1, n = -1, lean = -1;

	sb_init(&sb);
	sb_init(&js);
	open_hist = 1;
	CHECK(store_begin(st) == 0);
	for (i = 0; i < NOPEN; i++) {
		rg_record r;
		rb_key k;

		make(&r, pool, 200000 + (uint64_t)i);
		if (r.qid[0] == '\0')
			snprintf(r.qid, sizeof(r.qid), "%X", 0xB000 + i);
		r.noqueue = 0;
		sb_reset(&js);
		rec_json(&js, &r);
		want[i] = strndup(js.s, js.len);
		sb_reset(&sb);
		rb_full(&sb, &r);
		memset(&k, 0, sizeof(k));
		k.id = r.id;
		k.seq = (uint64_t)i + 1;
		CHECK(store_put_message(st, &r, sb.s, sb.len) == 0);
		CHECK(store_put_open(st, &k, sb.s, sb.len) == 0);
		rec_free(&r);
	}
	CHECK(store_commit(st) == 0);
	open_hist = 0;
	CHECK(sqlite3_exec(db, "BEGIN; UPDATE open_msgs SET state = "
	    "rg_open_lean(id, state); SELECT rg_open_lean(NULL, NULL); COMMIT",
	    NULL, NULL, NULL) == SQLITE_OK);
	if (sqlite3_prepare_v2(db, "SELECT count(*), sum(hex(substr(state, 1, "
	    "1)) = '11') FROM open_msgs", -1, &q, NULL) == SQLITE_OK
	    && sqlite3_step(q) == SQLITE_ROW) {
		n = sqlite3_column_int(q, 0);
		lean = sqlite3_column_int(q, 1);
	}
	sqlite3_finalize(q);
	CHECK(n == NOPEN);
	CHECK(lean == NOPEN);
	CHECK(store_each_json(st, 0, collect_open, &g) == 0);
	CHECK(g.n == NOPEN);
	if (g.n == NOPEN) {
		qsort(want, NOPEN, sizeof(char *), cmp);
		qsort(g.v, (size_t)g.n, sizeof(char *), cmp);
		for (i = 0; i < NOPEN && ok; i++)
			if (strcmp(want[i], g.v[i]) != 0) {
				fprintf(stderr, "want %s\n got  %s\n", want[i],
				    g.v[i]);
				ok = 0;
			}
		CHECK(ok);
	}
	for (i = 0; i < NOPEN; i++)
		free(want[i]);
	for (i = 0; i < g.n; i++)
		free(g.v[i]);
	free(g.v);
	sb_free(&sb);
	sb_free(&js);
}

/*
 * counters_roundtrip - sessions' counters as smtpd writes them, and as it
 * does not (packed only when they read back the same): the same JSON
 */
static void
counters_roundtrip(rg_store *st, rg_pool *pool)
{
	static const char *const cs[] = {
	    "ehlo=1 mail=3 rcpt=4/6 data=3 quit=1 commands=12/14",
	    "ehlo=1 auth=0/1 commands=1/2", "ehlo=1 quit=1 commands=2",
	    "unknown=0/1 commands=0/1", "ehlo=1 mail=1 commands=3",
	    "ehlo=1 commands=1/1", "ehlo=01", "ehlo=1  mail=1", "ehlo=1 ",
	    "foo=1 commands=1", "", "ehlo=1 commands=1 quit=1",
	    "ehlo=4294967297", "mail=999999999 commands=999999999",
	    "ehlo=1/", "rcpt=2/1 commands=2/1", "commands",
	};
	sqlite3_stmt *q;
	char *want[N(cs)];
	strbuf sb;
	got g = { NULL, 0 };
	size_t i;
	int ok = 1, blobs = -1;

	sb_init(&sb);
	CHECK(store_begin(st) == 0);
	for (i = 0; i < N(cs); i++) {
		rg_session s;

		memset(&s, 0, sizeof(s));
		rg_arena_init(&s.ar, pool);
		s.id = 300000 + i;
		s.host = rg_arena_str(&s.ar, "relay", 5);
		s.pid = 100 + (long)i;
		s.prog = rg_arena_str(&s.ar, "postfix/smtpd", 13);
		s.connect = 1795885443000000LL;
		s.disconnect = s.connect + 1000000;
		s.complete = 1;
		s.counters = rg_arena_str(&s.ar, cs[i], strlen(cs[i]));
		sb_reset(&sb);
		sess_json(&sb, &s);
		want[i] = strndup(sb.s, sb.len);
		CHECK(store_put_session(st, &s, NULL, 0) == 0);
		rg_arena_free(&s.ar);
	}
	CHECK(store_commit(st) == 0);
	CHECK(store_each_json(st, 1, collect, &g) == 0);
	CHECK(g.n == (int)N(cs));
	if (g.n == (int)N(cs)) {
		qsort(want, N(cs), sizeof(char *), cmp);
		qsort(g.v, (size_t)g.n, sizeof(char *), cmp);
		for (i = 0; i < N(cs) && ok; i++)
			if (strcmp(want[i], g.v[i]) != 0) {
				fprintf(stderr, "want %s\n got  %s\n", want[i],
				    g.v[i]);
				ok = 0;
			}
		CHECK(ok);
	}
	if (sqlite3_prepare_v2(store_db(st), "SELECT count(*) FROM sessions "
	    "WHERE typeof(counters) = 'blob'", -1, &q, NULL) == SQLITE_OK
	    && sqlite3_step(q) == SQLITE_ROW)
		blobs = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	CHECK(blobs == 9);	/* all but the seven malformed ones */
	for (i = 0; i < N(cs); i++)
		free(want[i]);
	for (i = 0; i < (size_t)g.n; i++)
		free(g.v[i]);
	free(g.v);
	sb_free(&sb);
}

int
main(void)
{
	char dir[] = "/tmp/rg-lean.XXXXXX", path[64], err[512];
	char *want[NREC] = { NULL };
	rg_pool *pool = rg_pool_new();
	rg_store *st;
	got g = { NULL, 0 };
	strbuf sb;
	int i;

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/t.db", dir);
	st = store_open(path, STORE_CREATE, err, sizeof(err));
	sb_init(&sb);
	if (st == NULL)
		fprintf(stderr, "test_lean: %s\n", err);
	CASE("lean: random finished records read back byte for byte", {
		CHECK(st != NULL);
		if (st != NULL)
			roundtrip(st, pool, &sb, want, &g);
	});
	CASE("lean: random open states rebuilt from their rows byte for byte", {
		CHECK(st != NULL);
		if (st != NULL)
			open_roundtrip(st, pool);
	});
	CASE("lean: sessions' counters packed or kept read back the same", {
		CHECK(st != NULL);
		if (st != NULL)
			counters_roundtrip(st, pool);
	});
	store_close(st);
	unlink(path);
	snprintf(path, sizeof(path), "%s/t.db-wal", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/t.db-shm", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/t.db.lock", dir);
	unlink(path);
	rmdir(dir);
	for (i = 0; i < NREC; i++)
		free(want[i]);
	for (i = 0; i < g.n; i++)
		free(g.v[i]);
	free(g.v);
	sb_free(&sb);
	rg_pool_free(pool);
	return unit_total_failed != 0;
}
