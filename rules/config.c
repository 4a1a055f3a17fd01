/*
 * config.c - the configuration schema and its loader. Owns the rg_config
 * and every string in it. Errors go to the caller's stream as
 * "FILE:LINE: message"; a config with errors is freed, never returned.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "../common/rgtime.h"
#include "../common/xalloc.h"
#include "config.h"

/* inih r55 reads lines with fgets(buf, 200): 198 bytes and the newline */
#define INIH_MAX_CONTENT 198
#define INIH_MAX_NAME 49

enum cfg_type { CT_STRING, CT_PATH, CT_INT, CT_DURATION, CT_ZONE, CT_LIST };

typedef struct cfg_key {
	const char *section;
	const char *key;
	enum cfg_type type;
	const char *def;	/* default, as it would be written in the file */
	long long min, max;	/* bounds of CT_INT and CT_DURATION */
	int zero_ok;		/* 0 is allowed too (it means "automatic") */
	size_t offset;
	const char *help;
} cfg_key;

#define OFF(f) offsetof(rg_config, f)

static const cfg_key cfg_schema[] = {
	{ "global", "database", CT_PATH, "/var/lib/relayguard/relayguard.db",
	    0, 0, 0, OFF(database), "SQLite database of the collector" },
	{ "global", "hostname", CT_STRING, "", 0, 0, 0, OFF(hostname),
	    "host name for log lines that carry none (rspamd's own log)" },
	{ "parse", "timezone", CT_ZONE, "", 0, 0, 0, OFF(timezone),
	    "zone of zone-less timestamps (empty: the system's)" },
	{ "parse", "year", CT_INT, "0", 1970, 9999, 1, OFF(year),
	    "year of year-less timestamps (0: from the file's mtime)" },
	{ "parse", "max_message_age", CT_DURATION, "6d", 3600, 400 * 86400LL, 0,
	    OFF(max_message_age),
	    "an unfinished message unseen this long is written out and dropped" },
	{ "parse", "max_session_age", CT_DURATION, "2h", 60, 7 * 86400LL, 0,
	    OFF(max_session_age),
	    "an SMTP session without disconnect is dropped after this" },
	{ "parse", "max_line_length", CT_INT, "16384", 512, 1048576, 0,
	    OFF(max_line_length), "longer log lines are cut (and counted)" },
	{ "parse", "spamd_window", CT_DURATION, "5m", 1, 86400, 0, OFF(spamd_window),
	    "how far apart a spamd result and its message-id may be logged" },
	{ "parse", "identity_headers", CT_LIST, "X-Client-ID", 0, 0, 0,
	    OFF(headers), "headers recorded under these names (case-insensitive)" },
};

#define NSCHEMA (sizeof(cfg_schema) / sizeof(cfg_schema[0]))

typedef struct load_ctx {
	rg_config *cfg;
	const char *file;
	FILE *errors;
	int nerrors;
	int lineno;		/* line inih is on (counted by our reader) */
	int continuation;	/* that line is indented */
	char **lines;		/* the file, one entry per line */
	int nlines;
	int next;
	unsigned char seen[NSCHEMA];
	char prev_key[64];
	char prev_section[64];
} load_ctx;

