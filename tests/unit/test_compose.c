/*
 * test_compose.c - header fields from hostile values (reports/compose.c):
 * CR, LF, NUL-free control bytes, invalid UTF-8, "=?" words and 1000-byte
 * values never add a header line; RFC 2047 words decode to the cleaned
 * value.
 */
#include <stdlib.h>
#include <string.h>

#include "../../reports/compose.h"
#include "unit.h"

/* lines_ok - every CRLF is followed by a space (a fold) but the last */
static int
lines_ok(const char *s)
{
	const char *p;

	for (p = s; *p; p++) {
		if (*p == '\r' && p[1] != '\n')
			return 0;
		if (*p == '\n' && (p == s || p[-1] != '\r'))
			return 0;
		if (*p == '\n' && p[1] != '\0' && p[1] != ' ')
			return 0;
	}
	return 1;
}

/* one_header - rep_hdr_text's output for value */
static char *
one_header(const char *value)
{
	strbuf sb;

	sb_init(&sb);
	rep_hdr_text(&sb, "Subject", value);
	return sb.s;
}

/* long_header - the header of a 1000-byte value */
static char *
long_header(void)
{
	char v[1001];

	memset(v, 'a', 1000);
	v[1000] = '\0';
	return one_header(v);
}

/* max_line - the longest line */
static long
max_line(const char *h)
{
	const char *p, *q;
	long m = 0;

	for (p = h; (q = strchr(p, '\n')) != NULL; p = q + 1)
		if (q - p > m)
			m = q - p;
	return m;
}

/* long_address_safe - is a 299-byte address header-safe? */
static int
long_address_safe(void)
{
	char v[300];

	memset(v, 'x', 299);
	v[299] = '\0';
	v[5] = '@';
	return rep_addr_safe(v);
}

int
main(void)
{
	CASE("compose: CR and LF in a value are no new header", {
		char *h = one_header("hello\r\nBcc: victim@example.org\r\n\r\nbody");
		CHECK(lines_ok(h));
		CHECK(strstr(h, "\nBcc") == NULL);
		free(h);
	});
	CASE("compose: a lone CR or LF neither", {
		char *h = one_header("a\rb\nX-Injected: 1");
		CHECK(lines_ok(h));
		CHECK(strstr(h, "\nX-Injected") == NULL && strstr(h, "\rX-") == NULL);
		free(h);
	});
	CASE("compose: an encoded word in the value is encoded, not passed", {
		char *h = one_header("=?utf-8?q?=0D=0ABcc:_x@y?=");
		CHECK(lines_ok(h));
		CHECK(strncmp(h, "Subject: =?UTF-8?B?", 19) == 0);
		CHECK(strstr(h, "=?utf-8?q?") == NULL);
		free(h);
	});
	CASE("compose: invalid UTF-8 becomes U+FFFD, in encoded words", {
		strbuf c;
		char *h = one_header("caf\xe9 \xff\xfe ok");
		sb_init(&c);
		mail_clean(&c, "caf\xe9 \xc0\xaf x", 9, 0);
		CHECK_STR(c.s, "caf\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd x");
		CHECK(lines_ok(h) && strstr(h, "=?UTF-8?B?") != NULL);
		sb_free(&c);
		free(h);
	});
	CASE("compose: a 1000-byte value is folded into short lines", {
		char *h = long_header();

		CHECK(lines_ok(h));
		CHECK(max_line(h) <= 78);
		free(h);
	});
	CASE("compose: plain ASCII stays plain and folds at spaces", {
		char *h = one_header("[relayguard] locked alice@example.com: 5 spam in 10 minutes and more words to fold here");
		CHECK(lines_ok(h));
		CHECK(strstr(h, "=?") == NULL);
		CHECK(strstr(h, "\r\n minutes") != NULL || strstr(h, "\r\n ") != NULL);
		free(h);
	});
	CASE("compose: addresses with specials or too long are not header-safe", {
		CHECK(!long_address_safe());
		CHECK(rep_addr_safe("alice@example.com"));
		CHECK(!rep_addr_safe("a\r\nb@example.com"));
		CHECK(!rep_addr_safe("\"=?x?=\"@example.com"));
		CHECK(!rep_addr_safe("j\xc3\xbcrgen@example.com"));
		CHECK(!rep_addr_safe("a>b@example.com"));
	});
	CASE("compose: a report mail: CRLF lines, base64 of 76, one boundary", {
		rg_config cfg;
		rep_attachment at;
		ob_mail m;
		unsigned char data[1000];
		const char *p;
		const char *e;
		size_t i;
		size_t longest = 0;
		int bad = 0;
		int bounds = 0;

		memset(&cfg, 0, sizeof(cfg));
		cfg.mail_from = (char *)"relayguard@example.test";
		for (i = 0; i < sizeof(data); i++)
			data[i] = (unsigned char)(i * 7);
		memset(&at, 0, sizeof(at));
		at.kind = "report";
		at.to = "admin@example.test";
		at.subject = "quarantine\r\nBcc: x@evil.example";
		at.text = "users 1\nmessages 2\n";
		at.fname = "relayguard-quarantine-day-2026-11-28.xlsx";
		at.ctype = "application/octet-stream";
		at.data = data;
		at.len = sizeof(data);
		rep_attach_mail(&cfg, &at, 0, &m);
		for (p = m.body; (e = strstr(p, "\r\n")) != NULL; p = e + 2) {
			if ((size_t)(e - p) > longest)
				longest = (size_t)(e - p);
			if (memchr(p, '\n', (size_t)(e - p)) != NULL)
				bad++;
			if (strncmp(p, "--=_rg_", 7) == 0)
				bounds++;
		}
		CHECK(bad == 0 && *p == '\0');
		CHECK(longest <= 78);	/* folded headers, QP and base64 */
		CHECK(bounds == 3);
		CHECK(strstr(m.body, "\r\nBcc:") == NULL);
		CHECK(strstr(m.body, "filename=\"relayguard-quarantine-day-"
		    "2026-11-28.xlsx\"") != NULL);
		ob_clear(&m);
	});
	return unit_total_failed ? 1 : 0;
}
