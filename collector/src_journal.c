/*
 * src_journal.c - placeholder until the sd-journal reader lands: a journal
 * source cannot be opened yet, and says so.
 */
#include <stdio.h>

#include "src_journal.h"

src_journal *
src_journal_open(const rg_source_cfg *sc, const src_pos *saved, char *err,
    size_t errsz)
{
	(void)saved;
	snprintf(err, errsz, "[source %s] type = journal is not supported yet",
	    sc->name);
	return NULL;
}

int
src_journal_next(src_journal *j, const char **line, size_t *len)
{
	(void)j; (void)line; (void)len;
	return -1;
}

void
src_journal_position(const src_journal *j, src_pos *out)
{
	(void)j; (void)out;
}

const char *
src_journal_error(const src_journal *j)
{
	(void)j;
	return "journal sources are not supported yet";
}

void
src_journal_set_loss_fn(src_journal *j, src_loss_fn fn, void *arg,
    const char *name)
{
	(void)j; (void)fn; (void)arg; (void)name;
}

void
src_journal_close(src_journal *j)
{
	(void)j;
}
