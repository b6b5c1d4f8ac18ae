// SPDX-License-Identifier: MIT
/*
 * fdpass_url_path: the fd:// URLs it decodes, the ones it rejects, and the
 * buffer size it needs, byte for byte. The fd-leak check runs around every
 * test.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fdpass.h>

#include "testlib.h"

static void assert_url(const char *url, const char *expect)
{
	char path[256];
	int r = fdpass_url_path(url, path, sizeof(path));

	if (r < 0)
		fail_msg("fdpass_url_path(\"%s\") = %d (%s)", url, r, fdpass_strerror(r));
	assert_int_equal(r, (int)strlen(expect));
	assert_string_equal(path, expect);
}

static void assert_url_fails(const char *url, int err)
{
	char path[256];
	int r = fdpass_url_path(url, path, sizeof(path));

	if (r != err)
		fail_msg("fdpass_url_path(\"%s\") = %d, expected %d", url ? url : "(null)", r, err);
}

static void test_url_path_examples(void **state)
{
	(void)state;
	assert_url("fd:///run/a.sock", "/run/a.sock");
	assert_url("fd://localhost/backend.sock", "localhost/backend.sock");
	assert_url("fd://@name", "@name");
	/* The scheme is case-insensitive, the path is not. */
	assert_url("FD:///run/A.sock", "/run/A.sock");
	assert_url("Fd://localhost/b.sock", "localhost/b.sock");
	assert_url("fD://@Name", "@Name");
	/* %XX escapes, either case of hex digits. */
	assert_url("fd:///run/my%20app.sock", "/run/my app.sock");
	assert_url("fd://%2Frun%2fa.sock", "/run/a.sock");
	assert_url("fd:///%41%7e%7E", "/A~~");
	assert_url("fd:///caf%C3%A9", "/caf\xc3\xa9");
	/* An escaped '?' or '#' is part of the name, not a query or fragment. */
	assert_url("fd:///a%3Fb%23c", "/a?b#c");
	assert_url("fd://%40abstract", "@abstract");
}

static void test_url_path_rejects(void **state)
{
	char path[64];

	(void)state;
	/* Bad escapes. */
	assert_url_fails("fd:///a%2", -EINVAL);
	assert_url_fails("fd:///a%2/b", -EINVAL);
	assert_url_fails("fd:///a%zz", -EINVAL);
	assert_url_fails("fd:///a%g1", -EINVAL);
	assert_url_fails("fd:///a%1g", -EINVAL);
	assert_url_fails("fd:///a%", -EINVAL);
	assert_url_fails("fd:///a%00b", -EINVAL);
	assert_url_fails("fd://%00", -EINVAL);
	/* Not an fd:// URL, or no path. */
	assert_url_fails("http://x", -EINVAL);
	assert_url_fails("fd:/x", -EINVAL);
	assert_url_fails("fd:x", -EINVAL);
	assert_url_fails("fd//x", -EINVAL);
	assert_url_fails("/run/a.sock", -EINVAL);
	assert_url_fails("fd://", -EINVAL);
	assert_url_fails("FD://", -EINVAL);
	assert_url_fails("", -EINVAL);
	assert_url_fails(NULL, -EINVAL);
	/* Query or fragment. */
	assert_url_fails("fd:///a.sock?x=1", -EINVAL);
	assert_url_fails("fd:///a.sock#frag", -EINVAL);
	assert_url_fails("fd://?", -EINVAL);
	assert_url_fails("fd://#", -EINVAL);
	/* No buffer. */
	assert_int_equal(fdpass_url_path("fd:///a", NULL, sizeof(path)), -EINVAL);
}

static void test_url_path_buffer_size(void **state)
{
	char buf[300], url[300];
	size_t i;

	(void)state;
	/* "/run/a.sock" is 11 bytes: it needs 12, and 11 is one too few. */
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(fdpass_url_path("fd:///run/a.sock", buf, 12), 11);
	assert_string_equal(buf, "/run/a.sock");
	for (i = 12; i < 20; i++)
		assert_int_equal(buf[i], 'Z');

	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(fdpass_url_path("fd:///run/a.sock", buf, 11), -ENAMETOOLONG);
	for (i = 11; i < 20; i++)
		assert_int_equal(buf[i], 'Z'); /* nothing written past size */
	assert_int_equal(fdpass_url_path("fd:///run/a.sock", buf, 1), -ENAMETOOLONG);
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(fdpass_url_path("fd:///run/a.sock", buf, 0), -ENAMETOOLONG);
	assert_int_equal(buf[0], 'Z'); /* size 0: not even the NUL */

	/* The size counts decoded bytes: "/a b" is 4, from 6 encoded ones. */
	assert_int_equal(fdpass_url_path("fd:///a%20b", buf, 5), 4);
	assert_string_equal(buf, "/a b");
	assert_int_equal(fdpass_url_path("fd:///a%20b", buf, 4), -ENAMETOOLONG);

	/* A long one, at its exact boundary. */
	strcpy(url, "fd:///");
	memset(url + 6, 'p', 250);
	url[256] = '\0';
	assert_int_equal(fdpass_url_path(url, buf, 252), 251);
	assert_int_equal(strlen(buf), 251);
	assert_int_equal(fdpass_url_path(url, buf, 251), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TL_DIR_TEST(test_url_path_examples),
		TL_DIR_TEST(test_url_path_rejects),
		TL_DIR_TEST(test_url_path_buffer_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
