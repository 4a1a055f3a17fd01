/*
 * strbuf.c - growable buffers and JSON string escaping. Owns the buffer
 * memory; allocation failure aborts (xalloc).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "strbuf.h"
#include "xalloc.h"

/* sb_init - an empty buffer */
void
sb_init(strbuf *sb)
{
	sb->cap = 64;
	sb->s = xmalloc(sb->cap);
	sb->len = 0;
	sb->s[0] = '\0';
}

/* sb_free - release the memory; the buffer must be sb_init'ed to be reused */
void
sb_free(strbuf *sb)
{
	free(sb->s);
	sb->s = NULL;
	sb->len = sb->cap = 0;
}

/* sb_reset - empty the buffer, keeping its memory */
void
sb_reset(strbuf *sb)
{
	sb->len = 0;
	sb->s[0] = '\0';
}

/* sb_grow - make room for more bytes plus the terminating NUL */
void
sb_grow(strbuf *sb, size_t more)
{
	size_t need = sb->len + more + 1;

	if (need <= sb->cap)
		return;
	while (sb->cap < need)
		sb->cap *= 2;
	sb->s = xrealloc(sb->s, sb->cap);
}

/* sb_add - append n bytes */
void
sb_add(strbuf *sb, const char *p, size_t n)
{
	sb_grow(sb, n);
	memcpy(sb->s + sb->len, p, n);
	sb->len += n;
	sb->s[sb->len] = '\0';
}

/* sb_adds - append a C string */
void
sb_adds(strbuf *sb, const char *s)
{
	sb_add(sb, s, strlen(s));
}

/* sb_addc - append one byte */
void
sb_addc(strbuf *sb, char c)
{
	sb_grow(sb, 1);
	sb->s[sb->len++] = c;
	sb->s[sb->len] = '\0';
}

/* sb_printf - append formatted text */
void
sb_printf(strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(sb->s + sb->len, sb->cap - sb->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sb->cap - sb->len) {
		sb_grow(sb, (size_t)n);
		va_start(ap, fmt);
		vsnprintf(sb->s + sb->len, sb->cap - sb->len, fmt, ap);
		va_end(ap);
	}
	sb->len += (size_t)n;
}

/* utf8_len - length of the valid UTF-8 sequence at p (0 if invalid) */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t len, i;
	unsigned cp;

	if (c < 0xC2)
		return 0;
	else if (c < 0xE0)
		len = 2, cp = c & 0x1F;
	else if (c < 0xF0)
		len = 3, cp = c & 0x0F;
	else if (c < 0xF5)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)))
	    || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
		return 0;
	return len;
}

/* plain - bytes that go into a JSON string as they are */
static const unsigned char plain[256] = {
	[0x20] = 1, [0x21] = 1, [0x23] = 1, [0x24] = 1, [0x25] = 1, [0x26] = 1,
	[0x27] = 1, [0x28] = 1, [0x29] = 1, [0x2A] = 1, [0x2B] = 1, [0x2C] = 1,
	[0x2D] = 1, [0x2E] = 1, [0x2F] = 1,
	[0x30] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	[0x40] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	[0x50] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, [0x5D] = 1, 1, 1,
	[0x60] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	[0x70] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/*
 * special8 - does any of 8 bytes need more than a copy (a control byte,
 * '"', '\\', DEL or a byte of 0x80 and up)? Exact for the whole word.
 */
static inline uint64_t
special8(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101ULL;
	uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\'),
	    d = x ^ (ones * 0x7F);

	return (((x - ones * 0x20) & ~x) | ((q - ones) & ~q)
	    | ((b - ones) & ~b) | ((d - ones) & ~d) | x)
	    & 0x8080808080808080ULL;
}

#ifdef __SSE2__
/* special_v - bit i set when byte i of v is not plain */
static inline unsigned
special_v(__m128i v)
{
	/* signed: the bytes of 0x80 and up are below 0x20 too */
	__m128i m = _mm_or_si128(
	    _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
	    _mm_cmpeq_epi8(v, _mm_set1_epi8('"'))),
	    _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\\')),
	    _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F))));

	return (unsigned)_mm_movemask_epi8(m);
}

/* special16 - bit i set when byte i of the 16 at p is not plain */
static inline unsigned
special16(const unsigned char *p)
{
	return special_v(_mm_loadu_si128((const __m128i *)(const void *)p));
}
#else
/* special16 - bit i set when byte i of the 16 at p is not plain */
static inline unsigned
special16(const unsigned char *p)
{
	uint64_t a, b;
	unsigned m = 0;
	int i;

	memcpy(&a, p, 8);
	memcpy(&b, p + 8, 8);
	if ((special8(a) | special8(b)) == 0)
		return 0;
	for (i = 0; i < 16; i++)
		if (!plain[p[i]])
			m |= 1U << i;
	return m;
}
#endif

/*
 * short_plain - are all r bytes at u (0 < r < 16) plain? Reads only those
 * bytes: two overlapping words (or halves), or three single bytes.
 */
