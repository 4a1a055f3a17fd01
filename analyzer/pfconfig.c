/*
 * pfconfig.c - the Postfix side of relayguard: the main.cf lines that make
 * Postfix enforce the maps (postfix-config), the merge of relayguard's
 * checks into the relay's own restriction lists (--merge, main.cf and
 * master.cf -o overrides), the content filter's wiring (--filter), and the
 * checks of what the configured Postfix says (check-postfix).
 *
 * A restriction list is read as Postfix reads it: words separated by
 * commas or white space, a "{ ... }" group as one word; an element is a
 * restriction with its argument (every check_* and the DNS list
 * restrictions take one) and a warn_if_reject before it. relayguard's
 * elements are those that name one of its maps in map_directory, whatever
 * their type or warn_if_reject, so a merge replaces them (after a change
 * of map_type or enforce) and is idempotent.
 *
 * Owns nothing but its output buffers. postconf runs through ana_command;
 * when it fails, its own message is handed back to the caller.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/xalloc.h"
#include "analyze.h"
#include "idclass.h"
#include "map_pgsql.h"
#include "pfconfig.h"

/* relayguard's elements of smtpd_recipient_restrictions, in order */
static const struct ours {
	const char *check;	/* the restriction */
	const char *map;	/* its table in map_directory */
	int cidr;		/* a cidr: table, else map_type (or pcre) */
	int lock;		/* a lock: warn_if_reject under dry-run */
} ours[] = {
	{ "check_sasl_access", "archive_sasl", 0, 0 },
	{ "check_client_access", "archive_client", 1, 0 },
	{ "check_recipient_access", "admin_access", 0, 0 },
	{ "check_sasl_access", "sasl_access", 0, 1 },
	{ "check_client_access", "client_access", 1, 1 },
	{ "check_sender_access", "sender_access", 0, 1 },
	{ "check_sender_access", "sender_access_pcre", 2, 1 },
};
#define NOURS ((int)(sizeof(ours) / sizeof(ours[0])))
enum { O_ARCHIVE_SASL, O_ARCHIVE_CLIENT, O_ADMIN, O_SASL, O_CLIENT,
    O_SENDER, O_SENDER_PCRE };

#define WARN_IF_REJECT "warn_if_reject "

/* the relay's list when postfix-config prints relayguard's own */
static const char default_tail[] = "permit_mynetworks, "
    "permit_sasl_authenticated, reject_unauth_destination";

typedef struct elems {
	char **e;
	int n;
} elems;

/* elems_free - release a list's elements */
static void
elems_free(elems *l)
{
	int i;

	for (i = 0; i < l->n; i++)
		free(l->e[i]);
	free(l->e);
	l->e = NULL;
	l->n = 0;
}

/* elems_push - append a copy of n bytes of s */
static void
elems_push(elems *l, const char *s, size_t n)
{
	l->e = xrealloc(l->e, (size_t)(l->n + 1) * sizeof(char *));
	l->e[l->n++] = xstrndup(s, n);
}

/* takes_arg - does this restriction take the next word as its argument? */
static int
takes_arg(const char *w)
{
	static const char *const a[] = { "reject_rbl_client",
	    "reject_rhsbl_client", "reject_rhsbl_sender", "reject_rhsbl_helo",
	    "reject_rhsbl_recipient", "reject_rhsbl_reverse_client",
	    "permit_dnswl_client", "permit_rhswl_client", "sleep" };
	size_t i;

	if (strncmp(w, "check_", 6) == 0)
		return 1;
	for (i = 0; i < sizeof(a) / sizeof(a[0]); i++)
		if (strcmp(w, a[i]) == 0)
			return 1;
	return 0;
}

/* split_list - a restriction list's elements ("[warn_if_reject ]name[ arg]") */
static void
split_list(const char *s, elems *out)
{
	elems w = { NULL, 0 };
	strbuf sb;
	int i;

	while (*s != '\0') {
		const char *b;

		s += strspn(s, ", \t\r\n");
		if (*s == '\0')
			break;
		b = s;
		if (*s == '{') {
			int depth = 0;

			for (; *s != '\0'; s++)
				if (*s == '{')
					depth++;
				else if (*s == '}' && --depth == 0) {
					s++;
					break;
				}
		} else {
			s += strcspn(s, ", \t\r\n{");
		}
		elems_push(&w, b, (size_t)(s - b));
	}
	sb_init(&sb);
	for (i = 0; i < w.n; ) {
		sb_reset(&sb);
		if (strcmp(w.e[i], "warn_if_reject") == 0 && i + 1 < w.n)
			sb_adds(&sb, w.e[i++]), sb_addc(&sb, ' ');
		sb_adds(&sb, w.e[i]);
		if (takes_arg(w.e[i++]) && i < w.n)
			sb_addc(&sb, ' '), sb_adds(&sb, w.e[i++]);
		elems_push(out, sb.s, sb.len);
	}
	sb_free(&sb);
	elems_free(&w);
}

/* base - an element without its warn_if_reject */
static const char *
base(const char *e)
{
	return strncmp(e, WARN_IF_REJECT, strlen(WARN_IF_REJECT)) == 0
	    ? e + strlen(WARN_IF_REJECT) : e;
}

/* which_ours - the index in ours[] of an element naming our map, or -1 */
static int
which_ours(const rg_config *cfg, const char *e)
{
	const char *arg, *path;
	size_t dl = strlen(cfg->map_directory);
	int i;

	e = base(e);
	if ((arg = strchr(e, ' ')) == NULL || (path = strchr(arg, ':')) == NULL)
		return -1;
	/* map_backend = pgsql: the table is its query file */
	if (map_pg_enabled(cfg))
		for (i = 0; i < NOURS; i++) {
			char ref[1200];

			if (ours[i].cidr != 2 && strcmp(arg + 1, map_pg_ref(cfg,
			    ours[i].map, ref, sizeof(ref))) == 0
			    && strncmp(e, ours[i].check, (size_t)(arg - e)) == 0
			    && strlen(ours[i].check) == (size_t)(arg - e))
				return i;
		}
	path++;
	if (strncmp(path, cfg->map_directory, dl) != 0 || path[dl] != '/')
		return -1;
	for (i = 0; i < NOURS; i++)
		if (strcmp(path + dl + 1, ours[i].map) == 0
		    && strncmp(e, ours[i].check, (size_t)(arg - e)) == 0
		    && strlen(ours[i].check) == (size_t)(arg - e))
			return i;
	return -1;
}

