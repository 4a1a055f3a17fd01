/*
 * test_linereader.c - the line reader's check (lr_set_check): called after
 * every read that got bytes, before any of them is handed out; when it
 * says the file is no longer the one read (truncated in place and written
 * again, as logrotate's copytruncate leaves it), nothing read since is
 * handed out and lr_consumed() still says how far the old file was read.
 * And reading into lent buffers (lr_lend, parse's front end: the batches'
 * bytes).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/linereader.h"
#include "unit.h"

typedef struct head {
	char want[64];		/* the file's first bytes, as first read */
	size_t len;
	int calls;
} head;

/* same_head - the check: does the file still start with h->want? */
static int
same_head(void *arg, int fd)
{
	head *h = arg;
	char buf[64];

	h->calls++;
	return pread(fd, buf, h->len, 0) != (ssize_t)h->len
	    || memcmp(buf, h->want, h->len) != 0;
}

/* put - write s to path (O_TRUNC: truncated in place, same inode) or append */
static void
put(const char *path, const char *s, int trunc)
{
	int fd = open(path, O_WRONLY | O_CREAT | (trunc ? O_TRUNC : O_APPEND),
	    0644);

	if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		perror(path);
	close(fd);
}

/* t_replaced - truncated and written past the offset: nothing new read */
static void
t_replaced(const char *path, int live)
{
	linereader *lr;
	const char *line;
	size_t len;
	head h = { "Nov 28 00:00:01 one", 19, 0 };

	put(path, "Nov 28 00:00:01 one\nNov 28 00:00:02 two\nNov 28 00:0", 1);
	CHECK((lr = lr_open(path, 1000)) != NULL);
	if (lr == NULL)
		return;
	lr_set_live(lr, live);
	lr_set_check(lr, same_head, &h);
	CHECK(lr_next(lr, &line, &len) == 1 && len == 19);
	CHECK(lr_next(lr, &line, &len) == 1 && len == 19);
	if (live)
		CHECK(lr_next(lr, &line, &len) == 0);	/* the half line waits */
	CHECK(lr_consumed(lr) == 40);
	/* copytruncate, then more than was read written again */
	put(path, "Nov 28 00:01:00 new first line, longer than what was "
	    "read before\nNov 28 00:01:01 new second\n", 1);
	CHECK(lr_next(lr, &line, &len) == 0);
	CHECK(lr_replaced(lr) == 1);
	CHECK(lr_next(lr, &line, &len) == 0);
	CHECK(lr_consumed(lr) == 40);
	CHECK(h.calls >= 2);
	lr_close(lr);
}

/* t_same - a file only appended to: every line, one check a read */
static void
t_same(const char *path)
{
	linereader *lr;
	const char *line;
	size_t len;
	int n = 0;
	head h = { "Nov 28 00:00:01 one", 19, 0 };

	put(path, "Nov 28 00:00:01 one\n", 1);
	CHECK((lr = lr_open(path, 1000)) != NULL);
	if (lr == NULL)
		return;
	lr_set_live(lr, 1);
	lr_set_check(lr, same_head, &h);
	while (lr_next(lr, &line, &len) == 1)
		n++;
	put(path, "Nov 28 00:00:02 two\nNov 28 00:00:03 three\n", 0);
	while (lr_next(lr, &line, &len) == 1)
		n++;
	CHECK(n == 3);
	CHECK(lr_replaced(lr) == 0);
	CHECK(h.calls == 2);		/* two reads got bytes */
	CHECK(lr_consumed(lr) == 62);
	lr_close(lr);
}

/*
 * t_lend - read into lent buffers: every line handed out stays where it
 * was put while later lines are read (into the same buffer, then into the
 * next), 2 when a buffer is full, the unread bytes carried into the next;
 * a line over the maximum cut, CR and the last newline as ever
 */
static void
t_lend(const char *path)
{
	enum { NBUF = 400, CAP = 210, MAX = 100 };
	static char bufs[NBUF][CAP];
	const char *got[400];
	size_t gotlen[400];
	char want[400][128];
	linereader *lr;
	const char *line;
	size_t len;
	int fd, i, n = 0, lent = 0, r, ok = 1;

	fd = open(path, O_WRONLY | O_TRUNC);
	for (i = 0; i < 300; i++) {
		char l[300], num[16];
		int k = i % 37 == 5 ? 150 : 10 + (i * 7) % 60;

		memset(l, 'a' + i % 26, (size_t)k);
		snprintf(num, sizeof(num), "%05d x", i);
		memcpy(l, num, 7);
		l[k] = '\n';
		if (i % 11 == 3)	/* CRLF */
			l[k - 1] = '\r';
		if (write(fd, l, (size_t)k + (i < 299)) < 0)
			perror(path);
		if (k > MAX)
			k = MAX;	/* cut */
		else if (i % 11 == 3)
			k--;
		memcpy(want[i], l, (size_t)k);
		want[i][k] = '\0';
	}
	close(fd);
	CHECK((lr = lr_open(path, MAX)) != NULL);
	if (lr == NULL)
		return;
	CHECK(lr_lend(lr, bufs[0], 2 * MAX + 1) == -1);	/* too small */
	CHECK(lr_lend(lr, bufs[lent++], CAP) == 0);
	while ((r = lr_next(lr, &line, &len)) != 0 && n < 400) {
		if (r == 2) {
			if (lent == NBUF)
				break;
			CHECK(lr_lend(lr, bufs[lent++], CAP) == 0);
			continue;
		}
		got[n] = line;
		gotlen[n++] = len;
		if (n % 50 == 0 && lent < NBUF)	/* as a full batch would */
			CHECK(lr_lend(lr, bufs[lent++], CAP) == 0);
	}
	CHECK(n == 300);
	CHECK(lent > 10 && lent < NBUF);
	for (i = 0; i < n && i < 300; i++) {
		if (gotlen[i] != strlen(want[i])
		    || memcmp(got[i], want[i], gotlen[i]) != 0) {
			if (ok)
				fprintf(stderr, "line %d: '%.*s' not '%s'\n",
				    i, (int)gotlen[i], got[i], want[i]);
			ok = 0;
		}
	}
	CHECK(ok);
	CHECK(lr_truncated(lr) == 8);	/* i % 37 == 5 */
	lr_close(lr);
}

int
main(void)
{
	char path[] = "/tmp/rg-test-lr.XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0) {
		perror("mkstemp");
		return 1;
	}
	close(fd);
	CASE("linereader: a live file truncated and written past the offset: "
	    "nothing of the new content handed out, lr_replaced",
	    t_replaced(path, 1));
	CASE("linereader: the same when not live (the half line not handed "
	    "out at the end)", t_replaced(path, 0));
	CASE("linereader: a file only appended to: every line, one check a "
	    "read that got bytes", t_same(path));
	CASE("linereader: read into lent buffers, every line stays where it "
	    "was handed out, a full buffer says so, the rest goes on in the "
	    "next", t_lend(path));
	unlink(path);
	UNIT_EXIT();
}
