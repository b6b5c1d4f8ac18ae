// SPDX-License-Identifier: MIT
/*
 * fdpass-backend: receives client sockets from front-ends (fdpass-frontend,
 * or Apache httpd's mod_proxy_fdpass) and writes a response body straight
 * to each client. One epoll loop holds the backend's fd and every client:
 * a client that does not read, or a front-end that sends half a message,
 * holds up no one else.
 */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fdpass.h>

#include "http-head.h"
#include "progutil.h"

#define LINGER_MS 2000            /* draining a client after the response */
#define IDLE_MS 10000             /* a client that sends or takes nothing */
#define MAX_REQUEST (64u << 20)   /* request bytes held for --echo */

static const char usage[] =
"Usage: fdpass-backend --listen PATH [--mode OCTAL] [--body TEXT | --file FILE]\n"
"                      [--headers] [--echo] [--keep-alive] [--allow-uid UID]...\n"
"                      [--max-frontends N] [--frontend-idle MS]\n"
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
"  --echo            answer with the request itself: its head as the front-end\n"
"                    read it, the client's address, then the whole request body\n"
"                    (first the bytes the front-end had read, then the rest from\n"
"                    the socket); needs a front-end that sends metadata\n"
"                    (fdpass-frontend's meta=on); says so when none came\n"
"  --keep-alive      when a front-end hands a connection over for good (metadata\n"
"                    with flusher \"none\": fdpass-frontend's keepalive=on),\n"
"                    serve every request on it, pipelined ones included, with\n"
"                    Content-Length, until the client closes or asks to\n"
"                    (idle connections are closed after 10 s)\n"
"  --allow-uid UID   accept front-ends running as UID (a number or a user\n"
"                    name) only; may be repeated; default: anyone who can\n"
"                    connect to the socket\n"
"  --max-frontends N most front-end connections held at once (default 1024);\n"
"                    at the limit a new one replaces the one idle longest\n"
"  --frontend-idle MS\n"
"                    close a front-end's connection after MS ms without a\n"
"                    hand-off (default: never; httpd closes its own)\n"
"  --help            show this text\n"
"\n"
"It logs one line per hand-off on stderr, and stops on SIGINT or SIGTERM,\n"
"removing its socket file.\n"
"\n"
"Example, behind Apache httpd 2.4 (ServerRoot /srv/httpd):\n"
"  ProxyPassMatch \"^/app/(.*)$\" \"fd://localhost/app.sock$2\"\n"
"  fdpass-backend --listen /srv/httpd/localhost/app.sock --mode 0666\n";

struct buf {
	char *p;
	size_t len, cap;
};

struct client {
	int fd;
	size_t index;   /* in server.clients */
	uint32_t events; /* what epoll watches for it */
	int metadata;   /* a metadata message came with the socket */
	int own;        /* keep-alive: the connection is ours for good */
	int answered;   /* one-shot: the response is built */
	int closing;    /* close once out is written */
	int eof;        /* the client has closed its side */
	int lingering;  /* half-closed, draining before close */
	int64_t deadline;
	struct buf in;  /* request bytes not yet answered */
	struct buf out; /* response bytes not yet sent */
	size_t sent;
	const char *tail; /* then these, not copied (the configured body) */
	size_t tail_len, tail_sent;
	char name[80];
};

struct server {
	fdpass_backend *backend;
	char *body;
	size_t body_len;
	int headers, echo, keep_alive;
	int epfd;
	struct client **clients; /* for the deadlines, and to close them all at the end */
	size_t nclients, cap;
	int64_t next_deadline;   /* the earliest client deadline, or INT64_MAX */
};

/* The epoll data of the two fds that are not clients. */
static char stop_tag, backend_tag;

static void set_deadline(struct server *s, struct client *c, int ms)
{
	c->deadline = now_ms() + ms;
	if (c->deadline < s->next_deadline)
		s->next_deadline = c->deadline;
}

