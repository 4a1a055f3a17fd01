/*
 * pipeline.c - the time-merge of `parse`'s inputs through one parser, the
 * front end in a thread of its own (pipeline.h).
 *
 * Owns the inputs: their line readers and their ll_ctx (year inference,
 * the host and tag caches), which only the front end touches while a run
 * lasts. With two threads, also a ring of batches (evring.h): the front
 * end copies each line into the batch it fills (with one input, its reader
 * reads into the batch instead: front_lent) and parses it there (or
 * leaves it to the other thread: a raw batch); the calling thread takes
 * the batches in the order they were filled and gives each back when its
 * events have been through the assembler. The
 * front end counts lines in its own prs_stats, added to the parser's
 * after the thread has been joined.
 *
 * Fails only on input: an input that cannot be opened or read is logged
 * once. If the thread cannot be started, the run is done in one thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/cpuprobe.h"
#include "../common/linereader.h"
#include "../common/log.h"
#include "../common/proc.h"
#include "../common/xalloc.h"
#include "evring.h"
#include "merge.h"
#include "pipeline.h"

#define SMALL_INPUT	(4 << 20)	/* bytes: one thread below (threads_for) */
#define NEAR_NS		300	/* the round trip under which two gain */

typedef struct input {
	rg_merge_head h;	/* the next line (merge.h) */
	const char *name;
	linereader *lr;
	ll_ctx ctx;
	int order;		/* position on the command line */
	const char *line;	/* h.ll's line, in the reader's buffer */
	size_t len;
} input;

struct rg_pipeline {
	input *in;
	int nin;
	int last;		/* the input whose line was taken last, -1 */
	int failed;		/* an input could not be read to its end */
	prs_stats fe;		/* what the front end counted */
	evr_ring *ring;		/* while two threads run */
	long long bytes;	/* the inputs' sizes; -1: one is not a file */
	double fe_cpu;		/* the front-end thread's CPU seconds */
	evr_batch *cur;		/* the batch being filled, its bytes lent to
				 * the one input's reader (front_lent) */
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
		    && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			ref = st.st_mtime;
			if (pl->bytes >= 0)
				pl->bytes += (long long)st.st_size;
		} else
			pl->bytes = -1;
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

/*
 * threads_for - ppl_run's threads, and *raw_only for the ring (evring.h):
 * two threads if asked, or by default if the CPUs allow it
 * (ppl_threads_auto), the input is big enough to pay for starting a thread
 * (SMALL_INPUT bytes; standard input counts as big) and the other CPU
 * answers the probe (cpuprobe.h). With a cache line's round trip between
 * the CPUs under NEAR_NS, the two threads share the parsing as their
 * speeds say. Farther (a VM whose vCPUs sit on different host cores),
 * every batch is raw: the front end only reads and splits, the assembler's
 * thread parses; an event written on one CPU and read on the other cost
 * more there than parsing it (bench/README.md)
 */
static int
threads_for(const rg_pipeline *pl, int asked, int *raw_only)
{
	const char *two = "two threads, sharing the parsing";
	double ns;

	*raw_only = 0;
	if (asked == 1)
		return 1;
	if (ppl_threads_auto() < 2) {
		if (asked <= 0)
			return 1;
		log_debug("parse: one CPU: %s", two);
		return 2;
	}
	if (asked <= 0 && pl->bytes >= 0 && pl->bytes < SMALL_INPUT) {
		log_debug("parse: %lld bytes of input: one thread", pl->bytes);
		return 1;
	}
	ns = rg_cpu_roundtrip_ns();
	if (ns < 0 || ns >= RG_CPU_NO_ANSWER) {
		log_debug("parse: the round trip between two CPUs %s: %s",
		    ns < 0 ? "could not be measured (no thread)" : "had no "
		    "answer within milliseconds (the other CPU busy)",
		    asked <= 0 ? "one thread" : two);
		return asked <= 0 ? 1 : 2;
	}
	*raw_only = ns >= NEAR_NS;
	log_debug("parse: a cache line's round trip between two CPUs took "
	    "%.0f ns (%s %d): %s", ns, *raw_only ? "not under" : "under",
	    NEAR_NS, *raw_only ? "two threads, the assembler's thread "
	    "parsing every line" : two);
	return 2;
}

/*
 * next_lent - give the batch being filled and lend the next one's bytes to
 * in's reader, the bytes it read and did not hand out copied to their
 * start (front_lent); -1 when the run is stopped
 */
static int
next_lent(rg_pipeline *pl, input *in)
{
	size_t cap;
	char *bytes;

	if (pl->cur != NULL) {
		evr_give(pl->ring);
		pl->cur = NULL;
	}
	if ((pl->cur = evr_take(pl->ring)) == NULL)
		return -1;
	bytes = evr_lend(pl->cur, &cap);
	if (lr_lend(in->lr, bytes, cap) < 0) {
		/* not after lends_fit(): a bug */
		log_warnx("%s: a line reader could not read into a batch",
		    in->name);
		pl->failed = 1;
		evr_stop(pl->ring);
		return -1;
	}
	return 0;
}

