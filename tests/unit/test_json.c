/*
 * test_json.c - the JSON parser (common/json.c): escapes, nesting, the
 * errors, and a postqueue -j line; and the process runner (common/proc.c):
 * captured output, standard input, the timeout that kills a process group.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../common/json.h"
#include "../../common/proc.h"
#include "../../common/strbuf.h"
#include "unit.h"

/* parse - a string into a tree (NULL on error) */
static json_value *
parse(const char *s)
{
	char err[128];

	return json_parse(s, strlen(s), err, sizeof(err));
}

/* refused - 1 if s does not parse */
static int
refused(const char *s)
{
	json_value *v = parse(s);

	json_free(v);
	return v == NULL;
}

/* now_ms - monotonic ms */
static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* proc_case0 - proc: output, error and standard input are captured */
static void
proc_case0(void)
{
	char *argv[] = { "/bin/sh", "-c", "cat; echo err >&2; exit 3",
	    NULL };
	proc_req rq = { argv, "in\n", 3, 0, 0, 5000 };
	strbuf o, e;
	proc_res rs;
	int rc;

	sb_init(&o);
	sb_init(&e);
	rs.out = &o;
	rs.err = &e;
	rc = proc_run(&rq, &rs);
	CHECK(rc == 0 && WIFEXITED(rs.status)
	    && WEXITSTATUS(rs.status) == 3);
	CHECK_STR(o.s, "in\n");
	CHECK_STR(e.s, "err\n");
	sb_free(&o);
	sb_free(&e);
}

/* proc_case1 - proc: a child that hangs is killed with its process group */
static void
proc_case1(void)
{
	char pidfile[] = "/tmp/rg-proc-XXXXXX";
	char cmd[256];
	char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	proc_req rq = { argv, NULL, 0, 0, 0, 300 };
	proc_res rs = { 0, 0, 0, NULL, NULL };
	long long t0;
	int rc, fd = mkstemp(pidfile);
	FILE *fp;
	long gp = 0;

	close(fd);
	snprintf(cmd, sizeof(cmd), "sleep 30 & echo $! > %s; wait",
	    pidfile);
	t0 = now_ms();
	rc = proc_run(&rq, &rs);
	CHECK(rc == PROC_TIMEOUT && rs.timed_out);
	CHECK(now_ms() - t0 < 3000);
	if ((fp = fopen(pidfile, "r")) != NULL) {
		if (fscanf(fp, "%ld", &gp) != 1)
			gp = 0;
		fclose(fp);
	}
	CHECK(gp > 0);
	/* the grandchild went with the group (a zombie at most until
	 * init reaps it) */
	for (t0 = now_ms(); gp > 0 && kill((pid_t)gp, 0) == 0
	    && now_ms() - t0 < 2000;)
		usleep(10000);
	CHECK(gp > 0 && kill((pid_t)gp, 0) != 0);
	unlink(pidfile);
}

/* proc_case2 - proc: a missing program is a start failure, not a hang */
static void
proc_case2(void)
{
	char *argv[] = { "/nonexistent/postmap", NULL };
	proc_req rq = { argv, NULL, 0, 0, 0, 1000 };
	strbuf e;
	proc_res rs;
	int rc;

	sb_init(&e);
	rs.out = NULL;
	rs.err = &e;
	rc = proc_run(&rq, &rs);
	CHECK(rc == 0 && WIFEXITED(rs.status)
	    && WEXITSTATUS(rs.status) == 127);
	CHECK(strstr(e.s, "No such file") != NULL);
	sb_free(&e);
}

