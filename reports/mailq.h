/*
 * mailq.h - what relayguard queues as mail, decided inside the
 * transaction that makes the decisions (see store_set_hook()).
 *
 * rep_queue() is the store hook: it turns the analyzer's new events into
 * one lock alert (or a digest, reports/alert.c) and each new spam message
 * of an outgoing user that was refused or held into an ARF report
 * (reports/arf.c), all into the outbox (store/outbox.h). It remembers how
 * far it got in meta ('mail_event', 'mail_seq') in the same transaction,
 * so a rolled-back decision has no mail and a committed one has it once.
 */
#ifndef RG_MAILQ_H
#define RG_MAILQ_H

#include "../store/mailsrc.h"

#include "../rules/config.h"
#include "../rules/policy.h"

typedef struct rep_queue_ctx {
	const rg_config *cfg;
	const rul_policy *pol;
	int queued;		/* mails queued by this process */
} rep_queue_ctx;

int rep_queue(sqlite3 *db, void *arg, char *err, size_t errsz);
/* the lock alert of the events after meta 'mail_event' */
int rep_alerts(sqlite3 *db, rep_queue_ctx *q, long long now, char *err,
    size_t errsz);
/* ARF reports of the messages stored after meta 'mail_seq' */
int rep_arf(sqlite3 *db, rep_queue_ctx *q, long long now, char *err,
    size_t errsz);

#endif
