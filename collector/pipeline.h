/*
 * pipeline.h - the inputs of `relayguard parse`, merged by time, through
 * one parser (parser.h), in two threads when the machine has the CPUs.
 *
 * Several inputs (a Postfix log and a content filter's, rotated files
 * named in any order) are read as the one stream they were: the line taken
 * next is the earliest (merge.h); the inputs are ordered by their first
 * line, so that lines of the same second in two files are taken from the
 * older file first.
 *
 * With two threads, a front-end thread reads the inputs, splits and
 * parses each line (prs_front) and hands batches of events to the calling
 * thread, which runs the assembler (prs_event) and so the parser's
 * callbacks: the records come out in the same order, from the same calls,
 * as with one thread; only the calling thread ever runs a callback. A
 * batch may go over unparsed (raw): the calling thread parses its lines
 * itself; when the two CPUs are far apart every batch does.
 *
 *	ppl_open(paths, n, year, max_line)	n == 0: standard input; NULL
 *						when an input cannot be opened
 *						(each one logged)
 *	ppl_run(pl, p, threads, stop, arg)	every line through p; 0, or -1
 *						when an input could not be read
 *						to its end (logged). threads: 1
 *						one thread, 2 the pipeline, 0
 *						two when ppl_threads_auto()
 *						says 2, the files hold 4 MiB
 *						or more (or one is not a file)
 *						and the other CPU answers the
 *						probe (cpuprobe.h); its round
 *						trip, under 300 ns or not,
 *						says whether the front end
 *						parses or only splits; the
 *						choice is logged at -vv.
 *						stop(arg), if not NULL,
 *						is asked after each event (each
 *						line with one thread); nonzero
 *						ends the run there.
 *	ppl_threads_auto()			2 when more than one CPU is
 *						online and the process may use
 *						more than one, else 1
 *	ppl_close(pl)				NULL is a no-op
 *
 * At the end of ppl_run the parser's counters (prs_get_stats) hold every
 * line, as prs_line would have counted them, and the lines the readers
 * cut (truncated).
 */
#ifndef RG_PIPELINE_H
#define RG_PIPELINE_H

#include <stddef.h>

#include "parser.h"

typedef struct rg_pipeline rg_pipeline;

rg_pipeline *ppl_open(char *const *paths, int n, int year, size_t max_line);
int ppl_run(rg_pipeline *pl, rg_parser *p, int threads,
    int (*stop)(void *), void *arg);
int ppl_threads_auto(void);
void ppl_close(rg_pipeline *pl);

#endif
