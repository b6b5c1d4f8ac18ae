/* SPDX-License-Identifier: MIT */
/*
 * The request-head parser of fdpass-frontend, kept apart so that it can be
 * tested and fuzzed on its own. It parses only what routing needs: the
 * request line and the shape of the header fields.
 */
#ifndef HTTP_HEAD_H
#define HTTP_HEAD_H

#include <stddef.h>

/* Largest request head fdpass-frontend accepts (431 beyond). */
#define HTTP_HEAD_MAX 8192

enum http_head_result {
	HTTP_HEAD_INCOMPLETE = 0, /* read more */
	HTTP_HEAD_COMPLETE = 1,
	HTTP_HEAD_MALFORMED = -1, /* answer 400 */
	HTTP_HEAD_TOO_LARGE = -2, /* answer 431 */
};

struct http_head {
	const char *method;
	size_t method_len;
	const char *target; /* as sent: origin-form or absolute-form */
	size_t target_len;
	const char *path;   /* the path part of target, without query; for an
			     * absolute-form target without a path, a static "/" */
	size_t path_len;
	int minor_version;  /* HTTP/1.x */
	size_t head_len;    /* bytes up to and including the blank line */
};

/*
 * Parse the first len bytes of a request as far as they go. max bounds the
 * head. On HTTP_HEAD_COMPLETE *head points into buf (path aside, see above).
 */
enum http_head_result http_head_parse(const char *buf, size_t len, size_t max,
				      struct http_head *head);

/*
 * The value of the first header field called name (case-insensitive) in a
 * complete head of head_len bytes, without surrounding blanks: 1 with
 * *value and *len set, 0 if there is none.
 */
int http_head_field(const char *buf, size_t head_len, const char *name,
		    const char **value, size_t *len);

/*
 * The request body's length from Content-Length: 0 with *length set (0 if
 * the field is absent), -1 if the field is malformed, if two Content-Length
 * fields disagree, or if the body is chunked (Transfer-Encoding), which the
 * examples do not read.
 */
int http_head_body_length(const char *buf, size_t head_len, size_t *length);

#endif
