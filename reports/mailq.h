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
 * rep_notices() (reports/notice.c) tells the senders of users with
 * quarantine_response = rejected that their message is held, or deleted.
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

int rep_queue(rg_store *st, void *arg, char *err, size_t errsz);
/* the lock alert of the events after meta 'mail_event' */
int rep_alerts(rg_store *st, rep_queue_ctx *q, long long now, char *err,
    size_t errsz);
/* ARF reports of the messages stored after meta 'mail_seq' */
int rep_arf(rg_store *st, rep_queue_ctx *q, long long now, char *err,
    size_t errsz);
/* quarantine notices (RFC 3464) of held and deleted messages */
int rep_notices(rg_store *st, rep_queue_ctx *q, long long now, char *err,
    size_t errsz);
/* the store hook of the notices alone */
int rep_queue_notices(rg_store *st, void *arg, char *err, size_t errsz);
/* a held message's envelope recipients from the queue file (postcat -e),
 * when the store has none */
void rep_held_rcpts(const rg_config *cfg, ms_spam *s);

#endif
