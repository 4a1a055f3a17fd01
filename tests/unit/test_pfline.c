/*
 * test_pfline.c - the message parser against tests/unit/pfline_cases.txt,
 * sshguard style: a log line ("L "), then what it must parse to ("E field
 * value", "E field -" for a field that must be unset). Blank lines separate
 * cases; "#" lines are comments. Then the address and client scans and
 * the queue ID test (16 bytes at a time) against byte-at-a-time ones, on
 * random text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../collector/pfline.h"
#include "unit.h"

static const rg_slice *
field(const rg_event *ev, const char *name)
{
#define F(n) if (strcmp(name, #n) == 0) return &ev->n
	F(qid); F(client_host); F(client_ip); F(client_port); F(sasl_method);
	F(sasl_user); F(sender); F(rcpt); F(orig_to); F(relay); F(delay);
	F(dsn); F(status); F(response); F(size); F(nrcpt); F(msgid);
	F(action); F(hdr_name); F(hdr_value); F(stage); F(code); F(text);
	F(qid2); F(counters); F(score); F(required); F(symbols);
	F(filter_action);
#undef F
	return NULL;
}

/* ref_addr_end - the '>' closing an address at p, one byte at a time */
static const char *
ref_addr_end(const char *p, const char *end)
{
	int quoted = 0;

	for (; p < end; p++) {
		if (quoted) {
			if (*p == '\\' && p + 1 < end)
				p++;
			else if (*p == '"')
				quoted = 0;
		} else if (*p == '"') {
			quoted = 1;
		} else if (*p == '>') {
			return p;
		}
	}
	return NULL;
}

/*
 * addr_case - delivery lines whose recipient is random text (quotes,
 * backslashes, '>', ", " and any byte, at every length around 16 and 32;
 * in angle brackets or, a third of them, without), each
 * in a heap block of exactly its length: the recipient pf_parse finds is
 * the one a byte-at-a-time scan finds; 0, or the number of mismatches
 */
static int
addr_case(void)
{
	static const char pre[] = "Nov  8 14:42:07 mx1 postfix/smtp[12]: "
	    "4Fk2Yb1Z3Qz9: to=";
	static const char *const tails[] = { ", relay=none, delay=1, "
	    "dsn=2.0.0, status=sent (ok)", "", ">", "\\", "\"" };
	static const char alpha[] = "ab@.>\"\\ x,";
	char tmp[512];
	unsigned seed = 5;
	int k, bad = 0;
	strbuf scratch;
	ll_ctx c;

	sb_init(&scratch);
	ll_init(&c, 2025, 0);
	for (k = 0; k < 100000; k++) {
		/* the address's offset in the message */
		size_t n = sizeof(pre) - 1, len, i,
		    start = strlen("4Fk2Yb1Z3Qz9: to=<");
		int angle = k % 3 != 0;
		const char *tail, *e;
		char *line;
		logline ll;
		rg_event ev;

#define RND() (seed = seed * 1103515245 + 12345, (seed >> 8))
		memcpy(tmp, pre, n);
		/* to=<address> or (a third of the lines) to=address */
		if (angle)
			tmp[n++] = '<';
		else
			start--;
		len = k < 20000 ? (size_t)(k % 70) : RND() % 200;
		for (i = 0; i < len; i++) {
			unsigned r = RND();

			tmp[n++] = r % 4 == 0 ? alpha[(r >> 4) % 10]
			    : r % 4 == 1 ? (char)(r >> 4) : "abcdefgh"[(r >> 4) % 8];
		}
		tail = tails[RND() % 5];
		memcpy(tmp + n, tail, strlen(tail));
		n += strlen(tail);
#undef RND
		line = malloc(n);
		memcpy(line, tmp, n);
		memset(&ev, 0, sizeof(ev));
		if (ll_parse(&c, line, n, &ll) != 0) {
			bad++;
			free(line);
			continue;
		}
		pf_parse(&ll, pf_classify(&ll), &ev, &scratch);
		/*
		 * the address starts after the message's "to=<" and ends at
		 * its '>'; or after "to=" (and no '<' after it), up to the
		 * first ", " or the end
		 */
		if (!angle && start < ll.msglen && ll.msg[start] == '<') {
			start++;
			angle = 1;
		}
		if (angle) {
			e = ref_addr_end(ll.msg + start, line + n);
		} else {
			for (e = ll.msg + start; e + 1 < line + n; e++)
				if (e[0] == ',' && e[1] == ' ')
					break;
			if (e + 1 >= line + n)
				e = line + n;
		}
		if (e == NULL ? ev.rcpt.p != NULL
		    : ev.rcpt.p != ll.msg + start
		    || ev.rcpt.n != (size_t)(e - (ll.msg + start))) {
			printf("addr: '%.*s'\n", (int)n, line);
			bad++;
		}
		free(line);
	}
	sb_free(&scratch);
	return bad;
}

