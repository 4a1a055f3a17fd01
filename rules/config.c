/*
 * config.c - the configuration schema and its loader. Owns the rg_config
 * and every string in it. Errors go to the caller's stream as
 * "FILE:LINE: message"; a config with errors is freed, never returned.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "../common/hash.h"
#include "../common/rgtime.h"
#include "../common/xalloc.h"
#include "config.h"
#include "mapcheck.h"

/* inih r55 reads lines with fgets(buf, 200): 198 bytes and the newline */
#define INIH_MAX_CONTENT 198
#define INIH_MAX_NAME 49

enum cfg_type { CT_STRING, CT_PATH, CT_INT, CT_DURATION, CT_ZONE, CT_HLIST,
	CT_SLIST, CT_ENUM, CT_BOOL, CT_EMAIL, CT_WLIST, CT_REPLY };

typedef struct cfg_key {
	const char *section;
	const char *key;
	enum cfg_type type;
	const char *def;	/* default, as it would be written in the file */
	/* CT_ENUM: the allowed values, "a|b|c", in min's place (see ENUM) */
	long long min, max;	/* bounds of CT_INT and CT_DURATION */
	int zero_ok;		/* 0 is allowed too (it means "automatic") */
	size_t offset;
	const char *help;
} cfg_key;

#define OFF(f) offsetof(rg_config, f)
#define SOFF(f) offsetof(rg_source_cfg, f)
#define UOFF(f) offsetof(rg_user_cfg, f)
#define IOFF(f) offsetof(rg_idheader_cfg, f)
#define DOFF(f) offsetof(rg_domain_cfg, f)

/* the allowed values of the CT_ENUM keys */
static const char *
enum_values(const char *section, const char *key)
{
	if (strcmp(key, "type") == 0)
		return strcmp(section, "user") == 0 ? "sasl|ip|domain"
		    : "file|stdin|journal";
	if (strcmp(key, "format") == 0)
		return "auto|syslog|rspamd";
	if (strcmp(key, "map_type") == 0)
		return "hash|lmdb|cdb";
	if (strcmp(key, "map_backend") == 0)
		return "files|pgsql";
	if (strcmp(key, "on_failure") == 0)
		return "open|closed";
	if (strcmp(key, "identification") == 0)
		return "envelope_sender|auth_user|header";
	if (strcmp(key, "quarantine_response") == 0)
		return "rejected|accepted";
	if (strcmp(key, "user_type") == 0)
		return "sasl|ip|domain";
	if (strcmp(key, "starttls") == 0)
		return "required|opportunistic|no";
	if (strcmp(key, "abuse_reports") == 0)
		return "each|summary|off";
	if (strcmp(key, "enforce") == 0)
		return "yes|dry-run";
	return "";
}

