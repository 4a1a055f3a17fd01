/*
 * collect_cmd.c - `relayguard collect`: the configured sources into the
 * database, exactly once.
 *
 * A batch is one transaction: the records finished in it, the assembler's
 * open state as it is at the end of it, and the read position of every
 * source just after the last line processed (never after a line read
 * ahead for the merge by time). A crash anywhere rolls back to the last
 * batch, and the next run reads on from exactly there with the same open
 * state.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../analyzer/mapowner.h"
#include "../collector/parser.h"
#include "../collector/source.h"
#include "../collector/store.h"
#include "../common/log.h"
#include "../common/notify.h"
#include "../common/rgtime.h"
#include "../common/xalloc.h"
#include "cli.h"

typedef struct input {
	const rg_source_cfg *sc;
	rg_source *src;
	ll_ctx ctx;
	logline ll;
	int have;		/* ll holds the next line (not processed yet) */
	src_pos pos;		/* the position before that line */
	int year, last_month;	/* the year state before that line */
	const char *zone;	/* zone of zone-less stamps */
	int failed;
	src_pos stored;		/* the position in the database, as we left it */
	int stored_found;	/* ... if it was there at all */
} input;

typedef struct collector {
	rg_config *cfg;
	rg_store *st;
	rg_parser *p;
	input *in;
	int nin;
	int failed_store;
	long long lines, batch_lines;
	char *cur_zone;		/* a copy: the configuration may be reread */
	int zone_known;		/* cur_zone is the process's zone */
} collector;

static volatile sig_atomic_t got_term, got_hup;

/* on_signal - note TERM/INT/HUP; the loop acts between batches */
static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else
		got_term = 1;
}

/* on_message - a finished record: into the batch */
static void
on_message(void *arg, const rg_record *r)
{
	collector *c = arg;

	if (store_put_message(c->st, r, NULL, 0) != 0)
		c->failed_store = 1;
}

/* on_session - a finished session: into the batch */
static void
on_session(void *arg, const rg_session *s)
{
	collector *c = arg;

	if (store_put_session(c->st, s, NULL, 0) != 0)
		c->failed_store = 1;
}

/* save_message - an open record's state: into the batch */
static void
save_message(void *arg, const rg_record *r, const void *state, size_t len)
{
	collector *c = arg;

	if (store_put_message(c->st, r, state, len) != 0)
		c->failed_store = 1;
}

/* save_session - an open session's state */
static void
save_session(void *arg, const rg_session *s, const void *state, size_t len)
{
	collector *c = arg;

	if (store_put_session(c->st, s, state, len) != 0)
		c->failed_store = 1;
}

/* save_global - the assembler's global state */
static void
save_global(void *arg, const void *state, size_t len)
{
	collector *c = arg;

	if (store_put_global(c->st, state, len) != 0)
		c->failed_store = 1;
}

/* on_loss - journald dropped lines before they reached us */
static void
on_loss(void *arg, const char *source, long long count, long long ts,
    const char *text)
{
	collector *c = arg;

	log_warnx("[source %s] the journal suppressed %lld messages: the "
	    "window around %lld is incomplete", source, count, ts / 1000000);
	if (store_log_loss(c->st, source, count, ts, text) != 0)
		c->failed_store = 1;
}

