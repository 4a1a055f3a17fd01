/*
 * test_resave.c - a message saved again and again (store_put_message of
 * a record stored before, as collect does at each commit while it waits)
 * leaves the same rows as its last version stored once: random changes
 * between the saves (a recipient's status or DSN, recipients added or
 * dropped, headers, the verdict, nothing at all), two saves in one batch,
 * a batch rolled back, messages finished. The store writes only the rows
 * that changed where it remembers what it wrote (store.c, "What was
 * stored of an open message"), everything where it does not.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/arena.h"
#include "../../common/strbuf.h"
#include "../../store/record.h"
#include "../../store/store_int.h"
#include "unit.h"

#define rnd unit_rnd

#define N(v) ((int)(sizeof(v) / sizeof(v[0])))
#define NMSG	60
#define ROUNDS	12
#define MAXR	6
#define MAXH	4

static const char *const addrs[] = { "a@example.com", "b@example.org",
    "c@example.net", "" };
static const char *const statuses[] = { "sent", "deferred", "bounced" };
static const char *const dsns[] = { "2.0.0", "4.4.1", "4.2.0", "5.1.1" };
static const char *const hnames[] = { "Subject", "X-Client-ID", "subject" };
static const char *const hvalues[] = { "tenant-7", "hello", "" };
static const char *const scores[] = { "15.00", "2.5" };

/* a message as the indexes of its values: what the rounds change */
typedef struct spec {
	int nr, addr[MAXR], status[MAXR], dsn[MAXR];	/* -1: NULL */
	int nh, hname[MAXH], hvalue[MAXH];
	int vsource, spam, score;
	int finished;
	long long last_seen;
} spec;

/* mutate - a random change, or none */
static void
mutate(spec *s)
{
	int i;

	switch (rnd(8)) {
	case 0:		/* a recipient's new status */
	case 1:
		if (s->nr > 0) {
			i = (int)rnd((unsigned)s->nr);
			s->status[i] = (int)rnd(N(statuses) + 1) - 1;
			s->dsn[i] = (int)rnd(N(dsns) + 1) - 1;
		}
		break;
	case 2:		/* a recipient added */
		if (s->nr < MAXR) {
			s->addr[s->nr] = (int)rnd(N(addrs));
			s->status[s->nr] = (int)rnd(N(statuses));
			s->dsn[s->nr] = (int)rnd(N(dsns));
			s->nr++;
		}
		break;
	case 3:		/* the last one dropped (never in collect) */
		if (s->nr > 0)
			s->nr--;
		break;
	case 4:		/* a header added or changed */
		if (s->nh < MAXH && rnd(2)) {
			s->hname[s->nh] = (int)rnd(N(hnames));
			s->hvalue[s->nh++] = (int)rnd(N(hvalues));
		} else if (s->nh > 0)
			s->hvalue[rnd((unsigned)s->nh)] = (int)rnd(N(hvalues));
		break;
	case 5:		/* a verdict, another one, or none */
		s->vsource = (int)rnd(VS_RSPAMD + 1);
		s->spam = (int)rnd(2);
		s->score = (int)rnd(N(scores));
		break;
	default:	/* nothing but the time */
		break;
	}
	s->last_seen += 1000000;
}

