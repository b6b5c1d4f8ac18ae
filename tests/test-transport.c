// SPDX-License-Identifier: MIT
#include "testlib.h"
#include <fdpass.h>
#include <string.h>

static void test_version(void **state)
{
	(void)state;
	assert_string_equal(fdpass_version(), "1.0.0");
}

int main(void)
{
	const struct CMUnitTest tests[] = { TL_TEST(test_version) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
