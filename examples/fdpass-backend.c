// SPDX-License-Identifier: MIT
/*
 * fdpass-backend: receives client sockets from front-ends (fdpass-frontend,
 * or Apache httpd's mod_proxy_fdpass) and writes a response body straight
 * to each client. One event loop: a client that does not read holds up no
 * one else.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fdpass.h>

#include "progutil.h"

#define LINGER_MS 2000 /* how long to drain a client after the response */

static const char usage[] =
"Usage: fdpass-backend --listen PATH [--mode OCTAL] [--body TEXT | --file FILE]\n"
"                      [--headers] [--allow-uid UID]...\n"
"\n"
"Receive client sockets over the unix socket PATH, as sent by fdpass-frontend\n"
"or by Apache httpd's mod_proxy_fdpass, and answer each client directly: write\n"
"the body to it and close it. The front-end has already sent the status line\n"
"and headers (its \"flush\" flusher); with --headers this program sends its own\n"
"(for routes whose flusher is \"none\").\n"
"\n"
"Options:\n"
"  --listen PATH     unix socket to listen on (\"@name\": Linux abstract name);\n"
"                    a stale socket file is replaced, a live one is not\n"
"  --mode OCTAL      mode of the socket file (default 0660); the front-end's\n"
"                    user must be able to write to it (httpd runs as its User)\n"
"  --body TEXT       the body to send (default: \"Hello from fdpass-backend\")\n"
"  --file FILE       send the content of FILE instead\n"
"  --headers         write \"HTTP/1.1 200 OK\", Content-Length and\n"
"                    \"Connection: close\" before the body\n"
"  --allow-uid UID   accept front-ends running as UID (a number or a user\n"
"                    name) only; may be repeated; default: anyone who can\n"
"                    connect to the socket\n"
"  --help            show this text\n"
"\n"
"It logs one line per hand-off on stderr, and stops on SIGINT or SIGTERM,\n"
"removing its socket file.\n"
"\n"
"Example, behind Apache httpd 2.4 (ServerRoot /srv/httpd):\n"
"  ProxyPassMatch \"^/app/(.*)$\" \"fd://localhost/app.sock$2\"\n"
"  fdpass-backend --listen /srv/httpd/localhost/app.sock --mode 0666\n";

struct client {
	int fd;
	size_t sent;
	int64_t linger_until; /* 0 while writing */
	char name[64];
};

struct server {
	fdpass_backend *backend;
	char *response;
	size_t response_len;
	struct client *clients;
	size_t nclients, cap;
};

static int read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rbe");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (!f)
		return -errno;
	for (;;) {
		size_t got;

		if (n == cap) {
			char *grown = realloc(buf, cap = cap ? cap * 2 : 65536);

			if (!grown) {
				free(buf);
				fclose(f);
				return -ENOMEM;
			}
			buf = grown;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		fclose(f);
		return -EIO;
	}
	fclose(f);
	*out = buf;
	*len = n;
	return 0;
}

static int parse_uid(const char *s, uid_t *uid)
{
	struct passwd *pw;
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s && !*end && !errno && v < (uid_t)-1) {
		*uid = (uid_t)v;
		return 0;
	}
	pw = getpwnam(s);
	if (!pw)
		return -1;
	*uid = pw->pw_uid;
	return 0;
}

/* The whole response, headers (if asked for) and body, built once. */
static int build_response(struct server *s, const char *body, size_t body_len, int headers)
{
	char head[256];
	int n = 0;

	if (headers)
		n = snprintf(head, sizeof(head),
			     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
			     "Content-Length: %zu\r\nConnection: close\r\n\r\n", body_len);
	s->response = malloc((size_t)n + body_len + 1);
	if (!s->response)
		return -ENOMEM;
	memcpy(s->response, head, (size_t)n);
	memcpy(s->response + n, body, body_len);
	s->response_len = (size_t)n + body_len;
	return 0;
}

static void drop_client(struct server *s, size_t i)
{
	close(s->clients[i].fd);
	s->clients[i] = s->clients[--s->nclients];
}

