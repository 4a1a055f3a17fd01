/*
 * test_cfgcache.c - the compiled configuration cache (rules/cfgcache.c):
 * a snapshot gives back the configuration the parser made, field by field;
 * a damaged or foreign snapshot is refused whole; cfc_load parses again
 * when the file changed (the change takes effect), when the snapshot is
 * damaged or writable by others, and a bad file still reports FILE:LINE.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/hash.h"
#include "../../rules/cfgcache.h"
#include "unit.h"

static char dir[] = "/tmp/rg-cfgcache-XXXXXX";
static char ini[300], db[300], cache[400];

/* write_file - path holds text */
static void
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	if (fp == NULL) {
		perror(path);
		exit(1);
	}
	fputs(text, fp);
	fclose(fp);
}

/* config_text - a configuration with every kind of section, lists, a zone */
static void
config_text(char *buf, size_t sz, int threshold)
{
	snprintf(buf, sz,
	    "[global]\n"
	    "database = %s\n"
	    "map_directory = %s/maps\n"
	    "never_lock = vip@example.com, boss@example.com\n"
	    "trusted_verdicts = rspamd, milter\n"
	    "[parse]\n"
	    "timezone = Europe/Berlin\n"
	    "identity_headers = X-Client-ID, X-Tenant\n"
	    "[defaults]\n"
	    "spam_lock_threshold = 7\n"
	    "lock_timeout = 2h\n"
	    "[source main]\n"
	    "path = /var/log/mail.log\n"
	    "[identity_header X-Client-ID]\n"
	    "regex = ^tenant-([0-9]+)\n"
	    "[domain customer.example]\n"
	    "dkim_selector = s1\n"
	    "[user alice@example.com]\n"
	    "spam_lock_threshold = %d\n"
	    "[user bob@example.com]\n"
	    "connection_limits = yes\n"
	    "limit_per_hour = 100\n"
	    "report_to = bob-admin@example.com\n"
	    "[user 10.0.0.0/24]\n"
	    "type = ip\n"
	    "addresses = 10.0.0.0/24, 192.0.2.7\n"
	    "identification = header\n"
	    "identity_headers = X-Tenant, X-Client-ID\n"
	    "[user customer.example]\n"
	    "type = domain\n"
	    "match_sender_domain = yes\n"
	    "archive = yes\n"
	    "archive_address = archive@example.net\n",
	    db, dir, threshold);
}

/* same_cfg - every value of every section equal (cfg_fields' view) */
static int
same_section(const void *a, const void *b, const char *section)
{
	const cfg_field *f;
	size_t i, n = 0;
	int j;

	f = cfg_fields(section, &n);
	for (i = 0; i < n; i++) {
		const char *pa = (const char *)a + f[i].offset;
		const char *pb = (const char *)b + f[i].offset;

		if (f[i].kind == CFG_F_STR) {
			if (strcmp(*(char *const *)pa, *(char *const *)pb) != 0)
				return 0;
		} else if (f[i].kind == CFG_F_LIST) {
			const cfg_list *x = (const cfg_list *)pa;
			const cfg_list *y = (const cfg_list *)pb;

			if (x->n != y->n)
				return 0;
			for (j = 0; j < x->n; j++)
				if (strcmp(x->v[j], y->v[j]) != 0)
					return 0;
		} else if (*(const long long *)pa != *(const long long *)pb) {
			return 0;
		}
	}
	return 1;
}

