/*
 * analyze_cmd.c - `relayguard analyze`, the lock commands, `users`, and
 * `postfix-config`: the analyzer's front end.
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
	/* map_backend = pgsql: PostgreSQL out of reach, decide nothing */
	if (!dry && map_pg_enabled(cfg) && cli_pgsql_probe(cfg) != 0) {
		close(lockfd);
		close_all(cfg, pol, st);
		return EX_TEMPFAIL_;
	}
	memset(&res, 0, sizeof(res));
	rc = EX_OK_;
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

/*
 * relayguard_service - master.cf: a loopback submission service for
 * relayguard's own mail (alerts, abuse reports carrying spam): no milter,
 * no header checks, none of the lock maps, no rate limits
 */
static void
relayguard_service(const rg_config *cfg)
{
	const char *s = cfg->smtp_server, *colon = strrchr(s, ':');
	char port[16] = "10587";

	if (colon != NULL && (strncmp(s, "127.0.0.1:", 10) == 0
	    || strncmp(s, "localhost:", 10) == 0) && strcmp(colon + 1, "25"))
		snprintf(port, sizeof(port), "%s", colon + 1);
	printf("\n# master.cf: relayguard's own mail (set [mail] smtp_server = "
	    "127.0.0.1:%s)\n127.0.0.1:%s inet n - n - - smtpd\n"
	    "  -o syslog_name=postfix/relayguard\n"
	    "  -o receive_override_options=no_header_body_checks,no_milters\n"
	    "  -o smtpd_milters=\n  -o mynetworks=127.0.0.1/32\n"
	    "  -o smtpd_client_restrictions=\n  -o smtpd_helo_restrictions=\n"
	    "  -o smtpd_sender_restrictions=\n  -o smtpd_data_restrictions=\n"
	    "  -o smtpd_relay_restrictions=permit_mynetworks,reject\n"
	    "  -o smtpd_recipient_restrictions=permit_mynetworks,reject\n"
	    "  -o smtpd_client_event_limit_exceptions=127.0.0.1\n", port, port);
}

/* cmd_postfix_config - the main.cf lines that wire relayguard in */
int
cmd_postfix_config(const cli_ctx *cx, int argc, char **argv)
{
	rg_config *cfg;
	strbuf info, strip;
	const char *d, *t;
	int rc;

	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		printf("usage: relayguard [-c CONFIG] postfix-config\n\nPrints "
		    "the main.cf settings that make Postfix enforce relayguard's "
		    "maps,\nand the fixed header_checks rules that `analyze` "
		    "writes beside them.\nWith map_backend = pgsql: the "
		    "proxy:pgsql: lines; --query-directory DIR writes\nthe "
		    "pgsql: query files (one per map) into DIR.\n");
		return EX_OK_;
	}
	if ((cfg = cli_load_config(cx, &rc)) == NULL)
		return rc;
	if (map_pg_enabled(cfg))	/* issue 14: the pgsql tables */
		return cli_postfix_config_pgsql(cfg, argc, argv);
	d = cfg->map_directory;
	t = cfg->map_type;
	printf("# main.cf settings for relayguard (relayguard postfix-config)\n"
	    "# check_sasl_access needs SASL on\n"
	    "smtpd_sasl_auth_enable = yes\n"
	    "# exact domain keys in the access maps (no subdomain matches)\n"
	    "parent_domain_matches_subdomains = debug_peer_list, "
	    "fast_flush_domains, mynetworks, permit_mbox_mail, relay_domains\n"
	    "# archiving first (BCC), then the locks, checked at RCPT, with the\n"
	    "# administrator's address let through before them\n"
	    "smtpd_recipient_restrictions =\n"
	    "    check_sasl_access %s:%s/archive_sasl,\n"
	    "    check_client_access cidr:%s/archive_client,\n"
	    "    check_recipient_access %s:%s/admin_access,\n"
	    "    check_sasl_access %s:%s/sasl_access,\n"
	    "    check_client_access cidr:%s/client_access,\n"
	    "    check_sender_access %s:%s/sender_access,\n"
	    "    check_sender_access pcre:%s/sender_access_pcre,\n"
	    "    permit_mynetworks, permit_sasl_authenticated,\n"
	    "    reject_unauth_destination\n"
	    "# locked header identities first, then INFO for every identity "
	    "header\n"
	    "header_checks = pcre:%s/header_checks, pcre:%s/header_static\n"
	    "# an attached message cannot inject an identity\n"
	    "nested_header_checks =\n"
	    "# headers with remove = yes (smtp(8) deliveries only)\n"
	    "smtp_header_checks = pcre:%s/smtp_header_checks\n"
	    "# archiving\n"
	    "sender_bcc_maps = %s:%s/sender_bcc\n"
	    "# Postfix's own per-client rate limits: the immediate first line\n"
	    "anvil_rate_time_unit = 60s\n"
	    "smtpd_client_connection_rate_limit = 120\n"
	    "smtpd_client_message_rate_limit = 300\n"
	    "smtpd_client_recipient_rate_limit = 1000\n",
	    t, d, d, t, d, t, d, d, t, d, d, d, d, d, t, d);
	sb_init(&info);
	icl_main_cf(cfg, &info);
	printf("%s", info.s);
	sb_reset(&info);
	sb_init(&strip);
	ana_static(cfg, &info, &strip);
	printf("\n# %s/header_static (written by analyze)\n%s", d, info.s);
	printf("\n# %s/smtp_header_checks (written by analyze)\n%s", d, strip.s);
	for (rc = 0; rc < cfg->nusers && !cfg->users[rc].quarantine; rc++)
		;
	if (rc < cfg->nusers)
		printf("\n# quarantine: rspamd's milter holds the spam of the "
		    "users with quarantine = yes\n# (relayguard rspamd-config "
		    "--quarantine > /etc/rspamd/rspamd.local.lua):\n"
		    "# smtpd_milters lists rspamd's proxy (inet:127.0.0.1:11332"
		    " by default). Held mail\n# waits in the hold queue "
		    "(postqueue -j); mail that quarantine release re-queues\n"
		    "# (postsuper -r) passes no milter again.\n");
	relayguard_service(cfg);
	sb_free(&info);
	sb_free(&strip);
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

