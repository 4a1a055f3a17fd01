/*
 * report_cmd.c - `relayguard report quarantine|senders|locks|relays`: the
 * period's report as XLSX, CSV or text (reports/), written atomically to --output
 * or standard output, and kept in [report] directory under stable names.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/rgtime.h"
#include "../common/xalloc.h"
#include "../reports/compose.h"
#include "../reports/mailreport.h"
#include "../reports/report.h"
#include "cli.h"

#define EX_CANTCREAT_ 73

typedef struct period {
	long long since, until;
	char title[128];		/* "day 2026-11-28" */
	char label[96];			/* file names: "day-2026-11-28" */
	char kind[16];			/* day | week | month | range */
} period;

/* usage - the command's help */
static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: relayguard [-c CONFIG] report "
	    "quarantine|senders|locks|relays\n"
	    "           [--period day|week|month | --since T --until T] "
	    "[--now T]\n"
	    "           [--user U] [--output FILE] [--format xlsx|csv|text] "
	    "[--skip-empty]\n"
	    "           [--mail [--to ADDR]]\n\n"
	    "The report of a period: the last whole day, week (Monday to "
	    "Sunday) or\nmonth before --now (default: day), or [--since, "
	    "--until), in [report]\ntimezone. XLSX: the sheets Summary (with "
	    "the chart), Relays (per relay host),\nQuarantine, Locks and "
	    "Daily, the kind's sheet active; CSV and text: the\nkind's "
	    "table. --output is written atomically; without it CSV\nand "
	    "text go to standard output, XLSX to [report] directory only "
	    "(else to\nstandard output when it is not a terminal). With "
	    "[report] directory, every\nreport is also kept there. --user: "
	    "one configured user's mail only.\n--skip-empty: write nothing "
	    "when the kind's table is empty.\n"
	    "--mail: into the outbox (`mail send` delivers it), the file "
	    "attached (XLSX\nunless --format says otherwise) with a short "
	    "summary: the whole report to\nadmin_contact and to each user with "
	    "report_to its own report only (with\n--user: that user's report "
	    "to its report_to, else admin_contact); --to ADDR:\nto ADDR only. "
	    "A period's report is queued once per recipient.\n");
}

/* local_midnight - UTC of 00:00 local on y-m-d (m, d may overflow) */
static long long
local_midnight(int y, int m, int d)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	tm.tm_isdst = -1;
	return (long long)mktime(&tm) * RG_USEC;
}

/* make_period - the last whole day, week or month before now */
static int
make_period(const char *name, long long now, period *p)
{
	time_t s = (time_t)(now / RG_USEC);
	struct tm tm, a;
	time_t as;
	int wd;

	localtime_r(&s, &tm);
	snprintf(p->kind, sizeof(p->kind), "%s", name);
	if (strcmp(name, "day") == 0) {
		p->since = local_midnight(tm.tm_year + 1900, tm.tm_mon + 1,
		    tm.tm_mday - 1);
		p->until = local_midnight(tm.tm_year + 1900, tm.tm_mon + 1,
		    tm.tm_mday);
	} else if (strcmp(name, "week") == 0) {
		wd = (tm.tm_wday + 6) % 7;	/* days since Monday */
		p->since = local_midnight(tm.tm_year + 1900, tm.tm_mon + 1,
		    tm.tm_mday - wd - 7);
		p->until = local_midnight(tm.tm_year + 1900, tm.tm_mon + 1,
		    tm.tm_mday - wd);
	} else if (strcmp(name, "month") == 0) {
		p->since = local_midnight(tm.tm_year + 1900, tm.tm_mon, 1);
		p->until = local_midnight(tm.tm_year + 1900, tm.tm_mon + 1, 1);
	} else {
		return -1;
	}
	as = (time_t)(p->since / RG_USEC);
	localtime_r(&as, &a);
	if (strcmp(name, "day") == 0) {
		strftime(p->label, sizeof(p->label), "day-%Y-%m-%d", &a);
		strftime(p->title, sizeof(p->title), "day %Y-%m-%d", &a);
	} else if (strcmp(name, "week") == 0) {
		strftime(p->label, sizeof(p->label), "week-%G-W%V", &a);
		strftime(p->title, sizeof(p->title), "week %G-W%V (from "
		    "%Y-%m-%d)", &a);
	} else {
		strftime(p->label, sizeof(p->label), "month-%Y-%m", &a);
		strftime(p->title, sizeof(p->title), "month %Y-%m", &a);
	}
	return 0;
}

