/*
 * test_mapcheck.c - the configuration's map checks (rules/mapcheck.c)
 * agree with the map writer (analyzer/maps.c map_set_add): every key,
 * value and CIDR of a hostile list is refused by both or by neither, so a
 * configuration that loads can never hold a name the maps would skip.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../analyzer/maps.h"
#include "../../rules/mapcheck.h"
#include "unit.h"

static const char *const keys[] = {
	"alice@example.com", "Bob@Example.COM", "j\xc3\xbcrgen@example.com",
	"customer.example", "a+tag@x", "\"q\"@x", "@example.com",
	"", "a b", "a\tb", "#x", "x#", "a\nb", "a\rb", "\001", "\xff", "a\xc3",
	"\xc0\xaf", "\xed\xa0\x80", "x\x7f", " a", "a ", "\xf4\x90\x80\x80",
	NULL
};

static const char *const values[] = {
	"OK", "450 4.7.1 sending locked: spam", "BCC archive@example.com",
	"HOLD", "ger\xc3\xa4t", "", "a\nb", "a\rb", " x", "x ", "\001",
	"a\tb", "\xff", "x\x7f", NULL
};

static const char *const cidrs[] = {
	"10.0.0.0/8", "192.0.2.7", "192.0.2.7/32", "2001:db8::/32", "::1",
	"0.0.0.0/0", "::/0", "10.1.2.3/24", "10.1.2", "10.1.2.3/33",
	"10.1.2.3/", "10.1.2.3/+8", "10.1.2.3/-1", "10.1.2.3/8x", "[::1]",
	"fe80::1%eth0", "::ffff:10.0.0.1", "::ffff:10.0.0.0/104",
	"10.1.2.3 /32", "", " 10.0.0.1", "10.0.0.1 ", "2001:db8::/129",
	"2001:db8::1/64", "example.com", "10.1.2.3/0032", "1.2.3.4/32\nX",
	"/24", "10.0.0.256", "10.0.0.0/08", NULL
};

/* agree_keys - rul_map_key_problem refuses what map_set_add refuses */
static void
agree_keys(void)
{
	enum map_kind kinds[] = { MAP_SASL, MAP_SENDER, MAP_BCC };
	char err[256];
	size_t k;
	int i;

	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		for (i = 0; keys[i] != NULL; i++) {
			map_set *ms = map_set_new(kinds[k]);
			int w = map_set_add(ms, keys[i], "a@example.com", err,
			    sizeof(err)) == 0;
			int c = rul_map_key_problem(keys[i]) == NULL;

			CHECK(w == c);
			if (w != c)
				snprintf(unit_why, sizeof(unit_why), "key %d: "
				    "maps %d, config %d", i, w, c);
			map_set_free(ms);
		}
	}
}

/* agree_values - rul_map_value_problem refuses what map_set_add refuses */
static void
agree_values(void)
{
	char err[256];
	int i;

	for (i = 0; values[i] != NULL; i++) {
		map_set *ms = map_set_new(MAP_SASL);
		int w = map_set_add(ms, "key", values[i], err, sizeof(err)) == 0;
		int c = rul_map_value_problem(values[i]) == NULL;

		CHECK(w == c);
		if (w != c)
			snprintf(unit_why, sizeof(unit_why), "value %d: maps %d, "
			    "config %d", i, w, c);
		map_set_free(ms);
	}
}

/* agree_cidrs - rul_cidr_parse refuses what the cidr map refuses */
static void
agree_cidrs(void)
{
	char err[256], why[200];
	unsigned char a[16];
	int i, fam, plen;

	for (i = 0; cidrs[i] != NULL; i++) {
		map_set *ms = map_set_new(MAP_CLIENT_CIDR);
		int w = map_set_add(ms, cidrs[i], "REJECT", err, sizeof(err)) == 0;
		int c = rul_cidr_parse(cidrs[i], &fam, a, &plen, why,
		    sizeof(why)) == 0;

		CHECK(w == c);
		if (w != c)
			snprintf(unit_why, sizeof(unit_why), "cidr \"%s\": maps "
			    "%d, config %d", cidrs[i], w, c);
		map_set_free(ms);
	}
	CHECK(rul_cidr_parse("10.1.2.3/24", &fam, a, &plen, why,
	    sizeof(why)) == -1);
	CHECK(strstr(why, "10.1.2.0/24") != NULL);
	CHECK(rul_cidr_parse("::ffff:1.2.3.4", &fam, a, &plen, why,
	    sizeof(why)) == -1);
	CHECK(strstr(why, "IPv4-mapped") != NULL);
}

/* regexes - compile, and a capture group is the identity */
static void
regexes(void)
{
	char why[200];

	CHECK(rul_regex_problem("^tenant-([0-9]+)", why, sizeof(why)) == 0);
	CHECK(rul_regex_problem("^tenant-[0-9]+", why, sizeof(why)) == -1);
	CHECK(strstr(why, "capture") != NULL);
	CHECK(rul_regex_problem("^(x", why, sizeof(why)) == -1);
	CHECK(strstr(why, "offset") != NULL);
}

int
main(void)
{
	CASE("mapcheck: keys as the map writer sees them", agree_keys());
	CASE("mapcheck: values as the map writer sees them", agree_values());
	CASE("mapcheck: CIDRs as the cidr map sees them", agree_cidrs());
	CASE("mapcheck: identity regexes", regexes());
	return unit_total_failed ? 1 : 0;
}
