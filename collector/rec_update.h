/*
 * rec_update.h - what one log line changes in a message record (the
 * assembler's mutators; the record itself is store/record.h's).
 *
 * Slices are copied into the record's arena; a slice that is not set
 * (p == NULL) changes nothing. A value no longer than the one it replaces
 * takes its place; a longer one is a new string in the arena, the old one
 * stays until rec_compact() or rec_free().
 */
#ifndef RG_REC_UPDATE_H
#define RG_REC_UPDATE_H

#include "../store/record.h"
#include "event.h"

char *rec_sdup(rg_arena *ar, rg_slice s);
void rec_put(rg_arena *ar, char **dst, rg_slice s);
void rec_put_if_unset(rg_arena *ar, char **dst, rg_slice s);
rg_rcpt *rec_rcpt_get(rg_record *r, rg_slice addr, rg_slice orig_to);
void rec_hist_add(rg_record *r, rg_rcpt *rc, rg_usec ts, rg_slice status,
    rg_slice dsn);
void rec_verdict_offer(rg_record *r, enum verdict_source src, int spam,
    rg_slice score, rg_slice required, rg_slice action, rg_slice symbols);
int rec_spam_header(rg_record *r, rg_slice name, rg_slice value,
    enum verdict_source src);
int rec_spammy(rg_slice t);
void rec_header_add(rg_record *r, char *const *names, int nnames,
    rg_slice name, rg_slice value, int cut);
void rec_set_reject(rg_record *r, rg_slice stage, const rg_event *ev);
void rec_client_into(rg_record *r, const rg_event *ev);
void rec_link_filtered(rg_record *r1, rg_record *r2);

#endif
