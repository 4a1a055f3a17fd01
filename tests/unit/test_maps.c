/*
 * test_maps.c - the Postfix map writer: rendering of every kind (golden
 * text), CIDR order, escaping of hostile header values checked with real
 * PCRE2 under Postfix's compile options, '$' in pcre results, bad keys and
 * values, duplicates.
 *
 * Also the driver of tests/suites/maps.sh (which checks the written maps
 * with the real postmap):
 *
 *   test_maps --write DIR [--type T] [--confdir D] [--postmap P]
 *             [--variant N] [--only NAME] [--empty] [--utf8]
 *   test_maps --utf8 --confdir D    # smtputf8_enable=yes|no, as postconf
 *   test_maps --pcre-queries DIR    # pos.in, pos.want, neg.in for postmap -q -
 *
 * --write prints "NAME changed=0|1" per map, or "NAME: error: ..." and
 * exits 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcre2.h>

#include "../../analyzer/maps.h"
#include "../../common/casefold.h"
#include "../../common/strbuf.h"
#include "unit.h"

#define NAME_PREFIX "X-Client-ID"

/* hostile header values: each must match itself and nothing else */
static const char *const hostile[] = {
	"tenant-9",
	"Tenant-9",			/* another tenant: case matters */
	"a.b*c+d?e",
	"tenant 9 with  spaces",
	"$1 ${x} $(y) $$",
	"a/b//c/",
	"\\E\\Q(.*)",
	"OK",
	"REJECT foo",
	"(?i)abc",
	")[[:space:]]*$/ OK",
	"x\001y\177z",
	"a?b",
	"trailing\\",
	"[[:space:]]",
	"\\x41",
	"#not-a-comment",
	"cr\rinside",
	"tab\there",
	"trailing space ",
	"\xc3\xbc-\xc3\x9c" "n\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9",	/* "ü-Ünïcödé" */
	".*",
	"|",
	"",
	NULL,				/* the 200-byte one, filled in main */
};
#define NHOSTILE (sizeof(hostile) / sizeof(hostile[0]))

static char long_value[201];

/* hv - the i-th hostile value */
static const char *
hv(size_t i)
{
	return hostile[i] ? hostile[i] : long_value;
}

/* render - the rendered text of ms, owned by the caller */
static char *
render(const map_set *ms)
{
	strbuf sb;

	sb_init(&sb);
	map_render(ms, &sb);
	return sb.s;
}

/* add_ok - add, and say whether it was accepted */
static int
add_ok(map_set *ms, const char *k, const char *v)
{
	char err[256];

	return map_set_add(ms, k, v, err, sizeof(err)) == 0;
}

#define HDR(k) "# relayguard " k " map: written by relayguard, local changes are overwritten\n"

static void
render_indexed(void)
{
	map_set *ms = map_set_new(MAP_SASL);
	char *t;

	CHECK(add_ok(ms, "Bob@Example.COM", "REJECT 5.7.1 locked"));
	CHECK(add_ok(ms, "alice", "450 4.7.1 slow down"));
	CHECK(add_ok(ms, "carol", "REJECT cost $5"));	/* no $ escaping here */
	t = render(ms);
	CHECK_STR(t, HDR("sasl")
	    "alice\t450 4.7.1 slow down\n"
	    "bob@example.com\tREJECT 5.7.1 locked\n"
	    "carol\tREJECT cost $5\n");
	CHECK(map_set_count(ms) == 3);
	CHECK_STR(map_set_get(ms, 0)->key, "bob@example.com");
	free(t);
	map_set_free(ms);

	ms = map_set_new(MAP_SENDER);
	CHECK(add_ok(ms, "Spammer@Example.NET", "REJECT"));
	CHECK(add_ok(ms, "example.org", "REJECT domain"));
	t = render(ms);
	CHECK_STR(t, HDR("sender")
	    "example.org\tREJECT domain\n"
	    "spammer@example.net\tREJECT\n");
	free(t);
	map_set_free(ms);

	ms = map_set_new(MAP_BCC);
	CHECK(add_ok(ms, "@Example.org", "archive@example.com"));
	CHECK(add_ok(ms, "boss@example.com", "Archive+Boss@example.com"));
	CHECK(!add_ok(ms, "x@example.com", "a@example.com, b@example.com"));
	CHECK(!add_ok(ms, "x@example.com", "a@example.com b@example.com"));
	t = render(ms);
	CHECK_STR(t, HDR("bcc")
	    "@example.org\tarchive@example.com\n"
	    "boss@example.com\tArchive+Boss@example.com\n");
	free(t);
	map_set_free(ms);

	/* an empty map is still a valid map */
	ms = map_set_new(MAP_SASL);
	t = render(ms);
	CHECK_STR(t, HDR("sasl"));
	free(t);
	map_set_free(ms);
}

