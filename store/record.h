/*
 * record.h - the records the collector's assembler produces and the store
 * persists: one per message and one per SMTP session, as plain values
 * (the model below the collector, as Postfix's global/ holds its record
 * format). What a log line changes in a record is the collector's
 * (collector/rec_update.h); the blob forms the store keeps them in are
 * store/recblob.h's.
 *
 * A record handed to a callback is owned by the assembler and freed after
 * the callback returns: copy what must survive. Strings are NUL-terminated
 * copies of log text (still attacker-controlled: escape them on output);
 * NULL means the log did not give that field.
 *
 * Every string and list of a record lives in the record's own arena (ar):
 * building a record allocates nothing per field, and ending it frees it
 * all at once. A string carries its length (rg_str_len, arena.h): the JSON
 * is written without strlen. The host name is the assembler's interned
 * copy, made the same way.
 */
#ifndef RG_RECORD_H
#define RG_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "../common/arena.h"
#include "../common/rgtime.h"
#include "../common/strbuf.h"

/* where a verdict came from, in increasing order of trust */
enum verdict_source {
	VS_NONE = 0,
	VS_CLIENT_HEADER,	/* a spam header the client wrote (header_checks) */
	VS_HEADER,		/* a spam header a milter added (milter_header_checks) */
	VS_MILTER,		/* a milter rejected it as spam */
	VS_SPAMD, VS_AMAVIS, VS_RSPAMD	/* the filter's own log line */
};

typedef struct rg_verdict {
	enum verdict_source source;
	int spam;		/* 1 spam, 0 not */
	char *score;		/* as logged: "15.00" */
	char *required;
	char *action;		/* "reject", "add header", "Blocked", ... */
	char *symbols;		/* comma-separated names */
} rg_verdict;

/* one delivery attempt of a recipient (its status history) */
typedef struct rg_attempt {
	rg_usec ts;
	char *status;
	char *dsn;
} rg_attempt;

#define RG_MAX_ATTEMPTS 64	/* older attempts are dropped from the history */

typedef struct rg_rcpt {
	char *address;
	char *orig_to;
	char *status;		/* sent, deferred, bounced, expired, rejected, ... */
	char *dsn;
	char *relay;
	char *delay;
	char *response;
	int attempts;
	rg_attempt *hist;	/* the last RG_MAX_ATTEMPTS attempts, oldest first */
	int nhist;
} rg_rcpt;

typedef struct rg_header {
	char *name;		/* as configured, else as logged */
	char *value;		/* as logged: cut, with '?' for control characters */
	int cut;		/* the log may have cut the value */
} rg_header;

typedef struct rg_reject {
	char *stage;		/* RCPT, DATA, END-OF-MESSAGE, header, body, ... */
	char *code;		/* "550"; NULL when the log gives only the DSN */
	char *dsn;
	char *text;
} rg_reject;

typedef struct rg_record {
	uint64_t id;		/* unique per assembler, stable across restarts */
	const char *host;
	char qid[32];		/* "" for a NOQUEUE reject */
	rg_usec first_seen, last_seen;
	char *client_host, *client_ip, *client_port;
	char *sasl_method, *sasl_username;
	char *sender;
	long long size, nrcpt;	/* -1 if not logged */
	char *message_id;
	rg_header *headers;
	int nheaders, hcap;
	rg_rcpt *rcpts;
	int nrcpts, rcap;
	rg_verdict verdict;
	rg_reject rejected;	/* stage != NULL when rejected */
	char *bounce_of;
	char *orig_queue_id;
	char *filtered_as;	/* handed to a content filter, continues as this */
	long smtpd_pid;		/* -1 if none */
	unsigned held:1, was_held:1, discarded:1, expired:1, deleted:1,
	    complete:1, stale:1, noqueue:1, pickup:1, aborted:1;
	unsigned persisted:1;	/* its open state went to the store once */
	rg_arena ar;		/* owns every string and list above */
} rg_record;

typedef struct rg_session {
	uint64_t id;
	const char *host;
	long pid;
	char *prog;		/* "postfix/submission/smtpd" */
	rg_usec connect, disconnect;	/* 0 if not seen */
	char *client_host, *client_ip, *client_port;
	char *sasl_method, *sasl_username;
	char *counters;		/* "ehlo=1 auth=1 ... commands=6" */
	char *lost;		/* "lost connection after DATA" */
	int sasl_failures;
	int messages;		/* queue IDs handed out in it */
	int rejects;		/* NOQUEUE rejects in it */
	unsigned complete:1, stale:1;
	rg_arena ar;		/* owns every string above */
} rg_session;

void rec_json(strbuf *sb, const rg_record *r);
void sess_json(strbuf *sb, const rg_session *s);
const char *verdict_source_name(enum verdict_source v);

/*
 * A record's life: rec_init() an empty record whose arena draws from pool
 * (NULL: its own); rec_compact() copies the live values into a new arena
 * (replaced values are not freed one by one), tight: into one chunk of
 * their size, and returns its size; rec_free() releases the arena.
 */
char *rec_dup(rg_arena *ar, const char *str);
void rec_init(rg_record *r, rg_pool *pool);
void rec_free(rg_record *r);
size_t rec_compact(rg_record *r, int tight);

#endif
