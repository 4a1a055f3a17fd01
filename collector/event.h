/*
 * event.h - one recognised log line, as a plain value.
 *
 * The parser (pfline.c) fills an rg_event from a logline; the assembler
 * (assemble.c) folds events into message and session records. Text fields
 * are slices of the log line (not NUL-terminated): valid only while the line
 * is, so the assembler copies what it keeps. An empty slice (n == 0, p ==
 * NULL) means the line did not give that field; an empty value that the log
 * did give ("from=<>") has p != NULL and n == 0.
 */
#ifndef RG_EVENT_H
#define RG_EVENT_H

#include <stddef.h>

#include "../common/rgtime.h"

typedef struct rg_slice {
	const char *p;
	size_t n;
} rg_slice;

#define SL_SET(s) ((s).p != NULL)

/* what kind of program logged the line */
enum ev_prog {
	PROG_OTHER,		/* not a mail program: skipped */
	PROG_SMTPD, PROG_CLEANUP, PROG_QMGR, PROG_DELIVERY, PROG_BOUNCE,
	PROG_POSTSUPER, PROG_PICKUP, PROG_POSTFIX_OTHER,
	PROG_RSPAMD, PROG_AMAVIS, PROG_SPAMD,
	PROG__COUNT
};

enum ev_kind {
	EV_UNKNOWN,		/* a mail program's line we do not understand */
	EV_IGNORED,		/* understood, nothing to record */
	EV_WARNING,		/* warning:/fatal:/panic:/error: lines */
	EV_CONNECT, EV_DISCONNECT, EV_LOST, EV_SASL_FAIL,
	EV_CLIENT,		/* smtpd QID: client=... */
	EV_NOQUEUE,		/* smtpd NOQUEUE: reject|milter-reject ... */
	EV_RCPT_REJECT,		/* smtpd QID: reject: RCPT ... (message goes on) */
	EV_SMTPD_ACTION,	/* smtpd QID: reject|hold|discard: DATA/... */
	EV_PICKUP,		/* pickup QID: uid=N from=<s> */
	EV_MSGID,		/* cleanup QID: message-id=<...> */
	EV_HEADER,		/* cleanup QID: ACTION: header|body ... */
	EV_MILTER,		/* cleanup/smtpd QID: milter-reject|hold|discard */
	EV_QMGR_FROM,		/* qmgr QID: from=<s>, size=N, nrcpt=N */
	EV_QMGR_EXPIRED,	/* qmgr QID: from=<s>, status=expired */
	EV_REMOVED,		/* qmgr QID: removed */
	EV_DELIVERY,		/* QID: to=<r>, relay=..., status=... */
	EV_NOTIFY,		/* bounce QID: sender non-delivery notification: QID2 */
	EV_HOLD, EV_RELEASE, EV_PS_REMOVED, EV_REQUEUED,
	EV_RSPAMD, EV_AMAVIS, EV_SPAMD,
	EV__COUNT
};

typedef struct rg_event {
	enum ev_kind kind;
	rg_slice qid;
	rg_slice client_host, client_ip, client_port;
	rg_slice sasl_method, sasl_user;
	rg_slice sender, rcpt, orig_to;
	rg_slice relay, delay, dsn, status, response;
	rg_slice size, nrcpt, msgid;
	rg_slice action;		/* header/milter action: "hold", "reject", ... */
	rg_slice hdr_name, hdr_value;	/* EV_HEADER; hdr_value as logged */
	int hdr_is_milter;		/* milter-header-*: added by a milter */
	int hdr_is_body;
	rg_slice stage;			/* RCPT, DATA, END-OF-MESSAGE, ... */
	rg_slice code, text;		/* reply: "550", "5.1.1 <x>: ..." */
	rg_slice qid2;			/* notification QID, amavis queued_as */
	rg_slice counters;		/* disconnect: "ehlo=1 mail=1 ..." */
	/* content-filter verdicts */
	int spam;			/* 1 spam, 0 not, -1 unknown */
	rg_slice score, required, symbols, filter_action;
	/*
	 * What attacker text made impossible to read without doubt: a
	 * verdict line with several differing verdicts (or queue IDs) in it
	 * gives no verdict (spam -1); a tail with several possible envelopes
	 * gives no sender or recipient. Counted in --stats.
	 */
	int ambiguous;			/* EV_AMB_* bits */
} rg_event;

#define EV_AMB_VERDICT	1
#define EV_AMB_ENVELOPE	2

const char *ev_kind_name(enum ev_kind k);
const char *ev_prog_name(enum ev_prog p);

#endif
