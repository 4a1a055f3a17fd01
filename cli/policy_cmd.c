/*
 * policy_cmd.c - `relayguard policy`: Postfix's policy service for
 * map_backend = pgsql, run by spawn(8) from master.cf (requests on
 * standard input, answers on standard output, many per connection). Its
 * diagnostics go to syslog (spawn connects standard error to smtpd too) or
 * to --log-file. The engine is analyzer/pgpolicy.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../analyzer/analyze.h"
#include "../analyzer/map_pgsql.h"
#include "../analyzer/pgpolicy.h"
#include "../common/log.h"
#include "../common/strbuf.h"
#include "../rules/policy.h"
#include "cli.h"

/* write_all - the whole buffer to fd: 0, or -1 */
static int
write_all(int fd, const char *s, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, s, n)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* postfix_settings - recipient_delimiter and smtputf8_enable of Postfix
 * (-x: the default of smtputf8_enable is an expression on
 * compatibility_level, which -h alone prints unexpanded) */
static void
postfix_settings(const rg_config *cfg, char *delim, size_t dsz, int *utf8)
{
	static const char *const args[] = { "-xh", "recipient_delimiter",
	    "smtputf8_enable", NULL };
	char why[512], *nl;
	strbuf out;
	int code;

	*delim = '\0';
	*utf8 = 1;
	sb_init(&out);
	if (ana_command(cfg, "postconf", args, &out, &code, why, sizeof(why))
	    != 0 || code != 0) {
		log_warnx("policy: postconf: %s; no recipient_delimiter, keys "
		    "folded as with smtputf8_enable = yes", *why ? why
		    : "failed");
		sb_free(&out);
		return;
	}
	if ((nl = strchr(out.s, '\n')) != NULL) {
		*nl = '\0';
		snprintf(delim, dsz, "%s", out.s);
		*utf8 = strncmp(nl + 1, "no", 2) != 0;
	}
	sb_free(&out);
}

/* load - the configuration, its errors logged (not on stderr: smtpd's) */
static rg_config *
load(const cli_ctx *cx)
{
	const char *file = cx->config_file ? cx->config_file : CFG_DEFAULT_FILE;
	char *buf = NULL, *line, *save = NULL;
	size_t len = 0;
	rg_config *cfg;
	FILE *errs;
	int nerr = 0;

	if ((errs = open_memstream(&buf, &len)) == NULL)
		return NULL;
	cfg = rul_load(file, errs, &nerr, NULL);
	fclose(errs);
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save))
		log_warnx("policy: %s", line);
	free(buf);
	return cfg;
}

/* cmd_policy - answer Postfix's policy requests until end of input */
int
cmd_policy(const cli_ctx *cx, int argc, char **argv)
{
	static char prog[64];
	const char *logfile = NULL;
	rg_config *cfg;
	pgp_in in;
	pgp_req req;
	pgp *p;
	strbuf act, line;
	char delim[16];
	int i, r, utf8, junk_told = 0, rc = EX_OK_;
	char *q;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--log-file") == 0 && i + 1 < argc) {
			logfile = argv[++i];
		} else {
			printf("usage: relayguard [-c CONFIG] policy [--log-file "
			    "FILE]\n\nPostfix's policy service for map_backend "
			    "= pgsql: reads policy requests\n(SMTPD_POLICY_README) "
			    "on standard input and answers each from the lock\n"
			    "state in PostgreSQL, as the pgsql: tables would. Run "
			    "by spawn(8): the\nmaster.cf line that postfix-config "
			    "prints with [pgsql] policy_service = yes.\nWhen "
			    "PostgreSQL does not answer within [pgsql] "
			    "query_timeout, it answers\nDUNNO ([pgsql] on_failure "
			    "= open: mail passes) or DEFER_IF_PERMIT (closed),\n"
			    "with one warning per outage. Diagnostics go to syslog "
			    "(mail), or to\n--log-file FILE.\n");
			return strcmp(argv[i], "--help") == 0 ? EX_OK_
			    : EX_USAGE_;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (logfile != NULL) {
		int fd = open(logfile, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		    0640);

		if (fd < 0 || dup2(fd, STDERR_FILENO) < 0) {
			log_to_syslog("relayguard/policy");
			log_warn("policy: %s", logfile);
		}
		if (fd >= 0 && fd != STDERR_FILENO)
			close(fd);
		snprintf(prog, sizeof(prog), "relayguard/policy[%ld]",
		    (long)getpid());
		log_init(prog, cx->verbose);
	} else if (!isatty(STDERR_FILENO)) {
		log_to_syslog("relayguard/policy");
	}
	if ((cfg = load(cx)) == NULL)
		return EX_CONFIG_;
	if (!map_pg_enabled(cfg)) {
		log_fatalx("policy: [global] map_backend is not pgsql: nothing "
		    "to answer from");
		cfg_free(cfg);
		return EX_CONFIG_;
	}
	postfix_settings(cfg, delim, sizeof(delim), &utf8);
	p = pgp_new(cfg, delim, utf8);
	memset(&in, 0, sizeof(in));
	in.fd = STDIN_FILENO;
	sb_init(&act);
	sb_init(&line);
	while ((r = pgp_read(&in, &req)) == 1) {
		if (req.junk > 0 && !junk_told) {
			log_warnx("policy: a request with %d line(s) that are not "
			    "name=value (told once)", req.junk);
			junk_told = 1;
		}
		(void)pgp_decide(p, &req, &act);
		pgp_req_free(&req);
		/* one line whatever the table holds */
		for (q = act.s; *q; q++)
			if (*q == '\n' || *q == '\r')
				*q = ' ';
		sb_reset(&line);
		sb_printf(&line, "action=%s\n\n", act.s);
		if (write_all(STDOUT_FILENO, line.s, line.len) != 0) {
			if (errno != EPIPE) {
				log_warn("policy: write");
				rc = EX_IOERR_;
			}
			break;
		}
	}
	if (r < 0) {
		log_warn("policy: read");
		rc = EX_IOERR_;
	}
	sb_free(&act);
	sb_free(&line);
	pgp_free(p);
	cfg_free(cfg);
	return rc;
}
