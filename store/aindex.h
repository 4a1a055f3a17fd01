/*
 * aindex.h - the analyzer's index: the stored rows its rules count, by
 * user and time, kept up to date from what the collector changed.
 *
 * The rules count per user over rolling windows (30 days of sessions for
 * the monthly connection limit, 24 hours of recipients, the spam window).
 * Reading those windows from the collector's tables every minute means
 * reading millions of rows and resolving each one's user again. Instead
 * the analyzer keeps, in the same database and the same transaction as its
 * decisions:
 *
 *   ana_users     a number for each user name
 *   ana_sessions  each session that queued mail: user, time
 *   ana_messages  each message a rule counts: user, time, trusted spam
 *                 (and its identity), recipients counted, invalid ones
 *
 * and brings them up to date at the start of each run from the rows whose
 * seq (the collector's transaction number, store/store.c) is newer than
 * the last run's. Only the users those rows belong to can have crossed a
 * threshold since, so only they are decided again ("touched"), with the
 * users whose rows came into the window because time moved on, and those
 * left pending by the last run (held back by the safety valve, or changed
 * by hand). Counts of everyone else can only have fallen, and what falls
 * ends by the locks' own expiry times.
 *
 * The index is rebuilt from the stored rows when the rules that shape it
 * changed (a fingerprint of the users, identity headers, trusted verdict
 * sources and windows), on the first run, and when time goes backwards
 * (--now earlier than the last run's). When the configuration changed at
 * all (a threshold, never_lock, the safety valve), every user is decided
 * again, as on a rebuild.
 */
#ifndef RG_AINDEX_H
#define RG_AINDEX_H

#include <stddef.h>

#include "../rules/config.h"
#include "../rules/policy.h"

typedef struct rg_store rg_store;	/* collector/store.h */
typedef struct aix_stm aix_stm;		/* its statements (aindex.c) */

typedef struct aix {
	rg_store *st;
	const rg_config *cfg;
	const rul_policy *pol;
	long long now;
	int nusers;
	long long *uid;		/* per policy user: its ana_users id, 0 unknown */
	unsigned char *touched;	/* per policy user: decide it in this run */
	int ntouched;
	int rebuilt;		/* the index was rebuilt in this run */
	long long sess_horizon;	/* seconds of sessions kept (0: none) */
	long long msg_horizon;	/* seconds of messages kept (0: none) */
	long long seq;		/* the collector's last transaction seen */
	long long indexed;	/* rows (re)indexed in this run */
	char fp[17];		/* the fingerprint of the rules */
	char cfp[17];		/* of the whole configuration */
	aix_stm *stm;
} aix;

/*
 * aix_update - bring the index up to date at `now` and find the touched
 * users; inside the caller's transaction. 0, or -1 with err set.
 */
int aix_update(aix *x, rg_store *st, const rg_config *cfg,
    const rul_policy *pol, long long now, char *err, size_t errsz);
/* aix_uid - the index's number of policy user k; 0: it has no rows */
long long aix_uid(aix *x, int k);
/* aix_touch - decide user k in this run too */
void aix_touch(aix *x, int k);
/* aix_pend - decide this user again in the next run (-1 with err set) */
int aix_pend(rg_store *st, const char *user, char *err, size_t errsz);
/* aix_finish - remember what this run saw (seq, now, fingerprint) */
int aix_finish(aix *x, char *err, size_t errsz);
void aix_free(aix *x);

/*
 * The rules' reads, for the user uid (aix_uid) over the window (since,
 * until], microseconds; inside the run (between aix_update and aix_free).
 * The strings passed to fn are valid only during the call. 0, or -1 with
 * err set.
 */
/* trusted spam by time: identity NULL when the message has none */
typedef void (*aix_spam_fn)(void *arg, long long t, const char *identity,
    const char *method, const char *header);
int aix_spam(aix *x, long long uid, long long since, long long until,
    aix_spam_fn fn, void *arg, char *err, size_t errsz);
/* sessions that queued mail: how many; the time of the (skip+1)-th latest
 * (0 if none) */
int aix_sessions(aix *x, long long uid, long long since, long long until,
    long long *n, char *err, size_t errsz);
int aix_session_at(aix *x, long long uid, long long since, long long until,
    long long skip, long long *t, char *err, size_t errsz);
/* each counted recipient of its mail (address NULL if unknown) */
typedef void (*aix_rcpt_fn)(void *arg, long long t, const char *address);
int aix_recipients(aix *x, long long uid, long long since, long long until,
    aix_rcpt_fn fn, void *arg, char *err, size_t errsz);
/* how many aix_recipients would yield (a bound on the distinct ones) */
int aix_recipient_count(aix *x, long long uid, long long since,
    long long until, long long *n, char *err, size_t errsz);
/* each message with n > 0 invalid recipients, by time */
typedef void (*aix_invalid_fn)(void *arg, long long t, int n);
int aix_invalid(aix *x, long long uid, long long since, long long until,
    aix_invalid_fn fn, void *arg, char *err, size_t errsz);
/* the logged values of an identity header that give identity id (any
 * time): how many, -1 on a database error */
int aix_header_values(rg_store *st, const char *header, const char *id,
    void (*fn)(void *arg, const char *value), void *arg);

#endif
