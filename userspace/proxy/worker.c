// SPDX-License-Identifier: Apache-2.0
/*
 * Relay threads (docs/process-model.md, "Threads"). The main thread
 * accepts, asks the daemon and decides. A connection goes to the least
 * loaded worker twice: for its TLS handshake (PS_HANDSHAKE: the client's
 * from its first flight, the server's once the main thread has looked up
 * the ClientHello's listener), given back when it ends either way; and
 * once it relays (PS_RELAY), the worker moving its bytes in its own epoll
 * loop until the relay ends, then handing it back. Nothing is shared while a worker holds a connection: the main
 * thread never touches the fields the relay writes, and a worker never
 * calls the daemon (struct proxy_env), the datapath or the flow records.
 *
 * Hand-overs are messages: a mutex-guarded queue and an eventfd each way.
 * A worker gives connections back only between two epoll batches, after
 * taking them out of its epoll set, so no event of a given-back
 * connection is left for it to handle (the main thread may free it).
 * The main thread's word to a worker about one connection (end it: a
 * policy reload denied it) is the atomic @kill, and a wake-up; whichever
 * comes first, the relay's end or the kill, the main thread sees the kill
 * when the connection is back and closes it with a reset.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "userspace/proxy/proxy_int.h"

#define WORKER_TICK_MS	1000

/* A queue of connections (linked by q_next) and flags, one way. */
struct handq {
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* the main thread waits on its own */
	struct pconn *head, *tail;
	bool recall, stop, kills;	/* to a worker */
	int efd;
};

struct pworker {
	struct pworkers *all;
	unsigned int idx;
	pthread_t thread;
	struct handq in;		/* main -> this worker */
	struct loop_handler wake;	/* in.efd in this worker's loop */
	/* The thread's own. */
	struct loop *loop;
	struct pconn *held;		/* linked by w_prev, w_next */
	struct pconn *out;		/* ended in this batch (q_next) */
	time_t next_tick;
	/* The main thread's: connections handed over, not back yet. */
	size_t load;
	/* The worker's, read by `proxy status`. */
	_Atomic uint64_t hs_done, hs_failed;
	char scratch[PROXY_BUF];
};

struct pworkers {
	struct proxy *px;
	unsigned int n, rr;
	struct pworker **w;
	struct handq back;		/* workers -> main */
	struct loop_handler back_h;	/* back.efd in the main loop */
	bool back_added;
	size_t away;			/* main's: held by workers now */
	bool recalling;
};

/* ---- queues ----------------------------------------------------------------- */

static int handq_init(struct handq *q)
{
	memset(q, 0, sizeof(*q));
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->efd < 0)
		return -errno;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	return 0;
}

static void handq_fini(struct handq *q)
{
	if (q->efd < 0)
		return;
	close(q->efd);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
	q->efd = -1;
}

static void handq_wake(struct handq *q)
{
	uint64_t one = 1;

	/* A full counter (never, at 2^64 - 2) is a wake-up pending anyway. */
	if (write(q->efd, &one, sizeof(one)) < 0)
		return;
}

/* Appends a q_next-linked list. Call with q->lock held. */
static void handq_append(struct handq *q, struct pconn *list)
{
	struct pconn *last = list;

	if (!list)
		return;
	while (last->q_next)
		last = last->q_next;
	if (q->tail)
		q->tail->q_next = list;
	else
		q->head = list;
	q->tail = last;
}

static struct pconn *handq_take(struct handq *q)
{
	struct pconn *list = q->head;

	q->head = q->tail = NULL;
	return list;
}

/* ---- the worker thread -------------------------------------------------------- */

static void held_unlink(struct pworker *w, struct pconn *c)
{
	if (c->w_prev)
		c->w_prev->w_next = c->w_next;
	else
		w->held = c->w_next;
	if (c->w_next)
		c->w_next->w_prev = c->w_prev;
	c->w_prev = c->w_next = NULL;
}

static void side_leave(struct loop *l, struct side *s)
{
	if (s->registered && s->h.fd >= 0)
		loop__del(l, &s->h);
	s->registered = false;
	s->events = 0;
}

void pworker__give_back(struct pconn *c, enum relay_end end)
{
	struct pworker *w = c->away;

	if (c->end != RELAY_RUNNING)
		return;
	c->end = end;
	held_unlink(w, c);
	/* Out of the epoll set now: EPOLL_CTL_DEL also drops an event
	 * already queued, so the next batch has none of it. One still in
	 * this batch is skipped by on_side (c->end is set). */
	side_leave(w->loop, &c->a);
	side_leave(w->loop, &c->b);
	c->q_next = w->out;
	w->out = c;
}

void pworker__handshake_over(struct pconn *c, bool ok)
{
	struct pworker *w = c->away;

	atomic_fetch_add_explicit(ok ? &w->hs_done : &w->hs_failed, 1,
				  memory_order_relaxed);
	pworker__give_back(c, RELAY_HANDSHAKE);
}

