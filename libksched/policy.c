/*
 * libksched - policies: the registry and the plugin loader (see include/ksched/policy.h and docs/policies.md).
 *
 * Registry: a fixed table of host-side copies of registered ops tables,
 * guarded by a mutex; the built-ins go in through the same path, once, on
 * first use.  A loaded policy (ksched_policy) owns a zeroed copy of its
 * table, the plugin's dlopen handle, its parsed options and the host table
 * given to create.  Plugins loaded at the same time must have distinct
 * names unless they are the same file (same handle).
 *
 * The placement driver is in policy_place.c.
 */
#include <dlfcn.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"
#include "policy_int.h"

#define REG_MAX 64 /* registered policies */

struct reg_entry {
	char name[NAME_MAX_LEN + 1];
	struct ksched_policy_ops ops; /* ops.name points at name */
};

static struct reg_entry registry[REG_MAX];
static size_t nregistry;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
static struct ksched_policy *live_plugins; /* under reg_lock */

/* End of the last field of each minor version of the ops table. */
static const size_t ops_min_size[] = {
	[1] = offsetof(struct ksched_policy_ops, event) +
	      sizeof(((struct ksched_policy_ops *)0)->event),
};
_Static_assert(sizeof(ops_min_size) / sizeof(ops_min_size[0]) ==
		       KSCHED_POLICY_ABI_MINOR + 1,
	       "a new minor version needs its table size here");

static void
errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static bool
name_valid(const char *name)
{
	size_t i;

	if (!name)
		return false;
	for (i = 0; name[i] && i <= NAME_MAX_LEN; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			return false;
	}
	return i >= 1 && i <= NAME_MAX_LEN && !name[i];
}

/* Check a table's abi, size and name; why gets the reason. */
static ksched_err
check_table(const struct ksched_policy_ops *ops, char *why, size_t whylen)
{
	uint32_t magic, minor;

	if (!ops) {
		errf(why, whylen, "no ops table (NULL)");
		return KSCHED_EINVAL;
	}
	magic = ops->abi >> 16;
	minor = ops->abi & 0xffffu;
	if (magic != KSCHED_POLICY_MAGIC) {
		errf(why, whylen,
		     "not a ksched policy table (abi 0x%08" PRIx32
		     ", want magic 0x%04x in the high 16 bits: set abi = "
		     "KSCHED_POLICY_ABI)",
		     ops->abi, KSCHED_POLICY_MAGIC);
		return KSCHED_EINVAL;
	}
	if (minor > KSCHED_POLICY_ABI_MINOR) {
		errf(why, whylen,
		     "plugin wants ABI 1.%" PRIu32 ", this host has 1.%u "
		     "(use a newer libksched or rebuild the plugin against "
		     "this host's policy.h)",
		     minor, KSCHED_POLICY_ABI_MINOR);
		return KSCHED_EVERSION;
	}
	if (minor == 0) {
		errf(why, whylen, "ABI 1.0 does not exist (abi 0x%08" PRIx32
		     ", set abi = KSCHED_POLICY_ABI)", ops->abi);
		return KSCHED_EINVAL;
	}
	if (ops->size < ops_min_size[minor]) {
		errf(why, whylen,
		     "ops table is %" PRIu32 " bytes, ABI 1.%" PRIu32
		     " needs at least %zu (set size = sizeof(struct "
		     "ksched_policy_ops))",
		     ops->size, minor, ops_min_size[minor]);
		return KSCHED_EINVAL;
	}
	if (!name_valid(ops->name)) {
		errf(why, whylen,
		     "policy name '%.40s' is invalid (want 1 to %d of "
		     "[a-z0-9_])",
		     ops->name ? ops->name : "(null)", NAME_MAX_LEN);
		return KSCHED_EINVAL;
	}
	return KSCHED_OK;
}

/* A zeroed host-side copy: fields the table does not have read as NULL. */
static void
copy_table(struct ksched_policy_ops *dst, const struct ksched_policy_ops *src)
{
	size_t n = src->size < sizeof(*dst) ? src->size : sizeof(*dst);

	memset(dst, 0, sizeof(*dst));
	memcpy(dst, src, n);
}

/* ---- registry ------------------------------------------------------------ */

static struct reg_entry *
reg_find_locked(const char *name)
{
	for (size_t i = 0; i < nregistry; i++)
		if (strcmp(registry[i].name, name) == 0)
			return &registry[i];
	return NULL;
}

