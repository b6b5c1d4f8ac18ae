// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the response builder (fdpass_response_*) and the
 * built-in "flush" provider, run into a real socketpair.
 *
 * Input: byte 0 holds options (low 4 bits all set: flush a NULL response,
 * the default one; bit 4: run the provider by the name NULL instead of
 * "flush"), bytes 1-2 the first status (big-endian, modulo 700, so that
 * some are out of range), then operations until the input ends. Each
 * operation is one byte, then its arguments:
 *   bits 0-1  0, 3: add a header field (name, value); 1: set the status
 *             (2 bytes, modulo 700, then a reason unless bit 4 is set);
 *             2: set the body (bytes of a string, NUL bytes included)
 *   bits 2-3  how the name is made: 0 and 3 raw bytes, 1 bytes mapped to
 *             token characters, 2 one of a few well-known names (Date,
 *             Connection, ...) chosen by the next byte
 *   bit 4     reason NULL (the standard phrase)
 *   bit 5     value and reason mapped: bytes below 0xE0 to SP and VCHAR,
 *             0xE0-0xF7 kept (obs-text), 0xF8-0xFF to HTAB, CR, LF, DEL and
 *             other controls, so that most are valid and some are not
 * A string is a length byte L, a repeat byte R and L bytes, repeated R + 1
 * times (up to 65280 bytes from 257 input bytes), and for names, values and
 * reasons cut at its first NUL, as C strings are.
 *
 * Checked (abort() on failure, so that libFuzzer keeps the input):
 *  - every call of the builder succeeds or fails exactly as a reference
 *    check written here from fdpass.h says: a name is refused with -EINVAL
 *    only if it is not an RFC 9110 token, a value or reason only if it has
 *    a control character other than HTAB (or the reason is over
 *    FDPASS_RESPONSE_MAX_REASON bytes), a status only outside 100-599;
 *    -E2BIG exactly at FDPASS_RESPONSE_MAX_HEADERS fields or
 *    FDPASS_RESPONSE_MAX_HEAD bytes of head; a refused call changes nothing;
 *  - the getters give back what was accepted;
 *  - the bytes the provider writes parse as exactly one status line
 *    "HTTP/1.1 NNN reason", header lines "token: value" with no CR or LF
 *    inside, one blank line, then exactly the body: the accepted fields in
 *    order, after a Date in IMF-fixdate unless the response has one, then
 *    "Connection: close". No input, however built, adds a line;
 *  - a response with its own Connection field is refused with -EINVAL, and
 *    then not a byte is written.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fdpass.h>

#include "testlib.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT 65536
#define MAX_OPS 400
#define MAX_STRING (255 * 256)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* ---- reading the input ------------------------------------------------- */

struct input {
	const uint8_t *p;
	size_t left;
};

static int take(struct input *in)
{
	if (in->left == 0)
		return -1;
	in->left--;
	return *in->p++;
}

static const char TCHARS[] = "!#$%&'*+-.^_`|~0123456789"
			     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

enum map { RAW, TOKEN, TEXT };

/* A string as described at the top: malloc'd, NUL-terminated, *len bytes. */
static char *take_string(struct input *in, enum map map, size_t *len)
{
	int l = take(in), rep = take(in);
	size_t n, i, k, out = 0;
	char *s;

	if (l < 0)
		l = 0;
	if (rep < 0)
		rep = 0;
	n = (size_t)l < in->left ? (size_t)l : in->left;
	s = malloc(n * (size_t)(rep + 1) + 1);
	TL_CHECK(s != NULL);
	for (k = 0; k <= (size_t)rep; k++)
		for (i = 0; i < n; i++) {
			unsigned char c = in->p[i];

			if (map == TOKEN)
				c = (unsigned char)TCHARS[c % (sizeof(TCHARS) - 1)];
			else if (map == TEXT)
				c = c < 0xE0 ? (unsigned char)(' ' + c % 95) /* SP and VCHAR */
				    : c < 0xF8 ? c /* obs-text */
					       : (unsigned char)"\t\r\n\x7f\x01\x1f\x0b\x0c"[c - 0xF8];
			s[out++] = (char)c;
		}
	s[out] = '\0';
	in->p += n;
	in->left -= n;
	if (len)
		*len = out;
	return s;
}

