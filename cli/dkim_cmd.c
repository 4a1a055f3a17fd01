/*
 * dkim_cmd.c - `relayguard dkim keygen DOMAIN [--selector S] [--bits N]`:
 * a DKIM signing key for rspamd, made by rspamd's own tool (rspamadm
 * dkim_keygen; no home-made RSA), stored where `rspamd-config` points
 * rspamd (dkim_key_directory/DOMAIN.SELECTOR.key, owner _rspamd when that
 * user exists, mode 0640), and the DNS TXT record of its public half.
 *
 * An existing key is never overwritten: the key is written to a temporary
 * name in the same directory, then link(2)ed to its final name, which fails
 * if that exists. Exit: 0, 64 usage, 69 rspamadm failed, 73 the key exists
 * or cannot be written, 78 configuration.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/strbuf.h"
#include "cli.h"

#define EX_CANTCREAT_ 73

/* dkim_usage - the help text of dkim */
static void
dkim_usage(FILE *out)
{
	fprintf(out,
	    "usage: relayguard [-c CONFIG] dkim keygen DOMAIN [--selector S] "
	    "[--bits N]\n\n"
	    "Make a DKIM key for DOMAIN with rspamadm dkim_keygen (RSA, N "
	    "bits: 1024, 2048\n(default), 3072 or 4096) and store it as "
	    "dkim_key_directory/DOMAIN.S.key\n(owner _rspamd when it exists, "
	    "mode 0640), where rspamd-config points rspamd.\nS defaults to "
	    "[domain DOMAIN] dkim_selector, else sYYYYMM. An existing key "
	    "is\nnever overwritten. Prints the DNS TXT record to publish "
	    "(standard output);\nthen set [domain DOMAIN] dkim_selector = S "
	    "and run analyze.\n\n"
	    "Exit: 0; 64 usage or a bad name; 69 rspamadm failed; 73 the key "
	    "exists or\ncannot be written; 78 configuration.\n");
}

/* dns_label_ok - letters, digits, '-' in labels of 1..63, dotted or not */
static int
dns_label_ok(const char *s, int dotted)
{
	size_t len = 0;
	const char *p;

	if (*s == '\0' || strlen(s) > 253)
		return 0;
	for (p = s; ; p++) {
		if (*p == '.' || *p == '\0') {
			if (len == 0 || len > 63 || p[-1] == '-')
				return 0;
			if (*p == '\0')
				break;
			if (!dotted)
				return 0;
			len = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && !(*p == '-' && len > 0))
			return 0;
		len++;
	}
	return !dotted || strchr(s, '.') != NULL;
}

