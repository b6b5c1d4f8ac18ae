// SPDX-License-Identifier: MIT
/*
 * fdpass-frontend: accepts HTTP/1.x connections, reads the request head,
 * picks a backend by the longest matching path prefix, and hands the
 * client's socket to it with fdpass_handoff(), as Apache httpd's
 * mod_proxy_fdpass does. One event loop; no client can stall another.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fdpass.h>

#include "http-head.h"
#include "progutil.h"

#define DEFAULT_TIMEOUT_MS 10000
#define RETRY_MS 5        /* a backend whose backlog is full is tried again */
#define LINGER_MS 1000    /* draining a client after an error response */
#define MAX_CLIENTS 16384

static const char usage[] =
"Usage: fdpass-frontend --listen HOST:PORT\n"
"                       --route PREFIX=SOCKETPATH[,flusher=NAME][,meta=on][,keepalive=on]\n"
"                       [--route ...]\n"
"                       [--timeout MS]\n"
"\n"
"Accept HTTP/1.x connections on HOST:PORT, read each request head, and hand\n"
"the client's connection to the backend of the route whose PREFIX is the\n"
"longest match of the request path: the route's flusher writes the status\n"
"line and headers, the client's socket goes to the backend over the unix\n"
"socket SOCKETPATH, and the backend writes the body straight to the client.\n"
"This is what Apache httpd's mod_proxy_fdpass does; any fdpass backend works\n"
"behind either.\n"
"\n"
"Options:\n"
"  --listen HOST:PORT  address to accept clients on ([::1]:8080 for IPv6)\n"
"  --route PREFIX=SOCKETPATH[,flusher=NAME][,meta=on][,keepalive=on]\n"
"                      requests whose path starts with PREFIX go to the\n"
"                      backend listening on SOCKETPATH (\"@name\" for an\n"
"                      abstract name, or an httpd-style fd:// URL); NAME is\n"
"                      \"flush\" (default: 200 OK, Date, Server, Connection:\n"
"                      close) or \"none\" (the backend writes everything);\n"
"                      meta=on sends, with the socket, the bytes already read\n"
"                      from the client and its address (libfdpass's metadata\n"
"                      message; httpd's plain message otherwise);\n"
"                      keepalive=on (with flusher=none,meta=on) hands the\n"
"                      connection over for good: the backend answers every\n"
"                      further request on it itself\n"
"  --timeout MS        how long a client may take to send its request head,\n"
"                      and a backend to accept the connection (default 10000)\n"
"  --help              show this text\n"
"\n"
"Answered by the front-end itself: 400 (malformed request head), 404 (no\n"
"route), 408 (head not complete in time), 431 (head over 8192 bytes), 500\n"
"(unknown flusher), 502 (backend unreachable), 504 (backend not accepting in\n"
"time). Keep-alive is off: a handed-off connection ends with the backend's\n"
"response. One line per request is logged on stderr; SIGINT or SIGTERM stop\n"
"it.\n"
"\n"
"Example:\n"
"  fdpass-backend --listen /run/app.sock &\n"
"  fdpass-frontend --listen 127.0.0.1:8080 --route /=/run/app.sock\n";

struct route {
	const char *prefix;
	size_t prefix_len;
	char *backend;
	char *flusher; /* NULL: "flush" */
	int meta;      /* send the bytes read and the addresses along */
	int keepalive; /* the backend keeps the connection for good */
};

enum client_state { READING, WAITING_BACKEND, LINGERING };

struct client {
	int fd;
	enum client_state state;
	int64_t deadline;  /* reading: the head; waiting: the backend */
	int64_t retry_at;  /* waiting: next hand-off attempt */
	const struct route *route;
	size_t len;
	char head[HTTP_HEAD_MAX + 2]; /* one byte more than a head may have */
	char request[128]; /* "GET /path" for log lines */
	char name[64];
};

struct frontend {
	int listen_fd;
	int timeout_ms;
	struct route *routes;
	size_t nroutes;
	struct client **clients;
	size_t nclients, cap;
	fdpass_response *ok;
};