/* range_period - [since, until) given by hand */
static void
range_period(long long since, long long until, period *p)
{
	time_t a = (time_t)(since / RG_USEC), b = (time_t)(until / RG_USEC);
	struct tm ta, tb;
	char x[32], y[32];

	localtime_r(&a, &ta);
	localtime_r(&b, &tb);
	p->since = since;
	p->until = until;
	snprintf(p->kind, sizeof(p->kind), "range");
	strftime(x, sizeof(x), "%Y%m%dT%H%M%S", &ta);
	strftime(y, sizeof(y), "%Y%m%dT%H%M%S", &tb);
	snprintf(p->label, sizeof(p->label), "range-%s-%s", x, y);
	strftime(x, sizeof(x), "%Y-%m-%d %H:%M:%S", &ta);
	strftime(y, sizeof(y), "%Y-%m-%d %H:%M:%S", &tb);
	snprintf(p->title, sizeof(p->title), "%s to %s", x, y);
}

/* write_format - the report into an open file or a path (xlsx) */
static int
write_format(rep_data *d, int format, const char *path, FILE *fp, char *err,
    size_t errsz)
{
	if (format == REP_XLSX)
		return rep_write_xlsx(d, path, err, errsz);
	if (format == REP_CSV)
		return rep_write_csv(d, fp, err, errsz);
	return rep_write_text(d, fp, err, errsz);
}

/*
 * write_atomic - the report into a temporary file beside path, synced,
 * then renamed over path. 0, or -1 with nothing left behind.
 */
