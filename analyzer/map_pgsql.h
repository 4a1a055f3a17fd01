/*
 * map_pgsql.h - the PostgreSQL lock backend ([global] map_backend = pgsql):
 * the access tables that every relay's Postfix reads with pgsql: lookup
 * tables (through proxy:), written by analyze in one transaction per run.
 *
 * Tables (created by the first run; the [pgsql] postfix_user role, if it
 * exists, is granted SELECT):
 *
 *   rg_map (map, key, value)        the indexed maps (sasl_access,
 *                                   sender_access, sender_bcc, admin_access,
 *                                   archive_sasl, rg_senders_K): exact keys,
 *                                   folded as map_set_add folds them
 *   rg_map_cidr (map, net, value)   the cidr maps (client_access,
 *                                   archive_client): net is a cidr
 *   rg_map_re (map, key, name, re, value)  the header identities
 *                                   (header_checks): key "name:value"
 *                                   (name lowered), re a PostgreSQL
 *                                   regular expression with the meaning
 *                                   of the pcre rule map_render writes
 *   rg_maps (map, digest, entries, updated)  one row per map written
 *
 * rg_key(text) is an exact key as a relay sends it, as UTF-8 text (Postfix
 * 3.7's pgsql client always talks LATIN1: "ü" arrives as two characters;
 * NULL for bytes that are no UTF-8); rg_header_lookup(map, line) answers
 * the value of the first row (by key) whose re matches the whole header
 * line (header_checks with a non-regexp table looks the line up as it is:
 * its case kept, a folded line with its "\n\t"), looked up by the
 * header's name; rg_bytechars() turns the line into one character per
 * byte whatever the client's encoding.
 *
 * Two more: rg_inet(text) is the key as an inet, or NULL for
 * anything that is not a whole IPv4 or IPv6 address (a partial key such as
 * "127.0.0", a host name: a cast error would make Postfix answer 451);
 * rg_cidr_lookup(map, key) answers the value of the most specific network
 * of map that holds the address (the rule of the cidr file: a /32 wins over
 * its /24), DUNNO for an address in no network (so that Postfix does not go
 * on with partial keys), and no row for a key that is not an address.
 * "::ffff:1.2.3.4" is an IPv6 address: it is in no IPv4 network.
 *
 * Use: map_pg_open() connects (before anything is written: a run that
 * cannot connect changes nothing); map_write() (maps.c) hands every map of
 * an indexed or cidr kind to map_pg_stage() when map_writer_cfg.pg is set;
 * map_pg_commit() then replaces, in one transaction, the maps whose digest
 * changed and deletes those no longer written; map_pg_free() disconnects.
 * Errors are returned with PostgreSQL's words in err; nothing is half
 * written (the transaction is rolled back), and the next run writes the
 * whole desired state again.
 *
 * map_pg_postfix_config() prints the main.cf lines and, with dir, writes
 * the pgsql: query files (one per map); map_pg_ref() is the table a main.cf
 * line names for one map under the configured backend.
 */
#ifndef RG_MAP_PGSQL_H
#define RG_MAP_PGSQL_H

#include <stdio.h>

#include "../rules/config.h"
#include "maps.h"

typedef struct map_pg map_pg;

/* map_pg_enabled - is [global] map_backend = pgsql? */
int map_pg_enabled(const rg_config *cfg);
/* map_pg_takes - does the pgsql backend hold maps of this kind? */
int map_pg_takes(enum map_kind kind);
/* map_pg_holds - ... and with this configuration (policy mode: no headers) */
int map_pg_holds(const map_pg *pg, enum map_kind kind);
/* map_pg_array_lit - a PostgreSQL text[] literal of n strings, into sb */
void map_pg_array_lit(strbuf *sb, char **v, size_t n);
map_pg *map_pg_open(const rg_config *cfg, char *err, size_t errsz);
int map_pg_stage(map_pg *pg, const char *name, const map_set *ms, char *err,
    size_t errsz);
int map_pg_commit(map_pg *pg, FILE *log, int *nchanged, char *err,
    size_t errsz);
void map_pg_free(map_pg *pg);
/* map_pg_ref - "TYPE:DIR/NAME", or "proxy:pgsql:QDIR/NAME.cf" for pgsql */
const char *map_pg_ref(const rg_config *cfg, const char *name, char *buf,
    size_t bufsz);
/* map_pg_path - "QDIR/NAME.cf" (pgsql) or "DIR/NAME": what main.cf names */
const char *map_pg_path(const rg_config *cfg, const char *name, char *buf,
    size_t bufsz);
/* map_pg_postfix_config - main.cf lines to out; query files into dir */
int map_pg_postfix_config(const rg_config *cfg, const char *dir, FILE *out,
    char *err, size_t errsz);
/* map_pg_query_file - the text of NAME's query file */
void map_pg_query_file(const rg_config *cfg, const char *name, int cidr,
    const char *password, strbuf *out);
/* map_pg_read_secret - a password file's first line (mode 600 or 400) */
char *map_pg_read_secret(const char *path, char *err, size_t errsz);

#endif
