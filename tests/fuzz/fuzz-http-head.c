// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the request-head parser of the example front-end
 * (examples/http-head.c, compiled into this target): http_head_parse(),
 * http_head_field() and http_head_body_length().
 *
 * Input: byte 0 chooses the bound (bits 0-1: HTTP_HEAD_MAX, 16, 64 or 512
 * bytes), byte 1 where the request is cut in two (its length times byte 1
 * over 256), the rest is the request as a client sends it.
 *
 * Every call gets a copy of exactly the bytes it may read, in a buffer of
 * that size, so AddressSanitizer sees any read past len. Checked (abort() on
 * failure, so that libFuzzer keeps the input):
 *  - the result is one of the four; INCOMPLETE only while len <= max;
 *  - COMPLETE: head_len <= len and <= max, the head ends with an empty line
 *    (LF or CRLF after a LF), every pointer lies within the head, and the
 *    method, target, version and path are those of a reference parser
 *    written here from the header's description (RFC 9112 request line,
 *    field lines "token ':' text", lines ending in LF or CRLF);
 *  - the result agrees with the reference in every case;
 *  - incremental parsing: the prefix cut at byte 1's place gives INCOMPLETE
 *    or exactly the whole input's result (the same head); a complete head
 *    cut one byte short is INCOMPLETE, cut at head_len it is the same head;
 *  - http_head_field() finds the first field of that name, trimmed, inside
 *    the head; http_head_body_length() reads Content-Length as the
 *    reference does and refuses Transfer-Encoding; both stay within
 *    head_len even on bytes that are not a complete head.
 *
 * An absolute-form target without a path ("http://host", or "http://h?q")
 * has the path "/" from a static string, as http-head.h says; the
 * authority ends at the first '/', '?' or '#' (RFC 3986); Content-Length
 * fields that disagree are refused (RFC 9112).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http-head.h"

#include "testlib.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT 65536

/* ---- the reference ---------------------------------------------------- */

static int ref_tchar(unsigned char c)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";

	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return 1;
	return c != 0 && memchr(extra, c, sizeof(extra) - 1) != NULL;
}

/* HTAB, SP, VCHAR, obs-text. */
static int ref_text(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

struct ref_head {
	size_t method_len;
	size_t target_off, target_len;
	int path_in_buf; /* else the path is "/" */
	size_t path_off, path_len;
	int minor_version;
	size_t head_len;
};

/* The request line, p[0..n) without its line end: 1 if valid. */
static int ref_request_line(const char *p, size_t n, struct ref_head *h)
{
	size_t i = 0, t, tend, k;
	const char *target;

	while (i < n && ref_tchar((unsigned char)p[i]))
		i++;
	if (i == 0 || i >= n || p[i] != ' ')
		return 0;
	h->method_len = i;
	t = i + 1;
	tend = t;
	while (tend < n && (unsigned char)p[tend] > 0x20 && p[tend] != 0x7f)
		tend++;
	/* " HTTP/1.d" must be the rest, exactly. */
	if (tend == t || n - tend != 9 || memcmp(p + tend, " HTTP/1.", 8) ||
	    p[tend + 8] < '0' || p[tend + 8] > '9')
		return 0;
	h->minor_version = p[tend + 8] - '0';
	h->target_off = t;
	h->target_len = tend - t;
	target = p + t;
	h->path_in_buf = 1;
	h->path_off = t;
	h->path_len = h->target_len;
	if (target[0] == '*' && h->target_len == 1)
		return 1; /* asterisk-form */
	if (target[0] != '/') {
		/* absolute-form: anything up to the first ':', "://", authority */
		const char *colon = memchr(target, ':', h->target_len);
		size_t a, slash;

		if (!colon || h->target_len - (size_t)(colon - target) < 3 ||
		    memcmp(colon, "://", 3))
			return 0;
		a = (size_t)(colon - target) + 3;
		/* RFC 3986: the authority ends at the first '/', '?' or '#'. */
		for (slash = a; slash < h->target_len && target[slash] != '/' &&
		     target[slash] != '?' && target[slash] != '#'; slash++)
			;
		if (slash == h->target_len || target[slash] != '/') {
			h->path_in_buf = 0;
			h->path_len = 1;
			return 1;
		}
		h->path_off = t + slash;
		h->path_len = h->target_len - slash;
	}
	for (k = 0; k < h->path_len; k++)
		if (p[h->path_off + k] == '?') {
			h->path_len = k;
			break;
		}
	return 1;
}

static int ref_field_line(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && ref_tchar((unsigned char)p[i]))
		i++;
	if (i == 0 || i >= n || p[i] != ':')
		return 0;
	for (i++; i < n; i++)
		if (!ref_text((unsigned char)p[i]))
			return 0;
	return 1;
}

