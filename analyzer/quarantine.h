/*
 * quarantine.h - Postfix's hold queue as relayguard's quarantine: what is
 * held (the store's records checked against `postqueue -j`), release,
 * delete, and the retention that analyze applies.
 *
 * Postfix's side (POSTFIX-NOTES): `postsuper -H QID` releases in place (to
 * the deferred queue: `postqueue -i QID` then delivers it now); the
 * message keeps its arrival time, so mail held longer than
 * maximal_queue_lifetime would expire at its first deferral. Such mail is
 * re-queued instead (`postsuper -r QID`: a new queue ID and fresh times,
 * logged with orig_id=). `postsuper -d QID hold` deletes. Each action is
 * one `key=value` line on the log stream and one row in the events table
 * (action quarantine, kind message, identity the queue ID, rule release,
 * requeue, delete or expire).
 *
 * Every child (postqueue, postsuper, postconf, postcat, postkick) runs
 * from command_directory through ana_command() (common/proc.c): an
 * argument vector, command_timeout, the process group killed.
 *
 * Errors: -1 with the message in err.
 */
#ifndef RG_QUARANTINE_H
#define RG_QUARANTINE_H

#include <stdio.h>

#include "../store/store.h"
#include "../common/strbuf.h"
#include "../rules/config.h"
#include "../rules/policy.h"

typedef struct qr_entry {
	char *queue_id;
	char *queue_name;		/* hold, deferred, active ...; "" gone */
	long long arrival;		/* postqueue's arrival time (usec), 0 */
	long long first_seen;		/* the store's (usec), 0 not stored */
	char *user, *identity, *sender, *recipients, *subject, *score;
	char *symbols;
	long long size;			/* -1 unknown */
	const char *state;		/* held released deleted expired */
} qr_entry;

typedef struct qr_list {
	qr_entry *v;
	size_t n;
} qr_list;

typedef struct qr_filter {
	const char *user;		/* configured user name, or NULL */
	long long since;		/* first seen (or arrival) from */
	const char *state;		/* or NULL */
} qr_filter;

int qr_list_get(const rg_config *cfg, const rul_policy *pol, rg_store *st,
    const qr_filter *f, qr_list *l, char *err, size_t errsz);
void qr_list_free(qr_list *l);
/* what == "release" or "delete"; a line per message on log */
int qr_act(const rg_config *cfg, rg_store *st, const qr_entry *e,
    const char *what, long long now, FILE *log, char *err, size_t errsz);
/* analyze: held mail older than quarantine_retention is deleted */
int qr_retention(const rg_config *cfg, const rul_policy *pol, rg_store *st,
    long long now, int dry_run, FILE *log, char *err, size_t errsz);
/* postcat's headers and the first lines of the body, made printable */
int qr_show(const rg_config *cfg, const char *queue_id, int body_lines,
    FILE *out, char *err, size_t errsz);

#endif
