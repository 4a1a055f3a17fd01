/*
 * ckpt.c - WAL checkpoints in a thread of their own, for a connection that
 * writes batch after batch (the collector).
 *
 * SQLite checkpoints in the thread that commits: once the WAL holds 1,000
 * pages, the COMMIT that crossed the mark copies them into the database
 * file and syncs the WAL and the file. For the collector that is 7% of
 * its CPU and, on a disk that syncs slowly, more wall time than that: 38
 * fdatasync calls took 0.15 s of a 1.2 s run over 10^6 lines (strace -T).
 *
 * Here the commit that crossed the mark only wakes a thread, which
 * checkpoints on a connection of its own (PASSIVE: it never blocks the
 * writer or a reader, and is never blocked by them), while the writer
 * goes on with its next batch.
 *
 * A PASSIVE checkpoint beside a writer that never pauses cannot let the
 * WAL start again from its beginning: SQLite restarts it at the start of
 * a write transaction only when every frame in it was copied, and by then
 * the writer has added more. So, as SQLite's own hook would, the writer
 * checkpoints itself once the WAL holds CKPT_SYNC pages: the thread has
 * copied all but the last batch or two, the writer copies the rest, and
 * its next transaction starts the WAL again. The WAL stays under about
 * CKPT_SYNC pages and one batch, as it stays under 1,000 and one batch
 * with SQLite's hook.
 *
 * With one usable CPU there is nothing to gain: SQLite's hook stays. If
 * the thread cannot open its connection (said once), the writer
 * checkpoints in its commits as SQLite would.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "../common/log.h"
#include "../common/proc.h"
#include "../common/xalloc.h"
#include "ckpt.h"
#include "walbuf.h"

#define CKPT_PAGES	1000	/* wake the thread (SQLite's own mark) */
/* the writer completes it (see above). 2,000 (16 MiB of 8 KiB pages):
 * collect --once over 10^6 lines took 0.588 s against 0.593 at 2,500,
 * 0.610 at 1,500 and at 3,000, 0.619 at 4,000 (medians of 10 rounds
 * alternated, 2026-12-05): a WAL twice as big stays twice as long in the
 * page cache, and its deletion at the close took 17 ms against 10 */
#define CKPT_SYNC	2000

struct db_ckpt {
	sqlite3 *db;		/* the thread's connection (opened by it) */
	char *path;		/* the database */
	sqlite3 *writer;	/* the writer's, whose hook this is */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int want;		/* a checkpoint is due */
	int busy;		/* the thread is at one */
	int stop;
	int dead;		/* the thread has no connection: checkpoint inline */
	long long runs;		/* checkpoints the thread made */
	long long sync_runs;	/* the writer made */
	int max_pages;		/* the most the WAL held */
};

/* ck_open - the thread's connection; -1 (logged) if it cannot have one */
static int
ck_open(db_ckpt *ck)
{
	if (sqlite3_open_v2(ck->path, &ck->db, SQLITE_OPEN_READWRITE,
	    walbuf_register() == 0 ? WALBUF_VFS : NULL) != SQLITE_OK)
		goto fail;
	/* its own SQLite hook would checkpoint at its own commits: none.
	 * The busy timeout is for the first read (another process may be
	 * recovering the WAL): a PASSIVE checkpoint never waits. */
	sqlite3_wal_autocheckpoint(ck->db, 0);
	sqlite3_busy_timeout(ck->db, 10000);
	/* a connection meets the WAL at its first read: until then a
	 * checkpoint finds "not in WAL mode" and does nothing */
	if (sqlite3_exec(ck->db, "SELECT count(*) FROM sqlite_master", NULL,
	    NULL, NULL) != SQLITE_OK)
		goto fail;
	return 0;
fail:
	log_warnx("%s: checkpoints in the writer's own commits: %s", ck->path,
	    ck->db != NULL ? sqlite3_errmsg(ck->db) : "out of memory");
	sqlite3_close(ck->db);
	ck->db = NULL;
	return -1;
}

/*
 * ck_main - open a connection (here, not in the start-up of the writer's
 * process: about 2 ms), then checkpoint whenever woken, until told to stop
 */
