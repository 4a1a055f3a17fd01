/*
 * store.c - the database's connection and the collector's writes: records,
 * open state, read positions, and the open state handed back at a restart
 * (to store_restore_ops: the store knows no assembler). Owns the connection
 * and the prepared statements; the schema is schema.c's, a record's blob
 * forms recblob.c's. A batch's statements are ops of one ordered log
 * (below, "The op log"), run at once or, for collect --once, by the
 * writer thread of writer.c. Every SQLite error is translated into
 * store_error() with what was being done.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt.h"
#include "db.h"
#include "../common/hash.h"
#include "../common/ser.h"
#include "../common/strbuf.h"
#include "../common/xalloc.h"
#include "../rules/policy.h"
#include "recblob.h"
#include "schema.h"
#include "store_int.h"
#include "writer.h"

enum {
	Q_MSG, Q_DEL_RCPT, Q_RCPT, Q_DEL_VERD, Q_VERD,
	Q_SESS, Q_GLOBAL, Q_GET_SRC, Q_PUT_SRC, Q_LOSS, Q_OPEN_MSG, Q_OPEN_SESS,
	Q_GET_GLOBAL, Q_DEL_HDR, Q_HDR, Q_GET_SEQ, Q_PUT_SEQ, Q_PUT_OPEN,
	Q_DEL_OPEN, Q_ROW, Q_ROW_HDR, Q_ROW_RCPT, Q_ROW_VERD, Q_GET_OPEN,
	Q_SET_RCPT, Q_PUT_META, Q_STALE, Q__COUNT
};

static const char *queries[Q__COUNT] = {
	[Q_MSG] =
	    "INSERT INTO messages(id, kind, host, queue_id, complete, "
	    "open, first_seen, last_seen, client_host, client_ip, "
	    "client_port, sasl_method, sasl_username, sender, size, "
	    "nrcpt, message_id, held, discarded, expired, deleted, "
	    "aborted, stale, bounce_of, orig_queue_id, filtered_as, "
	    "reject_stage, reject_code, reject_dsn, reject_text, spam, "
	    "was_held, rec, seq) VALUES "
	    "(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,"
	    "?18,?19,?20,?21,?22,?23,?24,?25,?26,?27,?28,?29,?30,?31,?32,"
	    "?33,?34) ON CONFLICT(id) DO UPDATE SET kind = "
	    "excluded.kind, host = excluded.host, queue_id = "
	    "excluded.queue_id, complete = excluded.complete, open = "
	    "excluded.open, first_seen = excluded.first_seen, last_seen "
	    "= excluded.last_seen, client_host = excluded.client_host, "
	    "client_ip = excluded.client_ip, client_port = "
	    "excluded.client_port, sasl_method = excluded.sasl_method, "
	    "sasl_username = excluded.sasl_username, sender = "
	    "excluded.sender, size = excluded.size, nrcpt = "
	    "excluded.nrcpt, message_id = excluded.message_id, held = "
	    "excluded.held, discarded = excluded.discarded, expired = "
	    "excluded.expired, deleted = excluded.deleted, aborted = "
	    "excluded.aborted, stale = excluded.stale, bounce_of = "
	    "excluded.bounce_of, orig_queue_id = excluded.orig_queue_id, "
	    "filtered_as = excluded.filtered_as, reject_stage = "
	    "excluded.reject_stage, reject_code = excluded.reject_code, "
	    "reject_dsn = excluded.reject_dsn, reject_text = "
	    "excluded.reject_text, spam = excluded.spam, was_held = "
	    "excluded.was_held, rec = excluded.rec, headers = NULL, json = "
	    "NULL, seq = excluded.seq",
	[Q_DEL_RCPT] = "DELETE FROM recipients WHERE message = ?1",
	[Q_RCPT] = "INSERT INTO recipients(message, idx, address, status, dsn) "
	    "VALUES (?1,?2,?3,?4,?5)",
	[Q_DEL_VERD] = "DELETE FROM verdicts WHERE message = ?1",
	[Q_VERD] = "INSERT INTO verdicts(message, source, spam, trusted, score, "
	    "required, action, symbols) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
	[Q_SESS] =
	    "INSERT INTO sessions(id, host, pid, program, complete, "
	    "open, connect, disconnect, last_seen, client_host, "
	    "client_ip, client_port, sasl_method, sasl_username, "
	    "sasl_failures, messages, rejects, lost, counters, stale, "
	    "state, seq) VALUES "
	    "(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,"
	    "?18,?19,?20,?21,?22) ON CONFLICT(id) DO UPDATE SET host = "
	    "excluded.host, pid = excluded.pid, program = "
	    "excluded.program, complete = excluded.complete, open = "
	    "excluded.open, connect = excluded.connect, disconnect = "
	    "excluded.disconnect, last_seen = excluded.last_seen, "
	    "client_host = excluded.client_host, client_ip = "
	    "excluded.client_ip, client_port = excluded.client_port, "
	    "sasl_method = excluded.sasl_method, sasl_username = "
	    "excluded.sasl_username, sasl_failures = "
	    "excluded.sasl_failures, messages = excluded.messages, "
	    "rejects = excluded.rejects, lost = excluded.lost, counters = "
	    "excluded.counters, stale = excluded.stale, state = "
	    "excluded.state, json = NULL, seq = excluded.seq",
	[Q_GLOBAL] = "INSERT OR REPLACE INTO asm_state(id, state) VALUES (1, ?1)",
	[Q_GET_SRC] = "SELECT fp, fp_len, offset, path, cursor, year, "
	    "last_month, lines, prev_fp, prev_fp_len, prev_offset FROM sources "
	    "WHERE name = ?1",
	[Q_PUT_SRC] = "INSERT OR REPLACE INTO sources(name, kind, fp, fp_len, "
	    "offset, path, cursor, year, last_month, lines, updated, prev_fp, "
	    "prev_fp_len, prev_offset) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,"
	    "strftime('%s','now'),?11,?12,?13)",
	[Q_LOSS] = "INSERT INTO log_loss(source, ts, count, text) VALUES "
	    "(?1,?2,?3,?4)",
	/* the keys: the open ones' seq, and their messages rows' columns */
	[Q_OPEN_MSG] = "SELECT o.id, o.seq, m.host, m.queue_id, m.first_seen, "
	    "m.last_seen, o.ended, m.message_id FROM open_msgs o LEFT JOIN "
	    "messages m ON m.id = o.id",
	[Q_OPEN_SESS] = "SELECT state FROM sessions WHERE open = 1",
	[Q_GET_GLOBAL] = "SELECT state FROM asm_state WHERE id = 1",
	[Q_DEL_HDR] = "DELETE FROM headers WHERE message = ?1",
	[Q_HDR] = "INSERT OR IGNORE INTO headers(message, name, value, cut) "
	    "VALUES (?1,?2,?3,?4)",
	[Q_GET_SEQ] = "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'seq'",
	[Q_PUT_SEQ] = "INSERT OR REPLACE INTO meta(key, value) VALUES "
	    "('seq', ?1)",
	[Q_PUT_OPEN] = "INSERT OR REPLACE INTO open_msgs(id, seq, ended, state) "
	    "VALUES (?1,?2,?3,?4)",
	[Q_DEL_OPEN] = "DELETE FROM open_msgs WHERE id = ?1",
	/* what a lean record blob leaves to its row (store_message_json) */
	[Q_ROW] = "SELECT kind, host, queue_id, complete, first_seen, "
	    "last_seen, client_host, client_ip, client_port, sasl_method, "
	    "sasl_username, sender, size, nrcpt, message_id, held, discarded, "
	    "expired, deleted, aborted, stale, bounce_of, orig_queue_id, "
	    "filtered_as, reject_stage, reject_code, reject_dsn, reject_text, "
	    "was_held FROM messages WHERE id = ?1",
	[Q_ROW_HDR] = "SELECT name, value, cut FROM headers WHERE message = ?1 "
	    "ORDER BY name",
	[Q_ROW_RCPT] = "SELECT address, status, dsn FROM recipients WHERE "
	    "message = ?1 ORDER BY idx",
	[Q_ROW_VERD] = "SELECT source, spam, score, required, action, symbols "
	    "FROM verdicts WHERE message = ?1",
	[Q_GET_OPEN] = "SELECT state FROM open_msgs WHERE id = ?1",
	/* a recipient of a message stored before whose row changed */
	[Q_SET_RCPT] = "UPDATE recipients SET address = ?3, status = ?4, "
	    "dsn = ?5 WHERE message = ?1 AND idx = ?2",
	[Q_PUT_META] = "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)",
	/* an open message the sweep ended without loading it: its row as
	 * store_put_message would write it, but for its record blob, which
	 * is its open state (store_message_json reads that form too) */
	[Q_STALE] = "UPDATE messages SET complete = 0, open = 0, stale = 1, "
	    "rec = (SELECT state FROM open_msgs WHERE id = ?1), seq = ?2 "
	    "WHERE id = ?1",
};

#define TEXT_SEEN	4096	/* texts' last sightings (a power of two) */
#define TEXT_MIN	16	/* shorter texts stay inline */

/*
 * A relay's seq is that of a transaction that wrote a blob naming it, at
 * most RELAY_REFRESH transactions before the last one that did (relay_id
 * moves it on no more often): so a relay that no row written since
 * min(seq) - RELAY_REFRESH names is named by no row, and store_prune
 * deletes it (schema 10).
 */
#define RELAY_REFRESH	64

/* the relays table: prepared at first use (a read-only open of an older
 * schema has none) */
enum { R_ALL, R_PUT, R_NAME, R_TOUCH, R__COUNT };
static const char *relay_queries[R__COUNT] = {
	[R_ALL] = "SELECT id, name, seq FROM relays",
	[R_PUT] = "INSERT INTO relays(id, name, seq) VALUES (?1, ?2, ?3)",
	[R_NAME] = "SELECT name FROM relays WHERE id = ?1",
	[R_TOUCH] = "UPDATE relays SET seq = ?2 WHERE id = ?1",
};

/*
 * Pending rows. The rows of messages, headers, recipients, sessions and
 * open messages' states are not stepped one statement each: a
 * statement's start and end (its cursors, its transaction check) cost
 * about as much as a narrow row. They wait here, copied, up to PEND_MAX
 * of a table (a batch's, mostly), and go in the order of their ids,
 * PEND_ROWS to an INSERT (64: 32 cost 1.3% more instructions, 128 no
 * fewer), the rest one by one (pend_flush). In id order, each B-tree is
 * written from left to right: messages finish in another order than they
 * began. Nothing reads them before: the commit flushes first, and a
 * message's rows are flushed before they are replaced, deleted or read
 * (a filter of the keys waiting, keys[], says which messages may have
 * some). Outside a transaction a row goes at once.
 *
 * The op log. Every statement a batch runs is an op, its values copied:
 * a table's pending rows as one block (OP_ROWS, handed over when
 * flushed: the table starts a new one), each other statement alone
 * (OP_STMT, OP_RELAY), BEGIN, COMMIT, and the check of the read
 * positions before they are stored (OP_EXPECT, OP_CHECK). Without a
 * writer thread an op runs at once, in the thread that made it (op_push);
 * with one (store_writer_start: collect --once) the ops are queued
 * (writer.c) and run there in the order made, while this thread makes the
 * next batch's: at most one batch waits behind the one running
 * (store_commit). The thread that makes ops reads the database only when
 * the queue is empty (store_wait). A failed op rolls its batch back at
 * once, and every later op is skipped (op_run) until store_rollback: no
 * later batch commits; the failure is seen at the next op made, the
 * next commit or store_writer_stop.
 */
#define PEND_ROWS	64
#define PEND_MAX	4096
#define PEND_KEYS	4096	/* bits of the filter of keys (a power of two) */

enum { P_MSG, P_HDR, P_RCPT, P_SESS, P_OPEN, P__COUNT };
static const struct {
	int q;			/* its one-row statement */
	const char *what;
} pend_defs[P__COUNT] = {
	[P_MSG] = { Q_MSG, "storing a message" },
	[P_HDR] = { Q_HDR, "storing a header" },
	[P_RCPT] = { Q_RCPT, "storing a recipient" },
	[P_SESS] = { Q_SESS, "storing a session" },
	[P_OPEN] = { Q_PUT_OPEN, "storing an open message" },
};

/* pval - a value of a pending row */
typedef struct pval {
	int type;		/* SQLITE_NULL, _INTEGER, _TEXT, _BLOB */
	int len;		/* of a text or blob */
	sqlite3_int64 i;	/* the integer, or the offset in pend.b */
} pval;

/* op - an entry of the op log: a statement and its values, copied */
enum op_kind { OP_BEGIN, OP_COMMIT, OP_ROWS, OP_STMT, OP_RELAY, OP_EXPECT,
    OP_CHECK, OP_SEQ };
typedef struct op {
	wr_op link;		/* first: the writer's queue */
	enum op_kind kind;
	int q;			/* OP_STMT st->q[], OP_RELAY st->rq[],
				 * OP_ROWS the table */
	const char *what;	/* for the error */
	int nv, vcap;		/* values (OP_ROWS: rows * ncol) */
	pval *v;
	struct pkey *order;	/* OP_ROWS: the rows by key */
	int ocap;
	strbuf b;		/* the texts and blobs */
	int found;		/* OP_EXPECT: the source's position stored */
	src_pos pos;		/* ... and it (b: its name, then the message) */
	struct op *free;	/* the store's list of ops to reuse */
} op;

