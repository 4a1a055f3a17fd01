/*
 * man_cmd.c - the hidden `relayguard man 8|5` command: prints the manual
 * pages relayguard(8) and relayguard.ini(5) as roff, made from the tables
 * that --help and `check-config --schema` print (the command table of
 * main.c, each command's own --help text, the schema of rules/config.c),
 * so that the pages cannot drift from the program. `make` writes them into
 * build/man/; `make install` installs them.
 *
 * Owns nothing past a call. A command's --help is captured by pointing
 * standard output at a temporary file for the call.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/strbuf.h"
#include "../rules/config.h"
#include "cli.h"

#ifndef RG_VERSION
#define RG_VERSION "0.1.0"
#endif

/* the exit codes, as `relayguard --help` and relayguard(8) list them */
const cli_exit cli_exits[] = {
	{ 0, "", "success" },
	{ EX_USAGE_, "EX_USAGE", "usage error: an unknown option or a bad "
	    "argument" },
	{ EX_DATAERR_, "EX_DATAERR", "bad input data (an unknown user, an "
	    "empty password)" },
	{ EX_NOINPUT_, "EX_NOINPUT", "an input file is missing (the "
	    "database: run init)" },
	{ EX_UNAVAILABLE_, "EX_UNAVAILABLE", "a service or file is "
	    "unavailable (the database, postconf)" },
	{ EX_SOFTWARE_, "EX_SOFTWARE", "internal error" },
	{ EX_CANTCREAT_, "EX_CANTCREAT", "an output file cannot be created" },
	{ EX_IOERR_, "EX_IOERR", "an input or output error (a log, a "
	    "map)" },
	{ EX_TEMPFAIL_, "EX_TEMPFAIL", "a temporary failure (a lock held, "
	    "the database busy): try again" },
	{ EX_CONFIG_, "EX_CONFIG", "the configuration is wrong: each error "
	    "as FILE:LINE" },
};
const size_t cli_nexits = sizeof(cli_exits) / sizeof(cli_exits[0]);

/* roff_line - one line of text, escaped for roff (no request can start) */
static void
roff_line(FILE *out, const char *s, size_t n)
{
	size_t i;

	if (n > 0 && (s[0] == '.' || s[0] == '\''))
		fputs("\\&", out);
	for (i = 0; i < n; i++) {
		if (s[i] == '\\')
			fputs("\\e", out);
		else if (s[i] == '-')
			fputs("\\-", out);
		else
			fputc(s[i], out);
	}
	fputc('\n', out);
}

/* roff_text - text of several lines, each escaped; blank lines kept */
static void
roff_text(FILE *out, const char *s)
{
	while (*s != '\0') {
		const char *nl = strchr(s, '\n');
		size_t n = nl ? (size_t)(nl - s) : strlen(s);

		if (n == 0)
			fputs(".sp\n", out);
		else
			roff_line(out, s, n);
		s += n + (nl != NULL);
	}
}

/* roff_str - a string inside a line, escaped (no newline added) */
static void
roff_str(FILE *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\e", out);
		else if (*s == '-')
			fputs("\\-", out);
		else
			fputc(*s, out);
	}
}

/* slurp - the whole content of fp from its start */
static void
slurp(FILE *fp, strbuf *sb)
{
	char buf[4096];
	size_t n;

	fflush(fp);
	rewind(fp);
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
		sb_add(sb, buf, n);
}

/* help_of - a command's --help text, captured from its standard output */
static int
help_of(const cli_ctx *cx, const cli_command *c, strbuf *sb)
{
	char *argv[] = { (char *)c->name, "--help", NULL };
	FILE *tmp;
	int saved;

	if ((tmp = tmpfile()) == NULL)
		return -1;
	fflush(stdout);
	if ((saved = dup(STDOUT_FILENO)) < 0
	    || dup2(fileno(tmp), STDOUT_FILENO) < 0) {
		fclose(tmp);
		return -1;
	}
	optind = 0;
	(void)c->fn(cx, 2, argv);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	slurp(tmp, sb);
	fclose(tmp);
	return 0;
}