/* use_zone - switch the process zone to an input's, if it differs */
static void
use_zone(collector *c, const char *zone)
{
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

/* advance - read an input's next line with a known header */
static int
advance(collector *c, input *in)
{
	const char *line;
	size_t len;
	int r;

	in->have = 0;
	if (in->src == NULL)
		return 0;
	for (;;) {
		/* where to start again if this line is not processed */
		src_position(in->src, &in->pos);
		in->year = in->ctx.year;
		in->last_month = in->ctx.last_month;
		if ((r = src_next(in->src, &line, &len)) != 1)
			break;
		use_zone(c, in->zone);
		if (ll_parse(&in->ctx, line, len, &in->ll) == 0) {
			in->have = 1;
			return 0;
		}
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
read_positions(collector *c)
{
	int i, r;

	c->nin = c->cfg->nsources;
	c->in = xcalloc((size_t)c->nin, sizeof(input));
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

/* open_inputs - every configured source at its saved position */
static int
open_inputs(collector *c)
{
	int i, failed = 0;
	char err[2048];

	for (i = 0; i < c->nin; i++) {
		input *in = &c->in[i];
		src_pos pos = in->stored;
		long long year;

		in->zone = *in->sc->timezone ? in->sc->timezone
		    : c->cfg->timezone;
		in->src = src_open(in->sc, &pos, (size_t)c->cfg->max_line_length,
		    err, sizeof(err));
		if (in->src == NULL) {
			/* the others go on */
			log_warnx("%s", err);
			in->failed = 1;
			failed = 1;
			continue;
		}
		src_set_loss_fn(in->src, on_loss, c);
		year = in->sc->year ? in->sc->year : c->cfg->year;
		ll_init(&in->ctx, (int)year, src_mtime(in->src));
		if (pos.year > 0) {
			in->ctx.year = pos.year;
			in->ctx.last_month = pos.last_month;
		}
		in->year = in->ctx.year;
		in->last_month = in->ctx.last_month;
		if (advance(c, in) != 0)
			failed = 1;
	}
	return failed;
}

/* close_inputs - release the sources */
static void
close_inputs(collector *c)
{
	int i;

	for (i = 0; i < c->nin; i++)
		src_close(c->in[i].src);
	free(c->in);
	c->in = NULL;
	c->nin = 0;
}

/* commit_batch - the batch's open state and positions, then COMMIT */
static int
commit_batch(collector *c)
{
	asm_store_ops ops = { save_message, save_session, save_global, c };
	int i, same;

	asm_checkpoint(prs_assembler(c->p), &ops);
	for (i = 0; i < c->nin; i++) {
		input *in = &c->in[i];
		src_pos pos;

		if (in->src == NULL)
			continue;
		pos = in->pos;
		pos.year = in->year;
		pos.last_month = in->last_month;
		/* what this batch read follows what we started from: if
		 * another writer moved the position, it stored these lines */
		if ((same = store_same_source(c->st, in->sc->name,
		    in->stored_found, &in->stored)) == 0) {
			log_warnx("database: the read position of [source %s] "
			    "is no longer the one this run started from: another "
			    "collector wrote %s; batch not committed", in->sc->name,
			    c->cfg->database);
			store_rollback(c->st);
			return -2;
		}
		if (same < 0 || store_put_source(c->st, in->sc->name,
		    in->sc->type, &pos) != 0)
			c->failed_store = 1;
		in->stored = pos;
		in->stored_found = 1;
	}
	if (c->failed_store) {
		log_warnx("database: %s", store_error(c->st));
		store_rollback(c->st);
		return -1;
	}
	if (store_commit(c->st) != 0) {
		log_warnx("database: %s", store_error(c->st));
		store_rollback(c->st);
		return -1;
	}
	return 0;
}

/* progress - a one-line progress bar on a terminal */
static void
progress(collector *c, long long start, long long total0, int done)
{
	long long left = 0, el = rgt_now() - start;
	double rate = el > 0 ? c->lines * 1e6 / (double)el : 0;
	int i, w = 30, fill;

	for (i = 0; i < c->nin; i++) {
		long long r = c->in[i].src ? src_remaining(c->in[i].src) : 0;

		if (r > 0)
			left += r;
	}
	fill = total0 > 0 ? (int)((double)(total0 - left) / (double)total0 * w)
	    : w;
	if (fill < 0)
		fill = 0;
	if (fill > w)
		fill = w;
	fprintf(stderr, "\r[%.*s%*s] %lld lines, %.0f lines/s, %lld MiB left",
	    fill, "##############################", w - fill, "", c->lines,
	    rate, left >> 20);
	if (rate > 0 && total0 > 0 && c->lines > 0 && !done) {
		double bpl = (double)(total0 - left) / (double)c->lines;

		if (bpl > 0)
			fprintf(stderr, ", %.0f s to go", left / bpl / rate);
	}
	fprintf(stderr, "\033[K%s", done ? "\n" : "");
}

/* collect_usage - the command's help */
static void
collect_usage(FILE *out)
{
	fprintf(out,
	    "usage: relayguard [-c CONFIG] collect --once | --follow "
	    "[--quiet] [--analyze]\n"
	    "                  [--wait DURATION]\n\n"
	    "Reads every [source NAME] of the configuration from its saved "
	    "position and\nstores one record per message in the database "
	    "([global] database),\nexactly once: a crash or kill at any moment "
	    "loses nothing and counts nothing\ntwice.\n\n"
	    "  --once     read to the end of every source, commit, exit (for a "
	    "timer or cron)\n"
	    "  --follow   keep reading as the logs grow; commit every [collect] "
	    "batch_lines\n"
	    "             lines or batch_interval; SIGTERM/SIGINT commit and "
	    "exit; SIGHUP\n"
	    "             rereads the configuration and reopens the sources\n"
	    "  --quiet    no progress bar\n"
	    "  --analyze  run the analyzer after every committed batch "
	    "(--follow) or at\n"
	    "             the end (--once): lower latency than a timer\n"
	    "  --wait D   if another collector is writing the database, wait "
	    "up to D for it\n"
	    "             (default: stop at once); then exit 75 without "
	    "reading\n");
}

/* ensure_dir - create the database's directory if it is missing */
static void
ensure_dir(const char *file)
{
	char *d = xstrdup(file), *slash = strrchr(d, '/');

	if (slash != NULL && slash != d) {
		*slash = '\0';
		if (access(d, F_OK) != 0)
			mkdir(d, 0750);
	}
	free(d);
}

/*
 * collect_lock - one collector per database: an exclusive flock on
 * DATABASE.lock, waited for at most wait seconds (0: one try). The
 * descriptor (kept open for the run: the kernel drops the lock when the
 * process ends, however it ends), -1 on error, -2 if another holds it.
 */
static int
collect_lock(const char *database, long long wait)
{
	char path[1100];
	long long deadline = rgt_now() + wait * 1000000LL, nap = 10000;
	int fd;

	snprintf(path, sizeof(path), "%s.lock", database);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) < 0) {
		log_warn("collect: %s", path);
		return -1;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			log_warn("collect: %s: flock", path);
			close(fd);
			return -1;
		}
		if (rgt_now() >= deadline) {
			log_warnx("collect: another collector is writing %s (it "
			    "holds %s)%s; this one stops without reading", database,
			    path, wait > 0 ? ", waited --wait" : "");
			close(fd);
			return -2;
		}
		usleep((useconds_t)nap);
		if (nap < 200000)
			nap *= 2;
	}
	return fd;
}

/* cmd_collect - the collect command */
int
cmd_collect(const cli_ctx *cx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "once", no_argument, NULL, 'o' },
		{ "follow", no_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "analyze", no_argument, NULL, 'a' },
		{ "wait", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	collector c;
	asm_options ao;
	asm_callbacks cb;
	struct sigaction sa;
	char err[1024];
	int ch, rc, once = 0, follow = 0, quiet = 0, i, status = EX_OK_;
	long long batch_start, start, total0 = 0, last_prog = 0, last_stats,
	    stats_lines = 0;
	int tty, in_txn = 0, analyze = 0, lockfd = -1;
	long long wait = 0;
	rul_policy *pol = NULL;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'o': once = 1; break;
		case 'f': follow = 1; break;
		case 'q': quiet = 1; break;
		case 'a': analyze = 1; break;
		case 'w':
			if (rgt_parse_duration(optarg, &wait) != 0 || wait < 0
			    || wait > 86400) {
				log_warnx("collect: --wait: '%s' is not a duration "
				    "up to 1d", optarg);
				return EX_USAGE_;
			}
			break;
		case 'h': collect_usage(stdout); return EX_OK_;
		default: collect_usage(stderr); return EX_USAGE_;
		}
	}
	if (once == follow || optind < argc) {
		collect_usage(stderr);
		return EX_USAGE_;
	}
	memset(&c, 0, sizeof(c));
	if ((c.cfg = cli_load_config(cx, &rc)) == NULL)
		return rc;
	if (c.cfg->nsources == 0) {
		log_warnx("collect: %s has no [source NAME] section",
		    c.cfg->file ? c.cfg->file : "the configuration");
		cfg_free(c.cfg);
		return EX_CONFIG_;
	}
	if (analyze && (pol = rul_new(c.cfg, err, sizeof(err))) == NULL) {
		log_warnx("%s", err);
		cfg_free(c.cfg);
		return EX_CONFIG_;
	}
	if (analyze)
		cli_policy_fold(c.cfg, pol);
	ensure_dir(c.cfg->database);
	if ((lockfd = collect_lock(c.cfg->database, wait)) < 0) {
		rul_free(pol);
		cfg_free(c.cfg);
		return lockfd == -2 ? EX_TEMPFAIL_ : EX_CANTCREAT_;
	}
	if ((c.st = store_open(c.cfg->database, STORE_CREATE, err,
	    sizeof(err))) == NULL) {
		log_warnx("%s", err);
		rul_free(pol);
		cfg_free(c.cfg);
		close(lockfd);
		return EX_UNAVAILABLE_;
	}
	store_set_config(c.st, c.cfg);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