static int parse_route(const char *arg, struct route *r)
{
	const char *eq = strchr(arg, '=');
	char *opts;

	memset(r, 0, sizeof(*r));
	if (!eq || eq == arg || !eq[1])
		return -1;
	r->prefix = strndup(arg, (size_t)(eq - arg));
	r->prefix_len = (size_t)(eq - arg);
	r->backend = strdup(eq + 1);
	if (!r->prefix || !r->backend)
		return -1;
	opts = strchr(r->backend, ',');
	if (!opts)
		return 0;
	*opts++ = '\0';
	while (opts && *opts) {
		char *next = strchr(opts, ',');

		if (next)
			*next++ = '\0';
		if (!strncmp(opts, "flusher=", 8) && opts[8])
			r->flusher = opts + 8;
		else if (!strcmp(opts, "meta=on") || !strcmp(opts, "meta=off"))
			r->meta = opts[6] == 'n';
		else if (!strcmp(opts, "keepalive=on") || !strcmp(opts, "keepalive=off"))
			r->keepalive = opts[11] == 'n';
		else
			return -1;
		opts = next;
	}
	/* A connection handed over for good: nobody else may answer on it. */
	if (r->keepalive && (!r->meta || !r->flusher || strcmp(r->flusher, "none")))
		return -1;
	return 0;
}

static int listen_tcp(const char *hostport)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai;
	size_t len;
	int fd, one = 1, r;

	if (!colon || colon == hostport || !colon[1])
		return -EINVAL;
	len = (size_t)(colon - hostport);
	if (hostport[0] == '[' && colon[-1] == ']') {
		hostport++;
		len -= 2;
	}
	if (len >= sizeof(host))
		return -EINVAL;
	memcpy(host, hostport, len);
	host[len] = '\0';
	r = getaddrinfo(host, colon + 1, &hints, &ai);
	if (r != 0)
		return -EADDRNOTAVAIL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4096) < 0) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return r;
	}
	freeaddrinfo(ai);
	return fd;
}

static const struct route *find_route(const struct frontend *f, const char *path, size_t len)
{
	const struct route *best = NULL;
	size_t i;

	for (i = 0; i < f->nroutes; i++) {
		const struct route *r = &f->routes[i];

		if (r->prefix_len <= len && !memcmp(path, r->prefix, r->prefix_len) &&
		    (!best || r->prefix_len > best->prefix_len))
			best = r;
	}
	return best;
}

static void remove_client(struct frontend *f, size_t i)
{
	close(f->clients[i]->fd);
	free(f->clients[i]);
	f->clients[i] = f->clients[--f->nclients];
}

/*
 * Answer the client ourselves, then half-close and drain it: closing with
 * unread request bytes would reset the connection under the response.
 */
static void answer(struct client *c, int status, const char *why)
{
	fdpass_response *resp;
	char body[256], length[32];
	const char *reason = "";
	int n;

	if (fdpass_response_new(&resp, status) == 0) {
		fdpass_response_get_status(resp, &reason);
		n = snprintf(body, sizeof(body), "%d %s: %s\n", status, reason, why);
		snprintf(length, sizeof(length), "%d", n);
		if (fdpass_response_add_header(resp, "Server", "fdpass-frontend") == 0 &&
		    fdpass_response_add_header(resp, "Content-Type", "text/plain") == 0 &&
		    fdpass_response_add_header(resp, "Content-Length", length) == 0 &&
		    fdpass_response_set_body(resp, body, (size_t)n) == 0)
			fdpass_flusher_run("flush", c->fd, resp);
		fdpass_response_free(resp);
	}
	log_line("%s \"%s\": %d (%s)", c->name, c->request, status, why);
	shutdown(c->fd, SHUT_WR);
	c->state = LINGERING;
	c->deadline = now_ms() + LINGER_MS;
}

