/*
 * linereader.c - buffered line reading over read(2) or zlib. Owns the file
 * descriptor (not standard input's), the zlib stream and the buffer. Errors
 * are returned as -1 with a message in lr_error().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "linereader.h"
#include "xalloc.h"

#define LR_BUFSIZE (1 << 20)

struct linereader {
	int fd;
	gzFile gz;
	char *buf;
	size_t cap;
	size_t start, end;	/* unread bytes are buf[start..end) */
	size_t max_line;
	int eof;
	int skipping;		/* inside the tail of an over-long line */
	int live;		/* a growing file: keep a partial last line */
	long long consumed;	/* bytes handed out (with newlines) */
	int rawfd;		/* the descriptor, also when zlib owns it */
	lr_check_fn check;	/* is the file still the one read? */
	void *check_arg;
	int replaced;		/* ... it was not: nothing more is read */
	char *own;		/* its own buffer while it reads into a lent
				 * one (lr_lend); NULL otherwise */
	uint64_t truncated;
	uint64_t bytes;
	char err[256];
};

/* lr_open - open PATH ("-" or NULL: standard input); NULL and errno on failure */
linereader *
lr_open(const char *path, size_t max_line)
{
	linereader *lr;
	unsigned char magic[2];
	ssize_t n;
	int fd;

	if (path == NULL || strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	lr = xcalloc(1, sizeof(*lr));
	lr->fd = fd;
	lr->rawfd = fd;
	lr->max_line = max_line < 64 ? 64 : max_line;
	lr->cap = LR_BUFSIZE > lr->max_line * 2 ? LR_BUFSIZE : lr->max_line * 2;
	lr->buf = xmalloc_huge(lr->cap);	/* faulted in 2 MiB at once */
	if (fd == STDIN_FILENO) {
		/* a pipe cannot seek back: let zlib sniff (it reads plain text too) */
		int d = dup(fd);

		if (d < 0 || (lr->gz = gzdopen(d, "rb")) == NULL) {
			int e = errno;

			if (d >= 0)
				close(d);
			lr_close(lr);
			errno = e ? e : ENOMEM;
			return NULL;
		}
		gzbuffer(lr->gz, 256 * 1024);
		lr->fd = -1;
		return lr;
	}
	/* look at the first two bytes: gzip or not */
	do
		n = read(fd, magic, 2);
	while (n < 0 && errno == EINTR);
	if (n < 0 || lseek(fd, 0, SEEK_SET) != 0) {
		int e = errno;

		lr_close(lr);
		errno = e;
		return NULL;
	}
	if (n == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
		if ((lr->gz = gzdopen(fd, "rb")) == NULL) {
			lr_close(lr);
			errno = ENOMEM;
			return NULL;
		}
		gzbuffer(lr->gz, 256 * 1024);
		lr->fd = -1;	/* owned by zlib now */
	}
	return lr;
}

/*
 * lr_fill - read more input after the unread bytes: 1, 0 at EOF, -1 on
 * error, 2 when a lent buffer is full (lr_lend)
 */
static int
lr_fill(linereader *lr)
{
	ssize_t n;

	if (lr->own != NULL) {
		/* a lent buffer: the lines handed out stay where they are */
		if (lr->end == lr->cap)
			return 2;
	} else if (lr->start > 0) {
		memmove(lr->buf, lr->buf + lr->start, lr->end - lr->start);
		lr->end -= lr->start;
		lr->start = 0;
	}
	if (lr->gz != NULL) {
		int r = gzread(lr->gz, lr->buf + lr->end,
		    (unsigned)(lr->cap - lr->end));

		if (r < 0) {
			int zerr;
			const char *m = gzerror(lr->gz, &zerr);

			snprintf(lr->err, sizeof(lr->err), "gzip: %s", m);
			return -1;
		}
		n = r;
	} else {
		do
			n = read(lr->fd, lr->buf + lr->end, lr->cap - lr->end);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			snprintf(lr->err, sizeof(lr->err), "read: %s",
			    strerror(errno));
			return -1;
		}
		/* the bytes are the file's only if its head is still there
		 * after the read (truncated and written again before it or
		 * during it, it is not) */
		if (n > 0 && lr->check != NULL
		    && lr->check(lr->check_arg, lr->fd) != 0) {
			lr->replaced = 1;
			return 0;
		}
	}
	lr->end += (size_t)n;
	lr->bytes += (uint64_t)n;
	return n > 0;
}

/*
 * lr_next - the next line: 1 with *line and *len set, 0 at end of input,
 * -1 on a read error, 2 when a lent buffer is full (lr_lend: lend another
 * and call again). A last line without a newline is returned too.
 */
