/*
 * xlsx.c - the report as an XLSX workbook (libxlsxwriter): Summary with the
 * chart, Relays, Quarantine (split past Excel's row limit), Locks, Daily
 * (the chart's data).
 *
 * The workbook is written in constant-memory mode: each row goes to a
 * temporary file as soon as the next begins, so a month of a busy relay
 * takes no more memory than a day. Rows are therefore written strictly in
 * order; the column widths (1.1.4 has no autofit), the frozen header row
 * and the autofilter are set when a sheet's last row is known. The chart
 * refers to Daily's cells: constant-memory mode writes no cached values
 * into it, and Excel and LibreOffice read the cells when they draw it.
 *
 * Every text cell is written with worksheet_write_string: a value that
 * looks like a formula stays a string. Fails with -1 and lxw_strerror's
 * message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xlsxwriter.h>

#include "report_int.h"

#define MAX_WIDTH 80

typedef struct xfmt {
	lxw_format *head, *headnum, *time, *day, *intg, *num, *bold, *boldint;
} xfmt;

typedef struct xsheet {
	lxw_worksheet *ws;
	size_t width[REP_MAXCOLS];
	lxw_row_t rows;			/* rows written, header included */
} xsheet;

/* cell_width - the characters cell c takes as its column shows it */
static size_t
cell_width(const rep_col *col, const rep_cell *c)
{
	char tmp[64];
	size_t n;

	if (c->s != NULL)
		return rep_utf8_width(c->s);
	switch (col->type) {
	case C_TIME:
		return 19;
	case C_DAY:
		return 10;
	case C_INT:
		n = (size_t)snprintf(tmp, sizeof(tmp), "%.0f", c->n);
		return n + (n - 1) / 3;		/* thousands separators */
	default:
		return (size_t)snprintf(tmp, sizeof(tmp), "%.2f", c->n);
	}
}

/* start_sheet - a new sheet with the header row */
static lxw_error
start_sheet(lxw_workbook *wb, const rep_table *t, const char *name,
    const xfmt *f, xsheet *xs)
{
	lxw_error e = LXW_NO_ERROR;
	int i;

	memset(xs, 0, sizeof(*xs));
	if ((xs->ws = workbook_add_worksheet(wb, name)) == NULL)
		return LXW_ERROR_MEMORY_MALLOC_FAILED;
	for (i = 0; i < t->ncols && e == LXW_NO_ERROR; i++) {
		e = worksheet_write_string(xs->ws, 0, (lxw_col_t)i,
		    t->cols[i].name, t->cols[i].type == C_INT
		    || t->cols[i].type == C_NUM ? f->headnum : f->head);
		xs->width[i] = rep_utf8_width(t->cols[i].name) + 3;
	}
	xs->rows = 1;
	return e;
}

/* end_sheet - widths, frozen header, autofilter */
static lxw_error
end_sheet(const rep_table *t, xsheet *xs)
{
	lxw_error e = LXW_NO_ERROR;
	int i;

	for (i = 0; i < t->ncols && e == LXW_NO_ERROR; i++)
		e = worksheet_set_column(xs->ws, (lxw_col_t)i, (lxw_col_t)i,
		    (double)(xs->width[i] > MAX_WIDTH ? MAX_WIDTH
		    : xs->width[i] + 2), NULL);
	worksheet_freeze_panes(xs->ws, 1, 0);
	/* printed (and PDF): landscape, the columns on one page's width */
	worksheet_set_landscape(xs->ws);
	worksheet_repeat_rows(xs->ws, 0, 0);
	worksheet_fit_to_pages(xs->ws, 1, t->id == TB_SUMMARY ? 1 : 0);
	if (e == LXW_NO_ERROR)
		e = worksheet_autofilter(xs->ws, 0, 0, xs->rows - 1,
		    (lxw_col_t)(t->ncols - 1));
	return e;
}

