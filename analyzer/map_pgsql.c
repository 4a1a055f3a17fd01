/*
 * map_pgsql.c - the PostgreSQL lock backend (see map_pgsql.h): the maps of
 * indexed and cidr kinds go into PostgreSQL tables, in one transaction per
 * analyze run, and every relay's Postfix reads them with pgsql: tables
 * through proxy:. It owns one libpq connection and the staged maps; it
 * fails by returning -1 with libpq's message, the transaction rolled back.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "../common/hash.h"
#include "../common/strbuf.h"
#include "../common/xalloc.h"
#include "analyze.h"
#include "idclass.h"
#include "map_pgsql.h"

#define PG_SCHEMA_VERSION 2

/* one staged map: its name, kind and entries (sorted "key\tvalue") */
typedef struct pg_map {
	char *name;
	int cidr;
	int hdr;			/* header_checks: rg_map_re rows */
	size_t n;
	char **keys, **values;
	char **res;			/* hdr: each key's regular expression */
	char digest[17];
} pg_map;

struct map_pg {
	const rg_config *cfg;
	PGconn *conn;
	pg_map *maps;
	size_t n, cap;
};

/* the DDL of PG_SCHEMA_VERSION; each statement is idempotent */
static const char *pg_ddl[] = {
	"CREATE TABLE IF NOT EXISTS rg_maps (map text PRIMARY KEY, "
	"digest text NOT NULL, entries integer NOT NULL, "
	"updated timestamptz NOT NULL DEFAULT now())",
	"CREATE TABLE IF NOT EXISTS rg_map (map text NOT NULL, key text NOT NULL, "
	"value text NOT NULL, PRIMARY KEY (map, key))",
	"CREATE TABLE IF NOT EXISTS rg_map_cidr (map text NOT NULL, "
	"net cidr NOT NULL, value text NOT NULL, PRIMARY KEY (map, net))",
	"CREATE INDEX IF NOT EXISTS rg_map_cidr_net ON rg_map_cidr "
	"USING gist (net inet_ops)",
	/* a whole address or NULL: never a cast error (Postfix would 451) */
	"CREATE OR REPLACE FUNCTION rg_inet(k text) RETURNS inet "
	"LANGUAGE plpgsql IMMUTABLE STRICT AS $f$ BEGIN "
	"IF k ~ '^[0-9]{1,3}(\\.[0-9]{1,3}){3}$' "
	"OR (k ~ '^[0-9A-Fa-f:.]{2,45}$' AND strpos(k, ':') > 0) THEN "
	"RETURN k::inet; END IF; RETURN NULL; "
	"EXCEPTION WHEN OTHERS THEN RETURN NULL; END $f$",
	/* the most specific network wins; DUNNO stops partial keys */
	"CREATE OR REPLACE FUNCTION rg_cidr_lookup(m text, k text) "
	"RETURNS SETOF text LANGUAGE sql STABLE AS $f$ "
	"SELECT COALESCE((SELECT c.value FROM rg_map_cidr c WHERE c.map = m "
	"AND c.net >>= a.a ORDER BY masklen(c.net) DESC LIMIT 1), 'DUNNO') "
	"FROM (SELECT rg_inet(k) AS a) a WHERE a.a IS NOT NULL $f$",
	/* version 2: header identities (header_checks), matched by pattern */
	"CREATE TABLE IF NOT EXISTS rg_map_re (map text NOT NULL, "
	"key text NOT NULL, name text NOT NULL, re text NOT NULL, "
	"value text NOT NULL, PRIMARY KEY (map, key))",
	"CREATE INDEX IF NOT EXISTS rg_map_re_name ON rg_map_re (map, name)",
	/* the header line's bytes, one character each (U+0000-U+00FF):
	 * Postfix 3.7's pgsql client sends LATIN1, which any byte is; a
	 * client that says UTF8 is turned into the same */
	"CREATE OR REPLACE FUNCTION rg_bytechars(k text) RETURNS text "
	"LANGUAGE plpgsql STABLE STRICT AS $f$ BEGIN "
	"IF current_setting('client_encoding') = 'UTF8' THEN "
	"RETURN convert_from(convert_to(k, 'UTF8'), 'LATIN1'); END IF; "
	"RETURN k; EXCEPTION WHEN OTHERS THEN RETURN NULL; END $f$",
	/* an exact key as the relay sent it, as text: Postfix 3.7's pgsql
	 * client always talks LATIN1, so the UTF-8 bytes of a login such as
	 * "jürgen@..." arrive one character each; NULL (no row, no error)
	 * for bytes that are no UTF-8 */
	"CREATE OR REPLACE FUNCTION rg_key(k text) RETURNS text "
	"LANGUAGE plpgsql STABLE STRICT AS $f$ BEGIN "
	"IF current_setting('client_encoding') = 'LATIN1' THEN "
	"RETURN convert_from(convert_to(k, 'LATIN1'), 'UTF8'); END IF; "
	"RETURN k; EXCEPTION WHEN OTHERS THEN RETURN NULL; END $f$",
	/* the first rule (in the pcre file's order) whose pattern matches
	 * the whole header line; nothing for a line no identity names */
	"CREATE OR REPLACE FUNCTION rg_header_lookup(m text, k text) "
	"RETURNS SETOF text LANGUAGE sql STABLE AS $f$ "
	"SELECT r.value FROM rg_map_re r, (SELECT rg_bytechars(k) AS l) b "
	"WHERE r.map = m AND r.name = lower(split_part(b.l, ':', 1)) "
	"AND b.l ~ r.re ORDER BY r.key COLLATE \"C\" LIMIT 1 $f$",
	"CREATE TABLE IF NOT EXISTS rg_meta (version integer NOT NULL)",
	"DELETE FROM rg_meta",
	"INSERT INTO rg_meta VALUES (2)",
};

