/*
 * asm_int.h - the assembler's insides, shared by its files and by no one
 * else: the open-record nodes, the assembler context, and the functions
 * one file of the assembler calls in another.
 *
 *   assemble.c     the context, the message table and lists, the event
 *                  dispatcher (asm_event), lingering and sweeping
 *   asm_session.c  SMTP sessions, their NOQUEUE records and client= lines
 *   asm_verdict.c  joining content-filter verdicts to messages: the
 *                  message-id index and pending spamd results, rspamd and
 *                  amavis lines
 *   asm_persist.c  the open state as blobs (asm_checkpoint) and back
 *                  (asm_restore_*)
 *   record.c       the record mutators (rec_*), shared with nothing else
 */
#ifndef RG_ASM_INT_H
#define RG_ASM_INT_H

#include <stdint.h>
#include <string.h>

#include "../common/arena.h"
#include "../common/hash.h"
#include "assemble.h"
#include "rec_update.h"

typedef struct msg_node {
	rg_record r;		/* with its arena */
	uint32_t hash;		/* of host and queue ID (the table's key) */
	unsigned char qlen;
	struct msg_node *lprev, *lnext;	/* LRU by last_seen, or the closing FIFO */
	/* the message-id index (asm_verdict.c), chained: a flood of one
	 * Message-ID makes a long chain, never a long probe */
	uint32_t mid_hash;
	struct msg_node *mid_next, **mid_pprev;	/* mid_pprev NULL: not in it */
	int ended;		/* finished, lingering for late verdict lines */
	int queued;		/* cleanup or a later stage has seen it */
	uint64_t seq;		/* order of last activity (restores the lists) */
	int dirty_idx;		/* index in the dirty array, -1 if clean */
	rg_usec ended_at;
	size_t compact_at;	/* arena size at which it is compacted */
	int tight;		/* compacted into one chunk since last touched */
	int lazy;		/* restored from its key: the record is not
				 * decoded yet (asm_msg_load) */
	int cold;		/* in the assembler's ctab, not its mtab */
} msg_node;

typedef struct sess_node {
	rg_session s;		/* with its arena */
	uint32_t hash;		/* of host and pid */
	struct sess_node *lprev, *lnext;
	rg_usec last_seen;
	msg_node **pending;	/* NOQUEUE records waiting for the session end */
	int npending, pcap;
	char (*qids)[32];	/* queue IDs handed out in this session (arena) */
	int nqids, qcap;
	uint64_t seq;
	int dirty_idx;
} sess_node;

/* the nodes changed since the last checkpoint; a node knows its slot */
typedef struct dirty_list {
	void **v;
	size_t n, cap;
} dirty_list;

typedef struct spamd_pending {
	char *msgid;
	rg_usec ts;
	int spam;
	char *score, *required, *symbols;
} spamd_pending;

#define SPAMD_PENDING_MAX 1024
#define ABORT_MAX 4096
#define CBLOOM_LOG 19		/* the cold messages' Bloom filter: 2^19 bits, */
#define CBLOOM_BITS (1u << CBLOOM_LOG)	/* 64 KiB: a few % false hits at 32,000 */
#define COMPACT_MIN (32 << 10)	/* a record's arena is compacted beyond */
#define TIGHT_IDLE (10 * 60 * RG_USEC)	/* a message silent this long is tightened */
/*
 * An open message silent this long (log time) is evicted: its record goes
 * (it is in the store already) and a stub of its key stays, loaded again
 * when a line names it or the sweep drops it. Longer than Postfix's
 * maximal_backoff_time (4000 s): a deferred message retried is not evicted
 * between its tries. Held messages (the quarantine) and those whose end
 * the log lost are what waits this long.
 */
#define EVICT_IDLE (2 * 3600 * RG_USEC)

/* nodes are blocks of the pool */
_Static_assert(sizeof(msg_node) <= RG_POOL_BLOCK, "msg_node fits a block");
_Static_assert(sizeof(sess_node) <= RG_POOL_BLOCK, "sess_node fits a block");

/* a queue ID whose session ended before cleanup saw any of it */
typedef struct abort_cand {
	const char *host;
	char qid[32];
	rg_usec deadline;
} abort_cand;
#define LINGER_USEC (5 * RG_USEC)