/* pkey - a pending row's place in the order of its key */
struct pkey {
	sqlite3_int64 key;	/* the first column: the id or message */
	int r;			/* the row: of two of one key the later wins */
};

/* pend - the pending rows of one table: cur is the maker's, the rest the
 * runner's of the op log */
typedef struct pend {
	sqlite3_stmt *one;	/* st->q[], one row */
	sqlite3_stmt *many;	/* PEND_ROWS rows (pend_many) */
	int many_tried;		/* NULL many: rows one by one */
	const char *sql;	/* one's */
	int ncol;
	op *cur;		/* the rows waiting (OP_ROWS), NULL: none */
	pval *bound_one;	/* what one's parameters hold (type -1: not known) */
	pval *bound_many;	/* what many's parameters hold */
	const char *what;
	unsigned char keys[PEND_KEYS / 8];	/* a bit per key % PEND_KEYS
				 * of the rows waiting (pend_has) */
} pend;

/*
 * What was stored of an open message (store_put_message): digests of its
 * child rows as the last put wrote them, headers and verdict as a whole,
 * each recipient apart. Kept in memory only, from one put of the record
 * to the next (a restart knows none: the first put rewrites them all), so
 * that a message saved again at each commit while it waits (deferred,
 * held) rewrites only the rows that changed. 64-bit digests: two
 * different values that hash alike (a chance of about 2^-64 a compare)
 * would leave a row as it was.
 */
typedef struct stored {
	uint64_t id;
	uint64_t hdr, verd;	/* digests of the headers, of the verdict */
	int nrcpt;
	uint64_t *rcpt;		/* nrcpt digests, one per recipients row */
} stored;

/* relay_row - a row of the relays table, as committed or written in the batch */
typedef struct relay_row {
	char *name;
	uint64_t id;
	long long seq;		/* its seq as stored */
} relay_row;

/* expect - a source's position the batch expects (OP_EXPECT) */
typedef struct pos_expect {
	char *name, *msg;	/* msg: the error if it moved */
	int found;
	src_pos pos;
} pos_expect;

struct rg_store {
	sqlite3 *db;
	db_ckpt *ckpt;		/* checkpoints in a thread (store_checkpoint_apart) */
	sqlite3_stmt *rq[R__COUNT];
	rg_htab relays;		/* relay_row *, by the hash of the name: the whole
				 * table, read at the first use (relay_load) */
	int relays_loaded;	/* 1 read, -1 no relays table */
	uint64_t relay_max;	/* the highest id (the next is one more) */
	long long last_seq;	/* the last batch's seq, -1 not known */
	wr_thread *w;		/* the writer thread, NULL: ops run at once */
	op *ops_free[P__COUNT + 1];	/* ops to reuse: a table's blocks of
				 * rows (as big as they grew), the others */
	/* the runner's of the op log (the writer thread's while it runs) */
	int x_failed;		/* an op failed: the rest are skipped */
	pos_expect *x_exp;		/* the batch's expected positions */
	int x_nexp, x_capexp;
	char werr[768];		/* the failed op's error */
	int relay_err;		/* relay_id failed: the message is not stored */
	struct {
		uint32_t hash;		/* of the text, 0: none */
		uint64_t msg;		/* the message it was last seen in */
	} tseen[TEXT_SEEN];	/* store_intern_text's sightings */
	sqlite3_stmt *q[Q__COUNT];
	pend pend[P__COUNT];	/* rows not stepped yet */
	rg_htab stored;		/* stored *, by id: the open messages put */
	uint64_t *dg;		/* a put's recipients' digests */
	int ndg;
	long long seq;		/* this transaction's, once it wrote a row */
	strbuf blob;
	strbuf cbuf;		/* a session's packed counters */
	rg_pool *pool;		/* records rebuilt from rows (store_json) */
	store_hook hook;	/* run before each commit */
	void *hook_arg;
	const rg_config *cfg;	/* its trusted_verdicts (store_set_config) */
	rg_config *own_cfg;	/* the defaults, when none was set */
	char err[768];
};

static void relay_forget(rg_store *st);
static int relay_load(rg_store *st);
static int store_wait(rg_store *st);
static int op_push(rg_store *st, op *o);
static int xfail(rg_store *st, const char *what);
static int open_full(sqlite3_stmt **qs, rg_pool *pool, long long id,
    const void *blob, size_t len, rb_resolve_fn resolve, void *arg,
    strbuf *out);
static char *relay_name(void *arg, uint64_t id, rg_arena *ar);
static void pend_init(rg_store *st, int k);
static void pend_free(pend *p);
static int pend_flush_all(rg_store *st);
static void pend_drop(rg_store *st);
static void stored_forget(rg_store *st);

/* fail - record the SQLite error of what was being done */
static int
fail(rg_store *st, const char *what)
{
	snprintf(st->err, sizeof(st->err), "%s: %s", what,
	    sqlite3_errmsg(st->db));
	return -1;
}

/* xfail - fail, in the runner of the op log (store_error has it once the
 * maker sees the failure) */
static int
xfail(rg_store *st, const char *what)
{
	snprintf(st->werr, sizeof(st->werr), "%s: %s", what,
	    sqlite3_errmsg(st->db));
	return -1;
}

/* lean_fn - the state of rg_rec_lean and rg_open_lean on one connection */
typedef struct lean_fn {
	strbuf sb, full;
	sqlite3_stmt *q[4];	/* Q_ROW .. Q_ROW_VERD (rg_open_lean) */
	rg_pool *pool;
} lean_fn;

/* lean_release - rg_open_lean's statements and memory */
static void
lean_release(lean_fn *f)
{
	int i;

	for (i = 0; i < 4; i++) {
		sqlite3_finalize(f->q[i]);
		f->q[i] = NULL;
	}
	if (f->pool != NULL)
		rg_pool_free(f->pool);
	f->pool = NULL;
}

/* lean_free - a connection's rg_rec_lean state, at its close */
static void
lean_free(void *p)
{
	lean_fn *f = p;

	lean_release(f);
	sb_free(&f->sb);
	sb_free(&f->full);
	free(f);
}

/*
 * sql_rec_lean - rg_rec_lean(rec): a full record blob (schema 6) in the
 * lean form; anything else (lean already, NULL, damaged) unchanged
 */
static void
sql_rec_lean(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	lean_fn *f = sqlite3_user_data(cx);
	const void *b = sqlite3_value_blob(argv[0]);
	int n = sqlite3_value_bytes(argv[0]);

	sb_reset(&f->sb);
	if (f->pool == NULL)
		f->pool = rg_pool_new();
	if (sqlite3_value_type(argv[0]) != SQLITE_BLOB || b == NULL
	    || rb_is_lean(b, (size_t)n)
	    || rb_full_lean(b, (size_t)n, f->pool, &f->sb) != 0) {
		sqlite3_result_value(cx, argv[0]);
		return;
	}
	sqlite3_result_blob(cx, f->sb.s, (int)f->sb.len, SQLITE_TRANSIENT);
}

/*
 * sql_open_lean - rg_open_lean(id, state): an open message's full state
 * (schema 8) in the lean open form, if its messages row and child rows
 * with it give the same state back; anything else (lean already, NULL,
 * damaged, rows that disagree) unchanged: the store reads the full form
 * too. rg_open_lean(NULL, NULL) ends the migration: its statements go.
 */
static void
sql_open_lean(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	lean_fn *f = sqlite3_user_data(cx);
	const void *b = sqlite3_value_blob(argv[1]);
	int i, n = sqlite3_value_bytes(argv[1]);

	if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
		lean_release(f);
		sqlite3_result_null(cx);
		return;
	}
	for (i = 0; i < 4; i++)
		if (f->q[i] == NULL && sqlite3_prepare_v2(
		    sqlite3_context_db_handle(cx), queries[Q_ROW + i], -1,
		    &f->q[i], NULL) != SQLITE_OK) {
			sqlite3_result_error(cx, sqlite3_errmsg(
			    sqlite3_context_db_handle(cx)), -1);
			return;
		}
	if (f->pool == NULL)
		f->pool = rg_pool_new();
	sb_reset(&f->sb);
	sb_reset(&f->full);
	if (sqlite3_value_type(argv[1]) != SQLITE_BLOB || b == NULL
	    || rb_open_lean(b, (size_t)n, f->pool, &f->sb) != 0
	    || open_full(f->q, f->pool, sqlite3_value_int64(argv[0]), f->sb.s,
	    f->sb.len, NULL, NULL, &f->full) != 0
	    || f->full.len != (size_t)n || memcmp(f->full.s, b, (size_t)n) != 0) {
		sqlite3_result_value(cx, argv[1]);
		return;
	}
	sqlite3_result_blob(cx, f->sb.s, (int)f->sb.len, SQLITE_TRANSIENT);
}

/* sql_functions - the store's SQL functions on every new connection (the
 * migrations use them) */
static int
sql_functions(sqlite3 *db, char **errmsg, const void *api)
{
	lean_fn *f = xcalloc(1, sizeof(*f));
	int rc;

	sb_init(&f->sb);
	sb_init(&f->full);
	rc = sqlite3_create_function_v2(db, "rg_rec_lean", 1, SQLITE_UTF8
	    | SQLITE_DETERMINISTIC, f, sql_rec_lean, NULL, NULL, lean_free);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function_v2(db, "rg_open_lean", 2,
		    SQLITE_UTF8, f, sql_open_lean, NULL, NULL, NULL);
	return rc;
}

/* SQLite's threading mode, as store_open set it (0: not yet, -1: SQLite
 * had started, refusing to change it) */
static int sqlite_mode;

/* store_open - open (creating only with STORE_CREATE, migrating) */
rg_store *
store_open(const char *path, int flags, char *err, size_t errsz)
{
	rg_store *st;
	int i, e;

	/*
	 * once, before SQLite starts: no count of SQLite's memory (a mutex
	 * and a count in every allocation), and no mutexes at all unless
	 * the process has a second thread on a connection of its own (the
	 * collector's checkpoints, ckpt.c: STORE_THREADS); they cost 1.3%
	 * more instructions in a reader (callgrind, dump messages). Refused
	 * (harmless) if SQLite already started.
	 */
	if (sqlite_mode == 0) {
		sqlite_mode = (flags & STORE_THREADS) ? SQLITE_CONFIG_MULTITHREAD
		    : SQLITE_CONFIG_SINGLETHREAD;
		if (sqlite3_config(sqlite_mode) != SQLITE_OK)
			sqlite_mode = -1;
		sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	}
	sqlite3_auto_extension((void (*)(void))sql_functions);
	st = xcalloc(1, sizeof(*st));
	st->last_seq = -1;
	st->db = db_open(path, flags, store_migrations, store_nmigrations,
	    err, errsz);
	if (st->db == NULL) {
		e = errno;
		free(st);
		errno = e;
		return NULL;
	}
	for (i = 0; i < Q__COUNT; i++) {
		if (sqlite3_prepare_v3(st->db, queries[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &st->q[i], NULL) != SQLITE_OK) {
			/* a reader does not migrate: the collector's statements
			 * of a newer schema (open_msgs' keys) are not its own */
			if (flags & STORE_READONLY) {
				st->q[i] = NULL;
				continue;
			}
			snprintf(err, errsz, "%s: preparing a query: %s", path,
			    sqlite3_errmsg(st->db));
			store_close(st);
			return NULL;
		}
	}
	for (i = 0; i < P__COUNT; i++)
		pend_init(st, i);
	sb_init(&st->blob);
	sb_init(&st->cbuf);
	return st;
}

/*
 * store_checkpoint_apart - the WAL checkpointed by a thread of its own
 * (ckpt.c), not in the COMMIT that filled it: for a writer that commits
 * batch after batch (the collector), in a process whose first open asked
 * for threads (STORE_THREADS)
 */
void
store_checkpoint_apart(rg_store *st)
{
	if (st->ckpt == NULL && sqlite_mode == SQLITE_CONFIG_MULTITHREAD)
		st->ckpt = ckpt_start(st->db);
}

/*
 * store_cache - the page cache of this connection, in KiB. The collector
 * writes mostly at the ends of its tables and indexes: 4 MiB serve it as
 * well as 64 (measured: bench/collect.sh), and its peak RSS stays under
 * 64 MiB. A batch bigger than the cache spills into the WAL, still one
 * transaction.
 */
void
store_cache(rg_store *st, int kib)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "PRAGMA cache_size = %d", -kib);
	sqlite3_exec(st->db, sql, NULL, NULL, NULL);
}

/* store_id - the database's id (meta 'database_id'), "" if none */
void
store_id(rg_store *st, char *buf, size_t sz)
{
	db_meta_text(st->db, "database_id", buf, sz);
}

/* store_db - the connection (for queries of the commands) */
sqlite3 *
store_db(rg_store *st)
{
	store_wait(st);		/* the writer thread's work done */
	return st->db;
}

/* store_error - the last error */
const char *
store_error(const rg_store *st)
{
	return st->err;
}

