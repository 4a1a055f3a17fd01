/*
 * test_relays.c - the relays table pruned with the rows (store.c,
 * RELAY_REFRESH, schema 10): a relay only pruned rows named goes; one
 * that a kept row names stays, also when the kept row was written less
 * than RELAY_REFRESH batches after the relay's seq was last moved on (the
 * relay was not moved on for it: its seq is older than the oldest kept
 * row's), and the kept record reads back with it.
 *
 * Batches: 1 an old message naming old-only-mx; 2..70 old messages
 * naming nothing; 71 an old message naming brief-mx (numbered there);
 * 72 a recent message naming brief-mx (seq 71 is within 64: not moved
 * on). The prune keeps only the recent message (oldest kept seq 72).
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

#define OLD	1767225600000000LL	/* 2026-01-01 */
#define RECENT	1795885443000000LL	/* 2026-11-28 */
#define CUTOFF	1780000000000000LL

/* put - a finished message, id id, seen at ts, one recipient via relay */
static int
put(rg_store *st, rg_pool *pool, uint64_t id, long long ts,
    const char *relay)
{
	rg_record r;
	rg_arena *ar;
	int rc;

	rec_init(&r, pool);
	ar = &r.ar;
	r.id = id;
	r.host = rg_arena_str(ar, "relay", 5);
	snprintf(r.qid, sizeof(r.qid), "%llX", 0x7A000ULL + id);
	r.first_seen = r.last_seen = ts;
	r.size = r.nrcpt = -1;
	r.smtpd_pid = -1;
	r.complete = 1;
	r.sender = rg_arena_str(ar, "s@example.com", 13);
	r.rcpts = rg_arena_alloc(ar, sizeof(rg_rcpt));
	r.rcap = 1;
	memset(&r.rcpts[0], 0, sizeof(rg_rcpt));
	r.rcpts[0].address = rg_arena_str(ar, "a@example.org", 13);
	r.rcpts[0].status = rg_arena_str(ar, "sent", 4);
	r.rcpts[0].dsn = rg_arena_str(ar, "2.0.0", 5);
	if (relay != NULL)
		r.rcpts[0].relay = rg_arena_str(ar, relay, strlen(relay));
	r.nrcpts = 1;
	rc = store_begin(st) != 0 || store_put_message(st, &r, NULL, 0) != 0
	    || store_commit(st) != 0;
	rec_free(&r);
	return rc;
}

/* count - one integer from a query, -1 on error */
static long long
count(rg_store *st, const char *sql)
{
	sqlite3_stmt *q;
	long long n = -1;

	if (sqlite3_prepare_v2(store_db(st), sql, -1, &q, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return n;
}

/* json_of - message id's JSON as the readers rebuild it */
static int
json_of(rg_store *st, long long id, strbuf *out)
{
	sqlite3_stmt *q;
	int rc = -1;

	sb_reset(out);
	if (sqlite3_prepare_v2(store_db(st), "SELECT rec FROM messages WHERE "
	    "id = ?1", -1, &q, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(q, 1, id);
	if (sqlite3_step(q) == SQLITE_ROW)
		rc = store_message_json(st, id, sqlite3_column_blob(q, 0),
		    (size_t)sqlite3_column_bytes(q, 0), NULL, 0, out);
	sqlite3_finalize(q);
	return rc;
}

int
main(void)
{
	char dir[] = "/tmp/rg-relays.XXXXXX", path[96], err[512];
	rg_pool *pool = rg_pool_new();
	rg_store *st;
	strbuf before, after;
	uint64_t id;
	long long pruned = -1;

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/r.db", dir);
	sb_init(&before);
	sb_init(&after);
	st = store_open(path, STORE_CREATE, err, sizeof(err));
	CASE("relays: pruned with the rows that named them, kept for a row "
	    "written within the refresh", {
		CHECK(st != NULL);
		if (st != NULL) {
			CHECK(put(st, pool, 1, OLD, "old-only-mx.example"
			    "[192.0.2.1]:25") == 0);
			for (id = 2; id <= 70; id++)
				CHECK(put(st, pool, id, OLD, NULL) == 0);
			CHECK(put(st, pool, 71, OLD, "brief-mx.example"
			    "[198.51.100.9]:25") == 0);
			CHECK(put(st, pool, 72, RECENT, "brief-mx.example"
			    "[198.51.100.9]:25") == 0);
			CHECK(count(st, "SELECT max(seq) FROM messages") == 72);
			CHECK(count(st, "SELECT seq FROM relays WHERE name "
			    "LIKE 'brief-mx%'") == 71);
			CHECK(json_of(st, 72, &before) == 0);
			CHECK(strstr(before.s != NULL ? before.s : "",
			    "brief-mx.example[198.51.100.9]:25") != NULL);
			pruned = store_prune(st, CUTOFF, 1000);
			CHECK(pruned >= 71 + 1);	/* 71 rows, a relay */
			CHECK(count(st, "SELECT count(*) FROM messages") == 1);
			CHECK(count(st, "SELECT count(*) FROM relays WHERE "
			    "name LIKE 'old-only-mx%'") == 0);
			CHECK(count(st, "SELECT count(*) FROM relays WHERE "
			    "name LIKE 'brief-mx%'") == 1);
			CHECK(json_of(st, 72, &after) == 0);
			CHECK(after.len == before.len && after.len > 0
			    && memcmp(after.s, before.s, after.len) == 0);
			if (after.len != before.len || (after.len > 0
			    && memcmp(after.s, before.s, after.len) != 0))
				fprintf(stderr, "before: %.*s\nafter: %.*s\n",
				    (int)before.len, before.s,
				    (int)after.len, after.s);
		}
	});
	store_close(st);
	sb_free(&before);
	sb_free(&after);
	rg_pool_free(pool);
	unit_db_remove(path);
	rmdir(dir);
	return unit_total_failed ? 1 : 0;
}
