/*
 * cpuprobe.h - how long a cache line takes to go from one CPU to another
 * and back, measured at run time.
 *
 * A pipeline of two threads that hands each item from one CPU to the
 * other (parse's front end and assembler) gains from its second thread
 * only when that trip is short. On the 2-vCPU virtual machine the project
 * is measured on, the host puts the two vCPUs on cores that share a cache
 * at some minutes and far apart at most others: far, this probe reads
 * 380-440 ns and the second thread made `parse --stats` 1.17 times slower
 * for 1.7 times the CPU; near (110-200 ns by the benchmark's earlier
 * probe, which read the far case as 590), it cut `--stats` from 0.24 to
 * 0.17 s (bench/README.md). On a real machine the trip takes well under
 * 200 ns.
 *
 * rg_cpu_roundtrip_ns() pins two threads, the caller and one it starts,
 * to the first two CPUs of the process's affinity mask (the caller's mask
 * is given back), hands one flag back and forth ROUNDS times TRIPS times
 * and returns the median round trip in nanoseconds: about a millisecond
 * on the far case. -1 if there are not two CPUs or the thread cannot be
 * started; RG_CPU_NO_ANSWER if the other CPU did not answer within a few
 * milliseconds (busy with another tenant: a second thread would not gain
 * either). Never blocks longer than that.
 */
#ifndef RG_CPUPROBE_H
#define RG_CPUPROBE_H

#define RG_CPU_NO_ANSWER 1e9	/* rg_cpu_roundtrip_ns: the far end was silent */

double rg_cpu_roundtrip_ns(void);

#endif
