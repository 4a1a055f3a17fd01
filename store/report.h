/*
 * report.h - what the reports and the quarantine read from the store: the
 * messages of a period, one at a time in time order, the held ones, and the
 * events (read and written).
 *
 * Typed reads only: the SQL lives in report.c. A row's strings are owned by
 * the iterator and valid until the next rps_*_next() call; copy what must
 * survive. Everything in a row came from a log line (attacker-controlled)
 * except the counts and times.
 *
 * Errors: NULL or -1 with the SQLite message (and what was being read) in
 * the caller's buffer.
 */
#ifndef RG_STORE_REPORT_H
#define RG_STORE_REPORT_H

typedef struct rg_store rg_store;
#include <stddef.h>

/* the state of a held or refused spam message now */
enum rps_state {
	RPS_DELIVERED,		/* not held, not refused */
	RPS_REFUSED,		/* rejected by the filter or Postfix */
	RPS_HELD,		/* in the hold queue */
	RPS_RELEASED,		/* held, then released */
	RPS_DELETED,		/* removed with postsuper -d */
	RPS_EXPIRED,		/* returned to its sender as expired */
	RPS_DISCARDED
};

typedef struct rps_msg {
	long long id;
	long long first_seen, last_seen;	/* microseconds, UTC */
	const char *host, *queue_id, *sasl, *client_ip, *sender;
	const char *message_id;
	long long size, nrcpt;		/* size -1: not logged */
	int noqueue;			/* a NOQUEUE reject */
	int open;			/* not finished (held mail is not) */
	enum rps_state state;
	int was_held;
	int spam;			/* a trusted verdict said spam */
	const char *v_source, *v_score, *v_symbols, *v_action;
	int v_spam, v_trusted, has_verdict;
	long long rcpts, sent, bounced, deferred, rejected;
	const char *recipients;		/* ", "-separated, NULL if none */
	const char *subject;		/* logged Subject header, or NULL */
} rps_msg;

typedef struct rps_header {
	const char *name, *value;
	int cut;
} rps_header;

typedef struct rps_event {
	long long id, ts;
	const char *action, *kind, *user, *identity, *rule, *detail;
} rps_event;

typedef struct rps_iter rps_iter;

/*
 * rps_messages - the messages first seen in [since, until), in time order,
 * without Postfix's own notifications and the first queue ID of a
 * content-filtered message. spam_only: only those a verdict or a hold
 * marked (the quarantine sheet's candidates).
 */
rps_iter *rps_messages(rg_store *st, long long since, long long until,
    int spam_only, char *err, size_t errsz);
/* rps_msg_next - 1 and the next row in m, 0 at the end, -1 on error */
int rps_msg_next(rps_iter *it, rps_msg *m);
/* rps_msg_headers - the logged headers of message id (at most max) */
int rps_msg_headers(rps_iter *it, long long id, rps_header *h, int max);
/* rps_events - the analyzer's events in [since, until), by time */
rps_iter *rps_events(rg_store *st, long long since, long long until,
    char *err, size_t errsz);
int rps_event_next(rps_iter *it, rps_event *e);
/* rps_count - rows in the period (spam_only as rps_messages), -1 error */
long long rps_count(rg_store *st, long long since, long long until,
    int spam_only);
/* rps_queue_id - the messages with this queue ID, newest first */
rps_iter *rps_queue_id(rg_store *st, const char *queue_id, char *err,
    size_t errsz);
/* rps_held - every message ever held, first seen since `since` */
rps_iter *rps_held(rg_store *st, long long since, char *err, size_t errsz);
/* rps_quarantine_event - the last quarantine event's rule for a QID: 1 */
int rps_quarantine_event(rg_store *st, const char *queue_id, char *out,
    size_t outsz);
/* rps_put_event - record one event (what quarantine commands did) */
int rps_put_event(rg_store *st, long long ts, const char *action,
    const char *kind, const char *user, const char *identity,
    const char *rule, const char *detail, char *err, size_t errsz);
const char *rps_strerror(const rps_iter *it);
const char *rps_state_name(enum rps_state s);
void rps_free(rps_iter *it);

#endif