/* is_permit - does this element let a client through before the locks? */
static int
is_permit(const char *e)
{
	static const char *const p[] = { "permit_mynetworks",
	    "permit_sasl_authenticated", "permit_tls_clientcerts",
	    "permit_tls_all_clientcerts", "permit" };
	size_t i;

	e = base(e);
	for (i = 0; i < sizeof(p) / sizeof(p[0]); i++)
		if (strcmp(e, p[i]) == 0)
			return 1;
	return 0;
}

/* our_elem - relayguard's element i as main.cf should have it */
static void
our_elem(const rg_config *cfg, int i, strbuf *out)
{
	char ref[1200];

	/* a map file, or with map_backend = pgsql its query (not pcre) */
	if (ours[i].cidr == 2)
		snprintf(ref, sizeof(ref), "pcre:%s/%s", cfg->map_directory,
		    ours[i].map);
	else
		map_pg_ref(cfg, ours[i].map, ref, sizeof(ref));
	sb_printf(out, "%s%s %s", ours[i].lock && cfg_dry_run(cfg)
	    ? WARN_IF_REJECT : "", ours[i].check, ref);
}

/* pfc_merge_list - relayguard's checks before the first permit, once */
char *
pfc_merge_list(const rg_config *cfg, const char *list)
{
	elems l = { NULL, 0 };
	strbuf sb;
	int i, j, placed = 0;

	split_list(list, &l);
	sb_init(&sb);
	for (i = 0; i <= l.n; i++) {
		if (!placed && (i == l.n || is_permit(l.e[i]))) {
			for (j = 0; j < NOURS; j++) {
				our_elem(cfg, j, &sb);
				sb_addc(&sb, '\n');
			}
			placed = 1;
		}
		if (i == l.n || which_ours(cfg, l.e[i]) >= 0)
			continue;
		sb_adds(&sb, l.e[i]);
		sb_addc(&sb, '\n');
	}
	elems_free(&l);
	if (sb.len > 0)
		sb.s[--sb.len] = '\0';
	return sb.s;
}

/* print_list - "name =" and the elements, one per line, comma-separated */
static void
print_list(strbuf *out, const char *name, const char *list)
{
	const char *p = list, *nl;

	sb_printf(out, "%s =", name);
	while (*p != '\0') {
		nl = strchr(p, '\n');
		sb_printf(out, "\n    %.*s%s", nl ? (int)(nl - p) : (int)strlen(p),
		    p, nl ? "," : "");
		p = nl ? nl + 1 : p + strlen(p);
	}
	sb_addc(out, '\n');
}

/* main_cf - the main.cf lines, with rr as smtpd_recipient_restrictions */
static void
main_cf(const rg_config *cfg, const char *rr, int merged, const char *how,
    strbuf *out)
{
	const char *d = cfg->map_directory, *t = cfg->map_type;
	int i;

	sb_printf(out, "# main.cf settings for relayguard (relayguard "
	    "postfix-config%s)\n"
	    "# check_sasl_access needs SASL on\n"
	    "smtpd_sasl_auth_enable = yes\n"
	    "# exact domain keys in the access maps (no subdomain matches)\n"
	    "parent_domain_matches_subdomains = debug_peer_list, "
	    "fast_flush_domains, mynetworks, permit_mbox_mail, relay_domains\n"
	    "# archiving first (BCC), then the locks, checked at RCPT, with the\n"
	    "# administrator's address let through before them, all before\n"
	    "# permit_mynetworks and permit_sasl_authenticated\n%s",
	    merged ? " --merge" : "", how);
	if (cfg_dry_run(cfg))
		sb_adds(out, "# enforce = dry-run: warn_if_reject makes Postfix "
		    "log \"reject_warning:\" for a\n# locked sender and take "
		    "its mail (set enforce = yes and print this again)\n");
	print_list(out, "smtpd_recipient_restrictions", rr);
	sb_printf(out, "# locked header identities first, then INFO for every "
	    "identity header\n"
	    "header_checks = pcre:%s/header_checks, pcre:%s/header_static\n"
	    "# an attached message cannot inject an identity\n"
	    "nested_header_checks =\n"
	    "# headers with remove = yes (smtp(8) deliveries only)\n"
	    "smtp_header_checks = pcre:%s/smtp_header_checks\n"
	    "# archiving\n"
	    "sender_bcc_maps = %s:%s/sender_bcc\n"
	    "# queue IDs that are never reused (short ones are: postsuper "
	    "actions and log\n# readers could take one message for another)\n"
	    "enable_long_queue_ids = yes\n"
	    "# Postfix's own per-client rate limits: the immediate first line\n"
	    "anvil_rate_time_unit = 60s\n"
	    "smtpd_client_connection_rate_limit = 120\n"
	    "smtpd_client_message_rate_limit = 300\n"
	    "smtpd_client_recipient_rate_limit = 1000\n", d, d, d, t, d);
	icl_main_cf(cfg, out);
	for (i = 0; i < cfg->nusers && !cfg->users[i].quarantine; i++)
		;
	if (i < cfg->nusers)
		sb_adds(out, "# quarantine: rspamd's milter holds the spam of "
		    "the users with quarantine = yes\n# (relayguard rspamd-config "
		    "--quarantine > /etc/rspamd/rspamd.local.lua):\n"
		    "# smtpd_milters lists rspamd's proxy (postfix-config "
		    "--filter). Held mail\n# waits in the hold queue "
		    "(postqueue -j); mail that quarantine release re-queues\n"
		    "# (postsuper -r) passes no milter again.\n");
	sb_adds(out, "# mail submitted with sendmail (pickup) passes neither "
	    "these restrictions nor\n# smtpd_milters: relayguard can neither "
	    "lock it nor see a verdict for it.\n"
	    "# The maps above are written by `relayguard analyze`. Also: "
	    "postfix-config\n# --filter (rspamd as a milter), --master "
	    "(master.cf: relayguard's own mail).\n");
}

