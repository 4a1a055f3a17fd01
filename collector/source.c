/*
 * source.c - file and standard-input sources, and the dispatch to the
 * journal source. Owns the open reader, the list of rotated files still to
 * read, and the left file. A file source never loses its place: whatever
 * happened to the file (renamed, compressed, copied and truncated,
 * replaced), the file that starts with the saved fingerprint is found among
 * the path and its rotated siblings and finished from the saved offset,
 * then every newer one. A file truncated in place is known by its head,
 * not its size: the live file's reader checks that it still starts with
 * the fingerprinted bytes after every read that got something, before any
 * of it is handed out (live_check), and at its end; so a copytruncate is
 * seen also when the file has been written past our offset again, and
 * nothing of the new content is read from the old offset.
 *
 * A renamed file is left only once the file at the path has something in
 * it (its writer, or another, has moved there). Even then the writer may
 * still append to the renamed file (postlogd until "postfix reload",
 * rsyslog until its HUP, a slow postrotate): the file left last stays open
 * as the left file, and whatever is appended to it is handed out before
 * the next line of the file being read, until the next rotation leaves
 * another file (or it was compressed, or removed and quiet for
 * LEFT_WAIT_USEC). Its fingerprint and how far it was read are the
 * position's prev_* fields: the next run (collect --once) opens it again
 * there.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../common/hash.h"
#include "../common/linereader.h"
#include "../common/rgtime.h"
#include "../common/xalloc.h"
#include "source.h"
#include "src_journal.h"

/* a left file that was removed and has been quiet this long is closed */
#define LEFT_WAIT_USEC (300 * 1000000LL)

struct rg_source {
	char *name;
	enum { SK_FILE, SK_STDIN, SK_JOURNAL } kind;
	size_t max_line;
	char err[1600];
	/* file and stdin */
	char *path;			/* the configured path */
	linereader *lr;
	char cur[1024];			/* the file being read */
	int cur_is_live;		/* cur is the configured path itself */
	int cur_gz;			/* cur is compressed */
	dev_t cur_dev;
	ino_t cur_ino;
	time_t cur_mtime;
	uint64_t fp;
	long long fp_len;
	long long base;			/* offset where lr started */
	char **queue;			/* rotated files to read next, oldest first */
	long long *qoffset;		/* ... and where to start in each */
	int nqueue, qnext;
	long long live_offset;		/* where to start the live path after them */
	linereader *left;		/* the rotated file left last, still */
	char left_path[1024];		/* ... read for late lines (its name) */
	int left_gz;			/* compressed: nothing more can come */
	int left_due;			/* look at it before the next line */
	long long left_quiet;		/* removed, at its end since (usec) */
	uint64_t prev_fp;		/* the left file (src_pos): its */
	long long prev_fp_len, prev_offset;	/* fingerprint, how far read */
	src_pos saved_state;		/* year state, lines */
	long long lines;
	/* journal */
	src_journal *jr;
};

/* src_fingerprint - FNV-1a 64 (common/hash.h) */
uint64_t
src_fingerprint(const char *buf, size_t n)
{
	return rg_hash64(buf, n);
}

/* gz_open - a file for reading through zlib (plain or gzip); NULL if not */
static gzFile
gz_open(const char *path)
{
	gzFile gz;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	if ((gz = gzdopen(fd, "rb")) == NULL)
		close(fd);
	return gz;
}

/*
 * head_of - the first n (decompressed) bytes of a file; -1 if unreadable.
 * If id is not NULL, it gets the device and inode of the file read.
 */
static long long
head_of(const char *path, char *buf, size_t n, struct stat *id)
{
	gzFile gz;
	int fd, r;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if (id != NULL && fstat(fd, id) != 0) {
		close(fd);
		return -1;
	}
	if ((gz = gzdopen(fd, "rb")) == NULL) {
		close(fd);
		return -1;
	}
	r = gzread(gz, buf, (unsigned)n);
	gzclose(gz);
	return r < 0 ? -1 : r;
}

/*
 * matches - does the file at path start with the fingerprinted bytes? If
 * id is not NULL, it gets the device and inode of the file that does.
 */