static const cfg_key cfg_schema[] = {
	{ "global", "database", CT_PATH, "/var/lib/relayguard/relayguard.db",
	    0, 0, 0, OFF(database), "SQLite database of the collector" },
	{ "global", "hostname", CT_STRING, "", 0, 0, 0, OFF(hostname),
	    "host name for log lines that carry none (rspamd's own log)" },
	{ "global", "admin_contact", CT_EMAIL, "", 0, 0, 0, OFF(admin_contact),
	    "the administrator's address: reports go there, locks let it through" },
	{ "global", "map_directory", CT_PATH, "/var/lib/relayguard/maps", 0, 0,
	    0, OFF(map_directory), "where the Postfix maps are written" },
	{ "global", "map_type", CT_ENUM, "hash", 0, 0, 0, OFF(map_type),
	    "type of the indexed maps (postmap)" },
	{ "global", "map_backend", CT_ENUM, "files", 0, 0, 0, OFF(map_backend),
	    "files: map files on this host; pgsql: the access tables in "
	    "PostgreSQL ([pgsql]), read by every relay" },
	{ "global", "postfix_config_directory", CT_PATH, "/etc/postfix", 0, 0,
	    0, OFF(postfix_config_directory),
	    "the Postfix instance the maps belong to (postmap -c, postfix -c)" },
	{ "global", "command_directory", CT_PATH, "/usr/sbin", 0, 0, 0,
	    OFF(command_directory), "where postmap, postconf, postfix, "
	    "postqueue and postsuper are" },
	{ "global", "command_timeout", CT_DURATION, "2m", 1, 3600, 0,
	    OFF(command_timeout), "a Postfix command running longer is killed "
	    "with its process group" },
	{ "global", "analyze_lock_wait", CT_DURATION, "30s", 1, 3600, 0,
	    OFF(analyze_lock_wait), "how long a run waits for another "
	    "analyzer to finish before it gives up (exit 75)" },
	{ "global", "dkim_key_directory", CT_PATH, "/var/lib/rspamd/dkim", 0, 0,
	    0, OFF(dkim_key_directory),
	    "where rspamd finds DOMAIN.SELECTOR.key (rspamd-config)" },
	{ "global", "dovecot_passwd_file", CT_PATH,
	    "/etc/dovecot/relayguard.passwd", 0, 0, 0, OFF(dovecot_passwd_file),
	    "the Dovecot passwd-file `passwd user` writes (root:dovecot 0640)" },
	{ "global", "dovecot_config_file", CT_PATH,
	    "/etc/dovecot/dovecot.conf", 0, 0, 0, OFF(dovecot_config_file),
	    "Dovecot's configuration (doveconf/doveadm -c): auth cache flush" },
	{ "global", "trusted_verdicts", CT_WLIST,
	    "rspamd, amavis, spamd, milter, header", 0, 0, 0,
	    OFF(trusted_verdicts), "verdict sources that count as spam "
	    "(client-header: a spam header the client wrote)" },
	{ "global", "never_lock", CT_WLIST, "", 0, 0, 0, OFF(never_lock),
	    "users that are never locked automatically" },
	{ "global", "safety_valve", CT_INT, "10", 1, 1000000, 0,
	    OFF(safety_valve), "more automatic locks than this ..." },
	{ "global", "safety_valve_window", CT_DURATION, "10m", 60, 86400, 0,
	    OFF(safety_valve_window), "... within this long: lock no more, alert" },
	{ "global", "identity_lock_classes", CT_INT, "32", 1, 256, 1,
	    OFF(identity_lock_classes), "Postfix restriction classes that "
	    "scope envelope-sender identity locks to their user (0: every such "
	    "lock locks its whole user)" },
	{ "global", "lock_reply", CT_REPLY, "sending locked", 0, 0, 0,
	    OFF(lock_reply), "text of the 4.7.1 reply to a locked sender" },
	{ "global", "limit_reply", CT_REPLY, "sending limit reached", 0, 0, 0,
	    OFF(limit_reply), "text of the 4.7.1 reply over a limit" },
	{ "global", "quarantine_retention", CT_DURATION, "14d", 3600,
	    365 * 86400LL, 0, OFF(quarantine_retention),
	    "held mail older than this is deleted by analyze (an event)" },
	{ "global", "enforce", CT_ENUM, "yes", 0, 0, 0, OFF(enforce),
	    "yes: Postfix refuses locked senders; dry-run: locks are decided, "
	    "alerted and shown, Postfix only logs reject_warning "
	    "(postfix-config wraps the checks in warn_if_reject)" },
	{ "parse", "timezone", CT_ZONE, "", 0, 0, 0, OFF(timezone),
	    "zone of zone-less timestamps (empty: the system's)" },
	{ "parse", "year", CT_INT, "0", 1970, 9999, 1, OFF(year),
	    "year of year-less timestamps (0: from the file's mtime)" },
	{ "parse", "max_message_age", CT_DURATION, "6d", 3600, 400 * 86400LL, 0,
	    OFF(max_message_age),
	    "an unfinished message unseen this long is written out and dropped" },
	{ "parse", "max_session_age", CT_DURATION, "2h", 60, 7 * 86400LL, 0,
	    OFF(max_session_age),
	    "an SMTP session without disconnect is dropped after this" },
	{ "parse", "max_line_length", CT_INT, "16384", 512, 1048576, 0,
	    OFF(max_line_length), "longer log lines are cut (and counted)" },
	{ "parse", "spamd_window", CT_DURATION, "5m", 1, 86400, 0,
	    OFF(spamd_window),
	    "how far apart a spamd result and its message-id may be logged" },
	{ "parse", "identity_headers", CT_HLIST, "X-Client-ID", 0, 0, 0,
	    OFF(headers), "headers recorded under these names (case-insensitive)" },
	{ "collect", "batch_lines", CT_INT, "10000", 1, 10000000, 0,
	    OFF(batch_lines), "--follow commits after this many lines ..." },
	{ "collect", "batch_interval", CT_DURATION, "1s", 1, 3600, 0,
	    OFF(batch_interval), "... or after this long, whichever is first" },
	{ "collect", "retention", CT_DURATION, "90d", 86400, 3650 * 86400LL, 0,
	    OFF(retention), "stored rows older than this are pruned" },
	{ "collect", "prune_batch", CT_INT, "5000", 1, 1000000, 0,
	    OFF(prune_batch), "rows deleted per pruning transaction" },
	{ "collect", "stats_interval", CT_DURATION, "5m", 1, 86400, 0,
	    OFF(stats_interval), "--follow logs a line of statistics this often" },
	{ "report", "directory", CT_PATH, "", 0, 0, 0, OFF(report_directory),
	    "reports are also kept here under stable names (empty: not kept)" },
	{ "report", "keep", CT_INT, "10", 1, 10000, 0, OFF(report_keep),
	    "the last N reports of each kind kept in directory" },
	{ "report", "timezone", CT_ZONE, "", 0, 0, 0, OFF(report_timezone),
	    "zone of the reports' dates and days (empty: [parse] timezone)" },
	{ "mail", "smtp_server", CT_STRING, "localhost:25", 0, 0, 0,
	    OFF(smtp_server), "HOST[:PORT] that relayguard's own mail goes to" },
	{ "mail", "starttls", CT_ENUM, "opportunistic", 0, 0, 0, OFF(starttls),
	    "required: never send in clear text; no: never STARTTLS" },
	{ "mail", "tls_verify", CT_BOOL, "yes", 0, 0, 0, OFF(tls_verify),
	    "check the server's certificate (needs a host name)" },
	{ "mail", "tls_ca_file", CT_PATH, "", 0, 0, 0, OFF(tls_ca_file),
	    "CA certificates for tls_verify (default: the system's)" },
	{ "mail", "auth_user", CT_STRING, "", 0, 0, 0, OFF(auth_user),
	    "SASL login (\"\": none)" },
	{ "mail", "auth_password_file", CT_PATH, "", 0, 0, 0,
	    OFF(auth_password_file), "the password's file (mode 600 or 400)" },
	{ "mail", "from", CT_EMAIL, "", 0, 0, 0, OFF(mail_from),
	    "sender address (default relayguard@ the host name)" },
	{ "mail", "helo", CT_STRING, "", 0, 0, 0, OFF(helo),
	    "EHLO name (default: the host name)" },
	{ "mail", "timeout", CT_DURATION, "30s", 1, 3600, 0, OFF(mail_timeout),
	    "bound of the connect and of each SMTP step" },
	{ "mail", "retry", CT_WLIST, "1m, 5m, 15m, 1h", 0, 0, 0, OFF(retry),
	    "waits between attempts; the last one repeats" },
	{ "mail", "give_up_after", CT_DURATION, "5d", 60, 365 * 86400LL, 0,
	    OFF(give_up_after), "a mail not sent this long is marked failed" },
	{ "mail", "alert_interval", CT_DURATION, "1m", 1, 86400, 0,
	    OFF(alert_interval), "decisions this close go into one mail" },
	{ "mail", "send_after_analyze", CT_BOOL, "yes", 0, 0, 0,
	    OFF(send_after_analyze), "analyze sends the outbox when done" },
	{ "mail", "abuse_reports_per_hour", CT_INT, "60", 0, 1000000, 0,
	    OFF(abuse_reports_per_hour), "ARF reports per user and hour; the "
	    "rest in one summary" },
	{ "pgsql", "host", CT_STRING, "", 0, 0, 0, OFF(pg_host),
	    "server name, address or socket directory (\"\": libpq's default)" },
	{ "pgsql", "port", CT_INT, "5432", 1, 65535, 0, OFF(pg_port),
	    "server port" },
	{ "pgsql", "dbname", CT_STRING, "relayguard", 0, 0, 0, OFF(pg_dbname),
	    "database that holds the rg_map tables" },
	{ "pgsql", "user", CT_STRING, "relayguard", 0, 0, 0, OFF(pg_user),
	    "role analyze writes the tables as" },
	{ "pgsql", "password_file", CT_PATH, "", 0, 0, 0, OFF(pg_password_file),
	    "its password's file (mode 600 or 400; \"\": none)" },
	{ "pgsql", "connect_timeout", CT_DURATION, "10s", 2, 3600, 0,
	    OFF(pg_connect_timeout), "a run that cannot connect this long "
	    "exits 75" },
	{ "pgsql", "postfix_hosts", CT_STRING, "", 0, 0, 0, OFF(pg_postfix_hosts),
	    "the relays' pgsql: hosts line (\"\": from host and port)" },
	{ "pgsql", "postfix_user", CT_STRING, "postfix", 0, 0, 0,
	    OFF(pg_postfix_user), "read-only role of the relays' pgsql: tables" },
	{ "pgsql", "postfix_password_file", CT_PATH, "", 0, 0, 0,
	    OFF(pg_postfix_password_file), "its password's file, copied into "
	    "the query files (mode 600 or 400)" },
	{ "pgsql", "query_directory", CT_PATH, "/etc/postfix/relayguard", 0, 0,
	    0, OFF(pg_query_directory), "where each relay keeps the pgsql: "
	    "query files that postfix-config prints" },
	{ "pgsql", "policy_service", CT_BOOL, "no", 0, 0, 0,
	    OFF(pg_policy_service), "the relays ask `relayguard policy` "
	    "(check_policy_service) instead of reading pgsql: tables" },
	{ "pgsql", "on_failure", CT_ENUM, "open", 0, 0, 0, OFF(pg_on_failure),
	    "policy service, PostgreSQL unreachable: open (DUNNO: mail "
	    "passes) or closed (DEFER_IF_PERMIT: 4xx)" },
	{ "pgsql", "query_timeout", CT_DURATION, "2s", 1, 60, 0,
	    OFF(pg_query_timeout), "policy service: bound of a connect or a "
	    "lookup, then on_failure applies" },
	{ "source", "type", CT_ENUM, "file", 0, 0, 0, SOFF(type),
	    "[source NAME]: file, stdin or journal" },
	{ "source", "path", CT_PATH, "", 0, 0, 0, SOFF(path),
	    "file: the log file (rotated files beside it are found)" },
	{ "source", "format", CT_ENUM, "auto", 0, 0, 0, SOFF(format),
	    "auto (every supported stamp), syslog or rspamd" },
	{ "source", "year", CT_INT, "0", 1970, 9999, 1, SOFF(year),
	    "year of year-less stamps (0: [parse] year)" },
	{ "source", "timezone", CT_ZONE, "", 0, 0, 0, SOFF(timezone),
	    "zone of zone-less stamps (empty: [parse] timezone)" },
	{ "source", "directory", CT_PATH, "", 0, 0, 0, SOFF(directory),
	    "journal: a journal directory (empty: the system journal)" },
	{ "source", "match", CT_SLIST, "", 0, 0, 0, SOFF(match),
	    "journal: FIELD=value matches, e.g. _SYSTEMD_UNIT=postfix@-.service" },
	{ "user", "type", CT_ENUM, "sasl", 0, 0, 0, UOFF(type),
	    "[user NAME] and [defaults]: sasl, ip or domain" },
	{ "user", "addresses", CT_WLIST, "", 0, 0, 0, UOFF(addresses),
	    "ip: the user's addresses or CIDRs (default: the name)" },
	{ "user", "identification", CT_ENUM, "envelope_sender", 0, 0, 0,
	    UOFF(identification), "how identities inside the user are told apart" },
	{ "user", "identity_headers", CT_HLIST, "X-Client-ID", 0, 0, 0,
	    UOFF(identity_headers), "identification = header: in order" },
	{ "user", "auto_lock", CT_BOOL, "yes", 0, 0, 0, UOFF(auto_lock),
	    "lock the user after spam_lock_threshold spam" },
	{ "user", "lock_identities", CT_BOOL, "yes", 0, 0, 0,
	    UOFF(lock_identities), "lock an identity after its spam" },
	{ "user", "spam_lock_threshold", CT_INT, "5", 1, 1000000, 0,
	    UOFF(spam_lock_threshold), "spam verdicts ..." },
	{ "user", "spam_lock_window", CT_DURATION, "10m", 60, 30 * 86400LL, 0,
	    UOFF(spam_lock_window), "... within this long lock" },
	{ "user", "lock_timeout", CT_DURATION, "1h", 60, 365 * 86400LL, 0,
	    UOFF(lock_timeout), "an automatic lock ends after this" },
	{ "user", "max_unlocks_by_timeout", CT_INT, "3", 0, 1000000, 0,
	    UOFF(max_unlocks_by_timeout),
	    "after this many, a lock lasts until an administrator unlocks" },
	{ "user", "connection_limits", CT_BOOL, "no", 0, 0, 0,
	    UOFF(connection_limits), "apply the limit_per_* keys" },
	{ "user", "limit_per_minute", CT_INT, "0", 0, 100000000, 0,
	    UOFF(limit_per_minute), "SMTP sessions per rolling minute (0: none)" },
	{ "user", "limit_per_hour", CT_INT, "0", 0, 100000000, 0,
	    UOFF(limit_per_hour), "... per rolling hour" },
	{ "user", "limit_per_week", CT_INT, "0", 0, 100000000, 0,
	    UOFF(limit_per_week), "... per rolling 7 days" },
	{ "user", "limit_per_month", CT_INT, "0", 0, 100000000, 0,
	    UOFF(limit_per_month), "... per rolling 30 days" },
	{ "user", "max_recipients_per_day", CT_INT, "0", 0, 100000000, 0,
	    UOFF(max_recipients_per_day),
	    "distinct recipients per rolling 24 hours (0: none)" },
	{ "user", "invalid_recipient_limit", CT_INT, "0", 0, 100000000, 0,
	    UOFF(invalid_recipient_limit),
	    "5.1.x bounces and 550 5.1.1 rejects ... (0: none)" },
	{ "user", "invalid_recipient_window", CT_DURATION, "24h", 60,
	    30 * 86400LL, 0, UOFF(invalid_recipient_window),
	    "... within this long lock" },
	{ "user", "max_days_to_retry", CT_INT, "0", 0, 365, 0,
	    UOFF(max_days_to_retry), "queued mail older than this is returned "
	    "(0: Postfix's maximal_queue_lifetime)" },
	{ "user", "quarantine_response", CT_ENUM, "rejected", 0, 0, 0,
	    UOFF(quarantine_response), "spam: refused (rejected) or held "
	    "silently (accepted)" },
	{ "user", "quarantine", CT_BOOL, "no", 0, 0, 0, UOFF(quarantine),
	    "spam a trusted filter classifies goes to Postfix's hold queue" },
	{ "user", "report_to", CT_EMAIL, "", 0, 0, 0, UOFF(report_to),
	    "the user's own contact: its reports and quarantine notices" },
	{ "user", "archive", CT_BOOL, "no", 0, 0, 0, UOFF(archive),
	    "a copy of every outgoing message to archive_address" },
	{ "user", "archive_address", CT_EMAIL, "", 0, 0, 0,
	    UOFF(archive_address), "where archive copies go" },
	{ "user", "match_sender_domain", CT_BOOL, "no", 0, 0, 0,
	    UOFF(match_sender_domain),
	    "domain users: also mail whose envelope sender is in the domain" },
	{ "user", "abuse_reports", CT_ENUM, "each", 0, 0, 0,
	    UOFF(abuse_reports), "an ARF report per spam message (each), "
	    "one summary, or none (off)" },
	{ "identity_header", "regex", CT_STRING, "", 0, 0, 0, IOFF(regex),
	    "[identity_header NAME]: a PCRE with a capture group: the identity" },
	{ "identity_header", "remove", CT_BOOL, "no", 0, 0, 0, IOFF(remove),
	    "remove the header from what leaves the relay (smtp only)" },
	{ "domain", "dkim_selector", CT_STRING, "", 0, 0, 0,
	    DOFF(dkim_selector), "[domain NAME]: the DKIM selector" },
};