/* pfc_main_cf - the main.cf lines that wire relayguard in */
void
pfc_main_cf(const rg_config *cfg, strbuf *out)
{
	char *rr = pfc_merge_list(cfg, default_tail);

	main_cf(cfg, rr, 0, "# (this list replaces yours: `postfix-config "
	    "--merge` keeps your own\n# restrictions, in order, around "
	    "relayguard's)\n", out);
	free(rr);
}

/* pfc_master_cf - master.cf: a loopback service for relayguard's own mail */
void
pfc_master_cf(const rg_config *cfg, strbuf *out)
{
	const char *s = cfg->smtp_server, *colon = strrchr(s, ':');
	char port[16] = "10587";

	if (colon != NULL && (strncmp(s, "127.0.0.1:", 10) == 0
	    || strncmp(s, "localhost:", 10) == 0) && strcmp(colon + 1, "25"))
		snprintf(port, sizeof(port), "%s", colon + 1);
	sb_printf(out, "# master.cf: relayguard's own mail (alerts, abuse "
	    "reports that carry spam):\n# no milter, no header checks, none "
	    "of the lock maps, no rate limits\n# (relayguard postfix-config "
	    "--master; set [mail] smtp_server = 127.0.0.1:%s)\n"
	    "127.0.0.1:%s inet n - n - - smtpd\n"
	    "  -o syslog_name=postfix/relayguard\n"
	    "  -o receive_override_options=no_header_body_checks,no_milters\n"
	    "  -o smtpd_milters=\n  -o mynetworks=127.0.0.1/32\n"
	    "  -o smtpd_client_restrictions=\n  -o smtpd_helo_restrictions=\n"
	    "  -o smtpd_sender_restrictions=\n  -o smtpd_data_restrictions=\n"
	    "  -o smtpd_relay_restrictions=permit_mynetworks,reject\n"
	    "  -o smtpd_recipient_restrictions=permit_mynetworks,reject\n"
	    "  -o smtpd_client_event_limit_exceptions=127.0.0.1\n", port, port);
}

/* pfc_filter - the content filter: rspamd as a milter, its log collected */
void
pfc_filter(const rg_config *cfg, strbuf *out)
{
	sb_printf(out, "# content filter: rspamd scans every message as a "
	    "milter (relayguard\n# postfix-config --filter). Its verdicts are "
	    "what spam locks count: without\n# verdicts there are no spam "
	    "locks. rspamd's proxy worker in milter mode\n# listens on "
	    "localhost:11332 (Debian's /etc/rspamd/worker-proxy.inc: milter "
	    "= yes,\n# self_scan = yes).\n"
	    "smtpd_milters = inet:localhost:11332\n"
	    "# rspamd down: accept lets mail pass unscanned (no verdict); "
	    "tempfail keeps it\n# queued at the client until rspamd is back\n"
	    "milter_default_action = accept\n"
	    "milter_protocol = 6\n"
	    "# i: rspamd logs the queue ID (\"qid: <QID>\"), {auth_authen} the "
	    "login\n"
	    "milter_mail_macros = i {auth_type} {auth_authen} {auth_author} "
	    "{mail_addr} {mail_host} {mail_mailer}\n"
	    "# the spam headers rspamd adds (X-Spam: Yes) are logged: a "
	    "verdict (the file\n# is written by relayguard analyze)\n"
	    "milter_header_checks = pcre:%s/milter_header_checks\n"
	    "# rspamd's own log is the verdict relayguard trusts most: have "
	    "rspamd write it\n# in the form relayguard reads without doubt, "
	    "and collect it:\n"
	    "#   relayguard rspamd-config --logging > "
	    "/etc/rspamd/local.d/logging.inc\n"
	    "#   systemctl reload rspamd\n"
	    "# and in relayguard.ini (Debian's rspamd writes its own file; "
	    "with\n# rspamd logging to the journal: type = journal, match = "
	    "_SYSTEMD_UNIT=rspamd.service):\n"
	    "#   [source rspamd]\n"
	    "#   path = /var/log/rspamd/rspamd.log\n", cfg->map_directory);
}

/* find_word - where a Postfix list contains the word (up to , or space) */
static const char *
find_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p = list;

	while ((p = strstr(p, word)) != NULL) {
		if ((p == list || strchr(" ,\t", p[-1])) && (p[n] == '\0'
		    || strchr(" ,\t", p[n])))
			return p;
		p += n;
	}
	return NULL;
}

/* postconf - run postconf ARGS; 0, or -1 with postconf's message in why */
static int
postconf(const rg_config *cfg, const char *const *args, strbuf *out,
    char *why, size_t whysz)
{
	int code;

	if (ana_command(cfg, "postconf", args, out, &code, why, whysz) != 0
	    || code != 0) {
		if (*why == '\0')
			snprintf(why, whysz, "postconf failed");
		return -1;
	}
	return 0;
}

/* pc_get - the value of NAME in postconf -n output, or NULL (a copy) */
static char *
pc_get(const char *pcn, const char *name)
{
	size_t n = strlen(name);
	const char *s, *eol;

	for (s = pcn; s != NULL && *s != '\0'; s = eol ? eol + 1 : NULL) {
		eol = strchr(s, '\n');
		if (strncmp(s, name, n) == 0 && s[n] == ' ' && s[n + 1] == '=') {
			s += n + 2;
			if (*s == ' ')
				s++;
			return xstrndup(s, eol ? (size_t)(eol - s) : strlen(s));
		}
	}
	return NULL;
}

