/*
 * cfgcache.c - the compiled configuration cache (cfgcache.h). Owns the
 * snapshot's reading, checking and writing; a snapshot that fails any
 * check is ignored and the file parsed, so a bad one costs a parse, never
 * a wrong configuration.
 *
 * The snapshot: a header of 64-bit words (magic, length, checksum of all
 * after it, the schema's and the binary's identity, the configuration
 * file's length and hash, cfg_hash, and the counts needed to size the
 * block), then the sections' values in schema order (common/ser.h
 * varints). Each string is written once, NUL-terminated, and referred to
 * by number afterwards: a [user] inherits most of its strings from
 * [defaults], so 100,000 users hold a few thousand distinct strings.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/hash.h"
#include "../common/ser.h"
#include "../common/strbuf.h"
#include "../common/xalloc.h"
#include "cfgcache.h"

#define CFC_MAGIC "RGCFGC01"
#define CFC_SUFFIX ".config-cache"

enum { H_MAGIC, H_LEN, H_SUM, H_SCHEMA, H_EXE_DEV, H_EXE_INO, H_EXE_SIZE,
	H_EXE_MTIME, H_CLEN, H_CHASH, H_CFGHASH, H_NITEMS, H_NSTR, H_WORDS };

/* the plain sections, in the order they are written */
static const char *const plain[] = { "global", "parse", "collect", "report",
	"mail", "pgsql" };

/* exe_id - the running binary's identity (dev, inode, size, mtime) */
static int
exe_id(uint64_t id[4])
{
	struct stat sb;

	if (stat("/proc/self/exe", &sb) != 0)
		return -1;
	id[0] = (uint64_t)sb.st_dev;
	id[1] = (uint64_t)sb.st_ino;
	id[2] = (uint64_t)sb.st_size;
	id[3] = (uint64_t)sb.st_mtim.tv_sec * 1000000000u
	    + (uint64_t)sb.st_mtim.tv_nsec;
	return 0;
}

/* the writer's state: the snapshot so far and the strings written */
typedef struct enc {
	strbuf sb;
	rg_htab strs;		/* string -> its number + 1, as a pointer */
	const char **byno;
	uint64_t nstr, nitems;
} enc;

/* put_str - a string: 0 NULL, 1 new (length, bytes, NUL), 2 + number */
static void
put_str(enc *e, const char *s)
{
	uint32_t h;
	size_t i, len;
	void *v;

	if (s == NULL) {
		ser_put_u64(&e->sb, 0);
		return;
	}
	len = strlen(s);
	h = rg_hash_words(s, len);
	i = rg_htab_start(&e->strs, h);
	while ((v = rg_htab_next(&e->strs, h, &i)) != NULL)
		if (strcmp(e->byno[(uintptr_t)v - 1], s) == 0) {
			ser_put_u64(&e->sb, 2 + (uintptr_t)v - 1);
			return;
		}
	if ((e->nstr & (e->nstr - 1)) == 0)	/* 0, 1, 2, 4, ...: grow */
		e->byno = xrealloc(e->byno, (size_t)(e->nstr ? e->nstr * 2 : 1)
		    * sizeof(*e->byno));
	e->byno[e->nstr++] = s;
	rg_htab_insert(&e->strs, h, (void *)(uintptr_t)e->nstr);
	ser_put_u64(&e->sb, 1);
	ser_put_u64(&e->sb, len);
	sb_add(&e->sb, s, len + 1);
}

/* put_value - one field's value from base */
static void
put_value(enc *e, const cfg_field *f, const void *base)
{
	const char *p = (const char *)base + f->offset;
	int j;

	if (f->kind == CFG_F_STR) {
		put_str(e, *(char *const *)p);
	} else if (f->kind == CFG_F_LIST) {
		const cfg_list *l = (const cfg_list *)p;

		ser_put_u64(&e->sb, (uint64_t)l->n);
		for (j = 0; j < l->n; j++)
			put_str(e, l->v[j]);
		e->nitems += (uint64_t)l->n + 1;
	} else {
		ser_put_i64(&e->sb, *(const long long *)p);
	}
}

