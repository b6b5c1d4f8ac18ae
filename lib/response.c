// SPDX-License-Identifier: MIT
/*
 * The description of a response to flush, validated as it is built so that
 * nothing a caller passes can split a response or smuggle a header.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

struct field {
	char *name;
	char *value;
};

struct fdpass_response {
	int status;
	char *reason; /* NULL: the standard phrase */
	struct field *fields;
	size_t nfields, cap;
	size_t field_bytes; /* "name: value\r\n" of every field */
	unsigned char *body;
	size_t body_len;
};

static const fdpass_response default_response = { .status = 200 };

const fdpass_response *fdp_default_response(void)
{
	return &default_response;
}

static const char *standard_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 102: return "Processing";
	case 103: return "Early Hints";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 203: return "Non-Authoritative Information";
	case 204: return "No Content";
	case 205: return "Reset Content";
	case 206: return "Partial Content";
	case 207: return "Multi-Status";
	case 208: return "Already Reported";
	case 226: return "IM Used";
	case 300: return "Multiple Choices";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 305: return "Use Proxy";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 402: return "Payment Required";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 407: return "Proxy Authentication Required";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 421: return "Misdirected Request";
	case 422: return "Unprocessable Content";
	case 423: return "Locked";
	case 424: return "Failed Dependency";
	case 425: return "Too Early";
	case 426: return "Upgrade Required";
	case 428: return "Precondition Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 451: return "Unavailable For Legal Reasons";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	case 506: return "Variant Also Negotiates";
	case 507: return "Insufficient Storage";
	case 508: return "Loop Detected";
	case 510: return "Not Extended";
	case 511: return "Network Authentication Required";
	default: return "Unknown";
	}
}

/* RFC 9110 tchar. */
static int is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int fdp_is_token(const char *s)
{
	if (!s || !*s)
		return 0;
	for (; *s; s++)
		if (!is_tchar((unsigned char)*s))
			return 0;
	return 1;
}

