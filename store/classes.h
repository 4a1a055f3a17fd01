/*
 * classes.h - the stored assignments of the identity lock classes (table
 * ana_classes: which user holds restriction class rg_cK; the policy is
 * analyzer/idclass.c's).
 *
 * cls_each() yields every assignment, by class; a database error ends it
 * early (as if there were no more), like the reads of `explain`.
 * cls_replace() replaces all of them inside the caller's transaction (a
 * savepoint: a failure leaves the old ones). cls_of() is one user's class,
 * -1 when it has none. Errors: -1 with the SQLite error in err.
 */
#ifndef RG_STORE_CLASSES_H
#define RG_STORE_CLASSES_H

#include <stddef.h>

/* the store (collector/store.h), opaque here */
typedef struct rg_store rg_store;

typedef struct cls_row {
	int cls;		/* K of rg_cK */
	const char *user;
} cls_row;

/* fn sees each assignment (user valid only during the call) */
int cls_each(rg_store *st, void (*fn)(void *arg, int cls, const char *user),
    void *arg, char *err, size_t errsz);
int cls_replace(rg_store *st, const cls_row *v, int n, char *err,
    size_t errsz);
int cls_of(rg_store *st, const char *user);

#endif