/* put_fields - one section's values from base */
static void
put_fields(enc *e, const void *base, const char *section)
{
	const cfg_field *f = NULL;
	size_t i, n = 0;

	f = cfg_fields(section, &n);
	for (i = 0; i < n; i++)
		put_value(e, &f[i], base);
}

/* same_value - is field f the same in a and b? */
static int
same_value(const cfg_field *f, const void *a, const void *b)
{
	const char *pa = (const char *)a + f->offset;
	const char *pb = (const char *)b + f->offset;
	int j;

	if (f->kind == CFG_F_STR) {
		const char *x = *(char *const *)pa, *y = *(char *const *)pb;

		return x == y || (x != NULL && y != NULL && strcmp(x, y) == 0);
	}
	if (f->kind == CFG_F_LIST) {
		const cfg_list *x = (const cfg_list *)pa;
		const cfg_list *y = (const cfg_list *)pb;

		if (x->n != y->n)
			return 0;
		for (j = 0; j < x->n; j++)
			if (strcmp(x->v[j], y->v[j]) != 0)
				return 0;
		return 1;
	}
	return *(const long long *)pa == *(const long long *)pb;
}

/*
 * put_delta - a [user]'s values as they differ from [defaults]: a mask of
 * the fields that differ, then those (most users set a few keys)
 */
static void
put_delta(enc *e, const void *base, const void *ref, const char *section)
{
	const cfg_field *f;
	size_t i, n = 0;
	uint64_t mask = 0;

	f = cfg_fields(section, &n);
	for (i = 0; i < n; i++)
		if (!same_value(&f[i], base, ref))
			mask |= 1ull << i;
	ser_put_u64(&e->sb, mask);
	for (i = 0; i < n; i++)
		if (mask & 1ull << i)
			put_value(e, &f[i], base);
}

/*
 * put_named - the instances of one kind: count, then name, line and the
 * values (as they differ from ref, if not NULL)
 */
static void
put_named(enc *e, const void *arr, int n, size_t size, const char *kind,
    const void *ref)
{
	int i;

	ser_put_u64(&e->sb, (uint64_t)n);
	for (i = 0; i < n; i++) {
		const char *base = (const char *)arr + (size_t)i * size;

		put_str(e, *(char *const *)base);	/* named_head: name, */
		ser_put_i64(&e->sb, *(const int *)(base + sizeof(char *)));
		if (ref != NULL)			/* line, then values */
			put_delta(e, base, ref, kind);
		else
			put_fields(e, base, kind);
	}
}

/*
 * cfc_encode - the snapshot of cfg, made from a file of content_len bytes
 * hashing to content_hash; *out is malloc'ed. -1 if the binary cannot
 * say who it is.
 */