static ksched_err
register_locked(const struct ksched_policy_ops *ops)
{
	char why[256];
	struct reg_entry *e;
	ksched_err rc = check_table(ops, why, sizeof(why));

	if (rc == KSCHED_OK && reg_find_locked(ops->name)) {
		errf(why, sizeof(why), "name '%s' already registered",
		     ops->name);
		rc = KSCHED_EEXIST;
	} else if (rc == KSCHED_OK && nregistry == REG_MAX) {
		errf(why, sizeof(why), "registry full (%d policies)", REG_MAX);
		rc = KSCHED_ENOSPC;
	}
	if (rc != KSCHED_OK) {
		KLOG(KSCHED_LOG_WARN, "msg=\"policy not registered\" reason=\"%s\"",
		     why);
		return rc == KSCHED_EVERSION ? KSCHED_EINVAL : rc;
	}
	e = &registry[nregistry++];
	copy_table(&e->ops, ops);
	snprintf(e->name, sizeof(e->name), "%s", ops->name);
	e->ops.name = e->name;
	return KSCHED_OK;
}

static void
register_builtins(void)
{
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; ksched__policy_builtins[i]; i++)
		if (register_locked(ksched__policy_builtins[i]) != KSCHED_OK)
			KLOG(KSCHED_LOG_ERR,
			     "msg=\"built-in policy not registered\" "
			     "policy=%s",
			     ksched__policy_builtins[i]->name);
	pthread_mutex_unlock(&reg_lock);
}

ksched_err
ksched_policy_register(const struct ksched_policy_ops *ops)
{
	ksched_err rc;

	pthread_once(&reg_once, register_builtins);
	pthread_mutex_lock(&reg_lock);
	rc = register_locked(ops);
	pthread_mutex_unlock(&reg_lock);
	return rc;
}

/* "a, b, c": the registered names, for error messages. */
static void
known_names(char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = 0;
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < nregistry && off < len; i++) {
		int w = snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
				 registry[i].name);
		if (w < 0)
			break;
		off += (size_t)w;
	}
	pthread_mutex_unlock(&reg_lock);
}

/* ---- host services --------------------------------------------------------- */

static void
host_log(void *ctx, int level, const char *msg)
{
	ksched_policy *p = ctx;
	char line[512];
	size_t i;

	if (level < KSCHED_LOG_ERR)
		level = KSCHED_LOG_ERR;
	if (level > KSCHED_LOG_DEBUG)
		level = KSCHED_LOG_DEBUG;
	if ((int)level > ksched__log_max)
		return;
	/* Keep the line key=value: no quotes or line breaks inside. */
	for (i = 0; msg && msg[i] && i < sizeof(line) - 1; i++)
		line[i] = msg[i] == '"' ? '\'' : msg[i] == '\n' ? ' ' : msg[i];
	line[i] = 0;
	KLOG((enum ksched_log_level)level, "policy=%s msg=\"%s\"", p->name,
	     line);
}

static int64_t
host_now(void *ctx)
{
	return ((ksched_policy *)ctx)->now;
}

static const char *
host_config(void *ctx, const char *key)
{
	ksched_policy *p = ctx;

	for (size_t i = 0; key && i < p->nopts; i++) {
		if (strcmp(p->opts[i].key, key) == 0) {
			p->opts[i].used = true;
			return p->opts[i].value;
		}
	}
	return NULL;
}

/* Split "k=v,k=v" (a copy owned by p) into p->opts. */
static ksched_err
parse_opts(ksched_policy *p, const char *label, const char *s, char *err,
	   size_t errlen)
{
	char *item, *next;

	if (!(p->optbuf = ksched__strdup(s))) {
		errf(err, errlen, "%s: out of memory", label);
		return KSCHED_ENOMEM;
	}
	for (item = p->optbuf; item; item = next) {
		char *eq;

		if ((next = strchr(item, ',')))
			*next++ = 0;
		eq = strchr(item, '=');
		if (!eq || eq == item) {
			errf(err, errlen,
			     "%s: option '%s' must be key=value (options: "
			     "NAME:key=value,key=value)",
			     label, item);
			return KSCHED_EINVAL;
		}
		*eq = 0;
		for (size_t i = 0; i < p->nopts; i++) {
			if (strcmp(p->opts[i].key, item) == 0) {
				errf(err, errlen, "%s: option '%s' given twice",
				     label, item);
				return KSCHED_EINVAL;
			}
		}
		if (p->nopts == OPT_MAX) {
			errf(err, errlen, "%s: more than %d options", label,
			     OPT_MAX);
			return KSCHED_EINVAL;
		}
		p->opts[p->nopts].key = item;
		p->opts[p->nopts].value = eq + 1;
		p->opts[p->nopts].used = false;
		p->nopts++;
	}
	return KSCHED_OK;
}

/* ---- loading ---------------------------------------------------------------- */

