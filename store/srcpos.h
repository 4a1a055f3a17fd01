/*
 * srcpos.h - how far a log source has been read, as the store keeps it
 * (store_get_source, store_put_source): a plain value, filled by the
 * collector's sources (collector/source.h: how a file is known by its
 * fingerprint) and committed in the same transaction as what those lines
 * produced.
 */
#ifndef RG_SRCPOS_H
#define RG_SRCPOS_H

#include <stdint.h>

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

#endif