static int
same_cfg(const rg_config *a, const rg_config *b)
{
	static const char *plain[] = { "global", "parse", "collect", "report",
	    "mail", "pgsql" };
	size_t i;
	int k;

	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (!same_section(a, b, plain[i]))
			return 0;
	if (!same_section(&a->defaults, &b->defaults, "user")
	    || a->nusers != b->nusers || a->nsources != b->nsources
	    || a->nidheaders != b->nidheaders || a->ndomains != b->ndomains
	    || (a->tz == NULL) != (b->tz == NULL)
	    || (a->tz != NULL && strcmp(a->tz, b->tz) != 0))
		return 0;
	for (k = 0; k < a->nusers; k++)
		if (strcmp(a->users[k].name, b->users[k].name) != 0
		    || a->users[k].line != b->users[k].line
		    || !same_section(&a->users[k], &b->users[k], "user"))
			return 0;
	for (k = 0; k < a->nsources; k++)
		if (strcmp(a->sources[k].name, b->sources[k].name) != 0
		    || !same_section(&a->sources[k], &b->sources[k], "source"))
			return 0;
	for (k = 0; k < a->nidheaders; k++)
		if (strcmp(a->idheaders[k].name, b->idheaders[k].name) != 0
		    || !same_section(&a->idheaders[k], &b->idheaders[k],
		    "identity_header"))
			return 0;
	for (k = 0; k < a->ndomains; k++)
		if (strcmp(a->domains[k].name, b->domains[k].name) != 0
		    || !same_section(&a->domains[k], &b->domains[k], "domain"))
			return 0;
	return 1;
}

/* snapshot - the encoded snapshot of the file's configuration */
static char *
snapshot(rg_config **cfgp, size_t *len)
{
	char *out = NULL;
	int nerr;

	*cfgp = cfg_load(ini, NULL, &nerr);
	if (*cfgp == NULL || cfc_encode(*cfgp, 42, 4242, &out, len) != 0)
		return NULL;
	return out;
}

/* dup_buf - a malloc'ed copy (cfc_decode takes its buffer) */
static char *
dup_buf(const char *p, size_t n)
{
	char *b = malloc(n ? n : 1);

	memcpy(b, p, n);
	return b;
}

/* lines - how many lines text has (the number of its last) */
static int
lines(const char *text)
{
	int n = 0;

	for (; *text; text++)
		n += *text == '\n';
	return n;
}

/* load - cfc_load of ini; the errors into err */
static rg_config *
load(enum cfc_how *how, char *err, size_t errsz)
{
	rul_policy *pol = NULL;
	rg_config *cfg;
	char c[500];
	FILE *fp = fmemopen(err, errsz, "w");
	int nerr;

	memset(err, 0, errsz);
	cfg = cfc_load(ini, fp, &nerr, &pol, how, c, sizeof(c));
	fclose(fp);
	rul_free(pol);
	return cfg;
}

