/*
 * parse_cmd.c - `relayguard parse`: logs in, JSON Lines out.
 *
 * Several inputs are merged by time, line by line, so that a Postfix log
 * and a content filter's log (or rotated files given in any order) are
 * read as the one stream they were. With --summary, a per-user table
 * replaces the JSON.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../collector/parser.h"
#include "../collector/pipeline.h"
#include "../common/log.h"
#include "../common/strbuf.h"
#include "../common/xalloc.h"
#include "cli.h"

typedef struct user_sum {
	char *user;
	const char *kind;
	long messages, recipients, sent, deferred, bounced, rejected, spam,
	    held, incomplete;
} user_sum;

#define OUT_FLUSH (256 * 1024)	/* bytes of JSON written at once */

typedef struct out_ctx {
	strbuf sb;		/* JSON lines not yet written */
	int sessions;
	int summary;
	int json;		/* write the records (not with --stats, --summary) */
	unsigned long long nmessages, nsessions;	/* records handed out */
	user_sum *users;
	size_t nusers, cap;
	long bounces;		/* Postfix's own notifications */
	int write_error;
} out_ctx;

/* flush_out - write the buffered lines to stdout */
static void
flush_out(out_ctx *o)
{
	if (o->sb.len == 0)
		return;
	if (fwrite(o->sb.s, 1, o->sb.len, stdout) != o->sb.len)
		o->write_error = 1;
	sb_reset(&o->sb);
}

/* emit - end the record just appended; write when the buffer is full */
static void
emit(out_ctx *o)
{
	sb_addc(&o->sb, '\n');
	if (o->sb.len >= OUT_FLUSH)
		flush_out(o);
}

/* summary_user - the row of a user, added if new */
static user_sum *
summary_user(out_ctx *o, const char *user, const char *kind)
{
	size_t i;

	for (i = 0; i < o->nusers; i++)
		if (strcmp(o->users[i].user, user) == 0)
			return &o->users[i];
	if (o->nusers == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 16;
		o->users = xrealloc(o->users, o->cap * sizeof(user_sum));
	}
	memset(&o->users[o->nusers], 0, sizeof(user_sum));
	o->users[o->nusers].user = xstrdup(user);
	o->users[o->nusers].kind = kind;
	return &o->users[o->nusers++];
}

/* summarize - count one record for its user */
static void
summarize(out_ctx *o, const rg_record *r)
{
	const char *user, *kind;
	user_sum *u;
	int i;

	if (r->filtered_as != NULL)
		return;		/* counted under the queue ID it went on as */
	if (r->bounce_of != NULL) {
		o->bounces++;
		return;
	}
	if (r->sasl_username != NULL)
		user = r->sasl_username, kind = "sasl";
	else if (r->client_ip != NULL)
		user = r->client_ip, kind = "ip";
	else if (r->pickup)
		user = "(local submission)", kind = "local";
	else
		user = "(unknown)", kind = "-";
	u = summary_user(o, user, kind);
	u->messages++;
	u->recipients += r->nrcpts;
	for (i = 0; i < r->nrcpts; i++) {
		const char *s = r->rcpts[i].status;

		if (s == NULL)
			continue;
		if (strcmp(s, "sent") == 0)
			u->sent++;
		else if (strcmp(s, "deferred") == 0)
			u->deferred++;
		else if (strcmp(s, "bounced") == 0 || strcmp(s, "expired") == 0)
			u->bounced++;
		else if (strcmp(s, "rejected") == 0)
			u->rejected++;
	}
	if (r->rejected.stage != NULL && r->nrcpts == 0)
		u->rejected++;
	if (r->verdict.source > VS_CLIENT_HEADER && r->verdict.spam)
		u->spam++;
	if (r->held)
		u->held++;
	if (!r->complete)
		u->incomplete++;
}

/* on_message - assembler callback */
static void
on_message(void *arg, const rg_record *r)
{
	out_ctx *o = arg;

	o->nmessages++;
	if (o->summary) {
		summarize(o, r);
		return;
	}
	if (!o->json)
		return;
	rec_json(&o->sb, r);
	emit(o);
}