#define NSCHEMA (sizeof(cfg_schema) / sizeof(cfg_schema[0]))

/* the kinds of named sections: [KIND NAME] */
typedef struct named_kind {
	const char *kind;
	size_t size;		/* of one instance */
	size_t arr_off;		/* in rg_config: the array ... */
	size_t n_off;		/* ... and its count */
} named_kind;

static const named_kind named_kinds[] = {
	{ "source", sizeof(rg_source_cfg), OFF(sources), OFF(nsources) },
	{ "user", sizeof(rg_user_cfg), OFF(users), OFF(nusers) },
	{ "identity_header", sizeof(rg_idheader_cfg), OFF(idheaders),
	    OFF(nidheaders) },
	{ "domain", sizeof(rg_domain_cfg), OFF(domains), OFF(ndomains) },
};

#define NKINDS (sizeof(named_kinds) / sizeof(named_kinds[0]))

/* every instance starts with these two fields */
typedef struct named_head {
	char *name;
	int line;
} named_head;

typedef struct load_ctx {
	rg_config *cfg;
	const char *file;
	FILE *errors;
	int nerrors;
	int lineno;		/* line inih is on (counted by our reader) */
	int continuation;	/* that line is indented */
	char **lines;		/* the file, one entry per line */
	int nlines;
	int next;
	unsigned char seen[NSCHEMA];		/* plain sections */
	unsigned char dseen[NSCHEMA];		/* [defaults] */
	unsigned char *iseen[NKINDS];		/* instances: n * NSCHEMA */
	int *ihash[NKINDS];			/* name index: instance + 1 */
	size_t ibuckets[NKINDS];
	size_t icap[NKINDS];			/* instances allocated */
	/* the section of the last key, resolved: valid until the next one */
	char csection[256];
	char ckind[64];
	int cvalid;
	void *cbase;
	unsigned char *cseen;
} load_ctx;

