/*
 * pgpolicy.c - the policy service of map_backend = pgsql (pgpolicy.h):
 * reads Postfix's policy requests, answers them from the lock state in
 * PostgreSQL with one prepared statement per request, and fails open or
 * closed ([pgsql] on_failure) when PostgreSQL cannot answer in time. It
 * owns one libpq connection and its outage state; every request value is
 * attacker-controlled and is only ever a bound parameter.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "../common/casefold.h"
#include "../common/log.h"
#include "../common/xalloc.h"
#include "map_pgsql.h"
#include "pgpolicy.h"

#define PGP_KEYS	8	/* address keys of one lookup */
#define PGP_RETRY_MS	1000	/* a new connection at most this often */

struct pgp {
	const rg_config *cfg;
	PGconn *conn;
	char delim[16];		/* Postfix's recipient_delimiter */
	int utf8;		/* smtputf8_enable: fold keys as Unicode */
	int closed;		/* on_failure = closed */
	long long tmo_ms;	/* [pgsql] query_timeout */
	long long last_try;	/* when a connection was last tried (ms) */
	long long down_since;	/* 0, or when the outage began (ms) */
	unsigned long failed;	/* requests answered on_failure's way */
};

static const char *const attr_names[PGP_NATTR] = { "request",
    "protocol_state", "client_address", "sasl_username", "sender",
    "recipient", "instance" };

/*
 * the one statement of a request: $1 login, $2 client address (a whole
 * IPv4 or IPv6 address, checked here: a cast error would fail the
 * request), $3 the recipient's keys, $4 the sender's keys, $5
 * sender_bcc's keys (text[]); a network as rg_cidr_lookup() finds it, the
 * most specific first, without its per-call plpgsql exception block
 */
static const char pgp_sql[] =
    "WITH s AS (SELECT value FROM rg_map WHERE map = 'sasl_access' "
    "AND key = $1), c AS (SELECT value FROM rg_map_cidr WHERE map = "
    "'client_access' AND net >>= $2::inet ORDER BY masklen(net) DESC "
    "LIMIT 1), ks AS (SELECT key, i FROM unnest($4::text[]) WITH "
    "ORDINALITY AS k(key, i)) SELECT "
    "(SELECT value FROM rg_map WHERE map = 'archive_sasl' AND key = $1), "
    "(SELECT value FROM rg_map_cidr WHERE map = 'archive_client' AND "
    "net >>= $2::inet ORDER BY masklen(net) DESC LIMIT 1), "
    "(SELECT m.value FROM unnest($3::text[]) WITH ORDINALITY AS k(key, i) "
    "JOIN rg_map m ON m.map = 'admin_access' AND m.key = k.key "
    "ORDER BY k.i LIMIT 1), "
    "(SELECT value FROM s), (SELECT value FROM c), "
    "(SELECT m.value FROM ks JOIN rg_map m ON m.map = 'sender_access' "
    "AND m.key = ks.key ORDER BY ks.i LIMIT 1), "
    "(SELECT m.value FROM unnest($5::text[]) WITH ORDINALITY AS k(key, i) "
    "JOIN rg_map m ON m.map = 'sender_bcc' AND m.key = k.key "
    "ORDER BY k.i LIMIT 1), "
    "(SELECT m.value FROM ks JOIN rg_map m ON m.key = ks.key AND m.map = "
    "'rg_senders_' || substring((SELECT value FROM s) FROM "
    "'^rg_c([0-9]+)$') ORDER BY ks.i LIMIT 1), "
    "(SELECT m.value FROM ks JOIN rg_map m ON m.key = ks.key AND m.map = "
    "'rg_senders_' || substring((SELECT value FROM c) FROM "
    "'^rg_c([0-9]+)$') ORDER BY ks.i LIMIT 1)";
enum { C_ARCH_SASL, C_ARCH_CLIENT, C_ADMIN, C_SASL, C_CLIENT, C_SENDER,
    C_BCC, C_SCLASS, C_CCLASS, C_N };

