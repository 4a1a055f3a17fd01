/*
 * hash.c - the open-addressing hash table of hash.h. Owns the slot array
 * (never the entries). Cannot fail: memory comes from xalloc.
 */
#include <stdlib.h>

#include "hash.h"
#include "xalloc.h"

/* rg_htab_init - an empty table with room for min_slots / 2 entries */
void
rg_htab_init(rg_htab *t, size_t min_slots)
{
	size_t n = 16;

	while (n < min_slots)
		n *= 2;
	t->slot = xcalloc_huge(n, sizeof(*t->slot));
	t->mask = n - 1;
	t->n = 0;
}

/* rg_htab_free - release the slots; the entries are the caller's */
void
rg_htab_free(rg_htab *t)
{
	free(t->slot);
	t->slot = NULL;
	t->mask = 0;
	t->n = 0;
}

/* rg_htab_clear - every entry out at once (the slots are kept) */
void
rg_htab_clear(rg_htab *t)
{
	if (t->slot != NULL)
		memset(t->slot, 0, (t->mask + 1) * sizeof(*t->slot));
	t->n = 0;
}

/* put - an entry into the first free slot of its run */
static void
put(rg_htab_slot *slot, size_t mask, uint32_t h, void *val)
{
	size_t i = h & mask;

	while (slot[i].val != NULL)
		i = (i + 1) & mask;
	slot[i].hash = h;
	slot[i].val = val;
}

/* rg_htab_insert - add an entry (the caller knows its key is new) */
void
rg_htab_insert(rg_htab *t, uint32_t h, void *val)
{
	if ((t->n + 1) * 2 > t->mask + 1) {
		size_t nm = (t->mask + 1) * 2 - 1, i;
		rg_htab_slot *ns = xcalloc_huge(nm + 1, sizeof(*ns));

		for (i = 0; i <= t->mask; i++)
			if (t->slot[i].val != NULL)
				put(ns, nm, t->slot[i].hash, t->slot[i].val);
		free(t->slot);
		t->slot = ns;
		t->mask = nm;
	}
	put(t->slot, t->mask, h, val);
	t->n++;
}

/*
 * rg_htab_remove - take the entry val (of hash h) out; 0 if it was there.
 * The entries after it in its run move back (no tombstones).
 */
int
rg_htab_remove(rg_htab *t, uint32_t h, const void *val)
{
	size_t i = h & t->mask, j, home;

	while (t->slot[i].val != val) {
		if (t->slot[i].val == NULL)
			return -1;
		i = (i + 1) & t->mask;
	}
	t->slot[i].val = NULL;
	t->n--;
	for (j = (i + 1) & t->mask; t->slot[j].val != NULL;
	    j = (j + 1) & t->mask) {
		home = t->slot[j].hash & t->mask;
		/* j's entry may move to the hole i if its home is not in (i, j] */
		if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
			t->slot[i] = t->slot[j];
			t->slot[j].val = NULL;
			i = j;
		}
	}
	return 0;
}
