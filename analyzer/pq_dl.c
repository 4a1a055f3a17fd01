/*
 * pq_dl.c - libpq, loaded when a pgsql: lock backend first connects
 * instead of at every start. Linked, libpq brings 24 more shared libraries
 * (Kerberos, LDAP, GnuTLS, SASL, ...) whose loading and relocation cost
 * every run of relayguard about 20 ms of CPU (`parse` of 10^6 lines, the
 * per-minute `analyze`), when most runs never speak to PostgreSQL.
 *
 * Each PQ function relayguard calls is defined here with libpq's own
 * prototype (<libpq-fe.h>, so a mismatch does not compile) and forwards to
 * the library's, found with dlsym on first use (common/dynlib.h). A new
 * call elsewhere needs its line here (the link fails without it). Without
 * libpq.so.5 a connect returns NULL (map_pgsql.c says it failed) after a
 * warning with the loader's reason; nothing else can be reached without a
 * connection.
 */
#include <libpq-fe.h>

#include "../common/dynlib.h"

#ifndef RG_PQ_SONAME
#define RG_PQ_SONAME "libpq.so.5"
#endif

static rg_dynlib pq = RG_DYNLIB(RG_PQ_SONAME, "pgsql");

/* PQconnectdbParams - NULL without libpq */
PGconn *
PQconnectdbParams(const char *const *keywords, const char *const *values,
    int expand_dbname)
{
	RG_DL_FN(&pq, PQconnectdbParams, f)
		return NULL;
	return f(keywords, values, expand_dbname);
}

/* PQconnectdb - NULL without libpq */
PGconn *
PQconnectdb(const char *conninfo)
{
	RG_DL_FN(&pq, PQconnectdb, f)
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
		RG_DL_FN(&pq, PQstatus, f)
			return CONNECTION_BAD;
		return f(conn);
	}
}

/* PQerrorMessage - libpq's, or the reason it is missing */
char *
PQerrorMessage(const PGconn *conn)
{
	RG_DL_FN(&pq, PQerrorMessage, f)
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
		RG_DL_FN(&pq, PQfinish, f)
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
		RG_DL_FN(&pq, PQclear, f)
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
		RG_DL_FN(&pq, PQfreemem, f)
			return;
		f(ptr);
	}
}

/* PQexec - forwarded (a connection means libpq is loaded) */
PGresult *
PQexec(PGconn *conn, const char *query)
{
	RG_DL_FN(&pq, PQexec, f)
		return NULL;
	return f(conn, query);
}

/* PQexecParams - forwarded */
PGresult *
PQexecParams(PGconn *conn, const char *command, int nParams,
    const Oid *paramTypes, const char *const *paramValues,
    const int *paramLengths, const int *paramFormats, int resultFormat)
{
	RG_DL_FN(&pq, PQexecParams, f)
		return NULL;
	return f(conn, command, nParams, paramTypes, paramValues,
	    paramLengths, paramFormats, resultFormat);
}

/* PQresultStatus - forwarded; a missing result is a fatal error */
ExecStatusType
PQresultStatus(const PGresult *res)
{
	RG_DL_FN(&pq, PQresultStatus, f)
		return PGRES_FATAL_ERROR;
	return f(res);
}

/* PQresultErrorMessage - forwarded */
char *
PQresultErrorMessage(const PGresult *res)
{
	RG_DL_FN(&pq, PQresultErrorMessage, f)
		return (char *)"libpq is not loaded";
	return f(res);
}

/* PQntuples - forwarded */
int
PQntuples(const PGresult *res)
{
	RG_DL_FN(&pq, PQntuples, f)
		return 0;
	return f(res);
}

/* PQnfields - forwarded */
int
PQnfields(const PGresult *res)
{
	RG_DL_FN(&pq, PQnfields, f)
		return 0;
	return f(res);
}

/* PQgetvalue - forwarded */
char *
PQgetvalue(const PGresult *res, int tup_num, int field_num)
{
	RG_DL_FN(&pq, PQgetvalue, f)
		return NULL;
	return f(res, tup_num, field_num);
}

/* PQgetlength - forwarded */
int
PQgetlength(const PGresult *res, int tup_num, int field_num)
{
	RG_DL_FN(&pq, PQgetlength, f)
		return 0;
	return f(res, tup_num, field_num);
}

