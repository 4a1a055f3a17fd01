/*
 * writer.h - the store's writer thread (store/ only): an ordered queue of
 * operations that a thread of its own runs, one after the other, on the
 * store's connection, while the thread that queued them goes on making
 * the next. The operations are the store's (store.c's op log); this is
 * only their queue and their thread.
 *
 * The calling thread queues (wr_push) and waits (wr_wait, wr_drain); it
 * touches the connection only after wr_drain returned, while nothing is
 * queued. run() returning non-zero is a failure: remembered (wr_failed)
 * until wr_clear; run() itself decides what a failed log skips.
 */
#ifndef RG_WRITER_H
#define RG_WRITER_H

/* wr_op - an operation's link in the queue: first in the store's op */
typedef struct wr_op {
	struct wr_op *next;
	int commit;		/* ends a batch (wr_wait counts them) */
} wr_op;

typedef struct wr_thread wr_thread;
typedef int (*wr_run_fn)(void *arg, wr_op *op);

/* the thread started (signals blocked in it), NULL if it cannot be */
wr_thread *wr_start(wr_run_fn run, void *arg);
/* op queued; -1 if an earlier one failed (queued all the same) */
int wr_push(wr_thread *w, wr_op *op);
/* wait until at most n batches are queued or running: -1 if one failed */
int wr_wait(wr_thread *w, long long n);
/* wait until every op ran: -1 if one failed */
int wr_drain(wr_thread *w);
/* the failure forgotten (after a drain: the caller rolled back) */
void wr_clear(wr_thread *w);
/* the ops that ran, for reuse (a list; NULL if none) */
wr_op *wr_done(wr_thread *w);
/* drain, stop and join; its counts and CPU seconds; NULL is a no-op */
int wr_stop(wr_thread *w, long long *ops, long long *commits, double *cpu,
    unsigned long *waits);
/* after wr_stop and wr_done: the queue's memory; NULL is a no-op */
void wr_free(wr_thread *w);

#endif
