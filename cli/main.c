/*
 * main.c - relayguard's entry point: global options, then a git-style
 * subcommand. The only place that exits.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/log.h"
#include "cli.h"

#ifndef RG_VERSION
#define RG_VERSION "0.1.0"
#endif

typedef cli_command command;

static const command commands[] = {
	{ "parse", cmd_parse,
	    "read Postfix logs, write one JSON object per message" },
	{ "init", cmd_init,
	    "create the database and the map directory" },
	{ "collect", cmd_collect,
	    "store the configured logs in the database, exactly once" },
	{ "messages", cmd_messages,
	    "list the stored messages" },
	{ "stats", cmd_stats,
	    "per-user (and per-relay) totals of the stored messages" },
	{ "dump", cmd_dump,
	    "every stored message or session as parse writes it" },
	{ "analyze", cmd_analyze,
	    "apply the lock and limit rules; write the Postfix maps" },
	{ "users", cmd_users, "each user and its locks" },
	{ "lock", cmd_lockctl, "lock a user or an identity by hand" },
	{ "unlock", cmd_lockctl, "end a lock by hand" },
	{ "reset", cmd_lockctl, "set a user's automatic unlocks back to 0" },
	{ "identities", cmd_identities,
	    "the identities seen inside each user" },
	{ "explain", cmd_explain,
	    "the locks, decisions and spam behind a user's state" },
	{ "check-postfix", cmd_check_postfix,
	    "say what main.cf and master.cf lack for the locks to be enforced" },
	{ "postfix-config", cmd_postfix_config,
	    "print the main.cf lines that wire relayguard in" },
	{ "policy", cmd_policy,
	    "Postfix policy service: the locks in PostgreSQL, fail open" },
	{ "rspamd-config", cmd_rspamd_config,
	    "print rspamd's DKIM signing settings for the selectors" },
	{ "quarantine", cmd_quarantine,
	    "the held spam: list, show, release, delete" },
	{ "report", cmd_report,
	    "the period's report: XLSX, CSV or text" },
	{ "mail", cmd_mail,
	    "the outbox of alerts and abuse reports: queue, send, test" },
	{ "passwd", cmd_passwd,
	    "set a user's SMTP AUTH password (Dovecot passwd-file)" },
	{ "dovecot-config", cmd_dovecot_config,
	    "print the Dovecot passdb that reads those passwords" },
	{ "dkim", cmd_dkim,
	    "make a DKIM key for rspamd and print its DNS record" },
	{ "check-config", cmd_check_config,
	    "check the configuration file and print its schema" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* usage - the global help */
static void
usage(FILE *out)
{
	size_t i;

	fprintf(out,
	    "usage: relayguard [-c CONFIG] [-v] COMMAND [ARGS...]\n"
	    "       relayguard COMMAND --help\n"
	    "       relayguard --version\n\n"
	    "Keeps an outbound Postfix relay from being used to send spam.\n\n"
	    "options:\n"
	    "  -c, --config FILE  configuration (default %s)\n"
	    "  -v, --verbose      more diagnostics (twice: debugging)\n"
	    "  -h, --help         this help\n"
	    "  -V, --version      the version\n\ncommands:\n",
	    CFG_DEFAULT_FILE);
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-15s %s\n", commands[i].name,
		    commands[i].summary);
	fputs("\nexit status (sysexits.h):\n", out);
	for (i = 0; i < cli_nexits; i++)
		fprintf(out, "  %-3d %s\n", cli_exits[i].code,
		    cli_exits[i].meaning);
	fputs("\nMessages on standard error start \"relayguard: warning: \" or "
	    "\"relayguard: fatal: \"\n(the error that ends the command); "
	    "under systemd each also has its syslog\npriority for the "
	    "journal.\n", out);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	cli_ctx cx;
	size_t i;
	int ch;

	memset(&cx, 0, sizeof(cx));
	log_init("relayguard", 0);
	/* "+": stop at the command; its options are its own */
	while ((ch = getopt_long(argc, argv, "+c:vhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cx.config_file = optarg;
			cx.config_given = 1;
			break;
		case 'v':
			cx.verbose++;
			break;
		case 'h':
			usage(stdout);
			return EX_OK_;
		case 'V':
			printf("relayguard %s\n", RG_VERSION);
			return EX_OK_;
		default:
			usage(stderr);
			return EX_USAGE_;
		}
	}
	log_init("relayguard", cx.verbose);
	if (optind >= argc) {
		usage(stderr);
		return EX_USAGE_;
	}
	if (strcmp(argv[optind], "help") == 0) {
		if (optind + 1 < argc) {
			char *hargv[] = { argv[optind + 1], "--help", NULL };

			for (i = 0; i < NCOMMANDS; i++)
				if (strcmp(commands[i].name, argv[optind + 1]) == 0) {
					optind = 0;
					return commands[i].fn(&cx, 2, hargv);
				}
		}
		usage(stdout);
		return EX_OK_;
	}
	/* hidden: relayguard(8) and relayguard.ini(5), made by `make` */
	if (strcmp(argv[optind], "man") == 0)
		return cmd_man(&cx, argc - optind, argv + optind, commands,
		    NCOMMANDS, usage);
	if (strcmp(argv[optind], "version") == 0) {
		printf("relayguard %s\n", RG_VERSION);
		return EX_OK_;
	}
	for (i = 0; i < NCOMMANDS; i++) {
		if (strcmp(commands[i].name, argv[optind]) == 0) {
			int cargc = argc - optind;
			char **cargv = argv + optind;

			optind = 0;	/* reset getopt for the command */
			return commands[i].fn(&cx, cargc, cargv);
		}
	}
	log_fatalx("unknown command '%s' (see relayguard --help)",
	    argv[optind]);
	return EX_USAGE_;
}
