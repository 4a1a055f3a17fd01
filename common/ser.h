/*
 * ser.h - a compact binary serialisation for state that must survive a
 * restart (the assembler's open records). Varints for numbers, length-
 * prefixed bytes for strings, with a distinct mark for NULL.
 *
 * Writing appends to a strbuf. Reading walks a buffer: every getter checks
 * the bounds and sets r->bad instead of reading past the end, so a damaged
 * blob is detected (ser_ok) rather than trusted.
 */
#ifndef RG_SER_H
#define RG_SER_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "strbuf.h"

typedef struct ser_reader {
	const unsigned char *p, *end;
	int bad;
} ser_reader;

void ser_put_u64(strbuf *sb, uint64_t v);
void ser_put_i64(strbuf *sb, int64_t v);
void ser_put_str(strbuf *sb, const char *s);	/* NULL allowed */

void ser_reader_init(ser_reader *r, const void *p, size_t n);
uint64_t ser_get_u64(ser_reader *r);
int64_t ser_get_i64(ser_reader *r);
char *ser_get_str(ser_reader *r);		/* malloc'ed, or NULL */
const char *ser_get_strn(ser_reader *r, size_t *len);	/* in place */
int ser_ok(const ser_reader *r);		/* no error and all read */

/* ser_get_astr - a string copied into ar (rg_arena_str), or NULL */
static inline char *
ser_get_astr(ser_reader *r, rg_arena *ar)
{
	size_t n;
	const char *t = ser_get_strn(r, &n);

	return t == NULL ? NULL : rg_arena_str(ar, t, n);
}

#endif