int
cfc_encode(const rg_config *cfg, unsigned long long content_hash,
    unsigned long long content_len, char **out, size_t *outlen)
{
	enc e;
	uint64_t hd[H_WORDS], id[4];
	size_t i;

	if (exe_id(id) != 0 || cfg_fields("user", &i) == NULL || i > 64)
		return -1;	/* the masks of put_delta have 64 bits */
	memset(&e, 0, sizeof(e));
	sb_init(&e.sb);
	rg_htab_init(&e.strs, 1024);
	memset(hd, 0, sizeof(hd));
	sb_grow(&e.sb, sizeof(hd) + 64 * (size_t)cfg->nusers + 4096);
	sb_add(&e.sb, (const char *)hd, sizeof(hd));	/* filled below */
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		put_fields(&e, cfg, plain[i]);
	put_str(&e, cfg->defaults.name);
	ser_put_i64(&e.sb, cfg->defaults.line);
	put_fields(&e, &cfg->defaults, "user");
	put_named(&e, cfg->sources, cfg->nsources, sizeof(rg_source_cfg),
	    "source", NULL);
	put_named(&e, cfg->users, cfg->nusers, sizeof(rg_user_cfg), "user",
	    &cfg->defaults);
	put_named(&e, cfg->idheaders, cfg->nidheaders, sizeof(rg_idheader_cfg),
	    "identity_header", NULL);
	put_named(&e, cfg->domains, cfg->ndomains, sizeof(rg_domain_cfg),
	    "domain", NULL);
	put_str(&e, cfg->tz);
	memcpy(&hd[H_MAGIC], CFC_MAGIC, 8);
	hd[H_LEN] = e.sb.len;
	hd[H_SCHEMA] = cfg_schema_hash();
	hd[H_EXE_DEV] = id[0];
	hd[H_EXE_INO] = id[1];
	hd[H_EXE_SIZE] = id[2];
	hd[H_EXE_MTIME] = id[3];
	hd[H_CLEN] = content_len;
	hd[H_CHASH] = content_hash;
	hd[H_CFGHASH] = cfg_hash(cfg);
	hd[H_NITEMS] = e.nitems;
	hd[H_NSTR] = e.nstr;
	hd[H_SUM] = 0;
	memcpy(e.sb.s, hd, sizeof(hd));
	hd[H_SUM] = rg_hash64_words(e.sb.s + (H_SUM + 1) * 8,
	    e.sb.len - (H_SUM + 1) * 8);
	memcpy(e.sb.s, hd, sizeof(hd));
	rg_htab_free(&e.strs);
	free(e.byno);
	*out = e.sb.s;
	*outlen = e.sb.len;
	return 0;
}

/* the reader's state: the snapshot, its strings by number, the list pool */
typedef struct dec {
	ser_reader r;
	char **byno;
	uint64_t nstr, maxstr;
	char **pool;
	uint64_t npool, maxpool;
} dec;

/* get_str - a string written by put_str, in place (NULL and *bad on error) */
static char *
get_str(dec *d, int *isnull)
{
	uint64_t t = ser_get_u64(&d->r), len;
	char *s;

	*isnull = 0;
	if (d->r.bad)
		return NULL;
	if (t == 0) {
		*isnull = 1;
		return NULL;
	}
	if (t >= 2) {
		if (t - 2 >= d->nstr) {
			d->r.bad = 1;
			return NULL;
		}
		return d->byno[t - 2];
	}
	len = ser_get_u64(&d->r);
	if (d->r.bad || d->nstr >= d->maxstr
	    || len >= (uint64_t)(d->r.end - d->r.p) || d->r.p[len] != '\0'
	    || memchr(d->r.p, '\0', (size_t)len) != NULL) {
		d->r.bad = 1;
		return NULL;
	}
	s = (char *)d->r.p;
	d->r.p += len + 1;
	d->byno[d->nstr++] = s;
	return s;
}

/*
 * get_fields - one section's values into base (with has_mask, only those
 * a mask names: the rest are already there); -1 if damaged
 */
static int
get_fields(dec *d, void *base, const char *section, int has_mask)
{
	const cfg_field *f;
	size_t i, n = 0;
	uint64_t j, ln, mask = ~0ull;
	int isnull;

	f = cfg_fields(section, &n);
	if (has_mask && ((mask = ser_get_u64(&d->r)) >> n) != 0)
		d->r.bad = 1;
	for (i = 0; i < n && !d->r.bad; i++) {
		char *p = (char *)base + f[i].offset;

		if (!(mask & 1ull << i))
			continue;

		if (f[i].kind == CFG_F_STR) {
			*(char **)p = get_str(d, &isnull);
		} else if (f[i].kind == CFG_F_LIST) {
			cfg_list *l = (cfg_list *)p;

			ln = ser_get_u64(&d->r);
			if (d->r.bad || ln > CFG_MAX_LIST
			    || d->npool + ln + 1 > d->maxpool) {
				d->r.bad = 1;
				break;
			}
			l->v = d->pool + d->npool;
			l->n = (int)ln;
			d->npool += ln + 1;
			for (j = 0; j < ln && !d->r.bad; j++)
				if ((l->v[j] = get_str(d, &isnull)) == NULL)
					d->r.bad = 1;
		} else {
			*(long long *)p = ser_get_i64(&d->r);
		}
	}
	return d->r.bad ? -1 : 0;
}

