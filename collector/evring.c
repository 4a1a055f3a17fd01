/*
 * evring.c - the ring of parsed-line batches between a front-end thread
 * and the assembler's (evring.h).
 *
 * Owns NBATCH batches in one block (their items, their split headers,
 * then their bytes), one mutex and two condition variables. A batch is the
 * front end's from evr_take to evr_give, the other thread's from evr_next
 * to evr_put. Never fails once made; a long line grows its batch's bytes
 * (xmalloc).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/xalloc.h"
#include "evring.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define STREAM_LL 1	/* put_ll: a raw batch's headers bypass the cache */
#endif

#define NBATCH		8		/* batches in the ring */
#define WAKE		(NBATCH / 2)	/* batches filled (freed) before a wake-up */
#define NAP_NS		25000	/* the front end's first nap on a full ring */
#define NAPS		6	/* naps, each twice the last, before it sleeps
				 * until woken (25 us ... 0.8 ms: 1.6 ms) */
#define BATCH_ITEMS	256		/* events a batch */
#define BATCH_BYTES	EVR_BATCH_BYTES	/* line bytes a batch (more for a long
					 * line, unless lent) */
#define SCRATCH_KEEP	4096		/* a larger scratch is freed once used */
/* the ring's block: the items, the split headers, then the bytes (all
 * 64-byte multiples) */
#define ITEMS_BYTES	(((size_t)NBATCH * BATCH_ITEMS * sizeof(evr_item) \
			    + 63) & ~(size_t)63)
#define LLS_BYTES	(((size_t)NBATCH * BATCH_ITEMS * sizeof(logline) \
			    + 63) & ~(size_t)63)
#define RING_BYTES	(ITEMS_BYTES + LLS_BYTES + (size_t)NBATCH * BATCH_BYTES)

struct evr_ring {
	pthread_mutex_t mu;
	pthread_cond_t filled, freed;
	evr_batch ring[NBATCH];
	void *mem;		/* the batches' items and bytes, in one */
	char *user;		/* the batches' user bytes */
	unsigned long long produced;	/* batches handed over */
	unsigned long long consumed;	/* batches given back */
	int raw_only;		/* every batch raw (evr_new) */
	int taken;		/* evr_next returned a batch not put yet */
	int done;		/* the front end has handed over its last */
	atomic_int stop;	/* no more wanted (the front end looks at it
				 * for each line, without the lock) */
	unsigned long long raw;	/* raw batches handed over */
	int fe_waits, be_waits;	/* the front end (the other) sleeps */
	unsigned long fe_slept, be_slept;	/* times each one napped or
						 * slept */
};

/*
 * evr_new - an empty ring whose batches carry user_size bytes each; with
 * raw_only, every batch is raw
 */
evr_ring *
evr_new(size_t user_size, int raw_only)
{
	evr_ring *r = xcalloc(1, sizeof(*r));
	size_t us = (user_size + 63) & ~(size_t)63;
	int i, err;

	if ((err = pthread_mutex_init(&r->mu, NULL)) != 0)
		goto fail;
	if ((err = pthread_cond_init(&r->filled, NULL)) != 0) {
		pthread_mutex_destroy(&r->mu);
		goto fail;
	}
	if ((err = pthread_cond_init(&r->freed, NULL)) != 0) {
		pthread_cond_destroy(&r->filled);
		pthread_mutex_destroy(&r->mu);
		goto fail;
	}
	/* in huge pages (xmalloc_huge): faulted in 2 MiB at once, not 4 KiB
	 * at a time as they are first used */
	r->mem = xmalloc_huge(RING_BYTES);
	r->user = us > 0 ? xcalloc(NBATCH, us) : NULL;
	for (i = 0; i < NBATCH; i++) {
		evr_batch *b = &r->ring[i];

		b->items = (evr_item *)r->mem + (size_t)i * BATCH_ITEMS;
		b->lls = (logline *)((char *)r->mem + ITEMS_BYTES)
		    + (size_t)i * BATCH_ITEMS;
		b->cap = BATCH_BYTES;
		b->home = b->bytes = (char *)r->mem + ITEMS_BYTES + LLS_BYTES
		    + (size_t)i * BATCH_BYTES;
		b->user = r->user != NULL ? r->user + (size_t)i * us : NULL;
	}
	r->raw_only = raw_only;
	atomic_store(&r->stop, 0);
	return r;
fail:
	free(r);
	errno = err;
	return NULL;
}