/* man8 - relayguard(8): the global usage, every command and its --help */
static int
man8(const cli_ctx *cx, FILE *out, const cli_command *cmds, size_t ncmds,
    void (*usage)(FILE *))
{
	strbuf *helps = calloc(ncmds, sizeof(strbuf));
	strbuf u;
	FILE *tmp;
	rg_config *def = cfg_defaults();
	size_t i, j;

	if (helps == NULL || (tmp = tmpfile()) == NULL) {
		free(helps);
		cfg_free(def);
		return EX_SOFTWARE_;
	}
	usage(tmp);
	sb_init(&u);
	slurp(tmp, &u);
	fclose(tmp);
	for (i = 0; i < ncmds; i++) {
		sb_init(&helps[i]);
		if (help_of(cx, &cmds[i], &helps[i]) != 0) {
			for (j = 0; j <= i; j++)
				sb_free(&helps[j]);
			free(helps);
			sb_free(&u);
			cfg_free(def);
			return EX_SOFTWARE_;
		}
	}
	fprintf(out, ".\\\" relayguard(8), made by `relayguard man 8` from its "
	    "command table and --help texts\n");
	fprintf(out, ".TH RELAYGUARD 8 \"\" \"relayguard %s\" "
	    "\"System Administration\"\n.nh\n", RG_VERSION);
	fputs(".SH NAME\nrelayguard \\- keep an outbound Postfix relay from "
	    "being used to send spam\n", out);
	fputs(".SH SYNOPSIS\n.B relayguard\n[\\fB\\-c\\fR \\fICONFIG\\fR] "
	    "[\\fB\\-v\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR ...]\n.br\n"
	    ".B relayguard\n\\fICOMMAND\\fR \\fB\\-\\-help\\fR\n", out);
	fputs(".SH DESCRIPTION\n"
	    "relayguard reads the logs of a Postfix relay and of its content\n"
	    "filter, stores one record per message in SQLite, and locks\n"
	    "senders that send spam or pass their limits by writing Postfix\n"
	    "access maps, through which Postfix itself refuses them.\n"
	    "The configuration is described in\n.BR relayguard.ini (5).\n"
	    ".PP\nThe usage, as\n.B relayguard \\-\\-help\nprints it:\n"
	    ".PP\n.nf\n", out);
	roff_text(out, u.s);
	fputs(".fi\n.SH COMMANDS\n", out);
	for (i = 0; i < ncmds; i++) {
		/* commands that share one help text share one entry */
		for (j = 0; j < i; j++)
			if (strcmp(helps[j].s, helps[i].s) == 0)
				break;
		if (j < i)
			continue;
		fputs(".SS \"", out);
		roff_str(out, cmds[i].name);
		for (j = i + 1; j < ncmds; j++)
			if (strcmp(helps[j].s, helps[i].s) == 0) {
				fputs(", ", out);
				roff_str(out, cmds[j].name);
			}
		fputs("\"\n", out);
		for (j = i; j < ncmds; j++) {
			if (j != i && strcmp(helps[j].s, helps[i].s) != 0)
				continue;
			fputs(".B ", out);
			roff_str(out, cmds[j].name);
			fputs("\n\\- ", out);
			roff_str(out, cmds[j].summary);
			fputs(".\n.br\n", out);
		}
		fputs(".PP\n.nf\n", out);
		roff_text(out, helps[i].s);
		fputs(".fi\n", out);
	}
	fputs(".SH EXIT STATUS\n", out);
	for (i = 0; i < cli_nexits; i++) {
		fprintf(out, ".TP\n%d\n", cli_exits[i].code);
		roff_str(out, cli_exits[i].meaning);
		if (*cli_exits[i].name != '\0') {
			fputs(" (", out);
			roff_str(out, cli_exits[i].name);
			fputc(')', out);
		}
		fputc('\n', out);
	}
	fputs(".SH FILES\n.TP\n", out);
	roff_str(out, CFG_DEFAULT_FILE);
	fputs("\nthe configuration, unless \\fB\\-c\\fR names another\n.TP\n",
	    out);
	roff_str(out, def->database);
	fputs("\nthe database (default of \\fBdatabase\\fR)\n.TP\n", out);
	roff_str(out, def->map_directory);
	fputs("\nthe Postfix maps (default of \\fBmap_directory\\fR)\n", out);
	fputs(".SH SEE ALSO\n.BR relayguard.ini (5),\n.BR postfix (1),\n"
	    ".BR postmap (1),\n.BR access (5),\n.BR header_checks (5)\n", out);
	for (i = 0; i < ncmds; i++)
		sb_free(&helps[i]);
	free(helps);
	sb_free(&u);
	cfg_free(def);
	return EX_OK_;
}