struct assembler {
	asm_options opt;
	asm_callbacks cb;
	rg_htab mtab;				/* open and lingering messages,
						 * but the cold ones */
	rg_htab ctab;				/* the cold: waiting (tightened) */
	uint64_t *cbloom;			/* ctab's hashes (CBLOOM_BITS) */
	size_t cstale;				/* taken out of ctab since built */
	size_t nmsgs;
	msg_node *mhead, *mtail;		/* open messages, least recent first */
	msg_node *tight_cursor;			/* tight up to here (tighten) */
	msg_node *evict_cursor;			/* looked at up to here (evict) */
	size_t nevicted, nloaded;		/* evicted to the store, loaded */
	size_t nstale;				/* stubs ended by the store */
	msg_node *chead, *ctail;		/* ended messages, in order of ending */
	size_t nclosing;
	int counted;		/* asm_finish_count: the open ones were counted,
				 * not handed out (only asm_free is left) */
	rg_htab stab;				/* open sessions */
	size_t nsess;
	sess_node *shead, *stail;
	msg_node **idtab;			/* the message-id index */
	size_t idbuckets, nids;
	int mid_on;			/* built (a spamd line has needed it) */
	rg_pool *pool;				/* nodes and arena chunks */
	rg_arena hostar;			/* the interned host names */
	const char **hosts;
	size_t *hostlens;
	size_t nhosts;
	const char *last_host;
	size_t last_hostlen;
	rg_usec now, last_sweep;
	spamd_pending spamd[SPAMD_PENDING_MAX];
	int nspamd;
	abort_cand aborts[ABORT_MAX];	/* a ring */
	int ahead, acount;
	uint64_t next_id, seq;
	dirty_list mdirty;		/* messages changed since the checkpoint */
	dirty_list sdirty;		/* sessions changed since the checkpoint */
	msg_node **rmsgs;		/* restored, waiting for asm_restore_done */
	size_t nrmsgs;
	sess_node **rsess;
	size_t nrsess;
	asm_loader load;		/* the state of a lazy message */
	void *load_arg;
	strbuf loadbuf;
	rg_arena keyar;			/* the lazy messages' message-ids */
	int load_failed;		/* asm_load_failed */
	uint64_t load_failed_id;
};

/* sl_eq - slice equals a C string */
static inline int
sl_eq(rg_slice s, const char *lit)
{
	return s.p != NULL && strlen(lit) == s.n && memcmp(s.p, lit, s.n) == 0;
}

/* str_eq_sl - arena string (maybe NULL) equals slice */
static inline int
str_eq_sl(const char *str, rg_slice s)
{
	return str != NULL && s.p != NULL && rg_str_len(str) == s.n
	    && memcmp(str, s.p, s.n) == 0;
}

/* sl_num - a slice of digits as a number, -1 if not one */
static inline long long
sl_num(rg_slice s)
{
	long long v = 0;
	size_t i;

	if (s.p == NULL || s.n == 0 || s.n > 18)
		return -1;
	for (i = 0; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return -1;
		v = v * 10 + (s.p[i] - '0');
	}
	return v;
}

/* assemble.c */
const char *asm_host_intern(assembler *a, const logline *ll);
const char *asm_host_intern_n(assembler *a, const char *p, size_t n);
void asm_dirty_add(dirty_list *d, void *node, int *idx);
void asm_dirty_remove(dirty_list *d, int *idx);
uint32_t asm_msg_hash(const char *host, const char *qid, size_t n);
msg_node *asm_msg_find(assembler *a, const char *host, rg_slice qid);
void asm_list_append(msg_node **head, msg_node **tail, msg_node *m);
void asm_lru_append(assembler *a, msg_node *m);
msg_node *asm_node_alloc(assembler *a);
void asm_node_release(assembler *a, msg_node *m);
void asm_msg_insert(assembler *a, msg_node *m);
msg_node *asm_node_new(assembler *a, const char *host, rg_usec ts);
msg_node *asm_msg_take(assembler *a, msg_node *m, const char *host,
    rg_slice qid, rg_usec ts, int verdict);
msg_node *asm_msg_get(assembler *a, const char *host, rg_slice qid,
    rg_usec ts, int verdict);
void asm_msg_finish(assembler *a, msg_node *m, int complete);

/* asm_persist.c */
int asm_msg_load(assembler *a, msg_node *m);
void asm_msg_evict(assembler *a, msg_node *m);

/* asm_need - m's record, decoded if it was restored from its key alone */
static inline void
asm_need(assembler *a, msg_node *m)
{
	if (m->lazy)
		asm_msg_load(a, m);
}

/* asm_session.c */
uint32_t asm_sess_hash(const char *host, long pid);
void asm_slru_append(assembler *a, sess_node *s);
void asm_sess_insert(assembler *a, sess_node *s);
sess_node *asm_sess_node_alloc(assembler *a);
void asm_sess_node_free(assembler *a, sess_node *s);
void asm_sess_finish(assembler *a, sess_node *s, int complete);
void asm_on_session_event(assembler *a, const char *host, const logline *ll,
    const rg_event *ev, rg_usec ts);
void asm_on_noqueue(assembler *a, const char *host, const logline *ll,
    const rg_event *ev, rg_usec ts);
void asm_on_client(assembler *a, const char *host, const logline *ll,
    const rg_event *ev, rg_usec ts);

/* asm_verdict.c */
void asm_mid_add(assembler *a, msg_node *m);
void asm_mid_remove(assembler *a, msg_node *m);
void asm_mid_clear(assembler *a);
void asm_spamd_pending_take(assembler *a, msg_node *m);
void asm_on_spamd(assembler *a, const rg_event *ev, rg_usec ts);
void asm_on_filter(assembler *a, msg_node *m, const char *host,
    const rg_event *ev, rg_usec ts);
void asm_spamd_free(assembler *a);

#endif