static void
live_unlink_locked(ksched_policy *p)
{
	for (ksched_policy **pp = &live_plugins; *pp; pp = &(*pp)->next_live) {
		if (*pp == p) {
			*pp = p->next_live;
			return;
		}
	}
}

/* Open, check and copy a plugin's table into p (p->dl set on success). */
static ksched_err
open_plugin(ksched_policy *p, const char *path, char *err, size_t errlen)
{
	const struct ksched_policy_ops *ops;
	ksched_policy_entry_fn entry;
	char why[256];
	void *sym;
	ksched_err rc;

	if (access(path, R_OK) != 0) {
		errf(err, errlen, "plugin %s: no such file (or not readable)",
		     path);
		return KSCHED_ENOENT;
	}
	if (!(p->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
		const char *e = dlerror();
		errf(err, errlen, "plugin %s: cannot load: %s", path,
		     e ? e : "dlopen failed");
		return KSCHED_EINVAL;
	}
	if (!(sym = dlsym(p->dl, KSCHED_POLICY_ENTRY))) {
		errf(err, errlen,
		     "plugin %s: no symbol '%s' (a plugin must export "
		     "const struct ksched_policy_ops *%s(void))",
		     path, KSCHED_POLICY_ENTRY, KSCHED_POLICY_ENTRY);
		return KSCHED_EINVAL;
	}
	/* POSIX guarantees this conversion for dlsym results. */
	memcpy(&entry, &sym, sizeof(entry));
	if (!(ops = entry())) {
		errf(err, errlen, "plugin %s: %s() returned NULL", path,
		     KSCHED_POLICY_ENTRY);
		return KSCHED_EINVAL;
	}
	if ((rc = check_table(ops, why, sizeof(why))) != KSCHED_OK) {
		errf(err, errlen, "plugin %s: %s", path, why);
		return rc;
	}
	copy_table(&p->ops, ops);
	snprintf(p->name, sizeof(p->name), "%s", ops->name);
	p->ops.name = p->name;

	pthread_mutex_lock(&reg_lock);
	rc = KSCHED_OK;
	if (reg_find_locked(p->name)) {
		rc = KSCHED_EEXIST;
	} else {
		for (ksched_policy *q = live_plugins; q; q = q->next_live)
			if (q->dl != p->dl && strcmp(q->name, p->name) == 0)
				rc = KSCHED_EEXIST;
	}
	if (rc == KSCHED_OK) {
		p->next_live = live_plugins;
		live_plugins = p;
	}
	pthread_mutex_unlock(&reg_lock);
	if (rc != KSCHED_OK)
		errf(err, errlen,
		     "plugin %s: policy name '%s' clashes with a registered "
		     "or loaded policy (rename the plugin)",
		     path, p->name);
	return rc;
}

/* Copy the registered table called name into p. */
static ksched_err
find_registered(ksched_policy *p, const char *name, char *err, size_t errlen)
{
	struct reg_entry *e;
	char known[512];

	pthread_mutex_lock(&reg_lock);
	if ((e = reg_find_locked(name))) {
		p->ops = e->ops;
		snprintf(p->name, sizeof(p->name), "%s", e->name);
		p->ops.name = p->name;
	}
	pthread_mutex_unlock(&reg_lock);
	if (e)
		return KSCHED_OK;
	known_names(known, sizeof(known));
	errf(err, errlen,
	     "policy '%s': unknown policy (known: %s; a plugin is a path "
	     "with '/' or ending in .so)",
	     name, known);
	return KSCHED_ENOENT;
}

/* Undo a half-made or live policy. */
static void
policy_destroy(ksched_policy *p, bool created)
{
	if (created && p->ops.destroy)
		p->ops.destroy(p->state);
	if (p->dl) {
		pthread_mutex_lock(&reg_lock);
		live_unlink_locked(p);
		pthread_mutex_unlock(&reg_lock);
		dlclose(p->dl);
	}
	ksched__free(p->optbuf);
	ksched__free(p);
}

static bool
ends_in_so(const char *s)
{
	size_t n = strlen(s);

	return n >= 3 && strcmp(s + n - 3, ".so") == 0;
}

static bool
is_plugin_path(const char *s)
{
	return strchr(s, '/') || ends_in_so(s);
}

/* The driver's own option: sample=0|1 (default 1). */
static ksched_err
parse_sample(ksched_policy *p, const char *label, char *msg, size_t len)
{
	const char *v = host_config(p, "sample");

	p->sample = true;
	if (!v)
		return KSCHED_OK;
	if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0) {
		errf(msg, len,
		     "%s: option 'sample' must be 0 (scan every worker) or 1 "
		     "(sample views of more than %d workers; the default), "
		     "got '%.40s'",
		     label, SAMPLE_MIN_VIEW, v);
		return KSCHED_EINVAL;
	}
	p->sample = v[0] == '1';
	return KSCHED_OK;
}

