/*
 * json.c - a recursive-descent JSON parser with bounded depth. Owns the
 * tree it returns. Fails with an offset and a reason; never reads past
 * len.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "strbuf.h"
#include "xalloc.h"

typedef struct parser {
	const char *s;
	size_t len, pos;
	char *err;
	size_t errsz;
	int failed;
} parser;

static json_value *value(parser *p, int depth);

/* fail - record the first error */
static json_value *
fail(parser *p, const char *why)
{
	if (!p->failed)
		snprintf(p->err, p->errsz, "offset %zu: %s", p->pos, why);
	p->failed = 1;
	return NULL;
}

/* ws - skip white space */
static void
ws(parser *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t'
	    || p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
		p->pos++;
}

/* newv - a new value of a type */
static json_value *
newv(enum json_type t)
{
	json_value *v = xcalloc(1, sizeof(*v));

	v->type = t;
	return v;
}

/* hex4 - four hex digits at pos; -1 if not */
static long
hex4(parser *p)
{
	long v = 0;
	int i;

	if (p->len - p->pos < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		char c = p->s[p->pos + (size_t)i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	p->pos += 4;
	return v;
}

/* put_utf8 - a code point as UTF-8 */
static void
put_utf8(strbuf *sb, unsigned long cp)
{
	if (cp < 0x80) {
		sb_addc(sb, (char)cp);
	} else if (cp < 0x800) {
		sb_addc(sb, (char)(0xc0 | (cp >> 6)));
		sb_addc(sb, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		sb_addc(sb, (char)(0xe0 | (cp >> 12)));
		sb_addc(sb, (char)(0x80 | ((cp >> 6) & 0x3f)));
		sb_addc(sb, (char)(0x80 | (cp & 0x3f)));
	} else {
		sb_addc(sb, (char)(0xf0 | (cp >> 18)));
		sb_addc(sb, (char)(0x80 | ((cp >> 12) & 0x3f)));
		sb_addc(sb, (char)(0x80 | ((cp >> 6) & 0x3f)));
		sb_addc(sb, (char)(0x80 | (cp & 0x3f)));
	}
}

/* utf8_len - length of a valid UTF-8 sequence at s (n bytes left); 0 bad */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t need, i;
	unsigned long cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		need = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		need = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n < need)
		return 0;
	for (i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
	    || (need == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return need;
}

/* string - a string at pos (the opening quote) into sb; 0, or -1 */
static int
string(parser *p, strbuf *sb)
{
	p->pos++;
	for (;;) {
		unsigned char c;
		size_t n;

		if (p->pos >= p->len) {
			fail(p, "unterminated string");
			return -1;
		}
		c = (unsigned char)p->s[p->pos];
		if (c == '"') {
			p->pos++;
			return 0;
		}
		if (c < 0x20) {
			fail(p, "control character in a string");
			return -1;
		}
		if (c != '\\') {
			if ((n = utf8_len((const unsigned char *)p->s + p->pos,
			    p->len - p->pos)) == 0) {
				fail(p, "invalid UTF-8 in a string");
				return -1;
			}
			sb_add(sb, p->s + p->pos, n);
			p->pos += n;
			continue;
		}
		if (++p->pos >= p->len) {
			fail(p, "unterminated escape");
			return -1;
		}
		c = (unsigned char)p->s[p->pos++];
		switch (c) {
		case '"': sb_addc(sb, '"'); break;
		case '\\': sb_addc(sb, '\\'); break;
		case '/': sb_addc(sb, '/'); break;
		case 'b': sb_addc(sb, '\b'); break;
		case 'f': sb_addc(sb, '\f'); break;
		case 'n': sb_addc(sb, '\n'); break;
		case 'r': sb_addc(sb, '\r'); break;
		case 't': sb_addc(sb, '\t'); break;
		case 'u': {
			long hi = hex4(p), lo;

			if (hi < 0) {
				fail(p, "bad \\u escape");
				return -1;
			}
			if (hi >= 0xdc00 && hi <= 0xdfff) {
				fail(p, "lone low surrogate");
				return -1;
			}
			if (hi >= 0xd800 && hi <= 0xdbff) {
				if (p->len - p->pos < 2 || p->s[p->pos] != '\\'
				    || p->s[p->pos + 1] != 'u') {
					fail(p, "lone high surrogate");
					return -1;
				}
				p->pos += 2;
				lo = hex4(p);
				if (lo < 0xdc00 || lo > 0xdfff) {
					fail(p, "bad surrogate pair");
					return -1;
				}
				put_utf8(sb, 0x10000 + (((unsigned long)hi - 0xd800)
				    << 10) + ((unsigned long)lo - 0xdc00));
			} else {
				put_utf8(sb, (unsigned long)hi);
			}
			break;
		}
		default:
			p->pos--;
			fail(p, "bad escape");
			return -1;
		}
	}
}

/* number - a JSON number at pos */
static json_value *
number(parser *p)
{
	size_t start = p->pos;
	char buf[64];
	json_value *v;

	if (p->pos < p->len && p->s[p->pos] == '-')
		p->pos++;
	if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
		return fail(p, "bad number");
	if (p->s[p->pos] == '0') {
		p->pos++;
		if (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
			return fail(p, "leading zero");
	} else {
		while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
			p->pos++;
	}
	if (p->pos < p->len && p->s[p->pos] == '.') {
		p->pos++;
		if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
			return fail(p, "bad fraction");
		while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
			p->pos++;
	}
	if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
		p->pos++;
		if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
			p->pos++;
		if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
			return fail(p, "bad exponent");
		while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
			p->pos++;
	}
	if (p->pos - start >= sizeof(buf))
		return fail(p, "number too long");
	memcpy(buf, p->s + start, p->pos - start);
	buf[p->pos - start] = '\0';
	v = newv(JSON_NUMBER);
	v->num = strtod(buf, NULL);
	return v;
}

/* literal - true, false, null */
static json_value *
literal(parser *p, const char *word, enum json_type t)
{
	size_t n = strlen(word);

	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
		return fail(p, "unexpected character");
	p->pos += n;
	return newv(t);
}

/* push - append a member to an array or object */
static void
push(json_value *v, char *key, json_value *item)
{
	if ((v->len & (v->len - 1)) == 0) {
		size_t cap = v->len ? v->len * 2 : 1;

		v->items = xrealloc(v->items, cap * sizeof(*v->items));
		if (v->type == JSON_OBJECT)
			v->keys = xrealloc(v->keys, cap * sizeof(*v->keys));
	}
	v->items[v->len] = item;
	if (v->type == JSON_OBJECT)
		v->keys[v->len] = key;
	v->len++;
}

/* container - an array or object at pos */
static json_value *
container(parser *p, int depth, int obj)
{
	json_value *v = newv(obj ? JSON_OBJECT : JSON_ARRAY), *item;
	char close = obj ? '}' : ']';

	if (depth >= JSON_MAX_DEPTH) {
		json_free(v);
		return fail(p, "nested too deep");
	}
	p->pos++;
	ws(p);
	if (p->pos < p->len && p->s[p->pos] == close) {
		p->pos++;
		return v;
	}
	for (;;) {
		char *key = NULL;

		ws(p);
		if (obj) {
			strbuf sb;

			if (p->pos >= p->len || p->s[p->pos] != '"') {
				json_free(v);
				return fail(p, "expected a key");
			}
			sb_init(&sb);
			if (string(p, &sb) != 0) {
				sb_free(&sb);
				json_free(v);
				return NULL;
			}
			key = sb.s;
			ws(p);
			if (p->pos >= p->len || p->s[p->pos] != ':') {
				free(key);
				json_free(v);
				return fail(p, "expected ':'");
			}
			p->pos++;
		}
		if ((item = value(p, depth + 1)) == NULL) {
			free(key);
			json_free(v);
			return NULL;
		}
		push(v, key, item);
		ws(p);
		if (p->pos < p->len && p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->pos < p->len && p->s[p->pos] == close) {
			p->pos++;
			return v;
		}
		json_free(v);
		return fail(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

/* value - any value at pos */
static json_value *
value(parser *p, int depth)
{
	ws(p);
	if (p->pos >= p->len)
		return fail(p, "unexpected end");
	switch (p->s[p->pos]) {
	case '{':
		return container(p, depth, 1);
	case '[':
		return container(p, depth, 0);
	case '"': {
		strbuf sb;
		json_value *v;

		sb_init(&sb);
		if (string(p, &sb) != 0) {
			sb_free(&sb);
			return NULL;
		}
		v = newv(JSON_STRING);
		v->len = sb.len;
		v->str = sb.s;
		return v;
	}
	case 't':
		return literal(p, "true", JSON_TRUE);
	case 'f':
		return literal(p, "false", JSON_FALSE);
	case 'n':
		return literal(p, "null", JSON_NULL);
	default:
		return number(p);
	}
}

/* json_parse - the whole text as one value */
json_value *
json_parse(const char *text, size_t len, char *err, size_t errsz)
{
	parser p;
	json_value *v;

	memset(&p, 0, sizeof(p));
	p.s = text;
	p.len = len;
	p.err = err;
	p.errsz = errsz;
	if ((v = value(&p, 0)) == NULL)
		return NULL;
	ws(&p);
	if (p.pos != p.len) {
		json_free(v);
		return fail(&p, "text after the value");
	}
	return v;
}

/* json_free - release a tree; NULL is a no-op */
void
json_free(json_value *v)
{
	size_t i;

	if (v == NULL)
		return;
	if (v->type == JSON_ARRAY || v->type == JSON_OBJECT) {
		for (i = 0; i < v->len; i++) {
			json_free(v->items[i]);
			if (v->keys != NULL)
				free(v->keys[i]);
		}
	}
	free(v->items);
	free(v->keys);
	free(v->str);
	free(v);
}

/* json_get - the first member named key */
const json_value *
json_get(const json_value *obj, const char *key)
{
	size_t i;

	if (obj == NULL || obj->type != JSON_OBJECT)
		return NULL;
	for (i = 0; i < obj->len; i++)
		if (strcmp(obj->keys[i], key) == 0)
			return obj->items[i];
	return NULL;
}

/* json_str - a string member, NULL if absent or another type */
const char *
json_str(const json_value *obj, const char *key)
{
	const json_value *v = json_get(obj, key);

	return v != NULL && v->type == JSON_STRING ? v->str : NULL;
}

/* json_num - a number member */
int
json_num(const json_value *obj, const char *key, double *out)
{
	const json_value *v = json_get(obj, key);

	if (v == NULL || v->type != JSON_NUMBER || !isfinite(v->num))
		return -1;
	*out = v->num;
	return 0;
}