static int buf_add(struct buf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *grown;

		while (cap < b->len + len)
			cap *= 2;
		grown = realloc(b->p, cap);
		if (!grown)
			return -1;
		b->p = grown;
		b->cap = cap;
	}
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

static void buf_consume(struct buf *b, size_t n)
{
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

static int read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rbe");
	struct buf b = { 0 };
	char chunk[65536];
	size_t got;

	if (!f)
		return -errno;
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_add(&b, chunk, got) < 0) {
			free(b.p);
			fclose(f);
			return -ENOMEM;
		}
	if (ferror(f)) {
		free(b.p);
		fclose(f);
		return -EIO;
	}
	fclose(f);
	*out = b.p;
	*len = b.len;
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

/*
 * A response to c: a status line and headers if asked for, then a and b
 * (copied), then c->tail if set (not copied).
 */
static int respond(struct client *c, int with_head, int keep, const char *a, size_t alen,
		   const char *b, size_t blen)
{
	char head[256];
	int n = 0;

	if (with_head)
		n = snprintf(head, sizeof(head),
			     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
			     "Content-Length: %zu\r\n%s\r\n", alen + blen + c->tail_len,
			     keep ? "" : "Connection: close\r\n");
	return buf_add(&c->out, head, (size_t)n) < 0 || buf_add(&c->out, a, alen) < 0 ||
	       buf_add(&c->out, b, blen) < 0 ? -1 : 0;
}

/*
 * The echo of one request: its head exactly as received, the client's
 * address, then its body.
 */
static int respond_echo(struct client *c, int with_head, int keep, const char *req,
			size_t head_len, size_t body_len)
{
	struct buf e = { 0 };
	char line[128];
	int n = snprintf(line, sizeof(line), "client: %s\n\n", c->name), r;

	r = buf_add(&e, req, head_len) < 0 || buf_add(&e, line, (size_t)n) < 0 ||
	    buf_add(&e, req + head_len, body_len) < 0 ||
	    respond(c, with_head, keep, e.p, e.len, NULL, 0) < 0 ? -1 : 0;
	free(e.p);
	return r;
}

static int wants_close(const struct http_head *h, const char *req)
{
	const char *v;
	size_t len;

	if (http_head_field(req, h->head_len, "Connection", &v, &len))
		return (len == 5 && !strncasecmp(v, "close", 5)) ||
		       (h->minor_version == 0 && !(len == 10 && !strncasecmp(v, "keep-alive", 10)));
	return h->minor_version == 0;
}

/*
 * Turn the request bytes that have come into responses. One-shot: one
 * response, then the connection ends. Keep-alive: one response per complete
 * request, pipelined ones included, until one asks to close.
 */
static int advance(struct server *s, struct client *c)
{
	for (;;) {
		struct http_head h;
		size_t body_len;
		enum http_head_result r;

		if (c->closing || (c->answered && !c->own))
			return 0;
		if (!s->echo && !c->own) {
			/* The body is the same for everyone: sent from where it is. */
			c->answered = c->closing = 1;
			c->tail = s->body;
			c->tail_len = s->body_len;
			return respond(c, s->headers, 0, NULL, 0, NULL, 0);
		}
		if (!c->metadata) {
			static const char none[] =
				"no metadata came: the front-end sent the plain fdpass message "
				"(the client's socket and nothing else), as Apache httpd does\n";

			c->answered = c->closing = 1;
			return respond(c, s->headers, 0, none, sizeof(none) - 1, NULL, 0);
		}
		r = http_head_parse(c->in.p, c->in.len, (size_t)-2, &h);
		if (r == HTTP_HEAD_INCOMPLETE && !c->eof)
			return 0;
		if (r != HTTP_HEAD_COMPLETE || http_head_body_length(c->in.p, h.head_len, &body_len) < 0) {
			static const char bad[] = "the request could not be read (malformed, "
						  "chunked, or cut short)\n";

			c->answered = c->closing = 1;
			if (c->in.len == 0 && c->eof && c->own)
				return 0; /* the client is done with us */
			return respond(c, s->headers || c->own, 0, bad, sizeof(bad) - 1, NULL, 0);
		}
		if (c->in.len < h.head_len + body_len) {
			if (!c->eof)
				return 0; /* the rest of the body comes from the socket */
			body_len = c->in.len - h.head_len;
			c->closing = 1;
		}
		c->answered = 1;
		if (!c->own) {
			c->closing = 1;
			return respond_echo(c, s->headers, 0, c->in.p, h.head_len, body_len);
		}
		if (wants_close(&h, c->in.p))
			c->closing = 1;
		if ((s->echo ? respond_echo(c, 1, !c->closing, c->in.p, h.head_len, body_len)
			     : respond(c, 1, !c->closing, s->body, s->body_len, NULL, 0)) < 0)
			return -1;
		buf_consume(&c->in, h.head_len + body_len);
	}
}

