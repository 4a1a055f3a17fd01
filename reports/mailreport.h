/*
 * mailreport.h - a report into the outbox (`report --mail`): see
 * mailreport.c for who gets what, and the once-per-period key.
 */
#ifndef RG_MAILREPORT_H
#define RG_MAILREPORT_H

#include "report.h"

typedef struct rep_mail_req {
	rep_data *d;			/* the report as built for o */
	const rep_opts *o;
	const char *label;		/* the period, e.g. "day-2026-11-28" */
	enum rep_format format;		/* of the attachment */
	const char *output;		/* the --output file of d, or NULL */
	const char *to;			/* --to, or NULL */
	int skip_empty;
	long long now;
} rep_mail_req;

/*
 * rep_mail_report - without --to: the whole report to admin_contact and
 * each user with report_to its own; with o->user, that user's report to
 * its report_to (else admin_contact); with to, o's report to it. queued:
 * the mails queued now. 0, -1 (err), or -2 when there is no recipient.
 */
int rep_mail_report(rg_store *st, const rg_config *cfg, const rul_policy *pol,
    const rep_mail_req *r, int *queued, char *err, size_t errsz);

#endif
