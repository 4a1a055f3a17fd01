/* test_time.c - durations, RFC 3339 output, local time and daylight saving */
#include <stdlib.h>

#include "../../common/rgtime.h"
#include "unit.h"

static void
durations(void)
{
	long long s;

	CHECK(rgt_parse_duration("10m", &s) == 0 && s == 600);
	CHECK(rgt_parse_duration("1h", &s) == 0 && s == 3600);
	CHECK(rgt_parse_duration("7d", &s) == 0 && s == 7 * 86400);
	CHECK(rgt_parse_duration("2w", &s) == 0 && s == 14 * 86400);
	CHECK(rgt_parse_duration("90", &s) == 0 && s == 90);
	CHECK(rgt_parse_duration("1h30m", &s) == 0 && s == 5400);
	CHECK(rgt_parse_duration(" 30s ", &s) == 0 && s == 30);
	CHECK(rgt_parse_duration("", &s) == -1);
	CHECK(rgt_parse_duration("10x", &s) == -1);
	CHECK(rgt_parse_duration("m", &s) == -1);
	CHECK(rgt_parse_duration("-5m", &s) == -1);
	CHECK(rgt_parse_duration("1h30", &s) == -1);
	CHECK(rgt_parse_duration("10 m", &s) == -1);
	CHECK(rgt_parse_duration("99999999999999999999d", &s) == -1);
}

static void
formatting(void)
{
	char buf[64];

	rgt_format(buf, 0);
	CHECK_STR(buf, "1970-01-01T00:00:00Z");
	rgt_format(buf, rgt_from_utc_fields(2024, 2, 29, 23, 59, 59) + 123456);
	CHECK_STR(buf, "2024-02-29T23:59:59.123456Z");
	CHECK(rgt_days_from_civil(2000, 3, 1) == 11017);
}

static void
local_times(void)
{
	tz_conv tc;
	rg_usec a, b, c;
	char buf[64];

	CHECK(rgt_set_zone("No/Such_Zone") == -1);
	CHECK(rgt_set_zone("../../etc/passwd") == -1);
	CHECK(rgt_set_zone("Europe/Berlin") == 0);
	rgt_conv_init(&tc);
	/* winter: UTC+1 */
	a = rgt_local_to_utc(&tc, 2025, 1, 15, 12, 0, 0);
	rgt_format(buf, a);
	CHECK_STR(buf, "2025-01-15T11:00:00Z");
	/* summer: UTC+2 */
	a = rgt_local_to_utc(&tc, 2025, 7, 15, 12, 0, 0);
	rgt_format(buf, a);
	CHECK_STR(buf, "2025-07-15T10:00:00Z");
	/*
	 * 2025-10-26: 02:00-02:59 happens twice (CEST, then CET). Lines in
	 * order: 02:30 (first), 02:59, then 02:10 again (second pass).
	 */
	rgt_conv_init(&tc);
	a = rgt_local_to_utc(&tc, 2025, 10, 26, 2, 30, 0);
	b = rgt_local_to_utc(&tc, 2025, 10, 26, 2, 59, 0);
	c = rgt_local_to_utc(&tc, 2025, 10, 26, 2, 10, 0);
	rgt_format(buf, a);
	CHECK_STR(buf, "2025-10-26T00:30:00Z");
	rgt_format(buf, b);
	CHECK_STR(buf, "2025-10-26T00:59:00Z");
	rgt_format(buf, c);
	CHECK_STR(buf, "2025-10-26T01:10:00Z");
	/* a line a second earlier than the one before stays in the same pass */
	a = rgt_local_to_utc(&tc, 2025, 10, 26, 2, 10, 1);
	b = rgt_local_to_utc(&tc, 2025, 10, 26, 2, 10, 0);
	CHECK(a - b == RG_USEC);
	rgt_set_zone("UTC");
}

static void
parse_times(void)
{
	rg_usec t;
	char buf[64];

	CHECK(rgt_parse_time("2026-11-28T15:54:38Z", &t) == 0);
	rgt_format(buf, t);
	CHECK_STR(buf, "2026-11-28T15:54:38Z");
	CHECK(rgt_parse_time("2026-11-28T15:54:38+01:00", &t) == 0);
	rgt_format(buf, t);
	CHECK_STR(buf, "2026-11-28T14:54:38Z");
	CHECK(rgt_parse_time("@86400", &t) == 0 && t == 86400 * RG_USEC);
	CHECK(rgt_parse_time("2026-13-01", &t) == -1);
	CHECK(rgt_parse_time("yesterday", &t) == -1);
	/* relative: a duration with its unit is that long before now */
	{
		rg_usec now = rgt_now();

		CHECK(rgt_parse_time("1h", &t) == 0);
		CHECK(t <= now - 3600 * RG_USEC + 5 * RG_USEC
		    && t >= now - 3600 * RG_USEC - 5 * RG_USEC);
		CHECK(rgt_parse_time("1h30m", &t) == 0);
		CHECK(t <= now - 5400 * RG_USEC + 5 * RG_USEC);
		CHECK(rgt_parse_time("now", &t) == 0 && t >= now);
		CHECK(rgt_parse_time("90", &t) == -1);
		CHECK(rgt_parse_time("-1h", &t) == -1);
	}
}

static void
format_durations(void)
{
	char buf[32];

	rgt_format_duration(buf, 600);
	CHECK_STR(buf, "10m");
	rgt_format_duration(buf, 3600);
	CHECK_STR(buf, "1h");
	rgt_format_duration(buf, 5400);
	CHECK_STR(buf, "1h30m");
	rgt_format_duration(buf, 86400);
	CHECK_STR(buf, "1d");
	rgt_format_duration(buf, 7 * 86400);
	CHECK_STR(buf, "1w");
	rgt_format_duration(buf, 90);
	CHECK_STR(buf, "1m30s");
	rgt_format_duration(buf, 0);
	CHECK_STR(buf, "0s");
}

int
main(void)
{
	setenv("TZ", "UTC", 1);
	CASE("time: durations", durations());
	CASE("time: RFC 3339 output", formatting());
	CASE("time: local time and the repeated DST hour", local_times());
	CASE("time: --since/--until syntax", parse_times());
	CASE("time: durations as the configuration writes them",
	    format_durations());
	UNIT_EXIT();
}
