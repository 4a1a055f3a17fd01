/*
 * analyze_cmd.c - `relayguard analyze`, the lock commands, `users`,
 * `explain`, `identities` and `rspamd-config`: the analyzer's front end.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../analyzer/analyze.h"
#include "../analyzer/idclass.h"
#include "../analyzer/map_pgsql.h"
#include "../analyzer/mapowner.h"
#include "../analyzer/quarantine.h"
#include "../common/log.h"
#include "../common/rgtime.h"
#include "../common/xalloc.h"
#include "../rules/cfgcache.h"
#include "../store/anaread.h"
#include "../store/classes.h"
#include "../store/locks.h"
#include "cli.h"

/* quarantined - does any user have quarantine = yes? */
static int
quarantined(const rul_policy *pol)
{
	int i;

	for (i = 0; i < rul_nusers(pol); i++)
		if (rul_user_at(pol, i)->cfg->quarantine)
			return 1;
	return 0;
}

/*
 * load_cached - the configuration and its policy for the analyzer
 * commands, through the compiled cache beside the database (cfgcache.h):
 * the same checks and FILE:LINE errors as cli_load_config, without
 * parsing an unchanged file again
 */
static rg_config *
load_cached(const cli_ctx *cx, rul_policy **pol, int *rc)
{
	const char *file = cx->config_file ? cx->config_file : CFG_DEFAULT_FILE;
	static const char *what[] = { "parsed", "from the cache",
	    "parsed, cache written" };
	enum cfc_how how;
	char cache[4200], err[1024];
	rg_config *cfg;
	int nerr;

	*rc = EX_OK_;
	*pol = NULL;
	if (!cx->config_given && access(file, F_OK) != 0 && errno == ENOENT) {
		cfg = cfg_defaults();
		if ((*pol = rul_new(cfg, err, sizeof(err))) == NULL) {
			log_fatalx("%s", err);
			cfg_free(cfg);
			*rc = EX_CONFIG_;
			return NULL;
		}
		return cfg;
	}
	if ((cfg = cfc_load(file, stderr, &nerr, pol, &how, cache,
	    sizeof(cache))) == NULL) {
		*rc = EX_CONFIG_;
		return NULL;
	}
	log_debug("configuration: %s (%d users): %s", what[how], cfg->nusers,
	    *cache ? cache : "no cache");
	return cfg;
}

/* open_all - config, policy and database for the analyzer commands */
static int
open_all(const cli_ctx *cx, rg_config **cfg, rul_policy **pol, rg_store **st)
{
	char err[1024];
	int rc;

	*pol = NULL;
	*st = NULL;
	log_phase(NULL);
	if ((*cfg = load_cached(cx, pol, &rc)) == NULL)
		return rc;
	log_phase("configuration and policy");
	cli_policy_fold(*cfg, *pol);
	if ((*st = store_open((*cfg)->database, 0, err, sizeof(err))) == NULL) {
		rc = errno == ENOENT ? EX_NOINPUT_ : EX_UNAVAILABLE_;
		log_fatalx("%s", err);
		rul_free(*pol);
		cfg_free(*cfg);
		return rc;
	}
	log_phase("database");
	cli_mail_hook(*cfg, *pol, *st);
	return EX_OK_;
}

/*
 * cli_policy_fold - fold identities as the configured Postfix folds its
 * lookup keys (smtputf8_enable); if postconf cannot say, warn and keep
 * Postfix's default (yes)
 */
void
cli_policy_fold(const rg_config *cfg, rul_policy *pol)
{
	char err[1024];

	if (ana_postfix_fold(cfg, pol, err, sizeof(err)) != 0)
		log_warnx("postfix: %s; identities and map keys are folded as "
		    "with smtputf8_enable = yes", err);
}

/* close_all - release what open_all opened */
static void
close_all(rg_config *cfg, rul_policy *pol, rg_store *st)
{
	store_close(st);
	rul_free(pol);
	cfg_free(cfg);
}

/*
 * leave_to_exit - end a one-shot run: the database is closed, but the
 * configuration and the policy are left for the process exit to free at
 * once (with 100,000 users, freeing them one allocation at a time takes
 * longer than the rest of an incremental run's end). They stay reachable
 * (volatile, so the stores are kept), so that leak checkers see memory in
 * use at exit, not memory lost.
 */
static rg_config *volatile kept_cfg;
static rul_policy *volatile kept_pol;

static void
leave_to_exit(rg_config *cfg, rul_policy *pol, rg_store *st)
{
	store_close(st);
	kept_cfg = cfg;
	kept_pol = pol;
}

/*
 * cli_analyze_lock - one analyzer at a time: a lock file beside the maps,
 * waited for at most wait seconds (0: one try). The descriptor, or -1 with
 * the reason logged.
 */