/* op_put - an op that ran, for reuse */
static void
op_put(rg_store *st, op *o)
{
	int f = o->kind == OP_ROWS ? o->q : P__COUNT;

	o->free = st->ops_free[f];
	st->ops_free[f] = o;
}

/* op_get - an op to fill (reused if one is free), of kind k */
static op *
op_get(rg_store *st, enum op_kind k, int q, const char *what)
{
	int f = k == OP_ROWS ? q : P__COUNT;
	op *o;
	wr_op *l, *next;

	if (st->ops_free[f] == NULL && st->w != NULL)
		for (l = wr_done(st->w); l != NULL; l = next) {
			next = l->next;
			op_put(st, (op *)l);
		}
	if ((o = st->ops_free[f]) != NULL)
		st->ops_free[f] = o->free;
	else {
		o = xcalloc(1, sizeof(*o));
		sb_init(&o->b);
	}
	o->kind = k;
	o->q = q;
	o->what = what;
	o->nv = 0;
	o->link.commit = k == OP_COMMIT;
	sb_reset(&o->b);
	return o;
}

/* op_free - an op's memory */
static void
op_free(op *o)
{
	free(o->v);
	free(o->order);
	sb_free(&o->b);
	free(o);
}

/* ov_next - the next value of an op */
static pval *
ov_next(op *o)
{
	if (o->nv == o->vcap) {
		o->vcap = o->vcap ? o->vcap * 2 : 64;
		o->v = xrealloc(o->v, (size_t)o->vcap * sizeof(*o->v));
	}
	return &o->v[o->nv++];
}

/* ov_null - NULL */
static void
ov_null(op *o)
{
	ov_next(o)->type = SQLITE_NULL;
}

/* ov_int - an integer */
static void
ov_int(op *o, long long i)
{
	pval *v = ov_next(o);

	v->type = SQLITE_INTEGER;
	v->i = i;
}

/* ov_bytes - a text or blob of n bytes, copied */
static void
ov_bytes(op *o, int type, const void *s, size_t n)
{
	pval *v = ov_next(o);

	v->type = type;
	v->len = (int)n;
	v->i = (sqlite3_int64)o->b.len;
	sb_add(&o->b, s, n);
}

/* ov_text - a C string or NULL */
static void
ov_text(op *o, const char *s)
{
	if (s == NULL)
		ov_null(o);
	else
		ov_bytes(o, SQLITE_TEXT, s, strlen(s));
}

/* ov_rtext - a record's string (rg_arena_str: its length is known) or NULL */
static void
ov_rtext(op *o, const char *s)
{
	if (s == NULL)
		ov_null(o);
	else
		ov_bytes(o, SQLITE_TEXT, s, rg_str_len(s));
}

/* store_wait - the op log run to its end (the writer idle): 0, or -1 if
 * an op failed (store_error says why) */
static int
store_wait(rg_store *st)
{
	if (st->w == NULL || wr_drain(st->w) == 0)
		return 0;
	memcpy(st->err, st->werr, sizeof(st->err));
	return -1;
}

/* store_begin - start a batch */
int
store_begin(rg_store *st)
{
	st->seq = 0;
	pend_drop(st);
	if (st->w == NULL)	/* a failure is seen at once: forgotten */
		st->x_failed = 0;
	return op_push(st, op_get(st, OP_BEGIN, 0, "starting a batch"));
}

/* store_read_begin - a read snapshot (BEGIN DEFERRED), ended by rollback */
int
store_read_begin(rg_store *st)
{
	if (store_wait(st) != 0)
		return -1;
	return db_exec(st->db, "BEGIN DEFERRED", st->err, sizeof(st->err));
}

/* store_set_hook - run fn(st, arg) inside each transaction before COMMIT */
void
store_set_hook(rg_store *st, store_hook fn, void *arg)
{
	st->hook = fn;
	st->hook_arg = arg;
}

/*
 * store_commit - end a batch. With the writer thread, queued: -1 if this
 * or an earlier batch failed so far; the one before must have run (no
 * more than this one waits).
 */
int
store_commit(rg_store *st)
{
	if (st->seq > 0)
		st->last_seq = st->seq;
	st->seq = 0;
	if (pend_flush_all(st) != 0)
		goto fail;
	if (st->hook != NULL && st->hook(st, st->hook_arg, st->err,
	    sizeof(st->err)) != 0)
		return -1;
	if (op_push(st, op_get(st, OP_COMMIT, 0, "committing")) != 0)
		goto fail;
	if (st->w != NULL && wr_wait(st->w, 1) != 0) {
		memcpy(st->err, st->werr, sizeof(st->err));
		goto fail;
	}
	return 0;
fail:
	relay_forget(st);
	st->last_seq = -1;
	return -1;
}

/* store_rollback - abandon a batch (what the writer has queued runs
 * first: a batch committed before stays so) */
void
store_rollback(rg_store *st)
{
	store_wait(st);
	st->seq = 0;
	st->last_seq = -1;
	pend_drop(st);
	relay_forget(st);
	stored_forget(st);
	db_rollback(st->db);
	st->x_failed = 0;
	if (st->w != NULL)
		wr_clear(st->w);
}

/*
 * this_seq - the number of this transaction, taken at its first row: one
 * more than the last one that wrote rows. The analyzer reads what changed
 * after the number it saw last. Read once (only collectors write it,
 * one at a time), counted on from there; seq_run checks, in the batch's
 * transaction, that nobody else numbered one meanwhile.
 */
static int seq_stored(rg_store *st, long long *n);

static long long
this_seq(rg_store *st)
{
	op *o;

	if (st->seq > 0)
		return st->seq;
	if (st->last_seq < 0) {
		if (store_wait(st) != 0)
			return -1;
		if (seq_stored(st, &st->last_seq) != 0) {
			st->last_seq = -1;
			return fail(st, "numbering the batch");
		}
	}
	st->seq = st->last_seq + 1;
	o = op_get(st, OP_SEQ, Q_PUT_SEQ, "numbering the batch");
	ov_int(o, st->seq);
	if (op_push(st, o) != 0)
		return -1;
	return st->seq;
}

/* bt - bind text or NULL */
static void
bt(sqlite3_stmt *q, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(q, i);
	else
		sqlite3_bind_text(q, i, s, -1, SQLITE_STATIC);
}

/*
 * step_all - step a statement whose every parameter is bound each time
 * (no clearing of the bindings: the next use rebinds them all); the
 * runner's
 */
static int
step_all(rg_store *st, sqlite3_stmt *q, const char *what)
{
	int rc = sqlite3_step(q);

	sqlite3_reset(q);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return xfail(st, what);
	return 0;
}

/* pend_init - a table's pending rows, with its one-row statement */
static void
pend_init(rg_store *st, int k)
{
	pend *p = &st->pend[k];
	int c;

	p->one = st->q[pend_defs[k].q];
	p->sql = queries[pend_defs[k].q];
	p->what = pend_defs[k].what;
	p->ncol = p->one != NULL ? sqlite3_bind_parameter_count(p->one) : 0;
	p->bound_one = xcalloc((size_t)(p->ncol + 1), sizeof(pval));
	p->bound_many = xcalloc((size_t)PEND_ROWS * (size_t)(p->ncol + 1),
	    sizeof(pval));
	for (c = 0; c < p->ncol; c++)
		p->bound_one[c].type = -1;
	for (c = 0; c < PEND_ROWS * p->ncol; c++)
		p->bound_many[c].type = -1;
}

/*
 * pend_many - the statement of PEND_ROWS rows, prepared at its first use
 * (a run with little to store does not pay for it): the one-row statement
 * with PEND_ROWS tuples of values ("VALUES (?,..),(?,..)") and what
 * follows its tuple (an upsert clause). NULL if it cannot be: rows then go
 * one by one.
 */
static sqlite3_stmt *
pend_many(rg_store *st, pend *p)
{
	const char *v, *end;
	strbuf sb;
	int r, c;

	if (p->many != NULL || p->many_tried)
		return p->many;
	p->many_tried = 1;
	if ((v = strstr(p->sql, " VALUES (")) == NULL
	    || (end = strchr(v, ')')) == NULL)
		return NULL;
	sb_init(&sb);
	sb_add(&sb, p->sql, (size_t)(v - p->sql));
	sb_adds(&sb, " VALUES ");
	for (r = 0; r < PEND_ROWS; r++) {
		sb_adds(&sb, r > 0 ? ",(" : "(");
		for (c = 0; c < p->ncol; c++)
			sb_adds(&sb, c > 0 ? ",?" : "?");
		sb_addc(&sb, ')');
	}
	sb_adds(&sb, end + 1);
	if (sqlite3_prepare_v3(st->db, sb.s, (int)sb.len,
	    SQLITE_PREPARE_PERSISTENT, &p->many, NULL) != SQLITE_OK)
		p->many = NULL;
	sb_free(&sb);
	return p->many;
}

/* pend_free - a table's pending rows, at close (unstored) */
static void
pend_free(pend *p)
{
	sqlite3_finalize(p->many);
	if (p->cur != NULL)
		op_free(p->cur);
	free(p->bound_one);
	free(p->bound_many);
}

/* pend_cur - the block of a table's rows being made */
static op *
pend_cur(rg_store *st, int k)
{
	pend *p = &st->pend[k];

	if (p->cur == NULL)
		p->cur = op_get(st, OP_ROWS, k, p->what);
	return p->cur;
}

/*
 * pend_bind - bind row r of block o to q's parameters from base + 1. A
 * NULL or an integer already there stays (the statements are reset,
 * never cleared: a flag column or the batch's seq is mostly the same
 * again).
 */
static void
pend_bind(pend *p, const op *o, sqlite3_stmt *q, pval *bound, int r, int base)
{
	const pval *v = &o->v[r * p->ncol];
	pval *b = &bound[base];
	int c;

	for (c = 0; c < p->ncol; c++, v++, b++) {
		switch (v->type) {
		case SQLITE_INTEGER:
			if (b->type == SQLITE_INTEGER && b->i == v->i)
				continue;
			sqlite3_bind_int64(q, base + c + 1, v->i);
			break;
		case SQLITE_TEXT:
			sqlite3_bind_text(q, base + c + 1, o->b.s + v->i, v->len,
			    SQLITE_STATIC);
			break;
		case SQLITE_BLOB:
			sqlite3_bind_blob(q, base + c + 1, o->b.s + v->i, v->len,
			    SQLITE_STATIC);
			break;
		default:
			if (b->type == SQLITE_NULL)
				continue;
			sqlite3_bind_null(q, base + c + 1);
			break;
		}
		*b = *v;
	}
}

/* pkey_cmp - qsort: by key, then row */
static int
pkey_cmp(const void *a, const void *b)
{
	const struct pkey *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return (x->r > y->r) - (x->r < y->r);
}

/* pend_sort - a block's rows in the order of their keys (made by the
 * maker: the writer thread has enough to do) */
static void
pend_sort(pend *p, op *o)
{
	int r, nrow = o->nv / p->ncol;

	if (nrow > o->ocap) {
		o->ocap = nrow;
		o->order = xrealloc(o->order, (size_t)nrow * sizeof(*o->order));
	}
	for (r = 0; r < nrow; r++) {
		o->order[r].key = o->v[r * p->ncol].i;
		o->order[r].r = r;
	}
	qsort(o->order, (size_t)nrow, sizeof(*o->order), pkey_cmp);
}

/* pend_run - step a block of a table's rows, in order (the runner's) */
static int
pend_run(rg_store *st, pend *p, op *o)
{
	int r, j, rc = 0, nrow = p->ncol > 0 ? o->nv / p->ncol : 0;

	r = 0;
	if (nrow >= PEND_ROWS && pend_many(st, p) != NULL) {
		for (; r + PEND_ROWS <= nrow && rc == 0; r += PEND_ROWS) {
			for (j = 0; j < PEND_ROWS; j++)
				pend_bind(p, o, p->many, p->bound_many,
				    o->order[r + j].r, j * p->ncol);
			rc = step_all(st, p->many, p->what);
		}
	}
	for (; r < nrow && rc == 0; r++) {
		pend_bind(p, o, p->one, p->bound_one, o->order[r].r, 0);
		rc = step_all(st, p->one, p->what);
	}
	return rc;
}

/* pend_flush - a table's pending rows into the op log as one block; the
 * table starts a new one */
static int
pend_flush(rg_store *st, pend *p)
{
	op *o = p->cur;

	memset(p->keys, 0, sizeof(p->keys));
	if (o == NULL || o->nv == 0)
		return 0;
	p->cur = NULL;
	pend_sort(p, o);
	return op_push(st, o);
}

/* pend_has - may rows of key be waiting in p? (1 also for some that are not) */
static int
pend_has(const pend *p, uint64_t key)
{
	key %= PEND_KEYS;
	return p->cur != NULL && p->cur->nv > 0
	    && (p->keys[key / 8] & (1u << (key % 8))) != 0;
}

/* pend_row - the row made is complete: flushed when PEND_MAX wait, or at
 * once outside a transaction (without the writer: with it, rows are made
 * only in batches) */
static int
pend_row(rg_store *st, pend *p)
{
	op *o = p->cur;
	uint64_t k = (uint64_t)o->v[o->nv - p->ncol].i % PEND_KEYS;

	p->keys[k / 8] |= (unsigned char)(1u << (k % 8));
	if (o->nv / p->ncol == PEND_MAX
	    || (st->w == NULL && sqlite3_get_autocommit(st->db)))
		return pend_flush(st, p);
	return 0;
}