/*
 * The result for buf[0..len): lines end in LF (a CR before it is not part of
 * the line); the head is at most max bytes, blank line included; a line
 * that is not yet whole is INCOMPLETE while len <= max.
 */
static enum http_head_result reference(const char *buf, size_t len, size_t max,
				       struct ref_head *h)
{
	size_t off = 0;
	int first = 1;

	memset(h, 0, sizeof(*h));
	for (;;) {
		size_t avail = (len < max + 1 ? len : max + 1) - off;
		const char *lf = memchr(buf + off, '\n', avail);
		size_t n, eol;

		if (!lf)
			return len > max ? HTTP_HEAD_TOO_LARGE : HTTP_HEAD_INCOMPLETE;
		eol = (size_t)(lf - (buf + off)) + 1;
		if (off + eol > max)
			return HTTP_HEAD_TOO_LARGE;
		n = eol - 1;
		if (n > 0 && buf[off + n - 1] == '\r')
			n--;
		if (first) {
			if (!ref_request_line(buf, n, h))
				return HTTP_HEAD_MALFORMED;
			first = 0;
		} else if (n == 0) {
			h->head_len = off + eol;
			return HTTP_HEAD_COMPLETE;
		} else if (!ref_field_line(buf + off, n)) {
			return HTTP_HEAD_MALFORMED;
		}
		off += eol;
	}
}

/* The first field called name in a complete head, trimmed; 1 if found. */
static int ref_field(const char *buf, size_t head_len, const char *name, size_t *voff,
		     size_t *vlen)
{
	size_t nlen = strlen(name);
	const char *lf = memchr(buf, '\n', head_len);
	size_t off = lf ? (size_t)(lf - buf) + 1 : head_len;

	while (off < head_len) {
		size_t n, eol, b, e;

		lf = memchr(buf + off, '\n', head_len - off);
		if (!lf)
			break;
		eol = (size_t)(lf - (buf + off)) + 1;
		n = eol - 1;
		if (n > 0 && buf[off + n - 1] == '\r')
			n--;
		if (n == 0)
			break;
		if (n > nlen && buf[off + nlen] == ':' && !strncasecmp(buf + off, name, nlen)) {
			b = off + nlen + 1;
			e = off + n;
			while (b < e && (buf[b] == ' ' || buf[b] == '\t'))
				b++;
			while (e > b && (buf[e - 1] == ' ' || buf[e - 1] == '\t'))
				e--;
			*voff = b;
			*vlen = e - b;
			return 1;
		}
		off += eol;
	}
	return 0;
}

/* ---- the checks ------------------------------------------------------- */

static int within(const char *p, size_t n, const char *buf, size_t len)
{
	return p >= buf && p <= buf + len && n <= (size_t)(buf + len - p);
}

/* Parse the first len bytes of data from a buffer of exactly that size. */
static enum http_head_result parse_copy(const uint8_t *data, size_t len, size_t max,
					struct http_head *h, char **copy)
{
	char *buf = malloc(len ? len : 1);
	enum http_head_result r;

	TL_CHECK(buf != NULL);
	if (len)
		memcpy(buf, data, len);
	memset(h, 0xA5, sizeof(*h));
	r = http_head_parse(buf, len, max, h);
	*copy = buf;
	return r;
}

