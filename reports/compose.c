/*
 * compose.c - header fields, RFC 2047, quoted-printable and whole text
 * mails (see compose.h). Pure functions over strbufs; nothing can fail but
 * memory, which xalloc handles.
 */
#include <sys/random.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/xalloc.h"
#include "compose.h"

#define FOLD 78

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* utf8_len - the length of the valid UTF-8 sequence at p, 0 if invalid */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0], cp;
	size_t l, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		l = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		l = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		l = 4, cp = c & 0x07;
	else
		return 0;
	if (l > n)
		return 0;
	for (i = 1; i < l; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((l == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
	    || (l == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	/* C1 controls, and the Unicode line and paragraph separators */
	if ((l == 2 && cp < 0xa0) || cp == 0x2028 || cp == 0x2029)
		return 0;
	return l;
}

/* mail_clean - valid UTF-8 without control characters */
void
mail_clean(strbuf *out, const char *s, size_t n, int keep_nl)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, l;

	while (i < n) {
		if (p[i] < 0x20 || p[i] == 0x7f) {
			sb_addc(out, keep_nl && (p[i] == '\n' || p[i] == '\t')
			    ? (char)p[i] : '?');
			i++;
		} else if ((l = utf8_len(p + i, n - i)) == 0) {
			sb_adds(out, p[i] >= 0xc2 && p[i] <= 0xdf
			    && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] < 0xa0
			    && p[i] == 0xc2 ? "?" : "\xef\xbf\xbd");
			i += p[i] == 0xc2 && i + 1 < n && p[i + 1] >= 0x80
			    && p[i + 1] < 0xa0 ? 2 : 1;
		} else {
			sb_add(out, s + i, l);
			i += l;
		}
	}
}

/* rep_addr_safe - may this address stand in a header field as it is? */
int
rep_addr_safe(const char *a)
{
	size_t n = strlen(a);
	const char *at = strrchr(a, '@');

	if (n == 0 || n > 254 || at == NULL || at == a || at[1] == '\0')
		return 0;
	for (; *a; a++)
		if (*a <= ' ' || *a >= 127 || strchr("<>()[]\\,;:\"", *a))
			return 0;
	return 1;
}

/* plain_ok - printable short-worded ASCII without "=?" */
static int
plain_ok(const char *s, size_t n)
{
	size_t i, word = 0;

	if (n > 900 || strstr(s, "=?") != NULL)
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
		word = s[i] == ' ' ? 0 : word + 1;
		if (word > 70)
			return 0;
	}
	return 1;
}

/* b64_add - base64 of n bytes */
static void
b64_add(strbuf *sb, const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		sb_addc(sb, b64[p[i] >> 2]);
		sb_addc(sb, b64[((p[i] & 3) << 4) | (p[i + 1] >> 4)]);
		sb_addc(sb, b64[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)]);
		sb_addc(sb, b64[p[i + 2] & 63]);
	}
	if (n - i == 1) {
		sb_addc(sb, b64[p[i] >> 2]);
		sb_addc(sb, b64[(p[i] & 3) << 4]);
		sb_adds(sb, "==");
	} else if (n - i == 2) {
		sb_addc(sb, b64[p[i] >> 2]);
		sb_addc(sb, b64[((p[i] & 3) << 4) | (p[i + 1] >> 4)]);
		sb_addc(sb, b64[(p[i + 1] & 15) << 2]);
		sb_addc(sb, '=');
	}
}

