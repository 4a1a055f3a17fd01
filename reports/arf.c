/*
 * arf.c - ARF abuse reports (RFC 5965) of spam refused or held (next step)
 */
#include "mailq.h"

/* rep_arf - queue the reports of newly stored spam */
int
rep_arf(sqlite3 *db, rep_queue_ctx *q, long long now, char *err, size_t errsz)
{
	return 0;
}