/* section_title - the heading of a schema section */
static void
section_title(FILE *out, const char *section)
{
	if (strcmp(section, "user/defaults") == 0)
		fputs(".SS \"[user NAME] and [defaults]\"\n", out);
	else {
		fputs(".SS \"[", out);
		roff_str(out, section);
		fputs("]\"\n", out);
	}
}

/* man5 - relayguard.ini(5): every key of the schema */
static int
man5(FILE *out)
{
	cfg_schema_row r;
	char prev[sizeof(r.section)] = "";
	size_t i;

	fprintf(out, ".\\\" relayguard.ini(5), made by `relayguard man 5` from "
	    "the schema of rules/config.c\n");
	fprintf(out, ".TH RELAYGUARD.INI 5 \"\" \"relayguard %s\" "
	    "\"File Formats\"\n.nh\n", RG_VERSION);
	fputs(".SH NAME\nrelayguard.ini \\- relayguard's configuration file\n",
	    out);
	fputs(".SH SYNOPSIS\n", out);
	roff_str(out, CFG_DEFAULT_FILE);
	fputs("\n.SH DESCRIPTION\n"
	    "One INI file: \\fB[section]\\fR headers, \\fBkey = value\\fR lines, "
	    "comments starting with\n\\(oq;\\(cq or \\(oq#\\(cq. "
	    "Named sections are written \\fB[KIND NAME]\\fR or\n"
	    "\\fB[KIND \"NAME\"]\\fR. A \\fB[user NAME]\\fR takes every key it "
	    "does not set from \\fB[defaults]\\fR.\n"
	    "Do not indent keys: an indented line continues the value before "
	    "it.\nLines are at most 198 bytes, section and key names at most "
	    "49.\n.PP\n"
	    "Every problem is reported as \\fIFILE\\fR:\\fILINE\\fR: "
	    "\\fImessage\\fR, all of them at once,\n"
	    "and every command then exits 78;\n"
	    ".B relayguard check\\-config\nchecks a file. A name or value "
	    "that no Postfix map could hold (white space,\na leading "
	    "\\(oq#\\(cq, a control character, invalid UTF\\-8, an IPv4\\-mapped "
	    "IPv6 address,\nhost bits beyond a prefix) is refused.\n"
	    ".PP\nDurations are written like \\fB90s\\fR, \\fB10m\\fR, "
	    "\\fB1h\\fR, \\fB7d\\fR, \\fB2w\\fR or \\fB1h30m\\fR;\nbooleans "
	    "\\fByes\\fR or \\fBno\\fR; lists separated by commas.\n"
	    ".SH SECTIONS AND KEYS\n"
	    "Each key with its type, default and bounds, as\n"
	    ".B relayguard check\\-config \\-\\-schema\nprints them.\n", out);
	for (i = 0; cfg_schema_row_at(i, &r) == 0; i++) {
		if (strcmp(prev, r.section) != 0) {
			section_title(out, r.section);
			snprintf(prev, sizeof(prev), "%s", r.section);
		}
		fputs(".TP\n.B ", out);
		roff_str(out, r.key);
		fputs("\n\\fI", out);
		roff_str(out, r.type);
		fputs("\\fR", out);
		if (*r.def != '\0') {
			fputs(", default \\fB", out);
			roff_str(out, r.def);
			fputs("\\fR", out);
		}
		if (*r.bounds != '\0') {
			fputs("; ", out);
			roff_str(out, r.bounds);
		}
		fputs(".\n\\&", out);	/* a help may start with "..." */
		roff_str(out, r.help);
		fputs("\n", out);
	}
	fputs(".SH FILES\n", out);
	roff_str(out, CFG_DEFAULT_FILE);
	fputs("\n.SH SEE ALSO\n.BR relayguard (8)\n", out);
	return EX_OK_;
}

/* cmd_man - `relayguard man 8|5`: a manual page as roff on stdout */
int
cmd_man(const cli_ctx *cx, int argc, char **argv, const cli_command *cmds,
    size_t ncmds, void (*usage)(FILE *))
{
	if (argc == 2 && strcmp(argv[1], "8") == 0)
		return man8(cx, stdout, cmds, ncmds, usage);
	if (argc == 2 && strcmp(argv[1], "5") == 0)
		return man5(stdout);
	fprintf(stderr, "usage: relayguard man 8|5\n");
	return EX_USAGE_;
}
