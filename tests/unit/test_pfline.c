/*
 * test_pfline.c - the message parser against tests/unit/pfline_cases.txt,
 * sshguard style: a log line ("L "), then what it must parse to ("E field
 * value", "E field -" for a field that must be unset). Blank lines separate
 * cases; "#" lines are comments.
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
	return bad ? 1 : 0;
}
