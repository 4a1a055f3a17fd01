/*
 * xalloc.c - malloc wrappers that abort on exhaustion (a broken invariant
 * for this program: memory use is bounded by design).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "xalloc.h"

/* xnomem - report and abort */
static void
xnomem(size_t n)
{
	fprintf(stderr, "relayguard: out of memory (%zu bytes)\n", n);
	abort();
}

/* xmalloc - malloc or abort */
void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		xnomem(n);
	return p;
}

/* xcalloc - zeroed array or abort */
void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		xnomem(n * size);
	return p;
}

#define HUGE_PAGE	((size_t)2 << 20)
#define HUGE_MIN	((size_t)256 << 10)

/* xmalloc_huge - n bytes or abort, in huge pages when large */
void *
xmalloc_huge(size_t n)
{
	size_t r;
	void *p;

	if (n < HUGE_MIN)
		return xmalloc(n);
	if (n > SIZE_MAX - HUGE_PAGE)
		xnomem(n);
	r = (n + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
	if (posix_memalign(&p, HUGE_PAGE, r) != 0)
		xnomem(r);
#ifdef MADV_HUGEPAGE
	(void)madvise(p, r, MADV_HUGEPAGE);
#endif
	return p;
}

/* xcalloc_huge - zeroed array or abort, in huge pages when large */
void *
xcalloc_huge(size_t n, size_t size)
{
	size_t bytes;
	void *p;

	if (size != 0 && n > SIZE_MAX / size)
		xnomem(SIZE_MAX);
	bytes = n * size;
	if (bytes < HUGE_MIN)
		return xcalloc(n, size);
	p = xmalloc_huge(bytes);
	memset(p, 0, bytes);
	return p;
}

/* xrealloc - realloc or abort */
void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		xnomem(n);
	return q;
}

/* xstrdup - strdup or abort */
char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

/* xstrndup - copy at most n bytes of s, NUL-terminated */
char *
xstrndup(const char *s, size_t n)
{
	char *p;
	const char *e = memchr(s, '\0', n);

	if (e != NULL)
		n = (size_t)(e - s);
	p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}