/* write_row - the table's current row as row r of the sheet */
static lxw_error
write_row(const rep_table *t, xsheet *xs, const xfmt *f, int bold)
{
	lxw_error e = LXW_NO_ERROR;
	lxw_format *fm;
	size_t w;
	int i;

	for (i = 0; i < t->ncols && e == LXW_NO_ERROR; i++) {
		const rep_cell *c = &t->cells[i];

		if (c->s != NULL) {
			fm = bold ? f->bold : NULL;
			e = *c->s == '\0' ? worksheet_write_blank(xs->ws,
			    xs->rows, (lxw_col_t)i, fm)
			    : worksheet_write_string(xs->ws, xs->rows,
			    (lxw_col_t)i, c->s, fm);
		} else {
			switch (t->cols[i].type) {
			case C_TIME: fm = f->time; break;
			case C_DAY: fm = f->day; break;
			case C_INT: fm = bold ? f->boldint : f->intg; break;
			default: fm = f->num; break;
			}
			e = worksheet_write_number(xs->ws, xs->rows,
			    (lxw_col_t)i, c->n, fm);
		}
		if ((w = cell_width(&t->cols[i], c)) > xs->width[i])
			xs->width[i] = w;
	}
	xs->rows++;
	return e;
}

/*
 * write_table - every row of table id into sheets named after it (a second
 * and further sheet past Excel's row limit); the first sheet in *first
 */
static int
write_table(lxw_workbook *wb, rep_data *d, enum rep_table_id id,
    const xfmt *f, lxw_worksheet **first, lxw_row_t *rows, char *err,
    size_t errsz)
{
	rep_table t;
	xsheet xs;
	lxw_error e;
	char name[32];
	int rc, part = 1;

	if (rep_table_open(&t, d, id, err, errsz) != 0)
		return -1;
	e = start_sheet(wb, &t, t.name, f, &xs);
	*first = xs.ws;
	while (e == LXW_NO_ERROR && (rc = rep_table_next(&t)) == 1) {
		if (xs.rows == REP_MAX_ROWS) {
			if ((e = end_sheet(&t, &xs)) != LXW_NO_ERROR)
				break;
			snprintf(name, sizeof(name), "%s %d", t.name, ++part);
			if ((e = start_sheet(wb, &t, name, f, &xs))
			    != LXW_NO_ERROR)
				break;
		}
		e = write_row(&t, &xs, f, id == TB_SUMMARY
		    && t.cells[1].s != NULL && *t.cells[1].s == '\0');
	}
	if (e == LXW_NO_ERROR && rc < 0) {
		snprintf(err, errsz, "%s", t.err);
		rep_table_close(&t);
		return -1;
	}
	if (e == LXW_NO_ERROR)
		e = end_sheet(&t, &xs);
	if (rows != NULL)
		*rows = xs.rows;
	rep_table_close(&t);
	if (e != LXW_NO_ERROR) {
		snprintf(err, errsz, "writing the %s sheet: %s",
		    id == TB_SUMMARY ? "Summary" : id == TB_QUARANTINE
		    ? "Quarantine" : id == TB_LOCKS ? "Locks" : id == TB_RELAYS
		    ? "Relays" : "Daily",
		    lxw_strerror(e));
		return -1;
	}
	return 0;
}

/* add_chart - a per-day chart of one half of Daily (0 spam, 1 held) */
static lxw_error
add_chart(lxw_workbook *wb, lxw_worksheet *ws, const rep_data *d, int half,
    lxw_row_t at)
{
	lxw_chart *ch;
	lxw_chart_series *s;
	lxw_row_t last = (lxw_row_t)d->ndays;
	lxw_col_t col;
	int i;

	if ((ch = workbook_add_chart(wb, LXW_CHART_COLUMN_STACKED)) == NULL)
		return LXW_ERROR_MEMORY_MALLOC_FAILED;
	for (i = 0; i < d->ntop; i++) {
		col = (lxw_col_t)(1 + half * d->ntop + i);
		if ((s = chart_add_series(ch, NULL, NULL)) == NULL)
			return LXW_ERROR_MEMORY_MALLOC_FAILED;
		chart_series_set_categories(s, "Daily", 1, 0, last, 0);
		chart_series_set_values(s, "Daily", 1, col, last, col);
		chart_series_set_name_range(s, "Daily", 0, col);
	}
	chart_title_set_name(ch, half == 0 ? "Spam per day (top 10 users)"
	    : "Quarantined per day (top 10 users)");
	chart_axis_set_num_format(ch->x_axis, "yyyy-mm-dd");
	chart_axis_set_name(ch->y_axis, "messages");
	chart_legend_set_position(ch, LXW_CHART_LEGEND_BOTTOM);
	return worksheet_insert_chart(ws, at, 12, ch);
}

