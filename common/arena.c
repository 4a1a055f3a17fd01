/*
 * arena.c - region allocation (arena.h). An arena owns its chunks; a pool
 * owns its slabs and the free blocks in them. Nothing here fails.
 *
 * Blocks are carved from 2 MiB slabs that the kernel may back with huge
 * pages (madvise MADV_HUGEPAGE): on a virtual machine a page fault costs
 * microseconds, and a parse that holds 50 MiB of open records took 12,000
 * of them with 4 KiB pages, 1,100 with huge ones. A freed block goes back
 * to the pool's free list, never to malloc: the pool keeps the peak of
 * what its arenas held (bounded, as the open records are, by
 * max_message_age) until rg_pool_free. Chunks of other sizes up to
 * CLASS_MAX (a record compacted into one chunk, a long value) come from
 * the same slabs, rounded up to a multiple of CLASS (32) bytes, and go back to
 * a free list of their size: a parse that holds tens of thousands of
 * waiting records calls malloc for none of them; fixed-size nodes take
 * the same classes (rg_pool_get). With rg_pool_prefault, a thread of the
 * pool's own writes to its next slabs before they are needed: on a
 * virtual machine memory the host has not backed yet costs 1-2 ms a MiB
 * at its first write. Under AddressSanitizer every block is its own
 * malloc, so that overruns between blocks are still caught.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arena.h"
#include "xalloc.h"

#define ALIGN 16
#define SLAB (2u << 20)
#define CLASS 32			/* chunk sizes of the pool: multiples of */
#define CLASS_MAX 4096			/* ... up to this; beyond, malloc */
#define NCLASS (CLASS_MAX / CLASS + 1)

#if defined(__SANITIZE_ADDRESS__)
#define BLOCK_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BLOCK_MALLOC 1
#endif
#endif

typedef struct rg_chunk {
	struct rg_chunk *next;
	size_t size;			/* of the whole chunk */
	/* the data follows, aligned */
} rg_chunk;

#define HDR ((sizeof(rg_chunk) + ALIGN - 1) & ~(size_t)(ALIGN - 1))

typedef struct free_block {
	struct free_block *next;
} free_block;

typedef struct slab {
	struct slab *next;
} slab;

#define READY 2			/* slabs the prefault thread keeps ready */

/* rg_pool_prefault's thread and the slabs it has faulted in */
typedef struct prefault {
	pthread_t t;
	pthread_mutex_t mu;
	pthread_cond_t room;		/* a ready slab was taken, or stop */
	void *ready[READY];
	int nready;
	int stop;
	unsigned long made;		/* slabs it faulted in */
	unsigned long taken, missed;	/* slabs the pool took ready, or
					 * made itself (none was) */
} prefault;

struct rg_pool {
	free_block *free;		/* blocks given back */
	free_block *cls[NCLASS];	/* chunks given back, by size / CLASS */
	char *p, *end;			/* the rest of the newest slab */
	slab *slabs;
	prefault *pf;			/* NULL: slabs are faulted in on use */
	int pf_want;			/* start pf at the second slab */
};

static void prefault_stop(rg_pool *);

/* rg_pool_new - an empty pool */
rg_pool *
rg_pool_new(void)
{
	return xcalloc(1, sizeof(rg_pool));
}

/* rg_pool_free - release the pool and every block of it; NULL is a no-op */
void
rg_pool_free(rg_pool *p)
{
	slab *s, *n;

	if (p == NULL)
		return;
	prefault_stop(p);
#ifdef BLOCK_MALLOC
	{
		free_block *b, *bn;

		for (b = p->free; b != NULL; b = bn) {
			bn = b->next;
			free(b);
		}
	}
#endif
	for (s = p->slabs; s != NULL; s = n) {
		n = s->next;
		free(s);
	}
	free(p);
}

#ifndef BLOCK_MALLOC
/* slab_new - a slab, in a huge page where the kernel gives one */
static void *
slab_new(void)
{
	void *v;

	if (posix_memalign(&v, SLAB, SLAB) != 0)
		v = xmalloc(SLAB);
#ifdef MADV_HUGEPAGE
	(void)madvise(v, SLAB, MADV_HUGEPAGE);
#endif
	return v;
}

