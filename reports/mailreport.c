/*
 * mailreport.c - a report into the outbox (report --mail): the file
 * attached (XLSX, CSV or text), a short text summary in the body, to
 * admin_contact (or --to), and each user with report_to its own report
 * only. A report of a period for a recipient is queued once: its outbox
 * ref is report:KIND:PERIOD:USER:RCPT (USER "*" for the whole relay), so a
 * timer that fires twice or catches up after downtime queues nothing new.
 *
 * The attachment is the --output file's bytes when there is one (what was
 * mailed is what was kept), else a file written for the mail in TMPDIR and
 * removed. Errors: -1 with the reason in err; a report already queued is
 * not an error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/rgtime.h"
#include "../common/strbuf.h"
#include "../common/xalloc.h"
#include "../store/outbox.h"
#include "compose.h"
#include "mailreport.h"

typedef struct job {
	const char *user;	/* NULL: the whole relay */
	const char *to;
} job;

/* read_file - a whole file into sb */
static int
read_file(const char *path, strbuf *sb, char *err, size_t errsz)
{
	char buf[65536];
	size_t n;
	FILE *fp;
	int rc = 0;

	if ((fp = fopen(path, "rb")) == NULL) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
		sb_add(sb, buf, n);
	if (ferror(fp)) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		rc = -1;
	}
	fclose(fp);
	return rc;
}