int
main(void)
{
	CASE("json: escapes \\\" \\\\ \\/ \\n and \\uXXXX", {
		json_value *v = parse("{\"a\":\"q\\\"b\\\\s\\/x\\n\","
		    "\"u\":\"\\u00e4\\u20ac\\ud83d\\ude00\",\"z\":\"a\\u0000b\"}");

		CHECK(v != NULL);
		CHECK_STR(json_str(v, "a"), "q\"b\\s/x\n");
		CHECK_STR(json_str(v, "u"), "\xc3\xa4\xe2\x82\xac\xf0\x9f\x98\x80");
		CHECK(json_get(v, "z") && json_get(v, "z")->len == 3);
		json_free(v);
	});
	CASE("json: a key with an escaped quote is not another key", {
		json_value *v = parse("{\"x\\\"sender\\\":\":\"evil\","
		    "\"sender\":\"good@example.com\"}");

		CHECK(v != NULL);
		CHECK_STR(json_str(v, "sender"), "good@example.com");
		json_free(v);
	});
	CASE("json: nesting, arrays, numbers, literals", {
		json_value *v = parse(" {\"q\":[{\"r\":[1,2,{\"d\":\"x\"}]}],"
		    "\"n\":-12.5e1,\"t\":true,\"f\":false,\"z\":null,\"e\":{}} ");
		const json_value *q;
		double d = 0;

		CHECK(v != NULL);
		q = json_get(v, "q");
		CHECK(q && q->type == JSON_ARRAY && q->len == 1);
		CHECK(q && json_get(q->items[0], "r")->len == 3);
		CHECK_STR(json_str(json_get(q->items[0], "r")->items[2], "d"),
		    "x");
		CHECK(json_num(v, "n", &d) == 0 && d == -125.0);
		CHECK(json_get(v, "t")->type == JSON_TRUE);
		CHECK(json_get(v, "z")->type == JSON_NULL);
		CHECK(json_str(v, "n") == NULL);
		json_free(v);
	});
	CASE("json: malformed input is refused", {
		char deep[400];
		int i;

		CHECK(refused(""));
		CHECK(refused("{\"a\":1,}"));
		CHECK(refused("[1,]"));
		CHECK(refused("{\"a\" 1}"));
		CHECK(refused("\"abc"));
		CHECK(refused("\"a\\x\""));
		CHECK(refused("\"\\ud800\""));
		CHECK(refused("\"\\udc00x\""));
		CHECK(refused("\"a\tb\""));
		CHECK(refused("\"\xff\""));
		CHECK(refused("01"));
		CHECK(refused("1."));
		CHECK(refused("{} {}"));
		CHECK(refused("tru"));
		for (i = 0; i < 200; i++)
			deep[i] = '[';
		deep[200] = '\0';
		CHECK(refused(deep));
	});
	CASE("json: a postqueue -j line", {
		json_value *v = parse("{\"queue_name\": \"deferred\", "
		    "\"queue_id\": \"4Fk2Yb1Z3Qz9\", \"arrival_time\": 1764340000,"
		    " \"message_size\": 497, \"forced_expire\": false, "
		    "\"sender\": \"\\\"a b\\\"@example.com\", \"recipients\": "
		    "[{\"address\": \"c@example.net\", \"delay_reason\": "
		    "\"connect to x: Connection refused\"}]}");
		double t = 0;

		CHECK(v != NULL);
		CHECK_STR(json_str(v, "queue_id"), "4Fk2Yb1Z3Qz9");
		CHECK_STR(json_str(v, "sender"), "\"a b\"@example.com");
		CHECK(json_num(v, "arrival_time", &t) == 0 && t == 1764340000.0);
		json_free(v);
	});
	CASE("proc: output, error and standard input are captured", proc_case0());
	CASE("proc: a child that hangs is killed with its process group", proc_case1());
	CASE("proc: a missing program is a start failure, not a hang", proc_case2());
	CASE("rg_strlcpy: cut to fit, always terminated, the length to tell", {
		char b[6];

		memset(b, 'x', sizeof(b));
		CHECK(rg_strlcpy(b, "abcdefgh", sizeof(b)) == 8);
		CHECK_STR(b, "abcde");
		CHECK(rg_strlcpy(b, "abcde", sizeof(b)) == 5);
		CHECK_STR(b, "abcde");
		CHECK(rg_strlcpy(b, "", sizeof(b)) == 0 && b[0] == '\0');
		CHECK(rg_strlcpy(b, "zz", 1) == 2 && b[0] == '\0');
	});
	UNIT_EXIT();
}