/*
 * get_named - the instances of one kind into a new array (each a copy of
 * ref and what differs, if ref is not NULL); -1 if damaged
 */
static int
get_named(dec *d, void **arr, int *n, size_t size, const char *kind,
    const void *ref)
{
	uint64_t cnt = ser_get_u64(&d->r), i;
	int isnull;

	*arr = NULL;
	*n = 0;
	/* each instance takes at least two bytes */
	if (d->r.bad || cnt > (uint64_t)(d->r.end - d->r.p) / 2
	    || cnt > 100000000) {
		d->r.bad = 1;
		return -1;
	}
	*arr = xcalloc((size_t)cnt + 1, size);
	*n = (int)cnt;
	for (i = 0; i < cnt && !d->r.bad; i++) {
		char *base = (char *)*arr + (size_t)i * size;

		if (ref != NULL)
			memcpy(base, ref, size);
		if ((*(char **)base = get_str(d, &isnull)) == NULL)
			d->r.bad = 1;
		*(int *)(base + sizeof(char *)) = (int)ser_get_i64(&d->r);
		get_fields(d, base, kind, ref != NULL);
	}
	return d->r.bad ? -1 : 0;
}

/* no_nulls - every string of a section is set (a parsed config's are) */
static int
no_nulls(const void *base, const char *section)
{
	const cfg_field *f;
	size_t i, n = 0;

	f = cfg_fields(section, &n);
	for (i = 0; i < n; i++)
		if (f[i].kind == CFG_F_STR
		    && *(char *const *)((const char *)base + f[i].offset) == NULL)
			return 0;
	return 1;
}

/*
 * cfc_decode - the configuration in a snapshot of a file of content_len
 * bytes hashing to content_hash, or NULL if it is not one (damaged, of
 * another file, binary or schema). Takes buf (malloc'ed) in every case:
 * on success it is the configuration's block.
 */
rg_config *
cfc_decode(char *buf, size_t len, unsigned long long content_hash,
    unsigned long long content_len)
{
	uint64_t hd[H_WORDS], id[4];
	rg_config *cfg = NULL;
	dec d;
	size_t base, i;
	int isnull, ok = 0, k;

	memset(&d, 0, sizeof(d));
	if (len < sizeof(hd) || exe_id(id) != 0)
		goto out;
	memcpy(hd, buf, sizeof(hd));
	if (memcmp(&hd[H_MAGIC], CFC_MAGIC, 8) != 0 || hd[H_LEN] != len
	    || hd[H_SCHEMA] != cfg_schema_hash() || hd[H_EXE_DEV] != id[0]
	    || hd[H_EXE_INO] != id[1] || hd[H_EXE_SIZE] != id[2]
	    || hd[H_EXE_MTIME] != id[3] || hd[H_CLEN] != content_len
	    || hd[H_CHASH] != content_hash
	    || hd[H_NSTR] > len || hd[H_NITEMS] > len * (CFG_MAX_LIST + 1)
	    || hd[H_SUM] != rg_hash64_words(buf + (H_SUM + 1) * 8,
	    len - (H_SUM + 1) * 8))
		goto out;
	/* the list pool after the snapshot, in the same block */
	base = (len + 15) & ~(size_t)15;
	buf = xrealloc(buf, base + (size_t)(hd[H_NITEMS] + 1) * sizeof(char *));
	d.pool = (char **)(buf + base);
	d.maxpool = hd[H_NITEMS] + 1;
	d.maxstr = hd[H_NSTR];
	d.byno = xcalloc((size_t)d.maxstr + 1, sizeof(char *));
	ser_reader_init(&d.r, buf + sizeof(hd), len - sizeof(hd));
	cfg = xcalloc(1, sizeof(*cfg));
	cfg->block = buf;
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		get_fields(&d, cfg, plain[i], 0);
	cfg->defaults.name = get_str(&d, &isnull);
	cfg->defaults.line = (int)ser_get_i64(&d.r);
	get_fields(&d, &cfg->defaults, "user", 0);
	get_named(&d, (void **)&cfg->sources, &cfg->nsources,
	    sizeof(rg_source_cfg), "source", NULL);
	get_named(&d, (void **)&cfg->users, &cfg->nusers,
	    sizeof(rg_user_cfg), "user", &cfg->defaults);
	get_named(&d, (void **)&cfg->idheaders, &cfg->nidheaders,
	    sizeof(rg_idheader_cfg), "identity_header", NULL);
	get_named(&d, (void **)&cfg->domains, &cfg->ndomains,
	    sizeof(rg_domain_cfg), "domain", NULL);
	cfg->tz = get_str(&d, &isnull);
	if (!ser_ok(&d.r) || cfg->defaults.name == NULL)
		goto out;
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (!no_nulls(cfg, plain[i]))
			goto out;
	if (!no_nulls(&cfg->defaults, "user"))
		goto out;
	for (k = 0; k < cfg->nsources; k++)
		if (!no_nulls(&cfg->sources[k], "source"))
			goto out;
	for (k = 0; k < cfg->nusers; k++)
		if (!no_nulls(&cfg->users[k], "user"))
			goto out;
	for (k = 0; k < cfg->nidheaders; k++)
		if (!no_nulls(&cfg->idheaders[k], "identity_header"))
			goto out;
	for (k = 0; k < cfg->ndomains; k++)
		if (!no_nulls(&cfg->domains[k], "domain"))
			goto out;
	/* owned apart from the block, as cfg_free expects */
	if (cfg->tz != NULL)
		cfg->tz = xstrdup(cfg->tz);
	cfg->hash = hd[H_CFGHASH];
	cfg->hashed = 1;
	ok = 1;
out:
	free(d.byno);
	if (!ok) {
		if (cfg != NULL) {
			cfg->tz = NULL;
			cfg_free(cfg);	/* frees the block too */
		} else {
			free(buf);
		}
		return NULL;
	}
	return cfg;
}

