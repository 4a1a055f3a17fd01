/*
 * collect.c - the exactly-once collect engine (collect.h): the sources
 * merged by time into the parser, each batch's records, open state and
 * positions into the store in one transaction.
 *
 * With two threads (col_threads, `collect --once`) the sources are read
 * and parsed by a thread of their own (col_front.c), and col_step takes
 * that thread's batches whole: the commits fall between them, with the
 * positions after the last one taken.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../common/rgtime.h"
#include "../common/xalloc.h"
#include "col_int.h"
#include "collect.h"
#include "merge.h"
#include "parser.h"
#include "source.h"

/* on_message - a finished record: into the batch */
static void
on_message(void *arg, const rg_record *r)
{
	rg_collect *c = arg;

	if (store_put_message(c->st, r, NULL, 0) != 0)
		c->failed_store = 1;
}

/* on_session - a finished session: into the batch */
static void
on_session(void *arg, const rg_session *s)
{
	rg_collect *c = arg;

	if (store_put_session(c->st, s, NULL, 0) != 0)
		c->failed_store = 1;
}

/* on_evicted - an open message is a stub: the store forgets what it
 * kept of it */
static void
on_evicted(void *arg, uint64_t id)
{
	rg_collect *c = arg;

	store_forget_open(c->st, id);
}

/* on_stale - the sweep dropped a stub: the store ends it */
static void
on_stale(void *arg, uint64_t id)
{
	rg_collect *c = arg;

	if (store_finish_stale(c->st, id) != 0)
		c->failed_store = 1;
}

/* save_message - an open record's state and key: into the batch */
static void
save_message(void *arg, const rg_record *r, const rb_key *key,
    const void *state, size_t len)
{
	rg_collect *c = arg;

	if (store_put_message(c->st, r, state, len) != 0
	    || store_put_open(c->st, key, state, len) != 0)
		c->failed_store = 1;
}

/* col_take_positions - where every input is now, as col_commit stores it */
void
col_take_positions(const rg_collect *c, at_pos *at)
{
	int i;

	for (i = 0; i < c->nin; i++) {
		const input *in = &c->in[i];

		at[i].open = in->src != NULL;
		if (!at[i].open)
			continue;
		at[i].pos = in->pos;
		at[i].pos.year = in->year;
		at[i].pos.last_month = in->last_month;
	}
}

/*
 * moved - has another writer moved a source's position since this run
 * read it (the positions the batch expects: col_begin)? Says so and
 * returns 1; 0 if not, -1 error.
 */
static int
moved(rg_collect *c)
{
	int r = store_recheck(c->st);

	if (r == 1)
		log_warnx("database: %s", store_error(c->st));
	return r;
}

/* expect_positions - the batch commits only if no other writer moved a
 * position since this run stored it (checked by the store inside the
 * batch's transaction, before the batch's own positions) */
static int
expect_positions(rg_collect *c)
{
	char msg[1024];
	int i;

	for (i = 0; i < c->nin; i++) {
		input *in = &c->in[i];

		snprintf(msg, sizeof(msg), "the read position of [source %s] "
		    "is no longer the one this run started from: another "
		    "collector wrote %s; batch not committed", in->sc->name,
		    c->cfg->database);
		if (store_expect_source(c->st, in->sc->name, in->stored_found,
		    &in->stored, msg) != 0)
			return -1;
	}
	return 0;
}

/*
 * load_failed - a message restored from its key could not be decoded when
 * a line named it: COL_DATAERR (damaged) or COL_TEMPFAIL (warned), and the
 * batch must not be committed; COL_OK if all is well. Another writer
 * (without the lock) that finished the message is the likelier cause.
 */
static enum col_status
load_failed(rg_collect *c)
{
	uint64_t id;
	int why = asm_load_failed(prs_assembler(c->p), &id);

	if (why == 0)
		return COL_OK;
	if (moved(c) == 1)
		return COL_TEMPFAIL;
	if (why == 2) {
		log_warnx("%s: damaged message state in the database (open "
		    "message %llu); batch not committed", c->cfg->database,
		    (unsigned long long)id);
		return COL_DATAERR;
	}
	log_warnx("%s: %s; batch not committed", c->cfg->database,
	    store_error(c->st));
	return COL_TEMPFAIL;
}