/* The parts of two heads parsed from buffers at a and b, compared by offset. */
static void check_same_head(const struct http_head *x, const char *a, const struct http_head *y,
			    const char *b)
{
	TL_CHECK(x->head_len == y->head_len);
	TL_CHECK(x->method - a == y->method - b && x->method_len == y->method_len);
	TL_CHECK(x->target - a == y->target - b && x->target_len == y->target_len);
	TL_CHECK(x->minor_version == y->minor_version);
	TL_CHECK(x->path_len == y->path_len);
	TL_CHECK(x->path_len == 0 || !memcmp(x->path, y->path, x->path_len));
}

static void check_fields(const char *buf, size_t head_len, const struct http_head *h)
{
	static const char *const names[] = { "Host", "Content-Length", "Transfer-Encoding",
					     "content-length", "X", "Connection" };
	const char *lf, *v;
	size_t i, vlen, voff, rlen, length, off;
	int r, want;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		v = NULL;
		vlen = 0;
		r = http_head_field(buf, head_len, names[i], &v, &vlen);
		want = ref_field(buf, head_len, names[i], &voff, &rlen);
		TL_CHECK(r == want);
		if (r) {
			TL_CHECK(within(v, vlen, buf, head_len));
			TL_CHECK(v == buf + voff && vlen == rlen);
		}
	}

	/* Each field's own name finds the first field of that name. */
	lf = memchr(buf, '\n', head_len);
	off = lf ? (size_t)(lf - buf) + 1 : head_len;
	for (i = 0; i < 16 && off < head_len; i++) {
		char name[64];
		size_t n = 0;

		while (off + n < head_len && buf[off + n] != ':' && buf[off + n] != '\n' &&
		       buf[off + n] != '\r' && n < sizeof(name) - 1)
			n++;
		if (n > 0 && off + n < head_len && buf[off + n] == ':') {
			memcpy(name, buf + off, n);
			name[n] = '\0';
			if (!memchr(name, '\0', n)) {
				r = http_head_field(buf, head_len, name, &v, &vlen);
				want = ref_field(buf, head_len, name, &voff, &rlen);
				TL_CHECK(r == want);
				if (r)
					TL_CHECK(v == buf + voff && vlen == rlen);
				if (h)
					TL_CHECK(r == 1);
			}
		}
		lf = memchr(buf + off, '\n', head_len - off);
		if (!lf)
			break;
		off = (size_t)(lf - buf) + 1;
	}

	/* Content-Length as the reference reads it; Transfer-Encoding refused. */
	length = (size_t)-1;
	r = http_head_body_length(buf, head_len, &length);
	if (ref_field(buf, head_len, "Transfer-Encoding", &voff, &rlen)) {
		TL_CHECK(r == -1);
	} else if (!ref_field(buf, head_len, "Content-Length", &voff, &rlen)) {
		TL_CHECK(r == 0 && length == 0);
	} else {
		/* Every Content-Length field must be digits, and all must agree. */
		size_t base = 0, first = 0;
		int ok = 1, found = 0;

		while (ref_field(buf + base, head_len - base, "Content-Length", &voff, &rlen)) {
			size_t k, n = 0;
			int digits = rlen >= 1 && rlen <= 15;

			for (k = 0; digits && k < rlen; k++) {
				if (buf[base + voff + k] < '0' || buf[base + voff + k] > '9')
					digits = 0;
				else
					n = n * 10 + (size_t)(buf[base + voff + k] - '0');
			}
			if (!digits || (found && n != first))
				ok = 0;
			if (!found)
				first = n;
			found = 1;
			/* Search on from this field's line (ref_field skips a first line). */
			base += voff;
			while (base > 0 && buf[base - 1] != '\n')
				base--;
		}
		if (ok)
			TL_CHECK(r == 0 && length == first);
		else
			TL_CHECK(r == -1);
	}
}