/* now_ms - the monotonic clock in milliseconds */
static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* pgp_usable - bounded, no control bytes, valid UTF-8 (pgpolicy.h) */
int
pgp_usable(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + len;
	int n, i;

	if (len > PGP_KEY_MAX)
		return 0;
	while (p < e) {
		if (*p < 0x20 || *p == 0x7f)
			return 0;
		if (*p < 0x80) {
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf)
			n = 1;
		else if (*p >= 0xe0 && *p <= 0xef)
			n = 2;
		else if (*p >= 0xf0 && *p <= 0xf4)
			n = 3;
		else
			return 0;
		if (e - p <= n)
			return 0;
		for (i = 1; i <= n; i++)
			if ((p[i] & 0xc0) != 0x80)
				return 0;
		/* overlong, surrogates, past U+10FFFF */
		if ((*p == 0xe0 && p[1] < 0xa0) || (*p == 0xed && p[1] > 0x9f)
		    || (*p == 0xf0 && p[1] < 0x90) || (*p == 0xf4 && p[1] > 0x8f))
			return 0;
		p += n + 1;
	}
	return 1;
}

/* req_line - take one "name=value" line (without its newline) */
static void
req_line(pgp_req *req, const char *line, size_t len, int toolong)
{
	const char *eq = memchr(line, '=', len);
	size_t nl;
	int i;

	req->lines++;
	if (eq == NULL || eq == line) {
		req->junk++;
		return;
	}
	nl = (size_t)(eq - line);
	for (i = 0; i < PGP_NATTR; i++)
		if (strlen(attr_names[i]) == nl && memcmp(line, attr_names[i],
		    nl) == 0)
			break;
	if (i == PGP_NATTR)
		return;		/* an attribute relayguard does not read */
	/* a repeated attribute: the last one, as Postfix's own servers */
	free(req->v[i]);
	req->v[i] = NULL;
	req->bad[i] = 0;
	if (toolong || !pgp_usable(eq + 1, len - nl - 1)) {
		req->bad[i] = 1;
		req->v[i] = xstrdup("");
		return;
	}
	req->v[i] = xstrndup(eq + 1, len - nl - 1);
}

/* pgp_read - one request from in (pgpolicy.h) */
int
pgp_read(pgp_in *in, pgp_req *req)
{
	size_t i;
	ssize_t n;
	int toolong = 0, any = 0;

	memset(req, 0, sizeof(*req));
	for (;;) {
		char *nl = memchr(in->buf, '\n', in->len);

		if (nl == NULL && in->len >= PGP_LINE_MAX) {
			/* a line past the bound: its start names it, the rest
			 * is dropped up to its newline */
			if (!toolong && req->lines < PGP_LINES_MAX)
				req_line(req, in->buf, in->len, 1);
			toolong = 1;
			any = 1;
			in->len = 0;
			continue;
		}
		if (nl != NULL) {
			size_t len = (size_t)(nl - in->buf);

			if (len > 0 && in->buf[len - 1] == '\r')
				len--;
			if (toolong) {
				toolong = 0;
			} else if (len == 0) {
				if (any) {
					i = (size_t)(nl - in->buf) + 1;
					memmove(in->buf, in->buf + i, in->len - i);
					in->len -= i;
					return 1;
				}
				/* empty lines before a request: nothing */
			} else {
				any = 1;
				if (req->lines < PGP_LINES_MAX)
					req_line(req, in->buf, len, 0);
				else
					req->junk++;
			}
			i = (size_t)(nl - in->buf) + 1;
			memmove(in->buf, in->buf + i, in->len - i);
			in->len -= i;
			continue;
		}
		if (in->eof) {
			pgp_req_free(req);	/* cut short: not answered */
			return 0;
		}
		n = read(in->fd, in->buf + in->len, PGP_LINE_MAX - in->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			pgp_req_free(req);
			return -1;
		}
		if (n == 0)
			in->eof = 1;
		in->len += (size_t)n;
	}
}

/* pgp_req_free - release a request's values */
void
pgp_req_free(pgp_req *req)
{
	int i;

	for (i = 0; i < PGP_NATTR; i++)
		free(req->v[i]);
	memset(req, 0, sizeof(*req));
}