/* an override of master.cf (postconf -P): SERVICE/TYPE/NAME = VALUE */
typedef struct override {
	char *service;		/* SERVICE/TYPE */
	char *name;
	char *value;
} override;

/* read_overrides - postconf -P output, without relayguard's own service */
static int
read_overrides(const char *pcp, override **ov)
{
	const char *s, *eol;
	int n = 0, i, j;

	*ov = NULL;
	for (s = pcp; s != NULL && *s != '\0'; s = eol ? eol + 1 : NULL) {
		const char *eq, *slash;
		size_t len;

		eol = strchr(s, '\n');
		len = eol ? (size_t)(eol - s) : strlen(s);
		if ((eq = memchr(s, '=', len)) == NULL || eq == s || eq[-1] != ' ')
			continue;
		for (slash = eq - 1; slash > s && *slash != '/'; slash--)
			;
		if (slash == s)
			continue;
		*ov = xrealloc(*ov, (size_t)(n + 1) * sizeof(override));
		(*ov)[n].service = xstrndup(s, (size_t)(slash - s));
		(*ov)[n].name = xstrndup(slash + 1, (size_t)(eq - 1 - slash - 1));
		(*ov)[n].value = xstrndup(eq[1] == ' ' ? eq + 2 : eq + 1,
		    (size_t)(s + len - (eq[1] == ' ' ? eq + 2 : eq + 1)));
		n++;
	}
	/* relayguard's own service (postfix-config --master) is meant so */
	for (i = 0; i < n; i++) {
		if (strcmp((*ov)[i].name, "syslog_name") != 0
		    || strcmp((*ov)[i].value, "postfix/relayguard") != 0)
			continue;
		for (j = 0; j < n; j++)
			if (j != i && strcmp((*ov)[j].service, (*ov)[i].service)
			    == 0)
				(*ov)[j].name[0] = '\0';
	}
	return n;
}

/* free_overrides - release read_overrides' array */
static void
free_overrides(override *ov, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		free(ov[i].service);
		free(ov[i].name);
		free(ov[i].value);
	}
	free(ov);
}

/* master_value - a merged list as one master.cf word: commas, no spaces */
static int
master_value(const char *list, strbuf *out)
{
	const char *p;

	for (p = list; *p; p++) {
		if (*p == '{' || *p == '\'')
			return -1;	/* postconf -P takes no white space */
		sb_addc(out, *p == '\n' || *p == ' ' ? ',' : *p);
	}
	return 0;
}

/* pfc_merge - the main.cf lines with the relay's own list merged */
int
pfc_merge(const rg_config *cfg, strbuf *out, char *why, size_t whysz)
{
	static const char *rr_args[] = { "-xh", "smtpd_recipient_restrictions",
	    NULL };
	static const char *p_args[] = { "-P", NULL };
	strbuf cur, pcp, how;
	override *ov = NULL;
	char *rr, pwhy[1024];
	int n = 0, i;

	sb_init(&cur);
	sb_init(&pcp);
	sb_init(&how);
	if (postconf(cfg, rr_args, &cur, why, whysz) != 0) {
		sb_free(&cur);
		sb_free(&pcp);
		sb_free(&how);
		return -1;
	}
	while (cur.len > 0 && cur.s[cur.len - 1] == '\n')
		cur.s[--cur.len] = '\0';
	rr = pfc_merge_list(cfg, cur.s);
	sb_printf(&how, "# (merged with %s's own list, which was:\n#   %s\n# "
	    "your restrictions keep their order; relayguard's come before the "
	    "first\n# permit; running this again gives the same list)\n",
	    cfg->postfix_config_directory, *cur.s ? cur.s : "(empty)");
	main_cf(cfg, rr, 1, how.s, out);
	free(rr);
	if (postconf(cfg, p_args, &pcp, pwhy, sizeof(pwhy)) != 0)
		sb_printf(out, "# master.cf's overrides (postconf -P) could not "
		    "be read: %s\n", pwhy);
	else
		n = read_overrides(pcp.s, &ov);
	for (i = 0; i < n; i++) {
		strbuf v;

		if (strcmp(ov[i].name, "smtpd_recipient_restrictions") != 0)
			continue;
		sb_init(&v);
		rr = pfc_merge_list(cfg, ov[i].value);
		sb_printf(out, "# master.cf: %s overrides smtpd_recipient_"
		    "restrictions (-o), so main.cf's\n# list does not apply "
		    "there; merge relayguard's checks into its own:\n",
		    ov[i].service);
		if (master_value(rr, &v) != 0)
			sb_printf(out, "#   (its list has braces or quotes: edit "
			    "master.cf by hand, after this list)\n#   %s\n",
			    ov[i].value);
		else
			sb_printf(out, "#   postconf%s%s -P '%s/smtpd_recipient_"
			    "restrictions=%s'\n", strcmp(cfg->
			    postfix_config_directory, "/etc/postfix") ? " -c " :
			    "", strcmp(cfg->postfix_config_directory,
			    "/etc/postfix") ? cfg->postfix_config_directory : "",
			    ov[i].service, v.s);
		sb_free(&v);
		free(rr);
	}
	free_overrides(ov, n);
	sb_free(&cur);
	sb_free(&pcp);
	sb_free(&how);
	return 0;
}

#define PROBLEM(...) do { sb_printf(out, __VA_ARGS__); sb_addc(out, '\n'); \
	problems++; } while (0)
#define WARNING(...) do { sb_adds(out, "warning: "); \
	sb_printf(out, __VA_ARGS__); sb_addc(out, '\n'); } while (0)