/* pend_flush_all - every table's pending rows (before the commit) */
static int
pend_flush_all(rg_store *st)
{
	int k;

	for (k = 0; k < P__COUNT; k++)
		if (pend_flush(st, &st->pend[k]) != 0)
			return -1;
	return 0;
}

/* pend_drop - forget every pending row (a batch abandoned) */
static void
pend_drop(rg_store *st)
{
	int k;

	for (k = 0; k < P__COUNT; k++) {
		if (st->pend[k].cur != NULL) {
			st->pend[k].cur->nv = 0;
			sb_reset(&st->pend[k].cur->b);
		}
		memset(st->pend[k].keys, 0, sizeof(st->pend[k].keys));
	}
}

/* relay_stmt - a statement of the relays table, prepared at first use */
static sqlite3_stmt *
relay_stmt(rg_store *st, int k)
{
	if (st->rq[k] == NULL && sqlite3_prepare_v3(st->db, relay_queries[k],
	    -1, SQLITE_PREPARE_PERSISTENT, &st->rq[k], NULL) != SQLITE_OK)
		return NULL;
	return st->rq[k];
}

/* stmt_run - an op's statement, its values bound (the runner's) */
static int
stmt_run(rg_store *st, sqlite3_stmt *q, const op *o)
{
	const pval *v;
	int i, rc;

	if (q == NULL)
		return xfail(st, o->what);
	for (i = 0; i < o->nv; i++) {
		v = &o->v[i];
		switch (v->type) {
		case SQLITE_INTEGER:
			sqlite3_bind_int64(q, i + 1, v->i);
			break;
		case SQLITE_TEXT:
			sqlite3_bind_text(q, i + 1, o->b.s + v->i, v->len,
			    SQLITE_STATIC);
			break;
		case SQLITE_BLOB:
			sqlite3_bind_blob(q, i + 1, o->b.s + v->i, v->len,
			    SQLITE_STATIC);
			break;
		default:
			sqlite3_bind_null(q, i + 1);
			break;
		}
	}
	rc = sqlite3_step(q);
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return xfail(st, o->what);
	return 0;
}

static int get_source(rg_store *st, const char *name, src_pos *pos,
    char *err, size_t errsz);

/* seq_stored - the last batch's seq as stored (0: none yet): 0, or -1
 * (SQLite's error) */
static int
seq_stored(rg_store *st, long long *n)
{
	sqlite3_stmt *q = st->q[Q_GET_SEQ];
	int rc;

	*n = 0;
	if (q == NULL)
		return -1;
	if ((rc = sqlite3_step(q)) == SQLITE_ROW)
		*n = sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/*
 * seq_run - the batch's seq (OP_SEQ), counted on from the one read once:
 * stored only if the stored one is still the one before it. Only a
 * collector numbers batches, one at a time (its lock), but a second one
 * that missed the lock (a lock file another host or mount does not
 * share) would number its own batches alike, and the analyzer, reading
 * what changed after the seq it saw last, would miss one of the two: the
 * batch is refused instead (exit 75), as a moved position is, and the
 * next run reads the seq again.
 */
static int
seq_run(rg_store *st, const op *o)
{
	long long n;

	if (seq_stored(st, &n) != 0)
		return xfail(st, o->what);
	if (n != o->v[0].i - 1) {
		snprintf(st->werr, sizeof(st->werr), "%s: another writer "
		    "numbered the batches up to %lld, this one counted on from "
		    "%lld: not stored", o->what, n, o->v[0].i - 1);
		return -1;
	}
	return stmt_run(st, st->q[o->q], o);
}

/* pos_same - are two stored positions the same? */
static int
pos_same(const src_pos *a, const src_pos *b)
{
	return a->fp == b->fp && a->fp_len == b->fp_len
	    && a->offset == b->offset && a->prev_fp == b->prev_fp
	    && a->prev_fp_len == b->prev_fp_len
	    && a->prev_offset == b->prev_offset && a->year == b->year
	    && a->last_month == b->last_month && a->lines == b->lines
	    && strcmp(a->path, b->path) == 0
	    && strcmp(a->cursor, b->cursor) == 0;
}

/*
 * exp_check - are the sources' positions still those the batch expects
 * (stored or not, and if stored, where)? 1 one moved (werr: its
 * message), 0 yes, -1 error (werr)
 */
static int
exp_check(rg_store *st)
{
	src_pos cur;
	const pos_expect *e;
	int i, r;

	for (i = 0; i < st->x_nexp; i++) {
		e = &st->x_exp[i];
		if ((r = get_source(st, e->name, &cur, st->werr,
		    sizeof(st->werr))) < 0)
			return -1;
		if (r == 1 ? !e->found : e->found && pos_same(&cur, &e->pos))
			continue;
		snprintf(st->werr, sizeof(st->werr), "%s", e->msg);
		return 1;
	}
	return 0;
}

/* exp_forget - the batch's expected positions, forgotten */
static void
exp_forget(rg_store *st)
{
	int i;

	for (i = 0; i < st->x_nexp; i++) {
		free(st->x_exp[i].name);
		free(st->x_exp[i].msg);
	}
	st->x_nexp = 0;
}

/*
 * op_run - run an op of the log (wr_run_fn): 0, or -1 with werr set.
 * After a failure the batch is rolled back at once (and its expected
 * positions checked: another writer that moved one is the likelier cause,
 * and its message wins); every later op is skipped until store_rollback.
 */
static int
op_run(void *arg, wr_op *l)
{
	rg_store *st = arg;
	op *o = (op *)l;
	const char *name;
	pos_expect *e;
	int rc = 0;

	if (st->x_failed)
		return -1;
	switch (o->kind) {
	case OP_BEGIN:
		exp_forget(st);
		rc = db_begin(st->db, st->werr, sizeof(st->werr));
		break;
	case OP_COMMIT:
		rc = db_commit(st->db, st->werr, sizeof(st->werr));
		break;
	case OP_ROWS:
		rc = pend_run(st, &st->pend[o->q], o);
		break;
	case OP_STMT:
		rc = stmt_run(st, st->q[o->q], o);
		break;
	case OP_RELAY:
		rc = stmt_run(st, relay_stmt(st, o->q), o);
		break;
	case OP_SEQ:
		rc = seq_run(st, o);
		break;
	case OP_EXPECT:
		if (st->x_nexp == st->x_capexp) {
			st->x_capexp = st->x_capexp ? st->x_capexp * 2 : 4;
			st->x_exp = xrealloc(st->x_exp, (size_t)st->x_capexp
			    * sizeof(*st->x_exp));
		}
		e = &st->x_exp[st->x_nexp++];
		name = o->b.s;
		e->name = xstrdup(name);
		e->msg = xstrdup(name + strlen(name) + 1);
		e->found = o->found;
		e->pos = o->pos;
		return 0;
	case OP_CHECK:
		if ((rc = exp_check(st)) == 1) {
			st->x_failed = 1;
			db_rollback(st->db);
			return -1;
		}
		break;
	}
	if (rc == 0)
		return 0;
	st->x_failed = 1;
	db_rollback(st->db);
	{
		char why[sizeof(st->werr)];

		memcpy(why, st->werr, sizeof(why));
		if (exp_check(st) != 1)
			memcpy(st->werr, why, sizeof(why));
	}
	return -1;
}

/* op_push - an op made: run at once, or queued for the writer thread;
 * -1 if it (at once) or an earlier one (queued) failed */
static int
op_push(rg_store *st, op *o)
{
	int rc;

	if (st->w != NULL) {
		if (wr_push(st->w, &o->link) == 0)
			return 0;
	} else {
		rc = op_run(st, &o->link);
		op_put(st, o);
		if (rc == 0)
			return 0;
	}
	memcpy(st->err, st->werr, sizeof(st->err));
	return -1;
}

/* store_expect_source - the batch commits only if a source's stored
 * position is still expect (found: stored at all) when store_check_sources
 * runs; moved: the error if not */
int
store_expect_source(rg_store *st, const char *name, int found,
    const src_pos *expect, const char *moved)
{
	op *o = op_get(st, OP_EXPECT, 0, "checking a position");

	sb_add(&o->b, name, strlen(name) + 1);
	sb_add(&o->b, moved, strlen(moved) + 1);
	o->found = found;
	o->pos = *expect;
	return op_push(st, o);
}

/* store_check_sources - the check of the expected positions (before the
 * batch stores its own): -1 if one moved (store_error: its message) */
int
store_check_sources(rg_store *st)
{
	return op_push(st, op_get(st, OP_CHECK, 0, "checking the positions"));
}

/* store_recheck - the expected positions checked now (the writer's queue
 * run first): 1 one moved (store_error: its message), 0 not, -1 error */
int
store_recheck(rg_store *st)
{
	int r;

	if (store_wait(st) != 0)
		return -1;
	r = exp_check(st);
	if (r != 0)
		memcpy(st->err, st->werr, sizeof(st->err));
	return r;
}

/*
 * store_writer_start - the op log run by a thread of its own from now on
 * (the caller makes the next batch while the last one is written): for
 * the collector's --once, in a process that opened the store with
 * STORE_THREADS; not with a commit hook, nor inside a batch. The relays
 * and the batches' seq are read now: while the thread runs, this one
 * numbers them alone. 0 started, -1 not (the ops run at once).
 */
int
store_writer_start(rg_store *st)
{
	if (st->w != NULL)
		return 0;
	if (sqlite_mode != SQLITE_CONFIG_MULTITHREAD || st->hook != NULL
	    || !sqlite3_get_autocommit(st->db) || relay_load(st) < 0)
		return -1;
	if (st->last_seq < 0 && seq_stored(st, &st->last_seq) != 0) {
		st->last_seq = -1;
		return -1;
	}
	if ((st->w = wr_start(op_run, st)) == NULL)
		return -1;
	return 0;
}

/*
 * store_writer_stop - the writer thread's queue run, the thread ended
 * (the ops run at once again): 0, or -1 if an op failed (store_error);
 * its counts into the debug log's words. NULL-safe for the counts.
 */
int
store_writer_stop(rg_store *st, char *stats, size_t sz)
{
	long long ops = 0, commits = 0;
	unsigned long waits = 0;
	double cpu = 0;
	wr_op *l, *next;
	int rc;

	if (st->w == NULL)
		return 0;
	rc = wr_stop(st->w, &ops, &commits, &cpu, &waits);
	for (l = wr_done(st->w); l != NULL; l = next) {
		next = l->next;
		op_free((op *)l);
	}
	wr_free(st->w);
	st->w = NULL;
	if (rc != 0)
		memcpy(st->err, st->werr, sizeof(st->err));
	if (stats != NULL)
		snprintf(stats, sz, "%lld ops, %lld batches; CPU seconds %.3f; "
		    "the maker waited %lu times", ops, commits, cpu, waits);
	return rc;
}

/* relay_forget - forget the relays (a batch rolled back: those it numbered
 * are gone; a prune: some are) */
static void
relay_forget(rg_store *st)
{
	size_t i;
	relay_row *r;

	st->relays_loaded = 0;
	if (st->relays.slot == NULL)
		return;
	for (i = 0; i <= st->relays.mask; i++)
		if ((r = st->relays.slot[i].val) != NULL) {
			free(r->name);
			free(r);
		}
	rg_htab_clear(&st->relays);
}

/* relay_add - a relay into the map */
static relay_row *
relay_add(rg_store *st, const char *name, size_t n, uint64_t id,
    long long seq)
{
	relay_row *r = xcalloc(1, sizeof(*r));

	r->name = xstrdup(name);
	r->id = id;
	r->seq = seq;
	rg_htab_insert(&st->relays, rg_hash(name, n), r);
	if (id > st->relay_max)
		st->relay_max = id;
	return r;
}

/*
 * relay_load - the relays table into memory (pruned: small), so that a
 * relay is numbered without a query: 1, 0 no relays table (a read-only
 * open of an older schema: kept inline), -1 error (store_error)
 */
static int
relay_load(rg_store *st)
{
	sqlite3_stmt *q;
	int rc;

	if (st->relays_loaded != 0)
		return st->relays_loaded > 0;
	if (store_wait(st) != 0)
		return -1;
	if ((q = relay_stmt(st, R_ALL)) == NULL) {
		st->relays_loaded = -1;
		return 0;
	}
	relay_forget(st);
	st->relay_max = 0;
	if (st->relays.slot == NULL)
		rg_htab_init(&st->relays, 1024);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(q, 1);

		if (t != NULL)
			relay_add(st, t, (size_t)sqlite3_column_bytes(q, 1),
			    (uint64_t)sqlite3_column_int64(q, 0),
			    sqlite3_column_int64(q, 2));
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		relay_forget(st);
		return fail(st, "reading the relays");
	}
	st->relays_loaded = 1;
	return 1;
}

/*
 * relay_touch - a relay named in this transaction: its seq moved on when
 * RELAY_REFRESH transactions behind (0, or -1 with relay_err set)
 */
