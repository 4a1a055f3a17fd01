/*
 * zero.h - a struct of a few hundred bytes set to zeros in 16-byte stores.
 *
 * For a constant size, GCC makes memset() "rep stos"; on the VMs this was
 * measured on, its start-up cost more than the stores, and the first
 * store after it waited for it: clearing parse's 500-byte event was over
 * half of pf_parse's own time, and parse --stats took 8% less without it
 * (bench/README.md). For the hot paths only: elsewhere memset says it
 * as well.
 *
 *	RG_ZERO(p)	*p all zeros (p a pointer to a complete type)
 *	rg_zero(p, n)	n bytes at p all zeros (n a constant, for the
 *			stores to be unrolled)
 */
#ifndef RG_ZERO_H
#define RG_ZERO_H

#include <stddef.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

static inline void
rg_zero(void *p, size_t n)
{
#ifdef __SSE2__
	char *c = p;
	__m128i z = _mm_setzero_si128();
	size_t i;

#pragma GCC unroll 64
	for (i = 0; i + 16 <= n; i += 16)
		_mm_storeu_si128((__m128i *)(void *)(c + i), z);
	if (i < n)
		memset(c + i, 0, n - i);
#else
	memset(p, 0, n);
#endif
}

#define RG_ZERO(p)	rg_zero((p), sizeof(*(p)))

#endif
