/*
 * proc.h - the one process runner: every child relayguard starts (postmap,
 * postconf, postfix, postqueue, postsuper) goes through proc_run().
 *
 * proc_run(&req, &res) forks and execs req.argv (no shell; argv[0] with a
 * '/' is a path, else it is looked up in PATH), in a process group of its
 * own. Its standard input is req.in (req.inlen bytes, from an anonymous
 * memfd; empty if NULL), its standard output and error are captured into
 * res.out and res.err (at most req.outmax and req.errmax bytes kept; 0 =
 * unlimited; NULL strbuf = discarded). Descriptors above 2 are closed in
 * the child.
 *
 * A child still running req.timeout_ms after it started is killed with its
 * whole process group (SIGKILL; a grandchild that made a process group or
 * session of its own is out of reach) and reaped: res.timed_out = 1. A
 * timeout of 0 means none.
 *
 * Returns 0 when the child ran and ended (res.status holds the wait
 * status), PROC_TIMEOUT when it was killed at the timeout, -1 when it
 * could not be started (errno; res.err names the reason). proc_describe()
 * writes "exit status N", "killed by signal N", "timed out after N ms" or
 * the start error for a message. The caller must not set SIGCHLD to
 * SIG_IGN.
 */
#ifndef RG_PROC_H
#define RG_PROC_H

#include <stddef.h>

#include "strbuf.h"

#define PROC_TIMEOUT	(-2)

typedef struct proc_req {
	char *const *argv;	/* NULL-terminated */
	const char *in;		/* standard input, or NULL */
	size_t inlen;
	size_t outmax, errmax;	/* bytes kept of each; 0: all */
	long long timeout_ms;	/* 0: no timeout */
} proc_req;

typedef struct proc_res {
	int status;		/* wait status, when proc_run returned 0 */
	int timed_out;
	int start_errno;	/* when proc_run returned -1 */
	strbuf *out, *err;	/* where to capture; NULL: discard */
} proc_res;

int proc_run(const proc_req *req, proc_res *res);
/* proc_ok - ran and exited 0 */
int proc_ok(int rc, const proc_res *res);
void proc_describe(int rc, const proc_req *req, const proc_res *res,
    char *buf, size_t bufsz);
/* the CPUs this process may run on (online and in its affinity mask) */
int rg_cpus(void);
double rg_thread_cpu(void);

#endif
