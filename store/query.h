/*
 * query.h - what `messages` and `stats` read from the store: the stored
 * messages of a period in time order, each message's totals, and the SMTP
 * sessions of a period.
 *
 * Typed reads only: the SQL lives in query.c. The rows carry the raw keys
 * (SASL login, client IP, envelope sender); the caller maps them to the
 * configured user with rul_user_of(), as the analyzer does. A row's strings
 * are owned by the iterator and valid until the next stq_*_next() call.
 * Everything in a row came from a log line (attacker-controlled) except the
 * counts and times.
 *
 * Errors: NULL or -1, with the SQLite message (and what was being read) in
 * the caller's buffer or in stq_strerror().
 */
#ifndef RG_STORE_QUERY_H
#define RG_STORE_QUERY_H

#include <stddef.h>

#include "store.h"

/* one stored message or NOQUEUE reject, as `messages` lists it */
typedef struct stq_msg {
	const char *json;		/* the record as `parse` writes it */
	size_t json_len;
	long long first_seen;		/* microseconds, UTC */
	const char *host, *queue_id;	/* queue_id NULL: NOQUEUE */
	const char *sasl, *client_ip, *sender;	/* NULL if not logged */
	long long nrcpt;
	const char *statuses;		/* "sent,deferred", NULL if none */
	const char *reject_dsn;		/* refused: its DSN, else NULL */
	int spam, complete, held;
} stq_msg;

/* one message's totals, as `stats` adds them up */
typedef struct stq_total {
	const char *sasl, *client_ip, *sender;
	const char *host;		/* the relay that logged it */
	long long rcpts, sent, bounced, deferred, rejected;
	int refused;			/* refused before any recipient */
	int spam;			/* a trusted verdict said spam */
	int held;
} stq_total;

/* one SMTP session */
typedef struct stq_session {
	const char *sasl, *client_ip;
	const char *host;		/* the relay that logged it */
} stq_session;

typedef struct stq_iter stq_iter;

/*
 * stq_messages - the messages first seen in [since, until), by time (then
 * host, queue ID), with envelope sender `sender` if not NULL; each
 * row's json rebuilt from its record only with want_json (else NULL)
 */
stq_iter *stq_messages(rg_store *st, long long since, long long until,
    const char *sender, int want_json, char *err, size_t errsz);
/* stq_msg_next - 1 and the next row in m, 0 at the end, -1 on error */
int stq_msg_next(stq_iter *it, stq_msg *m);
/*
 * stq_totals - each message first seen in [since, until), without Postfix's
 * own notifications and the first queue ID of a content-filtered message
 */
stq_iter *stq_totals(rg_store *st, long long since, long long until,
    char *err, size_t errsz);
int stq_total_next(stq_iter *it, stq_total *t);
/* stq_sessions - the SMTP sessions that began in [since, until) */
stq_iter *stq_sessions(rg_store *st, long long since, long long until,
    char *err, size_t errsz);
int stq_session_next(stq_iter *it, stq_session *s);
const char *stq_strerror(const stq_iter *it);
void stq_free(stq_iter *it);

#endif
