/*
 * config.h - relayguard's configuration: one INI file, read with inih.
 *
 * The schema (section, key, type, default, bounds) is a table in config.c;
 * `relayguard check-config --schema` and the README's configuration
 * section are written from it. Every problem is reported as
 * "FILE:LINE: message" and loading fails as a whole: a half-read
 * configuration is never used. Every name and value that ends up in a
 * Postfix map (user names, CIDRs, admin_contact, never_lock, reply texts,
 * header names) is checked as the map writer checks it (mapcheck.h), and
 * no value may hold a control character or invalid UTF-8. Commands load
 * through rul_load() (policy.h), which adds the checks of the policy.
 *
 * Sections: [global], [parse], [collect], [report], [mail], [defaults]; named ones, written
 * [KIND NAME] or [KIND "NAME"]: [source NAME], [user NAME],
 * [identity_header NAME], [domain NAME]. A [user] takes every key it does not
 * set from [defaults], wherever [defaults] stands in the file.
 *
 * Debian 12 ships inih r55, which cuts lines at 199 bytes and section and
 * key names at 49: the loader measures every line first and reports an
 * over-long one instead of letting inih misread it.
 *
 * The config owns all its strings; cfg_free() releases them. A
 * configuration read from the compiled cache (cfgcache.h) keeps them in one
 * block: its strings and lists are never freed or replaced one by one.
 */
#ifndef RG_CONFIG_H
#define RG_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#define CFG_DEFAULT_FILE "/etc/relayguard/relayguard.ini"
#define CFG_MAX_LIST 64