/* cfg_err - report one problem as FILE:LINE: message */
static void
cfg_err(load_ctx *ctx, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
cfg_err(load_ctx *ctx, int line, const char *fmt, ...)
{
	va_list ap;

	ctx->nerrors++;
	if (ctx->errors == NULL)
		return;
	fprintf(ctx->errors, "%s:%d: ", ctx->file, line);
	va_start(ap, fmt);
	vfprintf(ctx->errors, fmt, ap);
	va_end(ap);
	fputc('\n', ctx->errors);
}

/* str_slot - the char * field of a key in base (the config or an instance) */
static char **
str_slot(void *base, const cfg_key *k)
{
	return (char **)((char *)base + k->offset);
}

/* ll_slot - the long long field of a key */
static long long *
ll_slot(void *base, const cfg_key *k)
{
	return (long long *)((char *)base + k->offset);
}

/* list_slot - the list field of a key */
static cfg_list *
list_slot(void *base, const cfg_key *k)
{
	return (cfg_list *)((char *)base + k->offset);
}

/* is_list - list-valued types */
static int
is_list(enum cfg_type t)
{
	return t == CT_HLIST || t == CT_SLIST || t == CT_WLIST;
}

/* is_str - string-valued types */
static int
is_str(enum cfg_type t)
{
	return t == CT_STRING || t == CT_PATH || t == CT_ZONE || t == CT_ENUM
	    || t == CT_EMAIL || t == CT_REPLY;
}

/* parse_ll - a whole decimal number within bounds */
static int
parse_ll(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* valid_header_name - RFC 5322 field name: printable ASCII but ':' */
static int
valid_header_name(const char *s)
{
	if (*s == '\0' || strlen(s) > 64)
		return 0;
	for (; *s; s++)
		if (*s <= 32 || *s >= 127 || *s == ':')
			return 0;
	return 1;
}

/* valid_email - local@domain, printable, no spaces or separators */
static int
valid_email(const char *s)
{
	const char *at = strchr(s, '@');

	if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@'))
		return 0;
	for (; *s; s++)
		if (*s <= 32 || *s >= 127 || strchr(",;<>\"()[]\\", *s))
			return 0;
	return 1;
}

/*
 * shown - a printable copy of a name for a message: control characters and
 * bytes of invalid UTF-8 (already reported) as '?'
 */
static const char *
shown(const char *s, char *buf, size_t bufsz)
{
	size_t i, o = 0;
	int utf8 = rul_utf8_valid(s);

	for (i = 0; s[i] != '\0' && o + 1 < bufsz; i++) {
		unsigned char c = (unsigned char)s[i];

		buf[o++] = c < 0x20 || c == 0x7f || (!utf8 && c >= 0x80)
		    ? '?' : (char)c;
	}
	buf[o] = '\0';
	return buf;
}

/*
 * text_problem - why any value or section name is refused: a control
 * character (a TAB only where tab_ok: it separates list items) or
 * invalid UTF-8. NULL if fine.
 */
static const char *
text_problem(const char *v, int tab_ok)
{
	if (!rul_utf8_valid(v))
		return "is not valid UTF-8";
	for (; *v != '\0'; v++) {
		unsigned char c = (unsigned char)*v;

		if ((c < 0x20 && !(c == '\t' && tab_ok)) || c == 0x7f)
			return "contains a control character";
	}
	return NULL;
}

/* is_key - is k section/key? */
static int
is_key(const cfg_key *k, const char *section, const char *key)
{
	return strcmp(k->section, section) == 0 && strcmp(k->key, key) == 0;
}

/* the sources of verdicts that trusted_verdicts can name */
static const char *const verdict_sources[] = { "rspamd", "amavis", "spamd",
	"milter", "header", "client-header", NULL };

/*
 * list_item_ok - one item of a list, by the key it is for: never_lock
 * names users (map keys), addresses are CIDRs, trusted_verdicts names
 * known sources. 1 if fine, else 0 (reported).
 */
static int
list_item_ok(load_ctx *ctx, const cfg_key *k, const char *tok)
{
	char why[200], b[96];
	const char *p;
	int fam, plen, i;
	unsigned char a[16];

	if (k->type == CT_HLIST && !valid_header_name(tok)) {
		cfg_err(ctx, ctx->lineno, "%s: bad header name '%s'", k->key,
		    shown(tok, b, sizeof(b)));
		return 0;
	}
	if (k->type == CT_SLIST && strchr(tok, '=') == NULL) {
		cfg_err(ctx, ctx->lineno, "%s: '%s' is not FIELD=value",
		    k->key, shown(tok, b, sizeof(b)));
		return 0;
	}
	if (is_key(k, "global", "never_lock")
	    && (p = rul_map_key_problem(tok)) != NULL) {
		cfg_err(ctx, ctx->lineno, "never_lock: '%s' %s: no user can "
		    "have that name", shown(tok, b, sizeof(b)), p);
		return 0;
	}
	if (is_key(k, "user", "addresses")
	    && rul_cidr_parse(tok, &fam, a, &plen, why, sizeof(why)) != 0) {
		cfg_err(ctx, ctx->lineno, "addresses: '%s' is not an address "
		    "or CIDR: %s", shown(tok, b, sizeof(b)), why);
		return 0;
	}
	if (is_key(k, "global", "trusted_verdicts")) {
		for (i = 0; verdict_sources[i] != NULL; i++)
			if (strcmp(verdict_sources[i], tok) == 0)
				break;
		if (verdict_sources[i] == NULL) {
			cfg_err(ctx, ctx->lineno, "trusted_verdicts: '%s' is not "
			    "one of rspamd, amavis, spamd, milter, header, "
			    "client-header", shown(tok, b, sizeof(b)));
			return 0;
		}
	}
	return 1;
}

/* set_list - replace (or extend) a list by the comma-separated items in v */
static int
set_list(load_ctx *ctx, void *base, const cfg_key *k, const char *v,
    int append)
{
	cfg_list *l = list_slot(base, k);
	const char *seps = k->type == CT_SLIST ? "," : ", \t";
	char *copy = xstrdup(v), *tok, *save = NULL;
	int i;

	if (!append) {
		for (i = 0; i < l->n; i++)
			free(l->v[i]);
		l->n = 0;
	}
	for (tok = strtok_r(copy, seps, &save); tok != NULL;
	    tok = strtok_r(NULL, seps, &save)) {
		while (*tok == ' ' || *tok == '\t')
			tok++;
		if (*tok == '\0')
			continue;
		if (!list_item_ok(ctx, k, tok))
			continue;
		if (l->n == CFG_MAX_LIST) {
			cfg_err(ctx, ctx->lineno, "%s: more than %d items",
			    k->key, CFG_MAX_LIST);
			break;
		}
		l->v = xrealloc(l->v, (size_t)(l->n + 1) * sizeof(char *));
		l->v[l->n++] = xstrdup(tok);
	}
	free(copy);
	return 0;
}

/* set_value - check and store one value; -1 (reported) if it is bad */
static int
set_value(load_ctx *ctx, void *base, const cfg_key *k, const char *v,
    int line)
{
	long long n;
	const char *why;
	char rwhy[300];

	switch (k->type) {
	case CT_STRING:
	case CT_PATH:
	case CT_EMAIL:
	case CT_REPLY:
		if (k->type == CT_PATH && *v != '\0' && *v != '/') {
			cfg_err(ctx, line, "%s: '%s' is not an absolute path",
			    k->key, v);
			return -1;
		}
		if (k->type == CT_EMAIL && *v != '\0' && !valid_email(v)) {
			cfg_err(ctx, line, "%s: '%s' is not a mail address",
			    k->key, v);
			return -1;
		}
		/* an address is a map key (admin_contact) or a BCC target */
		if (k->type == CT_EMAIL && *v != '\0'
		    && (why = rul_map_key_problem(v)) != NULL) {
			cfg_err(ctx, line, "%s: '%s' %s", k->key, v, why);
			return -1;
		}
		/* the text of an SMTP reply, in an access map's result */
		if (k->type == CT_REPLY && (why = rul_map_value_problem(v))
		    != NULL) {
			cfg_err(ctx, line, "%s: the reply text %s", k->key, why);
			return -1;
		}
		if (k->type == CT_REPLY && strspn(v, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !\"#$%&'()*+,-./:;<=>?"
		    "@[\\]^_`{|}~") != strlen(v)) {
			cfg_err(ctx, line, "%s: the reply text is not printable "
			    "ASCII (an SMTP reply)", k->key);
			return -1;
		}
		if (is_key(k, "global", "hostname") && strpbrk(v, " \t") != NULL) {
			cfg_err(ctx, line, "hostname: '%s' contains white space",
			    v);
			return -1;
		}
		if (is_key(k, "identity_header", "regex") && *v != '\0'
		    && rul_regex_problem(v, rwhy, sizeof(rwhy)) != 0) {
			cfg_err(ctx, line, "regex: %s", rwhy);
			return -1;
		}
		free(*str_slot(base, k));
		*str_slot(base, k) = xstrdup(v);
		return 0;
	case CT_ZONE:
		if (*v != '\0' && rgt_set_zone(v) != 0) {
			cfg_err(ctx, line, "%s: unknown time zone '%s'",
			    k->key, v);
			return -1;
		}
		if (*v != '\0' && ctx->cfg != NULL) {	/* made local last */
			free(ctx->cfg->tz);
			ctx->cfg->tz = xstrdup(v);
		}
		free(*str_slot(base, k));
		*str_slot(base, k) = xstrdup(v);
		return 0;
	case CT_INT:
		if (parse_ll(v, k->zero_ok ? 0 : k->min, k->max, &n) != 0
		    || (n != 0 && n < k->min)) {
			cfg_err(ctx, line, "%s: '%s' is not a whole number "
			    "from %lld to %lld%s", k->key, v, k->min, k->max,
			    k->zero_ok ? ", or 0" : "");
			return -1;
		}
		*ll_slot(base, k) = n;
		return 0;
	case CT_BOOL:
		if (!strcasecmp(v, "yes") || !strcasecmp(v, "true")
		    || !strcasecmp(v, "on") || !strcmp(v, "1"))
			n = 1;
		else if (!strcasecmp(v, "no") || !strcasecmp(v, "false")
		    || !strcasecmp(v, "off") || !strcmp(v, "0"))
			n = 0;
		else {
			cfg_err(ctx, line, "%s: '%s' is not yes or no", k->key, v);
			return -1;
		}
		*ll_slot(base, k) = n;
		return 0;
	case CT_DURATION:
		if (rgt_parse_duration(v, &n) != 0) {
			cfg_err(ctx, line, "%s: '%s' is not a duration "
			    "(like 90s, 10m, 1h, 7d)", k->key, v);
			return -1;
		}
		if (n < k->min || n > k->max) {
			cfg_err(ctx, line, "%s: %s is out of range "
			    "(%llds to %llds)", k->key, v, k->min, k->max);
			return -1;
		}
		*ll_slot(base, k) = n;
		return 0;
	case CT_HLIST:
	case CT_SLIST:
	case CT_WLIST:
		return set_list(ctx, base, k, v, 0);
	case CT_ENUM: {
		const char *vals = enum_values(k->section, k->key), *p = vals;
		size_t vl = strlen(v);

		while (p != NULL && *p) {
			const char *bar = strchr(p, '|');
			size_t l = bar ? (size_t)(bar - p) : strlen(p);

			if (l == vl && strncmp(p, v, vl) == 0) {
				free(*str_slot(base, k));
				*str_slot(base, k) = xstrdup(v);
				return 0;
			}
			p = bar ? bar + 1 : NULL;
		}
		cfg_err(ctx, line, "%s: '%s' is not one of %s", k->key, v, vals);
		return -1;
	}
	}
	return -1;
}

/*
 * section_keys - the schema entries of one section, by index (built once:
 * a configuration of 100,000 users asks half a million times)
 */
static const unsigned short *
section_keys(const char *section, size_t *n)
{
	static struct { const char *section; unsigned short idx[NSCHEMA];
	    size_t n; } tab[16];
	static size_t ntab;
	size_t i, j;

	if (ntab == 0) {
		for (i = 0; i < NSCHEMA; i++) {
			for (j = 0; j < ntab; j++)
				if (strcmp(tab[j].section, cfg_schema[i].section)
				    == 0)
					break;
			if (j == ntab) {
				if (ntab == sizeof(tab) / sizeof(tab[0]))
					abort();	/* schema outgrew the table */
				tab[ntab++].section = cfg_schema[i].section;
			}
			tab[j].idx[tab[j].n++] = (unsigned short)i;
		}
	}
	for (j = 0; j < ntab; j++)
		if (strcmp(tab[j].section, section) == 0) {
			*n = tab[j].n;
			return tab[j].idx;
		}
	*n = 0;
	return NULL;
}

/* find_key - the schema entry of section/key, NULL if none */
static const cfg_key *
find_key(const char *section, const char *key, int *section_known)
{
	const unsigned short *idx;
	size_t i, n;

	if (strcmp(section, "defaults") == 0)
		section = "user";
	idx = section_keys(section, &n);
	*section_known = idx != NULL;
	for (i = 0; i < n; i++)
		if (strcmp(cfg_schema[idx[i]].key, key) == 0)
			return &cfg_schema[idx[i]];
	return NULL;
}

/* kind_of - the named kind index of a section kind, -1 if not named */
static int
kind_of(const char *kind)
{
	size_t i;

	for (i = 0; i < NKINDS; i++)
		if (strcmp(named_kinds[i].kind, kind) == 0)
			return (int)i;
	return -1;
}

/*
 * section_split - "user NAME" or "user \"NAME\"" -> "user" and NAME;
 * plain sections have no name.
 */
static void
section_split(const char *section, char *kind, size_t ksz, char *name,
    size_t nsz)
{
	const char *sp = strchr(section, ' ');

	name[0] = '\0';
	if (sp == NULL) {
		snprintf(kind, ksz, "%s", section);
		return;
	}
	snprintf(kind, ksz, "%.*s", (int)(sp - section), section);
	while (*sp == ' ')
		sp++;
	if (*sp == '"') {
		size_t l = strlen(sp);

		snprintf(name, nsz, "%.*s", (int)(l >= 2 && sp[l - 1] == '"'
		    ? l - 2 : l - 1), sp + 1);
	} else {
		snprintf(name, nsz, "%s", sp);
	}
}

/* set_defaults - every schema default of a section into base */
static void
set_defaults(load_ctx *ctx, void *base, const char *section)
{
	size_t i;
	int saved = ctx->nerrors;

	for (i = 0; i < NSCHEMA; i++)
		if (strcmp(cfg_schema[i].section, section) == 0
		    && (cfg_schema[i].type != CT_ZONE || *cfg_schema[i].def == '\0'))
			set_value(ctx, base, &cfg_schema[i], cfg_schema[i].def, 0);
	ctx->nerrors = saved;
}

/* str_hash - FNV-1a */
static size_t
str_hash(const char *p)
{
	uint32_t h = rg_hash(p, strlen(p));

	/* the index masks the low bits: mix the high ones in */
	h ^= h >> 16;
	h *= 0x45d9f3bu;
	h ^= h >> 16;
	return h;
}

/* ihash_put - index instance i of a kind by its name */
static void
ihash_put(load_ctx *ctx, int kind, const char *name, int i)
{
	size_t b;

	b = str_hash(name) & (ctx->ibuckets[kind] - 1);
	while (ctx->ihash[kind][b] != 0)
		b = (b + 1) & (ctx->ibuckets[kind] - 1);
	ctx->ihash[kind][b] = i + 1;
}

/* instance_for - the instance [KIND NAME], created at first sight */
static void *
instance_for(load_ctx *ctx, int kind, const char *name, unsigned char **seen)
{
	const named_kind *nk = &named_kinds[kind];
	char **arr = (char **)((char *)ctx->cfg + nk->arr_off);
	int *n = (int *)((char *)ctx->cfg + nk->n_off);
	named_head *h;
	size_t b;
	int i;

	if (ctx->ihash[kind] != NULL) {
		for (b = str_hash(name) & (ctx->ibuckets[kind] - 1);
		    ctx->ihash[kind][b] != 0;
		    b = (b + 1) & (ctx->ibuckets[kind] - 1)) {
			i = ctx->ihash[kind][b] - 1;
			h = (named_head *)(*arr + (size_t)i * nk->size);
			if (strcmp(h->name, name) == 0) {
				*seen = ctx->iseen[kind] + (size_t)i * NSCHEMA;
				return h;
			}
		}
	}
	/* grow the index at half full (and at the start) */
	if ((size_t)(*n + 1) * 2 > ctx->ibuckets[kind]) {
		size_t nb = ctx->ibuckets[kind] ? ctx->ibuckets[kind] * 2 : 64;

		free(ctx->ihash[kind]);
		ctx->ihash[kind] = xcalloc(nb, sizeof(int));
		ctx->ibuckets[kind] = nb;
		for (i = 0; i < *n; i++)
			ihash_put(ctx, kind, ((named_head *)(*arr + (size_t)i
			    * nk->size))->name, i);
	}
	if ((size_t)*n == ctx->icap[kind]) {	/* grown geometrically */
		ctx->icap[kind] = ctx->icap[kind] ? ctx->icap[kind] * 2 : 16;
		*arr = xrealloc(*arr, ctx->icap[kind] * nk->size);
		ctx->iseen[kind] = xrealloc(ctx->iseen[kind],
		    ctx->icap[kind] * NSCHEMA);
	}
	memset(ctx->iseen[kind] + (size_t)*n * NSCHEMA, 0, NSCHEMA);
	h = (named_head *)(*arr + (size_t)*n * nk->size);
	memset(h, 0, nk->size);
	h->name = xstrdup(name);
	h->line = ctx->lineno;
	/* a user takes every key it does not set from [defaults] (inherit) */
	if (strcmp(nk->kind, "user") != 0)
		set_defaults(ctx, h, nk->kind);
	*seen = ctx->iseen[kind] + (size_t)*n * NSCHEMA;
	ihash_put(ctx, kind, name, *n);
	(*n)++;
	return h;
}

/* check_secret - a password file readable by nobody but its owner */
static void
check_secret(load_ctx *ctx, const char *key, const char *path, int line)
{
	struct stat sb;

	if (*path == '\0')
		return;
	if (stat(path, &sb) != 0)
		cfg_err(ctx, line, "%s: %s: %s", key, path, strerror(errno));
	else if (sb.st_mode & (S_IRWXG | S_IRWXO))
		cfg_err(ctx, line, "%s: %s can be read by group or others "
		    "(mode %03o): chmod 600 it", key, path,
		    (unsigned)(sb.st_mode & 0777));
}

/* check_retry - [mail] retry: durations of 1s to 1d */
static void
check_retry(load_ctx *ctx, int line)
{
	long long n;
	int i;

	if (ctx->cfg->retry.n == 0)
		cfg_err(ctx, line, "retry: needs at least one duration");
	for (i = 0; i < ctx->cfg->retry.n; i++)
		if (rgt_parse_duration(ctx->cfg->retry.v[i], &n) != 0 || n < 1
		    || n > 86400)
			cfg_err(ctx, line, "retry: '%s' is not a duration of "
			    "1s to 1d", ctx->cfg->retry.v[i]);
}

/* handler - inih callback: one key = value */
static int
handler(void *user, const char *section, const char *name, const char *value)
{
	load_ctx *ctx = user;
	const cfg_key *k;
	char sname[64];
	void *base;
	unsigned char *seen;
	const char *why;
	int known, ki;

	/* the section of the last key again (the usual case): resolved once */
	if (!ctx->cvalid || strcmp(ctx->csection, section) != 0) {
		snprintf(ctx->csection, sizeof(ctx->csection), "%s", section);
		section_split(section, ctx->ckind, sizeof(ctx->ckind), sname,
		    sizeof(sname));
		ctx->cbase = ctx->cfg;
		ctx->cseen = ctx->seen;
		if ((ki = kind_of(ctx->ckind)) >= 0) {
			if (sname[0] == '\0')
				ctx->cbase = NULL;	/* reported at the header */
			else
				ctx->cbase = instance_for(ctx, ki, sname,
				    &ctx->cseen);
		} else if (strcmp(ctx->ckind, "defaults") == 0) {
			ctx->cbase = &ctx->cfg->defaults;
			ctx->cseen = ctx->dseen;
		}
		ctx->cvalid = 1;
	}
	if ((base = ctx->cbase) == NULL)
		return 1;
	seen = ctx->cseen;
	k = find_key(ctx->ckind, name, &known);
	if (k != NULL && (why = text_problem(value, is_list(k->type))) != NULL) {
		/* nothing Postfix, a log or a terminal would read as meant */
		cfg_err(ctx, ctx->lineno, "%s: the value %s", name, why);
		return 1;
	}
	if (ctx->continuation) {
		/* inih r55 reads an indented line as more of the last value */
		if (k != NULL && is_list(k->type)) {
			set_list(ctx, base, k, value, 1);
			return 1;
		}
		cfg_err(ctx, ctx->lineno, "indented line is read as a "
		    "continuation of '%s': do not indent keys", name);
		return 1;
	}
	if (k == NULL) {
		/* an unknown section was reported at its header */
		if (known)
			cfg_err(ctx, ctx->lineno, "unknown key '%s' in [%s]",
			    name, section);
		return 1;
	}
	if (seen[k - cfg_schema]) {
		cfg_err(ctx, ctx->lineno, "'%s' is set twice in [%s]", name,
		    section);
		return 1;
	}
	/* a value reported bad is not set: a [user] inherits the default */
	seen[k - cfg_schema] = set_value(ctx, base, k, value, ctx->lineno) == 0;
	if (k->offset == OFF(auth_password_file) && strcmp(k->section, "mail")
	    == 0 && seen[k - cfg_schema])
		check_secret(ctx, "auth_password_file", value, ctx->lineno);
	if ((k->offset == OFF(pg_password_file) || k->offset
	    == OFF(pg_postfix_password_file)) && strcmp(k->section, "pgsql")
	    == 0 && seen[k - cfg_schema])
		check_secret(ctx, name, value, ctx->lineno);
	if (k->offset == OFF(retry) && strcmp(k->section, "mail") == 0)
		check_retry(ctx, ctx->lineno);
	return 1;
}

/* reader - inih's fgets: hand out our lines, counting them */
static char *
reader(char *str, int num, void *stream)
{
	load_ctx *ctx = stream;
	const char *l;
	size_t n;

	if (ctx->next >= ctx->nlines)
		return NULL;
	l = ctx->lines[ctx->next++];
	ctx->lineno = ctx->next;
	ctx->continuation = (*l == ' ' || *l == '\t');
	n = strlen(l);
	if (n + 2 > (size_t)num) {
		l = "";		/* over-long: reported already */
		n = 0;
	}
	memcpy(str, l, n);
	str[n] = '\n';
	str[n + 1] = '\0';
	return str;
}

/* check_section - a section header: known, named when it must be */
static void
check_section(load_ctx *ctx, const char *p, const char *e, int lineno)
{
	char name[INIH_MAX_NAME + 1], kind[64], sname[64];
	int known, ki;
	size_t nk;
	unsigned char *seen;
	const char *why;

	if (e - p - 1 > INIH_MAX_NAME) {
		cfg_err(ctx, lineno, "section name is longer than %d bytes "
		    "(inih cuts it)", INIH_MAX_NAME);
		return;
	}
	snprintf(name, sizeof(name), "%.*s", (int)(e - p - 1), p + 1);
	if ((why = text_problem(name, 0)) != NULL) {
		char b[INIH_MAX_NAME + 1];

		cfg_err(ctx, lineno, "section name [%s] %s", shown(name, b,
		    sizeof(b)), why);
	}
	section_split(name, kind, sizeof(kind), sname, sizeof(sname));
	known = strcmp(kind, "defaults") == 0 || section_keys(kind, &nk) != NULL;
	ki = kind_of(kind);
	if (!known)
		cfg_err(ctx, lineno, "unknown section [%s]", name);
	else if (ki >= 0 && sname[0] == '\0')
		cfg_err(ctx, lineno, "[%s] needs a name: [%s NAME]", kind, kind);
	else if (ki < 0 && sname[0] != '\0')
		cfg_err(ctx, lineno, "[%s] takes no name", kind);
	else if (ki >= 0) {
		/* a section with no keys is an instance too */
		ctx->lineno = lineno;
		instance_for(ctx, ki, sname, &seen);
	}
}

/* read_lines - the file as lines; over-long lines and names reported */
static int
read_lines(load_ctx *ctx, FILE *fp)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, fp)) >= 0) {
		int lineno = ctx->nlines + 1;
		char *p;

		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		if (memchr(line, '\0', (size_t)n) != NULL) {
			cfg_err(ctx, lineno, "NUL byte in line");
			line[0] = '\0';
		} else if (n > INIH_MAX_CONTENT) {
			cfg_err(ctx, lineno, "line is %zd bytes long; the "
			    "limit is %d", n, INIH_MAX_CONTENT);
			line[0] = '\0';
		}
		for (p = line; *p == ' ' || *p == '\t'; p++)
			;
		if (*p == '[') {
			char *e = strchr(p, ']');

			if (e != NULL) {
				check_section(ctx, p, e, lineno);
				if (e - p - 1 > INIH_MAX_NAME)
					line[0] = '\0';
			}
		} else if (*p != ';' && *p != '#' && *p != '\0') {
			char *e = strpbrk(p, "=:");

			if (e != NULL && e - p > INIH_MAX_NAME) {
				cfg_err(ctx, lineno, "key name is longer than "
				    "%d bytes", INIH_MAX_NAME);
				line[0] = '\0';
			}
		}
		ctx->lines = xrealloc(ctx->lines,
		    (size_t)(ctx->nlines + 1) * sizeof(char *));
		ctx->lines[ctx->nlines++] = xstrdup(line);
	}
	free(line);
	return ferror(fp) ? -1 : 0;
}