/* rep_write_xlsx - the whole workbook into path */
int
rep_write_xlsx(rep_data *d, const char *path, char *err, size_t errsz)
{
	lxw_workbook_options opt = { .constant_memory = LXW_TRUE,
	    .tmpdir = NULL, .use_zip64 = LXW_TRUE };
	lxw_doc_properties props;
	lxw_workbook *wb;
	lxw_worksheet *summary, *relays, *quar, *locks, *daily, *active;
	lxw_error e;
	xfmt f;
	char title[256];
	int rc = -1;

	if ((wb = workbook_new_opt(path, &opt)) == NULL) {
		snprintf(err, errsz, "%s: cannot create the workbook", path);
		return -1;
	}
	memset(&props, 0, sizeof(props));
	snprintf(title, sizeof(title), "relayguard %s report, %s",
	    rep_kind_name(d->o.kind), d->o.title ? d->o.title : "");
	props.title = title;
	props.author = "relayguard";
	/* not the time of this write: the --output copy and the kept one
	 * (keep_report) of one run are the same bytes */
	props.created = d->made;
	workbook_set_properties(wb, &props);
	f.head = workbook_add_format(wb);
	format_set_bold(f.head);
	format_set_bottom(f.head, LXW_BORDER_THIN);
	format_set_bg_color(f.head, 0xDDEBF7);
	f.headnum = workbook_add_format(wb);
	format_set_bold(f.headnum);
	format_set_bottom(f.headnum, LXW_BORDER_THIN);
	format_set_bg_color(f.headnum, 0xDDEBF7);
	format_set_align(f.headnum, LXW_ALIGN_RIGHT);
	f.time = workbook_add_format(wb);
	format_set_num_format(f.time, "yyyy-mm-dd hh:mm:ss");
	f.day = workbook_add_format(wb);
	format_set_num_format(f.day, "yyyy-mm-dd");
	f.intg = workbook_add_format(wb);
	format_set_num_format(f.intg, "#,##0");
	f.num = workbook_add_format(wb);
	format_set_num_format(f.num, "0.00");
	f.bold = workbook_add_format(wb);
	format_set_bold(f.bold);
	f.boldint = workbook_add_format(wb);
	format_set_bold(f.boldint);
	format_set_num_format(f.boldint, "#,##0");

	if (write_table(wb, d, TB_SUMMARY, &f, &summary, NULL, err, errsz) != 0
	    || write_table(wb, d, TB_RELAYS, &f, &relays, NULL, err, errsz)
	    != 0
	    || write_table(wb, d, TB_QUARANTINE, &f, &quar, NULL, err,
	    errsz) != 0
	    || write_table(wb, d, TB_LOCKS, &f, &locks, NULL, err, errsz) != 0
	    || write_table(wb, d, TB_DAILY, &f, &daily, NULL, err, errsz) != 0)
		goto end;
	if (d->ntop > 0) {
		if ((e = add_chart(wb, summary, d, 0, 1)) != LXW_NO_ERROR
		    || (e = add_chart(wb, summary, d, 1, 17))
		    != LXW_NO_ERROR) {
			snprintf(err, errsz, "the chart: %s", lxw_strerror(e));
			goto end;
		}
	}
	active = d->o.kind == REP_QUARANTINE ? quar : d->o.kind == REP_LOCKS
	    ? locks : d->o.kind == REP_RELAYS ? relays : summary;
	worksheet_activate(active);
	rc = 0;
end:
	if ((e = workbook_close(wb)) != LXW_NO_ERROR && rc == 0) {
		snprintf(err, errsz, "%s: %s", path, lxw_strerror(e));
		rc = -1;
	}
	return rc;
}
