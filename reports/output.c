/*
 * output.c - the report as CSV or as a text table: the table of the
 * report's kind (quarantine: Quarantine, senders: Summary, locks: Locks,
 * relays: Relays).
 *
 * CSV is RFC 4180 (CRLF, a field with a comma, a quote or a line break
 * quoted, quotes doubled). A text field that starts with = + - @ TAB or CR
 * is prefixed with a single quote, so a spreadsheet opening the file never
 * takes it for a formula; numbers (scores may be negative) are written as
 * numbers. Times are local time of the report's zone, YYYY-MM-DD HH:MM:SS.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "report_int.h"

#define TEXT_MAX_WIDTH 40

/* kind_table - the table of the report's kind */
static enum rep_table_id
kind_table(const rep_data *d)
{
	return d->o.kind == REP_QUARANTINE ? TB_QUARANTINE
	    : d->o.kind == REP_LOCKS ? TB_LOCKS : d->o.kind == REP_RELAYS
	    ? TB_RELAYS : TB_SUMMARY;
}

/* fmt_cell - a cell's text (numbers and times formatted) */
static const char *
fmt_cell(const rep_col *col, const rep_cell *c, char *buf, size_t sz)
{
	time_t s;
	struct tm tm;

	if (c->s != NULL)
		return c->s;
	switch (col->type) {
	case C_TIME:
	case C_DAY:
		/* the serial is local time: its fields, read as UTC */
		s = (time_t)floor((c->n - 25569.0) * 86400.0 + 0.0005);
		gmtime_r(&s, &tm);
		strftime(buf, sz, col->type == C_DAY ? "%Y-%m-%d"
		    : "%Y-%m-%d %H:%M:%S", &tm);
		break;
	case C_INT:
		snprintf(buf, sz, "%.0f", c->n);
		break;
	default:
		snprintf(buf, sz, "%.2f", c->n);
		break;
	}
	return buf;
}

/* csv_field - one field, neutralised and quoted as needed */
static void
csv_field(FILE *out, const char *s, int text)
{
	const char *p;

	/* (rep_clean already wrote a TAB or CR as '?') */
	text = text && (*s == '=' || *s == '+' || *s == '-' || *s == '@'
	    || *s == '\t' || *s == '\r');
	if (strpbrk(s, ",\"\r\n") == NULL && !text) {
		fputs(s, out);
		return;
	}
	if (strpbrk(s, ",\"\r\n") == NULL) {
		putc('\'', out);
		fputs(s, out);
		return;
	}
	putc('"', out);
	if (text)
		putc('\'', out);
	for (p = s; *p; p++) {
		if (*p == '"')
			putc('"', out);
		putc(*p, out);
	}
	putc('"', out);
}

/* rep_write_csv - the kind's table as CSV */
int
rep_write_csv(rep_data *d, FILE *out, char *err, size_t errsz)
{
	rep_table t;
	char buf[64];
	int i, rc;

	if (rep_table_open(&t, d, kind_table(d), err, errsz) != 0)
		return -1;
	for (i = 0; i < t.ncols; i++) {
		if (i > 0)
			putc(',', out);
		csv_field(out, t.cols[i].name, 0);
	}
	fputs("\r\n", out);
	while ((rc = rep_table_next(&t)) == 1) {
		for (i = 0; i < t.ncols; i++) {
			if (i > 0)
				putc(',', out);
			csv_field(out, fmt_cell(&t.cols[i], &t.cells[i], buf,
			    sizeof(buf)), t.cells[i].s != NULL);
		}
		fputs("\r\n", out);
	}
	if (rc < 0)
		snprintf(err, errsz, "%s", t.err);
	rep_table_close(&t);
	if (rc == 0 && (fflush(out) != 0 || ferror(out))) {
		snprintf(err, errsz, "writing the report: %s", strerror(errno));
		rc = -1;
	}
	return rc;
}