int
cli_analyze_lock(const rg_config *cfg, long long wait)
{
	char path[1100];
	long long deadline = rgt_now() + wait * 1000000LL, nap = 10000;
	int fd;

	mkdir(cfg->map_directory, 0755);
	snprintf(path, sizeof(path), "%s/.analyze.lock", cfg->map_directory);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
		log_warn("%s", path);
		return -1;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			log_warn("%s: flock", path);
			close(fd);
			return -1;
		}
		if (rgt_now() >= deadline) {
			if (wait > 0)
				log_warnx("another analyzer holds %s: gave up "
				    "after %llds (analyze_lock_wait)", path, wait);
			else
				log_warnx("another analyzer holds %s: not "
				    "analyzing this batch (collecting goes on)",
				    path);
			close(fd);
			return -1;
		}
		usleep((useconds_t)nap);
		if (nap < 200000)
			nap *= 2;
	}
	return fd;
}

/* cmd_analyze - one analyzer run */
int
cmd_analyze(const cli_ctx *cx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "now", required_argument, NULL, 't' },
		{ "adopt", no_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	rg_config *cfg;
	rul_policy *pol;
	rg_store *st;
	ana_result res;
	long long now = rgt_now();
	int ch, rc, dry = 0, lockfd, adopt = 0;
	char err[1024];

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n': dry = 1; break;
		case 'A': adopt = 1; break;
		case 't': {
			rg_usec t;

			if (rgt_parse_time(optarg, &t) != 0) {
				log_fatalx("analyze: --now: '%s' is not a time", optarg);
				return EX_USAGE_;
			}
			now = t;
			break;
		}
		case 'h':
			printf("usage: relayguard [-c CONFIG] analyze [--dry-run] "
			    "[--now TIME] [--adopt]\n\nApplies every user's lock and limit "
			    "rules to the stored records at TIME\n(default: now), "
			    "stores the decisions, and writes the Postfix maps "
			    "(only\nthose whose content changed; postfix reload "
			    "when a cidr or pcre map\nchanged). --dry-run "
			    "prints the decisions and the maps, changes nothing.\n"
			    "--adopt: write the maps even though another database "
			    "wrote them last\n(they then hold this database's "
			    "locks only).\n");
			return EX_OK_;
		default:
			return EX_USAGE_;
		}
	}
	if ((rc = open_all(cx, &cfg, &pol, &st)) != EX_OK_)
		return rc;
	if ((lockfd = dry ? -2 : cli_analyze_lock(cfg,
	    cfg->analyze_lock_wait)) == -1) {
		close_all(cfg, pol, st);
		return EX_TEMPFAIL_;
	}
	if (!dry && ana_claim_maps(cfg, st, adopt, stdout, err,
	    sizeof(err)) != 0) {
		log_fatalx("analyze: %s", err);
		close(lockfd);
		close_all(cfg, pol, st);
		return EX_DATAERR_;
	}
	/* map_backend = pgsql: PostgreSQL out of reach, decide nothing */
	if (!dry && map_pg_enabled(cfg) && cli_pgsql_probe(cfg) != 0) {
		close(lockfd);
		close_all(cfg, pol, st);
		return EX_TEMPFAIL_;
	}
	memset(&res, 0, sizeof(res));
	rc = EX_OK_;
	if (cfg_dry_run(cfg))
		printf("enforce=dry-run note=\"locks are decided, alerted and "
		    "shown; Postfix only warns (warn_if_reject)\"\n");
	if (ana_decide(cfg, pol, st, now, dry, stdout, &res, err,
	    sizeof(err)) != 0) {
		log_warnx("analyze: %s", err);
		rc = EX_TEMPFAIL_;
	} else {
		/* a map that could not be written keeps nothing else back:
		 * the other maps are written, the queue is still handled */
		if (ana_maps(cfg, pol, st, now, dry, stdout, &res, err,
		    sizeof(err)) != 0) {
			log_warnx("analyze: %s", err);
			rc = EX_TEMPFAIL_;
		}
		log_phase("maps: the rest");
		if (ana_expire_queue(cfg, pol, st, now, dry, stdout, err,
		    sizeof(err)) != 0) {
			log_warnx("analyze: %s", err);
			rc = EX_TEMPFAIL_;
		}
		if (quarantined(pol) && qr_retention(cfg, pol, st, now, dry,
		    stdout, err, sizeof(err)) != 0) {
			log_warnx("analyze: %s", err);
			rc = EX_TEMPFAIL_;
		}
		if (quarantined(pol) && !dry)
			cli_mail_notices(cfg, pol, st);	/* of retention */
	}
	log_phase("queue");
	if (lockfd >= 0)
		close(lockfd);
	if (!dry)
		cli_mail_after(cfg, st);
	leave_to_exit(cfg, pol, st);
	log_phase("release");
	return rc;
}

/*
 * cli_analyze_once - decide and write the maps now (collect --analyze);
 * 0 on success, the error printed otherwise.
 */