/* Postfix 3.8 and later: say "encoding = LATIN1" (3.7 warns about it) */
static int pg_encoding_param;

/* map_pg_enabled - is [global] map_backend = pgsql? */
int
map_pg_enabled(const rg_config *cfg)
{
	return cfg->map_backend != NULL && strcmp(cfg->map_backend, "pgsql")
	    == 0;
}

/* map_pg_takes - the kinds an SQL table can hold with the same meaning */
int
map_pg_takes(enum map_kind kind)
{
	return kind == MAP_SASL || kind == MAP_SENDER || kind == MAP_BCC
	    || kind == MAP_CLIENT_CIDR || kind == MAP_HEADER_PCRE;
}

/*
 * map_pg_holds - does this configuration keep maps of this kind in
 * PostgreSQL? With the policy service (fail open) the header identities
 * stay in their pcre file: cleanup's header_checks cannot go through the
 * policy service, and a pgsql: table there would defer every message
 * while PostgreSQL is down ("queue file write error").
 */
int
map_pg_holds(const map_pg *pg, enum map_kind kind)
{
	if (kind == MAP_HEADER_PCRE && pg->cfg->pg_policy_service)
		return 0;
	return map_pg_takes(kind);
}

/*
 * hdr_re - the PostgreSQL regular expression (ARE) of a header identity key
 * "Name: value", over the header line's bytes as rg_bytechars() gives them,
 * with the meaning of the pcre rule map_render writes: the name without
 * case, then white space, the value byte for byte (a '?' also matches a
 * control character or a byte >= 0x80, what Postfix logs as '?'), white
 * space to the end. PCRE's [[:space:]] (no UTF mode) is ASCII only.
 */
static void
hdr_re(strbuf *sb, const char *key)
{
	static const char ws[] = "[ \\t\\n\\r\\f\\v]*";
	const unsigned char *p = (const unsigned char *)key;

	sb_reset(sb);
	sb_addc(sb, '^');
	for (; *p != '\0' && *p != ':'; p++) {
		if (*p >= 'a' && *p <= 'z')
			sb_printf(sb, "[%c%c]", *p, *p - 'a' + 'A');
		else if (*p >= 'A' && *p <= 'Z')
			sb_printf(sb, "[%c%c]", *p - 'A' + 'a', *p);
		else if (*p >= '0' && *p <= '9')
			sb_addc(sb, (char)*p);
		else
			sb_printf(sb, "\\%c", *p);
	}
	sb_addc(sb, ':');
	sb_adds(sb, ws);
	if (*p == ':')
		p++;
	if (*p == ' ')		/* map_set_add wrote "Name: value" */
		p++;
	for (; *p != '\0'; p++) {
		if (*p == '?')
			sb_adds(sb, "[?\\u0001-\\u001f\\u007f-\\u00ff]");
		else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
		    || (*p >= '0' && *p <= '9'))
			sb_addc(sb, (char)*p);
		else if (*p > ' ' && *p < 0x7f)
			sb_printf(sb, "\\%c", *p);
		else
			sb_printf(sb, "\\u%04x", *p);
	}
	sb_adds(sb, ws);
	sb_addc(sb, '$');
}

