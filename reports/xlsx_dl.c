/*
 * xlsx_dl.c - libxlsxwriter, loaded when a report first writes a workbook
 * instead of at every start. Linked, it brings libminizip and libcrypto
 * (4.5 MB to relocate) into every run of relayguard, and most runs
 * (`parse`, the per-minute `analyze`) write no report. An empty main()
 * linked with it took 4.2 ms of CPU to start, 2.1 ms without; with
 * libesmtp, OpenSSL and libsystemd too (esmtp_dl.c, common/sd_dl.c),
 * 6.6 ms.
 *
 * Each libxlsxwriter function xlsx.c calls is defined here with the
 * library's own prototype (<xlsxwriter.h>, so a mismatch does not compile)
 * and forwards to the library's, found with dlsym on first use
 * (common/dynlib.h). A new call elsewhere needs its line here (the link
 * fails without it). Without libxlsxwriter.so.4 workbook_new_opt returns
 * NULL (xlsx.c: cannot create the workbook) after a warning with the
 * loader's reason; nothing else can be reached without a workbook.
 */
#include <xlsxwriter.h>

#include "../common/dynlib.h"

#ifndef RG_XLSX_SONAME
#define RG_XLSX_SONAME "libxlsxwriter.so.4"
#endif

static rg_dynlib xlsx = RG_DYNLIB(RG_XLSX_SONAME, "xlsx");

/* workbook_new_opt - NULL without libxlsxwriter */
lxw_workbook *
workbook_new_opt(const char *filename, lxw_workbook_options *options)
{
	RG_DL_FN(&xlsx, workbook_new_opt, f)
		return NULL;
	return f(filename, options);
}

/* workbook_add_worksheet - forwarded (a workbook means it is loaded) */
lxw_worksheet *
workbook_add_worksheet(lxw_workbook *workbook, const char *sheetname)
{
	RG_DL_FN(&xlsx, workbook_add_worksheet, f)
		return NULL;
	return f(workbook, sheetname);
}

/* workbook_add_chart - forwarded */
lxw_chart *
workbook_add_chart(lxw_workbook *workbook, uint8_t chart_type)
{
	RG_DL_FN(&xlsx, workbook_add_chart, f)
		return NULL;
	return f(workbook, chart_type);
}

/* workbook_add_format - forwarded */
lxw_format *
workbook_add_format(lxw_workbook *workbook)
{
	RG_DL_FN(&xlsx, workbook_add_format, f)
		return NULL;
	return f(workbook);
}

/* workbook_set_properties - forwarded */
lxw_error
workbook_set_properties(lxw_workbook *workbook, lxw_doc_properties *properties)
{
	RG_DL_FN(&xlsx, workbook_set_properties, f)
		return LXW_ERROR_MEMORY_MALLOC_FAILED;
	return f(workbook, properties);
}

/* workbook_close - forwarded */
lxw_error
workbook_close(lxw_workbook *workbook)
{
	RG_DL_FN(&xlsx, workbook_close, f)
		return LXW_ERROR_MEMORY_MALLOC_FAILED;
	return f(workbook);
}

/* worksheet_activate - forwarded */
void
worksheet_activate(lxw_worksheet *worksheet)
{
	RG_DL_FN(&xlsx, worksheet_activate, f)
		return;
	f(worksheet);
}

/* worksheet_autofilter - forwarded */
lxw_error
worksheet_autofilter(lxw_worksheet *worksheet, lxw_row_t first_row,
    lxw_col_t first_col, lxw_row_t last_row, lxw_col_t last_col)
{
	RG_DL_FN(&xlsx, worksheet_autofilter, f)
		return LXW_ERROR_MEMORY_MALLOC_FAILED;
	return f(worksheet, first_row, first_col, last_row, last_col);
}

/* worksheet_fit_to_pages - forwarded */
void
worksheet_fit_to_pages(lxw_worksheet *worksheet, uint16_t width,
    uint16_t height)
{
	RG_DL_FN(&xlsx, worksheet_fit_to_pages, f)
		return;
	f(worksheet, width, height);
}

/* worksheet_freeze_panes - forwarded */
void
worksheet_freeze_panes(lxw_worksheet *worksheet, lxw_row_t row, lxw_col_t col)
{
	RG_DL_FN(&xlsx, worksheet_freeze_panes, f)
		return;
	f(worksheet, row, col);
}

/* worksheet_insert_chart - forwarded */
lxw_error
worksheet_insert_chart(lxw_worksheet *worksheet, lxw_row_t row, lxw_col_t col,
    lxw_chart *chart)
{
	RG_DL_FN(&xlsx, worksheet_insert_chart, f)
		return LXW_ERROR_MEMORY_MALLOC_FAILED;
	return f(worksheet, row, col, chart);
}

/* worksheet_repeat_rows - forwarded */
lxw_error
worksheet_repeat_rows(lxw_worksheet *worksheet, lxw_row_t first_row,
    lxw_row_t last_row)
{
	RG_DL_FN(&xlsx, worksheet_repeat_rows, f)
		return LXW_ERROR_MEMORY_MALLOC_FAILED;
	return f(worksheet, first_row, last_row);
}

