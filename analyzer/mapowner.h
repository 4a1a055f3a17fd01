/*
 * mapowner.h - which database the maps in map_directory were written
 * from.
 *
 * The maps hold the locks of one database. A marker file in map_directory,
 * ".relayguard-database", names that database's id (meta 'database_id',
 * store/db.c) and path. ana_claim_maps() is called before any map is
 * written: with no marker it writes one (a first run, or maps written
 * before markers existed); with this database's id it does nothing; with
 * another id it refuses (-1, err says which two databases), unless adopt
 * is set, when it rewrites the marker and logs action=adopt_maps. A
 * missing volume, a moved file or a fresh empty database therefore never
 * silently lifts the locks the maps hold.
 */
#ifndef RG_MAPOWNER_H
#define RG_MAPOWNER_H

#include <stdio.h>

#include "../store/store.h"
#include "../rules/config.h"

#define ANA_MAP_MARKER	".relayguard-database"

int ana_claim_maps(const rg_config *cfg, rg_store *st, int adopt, FILE *log,
    char *err, size_t errsz);

#endif
