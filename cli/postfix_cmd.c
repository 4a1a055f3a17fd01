/*
 * postfix_cmd.c - `relayguard postfix-config` and `check-postfix`: their
 * arguments and output. What they print is made in analyzer/pfconfig.c.
 */
#include <stdio.h>
#include <string.h>

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
	int rc;

	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		printf("usage: relayguard [-c CONFIG] postfix-config\n\nPrints "
		    "the main.cf settings that make Postfix enforce relayguard's "
		    "maps,\nand the fixed header_checks rules that `analyze` "
		    "writes beside them.\n");
		return EX_OK_;
	}
	if ((cfg = cli_load_config(cx, &rc)) == NULL)
		return rc;
	sb_init(&out);
	pfc_main_cf(cfg, &out);
	fputs(out.s, stdout);
	sb_free(&out);
	cfg_free(cfg);
	return EX_OK_;
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
		    "`postconf -n` of [global] postfix_config_directory and says "
		    "what is\nmissing or in the wrong order for relayguard's "
		    "maps to be enforced.\n");
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
	if (problems == 0)
		printf("Postfix at %s is wired to relayguard's maps\n",
		    cfg->postfix_config_directory);
	cfg_free(cfg);
	return problems ? 1 : EX_OK_;
}
