/*
 * test_linereader.c - the line reader's check (lr_set_check): called after
 * every read that got bytes, before any of them is handed out; when it
 * says the file is no longer the one read (truncated in place and written
 * again, as logrotate's copytruncate leaves it), nothing read since is
 * handed out and lr_consumed() still says how far the old file was read.
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
	unlink(path);
	UNIT_EXIT();
}
