/*
 * pfconfig.c - the Postfix side of relayguard: the main.cf lines that make
 * Postfix enforce the maps (postfix-config), and the checks of what the
 * configured Postfix says (check-postfix).
 *
 * Owns nothing but its output buffers. postconf runs through ana_command
 * (command_directory, command_timeout, no shell); when it fails, its own
 * message is handed back to the caller.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/xalloc.h"
#include "analyze.h"
#include "idclass.h"
#include "pfconfig.h"

/*
 * relayguard_service - master.cf: a loopback submission service for
 * relayguard's own mail (alerts, abuse reports carrying spam): no milter,
 * no header checks, none of the lock maps, no rate limits
 */
static void
relayguard_service(const rg_config *cfg, strbuf *out)
{
	const char *s = cfg->smtp_server, *colon = strrchr(s, ':');
	char port[16] = "10587";

	if (colon != NULL && (strncmp(s, "127.0.0.1:", 10) == 0
	    || strncmp(s, "localhost:", 10) == 0) && strcmp(colon + 1, "25"))
		snprintf(port, sizeof(port), "%s", colon + 1);
	sb_printf(out, "\n# master.cf: relayguard's own mail (set [mail] "
	    "smtp_server = 127.0.0.1:%s)\n127.0.0.1:%s inet n - n - - smtpd\n"
	    "  -o syslog_name=postfix/relayguard\n"
	    "  -o receive_override_options=no_header_body_checks,no_milters\n"
	    "  -o smtpd_milters=\n  -o mynetworks=127.0.0.1/32\n"
	    "  -o smtpd_client_restrictions=\n  -o smtpd_helo_restrictions=\n"
	    "  -o smtpd_sender_restrictions=\n  -o smtpd_data_restrictions=\n"
	    "  -o smtpd_relay_restrictions=permit_mynetworks,reject\n"
	    "  -o smtpd_recipient_restrictions=permit_mynetworks,reject\n"
	    "  -o smtpd_client_event_limit_exceptions=127.0.0.1\n", port, port);
}

/* pfc_main_cf - the main.cf lines that wire relayguard in */
void
pfc_main_cf(const rg_config *cfg, strbuf *out)
{
	strbuf info, strip;
	const char *d, *t;
	int i;

	d = cfg->map_directory;
	t = cfg->map_type;
	sb_printf(out, "# main.cf settings for relayguard (relayguard "
	    "postfix-config)\n"
	    "# check_sasl_access needs SASL on\n"
	    "smtpd_sasl_auth_enable = yes\n"
	    "# exact domain keys in the access maps (no subdomain matches)\n"
	    "parent_domain_matches_subdomains = debug_peer_list, "
	    "fast_flush_domains, mynetworks, permit_mbox_mail, relay_domains\n"
	    "# archiving first (BCC), then the locks, checked at RCPT, with the\n"
	    "# administrator's address let through before them\n"
	    "smtpd_recipient_restrictions =\n"
	    "    check_sasl_access %s:%s/archive_sasl,\n"
	    "    check_client_access cidr:%s/archive_client,\n"
	    "    check_recipient_access %s:%s/admin_access,\n"
	    "    check_sasl_access %s:%s/sasl_access,\n"
	    "    check_client_access cidr:%s/client_access,\n"
	    "    check_sender_access %s:%s/sender_access,\n"
	    "    check_sender_access pcre:%s/sender_access_pcre,\n"
	    "    permit_mynetworks, permit_sasl_authenticated,\n"
	    "    reject_unauth_destination\n"
	    "# locked header identities first, then INFO for every identity "
	    "header\n"
	    "header_checks = pcre:%s/header_checks, pcre:%s/header_static\n"
	    "# an attached message cannot inject an identity\n"
	    "nested_header_checks =\n"
	    "# headers with remove = yes (smtp(8) deliveries only)\n"
	    "smtp_header_checks = pcre:%s/smtp_header_checks\n"
	    "# archiving\n"
	    "sender_bcc_maps = %s:%s/sender_bcc\n"
	    "# Postfix's own per-client rate limits: the immediate first line\n"
	    "anvil_rate_time_unit = 60s\n"
	    "smtpd_client_connection_rate_limit = 120\n"
	    "smtpd_client_message_rate_limit = 300\n"
	    "smtpd_client_recipient_rate_limit = 1000\n",
	    t, d, d, t, d, t, d, d, t, d, d, d, d, d, t, d);
	icl_main_cf(cfg, out);
	sb_init(&info);
	sb_init(&strip);
	ana_static(cfg, &info, &strip);
	sb_printf(out, "\n# %s/header_static (written by analyze)\n%s", d,
	    info.s);
	sb_printf(out, "\n# %s/smtp_header_checks (written by analyze)\n%s", d,
	    strip.s);
	for (i = 0; i < cfg->nusers && !cfg->users[i].quarantine; i++)
		;
	if (i < cfg->nusers)
		sb_adds(out, "\n# quarantine: rspamd's milter holds the spam of "
		    "the users with quarantine = yes\n# (relayguard rspamd-config "
		    "--quarantine > /etc/rspamd/rspamd.local.lua):\n"
		    "# smtpd_milters lists rspamd's proxy (inet:127.0.0.1:11332"
		    " by default). Held mail\n# waits in the hold queue "
		    "(postqueue -j); mail that quarantine release re-queues\n"
		    "# (postsuper -r) passes no milter again.\n");
	relayguard_service(cfg, out);
	sb_free(&info);
	sb_free(&strip);
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

#define PROBLEM(...) do { sb_printf(out, __VA_ARGS__); sb_addc(out, '\n'); \
	problems++; } while (0)

