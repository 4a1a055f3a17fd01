/*
 * writer.h - a descriptor's output buffered in a strbuf, written by a
 * thread of its own when asked for one.
 *
 * The caller appends to the strbuf that wtr_buf() returns and calls
 * wtr_flush() when it holds enough. With a thread, a full buffer is handed
 * to the writing thread, which write(2)s it while the caller fills the
 * other one (two buffers: the caller waits only when the thread is still
 * writing the one before); without, wtr_flush() writes it at once. The
 * bytes go out in the order they were appended, either way.
 *
 *	wtr_open(fd, threaded)	a writer on fd (not closed by wtr_close); one
 *				without a thread when threaded is 0 or the
 *				thread cannot be started
 *	wtr_buf(w)		the buffer to append to; it may be another one
 *				after each wtr_flush()
 *	wtr_flush(w)		hand over (or write) what the buffer holds
 *	wtr_failed(w)		nonzero once a write has failed: what comes
 *				after is dropped
 *	wtr_close(w)		write what is left, end the thread, free; 0, or
 *				-1 with errno of the first write that failed.
 *				NULL is a no-op (0).
 *
 * One thread appends and flushes; only wtr_failed() may be asked from
 * any thread.
 */
#ifndef RG_WRITER_H
#define RG_WRITER_H

#include "strbuf.h"

typedef struct rg_writer rg_writer;

rg_writer *wtr_open(int fd, int threaded);
strbuf *wtr_buf(rg_writer *w);
void wtr_flush(rg_writer *w);
int wtr_failed(const rg_writer *w);
int wtr_close(rg_writer *w);

#endif
