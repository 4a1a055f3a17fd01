/*
 * config.h - relayguard's configuration: one INI file, read with inih.
 *
 * The schema (section, key, type, default, bounds) is a table in config.c;
 * `relayguard check-config` and the README's configuration section are
 * written from it. Every problem is reported as "FILE:LINE: message" and
 * loading fails as a whole: a half-read configuration is never used.
 *
 * Debian 12 ships inih r55, which cuts lines at 199 bytes and section and
 * key names at 49: the loader measures every line first and reports an
 * over-long one instead of letting inih misread it.
 *
 * The config owns all its strings; cfg_free() releases them.
 */
#ifndef RG_CONFIG_H
#define RG_CONFIG_H

#include <stdio.h>

#define CFG_DEFAULT_FILE "/etc/relayguard/relayguard.ini"
#define CFG_MAX_LIST 16
#define CFG_MAX_SOURCES 32

typedef struct cfg_list {
	char *v[CFG_MAX_LIST];
	int n;
} cfg_list;

/* one [source NAME] section */
typedef struct rg_source_cfg {
	char *name;
	int line;			/* where the section starts */
	char *type;			/* file | stdin | journal */
	char *path;			/* file: the log */
	char *format;			/* auto | syslog | rspamd (informational) */
	long long year;			/* 0: [parse] year */
	char *timezone;			/* "": [parse] timezone */
	char *directory;		/* journal: a journal directory ("": system) */
	cfg_list match;			/* journal: FIELD=value matches (ORed) */
} rg_source_cfg;

typedef struct rg_config {
	char *file;			/* where it came from, or NULL */

	/* [global] */
	char *database;
	char *hostname;			/* host for lines without one */

	/* [parse] */
	char *timezone;			/* zone of zone-less stamps; "" = system */
	long long year;			/* year of year-less stamps; 0 = file mtime */
	long long max_message_age;	/* seconds before an open message is dropped */
	long long max_session_age;	/* seconds before an open session is dropped */
	long long max_line_length;	/* longer lines are cut */
	long long spamd_window;		/* spamd result <-> message-id match window */
	cfg_list headers;		/* identity headers, names as configured */

	/* [collect] */
	long long batch_lines;		/* commit after this many lines ... */
	long long batch_interval;	/* ... or this many seconds */
	long long retention;		/* rows older than this are pruned */
	long long prune_batch;		/* rows deleted per prune transaction */
	long long stats_interval;	/* --follow: a stats line this often */

	rg_source_cfg sources[CFG_MAX_SOURCES];
	int nsources;
} rg_config;

rg_config *cfg_defaults(void);
rg_config *cfg_load(const char *file, FILE *errors, int *nerrors);
void cfg_free(rg_config *cfg);
void cfg_print_schema(FILE *out);

#endif
