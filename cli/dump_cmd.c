/*
 * dump_cmd.c - `relayguard dump`: every stored message or session as
 * `parse` writes it, for comparing two databases (the tests do) or for
 * another tool. The JSON is rebuilt from the stored columns and record.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "../common/log.h"
#include "cli.h"

/* put_line - one record, "OPEN JSON" with --open */
static int
put_line(void *arg, int open, const char *json, size_t len)
{
	const int *with_open = arg;

	if (*with_open)
		printf("%d ", open != 0);
	fwrite(json, 1, len, stdout);
	putchar('\n');
	return ferror(stdout) != 0;
}

/* cmd_dump - the dump command */
int
cmd_dump(const cli_ctx *cx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "open", no_argument, NULL, 'o' },
		{ "database", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *database = NULL;
	int ch, with_open = 0, rc, sessions;
	rg_config *cfg = NULL;
	rg_store *st;
	char err[1024];

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'o': with_open = 1; break;
		case 'd': database = optarg; break;
		case 'h':
			printf("usage: relayguard [-c CONFIG] dump messages|sessions "
			    "[--open] [--database FILE]\n\n"
			    "Writes every stored message (or SMTP session), open "
			    "ones too, as `parse`\nwrites it, one JSON object a "
			    "line, in no particular order (sort to compare).\n"
			    "--open starts each line with 1 (still open) or 0. "
			    "--database reads FILE\ninstead of [global] database.\n");
			return EX_OK_;
		default:
			return EX_USAGE_;
		}
	}
	if (optind + 1 != argc || (strcmp(argv[optind], "messages") != 0
	    && strcmp(argv[optind], "sessions") != 0)) {
		log_warnx("dump: say messages or sessions");
		return EX_USAGE_;
	}
	sessions = strcmp(argv[optind], "sessions") == 0;
	if (database == NULL) {
		if ((cfg = cli_load_config(cx, &rc)) == NULL)
			return rc;
		database = cfg->database;
	}
	if ((st = store_open(database, STORE_READONLY, err, sizeof(err)))
	    == NULL) {
		log_warnx("%s", err);
		cfg_free(cfg);
		return EX_NOINPUT_;
	}
	rc = EX_OK_;
	if (store_each_json(st, sessions, put_line, &with_open) != 0) {
		log_warnx("%s: %s", database, store_error(st));
		rc = EX_DATAERR_;
	} else if (fflush(stdout) != 0 || ferror(stdout)) {
		log_warn("dump: stdout");
		rc = EX_IOERR_;
	}
	store_close(st);
	cfg_free(cfg);
	return rc;
}