int
cli_analyze_once(const rg_config *cfg, const rul_policy *pol, rg_store *st,
    long long wait)
{
	ana_result res;
	char err[1024];
	int fd, rc = 0;

	if ((fd = cli_analyze_lock(cfg, wait)) < 0)
		return -1;
	if (ana_claim_maps(cfg, st, 0, stdout, err, sizeof(err)) != 0) {
		log_warnx("analyze: %s", err);
		close(fd);
		return -1;
	}
	memset(&res, 0, sizeof(res));
	cli_mail_hook(cfg, pol, st);
	if (ana_decide(cfg, pol, st, rgt_now(), 0, stdout, &res, err,
	    sizeof(err)) != 0
	    || ana_maps(cfg, pol, st, rgt_now(), 0, stdout, &res, err,
	    sizeof(err)) != 0) {
		log_warnx("analyze: %s", err);
		rc = -1;
	}
	store_set_hook(st, NULL, NULL);	/* collect's own batches: none */
	fflush(stdout);
	close(fd);
	cli_mail_after(cfg, st);
	return rc;
}

/* lockctl_help - the help of lock, unlock or reset, each its own */
static void
lockctl_help(const char *action)
{
	if (strcmp(action, "unlock") == 0)
		printf("usage: relayguard [-c CONFIG] unlock user|identity NAME"
		    "\n\nEnds the locks of a user, or of one identity inside "
		    "it (USER/IDENTITY), at\nonce, whatever locked them "
		    "(spam, a limit, by hand). The maps follow at once\n"
		    "and Postfix accepts the sender again. The count of "
		    "automatic unlocks is kept\n(see reset).\n");
	else if (strcmp(action, "reset") == 0)
		printf("usage: relayguard [-c CONFIG] reset user|identity NAME"
		    "\n\nSets the count of automatic unlocks (by lock_timeout) "
		    "of a user, or of one\nidentity (USER/IDENTITY), back to "
		    "0: after max_unlocks_by_timeout of them a\nspam lock "
		    "lasts until unlocked by hand; after reset it times out "
		    "again.\nThe current locks are not ended (see unlock).\n");
	else
		printf("usage: relayguard [-c CONFIG] lock user|identity NAME "
		    "--reason TEXT [--for DURATION]\n\nLocks a user, or one "
		    "identity inside it (USER/IDENTITY), by hand: Postfix\n"
		    "refuses it at RCPT with the reason. Without --for (10m, "
		    "1h, 7d) the lock lasts\nuntil unlock. The maps follow at "
		    "once.\n");
}

/* cmd_lockctl - lock, unlock, reset */
int
cmd_lockctl(const cli_ctx *cx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ "for", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *action = argv[0], *reason = NULL;
	long long secs = 0;
	rg_config *cfg;
	rul_policy *pol;
	rg_store *st;
	ana_result res;
	char err[1024];
	int ch, rc, lockfd;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r': reason = optarg; break;
		case 'f':
			if (rgt_parse_duration(optarg, &secs) != 0) {
				log_fatalx("%s: --for: '%s' is not a duration",
				    action, optarg);
				return EX_USAGE_;
			}
			break;
		case 'h':
			lockctl_help(action);
			return EX_OK_;
		default:
			return EX_USAGE_;
		}
	}
	if (argc - optind != 2 || (strcmp(argv[optind], "user") != 0
	    && strcmp(argv[optind], "identity") != 0)) {
		log_fatalx("%s: usage: %s user|identity NAME", action, action);
		return EX_USAGE_;
	}
	if (strcmp(action, "lock") == 0 && reason == NULL) {
		log_fatalx("lock: --reason is required");
		return EX_USAGE_;
	}
	if ((rc = open_all(cx, &cfg, &pol, &st)) != EX_OK_)
		return rc;
	if ((lockfd = cli_analyze_lock(cfg, cfg->analyze_lock_wait)) < 0) {
		close_all(cfg, pol, st);
		return EX_TEMPFAIL_;
	}
	if (ana_claim_maps(cfg, st, 0, stdout, err, sizeof(err)) != 0) {
		log_fatalx("%s: %s", action, err);
		close(lockfd);
		close_all(cfg, pol, st);
		return EX_DATAERR_;
	}
	memset(&res, 0, sizeof(res));
	rc = EX_OK_;
	if (ana_manual(cfg, pol, st, action, argv[optind], argv[optind + 1],
	    reason, secs, rgt_now(), stdout, err, sizeof(err)) != 0) {
		log_warnx("%s: %s", action, err);
		rc = EX_DATAERR_;
	} else if (ana_maps(cfg, pol, st, rgt_now(), 0, stdout, &res, err,
	    sizeof(err)) != 0) {
		log_warnx("%s: maps: %s", action, err);
		rc = EX_TEMPFAIL_;
	}
	close(lockfd);
	cli_mail_after(cfg, st);
	close_all(cfg, pol, st);
	return rc;
}

