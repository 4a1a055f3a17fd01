/*
 * rgtime.c - civil-time arithmetic, local-to-UTC conversion with a per-hour
 * cache, RFC 3339 formatting and duration parsing. Owns no memory. The zone
 * is process-wide (TZ); rgt_set_zone() fails for a zone the system lacks.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "rgtime.h"

/* rgt_set_zone - make ZONE the local zone; -1 if the system has no such zone */
int
rgt_set_zone(const char *zone)
{
	char path[512];
	struct stat st;
	const char *dir = getenv("TZDIR");

	if (zone == NULL || *zone == '\0')
		return 0;
	if (strcmp(zone, "UTC") != 0 && strcmp(zone, "GMT") != 0
	    && strpbrk(zone, "0123456789,") == NULL) {
		const char *z = zone[0] == ':' ? zone + 1 : zone;

		if (z[0] == '/')
			snprintf(path, sizeof(path), "%s", z);
		else
			snprintf(path, sizeof(path), "%s/%s",
			    dir ? dir : "/usr/share/zoneinfo", z);
		if (strstr(z, "..") != NULL || stat(path, &st) != 0
		    || !S_ISREG(st.st_mode))
			return -1;
	}
	if (setenv("TZ", zone, 1) != 0)
		return -1;
	tzset();
	return 0;
}

/* rgt_days_from_civil - days since 1970-01-01 of a proleptic Gregorian date */
int64_t
rgt_days_from_civil(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* rgt_from_utc_fields - microseconds of a UTC civil time */
rg_usec
rgt_from_utc_fields(int y, int mon, int d, int H, int M, int S)
{
	return ((rgt_days_from_civil(y, mon, d) * 86400LL) + H * 3600LL
	    + M * 60LL + S) * RG_USEC;
}

/* rgt_conv_init - an empty conversion cache */
void
rgt_conv_init(tz_conv *tc)
{
	memset(tc, 0, sizeof(*tc));
	tc->hour_key = -1;
	tc->last = INT64_MIN;
}

/* offset_for - UTC offset (local - UTC, seconds) of a local time read with isdst */
static int
offset_for(int y, int mon, int d, int H, int isdst, long long *off)
{
	struct tm tm, back;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = d;
	tm.tm_hour = H;
	tm.tm_min = 30;
	tm.tm_isdst = isdst;
	t = mktime(&tm);
	if (t == (time_t)-1 || localtime_r(&t, &back) == NULL)
		return -1;
	/* mktime normalises a reading that does not exist: reject it */
	if (back.tm_hour != H || back.tm_mday != d || back.tm_isdst != isdst)
		return -1;
	*off = (long long)(rgt_days_from_civil(y, mon, d) * 86400LL
	    + H * 3600LL + 30 * 60) - (long long)t;
	return 0;
}

/* rgt_local_to_utc - convert a zone-less local time to UTC microseconds */
rg_usec
rgt_local_to_utc(tz_conv *tc, int y, int mon, int d, int H, int M, int S)
{
	long long key = (long long)y * 1000000 + mon * 10000 + d * 100 + H;
	rg_usec local = rgt_from_utc_fields(y, mon, d, H, M, S), t;

	if (key != tc->hour_key) {
		long long o0, o1;
		int h0 = offset_for(y, mon, d, H, 0, &o0) == 0;
		int h1 = offset_for(y, mon, d, H, 1, &o1) == 0;

		tc->hour_key = key;
		tc->ambiguous = 0;
		if (h0 && h1 && o0 != o1) {
			/* the repeated hour: o1 (DST) comes first */
			tc->ambiguous = 1;
			tc->offset = o1;
			tc->alt_offset = o0;
		} else if (h0) {
			tc->offset = o0;
		} else if (h1) {
			tc->offset = o1;
		} else {
			/* a skipped hour (spring forward): no such local time */
			struct tm tm;
			time_t now = (time_t)(local / RG_USEC);

			localtime_r(&now, &tm);
			tc->offset = tm.tm_gmtoff;
		}
	}
	t = local - tc->offset * RG_USEC;
	if (tc->ambiguous) {
		/* take the second reading if the first goes back in time */
		if (tc->last != INT64_MIN && t < tc->last - 10 * 60 * RG_USEC)
			t = local - tc->alt_offset * RG_USEC;
	}
	tc->last = t;
	return t;
}

/* rgt_now - the wall clock */
rg_usec
rgt_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (rg_usec)ts.tv_sec * RG_USEC + ts.tv_nsec / 1000;
}

