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
#include "../analyzer/mapowner.h"
#include "../analyzer/quarantine.h"
#include "../common/log.h"
#include "../common/rgtime.h"
#include "../common/xalloc.h"
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

/* open_all - config, policy and database for the analyzer commands */
static int
open_all(const cli_ctx *cx, rg_config **cfg, rul_policy **pol, rg_store **st)
{
	char err[1024];
	int rc;

	*pol = NULL;
	*st = NULL;
	log_phase(NULL);
	if ((*cfg = cli_load_config(cx, &rc)) == NULL)
		return rc;
	log_phase("configuration");
	if ((*pol = rul_new(*cfg, err, sizeof(err))) == NULL) {
		log_warnx("%s", err);
		cfg_free(*cfg);
		return EX_CONFIG_;
	}
	log_phase("policy");
	cli_policy_fold(*cfg, *pol);
	if ((*st = store_open((*cfg)->database, 0, err, sizeof(err))) == NULL) {
		rc = errno == ENOENT ? EX_NOINPUT_ : EX_UNAVAILABLE_;
		log_warnx("%s", err);
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
				log_warnx("analyze: --now: '%s' is not a time", optarg);
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
		log_warnx("analyze: %s", err);
		close(lockfd);
		close_all(cfg, pol, st);
		return EX_DATAERR_;
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
	}
	log_phase("queue");
	if (lockfd >= 0)
		close(lockfd);
	if (!dry)
		cli_mail_after(cfg, st);
	close_all(cfg, pol, st);
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
				log_warnx("%s: --for: '%s' is not a duration",
				    action, optarg);
				return EX_USAGE_;
			}
			break;
		case 'h':
			printf("usage: relayguard [-c CONFIG] lock user|identity NAME "
			    "--reason TEXT [--for DURATION]\n"
			    "       relayguard [-c CONFIG] unlock user|identity NAME\n"
			    "       relayguard [-c CONFIG] reset user|identity NAME\n\n"
			    "An identity is named USER/IDENTITY. lock without --for "
			    "lasts until unlock;\nreset sets the count of automatic "
			    "unlocks back to 0. The maps follow at once.\n");
			return EX_OK_;
		default:
			return EX_USAGE_;
		}
	}
	if (argc - optind != 2 || (strcmp(argv[optind], "user") != 0
	    && strcmp(argv[optind], "identity") != 0)) {
		log_warnx("%s: usage: %s user|identity NAME", action, action);
		return EX_USAGE_;
	}
	if (strcmp(action, "lock") == 0 && reason == NULL) {
		log_warnx("lock: --reason is required");
		return EX_USAGE_;
	}
	if ((rc = open_all(cx, &cfg, &pol, &st)) != EX_OK_)
		return rc;
	if ((lockfd = cli_analyze_lock(cfg, cfg->analyze_lock_wait)) < 0) {
		close_all(cfg, pol, st);
		return EX_TEMPFAIL_;
	}
	if (ana_claim_maps(cfg, st, 0, stdout, err, sizeof(err)) != 0) {
		log_warnx("%s: %s", action, err);
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

/* cmd_users - each user, its kind and its locks */
int
cmd_users(const cli_ctx *cx, int argc, char **argv)
{
	rg_config *cfg;
	rul_policy *pol;
	rg_store *st;
	sqlite3_stmt *q;
	ana_count *cnt;
	int i, rc, json = argc > 1 && strcmp(argv[1], "--json") == 0;

	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		printf("usage: relayguard [-c CONFIG] users [--json]\n\nEach "
		    "configured user: kind, locks (reason, since, until), "
		    "automatic unlocks used,\nand its counts now in each "
		    "window against its limits (0: no limit).\n");
		return EX_OK_;
	}
	if ((rc = open_all(cx, &cfg, &pol, &st)) != EX_OK_)
		return rc;
	if (sqlite3_prepare_v2(store_db(st), "SELECT kind, identity, reason, "
	    "since, COALESCE(until, 0), (SELECT count FROM unlocks WHERE "
	    "unlocks.kind = locks.kind AND unlocks.user = locks.user AND "
	    "unlocks.identity = locks.identity), method, header FROM locks "
	    "WHERE user = ?1 ORDER BY kind DESC, identity, reason", -1, &q,
	    NULL) != SQLITE_OK) {
		log_warnx("%s", sqlite3_errmsg(store_db(st)));
		close_all(cfg, pol, st);
		return EX_SOFTWARE_;
	}
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
		sqlite3_bind_text(q, 1, u->name, -1, SQLITE_STATIC);
		if (json) {
			int first = 1;

			sb_addc(&sb, '{');
			sb_json_kv_str(&sb, &first, "user", u->name, strlen(u->name));
			sb_json_kv_str(&sb, &first, "type", u->cfg->type,
			    strlen(u->cfg->type));
			sb_json_key(&sb, &first, "locks");
			sb_addc(&sb, '[');
		}
		while (sqlite3_step(q) == SQLITE_ROW) {
			char t1[64], t2[64];
			const char *id = (const char *)sqlite3_column_text(q, 1);
			/* a lock that no map Postfix checks can hold */
			const char *ne = *id == '\0' ? NULL : ana_enforceable(pol,
			    (const char *)sqlite3_column_text(q, 6),
			    (const char *)sqlite3_column_text(q, 7), id);

			rgt_format(t1, sqlite3_column_int64(q, 3));
			if (sqlite3_column_int64(q, 4))
				rgt_format(t2, sqlite3_column_int64(q, 4));
			else
				snprintf(t2, sizeof(t2), "unlock");
			if (json) {
				int f = 1;

				if (any)
					sb_addc(&sb, ',');
				sb_addc(&sb, '{');
				sb_json_kv_str(&sb, &f, "kind", (const char *)
				    sqlite3_column_text(q, 0), (size_t)
				    sqlite3_column_bytes(q, 0));
				if (*id)
					sb_json_kv_str(&sb, &f, "identity", id,
					    strlen(id));
				sb_json_kv_str(&sb, &f, "reason", (const char *)
				    sqlite3_column_text(q, 2), (size_t)
				    sqlite3_column_bytes(q, 2));
				sb_json_kv_str(&sb, &f, "since", t1, strlen(t1));
				sb_json_kv_str(&sb, &f, "until", t2, strlen(t2));
				sb_json_kv_int(&sb, &f, "automatic_unlocks_used",
				    sqlite3_column_int64(q, 5));
				if (cfg_dry_run(cfg))
					sb_json_kv_bool(&sb, &f, "dry_run", 1);
				if (ne != NULL) {
					sb_json_key(&sb, &f, "enforceable");
					sb_adds(&sb, "false");
					sb_json_kv_str(&sb, &f, "not_enforceable",
					    ne, strlen(ne));
				}
				sb_addc(&sb, '}');
			} else {
				printf("%-32s %-6s locked (%s%s%s) since %s until %s,"
				    " %lld automatic unlocks used%s%s\n", u->name,
				    u->cfg->type, (const char *)sqlite3_column_text(q,
				    2), *id ? ", identity " : "", *id ? id : "", t1,
				    t2, sqlite3_column_int64(q, 5), ne ? "; not "
				    "enforceable: as a Postfix map key it " : "",
				    ne ? ne : "");
			}
			any = 1;
		}
		sqlite3_reset(q);
		if (json) {
			int f = 1;

			sb_adds(&sb, "],");
			sb_json_key(&sb, &f, "counts");
			sb_printf(&sb, "{\"spam\":%lld,\"spam_threshold\":%lld,"
			    "\"spam_window\":%lld,\"sessions_minute\":%lld,"
			    "\"limit_per_minute\":%lld,\"sessions_hour\":%lld,"
			    "\"limit_per_hour\":%lld,\"recipients_day\":%lld,"
			    "\"max_recipients_per_day\":%lld,\"invalid\":%lld,"
			    "\"invalid_recipient_limit\":%lld}}", n->spam,
			    uc->spam_lock_threshold, uc->spam_lock_window,
			    n->sessions_minute, uc->connection_limits
			    ? uc->limit_per_minute : 0, n->sessions_hour,
			    uc->connection_limits ? uc->limit_per_hour : 0,
			    n->recipients_day, uc->max_recipients_per_day,
			    n->invalid, uc->invalid_recipient_limit);
			puts(sb.s);
		} else {
			if (!any)
				printf("%-32s %-6s ok\n", u->name, uc->type);
			printf("%-32s %-6s spam %lld/%lld in %llds; sessions "
			    "%lld/%lld per minute, %lld/%lld per hour; recipients "
			    "%lld/%lld per day; invalid %lld/%lld\n", "", "",
			    n->spam, uc->spam_lock_threshold,
			    uc->spam_lock_window, n->sessions_minute,
			    uc->connection_limits ? uc->limit_per_minute : 0,
			    n->sessions_hour, uc->connection_limits
			    ? uc->limit_per_hour : 0, n->recipients_day,
			    uc->max_recipients_per_day, n->invalid,
			    uc->invalid_recipient_limit);
		}
		sb_free(&sb);
	}
	free(cnt);
	sqlite3_finalize(q);
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
		log_warnx("rspamd-config: unknown argument '%s' (try --help)",
		    argv[1]);
		return EX_USAGE_;
	}
	if ((cfg = cli_load_config(cx, &rc)) == NULL)
		return rc;
	if (argc > 1 && strcmp(argv[1], "--quarantine") == 0) {
		rul_policy *pol;
		char perr[1024];

		if ((pol = rul_new(cfg, perr, sizeof(perr))) == NULL) {
			log_warnx("%s", perr);
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
			log_warnx("rspamd-config: %s '%s' has a '$' or a control "
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

/* cmd_explain - the locks, decisions and recent spam behind a user's state */
int
cmd_explain(const cli_ctx *cx, int argc, char **argv)
{
	rg_config *cfg;
	rul_policy *pol;
	rg_store *st;
	sqlite3_stmt *q;
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
		log_warnx("explain: no [user %s] in the configuration", uname);
		close_all(cfg, pol, st);
		return EX_DATAERR_;
	}
	printf("user %s (type %s, identification %s): spam threshold %lld in "
	    "%llds, lock timeout %llds, %lld automatic unlocks allowed\n",
	    u->name, u->cfg->type, u->cfg->identification,
	    u->cfg->spam_lock_threshold, u->cfg->spam_lock_window,
	    u->cfg->lock_timeout, u->cfg->max_unlocks_by_timeout);
	if (sqlite3_prepare_v2(store_db(st), "SELECT kind, identity, reason, "
	    "since, COALESCE(until, 0), detail FROM locks WHERE user = ?1",
	    -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_text(q, 1, u->name, -1, SQLITE_STATIC);
		while (sqlite3_step(q) == SQLITE_ROW) {
			char t1[64], t2[64] = "unlock";

			rgt_format(t1, sqlite3_column_int64(q, 3));
			if (sqlite3_column_int64(q, 4))
				rgt_format(t2, sqlite3_column_int64(q, 4));
			printf("  lock: %s%s%s reason=%s since=%s until=%s %s\n",
			    sqlite3_column_text(q, 0), *sqlite3_column_text(q, 1)
			    ? " " : "", sqlite3_column_text(q, 1),
			    sqlite3_column_text(q, 2), t1, t2,
			    sqlite3_column_text(q, 5) ? (const char *)
			    sqlite3_column_text(q, 5) : "");
			n++;
		}
		sqlite3_finalize(q);
	}
	if (n == 0)
		printf("  not locked\n");
	if (sqlite3_prepare_v2(store_db(st), "SELECT class FROM ana_classes "
	    "WHERE user = ?1", -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_text(q, 1, u->name, -1, SQLITE_STATIC);
		if (sqlite3_step(q) == SQLITE_ROW)
			printf("  its envelope-sender identity locks: restriction "
			    "class rg_c%d\n", sqlite3_column_int(q, 0));
		sqlite3_finalize(q);
	}
	printf("decisions (newest first):\n");
	if (sqlite3_prepare_v2(store_db(st), "SELECT ts, action, kind, identity, "
	    "rule, COALESCE(detail, '') FROM events WHERE user = ?1 ORDER BY ts "
	    "DESC, id DESC LIMIT 20", -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_text(q, 1, u->name, -1, SQLITE_STATIC);
		while (sqlite3_step(q) == SQLITE_ROW) {
			char t[64];

			rgt_format(t, sqlite3_column_int64(q, 0));
			printf("  %s %s %s%s%s rule=%s %s\n", t,
			    sqlite3_column_text(q, 1), sqlite3_column_text(q, 2),
			    *sqlite3_column_text(q, 3) ? " " : "",
			    sqlite3_column_text(q, 3), sqlite3_column_text(q, 4),
			    sqlite3_column_text(q, 5));
		}
		sqlite3_finalize(q);
	}
	printf("spam verdicts of its messages (newest first):\n");
	if (sqlite3_prepare_v2(store_db(st), "SELECT m.first_seen, m.host, "
	    "COALESCE(m.queue_id, 'NOQUEUE'), m.sasl_username, m.client_ip, "
	    "m.sender, v.source, v.score FROM messages m JOIN verdicts v ON "
	    "v.message = m.id WHERE v.spam = 1 ORDER BY m.first_seen DESC "
	    "LIMIT 500", -1, &q, NULL) == SQLITE_OK) {
		n = 0;
		while (sqlite3_step(q) == SQLITE_ROW && n < 20) {
			char t[64];

			if (rul_user_of(pol, (const char *)sqlite3_column_text(q, 3),
			    (const char *)sqlite3_column_text(q, 4),
			    (const char *)sqlite3_column_text(q, 5)) != u)
				continue;
			rgt_format(t, sqlite3_column_int64(q, 0));
			printf("  %s %s %s sender=%s source=%s score=%s%s\n", t,
			    sqlite3_column_text(q, 1), sqlite3_column_text(q, 2),
			    sqlite3_column_text(q, 5) ? (const char *)
			    sqlite3_column_text(q, 5) : "-",
			    sqlite3_column_text(q, 6), sqlite3_column_text(q, 7)
			    ? (const char *)sqlite3_column_text(q, 7) : "-",
			    rul_trusted(pol, (const char *)sqlite3_column_text(q,
			    6)) ? "" : " (not trusted)");
			n++;
		}
		sqlite3_finalize(q);
	}
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
	sqlite3_stmt *q, *hq, *lq;
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
				log_warnx("identities: --since: '%s' is not a time",
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
	if (sqlite3_prepare_v2(store_db(st), "SELECT m.id, m.sasl_username, "
	    "m.client_ip, m.sender, EXISTS (SELECT 1 FROM verdicts v WHERE "
	    "v.message = m.id AND v.spam = 1 AND v.trusted = 1) FROM messages "
	    "m WHERE m.first_seen >= ?1 AND m.kind = 'message' AND "
	    "m.bounce_of IS NULL AND m.filtered_as IS NULL", -1, &q, NULL)
	    != SQLITE_OK || sqlite3_prepare_v2(store_db(st), "SELECT name, "
	    "value, cut FROM headers WHERE message = ?1", -1, &hq, NULL)
	    != SQLITE_OK || sqlite3_prepare_v2(store_db(st), "SELECT reason, "
	    "COALESCE(until, 0) FROM locks WHERE kind = 'identity' AND user = ?1 "
	    "AND identity = ?2", -1, &lq, NULL) != SQLITE_OK) {
		log_warnx("%s", sqlite3_errmsg(store_db(st)));
		close_all(cfg, pol, st);
		return EX_SOFTWARE_;
	}
	sqlite3_bind_int64(q, 1, since);
	while (sqlite3_step(q) == SQLITE_ROW) {
		const char *sasl = (const char *)sqlite3_column_text(q, 1);
		const char *sender = (const char *)sqlite3_column_text(q, 3);
		const rul_user *u = rul_user_of(pol, sasl, (const char *)
		    sqlite3_column_text(q, 2), sender);
		rul_header hs[16];
		int nh = 0;
		char id[512];
		const char *hn;

		if (u == NULL || (only && strcasecmp(only, u->name) != 0))
			continue;
		if (strcmp(u->cfg->identification, "header") == 0)
			nh = ana_headers(hq, sqlite3_column_int64(q, 0), hs, 16);
		if (rul_identity(pol, u, sender, sasl, hs, nh, id, sizeof(id),
		    &hn)) {
			for (i = 0; i < nrows; i++)
				if (rows[i].u == u && strcmp(rows[i].id, id) == 0)
					break;
			if (i == nrows) {
				rows = xrealloc(rows, (nrows + 1) * sizeof(idrow));
				rows[nrows].u = u;
				rows[nrows].id = xstrdup(id);
				rows[nrows].messages = rows[nrows].spam = 0;
				nrows++;
			}
			rows[i].messages++;
			rows[i].spam += sqlite3_column_int(q, 4);
		}
		ana_headers_free(hs, nh);
	}
	if (nrows > 1)
		qsort(rows, nrows, sizeof(idrow), cmp_idrow);
	if (!json)
		printf("%-28s %-32s %8s %5s %s\n", "user", "identity", "messages",
		    "spam", "state");
	for (i = 0; i < nrows; i++) {
		strbuf sb;
		int first = 1, locked = 0;
		char t[64] = "";

		sqlite3_bind_text(lq, 1, rows[i].u->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(lq, 2, rows[i].id, -1, SQLITE_STATIC);
		if (sqlite3_step(lq) == SQLITE_ROW) {
			locked = 1;
			if (sqlite3_column_int64(lq, 1))
				rgt_format(t, sqlite3_column_int64(lq, 1));
			else
				snprintf(t, sizeof(t), "unlock");
		}
		sqlite3_reset(lq);
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
	sqlite3_finalize(q);
	sqlite3_finalize(hq);
	sqlite3_finalize(lq);
	close_all(cfg, pol, st);
	return EX_OK_;
}