/* one user's locks, as `users` shows them */
typedef struct users_ctx {
	const rg_config *cfg;
	const rul_policy *pol;
	const rul_user *u;
	lk_store *lk;
	strbuf *sb;
	int json, any;
} users_ctx;

/* users_lock - one lock of the user: a line, or an object in "locks" */
static void
users_lock(void *arg, const lk_lock *l)
{
	users_ctx *x = arg;
	const rul_user *u = x->u;
	strbuf *sb = x->sb;
	char t1[64], t2[64];
	const char *id = l->identity;
	/* a lock that no map Postfix checks can hold */
	const char *ne = *id == '\0' ? NULL : ana_enforceable(x->pol,
	    l->method, l->header, id);
	long long used, last;

	lk_unlocks(x->lk, l->kind, l->user, l->identity, &used, &last);
	rgt_format(t1, l->since);
	if (l->until)
		rgt_format(t2, l->until);
	else
		snprintf(t2, sizeof(t2), "unlock");
	if (x->json) {
		int f = 1;

		if (x->any)
			sb_addc(sb, ',');
		sb_addc(sb, '{');
		sb_json_kv_str(sb, &f, "kind", l->kind, strlen(l->kind));
		if (*id)
			sb_json_kv_str(sb, &f, "identity", id, strlen(id));
		sb_json_kv_str(sb, &f, "reason", l->reason, strlen(l->reason));
		sb_json_kv_str(sb, &f, "since", t1, strlen(t1));
		sb_json_kv_str(sb, &f, "until", t2, strlen(t2));
		sb_json_kv_int(sb, &f, "automatic_unlocks_used", used);
		if (cfg_dry_run(x->cfg))
			sb_json_kv_bool(sb, &f, "dry_run", 1);
		if (ne != NULL) {
			sb_json_key(sb, &f, "enforceable");
			sb_adds(sb, "false");
			sb_json_kv_str(sb, &f, "not_enforceable", ne, strlen(ne));
		}
		sb_addc(sb, '}');
	} else {
		printf("%-32s %-6s locked (%s%s%s) since %s until %s,"
		    " %lld automatic unlocks used%s%s\n", u->name,
		    u->cfg->type, l->reason, *id ? ", identity " : "",
		    *id ? id : "", t1, t2, used, ne ? "; not "
		    "enforceable: as a Postfix map key it " : "",
		    ne ? ne : "");
	}
	x->any = 1;
}

/*
 * limit_text - a limit as `users` prints it: the number, or "-" for none
 * (0); the text lives in a static buffer per call slot, enough for one
 * printf of up to 8 limits
 */
static const char *
limit_text(long long v)
{
	static char bufs[8][24];
	static int slot;
	char *b = bufs[slot++ % 8];

	if (v <= 0)
		return "-";
	snprintf(b, sizeof(bufs[0]), "%lld", v);
	return b;
}