/* cfg_err - report one problem as FILE:LINE: message */
static void
cfg_err(load_ctx *ctx, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
cfg_err(load_ctx *ctx, int line, const char *fmt, ...)
{
	va_list ap;

	ctx->nerrors++;
	if (ctx->errors == NULL)
		return;
	fprintf(ctx->errors, "%s:%d: ", ctx->file, line);
	va_start(ap, fmt);
	vfprintf(ctx->errors, fmt, ap);
	va_end(ap);
	fputc('\n', ctx->errors);
}

/* str_slot - the char * field of a key */
static char **
str_slot(rg_config *cfg, const cfg_key *k)
{
	return (char **)((char *)cfg + k->offset);
}

/* ll_slot - the long long field of a key */
static long long *
ll_slot(rg_config *cfg, const cfg_key *k)
{
	return (long long *)((char *)cfg + k->offset);
}

/* parse_ll - a whole decimal number within bounds */
static int
parse_ll(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* valid_header_name - RFC 5322 field name: printable ASCII but ':' */
static int
valid_header_name(const char *s)
{
	if (*s == '\0' || strlen(s) > 64)
		return 0;
	for (; *s; s++)
		if (*s <= 32 || *s >= 127 || *s == ':')
			return 0;
	return 1;
}

/* set_list - replace a list value by the comma-separated names in v */
static int
set_list(load_ctx *ctx, const cfg_key *k, const char *v, int append)
{
	rg_config *cfg = ctx->cfg;
	char *copy = xstrdup(v), *tok, *save = NULL;
	int i;

	(void)k;
	if (!append) {
		for (i = 0; i < cfg->nheaders; i++)
			free(cfg->headers[i]);
		cfg->nheaders = 0;
	}
	for (tok = strtok_r(copy, ", \t", &save); tok != NULL;
	    tok = strtok_r(NULL, ", \t", &save)) {
		if (!valid_header_name(tok)) {
			cfg_err(ctx, ctx->lineno, "%s: bad header name '%s'",
			    k->key, tok);
			continue;
		}
		if (cfg->nheaders == CFG_MAX_HEADERS) {
			cfg_err(ctx, ctx->lineno, "%s: more than %d headers",
			    k->key, CFG_MAX_HEADERS);
			break;
		}
		cfg->headers[cfg->nheaders++] = xstrdup(tok);
	}
	free(copy);
	return 0;
}

/* set_value - check and store one value; -1 (reported) if it is bad */
static int
set_value(load_ctx *ctx, const cfg_key *k, const char *v, int line)
{
	rg_config *cfg = ctx->cfg;
	long long n;

	switch (k->type) {
	case CT_STRING:
	case CT_PATH:
		if (k->type == CT_PATH && *v != '\0' && *v != '/') {
			cfg_err(ctx, line, "%s: '%s' is not an absolute path",
			    k->key, v);
			return -1;
		}
		free(*str_slot(cfg, k));
		*str_slot(cfg, k) = xstrdup(v);
		return 0;
	case CT_ZONE:
		if (*v != '\0' && rgt_set_zone(v) != 0) {
			cfg_err(ctx, line, "%s: unknown time zone '%s'",
			    k->key, v);
			return -1;
		}
		free(*str_slot(cfg, k));
		*str_slot(cfg, k) = xstrdup(v);
		return 0;
	case CT_INT:
		if (parse_ll(v, k->zero_ok ? 0 : k->min, k->max, &n) != 0
		    || (n != 0 && n < k->min)) {
			cfg_err(ctx, line, "%s: '%s' is not a whole number "
			    "from %lld to %lld%s", k->key, v, k->min, k->max,
			    k->zero_ok ? ", or 0" : "");
			return -1;
		}
		*ll_slot(cfg, k) = n;
		return 0;
	case CT_DURATION:
		if (rgt_parse_duration(v, &n) != 0) {
			cfg_err(ctx, line, "%s: '%s' is not a duration "
			    "(like 90s, 10m, 1h, 7d)", k->key, v);
			return -1;
		}
		if (n < k->min || n > k->max) {
			cfg_err(ctx, line, "%s: %s is out of range "
			    "(%llds to %llds)", k->key, v, k->min, k->max);
			return -1;
		}
		*ll_slot(cfg, k) = n;
		return 0;
	case CT_LIST:
		return set_list(ctx, k, v, 0);
	}
	return -1;
}

/* find_key - the schema entry of section/key, NULL if none */
static const cfg_key *
find_key(const char *section, const char *key, int *section_known)
{
	size_t i;

	*section_known = 0;
	for (i = 0; i < NSCHEMA; i++) {
		if (strcmp(cfg_schema[i].section, section) != 0)
			continue;
		*section_known = 1;
		if (strcmp(cfg_schema[i].key, key) == 0)
			return &cfg_schema[i];
	}
	return NULL;
}

/* handler - inih callback: one key = value */
static int
handler(void *user, const char *section, const char *name, const char *value)
{
	load_ctx *ctx = user;
	const cfg_key *k;
	int known;

	if (ctx->continuation) {
		/* inih r55 reads an indented line as more of the last value */
		k = find_key(section, name, &known);
		if (k != NULL && k->type == CT_LIST) {
			set_list(ctx, k, value, 1);
			return 1;
		}
		cfg_err(ctx, ctx->lineno, "indented line is read as a "
		    "continuation of '%s': do not indent keys", name);
		return 1;
	}
	k = find_key(section, name, &known);
	if (k == NULL) {
		/* an unknown section was reported at its header */
		if (known)
			cfg_err(ctx, ctx->lineno, "unknown key '%s' in [%s]",
			    name, section);
		return 1;
	}
	if (ctx->seen[k - cfg_schema]) {
		cfg_err(ctx, ctx->lineno, "'%s' is set twice in [%s]", name,
		    section);
		return 1;
	}
	ctx->seen[k - cfg_schema] = 1;
	set_value(ctx, k, value, ctx->lineno);
	return 1;
}

/* reader - inih's fgets: hand out our lines, counting them */
static char *
reader(char *str, int num, void *stream)
{
	load_ctx *ctx = stream;
	const char *l;

	if (ctx->next >= ctx->nlines)
		return NULL;
	l = ctx->lines[ctx->next++];
	ctx->lineno = ctx->next;
	ctx->continuation = (*l == ' ' || *l == '\t');
	if (strlen(l) + 2 > (size_t)num)
		l = "";		/* over-long: reported already */
	snprintf(str, (size_t)num, "%s\n", l);
	return str;
}

/* read_lines - the file as lines; over-long lines and names reported */
static int
read_lines(load_ctx *ctx, FILE *fp)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, fp)) >= 0) {
		int lineno = ctx->nlines + 1;
		char *p;

		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		if (memchr(line, '\0', (size_t)n) != NULL) {
			cfg_err(ctx, lineno, "NUL byte in line");
			line[0] = '\0';
		} else if (n > INIH_MAX_CONTENT) {
			cfg_err(ctx, lineno, "line is %zd bytes long; the "
			    "limit is %d", n, INIH_MAX_CONTENT);
			line[0] = '\0';
		}
		for (p = line; *p == ' ' || *p == '\t'; p++)
			;
		if (*p == '[') {
			char *e = strchr(p, ']');

			if (e != NULL && e - p - 1 > INIH_MAX_NAME) {
				cfg_err(ctx, lineno, "section name is longer "
				    "than %d bytes", INIH_MAX_NAME);
				line[0] = '\0';
			} else if (e != NULL) {
				char name[INIH_MAX_NAME + 1];
				int known;

				snprintf(name, sizeof(name), "%.*s",
				    (int)(e - p - 1), p + 1);
				find_key(name, "", &known);
				if (!known)
					cfg_err(ctx, lineno, "unknown section "
					    "[%s]", name);
			}
		} else if (*p != ';' && *p != '#' && *p != '\0') {
			char *e = strpbrk(p, "=:");

			if (e != NULL && e - p > INIH_MAX_NAME) {
				cfg_err(ctx, lineno, "key name is longer than "
				    "%d bytes", INIH_MAX_NAME);
				line[0] = '\0';
			}
		}
		ctx->lines = xrealloc(ctx->lines,
		    (size_t)(ctx->nlines + 1) * sizeof(char *));
		ctx->lines[ctx->nlines++] = xstrdup(line);
	}
	free(line);
	return ferror(fp) ? -1 : 0;
}

