/*
 * test_oplog.c - the store's op log run by its writer thread (store.c,
 * writer.c; collect --once): a batch's statements run in the order made
 * (the last position put wins, log_loss rows in order), batch after
 * batch; a statement that fails rolls its batch back, nothing after it
 * commits, and the failure shows at a later commit (or at the thread's
 * stop) with SQLite's words; the database stays at the last batch
 * committed before it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../store/store_int.h"
#include "unit.h"

/* pos_at - a position with offset off */
static src_pos
pos_at(long long off)
{
	src_pos p;

	memset(&p, 0, sizeof(p));
	p.fp = 42;
	p.fp_len = 10;
	p.offset = off;
	p.lines = off;
	return p;
}

/* offset_of - source name's stored offset, -1 if none */
static long long
offset_of(rg_store *st, const char *name)
{
	src_pos p;

	return store_get_source(st, name, &p) == 0 ? p.offset : -1;
}

/* losses - the log_loss counts in the order of their ids, into buf */
static void
losses(const char *path, char *buf, size_t sz)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	size_t n = 0;

	buf[0] = '\0';
	if (sqlite3_open(path, &db) != SQLITE_OK)
		return;
	if (sqlite3_prepare_v2(db, "SELECT count FROM log_loss ORDER BY id",
	    -1, &q, NULL) == SQLITE_OK) {
		while (sqlite3_step(q) == SQLITE_ROW && n + 24 < sz)
			n += (size_t)snprintf(buf + n, sz - n, "%lld ",
			    (long long)sqlite3_column_int64(q, 0));
		sqlite3_finalize(q);
	}
	sqlite3_close(db);
}

/* drop - another connection drops a table (the next use of it fails) */
static int
drop(const char *path, const char *table)
{
	char sql[128];
	sqlite3 *db;
	int rc;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		return -1;
	sqlite3_busy_timeout(db, 10000);
	snprintf(sql, sizeof(sql), "DROP TABLE %s", table);
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

/* sql - another connection runs sql: its first column's integer, 0 if it
 * gives no row, -1 on error */
static long long
sql(const char *path, const char *text)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	long long n = -1;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		return -1;
	sqlite3_busy_timeout(db, 10000);
	if (sqlite3_prepare_v2(db, text, -1, &q, NULL) == SQLITE_OK) {
		switch (sqlite3_step(q)) {
		case SQLITE_ROW:
			n = sqlite3_column_int64(q, 0);
			break;
		case SQLITE_DONE:	/* no row: an UPDATE */
			n = 0;
			break;
		}
		sqlite3_finalize(q);
	}
	sqlite3_close(db);
	return n;
}

/* sess - a session row id into the batch */
static int
sess(rg_store *st, uint64_t id)
{
	rg_session s;

	memset(&s, 0, sizeof(s));
	s.id = id;
	s.host = "relay";
	s.prog = "postfix/smtpd";
	s.connect = 1795885443000000LL;
	s.complete = 1;
	return store_put_session(st, &s, NULL, 0);
}