reload:
	memset(&ao, 0, sizeof(ao));
	ao.max_message_age = c.cfg->max_message_age;
	ao.max_session_age = c.cfg->max_session_age;
	ao.spamd_window = c.cfg->spamd_window;
	ao.default_host = c.cfg->hostname;
	ao.headers = c.cfg->headers.v;
	ao.nheaders = c.cfg->headers.n;
	ao.persist = 1;
	cb.message = on_message;
	cb.session = on_session;
	cb.arg = &c;
	c.p = prs_new(&ao, &cb);
	/* the open state and the positions from one snapshot: read apart, a
	 * commit in between would pair one batch's state with the next
	 * batch's positions */
	if (store_read_begin(c.st) != 0) {
		log_warnx("%s: %s", c.cfg->database, store_error(c.st));
		status = EX_TEMPFAIL_;
		goto out;
	}
	if (store_restore(c.st, prs_assembler(c.p)) != 0) {
		log_warnx("%s: %s", c.cfg->database, store_error(c.st));
		store_rollback(c.st);
		status = EX_DATAERR_;
		goto out;
	}
	rc = read_positions(&c);
	store_rollback(c.st);	/* end the read snapshot */
	if (rc != 0) {
		status = EX_TEMPFAIL_;
		goto out;
	}
	if (open_inputs(&c) != 0)
		status = EX_IOERR_;
	if (follow)
		rg_notify_ready("following the sources");
	tty = isatty(STDERR_FILENO) && once && !quiet;
	for (i = 0; i < c.nin; i++)
		if (c.in[i].src && src_remaining(c.in[i].src) > 0)
			total0 += src_remaining(c.in[i].src);
	start = batch_start = last_stats = rgt_now();
	in_txn = 0;
	for (;;) {
		int best = -1;
		long long now;

		for (i = 0; i < c.nin; i++)
			if (c.in[i].have && (best < 0
			    || c.in[i].ll.ts < c.in[best].ll.ts))
				best = i;
		now = rgt_now();
		if (best >= 0) {
			input *in = &c.in[best];

			/* a transaction only while there is something to store:
			 * an idle collector holds no lock */
			if (!in_txn) {
				if (store_begin(c.st) != 0) {
					log_warnx("%s", store_error(c.st));
					status = EX_TEMPFAIL_;
					goto out;
				}
				in_txn = 1;
				batch_start = now;
			}
			use_zone(&c, in->zone);
			prs_line(c.p, &in->ll);
			c.lines++;
			c.batch_lines++;
			if (advance(&c, in) != 0)
				status = EX_IOERR_;
		}
		if (in_txn && (best < 0 || c.batch_lines >= c.cfg->batch_lines
		    || now - batch_start >= c.cfg->batch_interval * 1000000LL
		    || got_term || got_hup)) {
			if (commit_batch(&c) != 0) {
				/* -2: another writer moved a position */
				in_txn = 0;
				status = EX_TEMPFAIL_;
				goto out;
			}
			in_txn = 0;
			/* --analyze: decide and write the maps after every batch */
			/* never wait for the analyzer lock here: collecting
			 * goes on, the next batch tries again */
			if (analyze && c.batch_lines > 0 && follow)
				cli_analyze_once(c.cfg, pol, c.st, 0);
			c.batch_lines = 0;
		}
		if (tty && now - last_prog > 250000) {
			progress(&c, start, total0, 0);
			last_prog = now;
		}
		if (follow && now - last_stats >= c.cfg->stats_interval * 1000000LL) {
			double el = (now - last_stats) / 1e6;

			fprintf(stderr, "relayguard: collect: %.0f lines/s over "
			    "%.0f s, %lld lines, open messages %zu\n",
			    (c.lines - stats_lines) / el, el, c.lines,
			    prs_open_messages(c.p));
			last_stats = now;
			stats_lines = c.lines;
		}
		if (follow)
			rg_notify_alive(c.lines, prs_open_messages(c.p));
		if (!in_txn && (got_term || got_hup))
			break;
		if (best < 0) {
			if (once)
				break;
			/* follow: nothing to read now; look again soon */
			usleep(200000);
			for (i = 0; i < c.nin; i++)
				if (!c.in[i].have && c.in[i].src)
					advance(&c, &c.in[i]);
		}
	}
	if (tty)
		progress(&c, start, total0, 1);
	if (got_hup && !got_term) {
		rg_config *ncfg;
		int nrc;

		got_hup = 0;
		close_inputs(&c);
		prs_free(c.p);
		c.p = NULL;
		if ((ncfg = cli_load_config(cx, &nrc)) == NULL) {
			log_warnx("collect: SIGHUP: the configuration has errors; "
			    "going on with the old one");
		} else {
			rul_policy *np = analyze ? rul_new(ncfg, err, sizeof(err))
			    : NULL;

			if (analyze && np == NULL) {
				log_warnx("collect: SIGHUP: %s; going on with the "
				    "old configuration", err);
				cfg_free(ncfg);
			} else {
				/* this process holds the old database's lock and
				 * writes it to the end: say so, loudly */
				if (strcmp(ncfg->database, c.cfg->database) != 0) {
					log_warnx("collect: SIGHUP: [global] database "
					    "changed from %s to %s: NOT switched, this "
					    "collector goes on writing %s; restart it to "
					    "use the new database", c.cfg->database,
					    ncfg->database, c.cfg->database);
					free(ncfg->database);
					ncfg->database = xstrdup(c.cfg->database);
				}
				if (np != NULL)
					cli_policy_fold(ncfg, np);
				rul_free(pol);
				pol = np;
				cfg_free(c.cfg);
				c.cfg = ncfg;
				/* the store's trusted verdicts: the new ones */
				store_set_config(c.st, c.cfg);
			}
		}
		log_warnx("collect: SIGHUP: configuration reread, sources "
		    "reopened");
		goto reload;
	}
	if (analyze && once && cli_analyze_once(c.cfg, pol, c.st,
	    c.cfg->analyze_lock_wait) != 0 && status == EX_OK_)
		status = EX_TEMPFAIL_;
	if (once) {
		long long pruned = store_prune(c.st, rgt_now()
		    - c.cfg->retention * 1000000LL, c.cfg->prune_batch);

		if (pruned < 0) {
			log_warnx("pruning: %s", store_error(c.st));
			if (status == EX_OK_)
				status = EX_TEMPFAIL_;
		}
		else if (pruned > 0)
			log_info("collect: pruned %lld rows older than the "
			    "retention", pruned);
	}
