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
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
