/*
 * record.c - JSON Lines output of message and session records. Owns
 * nothing; appends to the caller's buffer (one object, no newline). All
 * text is escaped by sb_json_str: log content cannot break the framing.
 */
#include <stdlib.h>
#include <string.h>

#include "record.h"

/* verdict_source_name - the "source" of a verdict in the output */
const char *
verdict_source_name(enum verdict_source v)
{
	switch (v) {
	case VS_CLIENT_HEADER:
	case VS_HEADER: return "header";
	case VS_MILTER: return "milter";
	case VS_SPAMD: return "spamd";
	case VS_AMAVIS: return "amavis";
	case VS_RSPAMD: return "rspamd";
	default: return "none";
	}
}

/* kv - "key":"value" when value is set */
static void
kv(strbuf *sb, int *first, const char *key, const char *v)
{
	if (v != NULL)
		sb_json_kv_str(sb, first, key, v, strlen(v));
}

/* kv_time - "key":"RFC 3339" when t is set */
static void
kv_time(strbuf *sb, int *first, const char *key, rg_usec t)
{
	static rg_usec cached = 0;
	static char buf[64];

	if (t == 0)
		return;
	if (t != cached) {
		rgt_format(buf, t);
		cached = t;
	}
	sb_json_key(sb, first, key);
	sb_addc(sb, '"');
	sb_adds(sb, buf);
	sb_addc(sb, '"');
}

/* is_number - "-?[0-9]+(.[0-9]+)?": safe to write as a JSON number */
static int
is_number(const char *v)
{
	const char *p = v;

	if (*p == '-')
		p++;
	if (*p < '0' || *p > '9')
		return 0;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return 0;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return *p == '\0' && p - v < 20;
}

/* kv_num - "key":number for a numeric string, else "key":"string" */
static void
kv_num(strbuf *sb, int *first, const char *key, const char *v)
{
	if (v == NULL)
		return;
	if (is_number(v)) {
		sb_json_key(sb, first, key);
		sb_adds(sb, v);
	} else {
		kv(sb, first, key, v);
	}
}

/* rec_json - one message record as a JSON object */
void
rec_json(strbuf *sb, const rg_record *r)
{
	int first = 1, i;

	sb_addc(sb, '{');
	kv(sb, &first, "type", "message");
	kv(sb, &first, "host", r->host);
	if (r->qid[0])
		kv(sb, &first, "queue_id", r->qid);
	kv(sb, &first, "orig_queue_id", r->orig_queue_id);
	kv(sb, &first, "bounce_of", r->bounce_of);
	sb_json_kv_bool(sb, &first, "complete", r->complete);
	if (r->stale)
		sb_json_kv_bool(sb, &first, "stale", 1);
	kv_time(sb, &first, "first_seen", r->first_seen);
	kv_time(sb, &first, "last_seen", r->last_seen);
	kv(sb, &first, "client_host", r->client_host);
	kv(sb, &first, "client_ip", r->client_ip);
	kv_num(sb, &first, "client_port", r->client_port);
	kv(sb, &first, "sasl_method", r->sasl_method);
	kv(sb, &first, "sasl_username", r->sasl_username);
	if (r->pickup)
		sb_json_kv_bool(sb, &first, "local_submission", 1);
	kv(sb, &first, "sender", r->sender);
	if (r->size >= 0)
		sb_json_kv_int(sb, &first, "size", r->size);
	if (r->nrcpt >= 0)
		sb_json_kv_int(sb, &first, "nrcpt", r->nrcpt);
	kv(sb, &first, "message_id", r->message_id);
	if (r->nheaders > 0) {
		int f2 = 1, ncut = 0;

		sb_json_key(sb, &first, "headers");
		sb_addc(sb, '{');
		for (i = 0; i < r->nheaders; i++) {
			/* the name came from the log too: escape it as a key */
			if (!f2)
				sb_addc(sb, ',');
			f2 = 0;
			sb_json_str(sb, r->headers[i].name,
			    strlen(r->headers[i].name));
			sb_addc(sb, ':');
			sb_json_str(sb, r->headers[i].value,
			    strlen(r->headers[i].value));
			ncut += r->headers[i].cut;
		}
		sb_addc(sb, '}');
		if (ncut) {
			int f3 = 1;

			sb_json_key(sb, &first, "headers_cut");
			sb_addc(sb, '[');
			for (i = 0; i < r->nheaders; i++) {
				if (!r->headers[i].cut)
					continue;
				if (!f3)
					sb_addc(sb, ',');
				f3 = 0;
				sb_json_str(sb, r->headers[i].name,
				    strlen(r->headers[i].name));
			}
			sb_addc(sb, ']');
		}
	}
	if (r->nrcpts > 0) {
		sb_json_key(sb, &first, "recipients");
		sb_addc(sb, '[');
		for (i = 0; i < r->nrcpts; i++) {
			const rg_rcpt *rc = &r->rcpts[i];
			int f2 = 1;

			if (i)
				sb_addc(sb, ',');
			sb_addc(sb, '{');
			kv(sb, &f2, "address", rc->address);
			kv(sb, &f2, "orig_to", rc->orig_to);
			kv(sb, &f2, "status", rc->status);
			kv(sb, &f2, "dsn", rc->dsn);
			kv(sb, &f2, "relay", rc->relay);
			kv_num(sb, &f2, "delay", rc->delay);
			kv(sb, &f2, "response", rc->response);
			if (rc->attempts > 0)
				sb_json_kv_int(sb, &f2, "attempts", rc->attempts);
			sb_addc(sb, '}');
		}
		sb_addc(sb, ']');
	}
	if (r->verdict.source != VS_NONE) {
		int f2 = 1;

		sb_json_key(sb, &first, "verdict");
		sb_addc(sb, '{');
		kv(sb, &f2, "source", verdict_source_name(r->verdict.source));
		sb_json_kv_bool(sb, &f2, "spam", r->verdict.spam);
		kv_num(sb, &f2, "score", r->verdict.score);
		kv_num(sb, &f2, "required", r->verdict.required);
		kv(sb, &f2, "action", r->verdict.action);
		kv(sb, &f2, "symbols", r->verdict.symbols);
		if (r->verdict.source == VS_CLIENT_HEADER)
			sb_json_kv_bool(sb, &f2, "from_client", 1);
		sb_addc(sb, '}');
	}
	if (r->held || r->was_held)
		sb_json_kv_bool(sb, &first, "held", r->held);
	if (r->discarded)
		sb_json_kv_bool(sb, &first, "discarded", 1);
	if (r->expired)
		sb_json_kv_bool(sb, &first, "expired", 1);
	if (r->deleted)
		sb_json_kv_bool(sb, &first, "deleted", 1);
	if (r->aborted)
		sb_json_kv_bool(sb, &first, "aborted", 1);
	if (r->rejected.stage != NULL) {
		int f2 = 1;

		sb_json_key(sb, &first, "rejected");
		sb_addc(sb, '{');
		kv(sb, &f2, "stage", r->rejected.stage);
		kv_num(sb, &f2, "code", r->rejected.code);
		kv(sb, &f2, "dsn", r->rejected.dsn);
		kv(sb, &f2, "text", r->rejected.text);
		sb_addc(sb, '}');
	}
	kv(sb, &first, "filtered_as", r->filtered_as);
	sb_addc(sb, '}');
}