/* rgt_format - RFC 3339 UTC, with microseconds only when there are any */
void
rgt_format(char buf[64], rg_usec t)
{
	long long secs = t >= 0 ? t / RG_USEC : -((-t + RG_USEC - 1) / RG_USEC);
	long long us = t - secs * RG_USEC;
	time_t tt = (time_t)secs;
	struct tm tm;

	gmtime_r(&tt, &tm);
	if (us)
		snprintf(buf, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec, (unsigned)(us % RG_USEC));
	else
		snprintf(buf, 64, "%04d-%02d-%02dT%02d:%02d:%02dZ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec);
}

/*
 * rgt_parse_duration - "90", "30s", "10m", "1h30m", "7d", "2w" to seconds.
 * A bare number is seconds. Returns -1 on bad syntax or overflow.
 */
int
rgt_parse_duration(const char *s, long long *secs)
{
	long long total = 0;
	int parts = 0;

	while (isspace((unsigned char)*s))
		s++;
	if (*s == '\0')
		return -1;
	while (*s && !isspace((unsigned char)*s)) {
		char *end;
		long long v, mult;

		if (!isdigit((unsigned char)*s))
			return -1;
		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno != 0 || v < 0)
			return -1;
		switch (*end) {
		case 's': mult = 1; end++; break;
		case 'm': mult = 60; end++; break;
		case 'h': mult = 3600; end++; break;
		case 'd': mult = 86400; end++; break;
		case 'w': mult = 7 * 86400; end++; break;
		case '\0':
			if (parts > 0)
				return -1;	/* "1h30" is ambiguous */
			mult = 1;
			break;
		default:
			return -1;
		}
		if (v > (1LL << 40) / mult)
			return -1;
		total += v * mult;
		parts++;
		s = end;
	}
	while (isspace((unsigned char)*s))
		s++;
	if (*s != '\0')
		return -1;
	*secs = total;
	return 0;
}

/*
 * rgt_format_duration - seconds as the configuration writes them: "10m",
 * "1h30m", "7d" is "1w", "0s"; the units w, d, h, m, s that rgt_parse_duration
 * reads, so the text reads back to the same number
 */
void
rgt_format_duration(char buf[32], long long secs)
{
	static const struct { long long n; char u; } units[] = {
		{ 7 * 86400LL, 'w' }, { 86400, 'd' }, { 3600, 'h' }, { 60, 'm' },
		{ 1, 's' },
	};
	size_t i, len = 0;

	if (secs <= 0) {
		snprintf(buf, 32, "%llds", secs < 0 ? 0 : secs);
		return;
	}
	buf[0] = '\0';
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (secs >= units[i].n) {
			int w = snprintf(buf + len, 32 - len, "%lld%c",
			    secs / units[i].n, units[i].u);

			if (w < 0 || (size_t)w >= 32 - len)
				break;
			len += (size_t)w;
			secs %= units[i].n;
		}
	}
}

/*
 * rgt_parse_time - "YYYY-MM-DD[THH:MM[:SS]][Z|+hh:mm]", "@EPOCH", "now",
 * or a duration with its unit ("1h", "2d", "1h30m": that long before now)
 * to UTC; a time without a zone is local. Returns -1 on bad syntax.
 */
int
rgt_parse_time(const char *s, rg_usec *out)
{
	int y, mon, d, H = 0, M = 0, S = 0, n = 0, oh, om;
	char sign;
	tz_conv tc;
	rg_usec t;
	long long ago;
	size_t sl = strlen(s);

	if (strcmp(s, "now") == 0) {
		*out = rgt_now();
		return 0;
	}
	/* a bare number is no time: the unit makes it a duration */
	if (sl > 1 && strchr("smhdw", s[sl - 1]) != NULL
	    && rgt_parse_duration(s, &ago) == 0) {
		*out = rgt_now() - ago * RG_USEC;
		return 0;
	}

	if (s[0] == '@') {
		char *end;
		long long v;

		errno = 0;
		v = strtoll(s + 1, &end, 10);
		if (errno || *end || end == s + 1)
			return -1;
		*out = v * RG_USEC;
		return 0;
	}
	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mon, &d, &n) != 3)
		return -1;
	s += n;
	if (*s == 'T' || *s == ' ') {
		n = 0;
		if (sscanf(s + 1, "%2d:%2d%n", &H, &M, &n) != 2)
			return -1;
		s += 1 + n;
		if (*s == ':') {
			n = 0;
			if (sscanf(s + 1, "%2d%n", &S, &n) != 1)
				return -1;
			s += 1 + n;
		}
	}
	if (mon < 1 || mon > 12 || d < 1 || d > 31 || H > 23 || M > 59
	    || S > 60)
		return -1;
	if (*s == '\0') {
		rgt_conv_init(&tc);
		*out = rgt_local_to_utc(&tc, y, mon, d, H, M, S);
		return 0;
	}
	t = rgt_from_utc_fields(y, mon, d, H, M, S);
	if ((s[0] == 'Z' || s[0] == 'z') && s[1] == '\0') {
		*out = t;
		return 0;
	}
	if (sscanf(s, "%c%2d:%2d%n", &sign, &oh, &om, &n) == 3 && s[n] == '\0'
	    && (sign == '+' || sign == '-')) {
		long long off = (oh * 3600LL + om * 60LL) * RG_USEC;

		*out = sign == '+' ? t - off : t + off;
		return 0;
	}
	return -1;
}
