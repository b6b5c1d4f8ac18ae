// SPDX-License-Identifier: MIT
/* The front-end's hand-off, in httpd's order: connect, flush, pass, close. */
#include <errno.h>
#include <limits.h>
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

static int handoff(const char *backend, int client_fd, const char *flusher,
		   const fdpass_response *resp, const fdpass_meta *meta, int timeout_ms)
{
	char path[PATH_MAX];
	struct provider *p;
	int conn, r;

	if (!backend || client_fd < 0)
		return -EINVAL;
	if (!strncasecmp(backend, "fd://", 5)) {
		r = fdpass_url_path(backend, path, sizeof(path));
		if (r < 0)
			return r;
		backend = path;
	}
	r = fdp_flusher_acquire(flusher, &p);
	if (r < 0)
		return r == -ENOENT ? -ESRCH : r;
	if (fdp_flusher_is_flush(p) && fdp_response_check_flush(resp) < 0) {
		fdp_flusher_release(p);
		return -EINVAL; /* "flush" would refuse it: say so before connecting */
	}

	/* Nothing reaches the client before the backend has the connection. */
	/* Non-blocking from the start: the sends below carry their own wait. */
	conn = fdpass_connect(backend, FDPASS_NONBLOCK, timeout_ms);
	if (conn < 0) {
		fdp_flusher_release(p);
		return conn == -EAGAIN ? -ETIMEDOUT : conn;
	}
	r = fdp_flusher_call(p, client_fd, resp);
	fdp_flusher_release(p);
	if (r == 0)
		r = fdp_send_message(conn, &client_fd, 1, meta,
				     flusher ? flusher : FDPASS_FLUSHER_DEFAULT, 0, timeout_ms);
	close(conn);
	return r < 0 ? -ECONNABORTED : 0;
}

FDPASS_EXPORT int fdpass_handoff(const char *backend, int client_fd, const char *flusher,
				 const fdpass_response *resp, int timeout_ms)
{
	return handoff(backend, client_fd, flusher, resp, NULL, timeout_ms);
}

FDPASS_EXPORT int fdpass_handoff_meta(const char *backend, int client_fd, const char *flusher,
				      const fdpass_response *resp, const fdpass_meta *meta,
				      int timeout_ms)
{
	return handoff(backend, client_fd, flusher, resp, meta, timeout_ms);
}
