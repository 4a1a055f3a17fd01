/*
 * idclass.c - the pool of restriction classes that scopes envelope-sender
 * identity locks to their user (see idclass.h). Owns the ana_classes rows
 * and the rg_senders_K tables; a database error is returned, a table that
 * cannot be written is returned as map_write's error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/xalloc.h"
#include "../store/classes.h"
#include "map_pgsql.h"
#include "idclass.h"

#define ICL_CLASS	"rg_c"		/* rg_cK: the class in main.cf */
#define ICL_TABLE	"rg_senders_"	/* rg_senders_K: its sender table */
#define ICL_PTABLE	"rg_senders_pcre_" /* the senders no indexed key holds */

typedef struct icl_user {
	const rul_user *u;
	char **ids, **vals;		/* locked identities, their replies */
	int n;
	char *esc;			/* reply of the longest lock */
	long long esc_until;		/* its end, 0: none */
	int user_locked;		/* a user lock wins */
	int cls;			/* its class, -1: none */
	char name[32];			/* "rg_cK" */
} icl_user;

struct icl_pool {
	const rg_config *cfg;
	const rul_policy *pol;
	int nclasses;
	int *slot;			/* user index -> users[] + 1, 0: none */
	icl_user *users;
	int nusers;
};

/* icl_new - an empty pool of [global] identity_lock_classes classes */
icl_pool *
icl_new(const rg_config *cfg, const rul_policy *pol)
{
	icl_pool *p = xcalloc(1, sizeof(*p));

	p->cfg = cfg;
	p->pol = pol;
	p->nclasses = (int)cfg->identity_lock_classes;
	p->slot = xcalloc((size_t)rul_nusers(pol) + 1, sizeof(int));
	return p;
}

/* icl_free - release; NULL is a no-op */
void
icl_free(icl_pool *p)
{
	int i, j;

	if (p == NULL)
		return;
	for (i = 0; i < p->nusers; i++) {
		for (j = 0; j < p->users[i].n; j++) {
			free(p->users[i].ids[j]);
			free(p->users[i].vals[j]);
		}
		free(p->users[i].ids);
		free(p->users[i].vals);
		free(p->users[i].esc);
	}
	free(p->users);
	free(p->slot);
	free(p);
}

/* get - u's entry, made on first use */
static icl_user *
get(icl_pool *p, const rul_user *u)
{
	int k = rul_user_index(p->pol, u);
	icl_user *e;

	if (k < 0)
		return NULL;
	if (p->slot[k] == 0) {
		p->users = xrealloc(p->users, (size_t)(p->nusers + 1)
		    * sizeof(icl_user));
		e = &p->users[p->nusers];
		memset(e, 0, sizeof(*e));
		e->u = u;
		e->cls = -1;
		p->slot[k] = ++p->nusers;
	}
	return &p->users[p->slot[k] - 1];
}

/* find - u's entry, NULL if it has none */
static icl_user *
find(const icl_pool *p, const rul_user *u)
{
	int k = rul_user_index(p->pol, u);

	return k < 0 || p->slot[k] == 0 ? NULL : &p->users[p->slot[k] - 1];
}

/* icl_lock - one locked envelope-sender identity of u */
void
icl_lock(icl_pool *p, const rul_user *u, const char *identity,
    const char *value, long long until)
{
	icl_user *e = get(p, u);

	if (e == NULL)
		return;
	e->ids = xrealloc(e->ids, (size_t)(e->n + 1) * sizeof(char *));
	e->vals = xrealloc(e->vals, (size_t)(e->n + 1) * sizeof(char *));
	e->ids[e->n] = xstrdup(identity);
	e->vals[e->n] = xstrdup(value);
	e->n++;
	/* the escalation answers for the longest of them: none ends first */
	if (e->esc == NULL || (e->esc_until != 0 && (until == 0
	    || until > e->esc_until))) {
		free(e->esc);
		e->esc = xstrdup(value);
		e->esc_until = until;
	}
}

/* icl_user_locked - u's user lock wins over its class */
void
icl_user_locked(icl_pool *p, const rul_user *u)
{
	icl_user *e = get(p, u);

	if (e != NULL)
		e->user_locked = 1;
}