/* Response bytes not yet sent, copied or not. */
static int pending(const struct client *c)
{
	return c->sent < c->out.len || c->tail_sent < c->tail_len;
}

static uint32_t events_of(const struct client *c)
{
	uint32_t ev = pending(c) ? EPOLLOUT : 0;

	if (c->lingering || (!c->closing && !c->eof))
		ev |= EPOLLIN;
	return ev;
}

/* Watch c for what it waits for now: 0, or -1 (ENOMEM, ENOSPC). */
static int watch_client(struct server *s, struct client *c)
{
	struct epoll_event ev = { .events = events_of(c), .data.ptr = c };
	int op = c->events == (uint32_t)-1 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;

	if (op == EPOLL_CTL_MOD && ev.events == c->events)
		return 0;
	if (epoll_ctl(s->epfd, op, c->fd, &ev) < 0)
		return -1;
	c->events = ev.events;
	return 0;
}

static void drop_client(struct server *s, struct client *c)
{
	size_t i = c->index;

	/* Out of the epoll set before close: the open file may live on. */
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->in.p);
	free(c->out.p);
	free(c);
	if (i < --s->nclients) {
		s->clients[i] = s->clients[s->nclients];
		s->clients[i]->index = i;
	}
}

static int add_client(struct server *s, int fd, const fdpass_meta *meta)
{
	struct client *c;
	const char *flusher = fdpass_meta_get(meta, FDPASS_META_FLUSHER);
	const char *addr = fdpass_meta_get(meta, FDPASS_META_CLIENT_ADDR);
	const void *data;
	size_t len = 0;

	/* Every read and write of a client is MSG_DONTWAIT: no fcntl needed. */
	if (s->nclients == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct client **grown = realloc(s->clients, cap * sizeof(*grown));

		if (!grown)
			return -1;
		s->clients = grown;
		s->cap = cap;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	c->fd = fd;
	c->events = (uint32_t)-1; /* not watched yet */
	c->metadata = meta != NULL;
	/* The connection is ours only if no flusher has answered already. */
	c->own = s->keep_alive && meta && flusher && !strcmp(flusher, "none");
	set_deadline(s, c, IDLE_MS);
	data = fdpass_meta_get_data(meta, &len);
	if (data && buf_add(&c->in, data, len) < 0) {
		free(c);
		return -1;
	}
	if (addr)
		snprintf(c->name, sizeof(c->name), "%s", addr);
	else
		peer_name(fd, c->name, sizeof(c->name));
	c->index = s->nclients;
	s->clients[s->nclients++] = c;
	if (meta)
		log_line("client %s: metadata message, %zu bytes already read, flusher %s%s",
			 c->name, len, flusher ? flusher : "-", c->own ? ", keep-alive" : "");
	else
		log_line("client %s: plain message", c->name);
	if (advance(s, c) < 0 || watch_client(s, c) < 0) {
		s->nclients--;
		free(c->in.p);
		free(c->out.p);
		free(c);
		return -1;
	}
	return 0;
}

/* Readable: request bytes (or, while lingering, bytes to throw away). */
static int on_input(struct server *s, struct client *c)
{
	char chunk[65536];
	ssize_t n = recv(c->fd, chunk, sizeof(chunk), MSG_DONTWAIT);

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (n == 0) {
		c->eof = 1;
		if (c->lingering)
			return -1;
	} else if (c->lingering) {
		return 0;
	} else if (c->in.len + (size_t)n > MAX_REQUEST || buf_add(&c->in, chunk, (size_t)n) < 0) {
		return -1;
	}
	set_deadline(s, c, IDLE_MS);
	if (advance(s, c) < 0)
		return -1;
	return c->eof && !pending(c) && !c->closing ? -1 : 0;
}

/* Writable: send what the socket takes; once all is out, maybe finish. */
static int on_output(struct server *s, struct client *c)
{
	while (pending(c)) {
		int in_out = c->sent < c->out.len;
		const char *p = in_out ? c->out.p + c->sent : c->tail + c->tail_sent;
		size_t len = in_out ? c->out.len - c->sent : c->tail_len - c->tail_sent;
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			log_line("client %s: %s after %zu bytes", c->name, strerror(errno),
				 c->sent + c->tail_sent);
			return -1;
		}
		if (in_out)
			c->sent += (size_t)n;
		else
			c->tail_sent += (size_t)n;
	}
	c->out.len = c->sent = 0;
	c->tail_len = c->tail_sent = 0;
	set_deadline(s, c, IDLE_MS);
	if (c->closing) {
		/*
		 * Closing a socket with unread request bytes would reset the
		 * connection and could destroy the response in flight:
		 * half-close, and read until the client closes too.
		 */
		shutdown(c->fd, SHUT_WR);
		c->lingering = 1;
		set_deadline(s, c, LINGER_MS);
	} else if (c->eof) {
		return -1;
	}
	return 0;
}

