// SPDX-License-Identifier: MIT
/*
 * Run through exec(2) by the tests: exits 0 if none of the fd numbers given
 * as arguments is open in this process (they were close-on-exec), 1 if one
 * was inherited, 2 on bad usage.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	int i, inherited = 0;

	if (argc < 2)
		return 2;
	for (i = 1; i < argc; i++) {
		int fd = atoi(argv[i]);

		if (fcntl(fd, F_GETFD) >= 0) {
			fprintf(stderr, "exec-helper: fd %d was inherited across exec\n", fd);
			inherited = 1;
		}
	}
	return inherited;
}