/*
 * counters_json - "ehlo=1 auth=0/1 rcpt=2/3 commands=5/7" as
 * "counters":{"ehlo":1,"auth":0,"rcpt":2,"commands":5} (the successful
 * ones) and "counters_failed":{"auth":1,"rcpt":1,"commands":2}.
 */
static void
counters_json(strbuf *sb, int *first, const char *p)
{
	int pass, f2, any_failed = 0;

	for (pass = 0; pass < 2; pass++) {
		const char *q = p;

		if (pass == 1 && !any_failed)
			break;
		sb_json_key(sb, first, pass == 0 ? "counters" : "counters_failed");
		sb_addc(sb, '{');
		f2 = 1;
		while (*q) {
			const char *eq = strchr(q, '='), *sp;
			char *end;
			long ok, total;

			if (eq == NULL)
				break;
			sp = strchr(eq, ' ');
			if (sp == NULL)
				sp = eq + strlen(eq);
			ok = strtol(eq + 1, &end, 10);
			total = ok;
			if (end < sp && *end == '/')
				total = strtol(end + 1, &end, 10);
			if (end == sp && end > eq + 1 && ok >= 0 && total >= ok
			    && (pass == 0 || total > ok)) {
				if (total > ok)
					any_failed = 1;
				if (!f2)
					sb_addc(sb, ',');
				f2 = 0;
				sb_json_str(sb, q, (size_t)(eq - q));
				sb_printf(sb, ":%ld", pass == 0 ? ok : total - ok);
			}
			q = *sp ? sp + 1 : sp;
		}
		sb_addc(sb, '}');
	}
}

/* sess_json - one SMTP session record as a JSON object */
void
sess_json(strbuf *sb, const rg_session *s)
{
	int first = 1;

	sb_addc(sb, '{');
	kv(sb, &first, "type", "session");
	kv(sb, &first, "host", s->host);
	kv(sb, &first, "program", s->prog);
	sb_json_kv_int(sb, &first, "pid", s->pid);
	sb_json_kv_bool(sb, &first, "complete", s->complete);
	if (s->stale)
		sb_json_kv_bool(sb, &first, "stale", 1);
	kv_time(sb, &first, "connect", s->connect);
	kv_time(sb, &first, "disconnect", s->disconnect);
	kv(sb, &first, "client_host", s->client_host);
	kv(sb, &first, "client_ip", s->client_ip);
	kv_num(sb, &first, "client_port", s->client_port);
	kv(sb, &first, "sasl_method", s->sasl_method);
	kv(sb, &first, "sasl_username", s->sasl_username);
	if (s->sasl_failures)
		sb_json_kv_int(sb, &first, "sasl_failures", s->sasl_failures);
	sb_json_kv_int(sb, &first, "messages", s->messages);
	sb_json_kv_int(sb, &first, "rejects", s->rejects);
	kv(sb, &first, "lost", s->lost);
	if (s->counters != NULL)
		counters_json(sb, &first, s->counters);
	sb_addc(sb, '}');
}
