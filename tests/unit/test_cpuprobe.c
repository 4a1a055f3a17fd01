/*
 * test_cpuprobe.c - the round trip between two CPUs (common/cpuprobe.c):
 * -1 when the process may use one CPU only; with two, a time in the range
 * a cache line can take (one of a few tries must get an answer from the
 * other CPU); and the caller's CPU affinity is what it was.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <stdio.h>

#include "../../common/cpuprobe.h"
#include "../../common/proc.h"
#include "unit.h"

/* one_cpu - pinned to one CPU of the mask: -1, and the mask kept */
static void
one_cpu(void)
{
	cpu_set_t all, one, after;
	int i;

	CHECK(sched_getaffinity(0, sizeof(all), &all) == 0);
	CPU_ZERO(&one);
	for (i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &all)) {
			CPU_SET(i, &one);
			break;
		}
	CHECK(sched_setaffinity(0, sizeof(one), &one) == 0);
	CHECK(rg_cpu_roundtrip_ns() == -1);
	CHECK(sched_getaffinity(0, sizeof(after), &after) == 0);
	CHECK(CPU_EQUAL(&after, &one));
	CHECK(sched_setaffinity(0, sizeof(all), &all) == 0);
}

/* two_cpus - a time, and the mask given back */
static void
two_cpus(void)
{
	cpu_set_t before, after;
	double ns = RG_CPU_NO_ANSWER;
	int tries;

	CHECK(sched_getaffinity(0, sizeof(before), &before) == 0);
	/* the other CPU may be busy for a moment (RG_CPU_NO_ANSWER): a few
	 * tries, of which one must measure; beside a CPU-bound job every
	 * one did */
	for (tries = 0; tries < 5 && ns >= RG_CPU_NO_ANSWER; tries++)
		ns = rg_cpu_roundtrip_ns();
	CHECK(sched_getaffinity(0, sizeof(after), &after) == 0);
	CHECK(CPU_EQUAL(&before, &after));
	/* a cache line's trip: more than a nanosecond, under a millisecond */
	CHECK(ns > 1);
	CHECK(ns < 1e6);
}

int
main(void)
{
	CASE("cpuprobe: with one CPU allowed, -1 and the mask unchanged",
	    one_cpu());
	if (rg_cpus() >= 2)
		CASE("cpuprobe: two CPUs: a round trip in ns, the caller's "
		    "mask given back", two_cpus());
	else
		printf("SKIP: cpuprobe: two CPUs: this machine has one\n");
	UNIT_EXIT();
}