static void adopt(struct pworker *w, struct pconn *c)
{
	c->end = RELAY_RUNNING;
	c->w_prev = NULL;
	c->w_next = w->held;
	if (w->held)
		w->held->w_prev = c;
	w->held = c;
	/* Either registers its sides with this loop. */
	if (c->st == PS_HANDSHAKE)
		pconn__handshake(c);
	else
		relay__pump(c);
}

/* Once a second: relays idle past their deadline. A handshake's deadline
 * is the main thread's (admission shortens it under pressure): it asks
 * for the connection back (@kill). */
static void worker_tick(struct pworker *w)
{
	time_t now = clock__mono_s();
	struct pconn *c, *next;

	if (now < w->next_tick)
		return;
	w->next_tick = now + WORKER_TICK_MS / 1000;
	for (c = w->held; c; c = next) {
		next = c->w_next;
		if (c->st == PS_RELAY && now > c->deadline)
			pworker__give_back(c, RELAY_TIMEOUT);
	}
}

/* Between batches: what the main thread sent, what ended, given back. */
static void worker_between(struct pworker *w, bool *stop)
{
	struct pconn *list, *c, *next;
	bool recall, kills;

	pthread_mutex_lock(&w->in.lock);
	list = handq_take(&w->in);
	recall = w->in.recall;
	kills = w->in.kills;
	*stop = w->in.stop;
	w->in.recall = w->in.kills = false;
	pthread_mutex_unlock(&w->in.lock);
	for (c = list; c; c = next) {
		next = c->q_next;
		c->q_next = NULL;
		adopt(w, c);
	}
	for (c = w->held; c && (kills || recall); c = next) {
		next = c->w_next;
		if (atomic_load(&c->kill))
			pworker__give_back(c, RELAY_KILLED);
		else if (recall)
			pworker__give_back(c, RELAY_RECALLED);
	}
	worker_tick(w);
	if (!w->out)
		return;
	pthread_mutex_lock(&w->all->back.lock);
	handq_append(&w->all->back, w->out);
	pthread_cond_signal(&w->all->back.cond);
	pthread_mutex_unlock(&w->all->back.lock);
	handq_wake(&w->all->back);
	w->out = NULL;
}

/* The eventfd only wakes the loop up: worker_between reads the queue. */
static void on_wake(struct loop_handler *h, uint32_t events)
{
	uint64_t n;

	if (read(h->fd, &n, sizeof(n)) < 0)
		return;
}

static void *worker_main(void *arg)
{
	struct pworker *w = arg;
	bool stop = false;

	while (!stop || w->held) {
		loop__run_once(w->loop, WORKER_TICK_MS);
		worker_between(w, &stop);
	}
	return NULL;
}

/* ---- the main thread ------------------------------------------------------------ */

/* A connection is back: the main thread's again, then what its end says. */
static void finish(struct pworkers *wk, struct pconn *c)
{
	const char *kill = atomic_exchange(&c->kill, NULL);
	enum relay_end end = c->end;

	c->away->load--;
	wk->away--;
	c->away = NULL;
	c->loop = wk->px->loop;
	c->end = RELAY_RUNNING;
	if (kill) {
		pconn__close(c, true, kill);
		return;
	}
	relay__end(c, end);
}

/* Everything given back so far; @wait: block until something is. */
static void take_back(struct pworkers *wk, bool wait)
{
	struct pconn *list, *c, *next;

	pthread_mutex_lock(&wk->back.lock);
	while (wait && !wk->back.head)
		pthread_cond_wait(&wk->back.cond, &wk->back.lock);
	list = handq_take(&wk->back);
	pthread_mutex_unlock(&wk->back.lock);
	for (c = list; c; c = next) {
		next = c->q_next;
		c->q_next = NULL;
		finish(wk, c);
	}
}

static void on_back(struct loop_handler *h, uint32_t events)
{
	struct pworkers *wk = (struct pworkers *)((char *)h -
				offsetof(struct pworkers, back_h));

	on_wake(h, events);
	take_back(wk, false);
}

/* Tells every worker something under its queue's lock, and wakes it. */
static void tell_all(struct pworkers *wk, bool recall, bool stop)
{
	struct pworker *w;
	unsigned int i;

	for (i = 0; i < wk->n; i++) {
		w = wk->w[i];
		pthread_mutex_lock(&w->in.lock);
		w->in.recall |= recall;
		w->in.stop |= stop;
		pthread_mutex_unlock(&w->in.lock);
		handq_wake(&w->in);
	}
}

void pworkers__recall(struct proxy *px)
{
	struct pworkers *wk = px->wk;

	if (!wk)
		return;
	/* What comes back may start its next stream at once (NT2): that
	 * one relays here, or the recall would never end. */
	wk->recalling = true;
	if (wk->away)
		tell_all(wk, true, false);
	while (wk->away)
		take_back(wk, true);
	wk->recalling = false;
}

/* The least loaded worker, the next one in turn among equals. */
static struct pworker *pick(struct pworkers *wk)
{
	struct pworker *best = NULL, *w;
	unsigned int i;