static int add_client(struct server *s, int fd)
{
	struct client *c;
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	if (s->nclients == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct client *grown = realloc(s->clients, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		s->clients = grown;
		s->cap = cap;
	}
	c = &s->clients[s->nclients++];
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	peer_name(fd, c->name, sizeof(c->name));
	log_line("client %s: sending %zu bytes", c->name, s->response_len);
	return 0;
}

/* Write what the socket takes; once all is out, half-close and drain. */
static void serve_client(struct server *s, size_t i)
{
	struct client *c = &s->clients[i];

	if (c->linger_until) {
		char junk[4096];
		ssize_t n = recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			drop_client(s, i);
		return;
	}
	while (c->sent < s->response_len) {
		ssize_t n = send(c->fd, s->response + c->sent, s->response_len - c->sent,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			log_line("client %s: %s after %zu bytes", c->name, strerror(errno), c->sent);
			drop_client(s, i);
			return;
		}
		c->sent += (size_t)n;
	}
	/*
	 * Closing a socket with unread request bytes would reset the
	 * connection and could destroy the response in flight: half-close,
	 * and read until the client closes too (or a while has passed).
	 */
	shutdown(c->fd, SHUT_WR);
	c->linger_until = now_ms() + LINGER_MS;
}

static void receive_clients(struct server *s)
{
	for (;;) {
		int fd, r = fdpass_backend_recv(s->backend, &fd, 0);

		if (r == 1) {
			if (add_client(s, fd) < 0) {
				log_line("dropping a client: %s", strerror(errno));
				close(fd);
			}
			continue;
		}
		if (r == -EAGAIN)
			return;
		if (r == -EPERM) {
			log_line("refused a front-end: its uid is not allowed");
			continue;
		}
		log_line("front-end connection: %s", fdpass_strerror(r));
		if (r == -EMFILE || r == -ENFILE || r == -ENOMEM)
			return; /* retried on the next round */
	}
}

static int run(struct server *s, int stop_fd)
{
	struct pollfd *pfd = NULL;
	size_t cap = 0;

	for (;;) {
		int64_t now = now_ms(), next = -1;
		size_t i, n = s->nclients + 2;
		int timeout, r;

		if (n > cap) {
			struct pollfd *grown = realloc(pfd, (cap = n * 2) * sizeof(*grown));

			if (!grown) {
				free(pfd);
				return -ENOMEM;
			}
			pfd = grown;
		}
		pfd[0] = (struct pollfd){ .fd = stop_fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = fdpass_backend_fd(s->backend), .events = POLLIN };
		for (i = 0; i < s->nclients; i++) {
			struct client *c = &s->clients[i];

			pfd[i + 2] = (struct pollfd){ .fd = c->fd,
						      .events = c->linger_until ? POLLIN : POLLOUT };
			if (c->linger_until && (next < 0 || c->linger_until < next))
				next = c->linger_until;
		}
		timeout = next < 0 ? -1 : next <= now ? 0 : (int)(next - now);
		r = poll(pfd, n, timeout);
		if (r < 0 && errno != EINTR) {
			free(pfd);
			return -errno;
		}
		if (pfd[0].revents) {
			free(pfd);
			return 0;
		}
		/* Back to front, so that dropping a client moves only served ones. */
		now = now_ms();
		for (i = s->nclients; i-- > 0;) {
			if (pfd[i + 2].revents)
				serve_client(s, i);
			else if (s->clients[i].linger_until && s->clients[i].linger_until <= now)
				drop_client(s, i);
		}
		if (pfd[1].revents)
			receive_clients(s);
	}
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "mode", required_argument, NULL, 'm' },
		{ "body", required_argument, NULL, 'b' },
		{ "file", required_argument, NULL, 'f' },
		{ "headers", no_argument, NULL, 'H' },
		{ "allow-uid", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *body = NULL, *file = NULL;
	uid_t *uids = NULL;
	size_t nuids = 0, i, body_len = 0;
	struct server s = { 0 };
	char *file_body = NULL, *end;
	int mode = 0660, headers = 0, opt, stop_fd, r;

	log_set_name("fdpass-backend");
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'l':
			path = optarg;
			break;
		case 'm':
			errno = 0;
			mode = (int)strtol(optarg, &end, 8);
			if (!*optarg || *end || errno || mode < 0 || mode > 07777) {
				fprintf(stderr, "fdpass-backend: --mode wants an octal mode, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'b':
			body = optarg;
			break;
		case 'f':
			file = optarg;
			break;
		case 'H':
			headers = 1;
			break;
		case 'u': {
			uid_t *grown = realloc(uids, (nuids + 1) * sizeof(*grown));

			if (!grown)
				return 1;
			uids = grown;
			if (parse_uid(optarg, &uids[nuids++]) < 0) {
				fprintf(stderr, "fdpass-backend: no such user: '%s'\n", optarg);
				return 2;
			}
			break;
		}
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (!path || optind != argc || (body && file)) {
		fprintf(stderr, "fdpass-backend: %s\n\n%s",
			!path ? "--listen PATH is required" :
			optind != argc ? "unexpected argument" : "--body and --file exclude each other",
			usage);
		return 2;
	}
	if (file) {
		r = read_file(file, &file_body, &body_len);
		if (r < 0) {
			fprintf(stderr, "fdpass-backend: %s: %s\n", file, strerror(-r));
			return 1;
		}
		body = file_body;
	} else {
		if (!body)
			body = "Hello from fdpass-backend\n";
		body_len = strlen(body);
	}
	if (build_response(&s, body, body_len, headers) < 0)
		return 1;
	free(file_body);

	stop_fd = stop_signal_fd();
	if (stop_fd < 0) {
		perror("fdpass-backend: signals");
		return 1;
	}
	r = fdpass_backend_new(&s.backend, path, mode, 0);
	if (r < 0) {
		fprintf(stderr, "fdpass-backend: listen on %s: %s\n", path, fdpass_strerror(r));
		return 1;
	}
	for (i = 0; i < nuids; i++)
		if (fdpass_backend_allow_uid(s.backend, uids[i]) < 0)
			return 1;
	log_line("listening on %s (libfdpass %s)", path, fdpass_version());

	r = run(&s, stop_fd);
	if (r < 0)
		log_line("event loop: %s", strerror(-r));
	while (s.nclients)
		drop_client(&s, s.nclients - 1);
	fdpass_backend_free(s.backend);
	log_line("stopped");
	free(s.clients);
	free(s.response);
	free(uids);
	return r < 0 ? 1 : 0;
}