/* cfg_defaults - a configuration with every default */
rg_config *
cfg_defaults(void)
{
	rg_config *cfg = xcalloc(1, sizeof(*cfg));
	load_ctx ctx;
	size_t i;

	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = cfg;
	ctx.file = "(defaults)";
	for (i = 0; i < NSCHEMA; i++)
		if (cfg_schema[i].type != CT_ZONE || *cfg_schema[i].def == '\0')
			set_value(&ctx, &cfg_schema[i], cfg_schema[i].def, 0);
	return cfg;
}

/*
 * cfg_load - read FILE over the defaults. Returns NULL when the file cannot
 * be read or has any error; *nerrors counts them (each printed on errors).
 */
rg_config *
cfg_load(const char *file, FILE *errors, int *nerrors)
{
	load_ctx ctx;
	FILE *fp;
	int rc, i;

	memset(&ctx, 0, sizeof(ctx));
	ctx.file = file;
	ctx.errors = errors;
	*nerrors = 0;
	if ((fp = fopen(file, "r")) == NULL) {
		if (errors != NULL)
			fprintf(errors, "%s: cannot open: %s\n", file,
			    strerror(errno));
		*nerrors = 1;
		return NULL;
	}
	ctx.cfg = cfg_defaults();
	ctx.cfg->file = xstrdup(file);
	if (read_lines(&ctx, fp) != 0)
		cfg_err(&ctx, ctx.nlines + 1, "read error: %s",
		    strerror(errno));
	fclose(fp);
	rc = ini_parse_stream(reader, &ctx, handler, &ctx);
	if (rc > 0)
		cfg_err(&ctx, rc, "syntax error (expected [section], "
		    "key = value or a comment)");
	else if (rc < 0)
		cfg_err(&ctx, 0, "cannot parse");
	for (i = 0; i < ctx.nlines; i++)
		free(ctx.lines[i]);
	free(ctx.lines);
	*nerrors = ctx.nerrors;
	if (ctx.nerrors > 0) {
		cfg_free(ctx.cfg);
		return NULL;
	}
	return ctx.cfg;
}

/* cfg_free - release a configuration; NULL is a no-op */
void
cfg_free(rg_config *cfg)
{
	size_t i;
	int j;

	if (cfg == NULL)
		return;
	for (i = 0; i < NSCHEMA; i++) {
		switch (cfg_schema[i].type) {
		case CT_STRING:
		case CT_PATH:
		case CT_ZONE:
			free(*str_slot(cfg, &cfg_schema[i]));
			break;
		default:
			break;
		}
	}
	for (j = 0; j < cfg->nheaders; j++)
		free(cfg->headers[j]);
	free(cfg->file);
	free(cfg);
}

/* cfg_print_schema - the schema as a table (section, key, type, default, bounds) */
void
cfg_print_schema(FILE *out)
{
	static const char *tn[] = { "string", "path", "integer", "duration",
	    "zone", "list" };
	size_t i;

	fprintf(out, "%-8s %-18s %-9s %-34s %s\n", "section", "key", "type",
	    "default", "bounds / meaning");
	for (i = 0; i < NSCHEMA; i++) {
		const cfg_key *k = &cfg_schema[i];
		char bounds[64] = "";

		if (k->type == CT_INT || k->type == CT_DURATION)
			snprintf(bounds, sizeof(bounds), "%lld..%lld%s; ",
			    k->min, k->max, k->type == CT_DURATION ? "s" : "");
		fprintf(out, "%-8s %-18s %-9s %-34s %s%s\n", k->section,
		    k->key, tn[k->type], *k->def ? k->def : "\"\"", bounds,
		    k->help);
	}
}