typedef struct cfg_list {
	char **v;			/* n items, allocated to fit */
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

/* [defaults] and one [user NAME] section: an outgoing user's policy */
typedef struct rg_user_cfg {
	char *name;			/* SASL login, CIDR or domain */
	int line;
	char *type;			/* sasl | ip | domain */
	cfg_list addresses;		/* ip: CIDRs (default: the name) */
	char *identification;		/* envelope_sender | auth_user | header */
	cfg_list identity_headers;	/* in order; the first present wins */
	long long auto_lock;		/* bools are 0/1 */
	long long lock_identities;
	long long spam_lock_threshold;
	long long spam_lock_window;	/* seconds */
	long long lock_timeout;		/* seconds */
	long long max_unlocks_by_timeout;
	long long connection_limits;
	long long limit_per_minute, limit_per_hour, limit_per_week,
	    limit_per_month;		/* 0: no limit */
	long long max_recipients_per_day;
	long long invalid_recipient_limit;
	long long invalid_recipient_window;
	long long max_days_to_retry;
	char *quarantine_response;	/* rejected | accepted */
	long long archive;
	char *archive_address;
	long long match_sender_domain;	/* domain users: also by envelope sender */
	long long quarantine;		/* spam goes to the hold queue */
	char *report_to;		/* the user's contact, "" none */
	char *abuse_reports;		/* each | summary | off */
} rg_user_cfg;

/* [identity_header NAME] */
typedef struct rg_idheader_cfg {
	char *name;
	int line;
	char *regex;			/* "": the whole value */
	long long remove;
} rg_idheader_cfg;

/* [domain NAME] */
typedef struct rg_domain_cfg {
	char *name;
	int line;
	char *dkim_selector;
} rg_domain_cfg;

typedef struct rg_config {
	char *file;			/* where it came from, or NULL */
	char *tz;			/* the zone the loader made local last
					 * (rgt_set_zone), NULL if none */
	void *block;			/* from the cache (cfgcache.h): every
					 * string and list is in this block */
	unsigned long long hash;	/* cfg_hash, once known ... */
	int hashed;			/* ... (set by the cache) */

	/* [global] */
	char *database;
	char *hostname;			/* host for lines without one */
	char *admin_contact;
	char *map_directory;
	char *map_type;			/* hash | lmdb | cdb */
	char *map_backend;		/* files | pgsql */
	char *postfix_config_directory;
	char *command_directory;	/* postmap, postconf, postfix, ... */
	long long command_timeout;	/* seconds a child may run */
	long long analyze_lock_wait;	/* seconds to wait for .analyze.lock */
	char *dkim_key_directory;	/* rspamd's DOMAIN.SELECTOR.key files */
	char *dovecot_passwd_file;	/* `passwd user` writes it */
	char *dovecot_config_file;	/* doveconf/doveadm -c */
	cfg_list trusted_verdicts;	/* rspamd amavis spamd milter header client-header */
	cfg_list never_lock;		/* user names that are never locked */
	long long safety_valve;		/* at most this many automatic locks ... */
	long long safety_valve_window;	/* ... within this long */
	long long identity_lock_classes; /* restriction classes for
					 * envelope-sender identity locks */
	char *lock_reply;		/* reply texts of the access maps */
	char *limit_reply;
	long long quarantine_retention;	/* held mail older is deleted */
	char *enforce;			/* yes | dry-run (warn_if_reject) */

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

	/* [report] */
	char *report_directory;		/* "": reports are not kept */
	long long report_keep;		/* the last N of each kind */
	char *report_timezone;		/* "": [parse] timezone */
	/* [mail]: what relayguard sends (reports/) */
	char *smtp_server;		/* HOST[:PORT] */
	char *starttls;			/* required | opportunistic | no */
	long long tls_verify;
	char *tls_ca_file;
	char *auth_user;
	char *auth_password_file;	/* not readable by group or others */
	char *mail_from;		/* "": relayguard@ the host name */
	char *helo;			/* "": the host name */
	long long mail_timeout;		/* seconds, each SMTP step and connect */
	cfg_list retry;			/* durations; the last one repeats */
	long long give_up_after;	/* seconds */
	long long alert_interval;	/* decisions this close: one mail */
	long long send_after_analyze;
	long long abuse_reports_per_hour;
	/* [pgsql]: map_backend = pgsql (analyzer/map_pgsql.c) */
	char *pg_host;
	long long pg_port;
	char *pg_dbname;
	char *pg_user;
	char *pg_password_file;		/* not readable by group or others */
	long long pg_connect_timeout;	/* seconds */
	char *pg_postfix_hosts;		/* the query files' hosts line */
	char *pg_postfix_user;
	char *pg_postfix_password_file;
	char *pg_query_directory;
	long long pg_policy_service;	/* relays ask relayguard policy */
	char *pg_on_failure;		/* open | closed (policy service) */
	long long pg_query_timeout;	/* seconds (policy service) */

	rg_user_cfg defaults;

	rg_source_cfg *sources;
	int nsources;
	rg_user_cfg *users;
	int nusers;
	rg_idheader_cfg *idheaders;
	int nidheaders;
	rg_domain_cfg *domains;
	int ndomains;
} rg_config;

/* one row of the schema, as `check-config --schema` prints it */
typedef struct cfg_schema_row {
	char section[40];	/* "global", "source NAME", "user/defaults" */
	const char *key;
	const char *type;	/* "integer", "duration", "list", ... */
	const char *def;	/* as written in the file; "" if empty */
	char bounds[96];	/* "60..86400s", "hash|lmdb|cdb", or "" */
	const char *help;
} cfg_schema_row;

rg_config *cfg_defaults(void);
rg_config *cfg_load(const char *file, FILE *errors, int *nerrors);
/* [global] enforce = dry-run: Postfix only warns (warn_if_reject) */
int cfg_dry_run(const rg_config *cfg);
void cfg_free(rg_config *cfg);
void cfg_print_schema(FILE *out);
int cfg_schema_row_at(size_t i, cfg_schema_row *row);
unsigned long long cfg_hash(const rg_config *cfg);

/*
 * For the compiled cache (cfgcache.h): the value fields of a section
 * ("global", "user", "source", ...) in schema order, where each is in
 * its struct and of which kind; a fingerprint of the schema (what a
 * cache written by another build would disagree on); and the checks of a
 * loaded configuration that depend on the system, not on the file (the
 * password files' modes, the time zones), made again, with the zone the
 * loader left local set again: 0 if they still pass.
 */
enum cfg_field_kind { CFG_F_STR, CFG_F_LIST, CFG_F_INT };
typedef struct cfg_field {
	enum cfg_field_kind kind;
	size_t offset;
} cfg_field;

const cfg_field *cfg_fields(const char *section, size_t *n);
unsigned long long cfg_schema_hash(void);
int cfg_recheck(const rg_config *cfg);
rg_config *cfg_load_buffer(const char *file, const char *buf, size_t len,
    FILE *errors, int *nerrors);

#endif
