/*
 * collect_cmd.c - `relayguard collect`: its arguments, the lock, signals,
 * the batch boundaries, progress and --analyze. The exactly-once engine is
 * collector/collect.c.
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
#include "../collector/collect.h"
#include "../store/store.h"
#include "../common/log.h"
#include "../common/notify.h"
#include "../common/rgtime.h"
#include "../common/xalloc.h"
#include "cli.h"

#define CLOCK_EVERY 64		/* steps between two reads of the clock */

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

/* progress - a one-line progress bar on a terminal */
static void
progress(rg_collect *c, long long lines, long long start, long long total0,
    int done)
{
	long long left = c ? col_remaining(c) : 0, el = rgt_now() - start;
	double rate = el > 0 ? lines * 1e6 / (double)el : 0;
	int w = 30, fill;

	fill = total0 > 0 ? (int)((double)(total0 - left) / (double)total0 * w)
	    : w;
	if (fill < 0)
		fill = 0;
	if (fill > w)
		fill = w;
	fprintf(stderr, "\r[%.*s%*s] %lld lines, %.0f lines/s, %lld MiB left",
	    fill, "##############################", w - fill, "", lines,
	    rate, left >> 20);
	if (rate > 0 && total0 > 0 && lines > 0 && !done) {
		double bpl = (double)(total0 - left) / (double)lines;

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
	    "                  [--wait DURATION] [--threads N]\n\n"
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
	    "reading\n"
	    "  --threads N  with --once and more than one CPU: 2 (the "
	    "default) writes\n"
	    "               the database in a thread of its own; 3 also "
	    "reads and parses\n"
	    "               the sources in another; 1 does everything in "
	    "one thread\n");
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
		{ "threads", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	rg_config *cfg;
	rg_store *st;
	rg_collect *c = NULL;
	struct sigaction sa;
	struct timespec cpu;
	char err[1024];
	int ch, rc, once = 0, follow = 0, quiet = 0, status = EX_OK_;
	long long batch_start, start, total0 = 0, last_prog = 0, last_stats,
	    stats_lines = 0, lines = 0, t0 = rgt_now();
	int tty, analyze = 0, lockfd = -1, threads = 2, threads_set = 0;
	long long wait = 0, now, steps = 0;
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
				log_fatalx("collect: --wait: '%s' is not a duration "
				    "up to 1d", optarg);
				return EX_USAGE_;
			}
			break;
		case 't':
			if (strlen(optarg) != 1 || optarg[0] < '1'
			    || optarg[0] > '3') {
				log_fatalx("collect: --threads: '%s' is not 1, 2 "
				    "or 3", optarg);
				return EX_USAGE_;
			}
			threads = optarg[0] - '0';
			threads_set = 1;
			break;
		case 'h': collect_usage(stdout); return EX_OK_;
		default: collect_usage(stderr); return EX_USAGE_;
		}
	}
	if (once == follow || optind < argc) {
		collect_usage(stderr);
		return EX_USAGE_;
	}
	if (follow && threads_set) {
		log_fatalx("collect: --threads is for --once (--follow reads, "
		    "assembles and writes in one thread)");
		return EX_USAGE_;
	}
	log_phase(NULL);
	if ((cfg = cli_load_config(cx, &rc)) == NULL)
		return rc;
	log_phase("configuration");
	if (cfg->nsources == 0) {
		log_fatalx("collect: %s has no [source NAME] section",
		    cfg->file ? cfg->file : "the configuration");
		cfg_free(cfg);
		return EX_CONFIG_;
	}
	if (analyze && (pol = rul_new(cfg, err, sizeof(err))) == NULL) {
		log_fatalx("%s", err);
		cfg_free(cfg);
		return EX_CONFIG_;
	}
	if (analyze)
		cli_policy_fold(cfg, pol);
	ensure_dir(cfg->database);
	if ((lockfd = collect_lock(cfg->database, wait)) < 0) {
		rul_free(pol);
		cfg_free(cfg);
		return lockfd == -2 ? EX_TEMPFAIL_ : EX_CANTCREAT_;
	}
	if ((st = store_open(cfg->database, STORE_CREATE | STORE_THREADS, err,
	    sizeof(err))) == NULL) {
		log_fatalx("%s", err);
		rul_free(pol);
		cfg_free(cfg);
		close(lockfd);
		return EX_UNAVAILABLE_;
	}
	log_phase("database");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

