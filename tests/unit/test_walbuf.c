/*
 * test_walbuf.c - the store's write-combining VFS (store/walbuf.c): every
 * commit is in the WAL file, for another connection's own reads, when
 * COMMIT returns; a transaction that spilled past the page cache and wrote
 * its pages again (SQLite rewrites those frames and their checksums at
 * the commit) survives a kill -9 and the recovery after it; a kill -9 at
 * any moment of a run of commits keeps every commit that returned and no
 * part of one that did not; a WAL that cannot grow fails the COMMIT that
 * needed the room, with an error; a database file that cannot grow while
 * a checkpoint copies into it stops the process before the checkpoint
 * counts, and nothing committed is lost; and the frames do go out in few
 * writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../../store/walbuf.h"
#include "unit.h"

static char path[256];

/* now_s - a monotonic clock */
static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* exec - run SQL; 0 or -1 */
static int
exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* int_of - the first column of sql's first row, -1 on error */
static long long
int_of(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *q;
	long long v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v;
}

/* text_is - sql's first column of its first row equals want */
static int
text_is(sqlite3 *db, const char *sql, const char *want)
{
	sqlite3_stmt *q;
	int ok = 0;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0) != NULL)
		ok = strcmp((const char *)sqlite3_column_text(q, 0), want) == 0;
	sqlite3_finalize(q);
	return ok;
}

/* open_wb - the database through the VFS, as the store opens it (8 KiB
 * pages, WAL, synchronous NORMAL); a small WAL so that it starts again
 * often; NULL on error */
static sqlite3 *
open_wb(int cache_pages, int ckpt_pages)
{
	sqlite3 *db;
	char sql[512];

	if (walbuf_register() != 0 || sqlite3_open_v2(path, &db,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, WALBUF_VFS)
	    != SQLITE_OK)
		return NULL;
	sqlite3_busy_timeout(db, 10000);
	snprintf(sql, sizeof(sql), "PRAGMA page_size = 8192; "
	    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
	    "PRAGMA cache_size = %d; PRAGMA wal_autocheckpoint = %d; "
	    "CREATE TABLE IF NOT EXISTS t(txn INTEGER, i INTEGER, gen INTEGER, "
	    "v BLOB); CREATE INDEX IF NOT EXISTS t_txn ON t(txn); "
	    "CREATE TABLE IF NOT EXISTS tx(txn INTEGER PRIMARY KEY, n INTEGER)",
	    cache_pages, ckpt_pages);
	if (exec(db, sql) != 0) {
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

/* open_plain - another connection, through SQLite's own VFS */
static sqlite3 *
open_plain(void)
{
	sqlite3 *db;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL)
	    != SQLITE_OK) {
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 10000);
	return db;
}

/* put_txn - transaction txn: n rows of random blobs of 1 to max bytes (one
 * of big bytes if big), and its row in tx; the bytes put, or -1 */
