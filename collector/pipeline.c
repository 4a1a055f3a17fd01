/*
 * pipeline.c - the time-merge of `parse`'s inputs through one parser, the
 * front end in a thread of its own (pipeline.h).
 *
 * Owns the inputs: their line readers and their ll_ctx (year inference,
 * the host and tag caches), which only the front end touches while a run
 * lasts. With two threads, also a ring of NBATCH batches under one mutex
 * and two condition variables. The front end copies each line into the
 * batch it fills, points the line's split header (logline) at the copy,
 * and parses it there: every pointer of a batch's loglines and events
 * points into the batch (its bytes, or the item's own scratch buffer for
 * decoded text) or at a constant. A line that the assembler will not see
 * gives its bytes back at once. The calling thread takes the batches in
 * the order they were filled and gives each back when its events have
 * been through the assembler; only then is it filled again. The front
 * end counts lines in its own prs_stats, added to the parser's after the
 * thread has been joined.
 *
 * Fails only on input: an input that cannot be opened or read is logged
 * once. If the thread cannot be started, the run is done in one thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/linereader.h"
#include "../common/log.h"
#include "../common/proc.h"
#include "../common/strbuf.h"
#include "../common/xalloc.h"
#include "merge.h"
#include "pipeline.h"

#ifndef NBATCH
#define NBATCH		8		/* batches in the ring */
#endif
#define WAKE		(NBATCH / 2)	/* batches filled (freed) before a wake-up */
#ifndef BATCH_ITEMS
#define BATCH_ITEMS	256		/* events a batch */
#endif
#define BATCH_BYTES	(64 * 1024)	/* line bytes a batch (more for a long line) */
#define SCRATCH_KEEP	4096		/* a larger scratch is freed once used */
/* the ring's block: the items, then the bytes (both 16-byte multiples) */
#define ITEMS_BYTES	(((size_t)NBATCH * BATCH_ITEMS * sizeof(item) + 63) \
			    & ~(size_t)63)
#define RING_BYTES	(ITEMS_BYTES + (size_t)NBATCH * BATCH_BYTES)

typedef struct input {
	rg_merge_head h;	/* the next line (merge.h) */
	const char *name;
	linereader *lr;
	ll_ctx ctx;
	int order;		/* position on the command line */
	const char *line;	/* h.ll's line, in the reader's buffer */
	size_t len;
} input;

typedef struct item {
	logline ll;		/* pointing into the batch's bytes */
	rg_event ev;
	strbuf scratch;		/* decoded text that ev may point into */
} item;

typedef struct batch {
	item *items;		/* BATCH_ITEMS */
	int n;
	int ready;		/* items whose scratch is sb_init'ed */
	char *bytes;		/* copies of the lines */
	size_t used, cap;
	char *home;		/* its BATCH_BYTES in the ring's memory (bytes,
				 * unless a long line needed more) */
} batch;

struct rg_pipeline {
	input *in;
	int nin;
	int last;		/* the input whose line was taken last, -1 */
	int failed;		/* an input could not be read to its end */
	prs_stats fe;		/* what the front end counted */
	/* the ring, while two threads run */
	pthread_mutex_t mu;
	pthread_cond_t filled, freed;
	batch ring[NBATCH];
	void *ring_mem;		/* the batches' items and bytes, in one */
	unsigned long long produced;	/* batches handed over */
	unsigned long long consumed;	/* batches given back */
	int done;		/* the front end has handed over its last */
	atomic_int stop;	/* the calling thread wants no more (the front
				 * end looks at each line, without the lock) */
	int fe_waits, be_waits;	/* the front end (the caller) sleeps */
	unsigned long fe_slept, be_slept;	/* times each one slept */
	double fe_cpu;		/* the front-end thread's CPU seconds */
};

/* ppl_open - open the inputs (standard input if n is 0) */
rg_pipeline *
ppl_open(char *const *paths, int n, int year, size_t max_line)
{
	rg_pipeline *pl = xcalloc(1, sizeof(*pl));
	int i, failed = 0;

	pl->nin = n > 0 ? n : 1;
	pl->in = xcalloc((size_t)pl->nin, sizeof(input));
	pl->last = -1;
	for (i = 0; i < pl->nin; i++) {
		input *in = &pl->in[i];
		const char *path = n > 0 ? paths[i] : NULL;
		time_t ref = time(NULL);
		struct stat st;

		in->name = path != NULL ? path : "(standard input)";
		in->order = i;
		if ((in->lr = lr_open(path, max_line)) == NULL) {
			log_warn("%s", in->name);
			failed = 1;
			continue;
		}
		if (path != NULL && strcmp(path, "-") != 0
		    && stat(path, &st) == 0)
			ref = st.st_mtime;
		ll_init(&in->ctx, year, ref);
	}
	if (failed) {
		ppl_close(pl);
		return NULL;
	}
	return pl;
}

