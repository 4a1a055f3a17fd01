/*
 * mailsrc.h - what relayguard's own mail reads from the store: the
 * analyzer's events (lock alerts, quarantine notices), the spam messages
 * that were refused or held (abuse reports, quarantine notices), the
 * messages behind a spam lock, and the positions ('mail_event',
 * 'mail_seq', ...) up to which the mail was queued (table meta).
 *
 * Typed reads only: the SQL lives in mailsrc.c, on the caller's handle
 * and inside the caller's transaction (the store hook's). Rows are copied
 * into structures the caller owns and frees with the matching *_clear or
 * *_free; everything in them but the numbers came from a log line and is
 * attacker-controlled.
 *
 * Errors: -1 with the SQLite message (and what was being read) in err.
 */
#ifndef RG_MAILSRC_H
#define RG_MAILSRC_H

typedef struct rg_store rg_store;
#include <stddef.h>

/* an event of the analyzer or of a command (table events) */
typedef struct ms_event {
	long long id, ts;
	char *action, *kind, *user, *identity, *rule, *detail; /* "": none */
} ms_event;

/* a message refused or held as spam, with its verdict */
typedef struct ms_spam {
	long long id, first_seen, seq;
	char *host, *qid, *client_ip, *client_host, *sasl, *sender, *msgid;
	char *stage, *rtext, *vsource, *score, *required, *vaction, *symbols;
	int held;
	char **rcpts;			/* envelope recipients, ms_rcpts */
	int nrcpt;
} ms_spam;

/* a spam message a lock counted (what explain shows) */
typedef struct ms_lockmsg {
	long long first_seen;
	char *qid, *identity, *score, *symbols;	/* NULL when not known */
	char *rcpts;			/* ", "-separated, "": none */
} ms_lockmsg;

typedef struct ms_iter ms_iter;

/* ms_pos - a position in meta (def when unset); ms_pos_put stores one */
long long ms_pos(rg_store *st, const char *key, long long def);
int ms_pos_put(rg_store *st, const char *key, long long v, char *err,
    size_t errsz);

/* ms_event_max - the newest event's id (0: none), -1 on error */
long long ms_event_max(rg_store *st, char *err, size_t errsz);
/* ms_events - the events with id in [from, to], by id */
int ms_events(rg_store *st, long long from, long long to, ms_event **v,
    size_t *n, char *err, size_t errsz);
void ms_event_clear(ms_event *e);
void ms_events_free(ms_event *v, size_t n);

/*
 * ms_spam_since - messages (not bounces) stored in a transaction after
 * seq that were held, or refused by the content filter or header_checks
 * (held_only: held ones only), by seq
 */
ms_iter *ms_spam_since(rg_store *st, long long seq, int held_only, char *err,
    size_t errsz);
/* ms_spam_next - 1 and the next message in s (owned by the caller), 0 at
 * the end, -1 on error (ms_strerror) */
int ms_spam_next(ms_iter *it, ms_spam *s);
/* ms_spam_held - the newest held message with this queue ID first seen
 * in [since, until] (the first_seen index; there is none on queue_id):
 * 1 none */
int ms_spam_held(rg_store *st, const char *qid, long long since,
    long long until, ms_spam *s, char *err, size_t errsz);
/* ms_rcpts - s's logged envelope recipients (at most max) into s */
int ms_rcpts(rg_store *st, ms_spam *s, int max, char *err, size_t errsz);
void ms_spam_clear(ms_spam *s);
const char *ms_strerror(const ms_iter *it);
void ms_free(ms_iter *it);

/*
 * ms_lock_messages - the newest spam (at most max) of user (and identity,
 * "" any) in (since, until] as the analyzer counted it; total: how many
 * there are in all
 */
int ms_lock_messages(rg_store *st, const char *user, const char *identity,
    long long since, long long until, int max, ms_lockmsg **v, int *n,
    long long *total, char *err, size_t errsz);
void ms_lock_messages_free(ms_lockmsg *v, int n);

#endif
