// SPDX-License-Identifier: MIT
/* The front-end's hand-off, in httpd's order: connect, flush, pass, close. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "internal.h"

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

FDPASS_EXPORT int fdpass_url_path(const char *url, char *path, size_t size)
{
	const char *s;
	size_t n = 0;

	if (!url || !path || strncasecmp(url, "fd://", 5) != 0)
		return -EINVAL;
	s = url + 5;
	if (!*s || strpbrk(s, "?#"))
		return -EINVAL;
	for (; *s; s++) {
		char c = *s;

		if (c == '%') {
			int hi = hex_digit(s[1]), lo = hi < 0 ? -1 : hex_digit(s[2]);

			if (lo < 0 || (hi == 0 && lo == 0))
				return -EINVAL;
			c = (char)(hi * 16 + lo);
			s += 2;
		}
		if (n + 1 >= size)
			return -ENAMETOOLONG;
		path[n++] = c;
	}
	path[n] = '\0';
	return n > INT_MAX ? -ENAMETOOLONG : (int)n;
}

/*
 * Linux looks up an abstract name per socket type, so a listener of the
 * other type gives ECONNREFUSED where a path gives EPROTOTYPE. Is there a
 * listener of the other type under name ("@name")? Only on that error path;
 * /proc/net/unix prints an abstract name with '@' for its leading NUL.
 */
static int abstract_listener_of_other_type(const char *name, int flags)
{
	int other = (flags & FDPASS_SEQPACKET) ? SOCK_STREAM : SOCK_SEQPACKET;
	size_t len = strlen(name);
	char line[512];
	int found = 0;
	FILE *f;

	if (name[0] != '@')
		return 0;
	f = fopen("/proc/net/unix", "re");
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long sockflags;
		unsigned type;
		int pos = 0;

		if (sscanf(line, "%*s %*s %*s %lx %x %*s %*s %n", &sockflags, &type, &pos) < 2 ||
		    pos == 0)
			continue;
		found = (int)type == other && (sockflags & 0x10000) && /* __SO_ACCEPTCON */
			!strncmp(line + pos, name, len) && line[pos + len] == '\n';
	}
	fclose(f);
	return found;
}

/*
 * What a hand-off does, for the 1.1 calls (legacy: timeout_ms bounds the
 * connection and the send separately, "flush" has its own 10 s, every
 * failure after the flusher began is -ECONNABORTED) and for
 * fdpass_handoff2() (one deadline, the real error and *result).
 */
struct handoff {
	const char *backend;
	int client_fd;
	const char *flusher;
	const fdpass_response *resp;
	const fdpass_meta *meta;
	int flags;
	int timeout_ms;
	int legacy;
	unsigned result;
};

static int handoff_connect(struct handoff *h, const struct fdp_deadline *dl)
{
	/* Non-blocking where the sends below carry their own wait. */
	int nonblock = h->legacy || dl->timeout_ms >= 0 ? FDPASS_NONBLOCK : 0;
	int conn = fdpass_connect(h->backend, (h->flags & FDPASS_SEQPACKET) | nonblock,
				  h->legacy ? h->timeout_ms : fdp_deadline_left(dl));

	if (conn == -ECONNREFUSED && abstract_listener_of_other_type(h->backend, h->flags))
		conn = -EPROTOTYPE;
	if (conn == -EAGAIN && (h->legacy || dl->timeout_ms > 0))
		conn = -ETIMEDOUT;
	return conn;
}

static int handoff(struct handoff *h)
{
	char path[PATH_MAX];
	struct fdp_deadline dl;
	struct fdp_hold hold;
	size_t written = 0;
	int conn, r;

	fdp_deadline_init(&dl, h->timeout_ms);
	if (!h->backend || h->client_fd < 0 || (h->flags & ~FDPASS_SEQPACKET))
		return -EINVAL;
	if (!strncasecmp(h->backend, "fd://", 5)) {
		r = fdpass_url_path(h->backend, path, sizeof(path));
		if (r < 0)
			return r;
		h->backend = path;
	}
	r = fdp_flusher_acquire(h->flusher, &hold);
	if (r < 0)
		return r == -ENOENT ? -ESRCH : r;
	if (fdp_flusher_is_flush(&hold) && fdp_response_check_flush(h->resp) < 0) {
		fdp_flusher_release(&hold);
		return -EINVAL; /* "flush" would refuse it: say so before connecting */
	}

	/* Nothing reaches the client before the backend has the connection. */
	conn = handoff_connect(h, &dl);
	if (conn < 0) {
		fdp_flusher_release(&hold);
		h->result |= FDPASS_HANDOFF_FAILED_BACKEND;
		return conn;
	}
	r = fdp_flusher_call(&hold, h->client_fd, h->resp, h->legacy ? NULL : &dl, &written);
	/* Only "flush" and "none" are known to have written nothing. */
	if (fdp_flusher_is_flush(&hold) ? written > 0 : !fdp_flusher_is_none(&hold))
		h->result |= FDPASS_HANDOFF_CLIENT_WRITTEN;
	if (r < 0) {
		h->result |= FDPASS_HANDOFF_FAILED_CLIENT;
	} else {
		r = fdp_send_message(conn, &h->client_fd, 1, h->meta, fdp_flusher_name(&hold), 0,
				     h->timeout_ms, h->legacy ? NULL : &dl);
		if (r < 0 && r != -ENOMEM)
			h->result |= FDPASS_HANDOFF_FAILED_BACKEND;
	}
	fdp_flusher_release(&hold);
	close(conn);
	if (r < 0 && h->legacy)
		return -ECONNABORTED;
	/* A deadline that passed leaves the last waits with no time: -EAGAIN. */
	return r == -EAGAIN && dl.timeout_ms > 0 ? -ETIMEDOUT : r;
}

FDPASS_EXPORT int fdpass_handoff(const char *backend, int client_fd, const char *flusher,
				 const fdpass_response *resp, int timeout_ms)
{
	struct handoff h = { backend, client_fd, flusher, resp, NULL, 0, timeout_ms, 1, 0 };

	return handoff(&h);
}

FDPASS_EXPORT int fdpass_handoff_meta(const char *backend, int client_fd, const char *flusher,
				      const fdpass_response *resp, const fdpass_meta *meta,
				      int timeout_ms)
{
	struct handoff h = { backend, client_fd, flusher, resp, meta, 0, timeout_ms, 1, 0 };

	return handoff(&h);
}

FDPASS_EXPORT int fdpass_handoff2(const char *backend, int client_fd, const char *flusher,
				  const fdpass_response *resp, const fdpass_meta *meta,
				  int flags, int timeout_ms, unsigned *result)
{
	struct handoff h = { backend, client_fd, flusher, resp, meta, flags, timeout_ms, 0, 0 };
	int r = handoff(&h);

	if (result)
		*result = h.result;
	return r;
}