int
main(void)
{
	char dir[] = "/tmp/rg-oplog.XXXXXX", path[96], err[512], buf[256];
	src_pos p;
	rg_store *st;
	int i, rc;

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/o.db", dir);
	st = store_open(path, STORE_CREATE | STORE_THREADS, err, sizeof(err));
	if (st == NULL) {
		printf("FAIL: oplog: %s\n", err);
		return 1;
	}

	CASE("oplog: the writer thread runs a batch's statements in the order "
	    "made, batch after batch", {
		CHECK(store_writer_start(st) == 0);
		for (i = 1; i <= 20; i++) {
			CHECK(store_begin(st) == 0);
			p = pos_at(i * 10);
			CHECK(store_put_source(st, "a", "file", &p) == 0);
			CHECK(store_log_loss(st, "a", i, i, "x") == 0);
			p = pos_at(i * 10 + 1);	/* the later one wins */
			CHECK(store_put_source(st, "a", "file", &p) == 0);
			CHECK(store_commit(st) == 0);
		}
		CHECK(store_writer_stop(st, buf, sizeof(buf)) == 0);
		CHECK(strstr(buf, " 20 batches") != NULL);
		CHECK(offset_of(st, "a") == 201);
		losses(path, buf, sizeof(buf));
		CHECK_STR(buf, "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 "
		    "20 ");
	});

	CASE("oplog: prune with the writer thread running: the thread's "
	    "batches are written first, then the prune deletes them", {
		long long n;

		CHECK(store_writer_start(st) == 0);
		CHECK(store_begin(st) == 0);
		CHECK(sess(st, 800) == 0);
		CHECK(store_commit(st) == 0);
		/* the session's connect (2026-11) is before the cutoff */
		n = store_prune(st, 1900000000000000LL, 1000);
		CHECK(n >= 1);
		CHECK(sql(path, "SELECT count(*) FROM sessions WHERE id = 800")
		    == 0);
		/* and the thread is gone: a new one writes on */
		CHECK(store_writer_start(st) == 0);
		CHECK(store_begin(st) == 0);
		CHECK(sess(st, 801) == 0);
		CHECK(store_commit(st) == 0);
		CHECK(store_writer_stop(st, NULL, 0) == 0);
		CHECK(sql(path, "SELECT count(*) FROM sessions WHERE id = 801")
		    == 1);
	});
	CASE("oplog: a failed statement: nothing after it commits, the "
	    "failure shows at a later commit and at the stop", {
		CHECK(store_writer_start(st) == 0);
		CHECK(store_begin(st) == 0);
		p = pos_at(500);
		CHECK(store_put_source(st, "a", "file", &p) == 0);
		CHECK(store_commit(st) == 0);
		/* the next batch's log_loss row fails (no such table) */
		CHECK(drop(path, "log_loss") == 0);
		rc = 0;
		for (i = 1; i <= 3 && rc == 0; i++) {
			/* the next op made may already see it (BEGIN) */
			if ((rc = store_begin(st)) != 0)
				break;
			p = pos_at(500 + i);
			store_put_source(st, "a", "file", &p);
			if (i == 1)
				store_log_loss(st, "a", 1, 1, "x");
			rc = store_commit(st);
		}
		/* at the latest the commit after the failed one says so */
		CHECK(rc != 0 && i <= 3);
		CHECK(strstr(store_error(st), "recording log loss") != NULL);
		CHECK(strstr(store_error(st), "log_loss") != NULL);
		store_rollback(st);
		CHECK(offset_of(st, "a") == 500);
		/* a failure in the last batch shows at the stop */
		CHECK(store_begin(st) == 0);
		p = pos_at(600);
		CHECK(store_put_source(st, "a", "file", &p) == 0);
		store_log_loss(st, "a", 1, 1, "x");
		store_commit(st);
		CHECK(store_writer_stop(st, NULL, 0) != 0);
		CHECK(strstr(store_error(st), "recording log loss") != NULL);
		store_rollback(st);
		CHECK(offset_of(st, "a") == 500);
	});
	CASE("oplog: a batch numbered alike by another writer (a second "
	    "collector that missed the lock) is refused; the next one reads "
	    "the number again", {
		long long seq;

		store_rollback(st);
		CHECK(store_writer_start(st) == 0);
		CHECK(store_begin(st) == 0);
		CHECK(sess(st, 700) == 0);
		CHECK(store_commit(st) == 0);
		CHECK(store_writer_stop(st, NULL, 0) == 0);
		seq = sql(path, "SELECT value FROM meta WHERE key = 'seq'");
		CHECK(seq > 0);
		CHECK(sql(path, "SELECT seq FROM sessions WHERE id = 700")
		    == seq);
		/* the other writer's batch */
		CHECK(sql(path, "UPDATE meta SET value = value + 1 WHERE key = "
		    "'seq'") == 0);
		CHECK(store_writer_start(st) == 0);
		CHECK(store_begin(st) == 0);
		CHECK(sess(st, 701) == 0);
		rc = store_commit(st);
		if (rc == 0)
			rc = store_writer_stop(st, NULL, 0);
		else
			store_writer_stop(st, NULL, 0);
		CHECK(rc != 0);
		CHECK(strstr(store_error(st), "another writer numbered") != NULL);
		store_rollback(st);
		CHECK(sql(path, "SELECT count(*) FROM sessions WHERE id = 701")
		    == 0);
		/* the next batch: after the other's number */
		CHECK(store_begin(st) == 0);
		CHECK(sess(st, 702) == 0);
		CHECK(store_commit(st) == 0);
		CHECK(sql(path, "SELECT seq FROM sessions WHERE id = 702")
		    == seq + 2);
		CHECK(sql(path, "SELECT value FROM meta WHERE key = 'seq'")
		    == seq + 2);
	});
	store_close(st);
	unit_db_remove(path);
	rmdir(dir);
	UNIT_EXIT();
}
