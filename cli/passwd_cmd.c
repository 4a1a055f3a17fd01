/*
 * passwd_cmd.c - `relayguard passwd user NAME` and `relayguard
 * dovecot-config`: the SMTP AUTH passwords of the configured users, for
 * Postfix relays that authenticate through Dovecot SASL.
 *
 * The password (from a prompt without echo, or one line of standard input)
 * is hashed with crypt(3) SHA-512 (libcrypt, "$6$", a salt from
 * getrandom(2) through crypt_gensalt) and stored as NAME:{SHA512-CRYPT}HASH
 * in a Dovecot passwd-file ([global] dovecot_passwd_file), written beside
 * the old one, fsynced and renamed over it (Dovecot never reads half a
 * file), root:dovecot mode 0640, under an exclusive lock (PATH.lock).
 * Other lines are kept as they are. When Dovecot's auth cache is on
 * (doveconf auth_cache_size), the user's cache entry is flushed (doveadm
 * auth cache flush), so a changed password takes effect at once. The
 * password is never logged and its buffers are cleared.
 */
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/strbuf.h"
#include "../common/xalloc.h"
#include "cli.h"

#define PW_MAX 1024

/* passwd_usage - the help text of passwd */
static void
passwd_usage(FILE *out)
{
	fprintf(out,
	    "usage: relayguard [-c CONFIG] passwd user NAME\n\n"
	    "Set the SMTP AUTH password of the configured user NAME (a SASL "
	    "or domain user;\nIP users do not log in). The password is read "
	    "from a prompt without echo\n(twice), or as one line of standard "
	    "input when that is not a terminal. It is\nstored as a crypt(3) "
	    "SHA-512 hash ({SHA512-CRYPT}$6$..., random salt) in the\nDovecot "
	    "passwd-file [global] dovecot_passwd_file (root:dovecot, mode "
	    "0640,\nreplaced atomically; other lines are kept), which must "
	    "be outside\nmap_directory. If Dovecot's auth cache is on "
	    "(auth_cache_size in\ndovecot_config_file), the user's entry is "
	    "flushed (doveadm auth cache flush).\nA locked user can still "
	    "log in: Postfix refuses it at RCPT, with the reason.\n"
	    "`relayguard dovecot-config` prints the passdb that reads the "
	    "file.\n\n"
	    "Exit: 0 set; 64 usage, an unknown or IP user; 65 an empty "
	    "password or the\ntwo entries differ; 73 the file could not be "
	    "written; 78 configuration.\n");
}

/* read_tty - one line from the terminal with echo off; 0 or -1 */
static int
read_tty(const char *prompt, char *buf, size_t sz)
{
	struct termios old, quiet;
	int rc = 0;

	fputs(prompt, stderr);
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &old) != 0)
		return -1;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0)
		return -1;
	if (fgets(buf, (int)sz, stdin) == NULL)
		rc = -1;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fputc('\n', stderr);
	return rc;
}

/* read_password - from the prompt (twice) or one line of stdin */
static int
read_password(char *pw, size_t sz, const char *name)
{
	char again[PW_MAX], prompt[600];
	size_t n, i;

	if (isatty(STDIN_FILENO)) {
		snprintf(prompt, sizeof(prompt), "New password for %s: ", name);
		if (read_tty(prompt, pw, sz) != 0
		    || read_tty("Again: ", again, sizeof(again)) != 0) {
			log_fatalx("passwd: no password read");
			return EX_DATAERR_;
		}
		if (strcmp(pw, again) != 0) {
			explicit_bzero(again, sizeof(again));
			log_fatalx("passwd: the two entries differ");
			return EX_DATAERR_;
		}
		explicit_bzero(again, sizeof(again));
	} else if (fgets(pw, (int)sz, stdin) == NULL) {
		log_fatalx("passwd: no password on standard input");
		return EX_DATAERR_;
	}
	n = strlen(pw);
	if (n > 0 && pw[n - 1] == '\n')
		pw[--n] = '\0';
	else if (n == sz - 1) {
		log_fatalx("passwd: the password is longer than %zu bytes",
		    sz - 2);
		return EX_DATAERR_;
	}
	if (n > 0 && pw[n - 1] == '\r')
		pw[--n] = '\0';
	if (n == 0) {
		log_fatalx("passwd: empty password refused");
		return EX_DATAERR_;
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)pw[i] < 0x20 || pw[i] == 0x7f)
			break;
	if (i < n) {
		log_fatalx("passwd: a password with a control character "
		    "refused");
		return EX_DATAERR_;
	}
	return EX_OK_;
}