static int
matches(const char *path, uint64_t fp, long long fp_len, struct stat *id)
{
	char buf[SRC_FP_MAX];
	long long n;

	if (fp_len <= 0 || fp_len > SRC_FP_MAX)
		return 0;
	n = head_of(path, buf, (size_t)fp_len, id);
	return n == fp_len && src_fingerprint(buf, (size_t)n) == fp;
}

/* content_size - the decompressed size of a file (gzip: read it) */
static long long
content_size(const char *path)
{
	char buf[65536];
	long long total = 0;
	gzFile gz;
	int r;

	if ((gz = gz_open(path)) == NULL)
		return -1;
	if (gzdirect(gz)) {
		/* not compressed: its size, without reading it */
		struct stat st;

		gzclose(gz);
		return stat(path, &st) == 0 ? (long long)st.st_size : -1;
	}
	while ((r = gzread(gz, buf, sizeof(buf))) > 0)
		total += r;
	gzclose(gz);
	return total;
}

typedef struct cand {
	char *path;
	time_t mtime;
	long long mtime_ns;
	dev_t dev;			/* the file at the path when listed */
	ino_t ino;
	long num;			/* path.N[.gz]: N; else -1 (a date) */
	int rank;			/* the live path last among equals */
} cand;

/*
 * rotation_number - N of a numbered rotated name (path.N, path.N.gz,
 * path-N...: fewer than 8 digits after the separator, then the end or a
 * dot); -1 for anything else, such as a date (path-20261205).
 */
static long
rotation_number(const char *suffix)
{
	long n = 0;
	int d = 0;

	for (; *suffix >= '0' && *suffix <= '9' && d < 8; suffix++, d++)
		n = n * 10 + (*suffix - '0');
	return d > 0 && d < 8 && (*suffix == '\0' || *suffix == '.') ? n : -1;
}

/*
 * cmp_cand - oldest first: by mtime; between equal mtimes (copies that
 * kept them), a higher rotation number is older (.10 before .9 before
 * .1), and a dated name older than a later date
 */
static int
cmp_cand(const void *x, const void *y)
{
	const cand *a = x, *b = y;

	if (a->rank != b->rank && (a->rank == 1 || b->rank == 1))
		return a->rank - b->rank;	/* the live file is the newest */
	if (a->mtime_ns != b->mtime_ns)
		return a->mtime_ns < b->mtime_ns ? -1 : 1;
	if (a->num >= 0 && b->num >= 0 && a->num != b->num)
		return a->num > b->num ? -1 : 1;
	if (a->num < 0 && b->num < 0)
		return strcmp(a->path, b->path);
	return strcmp(b->path, a->path);
}

/* siblings - the path's rotated files (path.*, path-*), oldest first */
static int
siblings(const char *path, cand **out)
{
	char pat[1100];
	glob_t g;
	cand *c = NULL;
	int n = 0;
	size_t i, k;
	const char *suffix[] = { ".*", "-*" };

	for (k = 0; k < 2; k++) {
		snprintf(pat, sizeof(pat), "%s%s", path, suffix[k]);
		memset(&g, 0, sizeof(g));
		if (glob(pat, GLOB_NOSORT, NULL, &g) != 0) {
			globfree(&g);
			continue;
		}
		for (i = 0; i < g.gl_pathc; i++) {
			struct stat st;

			if (stat(g.gl_pathv[i], &st) != 0 || !S_ISREG(st.st_mode))
				continue;
			c = xrealloc(c, (size_t)(n + 1) * sizeof(cand));
			c[n].path = xstrdup(g.gl_pathv[i]);
			c[n].mtime = st.st_mtime;
			c[n].mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL
			    + st.st_mtim.tv_nsec;
			c[n].dev = st.st_dev;
			c[n].ino = st.st_ino;
			c[n].num = rotation_number(g.gl_pathv[i] + strlen(path)
			    + 1);
			c[n].rank = 0;
			n++;
		}
		globfree(&g);
	}
	if (n > 1)
		qsort(c, (size_t)n, sizeof(cand), cmp_cand);
	*out = c;
	return n;
}

