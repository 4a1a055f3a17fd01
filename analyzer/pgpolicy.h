/*
 * pgpolicy.h - the Postfix policy service of map_backend = pgsql: the
 * lock decisions of the pgsql: tables, answered from the same PostgreSQL
 * tables by a process that can fail open ([pgsql] on_failure).
 *
 * Postfix's policy delegation protocol (SMTPD_POLICY_README): smtpd sends
 * "name=value" lines ending with an empty line, and reads back
 * "action=ACTION" and an empty line; one connection carries many
 * requests. pgp_read() reads one request from a descriptor: each line is
 * bounded (PGP_LINE_MAX; a longer value is kept as unusable, never cut),
 * as is the number of lines; a value with a NUL byte, a control character
 * or invalid UTF-8 is unusable too. An unusable value matches no key (no
 * map holds such a key), so it can never turn a lock into a failure (the
 * query is not even sent with it) and never crashes anything.
 *
 * pgp_decide() answers as smtpd's restriction list of the pgsql: tables
 * would, in its order: archive_sasl and archive_client (a BCC, kept),
 * admin_access for the recipient (OK), sasl_access for the login,
 * client_access for the address (most specific network; DUNNO networks
 * inside locked ones), sender_access for the sender (access(5) address
 * keys: user+ext@domain, user@domain, domain, user+ext@, user@), a user's
 * identity class (rg_cK) resolved in rg_senders_K, sender_bcc; nothing
 * found is DUNNO (or the BCC). All values go to PostgreSQL as bound
 * parameters of one prepared statement; keys are folded as Postfix folds
 * a lookup key (common/casefold.h).
 *
 * PostgreSQL: one connection per process, made when first needed, as
 * [pgsql] postfix_user; the connect and each lookup are bounded by
 * [pgsql] query_timeout (poll on libpq's socket; the server's
 * statement_timeout too). When it cannot answer, pgp_decide() returns
 * PGP_FAILED with on_failure's action: DUNNO (open) or DEFER_IF_PERMIT
 * (closed); the first failure of an outage is logged as a warning, the
 * end of it as a warning with the number of requests answered so, and a
 * new connection is tried at most once a second meanwhile.
 */
#ifndef RG_PGPOLICY_H
#define RG_PGPOLICY_H

#include "../common/strbuf.h"
#include "../rules/config.h"

#define PGP_LINE_MAX	4096	/* bytes of one attribute line */
#define PGP_LINES_MAX	256	/* lines of one request */
#define PGP_KEY_MAX	1000	/* the longest value used as a key */

enum pgp_attr { PGP_REQUEST, PGP_STATE, PGP_CLIENT, PGP_SASL, PGP_SENDER,
    PGP_RECIPIENT, PGP_INSTANCE, PGP_NATTR };

/* one request: the attributes relayguard reads, NULL when absent */
typedef struct pgp_req {
	char *v[PGP_NATTR];
	int bad[PGP_NATTR];	/* present but unusable (too long, bytes) */
	int lines;		/* lines read */
	int junk;		/* lines that were no name=value */
} pgp_req;

/* the input side of one connection (pgp_read's buffer) */
typedef struct pgp_in {
	int fd;
	char buf[PGP_LINE_MAX + 2];
	size_t len;		/* bytes in buf */
	int eof;
} pgp_in;

enum pgp_status { PGP_DECIDED, PGP_FAILED };

typedef struct pgp pgp;

/* pgp_read - one request: 1 (pgp_req_free it), 0 at end of input before a
 * whole request, -1 error (on 0 and -1 req holds nothing) */
int pgp_read(pgp_in *in, pgp_req *req);
void pgp_req_free(pgp_req *req);
/* pgp_mail_keys - access(5) lookup keys of an address, folded; the count */
int pgp_mail_keys(const char *addr, const char *delim, int utf8,
    char **keys, int max);
/* pgp_usable - may s be sent as a key (bounded, text, valid UTF-8)? */
int pgp_usable(const char *s, size_t len);

pgp *pgp_new(const rg_config *cfg, const char *delim, int utf8);
enum pgp_status pgp_decide(pgp *p, const pgp_req *req, strbuf *action);
void pgp_free(pgp *p);

#endif
