/*
 * policy.c - users, CIDRs, identities and regexes. Owns the compiled
 * regexes, the CIDR table and the name index. Errors name FILE:LINE of the
 * section at fault.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <pcre2.h>

#include "../common/casefold.h"
#include "../common/hash.h"
#include "../common/xalloc.h"
#include "mapcheck.h"
#include "policy.h"

#define REGEX_MATCH_LIMIT 100000

typedef struct cidr {
	int family;
	unsigned char addr[16];
	int prefix;
	char *text;		/* normalised */
	const rul_user *owner;
} cidr;

typedef struct idheader {
	const rg_idheader_cfg *cfg;
	pcre2_code *re;
	pcre2_match_data *md;
} idheader;

struct rul_policy {
	const rg_config *cfg;
	rul_user *users;
	int nusers;
	int *index;		/* open addressing: user number + 1, 0 = empty */
	size_t ibuckets;
	struct plen {		/* the CIDRs of one family and prefix length */
		int family, prefix;
		int *tab;	/* open addressing: cidr number + 1 */
		size_t nb;
	} *plens;		/* most specific first */
	int nplens;
	cidr *cidrs;
	int ncidrs;
	const char **cidr_texts;
	const rul_user **cidr_owners;
	idheader *hdrs;
	int nhdrs;
	pcre2_match_context *mctx;
	int fold_utf8;		/* Postfix's smtputf8_enable */
};

/* parse_cidr - ADDR[/LEN] as a cidr table reads it (mapcheck.c) */
static int
parse_cidr(const char *text, cidr *c, char *why, size_t whysz)
{
	memset(c, 0, sizeof(*c));
	return rul_cidr_parse(text, &c->family, c->addr, &c->prefix, why,
	    whysz);
}

/* rul_cidr_valid - check and normalise a CIDR for a map key */
int
rul_cidr_valid(const char *text, char *norm, size_t normsz)
{
	cidr c;
	char a[INET6_ADDRSTRLEN], why[160];

	if (parse_cidr(text, &c, why, sizeof(why)) != 0)
		return -1;
	inet_ntop(c.family, c.addr, a, sizeof(a));
	snprintf(norm, normsz, "%s/%d", a, c.prefix);
	return 0;
}

/* mask_hash - hash of an address cut to a prefix */
static size_t
mask_hash(int family, const unsigned char *addr, int prefix)
{
	unsigned char m[16];
	int full = prefix / 8, rest = prefix % 8, len = family == AF_INET ? 4 : 16;

	memset(m, 0, sizeof(m));
	memcpy(m, addr, (size_t)full);
	if (rest)
		m[full] = addr[full] & (unsigned char)(0xff00 >> rest);
	return rg_hash(m, (size_t)len);
}

/* index_cidrs - one hash table per (family, prefix): a lookup costs one
 * probe per prefix length in use, not one comparison per CIDR */
static void
index_cidrs(rul_policy *p)
{
	int i, j;

	for (i = 0; i < p->ncidrs; i++) {
		cidr *c = &p->cidrs[i];

		for (j = 0; j < p->nplens; j++)
			if (p->plens[j].family == c->family
			    && p->plens[j].prefix == c->prefix)
				break;
		if (j == p->nplens) {
			p->plens = xrealloc(p->plens, (size_t)(p->nplens + 1)
			    * sizeof(*p->plens));
			memset(&p->plens[j], 0, sizeof(p->plens[j]));
			p->plens[j].family = c->family;
			p->plens[j].prefix = c->prefix;
			p->nplens++;
		}
		p->plens[j].nb++;	/* count first */
	}
	for (j = 0; j < p->nplens; j++) {
		size_t n = p->plens[j].nb, nb = 16;

		while (nb < n * 2)
			nb *= 2;
		p->plens[j].nb = nb;
		p->plens[j].tab = xcalloc(nb, sizeof(int));
	}
	for (i = 0; i < p->ncidrs; i++) {
		cidr *c = &p->cidrs[i];
		size_t b;

		for (j = 0; j < p->nplens; j++)
			if (p->plens[j].family == c->family
			    && p->plens[j].prefix == c->prefix)
				break;
		b = mask_hash(c->family, c->addr, c->prefix)
		    & (p->plens[j].nb - 1);
		while (p->plens[j].tab[b] != 0)
			b = (b + 1) & (p->plens[j].nb - 1);
		p->plens[j].tab[b] = i + 1;
	}
	/* the CIDRs are sorted most specific first: so are the lengths */
}