/*
 * prefault_main - keep READY slabs faulted in: a write to each page makes
 * the kernel clear it (2 MiB at once in a huge page) here, on another
 * CPU, not in the middle of the caller's work
 */
static void *
prefault_main(void *arg)
{
	prefault *pf = arg;
	long pg = sysconf(_SC_PAGESIZE);
	size_t step = pg > 0 ? (size_t)pg : 4096, i;
	volatile char *v;

	pthread_mutex_lock(&pf->mu);
	for (;;) {
		while (!pf->stop && pf->nready == READY)
			pthread_cond_wait(&pf->room, &pf->mu);
		if (pf->stop)
			break;
		pthread_mutex_unlock(&pf->mu);
		v = slab_new();
		for (i = 0; i < SLAB; i += step)
			v[i] = 0;
		pthread_mutex_lock(&pf->mu);
		pf->ready[pf->nready++] = (void *)v;
		pf->made++;
	}
	pthread_mutex_unlock(&pf->mu);
	return NULL;
}

/* prefault_take - a slab the thread made ready, or NULL (none yet) */
static void *
prefault_take(prefault *pf)
{
	void *v = NULL;

	pthread_mutex_lock(&pf->mu);
	if (pf->nready > 0) {
		v = pf->ready[--pf->nready];
		pf->taken++;
		pthread_cond_signal(&pf->room);
	} else
		pf->missed++;
	pthread_mutex_unlock(&pf->mu);
	return v;
}
#endif

/*
 * rg_pool_prefault - fault the pool's slabs in ahead of use, in a thread
 * of its own, once the pool needs a second one (a run that holds many
 * records: on a virtual machine the first write to memory that the host
 * has not backed yet costs 1-2 ms a MiB, and a parse of a large log holds
 * tens of MiB of waiting records; a short run starts no thread). The
 * thread keeps READY slabs (4 MiB) ready; the pool takes one when it
 * needs a slab, or makes its own if none is. 1 if it will; 0 under
 * AddressSanitizer (whose blocks are each a malloc of their own). If the
 * thread cannot be started, slabs are faulted in on use, as without.
 */
int
rg_pool_prefault(rg_pool *p)
{
#ifndef BLOCK_MALLOC
	p->pf_want = 1;
	return 1;
#else
	(void)p;
	return 0;
#endif
}

#ifndef BLOCK_MALLOC
/* prefault_start - start the pool's prefault thread; 0 if it cannot be */
static int
prefault_start(rg_pool *p)
{
	prefault *pf = xcalloc(1, sizeof(*pf));

	if (pthread_mutex_init(&pf->mu, NULL) != 0) {
		free(pf);
		return 0;
	}
	if (pthread_cond_init(&pf->room, NULL) != 0) {
		pthread_mutex_destroy(&pf->mu);
		free(pf);
		return 0;
	}
	if (pthread_create(&pf->t, NULL, prefault_main, pf) != 0) {
		pthread_cond_destroy(&pf->room);
		pthread_mutex_destroy(&pf->mu);
		free(pf);
		return 0;
	}
	p->pf = pf;
	return 1;
}
#endif

/*
 * rg_pool_prefault_stats - slabs the thread faulted in; of the slabs the
 * pool needed, those it took ready and those it made itself (none was)
 */
void
rg_pool_prefault_stats(const rg_pool *p, unsigned long *made,
    unsigned long *taken, unsigned long *missed)
{
	*made = *taken = *missed = 0;
#ifndef BLOCK_MALLOC
	if (p->pf != NULL) {
		pthread_mutex_lock(&p->pf->mu);
		*made = p->pf->made;
		*taken = p->pf->taken;
		*missed = p->pf->missed;
		pthread_mutex_unlock(&p->pf->mu);
	}
#else
	(void)p;
#endif
}