/* ---- the reference ---------------------------------------------------- */

static int ref_tchar(unsigned char c)
{
	return c != 0 && memchr(TCHARS, c, sizeof(TCHARS) - 1) != NULL;
}

static int ref_token(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!ref_tchar((unsigned char)*s))
			return 0;
	return 1;
}

/* SP, HTAB, VCHAR and obs-text: no CR, LF or other control character. */
static int ref_text(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

/* The standard phrase, from a fresh response (not the code under test's own check). */
static size_t standard_reason_len(int status)
{
	fdpass_response *r;
	const char *reason;
	size_t len;

	TL_CHECK(fdpass_response_new(&r, status) == 0);
	TL_CHECK(fdpass_response_get_status(r, &reason) == status);
	len = strlen(reason);
	fdpass_response_free(r);
	return len;
}

/* What the response should hold, built beside it. */
struct model {
	int status;
	char *reason; /* NULL: the standard phrase */
	size_t nfields;
	char *names[FDPASS_RESPONSE_MAX_HEADERS];
	char *values[FDPASS_RESPONSE_MAX_HEADERS];
	size_t field_bytes;
	char *body;
	size_t body_len;
};

static size_t model_status_line(const struct model *m)
{
	return 13 + (m->reason ? strlen(m->reason) : standard_reason_len(m->status)) + 2;
}

static int model_has(const struct model *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->nfields; i++)
		if (!strcasecmp(m->names[i], name))
			return 1;
	return 0;
}

static void model_free(struct model *m)
{
	size_t i;

	for (i = 0; i < m->nfields; i++) {
		free(m->names[i]);
		free(m->values[i]);
	}
	free(m->reason);
	free(m->body);
}

static void add_header(fdpass_response *r, struct model *m, char *name, char *value)
{
	size_t bytes = strlen(name) + 2 + strlen(value) + 2;
	int want, got;

	if (!ref_token(name) || !ref_text(value))
		want = -EINVAL;
	else if (m->nfields >= FDPASS_RESPONSE_MAX_HEADERS ||
		 m->field_bytes + bytes + model_status_line(m) > FDPASS_RESPONSE_MAX_HEAD)
		want = -E2BIG;
	else
		want = 0;
	got = fdpass_response_add_header(r, name, value);
	if (got != want) {
		fprintf(stderr, "fuzz-response: add_header(\"%.60s\", \"%.60s\") = %d, reference %d\n",
			name, value, got, want);
		abort();
	}
	if (got == 0) {
		m->names[m->nfields] = name;
		m->values[m->nfields] = value;
		m->nfields++;
		m->field_bytes += bytes;
	} else {
		free(name);
		free(value);
	}
}

static void set_status(fdpass_response *r, struct model *m, int status, char *reason)
{
	int want, got;

	if (status < 100 || status > 599 || (reason && !ref_text(reason)) ||
	    (reason && strlen(reason) > FDPASS_RESPONSE_MAX_REASON))
		want = -EINVAL;
	else if (13 + (reason ? strlen(reason) : standard_reason_len(status)) + 2 +
		 m->field_bytes > FDPASS_RESPONSE_MAX_HEAD)
		want = -E2BIG;
	else
		want = 0;
	got = fdpass_response_set_status(r, status, reason);
	if (got != want) {
		fprintf(stderr, "fuzz-response: set_status(%d, \"%.60s\") = %d, reference %d\n",
			status, reason ? reason : "(null)", got, want);
		abort();
	}
	if (got == 0) {
		free(m->reason);
		m->reason = reason;
		m->status = status;
	} else {
		free(reason);
	}
}

/* The getters give back what the model holds. */
static void check_getters(const fdpass_response *r, const struct model *m)
{
	const char *reason, *name, *value;
	const void *body;
	size_t i, len;

	TL_CHECK(fdpass_response_get_status(r, &reason) == m->status);
	if (m->reason)
		TL_CHECK(!strcmp(reason, m->reason));
	TL_CHECK(fdpass_response_header_count(r) == m->nfields);
	for (i = 0; i < m->nfields; i++) {
		TL_CHECK(fdpass_response_get_header(r, i, &name, &value) == 0);
		TL_CHECK(!strcmp(name, m->names[i]) && !strcmp(value, m->values[i]));
	}
	TL_CHECK(fdpass_response_get_header(r, i, &name, &value) == -ERANGE);
	body = fdpass_response_get_body(r, &len);
	TL_CHECK(len == m->body_len);
	TL_CHECK(len == 0 ? body == NULL : !memcmp(body, m->body, len));
}

