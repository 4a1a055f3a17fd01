/*
 * maps.h - the Postfix lookup tables through which relayguard enforces its
 * decisions: build the entries of one map, render them as Postfix source
 * text, and replace the live map atomically.
 *
 * Kinds, the Postfix feature each is written for, and what a key is:
 *
 *   MAP_SASL         check_sasl_access TYPE:FILE   the SASL login, exactly
 *   MAP_SENDER       check_sender_access TYPE:FILE an envelope address
 *                                                  "user@domain", or a domain
 *   MAP_BCC          sender_bcc_maps TYPE:FILE     an address or "@domain";
 *                                                  the value is one address
 *   MAP_CLIENT_CIDR  check_client_access cidr:FILE an IPv4 or IPv6 address,
 *                                                  or a network "addr/len"
 *   MAP_HEADER_PCRE  header_checks pcre:FILE       the header line as
 *                                                  header_checks sees it:
 *                                                  "NAME: value"
 *   MAP_SENDER_PCRE  check_sender_access pcre:FILE an envelope sender that
 *                                                  no indexed key can hold
 *                                                  ("a b"@x, #x@y), as
 *                                                  smtpd looks it up: as
 *                                                  logged, quotes kept
 *
 * TYPE is the indexed type of map_writer_cfg (hash, lmdb or cdb). The value
 * of every entry is the lookup result, an access(5) action for most
 * ("REJECT 5.7.1 locked", "451 4.7.1 try later", "DUNNO", "OK").
 *
 * map_set_add() validates and normalises; it returns -1 with a message in
 * err (hostile bytes shown as '?') for anything Postfix would read
 * differently from what was meant:
 *
 *   - every value: empty, a control character (CR, LF, TAB, NUL, ...),
 *     leading or trailing white space, or invalid UTF-8. A MAP_BCC value
 *     must also be a single address: no white space, no comma.
 *   - indexed keys (SASL, SENDER, BCC): empty, white space or a control
 *     character (postmap ends a key at the first white space), a leading
 *     '#' (a comment line), invalid UTF-8. Keys are folded exactly as
 *     postmap folds them when it builds the file (unless -f) and as smtpd
 *     folds every search string (common/casefold.h, Postfix's casefold()):
 *     with map_set_utf8(ms, 1) (Postfix's smtputf8_enable = yes, see
 *     map_postfix_utf8) full Unicode case folding, "Äbc" -> "äbc",
 *     "Straße" -> "strasse"; without it ASCII only. So two keys that
 *     Postfix would see as one are one key here, never a duplicate for
 *     postmap.
 *   - MAP_SENDER_PCRE keys: an address as smtpd logs it (and looks it up),
 *     folded as above (smtpd folds the search string before a pcre lookup
 *     too); empty, a control character or invalid UTF-8 are refused.
 *     Rendered "/^KEY$/ RESULT", KEY escaped as below.
 *   - MAP_CLIENT_CIDR keys are parsed with inet_pton and written in
 *     inet_ntop's canonical form with an explicit prefix ("192.0.2.7/32",
 *     "2001:db8::/32"); the caller's text never reaches the file. Rejected:
 *     anything inet_pton does not take (brackets, zone ids, "1.2.3"), a
 *     prefix out of range or not plain decimal, host bits set beyond the
 *     prefix ("192.0.2.7/24": the message names 192.0.2.0/24; Postfix
 *     itself skips such a rule with a warning), an IPv4-mapped IPv6 address
 *     (smtpd converts those clients to IPv4, so the rule could never match).
 *   - MAP_HEADER_PCRE keys: "NAME: value", split at the first ':'; the
 *     white space after the colon is not part of the value. NAME is an RFC
 *     5322 field name (printable ASCII but ':'), matched case-insensitively;
 *     value is matched exactly, case-sensitively, byte for byte; it must not
 *     hold NUL or LF (CR and other control characters are allowed: they are
 *     written as \xHH) and must be valid UTF-8. A '?' in the value (Postfix
 *     logs a control character or a byte of invalid UTF-8 as '?') matches
 *     '?', a control character or any byte >= 0x80: header_checks matches
 *     bytes (no UTF-8 mode), so such a header is still refused.
 *
 * A key added twice (after normalisation: case folding, canonical CIDR,
 * the header name's case) with the same value is kept once; with another
 * value it is an error (Postfix would silently use only one of them).
 *
 * Rendering (map_render, and the file map_write writes): a comment line,
 * then one line per entry, in an order that does not depend on the order
 * of map_set_add calls, so identical sets give identical bytes:
 *
 *   indexed  "KEY<TAB>VALUE", sorted by key.
 *   cidr     "NETWORK/LEN<TAB>VALUE", IPv4 before IPv6, and in each the
 *            longest prefix first (cidr tables take the first match in
 *            file order: a /32 rule wins over its /24, a /24 over its /16),
 *            then by address.
 *   pcre     "/^NAME:[[:space:]]*(?-i:VALUE)[[:space:]]*$/ RESULT", sorted
 *            by lower-cased name, then value. In NAME and VALUE every
 *            ASCII byte that is not a letter or a digit is escaped: a
 *            printable one with a backslash (always a literal in PCRE, and
 *            Postfix skips a backslashed '/' when it looks for the closing
 *            delimiter), a control character as \xHH; the bytes of a
 *            multi-byte UTF-8 character are written as they are (a literal
 *            with and without PCRE2_UTF). The pattern is case-insensitive
 *            (Postfix's default) except the (?-i:...) group. In RESULT '$'
 *            is written '$$' (pcre results are $-expanded). Example: the
 *            key "X-Client-ID: a.b$1 /x" with value "REJECT $1" gives
 *            /^X\-Client\-ID:[[:space:]]*(?-i:a\.b\$1\ \/x)[[:space:]]*$/ REJECT $$1
 *
 * map_write(cfg, NAME, ms, &changed, err, errsz) replaces DIR/NAME (and for
 * indexed kinds DIR/NAME.db|.lmdb|.cdb) following DATABASE_README: never
 * postmap the live map, build beside it and rename.
 *
 *   1. lock the directory (flock, non-blocking: a second writer fails)
 *   2. if DIR/NAME holds exactly the rendered bytes (and for indexed kinds
 *      the indexed file exists): *changed = 0, nothing is touched
 *   3. write DIR/NAME.new (mode 0644, a stale one is removed first), fsync
 *   4. indexed kinds: postmap -c CONFDIR TYPE:DIR/NAME.new
 *   5. verify: every key is looked up with "postmap -q - TYPE:DIR/NAME.new"
 *      (cidr:, pcre: for those kinds) and must give exactly its value (for
 *      cidr the first matching rule's); any postmap warning that names the
 *      file is a failure too (Postfix skips a rule it cannot parse)
 *   6. rename NAME.new.EXT over NAME.EXT (what Postfix reads) first, then
 *      NAME.new over NAME; fsync the directory. *changed = 1
 *
 * postmap runs by fork/exec (no shell, common/proc.c) with its standard
 * error captured, killed with its process group after cfg->timeout_ms;
 * the caller must not set SIGCHLD to SIG_IGN (waitpid needs the child).
 * An empty set is still written (and postmap'ed): a missing map makes
 * smtpd answer 451 4.3.0 to every client. On any failure map_write returns
 * -1 with a message naming the file, the failing step and postmap's own
 * words; the live map is left untouched and the .new files are removed.
 * (Only a failure of the final directory fsync comes after the renames: it
 * returns -1 with *changed = 1, the new map being live but maybe not yet
 * durable.)
 *
 * After a change, Postfix daemons reopen a changed indexed map by
 * themselves at their next connection; cidr: and pcre: maps need
 * "postfix reload": that is the caller's job (*changed says when).
 * header_checks takes the first match over all its maps: list this map
 * before any general INFO rule.
 *
 * With cfg->pg set (map_backend = pgsql), map_write stages a map of an
 * indexed, cidr or header kind for map_pg_commit instead (*changed = 0:
 * the commit counts the changes); MAP_SENDER_PCRE maps are still files.
 *
 * map_postfix_utf8 keeps its answer in cfg->directory/.smtputf8_enable
 * with the stamp of main.cf (and of postconf) it was read from, and asks
 * postconf again when either changed.
 *
 * Memory: a map_set owns copies of its keys and values; map_set_free(NULL)
 * is a no-op. Not thread-safe; map_write forks.
 */