int
main(void)
{
	char text[4096], err[2048], *snap;
	rg_config *cfg, *back;
	enum cfc_how how;
	size_t len, i;
	struct stat sb;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(ini, sizeof(ini), "%s/rg.ini", dir);
	snprintf(db, sizeof(db), "%s/rg.db", dir);
	snprintf(cache, sizeof(cache), "%s.config-cache", db);
	config_text(text, sizeof(text), 3);
	write_file(ini, text);

	CASE("cfgcache: a snapshot gives back every value the parser read", {
		snap = snapshot(&cfg, &len);
		CHECK(snap != NULL);
		back = snap ? cfc_decode(dup_buf(snap, len), len, 42, 4242) : NULL;
		CHECK(back != NULL);
		if (back != NULL) {
			back->file = strdup(ini);
			CHECK(same_cfg(cfg, back));
			CHECK(cfg_hash(back) == cfg_hash(cfg));
			back->hashed = 0;	/* computed afresh: the same */
			CHECK(cfg_hash(back) == cfg_hash(cfg));
			CHECK(back->nusers == 4);
			CHECK(back->users[2].addresses.n == 2);
			CHECK_STR(back->users[0].type, "sasl");
			CHECK(back->users[0].spam_lock_threshold == 3);
			CHECK(back->users[1].spam_lock_threshold == 7);
			CHECK_STR(back->tz, "Europe/Berlin");
			CHECK(cfg_recheck(back) == 0);
		}
		cfg_free(back);
	});

	CASE("cfgcache: a damaged, cut or foreign snapshot is refused", {
		int accepted = 0;

		for (i = 0; snap != NULL && i < len; i++) {
			char *b = dup_buf(snap, len);

			b[i] ^= (char)(1 << (i % 8));
			if ((back = cfc_decode(b, len, 42, 4242)) != NULL)
				accepted++;
			cfg_free(back);
		}
		CHECK(accepted == 0);
		for (i = 0; snap != NULL && i < len; i += 7)
			CHECK(cfc_decode(dup_buf(snap, len), i, 42, 4242) == NULL);
		/* another file's content, or the same length of other bytes */
		CHECK(snap == NULL || cfc_decode(dup_buf(snap, len), len, 43, 4242)
		    == NULL);
		CHECK(snap == NULL || cfc_decode(dup_buf(snap, len), len, 42, 4243)
		    == NULL);
		free(snap);
		cfg_free(cfg);
	});

	CASE("cfgcache: written once, then used", {
		cfg = load(&how, err, sizeof(err));
		CHECK(cfg != NULL && how == CFC_WRITTEN);
		CHECK(stat(cache, &sb) == 0 && (sb.st_mode & 0777) == 0600);
		cfg_free(cfg);
		cfg = load(&how, err, sizeof(err));
		CHECK(cfg != NULL && how == CFC_CACHED);
		CHECK(cfg != NULL && cfg->users[0].spam_lock_threshold == 3);
		CHECK(cfg != NULL && strcmp(cfg->file, ini) == 0);
		cfg_free(cfg);
	});

	CASE("cfgcache: a changed file is parsed again and its change holds", {
		/* same length, same mtime: only the content tells */
		struct timespec ts[2];

		stat(ini, &sb);
		config_text(text, sizeof(text), 9);
		write_file(ini, text);
		ts[0] = sb.st_atim;
		ts[1] = sb.st_mtim;
		utimensat(AT_FDCWD, ini, ts, 0);
		cfg = load(&how, err, sizeof(err));
		CHECK(cfg != NULL && how == CFC_WRITTEN);
		CHECK(cfg != NULL && cfg->users[0].spam_lock_threshold == 9);
		cfg_free(cfg);
		cfg = load(&how, err, sizeof(err));
		CHECK(cfg != NULL && how == CFC_CACHED);
		CHECK(cfg != NULL && cfg->users[0].spam_lock_threshold == 9);
		cfg_free(cfg);
	});

	CASE("cfgcache: a damaged snapshot is ignored and written anew", {
		int fd = open(cache, O_WRONLY);

		CHECK(fd >= 0 && pwrite(fd, "garbage!", 8, 200) == 8);
		close(fd);
		cfg = load(&how, err, sizeof(err));
		CHECK(cfg != NULL && how == CFC_WRITTEN);
		CHECK(cfg != NULL && cfg->users[0].spam_lock_threshold == 9);
		cfg_free(cfg);
	});

	CASE("cfgcache: a snapshot others can write is not trusted", {
		chmod(cache, 0666);
		cfg = load(&how, err, sizeof(err));
		CHECK(cfg != NULL && how == CFC_WRITTEN);
		CHECK(stat(cache, &sb) == 0 && (sb.st_mode & 0777) == 0600);
		cfg_free(cfg);
	});

	CASE("cfgcache: a bad file reports FILE:LINE though a snapshot exists", {
		char want[400];

		config_text(text, sizeof(text), 3);
		strcat(text, "limit_per_hour = lots\n");
		write_file(ini, text);
		cfg = load(&how, err, sizeof(err));
		CHECK(cfg == NULL);
		snprintf(want, sizeof(want), "%s:%d: limit_per_hour: 'lots' is "
		    "not a whole number", ini, lines(text));
		CHECK(strstr(err, want) != NULL);
		if (strstr(err, want) == NULL)
			fprintf(stderr, "got: %s\n", err);
		/* and the policy's checks too (two users claim one network) */
		config_text(text, sizeof(text), 3);
		strcat(text, "[user 10.0.0.0/25]\ntype = ip\n"
		    "addresses = 10.0.0.0/24\n");
		write_file(ini, text);
		cfg = load(&how, err, sizeof(err));
		CHECK(cfg == NULL);
		snprintf(want, sizeof(want), "%s:%d: [user 10.0.0.0/25]: "
		    "10.0.0.0/24 is also", ini, lines(text) - 2);
		CHECK(strstr(err, want) != NULL);
		if (strstr(err, want) == NULL)
			fprintf(stderr, "got: %s\n", err);
	});

	unlink(cache);
	unlink(ini);
	snprintf(text, sizeof(text), "%s/maps", dir);
	rmdir(text);
	rmdir(dir);
	return unit_total_failed ? 1 : 0;
}