/* cmd_users - each user, its kind and its locks */
int
cmd_users(const cli_ctx *cx, int argc, char **argv)
{
	rg_config *cfg;
	rul_policy *pol;
	rg_store *st;
	lk_store *lk;
	users_ctx ux;
	char err[512];
	ana_count *cnt;
	int i, rc, json = argc > 1 && strcmp(argv[1], "--json") == 0;

	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		printf("usage: relayguard [-c CONFIG] users [--json]\n\nEach "
		    "configured user: kind, locks (reason, since, until), "
		    "automatic unlocks used,\nand its counts now in each "
		    "window against its limits (\"-\": no limit; in --json,\n"
		    "0). Windows are written as in the configuration "
		    "(10m, 1h, 1d).\n");
		return EX_OK_;
	}
	if ((rc = open_all(cx, &cfg, &pol, &st)) != EX_OK_)
		return rc;
	lk = lk_open_sqlite(st);
	cnt = ana_counts(cfg, pol, st, rgt_now());
	if (!json && cfg_dry_run(cfg))
		printf("enforce = dry-run: the locks below are decided and "
		    "alerted, but Postfix\nonly warns (reject_warning) and "
		    "takes the mail\n");
	if (!json)
		printf("%-32s %-6s %s\n", "user", "type", "state");
	for (i = 0; i < rul_nusers(pol); i++) {
		const rul_user *u = rul_user_at(pol, i);
		const rg_user_cfg *uc = u->cfg;
		const ana_count *n = &cnt[i];
		int any = 0;
		strbuf sb;

		sb_init(&sb);
		if (json) {
			int first = 1;

			sb_addc(&sb, '{');
			sb_json_kv_str(&sb, &first, "user", u->name, strlen(u->name));
			sb_json_kv_str(&sb, &first, "type", u->cfg->type,
			    strlen(u->cfg->type));
			sb_json_key(&sb, &first, "locks");
			sb_addc(&sb, '[');
		}
		ux.cfg = cfg;
		ux.pol = pol;
		ux.u = u;
		ux.lk = lk;
		ux.sb = &sb;
		ux.json = json;
		ux.any = 0;
		if (lk_each(lk, u->name, LK_SHOWN, users_lock, &ux, err,
		    sizeof(err)) != 0) {
			log_warnx("%s", err);
			sb_free(&sb);
			free(cnt);
			lk_close(lk);
			close_all(cfg, pol, st);
			return EX_SOFTWARE_;
		}
		any = ux.any;
		if (json) {
			int f = 1;

			sb_adds(&sb, "],");
			sb_json_key(&sb, &f, "counts");
			sb_printf(&sb, "{\"spam\":%lld,\"spam_threshold\":%lld,"
			    "\"spam_window\":%lld,\"sessions_minute\":%lld,"
			    "\"limit_per_minute\":%lld,\"sessions_hour\":%lld,"
			    "\"limit_per_hour\":%lld,\"sessions_week\":%lld,"
			    "\"limit_per_week\":%lld,\"sessions_month\":%lld,"
			    "\"limit_per_month\":%lld,\"recipients_day\":%lld,"
			    "\"max_recipients_per_day\":%lld,\"invalid\":%lld,"
			    "\"invalid_recipient_limit\":%lld,"
			    "\"invalid_recipient_window\":%lld}}", n->spam,
			    uc->spam_lock_threshold, uc->spam_lock_window,
			    n->sessions_minute, uc->connection_limits
			    ? uc->limit_per_minute : 0, n->sessions_hour,
			    uc->connection_limits ? uc->limit_per_hour : 0,
			    n->sessions_week, uc->connection_limits
			    ? uc->limit_per_week : 0, n->sessions_month,
			    uc->connection_limits ? uc->limit_per_month : 0,
			    n->recipients_day, uc->max_recipients_per_day,
			    n->invalid, uc->invalid_recipient_limit,
			    uc->invalid_recipient_window);
			puts(sb.s);
		} else {
			char sw[32], iw[32];
			long long cl = uc->connection_limits;

			if (!any)
				printf("%-32s %-6s ok\n", u->name, uc->type);
			rgt_format_duration(sw, uc->spam_lock_window);
			rgt_format_duration(iw, uc->invalid_recipient_window);
			printf("%-32s %-6s spam %lld/%s in %s; sessions %lld/%s "
			    "per minute, %lld/%s per hour, %lld/%s per week, "
			    "%lld/%s per month;\n%-39s recipients %lld/%s per day; "
			    "invalid %lld/%s in %s\n", "", "", n->spam,
			    limit_text(uc->spam_lock_threshold), sw,
			    n->sessions_minute, limit_text(cl
			    ? uc->limit_per_minute : 0), n->sessions_hour,
			    limit_text(cl ? uc->limit_per_hour : 0),
			    n->sessions_week, limit_text(cl ? uc->limit_per_week
			    : 0), n->sessions_month, limit_text(cl
			    ? uc->limit_per_month : 0), "", n->recipients_day,
			    limit_text(uc->max_recipients_per_day), n->invalid,
			    limit_text(uc->invalid_recipient_limit), iw);
		}
		sb_free(&sb);
	}
	free(cnt);
	lk_close(lk);
	close_all(cfg, pol, st);
	return EX_OK_;
}

/* ucl_str - a quoted UCL string (rspamd's configuration language) */
static void
ucl_str(const char *a, const char *b)
{
	const char *s[2] = { a, b };
	int i;

	putchar('"');
	for (i = 0; i < 2; i++)
		for (; s[i] != NULL && *s[i]; s[i]++) {
			if (*s[i] == '"' || *s[i] == '\\')
				putchar('\\');
			putchar(*s[i]);
		}
	putchar('"');
}

/*
 * rspamd_logging - rspamd's local.d/logging.inc: a log_format with what
 * rspamd decides first (queue ID, verdict, the symbols without their
 * options) and what the client sets (Message-ID, login, sender, recipients)
 * after it, which the parser reads strictly ("rg1 ..."; collector/pfline.c)
 */
static void
rspamd_logging(void)
{
	printf("# /etc/rspamd/local.d/logging.inc (relayguard rspamd-config "
	    "--logging)\n"
	    "# rspamd's verdict line in the form relayguard reads without "
	    "doubt: the\n"
	    "# queue ID, the verdict and the symbol names (without the options, "
	    "which\n"
	    "# carry message text) first; the Message-ID, login, sender and "
	    "recipients,\n"
	    "# which the client chooses, only after them. With rspamd's "
	    "default format a\n"
	    "# client can write a second verdict into its sender: relayguard "
	    "then counts\n"
	    "# the line as ambiguous (no verdict) and relies on what Postfix "
	    "logged.\n"
	    "log_format =<<EOD\n"
	    "rg1$if_qid{ qid: <$>,} (default: $is_spam ($action): [$scores] "
	    "[$symbols_scores]), len: $len, time: $time_real, dns req: "
	    "$dns_req, digest: <$digest>$if_forced_action{, forced: $}"
	    "$if_settings_id{, settings_id: $}$if_ip{, ip: $}$if_user{, "
	    "user: $}, id: <$mid>$if_smtp_from{, from: <$>}"
	    "$if_smtp_rcpts{, rcpts: <$>}$if_mime_rcpts{, mime_rcpts: <$>}\n"
	    "EOD\n");
}

