/*
 * test_evring.c - the ring of batches between parse's two threads
 * (collector/evring.c): which batches go raw, and that a raw batch's lines
 * give the assembler the events a parsed batch gives it.
 */
#include <stdlib.h>
#include <string.h>

#include "../../collector/evring.h"
#include "../../collector/logline.h"
#include "../../collector/parser.h"
#include "../../common/strbuf.h"
#include "unit.h"

static const char *const lines[] = {
	"Nov 28 16:07:24 relay postfix/smtpd[26905]: E2B5EA725C8: "
	    "client=unknown[127.0.0.3], sasl_method=PLAIN, "
	    "sasl_username=bob@example.com",
	"Nov 28 16:07:24 relay postfix/cleanup[26908]: E2B5EA725C8: "
	    "message-id=<m1@client.example.test>",
	"Nov 28 16:07:24 relay postfix/qmgr[26875]: E2B5EA725C8: "
	    "from=<bob@example.com>, size=497, nrcpt=1 (queue active)",
	"Nov 28 16:07:24 relay sshd[1]: not mail",
	"Nov 28 16:07:24 relay postfix/smtp[26909]: E2B5EA725C8: "
	    "to=<carol@example.org>, relay=127.0.0.1[127.0.0.1]:2525, "
	    "delay=0.05, delays=0.01/0.01/0.01/0.02, dsn=2.0.0, "
	    "status=sent (250 2.0.0 Ok)",
	"Nov 28 16:07:24 relay postfix/qmgr[26875]: E2B5EA725C8: removed",
};
#define NLINES ((int)(sizeof(lines) / sizeof(lines[0])))

/* fill - a batch of the ring with every line; whether it was raw */
static int
fill(evr_ring *r, ll_ctx *c, prs_stats *st)
{
	evr_batch *b = evr_take(r);
	logline ll;
	int i;

	for (i = 0; i < NLINES; i++)
		if (ll_parse(c, lines[i], strlen(lines[i]), &ll) == 0)
			evr_add(r, b, &ll, lines[i], strlen(lines[i]), st);
	evr_give(r);
	return b->raw;
}

/* pad - k empty batches handed over: the other thread has k to do */
static void
pad(evr_ring *r, int k)
{
	while (k-- > 0) {
		evr_take(r);
		evr_give(r);
	}
}

/*
 * taken_raw_case - with the other thread holding at most one batch, a
 * batch goes raw (every line an item, none parsed); with two waiting it
 * is parsed (the non-mail line left out); once the other thread has
 * taken them back, raw again
 */
static void
taken_raw_case(void)
{
	evr_ring *r = evr_new(0, 0);
	prs_stats st;
	ll_ctx c;
	evr_batch *b;

	memset(&st, 0, sizeof(st));
	ll_init(&c, 2026, 0);
	CHECK(fill(r, &c, &st) == 1);		/* none waiting */
	CHECK(fill(r, &c, &st) == 1);		/* one */
	CHECK(fill(r, &c, &st) == 0);		/* two */
	CHECK(st.lines == NLINES);		/* counted where parsed */
	b = evr_next(r);
	CHECK(b != NULL && b->raw && b->n == NLINES && b->lines == NLINES);
	evr_put(r);
	b = evr_next(r);
	CHECK(b != NULL && b->raw);
	evr_put(r);
	b = evr_next(r);
	CHECK(b != NULL && !b->raw && b->n == NLINES - 1
	    && b->lines == NLINES);
	evr_put(r);
	CHECK(fill(r, &c, &st) == 1);		/* all given back */
	evr_free(r);
}

/*
 * raw_only_case - a ring made raw_only (parse, when the CPUs are far
 * apart) hands every batch over raw, however many are waiting
 */
static void
raw_only_case(void)
{
	evr_ring *r = evr_new(0, 1);
	prs_stats st;
	ll_ctx c;
	int i, raw = 0;

	memset(&st, 0, sizeof(st));
	ll_init(&c, 2026, 0);
	for (i = 0; i < 5; i++)		/* none taken back: 0 to 4 waiting */
		raw += fill(r, &c, &st);
	CHECK(raw == 5);
	CHECK(st.lines == 0);		/* none parsed in the front end */
	evr_free(r);
}