/* ppl_close - close the inputs; NULL is a no-op */
void
ppl_close(rg_pipeline *pl)
{
	int i;

	if (pl == NULL)
		return;
	for (i = 0; i < pl->nin; i++)
		lr_close(pl->in[i].lr);
	free(pl->in);
	free(pl);
}

/*
 * ppl_threads_auto - two threads when more than one CPU is online and
 * this process may run on more than one (taskset, a cpuset)
 */
int
ppl_threads_auto(void)
{
	return rg_cpus() > 1 ? 2 : 1;
}

/* advance - read the input's next line with a known header */
static void
advance(rg_pipeline *pl, input *in)
{
	const char *line;
	size_t len;
	int r;

	in->h.have = 0;
	while ((r = lr_next(in->lr, &line, &len)) == 1) {
		if (ll_parse(&in->ctx, line, len, &in->h.ll) == 0) {
			in->h.have = 1;
			in->line = line;
			in->len = len;
			return;
		}
		prs_count_malformed(&pl->fe);
	}
	if (r < 0) {
		log_warnx("%s: %s", in->name, lr_error(in->lr));
		pl->failed = 1;
	}
}

/* cmp_first_line - by the time of the first line, then by name order */
static int
cmp_first_line(const void *x, const void *y)
{
	const input *a = x, *b = y;

	if (a->h.have != b->h.have)
		return a->h.have ? -1 : 1;
	if (a->h.have && a->h.ll.ts != b->h.ll.ts)
		return a->h.ll.ts < b->h.ll.ts ? -1 : 1;
	return a->order - b->order;
}

/* merge_start - every input to its first line; the oldest input first */
static void
merge_start(rg_pipeline *pl)
{
	int i;

	for (i = 0; i < pl->nin; i++)
		advance(pl, &pl->in[i]);
	/*
	 * Oldest input first: lines of the same second in two files (a
	 * rotation in the middle of a second) are then taken from the older
	 * file first, whatever order the files were named in.
	 */
	if (pl->nin > 1)
		qsort(pl->in, (size_t)pl->nin, sizeof(input), cmp_first_line);
	pl->last = -1;
}

/*
 * merge_next - the input holding the next line of the merge (valid until
 * the next call), NULL at the end
 */
static input *
merge_next(rg_pipeline *pl)
{
	if (pl->last >= 0)
		advance(pl, &pl->in[pl->last]);
	pl->last = mrg_best(pl->in, sizeof(input), pl->nin);
	return pl->last >= 0 ? &pl->in[pl->last] : NULL;
}

/* run_one - the whole run in the calling thread */
static void
run_one(rg_pipeline *pl, rg_parser *p, int (*stop)(void *), void *arg)
{
	input *in;

	while ((in = merge_next(pl)) != NULL) {
		prs_line(p, &in->h.ll);
		if (stop != NULL && stop(arg))
			break;
	}
}

/* keep - a copy of n bytes in the batch (room was checked) */
static const char *
keep(batch *b, const char *p, size_t n)
{
	char *q = b->bytes + b->used;

	if (n > 0)
		memcpy(q, p, n);
	b->used += n;
	return q;
}

/* within - whether [p, p+n) lies in [base, base+len) */
static int
within(const char *p, size_t n, const char *base, size_t len)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)base;

	return a >= b && a - b <= len && n <= len - (a - b);
}

/* need - the batch bytes that the line of in takes (front_line) */
static size_t
need(const input *in)
{
	const logline *ll = &in->h.ll;
	size_t n = in->len;

	if (ll->host != NULL && !within(ll->host, ll->hostlen, in->line,
	    in->len))
		n += ll->hostlen;
	if (ll->prog != NULL && !within(ll->prog, ll->proglen, in->line,
	    in->len))
		n += ll->proglen;
	if (ll->daemon != NULL && !within(ll->daemon, ll->daemonlen, in->line,
	    in->len))
		n += ll->daemonlen;
	if (ll->msg != NULL && !within(ll->msg, ll->msglen, in->line,
	    in->len))
		n += ll->msglen;
	return n;
}

/*
 * rebase - a field of the line at line (len bytes) in its copy at copy;
 * a field elsewhere (a constant, or a cache of the input's ll_ctx that the
 * next line may change) gets a copy of its own
 */
static const char *
rebase(batch *b, const char *p, size_t n, const char *line, size_t len,
    const char *copy)
{
	if (p == NULL)
		return NULL;
	if (within(p, n, line, len))
		return copy + (p - line);
	return keep(b, p, n);
}