/* save_session - an open session's state */
static void
save_session(void *arg, const rg_session *s, const void *state, size_t len)
{
	rg_collect *c = arg;

	if (store_put_session(c->st, s, state, len) != 0)
		c->failed_store = 1;
}

/* save_global - the assembler's global state */
static void
save_global(void *arg, const void *state, size_t len)
{
	rg_collect *c = arg;

	if (store_put_global(c->st, state, len) != 0)
		c->failed_store = 1;
}

/* on_loss - journald dropped lines before they reached us */
static void
on_loss(void *arg, const char *source, long long count, long long ts,
    const char *text)
{
	rg_collect *c = arg;

	log_warnx("[source %s] the journal suppressed %lld messages: the "
	    "window around %lld is incomplete", source, count, ts / 1000000);
	if (store_log_loss(c->st, source, count, ts, text) != 0)
		c->failed_store = 1;
}

/*
 * col_use_zone - switch the process zone to an input's, if it differs.
 * Asked twice a line: the pointer the zone was last asked by answers
 * without comparing the strings (open_input forgets it: a configuration
 * read again may put another zone at the same address).
 */
void
col_use_zone(rg_collect *c, const char *zone)
{
	if (c->zone_known && zone != NULL && zone == c->zone_asked)
		return;
	c->zone_asked = zone;
	if (zone != NULL && *zone == '\0')
		zone = NULL;
	if (c->zone_known && (zone == NULL ? c->cur_zone == NULL
	    : c->cur_zone != NULL && strcmp(zone, c->cur_zone) == 0))
		return;
	if (zone != NULL)
		rgt_set_zone(zone);
	else
		unsetenv("TZ"), tzset();
	free(c->cur_zone);
	c->cur_zone = zone ? xstrdup(zone) : NULL;
	c->zone_known = 1;
}

/* col_advance - read an input's next line with a known header */
int
col_advance(rg_collect *c, input *in)
{
	const char *line;
	size_t len;
	int r;

	in->h.have = 0;
	if (in->src == NULL)
		return 0;
	for (;;) {
		/* where to start again if this line is not processed */
		src_position(in->src, &in->pos);
		in->year = in->ctx.year;
		in->last_month = in->ctx.last_month;
		if ((r = src_next(in->src, &line, &len)) != 1)
			break;
		col_use_zone(c, in->zone);
		if (ll_parse(&in->ctx, line, len, &in->h.ll) == 0) {
			in->h.have = 1;
			in->line = line;
			in->len = len;
			return 0;
		}
		if (c->fe_state == FE_RUNNING)
			prs_count_malformed(&c->fe);
		else
			prs_malformed(c->p);
	}
	if (r == 0) {
		/* nothing held back: the position after everything read */
		src_position(in->src, &in->pos);
	}
	if (r < 0) {
		log_warnx("[source %s] %s", in->sc->name, src_error(in->src));
		in->failed = 1;
		src_close(in->src);
		in->src = NULL;
		return -1;
	}
	return 0;
}

/* read_positions - every configured source's saved position */
static int
read_positions(rg_collect *c)
{
	int i, r;

	c->nin = c->cfg->nsources;
	c->in = xcalloc((size_t)c->nin, sizeof(input));
	c->at = xcalloc((size_t)c->nin, sizeof(at_pos));
	for (i = 0; i < c->nin; i++) {
		input *in = &c->in[i];

		in->sc = &c->cfg->sources[i];
		if ((r = store_get_source(c->st, in->sc->name, &in->stored)) < 0) {
			log_warnx("%s", store_error(c->st));
			return -1;
		}
		in->stored_found = r == 0;
	}
	return 0;
}

/*
 * note_source - remember whether a source could be opened. A source that
 * cannot be (a missing rspamd log, a permission) is not a reason to stop
 * collecting the others, nor analyzing; but it must not go unnoticed: the
 * first run that finds it so records it in log_loss (count 0, the reason
 * as text), which the next analyze turns into one alert (action=alert
 * kind=source rule=source_unreadable), mailed to admin_contact. The state
 * is kept in the store (store_source_unreadable), so a source that stays
 * unreadable alerts once, and again after it was readable in between.
 */
