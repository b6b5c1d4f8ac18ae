/* SPDX-License-Identifier: MIT */
/* Shared by the fuzz targets that check for fd leaks after every input. */
#ifndef FDPASS_FUZZ_COMMON_H
#define FDPASS_FUZZ_COMMON_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

/* Open fds of this process (the directory's own included); aborts if unreadable. */
static inline int fuzz_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d) {
		perror("fuzz: /proc/self/fd");
		abort();
	}
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

#endif
