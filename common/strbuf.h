/*
 * strbuf.h - a growable byte buffer, and JSON output helpers on it.
 *
 * A strbuf owns its memory; sb_free() releases it. The buffer is always
 * NUL-terminated after each operation, so sb->s can be passed to C string
 * functions (as long as the content has no NUL of its own).
 *
 * The JSON helpers write valid UTF-8 JSON from untrusted bytes: control
 * characters, quotes and backslashes are escaped, and a byte sequence that
 * is not valid UTF-8 becomes U+FFFD, so hostile log content can never break
 * the output framing (one object per line).
 */
#ifndef RG_STRBUF_H
#define RG_STRBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct strbuf {
	char *s;
	size_t len;
	size_t cap;
} strbuf;

void sb_init(strbuf *sb);
void sb_free(strbuf *sb);
void sb_reset(strbuf *sb);
void sb_grow(strbuf *sb, size_t more);
void sb_add(strbuf *sb, const char *p, size_t n);
void sb_adds(strbuf *sb, const char *s);
void sb_addc(strbuf *sb, char c);
void sb_add_int(strbuf *sb, long long v);
void sb_printf(strbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* JSON: a string value (quoted) from n bytes */
void sb_json_str(strbuf *sb, const char *p, size_t n);
/* JSON: ,"key":"value" (the comma only when *first is 0; sets *first = 0) */
void sb_json_kv_str(strbuf *sb, int *first, const char *key, const char *p,
    size_t n);
void sb_json_kv_int(strbuf *sb, int *first, const char *key, long long v);
void sb_json_kv_bool(strbuf *sb, int *first, const char *key, int v);
void sb_json_kv_raw(strbuf *sb, int *first, const char *key, const char *raw);
void sb_json_key(strbuf *sb, int *first, const char *key);
void sb_json_key_n(strbuf *sb, int *first, const char *key, size_t kl);

/* a fixed buffer: src into dst of size sz (> 0), cut to fit, always
 * terminated; returns strlen(src), so a result >= sz says it was cut */
size_t rg_strlcpy(char *dst, const char *src, size_t sz);

#endif
