/*
 * arena.c - region allocation (arena.h). An arena owns its chunks; a pool
 * owns the chunks given back to it, in size classes, up to its byte
 * limit (beyond it they are freed). Nothing here fails.
 */
#include <stdint.h>
#include <stdlib.h>

#include "arena.h"
#include "xalloc.h"

#define ALIGN 16
#define CLASS_MIN 512			/* every pooled chunk */
#define NCLASS 1			/* one size: most records fit in one or two */
#define CHUNK_MAX ((size_t)CLASS_MIN << (NCLASS - 1))

typedef struct rg_chunk {
	struct rg_chunk *next;
	size_t size;			/* of the whole chunk */
	/* the data follows, aligned */
} rg_chunk;

#define HDR ((sizeof(rg_chunk) + ALIGN - 1) & ~(size_t)(ALIGN - 1))

struct rg_pool {
	rg_chunk *free[NCLASS];
	size_t bytes, max_bytes;
};

/* size_class - the class of a chunk size, -1 if it has none */
static int
size_class(size_t size)
{
	int c;

	for (c = 0; c < NCLASS; c++)
		if (size == (size_t)CLASS_MIN << c)
			return c;
	return -1;
}

/* rg_pool_new - a pool that keeps up to max_bytes of free chunks */
rg_pool *
rg_pool_new(size_t max_bytes)
{
	rg_pool *p = xcalloc(1, sizeof(*p));

	p->max_bytes = max_bytes;
	return p;
}

/* rg_pool_free - release the pool and the chunks it keeps; NULL is a no-op */
void
rg_pool_free(rg_pool *p)
{
	rg_chunk *c, *n;
	int i;

	if (p == NULL)
		return;
	for (i = 0; i < NCLASS; i++)
		for (c = p->free[i]; c != NULL; c = n) {
			n = c->next;
			free(c);
		}
	free(p);
}

/* chunk_get - a chunk of exactly size bytes, from the pool if it has one */
static rg_chunk *
chunk_get(rg_pool *p, size_t size)
{
	int c = size_class(size);
	rg_chunk *ch;

	if (p != NULL && c >= 0 && (ch = p->free[c]) != NULL) {
		p->free[c] = ch->next;
		p->bytes -= size;
		return ch;
	}
	ch = xmalloc(size);
	ch->size = size;
	return ch;
}

/* chunk_put - give a chunk back to the pool, or free it */
static void
chunk_put(rg_pool *p, rg_chunk *ch)
{
	int c = size_class(ch->size);

	if (p != NULL && c >= 0 && p->bytes + ch->size <= p->max_bytes) {
		ch->next = p->free[c];
		p->free[c] = ch;
		p->bytes += ch->size;
		return;
	}
	free(ch);
}

/* rg_arena_init - an empty arena drawing chunks from pool (may be NULL) */
void
rg_arena_init(rg_arena *a, rg_pool *pool)
{
	a->chunks = NULL;
	a->p = a->end = NULL;
	a->size = 0;
	a->pool = pool;
}

/*
 * alloc - n bytes aligned to align (a power of two, at most ALIGN). New
 * chunks are of the pool's size, small because most records are small and
 * the free space of an arena's last chunk is its waste (512 bytes: 60% of
 * the records of the bench log fit in one, nearly all in two); a request
 * bigger than half of that gets a chunk of its own, behind the
 * current one, whose free space stays in use.
 */
static void *
alloc(rg_arena *a, size_t n, size_t align)
{
	uintptr_t at = ((uintptr_t)a->p + align - 1) & ~(uintptr_t)(align - 1);
	size_t size;
	rg_chunk *ch;

	if (a->p != NULL && at <= (uintptr_t)a->end
	    && n <= (size_t)((uintptr_t)a->end - at)) {
		a->p = (char *)at + n;
		return (char *)at;
	}
	size = a->chunks == NULL ? CLASS_MIN : a->chunks->size * 2;
	if (size > CHUNK_MAX)
		size = CHUNK_MAX;
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
	s = alloc(a, sizeof(n32) + n + 1, 1);
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
}
