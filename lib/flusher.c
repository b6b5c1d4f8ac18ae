// SPDX-License-Identifier: MIT
/*
 * The registry of flusher providers. A run or a pin holds its provider,
 * never the lock, so a provider may take as long as it likes, run other
 * providers, or unregister itself. Unregistering waits for the holds of
 * other threads, so that the caller may then free the provider's context,
 * unless that wait could never end because a holder waits for this thread
 * (-EDEADLK).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

struct provider {
	struct provider *next;
	char name[FDPASS_FLUSHER_NAME_MAX + 1];
	fdpass_flusher_fn fn;
	void *context;
	struct fdp_hold *holds; /* runs and pins in progress, under lock */
	int builtin;
	int unregistered;       /* off the list */
	int freed_by_unregister; /* else by the last hold to go */
};

/* A thread waiting in fdpass_flusher_unregister(), on its own stack, under lock. */
struct waiter {
	pthread_t thread;
	const struct provider *provider; /* whose holds it waits for */
	struct waiter *next;
	unsigned visited;                /* the deadlock search's mark */
};

/* The runs in progress on this thread, innermost first. */
struct run_frame {
	const struct fdp_deadline *dl; /* NULL: FDPASS_FLUSH_TIMEOUT_MS per write */
	size_t written;                /* by "flush", for the hand-off's result */
	struct run_frame *outer;
};

static int flush_provider(int client_fd, const fdpass_response *resp, void *context);
static int none_provider(int client_fd, const fdpass_response *resp, void *context);

static struct provider builtin_none = {
	.name = "none", .fn = none_provider, .builtin = 1,
};
static struct provider builtin_flush = {
	.next = &builtin_none, .name = FDPASS_FLUSHER_DEFAULT, .fn = flush_provider, .builtin = 1,
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t run_ended = PTHREAD_COND_INITIALIZER;
static struct provider *providers = &builtin_flush;
static struct waiter *waiters;
static unsigned search_mark;
static __thread struct run_frame *runs_here;

static int flush_provider(int client_fd, const fdpass_response *resp, void *context)
{
	size_t len, written = 0;
	char *head;
	int r;

	(void)context;
	r = fdp_response_head(resp, time(NULL), &head, &len);
	if (r < 0)
		return r;
	r = fdpass_write_all2(client_fd, head, len, fdpass_flusher_timeout(), &written);
	if (runs_here)
		runs_here->written += written;
	free(head);
	return r;
}

static int none_provider(int client_fd, const fdpass_response *resp, void *context)
{
	(void)client_fd;
	(void)resp;
	(void)context;
	return 0;
}

static int valid_name(const char *name)
{
	size_t len;

	if (!name)
		return 0;
	len = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
	return len > 0 && len <= FDPASS_FLUSHER_NAME_MAX && name[len] == '\0';
}

/* Under lock. */
static struct provider **find(const char *name)
{
	struct provider **pp;

	for (pp = &providers; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->name, name))
			return pp;
	return NULL;
}

int fdp_flusher_acquire(const char *name, struct fdp_hold *h)
{
	struct provider **pp;

	if (!name)
		name = FDPASS_FLUSHER_DEFAULT;
	if (!valid_name(name))
		return -EINVAL;
	pthread_mutex_lock(&lock);
	pp = find(name);
	if (pp) {
		h->provider = *pp; /* under the lock: *pp may change once it is released */
		h->owner = pthread_self();
		h->next = (*pp)->holds;
		(*pp)->holds = h;
	}
	pthread_mutex_unlock(&lock);
	return pp ? 0 : -ENOENT;
}

void fdp_flusher_release(struct fdp_hold *h)
{
	struct provider *p = h->provider;
	struct fdp_hold **hp;
	int free_it;

	pthread_mutex_lock(&lock);
	for (hp = &p->holds; *hp != h; hp = &(*hp)->next)
		;
	*hp = h->next;
	free_it = !p->holds && p->unregistered && !p->freed_by_unregister;
	pthread_cond_broadcast(&run_ended);
	pthread_mutex_unlock(&lock);
	if (free_it)
		free(p);
}

int fdp_flusher_is_flush(const struct fdp_hold *h)
{
	return h->provider == &builtin_flush;
}

int fdp_flusher_is_none(const struct fdp_hold *h)
{
	return h->provider == &builtin_none;
}

const char *fdp_flusher_name(const struct fdp_hold *h)
{
	return h->provider->name;
}

/*
 * A provider's non-negative return is success (one that returns a count,
 * as write(2) does, succeeded): every caller sees 0.
 */
int fdp_flusher_call(const struct fdp_hold *h, int client_fd, const fdpass_response *resp,
		     const struct fdp_deadline *dl, size_t *written)
{
	struct run_frame frame = { .dl = dl, .outer = runs_here };
	const struct provider *p = h->provider;
	int r;

	runs_here = &frame;
	r = p->fn(client_fd, resp ? resp : fdp_default_response(), p->context);
	runs_here = frame.outer;
	if (written)
		*written = frame.written;
	return r > 0 ? 0 : r;
}

FDPASS_EXPORT int fdpass_flusher_timeout(void)
{
	const struct run_frame *f = runs_here;

	if (!f || !f->dl)
		return FDPASS_FLUSH_TIMEOUT_MS;
	return fdp_deadline_left(f->dl);
}

