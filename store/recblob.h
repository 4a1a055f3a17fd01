/*
 * recblob.h - a message record as the blobs the store keeps, and back
 * (store/recblob.c has the formats).
 *
 *	full form	rb_full (a finished record), rb_open (an open one
 *			that does not fit the lean open form), rb_put (the
 *			record inside a session's state): RB_STATE_VERSION,
 *			then the whole record and the node's state (rb_node)
 *	lean form	rb_lean: a finished record, only what its messages
 *			row and child rows do not hold (messages.rec)
 *	lean open form	rb_open: an open message, likewise
 *			(open_msgs.state)
 *
 * The writers take intern (and text, for open states), which number a
 * relay (or a response text others repeat) in the store: > 0, or 0 to
 * keep it inline; may be NULL. The readers that rebuild a record from its
 * rows take resolve, which gives a number back as a string in the
 * record's arena (NULL: unknown). Every reader returns 0, or -1 for a
 * damaged blob or one that does not fit the rows; output buffers are
 * appended to. A pool (may be NULL) is where a decoded record's arena
 * draws from (arena.h); the record is gone when the call returns.
 */
#ifndef RG_RECBLOB_H
#define RG_RECBLOB_H

#include <stddef.h>
#include <stdint.h>

#include "../common/ser.h"
#include "../common/strbuf.h"
#include "record.h"

#define RB_STATE_VERSION 1	/* the full form (and the collector's
				 * session and global states) */

/* the assembler's own state of a message, kept beside its record */
typedef struct rb_node {
	int ended, queued;
	rg_usec ended_at;
	uint64_t seq;		/* order of last activity */
} rb_node;

/*
 * An open message's key, saved beside its state (store_put_open): what a
 * restart needs to know of a message before a line names it (the
 * collector restores a message from its key alone and loads its state
 * when it is needed: store_restore, store_load_open).
 */
typedef struct rb_key {
	uint64_t id, seq;		/* seq: order of last activity */
	const char *host, *qid, *message_id;	/* message_id may be NULL */
	rg_usec first_seen, last_seen;
	int ended;
} rb_key;

typedef uint64_t (*rb_intern_fn)(void *arg, const char *relay);
typedef char *(*rb_resolve_fn)(void *arg, uint64_t id, rg_arena *ar);
/* msg_id: the message the text is of (one only it repeats stays inline) */
typedef uint64_t (*rb_text_fn)(void *arg, const char *text, uint64_t msg_id);
/* the shared copy of a host name (as rg_arena_str makes strings) */
typedef const char *(*rb_host_fn)(void *arg, const char *host, size_t n);

/* the full form, without its version: record and node (m NULL: zero) */
void rb_put(strbuf *sb, const rg_record *r, const rb_node *m);
int rb_get(ser_reader *rd, rg_record *r, rb_node *m, rb_host_fn hostfn,
    void *arg);
void rb_full(strbuf *sb, const rg_record *r);
/* a full blob's record as rec_json writes it */
int rb_json(const void *blob, size_t len, rg_pool *pool, strbuf *sb);

/* a finished record's lean blob; a full blob of one in the lean form */
void rb_lean(strbuf *sb, const rg_record *r, rb_intern_fn intern,
    void *arg);
int rb_is_lean(const void *blob, size_t len);
int rb_lean_merge(rg_record *r, const void *blob, size_t len,
    const rg_header *th, int nth, rb_resolve_fn resolve, void *arg);
int rb_full_lean(const void *blob, size_t len, rg_pool *pool,
    strbuf *sb);

/* an open message's state; the full state back from its rows and the lean
 * open form; an old full state in the lean open form */
void rb_open(strbuf *sb, const rg_record *r, const rb_node *m,
    rb_intern_fn intern, rb_text_fn text, void *arg);
int rb_is_open(const void *blob, size_t len);
int rb_open_full(rg_record *r, const void *blob, size_t len,
    const rg_header *th, int nth, rb_resolve_fn resolve, void *arg,
    strbuf *out);
int rb_open_lean(const void *blob, size_t len, rg_pool *pool,
    strbuf *out);

#endif