/* pfc_policy_mode - map_backend = pgsql with [pgsql] policy_service = yes */
int
pfc_policy_mode(const rg_config *cfg)
{
	return map_pg_enabled(cfg) && cfg->pg_policy_service;
}

/* policy_default - the default_action that matches [pgsql] on_failure */
static const char *
policy_default(const rg_config *cfg)
{
	return strcmp(cfg->pg_on_failure, "closed") == 0 ? "DEFER_IF_PERMIT"
	    : "DUNNO";
}

/* pfc_policy_element - relayguard's check_policy_service element */
void
pfc_policy_element(const rg_config *cfg, strbuf *out)
{
	sb_printf(out, "%scheck_policy_service { unix:private/"
	    PFC_POLICY_SERVICE ", timeout=10s, default_action=%s }",
	    cfg_dry_run(cfg) ? WARN_IF_REJECT : "", policy_default(cfg));
}

/*
 * check_policy - in policy mode: the policy service before the first
 * permit, with the default_action of on_failure, and the pcre senders
 */
static int
check_policy(const rg_config *cfg, const elems *l, int first_permit,
    const char *where, strbuf *out)
{
	char want[1200], def[64];
	int i, at = -1, pcre = -1, problems = 0;
	const char *e, *d;

	for (i = 0; i < l->n; i++) {
		e = base(l->e[i]);
		if (at < 0 && strncmp(e, "check_policy_service ", 21) == 0
		    && strstr(e, "private/" PFC_POLICY_SERVICE) != NULL)
			at = i;
		if (pcre < 0 && which_ours(cfg, l->e[i]) == O_SENDER_PCRE)
			pcre = i;
	}
	if (at < 0) {
		PROBLEM("%s does not ask relayguard's policy service "
		    "(check_policy_service unix:private/" PFC_POLICY_SERVICE
		    "): no lock is enforced", where);
		return problems;
	}
	if (first_permit >= 0 && first_permit < at)
		PROBLEM("%s asks relayguard's policy service after %s: the "
		    "locks are never checked", where, base(l->e[first_permit]));
	e = l->e[at];
	if ((d = strstr(e, "default_action")) == NULL) {
		PROBLEM("%s: check_policy_service has no default_action: when "
		    "the service does not answer, smtpd answers 451 4.3.5 "
		    "(smtpd_policy_service_default_action); use postfix-config's "
		    "{ ..., default_action=%s }", where, policy_default(cfg));
	} else {
		d += strlen("default_action");
		d += strspn(d, " \t=");
		snprintf(def, sizeof(def), "%.*s", (int)strcspn(d, " ,}\t"), d);
		if (strcasecmp(def, policy_default(cfg)) != 0)
			PROBLEM("%s: check_policy_service default_action=%s, but "
			    "[pgsql] on_failure = %s answers %s: the service "
			    "down and PostgreSQL down should fail the same way",
			    where, def, cfg->pg_on_failure, policy_default(cfg));
	}
	if (cfg_dry_run(cfg) && base(e) == e)
		PROBLEM("%s: the policy service is not under warn_if_reject, but "
		    "enforce = dry-run (run postfix-config again)", where);
	else if (!cfg_dry_run(cfg) && base(e) != e)
		PROBLEM("%s: warn_if_reject before the policy service, but "
		    "enforce = yes (run postfix-config again)", where);
	snprintf(want, sizeof(want), "%s/sender_access_pcre",
	    cfg->map_directory);
	if (pcre < 0)
		PROBLEM("%s does not list %s", where, want);
	return problems;
}

/*
 * check_list - relayguard's checks in one smtpd_recipient_restrictions
 * (where: how to name it); the number of problems
 */
static int
check_list(const rg_config *cfg, const char *list, const char *where,
    strbuf *out)
{
	elems l = { NULL, 0 };
	int at[NOURS], i, k, first_permit = -1, problems = 0;
	char want[1200];

	split_list(list, &l);
	for (k = 0; k < NOURS; k++)
		at[k] = -1;
	for (i = 0; i < l.n; i++) {
		if ((k = which_ours(cfg, l.e[i])) >= 0 && at[k] < 0)
			at[k] = i;
		if (first_permit < 0 && is_permit(l.e[i]))
			first_permit = i;
	}
	if (pfc_policy_mode(cfg)) {
		problems += check_policy(cfg, &l, first_permit, where, out);
		elems_free(&l);
		return problems;
	}
	for (k = O_SASL; k <= O_SENDER_PCRE; k++) {
		snprintf(want, sizeof(want), "%s/%s", cfg->map_directory,
		    ours[k].map);
		if (at[k] < 0)
			PROBLEM("%s does not list %s", where, want);
		else if (first_permit >= 0 && first_permit < at[k])
			PROBLEM("%s lists %s after %s: the lock is never checked",
			    where, want, base(l.e[first_permit]));
		else if (cfg_dry_run(cfg) && base(l.e[at[k]]) == l.e[at[k]])
			PROBLEM("%s: %s is not under warn_if_reject, but enforce "
			    "= dry-run: Postfix refuses instead of warning (run "
			    "postfix-config again)", where, want);
		else if (!cfg_dry_run(cfg) && base(l.e[at[k]]) != l.e[at[k]])
			PROBLEM("%s: warn_if_reject before %s: Postfix only warns, "
			    "but enforce = yes (run postfix-config again)", where,
			    want);
	}
	snprintf(want, sizeof(want), "%s/admin_access", cfg->map_directory);
	if (*cfg->admin_contact && at[O_ADMIN] < 0)
		PROBLEM("%s does not let the admin contact through (%s)", where,
		    want);
	snprintf(want, sizeof(want), "%s/archive_sasl", cfg->map_directory);
	if (at[O_ARCHIVE_SASL] < 0)
		PROBLEM("%s does not list %s: no archiving of logins", where,
		    want);
	else if (at[O_ADMIN] >= 0 && at[O_ADMIN] < at[O_ARCHIVE_SASL])
		PROBLEM("%s comes after admin_access: mail to the admin "
		    "contact is not archived", want);
	elems_free(&l);
	return problems;
}

