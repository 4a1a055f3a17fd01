/*
 * test_xalloc.c - the huge-page allocations (xmalloc_huge, xcalloc_huge)
 * and the hash table whose slots they hold: zeroed when asked even on
 * reused memory, usable to their last byte, and the table still finds
 * every entry across the sizes where its slots move into huge pages.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/hash.h"
#include "../../common/xalloc.h"
#include "unit.h"

/* all_zero - whether n bytes at p are all 0 */
static int
all_zero(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

/* t_zeroed - xcalloc_huge zeroes memory that was dirtied and freed */
static void
t_zeroed(void)
{
	static const size_t sizes[] = { 1000, (256 << 10) - 1, 256 << 10,
	    (1 << 20) + 3, 3 << 20 };
	size_t k;

	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n = sizes[k];
		unsigned char *p = xmalloc_huge(n);

		memset(p, 0xAA, n);
		free(p);
		p = xcalloc_huge(n, 1);
		CHECK(all_zero(p, n));
		p[n - 1] = 1;	/* usable to its end */
		free(p);
	}
}

/* t_aligned - 2 MiB aligned from 256 KiB on; realloc keeps the bytes */
static void
t_aligned(void)
{
	unsigned char *p = xmalloc_huge(300 << 10), *q;
	size_t i;

	CHECK(((uintptr_t)p & ((2u << 20) - 1)) == 0);
	for (i = 0; i < (300 << 10); i++)
		p[i] = (unsigned char)(i * 7);
	q = xrealloc(p, 5 << 20);
	for (i = 0; i < (300 << 10); i++)
		if (q[i] != (unsigned char)(i * 7))
			break;
	CHECK(i == (300 << 10));
	free(q);
	q = xcalloc_huge(0, 16);	/* like xcalloc */
	CHECK(q != NULL);
	free(q);
}

/* t_htab - every entry found across the sizes of huge-page slots */
static void
t_htab(void)
{
	static uint32_t keys[300000];
	rg_htab t;
	size_t i, n = sizeof(keys) / sizeof(keys[0]), found = 0;

	rg_htab_init(&t, 8);
	for (i = 0; i < n; i++) {
		keys[i] = (uint32_t)i;
		rg_htab_insert(&t, rg_hash(&keys[i], 4), &keys[i]);
	}
	CHECK((t.mask + 1) * sizeof(rg_htab_slot) >= (2u << 20));
	for (i = 0; i < n; i++) {
		uint32_t h = rg_hash(&keys[i], 4);
		size_t j = rg_htab_start(&t, h);
		void *v;

		while ((v = rg_htab_next(&t, h, &j)) != NULL)
			if (v == &keys[i]) {
				found++;
				break;
			}
	}
	CHECK(found == n);
	for (i = 0; i < n; i += 2)
		CHECK(rg_htab_remove(&t, rg_hash(&keys[i], 4), &keys[i]) == 0);
	CHECK(t.n == n / 2);
	rg_htab_clear(&t);
	CHECK(t.n == 0);
	CHECK(all_zero((const unsigned char *)t.slot,
	    (t.mask + 1) * sizeof(rg_htab_slot)));
	rg_htab_free(&t);
}

int
main(void)
{
	CASE("xcalloc_huge: zeroed, also where dirty memory was freed",
	    t_zeroed());
	CASE("xmalloc_huge: 2 MiB aligned from 256 KiB on, realloc keeps the bytes",
	    t_aligned());
	CASE("rg_htab: every entry found as its slots grow into huge pages, "
	    "then removed and cleared", t_htab());
	return unit_total_failed ? 1 : 0;
}