/* evr_free - release the ring; NULL is a no-op */
void
evr_free(evr_ring *r)
{
	int i, j;

	if (r == NULL)
		return;
	for (i = 0; i < NBATCH; i++) {
		evr_batch *b = &r->ring[i];

		for (j = 0; j < b->ready; j++)
			sb_free(&b->items[j].scratch);
		if (b->bytes != b->home)
			free(b->bytes);
	}
	free(r->mem);
	free(r->user);
	pthread_cond_destroy(&r->freed);
	pthread_cond_destroy(&r->filled);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/* keep - a copy of n bytes in the batch (room was checked) */
static const char *
keep(evr_batch *b, const char *p, size_t n)
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

/* need - the batch bytes that a line and its split header take */
static size_t
need(const logline *ll, const char *line, size_t len)
{
	size_t n = len;

	if (ll->host != NULL && !within(ll->host, ll->hostlen, line, len))
		n += ll->hostlen;
	if (ll->prog != NULL && !within(ll->prog, ll->proglen, line, len))
		n += ll->proglen;
	if (ll->daemon != NULL && !within(ll->daemon, ll->daemonlen, line,
	    len))
		n += ll->daemonlen;
	if (ll->msg != NULL && !within(ll->msg, ll->msglen, line, len))
		n += ll->msglen;
	return n;
}

/*
 * rebase - a field of the line at line (len bytes) in its copy at copy;
 * a field elsewhere (a constant, or a cache of the input's ll_ctx that the
 * next line may change) gets a copy of its own
 */
static const char *
rebase(evr_batch *b, const char *p, size_t n, const char *line, size_t len,
    const char *copy)
{
	if (p == NULL)
		return NULL;
	if (within(p, n, line, len))
		return copy + (p - line);
	return keep(b, p, n);
}

/*
 * parse_item - the batch's next split header, just filled: parsed unless b
 * is raw (into its item, whose scratch is made ready then); mark: the
 * batch's bytes before it, given back if it is not for the assembler
 */
static int
parse_item(evr_batch *b, size_t mark, prs_stats *st)
{
	evr_item *it;
	int r;

	b->lines++;
	if (b->raw) {
		b->n++;
		return 1;
	}
	if (b->n == b->ready)
		sb_init(&b->items[b->ready++].scratch);
	it = &b->items[b->n];
	r = prs_front(st, &b->lls[b->n], &it->ev, &it->scratch);
	b->big |= it->scratch.cap > SCRATCH_KEEP;
	if (r) {
		b->n++;
		return 1;
	}
	b->used = mark;		/* not for the assembler */
	return 0;
}

/*
 * put_ll - a line's split header into its place in b. Written on this CPU
 * and read on the other one: in a raw batch, with the CPUs far apart, a
 * plain store waits for the place's cache line to come back from the
 * other CPU's cache, which read it the last time round (400 ns there, and
 * a header of the line just split, read back to copy it, waited behind
 * such stores: bench/README.md). x86-64: such a batch's headers go to
 * memory in streaming stores, one 8-byte word at a time, read as words
 * (so that each load takes its word from the store that split it), made
 * visible before the batch is given (evr_give). A batch that is parsed
 * here reads its headers at once: a plain copy.
 */
static inline void
put_ll(evr_batch *b, const logline *ll)
{
#ifdef STREAM_LL
	typedef long long __attribute__((may_alias)) word;
	const volatile word *w = (const volatile word *)ll;
	word *d = (word *)&b->lls[b->n];
	size_t k;

	_Static_assert(sizeof(logline) % sizeof(word) == 0, "logline words");
	if (b->raw) {
		for (k = 0; k < sizeof(logline) / sizeof(word); k++)
			_mm_stream_si64(d + k, w[k]);
		return;
	}
#endif
	b->lls[b->n] = *ll;
}

/*
 * evr_add - the line into batch b, split and parsed. Every pointer of
 * logline is moved here (a new one must be too); the daemon name stays
 * where it is in the program name (pf_classify compares the two pointers).
 */
int
evr_add(evr_ring *r, evr_batch *b, const logline *src, const char *line,
    size_t len, prs_stats *st)
{
	size_t n = need(src, line, len), mark;
	const char *copy;
	logline ll;

	(void)r;
	if (b->n == BATCH_ITEMS || b->cap - b->used < n) {
		if (b->n > 0 || b->used > 0)
			return -1;
		/* a long line, in an empty batch */
		if (b->bytes != b->home)
			free(b->bytes);
		b->cap = n;
		b->bytes = xmalloc(b->cap);
	}
	mark = b->used;
	copy = keep(b, line, len);
	ll = *src;
	ll.host = rebase(b, src->host, src->hostlen, line, len, copy);
	ll.prog = rebase(b, src->prog, src->proglen, line, len, copy);
	if (src->prog != NULL && src->daemon != NULL
	    && within(src->daemon, src->daemonlen, src->prog, src->proglen))
		ll.daemon = ll.prog + (src->daemon - src->prog);
	else
		ll.daemon = rebase(b, src->daemon, src->daemonlen, line, len,
		    copy);
	ll.msg = rebase(b, src->msg, src->msglen, line, len, copy);
	put_ll(b, &ll);
	return parse_item(b, mark, st);
}

/*
 * evr_lend - b's bytes, for a line reader to read into (lr_lend): the
 * lines it hands out are then added with evr_add_lent. Its bytes are its
 * own from evr_take on (never grown for a long line): *cap of them.
 */
char *
evr_lend(evr_batch *b, size_t *cap)
{
	*cap = b->cap;
	return b->bytes;
}

/*
 * evr_add_lent - as evr_add, for a line that lies in b's own bytes
 * (evr_lend): nothing is copied. Its split header points into the line or
 * at constants (logline.h), and so stays valid with the batch. -1: no item
 * left, and the line is not added: the caller gives b once evr_full says
 * so, before its reader hands out the next line (which would then lie in
 * b's bytes, not in the batch it goes into).
 */
int
evr_add_lent(evr_ring *r, evr_batch *b, const logline *ll, prs_stats *st)
{
	(void)r;
	if (b->n == BATCH_ITEMS)
		return -1;
	put_ll(b, ll);
	return parse_item(b, b->used, st);
}

/* evr_full - whether b has no item left */
int
evr_full(const evr_batch *b)
{
	return b->n == BATCH_ITEMS;
}

/*
 * evr_take - the next batch to fill, NULL when the run is stopped. On a
 * full ring the front end naps and looks again (NAPS times, each nap twice
 * the last) before it sleeps until the other thread wakes it: a wake-up
 * is a system call and an interrupt to the sleeper's CPU, paid by the
 * other thread, the busier one once the front end has to wait
 * (bench/README.md); the other thread frees a batch every 30 us or so.
 */
evr_batch *
evr_take(evr_ring *r)
{
	evr_batch *b = NULL;
	int i, naps = 0;

	pthread_mutex_lock(&r->mu);
	while (!atomic_load(&r->stop) && r->produced - r->consumed == NBATCH) {
		r->fe_slept++;
		if (naps < NAPS) {
			struct timespec ts = { 0, (long)NAP_NS << naps++ };

			pthread_mutex_unlock(&r->mu);
			(void)nanosleep(&ts, NULL);
			pthread_mutex_lock(&r->mu);
			continue;
		}
		r->fe_waits = 1;
		pthread_cond_wait(&r->freed, &r->mu);
	}
	r->fe_waits = 0;
	if (!atomic_load(&r->stop)) {
		b = &r->ring[r->produced % NBATCH];
		/* raw_only, or the other thread has at most the batch it
		 * works on */
		b->raw = r->raw_only || r->produced - r->consumed <= 1;
		r->raw += (unsigned)b->raw;
	}
	pthread_mutex_unlock(&r->mu);
	if (b == NULL)
		return NULL;
	/* a hostile line's large scratch is not kept for good (only a
	 * batch the front end parsed has one) */
	for (i = 0; b->big && i < b->ready; i++) {
		if (b->items[i].scratch.cap > SCRATCH_KEEP) {
			sb_free(&b->items[i].scratch);
			sb_init(&b->items[i].scratch);
		}
	}
	b->big = 0;
	if (b->bytes != b->home) {	/* grown for a long line */
		free(b->bytes);
		b->bytes = b->home;
		b->cap = BATCH_BYTES;
	}
	b->n = 0;
	b->lines = 0;
	b->used = 0;
	return b;
}

/*
 * evr_give - hand the batch being filled over. A sleeping thread is woken
 * when WAKE batches are ready for it, not at each one: a wake-up per batch
 * costs more than the batch.
 */
void
evr_give(evr_ring *r)
{
#ifdef STREAM_LL
	_mm_sfence();	/* put_ll's streaming stores, before the batch goes */
#endif
	pthread_mutex_lock(&r->mu);
	r->produced++;
	if (r->be_waits && r->produced - r->consumed >= WAKE)
		pthread_cond_signal(&r->filled);
	pthread_mutex_unlock(&r->mu);
}

/* evr_end - the front end gives no more batches */
void
evr_end(evr_ring *r)
{
	pthread_mutex_lock(&r->mu);
	r->done = 1;
	pthread_cond_signal(&r->filled);
	pthread_mutex_unlock(&r->mu);
}

/* evr_next - the next batch handed over; NULL at the end or once stopped */
evr_batch *
evr_next(evr_ring *r)
{
	evr_batch *b;

	pthread_mutex_lock(&r->mu);
	while (r->consumed == r->produced && !r->done
	    && !atomic_load(&r->stop)) {
		r->be_waits = 1;
		r->be_slept++;
		pthread_cond_wait(&r->filled, &r->mu);
	}
	r->be_waits = 0;
	b = r->consumed < r->produced && !atomic_load(&r->stop)
	    ? &r->ring[r->consumed % NBATCH] : NULL;
	r->taken = b != NULL;
	pthread_mutex_unlock(&r->mu);
	return b;
}

/* evr_put - give back the batch evr_next returned */
void
evr_put(evr_ring *r)
{
	pthread_mutex_lock(&r->mu);
	if (r->taken) {
		r->consumed++;
		r->taken = 0;
	}
	if (r->fe_waits && r->produced - r->consumed <= NBATCH - WAKE)
		pthread_cond_signal(&r->freed);
	pthread_mutex_unlock(&r->mu);
}

/* evr_stop - no more batches wanted: the front end stops at its next look */
void
evr_stop(evr_ring *r)
{
	pthread_mutex_lock(&r->mu);
	atomic_store(&r->stop, 1);
	pthread_cond_broadcast(&r->freed);
	pthread_cond_broadcast(&r->filled);
	pthread_mutex_unlock(&r->mu);
}

/* evr_stopped - whether evr_stop was called (no lock: for each line) */
int
evr_stopped(evr_ring *r)
{
	return atomic_load_explicit(&r->stop, memory_order_relaxed);
}

/* evr_stats - batches handed over (raw of them), how often each side slept */
void
evr_stats(const evr_ring *r, unsigned long long *batches,
    unsigned long long *raw, unsigned long *fe_slept,
    unsigned long *be_slept)
{
	*batches = r->produced;
	*raw = r->raw;
	*fe_slept = r->fe_slept;
	*be_slept = r->be_slept;
}
