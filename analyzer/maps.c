/*
 * maps.c - Postfix lookup tables for enforcement: validation and escaping
 * of entries, rendering as map source text, and atomic replacement of the
 * live map (write NAME.new, postmap it, verify it with postmap -q, rename).
 *
 * Owns the entries of a map_set (copies) and, during map_write, the .new
 * files and a child postmap process. Fails by returning -1 with a message
 * in the caller's buffer: a bad entry in map_set_add, a failing step in
 * map_write (which then removes its .new files and leaves the live map as
 * it was). Never exits; allocation failure aborts (xalloc).
 */
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../common/casefold.h"
#include "../common/hash.h"
#include "../common/proc.h"
#include "../common/strbuf.h"
#include "../common/xalloc.h"
#include "../rules/mapcheck.h"
#include "map_pgsql.h"
#include "maps.h"

#define MAP_DEFAULT_POSTMAP	"/usr/sbin/postmap"
#define MAP_DEFAULT_POSTCONF	"/usr/sbin/postconf"
#define MAP_ERR_SHOW		80	/* bytes of a bad key shown in a message */
#define MAP_STDERR_MAX		2000	/* bytes of postmap's stderr kept */

/* one entry and what rendering needs to sort it */
typedef struct map_item {
	map_entry e;		/* first: map_set_get returns &item->e */
	char *dkey;		/* duplicate-detection key */
	enum map_kind kind;
	int family;		/* cidr: AF_INET or AF_INET6 */
	int plen;		/* cidr: prefix length */
	unsigned char addr[16];	/* cidr: network address */
	char *lname;		/* pcre: lower-cased header name */
	const char *hval;	/* pcre: the value, inside e.key */
	size_t hname_len;	/* pcre: length of the name in e.key */
} map_item;

struct map_set {
	enum map_kind kind;
	int utf8;		/* fold keys as smtputf8_enable = yes */
	map_item *items;
	size_t n, cap;
	size_t *ht;		/* open addressing: item index + 1, 0 = empty */
	size_t htcap;
};

/* map_kind_name - a short name for messages */
const char *
map_kind_name(enum map_kind kind)
{
	switch (kind) {
	case MAP_SASL:		return "sasl";
	case MAP_CLIENT_CIDR:	return "cidr";
	case MAP_SENDER:	return "sender";
	case MAP_HEADER_PCRE:	return "header";
	case MAP_BCC:		return "bcc";
	case MAP_SENDER_PCRE:	return "sender-pcre";
	}
	return "?";
}

/* seterr - format a message into err */
static void __attribute__((format(printf, 3, 4)))
seterr(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errsz == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

/* shown - a printable, shortened copy of untrusted text for a message */
static const char *
shown(const char *s, char *buf, size_t bufsz)
{
	size_t i, o = 0;

	for (i = 0; s[i] != '\0' && o + 4 < bufsz; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i >= MAP_ERR_SHOW) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		buf[o++] = (c < 0x20 || c >= 0x7f || c == '"') ? '?' : (char)c;
	}
	buf[o] = '\0';
	return buf;
}

/* is_indexed - kinds that postmap turns into hash/lmdb/cdb files */
static int
is_indexed(enum map_kind kind)
{
	return kind == MAP_SASL || kind == MAP_SENDER || kind == MAP_BCC;
}

/* check_value - a lookup result Postfix reads back exactly; NULL if fine */
static const char *
check_value(enum map_kind kind, const char *v)
{
	size_t i, len = strlen(v);

	if (len == 0)
		return "is empty";
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c == '\n' || c == '\r')
			return "contains a newline";
		if (c < 0x20 || c == 0x7f)
			return "contains a control character";
		if (kind == MAP_BCC && (c == ' ' || c == ','))
			return "is not a single address (white space or comma)";
	}
	if (v[0] == ' ' || v[len - 1] == ' ')
		return "has leading or trailing white space (Postfix drops it)";
	if (!rul_utf8_valid(v))
		return "is not valid UTF-8";
	return NULL;
}

/* norm_indexed - validate and fold a hash/lmdb/cdb key as Postfix does */
static char *
norm_indexed(const char *key, int utf8, const char **why)
{
	size_t i;
	char *k;

	if (key[0] == '\0') {
		*why = "is empty";
		return NULL;
	}
	if (key[0] == '#') {
		*why = "starts with '#' (a comment line to postmap)";
		return NULL;
	}
	for (i = 0; key[i] != '\0'; i++) {
		unsigned char c = (unsigned char)key[i];

		if (c == ' ' || c == '\t') {
			*why = "contains white space (postmap ends the key there)";
			return NULL;
		}
		if (c < 0x20 || c == 0x7f) {
			*why = "contains a control character";
			return NULL;
		}
	}
	if (!rul_utf8_valid(key)) {
		*why = "is not valid UTF-8";
		return NULL;
	}
	if ((k = rg_casefold(key, utf8)) == NULL)
		*why = "cannot be case-folded (ICU failed)";
	return k;
}