static int
write_atomic(rep_data *d, int format, const char *path, char *err,
    size_t errsz)
{
	size_t n = strlen(path) + 16;
	char *tmp = xmalloc(n);
	FILE *fp = NULL;
	int fd, rc = -1;

	snprintf(tmp, n, "%s.tmpXXXXXX", path);
	if ((fd = mkstemp(tmp)) < 0) {
		snprintf(err, errsz, "%s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	fchmod(fd, 0644);
	if (format == REP_XLSX) {
		close(fd);
		fd = -1;
		if (write_format(d, format, tmp, NULL, err, errsz) != 0)
			goto end;
		if ((fd = open(tmp, O_RDONLY)) < 0) {
			snprintf(err, errsz, "%s: %s", tmp, strerror(errno));
			goto end;
		}
	} else {
		if ((fp = fdopen(fd, "w")) == NULL) {
			snprintf(err, errsz, "%s: %s", tmp, strerror(errno));
			goto end;
		}
		fd = -1;
		if (write_format(d, format, tmp, fp, err, errsz) != 0)
			goto end;
		if (fflush(fp) != 0) {
			snprintf(err, errsz, "%s: %s", tmp, strerror(errno));
			goto end;
		}
		fd = fileno(fp);
	}
	if (fsync(fd) != 0 || rename(tmp, path) != 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		goto end;
	}
	rc = 0;
end:
	if (fp != NULL)
		fclose(fp);
	else if (fd >= 0)
		close(fd);
	if (rc != 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

/* copy_to_stdout - a finished file to standard output */
static int
copy_to_stdout(const char *path)
{
	char buf[65536];
	size_t n;
	FILE *in;
	int rc = 0;

	if ((in = fopen(path, "rb")) == NULL)
		return -1;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, stdout) != n)
			rc = -1;
	if (ferror(in) || fflush(stdout) != 0)
		rc = -1;
	fclose(in);
	return rc;
}

/* safe_name - s with anything but [A-Za-z0-9.@_-] as '_', for file names */
static void
safe_name(char *out, size_t sz, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < sz; i++)
		out[i] = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A'
		    && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')
		    || strchr(".@_-", s[i]) ? s[i] : '_';
	out[i] = '\0';
	if (out[0] == '.')
		out[0] = '_';
}

/* by_name - strcmp for qsort */
static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * keep_report - the report also into dir as PREFIX-LABEL.EXT and
 * PREFIX-PERIOD-latest.EXT (atomically), then all but the newest keep of
 * PREFIX-PERIOD-* removed
 */
static int
keep_report(rep_data *d, int format, const char *dir, long long keep,
    const char *prefix, const period *p, const char *ext, char *err,
    size_t errsz)
{
	char path[4096], latest[4096], tmp[4200], stem[512];
	char **names = NULL;
	size_t n = 0, i;
	struct dirent *de;
	DIR *dp;
	int rc = 0;

	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		snprintf(err, errsz, "%s: %s", dir, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s-%s.%s", dir, prefix, p->label, ext);
	snprintf(latest, sizeof(latest), "%s/%s-%s-latest.%s", dir, prefix,
	    p->kind, ext);
	if (write_atomic(d, format, path, err, errsz) != 0)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s.tmp%ld", latest, (long)getpid());
	unlink(tmp);
	if (link(path, tmp) != 0 || rename(tmp, latest) != 0) {
		snprintf(err, errsz, "%.900s: %s", latest, strerror(errno));
		unlink(tmp);
		return -1;
	}
	/* prune: the dated names of this kind and period sort by time */
	snprintf(stem, sizeof(stem), "%s-%s-", prefix, p->kind);
	if ((dp = opendir(dir)) == NULL) {
		snprintf(err, errsz, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(dp)) != NULL) {
		size_t len = strlen(de->d_name), el = strlen(ext);

		if (strncmp(de->d_name, stem, strlen(stem)) != 0
		    || len <= el + 1 || strcmp(de->d_name + len - el, ext) != 0
		    || de->d_name[len - el - 1] != '.'
		    || strstr(de->d_name, "-latest.") != NULL
		    || strstr(de->d_name, ".tmp") != NULL)
			continue;
		names = xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	closedir(dp);
	qsort(names, n, sizeof(*names), by_name);
	for (i = 0; i < n; i++) {
		if (n - i > (size_t)keep) {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
			if (unlink(path) != 0 && errno != ENOENT) {
				log_warn("%s", path);
				rc = -1;
			}
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

/* cmd_report - the report command */
int
cmd_report(const cli_ctx *cx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "period", required_argument, NULL, 'p' },
		{ "since", required_argument, NULL, 'S' },
		{ "until", required_argument, NULL, 'U' },
		{ "now", required_argument, NULL, 'n' },
		{ "user", required_argument, NULL, 'u' },
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ "skip-empty", no_argument, NULL, 'e' },
		{ "mail", no_argument, NULL, 'm' },
		{ "to", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *pname = NULL, *since_s = NULL, *until_s = NULL;
	const char *now_s = NULL, *user = NULL, *output = NULL, *fmt = NULL;
	const char *zone, *ext, *to = NULL;
	int ch, rc, skip = 0, format, mail = 0;
	rep_opts o;
	rg_config *cfg = NULL;
	rul_policy *pol = NULL;
	rg_store *st = NULL;
	rep_data *d = NULL;
	period p;
	char err[1024], prefix[256], uname[200];
	rg_usec now, t;

	while ((ch = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p': pname = optarg; break;
		case 'S': since_s = optarg; break;
		case 'U': until_s = optarg; break;
		case 'n': now_s = optarg; break;
		case 'u': user = optarg; break;
		case 'o': output = optarg; break;
		case 'f': fmt = optarg; break;
		case 'e': skip = 1; break;
		case 'm': mail = 1; break;
		case 't': to = optarg; break;
		case 'h': usage(stdout); return EX_OK_;
		default: usage(stderr); return EX_USAGE_;
		}
	}
	memset(&o, 0, sizeof(o));
	if (optind + 1 != argc) {
		usage(stderr);
		return EX_USAGE_;
	}
	if (strcmp(argv[optind], "quarantine") == 0)
		o.kind = REP_QUARANTINE;
	else if (strcmp(argv[optind], "senders") == 0)
		o.kind = REP_SENDERS;
	else if (strcmp(argv[optind], "locks") == 0)
		o.kind = REP_LOCKS;
	else if (strcmp(argv[optind], "relays") == 0)
		o.kind = REP_RELAYS;
	else {
		log_fatalx("report: '%s' is not quarantine, senders, locks or "
		    "relays",
		    argv[optind]);
		return EX_USAGE_;
	}
	if ((since_s || until_s) && (pname || !since_s || !until_s)) {
		log_fatalx("report: give --period, or both --since and --until");
		return EX_USAGE_;
	}
	if (to != NULL && (!mail || !rep_addr_safe(to) || strchr(to, '@')
	    == NULL)) {
		log_fatalx("report: --to needs --mail and a plain address "
		    "(local@domain)");
		return EX_USAGE_;
	}
	if (fmt == NULL && mail && output == NULL)
		fmt = "xlsx";
	if (fmt == NULL) {
		size_t l = output ? strlen(output) : 0;

		fmt = output == NULL ? "text" : l > 4
		    && strcmp(output + l - 4, ".csv") == 0 ? "csv" : l > 4
		    && strcmp(output + l - 4, ".txt") == 0 ? "text" : "xlsx";
	}
	if (strcmp(fmt, "xlsx") == 0)
		format = REP_XLSX, ext = "xlsx";
	else if (strcmp(fmt, "csv") == 0)
		format = REP_CSV, ext = "csv";
	else if (strcmp(fmt, "text") == 0)
		format = REP_TEXT, ext = "txt";
	else {
		log_fatalx("report: --format: '%s' is not xlsx, csv or text",
		    fmt);
		return EX_USAGE_;
	}
	if ((cfg = cli_load_config(cx, &rc)) == NULL)
		return rc;
	if (format == REP_XLSX && output == NULL && !*cfg->report_directory
	    && !mail && isatty(STDOUT_FILENO)) {
		log_fatalx("report: an XLSX workbook is not for a terminal: "
		    "give --output FILE");
		cfg_free(cfg);
		return EX_USAGE_;
	}
	zone = *cfg->report_timezone ? cfg->report_timezone : cfg->timezone;
	if (*zone && rgt_set_zone(zone) != 0) {
		log_warnx("report: unknown time zone '%s'", zone);
		rc = EX_CONFIG_;
		goto end;
	}
	now = rgt_now();
	if (now_s && rgt_parse_time(now_s, &now) != 0) {
		log_warnx("report: --now: '%s' is not a time", now_s);
		rc = EX_USAGE_;
		goto end;
	}
	if (since_s) {
		if (rgt_parse_time(since_s, &t) != 0
		    || rgt_parse_time(until_s, &now) != 0 || now <= t) {
			log_warnx("report: --since and --until must be times "
			    "(YYYY-MM-DD[THH:MM[:SS]][Z], or @EPOCH), since "
			    "before until");
			rc = EX_USAGE_;
			goto end;
		}
		range_period(t, now, &p);
	} else if (make_period(pname ? pname : "day", now, &p) != 0) {
		log_warnx("report: --period: '%s' is not day, week or month",
		    pname);
		rc = EX_USAGE_;
		goto end;
	}
	if ((pol = rul_new(cfg, err, sizeof(err))) == NULL) {
		log_warnx("%s", err);
		rc = EX_CONFIG_;
		goto end;
	}
	if ((st = store_open(cfg->database, mail ? 0 : STORE_READONLY, err,
	    sizeof(err))) == NULL) {
		log_warnx("%s", err);
		rc = EX_NOINPUT_;
		goto end;
	}
	o.since = p.since;
	o.until = p.until;
	o.user = user;
	o.title = p.title;
	if ((d = rep_build(st, cfg, pol, &o, err, sizeof(err)))
	    == NULL) {
		log_warnx("report: %s", err);
		rc = user && strstr(err, "not a configured user") ? EX_USAGE_
		    : EX_SOFTWARE_;
		goto end;
	}
	if (skip && rep_rows(d) == 0) {
		log_info("report: %s %s: nothing to report",
		    rep_kind_name(o.kind), p.title);
		rc = EX_OK_;
		goto end;
	}
	rc = EX_OK_;
	if (output != NULL) {
		if (write_atomic(d, format, output, err, sizeof(err)) != 0) {
			log_warnx("report: %s", err);
			rc = EX_CANTCREAT_;
			goto end;
		}
	} else if (mail || (format == REP_XLSX && *cfg->report_directory)) {
		;	/* the report goes to the mail or the directory only */
	} else if (format == REP_XLSX) {
		char tmp[] = "/tmp/relayguard-report.XXXXXX";
		int fd = mkstemp(tmp);

		if (fd < 0) {
			log_warn("report: %s", tmp);
			rc = EX_CANTCREAT_;
			goto end;
		}
		close(fd);
		if (rep_write_xlsx(d, tmp, err, sizeof(err)) != 0
		    || copy_to_stdout(tmp) != 0) {
			log_warnx("report: %s", *err ? err : "standard output");
			rc = EX_IOERR_;
		}
		unlink(tmp);
		if (rc != EX_OK_)
			goto end;
	} else {
		rc = write_format(d, format, NULL, stdout, err, sizeof(err));
		if (rc != 0 || fflush(stdout) != 0) {
			log_warnx("report: %s", rc ? err : strerror(errno));
			rc = EX_IOERR_;
			goto end;
		}
	}
	if (*cfg->report_directory) {
		if (user) {
			safe_name(uname, sizeof(uname), user);
			snprintf(prefix, sizeof(prefix), "%s-user-%s",
			    rep_kind_name(o.kind), uname);
		} else {
			snprintf(prefix, sizeof(prefix), "%s",
			    rep_kind_name(o.kind));
		}
		if (keep_report(d, format, cfg->report_directory,
		    cfg->report_keep, prefix, &p, ext, err, sizeof(err)) != 0) {
			log_warnx("report: %s", err);
			rc = EX_CANTCREAT_;
			goto end;
		}
	}
	if (mail) {
		rep_mail_req mr;
		int queued, mrc;

		memset(&mr, 0, sizeof(mr));
		mr.d = d;
		mr.o = &o;
		mr.label = p.label;
		mr.format = format;
		mr.output = output;
		mr.to = to;
		mr.skip_empty = skip;
		mr.now = rgt_now();
		if ((mrc = rep_mail_report(st, cfg, pol, &mr, &queued,
		    err, sizeof(err))) != 0) {
			log_warnx("report --mail: %s", err);
			rc = mrc == -2 ? EX_CONFIG_ : EX_SOFTWARE_;
			goto end;
		}
	}
	log_info("action=report kind=%s period=\"%s\" rows=%lld",
	    rep_kind_name(o.kind), p.title, rep_rows(d));
end:
	rep_free(d);
	store_close(st);
	rul_free(pol);
	cfg_free(cfg);
	return rc;
}