/* hdr_key - the row key of a header identity: "name:value", name lowered */
static char *
hdr_key(const char *key)
{
	char *k = xstrdup(key), *p, *v;

	for (p = k; *p != '\0' && *p != ':'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	if (*p == ':' && p[1] == ' ') {
		v = p + 2;
		memmove(p + 1, v, strlen(v) + 1);
	}
	return k;
}

/* oneline - libpq's message on one line, without the trailing newline */
static void
oneline(char *err, size_t errsz, const char *what, const char *msg)
{
	char *p;

	snprintf(err, errsz, "pgsql: %s: %s", what, msg && *msg ? msg
	    : "failed");
	for (p = err; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	while (p > err && p[-1] == ' ')
		*--p = '\0';
}

/* read_secret - the first line of a password file (NULL and err: error) */
static char *
read_secret(const char *path, char *err, size_t errsz)
{
	char buf[1024];
	ssize_t n;
	int fd;
	struct stat sb;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(err, errsz, "pgsql: %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) == 0 && (sb.st_mode & (S_IRWXG | S_IRWXO))) {
		snprintf(err, errsz, "pgsql: %s can be read by group or others "
		    "(mode %03o): chmod 600 it", path,
		    (unsigned)(sb.st_mode & 0777));
		close(fd);
		return NULL;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		snprintf(err, errsz, "pgsql: %s: %s", path, strerror(errno));
		return NULL;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return xstrdup(buf);
}

/* exec_ok - run one command; -1 and err when it fails */
static int
exec_ok(PGconn *c, const char *sql, char *err, size_t errsz)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK
	    || PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		oneline(err, errsz, sql, PQresultErrorMessage(r));
	PQclear(r);
	return ok ? 0 : -1;
}

/* map_pg_open - connect to [pgsql]; NULL and err when that fails */
map_pg *
map_pg_open(const rg_config *cfg, char *err, size_t errsz)
{
	const char *kw[9], *val[9];
	char port[16], tmo[16];
	char *pw = NULL;
	map_pg *pg;
	PGconn *c;
	int i = 0;

	if (*cfg->pg_password_file && (pw = read_secret(cfg->pg_password_file,
	    err, errsz)) == NULL)
		return NULL;
	snprintf(port, sizeof(port), "%lld", cfg->pg_port);
	snprintf(tmo, sizeof(tmo), "%lld", cfg->pg_connect_timeout);
	if (*cfg->pg_host) {
		kw[i] = "host";
		val[i++] = cfg->pg_host;
	}
	kw[i] = "port"; val[i++] = port;
	kw[i] = "dbname"; val[i++] = cfg->pg_dbname;
	kw[i] = "user"; val[i++] = cfg->pg_user;
	kw[i] = "connect_timeout"; val[i++] = tmo;
	kw[i] = "application_name"; val[i++] = "relayguard";
	if (pw != NULL) {
		kw[i] = "password";
		val[i++] = pw;
	}
	kw[i] = NULL;
	val[i] = NULL;
	c = PQconnectdbParams(kw, val, 0);
	if (pw != NULL) {
		explicit_bzero(pw, strlen(pw));
		free(pw);
	}
	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		oneline(err, errsz, "connect", c ? PQerrorMessage(c) : NULL);
		PQfinish(c);
		return NULL;
	}
	/* a run never hangs on a lock or a dead server */
	if (exec_ok(c, "SET statement_timeout = '60s'", err, errsz) != 0
	    || exec_ok(c, "SET client_min_messages = warning", err, errsz)
	    != 0) {
		PQfinish(c);
		return NULL;
	}
	pg = xcalloc(1, sizeof(*pg));
	pg->cfg = cfg;
	pg->conn = c;
	return pg;
}

static const map_set *sort_ms;	/* the set cmp_idx sorts (qsort has no arg) */

/* cmp_idx - sort entry indices by key */
static int
cmp_idx(const void *a, const void *b)
{
	return strcmp(map_set_get(sort_ms, *(const size_t *)a)->key,
	    map_set_get(sort_ms, *(const size_t *)b)->key);
}

/* map_pg_stage - copy one map's entries for map_pg_commit */
int
map_pg_stage(map_pg *pg, const char *name, const map_set *ms, char *err,
    size_t errsz)
{
	pg_map *m;
	size_t i, *idx, n = map_set_count(ms);
	uint64_t h = RG_HASH64_INIT;

	if (!map_pg_takes(map_set_kind(ms))) {
		snprintf(err, errsz, "pgsql: %s: a %s map is not held in "
		    "PostgreSQL", name, map_kind_name(map_set_kind(ms)));
		return -1;
	}
	if (pg->n == pg->cap) {
		pg->cap = pg->cap ? 2 * pg->cap : 16;
		pg->maps = xrealloc(pg->maps, pg->cap * sizeof(pg_map));
	}
	m = &pg->maps[pg->n++];
	memset(m, 0, sizeof(*m));
	m->name = xstrdup(name);
	m->cidr = map_set_kind(ms) == MAP_CLIENT_CIDR;
	m->hdr = map_set_kind(ms) == MAP_HEADER_PCRE;
	m->n = n;
	m->keys = xcalloc(n + 1, sizeof(char *));
	m->values = xcalloc(n + 1, sizeof(char *));
	if (m->hdr)
		m->res = xcalloc(n + 1, sizeof(char *));
	idx = xcalloc(n + 1, sizeof(size_t));
	for (i = 0; i < n; i++)
		idx[i] = i;
	sort_ms = ms;
	qsort(idx, n, sizeof(size_t), cmp_idx);
	sort_ms = NULL;
	for (i = 0; i < n; i++) {
		const map_entry *e = map_set_get(ms, idx[i]);

		if (m->hdr) {
			strbuf re;

			sb_init(&re);
			hdr_re(&re, e->key);
			m->res[i] = re.s;
			m->keys[i] = hdr_key(e->key);
		} else
			m->keys[i] = xstrdup(e->key);
		m->values[i] = xstrdup(e->value);
		/* FNV-1a over the sorted "key\tvalue\n": the content */
		h = rg_hash64_more(h, e->key, strlen(e->key));
		h = rg_hash64_more(h, "\t", 1);
		h = rg_hash64_more(h, e->value, strlen(e->value));
		h = rg_hash64_more(h, "\n", 1);
	}
	free(idx);
	snprintf(m->digest, sizeof(m->digest), "%016llx", (unsigned long long)h);
	return 0;
}

/* map_pg_array_lit - a PostgreSQL text[] literal of n strings */
void
map_pg_array_lit(strbuf *sb, char **v, size_t n)
{
	size_t i;
	const char *p;

	sb_reset(sb);
	sb_addc(sb, '{');
	for (i = 0; i < n; i++) {
		if (i)
			sb_addc(sb, ',');
		sb_addc(sb, '"');
		for (p = v[i]; *p; p++) {
			if (*p == '"' || *p == '\\')
				sb_addc(sb, '\\');
			sb_addc(sb, *p);
		}
		sb_addc(sb, '"');
	}
	sb_addc(sb, '}');
}

/* params - run one parameterised statement; -1 and err on failure */
static int
params(PGconn *c, const char *sql, int n, const char *const *v,
    PGresult **res, char *err, size_t errsz)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, v, NULL, NULL, 0);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK
	    || PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok) {
		oneline(err, errsz, sql, PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	if (res != NULL)
		*res = r;
	else
		PQclear(r);
	return 0;
}

/* schema - create the tables and functions once; grant the relays' role */
static int
schema(map_pg *pg, char *err, size_t errsz)
{
	PGresult *r;
	const char *v[1];
	size_t i;
	int have;
	char *id, sql[512];

	if (params(pg->conn, "SELECT 1 WHERE to_regclass('rg_meta') IS NOT "
	    "NULL AND to_regprocedure('rg_header_lookup(text,text)') IS NOT "
	    "NULL AND to_regprocedure('rg_key(text)') IS NOT NULL",
	    0, NULL, &r, err, errsz) != 0)
		return -1;
	have = PQntuples(r) > 0;
	PQclear(r);
	for (i = 0; !have && i < sizeof(pg_ddl) / sizeof(pg_ddl[0]); i++)
		if (exec_ok(pg->conn, pg_ddl[i], err, errsz) != 0)
			return -1;
	/* the relays' role reads the tables, if it exists */
	v[0] = pg->cfg->pg_postfix_user;
	/* by oid, per row: has_table_privilege() of a missing role is an
	 * error, and SQL does not promise to test rolname first */
	if (params(pg->conn, "SELECT 1 FROM pg_roles r WHERE r.rolname = $1 "
	    "AND NOT has_table_privilege(r.oid, 'rg_map_re', 'SELECT')", 1,
	    v, &r, err, errsz) != 0)
		return -1;
	have = PQntuples(r) > 0;
	PQclear(r);
	if (have) {
		id = PQescapeIdentifier(pg->conn, v[0], strlen(v[0]));
		if (id == NULL) {
			oneline(err, errsz, "escape", PQerrorMessage(pg->conn));
			return -1;
		}
		snprintf(sql, sizeof(sql), "GRANT SELECT ON rg_map, rg_map_cidr, "
		    "rg_map_re, rg_maps TO %s", id);
		PQfreemem(id);
		if (exec_ok(pg->conn, sql, err, errsz) != 0)
			return -1;
	}
	return 0;
}

/* has_line - is line (with its newline) one of the lines of list? */
static int
has_line(const char *list, const char *line)
{
	const char *p = list;

	while (p != NULL && (p = strstr(p, line)) != NULL) {
		if (p == list || p[-1] == '\n')
			return 1;
		p++;
	}
	return 0;
}

/* insert_re - the rows of a header_checks map (v: name, keys, values) */
static int
insert_re(map_pg *pg, const pg_map *m, const char **v, char *err,
    size_t errsz)
{
	strbuf ra;
	int rc;

	if (m->n == 0)
		return 0;
	sb_init(&ra);
	map_pg_array_lit(&ra, m->res, m->n);
	v[3] = ra.s;
	rc = params(pg->conn, "INSERT INTO rg_map_re (map, key, name, re, "
	    "value) SELECT $1, k, split_part(k, ':', 1), r, v FROM "
	    "unnest($2::text[], $3::text[], $4::text[]) AS t(k, v, r)", 4, v,
	    NULL, err, errsz);
	sb_free(&ra);
	return rc;
}

/* map_pg_commit - the staged maps, in one transaction */
int
map_pg_commit(map_pg *pg, FILE *log, int *nchanged, char *err, size_t errsz)
{
	strbuf ka, va, names;
	PGresult *r;
	const char *v[4];
	char cnt[32];
	size_t i;
	int rc = -1;

	*nchanged = 0;
	sb_init(&ka);
	sb_init(&va);
	sb_init(&names);
	if (exec_ok(pg->conn, "BEGIN", err, errsz) != 0)
		goto out;
	/* one writer at a time (two analyzers of one fleet) */
	if (exec_ok(pg->conn, "SELECT pg_advisory_xact_lock(7316, 1)", err,
	    errsz) != 0 || schema(pg, err, errsz) != 0)
		goto fail;
	/* the digests of the maps as they are: one round trip for all */
	if (params(pg->conn, "SELECT map || ' ' || digest FROM rg_maps", 0,
	    NULL, &r, err, errsz) != 0)
		goto fail;
	for (i = 0; i < (size_t)PQntuples(r); i++)
		sb_printf(&names, "%s\n", PQgetvalue(r, (int)i, 0));
	PQclear(r);
	for (i = 0; i < pg->n; i++) {
		pg_map *m = &pg->maps[i];
		char have[128];

		snprintf(have, sizeof(have), "%s %s\n", m->name, m->digest);
		if (has_line(names.s, have))
			continue;
		v[0] = m->name;
		v[1] = m->digest;
		if (params(pg->conn, m->cidr ? "DELETE FROM rg_map_cidr WHERE "
		    "map = $1" : m->hdr ? "DELETE FROM rg_map_re WHERE map = $1"
		    : "DELETE FROM rg_map WHERE map = $1", 1, v, NULL, err,
		    errsz) != 0)
			goto fail;
		map_pg_array_lit(&ka, m->keys, m->n);
		map_pg_array_lit(&va, m->values, m->n);
		v[1] = ka.s;
		v[2] = va.s;
		if (m->hdr) {
			if (insert_re(pg, m, v, err, errsz) != 0)
				goto fail;
		} else if (m->n > 0 && params(pg->conn, m->cidr ? "INSERT INTO "
		    "rg_map_cidr (map, net, value) SELECT $1, k::cidr, v FROM "
		    "unnest($2::text[], $3::text[]) AS t(k, v)" : "INSERT INTO "
		    "rg_map (map, key, value) SELECT $1, k, v FROM "
		    "unnest($2::text[], $3::text[]) AS t(k, v)", 3, v, NULL, err,
		    errsz) != 0)
			goto fail;
		snprintf(cnt, sizeof(cnt), "%zu", m->n);
		v[1] = m->digest;
		v[2] = cnt;
		if (params(pg->conn, "INSERT INTO rg_maps (map, digest, entries, "
		    "updated) VALUES ($1, $2, $3, now()) ON CONFLICT (map) DO "
		    "UPDATE SET digest = $2, entries = $3, updated = now()", 3, v,
		    NULL, err, errsz) != 0)
			goto fail;
		fprintf(log, "action=map name=%s entries=%zu backend=pgsql\n",
		    m->name, m->n);
		(*nchanged)++;
	}
	/* the maps no longer written (fewer identity classes) */
	{
		char **nv = xcalloc(pg->n + 1, sizeof(char *));

		for (i = 0; i < pg->n; i++)
			nv[i] = pg->maps[i].name;
		map_pg_array_lit(&names, nv, pg->n);
		free(nv);
	}
	v[0] = names.s;
	if (params(pg->conn, "DELETE FROM rg_map WHERE NOT map = ANY($1::text[])",
	    1, v, NULL, err, errsz) != 0 || params(pg->conn, "DELETE FROM "
	    "rg_map_cidr WHERE NOT map = ANY($1::text[])", 1, v, NULL, err,
	    errsz) != 0 || params(pg->conn, "DELETE FROM rg_map_re WHERE NOT "
	    "map = ANY($1::text[])", 1, v, NULL, err, errsz) != 0
	    || params(pg->conn, "DELETE FROM rg_maps WHERE NOT "
	    "map = ANY($1::text[])", 1, v, NULL, err, errsz) != 0)
		goto fail;
	if (exec_ok(pg->conn, "COMMIT", err, errsz) != 0) {
		*nchanged = 0;
		goto out;
	}
	rc = 0;
	goto out;
fail:
	*nchanged = 0;
	{
		char e2[64];

		(void)exec_ok(pg->conn, "ROLLBACK", e2, sizeof(e2));
	}
out:
	sb_free(&ka);
	sb_free(&va);
	sb_free(&names);
	return rc;
}

/* map_pg_free - disconnect and drop the staged maps; NULL is a no-op */
void
map_pg_free(map_pg *pg)
{
	size_t i, j;

	if (pg == NULL)
		return;
	for (i = 0; i < pg->n; i++) {
		for (j = 0; j < pg->maps[i].n; j++) {
			free(pg->maps[i].keys[j]);
			free(pg->maps[i].values[j]);
		}
		for (j = 0; pg->maps[i].res != NULL && j < pg->maps[i].n; j++)
			free(pg->maps[i].res[j]);
		free(pg->maps[i].res);
		free(pg->maps[i].keys);
		free(pg->maps[i].values);
		free(pg->maps[i].name);
	}
	free(pg->maps);
	PQfinish(pg->conn);
	free(pg);
}

/* map_pg_ref - the table main.cf names for one map */
const char *
map_pg_ref(const rg_config *cfg, const char *name, char *buf, size_t bufsz)
{
	int cidr = strcmp(name, "client_access") == 0
	    || strcmp(name, "archive_client") == 0;
	int pcre = strcmp(name, "header_checks") == 0;

	if (map_pg_enabled(cfg) && !(pcre && cfg->pg_policy_service))
		snprintf(buf, bufsz, "proxy:pgsql:%s/%s.cf",
		    cfg->pg_query_directory, name);
	else
		snprintf(buf, bufsz, "%s:%s/%s", cidr ? "cidr" : pcre ? "pcre"
		    : cfg->map_type, cfg->map_directory, name);
	return buf;
}

/* map_pg_path - where NAME is: its query file (pgsql) or its map file */
const char *
map_pg_path(const rg_config *cfg, const char *name, char *buf, size_t bufsz)
{
	if (map_pg_enabled(cfg) && strcmp(name, "sender_access_pcre") != 0
	    && !(strcmp(name, "header_checks") == 0 && cfg->pg_policy_service))
		snprintf(buf, bufsz, "%s/%s.cf", cfg->pg_query_directory, name);
	else
		snprintf(buf, bufsz, "%s/%s", cfg->map_directory, name);
	return buf;
}

/* uri_add - percent-encode s into a postgresql:// URI */
static void
uri_add(strbuf *sb, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
		    || (ch >= '0' && ch <= '9') || strchr("-._~", ch))
			sb_addc(sb, (char)ch);
		else
			sb_printf(sb, "%%%02X", ch);
	}
}

