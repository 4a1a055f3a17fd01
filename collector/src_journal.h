/*
 * src_journal.h - the systemd journal as a source of log lines.
 *
 * Entries are turned into lines in the RFC 3339 syslog form the parser
 * knows ("2026-11-28T16:07:24.123456Z HOST IDENT[PID]: MESSAGE", UTC from
 * __REALTIME_TIMESTAMP), so they go through the same pipeline as files.
 * The position is the journal cursor of the last entry handed out.
 * journald's "Suppressed N messages from ..." notices are reported through
 * the loss callback. Built with libsystemd (sd-journal); without it
 * (RG_NO_JOURNAL), opening a journal source fails with a clear message.
 */
#ifndef RG_SRC_JOURNAL_H
#define RG_SRC_JOURNAL_H

#include "source.h"

typedef struct src_journal src_journal;

src_journal *src_journal_open(const rg_source_cfg *sc, const src_pos *saved,
    char *err, size_t errsz);
int src_journal_next(src_journal *j, const char **line, size_t *len);
void src_journal_position(const src_journal *j, src_pos *out);
const char *src_journal_error(const src_journal *j);
void src_journal_set_loss_fn(src_journal *j, src_loss_fn fn, void *arg,
    const char *name);
void src_journal_close(src_journal *j);

#endif
