/*
 * Internal: wire messages (protobuf-c, libksched/proto/ksched.proto) and
 * their strict decoding.  Used by master, worker and client; nothing here
 * knows about sockets.
 */
#ifndef KSCHED_PROTO_H
#define KSCHED_PROTO_H

#include <stddef.h>

#include "ksched.pb-c.h"
#include "ksched/common.h"

#define KSCHED_PROTO_VERSION 1u
#define KSCHED_PROTO_MSG_MAX (64u << 20)  /* bytes in one message */
#define KSCHED_PROTO_ITEMS_MAX 100000u    /* tasks, ids or completions */
#define KSCHED_PROTO_RESULT_MAX (16u << 20) /* bytes of one result */
/* A worker waits at most this long between two attempts to reach a master
 * it lost (ms; NNG_OPT_RECONNMAXT of its sockets). */
#define KSCHED_PROTO_REDIAL_MAX_MS 2000
#define KSCHED_PROTO_NAME_MAX 64u        /* worker id */

/*
 * Strict decoders: NULL and a message in err on anything malformed: too
 * large, unparsable, wrong version, no body, counts or sizes past the
 * limits above, missing sub-messages.  Free the result with the matching
 * ksched__proto_free_*.
 */
Ksched__Request *ksched__proto_request_decode(const void *buf, size_t len,
					      char *err, size_t errlen);
Ksched__Reply *ksched__proto_reply_decode(const void *buf, size_t len,
					  char *err, size_t errlen);
Ksched__Survey *ksched__proto_survey_decode(const void *buf, size_t len,
					    char *err, size_t errlen);
Ksched__Heartbeat *ksched__proto_heartbeat_decode(const void *buf, size_t len,
						  char *err, size_t errlen);
void ksched__proto_request_free(Ksched__Request *m);
void ksched__proto_reply_free(Ksched__Reply *m);
void ksched__proto_survey_free(Ksched__Survey *m);
void ksched__proto_heartbeat_free(Ksched__Heartbeat *m);

/*
 * Pack any message into a new buffer (free with ksched__free).  NULL on
 * ENOMEM.
 */
void *ksched__proto_pack(const ProtobufCMessage *m, size_t *len);

#endif