/* file_of - the report in a format, as bytes */
static int
file_of(rep_data *d, enum rep_format format, strbuf *out, char *err,
    size_t errsz)
{
	const char *dir = getenv("TMPDIR");
	char tmp[4096];
	FILE *fp = NULL;
	int fd, rc = -1;

	snprintf(tmp, sizeof(tmp), "%s/relayguard-mail.XXXXXX", dir && *dir
	    ? dir : "/tmp");
	if ((fd = mkstemp(tmp)) < 0) {
		snprintf(err, errsz, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	if (format == REP_XLSX) {
		close(fd);
		if (rep_write_xlsx(d, tmp, err, errsz) != 0)
			goto end;
	} else {
		if ((fp = fdopen(fd, "w")) == NULL) {
			close(fd);
			snprintf(err, errsz, "%s: %s", tmp, strerror(errno));
			goto end;
		}
		if ((format == REP_CSV ? rep_write_csv(d, fp, err, errsz)
		    : rep_write_text(d, fp, err, errsz)) != 0)
			goto end;
		if (fclose(fp) != 0) {
			fp = NULL;
			snprintf(err, errsz, "%s: %s", tmp, strerror(errno));
			goto end;
		}
		fp = NULL;
	}
	rc = read_file(tmp, out, err, errsz);
end:
	if (fp != NULL)
		fclose(fp);
	unlink(tmp);
	return rc;
}

/* queue_one - one recipient's report: 0 queued, 1 queued before, 2 empty */
static int
queue_one(rg_store *st, const rg_config *cfg, const rul_policy *pol,
    const rep_mail_req *r, const job *j, char *err, size_t errsz)
{
	const char *ext = r->format == REP_XLSX ? "xlsx" : r->format == REP_CSV
	    ? "csv" : "txt";
	rep_data *d = r->d, *own = NULL;
	rep_attachment a;
	strbuf ref, file, text, subj, fname;
	char *sum = NULL;
	size_t sumlen = 0;
	FILE *mf;
	ob_mail m;
	int rc = -1, taken, i;

	sb_init(&ref);
	sb_init(&file);
	sb_init(&text);
	sb_init(&subj);
	sb_init(&fname);
	sb_printf(&ref, "report:%s:%s:%s:%s", rep_kind_name(r->o->kind),
	    r->label, j->user ? j->user : "*", j->to);
	if ((taken = ob_ref_taken(st, ref.s, err, errsz)) != 0) {
		if (taken == 1)
			log_info("action=report_mail kind=%s period=%s "
			    "user=\"%s\" to=<%s> result=queued_before",
			    rep_kind_name(r->o->kind), r->label, j->user
			    ? j->user : "*", j->to);
		rc = taken == 1 ? 1 : -1;
		goto end;
	}
	if ((j->user == NULL) != (r->o->user == NULL) || (j->user
	    && strcasecmp(j->user, r->o->user) != 0)) {
		rep_opts o = *r->o;

		o.user = j->user;
		if ((own = rep_build(st, cfg, pol, &o, err, errsz)) == NULL)
			goto end;
		d = own;
	}
	if (r->skip_empty && rep_rows(d) == 0) {
		log_info("action=report_mail kind=%s period=%s user=\"%s\" "
		    "to=<%s> result=empty", rep_kind_name(r->o->kind), r->label,
		    j->user ? j->user : "*", j->to);
		rc = 2;
		goto end;
	}
	if (d == r->d && r->output != NULL) {
		if (read_file(r->output, &file, err, errsz) != 0)
			goto end;
	} else if (file_of(d, r->format, &file, err, errsz) != 0) {
		goto end;
	}
	if ((mf = open_memstream(&sum, &sumlen)) == NULL) {
		snprintf(err, errsz, "open_memstream: %s", strerror(errno));
		goto end;
	}
	rep_write_summary(d, mf);
	fclose(mf);
	sb_add(&text, sum, sumlen);
	if (j->user)
		sb_printf(&text, "\nThis report covers the outgoing user %s "
		    "only.\n", j->user);
	sb_printf(&text, "\nThe full report is attached (%s).\n\n-- \n"
	    "relayguard " RG_VERSION "\n", ext);
	sb_printf(&subj, "[relayguard] %s report, %s%s%s",
	    rep_kind_name(r->o->kind), r->o->title ? r->o->title : r->label,
	    j->user ? ", " : "", j->user ? j->user : "");
	sb_printf(&fname, "relayguard-%s-%s", rep_kind_name(r->o->kind),
	    r->label);
	if (j->user) {
		sb_adds(&fname, "-");
		for (i = 0; j->user[i] && i < 100; i++)
			sb_addc(&fname, strchr("abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.@_-",
			    j->user[i]) ? j->user[i] : '_');
	}
	sb_printf(&fname, ".%s", ext);
	memset(&a, 0, sizeof(a));
	a.kind = "report";
	a.to = j->to;
	a.subject = subj.s;
	a.text = text.s;
	a.fname = fname.s;
	a.ctype = r->format == REP_XLSX ? "application/vnd.openxmlformats-"
	    "officedocument.spreadsheetml.sheet" : r->format == REP_CSV
	    ? "text/csv; charset=utf-8" : "text/plain; charset=utf-8";
	a.data = file.s ? file.s : "";
	a.len = file.len;
	rep_attach_mail(cfg, &a, r->now, &m);
	m.ref = xstrdup(ref.s);
	m.user = j->user ? xstrdup(j->user) : NULL;
	taken = ob_enqueue(st, &m, NULL, err, errsz);
	ob_clear(&m);
	if (taken < 0)
		goto end;
	log_info("action=report_mail kind=%s period=%s user=\"%s\" to=<%s> "
	    "rows=%lld bytes=%zu result=%s", rep_kind_name(r->o->kind),
	    r->label, j->user ? j->user : "*", j->to, rep_rows(d), file.len,
	    taken ? "queued_before" : "queued");
	rc = taken;
end:
	rep_free(own);
	free(sum);
	sb_free(&ref);
	sb_free(&file);
	sb_free(&text);
	sb_free(&subj);
	sb_free(&fname);
	return rc;
}

/* rep_mail_report - queue the report for its recipients */
int
rep_mail_report(rg_store *st, const rg_config *cfg, const rul_policy *pol,
    const rep_mail_req *r, int *queued, char *err, size_t errsz)
{
	job *jobs;
	int n = 0, i, rc = 0, k;
	const rul_user *u;

	*queued = 0;
	jobs = xcalloc((size_t)rul_nusers(pol) + 1, sizeof(*jobs));
	if (r->to != NULL) {
		jobs[n].user = r->o->user;
		jobs[n++].to = r->to;
	} else if (r->o->user != NULL) {
		u = rul_user_named(pol, r->o->user);
		jobs[n].user = u ? u->name : r->o->user;
		jobs[n++].to = u && *u->cfg->report_to ? u->cfg->report_to
		    : cfg->admin_contact;
		if (jobs[0].to == NULL || *jobs[0].to == '\0')
			n = 0;
	} else {
		if (cfg->admin_contact && *cfg->admin_contact) {
			jobs[n].user = NULL;
			jobs[n++].to = cfg->admin_contact;
		}
		for (i = 0; i < rul_nusers(pol); i++) {
			u = rul_user_at(pol, i);
			if (*u->cfg->report_to == '\0')
				continue;
			jobs[n].user = u->name;
			jobs[n++].to = u->cfg->report_to;
		}
	}
	if (n == 0) {
		snprintf(err, errsz, "no one to mail it to: set admin_contact "
		    "(or a user's report_to), or give --to");
		free(jobs);
		return -2;
	}
	for (i = 0; i < n && rc == 0; i++) {
		if ((k = queue_one(st, cfg, pol, r, &jobs[i], err, errsz)) < 0)
			rc = -1;
		else if (k == 0)
			(*queued)++;
	}
	free(jobs);
	return rc;
}