/* ref_qid - the queue ID at the start of [p, end) as one byte at a time
 * finds it (pfline.c's rules), or NULL; its end in *qe */
static const char *
ref_qid(const char *p, const char *end, const char **qe)
{
	const char *q = p, *lim = end - p > 21 ? p + 21 : end;
	int all_short = 1, all_long = 1, digit = 0;

	for (; q < lim; q++) {
		int c = (unsigned char)*q;
		int dg = c >= '0' && c <= '9';
		int up = c >= 'A' && c <= 'Z', lo = c >= 'a' && c <= 'z';

		if (!dg && !up && !lo)
			break;
		digit |= dg;
		if (!dg && !(c >= 'A' && c <= 'F'))
			all_short = 0;
		if (!dg && strchr("AEIOUaeiou", c) != NULL)
			all_long = 0;
	}
	if (q - p < 5 || q - p > 20 || end - q < 2 || q[0] != ':'
	    || q[1] != ' ' || (!all_short && !all_long && !digit))
		return NULL;
	*qe = q;
	return p;
}

/*
 * qid_case - qmgr lines that start with random letters, digits and other
 * bytes (runs of 0 to 24, around the 16 looked at at once, with and
 * without the ": " after them), each in a heap block of exactly its
 * length: the queue ID pf_parse takes is the byte-at-a-time one; 0, or
 * the number of mismatches
 */
