/*
 * schema.c - the database's schema and every migration, in one place: the
 * collector's tables (messages, sessions, open state, positions), the
 * analyzer's (locks, events, unlocks, its ana_* index), the outbox. A
 * database of any earlier version is brought up to date in place by
 * db_open(), one migration per transaction; append, never edit.
 */
#include "db.h"
#include "schema.h"

static const char schema_v1[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);\n"
    "CREATE TABLE sources(\n"
    "  name TEXT PRIMARY KEY, kind TEXT NOT NULL,\n"
    "  fp INTEGER NOT NULL DEFAULT 0, fp_len INTEGER NOT NULL DEFAULT 0,\n"
    "  offset INTEGER NOT NULL DEFAULT 0, path TEXT, cursor TEXT,\n"
    "  prev_fp INTEGER NOT NULL DEFAULT 0, prev_fp_len INTEGER NOT NULL "
    "DEFAULT 0,\n  prev_offset INTEGER NOT NULL DEFAULT 0,\n"
    "  year INTEGER NOT NULL DEFAULT 0, last_month INTEGER NOT NULL DEFAULT 0,\n"
    "  lines INTEGER NOT NULL DEFAULT 0, updated INTEGER);\n"
    "CREATE TABLE messages(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  kind TEXT NOT NULL,\n"			/* message | noqueue */
    "  host TEXT NOT NULL, queue_id TEXT,\n"
    "  complete INTEGER NOT NULL, open INTEGER NOT NULL,\n"
    "  first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,\n"
    "  client_host TEXT, client_ip TEXT, client_port TEXT,\n"
    "  sasl_method TEXT, sasl_username TEXT, sender TEXT,\n"
    "  size INTEGER, nrcpt INTEGER, message_id TEXT,\n"
    "  held INTEGER NOT NULL DEFAULT 0, discarded INTEGER NOT NULL DEFAULT 0,\n"
    "  expired INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0,\n"
    "  aborted INTEGER NOT NULL DEFAULT 0, stale INTEGER NOT NULL DEFAULT 0,\n"
    "  bounce_of TEXT, orig_queue_id TEXT, filtered_as TEXT,\n"
    "  reject_stage TEXT, reject_code TEXT, reject_dsn TEXT, reject_text TEXT,\n"
    "  spam INTEGER,\n"				/* trusted verdict says spam */
    "  headers TEXT,\n"			/* JSON object */
    "  json TEXT NOT NULL,\n"			/* as relayguard parse writes it */
    "  state BLOB);\n"				/* while open: the assembler's */
    "CREATE INDEX messages_seen ON messages(first_seen);\n"
    "CREATE INDEX messages_last ON messages(last_seen);\n"
    "CREATE INDEX messages_sasl ON messages(sasl_username, first_seen);\n"
    "CREATE INDEX messages_client ON messages(client_ip, first_seen);\n"
    "CREATE INDEX messages_sender ON messages(sender, first_seen);\n"

    "CREATE INDEX messages_open ON messages(open) WHERE open = 1;\n"
    "CREATE TABLE recipients(\n"
    "  message INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,\n"
    "  idx INTEGER NOT NULL, address TEXT NOT NULL, orig_to TEXT,\n"
    "  status TEXT, dsn TEXT, relay TEXT, delay TEXT, response TEXT,\n"
    "  attempts INTEGER NOT NULL DEFAULT 0,\n"
    "  PRIMARY KEY(message, idx)) WITHOUT ROWID;\n"

    "CREATE TABLE deliveries(\n"
    "  message INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,\n"
    "  idx INTEGER NOT NULL, attempt INTEGER NOT NULL,\n"
    "  ts INTEGER NOT NULL, status TEXT, dsn TEXT,\n"
    "  PRIMARY KEY(message, idx, attempt)) WITHOUT ROWID;\n"
    "CREATE TABLE headers(\n"
    "  message INTEGER NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,\n"
    "  cut INTEGER NOT NULL DEFAULT 0,\n"
    "  PRIMARY KEY(message, name)) WITHOUT ROWID;\n"
    "CREATE TABLE verdicts(\n"
    "  message INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,\n"
    "  source TEXT NOT NULL, spam INTEGER NOT NULL, trusted INTEGER NOT NULL,\n"
    "  score TEXT, required TEXT, action TEXT, symbols TEXT);\n"
    "CREATE TABLE sessions(\n"
    "  id INTEGER PRIMARY KEY, host TEXT NOT NULL, pid INTEGER,\n"
    "  program TEXT, complete INTEGER NOT NULL, open INTEGER NOT NULL,\n"
    "  connect INTEGER, disconnect INTEGER, last_seen INTEGER,\n"
    "  client_host TEXT, client_ip TEXT, client_port TEXT,\n"
    "  sasl_method TEXT, sasl_username TEXT,\n"
    "  sasl_failures INTEGER, messages INTEGER, rejects INTEGER,\n"
    "  lost TEXT, counters TEXT, json TEXT NOT NULL, state BLOB);\n"
    "CREATE INDEX sessions_connect ON sessions(connect);\n"
    "CREATE INDEX sessions_client ON sessions(client_ip, connect);\n"
    "CREATE INDEX sessions_sasl ON sessions(sasl_username, connect);\n"
    "CREATE INDEX sessions_open ON sessions(open) WHERE open = 1;\n"
    "CREATE TABLE asm_state(id INTEGER PRIMARY KEY CHECK (id = 1),\n"
    "  state BLOB NOT NULL);\n"
    "CREATE TABLE log_loss(id INTEGER PRIMARY KEY, source TEXT NOT NULL,\n"
    "  ts INTEGER, count INTEGER, text TEXT);\n";

