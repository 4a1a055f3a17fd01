/*
 * malloc_count.c - an LD_PRELOAD counter of heap allocations, for
 * bench/parse.sh: counts the calls to malloc, calloc and realloc (and
 * free) of the process and prints them on standard error at exit as
 * "malloc_count: allocations N frees N". Built by bench/parse.sh with
 *   cc -O2 -shared -fPIC -o malloc_count.so malloc_count.c -ldl
 * Not part of relayguard.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static unsigned long long nalloc, nfree;

/* glibc's own entry points: no dlsym (calloc would recurse into it) */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

/* report - the counts, written with write(2) at exit */
static void __attribute__((destructor))
report(void)
{
	char buf[128];
	int n = snprintf(buf, sizeof(buf),
	    "malloc_count: allocations %llu frees %llu\n", nalloc, nfree);

	if (n > 0)
		(void)!write(2, buf, (size_t)n);
}

void *
malloc(size_t n)
{
	nalloc++;
	return __libc_malloc(n);
}

void *
calloc(size_t n, size_t m)
{
	nalloc++;
	return __libc_calloc(n, m);
}

void *
realloc(void *p, size_t n)
{
	nalloc++;
	return __libc_realloc(p, n);
}

void
free(void *p)
{
	if (p != NULL)
		nfree++;
	__libc_free(p);
}
