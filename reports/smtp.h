/*
 * smtp.h - sending the outbox through libesmtp (the only SMTP client).
 *
 * rep_send() delivers the given outbox mails, or every due one, over one
 * connection per batch, to [mail] smtp_server with the [mail] settings
 * (STARTTLS, certificate checks with our own SSL_CTX, SASL AUTH). Each
 * mail is marked in the outbox as soon as its fate is known: sent after
 * the server's 250, failed after a permanent refusal of its recipient
 * (or at give_up_after), else retried later per [mail] retry. A failed
 * login, a TLS failure, a refused or lost connection keep every mail,
 * with a one-line reason (res->reason, and each mail's last reply).
 *
 * libesmtp 1.1.0 traps handled here: connect() and the name lookup have
 * no timeout (an alarm bounds them); smtp_set_timeout() raises values to
 * minutes unless told Timeout_OVERRIDE_RFC2822_MINIMUM; a refused AUTH
 * goes on unauthenticated (seen in the protocol monitor, the mail kept);
 * certificates match DNS names only.
 */
#ifndef RG_SMTP_H
#define RG_SMTP_H

#include "../store/outbox.h"
#include <stdio.h>

#include "../rules/config.h"

typedef struct rep_send_result {
	int sent, deferred, failed;
	char reason[512];	/* why mail was kept, "" if none was */
} rep_send_result;

/* ids == NULL: every due mail. dialogue != NULL: the SMTP dialogue there */
int rep_send(rg_store *st, const rg_config *cfg, const long long *ids,
    int nids, FILE *dialogue, rep_send_result *res, char *err, size_t errsz);

#endif
