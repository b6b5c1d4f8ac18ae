// SPDX-License-Identifier: MIT
/* The version string, and what the library's errors mean. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "internal.h"

FDPASS_EXPORT const char *fdpass_version(void)
{
	return FDPASS_VERSION_STRING;
}

/* The C library's text, from its static table only: strerror() may use a
 * buffer that the next call overwrites. */
static const char *system_text(int err)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
	const char *s = strerrordesc_np(err);

	return s ? s : "unknown error";
#else
	return err < 135 ? strerror(err) : "unknown error";
#endif
}

FDPASS_EXPORT const char *fdpass_strerror(int err)
{
	if (err == INT_MIN)
		return "unknown error";
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return "success";
	case ENOMSG:
		return "the message carried no file descriptor";
	case ETOOMANYREFS:
		return "too many file descriptors (more than expected, or too many in flight)";
	case EXFULL:
		return "control data truncated, file descriptors lost: is the receiver at its open-file limit?";
	case EPROTO:
		return "unexpected control message (is SO_PASSCRED set on the socket?)";
	case EBADMSG:
		return "malformed message: the connection is out of step";
	case EMSGSIZE:
		return "message larger than the buffer or the payload bound";
	case EPROTONOSUPPORT:
		return "hand-off message of a version this library does not know";
	case E2BIG:
		return "too large: more file descriptors than one message carries, or a response head over its bound";
	case ECONNRESET:
		return "the connection ended, or ended in the middle of a message";
	case ECONNABORTED:
		return "the hand-off failed after the flusher began: the client may have part of a response";
	case ESRCH:
		return "no flusher is registered under that name";
	case EDEADLK:
		return "the flusher's runs wait for this thread: unregistering it here would never end";
	case ETIME:
		return "the rest of a message that had begun did not come in time";
	case ENAMETOOLONG:
		return "socket path longer than sun_path can hold, or than the buffer";
	case EADDRINUSE:
		return "a live listener already uses this socket address";
	case EEXIST:
		return "already exists (a flusher of that name, or a path that is not a socket)";
	case ETIMEDOUT:
		return "timed out";
	default:
		return system_text(err);
	}
}