/* map_pg_query_file - the pgsql_table(5) text of one map */
void
map_pg_query_file(const rg_config *cfg, const char *name, int cidr,
    const char *password, strbuf *out)
{
	sb_printf(out, "# %s/%s.cf - relayguard's %s table "
	    "(relayguard postfix-config)\n", cfg->pg_query_directory, name,
	    name);
	sb_adds(out, "hosts = ");
	if (*cfg->pg_postfix_hosts) {
		sb_adds(out, cfg->pg_postfix_hosts);
	} else {
		/* a URI: libpq takes a socket directory as host= */
		sb_adds(out, "postgresql://");
		uri_add(out, cfg->pg_postfix_user);
		if (password != NULL) {
			sb_addc(out, ':');
			uri_add(out, password);
		}
		sb_addc(out, '@');
		if (*cfg->pg_host && cfg->pg_host[0] != '/')
			uri_add(out, cfg->pg_host);
		sb_printf(out, ":%lld/", cfg->pg_port);
		uri_add(out, cfg->pg_dbname);
		if (cfg->pg_host[0] == '/') {
			sb_adds(out, "?host=");
			uri_add(out, cfg->pg_host);
		}
	}
	sb_printf(out, "\nuser = %s\n", cfg->pg_postfix_user);
	if (password != NULL)
		sb_printf(out, "password = %s\n", password);
	sb_printf(out, "dbname = %s\n", cfg->pg_dbname);
	if (strcmp(name, "header_checks") == 0)
		/* the whole header line is the key (a non-regexp table);
		 * LATIN1 takes any byte (Postfix 3.7 always uses it; 3.8's
		 * default UTF8 would make a header of raw 8-bit bytes an SQL
		 * error: 451 for that mail) */
		sb_printf(out, "%squery = SELECT rg_header_lookup('%s', "
		    "'%%s')\n", pg_encoding_param ? "encoding = LATIN1\n" : "",
		    name);
	else if (cidr)
		sb_printf(out, "query = SELECT rg_cidr_lookup('%s', '%%s')\n",
		    name);
	else
		sb_printf(out, "query = SELECT value FROM rg_map WHERE map = "
		    "'%s' AND key = rg_key('%%s')\n", name);
}