/*
 * norm_sender_pcre - an envelope sender as smtpd hands it to a pcre
 * check_sender_access lookup: as logged (a quoted local part keeps its
 * quotes), folded like every access-map search string
 */
static char *
norm_sender_pcre(const char *key, int utf8, const char **why)
{
	char *k;
	size_t i;

	if (key[0] == '\0') {
		*why = "is empty";
		return NULL;
	}
	for (i = 0; key[i] != '\0'; i++)
		if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f) {
			*why = "contains a control character (smtpd never "
			    "looks such a sender up)";
			return NULL;
		}
	if (!rul_utf8_valid(key)) {
		*why = "is not valid UTF-8 (Postfix skips the lookup)";
		return NULL;
	}
	if ((k = rg_casefold(key, utf8)) == NULL)
		*why = "cannot be case-folded (ICU failed)";
	return k;
}

/* norm_cidr - parse ADDR[/LEN] into it; canonical text, or NULL and msg */
static char *
norm_cidr(const char *key, map_item *it, char *msg, size_t msgsz)
{
	char out[INET6_ADDRSTRLEN + 8];

	/* the configuration's own check (rules/mapcheck.c): one parser */
	if (rul_cidr_parse(key, &it->family, it->addr, &it->plen, msg,
	    msgsz) != 0)
		return NULL;
	inet_ntop(it->family, it->addr, out, sizeof(out));
	snprintf(out + strlen(out), sizeof(out) - strlen(out), "/%d",
	    it->plen);
	return xstrdup(out);
}

/* norm_header - split "NAME: value", validate; the normalised key or NULL */
static char *
norm_header(const char *key, map_item *it, const char **why)
{
	const char *colon = strchr(key, ':'), *v;
	size_t i, nlen;
	strbuf sb;

	if (colon == NULL) {
		*why = "is not \"NAME: value\" (no colon)";
		return NULL;
	}
	nlen = (size_t)(colon - key);
	if (nlen == 0) {
		*why = "has an empty header name";
		return NULL;
	}
	for (i = 0; i < nlen; i++) {
		unsigned char c = (unsigned char)key[i];

		if (c <= 0x20 || c >= 0x7f) {
			*why = "has a header name that is not printable ASCII "
			    "without spaces";
			return NULL;
		}
	}
	v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	for (i = 0; v[i] != '\0'; i++)
		if (v[i] == '\n') {
			*why = "has a newline in the header value";
			return NULL;
		}
	if (!rul_utf8_valid(v)) {
		*why = "has a header value that is not valid UTF-8";
		return NULL;
	}
	sb_init(&sb);
	sb_add(&sb, key, nlen);
	sb_adds(&sb, ": ");
	sb_adds(&sb, v);
	it->hname_len = nlen;
	it->hval = sb.s + nlen + 2;
	it->lname = xstrndup(key, nlen);
	for (i = 0; i < nlen; i++)
		if (it->lname[i] >= 'A' && it->lname[i] <= 'Z')
			it->lname[i] = (char)(it->lname[i] - 'A' + 'a');
	return sb.s;
}

/* fnv - hash of a string */
static size_t
fnv(const char *s)
{
	return (size_t)rg_hash64(s, strlen(s));
}

/* ht_find - the slot holding dkey, or the empty slot where it would go */
static size_t
ht_find(const map_set *ms, const char *dkey)
{
	size_t i = fnv(dkey) & (ms->htcap - 1);

	while (ms->ht[i] != 0 && strcmp(ms->items[ms->ht[i] - 1].dkey, dkey) != 0)
		i = (i + 1) & (ms->htcap - 1);
	return i;
}

/* ht_grow - double the hash table and reinsert every item */
static void
ht_grow(map_set *ms)
{
	size_t i;

	free(ms->ht);
	ms->htcap = ms->htcap ? ms->htcap * 2 : 64;
	ms->ht = xcalloc(ms->htcap, sizeof(*ms->ht));
	for (i = 0; i < ms->n; i++)
		ms->ht[ht_find(ms, ms->items[i].dkey)] = i + 1;
}

/* item_free - release what an item owns */
static void
item_free(map_item *it)
{
	free(it->e.key);
	free(it->e.value);
	free(it->dkey);
	free(it->lname);
}

/* map_set_new - an empty set of entries for one kind of map */
map_set *
map_set_new(enum map_kind kind)
{
	map_set *ms = xcalloc(1, sizeof(*ms));

	ms->kind = kind;
	return ms;
}