FDPASS_EXPORT int fdpass_flusher_register(const char *name, fdpass_flusher_fn fn, void *context)
{
	struct provider *p, **pp;
	int r = 0;

	if (!valid_name(name) || !fn)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	strcpy(p->name, name);
	p->fn = fn;
	p->context = context;

	pthread_mutex_lock(&lock);
	pp = find(name);
	if (pp) {
		r = (*pp)->builtin ? -EPERM : -EEXIST;
	} else {
		for (pp = &providers; *pp; pp = &(*pp)->next)
			;
		*pp = p;
	}
	pthread_mutex_unlock(&lock);
	if (r < 0)
		free(p);
	return r;
}

/* Under lock: the holds of p that a waiter on thread self would wait for. */
static int held_by_others(const struct provider *p, pthread_t self)
{
	const struct fdp_hold *h;

	for (h = p->holds; h; h = h->next)
		if (!pthread_equal(h->owner, self))
			return 1;
	return 0;
}

/*
 * Under lock: would thread self, waiting for the holds of p on other
 * threads, wait for ever? Only if a chain of waits leads back to it: a
 * holder of p waits for a provider that one of self's waits needs. Holds
 * never wait, so every cycle closes with a wait, and the thread that would
 * close it is the one told -EDEADLK. waiter_self is the thread whose own
 * holds do not count at this step.
 */
static int wait_closes_cycle(const struct provider *p, pthread_t waiter_self, pthread_t self,
			     unsigned mark)
{
	const struct fdp_hold *h;

	for (h = p->holds; h; h = h->next) {
		struct waiter *w;

		if (pthread_equal(h->owner, waiter_self))
			continue;
		if (pthread_equal(h->owner, self))
			return 1;
		for (w = waiters; w; w = w->next)
			if (pthread_equal(w->thread, h->owner) && w->visited != mark) {
				w->visited = mark;
				if (wait_closes_cycle(w->provider, w->thread, self, mark))
					return 1;
			}
	}
	return 0;
}

FDPASS_EXPORT int fdpass_flusher_unregister(const char *name)
{
	pthread_t self = pthread_self();
	struct waiter me = { .thread = self }, **wp;
	struct provider **pp, *p;
	int free_it;

	if (!valid_name(name))
		return -EINVAL;
	pthread_mutex_lock(&lock);
	pp = find(name);
	if (!pp || (*pp)->builtin) {
		pthread_mutex_unlock(&lock);
		return pp ? -EPERM : -ENOENT;
	}
	p = *pp;
	if (held_by_others(p, self) && wait_closes_cycle(p, self, self, ++search_mark)) {
		pthread_mutex_unlock(&lock);
		return -EDEADLK;
	}
	*pp = p->next;
	p->unregistered = 1;
	/*
	 * Wait for the holds of other threads; meanwhile no release frees p.
	 * This thread's own (a run of p that is unregistering itself, a pin)
	 * end after we return, and the last of them frees p; without any, we
	 * free it.
	 */
	p->freed_by_unregister = 1;
	me.provider = p;
	me.next = waiters;
	waiters = &me;
	while (held_by_others(p, self))
		pthread_cond_wait(&run_ended, &lock);
	for (wp = &waiters; *wp != &me; wp = &(*wp)->next)
		;
	*wp = me.next;
	free_it = !p->holds;
	p->freed_by_unregister = free_it;
	pthread_mutex_unlock(&lock);
	if (free_it)
		free(p);
	return 0;
}

FDPASS_EXPORT int fdpass_flusher_lookup(const char *name, fdpass_flusher_fn *fn, void **context)
{
	struct fdp_hold h;
	int r = fdp_flusher_acquire(name, &h);

	if (r < 0)
		return r;
	if (fn)
		*fn = h.provider->fn;
	if (context)
		*context = h.provider->context;
	fdp_flusher_release(&h);
	return 0;
}

/* A pin is a hold that outlives the call that took it. */
struct fdpass_flusher_ref {
	struct fdp_hold hold;
};

FDPASS_EXPORT int fdpass_flusher_pin(const char *name, fdpass_flusher_ref **ref,
				     fdpass_flusher_fn *fn, void **context)
{
	fdpass_flusher_ref *pin;
	int r;

	if (!ref)
		return -EINVAL;
	pin = malloc(sizeof(*pin));
	if (!pin)
		return -ENOMEM;
	r = fdp_flusher_acquire(name, &pin->hold);
	if (r < 0) {
		free(pin);
		return r;
	}
	if (fn)
		*fn = pin->hold.provider->fn;
	if (context)
		*context = pin->hold.provider->context;
	*ref = pin;
	return 0;
}

FDPASS_EXPORT void fdpass_flusher_unpin(fdpass_flusher_ref *ref)
{
	if (!ref)
		return;
	fdp_flusher_release(&ref->hold);
	free(ref);
}

FDPASS_EXPORT int fdpass_flusher_run(const char *name, int client_fd, const fdpass_response *resp)
{
	struct fdp_hold h;
	int r = fdp_flusher_acquire(name, &h);

	if (r < 0)
		return r;
	/* A run inside a hand-off's provider keeps the hand-off's deadline. */
	r = fdp_flusher_call(&h, client_fd, resp, runs_here ? runs_here->dl : NULL, NULL);
	fdp_flusher_release(&h);
	return r;
}

FDPASS_EXPORT ssize_t fdpass_flusher_list(char *buf, size_t size)
{
	const struct provider *p;
	size_t need = 0;

	if (!buf && size > 0)
		return -EINVAL;
	pthread_mutex_lock(&lock);
	for (p = providers; p; p = p->next) {
		size_t len = strlen(p->name) + 1;

		if (need + len <= size)
			memcpy(buf + need, p->name, len);
		need += len;
	}
	pthread_mutex_unlock(&lock);
	return (ssize_t)need;
}