/* version 2: the analyzer's state */
static const char schema_v2[] =
    "CREATE TABLE locks(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  kind TEXT NOT NULL,\n"			/* user | identity */
    "  user TEXT NOT NULL, identity TEXT NOT NULL DEFAULT '',\n"
    "  method TEXT,\n"				/* identification of the identity */
    "  header TEXT,\n"				/* its header, if one */
    "  reason TEXT NOT NULL,\n"		/* spam connections recipients invalid manual */
    "  detail TEXT, since INTEGER NOT NULL, until INTEGER,\n"
    "  automatic INTEGER NOT NULL,\n"
    "  UNIQUE(kind, user, identity, reason));\n"
    "CREATE TABLE unlocks(\n"
    "  kind TEXT NOT NULL, user TEXT NOT NULL, identity TEXT NOT NULL DEFAULT '',\n"
    "  count INTEGER NOT NULL DEFAULT 0,\n"	/* automatic unlocks used */
    "  last_since INTEGER NOT NULL DEFAULT 0,\n" /* the last spam lock began */
    "  PRIMARY KEY(kind, user, identity));\n"
    "CREATE TABLE events(\n"
    "  id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, action TEXT NOT NULL,\n"
    "  kind TEXT, user TEXT, identity TEXT, rule TEXT, detail TEXT);\n"
    "CREATE INDEX events_ts ON events(ts);\n";

/*
 * version 3: what changed since the analyzer last looked (seq: the store's
 * transaction that wrote a row last, counted in meta 'seq'), and the
 * analyzer's own index of the rows its rules count, by user and time
 * (analyzer/aindex.c)
 */
static const char schema_v3[] =
    "ALTER TABLE messages ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;\n"
    "ALTER TABLE sessions ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;\n"
    "CREATE INDEX messages_seq ON messages(seq);\n"
    "CREATE INDEX sessions_seq ON sessions(seq);\n"
    "CREATE TABLE ana_users(id INTEGER PRIMARY KEY, name TEXT NOT NULL "
    "UNIQUE);\n"
    "CREATE TABLE ana_sessions(\n"
    "  session INTEGER PRIMARY KEY, user INTEGER NOT NULL,\n"
    "  t INTEGER NOT NULL);\n"		/* connect, else last seen */
    "CREATE INDEX ana_sessions_user ON ana_sessions(user, t);\n"
    "CREATE INDEX ana_sessions_t ON ana_sessions(t);\n"
    "CREATE TABLE ana_messages(\n"
    "  message INTEGER PRIMARY KEY, user INTEGER NOT NULL,\n"
    "  t INTEGER NOT NULL,\n"			/* first seen */
    "  spam INTEGER NOT NULL DEFAULT 0,\n"	/* a trusted spam verdict */
    "  identity TEXT, method TEXT, header TEXT,\n" /* of spam, if locked so */
    "  rcpt INTEGER NOT NULL DEFAULT 0,\n"	/* its recipients count */
    "  invalid INTEGER NOT NULL DEFAULT 0);\n"	/* 5.1.x bounces, refusals */
    "CREATE INDEX ana_messages_user ON ana_messages(user, t);\n"
    "CREATE INDEX ana_messages_t ON ana_messages(t);\n"
    "CREATE TABLE ana_pending(user TEXT PRIMARY KEY);\n"
    "CREATE TABLE ana_hvalues(\n"		/* identity headers' values */
    "  header TEXT NOT NULL, identity TEXT NOT NULL, value TEXT NOT NULL,\n"
    "  t INTEGER NOT NULL,\n"			/* last logged */
    "  PRIMARY KEY(header, identity, value)) WITHOUT ROWID;\n";

