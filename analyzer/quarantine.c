/*
 * quarantine.c - the hold queue as the quarantine (see quarantine.h). Owns
 * nothing between calls; the children it runs go through the analyzer's
 * one process runner (ana_command: command_directory, an argument vector,
 * command_timeout, the process group killed). A Postfix command that fails is reported with its exit status
 * and what it said on standard error.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/json.h"
#include "../common/rgtime.h"
#include "../common/xalloc.h"
#include "../store/report.h"
#include "analyze.h"
#include "quarantine.h"

/*
 * run_postfix - one Postfix command: argv is {PROG, "-c", DIR, ARGS...},
 * run as command_directory/PROG through the common runner (ana_command,
 * bounded by command_timeout); 0, or -1 with what it said in err
 */
static int
run_postfix(const rg_config *cfg, char *const argv[], strbuf *out,
    char *err, size_t errsz)
{
	int code;

	if (ana_command(cfg, argv[0], (const char *const *)argv + 3, out,
	    &code, err, errsz) != 0)
		return -1;
	return code == 0 ? 0 : -1;
}

typedef struct qentry {
	char qid[64], qname[32], sender[1024];
	long long arrival;
} qentry;

/* read_queue - postqueue -j: every queued message */
static int
read_queue(const rg_config *cfg, qentry **v, size_t *n, char *err,
    size_t errsz)
{
	char *argv[] = { "postqueue", "-c",
	    (char *)cfg->postfix_config_directory, "-j", NULL };
	strbuf out;
	char *line, *save = NULL;

	*v = NULL;
	*n = 0;
	sb_init(&out);
	if (run_postfix(cfg, argv, &out, err, errsz) != 0) {
		sb_free(&out);
		return -1;
	}
	for (line = out.s ? strtok_r(out.s, "\n", &save) : NULL; line;
	    line = strtok_r(NULL, "\n", &save)) {
		qentry e;
		json_value *o;
		const char *q, *qn, *snd;
		char jerr[128];
		double arr;

		/* one JSON object per line; a line that is not one is skipped */
		if ((o = json_parse(line, strlen(line), jerr, sizeof(jerr)))
		    == NULL)
			continue;
		memset(&e, 0, sizeof(e));
		if ((q = json_str(o, "queue_id")) == NULL
		    || (qn = json_str(o, "queue_name")) == NULL) {
			json_free(o);
			continue;
		}
		snprintf(e.qid, sizeof(e.qid), "%s", q);
		snprintf(e.qname, sizeof(e.qname), "%s", qn);
		if ((snd = json_str(o, "sender")) != NULL)
			snprintf(e.sender, sizeof(e.sender), "%s", snd);
		if (json_num(o, "arrival_time", &arr) == 0 && arr >= 0
		    && arr < 1e11)
			e.arrival = (long long)arr * RG_USEC;
		json_free(o);
		*v = xrealloc(*v, (*n + 1) * sizeof(**v));
		(*v)[(*n)++] = e;
	}
	sb_free(&out);
	return 0;
}

/* find_queue - the queue entry of a queue ID, or NULL */
static qentry *
find_queue(qentry *v, size_t n, const char *qid)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].qid, qid) == 0)
			return &v[i];
	return NULL;
}

/* dup0 - a copy of s, "" for NULL */
static char *
dup0(const char *s)
{
	return xstrdup(s ? s : "");
}

/* add_entry - one entry at the end of the list */
static qr_entry *
add_entry(qr_list *l)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	memset(&l->v[l->n], 0, sizeof(*l->v));
	return &l->v[l->n++];
}

/* user_name - the configured user of a stored message, or "" */
static const char *
user_name(const rul_policy *pol, const char *sasl, const char *ip,
    const char *sender)
{
	const rul_user *u = rul_user_of(pol, sasl, ip, sender);

	return u ? u->name : "";
}