/* rep_hdr_text - one unstructured header field, safe and folded */
void
rep_hdr_text(strbuf *sb, const char *name, const char *value)
{
	strbuf v;
	size_t col, i, start;

	sb_init(&v);
	mail_clean(&v, value, strlen(value), 0);
	sb_adds(sb, name);
	sb_adds(sb, ":");
	col = strlen(name) + 1;
	if (plain_ok(v.s ? v.s : "", v.len)) {
		for (i = 0; i < v.len; i = start) {
			size_t w;

			while (i < v.len && v.s[i] == ' ')
				i++;
			for (start = i; start < v.len && v.s[start] != ' ';
			    start++)
				;
			if ((w = start - i) == 0)
				break;
			if (col + 1 + w > FOLD && col > strlen(name) + 1) {
				sb_adds(sb, "\r\n");
				col = 0;
			}
			sb_addc(sb, ' ');
			sb_add(sb, v.s + i, w);
			col += 1 + w;
		}
	} else {
		/* encoded words of at most 39 bytes, whole characters */
		for (i = 0; i < v.len; i = start) {
			start = i;
			while (start < v.len) {
				size_t l = utf8_len((const unsigned char *)v.s
				    + start, v.len - start);

				if (l == 0)
					l = 1;	/* cannot happen: v is clean */
				if (start + l - i > 39)
					break;
				start += l;
			}
			if (i > 0)
				sb_adds(sb, "\r\n");
			sb_adds(sb, " =?UTF-8?B?");
			b64_add(sb, (const unsigned char *)v.s + i, start - i);
			sb_adds(sb, "?=");
		}
	}
	sb_adds(sb, "\r\n");
	sb_free(&v);
}