static void
note_source(rg_collect *c, const char *name, const char *why)
{
	/* only collectors write the mark, and this one holds their lock */
	if ((why != NULL) == store_source_unreadable(c->st, name))
		return;
	if (store_begin(c->st) != 0) {
		log_warnx("%s", store_error(c->st));
		return;
	}
	if ((why != NULL && store_log_loss(c->st, name, 0, rgt_now(), why)
	    != 0) || store_set_source_unreadable(c->st, name, why != NULL) != 0
	    || store_commit(c->st) != 0) {
		log_warnx("[source %s] noting that it %s: %s", name, why
		    ? "cannot be read" : "is readable again",
		    store_error(c->st));
		store_rollback(c->st);
	}
}

/*
 * open_input - one source at its saved position: 0, or -1 if it cannot be
 * opened (warned and noted) or its first read failed
 */
static int
open_input(rg_collect *c, input *in)
{
	src_pos pos = in->stored;
	char err[2048];
	long long year;

	in->zone = *in->sc->timezone ? in->sc->timezone : c->cfg->timezone;
	c->zone_asked = NULL;
	in->src = src_open(in->sc, &pos, (size_t)c->cfg->max_line_length, err,
	    sizeof(err));
	if (in->src == NULL) {
		/* the others go on: a warning, and an alert once */
		log_warnx("%s; the other sources are read", err);
		in->failed = 2;		/* never opened: may be tried again */
		note_source(c, in->sc->name, err);
		return -1;
	}
	in->failed = 0;
	note_source(c, in->sc->name, NULL);
	src_set_loss_fn(in->src, on_loss, c);
	year = in->sc->year ? in->sc->year : c->cfg->year;
	ll_init(&in->ctx, (int)year, src_mtime(in->src));
	if (pos.year > 0) {
		in->ctx.year = pos.year;
		in->ctx.last_month = pos.last_month;
	}
	in->year = in->ctx.year;
	in->last_month = in->ctx.last_month;
	return col_advance(c, in) != 0 ? -1 : 0;
}

/*
 * open_inputs - every configured source at its saved position; 1 if a read
 * failed (a source that cannot be opened at all is only warned about)
 */
static int
open_inputs(rg_collect *c)
{
	int i, failed = 0;

	for (i = 0; i < c->nin; i++)
		if (open_input(c, &c->in[i]) != 0 && c->in[i].src != NULL)
			failed = 1;
	return failed;
}

/* col_new - an engine for cfg's sources into st (nothing read yet) */
rg_collect *
col_new(const rg_config *cfg, rg_store *st)
{
	rg_collect *c = xcalloc(1, sizeof(*c));
	asm_options ao;
	asm_callbacks cb;

	c->cfg = cfg;
	c->st = st;
	store_cache(st, 4096);	/* enough for appending (store.c) */
	store_checkpoint_apart(st);
	memset(&ao, 0, sizeof(ao));
	ao.max_message_age = cfg->max_message_age;
	ao.max_session_age = cfg->max_session_age;
	ao.spamd_window = cfg->spamd_window;
	ao.default_host = cfg->hostname;
	ao.headers = cfg->headers.v;
	ao.nheaders = cfg->headers.n;
	ao.persist = 1;
	memset(&cb, 0, sizeof(cb));
	cb.message = on_message;
	cb.session = on_session;
	cb.evicted = on_evicted;
	cb.stale = on_stale;
	cb.arg = c;
	c->p = prs_new(&ao, &cb);
	return c;
}

/* The assembler as store_restore's store_restore_ops, and its loader */

/* restore_global - store_restore_ops.global: asm_restore_global */
static int
restore_global(void *arg, const void *state, size_t len)
{
	return asm_restore_global(arg, state, len);
}

/* restore_session - store_restore_ops.session: asm_restore_session */
static int
restore_session(void *arg, const void *state, size_t len)
{
	return asm_restore_session(arg, state, len);
}

/* restore_key - store_restore_ops.key: asm_restore_key */
static int
restore_key(void *arg, const rb_key *key)
{
	return asm_restore_key(arg, key);
}

/* restore_message - store_restore_ops.message: asm_restore_message */
static int
restore_message(void *arg, const void *state, size_t len, int rewrite)
{
	return asm_restore_message(arg, state, len, rewrite);
}

/* load_open - the assembler's loader (asm_loader): store_load_open */
static int
load_open(void *arg, uint64_t id, strbuf *out)
{
	return store_load_open(arg, id, out);
}

/*
 * col_start - the open state and the positions from one snapshot (read
 * apart, a commit in between would pair one batch's state with the next
 * batch's positions), then every source opened at its position
 */