/* advance - read the input's next line with a known header */
static void
advance(rg_pipeline *pl, input *in)
{
	const char *line;
	size_t len;
	int r;

	in->h.have = 0;
	while ((r = lr_next(in->lr, &line, &len)) >= 1) {
		if (r == 2) {	/* the lent batch is full (front_lent) */
			if (next_lent(pl, in) < 0)
				return;	/* the run is stopped */
			continue;
		}
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

	merge_start(pl);
	while ((in = merge_next(pl)) != NULL) {
		prs_line(p, &in->h.ll);
		if (stop != NULL && stop(arg))
			break;
	}
}

/* front_main - the front-end thread: the merge, into batches */
static void *
front_main(void *arg)
{
	rg_pipeline *pl = arg;
	evr_batch *b = NULL;
	input *in;

	merge_start(pl);
	while ((in = merge_next(pl)) != NULL) {
		if (evr_stopped(pl->ring))
			break;
		if (b == NULL && (b = evr_take(pl->ring)) == NULL)
			break;
		if (evr_add(pl->ring, b, &in->h.ll, in->line, in->len,
		    &pl->fe) < 0) {
			evr_give(pl->ring);
			if ((b = evr_take(pl->ring)) == NULL)
				break;
			/* an empty batch takes any line */
			evr_add(pl->ring, b, &in->h.ll, in->line, in->len, &pl->fe);
		}
	}
	if (b != NULL && b->n > 0)
		evr_give(pl->ring);
	evr_end(pl->ring);
	pl->fe_cpu = rg_thread_cpu();
	return NULL;
}

/*
 * front_lent - the front-end thread for one input: its reader reads into
 * the bytes of the batch being filled (lr_lend), and a line is not copied
 * again on its way to the other thread; a batch's bytes come back to it
 * with the batch. The bytes read but not handed out when a batch has no
 * item left are copied to the next one (some of a read, once a batch).
 */
static void *
front_lent(void *arg)
{
	rg_pipeline *pl = arg;
	input *in = &pl->in[0];

	/* before the first read: every line the reader hands out is in a
	 * batch */
	if (next_lent(pl, in) == 0) {
		merge_start(pl);
		while (merge_next(pl) != NULL) {
			if (evr_stopped(pl->ring))
				break;
			evr_add_lent(pl->ring, pl->cur, &in->h.ll, &pl->fe);
			/* no item left: the next batch (before the next
			 * line is read) */
			if (evr_full(pl->cur) && next_lent(pl, in) < 0)
				break;
		}
	}
	if (pl->cur != NULL)
		evr_give(pl->ring);
	pl->cur = NULL;
	evr_end(pl->ring);
	pl->fe_cpu = rg_thread_cpu();
	return NULL;
}

/*
 * lends_fit - whether the front end can read into the batches: one input
 * (lines of several are merged by time into a batch: copied), and a batch
 * its reader can read into (lr_lend_min: about two lines of the maximum
 * length)
 */
static int
lends_fit(const rg_pipeline *pl)
{
	return pl->nin == 1 && lr_lend_min(pl->in[0].lr) <= EVR_BATCH_BYTES;
}

/* run_two - the front end in a thread, the assembler in this one */
static int
run_two(rg_pipeline *pl, rg_parser *p, int raw_only, int (*stop)(void *),
    void *arg)
{
	pthread_t t;
	const evr_batch *b;
	const evr_item *items;
	const logline *lls;
	double cpu0 = rg_thread_cpu();
	unsigned long long batches, nraw;
	unsigned long fe_slept, be_slept;
	int i, n, raw, stopped = 0, err, lent;

	if ((pl->ring = evr_new(0, raw_only)) == NULL)
		return -1;
	lent = lends_fit(pl);
	if ((err = pthread_create(&t, NULL, lent ? front_lent : front_main,
	    pl)) != 0) {
		evr_free(pl->ring);
		pl->ring = NULL;
		errno = err;
		log_debug("parse: no front-end thread (%s): one thread",
		    strerror(err));
		return -1;
	}
	while (!stopped && (b = evr_next(pl->ring)) != NULL) {
		/* b's header shares a cache line with the one being filled */
		n = b->n;
		raw = b->raw;
		items = b->items;
		lls = b->lls;
		for (i = 0; i < n; i++) {
			evr_parse(p, &lls[i], &items[i], raw);
			if (stop != NULL && stop(arg)) {
				stopped = 1;
				break;
			}
		}
		if (stopped)
			evr_stop(pl->ring);
		evr_put(pl->ring);
	}
	pthread_join(t, NULL);
	evr_stats(pl->ring, &batches, &nraw, &fe_slept, &be_slept);
	log_debug("parse: two threads (the front end in its own, %s): %llu "
	    "batches, %llu of them parsed by the assembler's thread; CPU "
	    "seconds: front end %.3f, assembler %.3f; the front end waited "
	    "%lu times, the assembler %lu", lent ? "reading into the "
	    "batches" : pl->nin > 1 ? "copying the lines of its inputs into "
	    "the batches" : "copying the lines into the batches: they may "
	    "be too long to read into one", batches, nraw, pl->fe_cpu,
	    rg_thread_cpu() - cpu0, fe_slept, be_slept);
	evr_free(pl->ring);
	pl->ring = NULL;
	return 0;
}

/* ppl_run - every line of the inputs through the parser */
int
ppl_run(rg_pipeline *pl, rg_parser *p, int threads, int (*stop)(void *),
    void *arg)
{
	unsigned long made, taken, missed;
	int i, two, raw_only;

	threads = threads_for(pl, threads, &raw_only);
	if (ppl_threads_auto() > 1)
		asm_prefault(prs_assembler(p));
	two = threads >= 2 && run_two(pl, p, raw_only, stop, arg) == 0;
	if (!two)
		run_one(pl, p, stop, arg);
	if (!two)
		log_debug("parse: one thread");
	asm_prefault_stats(prs_assembler(p), &made, &taken, &missed);
	if (made > 0)
		log_debug("parse: open records: %lu slabs of 2 MiB faulted in "
		    "ahead in another thread, %lu of them used; %lu needed "
		    "before one was ready", made, taken, missed);
	for (i = 0; i < pl->nin; i++)
		pl->fe.truncated += lr_truncated(pl->in[i].lr);
	prs_add_stats(p, &pl->fe);
	return pl->failed ? -1 : 0;
}
