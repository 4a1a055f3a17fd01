/*
 * fleet_cmd.c - the CLI side of map_backend = pgsql (many relays, one
 * enforcer): postfix-config's pgsql output and check-postfix's pgsql
 * checks (every proxy: table in proxy_read_maps, a test lookup through
 * each pgsql: query file). The engine is analyzer/map_pgsql.c.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../analyzer/analyze.h"
#include "../analyzer/map_pgsql.h"
#include "../analyzer/pfconfig.h"
#include "../analyzer/pgpolicy.h"
#include "../common/log.h"
#include "../common/strbuf.h"
#include "../common/xalloc.h"
#include "cli.h"

/* cli_postfix_config_pgsql - postfix-config [--query-directory DIR] */
int
cli_postfix_config_pgsql(rg_config *cfg, int argc, char **argv)
{
	const char *dir = NULL;
	char err[1024];
	int i, rc = EX_OK_;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--query-directory") == 0 && i + 1 < argc) {
			dir = argv[++i];
		} else {
			log_warnx("postfix-config: usage: postfix-config "
			    "[--query-directory DIR]");
			cfg_free(cfg);
			return EX_USAGE_;
		}
	}
	if (map_pg_postfix_config(cfg, dir, stdout, err, sizeof(err)) != 0) {
		log_warnx("postfix-config: %s", err);
		rc = EX_CANTCREAT_;
	}
	cfg_free(cfg);
	return rc;
}

/* cli_pgsql_probe - can analyze reach PostgreSQL? 0, or -1 (logged) */
int
cli_pgsql_probe(const rg_config *cfg)
{
	char err[1024];
	map_pg *pg;

	if ((pg = map_pg_open(cfg, err, sizeof(err))) == NULL) {
		log_warnx("analyze: %s (nothing decided, nothing changed: "
		    "the next run catches up)", err);
		return -1;
	}
	map_pg_free(pg);
	return 0;
}

/* has_word - is w a word of the list (separated by space, comma, tab)? */
static int
has_word(const char *list, const char *w)
{
	size_t n = strlen(w);
	const char *p = list;

	while ((p = strstr(p, w)) != NULL) {
		if ((p == list || strchr(" ,\t\n", p[-1]))
		    && (p[n] == '\0' || strchr(" ,\t\n", p[n])))
			return 1;
		p += n;
	}
	return 0;
}

/*
 * cli_check_pgsql - the proxy: tables of `postconf -n` output in
 * proxy_read_maps, and a test lookup through each of relayguard's pgsql:
 * query files; problems printed, their count returned
 */
int
cli_check_pgsql(const rg_config *cfg, const char *postconf_n)
{
	static const char *const px_args[] = { "-x", "-h", "proxy_read_maps",
	    NULL };
	strbuf prm, out, seen;
	const char *p, *e;
	char word[1200], why[1024], postmap[1200];
	int problems = 0, code;

	if (!map_pg_enabled(cfg))
		return 0;
	sb_init(&prm);
	sb_init(&out);
	sb_init(&seen);
	if (ana_command(cfg, "postconf", px_args, &prm, &code, why,
	    sizeof(why)) != 0 || code != 0) {
		printf("postconf -x proxy_read_maps failed: %s\n", *why ? why
		    : "exit status not 0");
		problems++;
	}
	for (p = postconf_n; (p = strstr(p, "proxy:")) != NULL; p = e) {
		size_t n;

		e = p + strcspn(p, " ,\t\n");
		if (p != postconf_n && !strchr(" ,\t\n=", p[-1]))
			continue;
		n = (size_t)(e - p);
		if (n >= sizeof(word))
			continue;
		memcpy(word, p, n);
		word[n] = '\0';
		if (!has_word(prm.s ? prm.s : "", word)) {
			printf("%s is not in proxy_read_maps: smtpd exits at "
			    "start-up and the port stops answering (add it, or "
			    "use relayguard postfix-config's proxy_read_maps)\n",
			    word);
			problems++;
		}
		/* a test lookup through relayguard's own pgsql: tables */
		if (strncmp(word, "proxy:pgsql:", 12) == 0 && strncmp(word + 12,
		    cfg->pg_query_directory, strlen(cfg->pg_query_directory))
		    == 0) {
			const char *args[5];
			args[0] = "-q";
			args[1] = "relayguard-check.invalid";
			args[2] = word + 6;
			args[3] = NULL;
			snprintf(postmap, sizeof(postmap), "%s", word + 6);
			sb_reset(&out);
			/* 0: found, 1: not found; an error says so on stderr */
			if (strstr(seen.s ? seen.s : "", postmap) != NULL)
				continue;
			sb_printf(&seen, "%s\n", postmap);
			if (ana_command(cfg, "postmap", args, &out, &code, why,
			    sizeof(why)) != 0 || (code != 0 && code != 1)
			    || strstr(why, "fatal") || strstr(why, "warning")
			    || strstr(why, "error")) {
				printf("%s: a test lookup failed (Postfix would "
				    "answer 451 4.3.5): %s\n", postmap, *why ? why
				    : "postmap failed");
				problems++;
			}
		}
	}
	sb_free(&prm);
	sb_free(&out);
	sb_free(&seen);
	return problems;
}

