/*
 * libksched - ksched_sim_workload_load: pick a trace reader by the file's
 * name or, failing that, its first line, and hand back a sorted workload
 * or nothing.
 */
#include <jansson.h>
#include <string.h>

#include "alloc.h"
#include "sim_trace_int.h"

static bool
ends_with(const char *s, size_t len, const char *suffix)
{
	size_t k = strlen(suffix);

	return len >= k && strncmp(s + len - k, suffix, k) == 0;
}

static const char *const trace_exts[] = {".swf", ".jsonl", ".json", ".csv"};
static const enum ksched_sim_format trace_fmts[] = {
    KSCHED_SIM_FORMAT_SWF, KSCHED_SIM_FORMAT_JSONL, KSCHED_SIM_FORMAT_BATSIM,
    KSCHED_SIM_FORMAT_OPENB};

/* The format the name says (AUTO if none), and the length of the base
 * name without ".gz" and the trace extension. */
static enum ksched_sim_format
by_name(const char *base, size_t *stem)
{
	size_t len = strlen(base);

	if (ends_with(base, len, ".gz"))
		len -= 3;
	*stem = len;
	for (size_t i = 0; i < sizeof(trace_exts) / sizeof(*trace_exts); i++) {
		if (ends_with(base, len, trace_exts[i])) {
			*stem = len - strlen(trace_exts[i]);
			return trace_fmts[i];
		}
	}
	return KSCHED_SIM_FORMAT_AUTO;
}

/* The format from the first line that is not blank. */
static ksched_err
by_content(const char *path, enum ksched_sim_format *fmt, char *err,
	   size_t errlen)
{
	struct sim_lines l;
	char *line;
	size_t len;
	ksched_err e = ksched__sim_lines_open(&l, path, err, errlen);
	int r;

	if (e != KSCHED_OK)
		return e;
	*fmt = KSCHED_SIM_FORMAT_AUTO;
	while ((r = ksched__sim_lines_next(&l, &line, &len)) == 1) {
		json_t *j;

		line += strspn(line, " \t");
		if (!*line)
			continue;
		if (*line == ';' || (*line >= '0' && *line <= '9'))
			*fmt = KSCHED_SIM_FORMAT_SWF;
		else if (strncmp(line, "name,", 5) == 0)
			*fmt = KSCHED_SIM_FORMAT_OPENB;
		else if (*line == '{') {
			/* A whole object on the first line: JSON lines. */
			j = json_loads(line, JSON_DISABLE_EOF_CHECK, NULL);
			*fmt = json_is_object(j) && strstr(line, "\"at\"")
				   ? KSCHED_SIM_FORMAT_JSONL
				   : KSCHED_SIM_FORMAT_BATSIM;
			json_decref(j);
		}
		break;
	}
	if (r < 0)
		e = ksched__sim_lines_error(&l, err, errlen);
	ksched__sim_lines_close(&l);
	if (e != KSCHED_OK)
		return e;
	if (*fmt == KSCHED_SIM_FORMAT_AUTO)
		return ksched__sim_err(err, errlen,
				       "%s: cannot tell the trace format (SWF, "
				       "Batsim JSON, openb CSV or JSON lines): "
				       "give it, or name the file .swf, .json, "
				       ".csv or .jsonl",
				       path);
	return KSCHED_OK;
}

typedef ksched_err (*sim_reader)(ksched_sim_workload *, const char *,
				 const struct ksched_sim_load_opts *, char *,
				 size_t);

ksched_err
ksched_sim_workload_load(const char *path,
			 const struct ksched_sim_load_opts *opts,
			 ksched_sim_workload **out, char *err, size_t errlen)
{
	static const sim_reader readers[] = {
	    [KSCHED_SIM_FORMAT_SWF] = ksched__sim_read_swf,
	    [KSCHED_SIM_FORMAT_BATSIM] = ksched__sim_read_batsim,
	    [KSCHED_SIM_FORMAT_OPENB] = ksched__sim_read_openb,
	    [KSCHED_SIM_FORMAT_JSONL] = ksched__sim_read_jsonl,
	};
	struct ksched_sim_load_opts o;
	enum ksched_sim_format fmt;
	const char *base;
	char msg[512], *name;
	ksched_sim_workload *w;
	size_t stem;
	ksched_err e;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (opts)
		o = *opts;
	else
		ksched_sim_load_opts_init(&o);
	if (!path)
		return ksched__sim_err(err, errlen, "no trace file given");
	if ((unsigned)o.format > KSCHED_SIM_FORMAT_JSONL ||
	    (unsigned)o.swf_size > KSCHED_SWF_SIZE_MAX ||
	    (unsigned)o.swf_estimate > KSCHED_SWF_EST_EXACT)
		return ksched__sim_err(err, errlen,
				       "load options: unknown format, size or "
				       "estimate value");
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	fmt = by_name(base, &stem);
	if (o.format != KSCHED_SIM_FORMAT_AUTO)
		fmt = o.format;
	else if (fmt == KSCHED_SIM_FORMAT_AUTO &&
		 (e = by_content(path, &fmt, err, errlen)) != KSCHED_OK)
		return e;
	name = ksched__malloc(stem + 1);
	if (!name)
		return KSCHED_ENOMEM;
	memcpy(name, base, stem);
	name[stem] = '\0';
	e = ksched_sim_workload_new(name, 0, &w);
	ksched__free(name);
	if (e != KSCHED_OK)
		return e;
	msg[0] = '\0';
	e = readers[fmt](w, path, &o, msg, sizeof(msg));
	if (e == KSCHED_OK)
		e = ksched__sim_finish(w, msg, sizeof(msg));
	if (e != KSCHED_OK) {
		ksched_sim_workload_free(w);
		if (err && errlen && msg[0] &&
		    strncmp(msg, path, strlen(path)) == 0)
			snprintf(err, errlen, "%s", msg);
		else if (err && errlen)
			snprintf(err, errlen, "%s: %s", path,
				 msg[0] ? msg : ksched_strerror(e));
		return e;
	}
	*out = w;
	return KSCHED_OK;
}
