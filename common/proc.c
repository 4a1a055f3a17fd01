/*
 * proc.c - spawn/exec with an argument vector, standard input from a
 * buffer, output captured, a timeout, and the process group killed when it
 * expires. Owns nothing past the call: every descriptor it opens is closed
 * before it returns, and the child is always reaped.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "strbuf.h"

/* mono_ms - a monotonic clock in milliseconds */
static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* memfd_with - an anonymous file holding n bytes, positioned at 0 */
static int
memfd_with(const char *name, const char *p, size_t n)
{
	int fd = memfd_create(name, MFD_CLOEXEC);
	size_t off = 0;

	if (fd < 0)
		return -1;
	while (off < n) {
		ssize_t w = write(fd, p + off, n - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		off += (size_t)w;
	}
	if (lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* slurp_fd - an anonymous file from its start into sb (at most max; 0: all) */
static void
slurp_fd(int fd, strbuf *sb, size_t max)
{
	char buf[8192];
	ssize_t r;

	if (sb == NULL || lseek(fd, 0, SEEK_SET) != 0)
		return;
	while ((r = read(fd, buf, sizeof(buf))) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (max == 0)
			sb_add(sb, buf, (size_t)r);
		else if (sb->len < max)
			sb_add(sb, buf, (size_t)r < max - sb->len ? (size_t)r
			    : max - sb->len);
	}
}

/*
 * wait_bounded - reap pid within deadline (ms, 0: none); 1 reaped, 0 not.
 * A pidfd wakes us the moment the child ends; without one (an old kernel)
 * we look every few milliseconds.
 */
static int
wait_bounded(pid_t pid, long long deadline, int *status)
{
	long long nap = 1, left;
	int pfd = -1;
	pid_t r;

#ifdef SYS_pidfd_open
	if (deadline)
		pfd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
	for (;;) {
		r = waitpid(pid, status, deadline ? WNOHANG : 0);
		if (r == pid || (r < 0 && errno != EINTR)) {
			/* reaped, or not ours any more: nothing to wait for */
			if (pfd >= 0)
				close(pfd);
			return 1;
		}
		if (r != 0)
			continue;
		if ((left = deadline - mono_ms()) <= 0) {
			if (pfd >= 0)
				close(pfd);
			return 0;
		}
		if (pfd >= 0) {
			struct pollfd pf = { pfd, POLLIN, 0 };

			poll(&pf, 1, left > 1000000 ? 1000000 : (int)left);
		} else {
			struct timespec ts;

			ts.tv_sec = 0;
			ts.tv_nsec = nap * 1000000L;
			nanosleep(&ts, NULL);
			if (nap < 20)
				nap *= 2;
		}
	}
}

/*
 * spawn - start argv in a process group of its own with in, out and err as
 * its standard descriptors, SIGPIPE at its default and nothing else open.
 * posix_spawn, not fork: the parent's page tables are not copied (an
 * analyzer holding 100,000 users ran some 20 postmaps a minute). The
 * child's pid; 0 with errno if it could not be executed; -1 with errno if
 * no process could be made.
 */
static pid_t
spawn(char *const argv[], int in, int out, int err)
{
	extern char **environ;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t def;
	pid_t pid = -1;
	int e;

	if (posix_spawn_file_actions_init(&fa) != 0)
		return -1;
	if (posix_spawnattr_init(&at) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	if ((e = posix_spawn_file_actions_adddup2(&fa, in, 0)) == 0
	    && (e = posix_spawn_file_actions_adddup2(&fa, out, 1)) == 0
	    && (e = posix_spawn_file_actions_adddup2(&fa, err, 2)) == 0
	    && (e = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) == 0
	    && (e = posix_spawnattr_setpgroup(&at, 0)) == 0
	    && (e = posix_spawnattr_setsigdefault(&at, &def)) == 0
	    && (e = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP
	    | POSIX_SPAWN_SETSIGDEF)) == 0) {
		e = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
		/* the program could not be executed (not found, not
		 * allowed): no child is left */
		if (e != 0 && e != EAGAIN && e != ENOMEM)
			pid = 0;
	}
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	if (e != 0)
		errno = e;
	return e != 0 && pid != 0 ? -1 : pid;
}

/* proc_run - run argv, bounded by the timeout */
int
proc_run(const proc_req *req, proc_res *res)
{
	int infd = -1, outfd = -1, errfd = -1, rc = -1, saved;
	long long deadline = 0;
	pid_t pid;

	res->status = -1;
	res->timed_out = 0;
	res->start_errno = 0;
	if ((infd = memfd_with("rg-child-in", req->in ? req->in : "",
	    req->in ? req->inlen : 0)) < 0 ||
	    (outfd = memfd_create("rg-child-out", MFD_CLOEXEC)) < 0 ||
	    (errfd = memfd_create("rg-child-err", MFD_CLOEXEC)) < 0)
		goto end;
	if ((pid = spawn(req->argv, infd, outfd, errfd)) < 0)
		goto end;
	if (pid == 0) {
		/* could not be executed: as a child that exits 127 says it */
		const char *m = strerror(errno);

		if (write(errfd, "exec ", 5) < 0 || write(errfd, req->argv[0],
		    strlen(req->argv[0])) < 0 || write(errfd, ": ", 2) < 0
		    || write(errfd, m, strlen(m)) < 0)
			errno = 0;
		res->status = 127 << 8;		/* W_EXITCODE(127, 0) */
		slurp_fd(outfd, res->out, req->outmax);
		slurp_fd(errfd, res->err, req->errmax);
		rc = 0;
		goto end;
	}
	if (req->timeout_ms > 0)
		deadline = mono_ms() + req->timeout_ms;
	if (!wait_bounded(pid, deadline, &res->status)) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		wait_bounded(pid, 0, &res->status);
		res->timed_out = 1;
		rc = PROC_TIMEOUT;
	} else {
		rc = 0;
	}
	slurp_fd(outfd, res->out, req->outmax);
	slurp_fd(errfd, res->err, req->errmax);
end:
	saved = errno;
	if (rc == -1) {
		res->start_errno = saved;
		if (res->err != NULL)
			sb_printf(res->err, "cannot start %s: %s", req->argv[0],
			    strerror(saved));
	}
	if (infd >= 0)
		close(infd);
	if (outfd >= 0)
		close(outfd);
	if (errfd >= 0)
		close(errfd);
	errno = saved;
	return rc;
}

/* proc_ok - the child ran and exited 0 */
int
proc_ok(int rc, const proc_res *res)
{
	return rc == 0 && WIFEXITED(res->status) && WEXITSTATUS(res->status) == 0;
}

/* proc_describe - how the child ended, for a message */
void
proc_describe(int rc, const proc_req *req, const proc_res *res, char *buf,
    size_t bufsz)
{
	if (rc == PROC_TIMEOUT)
		snprintf(buf, bufsz, "timed out after %lld ms, killed with its "
		    "process group", req->timeout_ms);
	else if (rc < 0)
		snprintf(buf, bufsz, "cannot start: %s",
		    strerror(res->start_errno));
	else if (WIFEXITED(res->status))
		snprintf(buf, bufsz, "exit status %d", WEXITSTATUS(res->status));
	else if (WIFSIGNALED(res->status))
		snprintf(buf, bufsz, "killed by signal %d",
		    WTERMSIG(res->status));
	else
		snprintf(buf, bufsz, "wait status %d", res->status);
}

/* rg_cpus - the CPUs this process may run on: online, and in its affinity
 * mask (taskset, a cpuset); at least 1 */
int
rg_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;

	if (n > 1 && sched_getaffinity(0, sizeof(set), &set) == 0
	    && CPU_COUNT(&set) < n)
		n = CPU_COUNT(&set);
	return n > 1 ? (int)n : 1;
}

/* rg_thread_cpu - the CPU seconds the calling thread has used (0 if the
 * clock cannot be read) */
double
rg_thread_cpu(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}