/* copy_value - a deep copy of one key's value from src to dst */
static void
copy_value(void *dst, const void *src, const cfg_key *k)
{
	if (is_str(k->type)) {
		free(*str_slot(dst, k));
		*str_slot(dst, k) = xstrdup(*str_slot((void *)src, k));
	} else if (is_list(k->type)) {
		cfg_list *d = list_slot(dst, k), *s = list_slot((void *)src, k);
		int i;

		for (i = 0; i < d->n; i++)
			free(d->v[i]);
		d->n = s->n;
		d->v = xrealloc(d->v, (size_t)(s->n + 1) * sizeof(char *));
		for (i = 0; i < s->n; i++)
			d->v[i] = xstrdup(s->v[i]);
	} else {
		*ll_slot(dst, k) = *ll_slot((void *)src, k);
	}
}

/* inherit - every user takes what it does not set from [defaults] */
static void
inherit(load_ctx *ctx)
{
	rg_config *cfg = ctx->cfg;
	int u;
	size_t i, n;
	const unsigned short *idx = section_keys("user", &n);

	for (u = 0; u < cfg->nusers; u++) {
		unsigned char *seen = ctx->iseen[1] + (size_t)u * NSCHEMA;

		for (i = 0; i < n; i++)
			if (!seen[idx[i]])
				copy_value(&cfg->users[u], &cfg->defaults,
				    &cfg_schema[idx[i]]);
	}
}

