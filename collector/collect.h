/*
 * collect.h - the exactly-once collect engine: the configured sources into
 * the store, batch by batch.
 *
 * A batch is one transaction: the records finished in it, the assembler's
 * open state as it is at the end of it, and the read position of every
 * source just after the last line processed (never after a line read
 * ahead for the merge by time). A crash anywhere rolls back to the last
 * batch, and the next run reads on from exactly there with the same open
 * state.
 *
 * The caller (cli/collect_cmd.c) owns the configuration, the store and
 * the lock; it calls col_start, then col_step until it returns 0 (nothing
 * to read now) and col_commit at the batch boundaries it chooses, and
 * col_free. Warnings go to the log.
 *
 * col_threads(c, 2) before the first col_step lets the store run its
 * statements in a writer thread (store/writer.c) when this process may
 * use more than one CPU and no source is a journal: for a run to the end
 * of the sources (--once), not for --follow (col_poll); col_finish waits
 * for it. col_threads(c, 3) also reads and parses the sources in a
 * thread of its own (col_front.c): col_step then takes a whole batch of
 * that thread's lines at a time (at most [collect] batch_lines), so that
 * a commit always falls between two of them; col_free stops the thread.
 * Only the calling thread makes the store's statements; the process zone
 * (TZ) is the front end's while it runs.
 */
#ifndef RG_COLLECT_H
#define RG_COLLECT_H

#include "../rules/config.h"
#include "../store/store.h"

typedef struct rg_collect rg_collect;

/* what went wrong, worst last */
enum col_status {
	COL_OK = 0,
	COL_IOERR,	/* a source could not be read; the others go on */
	COL_TEMPFAIL,	/* the database is busy or another writer moved on */
	COL_DATAERR	/* the stored open state is damaged */
};

rg_collect *col_new(const rg_config *cfg, rg_store *st);
/* the open state and the positions of one commit; the sources opened */
enum col_status col_start(rg_collect *c);
/* the threads a run to the end of the sources may use (see above) */
void col_threads(rg_collect *c, int n);
/* one line of the earliest source into the batch: 1 (with two threads,
 * the lines of the front end's next batch: 1 or more), 0 none now, -1 the
 * store failed (transaction begun by col_step itself), or a message the
 * line names could not be restored (*io COL_DATAERR: its state is damaged) */
int col_step(rg_collect *c, enum col_status *io);
/* a batch open (lines not committed yet) */
int col_in_batch(const rg_collect *c);
/* commit the batch: COL_OK, COL_TEMPFAIL (error, or positions moved),
 * COL_DATAERR (an open message's state is damaged) */
enum col_status col_commit(rg_collect *c);
/* every commit so far written (collect --once's store writer thread
 * ended): COL_OK, or COL_TEMPFAIL (warned) if one failed; before anything
 * else reads or writes the store */
enum col_status col_finish(rg_collect *c);
/* abandon the batch */
void col_rollback(rg_collect *c);
/* follow: look again at the sources that had nothing */
void col_poll(rg_collect *c);
long long col_lines(const rg_collect *c);
long long col_batch_lines(const rg_collect *c);
long long col_remaining(const rg_collect *c);	/* bytes left, if known */
size_t col_open_messages(const rg_collect *c);
/* the sources closed and the parser freed; the store is the caller's */
void col_free(rg_collect *c);

#endif