/* add_key - a folded copy of s (n bytes) as the next key, if room */
static void
add_key(char **keys, int *n, int max, const char *s, size_t len, int utf8)
{
	char *raw, *f;
	int i;

	if (*n >= max)
		return;
	raw = xstrndup(s, len);
	f = rg_casefold(raw, utf8);
	free(raw);
	if (f == NULL)
		return;
	for (i = 0; i < *n; i++)
		if (strcmp(keys[i], f) == 0) {
			free(f);
			return;
		}
	keys[(*n)++] = f;
}

/*
 * pgp_mail_keys - the keys access(5) looks up for an address, in order:
 * user+ext@domain, user@domain, domain, user+ext@, user@ (pgpolicy.h)
 */
int
pgp_mail_keys(const char *addr, const char *delim, int utf8, char **keys,
    int max)
{
	const char *at = strrchr(addr, '@');
	size_t ll, el;
	int n = 0;

	if (*addr == '\0')
		return 0;
	if (at == NULL) {
		add_key(keys, &n, max, addr, strlen(addr), utf8);
		return n;
	}
	ll = (size_t)(at - addr);
	/* the extension: from the first delimiter of the local part */
	el = ll;
	if (delim != NULL && *delim != '\0') {
		size_t d = strcspn(addr, delim);

		if (d > 0 && d < ll)
			el = d;
	}
	add_key(keys, &n, max, addr, strlen(addr), utf8);
	if (el < ll) {
		char *t = xcalloc(1, strlen(addr) + 1);

		memcpy(t, addr, el);
		strcpy(t + el, at);
		add_key(keys, &n, max, t, strlen(t), utf8);
		free(t);
	}
	if (at[1] != '\0')
		add_key(keys, &n, max, at + 1, strlen(at + 1), utf8);
	if (ll > 0) {
		add_key(keys, &n, max, addr, ll + 1, utf8);
		if (el < ll) {
			char *t = xcalloc(1, el + 2);

			memcpy(t, addr, el);
			t[el] = '@';
			add_key(keys, &n, max, t, el + 1, utf8);
			free(t);
		}
	}
	return n;
}

/* bcc_keys - sender_bcc_maps' keys: user+ext@domain, user@domain, @domain */
static int
bcc_keys(const char *addr, const char *delim, int utf8, char **keys, int max)
{
	const char *at = strrchr(addr, '@');
	char *k[PGP_KEYS];
	int n, m = 0, i;

	if (*addr == '\0' || at == NULL)
		return 0;
	n = pgp_mail_keys(addr, delim, utf8, k, PGP_KEYS);
	/* the full keys (with '@' not at the end, not the domain alone) */
	for (i = 0; i < n; i++) {
		size_t l = strlen(k[i]);

		if (m < max && strchr(k[i], '@') != NULL && k[i][l - 1] != '@')
			keys[m++] = k[i];
		else
			free(k[i]);
	}
	add_key(keys, &m, max, at, strlen(at), utf8);
	return m;
}

/* pg_wait - wait for libpq's socket until the deadline: 0, or -1 */
static int
pg_wait(PGconn *c, int write, long long deadline)
{
	struct pollfd pfd;
	long long left;
	int r;

	for (;;) {
		if ((left = deadline - now_ms()) <= 0)
			return -1;
		pfd.fd = PQsocket(c);
		pfd.events = write ? POLLOUT : POLLIN;
		pfd.revents = 0;
		if (pfd.fd < 0)
			return -1;
		r = poll(&pfd, 1, (int)left);
		if (r > 0)
			return 0;
		if (r == 0)
			return -1;
		if (errno != EINTR)
			return -1;
	}
}

/* pg_result - the result of the command sent, by the deadline, or NULL */
static PGresult *
pg_result(PGconn *c, long long deadline, char *err, size_t errsz)
{
	PGresult *r, *first = NULL;
	int f;

	while ((f = PQflush(c)) == 1)
		if (pg_wait(c, 1, deadline) != 0)
			goto timeout;
	if (f < 0)
		goto fail;
	for (;;) {
		while (PQisBusy(c)) {
			if (pg_wait(c, 0, deadline) != 0)
				goto timeout;
			if (!PQconsumeInput(c))
				goto fail;
		}
		if ((r = PQgetResult(c)) == NULL)
			break;
		if (first == NULL)
			first = r;
		else
			PQclear(r);
	}
	if (first == NULL)
		goto fail;
	if (PQresultStatus(first) != PGRES_TUPLES_OK
	    && PQresultStatus(first) != PGRES_COMMAND_OK) {
		snprintf(err, errsz, "%s", PQresultErrorMessage(first));
		PQclear(first);
		return NULL;
	}
	return first;
timeout:
	PQclear(first);
	snprintf(err, errsz, "no answer in %s", "[pgsql] query_timeout");
	return NULL;
fail:
	PQclear(first);
	snprintf(err, errsz, "%s", PQerrorMessage(c));
	return NULL;
}

