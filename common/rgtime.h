/*
 * rgtime.h - time arithmetic for log timestamps.
 *
 * Times are int64 microseconds since the epoch (UTC). Local (zone-less)
 * stamps are converted with the process time zone (TZ, set by the caller
 * through rgt_set_zone()); a tz_conv caches the UTC offset per local hour
 * and resolves the repeated hour at the end of daylight saving by the order
 * of the lines: the earlier reading is taken unless it would put the line
 * well before the previous one.
 */
#ifndef RG_RGTIME_H
#define RG_RGTIME_H

#include <stdint.h>
#include <time.h>

typedef int64_t rg_usec;

#define RG_USEC 1000000LL

typedef struct tz_conv {
	long long hour_key;	/* y*1000000+m*10000+d*100+H of the cache */
	long long offset;	/* UTC = local - offset (seconds) */
	int ambiguous;		/* the cached hour is repeated at DST end */
	long long alt_offset;	/* the other reading of an ambiguous hour */
	rg_usec last;		/* previous converted time */
} tz_conv;

int rgt_set_zone(const char *zone);
int64_t rgt_days_from_civil(int y, int m, int d);
rg_usec rgt_from_utc_fields(int y, int mon, int d, int H, int M, int S);
void rgt_conv_init(tz_conv *tc);
rg_usec rgt_local_to_utc(tz_conv *tc, int y, int mon, int d, int H, int M,
    int S);
rg_usec rgt_now(void);
void rgt_format(char buf[64], rg_usec t);
int rgt_parse_duration(const char *s, long long *secs);
void rgt_format_duration(char buf[32], long long secs);
int rgt_parse_time(const char *s, rg_usec *out);

#endif