/* record - count a complete record of bob's, sent to one recipient */
static void
record(void *arg, const rg_record *rec)
{
	int *n = arg;

	if (rec->complete && rec->nrcpts == 1
	    && strcmp(rec->rcpts[0].status, "sent") == 0
	    && strcmp(rec->sasl_username, "bob@example.com") == 0)
		(*n)++;
}

/*
 * same_records_case - the lines of a raw batch through prs_line and those
 * of a parsed one through prs_event make the same complete record
 */
static void
same_records_case(void)
{
	int raw;

	for (raw = 0; raw < 2; raw++) {
		evr_ring *r = evr_new(0, 0);
		asm_options ao;
		asm_callbacks cb;
		rg_parser *p;
		prs_stats st;
		ll_ctx c;
		evr_batch *b;
		int i, n = 0;

		memset(&ao, 0, sizeof(ao));
		memset(&cb, 0, sizeof(cb));
		memset(&st, 0, sizeof(st));
		ao.max_message_age = 86400;
		cb.message = record;
		cb.arg = &n;
		p = prs_new(&ao, &cb);
		ll_init(&c, 2026, 0);
		pad(r, raw ? 0 : 2);
		CHECK(fill(r, &c, &st) == raw);
		while ((b = evr_next(r)) != NULL && b->n == 0)
			evr_put(r);
		for (i = 0; b != NULL && i < b->n; i++)
			evr_parse(p, &b->lls[i], &b->items[i], b->raw);
		evr_put(r);
		prs_add_stats(p, &st);
		prs_finish(p);
		CHECK(n == 1);
		CHECK(prs_get_stats(p)->lines == NLINES);
		CHECK(prs_get_stats(p)->other == 1);
		prs_free(p);
		evr_free(r);
	}
}

/*
 * big_scratch_case - a line the front end parsed whose decoded text
 * outgrew SCRATCH_KEEP (an rspamd line of 400 symbols: their names go to
 * the item's scratch) leaves no large scratch behind once its batch comes
 * round again
 */
static void
big_scratch_case(void)
{
	evr_ring *r = evr_new(0, 0);
	prs_stats st;
	ll_ctx c;
	logline ll;
	evr_batch *b, *first;
	strbuf line;
	int i;

	sb_init(&line);
	sb_adds(&line, "2026-12-03 20:01:00 #4099(rspamd_proxy) <9ab567>; "
	    "proxy; rspamd_task_write_log: id: <m1@client.example.test>, "
	    "qid: <A7700AB2546>, ip: 127.0.0.5, user: alice@example.com, "
	    "from: <alice@example.com>, (default: S (reject): "
	    "[15.00/15.00] [GTUBE(0.00){}");
	for (i = 0; i < 400; i++)
		sb_printf(&line, ",SYMBOL_%04d(1.00){}", i);
	sb_adds(&line, "]), len: 304, time: 214.162ms");
	memset(&st, 0, sizeof(st));
	ll_init(&c, 2026, 0);
	pad(r, 2);			/* two waiting: parsed here */
	first = evr_take(r);
	CHECK(!first->raw);
	CHECK(ll_parse(&c, line.s, line.len, &ll) == 0);
	CHECK(evr_add(r, first, &ll, line.s, line.len, &st) == 1);
	CHECK(first->items[0].scratch.cap > 4096);
	evr_give(r);
	for (i = 0; i < 3; i++) {	/* the other thread takes them */
		CHECK(evr_next(r) != NULL);
		evr_put(r);
	}
	for (i = 0; i < 7; i++) {	/* round the ring of 8 */
		evr_take(r);
		evr_give(r);
		CHECK(evr_next(r) != NULL);
		evr_put(r);
	}
	b = evr_take(r);
	CHECK(b == first);
	CHECK(b->items[0].scratch.cap <= 4096);
	evr_give(r);
	sb_free(&line);
	evr_free(r);
}

int
main(void)
{
	CASE("evring: a batch goes raw when the other thread is short of "
	    "work", taken_raw_case());
	CASE("evring: a raw batch makes the records a parsed one makes",
	    same_records_case());
	CASE("evring: raw_only makes every batch raw, whatever waits",
	    raw_only_case());
	CASE("evring: a large scratch is not kept once its batch comes round",
	    big_scratch_case());
	UNIT_EXIT();
}