/* prefault_stop - end the pool's prefault thread; its ready slabs freed */
static void
prefault_stop(rg_pool *p)
{
#ifndef BLOCK_MALLOC
	prefault *pf = p->pf;
	int i;

	if (pf == NULL)
		return;
	pthread_mutex_lock(&pf->mu);
	pf->stop = 1;
	pthread_cond_signal(&pf->room);
	pthread_mutex_unlock(&pf->mu);
	pthread_join(pf->t, NULL);
	for (i = 0; i < pf->nready; i++)
		free(pf->ready[i]);
	pthread_cond_destroy(&pf->room);
	pthread_mutex_destroy(&pf->mu);
	free(pf);
	p->pf = NULL;
#else
	(void)p;
#endif
}

#ifndef BLOCK_MALLOC
/* carve - size bytes (a multiple of CLASS) from the newest slab */
static void *
carve(rg_pool *p, size_t size)
{
	void *v;

	if ((size_t)(p->end - p->p) < size) {
		slab *s;

		if (p->pf == NULL && p->pf_want && p->slabs != NULL
		    && !prefault_start(p))
			p->pf_want = 0;
		if (p->pf == NULL || (v = prefault_take(p->pf)) == NULL)
			v = slab_new();
		s = v;
		s->next = p->slabs;
		p->slabs = s;
		/* the slab's header takes the first block */
		p->p = (char *)v + RG_POOL_BLOCK;
		p->end = (char *)v + SLAB;
	}
	v = p->p;
	p->p += size;
	return v;
}
#endif

/* rg_pool_block - a block of RG_POOL_BLOCK bytes (not zeroed) */
void *
rg_pool_block(rg_pool *p)
{
	free_block *b = p->free;

	if (b != NULL) {
		p->free = b->next;
		return b;
	}
#ifdef BLOCK_MALLOC
	return xmalloc(RG_POOL_BLOCK);
#else
	return carve(p, RG_POOL_BLOCK);
#endif
}

/* rg_pool_unblock - give a block back to its pool */
void
rg_pool_unblock(rg_pool *p, void *v)
{
	free_block *b = v;

	b->next = p->free;
	p->free = b;
}

/*
 * rg_pool_get - n bytes (at most 4 KiB; not zeroed, 16-aligned) of the
 * pool's size classes: a fixed-size node smaller than a block wastes less
 * than RG_POOL_BLOCK. Give them back with rg_pool_put and the same n.
 */
void *
rg_pool_get(rg_pool *p, size_t n)
{
#ifdef BLOCK_MALLOC
	(void)p;
	return xmalloc(n);
#else
	size_t c = (n + CLASS - 1) / CLASS;
	free_block *b;

	if (c * CLASS == RG_POOL_BLOCK)
		return rg_pool_block(p);
	if ((b = p->cls[c]) != NULL) {
		p->cls[c] = b->next;
		return b;
	}
	return carve(p, c * CLASS);
#endif
}

/* rg_pool_put - give back n bytes that rg_pool_get(p, n) gave */
void
rg_pool_put(rg_pool *p, void *v, size_t n)
{
#ifdef BLOCK_MALLOC
	(void)p;
	(void)n;
	free(v);
#else
	size_t c = (n + CLASS - 1) / CLASS;
	free_block *b = v;

	if (c * CLASS == RG_POOL_BLOCK) {
		rg_pool_unblock(p, v);
		return;
	}
	b->next = p->cls[c];
	p->cls[c] = b;
#endif
}

/*
 * chunk_get - a chunk of at least size bytes: a pool block, a chunk of
 * the pool's size classes, or (no pool, or too big) one of malloc
 */
static rg_chunk *
chunk_get(rg_pool *p, size_t size)
{
	rg_chunk *ch;

	if (p != NULL && size == RG_POOL_BLOCK)
		ch = rg_pool_block(p);
#ifndef BLOCK_MALLOC
	else if (p != NULL && size <= CLASS_MAX) {
		size = (size + CLASS - 1) / CLASS * CLASS;
		ch = rg_pool_get(p, size);
	}
#endif
	else
		ch = xmalloc(size);
	ch->size = size;
	return ch;
}

