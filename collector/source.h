/*
 * source.h - where log lines come from, and how far they have been read.
 *
 * A source hands out raw lines and can say, at any moment, the position
 * just after the last line it handed out: that position is committed in
 * the same transaction as what those lines produced, so a restart goes on
 * from exactly there. Three kinds: a file (followed through every kind of
 * rotation), standard input, and the systemd journal.
 *
 * File positions are decompressed byte offsets in a file known by its
 * fingerprint (a hash of its first fp_len bytes, at most SRC_FP_MAX): a
 * renamed or compressed file is still found, and a file that no longer
 * starts with those bytes, or shrank, is not the same file.
 */
#ifndef RG_SOURCE_H
#define RG_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../rules/config.h"

#define SRC_FP_MAX 4096

typedef struct src_pos {
	uint64_t fp;		/* FNV-1a 64 of the first fp_len bytes */
	long long fp_len;	/* 0: no file yet */
	long long offset;	/* decompressed bytes consumed */
	uint64_t prev_fp;	/* the rotated file left last (still read for */
	long long prev_fp_len;	/* what its writer appends late; 0: none), */
	long long prev_offset;	/* and how far it was read */
	char path[1024];	/* where the file was last seen (informational) */
	char cursor[1024];	/* journal: the cursor of the last entry */
	int year;		/* year-less stamps: the year reached ... */
	int last_month;		/* ... and the month of the last line */
	long long lines;	/* lines read so far (informational) */
} src_pos;

typedef struct rg_source rg_source;

/* a record of lost lines (journald's "Suppressed N messages") */
typedef void (*src_loss_fn)(void *arg, const char *source, long long count,
    long long ts_usec, const char *text);

rg_source *src_open(const rg_source_cfg *sc, const src_pos *saved,
    size_t max_line, char *err, size_t errsz);
/* 1: a line; 0: nothing more now; -1: error (src_error) */
int src_next(rg_source *s, const char **line, size_t *len);
/* the position after the last line handed out (for a journal source this
 * is also where journald's loss notices read so far are reported) */
void src_position(const rg_source *s, src_pos *out);
/* the mtime of the file being read (for year-less stamps), or now */
time_t src_mtime(const rg_source *s);
const char *src_name(const rg_source *s);
const char *src_error(const rg_source *s);
/* bytes of input left to read, for a progress bar (-1: unknown) */
long long src_remaining(const rg_source *s);
void src_set_loss_fn(rg_source *s, src_loss_fn fn, void *arg);
void src_close(rg_source *s);

uint64_t src_fingerprint(const char *buf, size_t n);

#endif
