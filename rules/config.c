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

enum cfg_type { CT_STRING, CT_PATH, CT_INT, CT_DURATION, CT_ZONE, CT_HLIST,
	CT_SLIST, CT_ENUM };

typedef struct cfg_key {
	const char *section;
	const char *key;
	enum cfg_type type;
	const char *def;	/* default, as it would be written in the file */
	/* CT_ENUM: the allowed values, "a|b|c", in min's place (see ENUM) */
	long long min, max;	/* bounds of CT_INT and CT_DURATION */
	int zero_ok;		/* 0 is allowed too (it means "automatic") */
	size_t offset;
	const char *help;
} cfg_key;

#define OFF(f) offsetof(rg_config, f)
#define SOFF(f) offsetof(rg_source_cfg, f)

/* the allowed values of the CT_ENUM keys, by key name */
static const char *
enum_values(const char *key)
{
	if (strcmp(key, "type") == 0)
		return "file|stdin|journal";
	if (strcmp(key, "format") == 0)
		return "auto|syslog|rspamd";
	return "";
}

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
	{ "parse", "spamd_window", CT_DURATION, "5m", 1, 86400, 0,
	    OFF(spamd_window),
	    "how far apart a spamd result and its message-id may be logged" },
	{ "parse", "identity_headers", CT_HLIST, "X-Client-ID", 0, 0, 0,
	    OFF(headers), "headers recorded under these names (case-insensitive)" },
	{ "collect", "batch_lines", CT_INT, "10000", 1, 10000000, 0,
	    OFF(batch_lines), "--follow commits after this many lines ..." },
	{ "collect", "batch_interval", CT_DURATION, "1s", 1, 3600, 0,
	    OFF(batch_interval), "... or after this long, whichever is first" },
	{ "collect", "retention", CT_DURATION, "90d", 86400, 3650 * 86400LL, 0,
	    OFF(retention), "stored rows older than this are pruned" },
	{ "collect", "prune_batch", CT_INT, "5000", 1, 1000000, 0,
	    OFF(prune_batch), "rows deleted per pruning transaction" },
	{ "collect", "stats_interval", CT_DURATION, "5m", 1, 86400, 0,
	    OFF(stats_interval), "--follow logs a line of statistics this often" },
	{ "source", "type", CT_ENUM, "file", 0, 0, 0, SOFF(type),
	    "[source NAME]: file, stdin or journal" },
	{ "source", "path", CT_PATH, "", 0, 0, 0, SOFF(path),
	    "file: the log file (rotated files beside it are found)" },
	{ "source", "format", CT_ENUM, "auto", 0, 0, 0, SOFF(format),
	    "auto (every supported stamp), syslog or rspamd" },
	{ "source", "year", CT_INT, "0", 1970, 9999, 1, SOFF(year),
	    "year of year-less stamps (0: [parse] year)" },
	{ "source", "timezone", CT_ZONE, "", 0, 0, 0, SOFF(timezone),
	    "zone of zone-less stamps (empty: [parse] timezone)" },
	{ "source", "directory", CT_PATH, "", 0, 0, 0, SOFF(directory),
	    "journal: a journal directory (empty: the system journal)" },
	{ "source", "match", CT_SLIST, "", 0, 0, 0, SOFF(match),
	    "journal: FIELD=value matches, e.g. _SYSTEMD_UNIT=postfix@-.service" },
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
	unsigned char sseen[CFG_MAX_SOURCES][NSCHEMA];
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

/* str_slot - the char * field of a key in base (the config or a source) */
static char **
str_slot(void *base, const cfg_key *k)
{
	return (char **)((char *)base + k->offset);
}

/* ll_slot - the long long field of a key */
static long long *
ll_slot(void *base, const cfg_key *k)
{
	return (long long *)((char *)base + k->offset);
}