/* cidr_match - is addr (text) inside c? */
static int
cidr_match(const cidr *c, int family, const unsigned char *addr)
{
	int full = c->prefix / 8, rest = c->prefix % 8;

	if (c->family != family)
		return 0;
	if (memcmp(c->addr, addr, (size_t)full) != 0)
		return 0;
	if (rest && ((c->addr[full] ^ addr[full]) & (0xff00 >> rest) & 0xff))
		return 0;
	return 1;
}

/* cmp_cidr - most specific first, then by address (a stable file order) */
static int
cmp_cidr(const void *x, const void *y)
{
	const cidr *a = x, *b = y;
	int r;

	if (a->family != b->family)
		return a->family == AF_INET ? -1 : 1;
	if (a->prefix != b->prefix)
		return b->prefix - a->prefix;
	r = memcmp(a->addr, b->addr, 16);
	return r;
}

/* name_hash - FNV-1a of the lower-cased name */
static size_t
name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 'A' && c <= 'Z')
			c += 32;
		h = (h ^ c) * 16777619u;
	}
	/* the index masks the low bits: mix the high ones in */
	h ^= h >> 16;
	h *= 0x45d9f3bu;
	h ^= h >> 16;
	return h;
}

/* index_users - the name index (case-insensitive, as Postfix folds keys) */
static void
index_users(rul_policy *p)
{
	int i;

	p->ibuckets = 16;
	while (p->ibuckets < (size_t)p->nusers * 2)
		p->ibuckets *= 2;
	p->index = xcalloc(p->ibuckets, sizeof(int));
	for (i = 0; i < p->nusers; i++) {
		size_t b = name_hash(p->users[i].name) & (p->ibuckets - 1);

		while (p->index[b] != 0)
			b = (b + 1) & (p->ibuckets - 1);
		p->index[b] = i + 1;
	}
}

