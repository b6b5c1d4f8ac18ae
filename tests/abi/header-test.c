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
/* The header declares the functions of LIBFDPASS_1.1: it is 1.1 or later. */
#if FDPASS_VERSION_MINOR < 1
#error "FDPASS_VERSION_MINOR must be at least 1: the 1.1 functions are declared"
#endif

/* A negative array size if a value changed. */
typedef char fdpass_max_fds_is_253[FDPASS_MAX_FDS == 253 ? 1 : -1];
typedef char fdpass_nonblock_is_1[FDPASS_NONBLOCK == 0x01 ? 1 : -1];
typedef char fdpass_waitall_is_2[FDPASS_WAITALL == 0x02 ? 1 : -1];
typedef char fdpass_seqpacket_is_4[FDPASS_SEQPACKET == 0x04 ? 1 : -1];
/* Added in 1.1. */
typedef char fdpass_response_max_headers_is_100[FDPASS_RESPONSE_MAX_HEADERS == 100 ? 1 : -1];
typedef char fdpass_response_max_head_is_65536[FDPASS_RESPONSE_MAX_HEAD == 65536L ? 1 : -1];
typedef char fdpass_flush_timeout_ms_is_10000[FDPASS_FLUSH_TIMEOUT_MS == 10000 ? 1 : -1];
typedef char fdpass_flusher_name_max_is_64[FDPASS_FLUSHER_NAME_MAX == 64 ? 1 : -1];
/* A string literal: its size here, its text in main(). */
typedef char fdpass_flusher_default_is_6_bytes[sizeof(FDPASS_FLUSHER_DEFAULT) == 6 ? 1 : -1];
/* The field numbers are record types on the wire (PROTOCOL.md). */
typedef char fdpass_meta_client_addr_is_2[FDPASS_META_CLIENT_ADDR == 2 ? 1 : -1];
typedef char fdpass_meta_local_addr_is_3[FDPASS_META_LOCAL_ADDR == 3 ? 1 : -1];
typedef char fdpass_meta_flusher_is_4[FDPASS_META_FLUSHER == 4 ? 1 : -1];
typedef char fdpass_meta_max_text_is_4096[FDPASS_META_MAX_TEXT == 4096 ? 1 : -1];
typedef char fdpass_meta_max_key_is_255[FDPASS_META_MAX_KEY == 255 ? 1 : -1];
typedef char fdpass_meta_max_pairs_is_64[FDPASS_META_MAX_PAIRS == 64 ? 1 : -1];
typedef char fdpass_meta_default_max_is_1mib[FDPASS_META_DEFAULT_MAX == 1048576L ? 1 : -1];
typedef char fdpass_meta_limit_is_64mib[FDPASS_META_LIMIT == 67108864L ? 1 : -1];
typedef char fdpass_handoff_failed_backend_is_1[FDPASS_HANDOFF_FAILED_BACKEND == 0x01 ? 1 : -1];
typedef char fdpass_handoff_failed_client_is_2[FDPASS_HANDOFF_FAILED_CLIENT == 0x02 ? 1 : -1];
typedef char fdpass_handoff_client_written_is_4[FDPASS_HANDOFF_CLIENT_WRITTEN == 0x04 ? 1 : -1];

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

	/*
	 * LIBFDPASS_1.1. The opaque types are spelled as the struct tags the
	 * typedefs must name, and fdpass_flusher_fn as the function type it
	 * must be, so that a change of either fails here too.
	 */
	int (*response_new)(struct fdpass_response **, int);
	void (*response_free)(struct fdpass_response *);
	int (*response_set_status)(struct fdpass_response *, int, const char *);
	int (*response_add_header)(struct fdpass_response *, const char *, const char *);
	int (*response_set_body)(struct fdpass_response *, const void *, size_t);
	int (*response_get_status)(const struct fdpass_response *, const char **);
	size_t (*response_header_count)(const struct fdpass_response *);
	int (*response_get_header)(const struct fdpass_response *, size_t,
	                           const char **, const char **);
	const void *(*response_get_body)(const struct fdpass_response *, size_t *);
	int (*write_all)(int, const void *, size_t, int);
	int (*flusher_register)(const char *,
	                        int (*)(int, const struct fdpass_response *, void *),
	                        void *);
	int (*flusher_unregister)(const char *);
	int (*flusher_lookup)(const char *,
	                      int (**)(int, const struct fdpass_response *, void *),
	                      void **);
	int (*flusher_run)(const char *, int, const struct fdpass_response *);
	ssize_t (*flusher_list)(char *, size_t);
	int (*url_path)(const char *, char *, size_t);
	int (*handoff)(const char *, int, const char *, const struct fdpass_response *,
	               int);
	int (*backend_new)(struct fdpass_backend **, const char *, int, int);
	int (*backend_adopt)(struct fdpass_backend **, int);
	void (*backend_free)(struct fdpass_backend *);
	int (*backend_allow_uid)(struct fdpass_backend *, uid_t);
	int (*backend_fd)(const struct fdpass_backend *);
	int (*backend_last_refused)(const struct fdpass_backend *, pid_t *, uid_t *,
	                            gid_t *);
	int (*backend_recv)(struct fdpass_backend *, int *, int);
	int (*meta_new)(struct fdpass_meta **);
	void (*meta_free)(struct fdpass_meta *);
	int (*meta_set_data)(struct fdpass_meta *, const void *, size_t);
	const void *(*meta_get_data)(const struct fdpass_meta *, size_t *);
	int (*meta_set)(struct fdpass_meta *, int, const char *);
	const char *(*meta_get)(const struct fdpass_meta *, int);
	int (*meta_add_pair)(struct fdpass_meta *, const char *, const char *);
	const char *(*meta_find)(const struct fdpass_meta *, const char *);
	size_t (*meta_pair_count)(const struct fdpass_meta *);
	int (*meta_get_pair)(const struct fdpass_meta *, size_t, const char **, const char **);
	int (*send_meta)(int, const int *, size_t, const struct fdpass_meta *, int, int);
	int (*recv_meta)(int, int *, size_t *, struct fdpass_meta **, size_t, int, int);
	int (*handoff_meta)(const char *, int, const char *, const struct fdpass_response *,
	                    const struct fdpass_meta *, int);
	int (*backend_recv_meta)(struct fdpass_backend *, int *, struct fdpass_meta **, int);

	/* LIBFDPASS_1.2 */
	int (*write_all2)(int, const void *, size_t, int, size_t *);
	int (*flusher_timeout)(void);
	int (*flusher_pin)(const char *, struct fdpass_flusher_ref **,
	                   int (**)(int, const struct fdpass_response *, void *), void **);
	void (*flusher_unpin)(struct fdpass_flusher_ref *);
	int (*handoff2)(const char *, int, const char *, const struct fdpass_response *,
	                const struct fdpass_meta *, int, int, unsigned *);
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

	fdpass_response_new,
	fdpass_response_free,
	fdpass_response_set_status,
	fdpass_response_add_header,
	fdpass_response_set_body,
	fdpass_response_get_status,
	fdpass_response_header_count,
	fdpass_response_get_header,
	fdpass_response_get_body,
	fdpass_write_all,
	fdpass_flusher_register,
	fdpass_flusher_unregister,
	fdpass_flusher_lookup,
	fdpass_flusher_run,
	fdpass_flusher_list,
	fdpass_url_path,
	fdpass_handoff,
	fdpass_backend_new,
	fdpass_backend_adopt,
	fdpass_backend_free,
	fdpass_backend_allow_uid,
	fdpass_backend_fd,
	fdpass_backend_last_refused,
	fdpass_backend_recv,
	fdpass_meta_new,
	fdpass_meta_free,
	fdpass_meta_set_data,
	fdpass_meta_get_data,
	fdpass_meta_set,
	fdpass_meta_get,
	fdpass_meta_add_pair,
	fdpass_meta_find,
	fdpass_meta_pair_count,
	fdpass_meta_get_pair,
	fdpass_send_meta,
	fdpass_recv_meta,
	fdpass_handoff_meta,
	fdpass_backend_recv_meta,

	fdpass_write_all2,
	fdpass_flusher_timeout,
	fdpass_flusher_pin,
	fdpass_flusher_unpin,
	fdpass_handoff2,
};