static void
render_cidr(void)
{
	map_set *ms = map_set_new(MAP_CLIENT_CIDR), *ms2;
	char *t, *t2;

	/* added least specific first: rendering must reverse that */
	CHECK(add_ok(ms, "10.1.0.0/16", "C"));
	CHECK(add_ok(ms, "2001:db8::/32", "D"));
	CHECK(add_ok(ms, "10.1.2.0/24", "B"));
	CHECK(add_ok(ms, "0.0.0.0/0", "Z4"));
	CHECK(add_ok(ms, "2001:DB8:0:0::1", "E"));
	CHECK(add_ok(ms, "10.1.2.3", "A"));
	CHECK(add_ok(ms, "2001:db8:1::/48", "F"));
	CHECK(add_ok(ms, "192.0.2.7/32", "G"));
	CHECK(add_ok(ms, "::/0", "Z6"));
	CHECK(add_ok(ms, "10.1.2.3/32", "A"));		/* the same: kept once */
	CHECK(!add_ok(ms, "10.1.2.3", "other"));	/* the same, another value */
	t = render(ms);
	CHECK_STR(t, HDR("cidr")
	    "10.1.2.3/32\tA\n"
	    "192.0.2.7/32\tG\n"
	    "10.1.2.0/24\tB\n"
	    "10.1.0.0/16\tC\n"
	    "0.0.0.0/0\tZ4\n"
	    "2001:db8::1/128\tE\n"
	    "2001:db8:1::/48\tF\n"
	    "2001:db8::/32\tD\n"
	    "::/0\tZ6\n");
	/* the order of map_set_add does not matter */
	ms2 = map_set_new(MAP_CLIENT_CIDR);
	CHECK(add_ok(ms2, "::/0", "Z6"));
	CHECK(add_ok(ms2, "10.1.2.3", "A"));
	CHECK(add_ok(ms2, "2001:db8::/32", "D"));
	CHECK(add_ok(ms2, "0.0.0.0/0", "Z4"));
	CHECK(add_ok(ms2, "192.0.2.7", "G"));
	CHECK(add_ok(ms2, "10.1.0.0/16", "C"));
	CHECK(add_ok(ms2, "2001:db8:1::/48", "F"));
	CHECK(add_ok(ms2, "10.1.2.0/24", "B"));
	CHECK(add_ok(ms2, "2001:db8::1/128", "E"));
	t2 = render(ms2);
	CHECK_STR(t2, t);
	free(t);
	free(t2);
	map_set_free(ms);
	map_set_free(ms2);
}

static void
bad_cidr(void)
{
	static const char *const bad[] = {
		"10.1.2.3/24", "10.1.2", "10.1.2.3/33", "10.1.2.3/", "10.1.2.3/+8",
		"10.1.2.3/-1", "10.1.2.3/8x", "[::1]", "fe80::1%eth0",
		"::ffff:10.0.0.1", "10.1.2.3 /32", "", " 10.0.0.1", "10.0.0.1 ",
		"2001:db8::/129", "2001:db8::1/64", "example.com", "10.1.2.3/0032",
		"1.2.3.4/32\nREJECT", "/24", "10.0.0.256", NULL
	};
	map_set *ms = map_set_new(MAP_CLIENT_CIDR);
	char err[256];
	int i;

	for (i = 0; bad[i] != NULL; i++) {
		int rc = map_set_add(ms, bad[i], "REJECT", err, sizeof(err));

		CHECK(rc == -1);
		if (rc == 0)
			snprintf(unit_why, sizeof(unit_why), "accepted \"%s\"",
			    bad[i]);
	}
	CHECK(map_set_add(ms, "10.1.2.3/24", "REJECT", err, sizeof(err)) == -1);
	CHECK(strstr(err, "10.1.2.0/24") != NULL);
	CHECK(map_set_add(ms, "2001:db8::1/64", "x", err, sizeof(err)) == -1);
	CHECK(strstr(err, "2001:db8::/64") != NULL);
	CHECK(map_set_count(ms) == 0);
	map_set_free(ms);
}