/* rul_new - build the policy of a loaded configuration */
rul_policy *
rul_new(const rg_config *cfg, char *err, size_t errsz)
{
	rul_policy *p = xcalloc(1, sizeof(*p));
	int i, j;

	p->cfg = cfg;
	p->fold_utf8 = 1;	/* Postfix's default (compatibility_level >= 1) */
	p->users = xcalloc((size_t)(cfg->nusers ? cfg->nusers : 1),
	    sizeof(rul_user));
	p->mctx = pcre2_match_context_create(NULL);
	pcre2_set_match_limit(p->mctx, REGEX_MATCH_LIMIT);
	for (i = 0; i < cfg->nusers; i++) {
		const rg_user_cfg *uc = &cfg->users[i];
		rul_user *u = &p->users[p->nusers++];

		u->cfg = uc;
		u->name = uc->name;
		u->type = strcmp(uc->type, "ip") == 0 ? RUL_IP
		    : strcmp(uc->type, "domain") == 0 ? RUL_DOMAIN : RUL_SASL;
		if (u->type == RUL_IP) {
			int n = uc->addresses.n;

			for (j = 0; j < (n ? n : 1); j++) {
				const char *t = n ? uc->addresses.v[j] : uc->name;
				cidr c;
				char a[INET6_ADDRSTRLEN + 8], why[160];

				if (parse_cidr(t, &c, why, sizeof(why)) != 0) {
					snprintf(err, errsz, "%s:%d: [user %s]: "
					    "'%s' is not an address or CIDR: %s",
					    cfg->file ? cfg->file : "config",
					    uc->line, uc->name, t, why);
					rul_free(p);
					return NULL;
				}
				inet_ntop(c.family, c.addr, a, sizeof(a));
				snprintf(a + strlen(a), 8, "/%d", c.prefix);
				c.text = xstrdup(a);
				c.owner = u;
				p->cidrs = xrealloc(p->cidrs, (size_t)(p->ncidrs + 1)
				    * sizeof(cidr));
				p->cidrs[p->ncidrs++] = c;
			}
		}
	}
	index_users(p);
	if (p->ncidrs > 1)
		qsort(p->cidrs, (size_t)p->ncidrs, sizeof(cidr), cmp_cidr);
	for (i = 1; i < p->ncidrs; i++) {
		if (cmp_cidr(&p->cidrs[i - 1], &p->cidrs[i]) == 0) {
			snprintf(err, errsz, "%s:%d: [user %s]: %s is also "
			    "[user %s]'s", cfg->file ? cfg->file : "config",
			    p->cidrs[i].owner->cfg->line, p->cidrs[i].owner->name,
			    p->cidrs[i].text, p->cidrs[i - 1].owner->name);
			rul_free(p);
			return NULL;
		}
	}
	index_cidrs(p);
	p->cidr_texts = xcalloc((size_t)p->ncidrs + 1, sizeof(char *));
	p->cidr_owners = xcalloc((size_t)p->ncidrs + 1, sizeof(rul_user *));
	for (i = 0; i < p->ncidrs; i++) {
		p->cidr_texts[i] = p->cidrs[i].text;
		p->cidr_owners[i] = p->cidrs[i].owner;
	}
	p->hdrs = xcalloc((size_t)(cfg->nidheaders ? cfg->nidheaders : 1),
	    sizeof(idheader));
	for (i = 0; i < cfg->nidheaders; i++) {
		const rg_idheader_cfg *hc = &cfg->idheaders[i];
		idheader *h = &p->hdrs[p->nhdrs++];
		int ec;
		PCRE2_SIZE eo;
		uint32_t ncap = 0;

		h->cfg = hc;
		if (*hc->regex == '\0')
			continue;
		h->re = pcre2_compile((PCRE2_SPTR)hc->regex,
		    PCRE2_ZERO_TERMINATED, 0,
		    &ec, &eo, NULL);
		if (h->re == NULL) {
			PCRE2_UCHAR msg[256];

			pcre2_get_error_message(ec, msg, sizeof(msg));
			snprintf(err, errsz, "%s:%d: [identity_header %s]: regex: "
			    "%s at offset %zu", cfg->file ? cfg->file : "config",
			    hc->line, hc->name, (char *)msg, (size_t)eo);
			rul_free(p);
			return NULL;
		}
		pcre2_pattern_info(h->re, PCRE2_INFO_CAPTURECOUNT, &ncap);
		if (ncap < 1) {
			snprintf(err, errsz, "%s:%d: [identity_header %s]: regex "
			    "needs a capture group: the identity", cfg->file ?
			    cfg->file : "config", hc->line, hc->name);
			rul_free(p);
			return NULL;
		}
		pcre2_jit_compile(h->re, PCRE2_JIT_COMPLETE);
		h->md = pcre2_match_data_create_from_pattern(h->re, NULL);
	}
	return p;
}

/*
 * rul_load - the configuration of file, checked through to its policy.
 * NULL and *nerrors > 0 (each reported on errors) if anything is wrong;
 * else the configuration, and its policy in *polp if polp is not NULL.
 */
rg_config *
rul_load(const char *file, FILE *errors, int *nerrors, rul_policy **polp)
{
	rg_config *cfg;
	rul_policy *p;
	char err[1024];

	if (polp != NULL)
		*polp = NULL;
	if ((cfg = cfg_load(file, errors, nerrors)) == NULL)
		return NULL;
	if ((p = rul_new(cfg, err, sizeof(err))) == NULL) {
		if (errors != NULL)
			fprintf(errors, "%s\n", err);
		*nerrors = 1;
		cfg_free(cfg);
		return NULL;
	}
	if (polp != NULL)
		*polp = p;
	else
		rul_free(p);
	return cfg;
}

/* rul_user_named - the user of that name (case-insensitive), NULL if none */
const rul_user *
rul_user_named(const rul_policy *p, const char *name)
{
	size_t b;

	if (name == NULL || p->index == NULL)
		return NULL;
	for (b = name_hash(name) & (p->ibuckets - 1); p->index[b] != 0;
	    b = (b + 1) & (p->ibuckets - 1))
		if (strcasecmp(p->users[p->index[b] - 1].name, name) == 0)
			return &p->users[p->index[b] - 1];
	return NULL;
}

