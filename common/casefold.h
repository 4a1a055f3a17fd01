/*
 * casefold.h - fold text the way Postfix folds a lookup key.
 *
 * Postfix (util/casefold.c) folds every key of an indexed map when postmap
 * builds it, and every search string before an access-map lookup. With
 * smtputf8_enable = yes (util_utf8_enable) a key that is not all ASCII is
 * folded with ICU's full Unicode case folding (ucasemap_utf8FoldCase,
 * locale "en_US", U_FOLD_CASE_DEFAULT): "Äbc" becomes "äbc", "Straße"
 * becomes "strasse". An all-ASCII key, or any key with smtputf8_enable =
 * no, has only A-Z folded to a-z; other bytes are left alone.
 *
 * rg_casefold(s, utf8) returns the folded copy (the caller frees it), or
 * NULL if ICU failed (Postfix treats that as fatal: it does not happen for
 * any input, malformed UTF-8 is copied verbatim). rg_casefold_eq() compares
 * two strings as one Postfix lookup would.
 *
 * The ICU case map is opened once and kept (not thread-safe).
 */
#ifndef RG_CASEFOLD_H
#define RG_CASEFOLD_H

char *rg_casefold(const char *s, int utf8);
int rg_casefold_eq(const char *a, const char *b, int utf8);

#endif