	for (i = 0; i < wk->n; i++) {
		w = wk->w[(wk->rr + i) % wk->n];
		if (!best || w->load < best->load)
			best = w;
	}
	wk->rr = (best->idx + 1) % wk->n;
	return best;
}

bool pworkers__give(struct pconn *c)
{
	struct pworkers *wk = c->px->wk;
	struct pworker *w;

	if (!wk || c->away || wk->recalling)
		return false;
	w = pick(wk);
	/* Out of the main loop; the worker registers the sides in its own. */
	side_leave(c->px->loop, &c->a);
	side_leave(c->px->loop, &c->b);
	c->away = w;
	c->loop = w->loop;
	c->end = RELAY_RUNNING;
	w->load++;
	wk->away++;
	pthread_mutex_lock(&w->in.lock);
	handq_append(&w->in, c);
	pthread_mutex_unlock(&w->in.lock);
	handq_wake(&w->in);
	return true;
}

void pworkers__kill(struct pconn *c, const char *why)
{
	struct pworker *w = c->away;

	atomic_store(&c->kill, why);
	pthread_mutex_lock(&w->in.lock);
	w->in.kills = true;
	pthread_mutex_unlock(&w->in.lock);
	handq_wake(&w->in);
}

char *pworker__scratch(struct pconn *c)
{
	return c->away ? c->away->scratch : c->px->scratch;
}

unsigned int pworkers__count(const struct proxy *px)
{
	return px->wk ? px->wk->n : 1;
}

unsigned int pworkers__handshakes(const struct proxy *px, uint64_t *done,
				  uint64_t *failed, unsigned int n)
{
	const struct pworkers *wk = px->wk;
	unsigned int i;

	for (i = 0; wk && i < wk->n && i < n; i++) {
		done[i] = atomic_load_explicit(&wk->w[i]->hs_done,
					       memory_order_relaxed);
		failed[i] = atomic_load_explicit(&wk->w[i]->hs_failed,
						 memory_order_relaxed);
	}
	return i;
}

/* ---- start and stop ----------------------------------------------------------------- */

static void worker_free(struct pworker *w)
{
	if (!w)
		return;
	if (w->loop)
		loop__free(w->loop);
	handq_fini(&w->in);
	free(w);
}

/* Signals are the main thread's (its signalfd): a worker blocks them all,
 * from its first instruction on. */
static int spawn(struct pworker *w)
{
	sigset_t all, old;
	int ret;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}

static int worker_new(struct pworkers *wk, unsigned int idx,
		      struct pworker **out)
{
	struct pworker *w = calloc(1, sizeof(*w));
	int ret;

	if (!w)
		return -ENOMEM;
	w->all = wk;
	w->idx = idx;
	ret = handq_init(&w->in);
	if (ret) {
		free(w);
		return ret;
	}
	ret = loop__new(&w->loop);
	if (!ret) {
		w->wake = (struct loop_handler){ .fd = w->in.efd,
						 .on_event = on_wake };
		ret = loop__add(w->loop, &w->wake, EPOLLIN);
	}
	if (!ret)
		ret = spawn(w);
	if (ret) {
		worker_free(w);
		return ret;
	}
	pthread_setname_np(w->thread, "nametagd-relay");
	*out = w;
	return 0;
}

int pworkers__start(struct proxy *px, unsigned int n, struct nt_err *err)
{
	struct pworkers *wk;
	int ret;

	if (n < 2)
		return 0;
	wk = calloc(1, sizeof(*wk));
	if (!wk || !(wk->w = calloc(n, sizeof(*wk->w)))) {
		free(wk);
		return nt_err_set(err, -ENOMEM, "out of memory");
	}
	wk->px = px;
	px->wk = wk;
	ret = handq_init(&wk->back);
	if (!ret) {
		wk->back_h = (struct loop_handler){ .fd = wk->back.efd,
						    .on_event = on_back };
		ret = loop__add(px->loop, &wk->back_h, EPOLLIN);
		wk->back_added = !ret;
	}
	while (!ret && wk->n < n) {
		ret = worker_new(wk, wk->n, &wk->w[wk->n]);
		if (!ret)
			wk->n++;
	}
	if (ret) {
		pworkers__stop(px);
		return nt_err_set(err, ret, "relay threads: %s", strerror(-ret));
	}
	pr_info("%u relay threads", n);
	return 0;
}

void pworkers__stop(struct proxy *px)
{
	struct pworkers *wk = px->wk;
	unsigned int i;

	if (!wk)
		return;
	pworkers__recall(px);
	tell_all(wk, false, true);
	for (i = 0; i < wk->n; i++) {
		pthread_join(wk->w[i]->thread, NULL);
		worker_free(wk->w[i]);
	}
	if (wk->back_added)
		loop__del(px->loop, &wk->back_h);
	handq_fini(&wk->back);
	free(wk->w);
	free(wk);
	px->wk = NULL;
}