/*
 * front_line - the line of in into batch b, split and parsed. Every
 * pointer of logline is moved here (a new one must be too); the daemon
 * name stays where it is in the program name (pf_classify compares the
 * two pointers).
 */
static void
front_line(rg_pipeline *pl, batch *b, const input *in)
{
	const logline *src = &in->h.ll;
	item *it = &b->items[b->n];
	size_t mark = b->used;
	const char *copy;

	if (b->n == b->ready)
		sb_init(&b->items[b->ready++].scratch);
	copy = keep(b, in->line, in->len);
	it->ll = *src;
	it->ll.host = rebase(b, src->host, src->hostlen, in->line, in->len,
	    copy);
	it->ll.prog = rebase(b, src->prog, src->proglen, in->line, in->len,
	    copy);
	if (src->prog != NULL && src->daemon != NULL
	    && within(src->daemon, src->daemonlen, src->prog, src->proglen))
		it->ll.daemon = it->ll.prog + (src->daemon - src->prog);
	else
		it->ll.daemon = rebase(b, src->daemon, src->daemonlen,
		    in->line, in->len, copy);
	it->ll.msg = rebase(b, src->msg, src->msglen, in->line, in->len,
	    copy);
	if (prs_front(&pl->fe, &it->ll, &it->ev, &it->scratch))
		b->n++;
	else
		b->used = mark;		/* not for the assembler */
}

/* batch_take - the next batch to fill, NULL when the run is stopped */
static batch *
batch_take(rg_pipeline *pl)
{
	batch *b = NULL;
	int i;

	pthread_mutex_lock(&pl->mu);
	while (!atomic_load(&pl->stop)
	    && pl->produced - pl->consumed == NBATCH) {
		pl->fe_waits = 1;
		pl->fe_slept++;
		pthread_cond_wait(&pl->freed, &pl->mu);
	}
	pl->fe_waits = 0;
	if (!atomic_load(&pl->stop))
		b = &pl->ring[pl->produced % NBATCH];
	pthread_mutex_unlock(&pl->mu);
	if (b == NULL)
		return NULL;
	/* a hostile line's large scratch is not kept for good */
	for (i = 0; i < b->n; i++) {
		if (b->items[i].scratch.cap > SCRATCH_KEEP) {
			sb_free(&b->items[i].scratch);
			sb_init(&b->items[i].scratch);
		}
	}
	if (b->bytes != b->home) {	/* grown for a long line */
		free(b->bytes);
		b->bytes = b->home;
		b->cap = BATCH_BYTES;
	}
	b->n = 0;
	b->used = 0;
	return b;
}

/*
 * batch_give - hand the batch being filled to the calling thread. A
 * sleeping thread is woken when WAKE batches are ready for it, not at
 * each one: a wake-up per batch costs more than the batch.
 */
static void
batch_give(rg_pipeline *pl)
{
	pthread_mutex_lock(&pl->mu);
	pl->produced++;
	if (pl->be_waits && pl->produced - pl->consumed >= WAKE)
		pthread_cond_signal(&pl->filled);
	pthread_mutex_unlock(&pl->mu);
}