/* read_all - a whole open file into a malloc'ed buffer; -1 on error */
static int
read_all(int fd, char **out, size_t *outlen)
{
	struct stat sb;
	size_t cap, len = 0;
	ssize_t n;
	char *buf;

	if (fstat(fd, &sb) != 0)
		return -1;
	cap = sb.st_size > 0 ? (size_t)sb.st_size + 1 : 4096;
	buf = xmalloc(cap);
	for (;;) {
		if (len == cap)
			buf = xrealloc(buf, cap *= 2);
		if ((n = read(fd, buf + len, cap - len)) < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

/* trim - the text between p and e without white space around it */
static void
trim(const char **p, const char **e)
{
	while (*p < *e && (**p == ' ' || **p == '\t' || **p == '\r'))
		(*p)++;
	while (*e > *p && ((*e)[-1] == ' ' || (*e)[-1] == '\t'
	    || (*e)[-1] == '\r'))
		(*e)--;
}

/*
 * database_of - where the snapshot would lie: the last [global] database
 * of the file (or the default). Only a guess: a snapshot is used only if
 * the configuration it holds says the same.
 */
static void
database_of(const char *buf, size_t len, char *out, size_t outsz)
{
	const char *p = buf, *end = buf + len, *nl, *e, *q;
	int global = 0;

	snprintf(out, outsz, "%s", "/var/lib/relayguard/relayguard.db");
	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		e = nl;
		trim(&p, &e);
		if (p < e && *p == '[') {
			if ((q = memchr(p, ']', (size_t)(e - p))) != NULL) {
				p++;
				trim(&p, &q);
				global = q - p == 6 && memcmp(p, "global", 6) == 0;
			}
			continue;
		}
		if (!global || e - p < 9 || memcmp(p, "database", 8) != 0)
			continue;
		for (q = p + 8; q < e && (*q == ' ' || *q == '\t'); q++)
			;
		if (q == e || (*q != '=' && *q != ':'))
			continue;
		p = q + 1;
		/* an inline comment: ';' after white space (inih) */
		for (q = p; q < e; q++)
			if (*q == ';' && q > p && (q[-1] == ' ' || q[-1] == '\t'))
				break;
		e = q;
		trim(&p, &e);
		snprintf(out, outsz, "%.*s", (int)(e - p), p);
	}
}

/* cache_read - the snapshot at path if it may be trusted, else NULL */
static rg_config *
cache_read(const char *path, uint64_t chash, size_t clen)
{
	struct stat sb;
	char *buf;
	size_t len;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return NULL;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)
	    || sb.st_uid != geteuid() || (sb.st_mode & 022) != 0
	    || read_all(fd, &buf, &len) != 0) {
		close(fd);
		return NULL;
	}
	close(fd);
	return cfc_decode(buf, len, chash, clen);
}