/* cmp_name - users by name (the order new classes are handed out in) */
static int
cmp_name(const void *x, const void *y)
{
	const icl_user *a = *(icl_user *const *)x, *b = *(icl_user *const *)y;

	return strcmp(a->u->name, b->u->name);
}

/* logline - "action=ACTION user=\"U\" REST[ dry_run=yes]" */
static void
logline(FILE *log, const char *action, const char *user, const char *rest,
    int dry_run)
{
	strbuf sb;

	sb_init(&sb);
	sb_printf(&sb, "action=%s user=", action);
	sb_json_str(&sb, user, strlen(user));
	fprintf(log, "%s %s%s\n", sb.s, rest, dry_run ? " dry_run=yes" : "");
	sb_free(&sb);
}

/* store - replace the stored assignments with the pool's */
static int
store(icl_pool *p, rg_store *st, char *err, size_t errsz)
{
	cls_row *v = xcalloc((size_t)p->nusers + 1, sizeof(cls_row));
	int i, n = 0, rc;

	for (i = 0; i < p->nusers; i++) {
		if (p->users[i].cls < 0)
			continue;
		v[n].cls = p->users[i].cls;
		v[n].user = p->users[i].u->name;
		n++;
	}
	rc = cls_replace(st, v, n, err, errsz);
	free(v);
	return rc;
}

/* the stored assignments, as read */
typedef struct stored {
	int *cls;
	char **user;
	int n;
} stored;

/* stored_add - one stored assignment (cls_each) */
static void
stored_add(void *arg, int cls, const char *user)
{
	stored *sv = arg;

	sv->cls = xrealloc(sv->cls, (size_t)(sv->n + 1) * sizeof(int));
	sv->user = xrealloc(sv->user, (size_t)(sv->n + 1) * sizeof(char *));
	sv->cls[sv->n] = cls;
	sv->user[sv->n] = xstrdup(user ? user : "");
	sv->n++;
}

/* icl_assign - keep the stored classes, hand out free ones, escalate */
int
icl_assign(icl_pool *p, rg_store *st, int dry_run, FILE *log, char *err,
    size_t errsz)
{
	char *taken = xcalloc((size_t)p->nclasses + 1, 1);
	char *freed = xcalloc((size_t)p->nclasses + 1, 1);
	icl_user **want = xcalloc((size_t)p->nusers + 1, sizeof(icl_user *));
	stored sv = { NULL, NULL, 0 };
	char rest[256];
	int i, k, nwant = 0, changed = 0, rc = 0;

	if (cls_each(st, stored_add, &sv, err, errsz) != 0) {
		rc = -1;
		goto end;
	}
	for (i = 0; i < sv.n; i++) {
		int c = sv.cls[i];
		const char *name = sv.user[i];
		const rul_user *u = rul_user_named(p->pol, name);
		icl_user *f = u ? find(p, u) : NULL;

		if (f != NULL && f->n > 0 && c >= 0 && c < p->nclasses
		    && !taken[c]) {
			f->cls = c;
			taken[c] = 1;
			continue;
		}
		/* given back: its class rests until the next run */
		if (c >= 0 && c < p->nclasses)
			freed[c] = 1;
		snprintf(rest, sizeof(rest), "class=" ICL_CLASS "%d", c);
		logline(log, "class_release", name, rest, dry_run);
		changed = 1;
	}
	for (i = 0; i < p->nusers; i++)
		if (p->users[i].n > 0 && p->users[i].cls < 0)
			want[nwant++] = &p->users[i];
	if (nwant > 1)
		qsort(want, (size_t)nwant, sizeof(icl_user *), cmp_name);
	for (i = 0, k = 0; i < nwant; i++) {
		while (k < p->nclasses && (taken[k] || freed[k]))
			k++;
		if (k < p->nclasses) {
			want[i]->cls = k;
			taken[k] = 1;
			snprintf(rest, sizeof(rest), "class=" ICL_CLASS "%d "
			    "identities=%d", k, want[i]->n);
			logline(log, "class", want[i]->u->name, rest, dry_run);
			changed = 1;
			continue;
		}
		/* no class free: the whole user, never a global sender entry */
		snprintf(rest, sizeof(rest), "classes=%d identities=%d "
		    "reason=\"every identity lock class is taken: the user's "
		    "whole mail is refused while its envelope-sender identity "
		    "locks last\"", p->nclasses, want[i]->n);
		logline(log, "alert kind=identity_classes", want[i]->u->name,
		    rest, dry_run);
	}
	for (i = 0; i < p->nusers; i++)
		if (p->users[i].cls >= 0)
			snprintf(p->users[i].name, sizeof(p->users[i].name),
			    ICL_CLASS "%d", p->users[i].cls);
	if (changed && !dry_run)
		rc = store(p, st, err, errsz);
end:
	for (i = 0; i < sv.n; i++)
		free(sv.user[i]);
	free(sv.user);
	free(sv.cls);
	free(taken);
	free(freed);
	free(want);
	return rc;
}