/* Hand-offs per round of the loop: the clients get their turn between. */
#define HANDOFFS_PER_ROUND 64

/*
 * Never blocks: the library reads each front-end only as far as it has
 * sent, and reports refusals and a lack of fds once per episode, so a log
 * line here is never one per attempt.
 */
static void receive_clients(struct server *s)
{
	int i;

	for (i = 0; i < HANDOFFS_PER_ROUND; i++) {
		fdpass_meta *meta;
		int fd, r = fdpass_backend_recv_meta(s->backend, &fd, &meta, 0);

		if (r == 1) {
			if (add_client(s, fd, meta) < 0) {
				log_line("dropping a client: out of memory");
				close(fd);
			}
			fdpass_meta_free(meta);
			continue;
		}
		if (r == -EAGAIN)
			return;
		if (r == -EPERM) {
			pid_t pid;
			uid_t uid;

			/* One -EPERM per refusal; the credentials are the last one's. */
			if (fdpass_backend_last_refused(s->backend, &pid, &uid, NULL) == 0)
				log_line("refused a front-end (pid %ld, uid %ld): its uid is not allowed",
					 (long)pid, (long)uid);
			else
				log_line("refused a front-end: its uid is not allowed");
		} else if (r == -EMFILE || r == -ENFILE) {
			log_line("no fd free to accept front-ends (%s): they wait in the backlog",
				 fdpass_strerror(r));
		} else {
			log_line("front-end connection dropped: %s", fdpass_strerror(r));
		}
	}
}

/* Close the clients whose deadline has passed; note the next deadline. */
static void expire_clients(struct server *s, int64_t now)
{
	size_t i;

	if (now < s->next_deadline)
		return;
	s->next_deadline = INT64_MAX;
	for (i = s->nclients; i-- > 0;) {
		struct client *c = s->clients[i];

		if (c->deadline <= now)
			drop_client(s, c); /* idle, or done lingering */
		else if (c->deadline < s->next_deadline)
			s->next_deadline = c->deadline;
	}
}

