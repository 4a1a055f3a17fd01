/*
 * memfind.h - the first occurrence of a short literal in a byte range.
 *
 * The literals searched for in log lines are a few bytes long, the ranges
 * a few dozen: memchr for the first byte and a compare is several times
 * cheaper than memmem, whose setup (a table of 256 shifts) costs more
 * than the search (bench/README.md), and is still linear in the range
 * times the literal's length.
 *
 *	rg_memfind(p, end, lit, litlen)	the first lit in [p, end), or NULL;
 *					p itself if litlen is 0
 */
#ifndef RG_MEMFIND_H
#define RG_MEMFIND_H

#include <stddef.h>
#include <string.h>

static inline const char *
rg_memfind(const char *p, const char *end, const char *lit, size_t litlen)
{
	const char *last;

	if (litlen == 0)
		return p;
	if (end - p < (ptrdiff_t)litlen)
		return NULL;
	last = end - litlen;
	while (p <= last) {
		p = memchr(p, lit[0], (size_t)(last - p) + 1);
		if (p == NULL)
			return NULL;
		if (memcmp(p + 1, lit + 1, litlen - 1) == 0)
			return p;
		p++;
	}
	return NULL;
}

#endif