/* icl_value - the answer of u's login or networks, NULL: none */
const char *
icl_value(const icl_pool *p, const rul_user *u)
{
	const icl_user *e = find(p, u);

	if (e == NULL || e->user_locked || e->n == 0)
		return NULL;
	return e->cls >= 0 ? e->name : e->esc;
}

/*
 * icl_write - every class's sender tables, empty when the class is free:
 * rg_senders_K (indexed) and rg_senders_pcre_K (pcre, for the senders no
 * indexed key can hold: "a b"@x, #x@y); *reload is set when a pcre table
 * changed (pcre tables are read when a process starts)
 */
int
icl_write(const icl_pool *p, const map_writer_cfg *wc, int dry_run,
    FILE *log, int *nchanged, int *reload, char *err, size_t errsz)
{
	map_set **ms;
	char name[64], e[256];
	int i, j, k, rc = 0, utf8 = rul_fold_utf8(p->pol);

	*nchanged = 0;
	if (p->nclasses <= 0)
		return 0;
	ms = xcalloc((size_t)p->nclasses * 2, sizeof(map_set *));
	for (k = 0; k < p->nclasses; k++) {
		ms[2 * k] = map_set_new(MAP_SENDER);
		ms[2 * k + 1] = map_set_new(MAP_SENDER_PCRE);
		map_set_utf8(ms[2 * k], utf8);
		map_set_utf8(ms[2 * k + 1], utf8);
	}
	for (i = 0; i < p->nusers; i++) {
		const icl_user *u = &p->users[i];
		map_set *to;

		if (u->cls < 0)
			continue;
		for (j = 0; j < u->n; j++) {
			to = map_key_check(MAP_SENDER, u->ids[j], utf8) == NULL
			    ? ms[2 * u->cls] : ms[2 * u->cls + 1];
			if (map_set_add(to, u->ids[j], u->vals[j], e,
			    sizeof(e)) != 0)
				fprintf(log, "action=alert kind=map map=%s%d "
				    "rule=bad_entry result=skipped reason=\"%s\"\n",
				    to == ms[2 * u->cls] ? ICL_TABLE : ICL_PTABLE,
				    u->cls, e);
		}
	}
	for (k = 0; k < 2 * p->nclasses && rc == 0; k++) {
		int changed = 0;

		snprintf(name, sizeof(name), "%s%d", k % 2 ? ICL_PTABLE
		    : ICL_TABLE, k / 2);
		if (dry_run) {
			strbuf sb;

			if (map_set_count(ms[k]) == 0)
				continue;
			sb_init(&sb);
			map_render(ms[k], &sb);
			fprintf(log, "# %s/%s (%s)\n%s", wc->directory, name,
			    map_kind_name(map_set_kind(ms[k])), sb.s);
			sb_free(&sb);
			continue;
		}
		if (map_write(wc, name, ms[k], &changed, err, errsz) != 0) {
			rc = -1;
			break;
		}
		if (changed) {
			(*nchanged)++;
			if (k % 2)
				*reload = 1;
			fprintf(log, "action=map name=%s entries=%zu\n", name,
			    map_set_count(ms[k]));
		}
	}
	for (k = 0; k < 2 * p->nclasses; k++)
		map_set_free(ms[k]);
	free(ms);
	return rc;
}

/*
 * icl_class_line - "rg_cK = check_sender_access ..." and a newline; with
 * enforce = dry-run each check is wrapped in warn_if_reject
 */
