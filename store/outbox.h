/*
 * outbox.h - relayguard's own mail waiting to leave: one row per composed
 * mail (its RFC 5322 bytes, CRLF), table outbox (schema version 4, made
 * in store/store.c).
 *
 * A mail is enqueued inside the caller's transaction (the decision that
 * causes it), so a rolled-back decision leaves no mail. `mail send` takes
 * what is due and marks each mail sent, retried or failed in its own
 * statement (autocommit) right after the server's answer.
 *
 * Statuses: queued (waiting for next_try), sent, failed (a permanent
 * refusal or give_up_after reached: kept, shown, never silently dropped).
 * Times are microseconds since the epoch. Functions return 0 or -1 with
 * the SQLite error in err; ob_free(NULL) is a no-op.
 */
#ifndef RG_OUTBOX_H
#define RG_OUTBOX_H

typedef struct rg_store rg_store;
#include <stddef.h>

typedef struct ob_mail {
	long long id;
	char *kind;		/* alert | arf | summary | test */
	char *ref;		/* NULL, or unique (arf: one per message) */
	char *user;		/* the outgoing user it is about, or NULL */
	char *from, *rcpt, *subject, *message_id;
	char *body;		/* len bytes */
	size_t len;
	long long created, next_try, done;
	int attempts;
	char *status;		/* queued | sent | failed */
	char *last_reply;
} ob_mail;

/* insert; 1 (and nothing written) when ref is taken already */
int ob_enqueue(rg_store *st, const ob_mail *m, long long *id, char *err,
    size_t errsz);
/* is this ref in the outbox already? 1 yes, 0 no, -1 error */
int ob_ref_taken(rg_store *st, const char *ref, char *err, size_t errsz);
/* replace a queued, never tried mail's subject and body (alert digests) */
int ob_update(rg_store *st, long long id, const char *subject,
    const char *body, size_t len, char *err, size_t errsz);
/* up to max ids of queued mail due at now, oldest first */
int ob_due(rg_store *st, long long now, long long *ids, int max, int *n,
    char *err, size_t errsz);
/* one mail (body included); 1 if there is none with that id */
int ob_get(rg_store *st, long long id, ob_mail *m, char *err, size_t errsz);
int ob_mark_sent(rg_store *st, long long id, long long now, const char *reply,
    char *err, size_t errsz);
int ob_mark_retry(rg_store *st, long long id, long long next_try,
    const char *reply, char *err, size_t errsz);
int ob_mark_failed(rg_store *st, long long id, long long now,
    const char *reply, char *err, size_t errsz);
/* every mail that is not sent (sent ones too when all), without bodies */
int ob_list(rg_store *st, int all, ob_mail **v, size_t *n, char *err,
    size_t errsz);
/* queued again for now, attempts 0 (id < 0: every failed or queued mail) */
int ob_retry(rg_store *st, long long id, long long now, int *changed,
    char *err, size_t errsz);
int ob_drop(rg_store *st, long long id, int *changed, char *err, size_t errsz);
/* the newest mail of a kind (for the alert digest); 1 if none */
int ob_last(rg_store *st, const char *kind, ob_mail *m, char *err,
    size_t errsz);
/* mails of kind about user created since t */
long long ob_count_since(rg_store *st, const char *kind, const char *user,
    long long since);
/* note that ref (a message) was reported: 1 if new, 0 if it was already */
int ob_reported(rg_store *st, const char *ref, long long now, char *err,
    size_t errsz);
void ob_clear(ob_mail *m);
void ob_free(ob_mail *v, size_t n);

#endif
