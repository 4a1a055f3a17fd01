/*
 * pfconfig.h - how Postfix is wired to relayguard: the main.cf lines that
 * `postfix-config` prints, the merge of relayguard's checks into the
 * relay's own smtpd_recipient_restrictions (main.cf and master.cf -o
 * overrides), the content filter's wiring, and the checks of
 * `check-postfix` on what the configured Postfix (postconf of [global]
 * postfix_config_directory) says.
 *
 * Everything printed by pfc_main_cf(), pfc_merge() and pfc_filter() is a
 * main.cf line or a comment, so the output can be appended to main.cf as
 * it is; master.cf lines come from pfc_master_cf() alone. With [global]
 * enforce = dry-run the lock checks are wrapped in warn_if_reject: Postfix
 * logs "reject_warning:" and takes the mail.
 *
 * pfc_merge() and pfc_check() run postconf (through ana_command:
 * command_directory, command_timeout, no shell). They return -1 when
 * postconf cannot run or fails, with postconf's own message in why.
 * pfc_check() appends one line per finding to out: a problem (the locks
 * are not enforced somewhere) as plain text, "warning: ..." and "note:
 * ..." lines for what weakens them; it returns the number of problems.
 * pfc_merge_list() is the pure merge, for tests. Nothing here prints or
 * exits: the CLI does.
 */
#ifndef RG_PFCONFIG_H
#define RG_PFCONFIG_H

#include <stddef.h>

#include "../common/strbuf.h"
#include "../rules/config.h"

/* the main.cf lines that wire relayguard in (relayguard's own list) */
void pfc_main_cf(const rg_config *cfg, strbuf *out);
/* the same with the relay's smtpd_recipient_restrictions merged; -1, why */
int pfc_merge(const rg_config *cfg, strbuf *out, char *why, size_t whysz);
/* relayguard's checks merged into a restriction list: the new list, one
 * element per line ("[warn_if_reject ]name[ arg]"); free() it */
char *pfc_merge_list(const rg_config *cfg, const char *list);
/* the content filter: rspamd as a milter, and the log to collect */
void pfc_filter(const rg_config *cfg, strbuf *out);
/* master.cf: the loopback service for relayguard's own mail */
void pfc_master_cf(const rg_config *cfg, strbuf *out);
/* the problems of the configured Postfix, one line each; -1 and why */
int pfc_check(const rg_config *cfg, strbuf *out, char *why, size_t whysz);
/*
 * pfc_apply - the settings of text (main.cf lines as the functions above
 * print them) set in place with one `postconf -e`: no duplicate entry, the
 * relay's other settings kept. The number set, or -1 with why.
 */
int pfc_apply(const rg_config *cfg, const char *text, char *why,
    size_t whysz);

/*
 * [pgsql] policy_service = yes: smtpd asks `relayguard policy` (spawn(8),
 * master.cf service PFC_POLICY_SERVICE) instead of reading pgsql: tables
 */
#define PFC_POLICY_SERVICE "rgpolicy"
int pfc_policy_mode(const rg_config *cfg);
/* "check_policy_service { unix:private/rgpolicy, ..., default_action=X }" */
void pfc_policy_element(const rg_config *cfg, strbuf *out);
/* the main.cf lines (the identity classes read only their pcre tables) */
void pfc_policy_main_cf(const rg_config *cfg, strbuf *out);
/* the master.cf service: spawn runs COMMAND as USER */
void pfc_policy_master_cf(const rg_config *cfg, const char *user,
    const char *command, strbuf *out);

#endif
