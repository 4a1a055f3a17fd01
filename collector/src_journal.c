/*
 * src_journal.c - the systemd journal as a source of log lines, read with
 * libsystemd's sd-journal.
 *
 * Owns the sd_journal handle, the line handed out last (valid until the
 * next call), the cursor of the position and the journald "Suppressed N
 * messages" notices read but not yet reported. An entry becomes one line,
 * "2026-11-28T16:07:24.123456Z HOST IDENT[PID]: MESSAGE" (UTC), with
 * newlines in the message turned into spaces and other control characters
 * into '?'; a notice goes to the loss callback instead.
 *
 * A notice is reported when the position that covers it is taken
 * (src_journal_position), never earlier: the caller commits its loss row
 * with that position in one transaction, so a restart from an older
 * position reads the notice again and one from a newer position does not.
 *
 * Failures (a directory that is not there, a bad match, a saved cursor
 * that is not a cursor, a read error) are returned with a message in the
 * caller's buffer or in src_journal_error(); nothing here exits.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../common/log.h"
#include "../common/strbuf.h"
#include "../common/xalloc.h"
#include "src_journal.h"

#ifndef RG_NO_JOURNAL

#include <systemd/sd-journal.h>

/* SD_MESSAGE_JOURNAL_DROPPED: journald's "Suppressed N messages from U" */
#define DROPPED_ID	"a596d6fe7bfa4994828e72309e95d61e"
#define DEFAULT_MAX_LINE 16384
#define MIN_MAX_LINE	64

typedef struct notice {
	char *cursor;
	char *text;
	long long count;
	long long ts;		/* usec since the epoch */
} notice;

typedef struct fld {		/* a small field, copied (cut to fit) */
	char v[256];
	size_t n;
	int set;
} fld;

/* the fields used besides MESSAGE */
enum { F_HOST, F_IDENT, F_COMM, F_PID, F_SPID, F_MSGID, F_NDROPPED, F_UNIT,
	F_N };
static const char *const fnames[F_N] = {
	"_HOSTNAME", "SYSLOG_IDENTIFIER", "_COMM", "_PID", "SYSLOG_PID",
	"MESSAGE_ID", "N_DROPPED", "OBJECT_SYSTEMD_UNIT",
};

typedef struct entry {		/* the fields of the entry read */
	fld f[F_N];
	strbuf msg;		/* MESSAGE, at most max_line bytes */
	int has_msg;
} entry;

struct src_journal {
	sd_journal *j;
	char *dir;			/* "" for the system journal */
	char cursor[sizeof(((src_pos *)0)->cursor)];	/* the position */
	char saved[sizeof(((src_pos *)0)->cursor)];	/* to skip once */
	int skip_saved;			/* the next entry may be the saved one */
	int watching;			/* inotify set up (sd_journal_get_fd) */
	int at_end;			/* the last call found nothing more */
	char **units;			/* _SYSTEMD_UNIT values matched */
	int nunits;
	notice *pend;			/* notices not reported yet; ... */
	int npend, capend;
	int before_line;		/* ... so many precede the last line */
	entry e;
	strbuf line;
	size_t max_line;
	src_loss_fn loss_fn;
	void *loss_arg;
	char *loss_name;
	char *name;
	char err[1400];
};

/* field_ok - is name a journal field name (A-Z, 0-9, _; no leading digit)? */
static int
field_ok(const char *name, size_t n)
{
	size_t i;

	if (n == 0 || n > 64 || isdigit((unsigned char)name[0]))
		return 0;
	for (i = 0; i < n; i++)
		if (!(isupper((unsigned char)name[i])
		    || isdigit((unsigned char)name[i]) || name[i] == '_'))
			return 0;
	return 1;
}

/* fld_set - keep the first value of a small field, cut to fit */
static void
fld_set(fld *f, const char *v, size_t n)
{
	if (f->set)
		return;
	if (n > sizeof(f->v) - 1)
		n = sizeof(f->v) - 1;
	memcpy(f->v, v, n);
	f->v[n] = '\0';
	f->n = n;
	f->set = 1;
}

/* fld_is - does the field hold exactly this value? */
static int
fld_is(const fld *f, const char *want)
{
	return f->set && f->n == strlen(want) && memcmp(f->v, want, f->n) == 0;
}

/*
 * read_entry - copy the fields we use out of the current entry, in one
 * pass (what sd-journal hands out is only valid until its next call)
 */