static void
bad_keys(void)
{
	static const char *const badk[] = {
		"", "a b", "a\tb", "#x", "a\nb", "a\rb", "\001", "\xff", "a\xc3",
		"\xc0\xaf", "\xed\xa0\x80", "x\x7f", NULL
	};
	static const char *const badv[] = {
		"", "a\nb", "a\rb", " x", "x ", "\001", "a\tb", "\xff", NULL
	};
	enum map_kind kinds[] = { MAP_SASL, MAP_SENDER, MAP_BCC };
	char err[256];
	size_t k;
	int i;

	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		map_set *ms = map_set_new(kinds[k]);

		for (i = 0; badk[i] != NULL; i++)
			CHECK(map_set_add(ms, badk[i], "a@example.com", err,
			    sizeof(err)) == -1);
		for (i = 0; badv[i] != NULL; i++)
			CHECK(map_set_add(ms, "key", badv[i], err,
			    sizeof(err)) == -1);
		CHECK(map_set_count(ms) == 0);
		/* a UTF-8 key is fine */
		CHECK(add_ok(ms, "j\xc3\xbcrgen@example.com", "a@example.com"));
		/* case folding: one key */
		CHECK(add_ok(ms, "Bob", "a@example.com"));
		CHECK(add_ok(ms, "BOB", "a@example.com"));
		CHECK(!add_ok(ms, "bob", "b@example.com"));
		CHECK(map_set_count(ms) == 2);
		map_set_free(ms);
	}
	/* the message names the key, hostile bytes shown as '?' */
	{
		map_set *ms = map_set_new(MAP_SASL);

		CHECK(map_set_add(ms, "ev\nil user", "OK", err, sizeof(err)) == -1);
		CHECK(strchr(err, '\n') == NULL);
		CHECK(strstr(err, "ev?il user") != NULL);
		map_set_free(ms);
	}
	/* header keys */
	{
		static const char *const badh[] = {
			"NoColon", ": v", "X Client: v", "X-Client-ID: a\nb",
			"X-Client-ID: \xff", "X-Cl\xc3\xbc: v", "\tX: v",
			"X-Client-ID: a\nREJECT", NULL
		};
		map_set *ms = map_set_new(MAP_HEADER_PCRE);

		for (i = 0; badh[i] != NULL; i++)
			CHECK(map_set_add(ms, badh[i], "REJECT", err,
			    sizeof(err)) == -1);
		CHECK(map_set_add(ms, "X-Client-ID: x", "REJECT\nOK", err,
		    sizeof(err)) == -1);
		CHECK(add_ok(ms, "X-Client-ID: v", "REJECT"));
		CHECK(add_ok(ms, "x-client-id:   v", "REJECT"));	/* the same */
		CHECK(!add_ok(ms, "X-CLIENT-ID: v", "OK"));
		CHECK(add_ok(ms, "X-Client-ID: V", "REJECT"));	/* another */
		CHECK(map_set_count(ms) == 2);
		map_set_free(ms);
	}
}

static void
render_pcre(void)
{
	map_set *ms = map_set_new(MAP_HEADER_PCRE);
	char *t;

	CHECK(add_ok(ms, "X-Client-ID: a.b$1 /x", "REJECT $1"));
	CHECK(add_ok(ms, "X-Client-ID:tenant-9", "REJECT 4.7.1 cost ${x} $$"));
	CHECK(add_ok(ms, "x-mailer: \\E(?i)\001", "DUNNO"));
	t = render(ms);
	CHECK_STR(t, HDR("header")
	    "/^X\\-Client\\-ID:[[:space:]]*(?-i:a\\.b\\$1\\ \\/x)[[:space:]]*$/ REJECT $$1\n"
	    "/^X\\-Client\\-ID:[[:space:]]*(?-i:tenant\\-9)[[:space:]]*$/ REJECT 4.7.1 cost $${x} $$$$\n"
	    /* a logged '?' may stand for a control character too */
	    "/^x\\-mailer:[[:space:]]*(?-i:\\\\E\\([?\\x00-\\x1F\\x7F-\\xFF]i\\)\\x01)[[:space:]]*$/ DUNNO\n");
	CHECK_STR(map_set_get(ms, 1)->key, "X-Client-ID: tenant-9");
	free(t);
	map_set_free(ms);
}

/* a rule as Postfix's dict_pcre reads it */
typedef struct rule {
	pcre2_code *re[2];	/* Postfix's options; the same with PCRE2_UTF */
	char result[512];
} rule;

/*
 * parse_rule - split a rendered line the way dict_pcre_get_pattern does:
 * delimiter, pattern up to the next unescaped delimiter, flags, white
 * space, result with $$ -> $. -1 if Postfix would not read it whole.
 */
