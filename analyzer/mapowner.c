/*
 * mapowner.c - the marker file that ties map_directory to one database.
 * Written atomically (beside, fsync, rename); read line by line. Fails with
 * a message naming the marker, the two ids and their paths.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/strbuf.h"
#include "analyze.h"
#include "mapowner.h"

/* read_marker - the id and path of a marker; 1 read, 0 absent, -1 error */
static int
read_marker(const char *path, char *id, size_t idsz, char *db, size_t dbsz)
{
	char line[1200];
	FILE *fp;

	id[0] = db[0] = '\0';
	if ((fp = fopen(path, "r")) == NULL)
		return errno == ENOENT ? 0 : -1;
	while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "database_id=", 12) == 0)
			rg_strlcpy(id, line + 12, idsz);
		else if (strncmp(line, "database=", 9) == 0)
			rg_strlcpy(db, line + 9, dbsz);
	}
	fclose(fp);
	return 1;
}

/* write_marker - the marker for this database, atomically */
static int
write_marker(const char *path, const char *id, const char *db, char *err,
    size_t errsz)
{
	strbuf sb;
	int changed = 0, rc;

	sb_init(&sb);
	sb_printf(&sb, "# relayguard: the maps in this directory hold the "
	    "locks of this database\ndatabase_id=%s\ndatabase=%s\n", id, db);
	rc = ana_write_file(path, sb.s, &changed, err, errsz);
	sb_free(&sb);
	return rc;
}

/* ana_claim_maps - may this database write the maps? */
int
ana_claim_maps(const rg_config *cfg, rg_store *st, int adopt, FILE *log,
    char *err, size_t errsz)
{
	char path[1100], id[128], mid[128], mdb[1100];
	int r;

	store_id(st, id, sizeof(id));
	if (id[0] == '\0') {
		snprintf(err, errsz, "%s: the database has no id",
		    cfg->database);
		return -1;
	}
	mkdir(cfg->map_directory, 0755);
	snprintf(path, sizeof(path), "%s/%s", cfg->map_directory,
	    ANA_MAP_MARKER);
	if ((r = read_marker(path, mid, sizeof(mid), mdb, sizeof(mdb))) < 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (r == 1 && strcmp(mid, id) == 0)
		return 0;
	if (r == 1 && !adopt) {
		snprintf(err, errsz, "the maps in %s were written from another "
		    "database (id %s, %s), not from %s (id %s): refusing to "
		    "replace their locks; if this database is the right one, "
		    "run `relayguard analyze --adopt`", cfg->map_directory,
		    *mid ? mid : "none", *mdb ? mdb : "unknown path",
		    cfg->database, id);
		return -1;
	}
	if (write_marker(path, id, cfg->database, err, errsz) != 0)
		return -1;
	if (r == 1)
		fprintf(log, "action=adopt_maps directory=%s database_id=%s "
		    "previous_database_id=%s\n", cfg->map_directory, id, mid);
	return 0;
}