int
lr_next(linereader *lr, const char **line, size_t *len)
{
	if (lr->replaced)
		return 0;
	for (;;) {
		char *p = lr->buf + lr->start;
		size_t avail = lr->end - lr->start;
		char *nl = memchr(p, '\n', avail);

		if (nl != NULL) {
			size_t l = (size_t)(nl - p);

			lr->start += l + 1;
			lr->consumed += (long long)l + 1;
			if (lr->skipping) {
				lr->skipping = 0;
				continue;
			}
			if (l > 0 && p[l - 1] == '\r')
				l--;
			if (l > lr->max_line) {
				l = lr->max_line;
				lr->truncated++;
			}
			*line = p;
			*len = l;
			return 1;
		}
		if (avail >= lr->max_line) {
			/* an over-long line: hand out its head, skip the rest */
			if (lr->skipping) {
				lr->consumed += (long long)avail;
				lr->start = lr->end;
			} else {
				lr->truncated++;
				lr->skipping = 1;
				*line = p;
				*len = lr->max_line;
				lr->consumed += (long long)avail;
				lr->start = lr->end;
				return 1;
			}
		}
		if (lr->eof) {
			if (lr->live) {
				/* more may come: read again next time */
				lr->eof = 0;
				return 0;
			}
			if (avail == 0 || lr->skipping)
				return 0;
			*line = p;
			*len = avail;
			lr->consumed += (long long)avail;
			lr->start = lr->end;
			return 1;
		}
		switch (lr_fill(lr)) {
		case -1:
			return -1;
		case 2:
			return 2;
		case 0:
			if (lr->replaced)
				return 0;
			lr->eof = 1;
			break;
		}
	}
}

/*
 * lr_lend_min - the smallest buffer lr_lend takes: the partial line carried
 * over (under the maximum, or it would have been cut) and a line of the
 * maximum after it
 */
size_t
lr_lend_min(const linereader *lr)
{
	return 2 * lr->max_line + 2;
}

/* lr_lend - see linereader.h */
int
lr_lend(linereader *lr, char *buf, size_t cap)
{
	size_t avail = lr->end - lr->start;

	if (cap < avail || cap < lr_lend_min(lr))
		return -1;
	memcpy(buf, lr->buf + lr->start, avail);
	if (lr->own == NULL)
		lr->own = lr->buf;
	lr->buf = buf;
	lr->cap = cap;
	lr->start = 0;
	lr->end = avail;
	return 0;
}

/* lr_set_live - see linereader.h */
void
lr_set_live(linereader *lr, int live)
{
	lr->live = live;
}

/* lr_set_check - see linereader.h */
void
lr_set_check(linereader *lr, lr_check_fn fn, void *arg)
{
	lr->check = fn;
	lr->check_arg = arg;
}

/* lr_replaced - did the check say the file is not the one read? */
int
lr_replaced(const linereader *lr)
{
	return lr->replaced;
}

/* lr_skip - pass over the first n bytes; -1 if the input is shorter */
int
lr_skip(linereader *lr, long long n)
{
	while (n > 0) {
		size_t avail = lr->end - lr->start;

		if (avail == 0 && lr->gz == NULL && lr->fd >= 0) {
			/* a plain file: seek, reading nothing (a restart at
			 * the end of a big log costs no read of it) */
			struct stat st;
			off_t cur = lseek(lr->fd, 0, SEEK_CUR);

			if (cur < 0 || fstat(lr->fd, &st) != 0
			    || (long long)(st.st_size - cur) < n)
				return -1;
			if (lseek(lr->fd, (off_t)n, SEEK_CUR) < 0)
				return -1;
			lr->consumed += n;
			lr->bytes += (uint64_t)n;
			return 0;
		}
		if (avail == 0) {
			int r = lr_fill(lr);

			if (r != 1)	/* the end, an error, a full lent buffer */
				return -1;
			continue;
		}
		if ((long long)avail > n)
			avail = (size_t)n;
		lr->start += avail;
		lr->consumed += (long long)avail;
		n -= (long long)avail;
	}
	return 0;
}

/* lr_consumed - bytes handed out so far */
long long
lr_consumed(const linereader *lr)
{
	return lr->consumed;
}

/* lr_fd - the file descriptor (for fstat) */
int
lr_fd(const linereader *lr)
{
	return lr->rawfd;
}

/* lr_truncated - how many lines were cut at the maximum length */
uint64_t
lr_truncated(const linereader *lr)
{
	return lr->truncated;
}

/* lr_bytes - bytes read so far (decompressed) */
uint64_t
lr_bytes(const linereader *lr)
{
	return lr->bytes;
}

/* lr_error - the last error, or "" */
const char *
lr_error(const linereader *lr)
{
	return lr->err;
}

/* lr_close - release everything; NULL is a no-op */
void
lr_close(linereader *lr)
{
	if (lr == NULL)
		return;
	if (lr->gz != NULL)
		gzclose(lr->gz);
	else if (lr->fd >= 0 && lr->fd != STDIN_FILENO)
		close(lr->fd);
	free(lr->own != NULL ? lr->own : lr->buf);
	free(lr);
}