static int
parse_rule(const char *line, rule *r)
{
	const char *p = line, *pat;
	char delim;
	size_t plen, o = 0;
	int k, errc;
	PCRE2_SIZE erroff;
	uint32_t opts[2] = { PCRE2_CASELESS | PCRE2_DOTALL,
	    PCRE2_CASELESS | PCRE2_DOTALL | PCRE2_UTF };

	r->re[0] = r->re[1] = NULL;
	if (*p == '!')
		return -1;		/* we never write negations */
	delim = *p++;
	pat = p;
	while (*p != '\0') {
		if (*p == '\\') {
			if (*++p == '\0')
				return -1;
		} else if (*p == delim)
			break;
		p++;
	}
	if (*p != delim)
		return -1;
	plen = (size_t)(p - pat);
	p++;
	if (*p != ' ')
		return -1;		/* flags: we write none */
	while (*p == ' ' || *p == '\t')
		p++;
	for (; *p != '\0' && *p != '\n'; p++) {
		if (*p == '$') {
			if (p[1] != '$')
				return -1;	/* would be a $number expansion */
			p++;
		}
		if (o + 1 < sizeof(r->result))
			r->result[o++] = *p;
	}
	r->result[o] = '\0';
	for (k = 0; k < 2; k++) {
		r->re[k] = pcre2_compile((PCRE2_SPTR)pat, plen, opts[k], &errc,
		    &erroff, NULL);
		if (r->re[k] == NULL)
			return -1;
	}
	return 0;
}

/* first_match - Postfix's answer: the result of the first matching rule */
static const char *
first_match(rule *rules, size_t n, int utf, const char *subject, size_t slen)
{
	pcre2_match_data *md;
	const char *ans = NULL;
	size_t i;

	for (i = 0; i < n && ans == NULL; i++) {
		md = pcre2_match_data_create_from_pattern(rules[i].re[utf], NULL);
		if (pcre2_match(rules[i].re[utf], (PCRE2_SPTR)subject, slen, 0, 0,
		    md, NULL) >= 0)
			ans = rules[i].result;
		pcre2_match_data_free(md);
	}
	return ans;
}

