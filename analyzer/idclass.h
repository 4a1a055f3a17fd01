/*
 * idclass.h - envelope-sender identity locks scoped to their user, through
 * a fixed pool of Postfix restriction classes.
 *
 * A global check_sender_access entry would refuse a locked envelope sender
 * in everyone's mail: alice's spam that used bob@example.com as its sender
 * would lock bob out. Postfix refuses a lookup table named inside an access
 * map's result ("do not specify lookup tables inside SMTPD access maps"),
 * but it takes the name of a restriction class there. So `postfix-config`
 * declares a pool of [global] identity_lock_classes classes, once:
 *
 *   smtpd_restriction_classes = rg_c0, rg_c1, ...
 *   rg_cK = check_sender_access TYPE:DIR/rg_senders_K,
 *           check_sender_access pcre:DIR/rg_senders_pcre_K
 *
 * and `analyze` hands each user that has envelope-sender identity locks one
 * class K: its SASL login (sasl and domain users) answers rg_cK in
 * sasl_access, its networks (IP users) answer rg_cK in client_access, and
 * its locked identities, with their 4.7.1 (or HOLD) replies, are the
 * entries of rg_senders_K. Postfix then checks that table only for that
 * user's mail. No main.cf change and no reload per lock: the sender tables
 * are indexed maps, which smtpd re-reads by itself.
 *
 * Assignments are stable: a user keeps its class from run to run (the
 * ana_classes table), and gives it back when it has no such lock left. A
 * class given back is not handed to another user in the same run (a cidr
 * map still naming it is live until Postfix has reloaded). A user lock
 * wins: its login or networks answer the lock reply, not the class.
 *
 * When every class is taken, a user that needs one gets none: its login
 * or networks answer the reply of its longest identity lock instead, so
 * its whole mail is refused (never a global sender entry), and each run
 * prints action=alert kind=identity_classes for it until a class is free.
 * identity_lock_classes = 0 does that for every such lock. A locked
 * sender that no indexed key can hold (white space or a leading '#' in a
 * quoted local part) goes to the class's pcre table, as an escaped rule
 * that matches exactly that address as smtpd looks it up (a change there
 * needs a reload); one that no map can hold at all (a control character,
 * invalid UTF-8) is the caller's: `lock` refuses it, analyze skips it with
 * an alert and `users` shows it "not enforceable".
 *
 * Use: icl_new, then icl_lock() for every locked envelope-sender identity
 * and icl_user_locked() for every user lock, then icl_assign() (reads and,
 * unless dry_run, stores the assignments), then icl_value() per user for
 * the SASL and cidr maps and icl_write() for the class tables. The pool
 * keeps pointers to the policy's users and copies of the strings.
 */
#ifndef RG_IDCLASS_H
#define RG_IDCLASS_H

#include <stdio.h>

#include "../common/strbuf.h"
#include "../rules/policy.h"
#include "maps.h"

typedef struct icl_pool icl_pool;
typedef struct rg_store rg_store;	/* collector/store.h */

icl_pool *icl_new(const rg_config *cfg, const rul_policy *pol);
void icl_free(icl_pool *p);
/* a locked envelope-sender identity of u, its map value, its end (0: none) */
void icl_lock(icl_pool *p, const rul_user *u, const char *identity,
    const char *value, long long until);
/* u has a user lock: it wins over u's class */
void icl_user_locked(icl_pool *p, const rul_user *u);
/* hand out the classes; 0, or -1 and err on a database error */
int icl_assign(icl_pool *p, rg_store *st, int dry_run, FILE *log, char *err,
    size_t errsz);
/* what u's login or networks answer: "rg_cK", the escalated reply, or NULL */
const char *icl_value(const icl_pool *p, const rul_user *u);
/* write (or with dry_run print) every class's sender table */
int icl_write(const icl_pool *p, const map_writer_cfg *wc, int dry_run,
    FILE *log, int *nchanged, int *reload, char *err, size_t errsz);
/* the main.cf lines that declare the pool (postfix-config) */
void icl_main_cf(const rg_config *cfg, strbuf *out);
/* the problems of `postconf -n` output (NAME = VALUE lines) with the pool;
 * each is appended as one line to out; the count is returned */
int icl_check_main_cf(const rg_config *cfg, const char *postconf_n,
    strbuf *out);

#endif