static int
relay_touch(rg_store *st, relay_row *r, long long cur)
{
	op *o;

	if (r->seq >= cur - RELAY_REFRESH)
		return 0;
	o = op_get(st, OP_RELAY, R_TOUCH, "numbering a relay");
	ov_int(o, (long long)r->id);
	ov_int(o, cur);
	r->seq = cur;
	if (op_push(st, o) != 0) {
		st->relay_err = 1;
		return -1;
	}
	return 0;
}

/*
 * relay_id - the number of a relay in the relays table, added (inside the
 * batch, numbered one past the highest) if new, its seq moved on
 * (relay_touch): rb_lean's intern; 0 (kept inline) if there is no relays
 * table (a read-only open of an older schema); an SQL error sets
 * relay_err, and store_put_message fails
 */
static uint64_t
relay_id(void *arg, const char *name)
{
	rg_store *st = arg;
	size_t n = strlen(name), i;
	uint32_t h = rg_hash(name, n);
	long long cur;
	relay_row *r;
	op *o;
	int rc;

	if ((cur = this_seq(st)) < 0 || (rc = relay_load(st)) < 0) {
		st->relay_err = 1;
		return 0;
	}
	if (rc == 0)
		return 0;
	i = rg_htab_start(&st->relays, h);
	while ((r = rg_htab_next(&st->relays, h, &i)) != NULL)
		if (strcmp(r->name, name) == 0) {
			if (relay_touch(st, r, cur) != 0)
				return 0;
			return r->id;
		}
	r = relay_add(st, name, n, st->relay_max + 1, cur);
	o = op_get(st, OP_RELAY, R_PUT, "numbering a relay");
	ov_int(o, (long long)r->id);
	ov_bytes(o, SQLITE_TEXT, name, n);
	ov_int(o, cur);
	if (op_push(st, o) != 0) {
		st->relay_err = 1;
		return 0;
	}
	return r->id;
}

/* relay_name - a numbered relay, copied into ar: rb_lean_merge's
 * resolve; NULL if unknown */
static char *
relay_name(void *arg, uint64_t id, rg_arena *ar)
{
	rg_store *st = arg;
	sqlite3_stmt *q;
	char *name = NULL;

	if (store_wait(st) != 0 || (q = relay_stmt(st, R_NAME)) == NULL)
		return NULL;
	sqlite3_bind_int64(q, 1, (sqlite3_int64)id);
	if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0) != NULL)
		name = rg_arena_str(ar, (const char *)sqlite3_column_text(q, 0),
		    (size_t)sqlite3_column_bytes(q, 0));
	sqlite3_reset(q);
	return name;
}

/* dg_str - a digest continued by a string of n bytes, or NULL */
static uint64_t
dg_str(uint64_t h, const char *s, size_t n)
{
	return rg_hash64_mix(h, s == NULL ? 0x6E756C6Cu
	    : rg_hash64_words(s, n) + 1);
}

/* dg_rstr - a digest continued by a record's string (rg_arena_str) */
static uint64_t
dg_rstr(uint64_t h, const char *s)
{
	return dg_str(h, s, s != NULL ? rg_str_len(s) : 0);
}


/* stored_find - what was stored of open message id, NULL if not known */
static stored *
stored_find(rg_store *st, uint64_t id)
{
	uint32_t h = rg_hash_u64(id);
	size_t i;
	stored *s;

	if (st->stored.slot == NULL)
		return NULL;
	i = rg_htab_start(&st->stored, h);
	while ((s = rg_htab_next(&st->stored, h, &i)) != NULL)
		if (s->id == id)
			return s;
	return NULL;
}

/* stored_drop - forget what was stored of a message; NULL is a no-op */
static void
stored_drop(rg_store *st, stored *s)
{
	if (s == NULL)
		return;
	rg_htab_remove(&st->stored, rg_hash_u64(s->id), s);
	free(s->rcpt);
	free(s);
}

/* stored_forget - forget every message (the batch that wrote them rolled
 * back, or the store closes): their next put rewrites their rows */
static void
stored_forget(rg_store *st)
{
	size_t i;
	stored *s;

	if (st->stored.slot == NULL)
		return;
	for (i = 0; i <= st->stored.mask; i++)
		if ((s = st->stored.slot[i].val) != NULL) {
			free(s->rcpt);
			free(s);
		}
	rg_htab_clear(&st->stored);
}

/* dg_header - the digest of a record's headers rows */
static uint64_t
dg_headers(const rg_record *r)
{
	uint64_t h = (uint64_t)r->nheaders;
	int i;

	for (i = 0; i < r->nheaders; i++) {
		h = dg_rstr(h, r->headers[i].name);
		h = dg_rstr(h, r->headers[i].value);
		h = rg_hash64_mix(h, (uint64_t)r->headers[i].cut);
	}
	return h;
}

/* dg_rcpt - the digest of recipients row i of a record */
static uint64_t
dg_rcpt(const rg_record *r, int i)
{
	const rg_rcpt *rc = &r->rcpts[i];
	uint64_t h = (uint64_t)i;

	h = dg_str(h, rc->address ? rc->address : "", rc->address
	    ? strlen(rc->address) : 0);
	h = dg_rstr(h, rc->status);
	return dg_rstr(h, rc->dsn);
}

/* dg_verdict - the digest of a record's verdicts row */
static uint64_t
dg_verdict(const rg_record *r, int trusted)
{
	uint64_t h = rg_hash64_mix((uint64_t)r->verdict.source,
	    (uint64_t)trusted);

	if (r->verdict.source == VS_NONE)
		return h;
	h = rg_hash64_mix(h, (uint64_t)r->verdict.spam);
	h = dg_rstr(h, r->verdict.score);
	h = dg_rstr(h, r->verdict.required);
	h = dg_rstr(h, r->verdict.action);
	return dg_rstr(h, r->verdict.symbols);
}

/* del_children - run DELETE statement k of message id's child rows */
static int
del_children(rg_store *st, uint64_t id, int k, const char *what)
{
	op *o = op_get(st, OP_STMT, k, what);

	ov_int(o, (long long)id);
	return op_push(st, o);
}

/* put_headers - a record's headers rows, waiting (pend) */
static int
put_headers(rg_store *st, const rg_record *r)
{
	pend *p = &st->pend[P_HDR];
	op *o;
	int i;

	for (i = 0; i < r->nheaders; i++) {
		o = pend_cur(st, P_HDR);
		ov_int(o, (long long)r->id);
		ov_rtext(o, r->headers[i].name);
		ov_rtext(o, r->headers[i].value);
		ov_int(o, r->headers[i].cut);
		if (pend_row(st, p) != 0)
			return -1;
	}
	return 0;
}

/* put_rcpts - a record's recipients rows from index from on, waiting */
static int
put_rcpts(rg_store *st, const rg_record *r, int from)
{
	pend *p = &st->pend[P_RCPT];
	op *o;
	int i;

	for (i = from; i < r->nrcpts; i++) {
		const rg_rcpt *rc = &r->rcpts[i];

		o = pend_cur(st, P_RCPT);
		ov_int(o, (long long)r->id);
		ov_int(o, i);
		ov_text(o, rc->address ? rc->address : "");
		ov_rtext(o, rc->status);
		ov_rtext(o, rc->dsn);
		if (pend_row(st, p) != 0)
			return -1;
	}
	return 0;
}

/* set_rcpt - recipients row i of a record stored before, rewritten */
static int
set_rcpt(rg_store *st, const rg_record *r, int i)
{
	op *o = op_get(st, OP_STMT, Q_SET_RCPT, "updating a recipient");
	const rg_rcpt *rc = &r->rcpts[i];

	ov_int(o, (long long)r->id);
	ov_int(o, i);
	ov_text(o, rc->address ? rc->address : "");
	ov_rtext(o, rc->status);
	ov_rtext(o, rc->dsn);
	return op_push(st, o);
}

/* put_verdict - a record's verdicts row, if it has a verdict */
static int
put_verdict(rg_store *st, const rg_record *r, const char *vsource,
    int trusted)
{
	op *o;

	if (r->verdict.source == VS_NONE)
		return 0;
	o = op_get(st, OP_STMT, Q_VERD, "storing a verdict");
	ov_int(o, (long long)r->id);
	ov_text(o, vsource);
	ov_int(o, r->verdict.spam);
	ov_int(o, trusted);
	ov_rtext(o, r->verdict.score);
	ov_rtext(o, r->verdict.required);
	ov_rtext(o, r->verdict.action);
	ov_rtext(o, r->verdict.symbols);
	return op_push(st, o);
}

/* store_put_message - insert or update a message row and its children */
int
store_put_message(rg_store *st, const rg_record *r, const void *state,
    size_t len)
{
	pend *p = &st->pend[P_MSG];
	stored *s;
	op *o;
	uint64_t dh = 0, dv = 0;
	long long seq;
	int i, open = 1, trusted;
	const char *vsource = r->verdict.source == VS_CLIENT_HEADER
	    ? "client-header" : verdict_source_name(r->verdict.source);

	if (p->one == NULL || st->pend[P_HDR].one == NULL
	    || st->pend[P_RCPT].one == NULL) {
		snprintf(st->err, sizeof(st->err), "storing a message: the "
		    "database is not open for the collector's writes");
		return -1;
	}
	/* trusted as the configuration says (rules/policy.c) */
	if (st->cfg == NULL)
		st->cfg = st->own_cfg = cfg_defaults();
	trusted = r->verdict.source != VS_NONE
	    && rul_verdict_trusted(st->cfg, vsource);

	if (state == NULL) {
		sb_reset(&st->blob);
		rb_lean(&st->blob, r, relay_id, st);
		if (st->relay_err) {
			st->relay_err = 0;
			return -1;	/* st->err says why */
		}
		open = 0;
	}
	if ((seq = this_seq(st)) < 0)
		return -1;
	o = pend_cur(st, P_MSG);
	ov_int(o, (long long)r->id);
	ov_text(o, r->noqueue ? "noqueue" : "message");
	ov_rtext(o, r->host);
	ov_text(o, r->qid[0] ? r->qid : NULL);
	ov_int(o, r->complete);
	ov_int(o, open);
	ov_int(o, r->first_seen);
	ov_int(o, r->last_seen);
	ov_rtext(o, r->client_host);
	ov_rtext(o, r->client_ip);
	ov_rtext(o, r->client_port);
	ov_rtext(o, r->sasl_method);
	ov_rtext(o, r->sasl_username);
	ov_rtext(o, r->sender);
	if (r->size >= 0)
		ov_int(o, r->size);
	else
		ov_null(o);
	if (r->nrcpt >= 0)
		ov_int(o, r->nrcpt);
	else
		ov_null(o);
	ov_rtext(o, r->message_id);
	ov_int(o, r->held);
	ov_int(o, r->discarded);
	ov_int(o, r->expired);
	ov_int(o, r->deleted);
	ov_int(o, r->aborted);
	ov_int(o, r->stale);
	ov_rtext(o, r->bounce_of);
	ov_rtext(o, r->orig_queue_id);
	ov_rtext(o, r->filtered_as);
	ov_rtext(o, r->rejected.stage);
	ov_rtext(o, r->rejected.code);
	ov_rtext(o, r->rejected.dsn);
	ov_rtext(o, r->rejected.text);
	if (r->verdict.source != VS_NONE)
		ov_int(o, trusted && r->verdict.spam);
	else
		ov_null(o);
	ov_int(o, r->held || r->was_held);
	if (!open)
		ov_bytes(o, SQLITE_BLOB, st->blob.s, st->blob.len);
	else
		ov_null(o);
	ov_int(o, seq);
	if (pend_row(st, p) != 0)
		return -1;
	/* the open state (store_put_open) is gone when finished */
	if (!open && r->persisted) {
		if (pend_has(&st->pend[P_OPEN], r->id)
		    && pend_flush(st, &st->pend[P_OPEN]) != 0)
			return -1;
		o = op_get(st, OP_STMT, Q_DEL_OPEN, "ending an open message");
		ov_int(o, (long long)r->id);
		if (op_push(st, o) != 0)
			return -1;
	}

	/*
	 * children: a record never stored before has none: its rows are
	 * added. One stored before has those its last put wrote: known
	 * (st->stored), only the rows that changed are written; not known,
	 * replaced as a whole, and known from then on while it is open. (Not
	 * at its first put: most messages are put once or twice, and their
	 * digests would cost more than they save.) Rows of it still waiting
	 * (a second put in one batch) go first: none is left behind the
	 * DELETE, and an UPDATE finds its row.
	 */
	if (!r->persisted) {
		if (st->stored.n > 0)
			stored_drop(st, stored_find(st, r->id));
		if (put_headers(st, r) != 0 || put_rcpts(st, r, 0) != 0
		    || put_verdict(st, r, vsource, trusted) != 0)
			return -1;
		return 0;
	}
	s = stored_find(st, r->id);
	if ((pend_has(&st->pend[P_HDR], r->id)
	    || pend_has(&st->pend[P_RCPT], r->id))
	    && (pend_flush(st, &st->pend[P_HDR]) != 0
	    || pend_flush(st, &st->pend[P_RCPT]) != 0))
		goto fail;
	if (open || s != NULL) {
		if (r->nrcpts > st->ndg) {
			st->ndg = r->nrcpts * 2;
			st->dg = xrealloc(st->dg, (size_t)st->ndg
			    * sizeof(*st->dg));
		}
		for (i = 0; i < r->nrcpts; i++)
			st->dg[i] = dg_rcpt(r, i);
		dh = dg_headers(r);
		dv = dg_verdict(r, trusted);
	}
	if (s == NULL) {
		if (del_children(st, r->id, Q_DEL_HDR, "replacing headers") != 0
		    || del_children(st, r->id, Q_DEL_RCPT,
		    "replacing recipients") != 0
		    || del_children(st, r->id, Q_DEL_VERD,
		    "replacing a verdict") != 0
		    || put_headers(st, r) != 0 || put_rcpts(st, r, 0) != 0
		    || put_verdict(st, r, vsource, trusted) != 0)
			goto fail;
	} else {
		if (dh != s->hdr && (del_children(st, r->id, Q_DEL_HDR,
		    "replacing headers") != 0 || put_headers(st, r) != 0))
			goto fail;
		if (r->nrcpts < s->nrcpt) {
			if (del_children(st, r->id, Q_DEL_RCPT,
			    "replacing recipients") != 0
			    || put_rcpts(st, r, 0) != 0)
				goto fail;
		} else {
			for (i = 0; i < s->nrcpt; i++)
				if (st->dg[i] != s->rcpt[i]
				    && set_rcpt(st, r, i) != 0)
					goto fail;
			if (put_rcpts(st, r, s->nrcpt) != 0)
				goto fail;
		}
		if (dv != s->verd && (del_children(st, r->id, Q_DEL_VERD,
		    "replacing a verdict") != 0
		    || put_verdict(st, r, vsource, trusted) != 0))
			goto fail;
	}
	/* a finished message is put no more */
	if (!open) {
		stored_drop(st, s);
		return 0;
	}
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->id = r->id;
		if (st->stored.slot == NULL)
			rg_htab_init(&st->stored, 1024);
		rg_htab_insert(&st->stored, rg_hash_u64(r->id), s);
	}
	if (r->nrcpts != s->nrcpt) {
		s->rcpt = xrealloc(s->rcpt, (size_t)(r->nrcpts > 0 ? r->nrcpts
		    : 1) * sizeof(*s->rcpt));
		s->nrcpt = r->nrcpts;
	}
	if (r->nrcpts > 0)
		memcpy(s->rcpt, st->dg, (size_t)r->nrcpts * sizeof(*s->rcpt));
	s->hdr = dh;
	s->verd = dv;
	return 0;