static void *
ck_main(void *arg)
{
	db_ckpt *ck = arg;
	int rc, ok = ck_open(ck) == 0;

	pthread_mutex_lock(&ck->mu);
	if (!ok)
		ck->dead = 1;
	for (;;) {
		while (!ck->want && !ck->stop)
			pthread_cond_wait(&ck->cv, &ck->mu);
		if (ck->stop || ck->dead)
			break;
		ck->want = 0;
		ck->busy = 1;
		pthread_mutex_unlock(&ck->mu);
		rc = sqlite3_wal_checkpoint_v2(ck->db, NULL,
		    SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			log_debug("checkpoint: %s", sqlite3_errmsg(ck->db));
		pthread_mutex_lock(&ck->mu);
		if (rc == SQLITE_OK)
			ck->runs++;
		ck->busy = 0;
		pthread_cond_broadcast(&ck->cv);
	}
	pthread_mutex_unlock(&ck->mu);
	return NULL;
}

/* ck_hook - after each commit of the writer: npages frames in the WAL */
static int
ck_hook(void *arg, sqlite3 *db, const char *name, int npages)
{
	db_ckpt *ck = arg;

	if (npages > ck->max_pages)
		ck->max_pages = npages;
	if (npages < CKPT_PAGES)
		return SQLITE_OK;
	pthread_mutex_lock(&ck->mu);
	if (npages < CKPT_SYNC && !ck->dead) {
		ck->want = 1;
		pthread_cond_signal(&ck->cv);
		pthread_mutex_unlock(&ck->mu);
		return SQLITE_OK;
	}
	/* after the thread's checkpoint, if it is at one (the rest of a
	 * batch or two to copy); as SQLite's own hook would if the thread
	 * has no connection. SQLITE_BUSY if another process checkpoints:
	 * the next commit tries again. */
	while (ck->busy)
		pthread_cond_wait(&ck->cv, &ck->mu);
	pthread_mutex_unlock(&ck->mu);
	if (sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE,
	    NULL, NULL) == SQLITE_OK)
		ck->sync_runs++;
	return SQLITE_OK;
}

/* ckpt_start - checkpoints of writer's database in a thread; NULL (SQLite's
 * hook stays) with one CPU, or if the thread cannot be started */
db_ckpt *
ckpt_start(sqlite3 *writer)
{
	const char *path = sqlite3_db_filename(writer, "main");
	db_ckpt *ck;

	if (path == NULL || path[0] == '\0' || rg_cpus() < 2)
		return NULL;
	ck = xcalloc(1, sizeof(*ck));
	ck->path = xstrdup(path);
	ck->writer = writer;
	pthread_mutex_init(&ck->mu, NULL);
	pthread_cond_init(&ck->cv, NULL);
	if (pthread_create(&ck->thread, NULL, ck_main, ck) != 0) {
		pthread_cond_destroy(&ck->cv);
		pthread_mutex_destroy(&ck->mu);
		free(ck->path);
		free(ck);
		return NULL;
	}
	/* replaces SQLite's own hook (sqlite3_wal_autocheckpoint's) */
	sqlite3_wal_hook(writer, ck_hook, ck);
	return ck;
}

/* ckpt_stop - stop the thread, give the writer SQLite's hook back; NULL is
 * a no-op */
void
ckpt_stop(db_ckpt *ck)
{
	if (ck == NULL)
		return;
	pthread_mutex_lock(&ck->mu);
	ck->stop = 1;
	pthread_cond_signal(&ck->cv);
	pthread_mutex_unlock(&ck->mu);
	pthread_join(ck->thread, NULL);
	sqlite3_wal_autocheckpoint(ck->writer, CKPT_PAGES);
	{
		long long held, writes;

		walbuf_counts(&held, &writes);
		log_debug("checkpoints: %lld in a thread, %lld by the writer; "
		    "the WAL held at most %d pages; the WAL's and the "
		    "checkpoints' writes: %lld gathered into %lld", ck->runs,
		    ck->sync_runs, ck->max_pages, held, writes);
	}
	sqlite3_close(ck->db);
	pthread_cond_destroy(&ck->cv);
	pthread_mutex_destroy(&ck->mu);
	free(ck->path);
	free(ck);
}