/* ---- parsing what was written ----------------------------------------- */

/* "Sun, 06 Nov 1994 08:49:37 GMT" */
static int imf_fixdate(const char *s, size_t n)
{
	static const char pattern[] = "Aaa, 00 Aaa 0000 00:00:00 GMT";
	size_t i;

	if (n != sizeof(pattern) - 1)
		return 0;
	for (i = 0; i < n; i++) {
		char p = pattern[i], c = s[i];

		if (p == '0' ? !(c >= '0' && c <= '9')
			     : p == 'A' ? !(c >= 'A' && c <= 'Z')
					: p == 'a' ? !(c >= 'a' && c <= 'z') : c != p)
			return 0;
	}
	return 1;
}

/* The next line ending in CRLF, with no CR or LF inside: its length, or -1. */
static long next_line(const char *p, size_t left)
{
	size_t i;

	for (i = 0; i < left; i++) {
		if (p[i] == '\n')
			return -1; /* a bare LF */
		if (p[i] == '\r')
			return i + 1 < left && p[i + 1] == '\n' ? (long)i : -1;
	}
	return -1;
}

/*
 * Parse out[0..len) as a client would and compare with the model: one
 * status line, then lines "token: value" until a blank line, then the body.
 */
static void check_output(const char *out, size_t len, const struct model *m)
{
	fdpass_response *tmp = NULL;
	const char *reason = m->reason;
	char status[4];
	size_t off, line_no = 0, want_lines, i;
	int want_date = !model_has(m, "Date");
	long n;

	if (!reason) {
		TL_CHECK(fdpass_response_new(&tmp, m->status) == 0);
		fdpass_response_get_status(tmp, &reason);
	}
	n = next_line(out, len);
	TL_CHECK(n >= 13);
	snprintf(status, sizeof(status), "%03d", m->status);
	TL_CHECK(!memcmp(out, "HTTP/1.1 ", 9) && !memcmp(out + 9, status, 3) && out[12] == ' ');
	TL_CHECK((size_t)n - 13 == strlen(reason) && !memcmp(out + 13, reason, (size_t)n - 13));
	fdpass_response_free(tmp);
	off = (size_t)n + 2;

	want_lines = (size_t)want_date + m->nfields + 1;
	for (;;) {
		const char *line = out + off, *colon;
		size_t k, nlen, vlen;
		const char *value;

		n = next_line(line, len - off);
		TL_CHECK(n >= 0); /* every line ends in CRLF, no bare CR or LF */
		off += (size_t)n + 2;
		if (n == 0)
			break;
		/* exactly one field: a token, ':', SP, then text */
		colon = memchr(line, ':', (size_t)n);
		TL_CHECK(colon != NULL && colon > line);
		nlen = (size_t)(colon - line);
		for (k = 0; k < nlen; k++)
			TL_CHECK(ref_tchar((unsigned char)line[k]));
		TL_CHECK((size_t)n >= nlen + 2 && colon[1] == ' ');
		value = colon + 2;
		vlen = (size_t)n - nlen - 2;
		for (k = 0; k < vlen; k++)
			TL_CHECK((unsigned char)value[k] >= 0x20 || value[k] == '\t');
		TL_CHECK(line_no < want_lines);

		/* and the one expected there */
		i = line_no - (size_t)want_date;
		if (want_date && line_no == 0) {
			TL_CHECK(nlen == 4 && !memcmp(line, "Date", 4));
			TL_CHECK(imf_fixdate(value, vlen));
		} else if (line_no == want_lines - 1) {
			TL_CHECK(nlen == 10 && !memcmp(line, "Connection", 10));
			TL_CHECK(vlen == 5 && !memcmp(value, "close", 5));
		} else {
			TL_CHECK(nlen == strlen(m->names[i]) && !memcmp(line, m->names[i], nlen));
			TL_CHECK(vlen == strlen(m->values[i]) && !memcmp(value, m->values[i], vlen));
		}
		line_no++;
	}
	TL_CHECK(line_no == want_lines);
	TL_CHECK(len - off == m->body_len);
	TL_CHECK(m->body_len == 0 || !memcmp(out + off, m->body, m->body_len));
}