static void
icl_class_line(const rg_config *cfg, int k, strbuf *out)
{
	const char *w = cfg_dry_run(cfg) ? "warn_if_reject " : "";
	char t[64], ref[1200];

	/* the table: a map file, or with map_backend = pgsql its query */
	snprintf(t, sizeof(t), ICL_TABLE "%d", k);
	sb_printf(out, ICL_CLASS "%d = %scheck_sender_access %s, "
	    "%scheck_sender_access pcre:%s/" ICL_PTABLE "%d\n", k, w,
	    map_pg_ref(cfg, t, ref, sizeof(ref)), w, cfg->map_directory, k);
}

/* icl_main_cf - smtpd_restriction_classes and one class per table */
void
icl_main_cf(const rg_config *cfg, strbuf *out)
{
	int k, n = (int)cfg->identity_lock_classes;

	if (n <= 0) {
		sb_adds(out, "# identity_lock_classes = 0: an envelope-sender "
		    "identity lock refuses its\n# user's whole mail (no "
		    "restriction classes)\n");
		return;
	}
	sb_printf(out, "# envelope-sender identity locks, each for its own "
	    "user only: analyze\n# gives a user with such locks one of "
	    "these %d classes (its login in\n# sasl_access, its networks in "
	    "client_access answer the class name);\n# add your own classes "
	    "to this list, if you have any\n"
	    "smtpd_restriction_classes =", n);
	for (k = 0; k < n; k++)
		sb_printf(out, "%s" ICL_CLASS "%d", k == 0 ? "\n    "
		    : k % 8 == 0 ? ",\n    " : ", ", k);
	sb_addc(out, '\n');
	for (k = 0; k < n; k++)
		icl_class_line(cfg, k, out);
}

/* has_word - is word an element of a Postfix list (", " or space separated)? */
static int
has_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *s = list;

	while ((s = strstr(s, word)) != NULL) {
		if ((s == list || strchr(" ,\t", s[-1]) != NULL)
		    && (s[n] == '\0' || strchr(" ,\t\n", s[n]) != NULL))
			return 1;
		s += n;
	}
	return 0;
}

/* icl_check_main_cf - is every class of the pool declared and bound? */
int
icl_check_main_cf(const rg_config *cfg, const char *postconf_n, strbuf *out)
{
	const char *s;
	char *classes = NULL, word[32];
	strbuf line;
	int k, n = (int)cfg->identity_lock_classes, problems = 0, missing = 0,
	    first = -1;

	sb_init(&line);
	/* the value of smtpd_restriction_classes */
	for (s = postconf_n; s != NULL && *s != '\0'; ) {
		const char *eol = strchr(s, '\n');
		size_t len = eol ? (size_t)(eol - s) : strlen(s);
		static const char key[] = "smtpd_restriction_classes =";

		if (len >= sizeof(key) - 1 && strncmp(s, key, sizeof(key) - 1)
		    == 0) {
			classes = xstrndup(s + sizeof(key) - 1,
			    len - (sizeof(key) - 1));
			break;
		}
		s = eol ? eol + 1 : NULL;
	}
	for (k = 0; k < n; k++) {
		snprintf(word, sizeof(word), ICL_CLASS "%d", k);
		if (classes == NULL || !has_word(classes, word)) {
			if (missing++ == 0)
				first = k;
			continue;
		}
		sb_reset(&line);
		sb_addc(&line, '\n');
		icl_class_line(cfg, k, &line);
		if (strstr(postconf_n, line.s + 1) != postconf_n
		    && strstr(postconf_n, line.s) == NULL) {
			line.s[line.len - 1] = '\0';
			sb_printf(out, "%s is not \"%s\": that user's envelope-"
			    "sender identity locks are %s\n", word,
			    strchr(line.s, '=') + 2, cfg_dry_run(cfg)
			    ? "not as enforce = dry-run says (warn_if_reject)"
			    : "not enforced");
			problems++;
		}
	}
	if (missing > 0) {
		sb_printf(out, "smtpd_restriction_classes lacks %d of the %d "
		    "identity lock classes (" ICL_CLASS "%d first): a user "
		    "given one gets 451 4.3.5 for every message (run "
		    "postfix-config)\n", missing, n, first);
		problems++;
	}
	free(classes);
	sb_free(&line);
	return problems;
}
