/*
 * tables.c - the report's tables, one row at a time: Summary (per user,
 * then its identities), Relays (per relay host), Quarantine (streamed
 * from the store), Locks (the events) and Daily (the chart's data). Every text cell is cleaned
 * (rep_clean); the writers decide how each becomes a cell.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/xalloc.h"
#include "report_int.h"

static const rep_col summary_cols[] = {
	{ "User", C_TEXT }, { "Identity", C_TEXT }, { "Messages", C_INT },
	{ "Recipients", C_INT }, { "Sent", C_INT }, { "Bounced", C_INT },
	{ "Deferred", C_INT }, { "Rejected", C_INT }, { "Spam", C_INT },
	{ "Quarantined", C_INT }, { "Locks", C_INT },
};

static const rep_col quarantine_cols[] = {
	{ "Time", C_TIME }, { "Queue ID", C_TEXT }, { "User", C_TEXT },
	{ "Identity", C_TEXT }, { "Sender", C_TEXT }, { "Recipients", C_TEXT },
	{ "Subject", C_TEXT }, { "Size", C_INT }, { "Score", C_NUM },
	{ "Symbols", C_TEXT }, { "Filter", C_TEXT }, { "State", C_TEXT },
	{ "Relay", C_TEXT },
};

static const rep_col relays_cols[] = {
	{ "Relay", C_TEXT }, { "Messages", C_INT }, { "Recipients", C_INT },
	{ "Sent", C_INT }, { "Bounced", C_INT }, { "Deferred", C_INT },
	{ "Rejected", C_INT }, { "Spam", C_INT }, { "Quarantined", C_INT },
};

static const rep_col locks_cols[] = {
	{ "Time", C_TIME }, { "Action", C_TEXT }, { "Kind", C_TEXT },
	{ "User", C_TEXT }, { "Identity", C_TEXT }, { "Rule", C_TEXT },
	{ "Detail", C_TEXT },
};

#define NCOLS(a) ((int)(sizeof(a) / sizeof(a[0])))

/* set_cols - a fixed column list */
static void
set_cols(rep_table *t, const rep_col *c, int n)
{
	memcpy(t->cols, c, (size_t)n * sizeof(*c));
	t->ncols = n;
}

/* rep_table_open - start table id of d */
int
rep_table_open(rep_table *t, rep_data *d, enum rep_table_id id, char *err,
    size_t errsz)
{
	int i;

	memset(t, 0, sizeof(*t));
	t->id = id;
	t->d = d;
	for (i = 0; i < REP_MAXCOLS; i++)
		sb_init(&t->buf[i]);
	switch (id) {
	case TB_SUMMARY:
		t->name = "Summary";
		set_cols(t, summary_cols, NCOLS(summary_cols));
		break;
	case TB_RELAYS:
		t->name = "Relays";
		set_cols(t, relays_cols, NCOLS(relays_cols));
		break;
	case TB_QUARANTINE:
		t->name = "Quarantine";
		set_cols(t, quarantine_cols, NCOLS(quarantine_cols));
		t->it = rps_messages(d->st, d->o.since, d->o.until, 1, err,
		    errsz);
		if (t->it == NULL)
			return -1;
		break;
	case TB_LOCKS:
		t->name = "Locks";
		set_cols(t, locks_cols, NCOLS(locks_cols));
		t->it = rps_events(d->st, d->o.since, d->o.until, err, errsz);
		if (t->it == NULL)
			return -1;
		break;
	case TB_DAILY:
		t->name = "Daily";
		t->cols[0].name = "Day";
		t->cols[0].type = C_DAY;
		for (i = 0; i < d->ntop; i++) {
			sb_reset(&t->buf[0]);
			rep_clean(&t->buf[0], rep_user_name(d, d->top[i]));
			t->own[1 + i] = xstrdup(t->buf[0].s ? t->buf[0].s : "");
			t->cols[1 + i].name = t->own[1 + i];
			t->cols[1 + i].type = C_INT;
			t->own[1 + d->ntop + i] = xstrdup(t->own[1 + i]);
			t->cols[1 + d->ntop + i].name = t->own[1 + d->ntop + i];
			t->cols[1 + d->ntop + i].type = C_INT;
		}
		t->ncols = 1 + 2 * d->ntop;
		break;
	}
	return 0;
}

/* text - cell k is the cleaned text s */
static void
text(rep_table *t, int k, const char *s)
{
	rep_clean(&t->buf[k], s);
	t->cells[k].s = t->buf[k].s ? t->buf[k].s : "";
}

/* num - cell k is the number v */
static void
num(rep_table *t, int k, double v)
{
	t->cells[k].s = NULL;
	t->cells[k].n = v;
}

