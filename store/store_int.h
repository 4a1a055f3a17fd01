/*
 * store_int.h - what the files of store/ share with each other and with
 * no one else: the raw SQLite connection of a store (store_db), for the
 * typed functions over it (aindex.c, anaread.c, report.c, ...). Nothing
 * outside store/ includes this header or <sqlite3.h> (tests/suites/
 * layers.sh); the store's own unit tests (tests/unit/test_lean.c) do,
 * to look at the rows the store wrote.
 */
#ifndef RG_STORE_INT_H
#define RG_STORE_INT_H

#include <sqlite3.h>

#include "store.h"

/* the connection, owned by the store: never closed by the caller */
sqlite3 *store_db(rg_store *st);

#endif
