/*
 * ser.c - varint and string serialisation. The writer owns nothing; the
 * reader returns malloc'ed strings that the caller frees. A truncated or
 * damaged buffer sets the reader's bad flag; no read goes past its end.
 */
#include <stdlib.h>
#include <string.h>

#include "ser.h"
#include "xalloc.h"

/* ser_put_u64 - an unsigned LEB128 varint */
void
ser_put_u64(strbuf *sb, uint64_t v)
{
	char buf[10];
	size_t n = 0;

	do {
		unsigned char b = v & 0x7f;

		v >>= 7;
		buf[n++] = (char)(v ? b | 0x80 : b);
	} while (v);
	sb_add(sb, buf, n);
}

/* ser_put_i64 - a signed number, zig-zag encoded */
void
ser_put_i64(strbuf *sb, int64_t v)
{
	ser_put_u64(sb, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

/* ser_put_str - 0 for NULL, else length + 1 and the bytes */
void
ser_put_str(strbuf *sb, const char *s)
{
	size_t n;

	if (s == NULL) {
		ser_put_u64(sb, 0);
		return;
	}
	n = strlen(s);
	ser_put_u64(sb, (uint64_t)n + 1);
	sb_add(sb, s, n);
}

/* ser_reader_init - read from n bytes at p */
void
ser_reader_init(ser_reader *r, const void *p, size_t n)
{
	r->p = p;
	r->end = r->p + n;
	r->bad = 0;
}

/* ser_get_u64 - a varint; 0 and bad on a damaged buffer */
uint64_t
ser_get_u64(ser_reader *r)
{
	uint64_t v = 0;
	int shift = 0;

	while (!r->bad) {
		unsigned char b;

		if (r->p >= r->end || shift > 63) {
			r->bad = 1;
			break;
		}
		b = *r->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
		shift += 7;
	}
	return 0;
}

/* ser_get_i64 - a zig-zag number */
int64_t
ser_get_i64(ser_reader *r)
{
	uint64_t u = ser_get_u64(r);

	return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* ser_get_str - a string (malloc'ed) or NULL */
char *
ser_get_str(ser_reader *r)
{
	uint64_t n = ser_get_u64(r);
	char *s;

	if (r->bad || n == 0)
		return NULL;
	n--;
	if (n > (uint64_t)(r->end - r->p)) {
		r->bad = 1;
		return NULL;
	}
	s = xstrndup((const char *)r->p, (size_t)n);
	if (strlen(s) != n) {	/* a NUL inside: not ours */
		free(s);
		r->bad = 1;
		return NULL;
	}
	r->p += n;
	return s;
}

/*
 * ser_get_strn - a string in place: its bytes in the buffer (not
 * NUL-terminated) and *len, or NULL (NULL stored, or damaged: see bad)
 */
const char *
ser_get_strn(ser_reader *r, size_t *len)
{
	uint64_t n = ser_get_u64(r);
	const char *s;

	*len = 0;
	if (r->bad || n == 0)
		return NULL;
	n--;
	if (n > (uint64_t)(r->end - r->p)
	    || memchr(r->p, '\0', (size_t)n) != NULL) {	/* not ours */
		r->bad = 1;
		return NULL;
	}
	s = (const char *)r->p;
	r->p += n;
	*len = (size_t)n;
	return s;
}

/* ser_ok - everything read, nothing wrong */
int
ser_ok(const ser_reader *r)
{
	return !r->bad && r->p == r->end;
}
