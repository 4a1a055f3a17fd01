/*
 * col_int.h - the collect engine's insides (collect.h), shared by its two
 * files and by no one else.
 *
 *   collect.c    the engine: the sources opened at their positions, the
 *                merge by time in the calling thread, the batches'
 *                commits with the positions after the last line taken
 *   col_front.c  the front end in a thread of its own (collect --once):
 *                it reads and parses the sources and hands batches of
 *                events, each with the positions after its last line, to
 *                the calling thread (col_fe_step)
 *
 * While the front end runs (fe_state FE_RUNNING) the inputs, their zone
 * (cur_zone, the process's TZ) and the fe counters are its own; the
 * calling thread reads only at (the positions of the last batch it took)
 * and the inputs' sc, stored and stored_found.
 */
#ifndef RG_COL_INT_H
#define RG_COL_INT_H

#include <pthread.h>

#include "collect.h"
#include "evring.h"
#include "merge.h"
#include "parser.h"
#include "source.h"

typedef struct input {
	rg_merge_head h;	/* the next line (not processed yet) */
	const rg_source_cfg *sc;
	rg_source *src;
	ll_ctx ctx;
	src_pos pos;		/* the position before that line */
	int year, last_month;	/* the year state before that line */
	const char *line;	/* h.ll's line, in the source's buffer */
	size_t len;
	const char *zone;	/* zone of zone-less stamps */
	int failed;		/* 1 a read failed, 2 it could not be opened */
	src_pos stored;		/* the position in the database, as we left it */
	int stored_found;	/* ... if it was there at all */
} input;

/* where a source is after the last line the assembler took */
typedef struct at_pos {
	src_pos pos;		/* with the year state */
	int open;		/* still read: its position is stored */
} at_pos;

enum fe_state { FE_NONE, FE_ONE, FE_RUNNING, FE_JOINED };

struct rg_collect {
	const rg_config *cfg;
	rg_store *st;
	rg_parser *p;
	input *in;
	int nin;
	int failed_store;
	int in_txn;
	long long lines, batch_lines;
	char *cur_zone;		/* a copy: the configuration may be reread */
	int zone_known;		/* cur_zone is the process's zone */
	const char *zone_asked;	/* the pointer cur_zone was last asked by */
	long long last_retry;	/* sources that could not be opened, retried */
	at_pos *at;		/* positions to commit (the front end's:
				 * of the last batch taken) */
	/* threads at most (col_threads): 1 one, 2 the store's writer in a
	 * thread of its own, 3 the front end in another */
	int threads;
	enum fe_state fe_state;
	evr_ring *ring;
	pthread_t fe_thread;
	prs_stats fe;		/* the front end's counts */
	long long chunk_lines;	/* lines a batch at most */
	long long remaining;	/* of the last batch taken */
	long long fe_remaining;	/* the front end's, as it last looked */
	unsigned long long handed;	/* batches handed over */
	double fe_cpu, be_cpu0;	/* CPU seconds of the threads */
	int writer;		/* the store's writer thread runs (col_finish) */
};

/* collect.c */
void col_take_positions(const rg_collect *c, at_pos *at);
void col_use_zone(rg_collect *c, const char *zone);
int col_advance(rg_collect *c, input *in);
long long col_left(const rg_collect *c);
int col_begin(rg_collect *c);
int col_stored(rg_collect *c, enum col_status *io);

/* col_front.c */
int col_fe_start(rg_collect *c);
int col_fe_step(rg_collect *c, enum col_status *io);
void col_fe_join(rg_collect *c);

#endif