/* pfc_check - is Postfix wired to relayguard's maps? */
int
pfc_check(const rg_config *cfg, strbuf *out, char *why, size_t whysz)
{
	static const char *pc_args[] = { "-n", NULL };
	char rr[8192] = "", hc[4096] = "",
	    sasl[64] = "", nested[4096] = "-", pdms[4096] = "-", bcc[4096] = "",
	    milters[4096] = "";
	char *line, *next;
	strbuf pc;
	int i, code, problems = 0;
	const char *pos, *p1, *p2;
	char want[1200];
	strbuf all;

	sb_init(&pc);
	if (ana_command(cfg, "postconf", pc_args, &pc, &code, why,
	    whysz) != 0 || code != 0) {
		if (*why == '\0')
			snprintf(why, whysz, "postconf failed");
		sb_free(&pc);
		return -1;
	}
	sb_init(&all);
	for (line = pc.s; line != NULL && *line; line = next) {
		char *v;
		size_t l;

		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		sb_adds(&all, line);	/* the restriction classes, below */
		sb_adds(&all, "\n");
		l = strlen(line);
		if (l >= 2 && strcmp(line + l - 2, " =") == 0) {
			/* "name =": an empty value */
			line[l - 2] = '\0';
			v = line + l;
		} else if ((v = strstr(line, " = ")) != NULL) {
			*v = '\0';
			v += 3;
		} else {
			continue;
		}
		if (strcmp(line, "smtpd_recipient_restrictions") == 0)
			snprintf(rr, sizeof(rr), "%s", v);
		else if (strcmp(line, "header_checks") == 0)
			snprintf(hc, sizeof(hc), "%s", v);
		else if (strcmp(line, "smtpd_sasl_auth_enable") == 0)
			snprintf(sasl, sizeof(sasl), "%s", v);
		else if (strcmp(line, "nested_header_checks") == 0)
			snprintf(nested, sizeof(nested), "%s", v);
		else if (strcmp(line, "parent_domain_matches_subdomains") == 0)
			snprintf(pdms, sizeof(pdms), "%s", v);
		else if (strcmp(line, "sender_bcc_maps") == 0)
			snprintf(bcc, sizeof(bcc), "%s", v);
		else if (strcmp(line, "smtpd_milters") == 0)
			snprintf(milters, sizeof(milters), "%s", v);
	}
	sb_free(&pc);
	if (strcmp(sasl, "yes") != 0)
		PROBLEM("smtpd_sasl_auth_enable is not yes: check_sasl_access "
		    "does nothing without SASL");
	p1 = find_word(rr, "permit_sasl_authenticated");
	p2 = find_word(rr, "permit_mynetworks");
	{
		static const char *maps[] = { "sasl_access", "client_access",
		    "sender_access", "sender_access_pcre" };
		size_t k;

		for (k = 0; k < sizeof(maps) / sizeof(maps[0]); k++) {
			snprintf(want, sizeof(want), "%s/%s", cfg->map_directory,
			    maps[k]);
			if ((pos = strstr(rr, want)) == NULL)
				PROBLEM("smtpd_recipient_restrictions does not list %s",
				    want);
			else if ((p1 && p1 < pos) || (p2 && p2 < pos))
				PROBLEM("smtpd_recipient_restrictions lists %s after "
				    "permit_sasl_authenticated or permit_mynetworks: "
				    "the lock is never checked", want);
		}
		snprintf(want, sizeof(want), "%s/admin_access",
		    cfg->map_directory);
		if (*cfg->admin_contact && strstr(rr, want) == NULL)
			PROBLEM("smtpd_recipient_restrictions does not let the "
			    "admin contact through (%s)", want);
		snprintf(want, sizeof(want), "%s/archive_sasl",
		    cfg->map_directory);
		if ((pos = strstr(rr, want)) == NULL)
			PROBLEM("smtpd_recipient_restrictions does not list %s: "
			    "no archiving of logins", want);
		else if (strstr(rr, "admin_access") != NULL
		    && strstr(rr, "admin_access") < pos)
			PROBLEM("%s comes after admin_access: mail to the admin "
			    "contact is not archived", want);
	}
	snprintf(want, sizeof(want), "%s/header_checks", cfg->map_directory);
	if (strstr(hc, want) == NULL)
		PROBLEM("header_checks does not list pcre:%s: header identity "
		    "locks are not enforced", want);
	else if (strstr(hc, want) != hc + strlen("pcre:"))
		PROBLEM("header_checks: pcre:%s must come first (the first "
		    "match wins)", want);
	if (strcmp(nested, "") != 0)
		PROBLEM("nested_header_checks is not empty: an attached message "
		    "could inject an identity header");
	if (strcmp(pdms, "-") == 0 || find_word(pdms, "smtpd_access_maps"))
		PROBLEM("parent_domain_matches_subdomains includes "
		    "smtpd_access_maps: a domain key in sender_access also "
		    "matches its subdomains");
	snprintf(want, sizeof(want), "%s/sender_bcc", cfg->map_directory);
	if (strstr(bcc, want) == NULL)
		PROBLEM("sender_bcc_maps does not list %s: no archiving", want);
	/* the quarantine: rspamd's milter holds (rspamd-config --quarantine) */
	for (i = 0; i < cfg->nusers && !cfg->users[i].quarantine; i++)
		;
	if (i < cfg->nusers && *milters == '\0')
		PROBLEM("smtpd_milters is empty: no filter can hold the spam of "
		    "the users with quarantine = yes (rspamd's proxy, and "
		    "rspamd-config --quarantine)");
	problems += icl_check_main_cf(cfg, all.s, out);
	sb_free(&all);
	return problems;
}