/* Field values and reason phrases: SP, HTAB, VCHAR and obs-text only. */
static int is_field_text(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

static const char *fdp_response_reason(const fdpass_response *r)
{
	return r->reason ? r->reason : standard_reason(r->status);
}

static size_t status_line_bytes(const fdpass_response *r)
{
	/* "HTTP/1.1 NNN " reason "\r\n" */
	return 13 + strlen(fdp_response_reason(r)) + 2;
}

FDPASS_EXPORT int fdpass_response_new(fdpass_response **resp, int status)
{
	fdpass_response *r;

	if (!resp || status < 100 || status > 599)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->status = status;
	*resp = r;
	return 0;
}

FDPASS_EXPORT void fdpass_response_free(fdpass_response *resp)
{
	size_t i;

	if (!resp)
		return;
	for (i = 0; i < resp->nfields; i++) {
		free(resp->fields[i].name);
		free(resp->fields[i].value);
	}
	free(resp->fields);
	free(resp->reason);
	free(resp->body);
	free(resp);
}

FDPASS_EXPORT int fdpass_response_set_status(fdpass_response *resp, int status,
					     const char *reason)
{
	char *copy = NULL;

	if (!resp || status < 100 || status > 599 || (reason && !is_field_text(reason)))
		return -EINVAL;
	if (reason && strlen(reason) > FDPASS_RESPONSE_MAX_REASON)
		return -EINVAL;
	if (13 + strlen(reason ? reason : standard_reason(status)) + 2 + resp->field_bytes >
	    FDPASS_RESPONSE_MAX_HEAD)
		return -E2BIG;
	if (reason && !(copy = strdup(reason)))
		return -ENOMEM;
	free(resp->reason);
	resp->reason = copy;
	resp->status = status;
	return 0;
}

FDPASS_EXPORT int fdpass_response_add_header(fdpass_response *resp, const char *name,
					     const char *value)
{
	struct field f;
	size_t bytes;

	if (!resp || !fdp_is_token(name) || !value || !is_field_text(value))
		return -EINVAL;
	bytes = strlen(name) + 2 + strlen(value) + 2;
	if (resp->nfields >= FDPASS_RESPONSE_MAX_HEADERS ||
	    bytes > FDPASS_RESPONSE_MAX_HEAD ||
	    resp->field_bytes + bytes + status_line_bytes(resp) > FDPASS_RESPONSE_MAX_HEAD)
		return -E2BIG;
	if (resp->nfields == resp->cap) {
		size_t cap = resp->cap ? resp->cap * 2 : 8;
		struct field *grown = realloc(resp->fields, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		resp->fields = grown;
		resp->cap = cap;
	}
	f.name = strdup(name);
	f.value = strdup(value);
	if (!f.name || !f.value) {
		free(f.name);
		free(f.value);
		return -ENOMEM;
	}
	resp->fields[resp->nfields++] = f;
	resp->field_bytes += bytes;
	return 0;
}

FDPASS_EXPORT int fdpass_response_set_body(fdpass_response *resp, const void *data, size_t len)
{
	unsigned char *copy = NULL;

	if (!resp || (len > 0 && !data))
		return -EINVAL;
	if (len > 0) {
		copy = malloc(len);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, data, len);
	}
	free(resp->body);
	resp->body = copy;
	resp->body_len = len;
	return 0;
}

FDPASS_EXPORT int fdpass_response_get_status(const fdpass_response *resp, const char **reason)
{
	if (!resp)
		return -EINVAL;
	if (reason)
		*reason = fdp_response_reason(resp);
	return resp->status;
}

FDPASS_EXPORT size_t fdpass_response_header_count(const fdpass_response *resp)
{
	return resp ? resp->nfields : 0;
}

FDPASS_EXPORT int fdpass_response_get_header(const fdpass_response *resp, size_t index,
					     const char **name, const char **value)
{
	if (!resp)
		return -EINVAL;
	if (index >= resp->nfields)
		return -ERANGE;
	if (name)
		*name = resp->fields[index].name;
	if (value)
		*value = resp->fields[index].value;
	return 0;
}

FDPASS_EXPORT const void *fdpass_response_get_body(const fdpass_response *resp, size_t *len)
{
	if (len)
		*len = resp ? resp->body_len : 0;
	return resp && resp->body_len ? resp->body : NULL;
}

/* IMF-fixdate, in English whatever the locale: "Sun, 06 Nov 1994 08:49:37 GMT". */
static void imf_fixdate(char out[64], time_t t)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(out, 64, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7],
		 tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour,
		 tm.tm_min, tm.tm_sec);
}

static int has_field(const fdpass_response *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nfields; i++)
		if (!strcasecmp(r->fields[i].name, name))
			return 1;
	return 0;
}

/*
 * What the "flush" provider writes, in one buffer: the head with a Date
 * (unless the response has one) and "Connection: close", then the start of
 * the body. -EINVAL if the response brings its own Connection field.
 */
int fdp_response_check_flush(const fdpass_response *r)
{
	return r && has_field(r, "Connection") ? -EINVAL : 0;
}

int fdp_response_head(const fdpass_response *r, time_t now, char **out, size_t *len)
{
	char date[64];
	size_t size, n, i;
	char *buf;

	if (fdp_response_check_flush(r) < 0)
		return -EINVAL;
	imf_fixdate(date, now);
	size = status_line_bytes(r) + sizeof("Date: \r\n") + sizeof(date) + r->field_bytes +
	       sizeof("Connection: close\r\n\r\n") + r->body_len;
	buf = malloc(size);
	if (!buf)
		return -ENOMEM;
	n = (size_t)snprintf(buf, size, "HTTP/1.1 %03d %s\r\n", r->status, fdp_response_reason(r));
	if (!has_field(r, "Date"))
		n += (size_t)snprintf(buf + n, size - n, "Date: %s\r\n", date);
	for (i = 0; i < r->nfields; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s: %s\r\n", r->fields[i].name,
				      r->fields[i].value);
	n += (size_t)snprintf(buf + n, size - n, "Connection: close\r\n\r\n");
	if (r->body_len)
		memcpy(buf + n, r->body, r->body_len);
	*out = buf;
	*len = n + r->body_len;
	return 0;
}
