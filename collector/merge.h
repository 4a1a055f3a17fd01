/*
 * merge.h - the time-merge of several log inputs, shared by parse and
 * collect: each input holds its next line read ahead (an rg_merge_head at
 * the start of the caller's input struct), and the line taken next is the
 * earliest; among lines of the same time, the input named first.
 */
#ifndef RG_MERGE_H
#define RG_MERGE_H

#include <stddef.h>

#include "logline.h"

typedef struct rg_merge_head {
	logline ll;		/* the next line, read ahead */
	int have;		/* ll holds it (not processed yet) */
} rg_merge_head;

/*
 * the index of the input whose next line is the earliest, -1 if none has
 * one; inputs are n structs of stride bytes at base, each beginning with
 * an rg_merge_head
 */
int mrg_best(const void *base, size_t stride, int n);

#endif
