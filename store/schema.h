/*
 * schema.h - the migrations of the database (schema.c), for store_open()
 * only: PRAGMA user_version counts how many ran.
 */
#ifndef RG_SCHEMA_H
#define RG_SCHEMA_H

#include "db.h"

extern const db_migration store_migrations[];
extern const int store_nmigrations;

#endif