#ifndef RG_MAPS_H
#define RG_MAPS_H

#include <stddef.h>

#include "../common/strbuf.h"

enum map_kind {
	MAP_SASL,
	MAP_CLIENT_CIDR,
	MAP_SENDER,
	MAP_HEADER_PCRE,
	MAP_BCC,
	MAP_SENDER_PCRE
};

/* an entry as Postfix will see it, before escaping: normalised key, value */
typedef struct map_entry {
	char *key;
	char *value;
} map_entry;

typedef struct map_set map_set;

typedef struct map_writer_cfg {
	const char *directory;		/* where the maps live */
	const char *type;		/* hash | lmdb | cdb (indexed kinds); NULL: hash */
	const char *postmap;		/* NULL: /usr/sbin/postmap */
	const char *config_directory;	/* postmap -c DIR; NULL: none */
	long long timeout_ms;		/* a postmap run longer is killed; 0: none */
	const char *postconf;		/* NULL: /usr/sbin/postconf */
	struct map_pg *pg;		/* map_backend = pgsql: the indexed and
					 * cidr maps go there (map_pgsql.h) */
} map_writer_cfg;

map_set *map_set_new(enum map_kind kind);
/* map_set_add - validate, normalise and add; -1 and err on a bad entry */
int map_set_add(map_set *ms, const char *key, const char *value, char *err,
    size_t errsz);
void map_set_free(map_set *ms);
/* map_set_utf8 - fold keys as smtputf8_enable = yes (before any add) */
void map_set_utf8(map_set *ms, int on);
/* map_key_check - NULL if key is a valid key of kind, else why (static) */
const char *map_key_check(enum map_kind kind, const char *key, int utf8);
/* map_postfix_utf8 - *utf8 = Postfix's smtputf8_enable; -1 and err */
int map_postfix_utf8(const map_writer_cfg *cfg, int *utf8, char *err,
    size_t errsz);
enum map_kind map_set_kind(const map_set *ms);
size_t map_set_count(const map_set *ms);
/* the i-th entry in the order of map_set_add (normalised), owned by ms */
const map_entry *map_set_get(const map_set *ms, size_t i);
const char *map_kind_name(enum map_kind kind);

/* map_write - replace DIR/NAME atomically; *changed = 1 if it was replaced */
int map_write(const map_writer_cfg *cfg, const char *name, const map_set *ms,
    int *changed, char *err, size_t errsz);
/* map_render - append the text the map file holds (tests, --dry-run) */
void map_render(const map_set *ms, strbuf *out);

#endif
