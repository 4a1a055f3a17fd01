/*
 * hash.h - the hash functions (FNV-1a, 32 bits, a byte at a time; and
 * rg_hash_words, eight bytes at a time, for the parser's hot tables) and
 * the one hash table of relayguard.
 *
 * The table is open addressing with linear probing: each slot holds the
 * full hash of its entry and a pointer to it, so a lookup compares hashes
 * in one array and touches an entry only when its hash matches. The table
 * does not know the keys: the caller walks the entries of one hash with
 * rg_htab_start()/rg_htab_next() and compares its own key:
 *
 *	size_t i = rg_htab_start(t, h);
 *	while ((v = rg_htab_next(t, h, &i)) != NULL)
 *		if (same_key(v, key))
 *			return v;
 *
 * Entries are the caller's; the table only points at them. Keys must be
 * unique (a table of many equal keys probes long runs). The load factor
 * stays at most 1/2.
 */
#ifndef RG_HASH_H
#define RG_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define RG_HASH_INIT 2166136261u

/* rg_hash_more - continue an FNV-1a hash over n more bytes */
static inline uint32_t
rg_hash_more(uint32_t h, const void *p, size_t n)
{
	const unsigned char *u = p;

	while (n--) {
		h ^= *u++;
		h *= 16777619u;
	}
	return h;
}

/* rg_hash - the FNV-1a hash of n bytes */
static inline uint32_t
rg_hash(const void *p, size_t n)
{
	return rg_hash_more(RG_HASH_INIT, p, n);
}

/* FNV-1a 64's offset basis */
#define RG_HASH64_INIT 14695981039346656037ULL

/* rg_hash64_more - continue a 64-bit FNV-1a hash over n more bytes */
static inline uint64_t
rg_hash64_more(uint64_t h, const void *p, size_t n)
{
	const unsigned char *u = p;

	while (n--) {
		h ^= *u++;
		h *= 1099511628211ULL;
	}
	return h;
}

/*
 * rg_hash64 - the 64-bit FNV-1a hash of n bytes from the sources' own
 * basis (a digit short of RG_HASH64_INIT since the first version: the
 * file fingerprints it makes are stored in databases, so it never changes)
 */
static inline uint64_t
rg_hash64(const void *p, size_t n)
{
	return rg_hash64_more(1469598103934665603ULL, p, n);
}

/*
 * rg_hash_words - a hash of n bytes taken eight at a time (a multiply and
 * a shift each, then a final mix): about four times fewer steps than FNV
 * for a queue ID or a Message-ID. Not stored anywhere: only in-memory
 * tables use it, and they recompute it when they are rebuilt.
 * rg_hash64_words is the same with all 64 bits (the configuration cache's
 * key of a file's content: a few milliseconds for 10 MB).
 */
/* rg_hash64_mix - hash h continued by the 64-bit word w (a step of
 * rg_hash64_words; also a digest of several values, one at a time) */
static inline uint64_t
rg_hash64_mix(uint64_t h, uint64_t w)
{
	h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
	return h ^ (h >> 31);
}

/* rg_hash_u64 - a table's 32-bit hash of a 64-bit key (the top half of a
 * multiply by the golden ratio: keys that differ only in low bits spread) */
static inline uint32_t
rg_hash_u64(uint64_t v)
{
	return (uint32_t)((v * 0x9E3779B97F4A7C15ull) >> 32);
}

static inline uint64_t
rg_hash64_words(const void *p, size_t n)
{
	const unsigned char *u = p;
	uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n, w;

	while (n >= 8) {
		memcpy(&w, u, 8);
		h = rg_hash64_mix(h, w);
		u += 8;
		n -= 8;
	}
	if (n > 0) {
		w = 0;
		while (n > 0) {
			n--;
			w = (w << 8) | u[n];
		}
		h = rg_hash64_mix(h, w);
	}
	h *= 0x94D049BB133111EBull;
	h ^= h >> 32;
	return h;
}

/* rg_hash_words - rg_hash64_words cut to 32 bits */
static inline uint32_t
rg_hash_words(const void *p, size_t n)
{
	return (uint32_t)rg_hash64_words(p, n);
}

typedef struct rg_htab_slot {
	uint32_t hash;
	void *val;		/* NULL: empty */
} rg_htab_slot;

typedef struct rg_htab {
	rg_htab_slot *slot;
	size_t mask;		/* slots - 1 (a power of two) */
	size_t n;
} rg_htab;

void rg_htab_init(rg_htab *t, size_t min_slots);
void rg_htab_free(rg_htab *t);
void rg_htab_insert(rg_htab *t, uint32_t h, void *val);
int rg_htab_remove(rg_htab *t, uint32_t h, const void *val);
void rg_htab_clear(rg_htab *t);

/* rg_htab_start - where the walk over the entries of hash h starts */
static inline size_t
rg_htab_start(const rg_htab *t, uint32_t h)
{
	return h & t->mask;
}

/* rg_htab_next - the next entry of hash h from *i on, or NULL */
static inline void *
rg_htab_next(const rg_htab *t, uint32_t h, size_t *i)
{
	const rg_htab_slot *s;

	for (;;) {
		s = &t->slot[*i];
		*i = (*i + 1) & t->mask;
		if (s->val == NULL)
			return NULL;
		if (s->hash == h)
			return s->val;
	}
}

#endif