static void check_complete(const char *buf, size_t len, size_t max, const struct http_head *h,
			   const struct ref_head *ref)
{
	size_t k;

	TL_CHECK(h->head_len <= len && h->head_len <= max);
	TL_CHECK(h->head_len == ref->head_len);
	/* It ends with an empty line. */
	TL_CHECK(h->head_len >= 2 && buf[h->head_len - 1] == '\n');
	TL_CHECK(buf[h->head_len - 2] == '\n' ||
	         (h->head_len >= 3 && buf[h->head_len - 2] == '\r' && buf[h->head_len - 3] == '\n'));
	TL_CHECK(within(h->method, h->method_len, buf, h->head_len));
	TL_CHECK(within(h->target, h->target_len, buf, h->head_len));
	TL_CHECK(h->method == buf && h->method_len == ref->method_len);
	TL_CHECK(h->target == buf + ref->target_off && h->target_len == ref->target_len);
	TL_CHECK(h->minor_version == ref->minor_version);
	TL_CHECK(h->minor_version >= 0 && h->minor_version <= 9);
	for (k = 0; k < h->method_len; k++)
		TL_CHECK(ref_tchar((unsigned char)h->method[k]));
	TL_CHECK(h->target_len > 0);

	if (!within(h->path, h->path_len, buf, h->head_len)) {
		/* As http-head.h says: a static "/" for "scheme://authority". */
		TL_CHECK(!ref->path_in_buf);
		TL_CHECK(h->path_len == 1 && h->path[0] == '/');
	} else {
		TL_CHECK(ref->path_in_buf);
		TL_CHECK(within(h->path, h->path_len, h->target, h->target_len));
		TL_CHECK(h->path == buf + ref->path_off && h->path_len == ref->path_len);
		TL_CHECK(!memchr(h->path, '?', h->path_len));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t maxes[4] = { HTTP_HEAD_MAX, 16, 64, 512 };
	struct http_head whole, part, edge;
	struct ref_head ref;
	enum http_head_result r, rp, want;
	size_t max, len, cut;
	const uint8_t *req;
	char *buf, *pbuf, *ebuf;

	if (size < 2 || size > FUZZ_MAX_INPUT)
		return 0;
	max = maxes[data[0] & 3];
	req = data + 2;
	len = size - 2;
	cut = len * data[1] / 256;

	r = parse_copy(req, len, max, &whole, &buf);
	TL_CHECK(r == HTTP_HEAD_INCOMPLETE || r == HTTP_HEAD_COMPLETE || r == HTTP_HEAD_MALFORMED ||
	         r == HTTP_HEAD_TOO_LARGE);
	want = reference(buf, len, max, &ref);
	if (r != want) {
		fprintf(stderr, "fuzz-http-head: len %zu max %zu: got %d, reference %d\n", len,
			max, (int)r, (int)want);
		abort();
	}
	if (r == HTTP_HEAD_INCOMPLETE)
		TL_CHECK(len <= max);
	if (r == HTTP_HEAD_COMPLETE) {
		check_complete(buf, len, max, &whole, &ref);
		check_fields(buf, whole.head_len, &whole);

		/* One byte short: incomplete; exactly the head: the same head. */
		rp = parse_copy(req, whole.head_len - 1, max, &edge, &ebuf);
		TL_CHECK(rp == HTTP_HEAD_INCOMPLETE);
		free(ebuf);
		rp = parse_copy(req, whole.head_len, max, &edge, &ebuf);
		TL_CHECK(rp == HTTP_HEAD_COMPLETE);
		check_same_head(&whole, buf, &edge, ebuf);
		free(ebuf);
	}
	/* Out of contract but within bounds: any bytes as a "head". */
	check_fields(buf, len, NULL);

	/* Incremental: the prefix is incomplete, or already the final answer. */
	rp = parse_copy(req, cut, max, &part, &pbuf);
	if (rp != HTTP_HEAD_INCOMPLETE) {
		TL_CHECK(rp == r);
		if (r == HTTP_HEAD_COMPLETE)
			check_same_head(&whole, buf, &part, pbuf);
	}
	if (r == HTTP_HEAD_INCOMPLETE)
		TL_CHECK(rp == HTTP_HEAD_INCOMPLETE);
	free(pbuf);
	free(buf);
	return 0;
}