/* PQgetisnull - forwarded */
int
PQgetisnull(const PGresult *res, int tup_num, int field_num)
{
	RG_DL_FN(&pq, PQgetisnull, f)
		return 1;
	return f(res, tup_num, field_num);
}

/* PQcmdTuples - forwarded */
char *
PQcmdTuples(PGresult *res)
{
	RG_DL_FN(&pq, PQcmdTuples, f)
		return (char *)"";
	return f(res);
}

/* PQescapeIdentifier - forwarded */
char *
PQescapeIdentifier(PGconn *conn, const char *str, size_t len)
{
	RG_DL_FN(&pq, PQescapeIdentifier, f)
		return NULL;
	return f(conn, str, len);
}

/* PQescapeLiteral - forwarded */
char *
PQescapeLiteral(PGconn *conn, const char *str, size_t len)
{
	RG_DL_FN(&pq, PQescapeLiteral, f)
		return NULL;
	return f(conn, str, len);
}

/* PQserverVersion - forwarded */
int
PQserverVersion(const PGconn *conn)
{
	RG_DL_FN(&pq, PQserverVersion, f)
		return 0;
	return f(conn);
}

/* PQsetNoticeProcessor - forwarded */
PQnoticeProcessor
PQsetNoticeProcessor(PGconn *conn, PQnoticeProcessor proc, void *arg)
{
	RG_DL_FN(&pq, PQsetNoticeProcessor, f)
		return NULL;
	return f(conn, proc, arg);
}

/* PQtransactionStatus - forwarded */
PGTransactionStatusType
PQtransactionStatus(const PGconn *conn)
{
	RG_DL_FN(&pq, PQtransactionStatus, f)
		return PQTRANS_UNKNOWN;
	return f(conn);
}

/* PQconnectStartParams - NULL without libpq (the policy service's connect) */
PGconn *
PQconnectStartParams(const char *const *keywords, const char *const *values,
    int expand_dbname)
{
	RG_DL_FN(&pq, PQconnectStartParams, f)
		return NULL;
	return f(keywords, values, expand_dbname);
}

/* PQconnectPoll - forwarded */
PostgresPollingStatusType
PQconnectPoll(PGconn *conn)
{
	RG_DL_FN(&pq, PQconnectPoll, f)
		return PGRES_POLLING_FAILED;
	return f(conn);
}

/* PQsetnonblocking - forwarded */
int
PQsetnonblocking(PGconn *conn, int arg)
{
	RG_DL_FN(&pq, PQsetnonblocking, f)
		return -1;
	return f(conn, arg);
}

/* PQsocket - forwarded */
int
PQsocket(const PGconn *conn)
{
	RG_DL_FN(&pq, PQsocket, f)
		return -1;
	return f(conn);
}

/* PQflush - forwarded */
int
PQflush(PGconn *conn)
{
	RG_DL_FN(&pq, PQflush, f)
		return -1;
	return f(conn);
}

/* PQconsumeInput - forwarded */
int
PQconsumeInput(PGconn *conn)
{
	RG_DL_FN(&pq, PQconsumeInput, f)
		return 0;
	return f(conn);
}

/* PQisBusy - forwarded */
int
PQisBusy(PGconn *conn)
{
	RG_DL_FN(&pq, PQisBusy, f)
		return 0;
	return f(conn);
}

/* PQgetResult - forwarded */
PGresult *
PQgetResult(PGconn *conn)
{
	RG_DL_FN(&pq, PQgetResult, f)
		return NULL;
	return f(conn);
}

/* PQsendPrepare - forwarded */
int
PQsendPrepare(PGconn *conn, const char *stmtName, const char *query,
    int nParams, const Oid *paramTypes)
{
	RG_DL_FN(&pq, PQsendPrepare, f)
		return 0;
	return f(conn, stmtName, query, nParams, paramTypes);
}

/* PQsendQueryPrepared - forwarded */
int
PQsendQueryPrepared(PGconn *conn, const char *stmtName, int nParams,
    const char *const *paramValues, const int *paramLengths,
    const int *paramFormats, int resultFormat)
{
	RG_DL_FN(&pq, PQsendQueryPrepared, f)
		return 0;
	return f(conn, stmtName, nParams, paramValues, paramLengths,
	    paramFormats, resultFormat);
}
