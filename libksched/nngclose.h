/*
 * Internal: closing nng sockets without hanging.  nng 1.5.2 can block in
 * nng_close() on a socket whose peer still has a request or survey in
 * flight (nng issues #1543, #1813).  Callers close only once everything
 * worth sending is sent.
 */
#ifndef KSCHED_NNGCLOSE_H
#define KSCHED_NNGCLOSE_H

#include <stdbool.h>
#include <stddef.h>

#include <nng/nng.h>

#define KSCHED_CLOSE_WAIT_MS 2000

/*
 * Close the n sockets on a thread of their own and wait up to
 * KSCHED_CLOSE_WAIT_MS.  Returns true when they closed; false when the
 * close hangs: it is logged and left behind (the sockets, and any aio or
 * context of theirs, must then not be touched again).
 */
bool ksched__nng_close_bounded(const nng_socket *socks, size_t n);

#endif
