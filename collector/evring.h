/*
 * evring.h - a ring of batches of parsed lines between a front-end thread
 * (reading, splitting, prs_front) and the thread that runs the assembler
 * (prs_event): parse's (pipeline.c) and `collect --once`'s (col_front.c).
 *
 * The front end takes an empty batch (evr_take), adds lines to it
 * (evr_add: the line is copied into the batch, its split header pointed at
 * the copy, then parsed there; a line the assembler will not see gives its
 * bytes back at once; or, with one input, the line reader reads into the
 * batch's bytes, evr_lend, and evr_add_lent copies nothing), and hands it
 * over (evr_give). A batch taken while
 * the other thread has at most the one it works on left is raw: its lines
 * are only split, and the other thread parses them (prs_line) before it
 * would wait. The two threads' shares of the parsing so follow their
 * speeds, and a raw line crosses between the CPUs' caches without its
 * 500-byte event: a batch's split headers lie in an array of their own
 * (88 bytes a line, one after the other), its events in another. Every
 * pointer of a
 * batch's loglines and events points into the batch (its bytes, or the
 * item's own scratch buffer for decoded text) or at a constant, so a batch
 * stays valid while the front end goes on. The other thread takes the
 * batches in the order they were given (evr_next) and gives each back
 * (evr_put) when it is done with it; only then is it filled again.
 *
 * Each batch carries user_size bytes of its owner's (evr_batch.user),
 * written by the front end before evr_give, read by the other thread
 * after evr_next: collect's read positions after the batch's last line.
 *
 *	evr_new(user_size, raw_only)
 *				a ring, or NULL (errno) if its mutex or
 *				condition variables could not be made;
 *				raw_only: every batch raw, whatever waits
 *				(parse, when the CPUs are far apart)
 *	evr_take(r)		the next batch to fill, emptied; NULL once
 *				the run is stopped
 *	evr_add(r, b, ll, line, len, st)
 *				line (len bytes, ll split from it) into b,
 *				parsed unless b is raw, counted in st: 1 an
 *				event (or a raw line), 0 not for the
 *				assembler, -1 no room (give b, take another:
 *				an empty batch takes any line)
 *	evr_lend(b, &cap)	b's bytes, for a line reader to read the
 *				lines into (lr_lend): one input's, so that
 *				nothing is copied
 *	evr_add_lent(r, b, ll, st)
 *				as evr_add, for a line in b's own bytes;
 *				-1: no item left
 *	evr_full(b)		whether b has no item left
 *	evr_give(r)		hand the batch being filled over
 *	evr_end(r)		the front end has given its last batch
 *	evr_next(r)		the next batch given, waiting for it; NULL
 *				when the front end ended and every batch was
 *				taken, or the run was stopped
 *	evr_parse(p, ll, it, raw)
 *				line i of b through the parser (ll =
 *				&b->lls[i], it = &b->items[i]): its event
 *				(prs_event), or its line if the batch is raw
 *				(prs_line)
 *	evr_put(r)		give back the batch evr_next returned
 *	evr_stop(r)		no more batches wanted: the front end's next
 *				evr_take (or evr_stopped) says so
 *	evr_stopped(r)		without the lock, for each line
 *	evr_stats(r, &batches, &raw, &fe_slept, &be_slept)
 *	evr_free(r)		NULL is a no-op (both threads done with it)
 */
#ifndef RG_EVRING_H
#define RG_EVRING_H

#include <stddef.h>

#include "../common/strbuf.h"
#include "event.h"
#include "logline.h"
#include "parser.h"

#define EVR_BATCH_BYTES	(64 * 1024)	/* a batch's bytes */

/* a line's event, when the front end parsed it (the batch is not raw) */
typedef struct evr_item {
	rg_event ev;
	strbuf scratch;		/* decoded text that ev may point into */
} evr_item;

typedef struct evr_batch {
	logline *lls;		/* the lines' split headers, pointing into the
				 * batch's bytes: apart from the items, so that
				 * a raw batch crosses to the other CPU as
				 * 88 bytes a line, in order */
	evr_item *items;	/* their events (not raw) */
	int raw;		/* split, not parsed: the other thread parses
				 * each item's line (prs_line) */
	int n;			/* events (raw: lines with a header) */
	long long lines;	/* lines added (events or not) */
	int ready;		/* items whose scratch is sb_init'ed */
	int big;		/* an item's scratch grew over SCRATCH_KEEP */
	char *bytes;		/* copies of the lines */
	size_t used, cap;
	char *home;		/* its bytes in the ring's memory (bytes,
				 * unless a long line needed more) */
	void *user;		/* the owner's user_size bytes */
} evr_batch;

typedef struct evr_ring evr_ring;

evr_ring *evr_new(size_t user_size, int raw_only);
evr_batch *evr_take(evr_ring *r);
int evr_add(evr_ring *r, evr_batch *b, const logline *ll, const char *line,
    size_t len, prs_stats *st);
char *evr_lend(evr_batch *b, size_t *cap);
int evr_add_lent(evr_ring *r, evr_batch *b, const logline *ll,
    prs_stats *st);
int evr_full(const evr_batch *b);
void evr_give(evr_ring *r);
void evr_end(evr_ring *r);
evr_batch *evr_next(evr_ring *r);
void evr_put(evr_ring *r);
void evr_stop(evr_ring *r);
int evr_stopped(evr_ring *r);
void evr_stats(const evr_ring *r, unsigned long long *batches,
    unsigned long long *raw, unsigned long *fe_slept,
    unsigned long *be_slept);
void evr_free(evr_ring *r);

/*
 * evr_parse - a line of a batch, its split header ll and its item it (raw:
 * the line only split) through the parser p, in the thread that took the
 * batch (evr_next)
 */
static inline void
evr_parse(rg_parser *p, const logline *ll, const evr_item *it, int raw)
{
	if (raw)
		prs_line(p, ll);
	else
		prs_event(p, ll, &it->ev);
}

#endif