/* rul_user_index - the number of a user of this policy (rul_user_at) */
int
rul_user_index(const rul_policy *p, const rul_user *u)
{
	return (int)(u - p->users);
}

/* rul_user_of - the user a message belongs to, NULL if unassigned */
const rul_user *
rul_user_of(const rul_policy *p, const char *sasl, const char *client_ip,
    const char *sender)
{
	const rul_user *u;
	int i;

	if (sasl != NULL && (u = rul_user_named(p, sasl)) != NULL
	    && u->type != RUL_IP)
		return u;
	if (client_ip != NULL && p->ncidrs > 0) {
		unsigned char a[16];
		int fam = strchr(client_ip, ':') ? AF_INET6 : AF_INET;

		memset(a, 0, sizeof(a));
		if (inet_pton(fam, client_ip, a) == 1) {
			/* most specific prefix length first */
			for (i = 0; i < p->nplens; i++) {
				const struct plen *pl = &p->plens[i];
				size_t b;

				if (pl->family != fam)
					continue;
				for (b = mask_hash(fam, a, pl->prefix) & (pl->nb - 1);
				    pl->tab[b] != 0; b = (b + 1) & (pl->nb - 1))
					if (cidr_match(&p->cidrs[pl->tab[b] - 1], fam,
					    a))
						return p->cidrs[pl->tab[b] - 1].owner;
			}
		}
	}
	if (sender != NULL) {
		const char *at = strrchr(sender, '@');

		if (at != NULL && (u = rul_user_named(p, at + 1)) != NULL
		    && u->type == RUL_DOMAIN && u->cfg->match_sender_domain)
			return u;
	}
	return NULL;
}

/* rul_nusers - how many users */
int
rul_nusers(const rul_policy *p)
{
	return p->nusers;
}

/* rul_user_at - the i-th user, in file order */
const rul_user *
rul_user_at(const rul_policy *p, int i)
{
	return i >= 0 && i < p->nusers ? &p->users[i] : NULL;
}

/* rul_header_cfg - an identity header's settings */
const rg_idheader_cfg *
rul_header_cfg(const rul_policy *p, const char *name)
{
	int i;

	for (i = 0; i < p->nhdrs; i++)
		if (strcasecmp(p->hdrs[i].cfg->name, name) == 0)
			return p->hdrs[i].cfg;
	return NULL;
}

/* rul_header_identity - the identity in one header value (whole, or capture) */
int
rul_header_identity(const rul_policy *p, const char *name, const char *value,
    char *out, size_t outsz)
{
	int i, rc;

	for (i = 0; i < p->nhdrs; i++) {
		idheader *h = &p->hdrs[i];
		PCRE2_SIZE *ov;

		if (strcasecmp(h->cfg->name, name) != 0 || h->re == NULL)
			continue;
		rc = pcre2_match(h->re, (PCRE2_SPTR)value, PCRE2_ZERO_TERMINATED,
		    0, 0, h->md, p->mctx);
		if (rc < 2)
			return 0;	/* no match, no capture, or a limit hit */
		ov = pcre2_get_ovector_pointer(h->md);
		if (ov[2] == PCRE2_UNSET || ov[3] - ov[2] + 1 > outsz
		    || ov[3] == ov[2])
			return 0;
		memcpy(out, value + ov[2], ov[3] - ov[2]);
		out[ov[3] - ov[2]] = '\0';
		return 1;
	}
	if (strlen(value) + 1 > outsz || *value == '\0')
		return 0;
	snprintf(out, outsz, "%s", value);
	return 1;
}

/* rul_set_fold_utf8 - fold identities as Postfix with smtputf8_enable */
void
rul_set_fold_utf8(rul_policy *p, int utf8)
{
	p->fold_utf8 = utf8 != 0;
}

/* rul_fold_utf8 - the folding in use: 1 Unicode, 0 ASCII only */
int
rul_fold_utf8(const rul_policy *p)
{
	return p->fold_utf8;
}

/*
 * folded - an address or login as Postfix's lookup will see it: folded
 * (spam@, Spam@ and sPam@ are one key to Postfix, so one identity here)
 */