/* Returns 1 when the client is done with (handed off), 0 to keep it. */
static int hand_off(struct frontend *f, struct client *c)
{
	const struct route *r = c->route;
	fdpass_meta *meta = NULL;
	int ret;

	if (r->meta) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char local[80];

		/* Everything read so far, pipelined requests included. */
		if (fdpass_meta_new(&meta) < 0 || fdpass_meta_set_data(meta, c->head, c->len) < 0 ||
		    fdpass_meta_set(meta, FDPASS_META_CLIENT_ADDR, c->name) < 0) {
			fdpass_meta_free(meta);
			answer(c, 500, "out of memory");
			return 0;
		}
		if (getsockname(c->fd, (struct sockaddr *)&ss, &len) == 0 &&
		    sock_name(&ss, len, local, sizeof(local)) == 0)
			fdpass_meta_set(meta, FDPASS_META_LOCAL_ADDR, local);
	}
	ret = fdpass_handoff_meta(r->backend, c->fd, r->flusher, f->ok, meta, 0);
	fdpass_meta_free(meta);

	switch (ret) {
	case 0:
		log_line("%s \"%s\": handed to %s (%s)", c->name, c->request, r->backend,
			 r->flusher ? r->flusher : "flush");
		return 1;
	case -ETIMEDOUT:
		/* The backlog is full; nothing was written: try again soon. */
		if (now_ms() < c->deadline) {
			c->state = WAITING_BACKEND;
			c->retry_at = now_ms() + RETRY_MS;
			return 0;
		}
		answer(c, 504, "the backend did not accept the connection in time");
		return 0;
	case -ESRCH:
		answer(c, 500, "no such flusher");
		return 0;
	case -ECONNABORTED:
		log_line("%s \"%s\": hand-off to %s failed after the flush", c->name,
			 c->request, r->backend);
		return 1;
	default:
		answer(c, ret == -EINVAL ? 500 : 502, fdpass_strerror(ret));
		return 0;
	}
}

/* Read what the client sent; 1 when the client is done with. */
static int read_head(struct frontend *f, struct client *c)
{
	struct http_head h;
	ssize_t n = recv(c->fd, c->head + c->len, sizeof(c->head) - 1 - c->len, MSG_DONTWAIT);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		return 1; /* gone before it asked anything */
	if (n < 0)
		return 0;
	c->len += (size_t)n;
	switch (http_head_parse(c->head, c->len, HTTP_HEAD_MAX, &h)) {
	case HTTP_HEAD_INCOMPLETE:
		return 0;
	case HTTP_HEAD_TOO_LARGE:
		answer(c, 431, "request head over 8192 bytes");
		return 0;
	case HTTP_HEAD_MALFORMED:
		answer(c, 400, "malformed request head");
		return 0;
	case HTTP_HEAD_COMPLETE:
		break;
	}
	snprintf(c->request, sizeof(c->request), "%.*s %.*s", (int)h.method_len, h.method,
		 (int)(h.target_len > 100 ? 100 : h.target_len), h.target);
	c->route = find_route(f, h.path, h.path_len);
	if (!c->route) {
		answer(c, 404, "no route for this path");
		return 0;
	}
	c->deadline = now_ms() + f->timeout_ms;
	return hand_off(f, c);
}

static void accept_clients(struct frontend *f)
{
	int i;

	for (i = 0; i < 64; i++) {
		int fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		struct client *c;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_line("accept: %s", strerror(errno));
			return;
		}
		if (f->nclients == f->cap) {
			size_t cap = f->cap ? f->cap * 2 : 64;
			struct client **grown = cap > MAX_CLIENTS ? NULL :
				realloc(f->clients, cap * sizeof(*grown));

			if (!grown) {
				close(fd);
				continue;
			}
			f->clients = grown;
			f->cap = cap;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->state = READING;
		c->deadline = now_ms() + f->timeout_ms;
		strcpy(c->request, "-");
		peer_name(fd, c->name, sizeof(c->name));
		f->clients[f->nclients++] = c;
	}
}

/* Timers: heads that took too long, backends to try again, drains to end. */
static int on_time(struct frontend *f, struct client *c, int64_t now)
{
	switch (c->state) {
	case READING:
		if (now >= c->deadline)
			answer(c, 408, "request head not complete in time");
		return 0;
	case WAITING_BACKEND:
		if (now < c->retry_at)
			return 0;
		return hand_off(f, c);
	case LINGERING:
		return now >= c->deadline;
	}
	return 0;
}

static int64_t next_timer(const struct client *c)
{
	return c->state == WAITING_BACKEND ? c->retry_at : c->deadline;
}

