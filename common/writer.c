/*
 * writer.c - buffered output to a descriptor, written by a thread of its
 * own (writer.h).
 *
 * Owns two strbufs: the one the caller fills and, with a thread, the one
 * being written (pending), under one mutex and one condition variable.
 * The thread takes pending, writes it without the lock, and gives it
 * back empty; the caller swaps buffers in wtr_flush(), waiting only while
 * pending is still being written.
 *
 * Fails only on write(2): the first error is kept (wtr_close returns it in
 * errno) and what comes after is dropped, as a full disk drops it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "xalloc.h"
#include "writer.h"

struct rg_writer {
	int fd;
	int threaded;		/* the thread runs */
	strbuf buf[2];
	int cur;		/* the buffer the caller fills */
	int pending;		/* with a thread: buf[pending] to write, -1 */
	int done;		/* the caller has no more */
	int err;		/* errno of the first failed write, 0 */
	atomic_int failed;
	pthread_t t;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

/* write_all - all of sb to fd; the first error is kept */
static void
write_all(rg_writer *w, const strbuf *sb)
{
	const char *p = sb->s;
	size_t left = sb->len;

	while (left > 0 && !atomic_load_explicit(&w->failed,
	    memory_order_relaxed)) {
		ssize_t n = write(w->fd, p, left);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			w->err = errno;
			atomic_store(&w->failed, 1);
			break;
		}
		p += n;
		left -= (size_t)n;
	}
}

/* writer_main - the thread: each pending buffer out, until done */
static void *
writer_main(void *arg)
{
	rg_writer *w = arg;
	int i;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->pending < 0 && !w->done)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->pending < 0)
			break;		/* done, and nothing left */
		i = w->pending;
		pthread_mutex_unlock(&w->mu);
		write_all(w, &w->buf[i]);
		sb_reset(&w->buf[i]);
		pthread_mutex_lock(&w->mu);
		w->pending = -1;
		pthread_cond_signal(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* wtr_open - a writer on fd, with a thread of its own if threaded */
rg_writer *
wtr_open(int fd, int threaded)
{
	rg_writer *w = xcalloc(1, sizeof(*w));

	w->fd = fd;
	w->pending = -1;
	sb_init(&w->buf[0]);
	sb_init(&w->buf[1]);
	atomic_store(&w->failed, 0);
	if (!threaded)
		return w;
	if (pthread_mutex_init(&w->mu, NULL) != 0)
		return w;
	if (pthread_cond_init(&w->cv, NULL) != 0) {
		pthread_mutex_destroy(&w->mu);
		return w;
	}
	if (pthread_create(&w->t, NULL, writer_main, w) != 0) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		return w;
	}
	w->threaded = 1;
	return w;
}

/* wtr_buf - the buffer the caller appends to */
strbuf *
wtr_buf(rg_writer *w)
{
	return &w->buf[w->cur];
}

/* wtr_flush - hand the caller's buffer to the thread, or write it */
void
wtr_flush(rg_writer *w)
{
	strbuf *sb = &w->buf[w->cur];

	if (sb->len == 0)
		return;
	if (atomic_load_explicit(&w->failed, memory_order_relaxed)) {
		sb_reset(sb);
		return;
	}
	if (!w->threaded) {
		write_all(w, sb);
		sb_reset(sb);
		return;
	}
	pthread_mutex_lock(&w->mu);
	while (w->pending >= 0)
		pthread_cond_wait(&w->cv, &w->mu);
	w->pending = w->cur;
	w->cur = 1 - w->cur;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* wtr_failed - whether a write has failed */
int
wtr_failed(const rg_writer *w)
{
	return atomic_load_explicit(&((rg_writer *)w)->failed,
	    memory_order_relaxed);
}

/* wtr_close - the rest written, the thread ended, the writer freed */
int
wtr_close(rg_writer *w)
{
	int err;

	if (w == NULL)
		return 0;
	wtr_flush(w);
	if (w->threaded) {
		pthread_mutex_lock(&w->mu);
		w->done = 1;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->t, NULL);
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
	}
	err = atomic_load(&w->failed) ? w->err : 0;
	sb_free(&w->buf[0]);
	sb_free(&w->buf[1]);
	free(w);
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}