/* map_set_add - validate, normalise and add one entry */
int
map_set_add(map_set *ms, const char *key, const char *value, char *err,
    size_t errsz)
{
	map_item it;
	const char *why = NULL;
	char why_buf[160], kbuf[MAP_ERR_SHOW + 8], vbuf[MAP_ERR_SHOW + 8];
	size_t slot;

	if (key == NULL || value == NULL) {
		seterr(err, errsz, "%s map: NULL key or value",
		    map_kind_name(ms->kind));
		return -1;
	}
	memset(&it, 0, sizeof(it));
	it.kind = ms->kind;
	if ((why = check_value(ms->kind, value)) != NULL) {
		seterr(err, errsz, "%s map: the value \"%s\" for \"%s\" %s",
		    map_kind_name(ms->kind), shown(value, vbuf, sizeof(vbuf)),
		    shown(key, kbuf, sizeof(kbuf)), why);
		return -1;
	}
	switch (ms->kind) {
	case MAP_CLIENT_CIDR:
		why_buf[0] = '\0';
		it.e.key = norm_cidr(key, &it, why_buf, sizeof(why_buf));
		why = why_buf;
		break;
	case MAP_HEADER_PCRE:
		it.e.key = norm_header(key, &it, &why);
		break;
	case MAP_SENDER_PCRE:
		it.e.key = norm_sender_pcre(key, ms->utf8, &why);
		break;
	default:
		it.e.key = norm_indexed(key, ms->utf8, &why);
		break;
	}
	if (it.e.key == NULL) {
		seterr(err, errsz, "%s map: the key \"%s\" %s",
		    map_kind_name(ms->kind), shown(key, kbuf, sizeof(kbuf)), why);
		item_free(&it);
		return -1;
	}
	if (ms->kind == MAP_HEADER_PCRE) {
		strbuf d;

		sb_init(&d);
		sb_adds(&d, it.lname);
		sb_addc(&d, ':');
		sb_adds(&d, it.hval);
		it.dkey = d.s;
	} else
		it.dkey = xstrdup(it.e.key);

	if (ms->htcap == 0 || (ms->n + 1) * 2 > ms->htcap)
		ht_grow(ms);
	slot = ht_find(ms, it.dkey);
	if (ms->ht[slot] != 0) {
		const map_item *old = &ms->items[ms->ht[slot] - 1];
		int same = strcmp(old->e.value, value) == 0;

		if (!same)
			seterr(err, errsz, "%s map: the key \"%s\" is already "
			    "there with another value (as \"%s\")",
			    map_kind_name(ms->kind),
			    shown(key, kbuf, sizeof(kbuf)),
			    shown(old->e.key, vbuf, sizeof(vbuf)));
		item_free(&it);
		return same ? 0 : -1;
	}
	it.e.value = xstrdup(value);
	if (ms->n == ms->cap) {
		ms->cap = ms->cap ? ms->cap * 2 : 16;
		ms->items = xrealloc(ms->items, ms->cap * sizeof(*ms->items));
		/* hval points into e.key, which did not move: nothing to fix */
	}
	ms->items[ms->n] = it;
	ms->ht[slot] = ++ms->n;
	return 0;
}

/* map_set_utf8 - fold keys as Postfix with smtputf8_enable = on (1/0) */
void
map_set_utf8(map_set *ms, int on)
{
	ms->utf8 = on != 0;
}

/* map_key_check - NULL if key can be a key of kind, else why not */
const char *
map_key_check(enum map_kind kind, const char *key, int utf8)
{
	map_item it;
	const char *why = NULL;
	char buf[160] = "";
	static char why_buf[160];
	char *k;

	memset(&it, 0, sizeof(it));
	switch (kind) {
	case MAP_CLIENT_CIDR:
		k = norm_cidr(key, &it, buf, sizeof(buf));
		why = buf;
		break;
	case MAP_HEADER_PCRE:
		k = norm_header(key, &it, &why);
		break;
	case MAP_SENDER_PCRE:
		k = norm_sender_pcre(key, utf8, &why);
		break;
	default:
		k = norm_indexed(key, utf8, &why);
		break;
	}
	free(it.lname);
	if (k != NULL) {
		free(k);
		return NULL;
	}
	snprintf(why_buf, sizeof(why_buf), "%s", why ? why : "is not valid");
	return why_buf;
}

/* map_set_free - release the set and every entry */
void
map_set_free(map_set *ms)
{
	size_t i;

	if (ms == NULL)
		return;
	for (i = 0; i < ms->n; i++)
		item_free(&ms->items[i]);
	free(ms->items);
	free(ms->ht);
	free(ms);
}

/* map_set_kind - the kind the set was made for */
enum map_kind
map_set_kind(const map_set *ms)
{
	return ms->kind;
}

/* map_set_count - the number of entries */
size_t
map_set_count(const map_set *ms)
{
	return ms->n;
}

/* map_set_get - the i-th entry, in the order of map_set_add */
const map_entry *
map_set_get(const map_set *ms, size_t i)
{
	return i < ms->n ? &ms->items[i].e : NULL;
}