fail:
	/* the batch fails: what the rows hold is not known any more */
	stored_drop(st, s);
	return -1;
}

/*
 * store_finish_stale - end open message id as stale, from its row and
 * state as stored (the collector's sweep dropped it while only the store
 * held it): complete false, stale, no longer open
 */
int
store_finish_stale(rg_store *st, uint64_t id)
{
	long long seq;
	op *o;

	/* rows of it still waiting go first */
	if ((pend_has(&st->pend[P_MSG], id)
	    && pend_flush(st, &st->pend[P_MSG]) != 0)
	    || (pend_has(&st->pend[P_OPEN], id)
	    && pend_flush(st, &st->pend[P_OPEN]) != 0))
		return -1;
	if ((seq = this_seq(st)) < 0)
		return -1;
	o = op_get(st, OP_STMT, Q_STALE, "ending a stale open message");
	ov_int(o, (long long)id);
	ov_int(o, seq);
	if (op_push(st, o) != 0)
		return -1;
	o = op_get(st, OP_STMT, Q_DEL_OPEN, "ending an open message");
	ov_int(o, (long long)id);
	if (op_push(st, o) != 0)
		return -1;
	store_forget_open(st, id);
	return 0;
}

/* store_forget_open - what the store keeps in memory of open message id
 * (the digests of its rows) goes: the collector evicted it */
void
store_forget_open(rg_store *st, uint64_t id)
{
	if (st->stored.n > 0)
		stored_drop(st, stored_find(st, id));
}

/*
 * store_put_open - an open message's state (the lean open form, beside
 * the row and children store_put_message wrote of the same record in this
 * transaction) with its order of activity and whether it lingers; the
 * rest of its key is its row's. Replaced while it is open;
 * store_put_message deletes it when finished.
 */
int
store_put_open(rg_store *st, const rb_key *k, const void *state,
    size_t len)
{
	pend *p = &st->pend[P_OPEN];
	op *o;

	if (st->relay_err) {	/* numbering its relays failed */
		st->relay_err = 0;
		return -1;
	}
	if (p->one == NULL) {
		snprintf(st->err, sizeof(st->err), "storing an open message: "
		    "the database is not open for the collector's writes");
		return -1;
	}
	o = pend_cur(st, P_OPEN);
	ov_int(o, (long long)k->id);
	ov_int(o, (long long)k->seq);
	ov_int(o, k->ended);
	ov_bytes(o, SQLITE_BLOB, state, len);
	return pend_row(st, p);
}

/* store_intern_relay - a relay's number for the open state's codec
 * (rb_open's rb_intern_fn, arg the store) */
uint64_t
store_intern_relay(void *arg, const char *relay)
{
	return relay_id(arg, relay);
}

/*
 * store_intern_text - a response text's number in the relays table (the
 * numbered texts: relay_name gives both back) for the open state's codec
 * (rb_open's rb_text_fn), once it was seen in another message
 * (a destination that is down gives every message to it the same text);
 * 0 (inline) if short, or only seen in this one: a text unique to its
 * message (a reply with a tracking number) is never numbered, however
 * often the message is saved again
 */
uint64_t
store_intern_text(void *arg, const char *text, uint64_t msg_id)
{
	rg_store *st = arg;
	size_t n = strlen(text);
	uint32_t h;
	int k;

	if (n < TEXT_MIN)
		return 0;
	h = rg_hash(text, n) | 1;
	k = (int)(h & (TEXT_SEEN - 1));
	if (st->tseen[k].hash != h || st->tseen[k].msg == msg_id) {
		st->tseen[k].hash = h;
		st->tseen[k].msg = msg_id;
		return 0;
	}
	return relay_id(st, text);
}

/*
 * A session's counters (smtpd's disconnect line: "ehlo=1 mail=3 rcpt=4/6
 * data=3 quit=1 commands=12/14", about 50 bytes) are stored packed, as a
 * BLOB (schema 9), when they read back byte for byte: per counter a byte,
 * its name's number in cnames + 1 (CN_FAILED: "/total" follows), and the
 * numbers as varints; CN_SUM alone, last, is "commands=" the sums as smtpd
 * writes them. Any other text stays TEXT, and so do rows written before.
 */
static const char *const cnames[] = {
	"ehlo", "helo", "starttls", "auth", "mail", "rcpt", "data", "bdat",
	"rset", "noop", "vrfy", "etrn", "quit", "unknown", "xclient",
	"xforward", "commands",
};
#define NCNAMES		(sizeof(cnames) / sizeof(cnames[0]))
#define CN_FAILED	0x40
#define CN_SUM		0x3f

/* cnum - a counter's number: digits, no leading zero, at most 9 */
static int
cnum(const char *p, unsigned long *v, const char **end)
{
	unsigned long n = 0;
	int i;

	for (i = 0; p[i] >= '0' && p[i] <= '9'; i++)
		n = n * 10 + (unsigned long)(p[i] - '0');
	if (i == 0 || i > 9 || (i > 1 && p[0] == '0'))
		return -1;
	*v = n;
	*end = p + i;
	return 0;
}

/* counters_pack - counters text p packed into sb: 1, or 0 if it does not
 * read back the same (sb then holds garbage) */
static int
counters_pack(strbuf *sb, const char *p)
{
	unsigned long ok, total, sok = 0, stotal = 0;
	const char *eq, *end;
	size_t i, n;
	unsigned flag;

	if (p == NULL || *p == '\0')
		return 0;
	for (;;) {
		if ((eq = strchr(p, '=')) == NULL)
			return 0;
		n = (size_t)(eq - p);
		for (i = 0; i < NCNAMES; i++)
			if (strlen(cnames[i]) == n && memcmp(cnames[i], p, n) == 0)
				break;
		if (i == NCNAMES || cnum(eq + 1, &ok, &end) != 0)
			return 0;
		total = ok;
		flag = 0;
		if (*end == '/') {
			if (cnum(end + 1, &total, &end) != 0)
				return 0;
			flag = CN_FAILED;
		}
		if (*end != ' ' && *end != '\0')
			return 0;
		if (i == NCNAMES - 1 && *end == '\0' && ok == sok
		    && total == stotal && (flag != 0) == (ok != total)) {
			ser_put_u64(sb, CN_SUM);
			return 1;
		}
		ser_put_u64(sb, (i + 1) | flag);
		ser_put_u64(sb, ok);
		if (flag)
			ser_put_u64(sb, total);
		sok += ok;
		stotal += total;
		if (*end == '\0')
			return 1;
		p = end + 1;
	}
}

/* counters_unpack - packed counters back as their text into ar; NULL if
 * damaged */
static char *
counters_unpack(const void *b, size_t len, rg_arena *ar)
{
	unsigned long long sok = 0, stotal = 0, ok, total;
	ser_reader rd;
	strbuf sb;
	char *t = NULL;
	uint64_t c;

	sb_init(&sb);
	ser_reader_init(&rd, b, len);
	while (!rd.bad && rd.p < rd.end) {
		c = ser_get_u64(&rd);
		if (sb.len > 0)
			sb_addc(&sb, ' ');
		if (c == CN_SUM) {
			sb_printf(&sb, "commands=%llu", sok);
			if (sok != stotal)
				sb_printf(&sb, "/%llu", stotal);
			if (rd.p != rd.end)
				rd.bad = 1;
			break;
		}
		if ((c & ~(uint64_t)CN_FAILED) == 0
		    || (c & ~(uint64_t)CN_FAILED) > NCNAMES) {
			rd.bad = 1;
			break;
		}
		ok = total = ser_get_u64(&rd);
		if (c & CN_FAILED)
			total = ser_get_u64(&rd);
		sb_printf(&sb, "%s=%llu", cnames[(c & ~(uint64_t)CN_FAILED) - 1],
		    ok);
		if (c & CN_FAILED)
			sb_printf(&sb, "/%llu", total);
		sok += ok;
		stotal += total;
	}
	if (!rd.bad && sb.len > 0)
		t = rg_arena_str(ar, sb.s, sb.len);
	sb_free(&sb);
	return t;
}

/* store_put_session - insert or update a session row */
int
store_put_session(rg_store *st, const rg_session *s, const void *state,
    size_t len)
{
	pend *p = &st->pend[P_SESS];
	long long seq;
	op *o;

	if (p->one == NULL) {
		snprintf(st->err, sizeof(st->err), "storing a session: the "
		    "database is not open for the collector's writes");
		return -1;
	}
	if ((seq = this_seq(st)) < 0)
		return -1;
	o = pend_cur(st, P_SESS);
	ov_int(o, (long long)s->id);
	ov_text(o, s->host);
	ov_int(o, s->pid);
	ov_text(o, s->prog);
	ov_int(o, s->complete);
	ov_int(o, state != NULL);
	if (s->connect)
		ov_int(o, s->connect);
	else
		ov_null(o);
	if (s->disconnect)
		ov_int(o, s->disconnect);
	else
		ov_null(o);
	ov_int(o, s->disconnect ? s->disconnect : s->connect);
	ov_text(o, s->client_host);
	ov_text(o, s->client_ip);
	ov_text(o, s->client_port);
	ov_text(o, s->sasl_method);
	ov_text(o, s->sasl_username);
	ov_int(o, s->sasl_failures);
	ov_int(o, s->messages);
	ov_int(o, s->rejects);
	ov_text(o, s->lost);
	sb_reset(&st->cbuf);
	if (counters_pack(&st->cbuf, s->counters))
		ov_bytes(o, SQLITE_BLOB, st->cbuf.s, st->cbuf.len);
	else
		ov_text(o, s->counters);
	ov_int(o, s->stale);
	if (state != NULL)
		ov_bytes(o, SQLITE_BLOB, state, len);
	else
		ov_null(o);
	ov_int(o, seq);
	return pend_row(st, p);
}

/* store_put_global - the assembler's global state */
int
store_put_global(rg_store *st, const void *state, size_t len)
{
	op *o = op_get(st, OP_STMT, Q_GLOBAL, "storing the assembler state");

	ov_bytes(o, SQLITE_BLOB, state, len);
	return op_push(st, o);
}

/* restore_rows - hand every state blob of a query to fn */
static int
restore_rows(rg_store *st, sqlite3_stmt *q,
    int (*fn)(void *, const void *, size_t), void *arg, const char *what)
{
	int rc;

	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const void *b = sqlite3_column_blob(q, 0);
		int n = sqlite3_column_bytes(q, 0);

		if (b == NULL || fn(arg, b, (size_t)n) != 0) {
			sqlite3_reset(q);
			snprintf(st->err, sizeof(st->err), "damaged %s state in "
			    "the database", what);
			return -1;
		}
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE)
		return fail(st, "reading the open state");
	return 0;
}

/*
 * store_load_open - an open message's state by its id, in the full form
 * (the collector's loader of a message restored by its key): 0, or -1
 * (store_error says why). A damaged lean state comes back as one byte that
 * is no state, for the assembler to refuse.
 */
