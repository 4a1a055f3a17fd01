/*
 * parser.c - glue of the parsing pipeline and its counters. Owns the
 * assembler and the scratch buffer. Never fails on input: what it cannot
 * read is counted.
 */
#include <stdlib.h>

#include "../common/strbuf.h"
#include "../common/xalloc.h"
#include "parser.h"
#include "pfline.h"

struct rg_parser {
	assembler *as;
	strbuf scratch;
	prs_stats st;
};

/* prs_new - a pipeline that hands records to cb */
rg_parser *
prs_new(const asm_options *opt, const asm_callbacks *cb)
{
	rg_parser *p = xcalloc(1, sizeof(*p));

	p->as = asm_new(opt, cb);
	sb_init(&p->scratch);
	return p;
}

/* prs_line - one line whose syslog header is already split */
void
prs_line(rg_parser *p, const logline *ll)
{
	rg_event ev;

	if (prs_front(&p->st, ll, &ev, &p->scratch))
		asm_event(p->as, ll, &ev);
}

/*
 * prs_front - the front half of prs_line: classify and parse a line into
 * ev (decoded text goes to scratch, which is emptied first), count it in
 * st; 1 if ev is for the assembler (prs_event). Touches no parser state,
 * so that it can run in another thread than the assembler.
 */
int
prs_front(prs_stats *st, const logline *ll, rg_event *ev, strbuf *scratch)
{
	enum ev_prog prog;

	st->lines++;
	prog = pf_classify(ll);
	if (prog == PROG_OTHER) {
		st->other++;
		return 0;
	}
	sb_reset(scratch);
	pf_parse(ll, prog, ev, scratch);
	st->kinds[prog][ev->kind]++;
	if (ev->ambiguous & EV_AMB_VERDICT)
		st->verdict_ambiguous++;
	if (ev->ambiguous & EV_AMB_ENVELOPE)
		st->envelope_ambiguous++;
	return ev->kind > EV_WARNING;
}

/* prs_event - the back half of prs_line: an event to the assembler */
void
prs_event(rg_parser *p, const logline *ll, const rg_event *ev)
{
	asm_event(p->as, ll, ev);
}

/* prs_count_malformed - count in st a line with no syslog header we know */
void
prs_count_malformed(prs_stats *st)
{
	st->lines++;
	st->malformed++;
}

/* prs_add_stats - add counters kept elsewhere (prs_front's) */
void
prs_add_stats(rg_parser *p, const prs_stats *st)
{
	int i, k;

	p->st.lines += st->lines;
	p->st.malformed += st->malformed;
	p->st.other += st->other;
	p->st.truncated += st->truncated;
	for (i = 0; i < PROG__COUNT; i++)
		for (k = 0; k < EV__COUNT; k++)
			p->st.kinds[i][k] += st->kinds[i][k];
	p->st.verdict_ambiguous += st->verdict_ambiguous;
	p->st.envelope_ambiguous += st->envelope_ambiguous;
}

/* prs_malformed - count a line that has no syslog header we know */
void
prs_malformed(rg_parser *p)
{
	prs_count_malformed(&p->st);
}

/* prs_raw_line - split and process one raw line */
void
prs_raw_line(rg_parser *p, ll_ctx *ctx, const char *line, size_t len)
{
	logline ll;

	if (ll_parse(ctx, line, len, &ll) != 0)
		prs_malformed(p);
	else
		prs_line(p, &ll);
}

/* prs_finish - hand out what is still open */
void
prs_finish(rg_parser *p)
{
	asm_finish(p->as);
}

/*
 * prs_finish_count - as prs_finish, the messages still open only counted:
 * how many (asm_finish_count)
 */
size_t
prs_finish_count(rg_parser *p)
{
	return asm_finish_count(p->as);
}

/* prs_get_stats - the counters */
const prs_stats *
prs_get_stats(const rg_parser *p)
{
	return &p->st;
}

/* prs_add_truncated - count lines the reader cut */
void
prs_add_truncated(rg_parser *p, uint64_t n)
{
	p->st.truncated += n;
}

/* prs_print_stats - the counters, for --stats */
void
prs_print_stats(const rg_parser *p, FILE *out)
{
	const prs_stats *st = &p->st;
	uint64_t known = 0, unknown = 0;
	int i, k;

	fprintf(out, "lines %llu\n", (unsigned long long)st->lines);
	fprintf(out, "  not a log line (skipped) %llu\n",
	    (unsigned long long)st->malformed);
	fprintf(out, "  other programs (skipped) %llu\n",
	    (unsigned long long)st->other);
	fprintf(out, "  cut at the maximum length %llu\n",
	    (unsigned long long)st->truncated);
	for (i = 1; i < PROG__COUNT; i++) {
		for (k = 0; k < EV__COUNT; k++) {
			if (st->kinds[i][k] == 0)
				continue;
			fprintf(out, "  %-9s %-18s %llu%s\n", ev_prog_name(i),
			    ev_kind_name(k), (unsigned long long)st->kinds[i][k],
			    k == EV_UNKNOWN ? "  (not recognised)" : "");
			if (k == EV_UNKNOWN)
				unknown += st->kinds[i][k];
			else
				known += st->kinds[i][k];
		}
	}
	/* attacker text that made a line impossible to read without doubt */
	fprintf(out, "  verdict_ambiguous %llu  (verdict lines with differing "
	    "verdicts or queue IDs in them: no verdict)\n",
	    (unsigned long long)st->verdict_ambiguous);
	fprintf(out, "  envelope_ambiguous %llu  (lines with several possible "
	    "envelopes: no sender or recipient taken)\n",
	    (unsigned long long)st->envelope_ambiguous);
	fprintf(out, "mail lines recognised %llu, not recognised %llu\n",
	    (unsigned long long)known, (unsigned long long)unknown);
	fprintf(out, "open messages %zu, open sessions %zu\n",
	    asm_open_messages(p->as), asm_open_sessions(p->as));
}

/* prs_assembler - the assembler (for checkpoints and restores) */
assembler *
prs_assembler(rg_parser *p)
{
	return p->as;
}

/* prs_open_messages - messages open now */
size_t
prs_open_messages(const rg_parser *p)
{
	return asm_open_messages(p->as);
}

/* prs_free - release the pipeline; NULL is a no-op */
void
prs_free(rg_parser *p)
{
	if (p == NULL)
		return;
	asm_free(p->as);
	sb_free(&p->scratch);
	free(p);
}
