/*
 * esmtp_dl.c - libesmtp and the OpenSSL functions of smtp.c, loaded when
 * relayguard first sends mail instead of at every start. Linked, they
 * bring libssl and libcrypto (4.5 MB to relocate) into every run of
 * relayguard, and most runs (`parse`, the per-minute `analyze`) send no
 * mail. An empty main() linked with them took 5.1 ms of CPU to start,
 * 2.1 ms without; with libxlsxwriter and libsystemd too (xlsx_dl.c,
 * common/sd_dl.c), 6.6 ms.
 *
 * Each libesmtp and OpenSSL function smtp.c calls is defined here with the
 * library's own prototype (<libesmtp.h>, <auth-client.h>, <openssl/ssl.h>
 * and the others, so a mismatch does not compile) and forwards to the
 * library's, found with dlsym on first use (common/dynlib.h): libesmtp's
 * in libesmtp.so.6, SSL_* and TLS_* in libssl.so.3, ERR_* and X509_* in
 * libcrypto.so.3. An OpenSSL macro is forwarded as what it expands to
 * (SSL_CTX_set_max_proto_version: SSL_CTX_ctrl). A new call elsewhere
 * needs its line here (the link fails without it).
 *
 * libesmtp needs libssl and libcrypto itself, so they are loaded by the
 * time smtp.c calls OpenSSL, and their dlopen only finds them. Without
 * libesmtp.so.6 smtp_create_session returns NULL (smtp.c keeps the mails,
 * "cannot create an SMTP session: libesmtp is not loaded") after a
 * warning with the loader's reason; nothing else is reached without a
 * session.
 */
#include <stdio.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <auth-client.h>
#include <libesmtp.h>

#include "../common/dynlib.h"

#ifndef RG_ESMTP_SONAME
#define RG_ESMTP_SONAME "libesmtp.so.6"
#endif
#ifndef RG_SSL_SONAME
#define RG_SSL_SONAME "libssl.so.3"
#endif
#ifndef RG_CRYPTO_SONAME
#define RG_CRYPTO_SONAME "libcrypto.so.3"
#endif

static rg_dynlib esmtp = RG_DYNLIB(RG_ESMTP_SONAME, "mail");
static rg_dynlib ssl = RG_DYNLIB(RG_SSL_SONAME, "mail");
static rg_dynlib crypto = RG_DYNLIB(RG_CRYPTO_SONAME, "mail");

/* auth_client_init - forwarded */
void
auth_client_init(void)
{
	RG_DL_FN(&esmtp, auth_client_init, f)
		return;
	f();
}

/* auth_create_context - forwarded */
auth_context_t
auth_create_context(void)
{
	RG_DL_FN(&esmtp, auth_create_context, f)
		return NULL;
	return f();
}

/* auth_destroy_context - forwarded */
int
auth_destroy_context(auth_context_t context)
{
	RG_DL_FN(&esmtp, auth_destroy_context, f)
		return 0;
	return f(context);
}

/* auth_set_mechanism_flags - forwarded */
int
auth_set_mechanism_flags(auth_context_t context, unsigned set, unsigned clear)
{
	RG_DL_FN(&esmtp, auth_set_mechanism_flags, f)
		return 0;
	return f(context, set, clear);
}

/* auth_set_interact_cb - forwarded */
int
auth_set_interact_cb(auth_context_t context, auth_interact_t interact,
    void *arg)
{
	RG_DL_FN(&esmtp, auth_set_interact_cb, f)
		return 0;
	return f(context, interact, arg);
}

/* smtp_create_session - NULL without libesmtp (smtp.c keeps the mails) */
smtp_session_t
smtp_create_session(void)
{
	RG_DL_FN(&esmtp, smtp_create_session, f)
		return NULL;
	return f();
}

/* smtp_destroy_session - forwarded */
int
smtp_destroy_session(smtp_session_t session)
{
	RG_DL_FN(&esmtp, smtp_destroy_session, f)
		return 0;
	return f(session);
}

