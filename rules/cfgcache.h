/*
 * cfgcache.h - the compiled configuration cache: a binary snapshot of a
 * loaded configuration, so that a run every minute does not parse and
 * check 100,000 unchanged [user] sections again.
 *
 * cfc_load() reads the configuration file once, hashes those bytes, and
 * looks for DATABASE.config-cache (DATABASE: the file's [global] database,
 * or its default). The snapshot is used only when all of these hold, else
 * the file is parsed as rul_load() parses it (the same FILE:LINE errors)
 * and, when it loads, the snapshot is written anew:
 *
 *   - it is a regular file owned by the running user, writable by nobody
 *     else (it is trusted as much as the configuration itself);
 *   - its checksum is right and every offset and count in it is in bounds
 *     (a damaged snapshot is ignored, never half used);
 *   - it was made from exactly these bytes (their length and 64-bit hash),
 *     by this binary (the inode, size and mtime of /proc/self/exe: an
 *     upgrade or rebuild parses again) and this schema (cfg_schema_hash);
 *   - what loading checked outside the file still holds (cfg_recheck: the
 *     password files' modes, the time zones) and its database is the one
 *     beside which it lies.
 *
 * The snapshot is written beside the database under a temporary name and
 * renamed over the old one, mode 0600, so a reader sees the old or the new
 * one whole; failing to write it is not an error (the next run parses
 * again). The configuration returned from a snapshot keeps its strings
 * and lists in one block (rg_config.block); cfg_free() releases it.
 */
#ifndef RG_CFGCACHE_H
#define RG_CFGCACHE_H

#include <stdio.h>

#include "config.h"
#include "policy.h"

enum cfc_how { CFC_PARSED, CFC_CACHED, CFC_WRITTEN };

/*
 * cfc_load - rul_load() through the cache: the configuration and its
 * policy (*polp), or NULL with *nerrors > 0 (each reported on errors as
 * FILE:LINE). *how says where it came from, cache names the snapshot.
 */
rg_config *cfc_load(const char *file, FILE *errors, int *nerrors,
    rul_policy **polp, enum cfc_how *how, char *cache, size_t cachesz);

/* the snapshot of a loaded configuration, and back (for the tests) */
int cfc_encode(const rg_config *cfg, unsigned long long content_hash,
    unsigned long long content_len, char **out, size_t *outlen);
rg_config *cfc_decode(char *buf, size_t len, unsigned long long content_hash,
    unsigned long long content_len);

#endif
