/*
 * locks.c - the lock state's interface (see locks.h): each call goes to
 * the backend's function. Owns nothing but the handle's shell.
 */
#include <stdlib.h>

#include "locks.h"

/* lk_close - close the backend and free the handle */
void
lk_close(lk_store *lk)
{
	if (lk == NULL)
		return;
	lk->be->close(lk->h);
	free(lk);
}

/* lk_each - every lock, in order */
int
lk_each(lk_store *lk, const char *user, lk_order order, lk_lock_fn fn,
    void *arg, char *err, size_t errsz)
{
	return lk->be->each(lk->h, user, order, fn, arg, err, errsz);
}

/* lk_longest - a user's longest-lasting user lock */
int
lk_longest(lk_store *lk, const char *user, char *reason, size_t rsz,
    long long *until)
{
	return lk->be->longest(lk->h, user, reason, rsz, until);
}

/* lk_find - a lock on kind/user/identity */
int
lk_find(lk_store *lk, const char *kind, const char *user,
    const char *identity, long long *until)
{
	return lk->be->find(lk->h, kind, user, identity, until);
}

/* lk_put - insert or replace a lock */
int
lk_put(lk_store *lk, const lk_lock *l, char *err, size_t errsz)
{
	return lk->be->put(lk->h, l, err, errsz);
}

/* lk_delete - end one lock */
int
lk_delete(lk_store *lk, const char *kind, const char *user,
    const char *identity, const char *reason, char *err, size_t errsz)
{
	return lk->be->del(lk->h, kind, user, identity, reason, err, errsz);
}

/* lk_delete_any - end the locks on an identity as given or folded */
int
lk_delete_any(lk_store *lk, const char *kind, const char *user,
    const char *identity, const char *alt, char *err, size_t errsz)
{
	return lk->be->del_any(lk->h, kind, user, identity, alt, err, errsz);
}

/* lk_unlocks - the automatic-unlock counter */
void
lk_unlocks(lk_store *lk, const char *kind, const char *user,
    const char *identity, long long *count, long long *last_since)
{
	lk->be->unlocks(lk->h, kind, user, identity, count, last_since);
}

/* lk_set_unlocks - store the counter */
int
lk_set_unlocks(lk_store *lk, const char *kind, const char *user,
    const char *identity, long long count, long long last_since, char *err,
    size_t errsz)
{
	return lk->be->set_unlocks(lk->h, kind, user, identity, count,
	    last_since, err, errsz);
}

/* lk_record - record a decision */
int
lk_record(lk_store *lk, const lk_event *e, char *err, size_t errsz)
{
	return lk->be->event(lk->h, e, err, errsz);
}

/* lk_recent_locked - users locked automatically in the window */
int
lk_recent_locked(lk_store *lk, long long since, long long until)
{
	return lk->be->recent_locked(lk->h, since, until);
}

/* lk_events_each - a user's newest decisions */
int
lk_events_each(lk_store *lk, const char *user, int max, lk_event_fn fn,
    void *arg)
{
	return lk->be->events_each(lk->h, user, max, fn, arg);
}
