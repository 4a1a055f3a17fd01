/*
 * pq_dl.c - libpq, loaded when a pgsql: lock backend first connects
 * instead of at every start. Linked, libpq brings 24 more shared libraries
 * (Kerberos, LDAP, GnuTLS, SASL, ...) whose loading and relocation cost
 * every run of relayguard about 20 ms of CPU (`parse` of 10^6 lines, the
 * per-minute `analyze`), when most runs never speak to PostgreSQL.
 *
 * Each PQ function relayguard calls is defined here with libpq's own
 * prototype (<libpq-fe.h>, so a mismatch does not compile) and forwards to
 * the library's, found with dlsym on first use. A new call elsewhere needs
 * its line here (the link fails without it). Without libpq.so.5 a connect
 * returns NULL (map_pgsql.c says it failed) after a warning with the
 * loader's reason; nothing else can be reached without a connection.
 */
#include <dlfcn.h>
#include <stdlib.h>

#include <libpq-fe.h>

#include "../common/log.h"

#define PQ_LIB "libpq.so.5"

static void *pq_lib;
static int pq_failed;

/* pq_load - load libpq once; -1 (warned once) if it cannot be */
static int
pq_load(void)
{
	if (pq_lib != NULL)
		return 0;
	if (pq_failed)
		return -1;
	if ((pq_lib = dlopen(PQ_LIB, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		pq_failed = 1;
		log_warnx("pgsql: cannot load %s: %s", PQ_LIB, dlerror());
		return -1;
	}
	return 0;
}

/*
 * pq_sym - libpq's function name; NULL only when libpq is missing. A
 * library without a function of its own API is a broken install: stop.
 */
static void *
pq_sym(const char *name)
{
	void *f;

	if (pq_load() != 0)
		return NULL;
	if ((f = dlsym(pq_lib, name)) == NULL) {
		log_warnx("pgsql: %s has no %s: %s", PQ_LIB, name, dlerror());
		abort();
	}
	return f;
}

/*
 * PQ_FN - the forwarder's pointer p (of name's type), resolved once; the
 * statement after it runs when libpq is missing
 */
#define PQ_FN(name, p)							\
	static __typeof__(&name) p;					\
	if (p == NULL)							\
		p = (__typeof__(&name))pq_sym(#name);			\
	if (p == NULL)

/* PQconnectdbParams - NULL without libpq */
PGconn *
PQconnectdbParams(const char *const *keywords, const char *const *values,
    int expand_dbname)
{
	PQ_FN(PQconnectdbParams, f)
		return NULL;
	return f(keywords, values, expand_dbname);
}

/* PQconnectdb - NULL without libpq */
PGconn *
PQconnectdb(const char *conninfo)
{
	PQ_FN(PQconnectdb, f)
		return NULL;
	return f(conninfo);
}

/* PQstatus - CONNECTION_BAD for no connection */
ConnStatusType
PQstatus(const PGconn *conn)
{
	if (conn == NULL)
		return CONNECTION_BAD;
	{
		PQ_FN(PQstatus, f)
			return CONNECTION_BAD;
		return f(conn);
	}
}

/* PQerrorMessage - libpq's, or the reason it is missing */
char *
PQerrorMessage(const PGconn *conn)
{
	PQ_FN(PQerrorMessage, f)
		return (char *)"libpq is not loaded";
	return f(conn);
}

/* PQfinish - nothing for no connection */
void
PQfinish(PGconn *conn)
{
	if (conn == NULL)
		return;
	{
		PQ_FN(PQfinish, f)
			return;
		f(conn);
	}
}

/* PQclear - nothing for no result */
void
PQclear(PGresult *res)
{
	if (res == NULL)
		return;
	{
		PQ_FN(PQclear, f)
			return;
		f(res);
	}
}

/* PQfreemem - nothing for no pointer */
void
PQfreemem(void *ptr)
{
	if (ptr == NULL)
		return;
	{
		PQ_FN(PQfreemem, f)
			return;
		f(ptr);
	}
}

/* PQexec - forwarded (a connection means libpq is loaded) */
PGresult *
PQexec(PGconn *conn, const char *query)
{
	PQ_FN(PQexec, f)
		return NULL;
	return f(conn, query);
}

/* PQexecParams - forwarded */
PGresult *
PQexecParams(PGconn *conn, const char *command, int nParams,
    const Oid *paramTypes, const char *const *paramValues,
    const int *paramLengths, const int *paramFormats, int resultFormat)
{
	PQ_FN(PQexecParams, f)
		return NULL;
	return f(conn, command, nParams, paramTypes, paramValues,
	    paramLengths, paramFormats, resultFormat);
}

/* PQresultStatus - forwarded; a missing result is a fatal error */
ExecStatusType
PQresultStatus(const PGresult *res)
{
	PQ_FN(PQresultStatus, f)
		return PGRES_FATAL_ERROR;
	return f(res);
}

/* PQresultErrorMessage - forwarded */
char *
PQresultErrorMessage(const PGresult *res)
{
	PQ_FN(PQresultErrorMessage, f)
		return (char *)"libpq is not loaded";
	return f(res);
}

/* PQntuples - forwarded */
int
PQntuples(const PGresult *res)
{
	PQ_FN(PQntuples, f)
		return 0;
	return f(res);
}

/* PQnfields - forwarded */
int
PQnfields(const PGresult *res)
{
	PQ_FN(PQnfields, f)
		return 0;
	return f(res);
}

/* PQgetvalue - forwarded */
char *
PQgetvalue(const PGresult *res, int tup_num, int field_num)
{
	PQ_FN(PQgetvalue, f)
		return NULL;
	return f(res, tup_num, field_num);
}

/* PQgetlength - forwarded */
int
PQgetlength(const PGresult *res, int tup_num, int field_num)
{
	PQ_FN(PQgetlength, f)
		return 0;
	return f(res, tup_num, field_num);
}

/* PQgetisnull - forwarded */
int
PQgetisnull(const PGresult *res, int tup_num, int field_num)
{
	PQ_FN(PQgetisnull, f)
		return 1;
	return f(res, tup_num, field_num);
}

/* PQcmdTuples - forwarded */
char *
PQcmdTuples(PGresult *res)
{
	PQ_FN(PQcmdTuples, f)
		return (char *)"";
	return f(res);
}

/* PQescapeIdentifier - forwarded */
char *
PQescapeIdentifier(PGconn *conn, const char *str, size_t len)
{
	PQ_FN(PQescapeIdentifier, f)
		return NULL;
	return f(conn, str, len);
}

/* PQescapeLiteral - forwarded */
char *
PQescapeLiteral(PGconn *conn, const char *str, size_t len)
{
	PQ_FN(PQescapeLiteral, f)
		return NULL;
	return f(conn, str, len);
}

/* PQserverVersion - forwarded */
int
PQserverVersion(const PGconn *conn)
{
	PQ_FN(PQserverVersion, f)
		return 0;
	return f(conn);
}

/* PQsetNoticeProcessor - forwarded */
PQnoticeProcessor
PQsetNoticeProcessor(PGconn *conn, PQnoticeProcessor proc, void *arg)
{
	PQ_FN(PQsetNoticeProcessor, f)
		return NULL;
	return f(conn, proc, arg);
}

/* PQtransactionStatus - forwarded */
PGTransactionStatusType
PQtransactionStatus(const PGconn *conn)
{
	PQ_FN(PQtransactionStatus, f)
		return PQTRANS_UNKNOWN;
	return f(conn);
}

/* PQconnectStartParams - NULL without libpq (the policy service's connect) */
PGconn *
PQconnectStartParams(const char *const *keywords, const char *const *values,
    int expand_dbname)
{
	PQ_FN(PQconnectStartParams, f)
		return NULL;
	return f(keywords, values, expand_dbname);
}

/* PQconnectPoll - forwarded */
PostgresPollingStatusType
PQconnectPoll(PGconn *conn)
{
	PQ_FN(PQconnectPoll, f)
		return PGRES_POLLING_FAILED;
	return f(conn);
}

/* PQsetnonblocking - forwarded */
int
PQsetnonblocking(PGconn *conn, int arg)
{
	PQ_FN(PQsetnonblocking, f)
		return -1;
	return f(conn, arg);
}

/* PQsocket - forwarded */
int
PQsocket(const PGconn *conn)
{
	PQ_FN(PQsocket, f)
		return -1;
	return f(conn);
}

/* PQflush - forwarded */
int
PQflush(PGconn *conn)
{
	PQ_FN(PQflush, f)
		return -1;
	return f(conn);
}

/* PQconsumeInput - forwarded */
int
PQconsumeInput(PGconn *conn)
{
	PQ_FN(PQconsumeInput, f)
		return 0;
	return f(conn);
}

/* PQisBusy - forwarded */
int
PQisBusy(PGconn *conn)
{
	PQ_FN(PQisBusy, f)
		return 0;
	return f(conn);
}

/* PQgetResult - forwarded */
PGresult *
PQgetResult(PGconn *conn)
{
	PQ_FN(PQgetResult, f)
		return NULL;
	return f(conn);
}

/* PQsendPrepare - forwarded */
int
PQsendPrepare(PGconn *conn, const char *stmtName, const char *query,
    int nParams, const Oid *paramTypes)
{
	PQ_FN(PQsendPrepare, f)
		return 0;
	return f(conn, stmtName, query, nParams, paramTypes);
}

/* PQsendQueryPrepared - forwarded */
int
PQsendQueryPrepared(PGconn *conn, const char *stmtName, int nParams,
    const char *const *paramValues, const int *paramLengths,
    const int *paramFormats, int resultFormat)
{
	PQ_FN(PQsendQueryPrepared, f)
		return 0;
	return f(conn, stmtName, nParams, paramValues, paramLengths,
	    paramFormats, resultFormat);
}
