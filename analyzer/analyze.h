/*
 * analyze.h - the analyzer: lock and limit decisions from the stored
 * records, after the fact.
 *
 * ana_decide() reads the messages and sessions in the database, applies
 * each user's rules at time `now` (spam locks of users and identities,
 * connection limits, distinct recipients per day, invalid recipients),
 * ends what has expired, and writes the resulting locks and the decisions
 * (table events) in one transaction. Events are counted by their times in
 * the log; `now` is the caller's clock (the wall clock, or --now), so a
 * replay gives the same decisions. Each decision is also printed as one
 * key=value line.
 *
 * ana_maps() turns the locks into the Postfix maps (see analyzer/maps.h);
 * an envelope-sender identity lock goes into its user's restriction class
 * (analyzer/idclass.h), and the class assignments are stored on the way.
 */
#ifndef RG_ANALYZE_H
#define RG_ANALYZE_H

#include <stdio.h>

#include "../store/store.h"
#include "../common/strbuf.h"
#include "../rules/policy.h"

typedef struct ana_result {
	int locked, unlocked, blocked, unblocked, held_back;
	int maps_changed, reloaded;
} ana_result;

int ana_decide(const rg_config *cfg, const rul_policy *pol, rg_store *st,
    long long now, int dry_run, FILE *log, ana_result *res, char *err,
    size_t errsz);
int ana_maps(const rg_config *cfg, const rul_policy *pol, rg_store *st,
    long long now, int dry_run, FILE *log, ana_result *res, char *err,
    size_t errsz);
/* read Postfix's smtputf8_enable into pol (how identities fold); -1, err */
int ana_postfix_fold(const rg_config *cfg, rul_policy *pol, char *err,
    size_t errsz);
/* NULL if an identity lock of this method can be enforced, else why not */
const char *ana_enforceable(const rul_policy *pol, const char *method,
    const char *header, const char *id);
/* manual actions: lock (for seconds, 0 = until unlocked), unlock, reset */
int ana_manual(const rg_config *cfg, const rul_policy *pol, rg_store *st,
    const char *action, const char *kind, const char *name,
    const char *reason, long long seconds, long long now, FILE *log,
    char *err, size_t errsz);

/* a user's counts in its windows (for `users`) */
typedef struct ana_count {
	long long spam;			/* trusted spam within spam_lock_window */
	long long sessions_minute, sessions_hour;
	long long sessions_week, sessions_month;	/* 7 and 30 days */
	long long recipients_day;	/* distinct, rolling 24 h */
	long long invalid;		/* within invalid_recipient_window */
} ana_count;

ana_count *ana_counts(const rg_config *cfg, const rul_policy *pol,
    rg_store *st, long long now);
/* force-expire queued mail older than its user's max_days_to_retry */
int ana_expire_queue(const rg_config *cfg, const rul_policy *pol,
    rg_store *st, long long now, int dry_run, FILE *log, char *err,
    size_t errsz);
/* the fixed INFO rules (header_checks) and IGNORE rules (smtp_header_checks) */
void ana_static(const rg_config *cfg, strbuf *info, strbuf *strip);
/* the fixed milter_header_checks rules (INFO for X-Spam headers) */
void ana_milter_static(strbuf *out);
/* rspamd's DKIM selector map ("DOMAIN SELECTOR" lines) */
void ana_dkim(const rg_config *cfg, strbuf *out);
/*
 * ana_command - run [global] command_directory/PROG with args (NULL-ended,
 * after "-c postfix_config_directory"), bounded by command_timeout
 * (common/proc.c). 0: it ran, *code is its exit status (128+N if killed by
 * signal N), standard output in out (if not NULL); -1: it could not be
 * started or timed out (killed with its process group), why says so.
 */
int ana_command(const rg_config *cfg, const char *prog,
    const char *const *args, strbuf *out, int *code, char *why,
    size_t whysz);
int ana_write_file(const char *path, const char *content, int *changed,
    char *err, size_t errsz);

#endif