/* cmd_rspamd_config - rspamd's dkim_signing settings, or its log format */
int
cmd_rspamd_config(const cli_ctx *cx, int argc, char **argv)
{
	rg_config *cfg;
	int rc, i, n = 0;

	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		printf("usage: relayguard [-c CONFIG] rspamd-config "
		    "[--logging | --quarantine]\n\nPrints "
		    "rspamd's local.d/dkim_signing.conf for the DKIM selectors "
		    "of the\n[domain NAME] sections; `analyze` keeps the "
		    "selector map they name up to date.\nWith --logging: "
		    "rspamd's local.d/logging.inc, a log format whose verdict\n"
		    "relayguard reads without doubt (the client's fields come "
		    "after it).\n--quarantine: "
		    "rspamd.local.lua, which holds the spam of the users\n"
		    "with quarantine = yes in Postfix's hold queue.\n");
		return EX_OK_;
	}
	if (argc > 1 && strcmp(argv[1], "--logging") == 0 && argc == 2) {
		rspamd_logging();
		return EX_OK_;
	}
	if (argc > 2 || (argc > 1 && strcmp(argv[1], "--quarantine") != 0)) {
		log_fatalx("rspamd-config: unknown argument '%s' (try --help)",
		    argv[1]);
		return EX_USAGE_;
	}
	if ((cfg = cli_load_config(cx, &rc)) == NULL)
		return rc;
	if (argc > 1 && strcmp(argv[1], "--quarantine") == 0) {
		rul_policy *pol;
		char perr[1024];

		if ((pol = rul_new(cfg, perr, sizeof(perr))) == NULL) {
			log_fatalx("%s", perr);
			cfg_free(cfg);
			return EX_CONFIG_;
		}
		rc = cli_rspamd_quarantine(cfg, pol);
		rul_free(pol);
		cfg_free(cfg);
		return rc;
	}
	/* UCL expands $NAME in strings, and a control character ends it */
	for (i = 0; i < 2; i++) {
		const char *dir = i ? cfg->dkim_key_directory : cfg->map_directory;
		const char *p;

		for (p = dir; *p; p++)
			if (*p == '$' || (unsigned char)*p < 0x20)
				break;
		if (*p) {
			log_fatalx("rspamd-config: %s '%s' has a '$' or a control "
			    "character, which rspamd's configuration cannot "
			    "hold", i ? "dkim_key_directory" : "map_directory",
			    dir);
			cfg_free(cfg);
			return EX_CONFIG_;
		}
	}
	for (i = 0; i < cfg->ndomains; i++)
		if (*cfg->domains[i].dkim_selector)
			n++;
	printf("# /etc/rspamd/local.d/dkim_signing.conf (relayguard "
	    "rspamd-config)\n"
	    "# rspamd signs the mail of the %d domain(s) that have a "
	    "dkim_selector in\n"
	    "# relayguard's [domain NAME] sections, with the key "
	    "DOMAIN.SELECTOR.key\n"
	    "# in dkim_key_directory (relayguard dkim keygen DOMAIN "
	    "--selector SELECTOR;\n"
	    "# readable by _rspamd). `analyze` writes the selector map; "
	    "rspamd re-reads\n"
	    "# it when it changes (options: map_watch_interval).\n", n);
	printf("selector_map = ");
	ucl_str(cfg->map_directory, "/dkim_selectors");
	printf(";\npath = ");
	ucl_str(cfg->dkim_key_directory, "/$domain.$selector.key");
	printf(";\n"
	    "# a domain with no selector in the map is not signed\n"
	    "try_fallback = false;\n"
	    "# the header From's domain exactly as [domain NAME] names it "
	    "(a subdomain\n# needs its own section)\n"
	    "use_domain = \"header\";\n"
	    "use_esld = false;\n"
	    "# a SASL login must be USER@DOMAIN of that domain to have it "
	    "signed; a\n# domain user's login is the bare domain: set "
	    "this to true for those,\n# knowing that any authenticated "
	    "client may then have any listed domain signed\n"
	    "allow_username_mismatch = false;\n"
	    "sign_authenticated = true;\n"
	    "# unauthenticated clients: only rspamd's local addresses (an IP "
	    "user's\n# networks go into sign_networks, if they may sign)\n"
	    "sign_local = true;\n");
	cfg_free(cfg);
	return EX_OK_;
}