/* Parse options, find or open the table, call create. */
static ksched_err
load(ksched_policy *p, const char *what, const char *opts, char *msg,
     size_t len)
{
	bool plugin = strchr(what, '/') != NULL;
	char label[300];
	ksched_err rc;
	int crc;

	snprintf(label, sizeof(label), "%s %.256s",
		 plugin ? "plugin" : "policy", what);
	if ((opts && (rc = parse_opts(p, label, opts, msg, len))) ||
	    (rc = plugin ? open_plugin(p, what, msg, len)
			 : find_registered(p, what, msg, len)))
		return rc;
	p->host.size = sizeof(p->host);
	p->host.ctx = p;
	p->host.log = host_log;
	p->host.now = host_now;
	p->host.config = host_config;
	if ((rc = parse_sample(p, label, msg, len)))
		return rc;
	crc = p->ops.create ? p->ops.create(&p->host, &p->state) : 0;
	if (crc != 0) {
		errf(msg, len,
		     "%s: policy '%s' create() failed (returned %d; check its "
		     "options and its log lines)",
		     label, p->name, crc);
		return KSCHED_EINVAL;
	}
	for (size_t i = 0; i < p->nopts; i++)
		if (!p->opts[i].used)
			KLOG(KSCHED_LOG_WARN,
			     "msg=\"policy option not used\" policy=%s "
			     "option=%s",
			     p->name, p->opts[i].key);
	KLOG(KSCHED_LOG_INFO, "msg=\"policy loaded\" policy=%s from=\"%s\"",
	     p->name, what);
	return KSCHED_OK;
}

/*
 * Where the options start: the first ':' after a policy name, a path
 * ending in ".so" or an existing file (so option values may hold '/' and
 * paths ':'); NULL if none.
 */
static const char *
opts_colon(const char *spec)
{
	char head[PATH_MAX];

	for (const char *c = strchr(spec, ':'); c; c = strchr(c + 1, ':')) {
		size_t n = (size_t)(c - spec);
		if (n >= sizeof(head))
			return NULL;
		memcpy(head, spec, n);
		head[n] = 0;
		if (name_valid(head) || ends_in_so(head) ||
		    (strchr(head, '/') && access(head, F_OK) == 0))
			return c;
	}
	return NULL;
}

ksched_err
ksched_policy_load(const char *spec, ksched_policy **out, char *err,
		   size_t errlen)
{
	const char *colon;
	char msg[768] = "", *what = NULL;
	ksched_policy *p = NULL;
	ksched_err rc = KSCHED_ENOMEM;
	size_t wlen;

	errf(err, errlen, "%s", "");
	if (out)
		*out = NULL;
	if (!spec || !*spec || !out) {
		errf(err, errlen, "policy: empty policy spec (want NAME or "
				  "PATH.so, then optionally :key=value,...)");
		return KSCHED_EINVAL;
	}
	pthread_once(&reg_once, register_builtins);
	colon = opts_colon(spec);
	wlen = colon ? (size_t)(colon - spec) : strlen(spec);
	if ((p = ksched__calloc(1, sizeof(*p))) &&
	    (what = ksched__malloc(wlen + 3))) {
		/* A bare "x.so" is a file here, not a library path search. */
		memcpy(what, spec, wlen);
		what[wlen] = 0;
		if (is_plugin_path(what) && !strchr(what, '/')) {
			memmove(what + 2, what, wlen + 1);
			memcpy(what, "./", 2);
		}
		rc = load(p, what, colon ? colon + 1 : NULL, msg,
			  sizeof(msg));
	} else {
		errf(msg, sizeof(msg), "policy '%s': out of memory", spec);
	}
	ksched__free(what);
	if (rc == KSCHED_OK) {
		*out = p;
		return KSCHED_OK;
	}
	KLOG(KSCHED_LOG_WARN, "msg=\"policy not loaded\" reason=\"%s\"",
	     msg);
	errf(err, errlen, "%s", msg);
	if (p)
		policy_destroy(p, false);
	return rc;
}

void
ksched_policy_free(ksched_policy *p)
{
	if (p)
		policy_destroy(p, true);
}

const char *
ksched_policy_name(const ksched_policy *p)
{
	return p ? p->name : NULL;
}

void *
ksched__policy_state(const ksched_policy *p)
{
	return p ? p->state : NULL;
}

void
ksched_policy_event(ksched_policy *p, const struct ksched_policy_event *ev)
{
	if (!p || !ev)
		return;
	p->now = ev->now;
	if (p->ops.event)
		p->ops.event(p->state, ev);
}