/* filter_source - the name of a [source] that reads a content filter's log */
static const char *
filter_source(const rg_config *cfg)
{
	static const char *const f[] = { "rspamd", "amavis", "spamd" };
	size_t j;
	int i, m;

	for (i = 0; i < cfg->nsources; i++) {
		const rg_source_cfg *s = &cfg->sources[i];

		if (strcmp(s->format, "rspamd") == 0)
			return s->name;
		for (j = 0; j < sizeof(f) / sizeof(f[0]); j++) {
			if (strstr(s->name, f[j]) || strstr(s->path, f[j]))
				return s->name;
			for (m = 0; m < s->match.n; m++)
				if (strstr(s->match.v[m], f[j]))
					return s->name;
		}
	}
	return NULL;
}

/* check_policy_master - master.cf runs `relayguard policy` under spawn */
static int
check_policy_master(const rg_config *cfg, strbuf *out)
{
	static const char *m_args[] = { "-M", PFC_POLICY_SERVICE "/unix",
	    NULL };
	strbuf m;
	char why[1024];
	int problems = 0;

	sb_init(&m);
	if (postconf(cfg, m_args, &m, why, sizeof(why)) != 0 || m.len == 0)
		PROBLEM("master.cf has no " PFC_POLICY_SERVICE " unix service: "
		    "smtpd cannot reach relayguard's policy service and applies "
		    "default_action to every request (relayguard postfix-config "
		    "--policy-service prints it)");
	else if (strstr(m.s, " spawn") == NULL || strstr(m.s, " policy")
	    == NULL)
		PROBLEM("master.cf: " PFC_POLICY_SERVICE " does not spawn "
		    "`relayguard policy`: %.*s", (int)strcspn(m.s, "\n"), m.s);
	sb_free(&m);
	return problems;
}

/* policy_class_line - "rg_cK = check_sender_access pcre:..." and \n */
static void
policy_class_line(const rg_config *cfg, int k, strbuf *out)
{
	sb_printf(out, "rg_c%d = %scheck_sender_access pcre:%s/"
	    "rg_senders_pcre_%d\n", k, cfg_dry_run(cfg) ? WARN_IF_REJECT : "",
	    cfg->map_directory, k);
}

/* pfc_policy_main_cf - the main.cf lines of policy mode */
void
pfc_policy_main_cf(const rg_config *cfg, strbuf *out)
{
	const char *d = cfg->map_directory;
	int k, n;

	sb_printf(out, "# main.cf settings for relayguard, map_backend = pgsql "
	    "with its policy service\n# ([pgsql] policy_service = yes; "
	    "relayguard postfix-config): the same on\n# every relay. The "
	    "locks, the admin exemption and the archive copies (BCC)\n# come "
	    "from `relayguard policy` (master.cf: postfix-config "
	    "--policy-service).\n# PostgreSQL down: the service answers %s "
	    "(on_failure = %s); the service\n# itself down: default_action "
	    "below, the same.\n"
	    "smtpd_sasl_auth_enable = yes\n"
	    "parent_domain_matches_subdomains = debug_peer_list, "
	    "fast_flush_domains, mynetworks, permit_mbox_mail, relay_domains\n"
	    "smtpd_recipient_restrictions =\n    ", policy_default(cfg),
	    cfg->pg_on_failure);
	pfc_policy_element(cfg, out);
	sb_printf(out, ",\n    %scheck_sender_access pcre:%s/sender_access_pcre,\n"
	    "    permit_mynetworks, permit_sasl_authenticated,\n"
	    "    reject_unauth_destination\n"
	    "# how long one policy process may live (spawn's time limit)\n"
	    PFC_POLICY_SERVICE "_time_limit = 3600s\n"
	    "# header identities and the few senders no SQL key can hold stay "
	    "in\n# pcre files: copy %s to each relay, then postfix reload\n"
	    "header_checks = pcre:%s/header_checks, pcre:%s/header_static\n"
	    "nested_header_checks =\n"
	    "smtp_header_checks = pcre:%s/smtp_header_checks\n"
	    "# no sender_bcc_maps: a pgsql: table there would defer all mail "
	    "in an outage\nsender_bcc_maps =\n"
	    "enable_long_queue_ids = yes\n"
	    "anvil_rate_time_unit = 60s\n"
	    "smtpd_client_connection_rate_limit = 120\n"
	    "smtpd_client_message_rate_limit = 300\n"
	    "smtpd_client_recipient_rate_limit = 1000\n",
	    cfg_dry_run(cfg) ? WARN_IF_REJECT : "", d, d, d, d, d);
	n = (int)cfg->identity_lock_classes;
	if (n <= 0) {
		sb_adds(out, "# identity_lock_classes = 0: an envelope-sender "
		    "identity lock refuses its\n# user's whole mail (no "
		    "restriction classes)\n");
		return;
	}
	sb_printf(out, "# envelope-sender identity locks, each for its own "
	    "user only: the policy\n# service checks a user's locked senders "
	    "in PostgreSQL and answers its\n# class when none matched, for "
	    "the few that no SQL key can hold (pcre);\n# no class reads "
	    "PostgreSQL itself. Add your own classes to this list\n"
	    "smtpd_restriction_classes =");
	for (k = 0; k < n; k++)
		sb_printf(out, "%srg_c%d", k == 0 ? "\n    " : k % 8 == 0
		    ? ",\n    " : ", ", k);
	sb_addc(out, '\n');
	for (k = 0; k < n; k++)
		policy_class_line(cfg, k, out);
}

