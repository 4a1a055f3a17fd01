/*
 * mapcheck.h - what a Postfix lookup table can hold: the checks shared by
 * the configuration loader (every name and value that ends up in a map is
 * refused at load time, as FILE:LINE) and, where it wants them, the map
 * writer (analyzer/maps.c map_set_add, which refuses the same things for
 * entries that come from the logs). Pure functions, no state.
 *
 *   rul_utf8_valid       well-formed UTF-8 (no overlongs, no surrogates)
 *   rul_map_key_problem  a hash/lmdb/cdb key (check_sasl_access,
 *                        check_sender_access, check_recipient_access,
 *                        sender_bcc_maps): empty, white space (postmap ends
 *                        the key there), a control character, a leading
 *                        '#' (a comment line to postmap), invalid UTF-8
 *   rul_map_value_problem a lookup result: empty, a control character,
 *                        leading or trailing white space, invalid UTF-8
 *   rul_cidr_parse       a cidr table key: ADDR[/LEN] as inet_pton reads
 *                        it, a plain decimal prefix in range, no host bits
 *                        beyond the prefix (Postfix skips such a rule), no
 *                        IPv4-mapped IPv6 address (smtpd sees those clients
 *                        as IPv4: the rule could never match)
 *   rul_regex_problem    an identity regex ([identity_header] regex):
 *                        compiles as rules/policy.c compiles it, and has a
 *                        capture group (the identity)
 *
 * Each *_problem returns NULL when the text is fine, else a static phrase
 * to follow the text in a message ("contains white space (...)").
 * rul_cidr_parse returns 0, or -1 with the phrase in why.
 */
#ifndef RG_MAPCHECK_H
#define RG_MAPCHECK_H

#include <stddef.h>

int rul_utf8_valid(const char *s);
const char *rul_map_key_problem(const char *key);
const char *rul_map_value_problem(const char *value);
int rul_cidr_parse(const char *text, int *family, unsigned char addr[16],
    int *prefix, char *why, size_t whysz);
int rul_regex_problem(const char *re, char *why, size_t whysz);

#endif