/*
 * notice - the server's notices are logged, never printed: libpq's default
 * writes them to stderr, which spawn(8) connects to smtpd
 */
static void
notice(void *arg, const char *msg)
{
	char line[512];

	(void)arg;
	snprintf(line, sizeof(line), "%s", msg);
	line[strcspn(line, "\r\n")] = '\0';
	log_debug("policy: pgsql: %s", line);
}

/* pg_connect - a new connection, the statement prepared: 0, or -1 */
static int
pg_connect(pgp *p, char *err, size_t errsz)
{
	const rg_config *cfg = p->cfg;
	const char *kw[10], *val[10];
	char port[24], tmo[24], opts[64];
	long long deadline = now_ms() + p->tmo_ms;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	PGresult *r;
	char *pw = NULL;
	int i = 0;

	if (*cfg->pg_postfix_password_file && (pw = map_pg_read_secret(
	    cfg->pg_postfix_password_file, err, errsz)) == NULL)
		return -1;
	snprintf(port, sizeof(port), "%lld", cfg->pg_port);
	snprintf(tmo, sizeof(tmo), "%lld", cfg->pg_query_timeout < 2 ? 2
	    : cfg->pg_query_timeout);
	snprintf(opts, sizeof(opts), "-c statement_timeout=%lld", p->tmo_ms);
	if (*cfg->pg_host) {
		kw[i] = "host";
		val[i++] = cfg->pg_host;
	}
	kw[i] = "port"; val[i++] = port;
	kw[i] = "dbname"; val[i++] = cfg->pg_dbname;
	kw[i] = "user"; val[i++] = cfg->pg_postfix_user;
	kw[i] = "connect_timeout"; val[i++] = tmo;
	kw[i] = "options"; val[i++] = opts;
	kw[i] = "application_name"; val[i++] = "relayguard-policy";
	if (pw != NULL) {
		kw[i] = "password";
		val[i++] = pw;
	}
	kw[i] = NULL;
	val[i] = NULL;
	p->conn = PQconnectStartParams(kw, val, 0);
	if (pw != NULL) {
		explicit_bzero(pw, strlen(pw));
		free(pw);
	}
	if (p->conn == NULL || PQstatus(p->conn) == CONNECTION_BAD)
		goto fail;
	(void)PQsetNoticeProcessor(p->conn, notice, NULL);
	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED)
			goto fail;
		if (pg_wait(p->conn, st == PGRES_POLLING_WRITING, deadline)
		    != 0) {
			snprintf(err, errsz, "connect: no answer in [pgsql] "
			    "query_timeout");
			goto out;
		}
		st = PQconnectPoll(p->conn);
	}
	if (PQsetnonblocking(p->conn, 1) != 0
	    || !PQsendPrepare(p->conn, "rgp", pgp_sql, 5, NULL))
		goto fail;
	if ((r = pg_result(p->conn, deadline, err, errsz)) == NULL)
		goto out;
	PQclear(r);
	return 0;
fail:
	snprintf(err, errsz, "%s", p->conn ? PQerrorMessage(p->conn)
	    : "libpq unavailable or out of memory");
out:
	PQfinish(p->conn);
	p->conn = NULL;
	return -1;
}

/* pgp_new - a policy service for cfg; PostgreSQL is reached when needed */
pgp *
pgp_new(const rg_config *cfg, const char *delim, int utf8)
{
	pgp *p = xcalloc(1, sizeof(*p));

	p->cfg = cfg;
	snprintf(p->delim, sizeof(p->delim), "%s", delim ? delim : "");
	p->utf8 = utf8;
	p->closed = cfg->pg_on_failure != NULL
	    && strcmp(cfg->pg_on_failure, "closed") == 0;
	p->tmo_ms = cfg->pg_query_timeout * 1000;
	return p;
}