/* build - the record of spec s, id id, into r (rec_init'ed by it) */
static void
build(rg_record *r, rg_pool *pool, uint64_t id, const spec *s)
{
	rg_arena *ar;
	int i;

	rec_init(r, pool);
	ar = &r->ar;
	r->id = id;
	r->host = rg_arena_str(ar, "relay", 5);
	snprintf(r->qid, sizeof(r->qid), "%llX", 0x5B000ULL + id);
	r->first_seen = 1795885443000000LL;
	r->last_seen = s->last_seen;
	r->size = r->nrcpt = -1;
	r->smtpd_pid = -1;
	r->sender = rg_arena_str(ar, "s@example.com", 13);
	r->complete = s->finished;
	if (s->nr > 0) {
		r->rcpts = rg_arena_alloc(ar, (size_t)s->nr * sizeof(rg_rcpt));
		r->rcap = s->nr;
	}
	for (i = 0; i < s->nr; i++) {
		rg_rcpt *rc = &r->rcpts[i];

		memset(rc, 0, sizeof(*rc));
		rc->address = rg_arena_str(ar, addrs[s->addr[i]],
		    strlen(addrs[s->addr[i]]));
		if (s->status[i] >= 0)
			rc->status = rg_arena_str(ar, statuses[s->status[i]],
			    strlen(statuses[s->status[i]]));
		if (s->dsn[i] >= 0)
			rc->dsn = rg_arena_str(ar, dsns[s->dsn[i]],
			    strlen(dsns[s->dsn[i]]));
		r->nrcpts++;
	}
	if (s->nh > 0) {
		r->headers = rg_arena_alloc(ar, (size_t)s->nh
		    * sizeof(rg_header));
		r->hcap = s->nh;
	}
	for (i = 0; i < s->nh; i++) {
		r->headers[i].name = rg_arena_str(ar, hnames[s->hname[i]],
		    strlen(hnames[s->hname[i]]));
		r->headers[i].value = rg_arena_str(ar, hvalues[s->hvalue[i]],
		    strlen(hvalues[s->hvalue[i]]));
		r->headers[i].cut = s->hvalue[i] == 1;
		r->nheaders++;
	}
	r->verdict.source = (enum verdict_source)s->vsource;
	if (s->vsource != VS_NONE) {
		r->verdict.spam = s->spam;
		r->verdict.score = rg_arena_str(ar, scores[s->score],
		    strlen(scores[s->score]));
	}
}

/* put - record i of spec s: open (with its open_msgs row) or finished */
static int
put(rg_store *st, rg_pool *pool, int i, const spec *s, int persisted)
{
	static const char state[] = "an open state";
	rg_record r;
	rb_key k;
	int rc;

	build(&r, pool, 1000 + (uint64_t)i, s);
	r.persisted = persisted ? 1 : 0;
	if (s->finished)
		rc = store_put_message(st, &r, NULL, 0);
	else {
		memset(&k, 0, sizeof(k));
		k.id = r.id;
		k.seq = (uint64_t)i + 1;
		rc = store_put_message(st, &r, state, sizeof(state))
		    | store_put_open(st, &k, state, sizeof(state));
	}
	rec_free(&r);
	return rc;
}

/* rows - every row of the message tables (messages but its seq), sorted */
static void
rows(rg_store *st, strbuf *out)
{
	static const char *const qs[] = {
	    "SELECT * FROM messages ORDER BY id",
	    "SELECT * FROM recipients ORDER BY message, idx",
	    "SELECT * FROM headers ORDER BY message, name",
	    "SELECT * FROM verdicts ORDER BY message",
	    "SELECT * FROM open_msgs ORDER BY id",
	};
	sqlite3_stmt *q;
	size_t i;
	int c;

	sb_reset(out);
	for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		if (sqlite3_prepare_v2(store_db(st), qs[i], -1, &q, NULL)
		    != SQLITE_OK) {
			sb_adds(out, "(query failed)");
			continue;
		}
		while (sqlite3_step(q) == SQLITE_ROW) {
			for (c = 0; c < sqlite3_column_count(q); c++) {
				const unsigned char *t;

				if (i == 0 && strcmp(sqlite3_column_name(q, c),
				    "seq") == 0)
					continue;
				t = sqlite3_column_text(q, c);
				sb_adds(out, t != NULL ? (const char *)t : "NULL");
				sb_addc(out, '|');
			}
			sb_addc(out, '\n');
		}
		sqlite3_finalize(q);
		sb_addc(out, '\n');
	}
}