/* item_cmp - qsort: the order of lines in the rendered map */
static int
item_cmp(const void *a, const void *b)
{
	const map_item *x = *(const map_item *const *)a;
	const map_item *y = *(const map_item *const *)b;
	int c;

	switch (x->kind) {
	case MAP_CLIENT_CIDR:
		if (x->family != y->family)
			return x->family == AF_INET ? -1 : 1;
		if (x->plen != y->plen)
			return x->plen > y->plen ? -1 : 1;	/* most specific first */
		return memcmp(x->addr, y->addr, sizeof(x->addr));
	case MAP_HEADER_PCRE:
		if ((c = strcmp(x->lname, y->lname)) != 0)
			return c;
		return strcmp(x->hval, y->hval);
	default:
		return strcmp(x->e.key, y->e.key);
	}
}

/* sorted - the items in rendering order (the caller frees the array) */
static const map_item **
sorted(const map_set *ms)
{
	const map_item **v = xcalloc(ms->n + 1, sizeof(*v));
	size_t i;

	for (i = 0; i < ms->n; i++)
		v[i] = &ms->items[i];
	if (ms->n > 1)
		qsort(v, ms->n, sizeof(*v), item_cmp);
	return v;
}

/* re_escape - n bytes as a PCRE literal that Postfix's parser leaves whole */
static void
re_escape(strbuf *out, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c >= 0x80)
			sb_addc(out, (char)c);	/* >= 0x80: validated UTF-8 */
		else if (c < 0x20 || c == 0x7f)
			sb_printf(out, "\\x%02X", c);
		else {
			sb_addc(out, '\\');
			sb_addc(out, (char)c);
		}
	}
}

/*
 * re_escape_logged - a header value as Postfix logged it: a '?' there
 * stands for itself, a control character or a byte of invalid UTF-8
 * (Postfix's printable() writes each such byte as '?'; with smtputf8_enable
 * = no every non-ASCII byte), so it matches any one of them; everything
 * else matches only itself. header_checks is opened without UTF-8 mode:
 * the pattern and the header are bytes, and \x80-\xFF are bytes.
 */
static void
re_escape_logged(strbuf *out, const char *s)
{
	const char *q;

	while ((q = strchr(s, '?')) != NULL) {
		re_escape(out, s, (size_t)(q - s));
		sb_adds(out, "[?\\x00-\\x1F\\x7F-\\xFF]");
		s = q + 1;
	}
	re_escape(out, s, strlen(s));
}

/* render_item - one line of the map */
static void
render_item(strbuf *out, const map_item *it)
{
	const char *p;

	switch (it->kind) {
	case MAP_SENDER_PCRE:
		sb_adds(out, "/^");
		re_escape(out, it->e.key, strlen(it->e.key));
		sb_adds(out, "$/ ");
		for (p = it->e.value; *p != '\0'; p++) {
			if (*p == '$')
				sb_addc(out, '$');
			sb_addc(out, *p);
		}
		break;
	case MAP_HEADER_PCRE:
		sb_adds(out, "/^");
		re_escape(out, it->e.key, it->hname_len);
		sb_adds(out, ":[[:space:]]*(?-i:");
		re_escape_logged(out, it->hval);
		sb_adds(out, ")[[:space:]]*$/ ");
		for (p = it->e.value; *p != '\0'; p++) {
			if (*p == '$')
				sb_addc(out, '$');
			sb_addc(out, *p);
		}
		break;
	default:
		sb_adds(out, it->e.key);
		sb_addc(out, '\t');
		sb_adds(out, it->e.value);
		break;
	}
	sb_addc(out, '\n');
}

/* map_render - append the text of the map file */
void
map_render(const map_set *ms, strbuf *out)
{
	const map_item **v = sorted(ms);
	size_t i;

	sb_printf(out, "# relayguard %s map: written by relayguard, "
	    "local changes are overwritten\n", map_kind_name(ms->kind));
	for (i = 0; i < ms->n; i++)
		render_item(out, v[i]);
	free(v);
}

/*
 * first_holder - the first rule in file order (v, n: sorted) that holds the
 * network address of a. The file is sorted by family, then prefix length
 * from the longest, then address: so it is the longest prefix that holds
 * it, found by one binary search in each run of equal prefix length
 * (a scan of every rule for every rule took 0.2 s for 8,000 CIDRs).
 */