/* pgp_free - disconnect; NULL is a no-op */
void
pgp_free(pgp *p)
{
	if (p == NULL)
		return;
	PQfinish(p->conn);
	free(p);
}

/* oneline - a libpq message on one line */
static void
oneline(char *s)
{
	char *q;

	for (q = s; *q; q++)
		if (*q == '\n' || *q == '\r' || *q == '\t')
			*q = ' ';
	while (q > s && q[-1] == ' ')
		*--q = '\0';
}

/* failed - on_failure's action; the outage's first failure logged */
static enum pgp_status
failed(pgp *p, const char *why, strbuf *action)
{
	char msg[512];

	p->failed++;
	if (p->down_since == 0) {
		p->down_since = now_ms();
		snprintf(msg, sizeof(msg), "%s", why);
		oneline(msg);
		log_warnx("policy: pgsql: %s: answering %s (on_failure = %s) "
		    "until PostgreSQL answers again", *msg ? msg : "failed",
		    p->closed ? "DEFER_IF_PERMIT" : "DUNNO", p->closed
		    ? "closed" : "open");
	}
	sb_reset(action);
	sb_adds(action, p->closed ? "DEFER_IF_PERMIT 4.3.0 relayguard: the "
	    "lock state is unavailable, try again later" : "DUNNO");
	return PGP_FAILED;
}

/* value - column i of row 0, or NULL when SQL NULL or DUNNO */
static const char *
value(PGresult *r, int i)
{
	const char *v;

	if (PQgetisnull(r, 0, i))
		return NULL;
	v = PQgetvalue(r, 0, i);
	return strcasecmp(v, "DUNNO") == 0 || *v == '\0' ? NULL : v;
}

/* is_class - is v an identity class name (rg_cK)? */
static int
is_class(const char *v)
{
	size_t n;

	if (v == NULL || strncmp(v, "rg_c", 4) != 0)
		return 0;
	n = strspn(v + 4, "0123456789");
	return n > 0 && v[4 + n] == '\0';
}

/* is_address - a whole IPv4 or IPv6 address (what smtpd sends)? */
static int
is_address(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 || (strchr(s, ':') != NULL
	    && inet_pton(AF_INET6, s, buf) == 1);
}