enum col_status
col_start(rg_collect *c)
{
	assembler *a = prs_assembler(c->p);
	store_restore_ops ops;
	int rc;

	if (store_read_begin(c->st) != 0) {
		log_warnx("%s: %s", c->cfg->database, store_error(c->st));
		return COL_TEMPFAIL;
	}
	/* the keys are read once: a small page cache recycles its pages
	 * instead of faulting in new ones for each (a few ms per 10,000) */
	store_cache(c->st, 256);
	ops.global = restore_global;
	ops.session = restore_session;
	ops.key = restore_key;
	ops.message = restore_message;
	ops.arg = a;
	rc = store_restore(c->st, &ops);
	store_cache(c->st, 4096);
	if (rc != 0) {
		log_warnx("%s: %s", c->cfg->database, store_error(c->st));
		store_rollback(c->st);
		return COL_DATAERR;
	}
	asm_set_loader(a, load_open, c->st);
	asm_restore_done(a);
	log_phase("restore");
	rc = read_positions(c);
	store_rollback(c->st);	/* end the read snapshot */
	if (rc != 0)
		return COL_TEMPFAIL;
	rc = open_inputs(c);
	log_phase("sources opened, first line read");
	return rc != 0 ? COL_IOERR : COL_OK;
}

/* col_left - bytes left to read in the sources, as far as known */
long long
col_left(const rg_collect *c)
{
	long long left = 0, r;
	int i;

	for (i = 0; i < c->nin; i++)
		if (c->in[i].src && (r = src_remaining(c->in[i].src)) > 0)
			left += r;
	return left;
}

/*
 * col_begin - a transaction only while there is something to store: an idle
 * collector holds no lock
 */
int
col_begin(rg_collect *c)
{
	if (c->in_txn)
		return 0;
	if (store_begin(c->st) != 0 || expect_positions(c) != 0) {
		log_warnx("%s", store_error(c->st));
		return -1;
	}
	c->in_txn = 1;
	return 0;
}

/* col_stored - after a line: 0, or -1 and *io if the batch cannot go on */
int
col_stored(rg_collect *c, enum col_status *io)
{
	if ((*io = load_failed(c)) != COL_OK)
		return -1;
	if (c->failed_store) {
		/* a failed write rolled the transaction back (the store
		 * does, so that nothing after it commits). Another writer
		 * that stored these lines (their rows clash with ours) is
		 * the likelier cause: the store's check of the positions
		 * then names it. */
		log_warnx("database: %s", store_error(c->st));
		*io = COL_TEMPFAIL;
		return -1;
	}
	return 0;
}

/* col_step - the earliest pending line (or batch of them) into the batch */
int
col_step(rg_collect *c, enum col_status *io)
{
	int best;
	input *in;

	if (c->fe_state == FE_NONE) {
		if (col_fe_start(c))
			return col_fe_step(c, io);
		c->fe_state = FE_ONE;
		log_debug(c->writer ? "collect: the front end in the calling "
		    "thread" : "collect: one thread");
	}
	if (c->fe_state == FE_RUNNING)
		return col_fe_step(c, io);
	if ((best = mrg_best(c->in, sizeof(input), c->nin)) < 0)
		return 0;
	in = &c->in[best];
	if (col_begin(c) != 0)
		return -1;
	col_use_zone(c, in->zone);
	prs_line(c->p, &in->h.ll);
	if (col_stored(c, io) != 0)
		return -1;
	c->lines++;
	c->batch_lines++;
	if (col_advance(c, in) != 0)
		*io = COL_IOERR;
	return 1;
}

/*
 * col_threads - how many threads a run may use: 1 (or 0, col_new's) one;
 * 2 the store's statements in a writer thread; 3 the reading and parsing
 * of the sources in a third
 */
void
col_threads(rg_collect *c, int n)
{
	c->threads = n;
}

/* col_in_batch - a transaction is open */
int
col_in_batch(const rg_collect *c)
{
	return c->in_txn;
}