static const map_item *
first_holder(const map_item **v, size_t n, const map_item *a)
{
	size_t lo = 0, hi;

	while (lo < n) {
		map_item key;
		size_t l, h;
		int full, rest;

		for (hi = lo + 1; hi < n && v[hi]->family == v[lo]->family
		    && v[hi]->plen == v[lo]->plen; hi++)
			;
		if (v[lo]->family == a->family) {
			/* a's address cut to this prefix length */
			memset(&key, 0, sizeof(key));
			full = v[lo]->plen / 8;
			rest = v[lo]->plen % 8;
			memcpy(key.addr, a->addr, (size_t)full);
			if (rest)
				key.addr[full] = a->addr[full]
				    & (unsigned char)(0xff << (8 - rest));
			for (l = lo, h = hi; l < h;) {
				size_t m = l + (h - l) / 2;
				int c = memcmp(v[m]->addr, key.addr,
				    sizeof(key.addr));

				if (c == 0)
					return v[m];
				if (c < 0)
					l = m + 1;
				else
					h = m;
			}
		}
		lo = hi;
	}
	return a;	/* not reached: a holds itself */
}

/*
 * verify_plan - the postmap -q - input (one key a line) and the output it
 * must give ("KEY<TAB>RESULT" for every key, in order)
 */
static void
verify_plan(const map_set *ms, strbuf *in, strbuf *want)
{
	const map_item **v = sorted(ms);
	size_t i;

	for (i = 0; i < ms->n; i++) {
		const map_item *it = v[i], *answer = it;
		char abuf[INET6_ADDRSTRLEN];

		if (it->kind == MAP_CLIENT_CIDR) {
			/* the first rule in file order that holds it */
			answer = first_holder(v, ms->n, it);
			inet_ntop(it->family, it->addr, abuf, sizeof(abuf));
			sb_adds(in, abuf);
			sb_adds(want, abuf);
		} else {
			sb_adds(in, it->e.key);
			sb_adds(want, it->e.key);
		}
		sb_addc(in, '\n');
		sb_addc(want, '\t');
		sb_adds(want, answer->e.value);
		sb_addc(want, '\n');
	}
	free(v);
}

/*
 * run_postmap - run postmap with argv (argv[0] is the path), input on its
 * standard input; its standard output and error into out and errout, at
 * most timeout_ms long (common/proc.c). Returns the wait status,
 * PROC_TIMEOUT if it was killed at the timeout, or -1 (errno) if it could
 * not be started.
 */
static int
run_postmap(char *const argv[], const strbuf *input, strbuf *out,
    strbuf *errout, long long timeout_ms)
{
	proc_req rq;
	proc_res rs;
	int rc;

	memset(&rq, 0, sizeof(rq));
	rq.argv = argv;
	rq.in = input ? input->s : NULL;
	rq.inlen = input ? input->len : 0;
	rq.errmax = MAP_STDERR_MAX;
	rq.timeout_ms = timeout_ms;
	rs.out = out;
	rs.err = errout;
	if ((rc = proc_run(&rq, &rs)) != 0)
		return rc;
	return rs.status;
}

/* oneline - postmap's stderr for a message: lines joined, trimmed */
static const char *
oneline(strbuf *sb)
{
	size_t i;

	while (sb->len > 0 && (sb->s[sb->len - 1] == '\n' ||
	    sb->s[sb->len - 1] == ' '))
		sb->s[--sb->len] = '\0';
	for (i = 0; i < sb->len; i++)
		if (sb->s[i] == '\n')
			sb->s[i] = ';';
		else if ((unsigned char)sb->s[i] < 0x20)
			sb->s[i] = ' ';
	return sb->len ? sb->s : "(no message)";
}

/* status_text - "exit status N" or "killed by signal N" */
static void
status_text(int status, char *buf, size_t bufsz)
{
	if (WIFEXITED(status))
		snprintf(buf, bufsz, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, bufsz, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, bufsz, "wait status %d", status);
}

/* same_content - 1 if the file at path holds exactly len bytes p */
static int
same_content(const char *path, const char *p, size_t len)
{
	char buf[65536];
	size_t off = 0;
	ssize_t r;
	int fd, same = 1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	while (same && (r = read(fd, buf, sizeof(buf))) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			same = 0;
		} else if ((size_t)r > len - off ||
		    memcmp(buf, p + off, (size_t)r) != 0)
			same = 0;
		else
			off += (size_t)r;
	}
	close(fd);
	return same && off == len;
}

/* path_cat - a new string: a b c d */
static char *
path_cat(const char *a, const char *b, const char *c, const char *d)
{
	strbuf sb;

	sb_init(&sb);
	sb_adds(&sb, a);
	sb_adds(&sb, b);
	sb_adds(&sb, c);
	sb_adds(&sb, d);
	return sb.s;
}

