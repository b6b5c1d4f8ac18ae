/* SPDX-License-Identifier: MIT */
/*
 * The public header as a user sees it: compiled by check-header.sh as C89,
 * C11, C++98 and C++11 with -pedantic -Werror and no feature macro, then
 * linked against the library (so a missing extern "C" fails in C++).
 *
 * Every function is taken into a pointer of its exact type: a change of a
 * prototype fails here at compile time, before abidiff sees the binary. The
 * macro values travel through the ABI too (flags cross the library boundary)
 * and abidiff cannot see them, so they are pinned as well. When a function
 * is added, add it below (check-symbols.py --api-test insists).
 */
#ifdef _GNU_SOURCE
#error "_GNU_SOURCE is defined before fdpass.h: this test would prove nothing"
#endif

#include <fdpass.h> /* first: the header includes what it needs */
#include <fdpass.h> /* twice: the include guard works */

#ifdef _GNU_SOURCE
#error "fdpass.h defines _GNU_SOURCE"
#endif
#ifdef __STRICT_ANSI__
#if defined(_DEFAULT_SOURCE) || defined(_BSD_SOURCE) || \
    defined(_POSIX_C_SOURCE) || defined(_XOPEN_SOURCE)
#error "fdpass.h turns on a feature macro"
#endif
#endif

#if FDPASS_VERSION_MAJOR != 1
#error "FDPASS_VERSION_MAJOR must follow the soname, libfdpass.so.1"
#endif
#if FDPASS_VERSION_MINOR < 0 || FDPASS_VERSION_MICRO < 0
#error "FDPASS_VERSION_MINOR and _MICRO must be usable in #if"
#endif

/* A negative array size if a value changed. */
typedef char fdpass_max_fds_is_253[FDPASS_MAX_FDS == 253 ? 1 : -1];
typedef char fdpass_nonblock_is_1[FDPASS_NONBLOCK == 0x01 ? 1 : -1];
typedef char fdpass_waitall_is_2[FDPASS_WAITALL == 0x02 ? 1 : -1];
typedef char fdpass_seqpacket_is_4[FDPASS_SEQPACKET == 0x04 ? 1 : -1];

struct api {
	const char *(*version)(void);
	const char *(*strerror_)(int);
	int (*send)(int, int);
	int (*recv)(int, int *);
	ssize_t (*send_fds)(int, const int *, size_t, const void *, size_t,
	                    int, int);
	ssize_t (*recv_fds)(int, int *, size_t *, void *, size_t, int, int);
	int (*connect_)(const char *, int, int);
	int (*listen_)(const char *, int, int);
	int (*peercred)(int, pid_t *, uid_t *, gid_t *);
};

static const struct api api = {
	fdpass_version,
	fdpass_strerror,
	fdpass_send,
	fdpass_recv,
	fdpass_send_fds,
	fdpass_recv_fds,
	fdpass_connect,
	fdpass_listen,
	fdpass_peercred,
};

int main(void)
{
	/* Reaching through the pointers keeps the references to the library. */
	return api.version == 0 || api.strerror_ == 0 || api.send == 0 ||
	       api.recv == 0 || api.send_fds == 0 || api.recv_fds == 0 ||
	       api.connect_ == 0 || api.listen_ == 0 || api.peercred == 0;
}