/* chunk_put - give a chunk back to the pool, or free it */
static void
chunk_put(rg_pool *p, rg_chunk *ch)
{
	if (p != NULL && ch->size == RG_POOL_BLOCK)
		rg_pool_unblock(p, ch);
#ifndef BLOCK_MALLOC
	else if (p != NULL && ch->size <= CLASS_MAX)
		rg_pool_put(p, ch, ch->size);
#endif
	else
		free(ch);
}

/* rg_arena_init - an empty arena drawing chunks from pool (may be NULL) */
void
rg_arena_init(rg_arena *a, rg_pool *pool)
{
	a->chunks = NULL;
	a->p = a->end = NULL;
	a->size = 0;
	a->used = 0;
	a->pool = pool;
}

/*
 * rg_arena_init_reserve - an empty arena whose first chunk has room for n
 * bytes exactly (a chunk of its own, not a pool block)
 */
void
rg_arena_init_reserve(rg_arena *a, rg_pool *pool, size_t n)
{
	rg_chunk *ch;

	rg_arena_init(a, pool);
	ch = chunk_get(pool, HDR + n);
	ch->next = NULL;
	a->chunks = ch;
	a->size = ch->size;
	a->p = (char *)ch + HDR;
	a->end = (char *)ch + ch->size;
}

/*
 * alloc - n bytes aligned to align (a power of two, at most ALIGN). New
 * chunks are pool blocks, small because most records are small and the
 * free space of an arena's last chunk is its waste (512 bytes: 60% of the
 * records of the bench log fit in one, nearly all in two); a request
 * bigger than half of that gets a chunk of its own, behind the current
 * one, whose free space stays in use.
 */
static void *
alloc(rg_arena *a, size_t n, size_t align)
{
	uintptr_t at = ((uintptr_t)a->p + align - 1) & ~(uintptr_t)(align - 1);
	size_t size = RG_POOL_BLOCK;
	rg_chunk *ch;

	if (a->p != NULL && at <= (uintptr_t)a->end
	    && n <= (size_t)((uintptr_t)a->end - at)) {
		a->used += (size_t)(at - (uintptr_t)a->p) + n;
		a->p = (char *)at + n;
		return (char *)at;
	}
	a->used += n;
	if (n > (size - HDR) / 2 && a->chunks != NULL) {
		ch = chunk_get(a->pool, HDR + n);
		ch->next = a->chunks->next;
		a->chunks->next = ch;
		a->size += ch->size;
		return (char *)ch + HDR;
	}
	if (HDR + n > size)
		size = HDR + n;
	ch = chunk_get(a->pool, size);
	ch->next = a->chunks;
	a->chunks = ch;
	a->size += ch->size;
	a->p = (char *)ch + HDR + n;
	a->end = (char *)ch + ch->size;
	return (char *)ch + HDR;
}

/* rg_arena_alloc - n bytes, aligned for any struct */
void *
rg_arena_alloc(rg_arena *a, size_t n)
{
	return alloc(a, n, ALIGN);
}

/* rg_arena_str - a NUL-terminated copy of n bytes, its length before it */
char *
rg_arena_str(rg_arena *a, const char *p, size_t n)
{
	uint32_t n32;
	char *s;

	if (n > UINT32_MAX - 16)
		n = UINT32_MAX - 16;
	n32 = (uint32_t)n;
	/* room in the newest chunk: alloc's common case, without its call */
	if (a->p != NULL && sizeof(n32) + n + 1 <= (size_t)(a->end - a->p)) {
		s = a->p;
		a->p += sizeof(n32) + n + 1;
		a->used += sizeof(n32) + n + 1;
	} else {
		s = alloc(a, sizeof(n32) + n + 1, 1);
	}
	memcpy(s, &n32, sizeof(n32));
	memcpy(s + sizeof(n32), p, n);
	s[sizeof(n32) + n] = '\0';
	return s + sizeof(n32);
}

/* rg_arena_free - release everything allocated from the arena */
void
rg_arena_free(rg_arena *a)
{
	rg_chunk *c, *n;

	for (c = a->chunks; c != NULL; c = n) {
		n = c->next;
		chunk_put(a->pool, c);
	}
	a->chunks = NULL;
	a->p = a->end = NULL;
	a->size = 0;
	a->used = 0;
}