/* qr_list_get - the quarantine: the store's held messages and the queue */
int
qr_list_get(const rg_config *cfg, const rul_policy *pol, rg_store *st,
    const qr_filter *f, qr_list *l, char *err, size_t errsz)
{
	qentry *qv;
	unsigned char *seen;
	size_t qn, i;
	rps_iter *it;
	rps_msg m;
	char ev[32];
	int rc;

	memset(l, 0, sizeof(*l));
	if (read_queue(cfg, &qv, &qn, err, errsz) != 0)
		return -1;
	seen = xcalloc(qn + 1, 1);
	if ((it = rps_held(st, f->since, err, errsz)) == NULL) {
		free(qv);
		free(seen);
		return -1;
	}
	while ((rc = rps_msg_next(it, &m)) == 1) {
		qentry *q = m.queue_id ? find_queue(qv, qn, m.queue_id) : NULL;
		const char *u = user_name(pol, m.sasl, m.client_ip, m.sender);
		const char *state;
		qr_entry *e;

		if (q != NULL)
			seen[q - qv] = 1;
		rps_quarantine_event(st, m.queue_id ? m.queue_id : "", ev,
		    sizeof(ev));
		/* the queue says what is true now; the log may lag */
		if (q != NULL)
			state = strcmp(q->qname, "hold") == 0 ? "held"
			    : "released";
		else if (strcmp(ev, "expire") == 0)
			state = "expired";
		else if (m.state == RPS_HELD || m.state == RPS_DELETED)
			state = "deleted";	/* gone from the queue */
		else if (m.state == RPS_EXPIRED)
			state = "expired";
		else
			state = "released";
		if ((f->user && strcmp(f->user, u) != 0)
		    || (f->state && strcmp(f->state, state) != 0))
			continue;
		e = add_entry(l);
		e->queue_id = dup0(m.queue_id);
		e->queue_name = dup0(q ? q->qname : "");
		e->arrival = q ? q->arrival : 0;
		e->first_seen = m.first_seen;
		e->user = dup0(u);
		e->identity = dup0("");
		e->sender = dup0(m.sender);
		e->recipients = dup0(m.recipients);
		e->subject = dup0(m.subject);
		e->score = dup0(m.v_score);
		e->symbols = dup0(m.v_symbols);
		e->size = m.size;
		e->state = state;
	}
	if (rc < 0)
		snprintf(err, errsz, "%s", rps_strerror(it));
	rps_free(it);
	/* held mail the collector has not stored (yet) */
	for (i = 0; rc == 0 && i < qn; i++) {
		qr_entry *e;

		if (seen[i] || strcmp(qv[i].qname, "hold") != 0
		    || qv[i].arrival < f->since || (f->state
		    && strcmp(f->state, "held") != 0) || f->user)
			continue;
		e = add_entry(l);
		e->queue_id = dup0(qv[i].qid);
		e->queue_name = dup0("hold");
		e->arrival = qv[i].arrival;
		e->user = dup0("");
		e->identity = dup0("");
		e->sender = dup0(qv[i].sender);
		e->recipients = dup0("");
		e->subject = dup0("");
		e->score = dup0("");
		e->symbols = dup0("");
		e->size = -1;
		e->state = "held";
	}
	free(qv);
	free(seen);
	if (rc < 0) {
		qr_list_free(l);
		return -1;
	}
	return 0;
}

