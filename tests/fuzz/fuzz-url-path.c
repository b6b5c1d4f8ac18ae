// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: fdpass_url_path() against a reference decoder written
 * from its description in fdpass.h.
 *
 * Input: byte 0 is the size of a small output buffer; the rest, up to the
 * first NUL, is the URL. With a buffer that always fits (the URL's length
 * plus one), the result must be the reference's exactly; with the small
 * buffer, the path or -ENAMETOOLONG, and never a byte written past it
 * (AddressSanitizer sees the buffer's exact size).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <fdpass.h>

#include "testlib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * "fd://" (any case), then a non-empty path without '?' or '#', %XX
 * decoded, %00 refused. Returns the length, or -EINVAL with *bad_escape set
 * if the fault is an escape (which a too-small buffer may hide).
 */
static int reference(const char *url, char *out, int *bad_escape)
{
	const char *s;
	int n = 0;

	*bad_escape = 0;
	if (strncasecmp(url, "fd://", 5) != 0)
		return -EINVAL;
	s = url + 5;
	if (!*s || strchr(s, '?') || strchr(s, '#'))
		return -EINVAL;
	while (*s) {
		if (*s == '%') {
			int hi = hex(s[1]), lo = hi < 0 ? -1 : hex(s[2]);

			if (lo < 0 || hi * 16 + lo == 0) {
				*bad_escape = 1;
				return -EINVAL;
			}
			out[n++] = (char)(hi * 16 + lo);
			s += 3;
		} else {
			out[n++] = *s++;
		}
	}
	out[n] = '\0';
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t small, ulen;
	char *url, *ref, *big, *buf;
	int want, got, bad_escape;

	if (size < 1)
		return 0;
	small = data[0];
	url = malloc(size);
	TL_CHECK(url != NULL);
	memcpy(url, data + 1, size - 1);
	url[size - 1] = '\0';
	ulen = strlen(url);
	ref = malloc(ulen + 1);
	big = malloc(ulen + 1);
	TL_CHECK(ref && big);

	want = reference(url, ref, &bad_escape);
	got = fdpass_url_path(url, big, ulen + 1);
	if (got != want) {
		fprintf(stderr, "fuzz-url-path: \"%s\": got %d, reference %d\n", url, got, want);
		abort();
	}
	if (want >= 0) {
		TL_CHECK(!strcmp(big, ref));
		TL_CHECK(strlen(big) == (size_t)want);
	}

	/* The exact size: ASan catches a byte written past it. */
	buf = malloc(small ? small : 1);
	TL_CHECK(buf != NULL);
	buf[0] = 'x';
	got = fdpass_url_path(url, buf, small);
	if (want >= 0 && (size_t)want < small) {
		TL_CHECK(got == want);
		TL_CHECK(!strcmp(buf, ref));
	} else if (want >= 0) {
		TL_CHECK(got == -ENAMETOOLONG);
	} else if (bad_escape) {
		TL_CHECK(got == -EINVAL || got == -ENAMETOOLONG);
	} else {
		TL_CHECK(got == -EINVAL);
	}
	if (small == 0)
		TL_CHECK(buf[0] == 'x'); /* nothing written into a buffer of size 0 */

	free(buf);
	free(big);
	free(ref);
	free(url);
	return 0;
}