/* check_policy_classes - policy mode: every class declared, pcre only */
static int
check_policy_classes(const rg_config *cfg, const char *pcn, strbuf *out)
{
	char *classes = pc_get(pcn, "smtpd_restriction_classes"), word[32];
	strbuf line;
	int k, problems = 0;

	sb_init(&line);
	for (k = 0; k < (int)cfg->identity_lock_classes; k++) {
		snprintf(word, sizeof(word), "rg_c%d", k);
		sb_reset(&line);
		sb_addc(&line, '\n');
		policy_class_line(cfg, k, &line);
		if (classes == NULL || find_word(classes, word) == NULL)
			PROBLEM("smtpd_restriction_classes lacks %s: a user "
			    "given that class gets 451 4.3.5 for every message "
			    "(run postfix-config)", word);
		else if (strncmp(pcn, line.s + 1, line.len - 1) != 0
		    && strstr(pcn, line.s) == NULL) {
			line.s[line.len - 1] = '\0';
			PROBLEM("%s is not \"%s\" (run postfix-config: with the "
			    "policy service a class reads no PostgreSQL table)",
			    word, strchr(line.s, '=') + 2);
		}
	}
	free(classes);
	sb_free(&line);
	return problems;
}

/* pfc_policy_master_cf - master.cf: spawn(8) runs the policy service */
void
pfc_policy_master_cf(const rg_config *cfg, const char *user,
    const char *command, strbuf *out)
{
	sb_printf(out, "# master.cf: relayguard's policy service (relayguard "
	    "postfix-config\n# --policy-service); user= must read the "
	    "configuration and [pgsql]\n# postfix_password_file; "
	    "diagnostics go to syslog (mail)\n"
	    PFC_POLICY_SERVICE "  unix  -       n       n       -       0  "
	    "     spawn\n  user=%s argv=%s\n", user, command);
	(void)cfg;
}

/* pfc_check - is Postfix wired to relayguard's maps? */
int
pfc_check(const rg_config *cfg, strbuf *out, char *why, size_t whysz)
{
	static const char *n_args[] = { "-n", NULL };
	static const char *p_args[] = { "-P", NULL };
	strbuf pc, pcp;
	char *rr, *hc, *sasl, *nested, *pdms, *bcc, *milters, *cfilter, *lq,
	    *submit, *v;
	const char *src;
	override *ov = NULL;
	int i, nov = 0, problems = 0;
	char want[1200], pwhy[1024];

	sb_init(&pc);
	if (postconf(cfg, n_args, &pc, why, whysz) != 0) {
		sb_free(&pc);
		return -1;
	}
	rr = pc_get(pc.s, "smtpd_recipient_restrictions");
	hc = pc_get(pc.s, "header_checks");
	sasl = pc_get(pc.s, "smtpd_sasl_auth_enable");
	nested = pc_get(pc.s, "nested_header_checks");
	pdms = pc_get(pc.s, "parent_domain_matches_subdomains");
	bcc = pc_get(pc.s, "sender_bcc_maps");
	milters = pc_get(pc.s, "smtpd_milters");
	cfilter = pc_get(pc.s, "content_filter");
	lq = pc_get(pc.s, "enable_long_queue_ids");
	submit = pc_get(pc.s, "authorized_submit_users");
	if (sasl == NULL || strcmp(sasl, "yes") != 0)
		PROBLEM("smtpd_sasl_auth_enable is not yes: check_sasl_access "
		    "does nothing without SASL");
	problems += check_list(cfg, rr ? rr : "", "smtpd_recipient_restrictions",
	    out);
	/* pcre:DIR/header_checks, or its pgsql: query (map_backend) */
	map_pg_ref(cfg, "header_checks", want, sizeof(want));
	if (hc == NULL || strstr(hc, want) == NULL)
		PROBLEM("header_checks does not list %s: header identity "
		    "locks are not enforced", want);
	else if (strstr(hc, want) != hc)
		PROBLEM("header_checks: %s must come first (the first "
		    "match wins)", want);
	if (nested == NULL || *nested != '\0')
		PROBLEM("nested_header_checks is not empty: an attached message "
		    "could inject an identity header");
	if (pdms == NULL || find_word(pdms, "smtpd_access_maps"))
		PROBLEM("parent_domain_matches_subdomains includes "
		    "smtpd_access_maps: a domain key in sender_access also "
		    "matches its subdomains");
	map_pg_path(cfg, "sender_bcc", want, sizeof(want));
	if (pfc_policy_mode(cfg)) {
		if (bcc != NULL && strstr(bcc, "pgsql:") != NULL)
			PROBLEM("sender_bcc_maps reads PostgreSQL (%s): in a "
			    "PostgreSQL outage cleanup defers every message, "
			    "whatever on_failure says (the policy service "
			    "answers the archive copies: remove it)", bcc);
		problems += check_policy_master(cfg, out);
	} else if (bcc == NULL || strstr(bcc, want) == NULL)
		PROBLEM("sender_bcc_maps does not list %s: no archiving", want);
	/* the quarantine: rspamd's milter holds (rspamd-config --quarantine) */
	for (i = 0; i < cfg->nusers && !cfg->users[i].quarantine; i++)
		;
	if (i < cfg->nusers && (milters == NULL || *milters == '\0'))
		PROBLEM("smtpd_milters is empty: no filter can hold the spam of "
		    "the users with quarantine = yes (rspamd's proxy, and "
		    "rspamd-config --quarantine)");
	problems += pfc_policy_mode(cfg) ? check_policy_classes(cfg, pc.s,
	    out) : icl_check_main_cf(cfg, pc.s, out);

	/* master.cf: services whose -o overrides skip main.cf's settings */
	sb_init(&pcp);
	if (postconf(cfg, p_args, &pcp, pwhy, sizeof(pwhy)) != 0)
		WARNING("cannot read master.cf's overrides: %s", pwhy);
	else
		nov = read_overrides(pcp.s, &ov);
	for (i = 0; i < nov; i++) {
		char where[512];

		v = ov[i].value;
		if (strcmp(ov[i].name, "smtpd_recipient_restrictions") == 0) {
			snprintf(where, sizeof(where), "master.cf: %s -o "
			    "smtpd_recipient_restrictions", ov[i].service);
			problems += check_list(cfg, v, where, out);
		} else if (strcmp(ov[i].name, "smtpd_milters") == 0 && *v == '\0'
		    && milters != NULL && *milters != '\0') {
			WARNING("master.cf: %s -o smtpd_milters= : mail submitted "
			    "there gets no verdict from the content filter",
			    ov[i].service);
		} else if (strcmp(ov[i].name, "receive_override_options") == 0) {
			if (find_word(v, "no_milters"))
				WARNING("master.cf: %s -o receive_override_options="
				    "%s: no milter sees its mail, no verdict",
				    ov[i].service, v);
			if (find_word(v, "no_header_body_checks"))
				WARNING("master.cf: %s -o receive_override_options="
				    "%s: no header identity is logged or locked "
				    "there", ov[i].service, v);
		} else if (strcmp(ov[i].name, "header_checks") == 0) {
			map_pg_ref(cfg, "header_checks", want, sizeof(want));
			if (strstr(v, want) == NULL)
				WARNING("master.cf: %s -o header_checks=%s: header "
				    "identity locks are not enforced there",
				    ov[i].service, v);
		}
	}
	free_overrides(ov, nov);
	sb_free(&pcp);

	/* what weakens the locks without breaking them */
	if (lq == NULL || strcmp(lq, "yes") != 0)
		WARNING("enable_long_queue_ids is not yes: short queue IDs are "
		    "reused, which confuses postsuper actions and whoever reads "
		    "the logs (postfix-config prints it)");
	src = filter_source(cfg);
	if ((milters == NULL || *milters == '\0')
	    && (cfilter == NULL || *cfilter == '\0'))
		WARNING("no verdict source: Postfix has no smtpd_milters or "
		    "content_filter%s: without verdicts there are no spam locks "
		    "(postfix-config --filter)", src ? "" : ", and no [source] "
		    "reads a content filter's log");
	else if (src == NULL)
		WARNING("no [source] reads the content filter's log (rspamd's): "
		    "only what Postfix logs (milter rejects, milter_header_checks)"
		    " gives verdicts, and without verdicts there are no spam "
		    "locks (postfix-config --filter)");
	if (cfg_dry_run(cfg))
		sb_adds(out, "note: enforce = dry-run: locks are decided, "
		    "alerted and shown, but Postfix only logs reject_warning "
		    "and takes the mail\n");
	sb_printf(out, "note: mail submitted with sendmail (the pickup "
	    "service) passes neither smtpd's restrictions nor its milters: "
	    "no lock refuses it and no verdict counts it%s\n", submit == NULL
	    ? " (authorized_submit_users limits who may submit so)" : "");
	free(rr);
	free(hc);
	free(sasl);
	free(nested);
	free(pdms);
	free(bcc);
	free(milters);
	free(cfilter);
	free(lq);
	free(submit);
	sb_free(&pc);
	return problems;
}