/*
 * cli_postfix_config_policy - postfix-config with [pgsql] policy_service
 * = yes: the main.cf lines ([--apply]), or with --policy-service
 * [--policy-user USER] the master.cf service
 */
int
cli_postfix_config_policy(const cli_ctx *cx, rg_config *cfg, int argc,
    char **argv)
{
	const char *dir = NULL, *user = "relayguard";
	char why[512], self[PATH_MAX], conf[PATH_MAX];
	int i, n, service = 0, apply = 0, rc = EX_OK_;
	strbuf out, cmd;
	ssize_t len;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--query-directory") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "--policy-user") == 0 && i + 1 < argc)
			user = argv[++i];
		else if (strcmp(argv[i], "--policy-service") == 0)
			service = 1;
		else if (strcmp(argv[i], "--apply") == 0)
			apply = 1;
	}
	sb_init(&out);
	sb_init(&cmd);
	if (service) {
		/* argv= names this binary and this configuration, absolute */
		if ((len = readlink("/proc/self/exe", self, sizeof(self) - 1))
		    <= 0)
			snprintf(self, sizeof(self), "relayguard");
		else
			self[len] = '\0';
		if (realpath(cx->config_file ? cx->config_file
		    : CFG_DEFAULT_FILE, conf) == NULL)
			snprintf(conf, sizeof(conf), "%s", cx->config_file
			    ? cx->config_file : CFG_DEFAULT_FILE);
		sb_printf(&cmd, "%s -c %s policy", self, conf);
		pfc_policy_master_cf(cfg, user, cmd.s, &out);
		fputs(out.s, stdout);
		goto done;
	}
	/* (--query-directory: no query file is read in this mode) */
	(void)dir;
	pfc_policy_main_cf(cfg, &out);
	if (apply) {
		if ((n = pfc_apply(cfg, out.s, why, sizeof(why))) < 0) {
			log_fatalx("postfix-config --apply: %s", why);
			rc = EX_UNAVAILABLE_;
		} else
			printf("postfix-config: %d settings set in %s/main.cf "
			    "(postconf -e); add the master.cf service "
			    "(--policy-service), then postfix reload\n", n,
			    cfg->postfix_config_directory);
		goto done;
	}
	fputs(out.s, stdout);
done:
	sb_free(&out);
	sb_free(&cmd);
	cfg_free(cfg);
	return rc;
}

/* cli_check_policy - one test request through the policy service's engine */
int
cli_check_policy(const rg_config *cfg)
{
	pgp_req req;
	strbuf act;
	pgp *p;
	int problems = 0;

	memset(&req, 0, sizeof(req));
	req.v[PGP_REQUEST] = xstrdup("smtpd_access_policy");
	req.v[PGP_SASL] = xstrdup("relayguard-check.invalid");
	req.v[PGP_CLIENT] = xstrdup("192.0.2.1");
	req.v[PGP_SENDER] = xstrdup("check@relayguard-check.invalid");
	sb_init(&act);
	p = pgp_new(cfg, "", 1);
	if (pgp_decide(p, &req, &act) != PGP_DECIDED) {
		printf("the policy service cannot read the lock state in "
		    "PostgreSQL as [pgsql] postfix_user %s: it answers %s to "
		    "every request (see the warning above)\n",
		    cfg->pg_postfix_user, act.s);
		problems++;
	}
	pgp_free(p);
	pgp_req_free(&req);
	sb_free(&act);
	return problems;
}
