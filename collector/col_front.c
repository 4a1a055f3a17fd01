/*
 * col_front.c - collect's front end in a thread of its own (col_int.h):
 * the sources read, merged by time, split and parsed there, the assembler
 * and the store in the calling thread.
 *
 * While it runs the thread owns the inputs (their readers and ll_ctx, the
 * merge's read-ahead) and the process zone: it switches TZ to each line's
 * source (col_use_zone) before splitting and parsing the line, and no
 * other thread switches or reads it then. It hands batches of events
 * through a ring (evring.h), each with a snapshot of every input's
 * position after the batch's last line, as col_advance() leaves it (and
 * the year state, whether the input is still open, whether a read
 * failed). The calling thread takes a whole batch at each col_step and so
 * commits only between batches, with the snapshot of the last one it
 * took: never a position after a line the front end read ahead.
 *
 * Fails only as the sources do (a read error closes the input, warned by
 * the thread; the batch says so: COL_IOERR). A thread that cannot be
 * started leaves the run to the calling thread. Signals are the calling
 * thread's: the front end blocks them all.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "../common/log.h"
#include "../common/proc.h"
#include "col_int.h"

/* a batch's bytes left (progress bar) are looked at every so many */
#define REMAINING_EVERY	16

/* what a batch of the front end carries besides its events (evring.h) */
typedef struct snap {
	int ioerr;		/* a source could not be read (warned) */
	long long remaining;	/* bytes left to read, as far as known */
	at_pos at[];		/* every input, after the batch's last line */
} snap;

/* hand - the front end: batch b, with the positions now, over */
static void
hand(rg_collect *c, evr_batch *b)
{
	snap *s = b->user;

	col_take_positions(c, s->at);
	if (c->handed % REMAINING_EVERY == 0)
		c->fe_remaining = col_left(c);
	s->remaining = c->fe_remaining;
	c->handed++;
	evr_give(c->ring);
}

/* fe_take - the front end: an empty batch, NULL once stopped */
static evr_batch *
fe_take(rg_collect *c)
{
	evr_batch *b = evr_take(c->ring);

	if (b != NULL)
		((snap *)b->user)->ioerr = 0;
	return b;
}

/*
 * front_main - the front-end thread: the merge by time, each line split
 * and parsed into batches of at most chunk_lines lines, what col_advance()
 * leaves after each batch's last line handed over with it
 */
static void *
front_main(void *arg)
{
	rg_collect *c = arg;
	evr_batch *b = NULL;
	input *in;
	int best;

	while (!evr_stopped(c->ring)
	    && (best = mrg_best(c->in, sizeof(input), c->nin)) >= 0) {
		in = &c->in[best];
		if (b != NULL && b->lines >= c->chunk_lines) {
			hand(c, b);
			b = NULL;
		}
		if (b == NULL && (b = fe_take(c)) == NULL)
			break;
		col_use_zone(c, in->zone);
		if (evr_add(c->ring, b, &in->h.ll, in->line, in->len,
		    &c->fe) < 0) {
			hand(c, b);
			if ((b = fe_take(c)) == NULL)
				break;
			/* an empty batch takes any line */
			evr_add(c->ring, b, &in->h.ll, in->line, in->len, &c->fe);
		}
		if (col_advance(c, in) != 0)
			((snap *)b->user)->ioerr = 1;
	}
	if (b != NULL && b->lines > 0)
		hand(c, b);
	evr_end(c->ring);
	c->fe_cpu = rg_thread_cpu();
	return NULL;
}

/*
 * writer_start - the store's statements into a thread of their own: the
 * calling thread assembles the records and makes their rows, the store
 * writes them
 */
static void
writer_start(rg_collect *c)
{
	if (store_writer_start(c->st) == 0) {
		c->writer = 1;
		log_debug("collect: the store writes in a thread of its own");
	} else
		log_debug("collect: the store writes in the calling thread");
}