/* cache_write - the snapshot of cfg at path, atomically; -1 if not */
static int
cache_write(const rg_config *cfg, const char *path, uint64_t chash,
    size_t clen)
{
	char tmp[4200], *out;
	size_t outlen, off = 0;
	ssize_t n;
	int fd;

	if (cfc_encode(cfg, chash, clen, &out, &outlen) != 0)
		return -1;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path)
	    >= sizeof(tmp) || (fd = mkstemp(tmp)) < 0) {
		free(out);
		return -1;
	}
	while (off < outlen) {
		if ((n = write(fd, out + off, outlen - off)) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		off += (size_t)n;
	}
	free(out);
	/* mkstemp makes it 0600 */
	if (close(fd) != 0 || off < outlen || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* cfc_load - rul_load through the cache (cfgcache.h) */
rg_config *
cfc_load(const char *file, FILE *errors, int *nerrors, rul_policy **polp,
    enum cfc_how *how, char *cache, size_t cachesz)
{
	rg_config *cfg;
	rul_policy *p;
	char *buf, err[1024], db[4096];
	size_t len;
	uint64_t chash;
	int fd;

	*polp = NULL;
	*how = CFC_PARSED;
	*nerrors = 0;
	if (cachesz > 0)
		cache[0] = '\0';
	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0
	    || read_all(fd, &buf, &len) != 0) {
		if (fd >= 0)
			close(fd);
		/* the parser says why, as it always did */
		return rul_load(file, errors, nerrors, polp);
	}
	close(fd);
	chash = rg_hash64_words(buf, len);
	database_of(buf, len, db, sizeof(db));
	if (strlen(db) + sizeof(CFC_SUFFIX) > sizeof(db) - 16 || *db != '/') {
		free(buf);
		return rul_load(file, errors, nerrors, polp);
	}
	strcat(db, CFC_SUFFIX);
	snprintf(cache, cachesz, "%s", db);
	if ((cfg = cache_read(db, chash, len)) != NULL) {
		cfg->file = xstrdup(file);
		if (strlen(cfg->database) + sizeof(CFC_SUFFIX) - 1 == strlen(db)
		    && strncmp(cfg->database, db, strlen(cfg->database)) == 0
		    && cfg_recheck(cfg) == 0
		    && (p = rul_new(cfg, err, sizeof(err))) != NULL) {
			free(buf);
			*polp = p;
			*how = CFC_CACHED;
			return cfg;
		}
		cfg_free(cfg);
	}
	/* parse what was hashed, exactly as rul_load does */
	cfg = cfg_load_buffer(file, buf, len, errors, nerrors);
	if (cfg != NULL && (p = rul_new(cfg, err, sizeof(err))) == NULL) {
		if (errors != NULL)
			fprintf(errors, "%s\n", err);
		*nerrors = 1;
		cfg_free(cfg);
		cfg = NULL;
	}
	if (cfg == NULL) {
		free(buf);
		return NULL;
	}
	*polp = p;
	/* beside the database the configuration names */
	snprintf(cache, cachesz, "%s%s", cfg->database, CFC_SUFFIX);
	if (cache_write(cfg, cache, chash, len) == 0)
		*how = CFC_WRITTEN;
	free(buf);
	return cfg;
}