/* col_commit - the batch's open state and positions, then COMMIT */
enum col_status
col_commit(rg_collect *c)
{
	asm_store_ops ops = { save_message, save_session, save_global, c,
	    store_intern_relay, store_intern_text, c->st };
	enum col_status st;
	int i;

	if (!c->in_txn)
		return COL_OK;
	c->in_txn = 0;
	c->batch_lines = 0;
	asm_checkpoint(prs_assembler(c->p), &ops);
	if ((st = load_failed(c)) != COL_OK) {
		store_rollback(c->st);
		return st;
	}
	/* what this batch read follows what we started from: if another
	 * writer moved a position, it stored these lines (with the store's
	 * writer thread, a failure shows at a later commit) */
	if (c->fe_state != FE_RUNNING)
		col_take_positions(c, c->at);
	if (store_check_sources(c->st) != 0) {
		log_warnx("database: %s", store_error(c->st));
		store_rollback(c->st);
		return COL_TEMPFAIL;
	}
	for (i = 0; i < c->nin; i++) {
		input *in = &c->in[i];
		src_pos pos;

		if (!c->at[i].open)
			continue;
		pos = c->at[i].pos;
		if (store_put_source(c->st, in->sc->name, in->sc->type, &pos)
		    != 0)
			c->failed_store = 1;
		in->stored = pos;
		in->stored_found = 1;
	}
	if (c->failed_store) {
		log_warnx("database: %s", store_error(c->st));
		store_rollback(c->st);
		return COL_TEMPFAIL;
	}
	if (store_commit(c->st) != 0) {
		/* the rows waiting in the store go at the commit: a clash
		 * with another writer's shows here (the store's check of the
		 * positions names it) */
		log_warnx("database: %s", store_error(c->st));
		store_rollback(c->st);
		return COL_TEMPFAIL;
	}
	return COL_OK;
}

/*
 * col_finish - every batch committed so far written (the store's writer
 * thread stopped): COL_OK, or COL_TEMPFAIL (warned) if one failed
 */
enum col_status
col_finish(rg_collect *c)
{
	char stats[256];
	size_t evicted, loaded, stale;

	if (!c->writer)
		return COL_OK;
	asm_evictions(prs_assembler(c->p), &evicted, &loaded, &stale);
	log_debug("collect: open messages evicted to the store %zu times, "
	    "loaded from it %zu times, ended there as stale %zu times",
	    evicted, loaded, stale);
	c->writer = 0;
	if (store_writer_stop(c->st, stats, sizeof(stats)) != 0) {
		log_warnx("database: %s", store_error(c->st));
		store_rollback(c->st);
		return COL_TEMPFAIL;
	}
	log_debug("collect: the store's writer thread: %s", stats);
	return COL_OK;
}

/* col_rollback - abandon the batch */
void
col_rollback(rg_collect *c)
{
	if (c->in_txn)
		store_rollback(c->st);
	c->in_txn = 0;
}

/* col_poll - look again at the sources that had nothing to read */
void
col_poll(rg_collect *c)
{
	long long now = rgt_now();
	int i;

	if (c->fe_state == FE_RUNNING)
		return;		/* the sources are the front end's */
	/* a source that could not be opened: try again every 10 s (outside
	 * a batch: positions stay consistent) */
	if (!c->in_txn && now - c->last_retry >= 10 * 1000000LL) {
		c->last_retry = now;
		for (i = 0; i < c->nin; i++)
			if (c->in[i].src == NULL && c->in[i].failed == 2)
				open_input(c, &c->in[i]);
	}
	for (i = 0; i < c->nin; i++)
		if (!c->in[i].h.have && c->in[i].src)
			col_advance(c, &c->in[i]);
}

/* col_lines - lines processed by this engine */
long long
col_lines(const rg_collect *c)
{
	return c->lines;
}

/* col_batch_lines - lines in the open batch */
long long
col_batch_lines(const rg_collect *c)
{
	return c->batch_lines;
}

/* col_remaining - bytes left to read in the sources, as far as known */
long long
col_remaining(const rg_collect *c)
{
	if (c->fe_state == FE_RUNNING)
		return c->remaining;	/* the sources are the front end's */
	return col_left(c);
}

/* col_open_messages - open messages in the assembler */
size_t
col_open_messages(const rg_collect *c)
{
	return prs_open_messages(c->p);
}

/* col_free - release the sources and the parser; NULL is a no-op */
void
col_free(rg_collect *c)
{
	int i;

	if (c == NULL)
		return;
	col_fe_join(c);
	col_rollback(c);
	col_finish(c);
	for (i = 0; i < c->nin; i++)
		src_close(c->in[i].src);
	free(c->in);
	free(c->at);
	prs_free(c->p);
	free(c->cur_zone);
	free(c);
}
