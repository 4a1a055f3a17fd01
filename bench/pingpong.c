/*
 * pingpong.c - how long a cache line takes to go from one CPU to another
 * and back, for bench/parse.sh and bench/collect.sh: the figure `relayguard
 * parse` measures at its start to choose one thread or two
 * (common/cpuprobe.c, which this calls; the median of 5 calls). Prints
 * "N ns", or "one CPU" if there are not two.
 *
 * On a virtual machine the two vCPUs may sit on cores that share a cache
 * or on cores far apart, and the host moves them: on the 2-vCPU machine
 * of bench/README.md the round trip took 110 to 200 ns at some minutes
 * and 430 to 730 ns at others, and a pipeline of two threads (parse's,
 * collect --threads 3) that hands each parsed line from one CPU to the
 * other gains from its second thread only in the first case. The figure
 * printed beside a run says which case the run met. Built by the scripts
 * with
 *   cc -O2 -pthread -o pingpong pingpong.c ../common/cpuprobe.c
 * Not part of relayguard.
 */
#include <stdio.h>
#include <stdlib.h>

#include "../common/cpuprobe.h"

#define CALLS 5

/* dcmp - qsort: doubles, ascending */
static int
dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int
main(void)
{
	double ns[CALLS];
	int i;

	for (i = 0; i < CALLS; i++)
		if ((ns[i] = rg_cpu_roundtrip_ns()) < 0) {
			printf("one CPU\n");
			return 0;
		}
	qsort(ns, CALLS, sizeof(ns[0]), dcmp);
	printf("%.0f ns\n", ns[CALLS / 2]);
	return 0;
}
