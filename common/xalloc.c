/*
 * xalloc.c - malloc wrappers that abort on exhaustion (a broken invariant
 * for this program: memory use is bounded by design).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
