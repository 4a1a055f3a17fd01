/*
 * pingpong.c - how long a cache line takes to go from one CPU to another
 * and back, for bench/parse.sh and bench/collect.sh: the figure `relayguard
 * parse` measures at its start to choose one thread or two
 * (common/cpuprobe.c, which this calls: the median of its runs). Prints
 * "N ns", "one CPU" if there are not two, or "no answer" if the other CPU
 * was busy.
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

#include "../common/cpuprobe.h"

int
main(void)
{
	double ns = rg_cpu_roundtrip_ns();

	if (ns < 0)
		printf("one CPU\n");
	else if (ns >= RG_CPU_NO_ANSWER)
		printf("no answer\n");
	else
		printf("%.0f ns\n", ns);
	return 0;
}
