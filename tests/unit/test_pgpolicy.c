/*
 * test_pgpolicy.c - the pure parts of the policy service (pgpolicy.h): the
 * request reader on bounded, broken and hostile input, the values it
 * refuses to use as keys, and the access(5) address keys in Postfix's
 * order. PostgreSQL and Postfix themselves: tests/suites/policy.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../analyzer/pgpolicy.h"
#include "unit.h"

/* feed - a pipe holding n bytes of s, its read end */
static int
feed(const char *s, size_t n)
{
	int fd[2];

	if (pipe(fd) != 0)
		return -1;
	if (write(fd[1], s, n) != (ssize_t)n)
		return -1;
	close(fd[1]);
	return fd[0];
}

static void
reader(void)
{
	static const char in[] = "\n\nrequest=smtpd_access_policy\r\n"
	    "sasl_username=bob@example.com\nnoequals\n=x\n"
	    "sender=a@b\nsender=c@d\nunknown_attr=1\n\n"
	    "request=smtpd_access_policy\nsasl_username=x\001y\n\n"
	    "request=smtpd_access_policy\nsender=cut";
	pgp_in pin;
	pgp_req r;

	memset(&pin, 0, sizeof(pin));
	pin.fd = feed(in, sizeof(in) - 1);
	CHECK(pgp_read(&pin, &r) == 1);
	CHECK_STR(r.v[PGP_REQUEST], "smtpd_access_policy");
	CHECK_STR(r.v[PGP_SASL], "bob@example.com");
	CHECK_STR(r.v[PGP_SENDER], "c@d");	/* the last one */
	CHECK(r.junk == 2);
	pgp_req_free(&r);
	CHECK(pgp_read(&pin, &r) == 1);
	CHECK(r.bad[PGP_SASL] == 1);		/* a control byte */
	CHECK_STR(r.v[PGP_SASL], "");
	pgp_req_free(&r);
	CHECK(pgp_read(&pin, &r) == 0);		/* cut short: no request */
	pgp_req_free(&r);
	close(pin.fd);
}

static void
long_lines(void)
{
	size_t n = 3 * PGP_LINE_MAX;
	char *in = malloc(n + 200);
	pgp_in pin;
	pgp_req r;
	size_t k;

	k = (size_t)sprintf(in, "request=smtpd_access_policy\nsender=");
	memset(in + k, 'a', n);
	k += n;
	k += (size_t)sprintf(in + k, "\nsasl_username=bob\n\n");
	memset(&pin, 0, sizeof(pin));
	pin.fd = feed(in, k);
	CHECK(pgp_read(&pin, &r) == 1);
	CHECK(r.bad[PGP_SENDER] == 1);		/* never cut, never used */
	CHECK_STR(r.v[PGP_SASL], "bob");	/* the next line is whole */
	pgp_req_free(&r);
	CHECK(pgp_read(&pin, &r) == 0);
	close(pin.fd);
	free(in);
}

static void
usable(void)
{
	CHECK(pgp_usable("bob@example.com", 15));
	CHECK(pgp_usable("j\xc3\xb6rg@example.com", 16));
	CHECK(!pgp_usable("a\xff", 2));
	CHECK(!pgp_usable("a\xc3", 2));			/* cut sequence */
	CHECK(!pgp_usable("\xc0\xaf", 2));		/* overlong */
	CHECK(!pgp_usable("\xed\xa0\x80", 3));		/* surrogate */
	CHECK(!pgp_usable("a\tb", 3));
	CHECK(!pgp_usable("a\0b", 3));
}

static void
mail_keys(void)
{
	char *k[8];
	int n, i;

	n = pgp_mail_keys("Bob+Tag@Example.COM", "+", 0, k, 8);
	CHECK(n == 5);
	if (n == 5) {
		CHECK_STR(k[0], "bob+tag@example.com");
		CHECK_STR(k[1], "bob@example.com");
		CHECK_STR(k[2], "example.com");
		CHECK_STR(k[3], "bob+tag@");
		CHECK_STR(k[4], "bob@");
	}
	for (i = 0; i < n; i++)
		free(k[i]);
	n = pgp_mail_keys("bob@example.com", "", 1, k, 8);
	CHECK(n == 3);
	for (i = 0; i < n; i++)
		free(k[i]);
	n = pgp_mail_keys("+x@example.com", "+", 1, k, 8);	/* no user */
	CHECK(n == 3);
	for (i = 0; i < n; i++)
		free(k[i]);
	CHECK(pgp_mail_keys("", "+", 1, k, 8) == 0);
}

int
main(void)
{
	CASE("pgpolicy: requests, repeated and junk lines, cut short", reader());
	CASE("pgpolicy: a line past the bound is unusable, the next one whole",
	    long_lines());
	CASE("pgpolicy: keys: valid UTF-8, no control bytes", usable());
	CASE("pgpolicy: access(5) address keys in Postfix's order",
	    mail_keys());
	UNIT_EXIT();
}
