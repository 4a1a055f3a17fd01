/*
 * report_int.h - what report.c, tables.c and xlsx.c share: the totals and
 * the tables that the writers stream. Not a public header.
 */
#ifndef RG_REPORT_INT_H
#define RG_REPORT_INT_H

#include <time.h>

#include "../common/hash.h"
#include "../common/strbuf.h"
#include "../store/report.h"
#include "report.h"

enum { T_MESSAGES, T_RCPTS, T_SENT, T_BOUNCED, T_DEFERRED, T_REJECTED,
	T_SPAM, T_QUARANTINED, T_LOCKS, T__COUNT };

typedef struct rep_tot {
	long long v[T__COUNT];
} rep_tot;

typedef struct rep_ident {
	int user;			/* user index (nusers: unassigned) */
	char *name;
	rep_tot t;
} rep_ident;

typedef struct rep_relay {
	char *name;			/* the host name of its log lines */
	rep_tot t;
} rep_relay;

struct rep_data {
	rg_store *st;
	const rg_config *cfg;
	const rul_policy *pol;
	rep_opts o;
	time_t made;			/* when built: every copy of the
					 * workbook says the same (its
					 * "created" property) */
	int nusers;			/* policy users; index nusers: unassigned */
	int only;			/* --user: its index, else -1 */
	rep_tot *users;			/* nusers + 1 */
	rep_ident **itab;		/* identities: open-addressing table */
	size_t icap, nident;
	rep_ident **idents;		/* sorted: by user order, then messages */
	int *order, norder;		/* users with rows, in report order */
	int *rank;			/* user index -> place in order */
	int *top, ntop;			/* the chart's users */
	long long day0;			/* the period's first local day */
	int ndays;
	int **daily;			/* per user: [day * 2] spam, +1 held */
	long long nquarantine, nevents;
	rg_htab rtab;			/* relays by name */
	rep_relay **relays;		/* sorted: most messages first */
	size_t nrelay, rcap;
};

enum rep_ctype { C_TEXT, C_INT, C_NUM, C_TIME, C_DAY };

typedef struct rep_col {
	const char *name;
	enum rep_ctype type;
} rep_col;

typedef struct rep_cell {
	const char *s;			/* text (cleaned), or NULL: a number */
	double n;
} rep_cell;

enum rep_table_id { TB_SUMMARY, TB_QUARANTINE, TB_LOCKS, TB_DAILY,
	TB_RELAYS };

#define REP_MAXCOLS 24

typedef struct rep_table {
	enum rep_table_id id;
	const char *name;		/* the sheet's name */
	rep_col cols[REP_MAXCOLS];
	int ncols;
	rep_cell cells[REP_MAXCOLS];	/* the current row */
	strbuf buf[REP_MAXCOLS];
	char *own[REP_MAXCOLS];		/* column names made here */
	rep_data *d;
	rps_iter *it;
	size_t pos;			/* summary, daily, relays: next index */
	int sub;			/* summary: 1 the user row is out */
	size_t ipos;			/* summary: the next identity */
	char err[512];
} rep_table;

int rep_table_open(rep_table *t, rep_data *d, enum rep_table_id id,
    char *err, size_t errsz);
int rep_table_next(rep_table *t);
void rep_table_close(rep_table *t);

int rep_user_of(rep_data *d, rps_iter *it, const rps_msg *m, char *ident,
    size_t isz);
const char *rep_user_name(const rep_data *d, int k);
int rep_day_of(const rep_data *d, long long t);
long long rep_local_days(long long t);
double rep_excel_time(long long t);
void rep_clean(strbuf *sb, const char *s);
int rep_number(const char *s, double *v);
size_t rep_utf8_width(const char *s);

#endif