/* thread_cpu - the CPU seconds of the calling thread */
static double
thread_cpu(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* front_main - the front-end thread: the merge, into batches */
static void *
front_main(void *arg)
{
	rg_pipeline *pl = arg;
	batch *b = NULL;
	input *in;

	while ((in = merge_next(pl)) != NULL) {
		size_t n;

		if (atomic_load_explicit(&pl->stop, memory_order_relaxed))
			break;
		n = need(in);
		if (b != NULL && (b->n == BATCH_ITEMS || b->cap - b->used < n)) {
			batch_give(pl);
			b = NULL;
		}
		if (b == NULL && (b = batch_take(pl)) == NULL)
			break;
		if (b->cap < n) {	/* a long line, in an empty batch */
			if (b->bytes != b->home)
				free(b->bytes);
			b->cap = n;
			b->bytes = xmalloc(b->cap);
		}
		front_line(pl, b, in);
	}
	if (b != NULL && b->n > 0)
		batch_give(pl);
	pthread_mutex_lock(&pl->mu);
	pl->done = 1;
	pthread_cond_signal(&pl->filled);
	pthread_mutex_unlock(&pl->mu);
	pl->fe_cpu = thread_cpu();
	return NULL;
}

/* ring_init - the batches, the mutex and the condition variables */
static int
ring_init(rg_pipeline *pl)
{
	int i;

	if (pthread_mutex_init(&pl->mu, NULL) != 0)
		return -1;
	if (pthread_cond_init(&pl->filled, NULL) != 0) {
		pthread_mutex_destroy(&pl->mu);
		return -1;
	}
	if (pthread_cond_init(&pl->freed, NULL) != 0) {
		pthread_cond_destroy(&pl->filled);
		pthread_mutex_destroy(&pl->mu);
		return -1;
	}
	/*
	 * The items and the bytes of every batch in one block, in huge pages
	 * (xmalloc_huge): faulted in 2 MiB at once, not 4 KiB at a time as
	 * they are first used (about 400 faults of 10 us each on a VM);
	 * without huge pages, still as they are used
	 */
	pl->ring_mem = xmalloc_huge(RING_BYTES);
	for (i = 0; i < NBATCH; i++) {
		batch *b = &pl->ring[i];

		b->items = (item *)pl->ring_mem + (size_t)i * BATCH_ITEMS;
		b->ready = 0;
		b->cap = BATCH_BYTES;
		b->home = b->bytes = (char *)pl->ring_mem + ITEMS_BYTES
		    + (size_t)i * BATCH_BYTES;
	}
	pl->produced = pl->consumed = 0;
	pl->done = pl->fe_waits = pl->be_waits = 0;
	atomic_store(&pl->stop, 0);
	pl->fe_slept = pl->be_slept = 0;
	return 0;
}

/* ring_free - release what ring_init made */
static void
ring_free(rg_pipeline *pl)
{
	int i, j;

	for (i = 0; i < NBATCH; i++) {
		batch *b = &pl->ring[i];

		for (j = 0; j < b->ready; j++)
			sb_free(&b->items[j].scratch);
		if (b->bytes != b->home)
			free(b->bytes);
		memset(b, 0, sizeof(*b));
	}
	free(pl->ring_mem);
	pl->ring_mem = NULL;
	pthread_cond_destroy(&pl->freed);
	pthread_cond_destroy(&pl->filled);
	pthread_mutex_destroy(&pl->mu);
}

/* run_two - the front end in a thread, the assembler in this one */
static int
run_two(rg_pipeline *pl, rg_parser *p, int (*stop)(void *), void *arg)
{
	pthread_t t;
	const item *items;
	double cpu0 = thread_cpu();
	int i, n, stopped = 0, err;

	if (ring_init(pl) != 0)
		return -1;
	if ((err = pthread_create(&t, NULL, front_main, pl)) != 0) {
		ring_free(pl);
		errno = err;
		log_debug("parse: no front-end thread (%s): one thread",
		    strerror(err));
		return -1;
	}
	while (!stopped) {
		batch *b;

		pthread_mutex_lock(&pl->mu);
		while (pl->consumed == pl->produced && !pl->done) {
			pl->be_waits = 1;
			pl->be_slept++;
			pthread_cond_wait(&pl->filled, &pl->mu);
		}
		pl->be_waits = 0;
		b = pl->consumed < pl->produced
		    ? &pl->ring[pl->consumed % NBATCH] : NULL;
		pthread_mutex_unlock(&pl->mu);
		if (b == NULL)
			break;		/* done, and every batch taken */
		/* b's header shares a cache line with the one being filled */
		n = b->n;
		items = b->items;
		for (i = 0; i < n; i++) {
			prs_event(p, &items[i].ll, &items[i].ev);
			if (stop != NULL && stop(arg)) {
				stopped = 1;
				break;
			}
		}
		pthread_mutex_lock(&pl->mu);
		pl->consumed++;
		if (stopped)
			atomic_store(&pl->stop, 1);
		if (pl->fe_waits
		    && (stopped || pl->produced - pl->consumed <= NBATCH - WAKE))
			pthread_cond_signal(&pl->freed);
		pthread_mutex_unlock(&pl->mu);
	}
	pthread_join(t, NULL);
	log_debug("parse: two threads (the front end in its own): %llu "
	    "batches; CPU seconds: front end %.3f, assembler %.3f; the front "
	    "end waited %lu times, the assembler %lu", pl->produced,
	    pl->fe_cpu, thread_cpu() - cpu0, pl->fe_slept, pl->be_slept);
	ring_free(pl);
	return 0;
}

/* ppl_run - every line of the inputs through the parser */
int
ppl_run(rg_pipeline *pl, rg_parser *p, int threads, int (*stop)(void *),
    void *arg)
{
	int i, two;

	if (threads <= 0)
		threads = ppl_threads_auto();
	merge_start(pl);
	two = threads >= 2 && run_two(pl, p, stop, arg) == 0;
	if (!two)
		run_one(pl, p, stop, arg);
	if (!two)
		log_debug("parse: one thread");
	for (i = 0; i < pl->nin; i++)
		pl->fe.truncated += lr_truncated(pl->in[i].lr);
	prs_add_stats(p, &pl->fe);
	return pl->failed ? -1 : 0;
}
