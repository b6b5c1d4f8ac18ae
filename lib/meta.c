// SPDX-License-Identifier: MIT
/*
 * Hand-off messages with metadata: what the front-end already read from the
 * client, who the client is, which flusher ran, and key/value pairs, in the
 * same message as the fds. The format is specified in PROTOCOL.md; a
 * receiver also takes httpd's plain message (one '\0' byte, one fd) on the
 * same connection.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

#define HEADER_SIZE 16
#define RECORD_HEAD 6
#define MAGIC "FDPM"
#define VERSION 1

enum record_type {
	REC_DATA = 1,
	REC_CLIENT_ADDR = FDPASS_META_CLIENT_ADDR,
	REC_LOCAL_ADDR = FDPASS_META_LOCAL_ADDR,
	REC_FLUSHER = FDPASS_META_FLUSHER,
	REC_PAIR = 5,
};

struct pair {
	char *key;
	char *value;
};

struct fdpass_meta {
	unsigned char *data;
	size_t data_len;
	int has_data;
	char *text[REC_FLUSHER + 1]; /* indexed by field */
	struct pair *pairs;
	size_t npairs;
};

static void put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint16_t get16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int valid_key(const char *key, size_t len)
{
	return len > 0 && len <= FDPASS_META_MAX_KEY &&
	       strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == len;
}

static int valid_field(int field)
{
	return field == FDPASS_META_CLIENT_ADDR || field == FDPASS_META_LOCAL_ADDR ||
	       field == FDPASS_META_FLUSHER;
}

FDPASS_EXPORT int fdpass_meta_new(fdpass_meta **meta)
{
	fdpass_meta *m;

	if (!meta)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	*meta = m;
	return 0;
}

FDPASS_EXPORT void fdpass_meta_free(fdpass_meta *meta)
{
	size_t i;

	if (!meta)
		return;
	for (i = 0; i < meta->npairs; i++) {
		free(meta->pairs[i].key);
		free(meta->pairs[i].value);
	}
	for (i = 0; i <= REC_FLUSHER; i++)
		free(meta->text[i]);
	free(meta->pairs);
	free(meta->data);
	free(meta);
}

FDPASS_EXPORT int fdpass_meta_set_data(fdpass_meta *meta, const void *data, size_t len)
{
	unsigned char *copy;

	if (!meta || (len > 0 && !data) || len > UINT32_MAX - 64)
		return -EINVAL;
	copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	if (len)
		memcpy(copy, data, len);
	free(meta->data);
	meta->data = copy;
	meta->data_len = len;
	meta->has_data = 1;
	return 0;
}

FDPASS_EXPORT const void *fdpass_meta_get_data(const fdpass_meta *meta, size_t *len)
{
	if (len)
		*len = meta ? meta->data_len : 0;
	return meta && meta->has_data ? meta->data : NULL;
}

FDPASS_EXPORT int fdpass_meta_set(fdpass_meta *meta, int field, const char *value)
{
	char *copy = NULL;

	if (!meta || !valid_field(field) || (value && strlen(value) > FDPASS_META_MAX_TEXT))
		return -EINVAL;
	if (value && !(copy = strdup(value)))
		return -ENOMEM;
	free(meta->text[field]);
	meta->text[field] = copy;
	return 0;
}

FDPASS_EXPORT const char *fdpass_meta_get(const fdpass_meta *meta, int field)
{
	return meta && valid_field(field) ? meta->text[field] : NULL;
}