/* summary_row - the next row of the Summary */
static int
summary_row(rep_table *t)
{
	rep_data *d = t->d;
	const rep_tot *tot;
	const char *user, *ident;
	int k, i;

	/* pos: the user's place in order; ipos: the next identity */
	for (;;) {
		if (t->pos >= (size_t)d->norder)
			return 0;
		k = d->order[t->pos];
		if (!t->sub) {
			t->sub = 1;
			while (t->ipos < d->nident
			    && d->rank[d->idents[t->ipos]->user] < (int)t->pos)
				t->ipos++;
			tot = &d->users[k];
			ident = "";
			break;
		}
		if (t->ipos < d->nident && d->idents[t->ipos]->user == k) {
			tot = &d->idents[t->ipos]->t;
			ident = d->idents[t->ipos]->name;
			t->ipos++;
			break;
		}
		t->pos++;
		t->sub = 0;
	}
	user = rep_user_name(d, k);
	text(t, 0, user);
	text(t, 1, ident);
	for (i = 0; i < T__COUNT; i++)
		num(t, 2 + i, (double)tot->v[i]);
	return 1;
}

/* quarantine_row - the next held or refused spam message of the period */
static int
quarantine_row(rep_table *t)
{
	rep_data *d = t->d;
	rps_msg m;
	char ident[512];
	double v;
	int k, rc;

	while ((rc = rps_msg_next(t->it, &m)) == 1) {
		k = rep_user_of(d, t->it, &m, ident, sizeof(ident));
		if (d->only >= 0 && k != d->only)
			continue;
		num(t, 0, rep_excel_time(m.first_seen));
		text(t, 1, m.queue_id ? m.queue_id : "NOQUEUE");
		text(t, 2, rep_user_name(d, k));
		text(t, 3, ident);
		text(t, 4, m.sender);
		text(t, 5, m.recipients);
		text(t, 6, m.subject);
		if (m.size < 0)
			text(t, 7, "");
		else
			num(t, 7, (double)m.size);
		if (m.v_score == NULL)
			text(t, 8, "");
		else if (rep_number(m.v_score, &v))
			num(t, 8, v);
		else
			text(t, 8, m.v_score);
		text(t, 9, m.v_symbols);
		text(t, 10, m.v_source);
		text(t, 11, rps_state_name(m.state));
		text(t, 12, m.host);
		return 1;
	}
	if (rc < 0)
		snprintf(t->err, sizeof(t->err), "%s", rps_strerror(t->it));
	return rc;
}

/* locks_row - the next event of the period */
static int
locks_row(rep_table *t)
{
	rep_data *d = t->d;
	rps_event e;
	const rul_user *u;
	int rc, k;

	while ((rc = rps_event_next(t->it, &e)) == 1) {
		k = e.user && (u = rul_user_named(d->pol, e.user)) != NULL
		    ? rul_user_index(d->pol, u) : d->nusers;
		if (d->only >= 0 && k != d->only)
			continue;
		num(t, 0, rep_excel_time(e.ts));
		text(t, 1, e.action);
		text(t, 2, e.kind);
		text(t, 3, e.user);
		text(t, 4, e.identity);
		text(t, 5, e.rule);
		text(t, 6, e.detail);
		return 1;
	}
	if (rc < 0)
		snprintf(t->err, sizeof(t->err), "%s", rps_strerror(t->it));
	return rc;
}

/* relays_row - the next relay: its totals (no locks: they are per user) */
static int
relays_row(rep_table *t)
{
	rep_data *d = t->d;
	const rep_relay *r;
	int i;

	if (t->pos >= d->nrelay)
		return 0;
	r = d->relays[t->pos++];
	text(t, 0, r->name);
	for (i = 0; i < T_LOCKS; i++)
		num(t, 1 + i, (double)r->t.v[i]);
	return 1;
}

/* daily_row - one day: spam, then quarantined, of each top user */
static int
daily_row(rep_table *t)
{
	rep_data *d = t->d;
	int i, *dy;

	if (t->pos >= (size_t)d->ndays)
		return 0;
	num(t, 0, (double)(d->day0 + (long long)t->pos) + 25569.0);
	for (i = 0; i < d->ntop; i++) {
		dy = d->daily[d->top[i]];
		num(t, 1 + i, dy ? dy[t->pos * 2] : 0);
		num(t, 1 + d->ntop + i, dy ? dy[t->pos * 2 + 1] : 0);
	}
	t->pos++;
	return 1;
}

/* rep_table_next - the next row into t->cells: 1, 0 at the end, -1 */
int
rep_table_next(rep_table *t)
{
	switch (t->id) {
	case TB_SUMMARY:
		return summary_row(t);
	case TB_QUARANTINE:
		return quarantine_row(t);
	case TB_LOCKS:
		return locks_row(t);
	case TB_DAILY:
		return daily_row(t);
	case TB_RELAYS:
		return relays_row(t);
	}
	return -1;
}

/* rep_table_close - release a table */
void
rep_table_close(rep_table *t)
{
	int i;

	rps_free(t->it);
	t->it = NULL;
	for (i = 0; i < REP_MAXCOLS; i++) {
		sb_free(&t->buf[i]);
		free(t->own[i]);
		t->own[i] = NULL;
	}
}