/* pfc_apply - main.cf lines set in place by postconf -e (pfconfig.h) */
int
pfc_apply(const rg_config *cfg, const char *text, char *why, size_t whysz)
{
	const char **args;
	strbuf cur, out;
	char **set = NULL;
	const char *p = text, *e, *eq;
	int n = 0, i, code, rc = 0;

	sb_init(&cur);
	/* "name = value" lines, indented lines continue the value */
	for (; *p; p = *e ? e + 1 : e) {
		if ((e = strchr(p, '\n')) == NULL)
			e = p + strlen(p);
		if (e == p || *p == '#')
			continue;
		if (*p == ' ' || *p == '\t') {
			while (p < e && (*p == ' ' || *p == '\t'))
				p++;
			if (cur.len > 0 && p < e) {
				sb_addc(&cur, ' ');
				sb_add(&cur, p, (size_t)(e - p));
			}
			continue;
		}
		if (cur.len > 0) {
			set = xrealloc(set, ((size_t)n + 1) * sizeof(*set));
			set[n++] = xstrdup(cur.s);
		}
		sb_reset(&cur);
		if ((eq = memchr(p, '=', (size_t)(e - p))) == NULL)
			continue;	/* not a setting: postfix-config prints none */
		while (eq > p && eq[-1] == ' ')
			eq--;
		sb_add(&cur, p, (size_t)(eq - p));
		sb_addc(&cur, '=');
		for (eq = (const char *)memchr(p, '=', (size_t)(e - p)) + 1;
		    eq < e && *eq == ' '; eq++)
			;
		sb_add(&cur, eq, (size_t)(e - eq));
	}
	if (cur.len > 0) {
		set = xrealloc(set, ((size_t)n + 1) * sizeof(*set));
		set[n++] = xstrdup(cur.s);
	}
	sb_free(&cur);
	if (n == 0) {
		free(set);
		return 0;
	}
	/* postconf -e, PFC_APPLY_MAX settings at a time (ana_command's
	 * argument limit) */
#define PFC_APPLY_MAX 24
	args = xcalloc(PFC_APPLY_MAX + 2, sizeof(*args));
	args[0] = "-e";
	sb_init(&out);
	for (i = 0; rc == 0 && i < n; i += PFC_APPLY_MAX) {
		int j;

		for (j = 0; j < PFC_APPLY_MAX && i + j < n; j++)
			args[j + 1] = set[i + j];
		args[j + 1] = NULL;
		sb_reset(&out);
		if (ana_command(cfg, "postconf", args, &out, &code, why,
		    whysz) != 0)
			rc = -1;
		else if (code != 0) {
			snprintf(why, whysz, "postconf -e failed (exit %d): %s",
			    code, out.len ? out.s : "no message");
			rc = -1;
		}
	}
	sb_free(&out);
	for (i = 0; i < n; i++)
		free(set[i]);
	free(set);
	free(args);
	return rc == 0 ? n : -1;
}