/*
 * version 4: the analyzer's restriction classes (analyzer/idclass.c): which
 * user holds which class of the pool, kept from run to run
 */
static const char schema_v4[] =
    "CREATE TABLE ana_classes(class INTEGER PRIMARY KEY,\n"
    "  user TEXT NOT NULL UNIQUE);\n";

/* version 5: relayguard's own mail (store/outbox.c) */
static const char schema_v5[] =
    "CREATE TABLE outbox(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  kind TEXT NOT NULL,\n"			/* alert arf summary test */
    "  ref TEXT UNIQUE,\n"			/* arf: one report per message */
    "  user TEXT, mail_from TEXT NOT NULL, rcpt TEXT NOT NULL,\n"
    "  subject TEXT NOT NULL, message_id TEXT NOT NULL,\n"
    "  body BLOB NOT NULL,\n"			/* the RFC 5322 bytes, CRLF */
    "  created INTEGER NOT NULL, next_try INTEGER NOT NULL,\n"
    "  attempts INTEGER NOT NULL DEFAULT 0,\n"
    "  status TEXT NOT NULL DEFAULT 'queued',\n" /* queued sent failed */
    "  last_reply TEXT, done INTEGER);\n"
    "CREATE INDEX outbox_due ON outbox(status, next_try);\n"
    "CREATE INDEX outbox_user ON outbox(kind, user, created);\n"
    /* every message an abuse report (or its summary) covered: once, ever */
    "CREATE TABLE mail_reported(ref TEXT PRIMARY KEY, ts INTEGER NOT NULL) "
    "WITHOUT ROWID;\n"
    "INSERT OR REPLACE INTO meta(key, value) SELECT 'mail_seq', "
    "COALESCE(max(seq), 0) FROM messages;\n"
    /* alerts start with the decisions after this upgrade */
    "INSERT OR REPLACE INTO meta(key, value) SELECT 'mail_event', "
    "COALESCE(max(id), 0) FROM events;\n";

/*
 * version 6: the lean schema. A message's record is kept once, as the
 * assembler's blob (rec: for an open message its restorable state, for a
 * finished one the record; its JSON is rebuilt from it); the json column
 * is kept only for the rows written before (NULL since), headers (a JSON
 * copy of the headers table) and state are gone, was_held says that the
 * message was held once. deliveries (read by nothing: the status history
 * is in rec) goes, recipients keeps what the queries read (address,
 * status, dsn; orig_to, relay, delay, response, attempts are in rec), and so do the indexes no query uses: the analyzer reads
 * messages by seq and first_seen, sessions by seq and connect; pruning
 * goes by first_seen; the restore reads open_msgs (and the sessions' open
 * partial index).
 */