/* Run the provider into a socketpair; what it wrote, in a malloc'd buffer. */
static int flush(const char *name, const fdpass_response *r, char **out, size_t *len)
{
	int sv[2], ret, big = 4 << 20;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	ssize_t got;

	TL_CHECK(buf != NULL);
	TL_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	/* Room for the longest head and body, so the provider never waits. */
	if (setsockopt(sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)) < 0)
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	ret = fdpass_flusher_run(name, sv[0], r);
	close(sv[0]);
	for (;;) {
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			TL_CHECK(buf != NULL);
		}
		got = read(sv[1], buf + n, cap - n);
		TL_CHECK(got >= 0);
		if (got == 0)
			break;
		n += (size_t)got;
	}
	close(sv[1]);
	*out = buf;
	*len = n;
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct model m;
	fdpass_response *r = NULL;
	const char *provider;
	char *out;
	size_t len;
	int options, status, ops, ret;

	if (size < 3 || size > FUZZ_MAX_INPUT)
		return 0;
	options = take(&in);
	provider = (options & 0x10) ? NULL : FDPASS_FLUSHER_DEFAULT;
	status = (take(&in) << 8 | take(&in)) % 700;
	memset(&m, 0, sizeof(m));

	if ((options & 0x0F) == 0x0F) {
		/* No response: status 200, its phrase, no field. */
		m.status = 200;
		ret = flush(provider, NULL, &out, &len);
		TL_CHECK(ret == 0);
		check_output(out, len, &m);
		free(out);
		return 0;
	}

	ret = fdpass_response_new(&r, status);
	if (status < 100 || status > 599) {
		TL_CHECK(ret == -EINVAL && r == NULL);
		status = 200; /* go on with a valid one */
		TL_CHECK(fdpass_response_new(&r, status) == 0);
	} else {
		TL_CHECK(ret == 0 && r != NULL);
	}
	m.status = status;

	for (ops = 0; ops < MAX_OPS && in.left > 0; ops++) {
		int op = take(&in), how = (op >> 2) & 3;
		enum map text = (op & 0x20) ? TEXT : RAW;

		switch (op & 3) {
		case 0:
		case 3: {
			static const char *const known[] = {
				"Date", "Connection", "connection", "DATE", "Content-Type",
				"Content-Length", "Set-Cookie", "Location", "X-A",
			};
			char *name, *value;

			if (how == 2) {
				int k = take(&in);

				name = strdup(known[(k < 0 ? 0 : k) % (sizeof(known) / sizeof(known[0]))]);
				TL_CHECK(name != NULL);
			} else {
				name = take_string(&in, how == 1 ? TOKEN : RAW, NULL);
			}
			value = take_string(&in, text, NULL);
			add_header(r, &m, name, value);
			break;
		}
		case 1: {
			int hi = take(&in), lo = take(&in);
			int st = ((hi < 0 ? 0 : hi) << 8 | (lo < 0 ? 0 : lo)) % 700;
			char *reason = (op & 0x10) ? NULL : take_string(&in, text, NULL);

			set_status(r, &m, st, reason);
			break;
		}
		case 2: {
			size_t blen;
			char *body = take_string(&in, RAW, &blen);

			TL_CHECK(fdpass_response_set_body(r, body, blen) == 0);
			free(m.body);
			m.body = blen ? body : NULL;
			m.body_len = blen;
			if (!blen)
				free(body);
			break;
		}
		}
	}
	check_getters(r, &m);

	ret = flush(provider, r, &out, &len);
	if (model_has(&m, "Connection")) {
		/* refused before a byte is written */
		TL_CHECK(ret == -EINVAL);
		TL_CHECK(len == 0);
	} else {
		TL_CHECK(ret == 0);
		check_output(out, len, &m);
	}
	free(out);
	fdpass_response_free(r);
	model_free(&m);
	return 0;
}