/* cmp_user - by name, case-insensitive, then by line */
static int
cmp_user(const void *x, const void *y)
{
	const rg_user_cfg *a = *(rg_user_cfg *const *)x;
	const rg_user_cfg *b = *(rg_user_cfg *const *)y;
	int r = strcasecmp(a->name, b->name);

	return r ? r : a->line - b->line;
}

/*
 * dns_name_ok - letters, digits and '-' in dot-separated labels of 1 to 63
 * bytes, not starting or ending with '-', 253 bytes at most; a domain
 * (dotted) needs two labels
 */
static int
dns_name_ok(const char *s, int dotted)
{
	size_t len = strlen(s), lab = 0, i;
	int labels = 1;

	if (len == 0 || len > 253)
		return 0;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (lab == 0 || s[i - 1] == '-')
				return 0;
			lab = 0;
			labels++;
			continue;
		}
		if (!isalnum((unsigned char)c) && c != '-')
			return 0;
		if (c == '-' && lab == 0)
			return 0;
		if (++lab > 63)
			return 0;
	}
	if (lab == 0 || s[len - 1] == '-')
		return 0;
	return !dotted || labels >= 2;
}

/* in_list - is name in l, case-insensitively? */
static int
in_list(const cfg_list *l, const char *name)
{
	int i;

	for (i = 0; i < l->n; i++)
		if (strcasecmp(l->v[i], name) == 0)
			return 1;
	return 0;
}

/*
 * validate_user_name - a user's name is the key of its lock in the maps
 * (the SASL login, the domain) or its network, and what an administrator
 * types for lock and unlock: refuse what Postfix could never look up
 */
static void
validate_user_name(load_ctx *ctx, const rg_user_cfg *u)
{
	char b[96], why[200];
	const char *p;
	unsigned char a[16];
	int fam, plen;

	if (text_problem(u->name, 0) != NULL)
		return;		/* reported at the section header */
	shown(u->name, b, sizeof(b));
	if ((p = rul_map_key_problem(u->name)) != NULL)
		cfg_err(ctx, u->line, "[user %s]: not a name Postfix can look "
		    "up: it %s", b, p);
	else if (strcmp(u->type, "domain") == 0 && !dns_name_ok(u->name, 1))
		cfg_err(ctx, u->line, "[user %s]: type = domain: not a domain "
		    "name (letters, digits, '-' and '.'; an international "
		    "domain in its xn-- form)", b);
	else if (strcmp(u->type, "ip") == 0 && u->addresses.n == 0
	    && rul_cidr_parse(u->name, &fam, a, &plen, why, sizeof(why)) != 0)
		cfg_err(ctx, u->line, "[user %s]: '%s' is not an address or "
		    "CIDR: %s", b, b, why);
}