static int add_pair(fdpass_meta *m, const char *key, size_t klen, const char *value, size_t vlen)
{
	struct pair *grown, p;

	if (m->npairs >= FDPASS_META_MAX_PAIRS)
		return -E2BIG;
	grown = realloc(m->pairs, (m->npairs + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	m->pairs = grown;
	p.key = strndup(key, klen);
	p.value = strndup(value, vlen);
	if (!p.key || !p.value) {
		free(p.key);
		free(p.value);
		return -ENOMEM;
	}
	m->pairs[m->npairs++] = p;
	return 0;
}

FDPASS_EXPORT int fdpass_meta_add_pair(fdpass_meta *meta, const char *key, const char *value)
{
	if (!meta || !key || !value || !valid_key(key, strlen(key)) ||
	    strlen(value) > FDPASS_META_MAX_TEXT)
		return -EINVAL;
	return add_pair(meta, key, strlen(key), value, strlen(value));
}

FDPASS_EXPORT const char *fdpass_meta_find(const fdpass_meta *meta, const char *key)
{
	size_t i;

	if (!meta || !key)
		return NULL;
	for (i = 0; i < meta->npairs; i++)
		if (!strcmp(meta->pairs[i].key, key))
			return meta->pairs[i].value;
	return NULL;
}

FDPASS_EXPORT size_t fdpass_meta_pair_count(const fdpass_meta *meta)
{
	return meta ? meta->npairs : 0;
}

FDPASS_EXPORT int fdpass_meta_get_pair(const fdpass_meta *meta, size_t index, const char **key,
				       const char **value)
{
	if (!meta)
		return -EINVAL;
	if (index >= meta->npairs)
		return -ERANGE;
	if (key)
		*key = meta->pairs[index].key;
	if (value)
		*value = meta->pairs[index].value;
	return 0;
}

/* ---- encoding ----------------------------------------------------------- */

static size_t record_size(size_t len)
{
	return RECORD_HEAD + len;
}

static unsigned char *put_record(unsigned char *p, uint16_t type, const void *a, size_t alen,
				 const void *b, size_t blen)
{
	put16(p, type);
	put32(p + 2, (uint32_t)(alen + blen));
	memcpy(p + RECORD_HEAD, a, alen);
	if (blen)
		memcpy(p + RECORD_HEAD + alen, b, blen);
	return p + RECORD_HEAD + alen + blen;
}

/*
 * The whole message for nfds fds: header and payload. flusher, if not
 * NULL, is sent as the flusher field when meta has none.
 */
static int fdp_meta_encode(const fdpass_meta *m, size_t nfds, const char *flusher,
			   unsigned char **out, size_t *len)
{
	size_t payload = 0, i;
	unsigned char *buf, *p;
	int f;

	if (m->has_data)
		payload += record_size(m->data_len);
	for (f = REC_CLIENT_ADDR; f <= REC_FLUSHER; f++) {
		const char *t = m->text[f] ? m->text[f] : f == REC_FLUSHER ? flusher : NULL;

		if (t)
			payload += record_size(strlen(t));
	}
	for (i = 0; i < m->npairs; i++)
		payload += record_size(strlen(m->pairs[i].key) + 1 + strlen(m->pairs[i].value));
	if (payload > UINT32_MAX)
		return -E2BIG;
	buf = malloc(HEADER_SIZE + payload);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, MAGIC, 4);
	buf[4] = VERSION;
	buf[5] = 0;
	put16(buf + 6, (uint16_t)nfds);
	put32(buf + 8, (uint32_t)payload);
	put32(buf + 12, 0);
	p = buf + HEADER_SIZE;
	if (m->has_data)
		p = put_record(p, REC_DATA, m->data, m->data_len, NULL, 0);
	for (f = REC_CLIENT_ADDR; f <= REC_FLUSHER; f++) {
		const char *t = m->text[f] ? m->text[f] : f == REC_FLUSHER ? flusher : NULL;

		if (t)
			p = put_record(p, (uint16_t)f, t, strlen(t), NULL, 0);
	}
	for (i = 0; i < m->npairs; i++)
		p = put_record(p, REC_PAIR, m->pairs[i].key, strlen(m->pairs[i].key) + 1,
			       m->pairs[i].value, strlen(m->pairs[i].value));
	*out = buf;
	*len = HEADER_SIZE + payload;
	return 0;
}

/* ---- decoding ----------------------------------------------------------- */

static int has_nul(const unsigned char *p, size_t len)
{
	return memchr(p, '\0', len) != NULL;
}

static int fdp_meta_decode(const unsigned char *p, size_t len, fdpass_meta **out)
{
	fdpass_meta *m;
	int seen = 0, r = 0;

	if ((r = fdpass_meta_new(&m)) < 0)
		return r;
	while (len > 0 && r == 0) {
		uint16_t type;
		uint32_t vlen;
		const unsigned char *v;

		if (len < RECORD_HEAD) {
			r = -EBADMSG;
			break;
		}
		type = get16(p);
		vlen = get32(p + 2);
		if (vlen > len - RECORD_HEAD) {
			r = -EBADMSG;
			break;
		}
		v = p + RECORD_HEAD;
		if (type >= REC_DATA && type <= REC_FLUSHER) {
			if (seen & (1 << type)) {
				r = -EBADMSG; /* each field at most once */
				break;
			}
			seen |= 1 << type;
		}
		switch (type) {
		case REC_DATA:
			r = fdpass_meta_set_data(m, v, vlen);
			break;
		case REC_CLIENT_ADDR:
		case REC_LOCAL_ADDR:
		case REC_FLUSHER:
			if (has_nul(v, vlen) || vlen > FDPASS_META_MAX_TEXT) {
				r = -EBADMSG;
				break;
			}
			if (!(m->text[type] = strndup((const char *)v, vlen)))
				r = -ENOMEM;
			break;
		case REC_PAIR: {
			const unsigned char *nul = memchr(v, '\0', vlen);
			size_t klen = nul ? (size_t)(nul - v) : 0;

			if (!nul || !valid_key((const char *)v, klen) ||
			    has_nul(nul + 1, vlen - klen - 1) || vlen - klen - 1 > FDPASS_META_MAX_TEXT) {
				r = -EBADMSG;
				break;
			}
			r = add_pair(m, (const char *)v, klen, (const char *)nul + 1, vlen - klen - 1);
			if (r == -E2BIG)
				r = -EBADMSG;
			break;
		}
		default:
			break; /* a record of a later minor revision: skipped */
		}
		p += RECORD_HEAD + vlen;
		len -= RECORD_HEAD + vlen;
	}
	if (r < 0) {
		fdpass_meta_free(m);
		return r;
	}
	*out = m;
	return 0;
}

/* ---- sending ------------------------------------------------------------ */

int fdp_send_message(int sock, const int *fds, size_t nfds, const fdpass_meta *meta,
		     const char *flusher, int flags, int timeout_ms,
		     const struct fdp_deadline *whole)
{
	unsigned char *buf;
	size_t len;
	ssize_t n;
	int r;

	if (whole)
		timeout_ms = fdp_deadline_left(whole);
	if (!meta) {
		/* httpd's plain message */
		if (nfds != 1 || !fds || (flags & ~FDPASS_NONBLOCK))
			return -EINVAL;
		n = fdpass_send_fds(sock, fds, 1, "", 1, flags, timeout_ms);
		return n < 0 ? (int)n : 0;
	}
	if ((flags & ~FDPASS_NONBLOCK) || nfds > FDPASS_MAX_FDS || (nfds && !fds))
		return nfds > FDPASS_MAX_FDS ? -E2BIG : -EINVAL;
	r = fdp_meta_encode(meta, nfds, flusher, &buf, &len);
	if (r < 0)
		return r;
	n = fdpass_send_fds(sock, fds, nfds, buf, len, flags, timeout_ms);
	if (n > 0 && (size_t)n < len) {
		/* The fds are out: the rest must follow, or the stream is lost. */
		r = fdpass_write_all(sock, buf + n, len - (size_t)n,
				     whole ? fdp_deadline_left(whole) :
				     timeout_ms > 0 ? timeout_ms : FDPASS_FLUSH_TIMEOUT_MS);
		n = r < 0 ? -ECONNABORTED : (ssize_t)len;
	}
	free(buf);
	return n < 0 ? (int)n : 0;
}

FDPASS_EXPORT int fdpass_send_meta(int sock, const int *fds, size_t nfds,
				   const fdpass_meta *meta, int flags, int timeout_ms)
{
	return fdp_send_message(sock, fds, nfds, meta, NULL, flags, timeout_ms, NULL);
}

/* ---- receiving ---------------------------------------------------------- */

/*
 * Read exactly len more bytes of a message whose start has come: no fds may
 * come with them. Waits at most timeout_ms, since the rest of the message is
 * already on its way; -ECONNRESET at end of stream.
 */
static int read_rest(int sock, unsigned char *buf, size_t len, int timeout_ms)
{
	struct fdp_deadline dl;

	fdp_deadline_init(&dl, timeout_ms);
	while (len > 0) {
		size_t none;
		ssize_t n = fdp_recv_msg(sock, NULL, 0, &none, buf, len, MSG_DONTWAIT);

		if (n == -EAGAIN || n == -EWOULDBLOCK) {
			n = fdp_wait(sock, POLLIN, &dl);
			if (n == 0)
				continue;
			return n == -ETIMEDOUT || n == -EAGAIN ? -ETIME : (int)n;
		}
		if (n == -ETOOMANYREFS || n == -EBADMSG)
			return -EBADMSG; /* fds in the middle of a message */
		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return (int)n;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Check a complete header against the fds that came. */
static int check_header(const unsigned char *h, size_t nfds, size_t max_payload,
			uint32_t *payload)
{
	if (memcmp(h, MAGIC, 4))
		return -EBADMSG;
	if (h[4] != VERSION)
		return -EPROTONOSUPPORT;
	if (get16(h + 6) != nfds)
		return -EBADMSG;
	*payload = get32(h + 8);
	if (*payload > max_payload)
		return -EMSGSIZE;
	return 0;
}

static int recv_stream(int sock, int *fds, size_t max, size_t *nfds, fdpass_meta **meta,
		       size_t max_payload, int flags, int timeout_ms, int rest_ms)
{
	unsigned char h[HEADER_SIZE], *payload = NULL;
	struct fdp_deadline rest;
	size_t got = max;
	uint32_t plen = 0;
	ssize_t n;
	int r;

	/*
	 * The first byte alone: one read of more bytes could take fds that
	 * came with a later byte, and nothing would tell them apart.
	 */
	n = fdpass_recv_fds(sock, fds, &got, h, 1, flags, timeout_ms);
	if (n <= 0)
		return (int)n;
	if (h[0] == '\0') {
		/* httpd's message: one byte, one fd; nothing else. */
		r = got == 0 ? -ENOMSG : got > 1 ? -ETOOMANYREFS : 1;
		goto done;
	}
	if (h[0] != MAGIC[0]) {
		r = -EBADMSG;
		goto done;
	}
	/* One deadline for all the rest of the message. */
	fdp_deadline_init(&rest, rest_ms);
	r = read_rest(sock, h + 1, sizeof(h) - 1, fdp_deadline_left(&rest));
	if (r == 0)
		r = check_header(h, got, max_payload, &plen);
	if (r == 0 && !(payload = malloc(plen ? plen : 1)))
		r = -ENOMEM;
	if (r == 0 && plen > 0) {
		int left = fdp_deadline_left(&rest);

		r = left == 0 ? -ETIME : read_rest(sock, payload, plen, left);
	}
	if (r == 0)
		r = fdp_meta_decode(payload, plen, meta);
	free(payload);
	if (r == 0)
		r = 1;
done:
	if (r < 0)
		fdp_close_all(fds, got);
	else
		*nfds = got;
	return r;
}

/* The length of the next packet, without taking it (or its fds). */
static ssize_t peek_packet(int sock, int flags, int timeout_ms)
{
	struct fdp_deadline dl;
	char byte;

	fdp_deadline_init(&dl, (flags & FDPASS_NONBLOCK) ? 0 : timeout_ms);
	for (;;) {
		ssize_t n = recv(sock, &byte, 1, MSG_PEEK | MSG_TRUNC | fdp_deadline_msgflags(&dl));

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		n = fdp_wait(sock, POLLIN, &dl);
		if (n < 0)
			return n;
	}
}

static int recv_packet(int sock, int *fds, size_t max, size_t *nfds, fdpass_meta **meta,
		       size_t max_payload, int flags, int timeout_ms)
{
	unsigned char *buf;
	size_t got = 0, size;
	uint32_t plen;
	ssize_t n = peek_packet(sock, flags, timeout_ms);
	int r;

	if (n < 0)
		return (int)n;
	/* Too long: take it with a small buffer, so that its fds are closed. */
	size = (size_t)n > HEADER_SIZE + max_payload ? HEADER_SIZE : (size_t)n ? (size_t)n : 1;
	buf = malloc(size);
	if (!buf)
		return -ENOMEM;
	n = fdp_recv_msg(sock, fds, max, &got, buf, size, MSG_DONTWAIT);
	if (n <= 0) {
		free(buf);
		return (int)n;
	}
	if (buf[0] == '\0')
		r = n != 1 ? -EBADMSG : got == 0 ? -ENOMSG : got > 1 ? -ETOOMANYREFS : 1;
	else if ((size_t)n < HEADER_SIZE)
		r = -EBADMSG;
	else if ((r = check_header(buf, got, max_payload, &plen)) == 0)
		r = plen != (size_t)n - HEADER_SIZE ? -EBADMSG
						   : fdp_meta_decode(buf + HEADER_SIZE, plen, meta);
	free(buf);
	if (r < 0) {
		fdp_close_all(fds, got);
		return r;
	}
	*nfds = got;
	return 1;
}

int fdp_recv_message(int sock, int stream, int *fds, size_t *nfds, fdpass_meta **meta,
		     size_t max_payload, int flags, int timeout_ms, int rest_ms)
{
	size_t max;

	if (!nfds || !meta)
		return -EINVAL;
	max = *nfds < FDPASS_MAX_FDS ? *nfds : FDPASS_MAX_FDS;
	*nfds = 0;
	*meta = NULL;
	if ((flags & ~FDPASS_NONBLOCK) || max == 0 || !fds)
		return -EINVAL;
	if (max_payload == 0)
		max_payload = FDPASS_META_DEFAULT_MAX;
	if (max_payload > FDPASS_META_LIMIT)
		return -EINVAL;
	if (stream < 0)
		stream = fdp_is_stream(sock);
	return stream
		? recv_stream(sock, fds, max, nfds, meta, max_payload, flags, timeout_ms, rest_ms)
		: recv_packet(sock, fds, max, nfds, meta, max_payload, flags, timeout_ms);
}

FDPASS_EXPORT int fdpass_recv_meta(int sock, int *fds, size_t *nfds, fdpass_meta **meta,
				   size_t max_payload, int flags, int timeout_ms)
{
	return fdp_recv_message(sock, -1, fds, nfds, meta, max_payload, flags, timeout_ms,
				timeout_ms > 0 ? timeout_ms : FDPASS_FLUSH_TIMEOUT_MS);
}
