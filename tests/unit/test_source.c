/*
 * test_source.c - a file source (collector/source.c) that is opened again
 * and again at its saved position while another process rotates the log
 * under it (renames the live file, puts a new one at its path) reads
 * every line exactly once, and never says the file it read last is gone:
 * a rotation in the middle of the search for that file makes it look
 * again instead of starting the new live file from its beginning. And
 * rotated files with equal mtimes (copies that kept them) are read in
 * their order: path.10 before path.9, path-20261203 before path-20261204.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../collector/source.h"
#include "unit.h"

#define ROTATIONS	300
#define PER_FILE	3		/* lines written to each file */

static char dir[256];

/* shared between the reader and the rotator */
static volatile struct {
	long sessions;		/* reader runs started */
	long last_ns;		/* how long the reader's last run took */
} *shared;

/* now_ns - a monotonic clock */
static long
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* put - append one whole line to path in one write; 0 or -1 */
static int
put(const char *path, int flags, int n)
{
	char line[64];
	int fd, len;

	len = snprintf(line, sizeof(line), "line %06d\n", n);
	if ((fd = open(path, O_WRONLY | O_APPEND | flags, 0644)) < 0)
		return -1;
	if (write(fd, line, (size_t)len) != len) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* pause_ns - sleep up to max nanoseconds (below a second), at random */
static void
pause_ns(long max)
{
	struct timespec ts = { 0, (long)unit_rnd((unsigned)max + 1) };

	nanosleep(&ts, NULL);
}

/*
 * rotator - the child: ROTATIONS times, write PER_FILE lines to the live
 * file, rename it to maillog-NNNNNN (its mtime set a millisecond after
 * the one before, so the order of the rotated files is never a tie) and
 * put a new live file, already holding its first line, at the path. Each
 * rotation waits for a new run of the reader and comes at a random moment
 * of it (the run's length measured), so that many a run has a rotation in
 * the middle of its search, and none has more than a few.
 */
static void
rotator(void)
{
	char live[300], tmp[300], old[300];
	struct timespec ts[2];
	int k, i, n = 1;
	time_t base = time(NULL) - 86400;

	unit_rnd_state = 0x9e3779b97f4a7c15ULL ^ (unsigned long long)getpid();
	snprintf(live, sizeof(live), "%s/maillog", dir);
	snprintf(tmp, sizeof(tmp), "%s/new.tmp", dir);
	for (k = 1; k <= ROTATIONS; k++) {
		long seen = shared->sessions;

		for (i = 1; i < PER_FILE; i++) {
			if (put(live, 0, n++) != 0)
				_exit(2);
		}
		while (shared->sessions == seen)
			pause_ns(20000);
		pause_ns(shared->last_ns < 999999999 ? shared->last_ns
		    : 999999999);
		snprintf(old, sizeof(old), "%s/maillog-%06d", dir, k);
		if (rename(live, old) != 0)
			_exit(3);
		ts[0].tv_sec = ts[1].tv_sec = base + k / 1000;
		ts[0].tv_nsec = ts[1].tv_nsec = (long)(k % 1000) * 1000000;
		if (utimensat(AT_FDCWD, old, ts, 0) != 0)
			_exit(4);
		if (put(tmp, O_CREAT | O_EXCL, n++) != 0 || rename(tmp, live) != 0)
			_exit(5);
	}
	_exit(0);
}

/* read_all - open the source at *pos, read what there is (at most most
 * lines), save the position; the number of lines, or -1 on an error */
static int
read_all(const rg_source_cfg *sc, src_pos *pos, int *seen, int max,
    int most)
{
	char err[512];
	rg_source *s;
	const char *line;
	size_t len;
	int r = 0, got = 0, n;

	if ((s = src_open(sc, pos, 4096, err, sizeof(err))) == NULL) {
		fprintf(stderr, "test: src_open: %s\n", err);
		return -1;
	}
	/* as the collector does: the position before each line, kept when
	 * the read fails */
	for (;;) {
		src_position(s, pos);
		if (got == most || (r = src_next(s, &line, &len)) != 1)
			break;
		if (len < 11 || sscanf(line, "line %d", &n) != 1 || n < 0
		    || n > max) {
			fprintf(stderr, "test: unexpected line '%.*s'\n",
			    (int)len, line);
			continue;
		}
		seen[n]++;
		got++;
	}
	if (r < 0)
		fprintf(stderr, "test: src_next: %s\n", src_error(s));
	else
		src_position(s, pos);
	src_close(s);
	return r < 0 ? -1 : got;
}

/* rotated names, oldest first, the live path last */
static const char *const numbered[] = { "maillog.11.gz", "maillog.10",
    "maillog.9", "maillog.8", "maillog.3", "maillog.2", "maillog.1",
    "maillog" };
static const char *const dated[] = { "maillog-20261203", "maillog-20261204",
    "maillog-20261205", "maillog" };

/*
 * ties - files named names[0..n-1] (oldest first; the last is the live
 * path) in a new directory, three lines each, all with the same mtime; a
 * source opened after the first line of the oldest must read every other
 * line once, in order. 0 if it does.
 */
static int
ties(const char *const *names, int n)
{
	char d[256], path[600], live[600], line[64], cmd[700];
	struct timespec ts[2] = { { 1764547200, 0 }, { 1764547200, 0 } };
	rg_source_cfg sc;
	src_pos pos;
	rg_source *s;
	const char *l;
	size_t len;
	int i, k, next = 1, bad = 0, v;
	char err[512];

	snprintf(d, sizeof(d), "/tmp/rg-test-ties.XXXXXX");
	if (mkdtemp(d) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", d, names[i]);
		for (k = 0; k < 3; k++)
			if (put(path, O_CREAT, i * 3 + k) != 0)
				bad = 1;
		if (utimensat(AT_FDCWD, path, ts, 0) != 0)
			bad = 1;
	}
	snprintf(live, sizeof(live), "%s/%s", d, names[n - 1]);
	memset(&sc, 0, sizeof(sc));
	sc.name = "maillog";
	sc.type = "file";
	sc.path = live;
	memset(&pos, 0, sizeof(pos));
	len = (size_t)snprintf(line, sizeof(line), "line %06d\n", 0);
	pos.fp = src_fingerprint(line, len);
	pos.fp_len = (long long)len;
	pos.offset = (long long)len;
	if (!bad && (s = src_open(&sc, &pos, 4096, err, sizeof(err))) != NULL) {
		while (src_next(s, &l, &len) == 1)
			if (sscanf(l, "line %d", &v) != 1 || v != next++)
				bad = 1;
		src_close(s);
	} else {
		bad = 1;
	}
	if (next != n * 3)
		bad = 1;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", d);
	if (system(cmd) != 0)
		bad = 1;
	return bad ? -1 : 0;
}

/* count_in - how many lines of path contain needle */
static int
count_in(const char *path, const char *needle)
{
	char buf[2048];
	FILE *f = fopen(path, "r");
	int n = 0;

	if (f == NULL)
		return -1;
	while (fgets(buf, sizeof(buf), f) != NULL)
		if (strstr(buf, needle) != NULL)
			n++;
	fclose(f);
	return n;
}

int
main(void)
{
	char live[300], errpath[300], cmd[400];
	rg_source_cfg sc;
	src_pos pos;
	int max = ROTATIONS * PER_FILE, *seen, opens = 0, errors = 0;
	int status, done = 0, once = 0, lost = 0, twice = 0, n, gone;
	int saved_err;
	long t0;
	pid_t child;

	snprintf(dir, sizeof(dir), "/tmp/rg-test-source.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(live, sizeof(live), "%s/maillog", dir);
	snprintf(errpath, sizeof(errpath), "%s/stderr", dir);
	seen = calloc((size_t)max + 1, sizeof(int));
	shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (seen == NULL || shared == MAP_FAILED) {
		perror("test: memory");
		return 1;
	}

	CASE("source: reopened while the log rotates 300 times, every line "
	    "read exactly once, and the file read last is never lost", {
		/* the first file, with its first line, before the reader */
		{
			char tmp[300];

			snprintf(tmp, sizeof(tmp), "%s/new.tmp", dir);
			CHECK(put(tmp, O_CREAT | O_EXCL, 0) == 0);
			CHECK(rename(tmp, live) == 0);
		}
		memset(&sc, 0, sizeof(sc));
		sc.name = "maillog";
		sc.type = "file";
		sc.path = live;
		memset(&pos, 0, sizeof(pos));
		fflush(stderr);
		saved_err = dup(2);
		CHECK(freopen(errpath, "w", stderr) != NULL);
		setvbuf(stderr, NULL, _IONBF, 0);
		/* its first line read before the rotator starts: a source
		 * never read starts at the live file's beginning (by design:
		 * not the rotated history), so a rotation before its first
		 * open would skip the first file (lines 0-2 lost, 1 run in
		 * 60 on a loaded machine) */
		n = read_all(&sc, &pos, seen, max, 1);
		CHECK(n == 1);
		opens++;
		child = fork();
		if (child == 0)
			rotator();
		while (!done) {
			if (waitpid(child, &status, WNOHANG) == child)
				done = 1;	/* one more pass reads the rest */
			/* a run stops anywhere: at the end of what there
			 * is, or after a few lines (not the last pass) */
			t0 = now_ns();
			shared->sessions++;
			n = read_all(&sc, &pos, seen, max,
			    done ? -1 : 1 + (int)unit_rnd(8));
			shared->last_ns = now_ns() - t0;
			opens++;
			if (n < 0)
				errors++;
		}
		fflush(stderr);
		dup2(saved_err, 2);
		close(saved_err);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		for (n = 0; n <= max; n++) {
			if (seen[n] == 1)
				once++;
			else if (seen[n] == 0)
				lost++;
			else
				twice++;
		}
		gone = count_in(errpath, "no longer there");
		if (lost + twice + errors + gone > 0 || once != max + 1) {
			snprintf(cmd, sizeof(cmd), "head -3 %s >&2", errpath);
			if (system(cmd) != 0)
				fprintf(stderr, "test: cannot show %s\n", errpath);
		}
		fprintf(stderr, "source: %d opens, %d lines once, %d lost, "
		    "%d twice, %d errors, %d 'no longer there'\n", opens, once,
		    lost, twice, errors, gone);
		CHECK(opens > ROTATIONS);
		CHECK(once == max + 1);
		CHECK(lost == 0);
		CHECK(twice == 0);
		CHECK(errors == 0);
		CHECK(gone == 0);
	});
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "test: cannot remove %s\n", dir);

	CASE("source: rotated files with equal mtimes are read in their "
	    "order (maillog.11 .. maillog.1, dated names by date)", {
		CHECK(ties(numbered, 8) == 0);
		CHECK(ties(dated, 4) == 0);
	});
	free(seen);
	return unit_total_failed ? 1 : 0;
}
