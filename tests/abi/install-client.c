/* SPDX-License-Identifier: MIT */
/*
 * A user of the installed library: check-install.sh builds it as C and as
 * C++ (the same file), with nothing but `pkg-config --cflags --libs fdpass`.
 * It passes the write end of a pipe over a socketpair and proves the
 * received descriptor is that pipe, close-on-exec, and that no copy leaked.
 */
#include <fdpass.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int fail(const char *what, int err)
{
	fprintf(stderr, "install-client: %s: %s\n", what,
	        err ? fdpass_strerror(err) : "unexpected result");
	return 1;
}

int main(void)
{
	int sv[2], p[2], fd = -1, r, flags;
	char c = 0, want[64];

	sprintf(want, "%d.%d.%d", FDPASS_VERSION_MAJOR, FDPASS_VERSION_MINOR,
	        FDPASS_VERSION_MICRO);
	if (strcmp(fdpass_version(), want) != 0) {
		fprintf(stderr, "install-client: library %s, header %s\n",
		        fdpass_version(), want);
		return 1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || pipe(p) < 0)
		return fail("socketpair/pipe", errno);

	r = fdpass_send(sv[0], p[1]);
	if (r != 0)
		return fail("fdpass_send", r);
	r = fdpass_recv(sv[1], &fd);
	if (r != 1)
		return fail("fdpass_recv", r < 0 ? r : 0);
	if (fd < 0 || fd == p[1])
		return fail("fdpass_recv gave no new descriptor", 0);
	flags = fcntl(fd, F_GETFD);
	if (flags < 0 || !(flags & FD_CLOEXEC))
		return fail("received fd is not close-on-exec", 0);

	close(p[1]);
	if (write(fd, "x", 1) != 1)
		return fail("write to the received fd", errno);
	close(fd);
	if (read(p[0], &c, 1) != 1 || c != 'x')
		return fail("read back through the pipe", errno);
	/* Every write end is closed now: end of file, unless a copy leaked. */
	if (read(p[0], &c, 1) != 0)
		return fail("pipe still open: a copy of the fd leaked", 0);

	close(p[0]);
	close(sv[0]);
	close(sv[1]);
	printf("ok: libfdpass %s passed an fd\n", fdpass_version());
	return 0;
}
