/*
 * quarantine_cmd.c - `relayguard quarantine list|show|release|delete`, and
 * the rspamd rule that sends the spam of quarantined users to Postfix's
 * hold queue (`rspamd-config --quarantine`). The engine is
 * analyzer/quarantine.c; this file parses arguments and prints.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../analyzer/quarantine.h"
#include "../common/log.h"
#include "../common/rgtime.h"
#include "../common/strbuf.h"
#include "cli.h"

/* usage - the command's help */
static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: relayguard [-c CONFIG] quarantine list [--user U] "
	    "[--since T]\n"
	    "           [--state held|released|deleted|expired] [--json]\n"
	    "       relayguard [-c CONFIG] quarantine show QID\n"
	    "       relayguard [-c CONFIG] quarantine release QID...|--user U"
	    "|--all\n"
	    "       relayguard [-c CONFIG] quarantine delete QID...|--user U"
	    "|--all\n\n"
	    "The quarantine is Postfix's hold queue. list: the held messages "
	    "the store\nknows, with their state now as `postqueue -j` shows "
	    "it (a message released\nor deleted by hand with postsuper shows "
	    "its real state), and held mail not\ncollected yet. show: "
	    "headers and the start of the body (postcat). release:\n"
	    "`postsuper -H` in place, or `postsuper -r` (a new queue ID, "
	    "fresh times) for\nmail too old for the rest of "
	    "maximal_queue_lifetime. delete: `postsuper -d\nQID hold`. Each "
	    "action is an event. Needs the rights of postsuper (root).\n");
}

/* lua_str - s as a Lua string literal: every byte not [A-Za-z0-9@._-] as \ddd */
static void
lua_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		    || (c >= '0' && c <= '9') || strchr("@._-", c))
			putchar(c);
		else
			printf("\\%03u", c);
	}
	putchar('"');
}

/*
 * cli_rspamd_quarantine - the Lua rule for rspamd: a quarantined user's
 * spam is held (the milter's HOLD) instead of refused or delivered
 */
int
cli_rspamd_quarantine(const rg_config *cfg, const rul_policy *pol)
{
	const char **cidrs;
	const rul_user **owners;
	int i, n, nq = 0;

	for (i = 0; i < rul_nusers(pol); i++)
		nq += rul_user_at(pol, i)->cfg->quarantine != 0;
	printf("-- /etc/rspamd/rspamd.local.lua (relayguard rspamd-config "
	    "--quarantine)\n"
	    "-- The spam of the %d user(s) with quarantine = yes goes to "
	    "Postfix's hold\n"
	    "-- queue (the milter's HOLD: the client gets 250, Postfix logs "
	    "milter-hold);\n"
	    "-- everyone else's is refused or delivered as rspamd decides. "
	    "Spam is what\n"
	    "-- rspamd's actions say (reject, rewrite subject, add header). "
	    "A user is the\n"
	    "-- SASL login (sasl and domain users), else the client address "
	    "(ip users,\n"
	    "-- the most specific network first), as relayguard matches them.\n"
	    "-- A forced result (GTUBE, or a prefilter's pre-result) skips "
	    "the postfilters\n"
	    "-- in rspamd 3.4: such mail is refused as rspamd decides.\n",
	    nq);
	printf("local rspamd_ip = require 'rspamd_ip'\n\n"
	    "-- every configured login: true when quarantined\n"
	    "local relayguard_logins = {\n");
	for (i = 0; i < rul_nusers(pol); i++) {
		const rul_user *u = rul_user_at(pol, i);

		if (u->type == RUL_IP)
			continue;
		printf("  [");
		lua_str(u->name);
		printf("] = %s,\n", u->cfg->quarantine ? "true" : "false");
	}
	printf("}\n\n-- every configured network, most specific first\n"
	    "local relayguard_nets = {\n");
	n = rul_cidrs(pol, &cidrs, &owners);
	for (i = 0; i < n; i++) {
		char net[64];
		const char *slash = strchr(cidrs[i], '/');

		snprintf(net, sizeof(net), "%.*s", (int)(slash - cidrs[i]),
		    cidrs[i]);
		printf("  { rspamd_ip.from_string(");
		lua_str(net);
		printf("), %d, %s },\n", atoi(slash + 1),
		    owners[i]->cfg->quarantine ? "true" : "false");
	}
	printf("}\n\n"
	    "local function relayguard_quarantined(task)\n"
	    "  local user = task:get_user()\n"
	    "  if user and relayguard_logins[user] ~= nil then\n"
	    "    return relayguard_logins[user]\n"
	    "  end\n"
	    "  local ip = task:get_from_ip()\n"
	    "  if not ip or not ip:is_valid() then return false end\n"
	    "  for _, n in ipairs(relayguard_nets) do\n"
	    "    if ip:get_version() == n[1]:get_version()\n"
	    "        and ip:apply_mask(n[2]):to_string()\n"
	    "          == n[1]:apply_mask(n[2]):to_string() then\n"
	    "      return n[3]\n"
	    "    end\n"
	    "  end\n"
	    "  return false\n"
	    "end\n\n"
	    "rspamd_config:register_symbol({\n"
	    "  name = 'RELAYGUARD_QUARANTINE',\n"
	    "  type = 'postfilter',\n"
	    "  flags = 'empty,nostat',\n"
	    "  callback = function(task)\n"
	    "    local action = task:get_metric_action()\n"
	    "    if action ~= 'reject' and action ~= 'rewrite subject'\n"
	    "        and action ~= 'add header' then return end\n"
	    "    if not relayguard_quarantined(task) then return end\n"
	    "    if action ~= 'reject' then\n"
	    "      task:set_pre_result('reject', 'Spam message quarantined',\n"
	    "        'relayguard')\n"
	    "    end\n"
	    "    -- the proxy answers the milter with HOLD instead of "
	    "the rejection\n"
	    "    task:set_milter_reply({ reject = 'quarantine' })\n"
	    "  end,\n"
	    "})\n");
	return EX_OK_;
}

