/*
 * test_record.c - the record JSON writer's fast paths against plain
 * references: sb_json_str (16 bytes at a time, the rest below 16 in two
 * overlapping words) against a byte-at-a-time escaper, on random hostile
 * bytes in blocks of exactly their size; and the times of rec_json
 * (formatted once a minute) against rgt_format.
 */
#include <stdint.h>
#include <stdlib.h>

#include "../../store/record.h"
#include "../../common/rgtime.h"
#include "../../common/strbuf.h"
#include "unit.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNIT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNIT_ASAN 1
#endif
#endif

/* ref_utf8 - length of the valid UTF-8 sequence at p, 0 if none */
static size_t
ref_utf8(const unsigned char *p, size_t n)
{
	unsigned cp;
	size_t len, i;

	if (p[0] >= 0xC2 && p[0] < 0xE0)
		len = 2, cp = p[0] & 0x1F;
	else if (p[0] >= 0xE0 && p[0] < 0xF0)
		len = 3, cp = p[0] & 0x0F;
	else if (p[0] >= 0xF0 && p[0] < 0xF5)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)))
	    || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
		return 0;
	return len;
}

/* ref_json_str - the JSON string of n bytes, one byte at a time */
static void
ref_json_str(strbuf *sb, const unsigned char *p, size_t n)
{
	size_t i = 0, l;
	char esc[8];

	sb_addc(sb, '"');
	while (i < n) {
		if (p[i] == '"' || p[i] == '\\') {
			sb_addc(sb, '\\');
			sb_addc(sb, (char)p[i++]);
		} else if (p[i] < 0x20 || p[i] == 0x7F) {
			snprintf(esc, sizeof(esc), "\\u%04x", p[i++]);
			sb_adds(sb, esc);
		} else if (p[i] < 0x80) {
			sb_addc(sb, (char)p[i++]);
		} else if ((l = ref_utf8(p + i, n - i)) == 0) {
			sb_adds(sb, "\xEF\xBF\xBD");
			i++;
		} else {
			sb_add(sb, (const char *)p + i, l);
			i += l;
		}
	}
	sb_addc(sb, '"');
}

/* rnd - a small deterministic generator */
static uint32_t
rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* json_str_case - random strings: mostly plain, some quotes, controls, UTF-8 */
static void
json_str_case(void)
{
	static const char *bits[] = { "a", "bc", "\"", "\\", "\x01", "\x7F",
	    "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\xC3", "\xED\xA0\x80",
	    "\xFF", " ", "0123456789", "<x@example.org>", "\n" };
	uint32_t seed = 12345;
	unsigned char buf[256];
	strbuf got, want;
	int k;

	sb_init(&got);
	sb_init(&want);
	for (k = 0; k < 200000; k++) {
		size_t n = 0, cut;

		while (n < 200 && rnd(&seed) % 8 != 0) {
			const char *b = bits[rnd(&seed) % 16];
			size_t bl = strlen(b);

			/* plain text most of the time */
			if (rnd(&seed) % 3 != 0)
				b = "plain text", bl = 10;
			memcpy(buf + n, b, bl);
			n += bl;
		}
		cut = n ? rnd(&seed) % (n + 1) : 0;	/* a sequence cut short */
		got.len = want.len = 0;
		sb_json_str(&got, (const char *)buf + (n - cut), cut);
		ref_json_str(&want, buf + (n - cut), cut);
		if (got.len != want.len || memcmp(got.s, want.s, got.len) != 0) {
			CHECK_STR(got.s, want.s);
			break;
		}
		CHECK(strlen(got.s) == got.len);
	}
	sb_free(&got);
	sb_free(&want);
}

/*
 * json_bytes_case - random bytes of every value (biased to the bytes that
 * need work: quotes, controls, DEL, UTF-8 lead and continuation bytes)
 * at every length up to 80 and then some, each in a heap block of
 * exactly its size (ASan sees a read past it), appended after a prefix
 * of some length (the output's offset); the prefix must stay as it was
 */