out:
	if (follow)
		rg_notify_stopping();
	if (in_txn)
		store_rollback(c.st);
	rul_free(pol);
	close_inputs(&c);
	prs_free(c.p);
	store_close(c.st);
	cfg_free(c.cfg);
	free(c.cur_zone);
	close(lockfd);		/* the next collector may go */
	return status;
}

/*
 * cmd_init - create the database and the map directory (idempotent); the
 * only command besides collect that creates a database
 */
int
cmd_init(const cli_ctx *cx, int argc, char **argv)
{
	rg_config *cfg;
	rg_store *st;
	char err[1024], id[128];
	int rc;

	if (argc > 1) {
		printf("usage: relayguard [-c CONFIG] init\n\nCreates [global] "
		    "database (or brings its schema up to date) and\n"
		    "map_directory, and marks the maps as this database's. "
		    "Running it again\nchanges nothing. Every command but "
		    "init and collect refuses a missing\ndatabase.\n");
		return strcmp(argv[1], "--help") == 0 ? EX_OK_ : EX_USAGE_;
	}
	if ((cfg = cli_load_config(cx, &rc)) == NULL)
		return rc;
	ensure_dir(cfg->database);
	if ((st = store_open(cfg->database, STORE_CREATE, err,
	    sizeof(err))) == NULL) {
		log_warnx("init: %s", err);
		cfg_free(cfg);
		return EX_UNAVAILABLE_;
	}
	if (mkdir(cfg->map_directory, 0755) != 0 && errno != EEXIST) {
		log_warn("init: %s", cfg->map_directory);
		store_close(st);
		cfg_free(cfg);
		return EX_CANTCREAT_;
	}
	rc = EX_OK_;
	if (ana_claim_maps(cfg, st, 0, stdout, err, sizeof(err)) != 0) {
		log_warnx("init: %s", err);
		rc = EX_DATAERR_;
	} else {
		store_id(st, id, sizeof(id));
		printf("database %s ready (id %s)\nmap directory %s ready\n",
		    cfg->database, id, cfg->map_directory);
	}
	store_close(st);
	cfg_free(cfg);
	return rc;
}
