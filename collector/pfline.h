/*
 * pfline.h - the message stage of the parser: what one Postfix (or
 * content-filter) log message says, as an rg_event.
 *
 * pf_classify() tells from the program name whether a line is a mail
 * program's at all (most lines of a busy syslog are not: they are skipped
 * after this one cheap look). pf_parse() then recognises the message.
 * Nothing is allocated per line: slices point into the line, and the few
 * values that must be rebuilt (rspamd symbol lists) go to the caller's
 * scratch buffer, valid until the next call.
 */
#ifndef RG_PFLINE_H
#define RG_PFLINE_H

#include "../common/strbuf.h"
#include "event.h"
#include "logline.h"

enum ev_prog pf_classify(const logline *ll);
void pf_parse(const logline *ll, enum ev_prog prog, rg_event *ev,
    strbuf *scratch);

#endif
