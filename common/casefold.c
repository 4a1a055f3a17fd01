/*
 * casefold.c - Postfix's lookup-key case folding (util/casefold.c), with
 * the same library, ICU, so that relayguard's keys and counts agree with
 * what Postfix will look up.
 *
 * Owns one ICU UCaseMap for the life of the process. ICU is loaded
 * (dynlib.h) at the first key that is not ASCII, not linked: its libraries
 * cost every run of relayguard some 4 ms to load, and only non-ASCII map
 * keys need it. Fails only if ICU cannot be loaded, open the case map or
 * fold (never for any input, by Postfix's and ICU's account): rg_casefold
 * then returns NULL.
 */
#include <stdlib.h>
#include <string.h>

#include <unicode/ucasemap.h>
#include <unicode/utypes.h>

#include "casefold.h"
#include "dynlib.h"
#include "xalloc.h"

/* the library's name, and its functions' (ICU appends its version) */
#define ICU_STR(x) #x
#define ICU_XSTR(x) ICU_STR(x)
#define ICU_LIB "libicuuc.so." ICU_XSTR(U_ICU_VERSION_MAJOR_NUM)

typedef UCaseMap *open_fn(const char *, uint32_t, UErrorCode *);
typedef int32_t fold_fn(const UCaseMap *, char *, int32_t, const char *,
    int32_t, UErrorCode *);

static rg_dynlib icu = RG_DYNLIB(ICU_LIB, "casefold");
static open_fn *icu_open;
static fold_fn *icu_fold;

/* icu_load - ICU's two functions; -1 (warned once) if it cannot be loaded */
static int
icu_load(void)
{
	if (icu_fold != NULL)
		return 0;
	if ((icu_open = (open_fn *)rg_dl_sym(&icu,
	    ICU_XSTR(ucasemap_open))) == NULL
	    || (icu_fold = (fold_fn *)rg_dl_sym(&icu,
	    ICU_XSTR(ucasemap_utf8FoldCase))) == NULL)
		return -1;
	return 0;
}

/* all_ascii - 1 if s has no byte >= 0x80 */
static int
all_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/* rg_casefold - a folded copy of s, as Postfix's casefold() */
char *
rg_casefold(const char *s, int utf8)
{
	static UCaseMap *csm;
	UErrorCode error;
	int32_t need, len = (int32_t)strlen(s);
	char *out;
	size_t i;

	if (!utf8 || all_ascii(s)) {
		out = xstrdup(s);
		for (i = 0; out[i] != '\0'; i++)
			if (out[i] >= 'A' && out[i] <= 'Z')
				out[i] = (char)(out[i] - 'A' + 'a');
		return out;
	}
	if (icu_load() != 0)
		return NULL;
	if (csm == NULL) {
		error = U_ZERO_ERROR;
		csm = icu_open("en_US", U_FOLD_CASE_DEFAULT, &error);
		if (U_FAILURE(error)) {
			csm = NULL;
			return NULL;
		}
	}
	/* full folding can grow a string (ß -> ss): ask, then fold */
	error = U_ZERO_ERROR;
	need = icu_fold(csm, NULL, 0, s, len, &error);
	if (error != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(error))
		return NULL;
	out = xmalloc((size_t)need + 1);
	error = U_ZERO_ERROR;
	icu_fold(csm, out, need + 1, s, len, &error);
	if (U_FAILURE(error)) {
		free(out);
		return NULL;
	}
	out[need] = '\0';
	return out;
}

/* rg_casefold_eq - do a and b give one Postfix lookup key? */
int
rg_casefold_eq(const char *a, const char *b, int utf8)
{
	char *fa = rg_casefold(a, utf8), *fb = rg_casefold(b, utf8);
	int eq = fa != NULL && fb != NULL && strcmp(fa, fb) == 0;

	free(fa);
	free(fb);
	return eq;
}