/* keygen - rspamadm dkim_keygen into keyfile; its stdout into out */
static int
keygen(const char *domain, const char *sel, int bits, const char *keyfile,
    strbuf *out)
{
	char b[16], buf[4096];
	int pfd[2], st;
	ssize_t n;
	pid_t pid;

	snprintf(b, sizeof(b), "%d", bits);
	if (pipe(pfd) != 0)
		return -1;
	if ((pid = fork()) < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		dup2(devnull, STDIN_FILENO);
		dup2(pfd[1], STDOUT_FILENO);
		close(pfd[0]);
		execlp("rspamadm", "rspamadm", "dkim_keygen", "-t", "rsa",
		    "-b", b, "-s", sel, "-d", domain, "-k", keyfile,
		    (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	while ((n = read(pfd[0], buf, sizeof(buf))) > 0)
		sb_add(out, buf, (size_t)n);
	close(pfd[0]);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* txt_value - the joined quoted strings of rspamadm's zone record */
static int
txt_value(const char *zone, strbuf *val)
{
	const char *p = zone, *e;

	while ((p = strchr(p, '"')) != NULL) {
		if ((e = strchr(p + 1, '"')) == NULL)
			return -1;
		sb_add(val, p + 1, (size_t)(e - p - 1));
		p = e + 1;
	}
	return val->len > 0 && strstr(val->s, "v=DKIM1;") == val->s
	    && strstr(val->s, "p=") != NULL ? 0 : -1;
}

/* cmd_dkim - dkim keygen DOMAIN [--selector S] [--bits N] */
int
cmd_dkim(const cli_ctx *cx, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "selector", required_argument, NULL, 's' },
		{ "bits", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char sel[64] = "", tmp[4200], key[4200], *end;
	const char *domain;
	struct passwd *pw;
	rg_config *cfg;
	strbuf out, val;
	int ch, rc, i, bits = 2048, fd;
	size_t off;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "s:b:h", lo, NULL)) != -1) {
		switch (ch) {
		case 's':
			snprintf(sel, sizeof(sel), "%s", optarg);
			if (strlen(optarg) >= sizeof(sel)
			    || (!dns_label_ok(optarg, 0)
			    && !dns_label_ok(optarg, 1))) {
				log_fatalx("dkim: --selector %s: not a DKIM "
				    "selector (letters, digits, '-', '.')",
				    optarg);
				return EX_USAGE_;
			}
			break;
		case 'b':
			errno = 0;
			bits = (int)strtol(optarg, &end, 10);
			if (errno || *end || (bits != 1024 && bits != 2048
			    && bits != 3072 && bits != 4096)) {
				log_fatalx("dkim: --bits %s: 1024, 2048, 3072 "
				    "or 4096", optarg);
				return EX_USAGE_;
			}
			break;
		case 'h':
			dkim_usage(stdout);
			return EX_OK_;
		default:
			dkim_usage(stderr);
			return EX_USAGE_;
		}
	}
	if (argc - optind != 2 || strcmp(argv[optind], "keygen") != 0) {
		dkim_usage(stderr);
		return EX_USAGE_;
	}
	domain = argv[optind + 1];
	if (!dns_label_ok(domain, 1)) {
		log_fatalx("dkim: %s: not a domain name (letters, digits, '-' "
		    "and '.'; an international one in its xn-- form)", domain);
		return EX_USAGE_;
	}
	if ((cfg = cli_load_config(cx, &rc)) == NULL)
		return rc;
	if (sel[0] == '\0')
		for (i = 0; i < cfg->ndomains; i++)
			if (strcasecmp(cfg->domains[i].name, domain) == 0
			    && cfg->domains[i].dkim_selector[0] != '\0')
				snprintf(sel, sizeof(sel), "%s",
				    cfg->domains[i].dkim_selector);
	if (sel[0] == '\0') {
		time_t now = time(NULL);

		strftime(sel, sizeof(sel), "s%Y%m", gmtime(&now));
	}
	if (mkdir(cfg->dkim_key_directory, 0750) == 0
	    && (pw = getpwnam("_rspamd")) != NULL
	    && chown(cfg->dkim_key_directory, pw->pw_uid, pw->pw_gid) != 0)
		log_warn("dkim: chown %s", cfg->dkim_key_directory);
	snprintf(key, sizeof(key), "%s/%s.%s.key", cfg->dkim_key_directory,
	    domain, sel);
	snprintf(tmp, sizeof(tmp), "%s/.%s.%s.key.%ld", cfg->dkim_key_directory,
	    domain, sel, (long)getpid());
	if (access(key, F_OK) == 0) {
		log_fatalx("dkim: %s exists: never overwritten (choose a new "
		    "--selector to rotate)", key);
		cfg_free(cfg);
		return EX_CANTCREAT_;
	}
	sb_init(&out);
	sb_init(&val);
	unlink(tmp);
	if (keygen(domain, sel, bits, tmp, &out) != 0
	    || txt_value(out.s ? out.s : "", &val) != 0) {
		log_warnx("dkim: rspamadm dkim_keygen failed for %s selector "
		    "%s", domain, sel);
		rc = EX_UNAVAILABLE_;
		goto out;
	}
	pw = getpwnam("_rspamd");
	if ((fd = open(tmp, O_RDONLY | O_CLOEXEC)) < 0
	    || (pw != NULL && fchown(fd, pw->pw_uid, pw->pw_gid) != 0)
	    || fchmod(fd, 0640) != 0 || fsync(fd) != 0) {
		log_warn("dkim: %s", tmp);
		if (fd >= 0)
			close(fd);
		rc = EX_CANTCREAT_;
		goto out;
	}
	close(fd);
	if (link(tmp, key) != 0) {
		log_warn("dkim: %s%s", key, errno == EEXIST ? " (made "
		    "meanwhile: not overwritten)" : "");
		rc = EX_CANTCREAT_;
		goto out;
	}
	fprintf(stderr, "action=dkim_keygen domain=%s selector=%s bits=%d "
	    "key=%s owner=%s mode=0640\n", domain, sel, bits, key,
	    pw ? "_rspamd" : "root");
	/* the zone-file record: strings of at most 255 bytes */
	printf("%s._domainkey.%s. IN TXT (", sel, domain);
	for (off = 0; off < val.len; off += 255)
		printf(" \"%.*s\"", (int)(val.len - off > 255 ? 255
		    : val.len - off), val.s + off);
	printf(" )\n");
	rc = EX_OK_;
out:
	unlink(tmp);
	sb_free(&out);
	sb_free(&val);
	cfg_free(cfg);
	return rc;
}