/* on_session - assembler callback */
static void
on_session(void *arg, const rg_session *s)
{
	out_ctx *o = arg;

	o->nsessions++;
	if (!o->sessions || !o->json)
		return;
	sess_json(&o->sb, s);
	emit(o);
}

/* cmp_users - most messages first, then by name */
static int
cmp_users(const void *a, const void *b)
{
	const user_sum *x = a, *y = b;

	if (x->messages != y->messages)
		return x->messages < y->messages ? 1 : -1;
	return strcmp(x->user, y->user);
}

/* print_summary - the per-user table */
static void
print_summary(out_ctx *o)
{
	size_t i;

	qsort(o->users, o->nusers, sizeof(user_sum), cmp_users);
	/* the columns of `stats`, in its order (cli/query_cmd.c) */
	printf("%-32s %-6s %8s %6s %6s %7s %8s %8s %5s %5s\n", "user", "kind",
	    "messages", "rcpts", "sent", "bounced", "deferred", "rejected",
	    "spam", "held");
	for (i = 0; i < o->nusers; i++) {
		user_sum *u = &o->users[i];
		strbuf name;

		/* log text: never raw to a terminal; quoted if it is odd */
		sb_init(&name);
		if (strspn(u->user, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789@.-_+:()") == strlen(u->user) && *u->user)
			sb_adds(&name, u->user);
		else
			sb_json_str(&name, u->user, strlen(u->user));
		printf("%-32s %-6s %8ld %6ld %6ld %7ld %8ld %8ld %5ld %5ld\n",
		    name.s, u->kind, u->messages, u->recipients, u->sent,
		    u->bounced, u->deferred, u->rejected, u->spam, u->held);
		sb_free(&name);
		free(u->user);
	}
	printf("%zu users; %ld non-delivery notifications from Postfix "
	    "itself\n", o->nusers, o->bounces);
	free(o->users);
}

/* out_failed - whether writing failed (ppl_run's stop test) */
static int
out_failed(void *arg)
{
	const out_ctx *o = arg;

	return o->write_error;
}

/* parse_usage - the command's help */
static void
parse_usage(FILE *out)
{
	fprintf(out,
	    "usage: relayguard [-c CONFIG] parse [--year YYYY] [--tz ZONE] "
	    "[--sessions]\n"
	    "                  [--stats [--json]] [--summary] [--threads N] "
	    "[FILE ...]\n\n"
	    "Reads Postfix logs (and rspamd, amavis, spamd lines) from FILEs, "
	    "plain or\ngzip, or from standard input, and writes one JSON object "
	    "per message as it\nends; at end of input, the unfinished ones with "
	    "\"complete\": false. Several\nFILEs are merged by time.\n\n"
	    "  --year YYYY   year of year-less timestamps (default: from each "
	    "file's mtime)\n"
	    "  --tz ZONE     zone of zone-less timestamps (default: [parse] "
	    "timezone, else\n"
	    "                the system's)\n"
	    "  --sessions    also one object per SMTP session (\"type\": "
	    "\"session\")\n"
	    "  --stats       counts per program and kind on standard error, "
	    "and no JSON\n"
	    "  --json        with --stats: the JSON records too\n"
	    "  --summary     a per-user table instead of JSON\n"
	    "  --threads N   1: read and parse lines in the same thread as "
	    "the rest;\n"
	    "                2: in a thread of their own. The default: 2 with "
	    "two CPUs\n"
	    "                (the other not busy) and 4 MiB of input or more; "
	    "how the two\n"
	    "                share the parsing follows a cache line's round "
	    "trip between\n"
	    "                the CPUs (-vv says); the output is the same\n");
}

/*
 * the parser of the run, not freed: the process ends (cmd_parse); volatile,
 * so that the store is made and leak checkers find it reachable
 */
static rg_parser *volatile parser_left;

/* cmd_parse - the parse command */
int
cmd_parse(const cli_ctx *cx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "year", required_argument, NULL, 'y' },
		{ "tz", required_argument, NULL, 'z' },
		{ "sessions", no_argument, NULL, 's' },
		{ "stats", no_argument, NULL, 'S' },
		{ "summary", no_argument, NULL, 'u' },
		{ "json", no_argument, NULL, 'j' },
		{ "threads", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	rg_config *cfg;
	asm_options ao;
	asm_callbacks cb;
	out_ctx o;
	rg_parser *p;
	rg_pipeline *pl;
	const char *tz = NULL;
	long year = -1;
	int ch, stats = 0, json = 0, rc, failed = 0, threads = 0;

	memset(&o, 0, sizeof(o));
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'y': {
			char *end;

			errno = 0;
			year = strtol(optarg, &end, 10);
			if (errno || *end || year < 1970 || year > 9999) {
				log_fatalx("parse: --year: '%s' is not a year",
				    optarg);
				return EX_USAGE_;
			}
			break;
		}
		case 'z':
			tz = optarg;
			break;
		case 's':
			o.sessions = 1;
			break;
		case 'S':
			stats = 1;
			break;
		case 'u':
			o.summary = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 't':
			if (strcmp(optarg, "1") != 0 && strcmp(optarg, "2") != 0) {
				log_fatalx("parse: --threads: '%s' is not 1 or 2",
				    optarg);
				return EX_USAGE_;
			}
			threads = optarg[0] - '0';
			break;
		case 'h':
			parse_usage(stdout);
			return EX_OK_;
		default:
			parse_usage(stderr);
			return EX_USAGE_;
		}
	}
	/* --stats alone measures and counts: building JSON is most of a run */
	o.json = !o.summary && (!stats || json);
	if ((cfg = cli_load_config(cx, &rc)) == NULL)
		return rc;
	if (tz == NULL && cfg->timezone != NULL && *cfg->timezone)
		tz = cfg->timezone;
	if (tz != NULL && rgt_set_zone(tz) != 0) {
		log_fatalx("parse: unknown time zone '%s'", tz);
		cfg_free(cfg);
		return EX_USAGE_;
	}
	if (year < 0)
		year = cfg->year;

	if ((pl = ppl_open(argv + optind, argc - optind, (int)year,
	    (size_t)cfg->max_line_length)) == NULL) {
		cfg_free(cfg);
		return EX_NOINPUT_;
	}

	memset(&ao, 0, sizeof(ao));
	ao.max_message_age = cfg->max_message_age;
	ao.max_session_age = cfg->max_session_age;
	ao.spamd_window = cfg->spamd_window;
	ao.default_host = cfg->hostname;
	ao.headers = cfg->headers.v;
	ao.nheaders = cfg->headers.n;
	memset(&cb, 0, sizeof(cb));
	cb.message = on_message;
	cb.session = on_session;
	cb.arg = &o;
	sb_init(&o.sb);
	p = prs_new(&ao, &cb);

	if (ppl_run(pl, p, threads, out_failed, &o) != 0)
		failed = 1;
	ppl_close(pl);
	if (stats)
		prs_print_stats(p, stderr);
	/* no record is written or summed: the open ones are only counted
	 * (tens of thousands wait at the end of a large log) */
	if (o.json || o.summary)
		prs_finish(p);
	else
		o.nmessages += prs_finish_count(p);
	flush_out(&o);
	if (stats)
		fprintf(stderr, "records: messages %llu, sessions %llu%s\n",
		    o.nmessages, o.nsessions, o.json ? "" : " (not written)");
	if (o.summary)
		print_summary(&o);
	/* the process ends: what the parser holds (tens of MiB of open
	 * records, block by block) goes back with it; kept reachable, for
	 * LeakSanitizer (collect and the tests free a parser) */
	parser_left = p;
	sb_free(&o.sb);
	cfg_free(cfg);
	if (fflush(stdout) != 0 || o.write_error) {
		log_fatal("parse: standard output");
		return EX_IOERR_;
	}
	return failed ? EX_IOERR_ : EX_OK_;
}