/* explain_lock - one lock of the user */
static void
explain_lock(void *arg, const lk_lock *l)
{
	char t1[64], t2[64] = "unlock";

	rgt_format(t1, l->since);
	if (l->until)
		rgt_format(t2, l->until);
	printf("  lock: %s%s%s reason=%s since=%s until=%s %s\n", l->kind,
	    *l->identity ? " " : "", l->identity, l->reason, t1, t2,
	    l->detail ? l->detail : "");
	(*(int *)arg)++;
}

/* explain_event - one decision about the user */
static void
explain_event(void *arg, const lk_event *e)
{
	char t[64];

	(void)arg;
	rgt_format(t, e->ts);
	printf("  %s %s %s%s%s rule=%s %s\n", t, e->action, e->kind,
	    *e->identity ? " " : "", e->identity, e->rule, e->detail);
}

/* the spam verdicts `explain` shows: the user's, at most 20 */
typedef struct explain_ctx {
	const rul_policy *pol;
	const rul_user *u;
	int n;
} explain_ctx;

/* explain_spam - one spam verdict, if it is the user's */
static int
explain_spam(void *arg, const ard_msg *m)
{
	explain_ctx *x = arg;
	char t[64];

	if (rul_user_of(x->pol, m->sasl, m->ip, m->sender) != x->u)
		return 0;
	rgt_format(t, m->t);
	printf("  %s %s %s sender=%s source=%s score=%s%s\n", t, m->host,
	    m->queue_id, m->sender ? m->sender : "-", m->source,
	    m->score ? m->score : "-", rul_trusted(x->pol, m->source) ? ""
	    : " (not trusted)");
	return ++x->n >= 20;
}

/* cmd_explain - the locks, decisions and recent spam behind a user's state */
int
cmd_explain(const cli_ctx *cx, int argc, char **argv)
{
	rg_config *cfg;
	rul_policy *pol;
	rg_store *st;
	lk_store *lk;
	explain_ctx ex;
	char err[512];
	const rul_user *u;
	const char *name, *slash;
	char uname[512];
	int rc, n = 0;

	if (argc != 3 || (strcmp(argv[1], "user") != 0
	    && strcmp(argv[1], "identity") != 0)) {
		printf("usage: relayguard [-c CONFIG] explain user|identity NAME\n\n"
		    "The locks, the decisions (events) and the recent spam "
		    "verdicts behind a\nuser's or an identity's (USER/IDENTITY) "
		    "state.\n");
		return argc == 2 && strcmp(argv[1], "--help") == 0 ? EX_OK_
		    : EX_USAGE_;
	}
	name = argv[2];
	snprintf(uname, sizeof(uname), "%s", name);
	if (strcmp(argv[1], "identity") == 0 && (slash = strchr(name, '/')))
		uname[slash - name] = '\0';
	if ((rc = open_all(cx, &cfg, &pol, &st)) != EX_OK_)
		return rc;
	if ((u = rul_user_named(pol, uname)) == NULL) {
		log_fatalx("explain: no [user %s] in the configuration", uname);
		close_all(cfg, pol, st);
		return EX_DATAERR_;
	}
	{
		char sw[32], lt[32];

		rgt_format_duration(sw, u->cfg->spam_lock_window);
		rgt_format_duration(lt, u->cfg->lock_timeout);
		printf("user %s (type %s, identification %s): spam threshold "
		    "%lld in %s, lock timeout %s, %lld automatic unlocks "
		    "allowed\n", u->name, u->cfg->type, u->cfg->identification,
		    u->cfg->spam_lock_threshold, sw, lt,
		    u->cfg->max_unlocks_by_timeout);
	}
	lk = lk_open_sqlite(st);
	lk_each(lk, u->name, LK_STORED, explain_lock, &n, err, sizeof(err));
	if (n == 0)
		printf("  not locked\n");
	if ((n = cls_of(st, u->name)) >= 0)
		printf("  its envelope-sender identity locks: restriction "
		    "class rg_c%d\n", n);
	printf("decisions (newest first):\n");
	lk_events_each(lk, u->name, 20, explain_event, NULL);
	lk_close(lk);
	printf("spam verdicts of its messages (newest first):\n");
	ex.pol = pol;
	ex.u = u;
	ex.n = 0;
	ard_spam_newest(st, 500, explain_spam, &ex);
	close_all(cfg, pol, st);
	return EX_OK_;
}

typedef struct idrow {
	const rul_user *u;
	char *id;
	long messages, spam;
} idrow;

/* cmp_idrow - by user, then identity */
static int
cmp_idrow(const void *x, const void *y)
{
	const idrow *a = x, *b = y;
	int r = strcmp(a->u->name, b->u->name);

	return r ? r : strcmp(a->id, b->id);
}

/* the identities being gathered */
typedef struct ident_ctx {
	const rul_policy *pol;
	const char *only;
	idrow *rows;
	size_t nrows;
} ident_ctx;