static void
json_bytes_case(void)
{
	static const unsigned char odd[] = { '"', '\\', 0x00, 0x01, 0x1F, 0x20,
	    0x7F, 0x80, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0,
	    0xF4, 0xF5, 0xFF, 'a' };
	uint32_t seed = 4242;
	strbuf got, want;
	int k, bad = 0;

	sb_init(&got);
	sb_init(&want);
	for (k = 0; k < 300000 && !bad; k++) {
		size_t n = k < 100000 ? (size_t)(k % 81) : rnd(&seed) % 300;
		size_t pre = rnd(&seed) % 40, i;
		unsigned char *buf = malloc(n > 0 ? n : 1);
		unsigned bias = rnd(&seed) % 4;

		for (i = 0; i < n; i++) {
			uint32_t v = rnd(&seed);

			/* bias 0: any byte; 1-3: mostly plain, some odd */
			if (bias == 0)
				buf[i] = (unsigned char)v;
			else if (v % (8 * bias) == 0)
				buf[i] = odd[(v >> 8) % sizeof(odd)];
			else
				buf[i] = (unsigned char)(0x20 + (v >> 8) % 95);
		}
		/* sometimes a valid sequence of 2, 3 or 4 bytes somewhere */
		if (n >= 4 && rnd(&seed) % 3 == 0) {
			static const char *seq[] = { "\xC3\xA9", "\xE2\x82\xAC",
			    "\xF0\x9F\x98\x80", "\xEF\xBF\xBD" };
			const char *q = seq[rnd(&seed) % 4];

			i = rnd(&seed) % (n - strlen(q) + 1);
			memcpy(buf + i, q, strlen(q));
		}
		got.len = want.len = 0;
		for (i = 0; i < pre; i++) {
			sb_addc(&got, 'p');
			sb_addc(&want, 'p');
		}
		sb_json_str(&got, (const char *)buf, n);
		ref_json_str(&want, buf, n);
		if (got.len != want.len || memcmp(got.s, want.s, got.len) != 0
		    || strlen(got.s) != got.len) {
			CHECK_STR(got.s, want.s);
			bad = 1;
		}
		free(buf);
	}
	CHECK(!bad);
	sb_free(&got);
	sb_free(&want);
}

/* time_in - the first_seen of rec_json for t, into buf */
static void
time_in(rg_usec t, char *buf, size_t size)
{
	rg_record r;
	strbuf sb;
	const char *k, *e;

	rec_init(&r, NULL);
	r.host = rg_arena_str(&r.ar, "h", 1);	/* hosts carry their length */
	r.first_seen = t;
	sb_init(&sb);
	rec_json(&sb, &r);
	k = strstr(sb.s, "\"first_seen\":\"");
	buf[0] = '\0';
	if (k != NULL && (e = strchr(k + 14, '"')) != NULL
	    && (size_t)(e - (k + 14)) < size) {
		memcpy(buf, k + 14, (size_t)(e - (k + 14)));
		buf[e - (k + 14)] = '\0';
	}
	sb_free(&sb);
	rec_free(&r);
}

/* time_case - rec_json's times are rgt_format's, minute after minute */
static void
time_case(void)
{
	static const rg_usec fixed[] = { 1, -1, 59 * RG_USEC, 60 * RG_USEC,
	    -60 * RG_USEC, -61 * RG_USEC + 5, 1798761599LL * RG_USEC,
	    1798761600LL * RG_USEC, 1798761599LL * RG_USEC + 999999,
	    951782400LL * RG_USEC + 1, 253402300799LL * RG_USEC,
	    -62135596800LL * RG_USEC };
	uint32_t seed = 777;
	char got[64], want[64];
	rg_usec t = 1780000000LL * RG_USEC;
	size_t i;
	int k;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		time_in(fixed[i], got, sizeof(got));
		rgt_format(want, fixed[i]);
		CHECK_STR(got, want);
	}
	/* anywhere from year 1 to 9999, seconds or microseconds */
	for (k = 0; k < 20000; k++) {
		long long sec = (long long)(((uint64_t)rnd(&seed) << 32
		    | rnd(&seed)) % 315537897600ULL) - 62135596800LL;

		t = sec * RG_USEC + (k % 2 ? (rg_usec)(rnd(&seed) % RG_USEC) : 0);
		if (t == 0)
			continue;
		time_in(t, got, sizeof(got));
		rgt_format(want, t);
		if (strcmp(got, want) != 0) {
			CHECK_STR(got, want);
			break;
		}
	}
	t = 1780000000LL * RG_USEC;
	/* forward in small steps, and now and then back a little */
	for (k = 0; k < 100000; k++) {
		switch (rnd(&seed) % 4) {
		case 0: t += (rg_usec)(rnd(&seed) % 90) * RG_USEC; break;
		case 1: t += rnd(&seed) % 2000000; break;
		case 2: t -= (rg_usec)(rnd(&seed) % 120) * RG_USEC; break;
		default: t = t / RG_USEC * RG_USEC + 1; break;
		}
		if (t == 0)
			continue;
		time_in(t, got, sizeof(got));
		rgt_format(want, t);
		if (strcmp(got, want) != 0) {
			CHECK_STR(got, want);
			break;
		}
	}
}

