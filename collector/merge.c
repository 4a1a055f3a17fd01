/*
 * merge.c - the time-merge of log inputs (merge.h).
 */
#include "merge.h"

/* mrg_best - the input whose next line is the earliest; ties: the first */
int
mrg_best(const void *base, size_t stride, int n)
{
	const rg_merge_head *h, *b = NULL;
	int i, best = -1;

	for (i = 0; i < n; i++) {
		h = (const rg_merge_head *)((const char *)base
		    + (size_t)i * stride);
		if (h->have && (b == NULL || h->ll.ts < b->ll.ts)) {
			b = h;
			best = i;
		}
	}
	return best;
}
