/*
 * pingpong.c - how long a cache line takes to go from one CPU to another
 * and back, for bench/parse.sh and bench/collect.sh: two threads, pinned
 * to the first two CPUs this process may use, hand one flag back and
 * forth; prints "N ns" (the median of 9 runs of 20,000 round trips), or
 * "one CPU" if there are not two.
 *
 * On a virtual machine the two vCPUs may sit on cores that share a cache
 * or on cores far apart, and the host moves them: on the 2-vCPU machine
 * of bench/README.md the round trip took 110 to 150 ns at some minutes
 * and 430 to 730 ns at others, and a pipeline of two threads (parse's,
 * collect --threads 3) that hands each parsed line from one CPU to the
 * other gains from its second thread only in the first case. The figure
 * printed beside a run says which case the run met. Built by the scripts
 * with
 *   cc -O2 -pthread -o pingpong pingpong.c
 * Not part of relayguard.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define TRIPS 20000
#define RUNS 9

static _Atomic int flag __attribute__((aligned(64)));
static int cpu_a, cpu_b;

/* pin - the calling thread onto one CPU */
static void
pin(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	pthread_setaffinity_np(pthread_self(), sizeof(s), &s);
}

/* other - the far end: gives the flag back each time it comes */
static void *
other(void *arg)
{
	int i;

	(void)arg;
	pin(cpu_b);
	for (i = 0; i < TRIPS; i++) {
		while (atomic_load_explicit(&flag, memory_order_acquire) != 1)
			;
		atomic_store_explicit(&flag, 0, memory_order_release);
	}
	return NULL;
}

/* now - monotonic nanoseconds */
static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

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
	double ns[RUNS], t0;
	cpu_set_t s;
	pthread_t t;
	int i, r, n = 0;

	if (sched_getaffinity(0, sizeof(s), &s) != 0)
		return 1;
	cpu_a = cpu_b = -1;
	for (i = 0; i < CPU_SETSIZE && n < 2; i++)
		if (CPU_ISSET(i, &s)) {
			if (n++ == 0)
				cpu_a = i;
			else
				cpu_b = i;
		}
	if (cpu_b < 0) {
		printf("one CPU\n");
		return 0;
	}
	for (r = 0; r < RUNS; r++) {
		atomic_store(&flag, 0);
		pin(cpu_a);
		if (pthread_create(&t, NULL, other, NULL) != 0)
			return 1;
		t0 = now();
		for (i = 0; i < TRIPS; i++) {
			atomic_store_explicit(&flag, 1, memory_order_release);
			while (atomic_load_explicit(&flag, memory_order_acquire)
			    != 0)
				;
		}
		ns[r] = (now() - t0) / TRIPS;
		pthread_join(t, NULL);
	}
	qsort(ns, RUNS, sizeof(ns[0]), dcmp);
	printf("%.0f ns\n", ns[RUNS / 2]);
	return 0;
}
