/*
 * writer.c - the store's writer thread (writer.h): a queue of operations,
 * run in order by a thread of its own. Owns the queue, its mutex and the
 * thread; the operations and the connection are the store's. Fails only
 * at its start (no thread: the store runs its ops at once).
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include "../common/proc.h"
#include "../common/xalloc.h"
#include "writer.h"

struct wr_thread {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work;	/* to the thread: ops queued, or stop */
	pthread_cond_t ran;	/* to the caller: ops ran */
	wr_op *head, *tail;	/* queued, not taken */
	wr_op *done;		/* ran, for reuse */
	int busy;		/* the thread runs ops it took */
	int stop;
	int failed;		/* an op failed (until wr_clear) */
	long long queued;	/* batches queued (commits) */
	long long committed;	/* ... that ran */
	long long ops;
	unsigned long waits;	/* the caller waited for the thread */
	double cpu;
	wr_run_fn run;
	void *arg;
};

/* wr_main - take what is queued, run it in order, hand it back */
static void *
wr_main(void *p)
{
	wr_thread *w = p;
	wr_op *list, *o, *last;
	long long n, commits;
	int failed;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->head == NULL && !w->stop)
			pthread_cond_wait(&w->work, &w->mu);
		if (w->head == NULL)
			break;
		list = w->head;
		w->head = w->tail = NULL;
		w->busy = 1;
		pthread_mutex_unlock(&w->mu);
		n = commits = 0;
		failed = 0;
		for (o = last = list; o != NULL; o = o->next) {
			if (w->run(w->arg, o) != 0)
				failed = 1;
			commits += o->commit;
			n++;
			last = o;
		}
		pthread_mutex_lock(&w->mu);
		last->next = w->done;
		w->done = list;
		w->committed += commits;
		w->ops += n;
		w->failed |= failed;
		w->busy = 0;
		pthread_cond_broadcast(&w->ran);
	}
	pthread_mutex_unlock(&w->mu);
	w->cpu = rg_thread_cpu();
	return NULL;
}

/* wr_start - the thread, with its queue */
wr_thread *
wr_start(wr_run_fn run, void *arg)
{
	wr_thread *w = xcalloc(1, sizeof(*w));
	sigset_t all, old;
	int err;

	w->run = run;
	w->arg = arg;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work, NULL);
	pthread_cond_init(&w->ran, NULL);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&w->thread, NULL, wr_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->work);
		pthread_cond_destroy(&w->ran);
		free(w);
		return NULL;
	}
	return w;
}

/* wr_push - queue op at the end */
int
wr_push(wr_thread *w, wr_op *op)
{
	int failed;

	op->next = NULL;
	pthread_mutex_lock(&w->mu);
	if (w->tail != NULL)
		w->tail->next = op;
	else
		w->head = op;
	w->tail = op;
	w->queued += op->commit;
	/* the thread waits for work only when it has none */
	if (!w->busy)
		pthread_cond_signal(&w->work);
	failed = w->failed;
	pthread_mutex_unlock(&w->mu);
	return failed ? -1 : 0;
}

/* wr_wait - at most n batches not yet run */
int
wr_wait(wr_thread *w, long long n)
{
	int failed;

	pthread_mutex_lock(&w->mu);
	if (w->queued - w->committed > n)
		w->waits++;
	while (w->queued - w->committed > n)
		pthread_cond_wait(&w->ran, &w->mu);
	failed = w->failed;
	pthread_mutex_unlock(&w->mu);
	return failed ? -1 : 0;
}

/* wr_drain - nothing queued, nothing running */
int
wr_drain(wr_thread *w)
{
	int failed;

	pthread_mutex_lock(&w->mu);
	if (w->head != NULL || w->busy)
		w->waits++;
	while (w->head != NULL || w->busy)
		pthread_cond_wait(&w->ran, &w->mu);
	failed = w->failed;
	pthread_mutex_unlock(&w->mu);
	return failed ? -1 : 0;
}

/* wr_clear - forget a failure */
void
wr_clear(wr_thread *w)
{
	pthread_mutex_lock(&w->mu);
	w->failed = 0;
	pthread_mutex_unlock(&w->mu);
}

/* wr_done - the ops that ran, taken */
wr_op *
wr_done(wr_thread *w)
{
	wr_op *list;

	pthread_mutex_lock(&w->mu);
	list = w->done;
	w->done = NULL;
	pthread_mutex_unlock(&w->mu);
	return list;
}

/* wr_stop - run what is queued, end the thread; -1 if an op failed. The
 * ops that ran are left to wr_done: the caller frees them. */
int
wr_stop(wr_thread *w, long long *ops, long long *commits, double *cpu,
    unsigned long *waits)
{
	int failed;

	if (w == NULL)
		return 0;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	failed = w->failed;
	if (ops != NULL)
		*ops = w->ops;
	if (commits != NULL)
		*commits = w->committed;
	if (cpu != NULL)
		*cpu = w->cpu;
	if (waits != NULL)
		*waits = w->waits;
	return failed ? -1 : 0;
}

/* wr_free - the stopped thread's queue */
void
wr_free(wr_thread *w)
{
	if (w == NULL)
		return;
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->work);
	pthread_cond_destroy(&w->ran);
	free(w);
}