/* pgp_decide - the action for one request (pgpolicy.h) */
enum pgp_status
pgp_decide(pgp *p, const pgp_req *req, strbuf *action)
{
	const char *pv[5], *v, *bcc = NULL, *cls = NULL;
	char *rk[PGP_KEYS], *sk[PGP_KEYS], *bk[PGP_KEYS], *sasl = NULL;
	char err[512] = "";
	strbuf ra, sa, ba;
	PGresult *r = NULL;
	int nr = 0, ns = 0, nb = 0, i, fresh = 0;
	enum pgp_status st = PGP_DECIDED;
	long long t;

	sb_reset(action);
	/* only requests of the smtpd access policy are decided */
	if (req->v[PGP_REQUEST] == NULL || strcmp(req->v[PGP_REQUEST],
	    "smtpd_access_policy") != 0) {
		sb_adds(action, "DUNNO");
		return PGP_DECIDED;
	}
	if (req->v[PGP_SASL] && !req->bad[PGP_SASL] && *req->v[PGP_SASL])
		sasl = rg_casefold(req->v[PGP_SASL], p->utf8);
	if (req->v[PGP_RECIPIENT] && !req->bad[PGP_RECIPIENT])
		nr = pgp_mail_keys(req->v[PGP_RECIPIENT], p->delim, p->utf8, rk,
		    PGP_KEYS);
	if (req->v[PGP_SENDER] && !req->bad[PGP_SENDER]) {
		ns = pgp_mail_keys(req->v[PGP_SENDER], p->delim, p->utf8, sk,
		    PGP_KEYS);
		nb = bcc_keys(req->v[PGP_SENDER], p->delim, p->utf8, bk,
		    PGP_KEYS);
	}
	sb_init(&ra);
	sb_init(&sa);
	sb_init(&ba);
	map_pg_array_lit(&ra, rk, (size_t)nr);
	map_pg_array_lit(&sa, sk, (size_t)ns);
	map_pg_array_lit(&ba, bk, (size_t)nb);
	pv[0] = sasl;
	pv[1] = req->v[PGP_CLIENT] && !req->bad[PGP_CLIENT]
	    && is_address(req->v[PGP_CLIENT]) ? req->v[PGP_CLIENT] : NULL;
	pv[2] = ra.s;
	pv[3] = sa.s;
	pv[4] = ba.s;

	t = now_ms();
	if (p->conn != NULL && PQstatus(p->conn) != CONNECTION_OK) {
		PQfinish(p->conn);
		p->conn = NULL;
	}
again:
	if (p->conn == NULL) {
		/* during an outage: a new try a second after the last one
		 * failed, else the answer now */
		if (p->down_since != 0 && t - p->last_try < PGP_RETRY_MS) {
			st = failed(p, "down", action);
			goto out;
		}
		fresh = 1;
		if (pg_connect(p, err, sizeof(err)) != 0) {
			p->last_try = now_ms();	/* a second from its end */
			st = failed(p, err, action);
			goto out;
		}
	}
	if (!PQsendQueryPrepared(p->conn, "rgp", 5, pv, NULL, NULL, 0)
	    || (r = pg_result(p->conn, t + p->tmo_ms, err, sizeof(err)))
	    == NULL || PQntuples(r) != 1 || PQnfields(r) != C_N) {
		if (*err == '\0')
			snprintf(err, sizeof(err), "%s", PQerrorMessage(p->conn));
		/* a connection in an unknown state is not used again */
		PQfinish(p->conn);
		p->conn = NULL;
		/* an old connection the server closed (a restart since the
		 * last request): one new one, at once */
		if (!fresh && p->down_since == 0 && now_ms() - t < p->tmo_ms) {
			fresh = 1;
			*err = '\0';
			PQclear(r);
			r = NULL;
			goto again;
		}
		p->last_try = now_ms();
		st = failed(p, err, action);
		goto out;
	}
	if (p->down_since != 0) {
		log_warnx("policy: pgsql: PostgreSQL answers again after %.1f "
		    "s; %lu request(s) answered %s meanwhile",
		    (double)(now_ms() - p->down_since) / 1000.0, p->failed,
		    p->closed ? "DEFER_IF_PERMIT" : "DUNNO");
		p->down_since = 0;
		p->failed = 0;
	}
	/* smtpd's order: archiving (BCC, goes on), the admin exemption, the
	 * locks of the login, the address and the sender */
	if ((v = value(r, C_ARCH_SASL)) != NULL)
		bcc = v;
	if ((v = value(r, C_ARCH_CLIENT)) != NULL)
		bcc = v;
	if ((v = value(r, C_ADMIN)) != NULL) {
		sb_adds(action, v);
		goto out;
	}
	for (i = C_SASL; i <= C_CLIENT; i++) {
		if ((v = value(r, i)) == NULL)
			continue;
		if (!is_class(v)) {
			sb_adds(action, v);
			goto out;
		}
		/* the user's scoped identity locks (restriction class) */
		if ((v = value(r, i == C_SASL ? C_SCLASS : C_CCLASS)) != NULL) {
			sb_adds(action, v);
			goto out;
		}
		if (cls == NULL)
			cls = PQgetvalue(r, 0, i);
	}
	if ((v = value(r, C_SENDER)) != NULL) {
		sb_adds(action, v);
		goto out;
	}
	if ((v = value(r, C_BCC)) != NULL && bcc == NULL) {
		sb_printf(action, "BCC %s", v);
		goto out;
	}
	/* nothing refused: the archive copy, else the class itself (its pcre
	 * table holds the senders no SQL key can), else DUNNO */
	sb_adds(action, bcc ? bcc : cls ? cls : "DUNNO");
out:
	PQclear(r);
	for (i = 0; i < nr; i++)
		free(rk[i]);
	for (i = 0; i < ns; i++)
		free(sk[i]);
	for (i = 0; i < nb; i++)
		free(bk[i]);
	free(sasl);
	sb_free(&ra);
	sb_free(&sa);
	sb_free(&ba);
	return st;
}