static inline int
short_plain(const unsigned char *u, size_t r)
{
	uint64_t x, y;
	uint32_t a, b;

	if (r >= 8) {
		memcpy(&x, u, 8);
		memcpy(&y, u + r - 8, 8);
#ifdef __SSE2__
		return special_v(_mm_set_epi64x((long long)y, (long long)x))
		    == 0;
#else
		return (special8(x) | special8(y)) == 0;
#endif
	}
	if (r >= 4) {
		memcpy(&a, u, 4);
		memcpy(&b, u + r - 4, 4);
#ifdef __SSE2__
		return special_v(_mm_cvtsi64_si128((long long)((uint64_t)a
		    | (uint64_t)b << 32))) == 0;
#else
		return special8((uint64_t)a | (uint64_t)b << 32) == 0;
#endif
	}
	/* the other five bytes of the word are spaces (plain) */
	x = 0x2020202020000000ULL | u[0] | (uint64_t)u[r >> 1] << 8
	    | (uint64_t)u[r - 1] << 16;
	return special8(x) == 0;
}

/* short_copy - copy r bytes (0 < r < 16) the way short_plain read them */
static inline void
short_copy(char *o, const unsigned char *u, size_t r)
{
	if (r >= 8) {
		memcpy(o, u, 8);
		memcpy(o + r - 8, u + r - 8, 8);
	} else if (r >= 4) {
		memcpy(o, u, 4);
		memcpy(o + r - 4, u + r - 4, 4);
	} else {
		o[0] = (char)u[0];
		o[r >> 1] = (char)u[r >> 1];
		o[r - 1] = (char)u[r - 1];
	}
}

/*
 * sb_json_str - append n bytes as a quoted, escaped JSON string. Room for
 * the worst case (6 output bytes for one input byte) is made first, so
 * the loop writes without checks. Plain text goes 16 bytes at a time
 * (stored whole, then kept up to the first byte that needs work); what
 * is left of it below 16 bytes is tested and copied in two overlapping
 * words. Never reads outside the n bytes.
 */
void
sb_json_str(strbuf *sb, const char *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)p, *end = u + n;
	char *o;

	sb_grow(sb, n * 6 + 2);
	o = sb->s + sb->len;
	*o++ = '"';
	while (u < end) {
		size_t r = (size_t)(end - u);
		unsigned m;

		if (r >= 16) {
			/* room: 6 bytes for each of the 16 or more left */
			m = special16(u);
			memcpy(o, u, 16);
			if (m == 0) {
				o += 16;
				u += 16;
				continue;
			}
			m = (unsigned)__builtin_ctz(m);
			o += m;
			u += m;
		} else {
			if (short_plain(u, r)) {
				short_copy(o, u, r);
				o += r;
				break;
			}
			while (u < end && plain[*u])
				*o++ = (char)*u++;
			if (u == end)	/* not reached: short_plain is exact */
				break;
		}
		/* *u needs work */
		if (*u == '"' || *u == '\\') {
			*o++ = '\\';
			*o++ = (char)*u++;
		} else if (*u < 0x20 || *u == 0x7F) {
			*o++ = '\\';
			*o++ = 'u';
			*o++ = '0';
			*o++ = '0';
			*o++ = hex[*u >> 4];
			*o++ = hex[*u & 15];
			u++;
		} else {
			size_t l = utf8_len(u, (size_t)(end - u));

			if (l == 0) {
				memcpy(o, "\xEF\xBF\xBD", 3);
				o += 3;
				u++;
			} else {
				memcpy(o, u, l);
				o += l;
				u += l;
			}
		}
	}
	*o++ = '"';
	*o = '\0';
	sb->len = (size_t)(o - sb->s);
}

/* sb_json_key - append the separator and "key": */
void
sb_json_key(strbuf *sb, int *first, const char *key)
{
	sb_json_key_n(sb, first, key, strlen(key));
}

/* sb_json_key_n - sb_json_key for a key of kl bytes */
void
sb_json_key_n(strbuf *sb, int *first, const char *key, size_t kl)
{
	sb_grow(sb, kl + 4);
	if (!*first)
		sb->s[sb->len++] = ',';
	*first = 0;
	sb->s[sb->len++] = '"';
	memcpy(sb->s + sb->len, key, kl);
	sb->len += kl;
	sb->s[sb->len++] = '"';
	sb->s[sb->len++] = ':';
	sb->s[sb->len] = '\0';
}

/* sb_json_kv_str - append "key":"value" */
void
sb_json_kv_str(strbuf *sb, int *first, const char *key, const char *p,
    size_t n)
{
	sb_json_key(sb, first, key);
	sb_json_str(sb, p, n);
}

/* sb_add_int - append a decimal number */
void
sb_add_int(strbuf *sb, long long v)
{
	char buf[24], *p = buf + sizeof(buf);
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v
	    : (unsigned long long)v;

	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--p = '-';
	sb_add(sb, p, (size_t)(buf + sizeof(buf) - p));
}

/* sb_json_kv_int - append "key":number */
void
sb_json_kv_int(strbuf *sb, int *first, const char *key, long long v)
{
	sb_json_key(sb, first, key);
	sb_add_int(sb, v);
}

/* sb_json_kv_bool - append "key":true|false */
void
sb_json_kv_bool(strbuf *sb, int *first, const char *key, int v)
{
	sb_json_key(sb, first, key);
	sb_adds(sb, v ? "true" : "false");
}

/* sb_json_kv_raw - append "key":raw (raw must already be valid JSON) */
void
sb_json_kv_raw(strbuf *sb, int *first, const char *key, const char *raw)
{
	sb_json_key(sb, first, key);
	sb_adds(sb, raw);
}

/* rg_strlcpy - src into the fixed buffer dst of size sz, cut to fit */
size_t
rg_strlcpy(char *dst, const char *src, size_t sz)
{
	size_t n = strlen(src), k = n < sz ? n : sz - 1;

	memcpy(dst, src, k);
	dst[k] = '\0';
	return n;
}
