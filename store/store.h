/*
 * store.h - the collector's SQLite database: records, open state and the
 * read position of every source.
 *
 * Schema (store/schema.c, every migration there): messages (one row per
 * message and per NOQUEUE reject, the typed columns the queries read and,
 * once finished, in rec what the row and child rows do not hold; the JSON
 * rebuilt from them), recipients (the last status of each), headers,
 * verdicts, open_msgs (an open message's state beside its row: only what
 * the row and child rows, written with it, do not hold; schema 9),
 * sessions, sources (read positions), asm_state (the assembler's global
 * state), log_loss, relays (relays and repeated response texts, numbered
 * once). Times are microseconds since the epoch, UTC.
 *
 * Exactly-once: the caller wraps a batch in store_begin/store_commit and
 * writes the records, the open state and the positions of that batch in
 * it; a crash rolls all of it back together.
 */
#ifndef RG_STORE_H
#define RG_STORE_H

#include "../common/strbuf.h"
#include "../rules/config.h"
#include "record.h"
#include "recblob.h"
#include "srcpos.h"

typedef struct rg_store rg_store;

#define STORE_READONLY	1	/* DB_READONLY */
#define STORE_CREATE	2	/* DB_CREATE: collect and init only */
#define STORE_THREADS	4	/* the process's first open: SQLite with mutexes
				 * (store_checkpoint_apart) */
/* NULL and err on failure; errno ENOENT when the file does not exist */
rg_store *store_open(const char *path, int flags, char *err, size_t errsz);
void store_id(rg_store *st, char *buf, size_t sz);
void store_cache(rg_store *st, int kib);	/* the page cache, in KiB */
/* checkpoints in a thread, not in the COMMIT (the collector's writes) */
void store_checkpoint_apart(rg_store *st);
const char *store_error(const rg_store *st);
int store_begin(rg_store *st);
int store_commit(rg_store *st);
/* a read snapshot of the restore and the positions; store_rollback ends it */
int store_read_begin(rg_store *st);
void store_rollback(rg_store *st);
/* state == NULL: the record is final */
int store_put_message(rg_store *st, const rg_record *r, const void *state,
    size_t len);
/* an open message's state (rb_open's) and its key, after its row */
int store_put_open(rg_store *st, const rb_key *key, const void *state,
    size_t len);
/* end open message id as stale from its stored row and state (the
 * collector's sweep dropped it while evicted) */
int store_finish_stale(rg_store *st, uint64_t id);
/* forget what is kept in memory of open message id (evicted) */
void store_forget_open(rg_store *st, uint64_t id);
/* rb_open's intern of the open state's codec; arg: the store */
uint64_t store_intern_relay(void *arg, const char *relay);
/* rb_open's text: a response text other messages repeat */
uint64_t store_intern_text(void *arg, const char *text, uint64_t msg_id);
int store_put_session(rg_store *st, const rg_session *s, const void *state,
    size_t len);
int store_put_global(rg_store *st, const void *state, size_t len);
/*
 * What was open at the last commit, handed back (to the collector's
 * assembler, which implements these): each returns 0, or -1 to refuse a
 * damaged state (store_restore then fails). message: a message restored
 * whole (ended and lingering, or stored without its key: rewrite, to be
 * saved again); key: one restored by its key alone, its state read with
 * store_load_open when it is needed.
 */
typedef struct store_restore_ops {
	int (*global)(void *arg, const void *state, size_t len);
	int (*session)(void *arg, const void *state, size_t len);
	int (*key)(void *arg, const rb_key *key);
	int (*message)(void *arg, const void *state, size_t len, int rewrite);
	void *arg;
} store_restore_ops;
int store_restore(rg_store *st, const store_restore_ops *ops);
/* an open message's full state by its id into out: 0, or -1 */
int store_load_open(rg_store *st, uint64_t id, strbuf *out);
/* 0: found, 1: never seen, -1: error */
int store_get_source(rg_store *st, const char *name, src_pos *pos);
int store_put_source(rg_store *st, const char *name, const char *kind,
    const src_pos *pos);
/*
 * The check of the positions inside the batch (the one that stores them):
 * store_expect_source at its start, for each source, what its stored
 * position must still be (moved: the error if not); store_check_sources
 * before the batch stores its own: -1 if one moved. A failed write checks
 * them too (another writer is the likelier cause: its message wins).
 * store_recheck: checked now, 1 moved (store_error), 0 not, -1 error.
 */
int store_expect_source(rg_store *st, const char *name, int found,
    const src_pos *expect, const char *moved);
int store_check_sources(rg_store *st);
int store_recheck(rg_store *st);
/*
 * The batches' statements run by a thread of their own (collect --once):
 * the caller makes the next batch while the last one is written, one
 * batch at most waiting; a write's failure shows at the next write,
 * commit or store_writer_stop (-1, store_error), and nothing after it
 * commits. Start outside a batch; 0 started, -1 not (the statements run
 * at once, as without it). stop: stats (if not NULL) gets its counts.
 */
int store_writer_start(rg_store *st);
int store_writer_stop(rg_store *st, char *stats, size_t sz);
/* whether source NAME was last found unreadable (a mark in meta) */
int store_source_unreadable(rg_store *st, const char *name);
int store_set_source_unreadable(rg_store *st, const char *name, int on);
int store_log_loss(rg_store *st, const char *source, long long count,
    long long ts, const char *text);
/* message id's JSON as parse writes it (from its row and rec, else the
 * old json) */
int store_message_json(rg_store *st, long long id, const void *rec,
    size_t reclen, const char *json, size_t jsonlen, strbuf *out);
/* every message (sessions: session) as parse writes it, and its open flag */
int store_each_json(rg_store *st, int sessions,
    int (*fn)(void *arg, int open, const char *json, size_t len), void *arg);
/* delete rows last seen before cutoff, at most batch per transaction */
long long store_prune(rg_store *st, long long cutoff_usec, long long batch);
/*
 * a function run inside every transaction just before it commits (the
 * mail of the decisions made in it: reports/); its failure fails the
 * commit. NULL: none.
 */
typedef int (*store_hook)(rg_store *st, void *arg, char *err, size_t errsz);
void store_set_hook(rg_store *st, store_hook fn, void *arg);
/* the configuration whose trusted_verdicts decide the stored spam flags
 * (rules/policy.h rul_verdict_trusted); kept, not copied: set it again
 * before that configuration is freed (collect's SIGHUP) */
void store_set_config(rg_store *st, const rg_config *cfg);
void store_close(rg_store *st);

#endif
