/*
 * anaread.h - what the analyzer and its commands (users, explain,
 * identities, the queue expiry) read of the collector's records:
 * messages, their headers, verdicts and recipients, sessions, log losses.
 *
 * Each reader calls fn once per row; the strings of a row are valid only
 * during the call. A reader whose statement cannot be prepared returns -1
 * (err set where there is one) and calls fn for nothing; a row callback
 * that returns non-zero (where fn returns int) ends the read, and the
 * reader returns that value. Times are microseconds since the epoch.
 */
#ifndef RG_STORE_ANAREAD_H
#define RG_STORE_ANAREAD_H

#include <stddef.h>

#include "../rules/policy.h"

typedef struct rg_store rg_store;	/* collector/store.h */

/* ---- log losses (journald's suppressed lines) ---- */
/* the time up to which the analyzer has reported them (-1: never) */
long long ard_loss_mark(rg_store *st);
int ard_set_loss_mark(rg_store *st, long long now, char *err, size_t errsz);
/* the losses in (since, until], by time */
int ard_losses(rg_store *st, long long since, long long until,
    int (*fn)(void *arg, const char *source, long long ts, long long count,
    const char *text),
    void *arg, char *err, size_t errsz);

/* ---- headers ---- */
/* every distinct uncut value logged for a header name (any case) */
int ard_header_values(rg_store *st, const char *name,
    void (*fn)(void *arg, const char *value), void *arg);

/* ---- the queue: who sent a queued message ---- */
typedef struct ard_queue ard_queue;
ard_queue *ard_queue_new(rg_store *st, char *err, size_t errsz);
/* the newest message of queue id qid: 1 and its login and client address
 * (copies, each NULL if unknown; free them), 0: none */
int ard_queue_owner(ard_queue *q, const char *qid, char **sasl, char **ip);
void ard_queue_free(ard_queue *q);

/* ---- counts for `users` ---- */
typedef struct ard_msg {
	long long id;
	long long t;			/* first seen */
	const char *sasl, *ip, *sender;
	const char *host, *queue_id;	/* queue_id "NOQUEUE" when none */
	const char *source, *score;	/* the spam verdict's (ard_spam) */
} ard_msg;

/* messages with a spam verdict (any source) first seen in (since, until] */
int ard_spam_in(rg_store *st, long long since, long long until,
    void (*fn)(void *arg, const ard_msg *m), void *arg);
/* the newest max messages with a spam verdict, newest first */
int ard_spam_newest(rg_store *st, int max,
    int (*fn)(void *arg, const ard_msg *m), void *arg);
/* sessions that queued mail, started (or seen) in (since, until] */
int ard_sessions_in(rg_store *st, long long since, long long until,
    void (*fn)(void *arg, long long t, const char *sasl, const char *ip),
    void *arg);

typedef struct ard_rcpt {
	long long t;			/* the message's first seen */
	const char *sasl, *ip, *sender;
	const char *kind;		/* message | noqueue */
	const char *address, *dsn, *status;
} ard_rcpt;
/* the recipients of the mail (not bounces) first seen in (since, until] */
int ard_recipients_in(rg_store *st, long long since, long long until,
    void (*fn)(void *arg, const ard_rcpt *r), void *arg);

/* ---- identities ---- */
typedef struct ard_cursor ard_cursor;
/*
 * the users' own outgoing messages (no bounce, no re-injection) first seen
 * at or after since; m->source is the source of a spam verdict (NULL:
 * none); ard_cursor_headers() gives the current message's headers
 */
int ard_outgoing_since(rg_store *st, long long since,
    void (*fn)(void *arg, ard_cursor *cur, const ard_msg *m), void *arg,
    char *err, size_t errsz);
/* copies, freed with ard_headers_free; at most max */
int ard_cursor_headers(ard_cursor *cur, rul_header *hs, int max);
void ard_headers_free(rul_header *hs, int nh);

#endif