/*
 * write_query - DIR/NAME.cf, mode 0640 from its creation (it may hold a
 * password): written beside it, fsync'ed, renamed over it
 */
static int
write_query(const char *dir, const char *name, const strbuf *text,
    char *err, size_t errsz)
{
	char path[1100], tmp[1200];
	size_t off = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s.cf", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640))
	    < 0)
		goto fail;
	if (fchmod(fd, 0640) != 0)
		goto fail;
	while (off < text->len) {
		if ((n = write(fd, text->s + off, text->len - off)) < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail;
	return 0;
fail:
	snprintf(err, errsz, "%s: %s", tmp, strerror(errno));
	if (fd >= 0)
		close(fd);
	(void)unlink(tmp);
	return -1;
}

/* map_pg_postfix_config - the main.cf lines for pgsql; the query files */
int
map_pg_postfix_config(const rg_config *cfg, const char *dir, FILE *out,
    char *err, size_t errsz)
{
	static const char *names[] = { "sasl_access", "client_access",
	    "sender_access", "sender_bcc", "admin_access", "archive_sasl",
	    "archive_client", "header_checks" };
	char r[8][1200], name[64];
	const char *d = cfg->map_directory;
	char *pw = NULL;
	strbuf sb;
	size_t i;
	int k, rc = 0;
	static const char *const pd_args[] = { "-d", "-h", "proxy_read_maps", NULL };
	char why[512];
	int code;

	for (i = 0; i < 8; i++)
		map_pg_ref(cfg, names[i], r[i], sizeof(r[i]));
	fprintf(out, "# main.cf settings for relayguard, map_backend = pgsql "
	    "(relayguard postfix-config)\n"
	    "# the same on every relay; the pgsql: query files go to %s\n"
	    "# (postfix-config --query-directory DIR writes them), root:postfix "
	    "0640\n"
	    "smtpd_sasl_auth_enable = yes\n"
	    "parent_domain_matches_subdomains = debug_peer_list, "
	    "fast_flush_domains, mynetworks, permit_mbox_mail, relay_domains\n"
	    "smtpd_recipient_restrictions =\n"
	    "    check_sasl_access %s,\n"
	    "    check_client_access %s,\n"
	    "    check_recipient_access %s,\n"
	    "    check_sasl_access %s,\n"
	    "    check_client_access %s,\n"
	    "    check_sender_access %s,\n"
	    "    check_sender_access pcre:%s/sender_access_pcre,\n"
	    "    permit_mynetworks, permit_sasl_authenticated,\n"
	    "    reject_unauth_destination\n"
	    "# header identities are in PostgreSQL too; the few senders no "
	    "SQL key\n# can hold and the fixed rules stay in pcre files: copy "
	    "%s to each\n# relay, then postfix reload\n"
	    "header_checks = %s, pcre:%s/header_static\n"
	    "nested_header_checks =\n"
	    "smtp_header_checks = pcre:%s/smtp_header_checks\n"
	    "sender_bcc_maps = %s\n"
	    "anvil_rate_time_unit = 60s\n"
	    "smtpd_client_connection_rate_limit = 120\n"
	    "smtpd_client_message_rate_limit = 300\n"
	    "smtpd_client_recipient_rate_limit = 1000\n",
	    cfg->pg_query_directory, r[5], r[6], r[4], r[0], r[1], r[2], d, d,
	    r[7], d, d, r[3]);
	sb_init(&sb);
	icl_main_cf(cfg, &sb);
	fputs(sb.s, out);
	/* every proxy: table must be in proxy_read_maps or smtpd exits: the
	 * default covers smtpd_recipient_restrictions and sender_bcc_maps,
	 * not the restriction classes */
	sb_reset(&sb);
	if (ana_command(cfg, "postconf", pd_args, &sb, &code, why,
	    sizeof(why)) != 0 || code != 0) {
		snprintf(err, errsz, "postconf -d proxy_read_maps: %s", *why
		    ? why : "failed");
		sb_free(&sb);
		return -1;
	}
	sb.s[strcspn(sb.s, "\n")] = '\0';
	{
		static const char *const mv_args[] = { "-d", "-h",
		    "mail_version", NULL };
		strbuf mv;
		int maj = 0, min = 0;

		sb_init(&mv);
		if (ana_command(cfg, "postconf", mv_args, &mv, &code, why,
		    sizeof(why)) == 0 && code == 0 && mv.s != NULL
		    && sscanf(mv.s, "%d.%d", &maj, &min) == 2)
			pg_encoding_param = maj > 3 || (maj == 3 && min >= 8);
		sb_free(&mv);
	}
	fprintf(out, "# a proxy: table missing here makes smtpd exit at "
	    "start-up\nproxy_read_maps = %s", sb.s);
	for (k = 0; k < (int)cfg->identity_lock_classes; k++)
		fprintf(out, " $rg_c%d", k);
	fprintf(out, "\n");
	sb_reset(&sb);
	if (dir != NULL && *cfg->pg_postfix_password_file
	    && (pw = read_secret(cfg->pg_postfix_password_file, err, errsz))
	    == NULL) {
		sb_free(&sb);
		return -1;
	}
	/* the query files: written into dir, or shown */
	for (i = 0; i < 8 + (size_t)cfg->identity_lock_classes && rc == 0;
	    i++) {
		if (i < 8)
			snprintf(name, sizeof(name), "%s", names[i]);
		else
			snprintf(name, sizeof(name), "rg_senders_%zu", i - 8);
		sb_reset(&sb);
		map_pg_query_file(cfg, name, i == 1 || i == 6, pw, &sb);
		if (dir != NULL)
			rc = write_query(dir, name, &sb, err, errsz);
		else if (i <= 8)
			fprintf(out, "\n%s", sb.s);
	}
	if (dir == NULL && cfg->identity_lock_classes > 1)
		fprintf(out, "\n# ... and the same for rg_senders_1 to "
		    "rg_senders_%lld (postfix-config --query-directory DIR "
		    "writes them all)\n", cfg->identity_lock_classes - 1);
	if (pw != NULL) {
		explicit_bzero(pw, strlen(pw));
		free(pw);
	}
	sb_free(&sb);
	return rc;
}

/* map_pg_read_secret - read_secret for the policy service (pgpolicy.c) */
char *
map_pg_read_secret(const char *path, char *err, size_t errsz)
{
	return read_secret(path, err, errsz);
}