/* json_entry - one entry as a JSON object */
static void
json_entry(strbuf *sb, const qr_entry *e)
{
	char t[64];
	int first = 1;

	sb_reset(sb);
	sb_addc(sb, '{');
	sb_json_kv_str(sb, &first, "queue_id", e->queue_id,
	    strlen(e->queue_id));
	sb_json_kv_str(sb, &first, "state", e->state, strlen(e->state));
	sb_json_kv_str(sb, &first, "queue", e->queue_name,
	    strlen(e->queue_name));
	if (e->first_seen) {
		rgt_format(t, e->first_seen);
		sb_json_kv_str(sb, &first, "first_seen", t, strlen(t));
	}
	if (e->arrival) {
		rgt_format(t, e->arrival);
		sb_json_kv_str(sb, &first, "arrival", t, strlen(t));
	}
	sb_json_kv_str(sb, &first, "user", e->user, strlen(e->user));
	sb_json_kv_str(sb, &first, "sender", e->sender, strlen(e->sender));
	sb_json_kv_str(sb, &first, "recipients", e->recipients,
	    strlen(e->recipients));
	sb_json_kv_str(sb, &first, "subject", e->subject, strlen(e->subject));
	if (e->size >= 0)
		sb_json_kv_int(sb, &first, "size", e->size);
	if (*e->score)
		sb_json_kv_raw(sb, &first, "score", e->score);
	sb_json_kv_str(sb, &first, "symbols", e->symbols, strlen(e->symbols));
	sb_addc(sb, '}');
}