int
main(void)
{
	char dir[] = "/tmp/rg-resave.XXXXXX", pa[96], pb[96], err[512];
	rg_pool *pool = rg_pool_new();
	rg_store *a = NULL, *b = NULL;
	spec s[NMSG], keep[NMSG];
	int stored[NMSG], kstored[NMSG];
	strbuf ra, rb;
	int i, k, w, rolled, twice;

	if (mkdtemp(dir) == NULL)
		return 1;
	sb_init(&ra);
	sb_init(&rb);
	/* twice: the store's statements run at once, then by its writer
	 * thread (store_writer_start: collect --once), the same sequence */
	for (w = 0; w < 2; w++) {
	unit_rnd_state = 2463534242ULL;	/* this test's sequence */
	snprintf(pa, sizeof(pa), "%s/a%d.db", dir, w);
	snprintf(pb, sizeof(pb), "%s/b%d.db", dir, w);
	memset(s, 0, sizeof(s));
	memset(stored, 0, sizeof(stored));
	rolled = twice = 0;
	for (i = 0; i < NMSG; i++)
		s[i].last_seen = 1795885443000000LL;
	CASE(w == 0 ? "resave: a message saved again leaves the rows of its "
	    "last version stored once" : "resave: ... also when the store's "
	    "writer thread runs the statements", {
		/* threads allowed at the first open of the process */
		a = store_open(pa, STORE_CREATE | STORE_THREADS, err,
		    sizeof(err));
		b = store_open(pb, STORE_CREATE, err, sizeof(err));
		CHECK(a != NULL && b != NULL);
		if (w == 1 && a != NULL)
			CHECK(store_writer_start(a) == 0);
		for (k = 0; a != NULL && b != NULL && k < ROUNDS; k++) {
			int rollback = k > 1 && rnd(5) == 0;

			memcpy(keep, s, sizeof(s));
			memcpy(kstored, stored, sizeof(stored));
			CHECK(store_begin(a) == 0);
			for (i = 0; i < NMSG; i++) {
				if (s[i].finished || (k > 0 && rnd(4) == 0))
					continue;	/* not touched */
				mutate(&s[i]);
				if (k == ROUNDS - 1 && rnd(2))
					s[i].finished = 1;
				CHECK(put(a, pool, i, &s[i], stored[i]) == 0);
				stored[i] = 1;
				if (rnd(10) == 0) {	/* again, same batch */
					mutate(&s[i]);
					if (rnd(3) == 0)
						s[i].finished = 1;
					CHECK(put(a, pool, i, &s[i], 1) == 0);
					twice++;
				}
			}
			if (rollback) {
				/* gone: the rows, the digests with them; the
				 * caller's records are as before the batch */
				store_rollback(a);
				memcpy(s, keep, sizeof(s));
				memcpy(stored, kstored, sizeof(stored));
				rolled++;
			} else
				CHECK(store_commit(a) == 0);
		}
		/* the reference: each message's last version, stored once */
		if (a != NULL && b != NULL) {
			CHECK(store_begin(b) == 0);
			for (i = 0; i < NMSG; i++)
				if (stored[i])
					CHECK(put(b, pool, i, &s[i], 0) == 0);
			CHECK(store_commit(b) == 0);
			rows(a, &ra);
			rows(b, &rb);
		}
		CHECK(ra.len > 1000);
		CHECK(ra.len == rb.len && memcmp(ra.s, rb.s, ra.len) == 0);
		for (i = 0; (size_t)i < ra.len && (size_t)i < rb.len
		    && ra.s[i] == rb.s[i]; i++)
			;
		if (ra.len != rb.len || (size_t)i < ra.len) {
			while (i > 0 && ra.s[i - 1] != '\n')
				i--;
			fprintf(stderr, "saved again: %.120s\nonce: %.120s\n",
			    ra.s + i, rb.s + i);
		}
		CHECK(rolled > 0 && twice > 0);
		if (w == 1 && a != NULL) {
			char stats[256];

			CHECK(store_writer_stop(a, stats, sizeof(stats)) == 0);
			CHECK(strstr(stats, " 0 batches") == NULL);
		}
	});
	store_close(a);
	store_close(b);
	unit_db_remove(pa);
	unit_db_remove(pb);
	}
	sb_free(&ra);
	sb_free(&rb);
	rg_pool_free(pool);
	rmdir(dir);
	return unit_total_failed ? 1 : 0;
}
