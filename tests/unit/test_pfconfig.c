/*
 * test_pfconfig.c - postfix-config --merge's list merge
 * (analyzer/pfconfig.c pfc_merge_list): relayguard's checks before the
 * first permit, the relay's own elements kept in order (arguments and
 * "{ ... }" groups with them), relayguard's old elements replaced, and a
 * second merge giving the same list, also across map_type and enforce.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../analyzer/pfconfig.h"
#include "unit.h"

#define D "/var/lib/rg/maps"
#define OURS(w) \
	"check_sasl_access hash:" D "/archive_sasl\n" \
	"check_client_access cidr:" D "/archive_client\n" \
	"check_recipient_access hash:" D "/admin_access\n" \
	w "check_sasl_access hash:" D "/sasl_access\n" \
	w "check_client_access cidr:" D "/client_access\n" \
	w "check_sender_access hash:" D "/sender_access\n" \
	w "check_sender_access pcre:" D "/sender_access_pcre"

/* merged - pfc_merge_list into a static buffer */
static const char *
merged(const rg_config *cfg, const char *list)
{
	static char buf[8192];
	char *m = pfc_merge_list(cfg, list);

	snprintf(buf, sizeof(buf), "%s", m);
	free(m);
	return buf;
}

/* flat - a merged list as main.cf writes it ("a, b, c") */
static const char *
flat(const char *m)
{
	static char buf[8192];
	size_t i, j = 0;

	for (i = 0; m[i] != '\0' && j + 3 < sizeof(buf); i++) {
		if (m[i] == '\n') {
			buf[j++] = ',';
			buf[j++] = ' ';
		} else
			buf[j++] = m[i];
	}
	buf[j] = '\0';
	return buf;
}

/* same - equal lists; otherwise both on standard error */
static int
same(const char *got, const char *want)
{
	if (strcmp(got, want) == 0)
		return 1;
	fprintf(stderr, "got:\n%s\nwant:\n%s\n", got, want);
	return 0;
}

int
main(void)
{
	rg_config cfg;
	char once[8192];

	memset(&cfg, 0, sizeof(cfg));
	cfg.map_directory = (char *)D;
	cfg.map_type = (char *)"hash";
	cfg.enforce = (char *)"yes";

	CASE("pfconfig: an empty list gets relayguard's checks alone",
	    CHECK(same(merged(&cfg, ""), OURS(""))));
	CASE("pfconfig: the checks go before the first permit",
	    CHECK(same(merged(&cfg, "reject_non_fqdn_recipient, "
	    "permit_mynetworks, permit_sasl_authenticated, "
	    "reject_unauth_destination"), "reject_non_fqdn_recipient\n"
	    OURS("") "\npermit_mynetworks\npermit_sasl_authenticated\n"
	    "reject_unauth_destination")));
	CASE("pfconfig: a list without a permit gets them at its end",
	    CHECK(same(merged(&cfg, "reject_unauth_pipelining\n"
	    "\treject_unknown_recipient_domain"), "reject_unauth_pipelining\n"
	    "reject_unknown_recipient_domain\n" OURS(""))));
	CASE("pfconfig: arguments, braces and warn_if_reject stay with their "
	    "restriction",
	    CHECK(same(merged(&cfg, "check_policy_service { inet:127.0.0.1:"
	    "10023, timeout=10s }, warn_if_reject reject_rbl_client "
	    "zen.example, check_client_access cidr:/etc/postfix/x, "
	    "permit_sasl_authenticated"), "check_policy_service { inet:"
	    "127.0.0.1:10023, timeout=10s }\nwarn_if_reject reject_rbl_client "
	    "zen.example\ncheck_client_access cidr:/etc/postfix/x\n" OURS("")
	    "\npermit_sasl_authenticated")));
	snprintf(once, sizeof(once), "%s", merged(&cfg, "reject_non_fqdn_"
	    "recipient, permit_mynetworks, reject_unauth_destination"));
	CASE("pfconfig: a second merge gives the same list (no duplicates)", {
		CHECK(same(merged(&cfg, once), once));
		CHECK(same(merged(&cfg, flat(once)), once));
	});
	CASE("pfconfig: master.cf's comma-only form merges the same way",
	    CHECK(same(merged(&cfg, "permit_sasl_authenticated,reject"),
	    OURS("") "\npermit_sasl_authenticated\nreject")));
	cfg.enforce = (char *)"dry-run";
	CASE("pfconfig: dry-run wraps the lock checks, replacing the enforcing "
	    "ones", {
		CHECK(same(merged(&cfg, once), "reject_non_fqdn_recipient\n"
		    OURS("warn_if_reject ") "\npermit_mynetworks\n"
		    "reject_unauth_destination"));
		snprintf(once, sizeof(once), "%s", merged(&cfg, once));
		CHECK(same(merged(&cfg, once), once));
	});
	cfg.enforce = (char *)"yes";
	CASE("pfconfig: back to enforce = yes, no warn_if_reject is left",
	    CHECK(strstr(merged(&cfg, once), "warn_if_reject") == NULL));
	cfg.map_type = (char *)"lmdb";
	CASE("pfconfig: another map_type replaces the old elements",
	    CHECK(strstr(merged(&cfg, once), "hash:") == NULL
	    && strstr(merged(&cfg, once), "lmdb:" D "/sasl_access") != NULL));
	cfg.map_type = (char *)"hash";
	CASE("pfconfig: another directory's maps are the relay's own",
	    CHECK(same(merged(&cfg, "check_sasl_access hash:/other/sasl_access"),
	    "check_sasl_access hash:/other/sasl_access\n" OURS(""))));
	return unit_total_failed ? 1 : 0;
}