static long long
put_txn(sqlite3 *db, int txn, int n, int max, int big)
{
	sqlite3_stmt *q;
	long long bytes = 0;
	int i, sz;

	if (exec(db, "BEGIN") != 0 || sqlite3_prepare_v2(db, "INSERT INTO "
	    "t(txn, i, gen, v) VALUES (?1, ?2, 0, randomblob(?3))", -1, &q,
	    NULL) != SQLITE_OK)
		return -1;
	for (i = 0; i < n; i++) {
		sz = i == 0 && big ? big : 1 + (int)unit_rnd((unsigned)max);
		sqlite3_bind_int(q, 1, txn);
		sqlite3_bind_int(q, 2, i);
		sqlite3_bind_int(q, 3, sz);
		if (sqlite3_step(q) != SQLITE_DONE)
			bytes = -1;
		sqlite3_reset(q);
		if (bytes >= 0)
			bytes += sz;
	}
	sqlite3_finalize(q);
	if (sqlite3_prepare_v2(db, "INSERT INTO tx(txn, n) VALUES (?1, ?2)",
	    -1, &q, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int(q, 1, txn);
	sqlite3_bind_int(q, 2, n);
	if (sqlite3_step(q) != SQLITE_DONE)
		bytes = -1;
	sqlite3_finalize(q);
	if (bytes < 0 || exec(db, "COMMIT") != 0)
		return -1;
	return bytes;
}

/* whole - every transaction in tx has all its rows, and no row is
 * without its transaction */
static int
whole(sqlite3 *db)
{
	return int_of(db, "SELECT count(*) FROM tx WHERE n != (SELECT "
	    "count(*) FROM t WHERE t.txn = tx.txn)") == 0
	    && int_of(db, "SELECT count(*) FROM t WHERE txn NOT IN (SELECT "
	    "txn FROM tx)") == 0;
}

/* read_int - an int from the child's pipe: 1, 0 at its end, -1 */
static int
read_int(int fd, int *v)
{
	ssize_t r;

	do
		r = read(fd, v, sizeof(*v));
	while (r < 0 && errno == EINTR);
	return r == (ssize_t)sizeof(*v) ? 1 : r == 0 ? 0 : -1;
}

/* kill_wait - SIGKILL the child and reap it */
static void
kill_wait(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

/*
 * fork_child - a new database and a child that writes to the parent
 * through fd: the child's pid in the parent (which keeps fd[0]), 0 in the
 * child (which keeps fd[1]), -1 if it cannot be (checked)
 */
static pid_t
fork_child(int fd[2])
{
	pid_t pid;

	unit_db_remove(path);
	if (pipe(fd) != 0 || (pid = fork()) < 0) {
		CHECK(!"pipe or fork");
		return -1;
	}
	close(pid == 0 ? fd[0] : fd[1]);
	return pid;
}

/* check_whole - the database opened after a child: intact, every
 * transaction whole; the connection (checked), or NULL */
static sqlite3 *
check_whole(void)
{
	sqlite3 *db = open_plain();

	CHECK(db != NULL);
	if (db == NULL)
		return NULL;
	CHECK(text_is(db, "PRAGMA integrity_check", "ok"));
	CHECK(whole(db));
	return db;
}

/* commits_seen - commits one after another, each read at once by another
 * connection, which reads the WAL through its own file handle */
static void
commits_seen(void)
{
	sqlite3 *w, *r;
	long long rows = 0, bytes = 0, b, held0, writes0, held, writes;
	int txn, n, big, bad = 0;
	char want[64], sql[128];

	unit_db_remove(path);
	walbuf_counts(&held0, &writes0);
	w = open_wb(2000, 100);
	r = open_plain();
	CHECK(w != NULL && r != NULL);
	if (w == NULL || r == NULL)
		goto out;
	for (txn = 1; txn <= 300; txn++) {
		n = 1 + (int)unit_rnd(40);
		/* now and then a row bigger than the buffer (512 KiB) */
		big = txn % 60 == 0 ? 3 << 20 : 0;
		if ((b = put_txn(w, txn, n, 12000, big)) < 0) {
			bad++;
			break;
		}
		rows += n;
		bytes += b;
		snprintf(want, sizeof(want), "%lld %lld", rows, bytes);
		snprintf(sql, sizeof(sql), "SELECT count(*) || ' ' || "
		    "coalesce(sum(length(v)), 0) FROM t");
		if (!text_is(r, sql, want))
			bad++;
	}
	CHECK(bad == 0);
	CHECK(txn == 301);
	CHECK(text_is(r, "PRAGMA integrity_check", "ok"));
	CHECK(whole(r));
	walbuf_counts(&held, &writes);
	held -= held0;
	writes -= writes0;
	/* two writes a frame from SQLite; a few per commit here */
	CHECK(held > 10000);
	CHECK(writes > 0 && writes * 4 < held);
out:
	sqlite3_close(r);
	sqlite3_close(w);
}

/*
 * spilled_survives - a transaction far bigger than the page cache (its
 * pages spill into the WAL), whose rows are then changed twice (the
 * spilled frames are written again, and at the commit SQLite rewrites
 * their checksums), commits; kill -9; the recovery that follows checks
 * every frame's checksum and must find the transaction whole
 */
static void
spilled_survives(void)
{
	int fd[2], v = 0;
	pid_t pid;
	sqlite3 *db;

	if ((pid = fork_child(fd)) < 0)
		return;
	if (pid == 0) {
		sqlite3 *c;
		int ok;

		c = open_wb(4, 1000000);
		ok = c != NULL && exec(c, "BEGIN") == 0
		    && exec(c, "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL "
		    "SELECT i + 1 FROM s WHERE i < 3000) INSERT INTO t(txn, i, "
		    "gen, v) SELECT 1, i, 0, randomblob(600) FROM s") == 0
		    && exec(c, "UPDATE t SET gen = 1, v = randomblob(600)") == 0
		    && exec(c, "UPDATE t SET gen = 2, v = randomblob(600)") == 0
		    && exec(c, "INSERT INTO tx VALUES (1, 3000)") == 0
		    && exec(c, "COMMIT") == 0;
		v = ok;
		if (write(fd[1], &v, sizeof(v)) != sizeof(v))
			_exit(1);
		pause();
		_exit(0);
	}
	CHECK(read_int(fd[0], &v) == 1 && v == 1);
	kill_wait(pid);
	close(fd[0]);
	if ((db = check_whole()) == NULL)
		return;
	CHECK(int_of(db, "SELECT count(*) FROM t WHERE gen = 2") == 3000);
	CHECK(int_of(db, "SELECT sum(length(v)) FROM t") == 3000 * 600);
	sqlite3_close(db);
}

/*
 * killed_anywhere - a child commits transaction after transaction and
 * says the number of each after its COMMIT returned; it is killed after
 * a random number of them and a random part of the time one takes (as
 * measured here); every transaction it said must be there, whole, and
 * nothing of any other but the one after the last
 */
static void
killed_anywhere(int rounds)
{
	int round, fd[2], v, last, want, bad = 0, dead_early = 0;
	double t0, per;
	pid_t pid;
	sqlite3 *db;

	for (round = 0; round < rounds; round++) {
		if ((pid = fork_child(fd)) < 0)
			break;
		if (pid == 0) {
			sqlite3 *c;
			int txn;

			unit_rnd_state += (unsigned long long)getpid();
			if ((c = open_wb(500, 50)) == NULL)
				_exit(1);
			for (txn = 1;; txn++) {
				if (put_txn(c, txn, 1 + (int)unit_rnd(30), 9000,
				    0) < 0)
					_exit(1);
				if (write(fd[1], &txn, sizeof(txn))
				    != sizeof(txn))
					_exit(1);
			}
		}
		want = 5 + (int)unit_rnd(40);
		last = 0;
		t0 = now_s();
		while (last < want && read_int(fd[0], &v) == 1)
			last = v;
		if (last < want)
			dead_early++;
		per = (now_s() - t0) / (last > 0 ? last : 1);
		{
			/* up to two commits' time more */
			double d = per * 2 * unit_rnd(1000) / 1000.0;
			struct timespec ts = { (time_t)d,
			    (long)((d - (time_t)d) * 1e9) };

			nanosleep(&ts, NULL);
		}
		kill_wait(pid);
		while (read_int(fd[0], &v) == 1)
			last = v;
		close(fd[0]);
		if ((db = open_plain()) == NULL) {
			bad++;
			continue;
		}
		if (!text_is(db, "PRAGMA integrity_check", "ok") || !whole(db)
		    || int_of(db, "SELECT coalesce(max(txn), 0) FROM tx") < last
		    || int_of(db, "SELECT coalesce(max(txn), 0) FROM tx")
		    > last + 1
		    || int_of(db, "SELECT count(*) FROM tx")
		    != int_of(db, "SELECT coalesce(max(txn), 0) FROM tx"))
			bad++;
		sqlite3_close(db);
	}
	CHECK(dead_early == 0);
	CHECK(bad == 0);
}

/*
 * full_fails_commit - the WAL cannot grow (a file size limit: EFBIG, as a
 * full disk gives ENOSPC): the COMMIT that needed the room fails with an
 * error, the process goes on (nothing waits for a barrier to fail in),
 * and the database holds every transaction that committed, whole
 */
static void
full_fails_commit(void)
{
	int fd[2], v[2] = { 0, 0 }, status = 0;
	pid_t pid;
	sqlite3 *db;

	if ((pid = fork_child(fd)) < 0)
		return;
	if (pid == 0) {
		struct rlimit rl = { 3 << 20, 3 << 20 };
		sqlite3 *c;
		int txn;

		signal(SIGXFSZ, SIG_IGN);
		if ((c = open_wb(2000, 1000000)) == NULL
		    || setrlimit(RLIMIT_FSIZE, &rl) != 0)
			_exit(1);
		for (txn = 1; txn < 100000; txn++)
			if (put_txn(c, txn, 1 + (int)unit_rnd(30), 9000, 0) < 0)
				break;
		v[0] = txn - 1;		/* the last that committed */
		v[1] = sqlite3_extended_errcode(c);
		exec(c, "ROLLBACK");
		sqlite3_close(c);
		_exit(write(fd[1], v, sizeof(v)) == sizeof(v) ? 0 : 1);
	}
	CHECK(read(fd[0], v, sizeof(v)) == (ssize_t)sizeof(v));
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	close(fd[0]);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(v[0] > 10 && v[0] < 99999);
	CHECK((v[1] & 0xff) == SQLITE_IOERR || (v[1] & 0xff) == SQLITE_FULL);
	if ((db = check_whole()) == NULL)
		return;
	CHECK(int_of(db, "SELECT max(txn) FROM tx") == v[0]);
	CHECK(int_of(db, "SELECT count(*) FROM tx") == v[0]);
	sqlite3_close(db);
}

/*
 * ckpt_full_stops - the database file cannot grow while a checkpoint
 * copies pages into it (the pages are held until the copy ends, where
 * SQLite takes no error): the process stops with exit 75 and says why,
 * before the checkpoint is counted; every commit it said is there, whole
 */
static void
ckpt_full_stops(void)
{
	int fd[2], v, last = 0, status = 0, errfd;
	char errpath[300], msg[512];
	ssize_t k;
	pid_t pid;
	sqlite3 *db;

	snprintf(errpath, sizeof(errpath), "%s.err", path);
	if ((pid = fork_child(fd)) < 0)
		return;
	if (pid == 0) {
		struct rlimit rl = { 3 << 20, 3 << 20 };
		sqlite3 *c;
		int txn, e = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (e >= 0)
			dup2(e, 2);
		signal(SIGXFSZ, SIG_IGN);
		/* a checkpoint after every few commits: the WAL stays small,
		 * the database file grows */
		if ((c = open_wb(2000, 20)) == NULL
		    || setrlimit(RLIMIT_FSIZE, &rl) != 0)
			_exit(1);
		for (txn = 1; txn < 100000; txn++) {
			if (put_txn(c, txn, 1 + (int)unit_rnd(30), 9000, 0) < 0)
				_exit(2);
			if (write(fd[1], &txn, sizeof(txn)) != sizeof(txn))
				_exit(1);
		}
		_exit(0);
	}
	while (read_int(fd[0], &v) == 1)
		last = v;
	close(fd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 75);
	msg[0] = '\0';
	if ((errfd = open(errpath, O_RDONLY)) >= 0) {
		k = read(errfd, msg, sizeof(msg) - 1);
		msg[k > 0 ? k : 0] = '\0';
		close(errfd);
	}
	unlink(errpath);
	CHECK(strstr(msg, "cannot write the pages of a checkpoint") != NULL);
	CHECK(last > 10);
	if ((db = check_whole()) == NULL)
		return;
	/* the COMMIT that ran the checkpoint had committed before it */
	CHECK(int_of(db, "SELECT max(txn) FROM tx") >= last);
	CHECK(int_of(db, "SELECT max(txn) FROM tx") <= last + 1);
	CHECK(int_of(db, "SELECT count(*) FROM tx")
	    == int_of(db, "SELECT max(txn) FROM tx"));
	sqlite3_close(db);
}

int
main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(path, sizeof(path), "%s/rg-walbuf-%d.db", tmp && *tmp ? tmp
	    : "/tmp", (int)getpid());
	CASE("walbuf: every commit is in the file when COMMIT returns "
	    "(another connection reads it), in few writes", commits_seen());
	CASE("walbuf: a transaction spilled past the cache and written again "
	    "survives kill -9 and the recovery", spilled_survives());
	CASE("walbuf: a WAL that cannot grow fails the COMMIT (an error, not "
	    "a crash) and keeps what committed", full_fails_commit());
	CASE("walbuf: a database file that cannot grow in a checkpoint stops "
	    "the process (exit 75) before the checkpoint counts, and keeps "
	    "what committed", ckpt_full_stops());
	CASE("walbuf: kill -9 at any moment keeps every commit that returned, "
	    "and no part of another", killed_anywhere(20));
	unit_db_remove(path);
	UNIT_EXIT();
}