int
store_load_open(rg_store *st, uint64_t id, strbuf *out)
{
	sqlite3_stmt *q = st->q[Q_GET_OPEN];
	const void *b;
	int rc, n;

	/* put in this batch: its row still waits; the writer's queue runs
	 * before this thread reads */
	if ((pend_has(&st->pend[P_OPEN], id)
	    && pend_flush(st, &st->pend[P_OPEN]) != 0) || store_wait(st) != 0)
		return -1;
	sqlite3_bind_int64(q, 1, (sqlite3_int64)id);
	if ((rc = sqlite3_step(q)) == SQLITE_ROW
	    && (b = sqlite3_column_blob(q, 0)) != NULL
	    && (n = sqlite3_column_bytes(q, 0)) > 0) {
		if (!rb_is_open(b, (size_t)n))
			sb_add(out, b, (size_t)n);	/* the full form */
		else {
			if (st->pool == NULL)
				st->pool = rg_pool_new();
			/* damaged: a byte that is no state, and the
			 * assembler says so; an SQLite error: none */
			rc = open_full(&st->q[Q_ROW], st->pool, (long long)id,
			    b, (size_t)n, relay_name, st, out);
			if (rc == -2) {
				sb_reset(out);
				fail(st, "reading an open message's row");
			} else if (rc != 0) {
				sb_reset(out);
				sb_add(out, "", 1);
			}
		}
	} else if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		snprintf(st->err, sizeof(st->err), "the state of open message "
		    "%llu is missing from the database", (unsigned long long)id);
	else
		fail(st, "reading an open message");
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return out->len > 0 ? 0 : -1;
}

/* whole - an open message restored whole: its id, stored without a key */
typedef struct whole {
	uint64_t id;
	int nokey;
} whole;

/*
 * restore_keys - the open messages from their keys (open_msgs' seq and
 * their messages rows' columns, in the order of id; the collector sorts
 * them): a stub each, decoded when a line names it (store_load_open);
 * those ended and lingering, and rows stored before the keys (seq NULL),
 * restored whole
 */
static int
restore_keys(rg_store *st, const store_restore_ops *ops)
{
	sqlite3_stmt *q = st->q[Q_OPEN_MSG];
	whole *w = NULL;
	size_t nw = 0, i;
	strbuf sb;
	int rc, bad = 0;

	while (!bad && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		rb_key k;

		memset(&k, 0, sizeof(k));
		k.id = (uint64_t)sqlite3_column_int64(q, 0);
		if (sqlite3_column_type(q, 1) == SQLITE_NULL
		    || sqlite3_column_type(q, 2) == SQLITE_NULL
		    || sqlite3_column_int(q, 6) != 0) {
			if ((nw & (nw - 1)) == 0)
				w = xrealloc(w, (nw ? nw * 2 : 1) * sizeof(*w));
			w[nw].id = k.id;
			w[nw++].nokey = sqlite3_column_type(q, 1) == SQLITE_NULL;
			continue;
		}
		k.seq = (uint64_t)sqlite3_column_int64(q, 1);
		k.host = (const char *)sqlite3_column_text(q, 2);
		k.qid = (const char *)sqlite3_column_text(q, 3);
		k.first_seen = sqlite3_column_int64(q, 4);
		k.last_seen = sqlite3_column_int64(q, 5);
		k.message_id = (const char *)sqlite3_column_text(q, 7);
		bad = ops->key(ops->arg, &k) != 0;
	}
	sqlite3_reset(q);
	if (!bad && rc != SQLITE_DONE) {
		free(w);
		return fail(st, "reading the open state");
	}
	sb_init(&sb);
	for (i = 0; i < nw && !bad; i++) {
		sb_reset(&sb);
		if (store_load_open(st, w[i].id, &sb) != 0) {
			free(w);
			sb_free(&sb);
			return -1;
		}
		bad = ops->message(ops->arg, sb.s, sb.len, w[i].nokey) != 0;
	}
	sb_free(&sb);
	free(w);
	if (bad) {
		snprintf(st->err, sizeof(st->err), "damaged message state in "
		    "the database");
		return -1;
	}
	return 0;
}

/*
 * store_restore - the open state of the last commit, handed to ops: the
 * global state and the open sessions whole (a few: as many as smtpd
 * processes), the open messages by their keys (restore_keys); the rest is
 * read with store_load_open when it is needed
 */
int
store_restore(rg_store *st, const store_restore_ops *ops)
{
	if (restore_rows(st, st->q[Q_GET_GLOBAL], ops->global, ops->arg,
	    "global") != 0
	    || restore_keys(st, ops) != 0
	    || restore_rows(st, st->q[Q_OPEN_SESS], ops->session, ops->arg,
	    "session") != 0)
		return -1;
	return 0;
}

/* get_source - store_get_source, its error into err (the runner's too) */
static int
get_source(rg_store *st, const char *name, src_pos *pos, char *err,
    size_t errsz)
{
	sqlite3_stmt *q = st->q[Q_GET_SRC];
	int rc;

	memset(pos, 0, sizeof(*pos));
	bt(q, 1, name);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		const unsigned char *t;

		pos->fp = (uint64_t)sqlite3_column_int64(q, 0);
		pos->fp_len = sqlite3_column_int64(q, 1);
		pos->offset = sqlite3_column_int64(q, 2);
		if ((t = sqlite3_column_text(q, 3)) != NULL)
			snprintf(pos->path, sizeof(pos->path), "%s", t);
		if ((t = sqlite3_column_text(q, 4)) != NULL)
			snprintf(pos->cursor, sizeof(pos->cursor), "%s", t);
		pos->year = sqlite3_column_int(q, 5);
		pos->last_month = sqlite3_column_int(q, 6);
		pos->lines = sqlite3_column_int64(q, 7);
		pos->prev_fp = (uint64_t)sqlite3_column_int64(q, 8);
		pos->prev_fp_len = sqlite3_column_int64(q, 9);
		pos->prev_offset = sqlite3_column_int64(q, 10);
	}
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return 1;
	snprintf(err, errsz, "reading a source position: %s",
	    sqlite3_errmsg(st->db));
	return -1;
}

/* store_get_source - the saved position of a source */
int
store_get_source(rg_store *st, const char *name, src_pos *pos)
{
	if (store_wait(st) != 0)
		return -1;
	return get_source(st, name, pos, st->err, sizeof(st->err));
}

/* store_put_source - save a source's position */
int
store_put_source(rg_store *st, const char *name, const char *kind,
    const src_pos *pos)
{
	op *o = op_get(st, OP_STMT, Q_PUT_SRC, "saving a source position");

	ov_text(o, name);
	ov_text(o, kind);
	ov_int(o, (long long)pos->fp);
	ov_int(o, pos->fp_len);
	ov_int(o, pos->offset);
	ov_text(o, pos->path[0] ? pos->path : NULL);
	ov_text(o, pos->cursor[0] ? pos->cursor : NULL);
	ov_int(o, pos->year);
	ov_int(o, pos->last_month);
	ov_int(o, pos->lines);
	ov_int(o, (long long)pos->prev_fp);
	ov_int(o, pos->prev_fp_len);
	ov_int(o, pos->prev_offset);
	return op_push(st, o);
}

/* store_log_loss - note lines lost before they reached us */
int
store_log_loss(rg_store *st, const char *source, long long count,
    long long ts, const char *text)
{
	op *o = op_get(st, OP_STMT, Q_LOSS, "recording log loss");

	ov_text(o, source);
	ov_int(o, ts);
	ov_int(o, count);
	ov_text(o, text);
	return op_push(st, o);
}

/* prune_step - one bounded DELETE (or INSERT) with ?1 cutoff, ?2 batch */
static int
prune_step(rg_store *st, const char *sql, long long cutoff, long long batch)
{
	sqlite3_stmt *q;
	int n;

	if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK)
		return fail(st, "pruning");
	if (sqlite3_bind_parameter_count(q) >= 1)
		sqlite3_bind_int64(q, 1, cutoff);
	if (sqlite3_bind_parameter_count(q) >= 2)
		sqlite3_bind_int64(q, 2, batch);
	if (sqlite3_step(q) != SQLITE_DONE) {
		fail(st, "pruning");
		sqlite3_finalize(q);
		return -1;
	}
	n = sqlite3_changes(st->db);
	sqlite3_finalize(q);
	return n;
}

/*
 * store_prune - delete finished messages (with their recipients,
 * deliveries and verdicts) and sessions last seen before cutoff, batch rows
 * per transaction, so that a big backlog never holds the write lock for
 * long. Returns the rows deleted, -1 on error.
 */
long long
store_prune(rg_store *st, long long cutoff, long long batch)
{
	static const char *children[] = {
	    "DELETE FROM recipients WHERE message IN (SELECT id FROM prune_ids)",
	    "DELETE FROM verdicts WHERE message IN (SELECT id FROM prune_ids)",
	    "DELETE FROM headers WHERE message IN (SELECT id FROM prune_ids)",
	    "DELETE FROM messages WHERE id IN (SELECT id FROM prune_ids)",
	};
	static const char *others[] = {
	    /* by the connect index, not a scan of every session */
	    "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE "
	    "connect < ?1 AND last_seen < ?1 AND open = 0 LIMIT ?2)",
	    "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE "
	    "connect IS NULL AND last_seen < ?1 AND open = 0 LIMIT ?2)",
	    "DELETE FROM log_loss WHERE id IN (SELECT id FROM log_loss WHERE "
	    "ts < ?1 LIMIT ?2)",
	};
	long long total = 0;
	size_t i;
	int n;

	/* its statements run here, on the connection, between the op log's
	 * BEGIN and COMMIT: the writer thread (if any) finishes first and
	 * ends, so that those run at once too */
	if (store_writer_stop(st, NULL, 0) != 0)
		return -1;
	if (db_exec(st->db, "CREATE TEMP TABLE IF NOT EXISTS prune_ids(id "
	    "INTEGER PRIMARY KEY)", st->err, sizeof(st->err)) != 0)
		return -1;
	do {
		if (store_begin(st) != 0)
			return -1;
		if (prune_step(st, "DELETE FROM prune_ids", 0, 0) < 0
		    || (n = prune_step(st, "INSERT INTO prune_ids SELECT id FROM "
		    "messages WHERE first_seen < ?1 AND last_seen < ?1 AND open = 0 "
		    "LIMIT ?2", cutoff,
		    batch)) < 0)
			goto fail;
		for (i = 0; i < sizeof(children) / sizeof(children[0]); i++)
			if (prune_step(st, children[i], 0, 0) < 0)
				goto fail;
		if (store_commit(st) != 0)
			goto fail;
		total += n;
	} while (n == batch);
	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		do {
			if (store_begin(st) != 0)
				return -1;
			if ((n = prune_step(st, others[i], cutoff, batch)) < 0
			    || store_commit(st) != 0)
				goto fail;
			total += n;
		} while (n == batch);
	}
	/*
	 * the relays and texts no stored row names any more: those whose seq
	 * is RELAY_REFRESH behind the oldest row's (relay_id). An open
	 * message's state is written with its messages row, in the same
	 * transaction: that row's seq covers it. No row at all: none goes.
	 */
	do {
		if (store_begin(st) != 0)
			return -1;
		if ((n = prune_step(st, "DELETE FROM relays WHERE id IN (SELECT "
		    "id FROM relays WHERE seq < (SELECT min(seq) FROM messages) "
		    "- ?1 LIMIT ?2)", RELAY_REFRESH, batch)) < 0
		    || store_commit(st) != 0)
			goto fail;
		total += n;
	} while (n == batch);
	relay_forget(st);	/* numbers it knew may be gone */
	return total;
fail:
	store_rollback(st);
	return -1;
}

/* store_close - finalize and close; NULL is a no-op */
void
store_close(rg_store *st)
{
	op *o;
	int i;

	if (st == NULL)
		return;
	store_writer_stop(st, NULL, 0);
	ckpt_stop(st->ckpt);
	for (i = 0; i < P__COUNT; i++)
		pend_free(&st->pend[i]);
	for (i = 0; i <= P__COUNT; i++)
		while ((o = st->ops_free[i]) != NULL) {
			st->ops_free[i] = o->free;
			op_free(o);
		}
	exp_forget(st);
	free(st->x_exp);
	stored_forget(st);
	rg_htab_free(&st->stored);
	free(st->dg);
	for (i = 0; i < Q__COUNT; i++)
		sqlite3_finalize(st->q[i]);
	for (i = 0; i < R__COUNT; i++)
		sqlite3_finalize(st->rq[i]);
	relay_forget(st);
	rg_htab_free(&st->relays);
	db_close(st->db);
	if (st->blob.s != NULL)
		sb_free(&st->blob);
	if (st->cbuf.s != NULL)
		sb_free(&st->cbuf);
	if (st->pool != NULL)
		rg_pool_free(st->pool);
	cfg_free(st->own_cfg);
	free(st);
}

/* cstr - a text column copied into ar, NULL stays NULL */
static char *
cstr(sqlite3_stmt *q, int i, rg_arena *ar)
{
	const unsigned char *t = sqlite3_column_text(q, i);

	return t == NULL ? NULL : rg_arena_str(ar, (const char *)t,
	    (size_t)sqlite3_column_bytes(q, i));
}