/* hash_password - crypt(3) SHA-512 with a getrandom salt: "$6$..." */
static int
hash_password(const char *pw, char *out, size_t outsz)
{
	struct crypt_data *cd;
	char rbytes[16], salt[CRYPT_GENSALT_OUTPUT_SIZE];
	const char *h;
	int rc = -1;

	if (getrandom(rbytes, sizeof(rbytes), 0) != (ssize_t)sizeof(rbytes)) {
		log_warn("passwd: getrandom");
		return -1;
	}
	if (crypt_gensalt_rn("$6$", 0, rbytes, (int)sizeof(rbytes), salt,
	    (int)sizeof(salt)) == NULL) {
		log_warn("passwd: crypt_gensalt");
		return -1;
	}
	cd = xcalloc(1, sizeof(*cd));
	h = crypt_rn(pw, salt, cd, (int)sizeof(*cd));
	if (h == NULL || strncmp(h, "$6$", 3) != 0 || strlen(h) >= outsz)
		log_warnx("passwd: crypt(3) SHA-512 failed");
	else {
		snprintf(out, outsz, "%s", h);
		rc = 0;
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	explicit_bzero(rbytes, sizeof(rbytes));
	return rc;
}

/* replace_line - the passwd-file text with NAME's password set */
static void
replace_line(const char *old, const char *name, const char *hash,
    strbuf *out)
{
	size_t nl = strlen(name);
	const char *p = old, *e;
	int done = 0;

	while (p != NULL && *p != '\0') {
		e = strchr(p, '\n');
		if (!done && strncmp(p, name, nl) == 0 && p[nl] == ':') {
			/* keep the fields after the password */
			const char *rest = strchr(p + nl + 1, ':');

			sb_printf(out, "%s:{SHA512-CRYPT}%s", name, hash);
			if (rest != NULL && (e == NULL || rest < e))
				sb_add(out, rest, (size_t)((e ? e : rest
				    + strlen(rest)) - rest));
			sb_add(out, "\n", 1);
			done = 1;
		} else {
			sb_add(out, p, e ? (size_t)(e - p) : strlen(p));
			sb_add(out, "\n", 1);
		}
		p = e ? e + 1 : NULL;
	}
	if (!done)
		sb_printf(out, "%s:{SHA512-CRYPT}%s\n", name, hash);
}

/* slurp - a whole file, or an empty string if it does not exist */
static char *
slurp(const char *path, int *err)
{
	strbuf sb;
	char buf[8192];
	ssize_t n;
	int fd;

	sb_init(&sb);
	*err = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno != ENOENT)
			*err = errno;
		sb_free(&sb);
		return xstrdup("");
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		sb_add(&sb, buf, (size_t)n);
	if (n < 0)
		*err = errno;
	close(fd);
	return sb.s ? sb.s : xstrdup("");
}

/*
 * bump_mtime - give the new file an mtime later than the old one's:
 * Dovecot rereads a passwd-file when its mtime (seconds) or size changed,
 * so a same-size rewrite within the second it last read would be missed.
 */