/* rep_write_text - the kind's table, aligned (two passes: widths, rows) */
int
rep_write_text(rep_data *d, FILE *out, char *err, size_t errsz)
{
	rep_table t;
	size_t w[REP_MAXCOLS], n;
	char buf[64];
	const char *s;
	int i, rc, pass;

	for (pass = 0; pass < 2; pass++) {
		if (rep_table_open(&t, d, kind_table(d), err, errsz) != 0)
			return -1;
		for (i = 0; i < t.ncols; i++) {
			if (pass == 0)
				w[i] = rep_utf8_width(t.cols[i].name);
			else
				fprintf(out, "%s%-*s", i ? " " : "", i == t.ncols
				    - 1 ? 0 : (int)w[i], t.cols[i].name);
		}
		if (pass == 1)
			putc('\n', out);
		while ((rc = rep_table_next(&t)) == 1) {
			for (i = 0; i < t.ncols; i++) {
				s = fmt_cell(&t.cols[i], &t.cells[i], buf,
				    sizeof(buf));
				if (*s == '\0')
					s = "-";
				n = rep_utf8_width(s);
				if (pass == 0) {
					if (n > w[i])
						w[i] = n > TEXT_MAX_WIDTH
						    ? TEXT_MAX_WIDTH : n;
					continue;
				}
				fprintf(out, "%s%s", i ? " " : "", s);
				for (; n < w[i] && i < t.ncols - 1; n++)
					putc(' ', out);
			}
			if (pass == 1)
				putc('\n', out);
		}
		if (rc < 0)
			snprintf(err, errsz, "%s", t.err);
		rep_table_close(&t);
		if (rc < 0)
			return -1;
	}
	return 0;
}

#define SUMMARY_RELAYS 20		/* relay lines in a summary */
#define SUMMARY_NAME 64			/* characters of a relay's name */

/*
 * summary_relays - a line per relay (most messages first, at most
 * SUMMARY_RELAYS); the name from the log lines cleaned and cut
 */
static void
summary_relays(const rep_data *d, FILE *out)
{
	strbuf sb;
	size_t i, n;
	const rep_tot *t;

	if (d->nrelay == 0)
		return;
	sb_init(&sb);
	fprintf(out, "\nrelays %zu:\n", d->nrelay);
	for (i = 0; i < d->nrelay && i < SUMMARY_RELAYS; i++) {
		rep_clean(&sb, d->relays[i]->name);
		n = sb.s ? rep_utf8_width(sb.s) : 0;
		if (n > SUMMARY_NAME) {	/* cut at a character's start */
			size_t k = 0, b;

			for (b = 0; sb.s[b] != '\0'; b++)
				if (((unsigned char)sb.s[b] & 0xc0) != 0x80
				    && k++ == SUMMARY_NAME - 3)
					break;
			sb.len = b;
			sb.s[b] = '\0';
			sb_adds(&sb, "...");
		}
		t = &d->relays[i]->t;
		fprintf(out, "  %s: messages %lld, recipients %lld, sent %lld, "
		    "rejected %lld, spam %lld, quarantined %lld\n",
		    sb.s && *sb.s ? sb.s : "-", t->v[T_MESSAGES], t->v[T_RCPTS],
		    t->v[T_SENT], t->v[T_REJECTED], t->v[T_SPAM],
		    t->v[T_QUARANTINED]);
	}
	if (d->nrelay > SUMMARY_RELAYS)
		fprintf(out, "  and %zu more (the Relays sheet)\n",
		    d->nrelay - SUMMARY_RELAYS);
	sb_free(&sb);
}

/* rep_write_summary - the totals in a few lines (a mail's body) */
void
rep_write_summary(const rep_data *d, FILE *out)
{
	long long tot[T__COUNT];
	int i, k;

	memset(tot, 0, sizeof(tot));
	for (i = 0; i < d->norder; i++)
		for (k = 0; k < T__COUNT; k++)
			tot[k] += d->users[d->order[i]].v[k];
	fprintf(out, "relayguard %s report, %s\n\n", rep_kind_name(d->o.kind),
	    d->o.title ? d->o.title : "");
	fprintf(out, "users %d, messages %lld, recipients %lld, sent %lld, "
	    "bounced %lld, deferred %lld, rejected %lld, spam %lld, "
	    "quarantined %lld, locks %lld\n", d->norder, tot[T_MESSAGES],
	    tot[T_RCPTS], tot[T_SENT], tot[T_BOUNCED], tot[T_DEFERRED],
	    tot[T_REJECTED], tot[T_SPAM], tot[T_QUARANTINED], tot[T_LOCKS]);
	summary_relays(d, out);
}