/* vsource - a verdicts row's source name as the enum (VS_NONE if unknown) */
static enum verdict_source
vsource(const char *t)
{
	enum verdict_source v;

	if (t == NULL)
		return VS_NONE;
	if (strcmp(t, "client-header") == 0)
		return VS_CLIENT_HEADER;
	for (v = VS_HEADER; v <= VS_RSPAMD; v++)
		if (strcmp(t, verdict_source_name(v)) == 0)
			return v;
	return VS_NONE;
}

/*
 * row_record - message id's record from its row and child rows, as
 * rb_lean_merge and rb_open_full want it: r (zeroed, its arena set)
 * gets the columns, the recipients (address, status, dsn) and the
 * verdict, *th the headers rows by name (in r's arena). q: the four
 * statements Q_ROW .. Q_ROW_VERD. 0, -1 if there is no usable row, -2 on
 * an SQLite error.
 */
static int
row_record(sqlite3_stmt **qs, long long id, rg_record *r, rg_header **thp,
    int *nthp)
{
	sqlite3_stmt *q = qs[0];
	rg_header *th = NULL;
	const char *t;
	int rc, nth = 0, cap = 0, ret = -1;

	sqlite3_bind_int64(q, 1, id);
	if ((rc = sqlite3_step(q)) != SQLITE_ROW)
		goto done;
	r->id = (uint64_t)id;
	t = (const char *)sqlite3_column_text(q, 0);
	r->noqueue = t != NULL && strcmp(t, "noqueue") == 0;
	r->host = cstr(q, 1, &r->ar);
	if ((t = (const char *)sqlite3_column_text(q, 2)) != NULL)
		snprintf(r->qid, sizeof(r->qid), "%s", t);
	r->complete = sqlite3_column_int(q, 3) != 0;
	r->first_seen = sqlite3_column_int64(q, 4);
	r->last_seen = sqlite3_column_int64(q, 5);
	r->client_host = cstr(q, 6, &r->ar);
	r->client_ip = cstr(q, 7, &r->ar);
	r->client_port = cstr(q, 8, &r->ar);
	r->sasl_method = cstr(q, 9, &r->ar);
	r->sasl_username = cstr(q, 10, &r->ar);
	r->sender = cstr(q, 11, &r->ar);
	r->size = sqlite3_column_type(q, 12) == SQLITE_NULL ? -1
	    : sqlite3_column_int64(q, 12);
	r->nrcpt = sqlite3_column_type(q, 13) == SQLITE_NULL ? -1
	    : sqlite3_column_int64(q, 13);
	r->message_id = cstr(q, 14, &r->ar);
	r->held = sqlite3_column_int(q, 15) != 0;
	r->discarded = sqlite3_column_int(q, 16) != 0;
	r->expired = sqlite3_column_int(q, 17) != 0;
	r->deleted = sqlite3_column_int(q, 18) != 0;
	r->aborted = sqlite3_column_int(q, 19) != 0;
	r->stale = sqlite3_column_int(q, 20) != 0;
	r->bounce_of = cstr(q, 21, &r->ar);
	r->orig_queue_id = cstr(q, 22, &r->ar);
	r->filtered_as = cstr(q, 23, &r->ar);
	r->rejected.stage = cstr(q, 24, &r->ar);
	r->rejected.code = cstr(q, 25, &r->ar);
	r->rejected.dsn = cstr(q, 26, &r->ar);
	r->rejected.text = cstr(q, 27, &r->ar);
	r->was_held = sqlite3_column_int(q, 28) != 0;
	if (r->host == NULL)
		goto done;
	sqlite3_reset(q);

	q = qs[1];
	sqlite3_bind_int64(q, 1, id);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (nth == cap) {
			rg_header *v;

			cap = cap ? cap * 2 : 8;
			v = rg_arena_alloc(&r->ar, (size_t)cap * sizeof(*v));
			if (nth > 0)
				memcpy(v, th, (size_t)nth * sizeof(*v));
			th = v;
		}
		th[nth].name = cstr(q, 0, &r->ar);
		th[nth].value = cstr(q, 1, &r->ar);
		th[nth].cut = sqlite3_column_int(q, 2);
		nth++;
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE)
		goto done;

	q = qs[2];
	sqlite3_bind_int64(q, 1, id);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		rg_rcpt *rp;

		if (r->nrcpts == r->rcap) {
			rg_rcpt *v;

			r->rcap = r->rcap ? r->rcap * 2 : 4;
			v = rg_arena_alloc(&r->ar, (size_t)r->rcap * sizeof(*v));
			if (r->nrcpts > 0)
				memcpy(v, r->rcpts,
				    (size_t)r->nrcpts * sizeof(*v));
			r->rcpts = v;
		}
		rp = &r->rcpts[r->nrcpts++];
		memset(rp, 0, sizeof(*rp));
		rp->address = cstr(q, 0, &r->ar);
		rp->status = cstr(q, 1, &r->ar);
		rp->dsn = cstr(q, 2, &r->ar);
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE)
		goto done;

	q = qs[3];
	sqlite3_bind_int64(q, 1, id);
	if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		r->verdict.source = vsource((const char *)
		    sqlite3_column_text(q, 0));
		r->verdict.spam = sqlite3_column_int(q, 1) != 0;
		r->verdict.score = cstr(q, 2, &r->ar);
		r->verdict.required = cstr(q, 3, &r->ar);
		r->verdict.action = cstr(q, 4, &r->ar);
		r->verdict.symbols = cstr(q, 5, &r->ar);
		if (r->verdict.source == VS_NONE)
			goto done;
		rc = SQLITE_DONE;
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE)
		goto done;
	q = NULL;
	*thp = th;
	*nthp = nth;
	ret = 0;
done:
	if (ret != 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = -2;
	if (q != NULL)
		sqlite3_reset(q);
	sqlite3_clear_bindings(qs[0]);
	return ret;
}

/*
 * row_json - the JSON of message id from its row, its child rows and its
 * lean blob: 0, -1 if the rows do not fit the blob
 */
static int
row_json(rg_store *st, long long id, const void *rec, size_t reclen,
    strbuf *out)
{
	rg_record r;
	rg_header *th = NULL;
	int nth = 0, ret = -1;

	if (st->pool == NULL)
		st->pool = rg_pool_new();
	memset(&r, 0, sizeof(r));
	rg_arena_init(&r.ar, st->pool);
	if (row_record(&st->q[Q_ROW], id, &r, &th, &nth) == 0
	    && rb_lean_merge(&r, rec, reclen, th, nth, relay_name, st) == 0) {
		rec_json(out, &r);
		ret = 0;
	}
	rg_arena_free(&r.ar);
	return ret;
}

/*
 * open_full - the full state of open message id (as the assembler
 * restores it) from its row, its child rows and its lean open state,
 * into out: 0, -1 if they do not fit, -2 on an SQLite error
 */
static int
open_full(sqlite3_stmt **qs, rg_pool *pool, long long id, const void *blob,
    size_t len, rb_resolve_fn resolve, void *arg, strbuf *out)
{
	rg_record r;
	rg_header *th = NULL;
	int nth = 0, ret = -1;

	memset(&r, 0, sizeof(r));
	rg_arena_init(&r.ar, pool);
	if ((ret = row_record(qs, id, &r, &th, &nth)) == 0
	    && rb_open_full(&r, blob, len, th, nth, resolve, arg, out) != 0)
		ret = -1;
	rg_arena_free(&r.ar);
	return ret;
}

/*
 * store_message_json - message id's JSON into out (appended), byte for
 * byte as `parse` writes it: rebuilt from its row and lean record blob
 * (schema 7), its full record blob (schema 6, and an open message's
 * state), or the stored JSON of a row written before schema 6. -1 if
 * none is usable.
 */
int
store_message_json(rg_store *st, long long id, const void *rec,
    size_t reclen, const char *json, size_t jsonlen, strbuf *out)
{
	if (rec != NULL && rb_is_lean(rec, reclen))
		return row_json(st, id, rec, reclen, out);
	if (rec != NULL && rb_is_open(rec, reclen)) {
		strbuf full;
		int ret = -1;

		if (st->pool == NULL)
			st->pool = rg_pool_new();
		sb_init(&full);
		if (open_full(&st->q[Q_ROW], st->pool, id, rec, reclen,
		    relay_name, st, &full) == 0)
			ret = rb_json(full.s, full.len, st->pool, out);
		sb_free(&full);
		return ret;
	}
	if (rec != NULL) {
		if (st->pool == NULL)
			st->pool = rg_pool_new();
		return rb_json(rec, reclen, st->pool, out);
	}
	if (json == NULL)
		return -1;
	sb_add(out, json, jsonlen);
	return 0;
}

/*
 * store_each_json - every stored message (sessions: every session) as
 * `parse` writes it, with its open flag, to fn, in no particular order;
 * fn returning non-zero stops. 0, -1 on error (store_error).
 */
int
store_each_json(rg_store *st, int sessions,
    int (*fn)(void *arg, int open, const char *json, size_t len), void *arg)
{
	sqlite3_stmt *q;
	strbuf sb;
	rg_pool *pool = NULL;
	int rc, stop = 0;

	if (sqlite3_prepare_v2(st->db, sessions ? "SELECT open, json, host, "
	    "program, pid, complete, stale, connect, disconnect, client_host, "
	    "client_ip, client_port, sasl_method, sasl_username, sasl_failures, "
	    "messages, rejects, lost, counters FROM sessions" : "SELECT m.open, "
	    "m.json, COALESCE(m.rec, o.state), m.id FROM messages m LEFT JOIN "
	    "open_msgs o ON o.id = m.id", -1, &q, NULL) != SQLITE_OK)
		return fail(st, "reading the records");
	sb_init(&sb);
	if (sessions)
		pool = rg_pool_new();
	while (!stop && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *js = (const char *)sqlite3_column_text(q, 1);
		size_t jl = (size_t)sqlite3_column_bytes(q, 1);

		sb_reset(&sb);
		if (!sessions) {
			const void *b = sqlite3_column_blob(q, 2);

			if (store_message_json(st, sqlite3_column_int64(q, 3), b,
			    (size_t)sqlite3_column_bytes(q, 2), js, jl, &sb) != 0) {
				snprintf(st->err, sizeof(st->err), "a damaged "
				    "message record in the database");
				rc = SQLITE_ERROR;
				break;
			}
		} else if (js != NULL) {
			sb_add(&sb, js, jl);
		} else {
			rg_session s;

			memset(&s, 0, sizeof(s));
			rg_arena_init(&s.ar, pool);
			s.host = cstr(q, 2, &s.ar);
			s.prog = cstr(q, 3, &s.ar);
			s.pid = (long)sqlite3_column_int64(q, 4);
			s.complete = sqlite3_column_int(q, 5) != 0;
			s.stale = sqlite3_column_int(q, 6) != 0;
			s.connect = sqlite3_column_int64(q, 7);
			s.disconnect = sqlite3_column_int64(q, 8);
			s.client_host = cstr(q, 9, &s.ar);
			s.client_ip = cstr(q, 10, &s.ar);
			s.client_port = cstr(q, 11, &s.ar);
			s.sasl_method = cstr(q, 12, &s.ar);
			s.sasl_username = cstr(q, 13, &s.ar);
			s.sasl_failures = sqlite3_column_int(q, 14);
			s.messages = sqlite3_column_int(q, 15);
			s.rejects = sqlite3_column_int(q, 16);
			s.lost = cstr(q, 17, &s.ar);
			if (sqlite3_column_type(q, 18) != SQLITE_BLOB)
				s.counters = cstr(q, 18, &s.ar);
			else if ((s.counters = counters_unpack(
			    sqlite3_column_blob(q, 18),
			    (size_t)sqlite3_column_bytes(q, 18), &s.ar)) == NULL) {
				rg_arena_free(&s.ar);
				snprintf(st->err, sizeof(st->err), "a damaged "
				    "session record in the database");
				rc = SQLITE_ERROR;
				break;
			}
			sess_json(&sb, &s);
			rg_arena_free(&s.ar);
		}
		stop = fn(arg, sqlite3_column_int(q, 0), sb.s, sb.len);
	}
	if (!stop && rc != SQLITE_DONE && rc != SQLITE_ERROR)
		fail(st, "reading the records");
	sqlite3_finalize(q);
	sb_free(&sb);
	if (pool != NULL)
		rg_pool_free(pool);
	return stop || rc == SQLITE_DONE ? 0 : -1;
}

/* store_set_config - the configuration whose trusted_verdicts the stored
 * spam flags follow (default: the built-in defaults) */
void
store_set_config(rg_store *st, const rg_config *cfg)
{
	st->cfg = cfg;
}

/* store_source_unreadable - whether source name was last found unreadable */
int
store_source_unreadable(rg_store *st, const char *name)
{
	char key[300];

	snprintf(key, sizeof(key), "source_unreadable:%s", name);
	store_wait(st);
	return db_meta_int(st->db, key, 0) != 0;
}

/* store_set_source_unreadable - note it (inside the caller's transaction) */
int
store_set_source_unreadable(rg_store *st, const char *name, int on)
{
	op *o = op_get(st, OP_STMT, Q_PUT_META, "noting an unreadable source");
	char key[300];

	snprintf(key, sizeof(key), "source_unreadable:%s", name);
	ov_text(o, key);
	ov_text(o, on ? "1" : "0");
	return op_push(st, o);
}