static int run(struct frontend *f, int stop_fd)
{
	struct pollfd *pfd = NULL;
	size_t cap = 0;

	for (;;) {
		int64_t now = now_ms(), next = -1;
		size_t i, n = f->nclients + 2;
		int timeout;

		if (pollfds_reserve(&pfd, &cap, n) < 0) {
			free(pfd);
			return -ENOMEM;
		}
		pfd[0] = (struct pollfd){ .fd = stop_fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = f->listen_fd, .events = POLLIN };
		for (i = 0; i < f->nclients; i++) {
			const struct client *c = f->clients[i];
			int64_t t = next_timer(c);

			pfd[i + 2] = (struct pollfd){
				.fd = c->state == WAITING_BACKEND ? -1 : c->fd, .events = POLLIN };
			if (next < 0 || t < next)
				next = t;
		}
		timeout = poll_timeout(next, now);
		if (poll(pfd, n, timeout) < 0 && errno != EINTR) {
			free(pfd);
			return -errno;
		}
		if (pfd[0].revents) {
			free(pfd);
			return 0;
		}
		now = now_ms();
		for (i = f->nclients; i-- > 0;) {
			struct client *c = f->clients[i];
			int done;

			if (pfd[i + 2].revents && c->state == READING) {
				done = read_head(f, c);
			} else if (pfd[i + 2].revents && c->state == LINGERING) {
				char junk[4096];
				ssize_t r = recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT);

				done = r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR);
			} else {
				done = on_time(f, c, now);
			}
			if (done)
				remove_client(f, i);
		}
		if (pfd[1].revents)
			accept_clients(f);
	}
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "route", required_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct frontend f = { .timeout_ms = DEFAULT_TIMEOUT_MS };
	const char *listen_at = NULL;
	char *end;
	long v;
	int opt, stop_fd, r;
	size_t i;

	log_set_name("fdpass-frontend");
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'l':
			listen_at = optarg;
			break;
		case 'r': {
			struct route *grown = realloc(f.routes, (f.nroutes + 1) * sizeof(*grown));

			if (!grown)
				return 1;
			f.routes = grown;
			if (parse_route(optarg, &f.routes[f.nroutes++]) < 0) {
				fprintf(stderr, "fdpass-frontend: bad --route '%s': want "
					"PREFIX=SOCKETPATH[,flusher=NAME][,meta=on][,keepalive=on];\n"
					"keepalive=on needs flusher=none,meta=on\n", optarg);
				return 2;
			}
			break;
		}
		case 't':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (!*optarg || *end || errno || v <= 0 || v > 3600000) {
				fprintf(stderr, "fdpass-frontend: --timeout wants milliseconds, not '%s'\n",
					optarg);
				return 2;
			}
			f.timeout_ms = (int)v;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (!listen_at || !f.nroutes || optind != argc) {
		fprintf(stderr, "fdpass-frontend: %s\n\n%s",
			!listen_at ? "--listen HOST:PORT is required" :
			!f.nroutes ? "at least one --route is required" : "unexpected argument",
			usage);
		return 2;
	}
	if (fdpass_response_new(&f.ok, 200) < 0 ||
	    fdpass_response_add_header(f.ok, "Server", "fdpass-frontend") < 0)
		return 1;
	stop_fd = stop_signal_fd();
	if (stop_fd < 0) {
		perror("fdpass-frontend: signals");
		return 1;
	}
	f.listen_fd = listen_tcp(listen_at);
	if (f.listen_fd < 0) {
		fprintf(stderr, "fdpass-frontend: listen on %s: %s\n", listen_at,
			strerror(-f.listen_fd));
		return 1;
	}
	log_line("listening on %s with %zu route(s) (libfdpass %s)", listen_at, f.nroutes,
		 fdpass_version());

	r = run(&f, stop_fd);
	if (r < 0)
		log_line("event loop: %s", strerror(-r));
	while (f.nclients)
		remove_client(&f, f.nclients - 1);
	close(f.listen_fd);
	for (i = 0; i < f.nroutes; i++) {
		free((char *)f.routes[i].prefix);
		free(f.routes[i].backend);
	}
	free(f.routes);
	free(f.clients);
	fdpass_response_free(f.ok);
	log_line("stopped");
	return r < 0 ? 1 : 0;
}