/* worksheet_set_column - forwarded */
lxw_error
worksheet_set_column(lxw_worksheet *worksheet, lxw_col_t first_col,
    lxw_col_t last_col, double width, lxw_format *format)
{
	RG_DL_FN(&xlsx, worksheet_set_column, f)
		return LXW_ERROR_MEMORY_MALLOC_FAILED;
	return f(worksheet, first_col, last_col, width, format);
}

/* worksheet_set_landscape - forwarded */
void
worksheet_set_landscape(lxw_worksheet *worksheet)
{
	RG_DL_FN(&xlsx, worksheet_set_landscape, f)
		return;
	f(worksheet);
}

/* worksheet_write_blank - forwarded */
lxw_error
worksheet_write_blank(lxw_worksheet *worksheet, lxw_row_t row, lxw_col_t col,
    lxw_format *format)
{
	RG_DL_FN(&xlsx, worksheet_write_blank, f)
		return LXW_ERROR_MEMORY_MALLOC_FAILED;
	return f(worksheet, row, col, format);
}

/* worksheet_write_number - forwarded */
lxw_error
worksheet_write_number(lxw_worksheet *worksheet, lxw_row_t row, lxw_col_t col,
    double number, lxw_format *format)
{
	RG_DL_FN(&xlsx, worksheet_write_number, f)
		return LXW_ERROR_MEMORY_MALLOC_FAILED;
	return f(worksheet, row, col, number, format);
}

/* worksheet_write_string - forwarded */
lxw_error
worksheet_write_string(lxw_worksheet *worksheet, lxw_row_t row, lxw_col_t col,
    const char *string, lxw_format *format)
{
	RG_DL_FN(&xlsx, worksheet_write_string, f)
		return LXW_ERROR_MEMORY_MALLOC_FAILED;
	return f(worksheet, row, col, string, format);
}

/* chart_add_series - forwarded */
lxw_chart_series *
chart_add_series(lxw_chart *chart, const char *categories, const char *values)
{
	RG_DL_FN(&xlsx, chart_add_series, f)
		return NULL;
	return f(chart, categories, values);
}

/* chart_series_set_categories - forwarded */
void
chart_series_set_categories(lxw_chart_series *series, const char *sheetname,
    lxw_row_t first_row, lxw_col_t first_col, lxw_row_t last_row,
    lxw_col_t last_col)
{
	RG_DL_FN(&xlsx, chart_series_set_categories, f)
		return;
	f(series, sheetname, first_row, first_col, last_row, last_col);
}

/* chart_series_set_values - forwarded */
void
chart_series_set_values(lxw_chart_series *series, const char *sheetname,
    lxw_row_t first_row, lxw_col_t first_col, lxw_row_t last_row,
    lxw_col_t last_col)
{
	RG_DL_FN(&xlsx, chart_series_set_values, f)
		return;
	f(series, sheetname, first_row, first_col, last_row, last_col);
}

/* chart_series_set_name_range - forwarded */
void
chart_series_set_name_range(lxw_chart_series *series, const char *sheetname,
    lxw_row_t row, lxw_col_t col)
{
	RG_DL_FN(&xlsx, chart_series_set_name_range, f)
		return;
	f(series, sheetname, row, col);
}

/* chart_title_set_name - forwarded */
void
chart_title_set_name(lxw_chart *chart, const char *name)
{
	RG_DL_FN(&xlsx, chart_title_set_name, f)
		return;
	f(chart, name);
}

/* chart_axis_set_name - forwarded */
void
chart_axis_set_name(lxw_chart_axis *axis, const char *name)
{
	RG_DL_FN(&xlsx, chart_axis_set_name, f)
		return;
	f(axis, name);
}

/* chart_axis_set_num_format - forwarded */
void
chart_axis_set_num_format(lxw_chart_axis *axis, const char *num_format)
{
	RG_DL_FN(&xlsx, chart_axis_set_num_format, f)
		return;
	f(axis, num_format);
}

/* chart_legend_set_position - forwarded */
void
chart_legend_set_position(lxw_chart *chart, uint8_t position)
{
	RG_DL_FN(&xlsx, chart_legend_set_position, f)
		return;
	f(chart, position);
}

/* format_set_bold - forwarded */
void
format_set_bold(lxw_format *format)
{
	RG_DL_FN(&xlsx, format_set_bold, f)
		return;
	f(format);
}

/* format_set_bottom - forwarded */
void
format_set_bottom(lxw_format *format, uint8_t style)
{
	RG_DL_FN(&xlsx, format_set_bottom, f)
		return;
	f(format, style);
}

/* format_set_bg_color - forwarded */
void
format_set_bg_color(lxw_format *format, lxw_color_t color)
{
	RG_DL_FN(&xlsx, format_set_bg_color, f)
		return;
	f(format, color);
}

/* format_set_align - forwarded */
void
format_set_align(lxw_format *format, uint8_t alignment)
{
	RG_DL_FN(&xlsx, format_set_align, f)
		return;
	f(format, alignment);
}

/* format_set_num_format - forwarded */
void
format_set_num_format(lxw_format *format, const char *num_format)
{
	RG_DL_FN(&xlsx, format_set_num_format, f)
		return;
	f(format, num_format);
}

/* lxw_strerror - the library's text, or why there is none */
char *
lxw_strerror(lxw_error error_num)
{
	RG_DL_FN(&xlsx, lxw_strerror, f)
		return (char *)"libxlsxwriter is not loaded";
	return f(error_num);
}