/* list_slot - the list field of a key */
static cfg_list *
list_slot(void *base, const cfg_key *k)
{
	return (cfg_list *)((char *)base + k->offset);
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

/* set_list - replace (or extend) a list by the comma-separated items in v */
static int
set_list(load_ctx *ctx, void *base, const cfg_key *k, const char *v,
    int append)
{
	cfg_list *l = list_slot(base, k);
	char *copy = xstrdup(v), *tok, *save = NULL;
	int i;

	if (!append) {
		for (i = 0; i < l->n; i++)
			free(l->v[i]);
		l->n = 0;
	}
	for (tok = strtok_r(copy, k->type == CT_HLIST ? ", \t" : ",", &save);
	    tok != NULL; tok = strtok_r(NULL, k->type == CT_HLIST ? ", \t" : ",",
	    &save)) {
		while (*tok == ' ' || *tok == '\t')
			tok++;
		if (*tok == '\0')
			continue;
		if (k->type == CT_HLIST && !valid_header_name(tok)) {
			cfg_err(ctx, ctx->lineno, "%s: bad header name '%s'",
			    k->key, tok);
			continue;
		}
		if (k->type == CT_SLIST && strchr(tok, '=') == NULL) {
			cfg_err(ctx, ctx->lineno, "%s: '%s' is not FIELD=value",
			    k->key, tok);
			continue;
		}
		if (l->n == CFG_MAX_LIST) {
			cfg_err(ctx, ctx->lineno, "%s: more than %d items",
			    k->key, CFG_MAX_LIST);
			break;
		}
		l->v[l->n++] = xstrdup(tok);
	}
	free(copy);
	return 0;
}

/* set_value - check and store one value; -1 (reported) if it is bad */
static int
set_value(load_ctx *ctx, void *base, const cfg_key *k, const char *v,
    int line)
{
	long long n;

	switch (k->type) {
	case CT_STRING:
	case CT_PATH:
		if (k->type == CT_PATH && *v != '\0' && *v != '/') {
			cfg_err(ctx, line, "%s: '%s' is not an absolute path",
			    k->key, v);
			return -1;
		}
		free(*str_slot(base, k));
		*str_slot(base, k) = xstrdup(v);
		return 0;
	case CT_ZONE:
		if (*v != '\0' && rgt_set_zone(v) != 0) {
			cfg_err(ctx, line, "%s: unknown time zone '%s'",
			    k->key, v);
			return -1;
		}
		free(*str_slot(base, k));
		*str_slot(base, k) = xstrdup(v);
		return 0;
	case CT_INT:
		if (parse_ll(v, k->zero_ok ? 0 : k->min, k->max, &n) != 0
		    || (n != 0 && n < k->min)) {
			cfg_err(ctx, line, "%s: '%s' is not a whole number "
			    "from %lld to %lld%s", k->key, v, k->min, k->max,
			    k->zero_ok ? ", or 0" : "");
			return -1;
		}
		*ll_slot(base, k) = n;
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
		*ll_slot(base, k) = n;
		return 0;
	case CT_HLIST:
	case CT_SLIST:
		return set_list(ctx, base, k, v, 0);
	case CT_ENUM: {
		const char *vals = enum_values(k->key), *p = vals;
		size_t vl = strlen(v);

		while (p != NULL && *p) {
			const char *bar = strchr(p, '|');
			size_t l = bar ? (size_t)(bar - p) : strlen(p);

			if (l == vl && strncmp(p, v, vl) == 0) {
				free(*str_slot(base, k));
				*str_slot(base, k) = xstrdup(v);
				return 0;
			}
			p = bar ? bar + 1 : NULL;
		}
		cfg_err(ctx, line, "%s: '%s' is not one of %s", k->key, v, vals);
		return -1;
	}
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

/*
 * section_split - "source NAME" or "source \"NAME\"" -> "source" and NAME;
 * plain sections have no name. Returns the kind ("source", or the section).
 */
static const char *
section_split(const char *section, char *kind, size_t ksz, char *name,
    size_t nsz)
{
	const char *sp = strchr(section, ' ');

	name[0] = '\0';
	if (sp == NULL) {
		snprintf(kind, ksz, "%s", section);
		return kind;
	}
	snprintf(kind, ksz, "%.*s", (int)(sp - section), section);
	while (*sp == ' ')
		sp++;
	if (*sp == '"') {
		size_t l = strlen(sp);

		snprintf(name, nsz, "%.*s", (int)(l >= 2 && sp[l - 1] == '"'
		    ? l - 2 : l - 1), sp + 1);
	} else {
		snprintf(name, nsz, "%s", sp);
	}
	return kind;
}

/* source_for - the [source NAME] instance, created at its first key */
static int
source_for(load_ctx *ctx, const char *name)
{
	rg_config *cfg = ctx->cfg;
	int i;

	for (i = 0; i < cfg->nsources; i++)
		if (strcmp(cfg->sources[i].name, name) == 0)
			return i;
	if (cfg->nsources == CFG_MAX_SOURCES) {
		cfg_err(ctx, ctx->lineno, "more than %d sources",
		    CFG_MAX_SOURCES);
		return -1;
	}
	i = cfg->nsources++;
	memset(&cfg->sources[i], 0, sizeof(cfg->sources[i]));
	cfg->sources[i].name = xstrdup(name);
	cfg->sources[i].line = ctx->lineno;
	cfg->sources[i].type = xstrdup("file");
	cfg->sources[i].path = xstrdup("");
	cfg->sources[i].format = xstrdup("auto");
	cfg->sources[i].timezone = xstrdup("");
	cfg->sources[i].directory = xstrdup("");
	return i;
}

/* handler - inih callback: one key = value */
static int
handler(void *user, const char *section, const char *name, const char *value)
{
	load_ctx *ctx = user;
	const cfg_key *k;
	char kind[64], sname[64];
	void *base = ctx->cfg;
	unsigned char *seen = ctx->seen;
	int known;

	section_split(section, kind, sizeof(kind), sname, sizeof(sname));
	k = find_key(kind, name, &known);
	if (strcmp(kind, "source") == 0) {
		int i = source_for(ctx, sname);

		if (i < 0)
			return 1;
		base = &ctx->cfg->sources[i];
		seen = ctx->sseen[i];
	}
	if (ctx->continuation) {
		/* inih r55 reads an indented line as more of the last value */
		if (k != NULL && (k->type == CT_HLIST || k->type == CT_SLIST)) {
			set_list(ctx, base, k, value, 1);
			return 1;
		}
		cfg_err(ctx, ctx->lineno, "indented line is read as a "
		    "continuation of '%s': do not indent keys", name);
		return 1;
	}
	if (k == NULL) {
		/* an unknown section was reported at its header */
		if (known)
			cfg_err(ctx, ctx->lineno, "unknown key '%s' in [%s]",
			    name, section);
		return 1;
	}
	if (seen[k - cfg_schema]) {
		cfg_err(ctx, ctx->lineno, "'%s' is set twice in [%s]", name,
		    section);
		return 1;
	}
	seen[k - cfg_schema] = 1;
	set_value(ctx, base, k, value, ctx->lineno);
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

				char kind[64], sname[64];

				snprintf(name, sizeof(name), "%.*s",
				    (int)(e - p - 1), p + 1);
				section_split(name, kind, sizeof(kind), sname,
				    sizeof(sname));
				find_key(kind, "", &known);
				if (!known)
					cfg_err(ctx, lineno, "unknown section "
					    "[%s]", name);
				else if (strcmp(kind, "source") == 0
				    && sname[0] == '\0')
					cfg_err(ctx, lineno, "[source] needs a "
					    "name: [source NAME]");
				else if (strcmp(kind, "source") != 0
				    && sname[0] != '\0')
					cfg_err(ctx, lineno, "[%s] takes no "
					    "name", kind);
				else if (strcmp(kind, "source") == 0) {
					/* a section with no keys is a source too */
					ctx->lineno = lineno;
					source_for(ctx, sname);
				}
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

/* validate_sources - what each [source NAME] needs, by its type */
static void
validate_sources(load_ctx *ctx)
{
	rg_config *cfg = ctx->cfg;
	int i, j, nstdin = 0;

	for (i = 0; i < cfg->nsources; i++) {
		rg_source_cfg *sc = &cfg->sources[i];

		if (strcmp(sc->type, "file") == 0 && *sc->path == '\0')
			cfg_err(ctx, sc->line, "[source %s]: type = file needs "
			    "a path", sc->name);
		if (strcmp(sc->type, "file") != 0 && *sc->path != '\0')
			cfg_err(ctx, sc->line, "[source %s]: path is only for "
			    "type = file", sc->name);
		if (strcmp(sc->type, "journal") != 0
		    && (sc->match.n > 0 || *sc->directory != '\0'))
			cfg_err(ctx, sc->line, "[source %s]: match and directory "
			    "are only for type = journal", sc->name);
		if (strcmp(sc->type, "stdin") == 0 && nstdin++ > 0)
			cfg_err(ctx, sc->line, "[source %s]: only one source "
			    "can read standard input", sc->name);
		for (j = 0; j < i; j++)
			if (*sc->path && strcmp(cfg->sources[j].path,
			    sc->path) == 0)
				cfg_err(ctx, sc->line, "[source %s]: %s is "
				    "read by [source %s] already", sc->name,
				    sc->path, cfg->sources[j].name);
	}
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
		if (strcmp(cfg_schema[i].section, "source") != 0
		    && (cfg_schema[i].type != CT_ZONE || *cfg_schema[i].def == '\0'))
			set_value(&ctx, cfg, &cfg_schema[i], cfg_schema[i].def, 0);
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
	validate_sources(&ctx);
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

/* list_free - release a list's items */
static void
list_free(cfg_list *l)
{
	int i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	l->n = 0;
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
		const cfg_key *k = &cfg_schema[i];
		int src = strcmp(k->section, "source") == 0;

		for (j = 0; j < (src ? cfg->nsources : 1); j++) {
			void *base = src ? (void *)&cfg->sources[j] : (void *)cfg;

			switch (k->type) {
			case CT_STRING:
			case CT_PATH:
			case CT_ZONE:
			case CT_ENUM:
				free(*str_slot(base, k));
				break;
			case CT_HLIST:
			case CT_SLIST:
				list_free(list_slot(base, k));
				break;
			default:
				break;
			}
		}
	}
	for (j = 0; j < cfg->nsources; j++)
		free(cfg->sources[j].name);
	free(cfg->file);
	free(cfg);
}

/* cfg_print_schema - the schema as a table (section, key, type, default, bounds) */
void
cfg_print_schema(FILE *out)
{
	static const char *tn[] = { "string", "path", "integer", "duration",
	    "zone", "list", "list", "enum" };
	size_t i;

	fprintf(out, "%-8s %-18s %-9s %-34s %s\n", "section", "key", "type",
	    "default", "bounds / meaning");
	for (i = 0; i < NSCHEMA; i++) {
		const cfg_key *k = &cfg_schema[i];
		char bounds[64] = "";

		if (k->type == CT_INT || k->type == CT_DURATION)
			snprintf(bounds, sizeof(bounds), "%lld..%lld%s%s; ",
			    k->min, k->max, k->type == CT_DURATION ? "s" : "",
			    k->zero_ok ? " or 0" : "");
		else if (k->type == CT_ENUM)
			snprintf(bounds, sizeof(bounds), "%s; ",
			    enum_values(k->key));
		fprintf(out, "%-8s %-18s %-9s %-34s %s%s\n", k->section,
		    k->key, tn[k->type], *k->def ? k->def : "\"\"", bounds,
		    k->help);
	}
}
