/*
 * cpuprobe.c - the cache line round trip between two CPUs (cpuprobe.h).
 * Owns, for one call, a thread it starts and joins; restores the caller's
 * CPU affinity. Fails with -1 (no second CPU, no thread).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "cpuprobe.h"

#define TRIPS	64		/* round trips a run (far: 64 x 450 ns) */
#define ROUNDS	5		/* runs: the median is returned (the first
				 * also waits for the far end to start) */
#define WAIT_NS	5000000.0	/* a trip longer than this: given up */

typedef struct probe {
	int flag __attribute__((aligned(64)));
	int stop __attribute__((aligned(64)));
	int cpu;		/* the far end's */
} probe;

/* now_ns - a monotonic clock in nanoseconds */
static double
now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* pin - the calling thread onto one CPU */
static void
pin(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	(void)pthread_setaffinity_np(pthread_self(), sizeof(s), &s);
}

/* far_end - gives the flag back each time it comes, until told to stop */
static void *
far_end(void *arg)
{
	probe *p = arg;

	pin(p->cpu);
	for (;;) {
		while (__atomic_load_n(&p->flag, __ATOMIC_ACQUIRE) != 1)
			if (__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE))
				return NULL;
		__atomic_store_n(&p->flag, 0, __ATOMIC_RELEASE);
	}
}

/* dcmp - qsort: doubles, ascending */
static int
dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* rg_cpu_roundtrip_ns - the median round trip, ns; -1 (see cpuprobe.h) */
double
rg_cpu_roundtrip_ns(void)
{
	probe p;
	double ns[ROUNDS], t0, t;
	cpu_set_t mine;
	pthread_t th;
	int i, r, k, n = 0, cpu_a = -1, given_up = 0;

	if (sched_getaffinity(0, sizeof(mine), &mine) != 0)
		return -1;
	for (i = 0; i < CPU_SETSIZE && n < 2; i++)
		if (CPU_ISSET(i, &mine)) {
			if (n++ == 0)
				cpu_a = i;
			else
				p.cpu = i;
		}
	if (n < 2)
		return -1;
	p.flag = 0;
	p.stop = 0;
	if (pthread_create(&th, NULL, far_end, &p) != 0)
		return -1;
	pin(cpu_a);
	for (r = 0; r < ROUNDS && !given_up; r++) {
		t0 = now_ns();
		for (k = 0; k < TRIPS && !given_up; k++) {
			__atomic_store_n(&p.flag, 1, __ATOMIC_RELEASE);
			for (i = 0; __atomic_load_n(&p.flag, __ATOMIC_ACQUIRE)
			    != 0; i++)
				/* the clock only now and then: it is slow here */
				if ((i & 4095) == 4095
				    && now_ns() - t0 > WAIT_NS * (k + 1))
					given_up = 1;
		}
		t = now_ns();
		ns[r] = (t - t0) / TRIPS;
	}
	__atomic_store_n(&p.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	(void)pthread_setaffinity_np(pthread_self(), sizeof(mine), &mine);
	if (given_up)
		return RG_CPU_NO_ANSWER;
	qsort(ns, ROUNDS, sizeof(double), dcmp);
	return ns[ROUNDS / 2];
}