/* is_gzip - does the open file start with gzip's magic bytes? */
static int
is_gzip(int fd)
{
	unsigned char m[2];

	return pread(fd, m, 2, 0) == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

/* pread_head - the first n bytes of an open plain file; -1 if unreadable */
static long long
pread_head(int fd, char *buf, size_t n)
{
	ssize_t r;
	size_t got = 0;

	while (got < n) {
		r = pread(fd, buf + got, n - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (long long)got;
}

/*
 * fingerprint_now - (re)take the fingerprint of the file being read, over
 * its first upto bytes (at most SRC_FP_MAX). A plain file is read through
 * the open descriptor, not the path (which may name another file by now),
 * and only if it still starts with the bytes fingerprinted so far:
 * truncated in place, it keeps the old fingerprint, by which the check
 * finds it out and its copy is found.
 */
static void
fingerprint_now(rg_source *s, long long upto)
{
	char buf[SRC_FP_MAX];
	long long n;
	uint64_t h;

	if (upto > SRC_FP_MAX)
		upto = SRC_FP_MAX;
	if (upto <= s->fp_len)
		return;
	if (s->lr != NULL && !s->cur_gz)
		n = pread_head(lr_fd(s->lr), buf, (size_t)upto);
	else
		n = head_of(s->cur, buf, (size_t)upto, NULL);
	if (n != upto)
		return;
	h = src_fingerprint(buf, (size_t)s->fp_len);
	if (s->fp_len > 0 && h != s->fp)
		return;
	s->fp = rg_hash64_more(h, buf + s->fp_len, (size_t)(n - s->fp_len));
	s->fp_len = n;
}

/*
 * head_changed - does the open plain file fd no longer start with the
 * fingerprinted bytes (truncated in place, and perhaps written again past
 * the offset read)? A pread of at most SRC_FP_MAX bytes and their hash.
 */
static int
head_changed(const rg_source *s, int fd)
{
	char buf[SRC_FP_MAX];
	long long n;

	if (s->fp_len <= 0 || s->cur_gz)
		return 0;
	if ((n = pread_head(fd, buf, (size_t)s->fp_len)) < 0)
		return 0;	/* cannot tell: the read itself will say */
	return n != s->fp_len || src_fingerprint(buf, (size_t)n) != s->fp;
}

/*
 * live_check - the live file's reader asks after every read(2) that got
 * bytes, before it hands any of them out (lr_set_check): is the file
 * still the one whose head we know? Not: the bytes are dropped, and
 * src_next finds the copy (copytruncate) and reads on from what was
 * handed out.
 */
static int
live_check(void *arg, int fd)
{
	const rg_source *s = arg;

	if (s->lr == NULL || lr_fd(s->lr) != fd || !s->cur_is_live)
		return 0;
	return head_changed(s, fd);
}

/* open_file - start reading path at offset */
static int
open_file(rg_source *s, const char *path, long long offset, int live)
{
	struct stat st;

	lr_close(s->lr);
	s->lr = NULL;
	snprintf(s->cur, sizeof(s->cur), "%s", path);
	s->cur_is_live = live;
	if ((s->lr = lr_open(path, s->max_line)) == NULL) {
		snprintf(s->err, sizeof(s->err), "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(lr_fd(s->lr), &st) == 0) {
		s->cur_dev = st.st_dev;
		s->cur_ino = st.st_ino;
		s->cur_mtime = st.st_mtime;
	}
	s->cur_gz = is_gzip(lr_fd(s->lr));
	lr_set_live(s->lr, live);
	if (live)
		lr_set_check(s->lr, live_check, s);
	s->base = 0;
	if (offset > 0 && lr_skip(s->lr, offset) != 0) {
		snprintf(s->err, sizeof(s->err), "%s: shorter than the saved "
		    "position %lld", path, offset);
		return -1;
	}
	s->fp = 0;
	s->fp_len = 0;
	fingerprint_now(s, offset > 0 ? offset : 1);
	return 0;
}

/* left_close - stop reading the left file (prev_* still say how far) */
static void
left_close(rg_source *s)
{
	lr_close(s->left);
	s->left = NULL;
	s->left_path[0] = '\0';
	s->left_quiet = 0;
}

/* left_forget - the left file is finished for good, or gone */
static void
left_forget(rg_source *s)
{
	left_close(s);
	s->prev_fp = 0;
	s->prev_fp_len = 0;
	s->prev_offset = 0;
}

/* left_open - read path as the left file from prev_offset; -1 if not */
static int
left_open(rg_source *s, const char *path)
{
	left_close(s);
	if ((s->left = lr_open(path, s->max_line)) == NULL)
		return -1;
	if (s->prev_offset > 0 && lr_skip(s->left, s->prev_offset) != 0) {
		left_close(s);
		return -1;
	}
	snprintf(s->left_path, sizeof(s->left_path), "%s", path);
	s->left_due = 1;
	s->left_gz = is_gzip(lr_fd(s->left));
	/* a plain file may still be written: a line without its newline
	 * waits for the rest */
	lr_set_live(s->left, !s->left_gz);
	return 0;
}

/*
 * leave_main - the file being read is done with (a newer one is next):
 * it becomes the left file, whose late lines are still read; the one left
 * before is closed
 */
static void
leave_main(rg_source *s)
{
	left_close(s);
	if (s->lr == NULL || s->fp_len <= 0) {
		/* nothing read from it, nothing to know it by */
		lr_close(s->lr);
		s->lr = NULL;
		s->prev_fp = 0;
		s->prev_fp_len = 0;
		s->prev_offset = 0;
		return;
	}
	s->left = s->lr;
	s->lr = NULL;
	lr_set_check(s->left, NULL, NULL);	/* s->fp is not its any more */
	snprintf(s->left_path, sizeof(s->left_path), "%s", s->cur);
	s->left_due = 1;
	s->left_gz = is_gzip(lr_fd(s->left));
	lr_set_live(s->left, !s->left_gz);
	s->prev_fp = s->fp;
	s->prev_fp_len = s->fp_len;
	s->prev_offset = lr_consumed(s->left);
}

/*
 * left_next - a line appended to the left file since it was last looked
 * at: 1 (prev_offset moved past it), or 0 (none; after a read error,
 * warned, none ever)
 */
static int
left_next(rg_source *s, const char **line, size_t *len)
{
	struct stat st;
	long long now;
	int r;

	if (s->left == NULL)
		return 0;
	if ((r = lr_next(s->left, line, len)) == 1) {
		s->prev_offset = lr_consumed(s->left);
		s->left_quiet = 0;
		return 1;
	}
	if (r < 0) {
		/* what it held up to here was read; the file being read is
		 * not given up for it */
		fprintf(stderr, "relayguard: [source %s] %s: %s; not read "
		    "further\n", s->name, s->left_path, lr_error(s->left));
		left_forget(s);
		return 0;
	}
	if (s->left_gz) {
		/* compressed: read to its end, finished */
		left_forget(s);
		return 0;
	}
	/* removed (compressed without delaycompress, deleted): only we can
	 * still read what its writer appends; for a while */
	if (fstat(lr_fd(s->left), &st) != 0 || st.st_nlink > 0)
		return 0;
	now = rgt_now();
	if (s->left_quiet == 0)
		s->left_quiet = now;
	if (now - s->left_quiet < LEFT_WAIT_USEC)
		return 0;
	/* a last line without its newline, then no more */
	lr_set_live(s->left, 0);
	if (lr_next(s->left, line, len) == 1) {
		s->prev_offset = lr_consumed(s->left);
		return 1;
	}
	left_forget(s);
	return 0;
}

/*
 * left_find - open the left file of a saved position (prev_*) among the
 * candidates (not the one at index found), plain before compressed; if it
 * is not there any more, forget it
 */
static void
left_find(rg_source *s, const cand *c, int n, int found)
{
	int i, pass, fd, gz;

	for (pass = 0; pass < 2; pass++) {
		for (i = n - 1; i >= 0; i--) {
			/* the live path is never the file left */
			if (i == found || c[i].rank == 1)
				continue;
			if ((fd = open(c[i].path, O_RDONLY | O_CLOEXEC)) < 0)
				continue;
			gz = is_gzip(fd);
			close(fd);
			if (gz != pass || !matches(c[i].path, s->prev_fp,
			    s->prev_fp_len, NULL) || content_size(c[i].path)
			    < s->prev_offset)
				continue;
			if (left_open(s, c[i].path) == 0)
				return;
		}
	}
	left_forget(s);
}

/* queue_clear - forget the rotated files still to read */
static void
queue_clear(rg_source *s)
{
	int i;

	for (i = 0; i < s->nqueue; i++)
		free(s->queue[i]);
	free(s->queue);
	free(s->qoffset);
	s->queue = NULL;
	s->qoffset = NULL;
	s->nqueue = s->qnext = 0;
	s->live_offset = 0;
}

/* queue_push - read path from offset after what is queued */
static void
queue_push(rg_source *s, const char *path, long long offset)
{
	s->queue = xrealloc(s->queue, (size_t)(s->nqueue + 1) * sizeof(char *));
	s->qoffset = xrealloc(s->qoffset, (size_t)(s->nqueue + 1)
	    * sizeof(long long));
	s->queue[s->nqueue] = xstrdup(path);
	s->qoffset[s->nqueue] = offset;
	s->nqueue++;
}

/* open_next - the next queued file, else the live path */
static int
open_next(rg_source *s)
{
	long long off;

	if (s->qnext < s->nqueue) {
		int i = s->qnext++;

		if (open_file(s, s->queue[i], s->qoffset[i], 0) != 0)
			return -1;
		/* the newest rotated file may still be written to: a line
		 * without its newline waits for the rest */
		if (i == s->nqueue - 1 && !is_gzip(lr_fd(s->lr)))
			lr_set_live(s->lr, 1);
		return 0;
	}
	off = s->live_offset;
	s->live_offset = 0;		/* used once */
	return open_file(s, s->path, off, 1);
}

/* how often locate looks when a rotation moves the files under it */
#define LOCATE_TRIES	3

/*
 * locate_once - one look at the files for a saved position (see locate),
 * or, with after, for the files that came after the one just left (the
 * left file: fp, fp_len, offset are its). Returns 0 (opened), -1 (error in
 * s->err), or, unless last, 1: the files moved while we looked (look
 * again).
 */
static int
locate_once(rg_source *s, uint64_t fp, long long fp_len, long long offset,
    int last, int after)
{
	cand *c = NULL;
	int n, i, r, found = -1, live_errno = 0;
	struct stat st, id, found_id;
	int live_exists = stat(s->path, &st) == 0;

	memset(&found_id, 0, sizeof(found_id));
	if (!live_exists)
		live_errno = errno;
	queue_clear(s);
	n = siblings(s->path, &c);
	if (live_exists) {
		c = xrealloc(c, (size_t)(n + 1) * sizeof(cand));
		c[n].path = xstrdup(s->path);
		c[n].mtime = st.st_mtime;
		c[n].mtime_ns = 0;
		c[n].dev = st.st_dev;
		c[n].ino = st.st_ino;
		c[n].num = -1;
		c[n].rank = 1;
		n++;
	}
	/* the live file first (the common case), then the newest sibling */
	for (i = n - 1; fp_len > 0 && i >= 0 && found < 0; i--) {
		if (matches(c[i].path, fp, fp_len, &id)) {
			long long size = content_size(c[i].path);

			if (size >= offset) {
				found = i;
				found_id = id;
			}
		}
	}
	/*
	 * Not found: a rotation may have renamed the file after the list was
	 * taken and before it was read (logrotate's create: the live path is
	 * then the new file, and the old one's new name is not in the list).
	 * Whatever made it miss was done before the miss, so a second look
	 * sees its result.
	 */
	if (found < 0 && fp_len > 0 && !last) {
		r = 1;
		goto out;
	}
	/*
	 * The rotated file left last may have been appended to after we left
	 * it (postlogd writes to a renamed file until "postfix reload"): it
	 * is read again from there, its new lines before the others'.
	 */
	if (!after && s->left == NULL && s->prev_fp_len > 0)
		left_find(s, c, n, fp_len > 0 ? found : -1);
	if (found >= 0) {
		/* the file to open first, and what it must be: a rotation
		 * between the look and the open may have put another at its
		 * path (the live path renamed, a numbered name moved on) */
		struct stat want = found_id;
		int check = 1;

		if (c[found].rank == 1) {
			/* after: the file left is at the live path again,
			 * the one to read on, not a left file */
			if (after)
				left_forget(s);
			s->live_offset = offset;
		} else {
			/* after: its own late lines come from the left file;
			 * the file after it opens first */
			if (!after)
				queue_push(s, c[found].path, offset);
			else if ((check = found + 1 < n)) {
				want.st_dev = c[found + 1].dev;
				want.st_ino = c[found + 1].ino;
			}
			for (i = found + 1; i < n; i++)
				if (c[i].rank != 1)
					queue_push(s, c[i].path, 0);
		}
		r = open_next(s);
		if (!last && (r != 0 || (check && (s->cur_dev != want.st_dev
		    || s->cur_ino != want.st_ino))))
			r = 1;
		goto out;
	}
	/* never read, or the file we were reading is gone: the live file
	 * from its start */
	if (!live_exists) {
		snprintf(s->err, sizeof(s->err), "%s: %s", s->path,
		    strerror(fp_len > 0 ? ENOENT : live_errno));
		r = -1;
		goto out;
	}
	if (fp_len > 0 && !after)
		fprintf(stderr, "relayguard: [source %s] the file read last "
		    "(%s) is no longer there; reading %s from its start\n",
		    s->name, s->cur[0] ? s->cur : "?", s->path);
	r = open_file(s, s->path, 0, 1);
out:
	for (i = 0; i < n; i++)
		free(c[i].path);
	free(c);
	return r;
}

/*
 * locate - from a saved position (fingerprint and offset), decide what to
 * read: the file that starts with the fingerprint, from the offset, then
 * every newer rotated file, then the live path; and the left file of the
 * position (prev_*), unless it is open already. With after, the position
 * is the left file's, and what is read is what comes after it. A rotation
 * at the same moment makes it look again, at most LOCATE_TRIES times in
 * all.
 */
static int
locate(rg_source *s, uint64_t fp, long long fp_len, long long offset,
    int after)
{
	int try, r = 1;

	for (try = 1; r == 1; try++)
		r = locate_once(s, fp, fp_len, offset, try == LOCATE_TRIES,
		    after);
	return r;
}

/*
 * next_file - the main file is finished and has just been left (it is the
 * left file now): open the one after it. The list of files is taken again
 * for it, not kept from before: while the file was read, the log may have
 * been rotated more than once (each rotated file between is read), and
 * numbered names (maillog.1) may have moved to other files. A file left
 * with nothing to know it by (empty) is followed by the next queued one,
 * else the live path, from their starts.
 */
static int
next_file(rg_source *s)
{
	if (s->left == NULL || s->prev_fp_len <= 0)
		return open_next(s);
	return locate(s, s->prev_fp, s->prev_fp_len, s->prev_offset, 1);
}

/*
 * rotated - is the live file no longer the one at the path (renamed, or
 * truncated in place)?
 */
static int
rotated(rg_source *s)
{
	struct stat st;

	if (stat(s->path, &st) != 0)
		return 0;	/* renamed, new one not there yet: keep reading */
	if (st.st_dev != s->cur_dev || st.st_ino != s->cur_ino)
		return 1;
	return (long long)st.st_size < lr_consumed(s->lr);
}

/*
 * moved_on - has something been written to the file at the path (so its
 * writer, or one of them, has moved there from the renamed one)?
 */
static int
moved_on(const rg_source *s)
{
	struct stat st;

	return stat(s->path, &st) == 0 && st.st_size > 0;
}

/* src_open - open a configured source at its saved position */
rg_source *
src_open(const rg_source_cfg *sc, const src_pos *saved, size_t max_line,
    char *err, size_t errsz)
{
	rg_source *s = xcalloc(1, sizeof(*s));

	s->name = xstrdup(sc->name);
	s->max_line = max_line;
	s->saved_state = *saved;
	s->lines = saved->lines;
	if (strcmp(sc->type, "journal") == 0) {
		s->kind = SK_JOURNAL;
		s->jr = src_journal_open(sc, saved, err, errsz);
		if (s->jr == NULL) {
			src_close(s);
			return NULL;
		}
		src_journal_set_max_line(s->jr, max_line);
		return s;
	}
	if (strcmp(sc->type, "stdin") == 0) {
		s->kind = SK_STDIN;
		s->lr = lr_open(NULL, max_line);
		if (s->lr == NULL) {
			snprintf(err, errsz, "[source %s] standard input: %s",
			    sc->name, strerror(errno));
			src_close(s);
			return NULL;
		}
		snprintf(s->cur, sizeof(s->cur), "-");
		return s;
	}
	s->kind = SK_FILE;
	s->path = xstrdup(sc->path);
	s->prev_fp = saved->prev_fp;
	s->prev_fp_len = saved->prev_fp_len;
	s->prev_offset = saved->prev_offset;
	if (locate(s, saved->fp, saved->fp_len, saved->offset, 0) != 0) {
		snprintf(err, errsz, "[source %s] %s", sc->name, s->err);
		src_close(s);
		return NULL;
	}
	return s;
}

/* src_next - the next line; 0 when there is nothing more for now */
int
src_next(rg_source *s, const char **line, size_t *len)
{
	int r, left_checked = 0;

	if (s->kind == SK_JOURNAL) {
		r = src_journal_next(s->jr, line, len);
		if (r == 1)
			s->lines++;
		return r;
	}
	for (;;) {
		/*
		 * Late lines of the file left last come before this file's:
		 * looked for when it was just left or opened, and whenever
		 * this file is at its end (not at every line: a read and a
		 * stat each time)
		 */
		if (s->left != NULL && s->left_due) {
			if ((r = left_next(s, line, len)) != 0) {
				if (r == 1)
					s->lines++;
				return r;
			}
			s->left_due = 0;
			left_checked = 1;
		}
		r = lr_next(s->lr, line, len);
		if (r == 1) {
			s->lines++;
			if (s->fp_len < SRC_FP_MAX && s->kind == SK_FILE)
				fingerprint_now(s, lr_consumed(s->lr));
			return 1;
		}
		if (r < 0) {
			snprintf(s->err, sizeof(s->err), "%s: %s", s->cur,
			    lr_error(s->lr));
			return -1;
		}
		if (s->kind != SK_FILE)
			return 0;
		if (s->left != NULL && !left_checked) {
			s->left_due = 1;
			continue;
		}
		if (!s->cur_is_live) {
			/* a rotated file is finished: the next one, or the
			 * live path once something was written there */
			if (s->qnext >= s->nqueue && !moved_on(s))
				return 0;
			leave_main(s);
			if (next_file(s) != 0)
				return -1;
			if (s->qnext >= s->nqueue)
				queue_clear(s);
			continue;
		}
		/*
		 * The live file is at its end (or its reader found it changed
		 * before handing out what it read): truncated in place
		 * (copytruncate)? Its head says so even when it has been
		 * written past our offset again since, which its size cannot
		 * tell. Then its copy is read on from what was handed out
		 * (nothing of the new content was), then it from its start.
		 */
		if (lr_replaced(s->lr) || head_changed(s, lr_fd(s->lr))) {
			if (locate(s, s->fp, s->fp_len, lr_consumed(s->lr),
			    0) != 0)
				return -1;
			continue;
		}
		/* has it been rotated? */
		if (!rotated(s))
			return 0;
		{
			struct stat st;

			if (stat(s->path, &st) == 0 && st.st_ino == s->cur_ino
			    && st.st_dev == s->cur_dev) {
				/* truncated in place (copytruncate) */
				if (locate(s, s->fp, s->fp_len,
				    lr_consumed(s->lr), 0) != 0)
					return -1;
				continue;
			}
		}
		/* renamed: while the new file is empty its writer has not
		 * moved yet (postlogd writes to the old one until "postfix
		 * reload"): go on reading the old one. Once it has lines, go
		 * on there; the old one is the left file, still read for
		 * lines appended late. */
		if (!moved_on(s))
			return 0;
		leave_main(s);
		queue_clear(s);
		if (next_file(s) != 0)
			return -1;
	}
}

/* src_position - where to start again */
void
src_position(const rg_source *s, src_pos *out)
{
	/* the collector asks before every line: when out already holds this
	 * file's position (all but offset and lines the same), skip copying
	 * its 2 KiB */
	if (s->kind == SK_FILE && out->fp == s->fp && out->fp_len == s->fp_len
	    && out->prev_fp == s->prev_fp && out->prev_fp_len == s->prev_fp_len
	    && out->prev_offset == s->prev_offset
	    && out->year == s->saved_state.year
	    && out->last_month == s->saved_state.last_month
	    && strcmp(out->path, s->cur) == 0
	    && strcmp(out->cursor, s->saved_state.cursor) == 0) {
		out->lines = s->lines;
		out->offset = s->lr ? lr_consumed(s->lr) : 0;
		return;
	}
	*out = s->saved_state;
	out->lines = s->lines;
	if (s->kind == SK_JOURNAL) {
		src_journal_position(s->jr, out);
		return;
	}
	if (s->kind == SK_STDIN) {
		out->fp = 0;
		out->fp_len = 0;
		out->offset = s->lr ? lr_consumed(s->lr) : 0;
		return;
	}
	out->fp = s->fp;
	out->fp_len = s->fp_len;
	out->offset = s->lr ? lr_consumed(s->lr) : 0;
	out->prev_fp = s->prev_fp;
	out->prev_fp_len = s->prev_fp_len;
	out->prev_offset = s->prev_offset;
	snprintf(out->path, sizeof(out->path), "%s", s->cur);
}

/* src_mtime - the mtime of the file being read */
time_t
src_mtime(const rg_source *s)
{
	if (s->kind == SK_FILE && s->cur_mtime)
		return s->cur_mtime;
	return time(NULL);
}

/* src_name - the configured name */
const char *
src_name(const rg_source *s)
{
	return s->name;
}

/* src_error - the last error */
const char *
src_error(const rg_source *s)
{
	if (s->kind == SK_JOURNAL)
		return src_journal_error(s->jr);
	return s->err;
}

/* src_remaining - bytes left in the file being read (and the queue) */
long long
src_remaining(const rg_source *s)
{
	struct stat st;
	long long left;
	int i;

	if (s->kind != SK_FILE || s->lr == NULL)
		return -1;
	if (fstat(lr_fd(s->lr), &st) != 0)
		return -1;
	left = (long long)st.st_size - lr_consumed(s->lr);
	if (left < 0)
		left = 0;	/* compressed: the size is not the content's */
	for (i = s->qnext; i < s->nqueue; i++)
		if (stat(s->queue[i], &st) == 0)
			left += st.st_size;
	if (s->left != NULL && !s->left_gz && fstat(lr_fd(s->left), &st) == 0
	    && st.st_size > lr_consumed(s->left))
		left += (long long)st.st_size - lr_consumed(s->left);
	return left;
}

/* src_set_loss_fn - where journald's suppression notices go */
void
src_set_loss_fn(rg_source *s, src_loss_fn fn, void *arg)
{
	if (s->kind == SK_JOURNAL)
		src_journal_set_loss_fn(s->jr, fn, arg, s->name);
}

/* src_close - release; NULL is a no-op */
void
src_close(rg_source *s)
{
	if (s == NULL)
		return;
	lr_close(s->lr);
	lr_close(s->left);
	queue_clear(s);
	src_journal_close(s->jr);
	free(s->path);
	free(s->name);
	free(s);
}
