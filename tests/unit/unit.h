/*
 * unit.h - the smallest test harness: CHECK() records a failure with its
 * line, CASE() prints "PASS: name" or "FAIL: name: ..." in the format of
 * tests/run.
 */
#ifndef RG_UNIT_H
#define RG_UNIT_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int unit_failed_checks __attribute__((unused));
static char unit_why[512] __attribute__((unused));
static int unit_total_failed __attribute__((unused));
static unsigned long long unit_rnd_state __attribute__((unused)) =
    88172645463325252ULL;

/* unit_rnd - a number below n, xorshift64 from unit_rnd_state (a test
 * that wants its own sequence sets the state first) */
static unsigned __attribute__((unused))
unit_rnd(unsigned n)
{
	unit_rnd_state ^= unit_rnd_state << 13;
	unit_rnd_state ^= unit_rnd_state >> 7;
	unit_rnd_state ^= unit_rnd_state << 17;
	return (unsigned)(unit_rnd_state % n);
}

/* unit_db_remove - a test database's files: path, its WAL, its shared
 * memory and the collector's lock, whichever exist */
static void __attribute__((unused))
unit_db_remove(const char *path)
{
	static const char *const ext[] = { "", "-wal", "-shm", ".lock" };
	char f[1024];
	size_t i;

	for (i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		snprintf(f, sizeof(f), "%s%s", path, ext[i]);
		unlink(f);
	}
}

#define CHECK(cond) do { \
	if (!(cond) && unit_failed_checks++ == 0) \
		snprintf(unit_why, sizeof(unit_why), "line %d: %s", __LINE__, #cond); \
} while (0)

#define CHECK_STR(got, want) do { \
	const char *g_ = (got), *w_ = (want); \
	if ((g_ == NULL || w_ == NULL ? g_ != w_ : strcmp(g_, w_) != 0) \
	    && unit_failed_checks++ == 0) \
		snprintf(unit_why, sizeof(unit_why), "line %d: got '%s', want '%s'", \
		    __LINE__, g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
} while (0)

#define CASE(name, body) do { \
	unit_failed_checks = 0; unit_why[0] = '\0'; \
	body; \
	if (unit_failed_checks) { \
		printf("FAIL: %s: %s (%d failed checks)\n", name, unit_why, \
		    unit_failed_checks); \
		unit_total_failed++; \
	} else { \
		printf("PASS: %s\n", name); \
	} \
} while (0)

#define UNIT_EXIT() return unit_total_failed ? 1 : 0

#endif
