/*
 * postfix_cmd.c - `relayguard postfix-config` and `check-postfix`: their
 * arguments and output. What they print is made in analyzer/pfconfig.c.
 */
#include <stdio.h>
#include <string.h>

#include "../analyzer/analyze.h"
#include "../analyzer/map_pgsql.h"
#include "../analyzer/pfconfig.h"
#include "../common/log.h"
#include "../common/strbuf.h"
#include "cli.h"

/* cmd_postfix_config - the main.cf lines that wire relayguard in */
int
cmd_postfix_config(const cli_ctx *cx, int argc, char **argv)
{
	rg_config *cfg;
	strbuf out;
	char why[1024];
	int rc, merge = 0, filter = 0, master = 0, apply = 0, i, n;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--merge") == 0)
			merge = 1;
		else if (strcmp(argv[i], "--filter") == 0)
			filter = 1;
		else if (strcmp(argv[i], "--master") == 0)
			master = 1;
		else if (strcmp(argv[i], "--apply") == 0)
			apply = 1;
		else if ((strcmp(argv[i], "--query-directory") == 0
		    || strcmp(argv[i], "--policy-user") == 0) && i + 1 < argc)
			i++;		/* map_backend = pgsql: below */
		else if (strcmp(argv[i], "--policy-service") == 0)
			;		/* [pgsql] policy_service: below */
		else {
			printf("usage: relayguard [-c CONFIG] postfix-config "
			    "[--merge] [--filter] [--master] [--apply]\n\n"
			    "Prints the main.cf settings that make Postfix "
			    "enforce relayguard's maps\n(only main.cf lines "
			    "and comments: append them to main.cf). The maps\n"
			    "themselves are written by `analyze`. With enforce "
			    "= dry-run the lock\nchecks are wrapped in "
			    "warn_if_reject: Postfix only logs reject_warning.\n\n"
			    "  --merge   keep the relay's own "
			    "smtpd_recipient_restrictions (postconf -xh),\n"
			    "            relayguard's checks before its first "
			    "permit; master.cf services\n"
			    "            that override the list (postconf -P) get "
			    "a postconf -P line\n"
			    "  --filter  instead: the content filter's wiring "
			    "(rspamd as a milter, its log)\n"
			    "  --master  instead: the master.cf service for "
			    "relayguard's own mail\n"
			    "  --apply   set the main.cf lines in place with one "
			    "postconf -e (no\n"
			    "            duplicate entries; not with --master)\n"
			    "  --query-directory DIR\n"
			    "            map_backend = pgsql: the proxy:pgsql: "
			    "lines, and the pgsql: query\n"
			    "            files (one per map) written into DIR\n"
			    "  --policy-service [--policy-user USER]\n"
			    "            [pgsql] policy_service = yes: instead, "
			    "the master.cf service\n"
			    "            that runs `relayguard policy` (spawn, as "
			    "USER, default relayguard)\n");
			return strcmp(argv[i], "--help") == 0 ? EX_OK_
			    : EX_USAGE_;
		}
	}
	if ((cfg = cli_load_config(cx, &rc)) == NULL)
		return rc;
	/* map_backend = pgsql: the policy service, or the tables */
	if (pfc_policy_mode(cfg) && !master && !filter)
		return cli_postfix_config_policy(cx, cfg, argc, argv);
	if (map_pg_enabled(cfg) && !master && !filter)
		return cli_postfix_config_pgsql(cfg, argc, argv);
	sb_init(&out);
	rc = EX_OK_;
	if (master)
		pfc_master_cf(cfg, &out);
	else if (filter)
		pfc_filter(cfg, &out);
	else if (merge && pfc_merge(cfg, &out, why, sizeof(why)) != 0) {
		log_warnx("postfix-config --merge: %s", why);
		rc = EX_UNAVAILABLE_;
	} else if (!merge)
		pfc_main_cf(cfg, &out);
	if (rc == EX_OK_ && apply && master) {
		log_fatalx("postfix-config: --apply sets main.cf lines; append "
		    "--master's service to master.cf");
		rc = EX_USAGE_;
	} else if (rc == EX_OK_ && apply) {
		if ((n = pfc_apply(cfg, out.s, why, sizeof(why))) < 0) {
			log_fatalx("postfix-config --apply: %s", why);
			rc = EX_UNAVAILABLE_;
		} else
			printf("postfix-config: %d settings set in %s/main.cf "
			    "(postconf -e); postfix reload to use them\n", n,
			    cfg->postfix_config_directory);
	} else if (rc == EX_OK_)
		fputs(out.s, stdout);
	sb_free(&out);
	cfg_free(cfg);
	return rc;
}

/* cmd_check_postfix - is Postfix wired to relayguard's maps? */
int
cmd_check_postfix(const cli_ctx *cx, int argc, char **argv)
{
	rg_config *cfg;
	char why[1024];
	strbuf out;
	int rc, problems;

	if (argc > 1) {
		printf("usage: relayguard [-c CONFIG] check-postfix\n\nReads "
		    "`postconf -n` and `postconf -P` (master.cf overrides) of "
		    "[global]\npostfix_config_directory and says what is "
		    "missing or in the wrong order\nfor relayguard's maps to "
		    "be enforced (exit 1), then warnings (no verdict\nsource, "
		    "short queue IDs, services without the filter) and notes "
		    "(exit 0).\npostconf's own message when it fails (exit "
		    "69).\n");
		return strcmp(argv[1], "--help") == 0 ? EX_OK_ : EX_USAGE_;
	}
	if ((cfg = cli_load_config(cx, &rc)) == NULL)
		return rc;
	sb_init(&out);
	if ((problems = pfc_check(cfg, &out, why, sizeof(why))) < 0) {
		log_warnx("check-postfix: %s", why);
		sb_free(&out);
		cfg_free(cfg);
		return EX_UNAVAILABLE_;
	}
	fputs(out.s, stdout);
	sb_free(&out);
	/* map_backend = pgsql: proxy_read_maps and a test lookup per table */
	if (map_pg_enabled(cfg)) {
		static const char *const n_args[] = { "-n", NULL };
		int code;

		sb_init(&out);
		if (ana_command(cfg, "postconf", n_args, &out, &code, why,
		    sizeof(why)) == 0 && code == 0)
			problems += cli_check_pgsql(cfg, out.s);
		sb_free(&out);
		if (pfc_policy_mode(cfg))
			problems += cli_check_policy(cfg);
	}
	if (problems == 0)
		printf("Postfix at %s is wired to relayguard's maps\n",
		    cfg->postfix_config_directory);
	cfg_free(cfg);
	return problems ? 1 : EX_OK_;
}
