/*
 * fuzz_line.c - libFuzzer target for the whole line-to-record pipeline:
 * logline (syslog header) -> pfline -> assembler -> rec_json / sess_json.
 *
 * The input is split into lines at '\n' (a trailing '\r' is dropped, as the
 * line reader does) and each line is fed through prs_raw_line() from its own
 * heap copy of exactly its length, without a terminating NUL, so that ASan
 * sees any read past the end of a line. Every record and session handed out
 * is serialised to JSON, so the JSON writer is fuzzed too. Built and run by
 * `make fuzz`.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../collector/parser.h"
#include "../../store/record.h"
#include "../../common/rgtime.h"
#include "../../common/strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char hdr_client_id[] = "X-Client-ID";
static char *headers[] = { hdr_client_id };

typedef struct sink {
	strbuf sb;
	size_t records, sessions;
} sink;

/* utf8_ok - whether s[0..n) is valid UTF-8 (no overlongs, no surrogates) */
static int
utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i];
		size_t k;
		unsigned long cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			k = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			k = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			k = 3, cp = c & 0x07;
		else
			return 0;
		if (i + k >= n)
			return 0;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		i += k + 1;
	}
	return 1;
}

/* a minimal JSON syntax check: enough to catch an unescaped quote */
static const char *json_value(const char *p, int depth);

static const char *
json_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static const char *
json_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	for (;;) {
		unsigned char c = (unsigned char)*p++;

		if (c == '"')
			return p;
		if (c < 0x20)
			return NULL;
		if (c == '\\') {
			c = (unsigned char)*p++;
			if (c == 'u') {
				int i;

				for (i = 0; i < 4; i++, p++)
					if (!((*p >= '0' && *p <= '9') ||
					    (*p >= 'a' && *p <= 'f') ||
					    (*p >= 'A' && *p <= 'F')))
						return NULL;
			} else if (strchr("\"\\/bfnrt", c) == NULL || c == 0) {
				return NULL;
			}
		}
	}
}

static const char *
json_value(const char *p, int depth)
{
	p = json_ws(p);
	if (depth > 64)
		return NULL;
	if (*p == '"')
		return json_string(p);
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		int obj = *p == '{';

		p = json_ws(p + 1);
		if (*p == close)
			return p + 1;
		for (;;) {
			if (obj) {
				if ((p = json_string(json_ws(p))) == NULL)
					return NULL;
				p = json_ws(p);
				if (*p++ != ':')
					return NULL;
			}
			if ((p = json_value(p, depth + 1)) == NULL)
				return NULL;
			p = json_ws(p);
			if (*p == close)
				return p + 1;
			if (*p++ != ',')
				return NULL;
		}
	}
	if (strncmp(p, "true", 4) == 0)
		return p + 4;
	if (strncmp(p, "false", 5) == 0)
		return p + 5;
	if (strncmp(p, "null", 4) == 0)
		return p + 4;
	if (*p == '-')
		p++;
	if (*p < '0' || *p > '9')
		return NULL;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (*p < '0' || *p > '9')
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return p;
}

/*
 * check_json - the writer's promise (strbuf.h): one line of valid UTF-8
 * with every control character escaped, that is one well-formed JSON
 * object, so hostile log text can never break the output framing. A broken
 * promise aborts (a fuzzer finding).
 */
static void
check_json(const strbuf *sb)
{
	const char *p;
	size_t i;

	if (sb->len == 0 || sb->s[0] != '{' || sb->s[sb->len - 1] != '}')
		abort();
	if (strlen(sb->s) != sb->len)
		abort();
	for (i = 0; i < sb->len; i++)
		if ((unsigned char)sb->s[i] < 0x20)
			abort();
	if (!utf8_ok((const unsigned char *)sb->s, sb->len))
		abort();
	if ((p = json_value(sb->s, 0)) == NULL || *json_ws(p) != '\0')
		abort();
}

static void
on_message(void *arg, const rg_record *r)
{
	sink *k = arg;

	sb_reset(&k->sb);
	rec_json(&k->sb, r);
	check_json(&k->sb);
	k->records++;
}

static void
on_session(void *arg, const rg_session *s)
{
	sink *k = arg;

	sb_reset(&k->sb);
	sess_json(&k->sb, s);
	check_json(&k->sb);
	k->sessions++;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	rgt_set_zone("UTC");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	asm_options ao;
	asm_callbacks cb;
	rg_parser *p;
	ll_ctx ctx;
	sink k;
	size_t start = 0;

	memset(&ao, 0, sizeof(ao));
	ao.max_message_age = 6 * 86400;
	ao.max_session_age = 7200;
	ao.spamd_window = 300;
	ao.default_host = "fuzzhost";
	ao.headers = headers;
	ao.nheaders = 1;
	memset(&cb, 0, sizeof(cb));
	cb.message = on_message;
	cb.session = on_session;
	cb.arg = &k;
	memset(&k, 0, sizeof(k));
	sb_init(&k.sb);

	/* fixed year and reference time (2026-11-28): reproducible runs */
	ll_init(&ctx, 2026, (time_t)1795881600);
	p = prs_new(&ao, &cb);
	while (start < size) {
		const uint8_t *nl = memchr(data + start, '\n', size - start);
		size_t end = nl != NULL ? (size_t)(nl - data) : size;
		size_t len = end - start;
		char *line;

		if (len > 0 && data[start + len - 1] == '\r')
			len--;
		line = malloc(len > 0 ? len : 1);
		if (line == NULL)
			abort();
		memcpy(line, data + start, len);
		prs_raw_line(p, &ctx, line, len);
		free(line);
		start = end + 1;
	}
	/* both ends of a run: every record handed out (parse), or the open
	 * messages only counted and then freed unread (parse --stats) */
	if (size > 0 && (data[0] & 1))
		(void)prs_finish_count(p);
	else
		prs_finish(p);
	prs_free(p);
	sb_free(&k.sb);
	return 0;
}
