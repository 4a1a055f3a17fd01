/*
 * assemble.h - fold events into one record per message and per session.
 *
 * The assembler keeps the open messages (keyed by host and queue ID) and
 * open SMTP sessions (keyed by host and smtpd pid), and hands each one to
 * the caller's callback when it ends: a message at qmgr's or postsuper's
 * "removed", or when it is rejected or discarded after queueing; a session
 * at its disconnect. A NOQUEUE reject is a record of its own, held until its
 * session ends so that the session's SASL login (Postfix 3.7 logs it only on
 * client= lines) can be filled in. asm_finish() hands out what is still
 * open, marked incomplete. Memory is bounded: a message not seen for
 * max_message_age of log time is handed out as stale and dropped.
 *
 * Records passed to the callbacks are owned by the assembler and freed when
 * the callback returns.
 */
#ifndef RG_ASSEMBLE_H
#define RG_ASSEMBLE_H

#include "event.h"
#include "logline.h"
#include "record.h"

typedef struct assembler assembler;

typedef struct asm_callbacks {
	void (*message)(void *arg, const rg_record *r);
	void (*session)(void *arg, const rg_session *s);	/* may be NULL */
	void *arg;
} asm_callbacks;

typedef struct asm_options {
	long long max_message_age;	/* seconds of log time */
	long long max_session_age;
	long long spamd_window;
	const char *default_host;	/* for lines without one */
	char *const *headers;		/* identity header names as configured */
	int nheaders;
} asm_options;

assembler *asm_new(const asm_options *opt, const asm_callbacks *cb);
void asm_event(assembler *a, const logline *ll, const rg_event *ev);
void asm_finish(assembler *a);
size_t asm_open_messages(const assembler *a);
size_t asm_open_sessions(const assembler *a);
void asm_free(assembler *a);

#endif