/* The provider type, through its typedef name as well. */
static int flusher(int client_fd, const fdpass_response *resp, void *context)
{
	(void)client_fd;
	(void)resp;
	(void)context;
	return 0;
}

static const fdpass_flusher_fn flusher_fn = flusher;

static int same(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

int main(void)
{
	/* Reaching through the pointers keeps the references to the library. */
	return api.version == 0 || api.strerror_ == 0 || api.send == 0 ||
	       api.recv == 0 || api.send_fds == 0 || api.recv_fds == 0 ||
	       api.connect_ == 0 || api.listen_ == 0 || api.peercred == 0 ||
	       api.response_new == 0 || api.response_free == 0 ||
	       api.response_set_status == 0 || api.response_add_header == 0 ||
	       api.response_set_body == 0 || api.response_get_status == 0 ||
	       api.response_header_count == 0 || api.response_get_header == 0 ||
	       api.response_get_body == 0 || api.write_all == 0 ||
	       api.flusher_register == 0 || api.flusher_unregister == 0 ||
	       api.flusher_lookup == 0 || api.flusher_run == 0 ||
	       api.flusher_list == 0 || api.url_path == 0 || api.handoff == 0 ||
	       api.backend_new == 0 || api.backend_adopt == 0 ||
	       api.backend_free == 0 || api.backend_allow_uid == 0 ||
	       api.backend_fd == 0 || api.backend_last_refused == 0 ||
	       api.backend_recv == 0 ||
	       api.meta_new == 0 || api.meta_free == 0 || api.meta_set_data == 0 ||
	       api.meta_get_data == 0 || api.meta_set == 0 || api.meta_get == 0 ||
	       api.meta_add_pair == 0 || api.meta_find == 0 ||
	       api.meta_pair_count == 0 || api.meta_get_pair == 0 ||
	       api.send_meta == 0 || api.recv_meta == 0 || api.handoff_meta == 0 ||
	       api.backend_recv_meta == 0 ||
	       api.write_all2 == 0 || api.flusher_timeout == 0 || api.flusher_pin == 0 ||
	       api.flusher_unpin == 0 || api.handoff2 == 0 ||
	       flusher_fn != flusher ||
	       !same(FDPASS_FLUSHER_DEFAULT, "flush");
}