static void on_client(struct server *s, struct client *c, uint32_t rev)
{
	int done = 0;

	if (rev & EPOLLOUT)
		done = on_output(s, c) < 0;
	if (!done && (rev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		done = on_input(s, c) < 0;
	if (!done && pending(c) && !(rev & EPOLLOUT))
		done = on_output(s, c) < 0; /* new output: try at once */
	if (done || watch_client(s, c) < 0)
		drop_client(s, c);
}

static int watch(int epfd, int fd, void *ptr)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = ptr };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static int run(struct server *s, int stop_fd)
{
	struct epoll_event ev[64];

	if (watch(s->epfd, stop_fd, &stop_tag) < 0 ||
	    watch(s->epfd, fdpass_backend_fd(s->backend), &backend_tag) < 0)
		return -errno;
	for (;;) {
		int64_t next = s->next_deadline == INT64_MAX ? -1 : s->next_deadline;
		int n = epoll_wait(s->epfd, ev, 64, poll_timeout(next, now_ms())), i;

		if (n < 0 && errno != EINTR)
			return -errno;
		for (i = 0; i < n; i++) {
			if (ev[i].data.ptr == &stop_tag)
				return 0;
			if (ev[i].data.ptr == &backend_tag)
				receive_clients(s);
			else
				on_client(s, ev[i].data.ptr, ev[i].events);
		}
		expire_clients(s, now_ms());
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
		{ "echo", no_argument, NULL, 'e' },
		{ "keep-alive", no_argument, NULL, 'k' },
		{ "allow-uid", required_argument, NULL, 'u' },
		{ "max-frontends", required_argument, NULL, 'M' },
		{ "frontend-idle", required_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *body = NULL, *file = NULL;
	uid_t *uids = NULL;
	size_t nuids = 0, i;
	struct server s = { .epfd = -1, .next_deadline = INT64_MAX };
	long max_frontends = 0, frontend_idle = 0;
	char *end;
	int mode = 0660, opt, stop_fd, r;

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
			s.headers = 1;
			break;
		case 'e':
			s.echo = 1;
			break;
		case 'k':
			s.keep_alive = 1;
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
		case 'M':
		case 'I': {
			long v;

			errno = 0;
			v = strtol(optarg, &end, 10);
			if (!*optarg || *end || errno || v <= 0 || v > 1000000000) {
				fprintf(stderr, "fdpass-backend: --%s wants a positive number, not '%s'\n",
					opt == 'M' ? "max-frontends" : "frontend-idle", optarg);
				return 2;
			}
			*(opt == 'M' ? &max_frontends : &frontend_idle) = v;
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
		r = read_file(file, &s.body, &s.body_len);
		if (r < 0) {
			fprintf(stderr, "fdpass-backend: %s: %s\n", file, strerror(-r));
			return 1;
		}
	} else {
		s.body = strdup(body ? body : "Hello from fdpass-backend\n");
		if (!s.body)
			return 1;
		s.body_len = strlen(s.body);
	}

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
	if (max_frontends)
		fdpass_backend_set_max_connections(s.backend, (size_t)max_frontends);
	if (frontend_idle)
		fdpass_backend_set_idle_timeout(s.backend, (int)frontend_idle);
	s.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s.epfd < 0) {
		perror("fdpass-backend: epoll_create1");
		return 1;
	}
	log_line("listening on %s (libfdpass %s)", path, fdpass_version());

	r = run(&s, stop_fd);
	if (r < 0)
		log_line("event loop: %s", strerror(-r));
	while (s.nclients)
		drop_client(&s, s.clients[s.nclients - 1]);
	close(s.epfd);
	fdpass_backend_free(s.backend);
	log_line("stopped");
	free(s.clients);
	free(s.body);
	free(uids);
	return r < 0 ? 1 : 0;
}