/* validate - what sections need, by type */
static void
validate(load_ctx *ctx)
{
	rg_config *cfg = ctx->cfg;
	int i, j, nstdin = 0;

	for (i = 0; i < cfg->nsources; i++) {
		rg_source_cfg *sc = &cfg->sources[i];

		if (strcmp(sc->type, "file") == 0 && *sc->path == '\0')
			cfg_err(ctx, sc->line, "[source %s]: type = file needs "
			    "a path", sc->name);
		if (strcmp(sc->type, "file") != 0 && *sc->path != '\0')
			cfg_err(ctx, sc->line, "[source %s]: path is only for "
			    "type = file", sc->name);
		if (strcmp(sc->type, "journal") != 0
		    && (sc->match.n > 0 || *sc->directory != '\0'))
			cfg_err(ctx, sc->line, "[source %s]: match and directory "
			    "are only for type = journal", sc->name);
		if (strcmp(sc->type, "stdin") == 0 && nstdin++ > 0)
			cfg_err(ctx, sc->line, "[source %s]: only one source "
			    "can read standard input", sc->name);
		for (j = 0; j < i; j++)
			if (*sc->path && strcmp(cfg->sources[j].path,
			    sc->path) == 0)
				cfg_err(ctx, sc->line, "[source %s]: %s is "
				    "read by [source %s] already", sc->name,
				    sc->path, cfg->sources[j].name);
	}
	for (i = 0; i < cfg->nusers; i++) {
		rg_user_cfg *u = &cfg->users[i];

		validate_user_name(ctx, u);
		if (strcmp(u->identification, "header") == 0
		    && u->identity_headers.n == 0)
			cfg_err(ctx, u->line, "[user %s]: identification = header "
			    "needs identity_headers", u->name);
		if (strcmp(u->identification, "header") == 0)
			for (j = 0; j < u->identity_headers.n; j++)
				if (!in_list(&cfg->headers,
				    u->identity_headers.v[j]))
					cfg_err(ctx, u->line, "[user %s]: %s is "
					    "not in [parse] identity_headers: it "
					    "is never recorded", u->name,
					    u->identity_headers.v[j]);
		if (u->archive && *u->archive_address == '\0')
			cfg_err(ctx, u->line, "[user %s]: archive = yes needs "
			    "archive_address", u->name);
		if (strcmp(u->type, "ip") != 0 && u->addresses.n > 0)
			cfg_err(ctx, u->line, "[user %s]: addresses is only for "
			    "type = ip", u->name);
	}
	for (i = 0; i < cfg->nidheaders; i++) {
		rg_idheader_cfg *h = &cfg->idheaders[i];
		char b[96];

		if (text_problem(h->name, 0) != NULL)
			continue;	/* reported at the section header */
		if (!valid_header_name(h->name))
			cfg_err(ctx, h->line, "[identity_header %s]: not a header "
			    "name (printable ASCII without ':' or white space)",
			    shown(h->name, b, sizeof(b)));
		else if (!in_list(&cfg->headers, h->name))
			cfg_err(ctx, h->line, "[identity_header %s]: not in "
			    "[parse] identity_headers: it is never recorded",
			    h->name);
	}
	for (i = 0; i < cfg->ndomains; i++) {
		rg_domain_cfg *d = &cfg->domains[i];

		if (!dns_name_ok(d->name, 1))
			cfg_err(ctx, d->line, "[domain %s]: not a domain name "
			    "(letters, digits, '-' and '.', labels of at most "
			    "63)", d->name);
		if (*d->dkim_selector && !dns_name_ok(d->dkim_selector, 0))
			cfg_err(ctx, d->line, "[domain %s]: dkim_selector '%s' "
			    "is not a DKIM selector (letters, digits, '-', "
			    "'.')", d->name, d->dkim_selector);
	}
	/* two names that differ only in case are one login to Postfix */
	if (cfg->nusers > 1) {
		rg_user_cfg **byname = xcalloc((size_t)cfg->nusers,
		    sizeof(rg_user_cfg *));

		for (i = 0; i < cfg->nusers; i++)
			byname[i] = &cfg->users[i];
		qsort(byname, (size_t)cfg->nusers, sizeof(*byname), cmp_user);
		for (i = 1; i < cfg->nusers; i++)
			if (strcasecmp(byname[i - 1]->name, byname[i]->name) == 0)
				cfg_err(ctx, byname[i]->line, "[user %s]: the same "
				    "user as [user %s] (line %d)", byname[i]->name,
				    byname[i - 1]->name, byname[i - 1]->line);
		free(byname);
	}
}

/* cfg_defaults - a configuration with every default */
rg_config *
cfg_defaults(void)
{
	rg_config *cfg = xcalloc(1, sizeof(*cfg));
	load_ctx ctx;

	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = cfg;
	ctx.file = "(defaults)";
	set_defaults(&ctx, cfg, "global");
	set_defaults(&ctx, cfg, "parse");
	set_defaults(&ctx, cfg, "collect");
	set_defaults(&ctx, cfg, "report");
	set_defaults(&ctx, cfg, "mail");
	set_defaults(&ctx, cfg, "pgsql");
	set_defaults(&ctx, &cfg->defaults, "user");
	cfg->defaults.name = xstrdup("defaults");
	return cfg;
}

/* load_lines - parse the lines read into ctx over the defaults */
static rg_config *
load_lines(load_ctx *ctx, int *nerrors)
{
	int rc, i;
	size_t k;

	rc = ini_parse_stream(reader, ctx, handler, ctx);
	if (rc > 0)
		cfg_err(ctx, rc, "syntax error (expected [section], "
		    "key = value or a comment)");
	else if (rc < 0)
		cfg_err(ctx, 0, "cannot parse");
	inherit(ctx);
	validate(ctx);
	for (i = 0; i < ctx->nlines; i++)
		free(ctx->lines[i]);
	free(ctx->lines);
	for (k = 0; k < NKINDS; k++) {
		free(ctx->iseen[k]);
		free(ctx->ihash[k]);
	}
	*nerrors = ctx->nerrors;
	if (ctx->nerrors > 0) {
		cfg_free(ctx->cfg);
		return NULL;
	}
	return ctx->cfg;
}

/*
 * load_fp - read FILE's content from fp (opened by the caller: NULL with
 * errno set if it could not be, said as "cannot WHAT") over the defaults
 */
