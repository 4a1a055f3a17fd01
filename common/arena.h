/*
 * arena.h - a region allocator: many small allocations, one release.
 *
 * An arena hands out memory from chunks and frees all of it at once
 * (rg_arena_free); there is no free of one allocation. A record of the
 * assembler owns one arena for all its strings and lists, so that building
 * a record costs no malloc per field and ending it one release.
 *
 * Chunks are blocks of a pool (rg_pool): RG_POOL_BLOCK bytes, carved from
 * large slabs, and given back to the pool's free list when an arena is
 * freed, so that a steady stream of records reuses the same memory without
 * calling malloc at all. Chunks of other sizes up to 4 KiB (a reserved
 * one, rg_arena_init_reserve; a long value) come from the same slabs in
 * 32-byte size classes with free lists of their own; bigger ones from
 * malloc. A pool outlives its arenas; it keeps the peak of
 * what they held until rg_pool_free. The assembler takes its fixed-size
 * nodes from the pool too (rg_pool_block, or rg_pool_get of a size class
 * and rg_pool_put with the same size). rg_pool_prefault: a thread of the
 * pool's own faults its next slabs in ahead of use, from the second slab
 * on (rg_pool_prefault_stats: slabs made, taken ready, needed before
 * one was ready).
 *
 * Strings (rg_arena_str) are NUL-terminated and carry their length in the
 * four bytes before them: rg_str_len() reads it without strlen.
 * rg_str_set() overwrites such a string in place with one no longer.
 * Memory comes from xalloc: nothing here fails.
 */
#ifndef RG_ARENA_H
#define RG_ARENA_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct rg_pool rg_pool;
struct rg_chunk;

typedef struct rg_arena {
	struct rg_chunk *chunks;	/* newest first */
	char *p, *end;			/* free space in the newest chunk */
	size_t size;			/* bytes of all chunks */
	size_t used;			/* bytes handed out, with padding */
	rg_pool *pool;			/* NULL: malloc and free */
} rg_arena;

#define RG_POOL_BLOCK 512

rg_pool *rg_pool_new(void);
void rg_pool_free(rg_pool *pool);
void *rg_pool_block(rg_pool *pool);
void rg_pool_unblock(rg_pool *pool, void *block);
void *rg_pool_get(rg_pool *pool, size_t n);
void rg_pool_put(rg_pool *pool, void *v, size_t n);
int rg_pool_prefault(rg_pool *pool);
void rg_pool_prefault_stats(const rg_pool *pool, unsigned long *made,
    unsigned long *taken, unsigned long *missed);

void rg_arena_init(rg_arena *a, rg_pool *pool);
void rg_arena_init_reserve(rg_arena *a, rg_pool *pool, size_t n);
void *rg_arena_alloc(rg_arena *a, size_t n);	/* aligned for any struct */
char *rg_arena_str(rg_arena *a, const char *p, size_t n);
void rg_arena_free(rg_arena *a);

/* rg_arena_grow - a copy of an array of n elements in a new place in a,
 * with room for cap of them (the old place stays until the arena goes) */
static inline void *
rg_arena_grow(rg_arena *a, const void *old, size_t n, size_t cap,
    size_t elsize)
{
	void *v = rg_arena_alloc(a, cap * elsize);

	if (n > 0)
		memcpy(v, old, n * elsize);
	return v;
}

/* rg_str_len - the length of a string made by rg_arena_str */
static inline size_t
rg_str_len(const char *s)
{
	uint32_t n;

	memcpy(&n, s - sizeof(n), sizeof(n));
	return n;
}

/* rg_str_set - overwrite an arena string with n <= its length bytes */
static inline void
rg_str_set(char *s, const char *p, size_t n)
{
	uint32_t n32 = (uint32_t)n;

	memmove(s, p, n);
	s[n] = '\0';
	memcpy(s - sizeof(n32), &n32, sizeof(n32));
}

#endif
