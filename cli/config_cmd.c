/*
 * config_cmd.c - loading the configuration for a command, and the
 * check-config command.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../common/log.h"
#include "../rules/policy.h"
#include "cli.h"

/*
 * cli_load_config - the configuration: -c FILE, else the default file if it
 * exists, else the built-in defaults. NULL (and *rc = 78) on any error.
 */
rg_config *
cli_load_config(const cli_ctx *cx, int *rc)
{
	const char *file = cx->config_file ? cx->config_file : CFG_DEFAULT_FILE;
	rg_config *cfg;
	int nerr;

	*rc = EX_OK_;
	if (!cx->config_given && access(file, F_OK) != 0 && errno == ENOENT)
		return cfg_defaults();
	/* the one validation of every command: the file and its policy */
	cfg = rul_load(file, stderr, &nerr, NULL);
	if (cfg == NULL)
		*rc = EX_CONFIG_;
	return cfg;
}

/*
 * header_warnings - a header identity cannot be scoped to its user: its
 * lock is a header_checks rule, which Postfix applies to every message
 * (a warning, not an error)
 */
static void
header_warnings(const rg_config *cfg, const char *file)
{
	int i;

	for (i = 0; i < cfg->nusers; i++)
		if (strcmp(cfg->users[i].identification, "header") == 0)
			fprintf(stderr, "%s:%d: warning: [user %s] "
			    "identification = header: a locked header identity "
			    "is refused in every user's mail (header_checks is "
			    "global); give each tenant values of its own\n",
			    file, cfg->users[i].line, cfg->users[i].name);
}

/* cmd_check_config - "configuration OK" or the errors (exit 78) */
int
cmd_check_config(const cli_ctx *cx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "schema", no_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = cx->config_file ? cx->config_file : CFG_DEFAULT_FILE;
	rg_config *cfg;
	int ch, nerr, schema = 0;

	while ((ch = getopt_long(argc, argv, "hs", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			printf("usage: relayguard [-c CONFIG] check-config "
			    "[--schema]\n\n"
			    "Reads the configuration (default %s) and prints "
			    "\"configuration OK\",\nor each error as FILE:LINE: "
			    "message and exits 78.\n"
			    "  --schema  print every section and key with its "
			    "type, default and bounds\n", CFG_DEFAULT_FILE);
			return EX_OK_;
		case 's':
			schema = 1;
			break;
		default:
			return EX_USAGE_;
		}
	}
	if (optind < argc) {
		log_fatalx("check-config: unexpected argument '%s'", argv[optind]);
		return EX_USAGE_;
	}
	if (schema) {
		cfg_print_schema(stdout);
		return EX_OK_;
	}
	/* what every command loads (cli_load_config) */
	cfg = rul_load(file, stderr, &nerr, NULL);
	if (cfg == NULL) {
		fprintf(stderr, "%s: %d error%s\n", file, nerr,
		    nerr == 1 ? "" : "s");
		return EX_CONFIG_;
	}
	header_warnings(cfg, file);
	printf("configuration OK\n");
	cfg_free(cfg);
	return EX_OK_;
}