static int
folded(const rul_policy *p, const char *s, char *out, size_t outsz)
{
	char *f;
	int ok;

	if (s == NULL || *s == '\0' || (f = rg_casefold(s, p->fold_utf8)) == NULL)
		return 0;
	ok = strlen(f) < outsz;
	if (ok)
		snprintf(out, outsz, "%s", f);
	free(f);
	return ok;
}

/* rul_identity - the identity of a message inside its user */
int
rul_identity(const rul_policy *p, const rul_user *u, const char *sender,
    const char *sasl, const rul_header *hdrs, int nhdrs, char *out,
    size_t outsz, const char **header_name)
{
	const char *id = u->cfg->identification;
	int i, j;

	*header_name = NULL;
	if (strcmp(id, "envelope_sender") == 0)
		return folded(p, sender, out, outsz);
	if (strcmp(id, "auth_user") == 0)
		return folded(p, sasl, out, outsz);
	/* header: the first configured header present wins */
	for (j = 0; j < u->cfg->identity_headers.n; j++) {
		const char *hn = u->cfg->identity_headers.v[j];

		for (i = 0; i < nhdrs; i++) {
			if (strcasecmp(hdrs[i].name, hn) != 0)
				continue;
			if (hdrs[i].cut)
				return 0;	/* never a cut-off prefix */
			*header_name = hn;
			return rul_header_identity(p, hn, hdrs[i].value, out, outsz);
		}
	}
	return 0;
}

/*
 * rul_verdict_trusted - does a verdict source count as spam? The one
 * definition of a trusted verdict: its source is named in [global]
 * trusted_verdicts. The collector stores it (messages.spam, verdicts.
 * trusted), the analyzer and the queries count by it.
 */
int
rul_verdict_trusted(const rg_config *cfg, const char *source)
{
	int i;

	if (source == NULL)
		return 0;
	for (i = 0; i < cfg->trusted_verdicts.n; i++)
		if (strcmp(cfg->trusted_verdicts.v[i], source) == 0)
			return 1;
	return 0;
}

/* rul_trusted - does a verdict source count? (rul_verdict_trusted) */
int
rul_trusted(const rul_policy *p, const char *source)
{
	return rul_verdict_trusted(p->cfg, source);
}

/* rul_never_lock - is the user on the never-lock list? */
int
rul_never_lock(const rul_policy *p, const char *user)
{
	int i;

	for (i = 0; i < p->cfg->never_lock.n; i++)
		if (strcasecmp(p->cfg->never_lock.v[i], user) == 0)
			return 1;
	return 0;
}

/* rul_cidrs - every IP user's CIDR, most specific first */
int
rul_cidrs(const rul_policy *p, const char ***cidrs, const rul_user ***owners)
{
	*cidrs = p->cidr_texts;
	*owners = p->cidr_owners;
	return p->ncidrs;
}

/*
 * rul_cidr_within - does CIDR number outer (of rul_cidrs) hold all of
 * number inner? (the same family, no longer prefix, the same network)
 */
int
rul_cidr_within(const rul_policy *p, int inner, int outer)
{
	const cidr *i = &p->cidrs[inner], *o = &p->cidrs[outer];
	int full = o->prefix / 8, rest = o->prefix % 8;

	if (i->family != o->family || o->prefix > i->prefix)
		return 0;
	if (memcmp(i->addr, o->addr, (size_t)full) != 0)
		return 0;
	return rest == 0 || ((i->addr[full] ^ o->addr[full])
	    & (unsigned char)(0xff << (8 - rest))) == 0;
}

/* rul_free - release; NULL is a no-op */
void
rul_free(rul_policy *p)
{
	int i;

	if (p == NULL)
		return;
	for (i = 0; i < p->ncidrs; i++)
		free(p->cidrs[i].text);
	free(p->cidrs);
	for (i = 0; i < p->nplens; i++)
		free(p->plens[i].tab);
	free(p->plens);
	free(p->cidr_texts);
	free(p->cidr_owners);
	for (i = 0; i < p->nhdrs; i++) {
		pcre2_match_data_free(p->hdrs[i].md);
		pcre2_code_free(p->hdrs[i].re);
	}
	free(p->hdrs);
	pcre2_match_context_free(p->mctx);
	free(p->index);
	free(p->users);
	free(p);
}
