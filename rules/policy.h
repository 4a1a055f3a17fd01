/*
 * policy.h - the outgoing users of the configuration, ready to match
 * records against: which user a message belongs to, which identity inside
 * it, and whether a verdict counts.
 *
 * A message belongs to an IP user when its client address is in one of the
 * user's CIDRs (the most specific prefix wins, as in the cidr map written
 * most specific first); to a SASL user when its SASL login is the user's
 * name; to a domain user when its login is the domain name, exactly (as
 * check_sasl_access looks it up), or, with match_sender_domain, when its
 * envelope sender is in the domain. A SASL match beats an IP match. Mail
 * that matches no user is unassigned, and never locked.
 *
 * The identity inside a user, by its identification: the envelope sender,
 * the SASL login, or the first identity header present (its whole value,
 * or the regex capture). A header value the log may have cut is never an
 * identity: a lock on its prefix could catch another identity.
 *
 * rul_load() is the one validation every command goes through: the file
 * (cfg_load: every key, and every name and value that ends up in a Postfix
 * map, see mapcheck.h) and the policy built from it (CIDRs claimed by two
 * users), each problem as FILE:LINE on errors. A configuration that fails
 * either is never returned.
 *
 * Regexes are compiled once (JIT where available) with a match limit. The
 * policy owns its compiled state; it keeps pointers into the rg_config,
 * which must outlive it.
 */
#ifndef RG_POLICY_H
#define RG_POLICY_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"

enum rul_type { RUL_SASL, RUL_IP, RUL_DOMAIN };

typedef struct rul_user {
	const rg_user_cfg *cfg;
	enum rul_type type;
	const char *name;
} rul_user;

typedef struct rul_header {
	const char *name;
	const char *value;
	int cut;
} rul_header;

typedef struct rul_policy rul_policy;

rul_policy *rul_new(const rg_config *cfg, char *err, size_t errsz);
rg_config *rul_load(const char *file, FILE *errors, int *nerrors,
    rul_policy **polp);
const rul_user *rul_user_of(const rul_policy *p, const char *sasl,
    const char *client_ip, const char *sender);
const rul_user *rul_user_named(const rul_policy *p, const char *name);
int rul_nusers(const rul_policy *p);
const rul_user *rul_user_at(const rul_policy *p, int i);
int rul_user_index(const rul_policy *p, const rul_user *u);
/* 1 and the identity in out, 0 if the message has none */
int rul_identity(const rul_policy *p, const rul_user *u, const char *sender,
    const char *sasl, const rul_header *hdrs, int nhdrs, char *out,
    size_t outsz, const char **header_name);
/*
 * envelope-sender and auth_user identities are folded as Postfix folds an
 * access-map key (common/casefold.h): full Unicode folding when Postfix's
 * smtputf8_enable is yes (rul_set_fold_utf8, default yes), ASCII only when
 * it is no; header identities are kept as logged (matched case-sensitively)
 */
void rul_set_fold_utf8(rul_policy *p, int utf8);
int rul_fold_utf8(const rul_policy *p);
int rul_header_identity(const rul_policy *p, const char *name,
    const char *value, char *out, size_t outsz);
/* a trusted verdict: its source is in [global] trusted_verdicts (the one
 * definition, for the collector's stored spam flag and the analyzer) */
int rul_verdict_trusted(const rg_config *cfg, const char *verdict_source);
int rul_trusted(const rul_policy *p, const char *verdict_source);
int rul_never_lock(const rul_policy *p, const char *user);
/* the CIDRs of an IP user, most specific first across all users */
int rul_cidrs(const rul_policy *p, const char ***cidrs, const rul_user ***owners);
int rul_cidr_within(const rul_policy *p, int inner, int outer);
/* the identity header's settings ([identity_header NAME]), NULL if none */
const rg_idheader_cfg *rul_header_cfg(const rul_policy *p, const char *name);
int rul_cidr_valid(const char *text, char *norm, size_t normsz);
void rul_free(rul_policy *p);

#endif
