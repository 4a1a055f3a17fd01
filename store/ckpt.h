/*
 * ckpt.h - WAL checkpoints in a thread of their own (ckpt.c), for the
 * connection of a writer that commits batch after batch.
 */
#ifndef RG_CKPT_H
#define RG_CKPT_H

#include <sqlite3.h>

typedef struct db_ckpt db_ckpt;

db_ckpt *ckpt_start(sqlite3 *writer);	/* NULL: SQLite's own checkpoints */
void ckpt_stop(db_ckpt *ck);		/* before the writer is closed */

#endif
