/* libksched - strict decoding of wire messages. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "proto.h"

static void *
pb_alloc(void *arg, size_t n)
{
	(void)arg;
	return ksched__malloc(n);
}

static void
pb_free(void *arg, void *p)
{
	(void)arg;
	ksched__free(p);
}

static ProtobufCAllocator pa = {pb_alloc, pb_free, NULL};

static bool perr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static bool
perr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return false;
}

void *
ksched__proto_pack(const ProtobufCMessage *m, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *b = ksched__malloc(n);

	if (b)
		protobuf_c_message_pack(m, b);
	*len = b ? n : 0;
	return b;
}

#define COUNT_OK(n) ((n) <= KSCHED_PROTO_ITEMS_MAX)

static bool
check_completions(size_t n, Ksched__Completion **c, char *err, size_t errlen)
{
	if (!COUNT_OK(n))
		return perr(err, errlen, "too many completions (%zu)", n);
	for (size_t i = 0; i < n; i++) {
		if (!c[i])
			return perr(err, errlen, "completion %zu missing", i);
		if (!c[i]->id)
			return perr(err, errlen, "completion %zu: id 0", i);
		if (c[i]->result.len > KSCHED_PROTO_RESULT_MAX)
			return perr(err, errlen,
				    "completion %zu: result of %zu bytes "
				    "(max %u)",
				    i, c[i]->result.len,
				    KSCHED_PROTO_RESULT_MAX);
	}
	return true;
}

static bool
check_worker_name(const char *w, char *err, size_t errlen)
{
	size_t n = strlen(w);

	if (n == 0 || n > KSCHED_PROTO_NAME_MAX)
		return perr(err, errlen,
			    "worker id must be 1..%u bytes (got %zu)",
			    KSCHED_PROTO_NAME_MAX, n);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)w[i];
		if (c <= ' ' || c == '"' || c == '\\' || c >= 127)
			return perr(err, errlen,
				    "worker id has a bad character at %zu", i);
	}
	return true;
}

static bool
check_resources(const Ksched__Resources *r, char *err, size_t errlen)
{
	if (!r)
		return perr(err, errlen, "resources missing");
	if (r->cpu_milli < 0 || r->mem_mb < 0 || r->gpus < 0 || r->slots < 0)
		return perr(err, errlen, "resources must not be negative");
	if (r->cpu_milli > 1000000000 || r->mem_mb > (1LL << 40) ||
	    r->gpus > 4096 || r->slots > 100000)
		return perr(err, errlen, "resources out of range");
	return true;
}

static bool
check_labels(Ksched__Label **l, size_t n, char *err, size_t errlen)
{
	if (n > 64)
		return perr(err, errlen, "too many labels (%zu, max 64)", n);
	for (size_t i = 0; i < n; i++) {
		if (!l[i] || !l[i]->key[0] || strlen(l[i]->key) > 63 ||
		    strlen(l[i]->value) > 63)
			return perr(err, errlen,
				    "label %zu: key must be 1..63 bytes and "
				    "value 0..63",
				    i);
	}
	return true;
}

static bool
check_request(const Ksched__Request *m, char *err, size_t errlen)
{
	switch (m->body_case) {
	case KSCHED__REQUEST__BODY_SUBMIT:
		if (!m->submit->n_tasks || !COUNT_OK(m->submit->n_tasks))
			return perr(err, errlen, "submit: 1..%u tasks (got %zu)",
				    KSCHED_PROTO_ITEMS_MAX,
				    m->submit->n_tasks);
		return true;
	case KSCHED__REQUEST__BODY_STATUS:
		return COUNT_OK(m->status->n_ids) ||
		       perr(err, errlen, "status: too many ids");
	case KSCHED__REQUEST__BODY_WAIT:
		if (m->wait->timeout_ms < 0)
			return perr(err, errlen, "wait: negative timeout");
		return COUNT_OK(m->wait->n_ids) ||
		       perr(err, errlen, "wait: too many ids");
	case KSCHED__REQUEST__BODY_CANCEL:
		return COUNT_OK(m->cancel->n_ids) ||
		       perr(err, errlen, "cancel: too many ids");
	case KSCHED__REQUEST__BODY_RETRY:
		return COUNT_OK(m->retry->n_ids) ||
		       perr(err, errlen, "retry: too many ids");
	case KSCHED__REQUEST__BODY_DRAIN:
		return check_worker_name(m->drain->worker, err, errlen);
	case KSCHED__REQUEST__BODY_LIST:
		return m->list->limit <= 10000 ||
		       perr(err, errlen, "list: limit above 10000");
	case KSCHED__REQUEST__BODY_RESULT:
	case KSCHED__REQUEST__BODY_WORKERS:
	case KSCHED__REQUEST__BODY_STATS:
	case KSCHED__REQUEST__BODY_CACHE:
		return true;
	case KSCHED__REQUEST__BODY_REG:
		return check_worker_name(m->reg->worker, err, errlen) &&
		       check_resources(m->reg->capacity, err, errlen) &&
		       check_labels(m->reg->labels, m->reg->n_labels, err,
				    errlen);
	case KSCHED__REQUEST__BODY_LEASE:
		if (m->lease->wait_ms < 0 || m->lease->wait_ms > 3600000)
			return perr(err, errlen, "lease: wait_ms out of range");
		return check_worker_name(m->lease->worker, err, errlen) &&
		       check_completions(m->lease->n_done, m->lease->done, err,
					 errlen);
	case KSCHED__REQUEST__BODY_COMPLETE:
		return check_worker_name(m->complete->worker, err, errlen) &&
		       check_completions(m->complete->n_done,
					 m->complete->done, err, errlen);
	default:
		return perr(err, errlen, "request has no body");
	}
}

Ksched__Request *
ksched__proto_request_decode(const void *buf, size_t len, char *err,
			     size_t errlen)
{
	Ksched__Request *m;

	if (len > KSCHED_PROTO_MSG_MAX) {
		perr(err, errlen, "message of %zu bytes (max %u)", len,
		     KSCHED_PROTO_MSG_MAX);
		return NULL;
	}
	m = ksched__request__unpack(&pa, len, buf);
	if (!m) {
		perr(err, errlen, "malformed request (%zu bytes)", len);
		return NULL;
	}
	if (m->version != KSCHED_PROTO_VERSION) {
		perr(err, errlen, "protocol version %u, expected %u",
		     m->version, KSCHED_PROTO_VERSION);
	} else if (check_request(m, err, errlen)) {
		return m;
	}
	ksched__request__free_unpacked(m, &pa);
	return NULL;
}

Ksched__Reply *
ksched__proto_reply_decode(const void *buf, size_t len, char *err,
			   size_t errlen)
{
	Ksched__Reply *m;

	if (len > KSCHED_PROTO_MSG_MAX) {
		perr(err, errlen, "message of %zu bytes (max %u)", len,
		     KSCHED_PROTO_MSG_MAX);
		return NULL;
	}
	m = ksched__reply__unpack(&pa, len, buf);
	if (!m) {
		perr(err, errlen, "malformed reply (%zu bytes)", len);
		return NULL;
	}
	if (m->version != KSCHED_PROTO_VERSION) {
		perr(err, errlen, "protocol version %u, expected %u",
		     m->version, KSCHED_PROTO_VERSION);
		ksched__reply__free_unpacked(m, &pa);
		return NULL;
	}
	return m;
}

Ksched__Survey *
ksched__proto_survey_decode(const void *buf, size_t len, char *err,
			    size_t errlen)
{
	Ksched__Survey *m = len <= KSCHED_PROTO_MSG_MAX
				    ? ksched__survey__unpack(&pa, len, buf)
				    : NULL;

	if (m && m->version == KSCHED_PROTO_VERSION &&
	    m->n_cancel <= KSCHED_PROTO_ITEMS_MAX)
		return m;
	perr(err, errlen, "malformed survey (%zu bytes)", len);
	if (m)
		ksched__survey__free_unpacked(m, &pa);
	return NULL;
}

Ksched__Heartbeat *
ksched__proto_heartbeat_decode(const void *buf, size_t len, char *err,
			       size_t errlen)
{
	Ksched__Heartbeat *m = len <= KSCHED_PROTO_MSG_MAX
				       ? ksched__heartbeat__unpack(&pa, len, buf)
				       : NULL;

	if (err && errlen)
		err[0] = 0;
	if (!m) {
		perr(err, errlen, "malformed heartbeat (%zu bytes)", len);
		return NULL;
	}
	if (m->version != KSCHED_PROTO_VERSION ||
	    !check_worker_name(m->worker, err, errlen) ||
	    !COUNT_OK(m->n_running) ||
	    (m->free && !check_resources(m->free, err, errlen))) {
		if (err && errlen && !err[0])
			perr(err, errlen, "bad heartbeat");
		ksched__heartbeat__free_unpacked(m, &pa);
		return NULL;
	}
	return m;
}

void
ksched__proto_request_free(Ksched__Request *m)
{
	if (m)
		ksched__request__free_unpacked(m, &pa);
}

void
ksched__proto_reply_free(Ksched__Reply *m)
{
	if (m)
		ksched__reply__free_unpacked(m, &pa);
}

void
ksched__proto_survey_free(Ksched__Survey *m)
{
	if (m)
		ksched__survey__free_unpacked(m, &pa);
}

void
ksched__proto_heartbeat_free(Ksched__Heartbeat *m)
{
	if (m)
		ksched__heartbeat__free_unpacked(m, &pa);
}