/* has_word - does a Postfix list contain the word (up to , or space)? */
static const char *
find_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p = list;

	while ((p = strstr(p, word)) != NULL) {
		if ((p == list || strchr(" ,\t", p[-1])) && (p[n] == '\0'
		    || strchr(" ,\t", p[n])))
			return p;
		p += n;
	}
	return NULL;
}

/* cmd_check_postfix - is Postfix wired to relayguard's maps? */
int
cmd_check_postfix(const cli_ctx *cx, int argc, char **argv)
{
	rg_config *cfg;
	static const char *pc_args[] = { "-n", NULL };
	char why[1024], rr[8192] = "", hc[4096] = "",
	    sasl[64] = "", nested[4096] = "-", pdms[4096] = "-", bcc[4096] = "",
	    milters[4096] = "";
	char *line, *next;
	strbuf pc;
	int rc, code, problems = 0;
	const char *pos, *p1, *p2;
	char want[1200];
	strbuf all, cls;

	if (argc > 1) {
		printf("usage: relayguard [-c CONFIG] check-postfix\n\nReads "
		    "`postconf -n` of [global] postfix_config_directory and says "
		    "what is\nmissing or in the wrong order for relayguard's "
		    "maps to be enforced.\n");
		return strcmp(argv[1], "--help") == 0 ? EX_OK_ : EX_USAGE_;
	}
	if ((cfg = cli_load_config(cx, &rc)) == NULL)
		return rc;
	sb_init(&pc);
	if (ana_command(cfg, "postconf", pc_args, &pc, &code, why,
	    sizeof(why)) != 0 || code != 0) {
		log_warnx("check-postfix: %s", *why ? why : "postconf failed");
		sb_free(&pc);
		cfg_free(cfg);
		return EX_UNAVAILABLE_;
	}
	sb_init(&all);
	for (line = pc.s; line != NULL && *line; line = next) {
		char *v;
		size_t l;

		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		sb_adds(&all, line);	/* the restriction classes, below */
		sb_adds(&all, "\n");
		l = strlen(line);
		if (l >= 2 && strcmp(line + l - 2, " =") == 0) {
			/* "name =": an empty value */
			line[l - 2] = '\0';
			v = line + l;
		} else if ((v = strstr(line, " = ")) != NULL) {
			*v = '\0';
			v += 3;
		} else {
			continue;
		}
		if (strcmp(line, "smtpd_recipient_restrictions") == 0)
			snprintf(rr, sizeof(rr), "%s", v);
		else if (strcmp(line, "header_checks") == 0)
			snprintf(hc, sizeof(hc), "%s", v);
		else if (strcmp(line, "smtpd_sasl_auth_enable") == 0)
			snprintf(sasl, sizeof(sasl), "%s", v);
		else if (strcmp(line, "nested_header_checks") == 0)
			snprintf(nested, sizeof(nested), "%s", v);
		else if (strcmp(line, "parent_domain_matches_subdomains") == 0)
			snprintf(pdms, sizeof(pdms), "%s", v);
		else if (strcmp(line, "sender_bcc_maps") == 0)
			snprintf(bcc, sizeof(bcc), "%s", v);
		else if (strcmp(line, "smtpd_milters") == 0)
			snprintf(milters, sizeof(milters), "%s", v);
	}
	sb_free(&pc);
#define PROBLEM(...) do { printf(__VA_ARGS__); putchar('\n'); problems++; } while (0)
	if (strcmp(sasl, "yes") != 0)
		PROBLEM("smtpd_sasl_auth_enable is not yes: check_sasl_access "
		    "does nothing without SASL");
	p1 = find_word(rr, "permit_sasl_authenticated");
	p2 = find_word(rr, "permit_mynetworks");
	{
		static const char *maps[] = { "sasl_access", "client_access",
		    "sender_access", "sender_access_pcre" };
		size_t i;

		for (i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
			map_pg_path(cfg, maps[i], want, sizeof(want));
			if ((pos = strstr(rr, want)) == NULL)
				PROBLEM("smtpd_recipient_restrictions does not list %s",
				    want);
			else if ((p1 && p1 < pos) || (p2 && p2 < pos))
				PROBLEM("smtpd_recipient_restrictions lists %s after "
				    "permit_sasl_authenticated or permit_mynetworks: "
				    "the lock is never checked", want);
		}
		map_pg_path(cfg, "admin_access", want, sizeof(want));
		if (*cfg->admin_contact && strstr(rr, want) == NULL)
			PROBLEM("smtpd_recipient_restrictions does not let the "
			    "admin contact through (%s)", want);
		map_pg_path(cfg, "archive_sasl", want, sizeof(want));
		if ((pos = strstr(rr, want)) == NULL)
			PROBLEM("smtpd_recipient_restrictions does not list %s: "
			    "no archiving of logins", want);
		else if (strstr(rr, "admin_access") != NULL
		    && strstr(rr, "admin_access") < pos)
			PROBLEM("%s comes after admin_access: mail to the admin "
			    "contact is not archived", want);
	}
	snprintf(want, sizeof(want), "%s/header_checks", cfg->map_directory);
	if (strstr(hc, want) == NULL)
		PROBLEM("header_checks does not list pcre:%s: header identity "
		    "locks are not enforced", want);
	else if (strstr(hc, want) != hc + strlen("pcre:"))
		PROBLEM("header_checks: pcre:%s must come first (the first "
		    "match wins)", want);
	if (strcmp(nested, "") != 0)
		PROBLEM("nested_header_checks is not empty: an attached message "
		    "could inject an identity header");
	if (strcmp(pdms, "-") == 0 || find_word(pdms, "smtpd_access_maps"))
		PROBLEM("parent_domain_matches_subdomains includes "
		    "smtpd_access_maps: a domain key in sender_access also "
		    "matches its subdomains");
	map_pg_path(cfg, "sender_bcc", want, sizeof(want));
	if (strstr(bcc, want) == NULL)
		PROBLEM("sender_bcc_maps does not list %s: no archiving", want);
	/* the quarantine: rspamd's milter holds (rspamd-config --quarantine) */
	for (rc = 0; rc < cfg->nusers && !cfg->users[rc].quarantine; rc++)
		;
	if (rc < cfg->nusers && *milters == '\0')
		PROBLEM("smtpd_milters is empty: no filter can hold the spam of "
		    "the users with quarantine = yes (rspamd's proxy, and "
		    "rspamd-config --quarantine)");
	problems += cli_check_pgsql(cfg, all.s);	/* map_backend = pgsql */
	sb_init(&cls);
	problems += icl_check_main_cf(cfg, all.s, &cls);
	printf("%s", cls.s);
	sb_free(&cls);
	sb_free(&all);
	if (problems == 0)
		printf("Postfix at %s is wired to relayguard's maps\n",
		    cfg->postfix_config_directory);
	cfg_free(cfg);
	return problems ? 1 : EX_OK_;
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
