/*
 * cpuprobe.h - how long a cache line takes to go from one CPU to another
 * and back, measured at run time.
 *
 * A pipeline of two threads that hands each item from one CPU to the
 * other (parse's front end and assembler) should hand little over when
 * that trip is long. On the 2-vCPU virtual machine the project is
 * measured on, the host puts the two vCPUs on cores that share a cache at
 * some minutes and far apart at others: far, this probe reads 380-480 ns,
 * and parse's front end sharing the parsing made `--stats` slower than
 * one thread (0.26 s against 0.21), while only reading and splitting it
 * made it faster (0.17 s); near (80-130 ns), sharing the parsing is the
 * faster (bench/README.md). On a real machine the trip takes well under
 * 200 ns.
 *
 * rg_cpu_roundtrip_ns() pins two threads, the caller and one it starts,
 * to the first two CPUs of the process's affinity mask (the caller's mask
 * is given back), hands one flag back and forth ROUNDS times TRIPS times
 * and returns the median round trip in nanoseconds: 0.15 ms of trips in
 * the far case, and the start of the thread (0.5-1 ms on the VM of
 * bench/README.md). -1 if there are not two CPUs or the thread cannot be
 * started; RG_CPU_NO_ANSWER if the other CPU did not answer within a few
 * milliseconds (busy with another tenant: a second thread would not gain
 * either). Never blocks longer than that.
 */
#ifndef RG_CPUPROBE_H
#define RG_CPUPROBE_H

#define RG_CPU_NO_ANSWER 1e9	/* rg_cpu_roundtrip_ns: the far end was silent */

double rg_cpu_roundtrip_ns(void);

#endif