/*
 * arena_case - arenas of one pool, reserved at many sizes (the pool's
 * size classes), filled, freed and made again in random order: every
 * string still reads back as written (no two live chunks overlap)
 */
static void
arena_case(void)
{
	enum { N = 64 };
	rg_pool *pool = rg_pool_new();
	rg_arena ar[N];
	char *str[N][8];
	size_t len[N][8];
	int live[N] = { 0 }, k, i, j, bad = 0;
	uint32_t seed = 99;
	char buf[6000];

	for (k = 0; k < 20000 && !bad; k++) {
		i = (int)(rnd(&seed) % N);
		if (live[i]) {
			for (j = 0; j < 8; j++) {
				size_t m;

				memset(buf, 'a' + (i + j) % 26, len[i][j]);
				m = len[i][j];
				if (rg_str_len(str[i][j]) != m
				    || memcmp(str[i][j], buf, m) != 0
				    || str[i][j][m] != '\0')
					bad = 1;
			}
			rg_arena_free(&ar[i]);
			live[i] = 0;
			continue;
		}
		/* a reserved chunk of some class, and strings in and past it */
		rg_arena_init_reserve(&ar[i], pool, rnd(&seed) % 5000);
		for (j = 0; j < 8; j++) {
			len[i][j] = rnd(&seed) % (j == 7 ? 5000 : 300);
			memset(buf, 'a' + (i + j) % 26, len[i][j]);
			str[i][j] = rg_arena_str(&ar[i], buf, len[i][j]);
		}
		live[i] = 1;
	}
	CHECK(!bad);
	for (i = 0; i < N; i++)
		if (live[i])
			rg_arena_free(&ar[i]);
	rg_pool_free(pool);
}

/*
 * prefault_case - a pool whose slabs a thread faults in ahead once it
 * needs a second one: objects of a size class (rg_pool_get) filling a
 * slab start no thread; past it the thread starts and, once it has a
 * slab ready, the pool takes it; 20 slabs of objects, half given back and
 * taken again, each still holding what was written (no two overlap)
 */
static void
prefault_case(void)
{
	enum { N = 100000, SIZE = 424, ONE_SLAB = 4000 };
	rg_pool *pool = rg_pool_new();
	static unsigned char *obj[N];
	unsigned long made = 0, taken = 0, missed = 0;
	int i, bad = 0, tries, wanted;

	wanted = rg_pool_prefault(pool);
#ifndef UNIT_ASAN	/* AddressSanitizer: a malloc a block, no slabs */
	CHECK(wanted);
#endif
	for (i = 0; i < N; i++) {
		obj[i] = rg_pool_get(pool, SIZE);
		memset(obj[i], i & 0xff, SIZE);
		if (i == ONE_SLAB) {	/* 1.7 MiB: the first slab */
			rg_pool_prefault_stats(pool, &made, &taken, &missed);
			CHECK(made == 0 && missed == 0);
		}
		if (i == 2 * ONE_SLAB) {
			/* the thread runs when the machine lets it: wait for
			 * it, not for a time */
			for (tries = 0; wanted && made == 0 && tries < 6000;
			    tries++) {
				usleep(10000);
				rg_pool_prefault_stats(pool, &made, &taken,
				    &missed);
			}
			CHECK(!wanted || made > 0);
		}
	}
	for (i = 0; i < N; i += 2)
		rg_pool_put(pool, obj[i], SIZE);
	for (i = 0; i < N; i += 2) {
		obj[i] = rg_pool_get(pool, SIZE);
		memset(obj[i], i & 0xff, SIZE);
	}
	for (i = 0; i < N && !bad; i++)
		if (obj[i][0] != (i & 0xff) || obj[i][SIZE - 1] != (i & 0xff))
			bad = 1;
	CHECK(!bad);
	rg_pool_prefault_stats(pool, &made, &taken, &missed);
	CHECK(!wanted || taken > 0);
	CHECK(taken <= made);
	rg_pool_free(pool);
}

int
main(void)
{
	CASE("arena: chunks of the pool's size classes never overlap",
	    arena_case());
	CASE("arena: a pool's slabs faulted in by a thread of their own",
	    prefault_case());
	CASE("record: JSON strings as a byte-at-a-time escaper writes them",
	    json_str_case());
	CASE("record: JSON strings of random bytes, in blocks of their size",
	    json_bytes_case());
	CASE("record: times as rgt_format writes them", time_case());
	UNIT_EXIT();
}