static int
read_entry(src_journal *j)
{
	entry *e = &j->e;
	const void *d;
	const char *p, *eq;
	size_t n, k;
	int r, i;

	for (i = 0; i < F_N; i++)
		e->f[i].set = 0, e->f[i].n = 0, e->f[i].v[0] = '\0';
	sb_reset(&e->msg);
	e->has_msg = 0;
	sd_journal_restart_data(j->j);
	while ((r = sd_journal_enumerate_available_data(j->j, &d, &n)) > 0) {
		p = d;
		if ((eq = memchr(p, '=', n)) == NULL)
			continue;
		k = (size_t)(eq - p);
		n -= k + 1;
		eq++;
		if (k == 7 && memcmp(p, "MESSAGE", 7) == 0) {
			if (!e->has_msg) {
				/* the line is cut at max_line anyway */
				sb_add(&e->msg, eq, n > j->max_line ? j->max_line
				    : n);
				e->has_msg = 1;
			}
			continue;
		}
		for (i = 0; i < F_N; i++)
			if (strlen(fnames[i]) == k && memcmp(p, fnames[i], k) == 0) {
				fld_set(&e->f[i], eq, n);
				break;
			}
	}
	if (r < 0) {
		snprintf(j->err, sizeof(j->err), "journal: reading an entry: %s",
		    strerror(-r));
		return -1;
	}
	return 0;
}

/* parse_count - a decimal count at the start of p (n bytes); -1 if none */
static long long
parse_count(const char *p, size_t n)
{
	long long v = 0;
	size_t i;

	for (i = 0; i < n && isdigit((unsigned char)p[i]); i++) {
		if (v > 100000000000LL)
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return i == 0 ? -1 : v;
}

/* pid_ok - a PID: digits only */
static int
pid_ok(const fld *f)
{
	return f->set && f->n > 0 && f->n <= 10
	    && strspn(f->v, "0123456789") == f->n;
}

/* unit_wanted - is a notice about this unit (last path part) ours? */
static int
unit_wanted(const src_journal *j, const char *u, size_t n)
{
	const char *slash;
	int i;

	if (j->nunits == 0)
		return 1;	/* no unit match: every notice concerns us */
	while ((slash = memchr(u, '/', n)) != NULL) {
		/* older journald names the cgroup path */
		n -= (size_t)(slash + 1 - u);
		u = slash + 1;
	}
	for (i = 0; i < j->nunits; i++)
		if (strlen(j->units[i]) == n && memcmp(j->units[i], u, n) == 0)
			return 1;
	return 0;
}

/*
 * as_notice - is the entry read a journald suppression notice ("Suppressed
 * 12 messages from postfix@-.service")? Fills the count, and whether it
 * names a unit we read.
 */
static int
as_notice(const src_journal *j, long long *count, int *wanted)
{
	static const char pre[] = "Suppressed ";
	static const char mid[] = " messages from ";
	const entry *e = &j->e;
	const fld *nd = &e->f[F_NDROPPED], *unit = &e->f[F_UNIT];
	const char *p = e->msg.s, *q, *end = e->msg.s + e->msg.len;
	int by_id = fld_is(&e->f[F_MSGID], DROPPED_ID);
	int said = e->has_msg && e->msg.len > sizeof(pre) - 1
	    && memcmp(p, pre, sizeof(pre) - 1) == 0;

	/* an older journald has no MESSAGE_ID: know it by its words */
	if (!by_id && (!said || !fld_is(&e->f[F_IDENT], "systemd-journald")))
		return 0;
	*count = nd->set ? parse_count(nd->v, nd->n) : -1;
	*wanted = j->nunits == 0;
	if (said) {
		q = p + sizeof(pre) - 1;
		if (*count < 0)
			*count = parse_count(q, (size_t)(end - q));
		while (q < end && isdigit((unsigned char)*q))
			q++;
		if ((size_t)(end - q) > sizeof(mid) - 1
		    && memcmp(q, mid, sizeof(mid) - 1) == 0) {
			q += sizeof(mid) - 1;
			*wanted = unit_wanted(j, q, (size_t)(end - q));
		}
	}
	if (unit->set)
		*wanted = unit_wanted(j, unit->v, unit->n);
	if (*count < 0) {
		if (!by_id)
			return 0;	/* not the notice after all */
		*count = 0;		/* a notice we cannot count */
	}
	return 1;
}

/* add_clean - append bytes: newline -> space, other controls -> '?' */
static void
add_clean(strbuf *sb, const char *p, size_t n, int strict)
{
	size_t i;

	sb_grow(sb, n);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\n')
			c = strict ? '?' : ' ';
		else if (c < 0x20 || c == 0x7f)
			c = '?';
		else if (strict && (c == ' ' || c == '[' || c == ']'
		    || c == ':'))
			c = '?';	/* would end the host or the tag */
		sb_addc(sb, (char)c);
	}
}