static rg_config *
load_fp(const char *file, FILE *fp, const char *what, FILE *errors,
    int *nerrors)
{
	load_ctx ctx;

	*nerrors = 0;
	if (fp == NULL) {
		if (errors != NULL)
			fprintf(errors, "%s: cannot %s: %s\n", file, what,
			    strerror(errno));
		*nerrors = 1;
		return NULL;
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.file = file;
	ctx.errors = errors;
	ctx.cfg = cfg_defaults();
	ctx.cfg->file = xstrdup(file);
	if (read_lines(&ctx, fp) != 0)
		cfg_err(&ctx, ctx.nlines + 1, "read error: %s",
		    strerror(errno));
	fclose(fp);
	return load_lines(&ctx, nerrors);
}

/*
 * cfg_load - read FILE over the defaults. Returns NULL when the file cannot
 * be read or has any error; *nerrors counts them (each printed on errors).
 */
rg_config *
cfg_load(const char *file, FILE *errors, int *nerrors)
{
	return load_fp(file, fopen(file, "r"), "open", errors, nerrors);
}

/*
 * cfg_load_buffer - cfg_load of FILE's content as already read into buf
 * (the cache hashes exactly the bytes it parses, so an empty file is not
 * read again: fmemopen wants a buffer, and "\n" parses as "" does)
 */
rg_config *
cfg_load_buffer(const char *file, const char *buf, size_t len, FILE *errors,
    int *nerrors)
{
	if (len == 0) {
		buf = "\n";
		len = 1;
	}
	return load_fp(file, fmemopen((void *)buf, len, "r"), "read", errors,
	    nerrors);
}

/* free_fields - release the strings and lists of one section's struct */
static void
free_fields(void *base, const char *section)
{
	const unsigned short *idx = NULL;
	size_t i, n;

	idx = section_keys(section, &n);
	for (i = 0; i < n; i++) {
		const cfg_key *k = &cfg_schema[idx[i]];

		if (is_str(k->type)) {
			free(*str_slot(base, k));
		} else if (is_list(k->type)) {
			cfg_list *l = list_slot(base, k);
			int j;

			for (j = 0; j < l->n; j++)
				free(l->v[j]);
			free(l->v);
		}
	}
}

/* cfg_free - release a configuration; NULL is a no-op */
void
cfg_free(rg_config *cfg)
{
	size_t k;
	int j;

	if (cfg == NULL)
		return;
	if (cfg->block != NULL) {	/* from the cache: one block */
		for (k = 0; k < NKINDS; k++)
			free(*(char **)((char *)cfg + named_kinds[k].arr_off));
		free(cfg->block);
		free(cfg->tz);
		free(cfg->file);
		free(cfg);
		return;
	}
	free_fields(cfg, "global");
	free_fields(cfg, "parse");
	free_fields(cfg, "collect");
	free_fields(cfg, "report");
	free_fields(cfg, "mail");
	free_fields(cfg, "pgsql");
	free_fields(&cfg->defaults, "user");
	free(cfg->defaults.name);
	for (k = 0; k < NKINDS; k++) {
		const named_kind *nk = &named_kinds[k];
		char *arr = *(char **)((char *)cfg + nk->arr_off);
		int n = *(int *)((char *)cfg + nk->n_off);

		for (j = 0; j < n; j++) {
			named_head *h = (named_head *)(arr + (size_t)j * nk->size);

			free_fields(h, nk->kind);
			free(h->name);
		}
		free(arr);
	}
	free(cfg->tz);
	free(cfg->file);
	free(cfg);
}

/* mix - n bytes and a separator into an FNV-1a hash */
static uint64_t
mix(uint64_t h, const void *p, size_t n)
{
	return rg_hash64_more(rg_hash64_more(h, p, n), "\xff", 1);
}

/* hash_fields - one section's values into an FNV-1a hash */
static uint64_t
hash_fields(uint64_t h, const void *base, const char *section)
{
	const unsigned short *idx;
	size_t i, n;
	int j;

	idx = section_keys(section, &n);
	for (i = 0; i < n; i++) {
		const cfg_key *k = &cfg_schema[idx[i]];

		if (is_str(k->type)) {
			const char *v = *str_slot((void *)base, k);

			h = mix(h, v ? v : "", v ? strlen(v) : 0);
		} else if (is_list(k->type)) {
			const cfg_list *l = list_slot((void *)base, k);

			for (j = 0; j < l->n; j++)
				h = mix(h, l->v[j], strlen(l->v[j]));
			h = mix(h, "", 0);
		} else {
			long long v = *ll_slot((void *)base, k);

			h = mix(h, &v, sizeof(v));
		}
	}
	return h;
}

/*
 * cfg_hash - a fingerprint of every value (sections, instances and their
 * names): equal configurations, equal hashes
 */
unsigned long long
cfg_hash(const rg_config *cfg)
{
	uint64_t h = RG_HASH64_INIT;
	size_t k;
	int j;

	if (cfg->hashed)
		return cfg->hash;
	h = hash_fields(h, cfg, "global");
	h = hash_fields(h, cfg, "parse");
	h = hash_fields(h, cfg, "collect");
	h = hash_fields(h, &cfg->defaults, "user");
	for (k = 0; k < NKINDS; k++) {
		const named_kind *nk = &named_kinds[k];
		const char *arr = *(char *const *)((const char *)cfg
		    + nk->arr_off);
		int n = *(const int *)((const char *)cfg + nk->n_off);

		for (j = 0; j < n; j++) {
			const named_head *hd = (const named_head *)(arr
			    + (size_t)j * nk->size);
			h = mix(h, hd->name, strlen(hd->name));
			h = hash_fields(h, hd, nk->kind);
		}
	}
	return (unsigned long long)h;
}

/*
 * cfg_schema_row_at - row i of the schema (the one table behind --schema,
 * relayguard.ini(5) and the README's key list); -1 past the end
 */
int
cfg_schema_row_at(size_t i, cfg_schema_row *row)
{
	static const char *tn[] = { "string", "path", "integer", "duration",
	    "zone", "list", "list", "enum", "bool", "address", "list", "text" };
	const cfg_key *k;

	if (i >= NSCHEMA)
		return -1;
	k = &cfg_schema[i];
	if (strcmp(k->section, "user") == 0)
		snprintf(row->section, sizeof(row->section), "user/defaults");
	else if (kind_of(k->section) >= 0)
		snprintf(row->section, sizeof(row->section), "%s NAME",
		    k->section);
	else
		snprintf(row->section, sizeof(row->section), "%s", k->section);
	row->key = k->key;
	row->type = tn[k->type];
	row->def = k->def;
	row->bounds[0] = '\0';
	if (k->type == CT_INT || k->type == CT_DURATION)
		snprintf(row->bounds, sizeof(row->bounds), "%lld..%lld%s%s",
		    k->min, k->max, k->type == CT_DURATION ? "s" : "",
		    k->zero_ok ? " or 0" : "");
	else if (k->type == CT_ENUM)
		snprintf(row->bounds, sizeof(row->bounds), "%s",
		    enum_values(k->section, k->key));
	row->help = k->help;
	return 0;
}

/* cfg_print_schema - the schema as a table (section, key, type, default, bounds) */
void
cfg_print_schema(FILE *out)
{
	cfg_schema_row r;
	size_t i;

	fprintf(out, "%-15s %-24s %-8s %-22s %s\n", "section", "key", "type",
	    "default", "bounds / meaning");
	for (i = 0; cfg_schema_row_at(i, &r) == 0; i++)
		fprintf(out, "%-15s %-24s %-8s %-22s %s%s%s\n", r.section, r.key,
		    r.type, *r.def ? r.def : "\"\"", r.bounds,
		    *r.bounds ? "; " : "", r.help);
}

/* cfg_dry_run - enforce = dry-run: locks are decided, Postfix only warns */
int
cfg_dry_run(const rg_config *cfg)
{
	return cfg->enforce != NULL && strcmp(cfg->enforce, "dry-run") == 0;
}

/* cfg_fields - the value fields of a section in schema order (cfgcache.c) */
const cfg_field *
cfg_fields(const char *section, size_t *n)
{
	static struct { const char *section; cfg_field f[NSCHEMA]; size_t n; }
	    tab[16];
	static size_t ntab;
	const unsigned short *idx;
	size_t i, j;

	for (j = 0; j < ntab; j++)
		if (strcmp(tab[j].section, section) == 0)
			break;
	if (j == ntab) {
		if ((idx = section_keys(section, n)) == NULL
		    || ntab == sizeof(tab) / sizeof(tab[0]))
			return NULL;
		tab[j].section = cfg_schema[idx[0]].section;
		for (i = 0; i < *n; i++) {
			const cfg_key *k = &cfg_schema[idx[i]];

			tab[j].f[i].kind = is_str(k->type) ? CFG_F_STR
			    : is_list(k->type) ? CFG_F_LIST : CFG_F_INT;
			tab[j].f[i].offset = k->offset;
		}
		tab[j].n = *n;
		ntab++;
	}
	*n = tab[j].n;
	return tab[j].f;
}

/*
 * cfg_schema_hash - a fingerprint of the schema and the structs it fills:
 * a cache written by a build that disagrees on either is never read
 */
unsigned long long
cfg_schema_hash(void)
{
	uint64_t h = RG_HASH64_INIT;
	size_t i, sz[] = { sizeof(rg_config), sizeof(rg_user_cfg),
	    sizeof(rg_source_cfg), sizeof(rg_idheader_cfg),
	    sizeof(rg_domain_cfg), sizeof(cfg_list), NSCHEMA };

	h = mix(h, sz, sizeof(sz));
	for (i = 0; i < NSCHEMA; i++) {
		const cfg_key *k = &cfg_schema[i];
		long long v[4] = { k->type, (long long)k->offset, k->min,
		    k->max };

		h = mix(h, k->section, strlen(k->section));
		h = mix(h, k->key, strlen(k->key));
		h = mix(h, k->def, strlen(k->def));
		h = mix(h, v, sizeof(v));
	}
	return (unsigned long long)h;
}

/*
 * cfg_recheck - what loading checked outside the file, checked again for
 * a configuration from the cache: the password files' modes and the time
 * zones; the zone the loader left local is made local again. 0 if all
 * pass (else the caller parses the file, which reports the problem).
 */
int
cfg_recheck(const rg_config *cfg)
{
	load_ctx ctx;
	int i;

	memset(&ctx, 0, sizeof(ctx));
	ctx.file = cfg->file ? cfg->file : "config";
	check_secret(&ctx, "auth_password_file", cfg->auth_password_file, 0);
	check_secret(&ctx, "password_file", cfg->pg_password_file, 0);
	check_secret(&ctx, "postfix_password_file",
	    cfg->pg_postfix_password_file, 0);
	if (rgt_set_zone(cfg->timezone) != 0
	    || rgt_set_zone(cfg->report_timezone) != 0)
		ctx.nerrors++;
	for (i = 0; i < cfg->nsources; i++)
		if (rgt_set_zone(cfg->sources[i].timezone) != 0)
			ctx.nerrors++;
	if (cfg->tz != NULL && rgt_set_zone(cfg->tz) != 0)
		ctx.nerrors++;
	return ctx.nerrors > 0 ? -1 : 0;
}