/* write_new - create path exclusively (0644), write, fsync, close */
static int
write_new(const char *path, const char *p, size_t len, strbuf *err)
{
	size_t off = 0;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (fd < 0) {
		sb_printf(err, "create %s: %s", path, strerror(errno));
		return -1;
	}
	if (fchmod(fd, 0644) < 0) {
		sb_printf(err, "chmod %s: %s", path, strerror(errno));
		goto fail;
	}
	while (off < len) {
		ssize_t w = write(fd, p + off, len - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			sb_printf(err, "write %s: %s", path, strerror(errno));
			goto fail;
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0) {
		sb_printf(err, "fsync %s: %s", path, strerror(errno));
		goto fail;
	}
	if (close(fd) < 0) {
		sb_printf(err, "close %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
fail:
	close(fd);
	return -1;
}

/* fsync_path - fsync a file postmap wrote */
static int
fsync_path(const char *path, strbuf *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0) {
		sb_printf(err, "fsync %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* unlink_stale - remove path if it exists; -1 on another error */
static int
unlink_stale(const char *path, strbuf *err)
{
	if (unlink(path) < 0 && errno != ENOENT) {
		sb_printf(err, "remove stale %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* name_ok - a plain file name: no '/', not hidden, not empty */
static int
name_ok(const char *name)
{
	size_t i;

	if (name == NULL || name[0] == '\0' || name[0] == '.' ||
	    strlen(name) > 200)
		return 0;
	for (i = 0; name[i] != '\0'; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* map_write - replace DIR/NAME (and its indexed file) atomically */
int
map_write(const map_writer_cfg *cfg, const char *name, const map_set *ms,
    int *changed, char *err, size_t errsz)
{
	const char *type, *ext = NULL, *postmap;
	char *live = NULL, *tmp = NULL, *live_idx = NULL, *tmp_idx = NULL;
	char *typed = NULL, st[64], lb[MAP_ERR_SHOW + 8];
	char *argv[8];
	strbuf text, in, want, out, eout, step;
	int dirfd = -1, rc = -1, made_tmp = 0, made_idx = 0, status, argc;

	*changed = 0;
	if (cfg->pg != NULL && map_pg_holds(cfg->pg, map_set_kind(ms)))
		return map_pg_stage(cfg->pg, name, ms, err, errsz);
	sb_init(&text);
	sb_init(&in);
	sb_init(&want);
	sb_init(&out);
	sb_init(&eout);
	sb_init(&step);
	if (cfg == NULL || cfg->directory == NULL || cfg->directory[0] == '\0') {
		seterr(err, errsz, "%s map %s: no directory configured",
		    map_kind_name(ms->kind), name ? name : "(null)");
		goto end;
	}
	if (!name_ok(name)) {
		seterr(err, errsz, "%s map in %s: bad file name \"%s\" (letters, "
		    "digits, '.', '_', '-'; not starting with '.')",
		    map_kind_name(ms->kind), cfg->directory, name ? name : "");
		goto end;
	}
	postmap = cfg->postmap ? cfg->postmap : MAP_DEFAULT_POSTMAP;
	if (is_indexed(ms->kind)) {
		type = cfg->type ? cfg->type : "hash";
		if (strcmp(type, "hash") == 0)
			ext = ".db";
		else if (strcmp(type, "lmdb") == 0)
			ext = ".lmdb";
		else if (strcmp(type, "cdb") == 0)
			ext = ".cdb";
		else {
			seterr(err, errsz, "map %s/%s: unsupported map type "
			    "\"%s\" (hash, lmdb or cdb)", cfg->directory, name,
			    type);
			goto end;
		}
	} else
		type = ms->kind == MAP_CLIENT_CIDR ? "cidr" : "pcre";
	live = path_cat(cfg->directory, "/", name, "");
	tmp = path_cat(live, ".new", "", "");
	live_idx = path_cat(live, ext ? ext : "", "", "");
	tmp_idx = path_cat(tmp, ext ? ext : "", "", "");
	typed = path_cat(type, ":", tmp, "");

	map_render(ms, &text);

	dirfd = open(cfg->directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		sb_printf(&step, "open directory %s: %s",
		    cfg->directory, strerror(errno));
		goto fail;
	}
	if (flock(dirfd, LOCK_EX | LOCK_NB) < 0) {
		sb_printf(&step, "lock directory %s: %s",
		    cfg->directory, errno == EWOULDBLOCK ?
		    "another writer holds it" : strerror(errno));
		goto fail;
	}
	if (same_content(live, text.s, text.len) &&
	    (ext == NULL || access(live_idx, F_OK) == 0)) {
		rc = 0;		/* unchanged: touch nothing */
		goto end;
	}

	/* 1. the source text beside the live one */
	if (unlink_stale(tmp, &step) < 0 ||
	    (ext && unlink_stale(tmp_idx, &step) < 0))
		goto fail;
	made_tmp = 1;
	if (write_new(tmp, text.s, text.len, &step) < 0)
		goto fail;

	/* 2. postmap it (indexed types) */
	argc = 0;
	argv[argc++] = (char *)postmap;
	if (cfg->config_directory) {
		argv[argc++] = (char *)"-c";
		argv[argc++] = (char *)cfg->config_directory;
	}
	if (ext) {
		argv[argc++] = typed;
		argv[argc] = NULL;
		made_idx = 1;
		status = run_postmap(argv, NULL, NULL, &eout, cfg->timeout_ms);
		if (status == PROC_TIMEOUT) {
			sb_printf(&step, "postmap %s timed out after %lld ms "
			    "(killed with its process group)", typed,
			    cfg->timeout_ms);
			goto fail;
		}
		if (status == -1) {
			sb_printf(&step, "run %s: %s", postmap,
			    strerror(errno));
			goto fail;
		}
		if (status != 0 || strstr(eout.s, tmp) != NULL) {
			status_text(status, st, sizeof(st));
			sb_printf(&step, "postmap %s failed (%s): %s",
			    typed, st, oneline(&eout));
			goto fail;
		}
		if (fsync_path(tmp_idx, &step) < 0)
			goto fail;
		argc--;
	}

	/* 3. verify: every key gives its value back */
	if (ms->n > 0) {
		verify_plan(ms, &in, &want);
		argv[argc++] = (char *)"-q";
		argv[argc++] = (char *)"-";
		argv[argc++] = typed;
		argv[argc] = NULL;
		sb_reset(&eout);
		status = run_postmap(argv, &in, &out, &eout, cfg->timeout_ms);
		if (status == PROC_TIMEOUT) {
			sb_printf(&step, "verify with postmap -q %s timed out "
			    "after %lld ms (killed with its process group)", typed,
			    cfg->timeout_ms);
			goto fail;
		}
		if (status == -1) {
			sb_printf(&step, "run %s: %s", postmap,
			    strerror(errno));
			goto fail;
		}
		if ((status != 0 && !(WIFEXITED(status) &&
		    WEXITSTATUS(status) == 1)) || strstr(eout.s, tmp) != NULL ||
		    strstr(eout.s, "fatal:") != NULL) {
			status_text(status, st, sizeof(st));
			sb_printf(&step, "verify with postmap -q "
			    "%s failed (%s): %s", typed, st, oneline(&eout));
			goto fail;
		}
		if (out.len != want.len || memcmp(out.s, want.s, out.len) != 0) {
			size_t i = 0, ls = 0;

			while (i < out.len && i < want.len && out.s[i] == want.s[i])
				if (out.s[i++] == '\n')
					ls = i;
			want.s[strcspn(want.s + ls, "\n") + ls] = '\0';
			sb_printf(&step, "verify with postmap -q %s: "
			    "Postfix does not read back \"%s\"%s", typed,
			    shown(want.s + ls, lb, sizeof(lb)),
			    eout.len ? "; postmap said: " : "");
			if (eout.len)
				sb_adds(&step, oneline(&eout));
			goto fail;
		}
	}

	/* 4. rename over the live map: what Postfix reads first */
	if (ext && rename(tmp_idx, live_idx) < 0) {
		sb_printf(&step, "rename %s to %s: %s", tmp_idx,
		    live_idx, strerror(errno));
		goto fail;
	}
	made_idx = 0;
	if (rename(tmp, live) < 0) {
		sb_printf(&step, "rename %s to %s: %s", tmp, live,
		    strerror(errno));
		goto fail;
	}
	made_tmp = 0;
	*changed = 1;
	if (fsync(dirfd) < 0) {
		sb_printf(&step, "fsync directory %s: %s",
		    cfg->directory, strerror(errno));
		goto fail;
	}
	rc = 0;
	goto end;
fail:
	seterr(err, errsz, "%s map %s: %s", map_kind_name(ms->kind), live,
	    step.s);
end:
	if (made_idx)
		unlink(tmp_idx);
	if (made_tmp)
		unlink(tmp);
	if (dirfd >= 0)
		close(dirfd);	/* releases the lock */
	sb_free(&text);
	sb_free(&in);
	sb_free(&want);
	sb_free(&out);
	sb_free(&eout);
	sb_free(&step);
	free(live);
	free(tmp);
	free(live_idx);
	free(tmp_idx);
	free(typed);
	return rc;
}

static int postconf_utf8(const map_writer_cfg *, int *, char *, size_t);

/*
 * utf8_stamp - what the answer of postconf -xh smtputf8_enable depends on:
 * main.cf (device, inode, size, mtime to the nanosecond) and the postconf
 * binary (a Postfix upgrade may change the default); -1 if either is gone
 */
static int
utf8_stamp(const map_writer_cfg *cfg, char *buf, size_t bufsz)
{
	char path[1100];
	const char *pc = cfg->postconf ? cfg->postconf : MAP_DEFAULT_POSTCONF;
	struct stat a, b;

	snprintf(path, sizeof(path), "%s/main.cf", cfg->config_directory
	    ? cfg->config_directory : "/etc/postfix");
	if (stat(path, &a) != 0 || stat(pc, &b) != 0 || strchr(path, '\n')
	    || strchr(pc, '\n'))
		return -1;
	snprintf(buf, bufsz, "v1 %s %llu %llu %lld %lld.%09ld %s %lld.%09ld",
	    path, (unsigned long long)a.st_dev, (unsigned long long)a.st_ino,
	    (long long)a.st_size, (long long)a.st_mtim.tv_sec,
	    a.st_mtim.tv_nsec, pc, (long long)b.st_mtim.tv_sec,
	    b.st_mtim.tv_nsec);
	return 0;
}

/*
 * map_postfix_utf8 - Postfix's effective smtputf8_enable (postconf -xh):
 * 1 yes, 0 no; -1 and err if postconf fails or says something else. With
 * cfg->directory, the answer is kept in
 * DIR/.smtputf8_enable with the stamp of main.cf it was read from: a run
 * whose main.cf did not change since does not start postconf (0.1-0.2 s
 * of every lock and analyze); a changed main.cf, a new postconf or any
 * doubt asks postconf again
 */
int
map_postfix_utf8(const map_writer_cfg *cfg, int *utf8, char *err,
    size_t errsz)
{
	char stamp[1400], line[1500], cache[1100], tmp[1200];
	int have = 0, rc, fd;
	ssize_t n;

	if (cfg->directory != NULL && utf8_stamp(cfg, stamp, sizeof(stamp))
	    == 0) {
		have = 1;
		snprintf(cache, sizeof(cache), "%s/.smtputf8_enable",
		    cfg->directory);
		if ((fd = open(cache, O_RDONLY | O_CLOEXEC)) >= 0) {
			n = read(fd, line, sizeof(line) - 1);
			close(fd);
			line[n > 0 ? n : 0] = '\0';
			if (n > 2 && strncmp(line, stamp, strlen(stamp)) == 0
			    && line[strlen(stamp)] == ' '
			    && strchr("01", line[strlen(stamp) + 1]) != NULL
			    && line[strlen(stamp) + 2] == '\n') {
				*utf8 = line[strlen(stamp) + 1] == '1';
				return 0;
			}
		}
	}
	if ((rc = postconf_utf8(cfg, utf8, err, errsz)) != 0 || !have)
		return rc;
	/* kept for the next run, if main.cf did not change meanwhile */
	snprintf(line, sizeof(line), "%s %d\n", stamp, *utf8);
	snprintf(tmp, sizeof(tmp), "%s.%ld", cache, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644))
	    >= 0) {
		int ok = write(fd, line, strlen(line)) == (ssize_t)strlen(line);

		if (close(fd) == 0 && ok && utf8_stamp(cfg, line,
		    sizeof(line)) == 0 && strcmp(line, stamp) == 0)
			(void)rename(tmp, cache);
		(void)unlink(tmp);
	}
	return 0;
}

/* postconf_utf8 - postconf -xh smtputf8_enable: 1 yes, 0 no; -1 and err */
static int
postconf_utf8(const map_writer_cfg *cfg, int *utf8, char *err, size_t errsz)
{
	char *argv[6], st[64];
	strbuf out, eout;
	int argc = 0, status, rc = -1;

	sb_init(&out);
	sb_init(&eout);
	argv[argc++] = (char *)(cfg->postconf ? cfg->postconf
	    : MAP_DEFAULT_POSTCONF);
	if (cfg->config_directory) {
		argv[argc++] = (char *)"-c";
		argv[argc++] = (char *)cfg->config_directory;
	}
	argv[argc++] = (char *)"-xh";	/* expanded: its default is an
					 * expression of compatibility_level */
	argv[argc++] = (char *)"smtputf8_enable";
	argv[argc] = NULL;
	status = run_postmap(argv, NULL, &out, &eout, cfg->timeout_ms);
	if (status == -1) {
		seterr(err, errsz, "run %s: %s", argv[0], strerror(errno));
		goto end;
	}
	while (out.len > 0 && (out.s[out.len - 1] == '\n'
	    || out.s[out.len - 1] == ' '))
		out.s[--out.len] = '\0';
	if (status != 0) {
		status_text(status, st, sizeof(st));
		seterr(err, errsz, "%s -xh smtputf8_enable failed (%s): %s",
		    argv[0], st, oneline(&eout));
		goto end;
	}
	if (strcasecmp(out.s, "yes") == 0 || strcasecmp(out.s, "true") == 0)
		*utf8 = 1;
	else if (strcasecmp(out.s, "no") == 0
	    || strcasecmp(out.s, "false") == 0)
		*utf8 = 0;
	else {
		seterr(err, errsz, "%s -xh smtputf8_enable: unexpected answer "
		    "\"%.40s\"", argv[0], out.s);
		goto end;
	}
	rc = 0;
end:
	sb_free(&out);
	sb_free(&eout);
	return rc;
}
