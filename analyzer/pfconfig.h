/*
 * pfconfig.h - how Postfix is wired to relayguard: the main.cf lines that
 * `postfix-config` prints, and the checks of `check-postfix` on what the
 * configured Postfix (postconf of [global] postfix_config_directory) says.
 *
 * pfc_main_cf() appends the main.cf settings to out. pfc_check() runs
 * postconf (through ana_command: command_directory, command_timeout) and
 * appends one line per problem to out; it returns the number of problems,
 * or -1 when postconf cannot run or fails, with postconf's own message in
 * why. Nothing here prints or exits: the CLI does.
 */
#ifndef RG_PFCONFIG_H
#define RG_PFCONFIG_H

#include <stddef.h>

#include "../common/strbuf.h"
#include "../rules/config.h"

/* the main.cf lines that wire relayguard in */
void pfc_main_cf(const rg_config *cfg, strbuf *out);
/* the problems of the configured Postfix, one line each; -1 and why */
int pfc_check(const rg_config *cfg, strbuf *out, char *why, size_t whysz);

#endif