static const char schema_v6[] =
    "CREATE TABLE messages6(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  kind TEXT NOT NULL,\n"			/* message | noqueue */
    "  host TEXT NOT NULL, queue_id TEXT,\n"
    "  complete INTEGER NOT NULL, open INTEGER NOT NULL,\n"
    "  first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,\n"
    "  client_host TEXT, client_ip TEXT, client_port TEXT,\n"
    "  sasl_method TEXT, sasl_username TEXT, sender TEXT,\n"
    "  size INTEGER, nrcpt INTEGER, message_id TEXT,\n"
    "  held INTEGER NOT NULL DEFAULT 0, discarded INTEGER NOT NULL DEFAULT 0,\n"
    "  expired INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0,\n"
    "  aborted INTEGER NOT NULL DEFAULT 0, stale INTEGER NOT NULL DEFAULT 0,\n"
    "  bounce_of TEXT, orig_queue_id TEXT, filtered_as TEXT,\n"
    "  reject_stage TEXT, reject_code TEXT, reject_dsn TEXT, reject_text TEXT,\n"
    "  spam INTEGER,\n"				/* trusted verdict says spam */
    "  seq INTEGER NOT NULL DEFAULT 0,\n"
    "  was_held INTEGER NOT NULL DEFAULT 0,\n"	/* held at some time */
    "  rec BLOB,\n"				/* the record (asm_persist.c) */
    "  headers TEXT, json TEXT);\n"		/* rows of schema 5 and before */
    "INSERT INTO messages6(id, kind, host, queue_id, complete, open, "
    "first_seen, last_seen, client_host, client_ip, client_port, sasl_method, "
    "sasl_username, sender, size, nrcpt, message_id, held, discarded, "
    "expired, deleted, aborted, stale, bounce_of, orig_queue_id, filtered_as, "
    "reject_stage, reject_code, reject_dsn, reject_text, spam, seq, was_held, "
    "rec, headers, json) SELECT id, kind, host, queue_id, complete, open, "
    "first_seen, last_seen, client_host, client_ip, client_port, sasl_method, "
    "sasl_username, sender, size, nrcpt, message_id, held, discarded, "
    "expired, deleted, aborted, stale, bounce_of, orig_queue_id, filtered_as, "
    "reject_stage, reject_code, reject_dsn, reject_text, spam, seq, "
    "json_extract(json, '$.held') IS NOT NULL, CASE WHEN open = 1 THEN state "
    "END, headers, json FROM messages;\n"
    "DROP TABLE messages;\n"
    "ALTER TABLE messages6 RENAME TO messages;\n"
    "CREATE INDEX messages_seen ON messages(first_seen);\n"
    "CREATE INDEX messages_seq ON messages(seq);\n"
    /* the open messages' restorable state, narrow: a restart reads
     * this, not the pages of every message; rec is NULL while open */
    "CREATE TABLE open_msgs(id INTEGER PRIMARY KEY, state BLOB NOT NULL);\n"
    "INSERT INTO open_msgs SELECT id, rec FROM messages WHERE open = 1 AND "
    "rec IS NOT NULL;\n"
    "UPDATE messages SET rec = NULL WHERE open = 1;\n"
    "DROP TABLE IF EXISTS deliveries;\n"
    /* what the queries read of a recipient; the rest is in the record */
    "CREATE TABLE recipients6(\n"
    "  message INTEGER NOT NULL, idx INTEGER NOT NULL,\n"
    "  address TEXT NOT NULL, status TEXT, dsn TEXT,\n"
    "  PRIMARY KEY(message, idx)) WITHOUT ROWID;\n"
    "INSERT INTO recipients6 SELECT message, idx, address, status, dsn "
    "FROM recipients;\n"
    "DROP TABLE recipients;\n"
    "ALTER TABLE recipients6 RENAME TO recipients;\n"
    "CREATE TABLE sessions6(\n"
    "  id INTEGER PRIMARY KEY, host TEXT NOT NULL, pid INTEGER,\n"
    "  program TEXT, complete INTEGER NOT NULL, open INTEGER NOT NULL,\n"
    "  connect INTEGER, disconnect INTEGER, last_seen INTEGER,\n"
    "  client_host TEXT, client_ip TEXT, client_port TEXT,\n"
    "  sasl_method TEXT, sasl_username TEXT,\n"
    "  sasl_failures INTEGER, messages INTEGER, rejects INTEGER,\n"
    "  lost TEXT, counters TEXT, seq INTEGER NOT NULL DEFAULT 0,\n"
    "  stale INTEGER NOT NULL DEFAULT 0,\n"
    "  state BLOB,\n"				/* while open: the assembler's */
    "  json TEXT);\n"				/* rows of schema 5 and before */
    "INSERT INTO sessions6(id, host, pid, program, complete, open, connect, "
    "disconnect, last_seen, client_host, client_ip, client_port, sasl_method, "
    "sasl_username, sasl_failures, messages, rejects, lost, counters, seq, "
    "stale, state, json) SELECT id, host, pid, program, complete, open, "
    "connect, disconnect, last_seen, client_host, client_ip, client_port, "
    "sasl_method, sasl_username, sasl_failures, messages, rejects, lost, "
    "counters, seq, json_extract(json, '$.stale') IS NOT NULL, state, json "
    "FROM sessions;\n"
    "DROP TABLE sessions;\n"
    "ALTER TABLE sessions6 RENAME TO sessions;\n"
    "CREATE INDEX sessions_connect ON sessions(connect);\n"
    "CREATE INDEX sessions_seq ON sessions(seq);\n"
    "CREATE INDEX sessions_open ON sessions(open) WHERE open = 1;\n";

