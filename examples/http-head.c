// SPDX-License-Identifier: MIT
#include <string.h>
#include <strings.h>

#include "http-head.h"

static int is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Length of the line at p (without its LF or CRLF), or -1 if no LF in len. */
static long line_length(const char *p, size_t len, size_t *eol)
{
	const char *lf = memchr(p, '\n', len);
	size_t n;

	if (!lf)
		return -1;
	n = (size_t)(lf - p);
	*eol = n + 1;
	if (n > 0 && p[n - 1] == '\r')
		n--;
	return (long)n;
}

static enum http_head_result parse_request_line(const char *p, size_t n, struct http_head *h)
{
	const char *sp1, *sp2, *end = p + n, *q;
	size_t i;

	for (i = 0; i < n && is_tchar((unsigned char)p[i]); i++)
		;
	if (i == 0 || i == n || p[i] != ' ')
		return HTTP_HEAD_MALFORMED;
	sp1 = p + i;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
	if (!sp2 || sp2 == sp1 + 1)
		return HTTP_HEAD_MALFORMED;
	for (q = sp1 + 1; q < sp2; q++)
		if ((unsigned char)*q <= 0x20 || *q == 0x7f)
			return HTTP_HEAD_MALFORMED;
	if (end - sp2 != 9 || memcmp(sp2 + 1, "HTTP/1.", 7) || sp2[8] < '0' || sp2[8] > '9')
		return HTTP_HEAD_MALFORMED;

	h->method = p;
	h->method_len = i;
	h->target = sp1 + 1;
	h->target_len = (size_t)(sp2 - sp1 - 1);
	h->minor_version = sp2[8] - '0';
	h->path = h->target;
	h->path_len = h->target_len;
	if (h->target[0] != '/') {
		/* absolute-form: scheme "://" authority path */
		const char *s = memchr(h->target, ':', h->target_len), *slash;

		if (!s || (size_t)(h->target + h->target_len - s) < 3 || memcmp(s, "://", 3))
			return h->target_len == 1 && h->target[0] == '*' ? HTTP_HEAD_COMPLETE
									 : HTTP_HEAD_MALFORMED;
		/* The authority ends at the first '/', '?' or '#' (RFC 3986). */
		s += 3;
		slash = s + strcspn(s, "/?#");
		if (slash > h->target + h->target_len)
			slash = h->target + h->target_len;
		if (slash < h->target + h->target_len && *slash == '/') {
			h->path = slash;
			h->path_len = (size_t)(h->target + h->target_len - slash);
		} else {
			h->path = "/"; /* an empty path is "/" */
			h->path_len = 1;
		}
	}
	q = memchr(h->path, '?', h->path_len);
	if (q)
		h->path_len = (size_t)(q - h->path);
	return HTTP_HEAD_COMPLETE;
}

static int valid_field_line(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && is_tchar((unsigned char)p[i]); i++)
		;
	if (i == 0 || i == n || p[i] != ':')
		return 0;
	for (i++; i < n; i++)
		if (((unsigned char)p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
			return 0;
	return 1;
}

enum http_head_result http_head_parse(const char *buf, size_t len, size_t max,
				      struct http_head *head)
{
	struct http_head h;
	size_t off = 0, eol;
	long n;
	int first = 1;

	memset(&h, 0, sizeof(h));
	if (len > max)
		len = max + 1; /* enough to know it is too large */
	for (;;) {
		n = line_length(buf + off, len - off, &eol);
		if (n < 0)
			return len > max ? HTTP_HEAD_TOO_LARGE : HTTP_HEAD_INCOMPLETE;
		if (off + eol > max)
			return HTTP_HEAD_TOO_LARGE;
		if (first) {
			if (parse_request_line(buf, (size_t)n, &h) != HTTP_HEAD_COMPLETE)
				return HTTP_HEAD_MALFORMED;
			first = 0;
		} else if (n == 0) {
			h.head_len = off + eol;
			*head = h;
			return HTTP_HEAD_COMPLETE;
		} else if (!valid_field_line(buf + off, (size_t)n)) {
			return HTTP_HEAD_MALFORMED;
		}
		off += eol;
	}
}

int http_head_field(const char *buf, size_t head_len, const char *name,
		    const char **value, size_t *len)
{
	size_t off = 0, eol, nlen = strlen(name);
	long n = line_length(buf, head_len, &eol); /* the request line */

	while (n >= 0 && (off += eol) < head_len) {
		const char *line = buf + off, *v, *end;

		n = line_length(line, head_len - off, &eol);
		if (n <= 0)
			break;
		if ((size_t)n <= nlen || line[nlen] != ':' || strncasecmp(line, name, nlen))
			continue;
		v = line + nlen + 1;
		end = line + n;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		*value = v;
		*len = (size_t)(end - v);
		return 1;
	}
	return 0;
}

int http_head_body_length(const char *buf, size_t head_len, size_t *length)
{
	const char *v;
	size_t len, i, n = 0, off = 0;
	int found = 0;

	if (http_head_field(buf, head_len, "Transfer-Encoding", &v, &len))
		return -1;
	/* Every Content-Length field must say the same (RFC 9112, 6.3). */
	while (http_head_field(buf + off, head_len - off, "Content-Length", &v, &len)) {
		size_t value = 0;

		if (len == 0 || len > 15)
			return -1;
		for (i = 0; i < len; i++) {
			if (v[i] < '0' || v[i] > '9')
				return -1;
			value = value * 10 + (size_t)(v[i] - '0');
		}
		if (found && value != n)
			return -1;
		n = value;
		found = 1;
		/* Look again after this field's line (the "request line" there
		 * is skipped by http_head_field, so start at this line). */
		off = (size_t)(v - buf);
		while (off > 0 && buf[off - 1] != '\n')
			off--;
	}
	*length = found ? n : 0;
	return 0;
}