/*
 * col_fe_start - the threads allowed (col_threads), if the machine has
 * more than one CPU for this process and no source is a journal (its
 * loss notices go to the store from the reading thread): the store's
 * writer (2), and the front end in a thread of its own (3). With two
 * CPUs the default is the writer alone: the front end beside it made
 * three busy threads on two CPUs, and the lines parsed on one CPU and
 * assembled on the other cross between their caches (10^6 lines: 0.835 s
 * against 0.77 s, bench/README.md). 1 the front end started, 0 not (it
 * runs in the calling thread; the writer may still have started)
 */
int
col_fe_start(rg_collect *c)
{
	sigset_t all, old;
	int i, err;

	/* nothing to read (a run with nothing new): no thread either */
	if (c->threads < 2 || rg_cpus() < 2
	    || mrg_best(c->in, sizeof(input), c->nin) < 0)
		return 0;
	for (i = 0; i < c->nin; i++)
		if (strcmp(c->in[i].sc->type, "journal") == 0)
			return 0;
	if (c->threads < 3) {
		writer_start(c);
		return 0;
	}
	if ((c->ring = evr_new(sizeof(snap) + (size_t)c->nin
	    * sizeof(at_pos), 0)) == NULL) {
		log_debug("collect: no front-end ring (%s): it runs in the "
		    "calling thread", strerror(errno));
		writer_start(c);
		return 0;
	}
	c->chunk_lines = c->cfg->batch_lines;
	col_take_positions(c, c->at);
	c->remaining = c->fe_remaining = col_left(c);
	c->handed = 0;
	c->be_cpu0 = rg_thread_cpu();
	memset(&c->fe, 0, sizeof(c->fe));
	c->fe_state = FE_RUNNING;
	/* signals are for the calling thread (collect_cmd.c's flags) */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&c->fe_thread, NULL, front_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		c->fe_state = FE_NONE;
		evr_free(c->ring);
		c->ring = NULL;
		log_debug("collect: no front-end thread (%s): it runs in the "
		    "calling thread", strerror(err));
		writer_start(c);
		return 0;
	}
	writer_start(c);
	return 1;
}

/* col_fe_join - stop the front end (if not at its end), wait for it */
void
col_fe_join(rg_collect *c)
{
	unsigned long long batches, raw;
	unsigned long fe_slept, be_slept;

	if (c->fe_state != FE_RUNNING)
		return;
	evr_stop(c->ring);
	pthread_join(c->fe_thread, NULL);
	c->fe_state = FE_JOINED;
	prs_add_stats(c->p, &c->fe);
	evr_stats(c->ring, &batches, &raw, &fe_slept, &be_slept);
	log_debug("collect: two threads (the front end in its own): %llu "
	    "batches, %llu of them parsed by the assembler's thread; CPU "
	    "seconds: front end %.3f, assembler and store %.3f; the front end "
	    "waited %lu times, the assembler %lu", batches, raw, c->fe_cpu,
	    rg_thread_cpu() - c->be_cpu0, fe_slept, be_slept);
	evr_free(c->ring);
	c->ring = NULL;
}

/*
 * col_fe_step - the front end's next batch through the assembler: its
 * lines, 0 at the end (the thread joined), -1 as col_step
 */
int
col_fe_step(rg_collect *c, enum col_status *io)
{
	evr_batch *b;
	const evr_item *items;
	const logline *lls;
	const snap *s;
	int i, n, raw;

	if ((b = evr_next(c->ring)) == NULL) {
		col_fe_join(c);
		return 0;
	}
	if (col_begin(c) != 0)
		return -1;
	/* b's header shares a cache line with the one being filled */
	n = b->n;
	raw = b->raw;
	items = b->items;
	lls = b->lls;
	for (i = 0; i < n; i++) {
		evr_parse(c->p, &lls[i], &items[i], raw);
		if (col_stored(c, io) != 0)
			return -1;
	}
	s = b->user;
	memcpy(c->at, s->at, (size_t)c->nin * sizeof(at_pos));
	c->remaining = s->remaining;
	if (s->ioerr)
		*io = COL_IOERR;
	n = (int)b->lines;
	evr_put(c->ring);
	c->lines += n;
	c->batch_lines += n;
	return n;
}

