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

#include <sqlite3.h>

#include "../rules/config.h"
#include "../rules/policy.h"

typedef struct aix {
	sqlite3 *db;
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
	sqlite3_stmt *q_uid, *q_newuid;
} aix;

/*
 * aix_update - bring the index up to date at `now` and find the touched
 * users; inside the caller's transaction. 0, or -1 with err set.
 */
int aix_update(aix *x, sqlite3 *db, const rg_config *cfg,
    const rul_policy *pol, long long now, char *err, size_t errsz);
/* aix_uid - the index's number of policy user k; 0: it has no rows */
long long aix_uid(aix *x, int k);
/* aix_touch - decide user k in this run too */
void aix_touch(aix *x, int k);
/* aix_pend - decide this user again in the next run (-1 with err set) */
int aix_pend(sqlite3 *db, const char *user, char *err, size_t errsz);
/* aix_finish - remember what this run saw (seq, now, fingerprint) */
int aix_finish(aix *x, char *err, size_t errsz);
void aix_free(aix *x);

#endif
