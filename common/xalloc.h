/*
 * xalloc.h - allocation that cannot return NULL.
 *
 * Running out of memory is not an error relayguard can recover from in a
 * useful way: these print a message and abort().
 */
#ifndef RG_XALLOC_H
#define RG_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
/*
 * xmalloc_huge, xcalloc_huge - as xmalloc, xcalloc; from 256 KiB on, in
 * 2 MiB transparent huge pages where the system has them (the size
 * rounded up to them): one page fault for each 2 MiB instead of 512, and
 * a fault costs about 10 us on a VM. free() releases them; realloc()
 * keeps the bytes, not the huge pages.
 */
void *xmalloc_huge(size_t n);
void *xcalloc_huge(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
