// SPDX-License-Identifier: MIT
/*
 * The registry of flusher providers. A run holds a reference on its
 * provider, never the lock, so a provider may take as long as it likes, run
 * other providers, or unregister itself; unregistering waits for runs on
 * other threads to end so that the caller may free the provider's context.
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
	unsigned runs;    /* calls in progress, under lock */
	int builtin;
	int unregistered; /* off the list */
	int freed_by_unregister; /* else by the last run to end */
};

/* The runs in progress on this thread, innermost first. */
struct run_frame {
	const struct provider *provider;
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
static __thread struct run_frame *runs_here;

static int flush_provider(int client_fd, const fdpass_response *resp, void *context)
{
	char *head;
	size_t len;
	int r;

	(void)context;
	r = fdp_response_head(resp, time(NULL), &head, &len);
	if (r < 0)
		return r;
	r = fdpass_write_all(client_fd, head, len, FDPASS_FLUSH_TIMEOUT_MS);
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

int fdp_flusher_acquire(const char *name, struct provider **out)
{
	struct provider **pp;

	if (!name)
		name = FDPASS_FLUSHER_DEFAULT;
	if (!valid_name(name))
		return -EINVAL;
	pthread_mutex_lock(&lock);
	pp = find(name);
	if (pp) {
		(*pp)->runs++;
		*out = *pp; /* under the lock: *pp may change once it is released */
	}
	pthread_mutex_unlock(&lock);
	return pp ? 0 : -ENOENT;
}

void fdp_flusher_release(struct provider *p)
{
	int free_it;

	pthread_mutex_lock(&lock);
	free_it = --p->runs == 0 && p->unregistered && !p->freed_by_unregister;
	pthread_cond_broadcast(&run_ended);
	pthread_mutex_unlock(&lock);
	if (free_it)
		free(p);
}

int fdp_flusher_is_flush(const struct provider *p)
{
	return p == &builtin_flush;
}

int fdp_flusher_call(struct provider *p, int client_fd, const fdpass_response *resp)
{
	struct run_frame frame = { .provider = p, .outer = runs_here };
	int r;

	runs_here = &frame;
	r = p->fn(client_fd, resp ? resp : fdp_default_response(), p->context);
	runs_here = frame.outer;
	return r;
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

static unsigned runs_on_this_thread(const struct provider *p)
{
	const struct run_frame *f;
	unsigned n = 0;

	for (f = runs_here; f; f = f->outer)
		n += f->provider == p;
	return n;
}

FDPASS_EXPORT int fdpass_flusher_unregister(const char *name)
{
	struct provider **pp, *p;
	unsigned mine;
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
	*pp = p->next;
	p->unregistered = 1;
	/*
	 * Wait for the runs on other threads. If this thread is inside a run
	 * of p itself, that run ends after we return and frees p; otherwise
	 * no run is left when the wait ends, and we free it.
	 */
	mine = runs_on_this_thread(p);
	free_it = mine == 0;
	p->freed_by_unregister = free_it;
	while (p->runs > mine)
		pthread_cond_wait(&run_ended, &lock);
	pthread_mutex_unlock(&lock);
	if (free_it)
		free(p);
	return 0;
}

FDPASS_EXPORT int fdpass_flusher_lookup(const char *name, fdpass_flusher_fn *fn, void **context)
{
	struct provider *p;
	int r = fdp_flusher_acquire(name, &p);

	if (r < 0)
		return r;
	if (fn)
		*fn = p->fn;
	if (context)
		*context = p->context;
	fdp_flusher_release(p);
	return 0;
}

FDPASS_EXPORT int fdpass_flusher_run(const char *name, int client_fd, const fdpass_response *resp)
{
	struct provider *p;
	int r = fdp_flusher_acquire(name, &p);

	if (r < 0)
		return r;
	r = fdp_flusher_call(p, client_fd, resp);
	fdp_flusher_release(p);
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
