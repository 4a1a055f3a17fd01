/*
 * locks.h - the lock state the analyzer decides on and the maps are made
 * from: the active locks (table locks), the automatic-unlock counters
 * (unlocks) and the decisions (events).
 *
 * Every read and write goes through a small table of functions, lk_backend,
 * so that a second place to keep locks (PostgreSQL, shared by a fleet of
 * relays) is one new file beside locks_sqlite.c that fills the same table.
 * The SQLite backend works on the store's connection, inside the caller's
 * transaction (store_begin/store_commit): a decision and its lock rows
 * commit together with the analyzer's index.
 *
 * A lock is keyed by kind ("user" | "identity"), user, identity ("" for a
 * user lock) and reason (spam, invalid, manual, or a limit's rule). Times
 * are microseconds since the epoch; until 0: until unlocked by hand.
 * Strings handed to a callback are valid only during the call.
 *
 * Errors: -1 with what was being done and the backend's words in err.
 * lk_close(NULL) is a no-op.
 */
#ifndef RG_STORE_LOCKS_H
#define RG_STORE_LOCKS_H

#include <stddef.h>

typedef struct rg_store rg_store;	/* collector/store.h */

typedef struct lk_lock {
	const char *kind, *user, *identity;
	const char *method, *header;	/* an identity's; NULL: none */
	const char *reason, *detail;	/* detail NULL: none */
	long long since, until;
	int automatic;
} lk_lock;

typedef struct lk_event {
	long long ts;
	const char *action, *kind, *user, *identity;	/* identity "": none */
	const char *rule, *detail;			/* detail NULL: none */
} lk_event;

/* the order lk_each yields locks in */
typedef enum lk_order {
	LK_STORED,	/* as stored (the decisions' order) */
	LK_MAPS,	/* kind, user, identity, the longest-lasting first */
	LK_SHOWN,	/* kind DESC, identity, reason (`users`) */
} lk_order;

typedef void (*lk_lock_fn)(void *arg, const lk_lock *l);
typedef void (*lk_event_fn)(void *arg, const lk_event *e);

/* one backend: h is its handle */
typedef struct lk_backend {
	const char *name;
	int (*each)(void *h, const char *user, lk_order order, lk_lock_fn fn,
	    void *arg, char *err, size_t errsz);
	int (*longest)(void *h, const char *user, char *reason, size_t rsz,
	    long long *until);
	int (*find)(void *h, const char *kind, const char *user,
	    const char *identity, long long *until);
	int (*put)(void *h, const lk_lock *l, char *err, size_t errsz);
	int (*del)(void *h, const char *kind, const char *user,
	    const char *identity, const char *reason, char *err, size_t errsz);
	int (*del_any)(void *h, const char *kind, const char *user,
	    const char *identity, const char *alt, char *err, size_t errsz);
	void (*unlocks)(void *h, const char *kind, const char *user,
	    const char *identity, long long *count, long long *last_since);
	int (*set_unlocks)(void *h, const char *kind, const char *user,
	    const char *identity, long long count, long long last_since,
	    char *err, size_t errsz);
	int (*event)(void *h, const lk_event *e, char *err, size_t errsz);
	int (*recent_locked)(void *h, long long since, long long until);
	int (*events_each)(void *h, const char *user, int max, lk_event_fn fn,
	    void *arg);
	void (*close)(void *h);
} lk_backend;

typedef struct lk_store {
	const lk_backend *be;
	void *h;
} lk_store;

/* the locks in the store's database (locks_sqlite.c); NULL never */
lk_store *lk_open_sqlite(rg_store *st);
void lk_close(lk_store *lk);

/* every lock (of user; NULL: of everyone), in order */
int lk_each(lk_store *lk, const char *user, lk_order order, lk_lock_fn fn,
    void *arg, char *err, size_t errsz);
/* the longest-lasting user lock of user: 1 and its reason and end, 0: none */
int lk_longest(lk_store *lk, const char *user, char *reason, size_t rsz,
    long long *until);
/* is there a lock on kind/user/identity (any reason): 1 and its end, 0 */
int lk_find(lk_store *lk, const char *kind, const char *user,
    const char *identity, long long *until);
/* insert, or replace the lock with the same key */
int lk_put(lk_store *lk, const lk_lock *l, char *err, size_t errsz);
/* end one lock (identity NULL: "") */
int lk_delete(lk_store *lk, const char *kind, const char *user,
    const char *identity, const char *reason, char *err, size_t errsz);
/* end every lock on kind/user with identity or alt (by hand) */
int lk_delete_any(lk_store *lk, const char *kind, const char *user,
    const char *identity, const char *alt, char *err, size_t errsz);
/* the automatic unlocks used and the start of the last lock (0, 0: none) */
void lk_unlocks(lk_store *lk, const char *kind, const char *user,
    const char *identity, long long *count, long long *last_since);
int lk_set_unlocks(lk_store *lk, const char *kind, const char *user,
    const char *identity, long long count, long long last_since, char *err,
    size_t errsz);
/* record one decision */
int lk_record(lk_store *lk, const lk_event *e, char *err, size_t errsz);
/* users locked automatically (spam, invalid) in (since, until] */
int lk_recent_locked(lk_store *lk, long long since, long long until);
/* a user's decisions, newest first, at most max */
int lk_events_each(lk_store *lk, const char *user, int max, lk_event_fn fn,
    void *arg);

#endif
