/*
 * report.h - the reports: what a period of the store says per outgoing
 * user, as an XLSX workbook, CSV or text.
 *
 * rep_build() reads the store once (store/report.h) and keeps only totals:
 * one row per configured outgoing user (mail of no user under
 * "(unassigned)") and per identity inside it, and per day the spam and
 * quarantined counts of each user. The quarantine rows and the events are
 * streamed from the store again when they are written, in time order, so
 * memory does not grow with the number of messages.
 *
 * The workbook (rep_write_xlsx) has the sheets Summary (with the chart),
 * Relays (the same totals per relay: the host name of the log lines),
 * Quarantine (split into "Quarantine 2", ... past Excel's 1,048,576 rows;
 * its Relay column says whose hold queue has the message), Locks and
 * Daily (the chart's data). It is written in libxlsxwriter's
 * constant-memory mode. Every string from the store is written with
 * worksheet_write_string (never a formula), as valid UTF-8 without control
 * characters, cut to Excel's 32,767 characters. CSV (rep_write_csv) is RFC
 * 4180 with a text field that starts with = + - @ TAB or CR prefixed with
 * a quote ('), so a spreadsheet never runs it; numbers stay numbers.
 *
 * Errors: -1 with the message in err (lxw_strerror, the store's errors
 * translated).
 */
#ifndef RG_REPORT_H
#define RG_REPORT_H

#include "../store/report.h"
#include <stdio.h>

#include "../rules/config.h"
#include "../rules/policy.h"

enum rep_kind { REP_QUARANTINE, REP_SENDERS, REP_LOCKS, REP_RELAYS };
enum rep_format { REP_XLSX, REP_CSV, REP_TEXT };

typedef struct rep_opts {
	enum rep_kind kind;
	long long since, until;		/* microseconds, UTC: [since, until) */
	const char *user;		/* only this configured user, or NULL */
	const char *title;		/* e.g. "day 2026-11-28" */
} rep_opts;

typedef struct rep_data rep_data;

rep_data *rep_build(rg_store *st, const rg_config *cfg, const rul_policy *pol,
    const rep_opts *o, char *err, size_t errsz);
/* rows of the report's kind (0: nothing to report) */
long long rep_rows(const rep_data *d);
int rep_write_xlsx(rep_data *d, const char *path, char *err, size_t errsz);
int rep_write_csv(rep_data *d, FILE *out, char *err, size_t errsz);
int rep_write_text(rep_data *d, FILE *out, char *err, size_t errsz);
/* a short text summary (the body of a mailed report) */
void rep_write_summary(const rep_data *d, FILE *out);
const char *rep_kind_name(enum rep_kind k);
void rep_free(rep_data *d);

/* Excel's limits */
#define REP_MAX_ROWS 1048576
#define REP_MAX_CELL 32767

#endif