/* add_stamp - "2026-11-28T16:07:24.123456Z " from usec since the epoch */
static void
add_stamp(strbuf *sb, uint64_t usec)
{
	time_t t = (time_t)(usec / 1000000);
	struct tm tm;
	char b[64];

	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	snprintf(b, sizeof(b), "%04d-%02d-%02dT%02d:%02d:%02d.%06luZ ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (unsigned long)(usec % 1000000));
	sb_adds(sb, b);
}

/* build_line - the entry read as a syslog line */
static void
build_line(src_journal *j, uint64_t usec)
{
	const entry *e = &j->e;
	const fld *id, *pid;
	strbuf *sb = &j->line;
	size_t mlen = e->msg.len;

	while (mlen > 0 && e->msg.s[mlen - 1] == '\n')
		mlen--;
	sb_reset(sb);
	add_stamp(sb, usec);
	if (e->f[F_HOST].n > 0)
		add_clean(sb, e->f[F_HOST].v, e->f[F_HOST].n, 1);
	else
		sb_adds(sb, "localhost");
	sb_addc(sb, ' ');
	id = e->f[F_IDENT].n > 0 ? &e->f[F_IDENT] : &e->f[F_COMM];
	if (id->n > 0)
		add_clean(sb, id->v, id->n, 1);
	else
		sb_adds(sb, "unknown");
	pid = pid_ok(&e->f[F_PID]) ? &e->f[F_PID] : &e->f[F_SPID];
	if (pid_ok(pid)) {
		sb_addc(sb, '[');
		sb_add(sb, pid->v, pid->n);
		sb_addc(sb, ']');
	}
	sb_adds(sb, ": ");
	if (sb->len + mlen > j->max_line)
		mlen = sb->len < j->max_line ? j->max_line - sb->len : 0;
	add_clean(sb, e->msg.s, mlen, 0);
}

/* get_cursor - the cursor of the current entry into buf */
static int
get_cursor(src_journal *j, char *buf, size_t sz)
{
	char *c = NULL;
	int r;

	if ((r = sd_journal_get_cursor(j->j, &c)) < 0) {
		snprintf(j->err, sizeof(j->err), "journal: no cursor: %s",
		    strerror(-r));
		return -1;
	}
	if (strlen(c) >= sz) {
		snprintf(j->err, sizeof(j->err), "journal: a cursor of %zu "
		    "bytes is too long to be saved", strlen(c));
		free(c);
		return -1;
	}
	memcpy(buf, c, strlen(c) + 1);
	free(c);
	return 0;
}

/* push_notice - keep the notice read until its position is taken */
static int
push_notice(src_journal *j, long long count, uint64_t usec)
{
	char cur[sizeof(j->cursor)];
	notice *nt;
	strbuf sb;

	if (get_cursor(j, cur, sizeof(cur)) != 0)
		return -1;
	if (j->npend == j->capend) {
		j->capend = j->capend ? j->capend * 2 : 4;
		j->pend = xrealloc(j->pend, (size_t)j->capend * sizeof(notice));
	}
	nt = &j->pend[j->npend++];
	nt->cursor = xstrdup(cur);
	sb_init(&sb);
	add_clean(&sb, j->e.msg.s, j->e.msg.len > 1024 ? 1024 : j->e.msg.len,
	    0);
	nt->text = xstrdup(sb.s);
	sb_free(&sb);
	nt->count = count;
	nt->ts = (long long)usec;
	return 0;
}

/* add_matches - the configured matches, ORed, and journald's notices */
static int
add_matches(src_journal *j, const rg_source_cfg *sc, char *err, size_t errsz)
{
	static const char unit[] = "_SYSTEMD_UNIT=";
	int i, r;

	for (i = 0; i < sc->match.n; i++) {
		const char *m = sc->match.v[i], *eq = strchr(m, '=');

		if (eq == NULL || !field_ok(m, (size_t)(eq - m))) {
			snprintf(err, errsz, "[source %s] match '%s' is not "
			    "FIELD=value (FIELD in capitals, digits and '_')",
			    sc->name, m);
			return -1;
		}
		if ((r = sd_journal_add_match(j->j, m, 0)) < 0
		    || (r = sd_journal_add_disjunction(j->j)) < 0) {
			snprintf(err, errsz, "[source %s] match '%s': %s",
			    sc->name, m, strerror(-r));
			return -1;
		}
		if (strncmp(m, unit, sizeof(unit) - 1) == 0) {
			j->units = xrealloc(j->units, (size_t)(j->nunits + 1)
			    * sizeof(char *));
			j->units[j->nunits++] = xstrdup(m + sizeof(unit) - 1);
		}
	}
	/* journald writes its notices as itself: they match no unit of ours */
	if (sc->match.n > 0 && (r = sd_journal_add_match(j->j,
	    "MESSAGE_ID=" DROPPED_ID, 0)) < 0) {
		snprintf(err, errsz, "[source %s] match MESSAGE_ID: %s",
		    sc->name, strerror(-r));
		return -1;
	}
	return 0;
}

/* src_journal_open - open the journal at the saved cursor */
src_journal *
src_journal_open(const rg_source_cfg *sc, const src_pos *saved, char *err,
    size_t errsz)
{
	src_journal *j = xcalloc(1, sizeof(*j));
	const char *dir = sc->directory ? sc->directory : "";
	struct stat st;
	int r;

	j->name = xstrdup(sc->name);
	j->dir = xstrdup(dir);
	j->max_line = DEFAULT_MAX_LINE;
	sb_init(&j->line);
	sb_init(&j->e.msg);
	if (*dir != '\0') {
		if (stat(dir, &st) != 0) {
			snprintf(err, errsz, "[source %s] journal directory "
			    "%s: %s", sc->name, dir, strerror(errno));
			goto fail;
		}
		if (!S_ISDIR(st.st_mode)) {
			snprintf(err, errsz, "[source %s] journal directory "
			    "%s: not a directory", sc->name, dir);
			goto fail;
		}
		r = sd_journal_open_directory(&j->j, dir, 0);
	} else
		r = sd_journal_open(&j->j, SD_JOURNAL_LOCAL_ONLY
		    | SD_JOURNAL_SYSTEM);
	if (r < 0) {
		snprintf(err, errsz, "[source %s] cannot open the %s%s: %s",
		    sc->name, *dir ? "journal in " : "system journal", dir,
		    strerror(-r));
		goto fail;
	}
	if (add_matches(j, sc, err, errsz) != 0)
		goto fail;
	/* fields longer than a line are not worth decompressing whole */
	(void)sd_journal_set_data_threshold(j->j, j->max_line + 64);
	/* new journal files (rotation) are seen through inotify */
	if ((r = sd_journal_get_fd(j->j)) >= 0)
		j->watching = 1;
	else
		log_warnx("[source %s] cannot watch the journal for new files "
		    "(%s): --follow will not see rotated files", sc->name,
		    strerror(-r));
	if (saved != NULL && saved->cursor[0] != '\0') {
		if ((r = sd_journal_seek_cursor(j->j, saved->cursor)) < 0) {
			snprintf(err, errsz, "[source %s] the saved journal "
			    "cursor is not usable (%s): '%.200s'", sc->name,
			    strerror(-r), saved->cursor);
			goto fail;
		}
		snprintf(j->saved, sizeof(j->saved), "%s", saved->cursor);
		snprintf(j->cursor, sizeof(j->cursor), "%s", saved->cursor);
		j->skip_saved = 1;
	} else if ((r = sd_journal_seek_head(j->j)) < 0) {
		snprintf(err, errsz, "[source %s] journal: cannot seek to its "
		    "start: %s", sc->name, strerror(-r));
		goto fail;
	}
	return j;
fail:
	src_journal_close(j);
	return NULL;
}

/* src_journal_set_max_line - cut lines (the message part) at this length */
void
src_journal_set_max_line(src_journal *j, size_t max_line)
{
	j->max_line = max_line < MIN_MAX_LINE ? MIN_MAX_LINE : max_line;
	(void)sd_journal_set_data_threshold(j->j, j->max_line + 64);
}

/* src_journal_next - the next entry as a line; 0: nothing more now */
int
src_journal_next(src_journal *j, const char **line, size_t *len)
{
	int r;

	if (j->at_end && j->watching) {
		/* after the end: take in new files (rotation) before reading
		 * on, so that entries of several files come in their order */
		if ((r = sd_journal_process(j->j)) < 0) {
			snprintf(j->err, sizeof(j->err), "journal: %s",
			    strerror(-r));
			return -1;
		}
	}
	j->at_end = 0;
	for (;;) {
		uint64_t usec;
		long long count;
		int wanted;

		if ((r = sd_journal_next(j->j)) < 0) {
			snprintf(j->err, sizeof(j->err), "journal: %s",
			    strerror(-r));
			return -1;
		}
		if (r == 0) {
			j->at_end = 1;
			return 0;
		}
		if (j->skip_saved) {
			/* the saved entry itself, if it is still there */
			j->skip_saved = 0;
			if (sd_journal_test_cursor(j->j, j->saved) > 0)
				continue;
		}
		if ((r = sd_journal_get_realtime_usec(j->j, &usec)) < 0) {
			snprintf(j->err, sizeof(j->err), "journal: an entry "
			    "without a time: %s", strerror(-r));
			return -1;
		}
		if (read_entry(j) != 0)
			return -1;
		if (as_notice(j, &count, &wanted)) {
			if (wanted && push_notice(j, count, usec) != 0)
				return -1;
			continue;
		}
		if (!j->e.has_msg)
			continue;	/* no MESSAGE: not a log line */
		build_line(j, usec);
		if (get_cursor(j, j->cursor, sizeof(j->cursor)) != 0)
			return -1;
		j->before_line = j->npend;
		*line = j->line.s;
		*len = j->line.len;
		return 1;
	}
}

/*
 * src_journal_position - the cursor of the last entry handed out (or of
 * a notice read after it); reports the notices this position covers
 */
void
src_journal_position(src_journal *j, src_pos *out)
{
	int i;

	for (i = 0; i < j->npend; i++) {
		notice *nt = &j->pend[i];

		if (j->loss_fn != NULL)
			j->loss_fn(j->loss_arg, j->loss_name ? j->loss_name
			    : j->name, nt->count, nt->ts, nt->text);
		if (i >= j->before_line)
			snprintf(j->cursor, sizeof(j->cursor), "%s",
			    nt->cursor);
		free(nt->cursor);
		free(nt->text);
	}
	j->npend = j->before_line = 0;
	snprintf(out->cursor, sizeof(out->cursor), "%s", j->cursor);
	snprintf(out->path, sizeof(out->path), "%s", *j->dir ? j->dir
	    : "system journal");
}

/* src_journal_error - the last error */
const char *
src_journal_error(const src_journal *j)
{
	if (j == NULL || j->err[0] == '\0')
		return "journal: unknown error";
	return j->err;
}

/* src_journal_set_loss_fn - where suppression notices go */
void
src_journal_set_loss_fn(src_journal *j, src_loss_fn fn, void *arg,
    const char *name)
{
	j->loss_fn = fn;
	j->loss_arg = arg;
	free(j->loss_name);
	j->loss_name = name ? xstrdup(name) : NULL;
}

/* src_journal_close - release; NULL is a no-op */
void
src_journal_close(src_journal *j)
{
	int i;

	if (j == NULL)
		return;
	if (j->j != NULL)
		sd_journal_close(j->j);
	for (i = 0; i < j->npend; i++) {
		free(j->pend[i].cursor);
		free(j->pend[i].text);
	}
	free(j->pend);
	for (i = 0; i < j->nunits; i++)
		free(j->units[i]);
	free(j->units);
	sb_free(&j->line);
	sb_free(&j->e.msg);
	free(j->loss_name);
	free(j->name);
	free(j->dir);
	free(j);
}

#else /* RG_NO_JOURNAL */

/* src_journal_open - built without libsystemd: refuse */
src_journal *
src_journal_open(const rg_source_cfg *sc, const src_pos *saved, char *err,
    size_t errsz)
{
	(void)saved;
	snprintf(err, errsz, "[source %s] type = journal: relayguard was "
	    "built without libsystemd", sc->name);
	return NULL;
}

/* src_journal_set_max_line - never reached */
void
src_journal_set_max_line(src_journal *j, size_t max_line)
{
	(void)j; (void)max_line;
}

/* src_journal_next - never reached */
int
src_journal_next(src_journal *j, const char **line, size_t *len)
{
	(void)j; (void)line; (void)len;
	return -1;
}

/* src_journal_position - never reached */
void
src_journal_position(src_journal *j, src_pos *out)
{
	(void)j; (void)out;
}

/* src_journal_error - never reached */
const char *
src_journal_error(const src_journal *j)
{
	(void)j;
	return "built without libsystemd";
}

/* src_journal_set_loss_fn - never reached */
void
src_journal_set_loss_fn(src_journal *j, src_loss_fn fn, void *arg,
    const char *name)
{
	(void)j; (void)fn; (void)arg; (void)name;
}

/* src_journal_close - nothing to release */
void
src_journal_close(src_journal *j)
{
	(void)j;
}

#endif /* RG_NO_JOURNAL */