/* swapcase - the value with the case of every ASCII letter flipped */
static void
swapcase(char *s)
{
	for (; *s; s++)
		if (*s >= 'a' && *s <= 'z')
			*s = (char)(*s - 'a' + 'A');
		else if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

static void
hostile_pcre(void)
{
	map_set *ms = map_set_new(MAP_HEADER_PCRE);
	rule rules[NHOSTILE];
	char key[512], want[64], *t, *line, *save = NULL;
	size_t i, j, n = 0;
	int utf;

	for (i = 0; i < NHOSTILE; i++) {
		snprintf(key, sizeof(key), NAME_PREFIX ": %s", hv(i));
		snprintf(want, sizeof(want), "REJECT id-%zu $%zu", i, i);
		CHECK(add_ok(ms, key, want));
	}
	CHECK(map_set_count(ms) == NHOSTILE);
	t = render(ms);
	/* one line per rule, plus the comment: no value added a line */
	for (line = strtok_r(t, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		CHECK(n < NHOSTILE);
		if (n >= NHOSTILE)
			break;
		if (parse_rule(line, &rules[n++]) != 0) {
			CHECK(!"Postfix would not read the rule whole");
			snprintf(unit_why, sizeof(unit_why), "bad rule: %.400s",
			    line);
			goto out;
		}
	}
	CHECK(n == NHOSTILE);
	if (n != NHOSTILE)
		goto out;
	for (utf = 0; utf < 2; utf++) {
		for (i = 0; i < NHOSTILE; i++) {
			char subj[1024];
			const char *v = hv(i), *got;
			int len;

			snprintf(want, sizeof(want), "REJECT id-%zu $%zu", i, i);
			/* itself, with the spacing variants header_checks sees */
			len = snprintf(subj, sizeof(subj), NAME_PREFIX ": %s", v);
			got = first_match(rules, n, utf, subj, (size_t)len);
			CHECK_STR(got, want);
			len = snprintf(subj, sizeof(subj), "x-CLIENT-id:%s", v);
			got = first_match(rules, n, utf, subj, (size_t)len);
			CHECK_STR(got, want);
			len = snprintf(subj, sizeof(subj), NAME_PREFIX ": \t%s  ", v);
			got = first_match(rules, n, utf, subj, (size_t)len);
			CHECK_STR(got, want);
			/* nothing else: suffix, prefix, case, another header */
			len = snprintf(subj, sizeof(subj), NAME_PREFIX ": %sx", v);
			CHECK(first_match(rules, n, utf, subj, (size_t)len) == NULL);
			len = snprintf(subj, sizeof(subj), NAME_PREFIX ": x%s", v);
			CHECK(first_match(rules, n, utf, subj, (size_t)len) == NULL);
			len = snprintf(subj, sizeof(subj), NAME_PREFIX ": %s\\", v);
			CHECK(first_match(rules, n, utf, subj, (size_t)len) == NULL);
			len = snprintf(subj, sizeof(subj), "X-Client-IDs: %s", v);
			CHECK(first_match(rules, n, utf, subj, (size_t)len) == NULL);
			len = snprintf(subj, sizeof(subj), "Y-" NAME_PREFIX ": %s", v);
			CHECK(first_match(rules, n, utf, subj, (size_t)len) == NULL);
			len = snprintf(subj, sizeof(subj), NAME_PREFIX ": %s", v);
			swapcase(subj + strlen(NAME_PREFIX ": "));
			if (strcmp(subj + strlen(NAME_PREFIX ": "), v) != 0) {
				got = first_match(rules, n, utf, subj, (size_t)len);
				/* "tenant-9" swapped is "TENANT-9": no rule */
				CHECK(got == NULL);
			}
			/*
			 * one byte changed, dropped or doubled: no match (a
			 * metacharacter left unescaped would match some of these)
			 */
			{
				size_t vl = strlen(v), pre = strlen(NAME_PREFIX ": "), k;

				for (k = 0; k < vl; k++) {
					char m[3][512];
					int ml[3], x;

					ml[0] = snprintf(m[0], sizeof(m[0]), NAME_PREFIX
					    ": %s", v);
					m[0][pre + k] = v[k] == 'Z' ? 'Y' : 'Z';
					ml[1] = snprintf(m[1], sizeof(m[1]), NAME_PREFIX
					    ": %.*s%s", (int)k, v, v + k + 1);
					ml[2] = snprintf(m[2], sizeof(m[2]), NAME_PREFIX
					    ": %.*s%s", (int)k + 1, v, v + k);
					for (x = 0; x < 3; x++) {
						got = first_match(rules, n, utf, m[x],
						    (size_t)ml[x]);
						if (x != 0 && v[k] == ' ' && k + 1 == vl)
							continue;	/* trailing space */
						CHECK(got == NULL ||
						    strcmp(got, want) != 0);
					}
				}
			}
			/* another hostile value never gets this rule */
			for (j = 0; j < NHOSTILE; j++) {
				if (j == i)
					continue;
				len = snprintf(subj, sizeof(subj), NAME_PREFIX
				    ": %s", hv(j));
				got = first_match(rules, n, utf, subj, (size_t)len);
				CHECK(got == NULL || strcmp(got, want) != 0);
			}
		}
	}
out:
	for (i = 0; i < n; i++) {
		pcre2_code_free(rules[i].re[0]);
		pcre2_code_free(rules[i].re[1]);
	}
	free(t);
	map_set_free(ms);
}

/* fold - rg_casefold into a static buffer, for CHECK_STR */
static const char *
fold(const char *s, int utf8)
{
	static char buf[256];
	char *f = rg_casefold(s, utf8);

	snprintf(buf, sizeof(buf), "%s", f ? f : "(null)");
	free(f);
	return buf;
}

static void
casefold_keys(void)
{
	map_set *ms;
	char *t;

	/* Postfix's casefold(): ICU full folding with smtputf8_enable = yes */
	CHECK_STR(fold("\xc3\x84" "bc@evil.example", 1), "\xc3\xa4" "bc@evil.example");
	CHECK_STR(fold("Stra\xc3\x9f" "e@Example.ORG", 1), "strasse@example.org");
	CHECK_STR(fold("\xce\xa3\xce\x91\xce\xa3@x", 1),
	    "\xcf\x83\xce\xb1\xcf\x83@x");		/* ΣΑΣ -> σασ */
	CHECK_STR(fold("sPaM@X.example", 1), "spam@x.example");
	/* ASCII only with smtputf8_enable = no */
	CHECK_STR(fold("\xc3\x84" "Bc@Evil.example", 0), "\xc3\x84" "bc@evil.example");
	CHECK_STR(fold("Stra\xc3\x9f" "e", 0), "stra\xc3\x9f" "e");
	/* malformed UTF-8 is copied verbatim (as ICU does for Postfix) */
	CHECK_STR(fold("A\xff\xfe" "B", 1), "a\xff\xfe" "b");
	CHECK(rg_casefold_eq("Spam@x", "sPAM@X", 1));
	CHECK(rg_casefold_eq("\xc3\x84" "bc", "\xc3\xa4" "bc", 1));
	CHECK(!rg_casefold_eq("\xc3\x84" "bc", "\xc3\xa4" "bc", 0));

	/* two senders differing only in non-ASCII case: one key, no
	 * duplicate for postmap */
	ms = map_set_new(MAP_SENDER);
	map_set_utf8(ms, 1);
	CHECK(add_ok(ms, "\xc3\x84" "bc@evil.example", "450 4.7.1 locked"));
	CHECK(add_ok(ms, "\xc3\xa4" "bc@evil.example", "450 4.7.1 locked"));
	CHECK(add_ok(ms, "STRASSE@x.example", "REJECT"));
	CHECK(add_ok(ms, "stra\xc3\x9f" "e@X.example", "REJECT"));
	CHECK(map_set_count(ms) == 2);
	t = render(ms);
	CHECK_STR(t, HDR("sender")
	    "strasse@x.example\tREJECT\n"
	    "\xc3\xa4" "bc@evil.example\t450 4.7.1 locked\n");
	free(t);
	map_set_free(ms);
	/* without smtputf8: two keys, as Postfix keeps them apart */
	ms = map_set_new(MAP_SENDER);
	CHECK(add_ok(ms, "\xc3\x84" "bc@evil.example", "450 4.7.1 locked"));
	CHECK(add_ok(ms, "\xc3\xa4" "bc@evil.example", "450 4.7.1 locked"));
	CHECK(map_set_count(ms) == 2);
	map_set_free(ms);

	/* keys no indexed map can hold go to a pcre sender map */
	CHECK(map_key_check(MAP_SENDER, "\"a b\"@x.example", 1) != NULL);
	CHECK(map_key_check(MAP_SENDER, "#spam@x.example", 1) != NULL);
	CHECK(map_key_check(MAP_SENDER, "spam@x.example", 1) == NULL);
	CHECK(map_key_check(MAP_SENDER_PCRE, "\"a b\"@x.example", 1) == NULL);
	CHECK(map_key_check(MAP_SENDER_PCRE, "#spam@x.example", 1) == NULL);
	CHECK(map_key_check(MAP_SENDER_PCRE, "a\x01@x", 1) != NULL);
	CHECK(map_key_check(MAP_SENDER_PCRE, "a\xff@x", 1) != NULL);
	ms = map_set_new(MAP_SENDER_PCRE);
	map_set_utf8(ms, 1);
	CHECK(add_ok(ms, "\"A b\"@X.example", "450 4.7.1 locked $1"));
	CHECK(add_ok(ms, "#Spam@x.example", "REJECT"));
	t = render(ms);
	CHECK_STR(t, HDR("sender-pcre")
	    "/^\\\"a\\ b\\\"\\@x\\.example$/ 450 4.7.1 locked $$1\n"
	    "/^\\#spam\\@x\\.example$/ REJECT\n");
	free(t);
	map_set_free(ms);
}

static void
long_values(void)
{
	map_set *ms = map_set_new(MAP_HEADER_PCRE);
	char key[512], *t;
	rule r;
	size_t i;

	/* every printable ASCII byte, 200 of them: 2 bytes each, escaped */
	snprintf(key, sizeof(key), NAME_PREFIX ": %s", long_value);
	CHECK(add_ok(ms, key, "REJECT"));
	t = render(ms);
	CHECK(strlen(t) < 200 * 2 + 200);
	CHECK(parse_rule(strchr(t, '\n') + 1, &r) == 0);
	/* it matches itself */
	{
		pcre2_match_data *md;
		char subj[512];
		int len = snprintf(subj, sizeof(subj), NAME_PREFIX ": %s",
		    long_value);

		if (r.re[0] != NULL) {
			md = pcre2_match_data_create_from_pattern(r.re[0], NULL);
			CHECK(pcre2_match(r.re[0], (PCRE2_SPTR)subj, (size_t)len,
			    0, 0, md, NULL) >= 0);
			pcre2_match_data_free(md);
		}
	}
	for (i = 0; i < 2; i++)
		pcre2_code_free(r.re[i]);
	free(t);
	map_set_free(ms);
}

/* ---------------------------------------------------------------- driver */

/* sample - the sample maps of the suite; variant changes one entry each */
static int
sample(const char *name, map_set *ms, int variant, int empty)
{
	char k[512], v[128];
	size_t i;
	int ok = 1;

	if (empty)
		return 1;
#define A(key, val) ok &= add_ok(ms, key, val)
	if (strcmp(name, "sasl_access") == 0) {
		A("Bob@Example.COM", "REJECT 5.7.1 locked");
		A("alice", "450 4.7.1 slow down");
		A("probe", "DUNNO");
		snprintf(k, sizeof(k), "user-%d", variant);
		snprintf(v, sizeof(v), "REJECT variant %d", variant);
		A(k, v);
	} else if (strcmp(name, "client_access") == 0) {
		A("10.1.0.0/16", "REJECT C");
		/* holds the /16's own address: its verification asks Postfix
		 * for 10.1.0.0 and must expect this answer */
		A("10.1.0.0/24", "REJECT H");
		A("10.1.2.0/24", "REJECT B");
		A("10.1.2.3", "REJECT A");
		A("2001:db8::/32", "REJECT D");
		A("2001:db8::1", "REJECT E");
		A("2001:db8:1::/48", "REJECT F");
		A("127.0.0.1", "DUNNO");
		snprintf(k, sizeof(k), "192.0.2.%d", variant % 256);
		snprintf(v, sizeof(v), "REJECT variant %d", variant);
		A(k, v);
	} else if (strcmp(name, "sender_access") == 0) {
		A("Spammer@Example.NET", "REJECT spammer");
		A("example.org", "REJECT domain");
		A("probe@example.com", "DUNNO");
		snprintf(k, sizeof(k), "v-%d@example.com", variant);
		snprintf(v, sizeof(v), "REJECT variant %d", variant);
		A(k, v);
	} else if (strcmp(name, "header_checks") == 0) {
		for (i = 0; i < NHOSTILE; i++) {
			snprintf(k, sizeof(k), NAME_PREFIX ": %s", hv(i));
			snprintf(v, sizeof(v), "REJECT id-%zu $%zu", i, i);
			A(k, v);
		}
		A("X-Probe: probe", "DUNNO");
		snprintf(k, sizeof(k), NAME_PREFIX ": variant-%d", variant);
		snprintf(v, sizeof(v), "REJECT variant %d", variant);
		A(k, v);
	} else if (strcmp(name, "sender_bcc") == 0) {
		A("boss@example.com", "archive@example.com");
		A("@Example.ORG", "archive+org@example.com");
		A("probe@example.com", "probe-archive@example.com");
		snprintf(k, sizeof(k), "v-%d@example.com", variant);
		snprintf(v, sizeof(v), "variant-%d@example.com", variant);
		A(k, v);
	}
#undef A
	return ok;
}

/* pcre_queries - files for postmap -q - against the header_checks sample */
static int
pcre_queries(const char *dir)
{
	char path[4096];
	FILE *pos, *want, *neg;
	size_t i;

	snprintf(path, sizeof(path), "%s/pos.in", dir);
	pos = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/pos.want", dir);
	want = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/neg.in", dir);
	neg = fopen(path, "w");
	if (pos == NULL || want == NULL || neg == NULL) {
		fprintf(stderr, "cannot write query files in %s\n", dir);
		return 1;
	}
	for (i = 0; i < NHOSTILE; i++) {
		char sw[256];

		fprintf(pos, NAME_PREFIX ": %s\n", hv(i));
		fprintf(want, NAME_PREFIX ": %s\tREJECT id-%zu $%zu\n", hv(i), i, i);
		fprintf(pos, "x-client-id:%s\n", hv(i));
		fprintf(want, "x-client-id:%s\tREJECT id-%zu $%zu\n", hv(i), i, i);
		fprintf(neg, NAME_PREFIX ": %sx\n", hv(i));
		fprintf(neg, NAME_PREFIX ": x%s\n", hv(i));
		fprintf(neg, "X-Client-IDs: %s\n", hv(i));
		snprintf(sw, sizeof(sw), "%s", hv(i));
		swapcase(sw);
		if (strcmp(sw, hv(i)) != 0 && strcmp(sw, "tenant-9") != 0)
			fprintf(neg, NAME_PREFIX ": %s\n", sw);
	}
	fclose(pos);
	fclose(want);
	fclose(neg);
	return 0;
}

/* driver - --write: the sample maps through map_write */
static int
driver(int argc, char **argv)
{
	static const struct { const char *name; enum map_kind kind; } maps[] = {
		{ "sasl_access", MAP_SASL },
		{ "client_access", MAP_CLIENT_CIDR },
		{ "sender_access", MAP_SENDER },
		{ "header_checks", MAP_HEADER_PCRE },
		{ "sender_bcc", MAP_BCC },
	};
	map_writer_cfg cfg = { NULL, NULL, NULL, NULL, 0, NULL, NULL };
	const char *only = NULL;
	int i, variant = 0, empty = 0, rc = 0, utf8 = -1;
	size_t m;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--write") == 0 && next)
			cfg.directory = argv[++i];
		else if (strcmp(a, "--type") == 0 && next)
			cfg.type = argv[++i];
		else if (strcmp(a, "--confdir") == 0 && next)
			cfg.config_directory = argv[++i];
		else if (strcmp(a, "--postmap") == 0 && next)
			cfg.postmap = argv[++i];
		else if (strcmp(a, "--variant") == 0 && next)
			variant = atoi(argv[++i]);
		else if (strcmp(a, "--only") == 0 && next)
			only = argv[++i];
		else if (strcmp(a, "--empty") == 0)
			empty = 1;
		else if (strcmp(a, "--utf8") == 0)
			utf8 = 0;	/* read from --confdir below */
		else if (strcmp(a, "--pcre-queries") == 0 && next)
			return pcre_queries(argv[++i]);
		else {
			fprintf(stderr, "usage: test_maps --write DIR [--type T] "
			    "[--confdir D] [--postmap P] [--variant N] "
			    "[--only NAME] [--empty] [--utf8] | --pcre-queries "
			    "DIR\n");
			return 64;
		}
	}
	if (utf8 == 0) {
		char err[1024];

		/* fold as the Postfix of --confdir; with keys that differ
		 * only in non-ASCII case in the sender map */
		if (map_postfix_utf8(&cfg, &utf8, err, sizeof(err)) != 0) {
			printf("error: %s\n", err);
			return 1;
		}
		printf("smtputf8_enable=%s\n", utf8 ? "yes" : "no");
		if (cfg.directory == NULL)
			return 0;
	}
	for (m = 0; m < sizeof(maps) / sizeof(maps[0]); m++) {
		map_set *ms;
		char err[2048];
		int changed;

		if (only && strcmp(only, maps[m].name) != 0)
			continue;
		ms = map_set_new(maps[m].kind);
		if (utf8 >= 0)
			map_set_utf8(ms, utf8);
		if (utf8 >= 0 && strcmp(maps[m].name, "sender_access") == 0
		    && !(add_ok(ms, "\xc3\x84" "bc@evil.example", "REJECT fold")
		    && add_ok(ms, "\xc3\xa4" "bc@evil.example", "REJECT fold")
		    && add_ok(ms, "Stra\xc3\x9f" "e@x.example", "REJECT sz")
		    && add_ok(ms, "STRASSE@x.example", "REJECT sz"))) {
			printf("%s: error: a folded entry was refused\n",
			    maps[m].name);
			rc = 1;
		} else if (!sample(maps[m].name, ms, variant, empty)) {
			printf("%s: error: a sample entry was refused\n",
			    maps[m].name);
			rc = 1;
		} else if (map_write(&cfg, maps[m].name, ms, &changed, err,
		    sizeof(err)) != 0) {
			printf("%s: error: %s\n", maps[m].name, err);
			rc = 1;
		} else
			printf("%s changed=%d\n", maps[m].name, changed);
		map_set_free(ms);
	}
	return rc;
}

int
main(int argc, char **argv)
{
	size_t i;

	for (i = 0; i < sizeof(long_value) - 1; i++)
		long_value[i] = (char)(0x21 + i % (0x7f - 0x21));
	long_value[sizeof(long_value) - 1] = '\0';
	if (argc > 1)
		return driver(argc, argv);
	CASE("maps: indexed maps render sorted, keys folded", render_indexed());
	CASE("maps: cidr most specific first, IPv4 and IPv6", render_cidr());
	CASE("maps: cidr keys that are not canonical networks are refused",
	    bad_cidr());
	CASE("maps: bad keys and values are refused, duplicates merged",
	    bad_keys());
	CASE("maps: pcre rules render escaped, $ in results doubled",
	    render_pcre());
	CASE("maps: hostile header values match themselves only (PCRE2)",
	    hostile_pcre());
	CASE("maps: a 200-byte value of every punctuation byte", long_values());
	CASE("maps: keys folded as Postfix folds (ICU, smtputf8_enable)",
	    casefold_keys());
	UNIT_EXIT();
}