/* qr_list_free - release a list */
void
qr_list_free(qr_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		qr_entry *e = &l->v[i];

		free(e->queue_id);
		free(e->queue_name);
		free(e->user);
		free(e->identity);
		free(e->sender);
		free(e->recipients);
		free(e->subject);
		free(e->score);
		free(e->symbols);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* lifetime - Postfix's maximal_queue_lifetime in seconds (5d if unknown) */
static long long
lifetime(const rg_config *cfg)
{
	char *argv[] = { "postconf", "-c",
	    (char *)cfg->postfix_config_directory, "-h",
	    "maximal_queue_lifetime", NULL };
	strbuf out;
	char err[256], *end;
	long long v = 5, mul = 86400;

	sb_init(&out);
	if (run_postfix(cfg, argv, &out, err, sizeof(err)) == 0 && out.s) {
		v = strtoll(out.s, &end, 10);
		switch (*end) {
		case 's': mul = 1; break;
		case 'm': mul = 60; break;
		case 'h': mul = 3600; break;
		case 'w': mul = 7 * 86400; break;
		default: mul = 86400; break;	/* d, or no unit */
		}
		if (v < 0 || end == out.s)
			v = 5, mul = 86400;
	}
	sb_free(&out);
	return v * mul;
}

/* qid_ok - a queue ID as Postfix makes them (so it is safe as an argument) */
static int
qid_ok(const char *q)
{
	size_t n = strlen(q);

	return n > 0 && n < 32 && strspn(q, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz") == n;
}

/* qr_act - release or delete one held message; an event and a line */
int
qr_act(const rg_config *cfg, rg_store *st, const qr_entry *e,
    const char *what, long long now, FILE *log, char *err, size_t errsz)
{
	char *argv[8];
	char detail[256], dir[4096];
	const char *rule = what;
	long long age = e->arrival ? (now - e->arrival) / RG_USEC : 0, mql = 0;
	int n = 0;

	if (!qid_ok(e->queue_id)) {
		snprintf(err, errsz, "'%s' is not a queue ID", e->queue_id);
		return -1;
	}
	if (strcmp(e->queue_name, "hold") != 0) {
		snprintf(err, errsz, "%s is not on hold (%s)", e->queue_id,
		    *e->queue_name ? e->queue_name : "not in the queue");
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s", cfg->postfix_config_directory);
	argv[n++] = "postsuper";
	argv[n++] = "-c";
	argv[n++] = dir;
	if (strcmp(what, "delete") == 0 || strcmp(what, "expire") == 0) {
		argv[n++] = "-d";
		argv[n++] = e->queue_id;
		argv[n++] = "hold";
		snprintf(detail, sizeof(detail), "method=postsuper-d age=%llds",
		    age);
	} else {
		/*
		 * -H keeps the arrival time: mail older than
		 * maximal_queue_lifetime (less a day for its retries) would
		 * bounce at its first deferral, so it is re-queued instead
		 */
		mql = lifetime(cfg);
		if (age < mql - (mql > 2 * 86400 ? 86400 : mql / 2)) {
			argv[n++] = "-H";
			snprintf(detail, sizeof(detail), "method=postsuper-H "
			    "age=%llds maximal_queue_lifetime=%llds", age, mql);
		} else {
			argv[n++] = "-r";
			rule = "requeue";
			snprintf(detail, sizeof(detail), "method=postsuper-r "
			    "age=%llds maximal_queue_lifetime=%llds", age, mql);
		}
		argv[n++] = e->queue_id;
	}
	argv[n] = NULL;
	if (run_postfix(cfg, argv, NULL, err, errsz) != 0)
		return -1;
	if (argv[3][1] == 'H' || argv[3][1] == 'r') {
		/*
		 * -H moves it to the deferred queue: deliver it now; -r to
		 * the maildrop queue: wake pickup, which polls only every 60s
		 */
		char *iv[] = { "postqueue", "-c", dir, "-i", e->queue_id, NULL };
		char *kv[] = { "postkick", "-c", dir, "public", "pickup", "W",
		    NULL };
		char ierr[256];

		if (run_postfix(cfg, argv[3][1] == 'H' ? iv : kv, NULL, ierr,
		    sizeof(ierr)) != 0)
			fprintf(log, "action=quarantine rule=flush result=failed "
			    "queue_id=%s\n", e->queue_id);
	}
	fprintf(log, "action=quarantine rule=%s queue_id=%s user=\"%s\" %s\n",
	    rule, e->queue_id, e->user, detail);
	return rps_put_event(st, now, "quarantine", "message",
	    e->user, e->queue_id, rule, detail, err, errsz);
}

/* qr_retention - delete held mail older than quarantine_retention */
int
qr_retention(const rg_config *cfg, const rul_policy *pol, rg_store *st,
    long long now, int dry_run, FILE *log, char *err, size_t errsz)
{
	qr_filter f = { NULL, 0, "held" };
	qr_list l;
	size_t i;
	int rc = 0;

	if (qr_list_get(cfg, pol, st, &f, &l, err, errsz) != 0)
		return -1;
	for (i = 0; i < l.n && rc == 0; i++) {
		qr_entry *e = &l.v[i];

		if (e->arrival == 0 || now - e->arrival
		    <= cfg->quarantine_retention * RG_USEC)
			continue;
		if (dry_run) {
			fprintf(log, "action=quarantine rule=expire queue_id=%s "
			    "user=\"%s\" dry_run=yes\n", e->queue_id, e->user);
			continue;
		}
		rc = qr_act(cfg, st, e, "expire", now, log, err, errsz);
	}
	qr_list_free(&l);
	return rc;
}

/* printable - s with control characters (but newline and tab) as '?' */
static void
printable(FILE *out, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		putc(c == '\n' || c == '\t' || (c >= 0x20 && c != 0x7f) ? c : '?',
		    out);
	}
}

/* qr_show - the headers and the start of the body of a queued message */
int
qr_show(const rg_config *cfg, const char *queue_id, int body_lines,
    FILE *out, char *err, size_t errsz)
{
	char *argv[] = { "postcat", "-c", (char *)cfg->postfix_config_directory,
	    "-hq", (char *)queue_id, NULL };
	strbuf o;
	const char *p;
	int lines = 0;

	if (!qid_ok(queue_id)) {
		snprintf(err, errsz, "'%s' is not a queue ID", queue_id);
		return -1;
	}
	sb_init(&o);
	if (run_postfix(cfg, argv, &o, err, errsz) != 0) {
		sb_free(&o);
		return -1;
	}
	printable(out, o.s ? o.s : "", o.len);
	sb_reset(&o);
	argv[3] = "-bq";
	if (run_postfix(cfg, argv, &o, err, errsz) != 0) {
		sb_free(&o);
		return -1;
	}
	fputs("\n", out);
	for (p = o.s ? o.s : ""; *p && lines < body_lines; lines++) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p + 1) : strlen(p);

		printable(out, p, n);
		p += n;
	}
	if (*p)
		fprintf(out, "[... %zu more bytes]\n", strlen(p));
	sb_free(&o);
	return 0;
}