/* ident_msg - one outgoing message: its identity counted (and its spam) */
static void
ident_msg(void *arg, ard_cursor *cur, const ard_msg *m)
{
	ident_ctx *x = arg;
	const rul_user *u = rul_user_of(x->pol, m->sasl, m->ip, m->sender);
	rul_header hs[16];
	int nh = 0;
	char id[512];
	const char *hn;
	size_t i;

	if (u == NULL || (x->only && strcasecmp(x->only, u->name) != 0))
		return;
	if (strcmp(u->cfg->identification, "header") == 0)
		nh = ard_cursor_headers(cur, hs, 16);
	if (rul_identity(x->pol, u, m->sender, m->sasl, hs, nh, id, sizeof(id),
	    &hn)) {
		for (i = 0; i < x->nrows; i++)
			if (x->rows[i].u == u && strcmp(x->rows[i].id, id) == 0)
				break;
		if (i == x->nrows) {
			x->rows = xrealloc(x->rows, (x->nrows + 1)
			    * sizeof(idrow));
			x->rows[x->nrows].u = u;
			x->rows[x->nrows].id = xstrdup(id);
			x->rows[x->nrows].messages = x->rows[x->nrows].spam = 0;
			x->nrows++;
		}
		x->rows[i].messages++;
		/* spam: a trusted verdict (rules/policy.c) */
		if (m->source != NULL && rul_trusted(x->pol, m->source))
			x->rows[i].spam++;
	}
	ard_headers_free(hs, nh);
}

/* cmd_identities - the identities seen inside each user */
int
cmd_identities(const cli_ctx *cx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "since", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	rg_config *cfg;
	rul_policy *pol;
	rg_store *st;
	lk_store *lk;
	ident_ctx ix;
	char err[512];
	const char *only = NULL;
	long long since = rgt_now() - 7 * 86400 * 1000000LL;
	idrow *rows = NULL;
	size_t nrows = 0, i, j;
	int ch, rc, json = 0;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'u': only = optarg; break;
		case 's': {
			rg_usec t;

			if (rgt_parse_time(optarg, &t) != 0) {
				log_fatalx("identities: --since: '%s' is not a time",
				    optarg);
				return EX_USAGE_;
			}
			since = t;
			break;
		}
		case 'j': json = 1; break;
		case 'h':
			printf("usage: relayguard [-c CONFIG] identities [--user U] "
			    "[--since T] [--json]\n\nThe identities seen inside "
			    "each user since T (default: 7 days ago), with\ntheir "
			    "messages, spam and locks. A cut header value is no "
			    "identity.\n");
			return EX_OK_;
		default:
			return EX_USAGE_;
		}
	}
	if ((rc = open_all(cx, &cfg, &pol, &st)) != EX_OK_)
		return rc;
	ix.pol = pol;
	ix.only = only;
	ix.rows = NULL;
	ix.nrows = 0;
	if (ard_outgoing_since(st, since, ident_msg, &ix, err, sizeof(err))
	    != 0) {
		log_warnx("%s", err);
		close_all(cfg, pol, st);
		return EX_SOFTWARE_;
	}
	rows = ix.rows;
	nrows = ix.nrows;
	lk = lk_open_sqlite(st);
	if (nrows > 1)
		qsort(rows, nrows, sizeof(idrow), cmp_idrow);
	if (!json)
		printf("%-28s %-32s %8s %5s %s\n", "user", "identity", "messages",
		    "spam", "state");
	for (i = 0; i < nrows; i++) {
		strbuf sb;
		int first = 1, locked = 0;
		char t[64] = "";
		long long until;

		if (lk_find(lk, "identity", rows[i].u->name, rows[i].id,
		    &until)) {
			locked = 1;
			if (until)
				rgt_format(t, until);
			else
				snprintf(t, sizeof(t), "unlock");
		}
		sb_init(&sb);
		if (json) {
			sb_addc(&sb, '{');
			sb_json_kv_str(&sb, &first, "user", rows[i].u->name,
			    strlen(rows[i].u->name));
			sb_json_kv_str(&sb, &first, "identity", rows[i].id,
			    strlen(rows[i].id));
			sb_json_kv_int(&sb, &first, "messages", rows[i].messages);
			sb_json_kv_int(&sb, &first, "spam", rows[i].spam);
			sb_json_kv_bool(&sb, &first, "locked", locked);
			if (locked)
				sb_json_kv_str(&sb, &first, "until", t, strlen(t));
			sb_addc(&sb, '}');
			puts(sb.s);
		} else {
			/* log text: quoted when odd */
			sb_json_str(&sb, rows[i].id, strlen(rows[i].id));
			printf("%-28s %-32s %8ld %5ld %s%s\n", rows[i].u->name, sb.s,
			    rows[i].messages, rows[i].spam, locked ? "locked until "
			    : "ok", t);
		}
		sb_free(&sb);
	}
	for (j = 0; j < nrows; j++)
		free(rows[j].id);
	free(rows);
	lk_close(lk);
	close_all(cfg, pol, st);
	return EX_OK_;
}