/* smtp_set_server - forwarded (a session means libesmtp is loaded) */
int
smtp_set_server(smtp_session_t session, const char *hostport)
{
	RG_DL_FN(&esmtp, smtp_set_server, f)
		return 0;
	return f(session, hostport);
}

/* smtp_set_hostname - forwarded */
int
smtp_set_hostname(smtp_session_t session, const char *hostname)
{
	RG_DL_FN(&esmtp, smtp_set_hostname, f)
		return 0;
	return f(session, hostname);
}

/* smtp_set_timeout - forwarded */
long
smtp_set_timeout(smtp_session_t session, int which, long value)
{
	RG_DL_FN(&esmtp, smtp_set_timeout, f)
		return 0;
	return f(session, which, value);
}

/* smtp_set_eventcb - forwarded */
int
smtp_set_eventcb(smtp_session_t session, smtp_eventcb_t cb, void *arg)
{
	RG_DL_FN(&esmtp, smtp_set_eventcb, f)
		return 0;
	return f(session, cb, arg);
}

/* smtp_set_monitorcb - forwarded */
int
smtp_set_monitorcb(smtp_session_t session, smtp_monitorcb_t cb, void *arg,
    int headers)
{
	RG_DL_FN(&esmtp, smtp_set_monitorcb, f)
		return 0;
	return f(session, cb, arg, headers);
}

/* smtp_starttls_enable - forwarded */
int
smtp_starttls_enable(smtp_session_t session, enum starttls_option how)
{
	RG_DL_FN(&esmtp, smtp_starttls_enable, f)
		return 0;
	return f(session, how);
}

/* smtp_starttls_set_ctx - forwarded */
int
smtp_starttls_set_ctx(smtp_session_t session, SSL_CTX *ctx)
{
	RG_DL_FN(&esmtp, smtp_starttls_set_ctx, f)
		return 0;
	return f(session, ctx);
}

/* smtp_auth_set_context - forwarded */
int
smtp_auth_set_context(smtp_session_t session, auth_context_t context)
{
	RG_DL_FN(&esmtp, smtp_auth_set_context, f)
		return 0;
	return f(session, context);
}

/* smtp_add_message - forwarded */
smtp_message_t
smtp_add_message(smtp_session_t session)
{
	RG_DL_FN(&esmtp, smtp_add_message, f)
		return NULL;
	return f(session);
}

/* smtp_set_reverse_path - forwarded */
int
smtp_set_reverse_path(smtp_message_t message, const char *mailbox)
{
	RG_DL_FN(&esmtp, smtp_set_reverse_path, f)
		return 0;
	return f(message, mailbox);
}

/* smtp_add_recipient - forwarded */
smtp_recipient_t
smtp_add_recipient(smtp_message_t message, const char *mailbox)
{
	RG_DL_FN(&esmtp, smtp_add_recipient, f)
		return NULL;
	return f(message, mailbox);
}

/* smtp_set_messagecb - forwarded */
int
smtp_set_messagecb(smtp_message_t message, smtp_messagecb_t cb, void *arg)
{
	RG_DL_FN(&esmtp, smtp_set_messagecb, f)
		return 0;
	return f(message, cb, arg);
}

/* smtp_message_set_application_data_release - forwarded */
void
smtp_message_set_application_data_release(smtp_message_t message, void *data,
    void (*release)(void *))
{
	RG_DL_FN(&esmtp, smtp_message_set_application_data_release, f)
		return;
	f(message, data, release);
}

/* smtp_message_get_application_data - forwarded */
void *
smtp_message_get_application_data(smtp_message_t message)
{
	RG_DL_FN(&esmtp, smtp_message_get_application_data, f)
		return NULL;
	return f(message);
}

/* smtp_start_session - forwarded */
int
smtp_start_session(smtp_session_t session)
{
	RG_DL_FN(&esmtp, smtp_start_session, f)
		return 0;
	return f(session);
}