reload:
	store_set_config(st, cfg);
	c = col_new(cfg, st);
	/* --once writes the database in a thread of its own (and with
	 * --threads 3 reads and parses in another); --follow, which looks
	 * again at the sources (col_poll), does all in this one */
	col_threads(c, once ? threads : 1);
	switch (col_start(c)) {
	case COL_OK:
		break;
	case COL_IOERR:
		status = EX_IOERR_;
		break;
	case COL_TEMPFAIL:
		status = EX_TEMPFAIL_;
		goto out;
	case COL_DATAERR:
		status = EX_DATAERR_;
		goto out;
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
	log_info("collect: started in %.1f ms (%.1f ms of CPU since the "
	    "process started), %zu open messages restored, the first line "
	    "read", (rgt_now() - t0) / 1000.0, cpu.tv_sec * 1e3
	    + cpu.tv_nsec / 1e6, col_open_messages(c));
	if (follow)
		rg_notify_ready("following the sources");
	tty = isatty(STDERR_FILENO) && once && !quiet;
	total0 = col_remaining(c);
	start = batch_start = last_stats = now = rgt_now();
	for (;;) {
		enum col_status io = COL_OK;
		long long batch;
		int got;

		if (!col_in_batch(c))
			batch_start = rgt_now();
		if ((got = col_step(c, &io)) < 0) {
			status = io == COL_DATAERR ? EX_DATAERR_ : EX_TEMPFAIL_;
			goto out;
		}
		if (io != COL_OK)
			status = EX_IOERR_;
		lines += got;
		/* the clock every CLOCK_EVERY steps while lines come (read
		 * at every line, it took 4% of the thread on a VM), and at
		 * every step that found none */
		if (got == 0 || ++steps % CLOCK_EVERY == 0)
			now = rgt_now();
		batch = col_batch_lines(c);
		if (col_in_batch(c) && (got == 0 || batch >= cfg->batch_lines
		    || now - batch_start >= cfg->batch_interval * 1000000LL
		    || got_term || got_hup)) {
			if ((rc = col_commit(c)) != COL_OK) {
				/* or another writer moved a position */
				status = rc == COL_DATAERR ? EX_DATAERR_
				    : EX_TEMPFAIL_;
				goto out;
			}
			/* --analyze: decide and write the maps after every batch;
			 * never wait for the analyzer lock here: collecting goes
			 * on, the next batch tries again */
			if (analyze && batch > 0 && follow)
				cli_analyze_once(cfg, pol, st, 0);
		}
		if (tty && now - last_prog > 250000) {
			progress(c, lines, start, total0, 0);
			last_prog = now;
		}
		if (follow && now - last_stats >= cfg->stats_interval * 1000000LL) {
			double el = (now - last_stats) / 1e6;

			fprintf(stderr, "relayguard: collect: %.0f lines/s over "
			    "%.0f s, %lld lines, open messages %zu\n",
			    (lines - stats_lines) / el, el, lines,
			    col_open_messages(c));
			last_stats = now;
			stats_lines = lines;
		}
		if (follow)
			rg_notify_alive(lines, col_open_messages(c));
		if (!col_in_batch(c) && (got_term || got_hup))
			break;
		if (got == 0) {
			if (once)
				break;
			/* follow: nothing to read now; look again soon */
			usleep(200000);
			col_poll(c);
		}
	}
	if (tty)
		progress(c, lines, start, total0, 1);
	/* the batches the store's writer thread still writes */
	if (col_finish(c) != COL_OK) {
		status = EX_TEMPFAIL_;
		goto out;
	}
	if (got_hup && !got_term) {
		rg_config *ncfg;
		int nrc;

		got_hup = 0;
		col_free(c);
		c = NULL;
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
				if (strcmp(ncfg->database, cfg->database) != 0) {
					log_warnx("collect: SIGHUP: [global] database "
					    "changed from %s to %s: NOT switched, this "
					    "collector goes on writing %s; restart it to "
					    "use the new database", cfg->database,
					    ncfg->database, cfg->database);
					free(ncfg->database);
					ncfg->database = xstrdup(cfg->database);
				}
				if (np != NULL)
					cli_policy_fold(ncfg, np);
				rul_free(pol);
				pol = np;
				cfg_free(cfg);
				cfg = ncfg;
			}
		}
		log_warnx("collect: SIGHUP: configuration reread, sources "
		    "reopened");
		goto reload;
	}
	if (analyze && once && cli_analyze_once(cfg, pol, st,
	    cfg->analyze_lock_wait) != 0 && status == EX_OK_)
		status = EX_TEMPFAIL_;
	if (once) {
		long long pruned = store_prune(st, rgt_now()
		    - cfg->retention * 1000000LL, cfg->prune_batch);

		if (pruned < 0) {
			log_warnx("pruning: %s", store_error(st));
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
	col_free(c);		/* a batch not committed is rolled back */
	rul_free(pol);
	store_close(st);
	cfg_free(cfg);
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
		log_fatalx("init: %s", err);
		cfg_free(cfg);
		return EX_UNAVAILABLE_;
	}
	if (mkdir(cfg->map_directory, 0755) != 0 && errno != EEXIST) {
		log_fatal("init: %s", cfg->map_directory);
		store_close(st);
		cfg_free(cfg);
		return EX_CANTCREAT_;
	}
	rc = EX_OK_;
	if (ana_claim_maps(cfg, st, 0, stdout, err, sizeof(err)) != 0) {
		log_fatalx("init: %s", err);
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
