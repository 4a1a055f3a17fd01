/*
 * src_journal.h - the systemd journal as a source of log lines.
 *
 * Entries are turned into lines in the RFC 3339 syslog form the parser
 * knows ("2026-11-28T16:07:24.123456Z HOST IDENT[PID]: MESSAGE", UTC from
 * __REALTIME_TIMESTAMP), so they go through the same pipeline as files.
 * HOST is _HOSTNAME ("localhost" if none), IDENT SYSLOG_IDENTIFIER (else
 * _COMM), PID _PID (else SYSLOG_PID); newlines in MESSAGE become spaces,
 * other control characters '?'. An entry without MESSAGE is skipped.
 *
 * `directory` opens the journal files there (and in its machine-ID
 * subdirectories); empty, the local system journal. The `match` items are
 * ORed; with any, journald's own suppression notices are matched too.
 *
 * The position is the journal cursor of the last entry handed out: a
 * restart from it goes on with the entry after it (the saved entry is
 * skipped if it is still there; if it was vacuumed, the next one is read).
 * journald's "Suppressed N messages from UNIT" notices (about a unit of a
 * _SYSTEMD_UNIT match, or any unit without one) are not lines: they are
 * reported through the loss callback from src_journal_position(), the call
 * whose position covers them, so the caller commits each notice once, in
 * the same transaction as that position.
 *
 * src_journal_next() returns 1 and a line (owned by the reader, valid until
 * the next call), 0 when there is nothing more now (never waits), -1 on
 * error (src_journal_error()). Lines are cut at max_line bytes (default
 * 16384; src_journal_set_max_line()).
 *
 * Built with libsystemd (sd-journal); without it (RG_NO_JOURNAL), opening a
 * journal source fails with a clear message.
 */
#ifndef RG_SRC_JOURNAL_H
#define RG_SRC_JOURNAL_H

#include "source.h"

typedef struct src_journal src_journal;

src_journal *src_journal_open(const rg_source_cfg *sc, const src_pos *saved,
    char *err, size_t errsz);
void src_journal_set_max_line(src_journal *j, size_t max_line);
int src_journal_next(src_journal *j, const char **line, size_t *len);
/* reports the notices the position covers: not const */
void src_journal_position(src_journal *j, src_pos *out);
const char *src_journal_error(const src_journal *j);
void src_journal_set_loss_fn(src_journal *j, src_loss_fn fn, void *arg,
    const char *name);
void src_journal_close(src_journal *j);

#endif
