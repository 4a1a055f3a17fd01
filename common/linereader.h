/*
 * linereader.h - read lines from a file, a gzip file or standard input.
 *
 * The reader owns its buffer: a line returned by lr_next() is valid until
 * the next call (unless it reads into the caller's: lr_lend). Lines are
 * returned without the newline (and without a trailing CR). A line longer
 * than the maximum is cut there: the rest is skipped and lr_truncated()
 * counts it. Compressed input is recognised by
 * its magic bytes, whatever the file is called.
 */
#ifndef RG_LINEREADER_H
#define RG_LINEREADER_H

#include <stddef.h>
#include <stdint.h>

typedef struct linereader linereader;

linereader *lr_open(const char *path, size_t max_line);
/* live: at the end, a line without its newline is not handed out yet, and
 * a later call reads again (the file may have grown) */
void lr_set_live(linereader *lr, int live);
/* skip the first n bytes (of the decompressed content); -1 if shorter */
int lr_skip(linereader *lr, long long n);
/* bytes handed out so far, newlines included, from the start of the file */
long long lr_consumed(const linereader *lr);
int lr_fd(const linereader *lr);
int lr_next(linereader *lr, const char **line, size_t *len);
/*
 * lr_lend: from now on, read into buf (cap bytes, the caller's): the bytes
 * read and not yet handed out are copied to its start. Lines handed out
 * then point into buf and stay where they are (the buffer is never
 * compacted): when it is full, lr_next() returns 2, and the caller lends
 * another. -1 (nothing changed) if what is copied does not fit, or cap is
 * under lr_lend_min(): room for the rest of a line cut by the end of the
 * last buffer and for the next read.
 */
int lr_lend(linereader *lr, char *buf, size_t cap);
size_t lr_lend_min(const linereader *lr);
/*
 * check: called with arg and the descriptor after every read(2) of a plain
 * file that got bytes, before any of them is handed out. Nonzero: the file
 * is no longer the one being read (truncated in place, perhaps written
 * again): the bytes just read are dropped, lr_next() returns 0 from then on
 * and lr_replaced() is 1. lr_consumed() still says how far the file was
 * read before.
 */
typedef int (*lr_check_fn)(void *arg, int fd);
void lr_set_check(linereader *lr, lr_check_fn fn, void *arg);
int lr_replaced(const linereader *lr);
uint64_t lr_truncated(const linereader *lr);
uint64_t lr_bytes(const linereader *lr);
const char *lr_error(const linereader *lr);
void lr_close(linereader *lr);

#endif