/* text_field - a log value for a terminal: '-' if empty, ? for controls */
static void
text_field(strbuf *sb, const char *s, size_t max)
{
	size_t i;

	sb_reset(sb);
	if (*s == '\0')
		sb_addc(sb, '-');
	for (i = 0; s[i] && i < max; i++)
		sb_addc(sb, (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?'
		    : s[i]);
}

/* cmd_quarantine - the quarantine command */
int
cmd_quarantine(const cli_ctx *cx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "since", required_argument, NULL, 'S' },
		{ "state", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "all", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sub, *user = NULL, *state = NULL, *since_s = NULL;
	int ch, json = 0, all = 0, rc, i, failed = 0;
	rg_config *cfg = NULL;
	rul_policy *pol = NULL;
	rg_store *st = NULL;
	qr_filter f;
	qr_list l;
	size_t k;
	char err[1024];
	rg_usec since = 0;
	strbuf sb, a, b;

	if (argc < 2 || strcmp(argv[1], "--help") == 0
	    || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EX_USAGE_ : EX_OK_;
	}
	sub = argv[1];
	argc--;
	argv++;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'u': user = optarg; break;
		case 'S': since_s = optarg; break;
		case 's': state = optarg; break;
		case 'j': json = 1; break;
		case 'a': all = 1; break;
		case 'h': usage(stdout); return EX_OK_;
		default: usage(stderr); return EX_USAGE_;
		}
	}
	if (state && strcmp(state, "held") && strcmp(state, "released")
	    && strcmp(state, "deleted") && strcmp(state, "expired")) {
		log_fatalx("quarantine: --state: '%s' is not held, released, "
		    "deleted or expired", state);
		return EX_USAGE_;
	}
	if (since_s && rgt_parse_time(since_s, &since) != 0) {
		log_fatalx("quarantine: --since: '%s' is not a time", since_s);
		return EX_USAGE_;
	}
	if (strcmp(sub, "list") && strcmp(sub, "show") && strcmp(sub,
	    "release") && strcmp(sub, "delete")) {
		log_fatalx("quarantine: '%s' is not list, show, release or "
		    "delete", sub);
		return EX_USAGE_;
	}
	if ((strcmp(sub, "release") == 0 || strcmp(sub, "delete") == 0)
	    && (optind < argc) == (user != NULL || all)) {
		log_fatalx("quarantine %s: give queue IDs, or --user U, or "
		    "--all", sub);
		return EX_USAGE_;
	}
	if (strcmp(sub, "show") == 0 && optind + 1 != argc) {
		log_fatalx("quarantine show: give one queue ID");
		return EX_USAGE_;
	}
	if ((cfg = cli_load_config(cx, &rc)) == NULL)
		return rc;
	if (strcmp(sub, "show") == 0) {
		rc = qr_show(cfg, argv[optind], 40, stdout, err, sizeof(err));
		if (rc != 0)
			log_warnx("quarantine show: %s", err);
		cfg_free(cfg);
		return rc ? EX_UNAVAILABLE_ : EX_OK_;
	}
	if ((pol = rul_new(cfg, err, sizeof(err))) == NULL) {
		log_fatalx("%s", err);
		cfg_free(cfg);
		return EX_CONFIG_;
	}
	if (user && rul_user_named(pol, user) == NULL) {
		log_warnx("quarantine: %s: not a configured user", user);
		rc = EX_USAGE_;
		goto end;
	}
	if ((st = store_open(cfg->database, strcmp(sub, "list") == 0, err,
	    sizeof(err))) == NULL) {
		log_warnx("%s", err);
		rc = EX_NOINPUT_;
		goto end;
	}
	f.user = user;
	f.since = since;
	f.state = strcmp(sub, "list") == 0 ? state : "held";
	if (qr_list_get(cfg, pol, st, &f, &l, err, sizeof(err)) != 0) {
		log_warnx("quarantine: %s", err);
		rc = EX_UNAVAILABLE_;
		goto end;
	}
	rc = EX_OK_;
	sb_init(&sb);
	sb_init(&a);
	sb_init(&b);
	if (strcmp(sub, "list") == 0) {
		if (!json)
			printf("%-12s %-8s %-19s %-24s %-28s %s\n", "queue_id",
			    "state", "time", "user", "sender", "subject");
		for (k = 0; k < l.n; k++) {
			const qr_entry *e = &l.v[k];
			char t[64];

			if (json) {
				json_entry(&sb, e);
				puts(sb.s);
				continue;
			}
			rgt_format(t, e->first_seen ? e->first_seen : e->arrival);
			text_field(&sb, e->sender, 60);
			text_field(&a, e->subject, 60);
			text_field(&b, e->user, 60);
			printf("%-12s %-8s %-19.19s %-24s %-28s %s\n",
			    e->queue_id, e->state, t, b.s, sb.s, a.s);
		}
	} else {
		long long now = rgt_now();

		for (i = optind; i < argc; i++) {
			for (k = 0; k < l.n; k++)
				if (strcmp(l.v[k].queue_id, argv[i]) == 0)
					break;
			if (k == l.n) {
				log_warnx("quarantine %s: %s is not on hold",
				    sub, argv[i]);
				failed++;
				continue;
			}
			if (qr_act(cfg, st, &l.v[k], sub, now, stdout, err,
			    sizeof(err)) != 0) {
				log_warnx("quarantine %s: %s", sub, err);
				failed++;
			}
		}
		for (k = 0; optind == argc && k < l.n; k++) {
			if (qr_act(cfg, st, &l.v[k], sub, now, stdout, err,
			    sizeof(err)) != 0) {
				log_warnx("quarantine %s: %s", sub, err);
				failed++;
			}
		}
		if (failed)
			rc = EX_UNAVAILABLE_;
		/* the senders told of a deletion (quarantine_response) */
		if (strcmp(sub, "delete") == 0
		    && cli_mail_notices(cfg, pol, st) == 0)
			cli_mail_after(cfg, st);
	}
	sb_free(&sb);
	sb_free(&a);
	sb_free(&b);
	qr_list_free(&l);
end:
	store_close(st);
	rul_free(pol);
	cfg_free(cfg);
	return rc;
}
