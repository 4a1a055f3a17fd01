/*
 * mapcheck.c - the checks of what a Postfix lookup table can hold (see
 * mapcheck.h). Pure: no allocation, no state, never fails but by saying
 * why a text is refused.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <pcre2.h>

#include "mapcheck.h"

/* rul_utf8_valid - 1 if s is well-formed UTF-8 (no overlongs, surrogates) */
int
rul_utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		unsigned int c = *p, cp;
		int n, i;

		if (c < 0x80) {
			p++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1; cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2; cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3; cp = c & 0x07;
		} else
			return 0;
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		p += n + 1;
	}
	return 1;
}

/* rul_map_key_problem - why an indexed map key is refused, NULL if fine */
const char *
rul_map_key_problem(const char *key)
{
	size_t i;

	if (key[0] == '\0')
		return "is empty";
	if (key[0] == '#')
		return "starts with '#' (a comment line to postmap)";
	for (i = 0; key[i] != '\0'; i++) {
		unsigned char c = (unsigned char)key[i];

		if (c == ' ' || c == '\t')
			return "contains white space (postmap ends the key there)";
		if (c < 0x20 || c == 0x7f)
			return "contains a control character";
	}
	if (!rul_utf8_valid(key))
		return "is not valid UTF-8";
	return NULL;
}

/* rul_map_value_problem - why a lookup result is refused, NULL if fine */
const char *
rul_map_value_problem(const char *v)
{
	size_t i, len = strlen(v);

	if (len == 0)
		return "is empty";
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c == '\n' || c == '\r')
			return "contains a newline";
		if (c < 0x20 || c == 0x7f)
			return "contains a control character";
	}
	if (v[0] == ' ' || v[len - 1] == ' ')
		return "has leading or trailing white space (Postfix drops it)";
	if (!rul_utf8_valid(v))
		return "is not valid UTF-8";
	return NULL;
}

/*
 * rul_cidr_parse - ADDR[/LEN] into family, network address and prefix
 * length; -1 and the reason in why if a cidr table could not use it as
 * meant
 */
int
rul_cidr_parse(const char *text, int *family, unsigned char addr[16],
    int *prefix, char *why, size_t whysz)
{
	char abuf[INET6_ADDRSTRLEN + 8], net[INET6_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	size_t alen = slash ? (size_t)(slash - text) : strlen(text);
	int maxlen, plen, i, bad = 0;

	if (alen == 0 || alen >= sizeof(abuf)) {
		snprintf(why, whysz, "is not an IP address or network");
		return -1;
	}
	memcpy(abuf, text, alen);
	abuf[alen] = '\0';
	*family = strchr(abuf, ':') ? AF_INET6 : AF_INET;
	maxlen = *family == AF_INET ? 32 : 128;
	memset(addr, 0, 16);
	if (inet_pton(*family, abuf, addr) != 1) {
		snprintf(why, whysz, "is not an IP%s address",
		    *family == AF_INET ? "v4" : "v6");
		return -1;
	}
	if (*family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)(void *)addr)) {
		snprintf(why, whysz, "is an IPv4-mapped IPv6 address: smtpd "
		    "sees such clients as IPv4, write the IPv4 form");
		return -1;
	}
	plen = maxlen;
	if (slash != NULL) {
		const char *p = slash + 1;

		if (*p == '\0' || strlen(p) > 3)
			bad = 1;
		for (plen = 0; !bad && *p != '\0'; p++) {
			if (*p < '0' || *p > '9')
				bad = 1;
			else
				plen = plen * 10 + (*p - '0');
		}
		if (bad || plen > maxlen) {
			snprintf(why, whysz, "has a bad prefix length (0..%d)",
			    maxlen);
			return -1;
		}
	}
	*prefix = plen;
	/* host bits beyond the prefix: Postfix skips such a rule */
	for (i = 0; i < maxlen / 8; i++) {
		int keep = plen - i * 8;
		unsigned char mask = keep >= 8 ? 0xff :
		    keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));

		if (addr[i] & (unsigned char)~mask) {
			bad = 1;
			addr[i] &= mask;
		}
	}
	if (bad) {
		inet_ntop(*family, addr, net, sizeof(net));
		snprintf(why, whysz, "has host bits set beyond /%d (the network "
		    "is %s/%d)", plen, net, plen);
		return -1;
	}
	return 0;
}

/*
 * rul_regex_problem - 0 if an identity regex compiles (the options of
 * rul_new) with a capture group; else -1 and the reason in why
 */
int
rul_regex_problem(const char *re, char *why, size_t whysz)
{
	pcre2_code *code;
	PCRE2_SIZE eo;
	uint32_t ncap = 0;
	int ec;

	code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0, &ec,
	    &eo, NULL);
	if (code == NULL) {
		PCRE2_UCHAR msg[256];

		pcre2_get_error_message(ec, msg, sizeof(msg));
		snprintf(why, whysz, "%s at offset %zu", (char *)msg,
		    (size_t)eo);
		return -1;
	}
	pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &ncap);
	pcre2_code_free(code);
	if (ncap < 1) {
		snprintf(why, whysz, "needs a capture group: the identity");
		return -1;
	}
	return 0;
}