/*
 * version 7: a finished message's rec holds only what its columns and
 * child rows do not (asm_persist.c, the lean form: header order, the
 * recipients' orig_to, relay, delay, response, attempts; a relay as its
 * number in relays); its JSON is rebuilt from the row, the children and
 * rec. rg_rec_lean() (store.c)
 * turns a full blob of schema 6 into it; the full form stays readable.
 */
static const char schema_v7[] =
    /* the relays a recipient went to, numbered once (rec holds the id) */
    "CREATE TABLE relays(id INTEGER PRIMARY KEY, name TEXT NOT NULL "
    "UNIQUE);\n"
    "UPDATE messages SET rec = rg_rec_lean(rec) WHERE open = 0 AND "
    "rec IS NOT NULL;\n";

/*
 * version 8: the open messages' keys beside their state (issue 9: start-up
 * independent of open state). A restart reads only the covering index
 * open_msgs_keys, in order of activity, and makes each message a stub
 * keyed by host and queue ID; its state is decoded when a line names it
 * or it expires (collector/asm_persist.c). Rows written before (seq NULL)
 * are decoded at start and rewritten with their keys at the next commit.
 * Touches open_msgs only.
 */
static const char schema_v8[] =
    "ALTER TABLE open_msgs ADD COLUMN seq INTEGER;\n"	/* order of activity */
    "ALTER TABLE open_msgs ADD COLUMN host TEXT;\n"
    "ALTER TABLE open_msgs ADD COLUMN queue_id TEXT;\n"
    "ALTER TABLE open_msgs ADD COLUMN first_seen INTEGER;\n"
    "ALTER TABLE open_msgs ADD COLUMN last_seen INTEGER;\n"
    "ALTER TABLE open_msgs ADD COLUMN ended INTEGER;\n"	/* lingering */
    "ALTER TABLE open_msgs ADD COLUMN message_id TEXT;\n"
    "CREATE INDEX open_msgs_keys ON open_msgs(seq, host, queue_id, "
    "first_seen, last_seen, ended, message_id);\n";

/*
 * version 9: the open messages' state without what their messages rows
 * and child rows (written in the same transaction) hold, and their keys
 * once (issue 9: the database's size). state is the lean open form
 * (collector/asm_persist.c, rg_open_lean(): the full form stays where the
 * rows would not give it back, and is still read); host, queue ID, first
 * and last seen and Message-ID are the messages row's, read by id at
 * start-up; the covering index open_msgs_keys goes.
 */
static const char schema_v9[] =
    "CREATE TABLE open_msgs9(id INTEGER PRIMARY KEY,\n"
    "  seq INTEGER,\n"			/* order of activity; NULL: no key */
    "  ended INTEGER NOT NULL DEFAULT 0,\n"	/* lingering */
    "  state BLOB NOT NULL);\n"
    "INSERT INTO open_msgs9(id, seq, ended, state) SELECT id, seq, "
    "COALESCE(ended, 0), rg_open_lean(id, state) FROM open_msgs;\n"
    "SELECT rg_open_lean(NULL, NULL);\n"
    "DROP TABLE open_msgs;\n"
    "ALTER TABLE open_msgs9 RENAME TO open_msgs;\n";

/*
 * version 10: each relay (or numbered text) carries the seq of a
 * transaction that wrote a row naming it, kept within RELAY_REFRESH
 * (store.c) of the last such one, so that store_prune deletes those no
 * kept row names (the table grew for good before: every next hop's
 * host[address]:port, every reply text seen twice). What is there now is
 * taken as named by the last transaction.
 */
static const char schema_v10[] =
    "ALTER TABLE relays ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;\n"
    "UPDATE relays SET seq = COALESCE((SELECT CAST(value AS INTEGER) FROM "
    "meta WHERE key = 'seq'), 0);\n";

const db_migration store_migrations[] = {
	{ 1, schema_v1 },
	{ 2, schema_v2 },
	{ 3, schema_v3 },
	{ 4, schema_v4 },
	{ 5, schema_v5 },
	{ 6, schema_v6 },
	{ 7, schema_v7 },
	{ 8, schema_v8 },
	{ 9, schema_v9 },
	{ 10, schema_v10 },
};

const int store_nmigrations =
    (int)(sizeof(store_migrations) / sizeof(store_migrations[0]));