/* smtp_errno - forwarded */
int
smtp_errno(void)
{
	RG_DL_FN(&esmtp, smtp_errno, f)
		return 0;
	return f();
}

/* smtp_strerror - libesmtp's text, or why there is none */
char *
smtp_strerror(int error, char buf[], size_t buflen)
{
	RG_DL_FN(&esmtp, smtp_strerror, f) {
		snprintf(buf, buflen, "libesmtp is not loaded");
		return buf;
	}
	return f(error, buf, buflen);
}

/* smtp_message_transfer_status - forwarded */
const smtp_status_t *
smtp_message_transfer_status(smtp_message_t message)
{
	RG_DL_FN(&esmtp, smtp_message_transfer_status, f)
		return NULL;
	return f(message);
}

/* smtp_reverse_path_status - forwarded */
const smtp_status_t *
smtp_reverse_path_status(smtp_message_t message)
{
	RG_DL_FN(&esmtp, smtp_reverse_path_status, f)
		return NULL;
	return f(message);
}

/* smtp_enumerate_recipients - forwarded */
int
smtp_enumerate_recipients(smtp_message_t message,
    smtp_enumerate_recipientcb_t cb, void *arg)
{
	RG_DL_FN(&esmtp, smtp_enumerate_recipients, f)
		return 0;
	return f(message, cb, arg);
}

/* smtp_recipient_status - forwarded */
const smtp_status_t *
smtp_recipient_status(smtp_recipient_t recipient)
{
	RG_DL_FN(&esmtp, smtp_recipient_status, f)
		return NULL;
	return f(recipient);
}

/* OpenSSL: libssl */

/* TLS_client_method - forwarded */
const SSL_METHOD *
TLS_client_method(void)
{
	RG_DL_FN(&ssl, TLS_client_method, f)
		return NULL;
	return f();
}

/* SSL_CTX_new - NULL without libssl (smtp.c: a TLS failure) */
SSL_CTX *
SSL_CTX_new(const SSL_METHOD *meth)
{
	RG_DL_FN(&ssl, SSL_CTX_new, f)
		return NULL;
	return f(meth);
}

/* SSL_CTX_free - forwarded */
void
SSL_CTX_free(SSL_CTX *ctx)
{
	RG_DL_FN(&ssl, SSL_CTX_free, f)
		return;
	f(ctx);
}

/* SSL_CTX_load_verify_locations - forwarded */
int
SSL_CTX_load_verify_locations(SSL_CTX *ctx, const char *CAfile,
    const char *CApath)
{
	RG_DL_FN(&ssl, SSL_CTX_load_verify_locations, f)
		return 0;
	return f(ctx, CAfile, CApath);
}

/* SSL_CTX_set_default_verify_paths - forwarded */
int
SSL_CTX_set_default_verify_paths(SSL_CTX *ctx)
{
	RG_DL_FN(&ssl, SSL_CTX_set_default_verify_paths, f)
		return 0;
	return f(ctx);
}

/* SSL_CTX_ctrl - forwarded (SSL_CTX_set_max_proto_version) */
long
SSL_CTX_ctrl(SSL_CTX *ctx, int cmd, long larg, void *parg)
{
	RG_DL_FN(&ssl, SSL_CTX_ctrl, f)
		return 0;
	return f(ctx, cmd, larg, parg);
}

/* OpenSSL: libcrypto */

/* ERR_get_error - forwarded */
unsigned long
ERR_get_error(void)
{
	RG_DL_FN(&crypto, ERR_get_error, f)
		return 0;
	return f();
}

/* ERR_reason_error_string - forwarded */
const char *
ERR_reason_error_string(unsigned long e)
{
	RG_DL_FN(&crypto, ERR_reason_error_string, f)
		return "libcrypto is not loaded";
	return f(e);
}

/* X509_verify_cert_error_string - forwarded */
const char *
X509_verify_cert_error_string(long n)
{
	RG_DL_FN(&crypto, X509_verify_cert_error_string, f)
		return "libcrypto is not loaded";
	return f(n);
}