/* rep_date - RFC 5322 date-time in UTC */
void
rep_date(char *buf, size_t sz, long long usec)
{
	time_t t = (time_t)(usec / 1000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sz, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

/* rep_qp - quoted-printable, soft breaks before 76 columns */
void
rep_qp(strbuf *sb, const char *text, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, col = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[i];
		int last = i + 1 == n || text[i + 1] == '\n';
		int lit = (c >= 33 && c <= 126 && c != '=')
		    || ((c == ' ' || c == '\t') && !last);

		if (c == '\n') {
			sb_adds(sb, "\r\n");
			col = 0;
			continue;
		}
		if (col + (lit ? 1 : 3) > 75) {
			sb_adds(sb, "=\r\n");
			col = 0;
		}
		if (lit) {
			sb_addc(sb, (char)c);
			col++;
		} else {
			sb_addc(sb, '=');
			sb_addc(sb, hex[c >> 4]);
			sb_addc(sb, hex[c & 15]);
			col += 3;
		}
	}
	if (col > 0)
		sb_adds(sb, "\r\n");
}

/* rep_hostname - this host's name */
void
rep_hostname(char *buf, size_t sz)
{
	if (gethostname(buf, sz) != 0 || *buf == '\0')
		snprintf(buf, sz, "localhost");
	buf[sz - 1] = '\0';
}

/* rep_from - the sender of relayguard's mail */
void
rep_from(const rg_config *cfg, char *buf, size_t sz)
{
	char host[256];

	if (cfg->mail_from && *cfg->mail_from) {
		snprintf(buf, sz, "%s", cfg->mail_from);
		return;
	}
	rep_hostname(host, sizeof(host));
	snprintf(buf, sz, "relayguard@%s", host);
}

/* rep_message_id - unique: time, process and 64 random bits */
void
rep_message_id(const rg_config *cfg, char *buf, size_t sz)
{
	struct timespec ts;
	unsigned long long r = 0;
	char from[512];
	const char *dom;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r ^= (unsigned long long)ts.tv_nsec * 2654435761ULL;
	rep_from(cfg, from, sizeof(from));
	dom = strrchr(from, '@');
	snprintf(buf, sz, "<rg.%llx.%lx.%d.%016llx@%s>", (long long)ts.tv_sec,
	    ts.tv_nsec, (int)getpid(), r, dom ? dom + 1 : "localhost");
}

/* rep_headers - the top header fields of a mail from relayguard */
void
rep_headers(strbuf *sb, const rg_config *cfg, const char *to,
    const char *subject, const char *msgid, long long now)
{
	char from[512], date[64];

	rep_from(cfg, from, sizeof(from));
	rep_date(date, sizeof(date), now);
	sb_printf(sb, "From: relayguard <%s>\r\n", from);
	sb_printf(sb, "To: <%s>\r\n", to);
	sb_printf(sb, "Date: %s\r\n", date);
	sb_printf(sb, "Message-ID: %s\r\n", msgid);
	rep_hdr_text(sb, "Subject", subject);
	sb_adds(sb, "Auto-Submitted: auto-generated\r\n");
	sb_adds(sb, "MIME-Version: 1.0\r\n");
}

/* rep_text_mail - a whole text/plain mail into m */
void
rep_text_mail(const rg_config *cfg, const char *kind, const char *to,
    const char *subject, const char *text, long long now, ob_mail *m)
{
	strbuf sb, clean;
	char msgid[600], from[512];

	sb_init(&sb);
	sb_init(&clean);
	rep_message_id(cfg, msgid, sizeof(msgid));
	rep_from(cfg, from, sizeof(from));
	rep_headers(&sb, cfg, to, subject, msgid, now);
	sb_adds(&sb, "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	mail_clean(&clean, text, strlen(text), 1);
	rep_qp(&sb, clean.s ? clean.s : "", clean.len);
	sb_free(&clean);
	rep_fill(m, kind, from, to, subject, strlen(subject), msgid, &sb, now);
}

/* rep_boundary - a fresh MIME boundary: "=_" never occurs in base64 or
 * in quoted-printable (which writes '=' as =3D) */
void
rep_boundary(char *buf, size_t sz)
{
	unsigned long long r = 0;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r ^= (unsigned long long)ts.tv_nsec * 2654435761ULL;
	snprintf(buf, sz, "=_rg_%016llx", r);
}

/* rep_attach_mail - a text part and one attached file into m */
void
rep_attach_mail(const rg_config *cfg, const rep_attachment *a,
    long long now, ob_mail *m)
{
	strbuf sb, clean;
	char msgid[600], from[512], b[64];
	size_t i;

	sb_init(&sb);
	sb_init(&clean);
	rep_message_id(cfg, msgid, sizeof(msgid));
	rep_from(cfg, from, sizeof(from));
	rep_boundary(b, sizeof(b));
	rep_headers(&sb, cfg, a->to, a->subject, msgid, now);
	sb_printf(&sb, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n"
	    "This is a MIME message.\r\n\r\n--%s\r\n", b, b);
	sb_adds(&sb, "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	mail_clean(&clean, a->text, strlen(a->text), 1);
	rep_qp(&sb, clean.s ? clean.s : "", clean.len);
	/* the file name is the caller's (safe ASCII), never a log value */
	sb_printf(&sb, "\r\n--%s\r\nContent-Type: %s;\r\n name=\"%s\"\r\n"
	    "Content-Disposition: attachment;\r\n filename=\"%s\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n", b, a->ctype, a->fname,
	    a->fname);
	for (i = 0; i < a->len; i += 57) {
		b64_add(&sb, (const unsigned char *)a->data + i, a->len - i > 57
		    ? 57 : a->len - i);
		sb_adds(&sb, "\r\n");
	}
	sb_printf(&sb, "\r\n--%s--\r\n", b);
	sb_free(&clean);
	rep_fill(m, a->kind, from, a->to, a->subject, strlen(a->subject), msgid,
	    &sb, now);
}

/* rep_fill - an outbox mail from its parts (compose.h) */
void
rep_fill(ob_mail *m, const char *kind, const char *from, const char *rcpt,
    const char *subj, size_t subjlen, const char *msgid, strbuf *body,
    long long now)
{
	strbuf clean;

	memset(m, 0, sizeof(*m));
	m->kind = xstrdup(kind);
	m->from = xstrdup(from);
	m->rcpt = xstrdup(rcpt);
	sb_init(&clean);
	mail_clean(&clean, subj != NULL ? subj : "", subj != NULL ? subjlen : 0,
	    0);
	m->subject = xstrdup(clean.s != NULL ? clean.s : "");
	sb_free(&clean);
	m->message_id = xstrdup(msgid);
	m->len = body->len;
	m->body = body->s;
	m->created = m->next_try = now;
	m->status = xstrdup("queued");
}
