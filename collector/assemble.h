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
#include "../store/record.h"
#include "../store/recblob.h"

typedef struct assembler assembler;

typedef struct asm_callbacks {
	void (*message)(void *arg, const rg_record *r);
	void (*session)(void *arg, const rg_session *s);	/* may be NULL */
	/*
	 * May be NULL. evicted: the open message id is a stub now (its
	 * state is the store's alone); stale: the sweep dropped the stub of
	 * message id, without loading it: the store ends it as stale
	 * itself, from what it holds, as message would have been told
	 */
	void (*evicted)(void *arg, uint64_t id);
	void (*stale)(void *arg, uint64_t id);
	void *arg;
} asm_callbacks;

typedef struct asm_options {
	long long max_message_age;	/* seconds of log time */
	long long max_session_age;
	long long spamd_window;
	const char *default_host;	/* for lines without one */
	char *const *headers;		/* identity header names as configured */
	int nheaders;
	int persist;			/* track changes for asm_checkpoint */
} asm_options;

/*
 * Persistence (the collector): asm_checkpoint() hands every record changed
 * since the last checkpoint that the assembler still holds (open, or ended
 * and lingering), each with an opaque state blob, and the global state.
 * A new assembler given those blobs (asm_restore_*, then
 * asm_restore_done) continues exactly where the old one stopped. Records
 * handed to the message and session callbacks are final: their ids are not
 * held any more.
 */
/*
 * An open message's key (rb_key, store/recblob.h) is saved beside its
 * state (save_message). Restored from keys alone (asm_restore_key), a
 * message is decoded only when a line names it, it expires or it is
 * handed out, through the loader (asm_set_loader); a message ended and
 * lingering is restored whole.
 */

/* the loader: the state blob of message id into out; 0, or -1 */
typedef int (*asm_loader)(void *arg, uint64_t id, strbuf *out);

/*
 * An open message's state is the lean open form (store/recblob.h rb_open):
 * only what its messages row and child rows, handed to save_message with
 * it, do not hold; intern and intern_text (may be NULL) number its relays
 * and the response texts other messages repeat, resolved by the store's
 * resolve (rb_open_full).
 */
typedef struct asm_store_ops {
	void (*save_message)(void *arg, const rg_record *r,
	    const rb_key *key, const void *state, size_t len);
	void (*save_session)(void *arg, const rg_session *s, const void *state,
	    size_t len);
	void (*save_global)(void *arg, const void *state, size_t len);
	void *arg;
	rb_intern_fn intern;
	rb_text_fn intern_text;
	void *intern_arg;
} asm_store_ops;

assembler *asm_new(const asm_options *opt, const asm_callbacks *cb);
void asm_checkpoint(assembler *a, const asm_store_ops *ops);
int asm_restore_message(assembler *a, const void *state, size_t len,
    int rewrite);
int asm_restore_session(assembler *a, const void *state, size_t len);
int asm_restore_global(assembler *a, const void *state, size_t len);
int asm_restore_key(assembler *a, const rb_key *key);
void asm_set_loader(assembler *a, asm_loader fn, void *arg);
void asm_restore_done(assembler *a);
/* a lazily restored message could not be loaded: 0 none, 1 the loader
 * failed, 2 its state is damaged (*id: which message) */
int asm_load_failed(const assembler *a, uint64_t *id);
void asm_event(assembler *a, const logline *ll, const rg_event *ev);
void asm_finish(assembler *a);
size_t asm_finish_count(assembler *a);
size_t asm_open_messages(const assembler *a);
size_t asm_open_sessions(const assembler *a);
/* how often open messages were evicted to the store, loaded back
 * (restored stubs included), and ended there by the sweep */
void asm_evictions(const assembler *a, size_t *evicted, size_t *loaded,
    size_t *stale);
void asm_prefault(assembler *a);
void asm_prefault_stats(const assembler *a, unsigned long *made,
    unsigned long *taken, unsigned long *missed);
void asm_free(assembler *a);

#endif