static void
bump_mtime(int fd, const char *path)
{
	struct timespec ts[2];
	struct stat st;

	if (stat(path, &st) != 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	if (ts[0].tv_sec <= st.st_mtim.tv_sec)
		ts[0].tv_sec = st.st_mtim.tv_sec + 1;
	ts[0].tv_nsec = 0;
	ts[1] = ts[0];
	futimens(fd, ts);
}

/* write_file - PATH.new, root:dovecot 0640, fsync, rename; 0 or -1 */
static int
write_file(const char *path, const char *text)
{
	char tmp[4200], dir[4200], *slash;
	struct group *gr;
	size_t len = strlen(text), off = 0;
	int fd, dfd;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) < 0) {
		log_warn("passwd: %s", tmp);
		return -1;
	}
	gr = getgrnam("dovecot");
	if (fchown(fd, 0, gr ? gr->gr_gid : 0) != 0 && geteuid() == 0)
		log_warn("passwd: chown %s", tmp);
	if (fchmod(fd, 0640) != 0)
		goto fail;
	bump_mtime(fd, path);
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0)
			goto fail;
		off += (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail;
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL) {
		*(slash == dir ? slash + 1 : slash) = '\0';
		if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	return 0;
fail:
	log_warn("passwd: %s", tmp);
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

/* run - run argv, its standard output into out (if not NULL); exit status */
static int
run(char *const argv[], char *out, size_t outsz)
{
	char sink[256];
	int pfd[2], st;
	pid_t pid;
	size_t off = 0;
	ssize_t n;

	if (pipe(pfd) != 0)
		return -1;
	if ((pid = fork()) < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		dup2(devnull, STDIN_FILENO);
		dup2(out ? pfd[1] : devnull, STDOUT_FILENO);
		dup2(devnull, STDERR_FILENO);
		close(pfd[0]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	while ((n = read(pfd[0], out ? out + off : sink,
	    out ? outsz - 1 - off : sizeof(sink))) > 0)
		if (out != NULL && (off += (size_t)n) >= outsz - 1)
			break;
	close(pfd[0]);
	if (out != NULL)
		out[off] = '\0';
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* flush_cache - doveadm auth cache flush NAME if the cache is on */
static const char *
flush_cache(const rg_config *cfg, const char *name)
{
	char out[256], *conf = cfg->dovecot_config_file;
	char *cq[] = { "doveconf", "-c", conf, "-h", "auth_cache_size", NULL };
	char *fl[] = { "doveadm", "-c", conf, "auth", "cache", "flush",
	    (char *)name, NULL };

	if (access(conf, R_OK) != 0)
		return "no_dovecot_config";
	if (run(cq, out, sizeof(out)) != 0)
		return "doveconf_failed";
	out[strcspn(out, " \r\n")] = '\0';
	if (strcmp(out, "0") == 0 || out[0] == '\0')
		return "off";
	if (run(fl, NULL, 0) != 0) {
		log_warnx("passwd: doveadm auth cache flush %s failed (is "
		    "Dovecot running?); the old password may work until "
		    "auth_cache_ttl", name);
		return "flush_failed";
	}
	return "flushed";
}

/* cmd_passwd - passwd user NAME */
int
cmd_passwd(const cli_ctx *cx, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char err[1024], pw[PW_MAX], hash[256], lock[4200];
	const char *name, *cache;
	const rul_user *u;
	rg_config *cfg;
	rul_policy *pol;
	strbuf sb;
	size_t ml;
	char *old;
	int ch, rc, lfd, rerr;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (ch == 'h') {
			passwd_usage(stdout);
			return EX_OK_;
		}
		passwd_usage(stderr);
		return EX_USAGE_;
	}
	if (argc - optind != 2 || strcmp(argv[optind], "user") != 0) {
		passwd_usage(stderr);
		return EX_USAGE_;
	}
	name = argv[optind + 1];
	if ((cfg = cli_load_config(cx, &rc)) == NULL)
		return rc;
	if ((pol = rul_new(cfg, err, sizeof(err))) == NULL) {
		log_fatalx("%s", err);
		cfg_free(cfg);
		return EX_CONFIG_;
	}
	rc = EX_USAGE_;
	if ((u = rul_user_named(pol, name)) == NULL) {
		log_warnx("passwd: %s is not a configured [user]", name);
		goto out;
	}
	if (u->type == RUL_IP) {
		log_warnx("passwd: %s is an IP user: it relays without "
		    "logging in", name);
		goto out;
	}
	if (strpbrk(name, ": \t") != NULL) {
		log_warnx("passwd: %s: a passwd-file name cannot hold ':' or "
		    "white space", name);
		goto out;
	}
	ml = strlen(cfg->map_directory);
	if (strncmp(cfg->dovecot_passwd_file, cfg->map_directory, ml) == 0
	    && cfg->dovecot_passwd_file[ml] == '/') {
		log_warnx("passwd: dovecot_passwd_file %s is inside "
		    "map_directory: refused", cfg->dovecot_passwd_file);
		rc = EX_CONFIG_;
		goto out;
	}
	if ((rc = read_password(pw, sizeof(pw), name)) != EX_OK_)
		goto out;
	rc = hash_password(pw, hash, sizeof(hash));
	explicit_bzero(pw, sizeof(pw));
	if (rc != 0) {
		rc = EX_SOFTWARE_;
		goto out;
	}
	snprintf(lock, sizeof(lock), "%s.lock", cfg->dovecot_passwd_file);
	if ((lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0
	    || flock(lfd, LOCK_EX) != 0) {
		log_warn("passwd: %s", lock);
		rc = 73;	/* EX_CANTCREAT */
		goto out;
	}
	old = slurp(cfg->dovecot_passwd_file, &rerr);
	if (rerr != 0) {
		log_warnx("passwd: %s: %s", cfg->dovecot_passwd_file,
		    strerror(rerr));
		free(old);
		close(lfd);
		rc = 73;
		goto out;
	}
	sb_init(&sb);
	replace_line(old, name, hash, &sb);
	free(old);
	rc = write_file(cfg->dovecot_passwd_file, sb.s) == 0 ? EX_OK_ : 73;
	sb_free(&sb);
	close(lfd);
	if (rc == EX_OK_) {
		cache = flush_cache(cfg, name);
		printf("action=passwd user=\"%s\" file=%s scheme=SHA512-CRYPT "
		    "auth_cache=%s\n", name, cfg->dovecot_passwd_file, cache);
	}
out:
	explicit_bzero(hash, sizeof(hash));
	rul_free(pol);
	cfg_free(cfg);
	return rc;
}

/* dovecot_usage - the help text of dovecot-config */
static void
dovecot_usage(FILE *out)
{
	fprintf(out,
	    "usage: relayguard [-c CONFIG] dovecot-config\n\n"
	    "Print the Dovecot passdb that reads the passwords `relayguard "
	    "passwd` writes\n([global] dovecot_passwd_file), e.g. for\n"
	    "/etc/dovecot/conf.d/auth-relayguard.conf.ext, included from "
	    "10-auth.conf.\n\nExit: 0; 78 configuration.\n");
}

/* cmd_dovecot_config - print the passdb stanza */
int
cmd_dovecot_config(const cli_ctx *cx, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	rg_config *cfg;
	int ch, rc;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (ch == 'h') {
			dovecot_usage(stdout);
			return EX_OK_;
		}
		dovecot_usage(stderr);
		return EX_USAGE_;
	}
	if (optind != argc) {
		dovecot_usage(stderr);
		return EX_USAGE_;
	}
	if ((cfg = cli_load_config(cx, &rc)) == NULL)
		return rc;
	printf("# Dovecot passdb for relayguard's passwords (relayguard "
	    "dovecot-config);\n"
	    "# set them with: relayguard passwd user NAME\n"
	    "passdb {\n"
	    "  driver = passwd-file\n"
	    "  args = scheme=SHA512-CRYPT username_format=%%u %s\n"
	    "}\n"
	    "# SMTP AUTH needs only the passdb; Dovecot still wants a "
	    "userdb, e.g.\n"
	    "# userdb {\n"
	    "#   driver = static\n"
	    "#   args = uid=nobody gid=nogroup home=/nonexistent\n"
	    "# }\n", cfg->dovecot_passwd_file);
	cfg_free(cfg);
	return EX_OK_;
}
