/*
 * parser.h - the whole line-to-record pipeline for one stream of lines:
 * logline (syslog header) -> pfline (what the message says) -> assembler
 * (records). Counts every line by program and kind for --stats.
 *
 * The caller feeds lines already split by ll_parse() (so that it can merge
 * several inputs by time) or raw lines with prs_raw_line(). prs_line() is
 * prs_front() (classify, parse, count: no parser state) then prs_event()
 * (the assembler), so that the two can run in different threads.
 */
#ifndef RG_PARSER_H
#define RG_PARSER_H

#include <stdint.h>
#include <stdio.h>

#include "../common/strbuf.h"
#include "assemble.h"
#include "event.h"
#include "logline.h"

typedef struct prs_stats {
	uint64_t lines;
	uint64_t malformed;	/* no syslog header we know */
	uint64_t other;		/* other programs' lines, skipped */
	uint64_t truncated;	/* cut at the maximum line length */
	uint64_t kinds[PROG__COUNT][EV__COUNT];
	uint64_t verdict_ambiguous;	/* verdict lines read as no verdict */
	uint64_t envelope_ambiguous;	/* tails whose envelope was not taken */
} prs_stats;

typedef struct rg_parser rg_parser;

rg_parser *prs_new(const asm_options *opt, const asm_callbacks *cb);
void prs_line(rg_parser *p, const logline *ll);
void prs_malformed(rg_parser *p);
/* prs_line in two halves, for a front end in its own thread (pipeline.c) */
int prs_front(prs_stats *st, const logline *ll, rg_event *ev,
    strbuf *scratch);
void prs_event(rg_parser *p, const logline *ll, const rg_event *ev);
void prs_count_malformed(prs_stats *st);
void prs_add_stats(rg_parser *p, const prs_stats *st);
void prs_raw_line(rg_parser *p, ll_ctx *ctx, const char *line, size_t len);
void prs_finish(rg_parser *p);
size_t prs_finish_count(rg_parser *p);
const prs_stats *prs_get_stats(const rg_parser *p);
void prs_add_truncated(rg_parser *p, uint64_t n);
void prs_print_stats(const rg_parser *p, FILE *out);
assembler *prs_assembler(rg_parser *p);
size_t prs_open_messages(const rg_parser *p);
void prs_free(rg_parser *p);

#endif