static int
qid_case(void)
{
	static const char pre[] = "Nov  8 14:42:07 mx1 postfix/qmgr[12]: ";
	static const char alpha[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz";
	static const char *const tails[] = { ": removed", ": from=<a@b>, "
	    "size=1, nrcpt=1 (queue active)", ":", ": ", " x", "",
	    "-: removed", "\x80: removed" };
	char tmp[512];
	unsigned seed = 11;
	int k, bad = 0;
	strbuf scratch;
	ll_ctx c;

	sb_init(&scratch);
	ll_init(&c, 2025, 0);
	for (k = 0; k < 200000; k++) {
		size_t n = sizeof(pre) - 1, len, i;
		const char *tail, *want, *qe = NULL;
		char *line;
		logline ll;
		rg_event ev;
		unsigned kind;

#define RND() (seed = seed * 1103515245 + 12345, (seed >> 8))
		memcpy(tmp, pre, n);
		len = RND() % 25;
		kind = RND() % 4;
		for (i = 0; i < len; i++) {
			unsigned r = RND();

			/* 0: hex, 1: long IDs' letters, 2-3: anything */
			if (kind == 0)
				tmp[n++] = "0123456789ABCDEF"[r % 16];
			else if (kind == 1)
				tmp[n++] = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdf"
				    "ghjklmnpqrstvwxyz"[r % 52];
			else if (r % 16 == 0)
				tmp[n++] = (char)(r >> 8);
			else
				tmp[n++] = alpha[(r >> 4) % 62];
		}
		tail = tails[RND() % 8];
		memcpy(tmp + n, tail, strlen(tail));
		n += strlen(tail);
#undef RND
		line = malloc(n);
		memcpy(line, tmp, n);
		memset(&ev, 0, sizeof(ev));
		if (ll_parse(&c, line, n, &ll) != 0) {
			bad++;
			free(line);
			continue;
		}
		pf_parse(&ll, pf_classify(&ll), &ev, &scratch);
		want = ref_qid(ll.msg, line + n, &qe);
		if (want == NULL ? ev.qid.p != NULL : ev.qid.p != want
		    || ev.qid.n != (size_t)(qe - want)) {
			printf("qid: '%.*s'\n", (int)n, line);
			bad++;
		}
		free(line);
	}
	sb_free(&scratch);
	return bad;
}

/*
 * client_case - "connect from" lines with a random client (brackets,
 * spaces, ',', ';', ':' and any byte, at every length around 16 and 32),
 * each in a heap block of exactly its length: pf_parse's host, address
 * and port are those of a byte-at-a-time split; 0, or the mismatches
 */
static int
client_case(void)
{
	static const char pre[] = "Nov  8 14:42:07 mx1 postfix/smtpd[12]: "
	    "connect from ";
	static const char alpha[] = "[]:;, 09abcxyz.-";
	char tmp[512];
	unsigned seed = 3;
	int k, bad = 0;
	strbuf scratch;
	ll_ctx c;

	sb_init(&scratch);
	ll_init(&c, 2025, 0);
	for (k = 0; k < 100000; k++) {
		size_t n = sizeof(pre) - 1, len, i;
		const char *h, *q, *lb = NULL, *rb = NULL, *pe = NULL, *end;
		char *line;
		logline ll;
		rg_event ev;

#define RND() (seed = seed * 1103515245 + 12345, (seed >> 8))
		memcpy(tmp, pre, n);
		len = k < 20000 ? (size_t)(k % 70) : RND() % 200;
		for (i = 0; i < len; i++) {
			unsigned r = RND();

			tmp[n++] = r % 8 == 0 ? (char)(r >> 8)
			    : r % 8 < 3 ? alpha[(r >> 4) % 16]
			    : "mail.example.org"[(r >> 4) % 16];
		}
#undef RND
		line = malloc(n);
		memcpy(line, tmp, n);
		memset(&ev, 0, sizeof(ev));
		if (ll_parse(&c, line, n, &ll) != 0) {
			bad++;
			free(line);
			continue;
		}
		pf_parse(&ll, pf_classify(&ll), &ev, &scratch);
		/* the reference: host up to '[' (not ' ', ',', ';'), ']', port */
		end = line + n;
		h = ll.msg + strlen("connect from ");
		for (q = h; q < end && *q != '[' && *q != ' ' && *q != ','
		    && *q != ';'; q++)
			;
		if (q < end && *q == '[') {
			lb = q;
			rb = memchr(lb, ']', (size_t)(end - lb));
		}
		if (rb != NULL && rb + 2 < end && rb[1] == ':' && rb[2] >= '0'
		    && rb[2] <= '9')
			for (pe = rb + 2; pe < end && *pe >= '0' && *pe <= '9';
			    pe++)
				;
		if (rb == NULL ? ev.client_host.p != NULL
		    : ev.client_host.p != h
		    || ev.client_host.n != (size_t)(lb - h)
		    || ev.client_ip.p != lb + 1
		    || ev.client_ip.n != (size_t)(rb - lb - 1)
		    || (pe == NULL ? ev.client_port.p != NULL
		    : ev.client_port.p != rb + 2
		    || ev.client_port.n != (size_t)(pe - rb - 2))) {
			printf("client: '%.*s'\n", (int)n, line);
			bad++;
		}
		free(line);
	}
	sb_free(&scratch);
	return bad;
}

int
main(void)
{
	FILE *fp = fopen("pfline_cases.txt", "r");
	char line[8192], logl[8192] = "", name[128];
	int lineno = 0, caseline = 0, ncases = 0, bad = 0;
	strbuf scratch;
	ll_ctx c;
	logline ll;
	rg_event ev;
	enum ev_prog prog = PROG_OTHER;

	if (fp == NULL) {
		printf("FAIL: pfline: cannot open pfline_cases.txt\n");
		return 1;
	}
	sb_init(&scratch);
	ll_init(&c, 2025, 0);
	while (fgets(line, sizeof(line), fp) != NULL) {
		size_t n = strlen(line);

		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (line[0] == '#')
			continue;
		if (strncmp(line, "L ", 2) == 0) {
			snprintf(logl, sizeof(logl), "%s", line + 2);
			caseline = lineno;
			ncases++;
			memset(&ev, 0, sizeof(ev));
			ev.kind = EV_UNKNOWN;
			sb_reset(&scratch);
			if (ll_parse(&c, logl, strlen(logl), &ll) == 0) {
				prog = pf_classify(&ll);
				pf_parse(&ll, prog, &ev, &scratch);
			} else {
				prog = PROG_OTHER;
				ev.kind = EV_UNKNOWN;
			}
			continue;
		}
		if (strncmp(line, "E ", 2) == 0) {
			char *f = line + 2, *v = strchr(f, ' ');
			const rg_slice *s;
			char gotbuf[8192];

			if (v == NULL) {
				printf("FAIL: pfline_cases.txt:%d: malformed E line\n", lineno);
				bad++;
				continue;
			}
			*v++ = '\0';
			if (strcmp(f, "kind") == 0) {
				snprintf(gotbuf, sizeof(gotbuf), "%s", ev_kind_name(ev.kind));
			} else if (strcmp(f, "prog") == 0) {
				snprintf(gotbuf, sizeof(gotbuf), "%s", ev_prog_name(prog));
			} else if (strcmp(f, "spam") == 0) {
				snprintf(gotbuf, sizeof(gotbuf), "%d", ev.spam);
			} else if (strcmp(f, "ambiguous") == 0) {
				snprintf(gotbuf, sizeof(gotbuf), "%d",
				    ev.ambiguous);
			} else if ((s = field(&ev, f)) != NULL) {
				if (s->p == NULL)
					snprintf(gotbuf, sizeof(gotbuf), "-");
				else
					snprintf(gotbuf, sizeof(gotbuf), "%.*s", (int)s->n, s->p);
			} else {
				printf("FAIL: pfline_cases.txt:%d: unknown field %s\n", lineno, f);
				bad++;
				continue;
			}
			if (strcmp(gotbuf, v) != 0) {
				printf("FAIL: pfline_cases.txt:%d: %s: got '%.200s', want '%.200s' (line %d)\n",
				    lineno, f, gotbuf, v, caseline);
				bad++;
			}
		}
	}
	fclose(fp);
	sb_free(&scratch);
	snprintf(name, sizeof(name), "pfline: %d cases of pfline_cases.txt", ncases);
	if (bad == 0)
		printf("PASS: %s\n", name);
	if (qid_case() != 0) {
		printf("FAIL: pfline: queue IDs as a byte-at-a-time test takes "
		    "them\n");
		bad++;
	} else {
		printf("PASS: pfline: queue IDs as a byte-at-a-time test takes "
		    "them\n");
	}
	if (client_case() != 0) {
		printf("FAIL: pfline: clients as a byte-at-a-time split finds "
		    "them\n");
		bad++;
	} else {
		printf("PASS: pfline: clients as a byte-at-a-time split finds "
		    "them\n");
	}
	if (addr_case() != 0) {
		printf("FAIL: pfline: addresses as a byte-at-a-time scan ends "
		    "them\n");
		bad++;
	} else {
		printf("PASS: pfline: addresses as a byte-at-a-time scan ends "
		    "them\n");
	}
	return bad ? 1 : 0;
}
