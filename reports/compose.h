/*
 * compose.h - the bytes of relayguard's own mail: RFC 5322 header fields,
 * MIME, RFC 2047 and quoted-printable, with CRLF line ends.
 *
 * Everything a mail says about a message came from a log line or a queue
 * file and is attacker-controlled. The rules here make sure no value can
 * add a header field or a MIME part:
 * - text placed in a header field (rep_hdr_text) is made valid UTF-8
 *   (invalid bytes become U+FFFD), control characters become '?', and it
 *   is written as RFC 2047 encoded words whenever it is not plain short
 *   printable ASCII or contains "=?"; then folded. No CR or LF ever passes.
 * - an address goes into a header field only if rep_addr_safe() says so
 *   (printable ASCII, no specials, at most 254 bytes); otherwise it is
 *   shown in a text part only (RFC 2047 cannot encode an address, and
 *   libesmtp has no SMTPUTF8).
 * - text parts are UTF-8, quoted-printable (rep_qp).
 *
 * rep_mail_* fills an ob_mail (store/outbox.h) ready for the outbox.
 */
#ifndef RG_COMPOSE_H
#define RG_COMPOSE_H

#include <stddef.h>

#include "../common/strbuf.h"
#include "../rules/config.h"
#include "../store/outbox.h"

/* a valid UTF-8 copy of n bytes: U+FFFD for bad bytes; controls but \n
 * and \t (keep_nl) or all of them become '?' */
void mail_clean(strbuf *out, const char *s, size_t n, int keep_nl);
int rep_addr_safe(const char *addr);
/* "Name: value" CRLF, encoded and folded (see above) */
void rep_hdr_text(strbuf *sb, const char *name, const char *value);
/* the RFC 5322 date of microseconds */
void rep_date(char *buf, size_t sz, long long usec);
/* quoted-printable of UTF-8 text with \n line ends, CRLF out */
void rep_qp(strbuf *sb, const char *text, size_t n);
/* the sender of relayguard's mail ([mail] from, else relayguard@host) */
void rep_from(const rg_config *cfg, char *buf, size_t sz);
void rep_hostname(char *buf, size_t sz);
/* a new Message-ID "<...@domain of from>" */
void rep_message_id(const rg_config *cfg, char *buf, size_t sz);
/* From, To, Date, Message-ID, Subject, MIME-Version, Auto-Submitted */
void rep_headers(strbuf *sb, const rg_config *cfg, const char *to,
    const char *subject, const char *msgid, long long now);
/* a whole text/plain mail from cfg's sender to `to` into m (owned by m) */
void rep_text_mail(const rg_config *cfg, const char *kind, const char *to,
    const char *subject, const char *text, long long now, ob_mail *m);

/* a mail with a text part and one attached file (a report) */
typedef struct rep_attachment {
	const char *kind;		/* the outbox's kind, e.g. "report" */
	const char *to, *subject, *text;
	const char *fname;		/* safe ASCII: [A-Za-z0-9._@-] */
	const char *ctype;		/* its MIME type */
	const void *data;
	size_t len;
} rep_attachment;

/* a fresh MIME boundary ("=_rg_" and 16 hex digits) */
void rep_boundary(char *buf, size_t sz);
/* m filled for the outbox: kind, from, rcpt, the subject cleaned, body's
 * bytes taken over (not to be freed by the caller), created now */
void rep_fill(ob_mail *m, const char *kind, const char *from,
    const char *rcpt, const char *subj, size_t subjlen, const char *msgid,
    strbuf *body, long long now);
/* multipart/mixed: the text (quoted-printable), the file (base64) */
void rep_attach_mail(const rg_config *cfg, const rep_attachment *a,
    long long now, ob_mail *m);

#endif
