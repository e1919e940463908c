/*
 * libksched - the simulator's clusters: a spec such as
 * "120x(cpu=2,mem=1024)+4x(cpu=8,gpus=1,label.gpu=v100)" or a nodes file
 * (lines of specs, or an Alibaba openb node list CSV).
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "sim_trace_int.h"

/* Enough for any cluster a laptop can simulate; stops "1e12x(...)". */
#define SIM_NODES_MAX KSCHED_SIM_NODES_MAX

struct ksched_sim_cluster {
	struct ksched_sim_node *v;
	size_t n, cap;
	struct sim_strings str;
};

void
ksched_sim_cluster_free(ksched_sim_cluster *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		ksched__free(c->v[i].labels);
	ksched__free(c->v);
	ksched__sim_strings_free(&c->str);
	ksched__free(c);
}

size_t
ksched_sim_cluster_count(const ksched_sim_cluster *c)
{
	return c ? c->n : 0;
}

const struct ksched_sim_node *
ksched_sim_cluster_node(const ksched_sim_cluster *c, size_t i)
{
	return c && i < c->n ? &c->v[i] : NULL;
}

/* What one group of a spec (or one CSV row) describes. */
struct node_tmpl {
	struct ksched_resources cap;
	bool has_cpu, has_slots;
	struct ksched_label_view labels[KSCHED_LABELS_MAX];
	size_t nlabels;
};

/* Append count nodes like t; id NULL names them n0, n1, ... */
static ksched_err
add_nodes(ksched_sim_cluster *c, const struct node_tmpl *t, uint64_t count,
	  const char *id)
{
	if (count > SIM_NODES_MAX - c->n)
		return KSCHED_ETOOBIG;
	if (c->n + count > c->cap) {
		size_t cap = c->cap ? c->cap : 16;
		struct ksched_sim_node *v;

		while (cap < c->n + count)
			cap *= 2;
		v = ksched__realloc(c->v, cap * sizeof(*v));
		if (!v)
			return KSCHED_ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	for (uint64_t k = 0; k < count; k++) {
		struct ksched_sim_node *nd = &c->v[c->n];
		char name[32];
		const char *nid = id;

		if (!nid) {
			snprintf(name, sizeof(name), "n%zu", c->n);
			nid = name;
		}
		memset(nd, 0, sizeof(*nd));
		nd->id = (char *)ksched__sim_strdup(&c->str, nid, strlen(nid));
		if (!nd->id)
			return KSCHED_ENOMEM;
		nd->cap = t->cap;
		if (t->nlabels) {
			nd->labels =
			    ksched__malloc(t->nlabels * sizeof(*nd->labels));
			if (!nd->labels)
				return KSCHED_ENOMEM;
			memcpy(nd->labels, t->labels,
			       t->nlabels * sizeof(*nd->labels));
			nd->nlabels = t->nlabels;
		}
		c->n++;
	}
	return KSCHED_OK;
}

/* The default slots: one per whole core, at least one. */
static void
tmpl_finish(struct node_tmpl *t)
{
	if (!t->has_cpu)
		t->cap.cpu_milli = 1000;
	if (!t->has_slots)
		t->cap.slots =
		    t->cap.cpu_milli <= 1000 ? 1 : t->cap.cpu_milli / 1000;
}

/* ---- the spec grammar ---------------------------------------------------- */

struct spec_parser {
	const char *s; /* the whole spec, for messages */
	const char *p;
	int group;
	ksched_sim_cluster *c;
	char *err;
	size_t errlen;
};

static ksched_err
spec_fail(struct spec_parser *sp, const char *what)
{
	return ksched__sim_err(sp->err, sp->errlen,
			       "cluster spec: group %d: %s at column %d of "
			       "\"%.60s\"",
			       sp->group, what, (int)(sp->p - sp->s) + 1,
			       sp->s);
}

static void
skip_blank(struct spec_parser *sp)
{
	while (*sp->p == ' ' || *sp->p == '\t')
		sp->p++;
}

/* A token of [A-Za-z0-9_.:/-] into buf; its length (0 if none). */
static size_t
spec_word(struct spec_parser *sp, char *buf, size_t bufsz)
{
	size_t n = 0;

	skip_blank(sp);
	while (isalnum((unsigned char)*sp->p) || strchr("_.:/-", *sp->p)) {
		if (*sp->p == '\0')
			break;
		if (n + 1 < bufsz)
			buf[n] = *sp->p;
		n++;
		sp->p++;
	}
	if (n >= bufsz)
		n = bufsz; /* marks "too long" to the caller */
	else
		buf[n] = '\0';
	skip_blank(sp);
	return n;
}

static ksched_err
spec_int(struct spec_parser *sp, const char *key, const char *val, int64_t min,
	 int64_t max, int64_t *out)
{
	char msg[160];

	if (!ksched__sim_int(val, out) || *out < min || *out > max) {
		snprintf(msg, sizeof(msg),
			 "'%s' must be an integer from %" PRId64 " to %" PRId64
			 " (got \"%s\")",
			 key, min, max, val);
		return spec_fail(sp, msg);
	}
	return KSCHED_OK;
}

/* One key=value of a group into t. */
static ksched_err
spec_pair(struct spec_parser *sp, struct node_tmpl *t, const char *key,
	  const char *val)
{
	char msg[200];
	double d;

	if (strcmp(key, "cpu") == 0 || strcmp(key, "cpu_milli") == 0) {
		if (t->has_cpu)
			return spec_fail(sp, "cpu given twice");
		t->has_cpu = true;
		if (key[3] == '_')
			return spec_int(sp, key, val, 0, KSCHED_CPU_MAX,
					&t->cap.cpu_milli);
		if (!ksched__sim_num(val, &d) || !(d >= 0) ||
		    d > KSCHED_CPU_MAX / 1000) {
			snprintf(msg, sizeof(msg),
				 "'cpu' must be a number of cores from 0 to %u "
				 "(got \"%s\")",
				 KSCHED_CPU_MAX / 1000, val);
			return spec_fail(sp, msg);
		}
		t->cap.cpu_milli = (int64_t)llround(d * 1000);
		return KSCHED_OK;
	}
	if (strcmp(key, "mem") == 0)
		return spec_int(sp, key, val, 0, KSCHED_MEM_MAX,
				&t->cap.mem_mb);
	if (strcmp(key, "gpus") == 0)
		return spec_int(sp, key, val, 0, KSCHED_GPUS_MAX, &t->cap.gpus);
	if (strcmp(key, "slots") == 0) {
		t->has_slots = true;
		return spec_int(sp, key, val, 1, 1000000, &t->cap.slots);
	}
	if (strncmp(key, "label.", 6) == 0 && key[6]) {
		const char *k = key + 6;

		if (strlen(k) > KSCHED_LABEL_LEN_MAX ||
		    strlen(val) > KSCHED_LABEL_LEN_MAX) {
			snprintf(msg, sizeof(msg),
				 "label key and value have at most %d bytes",
				 KSCHED_LABEL_LEN_MAX);
			return spec_fail(sp, msg);
		}
		if (t->nlabels == KSCHED_LABELS_MAX)
			return spec_fail(sp, "too many labels");
		for (size_t i = 0; i < t->nlabels; i++)
			if (strcmp(t->labels[i].key, k) == 0)
				return spec_fail(sp, "label given twice");
		t->labels[t->nlabels].key = ksched__sim_intern(&sp->c->str, k);
		t->labels[t->nlabels].value =
		    ksched__sim_intern(&sp->c->str, val);
		if (!t->labels[t->nlabels].key || !t->labels[t->nlabels].value)
			return KSCHED_ENOMEM;
		t->nlabels++;
		return KSCHED_OK;
	}
	snprintf(msg, sizeof(msg),
		 "unknown key '%s' (keys: cpu, cpu_milli, mem, gpus, slots, "
		 "label.NAME)",
		 key);
	return spec_fail(sp, msg);
}

/* COUNTx(key=value,...) */
static ksched_err
spec_group(struct spec_parser *sp)
{
	char word[KSCHED_LABEL_LEN_MAX + 8], key[KSCHED_LABEL_LEN_MAX + 8];
	struct node_tmpl t;
	int64_t count;
	ksched_err e;
	size_t n;

	memset(&t, 0, sizeof(t));
	n = spec_word(sp, word, sizeof(word));
	if (n < 2 || n >= sizeof(word) ||
	    (word[n - 1] != 'x' && word[n - 1] != 'X'))
		return spec_fail(sp, "expected COUNTx(...)");
	word[n - 1] = '\0';
	e = spec_int(sp, "count", word, 1, SIM_NODES_MAX, &count);
	if (e != KSCHED_OK)
		return e;
	if (*sp->p++ != '(')
		return sp->p--, spec_fail(sp, "expected '(' after the count");
	skip_blank(sp);
	while (*sp->p != ')') {
		n = spec_word(sp, key, sizeof(key));
		if (n == 0 || n >= sizeof(key))
			return spec_fail(sp, n ? "key too long"
					       : "expected key=value");
		if (*sp->p++ != '=')
			return sp->p--, spec_fail(sp, "expected '='");
		n = spec_word(sp, word, sizeof(word));
		if (n == 0 || n >= sizeof(word))
			return spec_fail(sp, n ? "value too long"
					       : "expected a value");
		e = spec_pair(sp, &t, key, word);
		if (e != KSCHED_OK)
			return e;
		if (*sp->p == ',')
			sp->p++;
		else if (*sp->p != ')')
			return spec_fail(sp, "expected ',' or ')'");
	}
	sp->p++;
	tmpl_finish(&t);
	e = add_nodes(sp->c, &t, (uint64_t)count, NULL);
	if (e == KSCHED_ETOOBIG)
		return ksched__sim_err(sp->err, sp->errlen,
				       "cluster spec: more than %u nodes",
				       SIM_NODES_MAX);
	return e;
}

/* Parse spec and append its nodes to c. */
static ksched_err
spec_parse_into(ksched_sim_cluster *c, const char *spec, char *err,
		size_t errlen)
{
	struct spec_parser sp = {spec, spec, 1, c, err, errlen};
	ksched_err e;

	for (;;) {
		e = spec_group(&sp);
		if (e != KSCHED_OK)
			return e;
		skip_blank(&sp);
		if (*sp.p == '\0')
			return KSCHED_OK;
		if (*sp.p != '+')
			return spec_fail(&sp, "expected '+' or the end");
		sp.p++;
		sp.group++;
	}
}

ksched_err
ksched_sim_cluster_parse(const char *spec, ksched_sim_cluster **out, char *err,
			 size_t errlen)
{
	ksched_sim_cluster *c;
	ksched_err e;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!spec)
		return ksched__sim_err(err, errlen, "cluster spec: none given");
	c = ksched__calloc(1, sizeof(*c));
	if (!c)
		return KSCHED_ENOMEM;
	e = spec_parse_into(c, spec, err, errlen);
	if (e != KSCHED_OK) {
		ksched_sim_cluster_free(c);
		return e;
	}
	*out = c;
	return KSCHED_OK;
}

/* ---- nodes files ----------------------------------------------------------
 */

enum { OB_SN, OB_CPU, OB_MEM, OB_GPU, OB_MODEL, OB_NCOLS };
enum { OB_FIELDS_MAX = 16 }; /* columns of a node list we read */
static const char *const openb_cols[OB_NCOLS] = {"sn", "cpu_milli",
						 "memory_mib", "gpu", "model"};

/* One row of an openb node list: sn,cpu_milli,memory_mib,gpu,model. */
static ksched_err
openb_node(ksched_sim_cluster *c, const int *col, char **f, size_t nf,
	   size_t lineno, char *err, size_t errlen)
{
	struct node_tmpl t;

	memset(&t, 0, sizeof(t));
	for (int k = 0; k < OB_NCOLS; k++) {
		if (col[k] >= 0 && (size_t)col[k] < nf)
			continue;
		if (k == OB_MODEL)
			continue;
		return ksched__sim_err(err, errlen, "line %zu: no field '%s'",
				       lineno, openb_cols[k]);
	}
	if (!*f[col[OB_SN]])
		return ksched__sim_err(err, errlen, "line %zu: empty 'sn'",
				       lineno);
	/* The same limits as a cluster spec's, so that sums over the
	 * cluster cannot overflow. */
	if (!ksched__sim_int(f[col[OB_CPU]], &t.cap.cpu_milli) ||
	    t.cap.cpu_milli < 0 || t.cap.cpu_milli > KSCHED_CPU_MAX ||
	    !ksched__sim_int(f[col[OB_MEM]], &t.cap.mem_mb) ||
	    t.cap.mem_mb < 0 || t.cap.mem_mb > KSCHED_MEM_MAX ||
	    !ksched__sim_int(f[col[OB_GPU]], &t.cap.gpus) || t.cap.gpus < 0 ||
	    t.cap.gpus > KSCHED_GPUS_MAX)
		return ksched__sim_err(err, errlen,
				       "line %zu: cpu_milli, memory_mib and "
				       "gpu must be integers in 0..%u, "
				       "0..%u and 0..%u",
				       lineno, KSCHED_CPU_MAX, KSCHED_MEM_MAX,
				       KSCHED_GPUS_MAX);
	t.has_cpu = true;
	if (col[OB_MODEL] >= 0 && (size_t)col[OB_MODEL] < nf &&
	    *f[col[OB_MODEL]]) {
		t.labels[0].key = "model";
		t.labels[0].value =
		    ksched__sim_intern(&c->str, f[col[OB_MODEL]]);
		if (!t.labels[0].value)
			return KSCHED_ENOMEM;
		t.nlabels = 1;
	}
	tmpl_finish(&t);
	return add_nodes(c, &t, 1, f[col[OB_SN]]);
}

/* The column of each openb name in the header f; false if one of the
 * required ones is missing. */
static bool
openb_header(char **f, size_t nf, int *col)
{
	for (int k = 0; k < OB_NCOLS; k++) {
		col[k] = -1;
		for (size_t i = 0; i < nf; i++)
			if (strcmp(f[i], openb_cols[k]) == 0)
				col[k] = (int)i;
		if (col[k] < 0 && k != OB_MODEL)
			return false;
	}
	return true;
}

/* csv_split says "one more than max" when a row has more columns than
 * f holds: refuse the row rather than read past f. */
static ksched_err
too_many_columns(size_t lineno, char *err, size_t errlen)
{
	return ksched__sim_err(err, errlen,
			       "line %zu: more than %d columns in an openb "
			       "node list",
			       lineno, OB_FIELDS_MAX);
}

static ksched_err
load_lines(ksched_sim_cluster *c, struct sim_lines *l, char *err, size_t errlen)
{
	int col[OB_NCOLS];
	bool csv = false, first = true;
	char *line, *f[OB_FIELDS_MAX], msg[512];
	size_t len, nf;
	ksched_err e;
	int r;

	while ((r = ksched__sim_lines_next(l, &line, &len)) == 1) {
		char *hash = csv ? NULL : strchr(line, '#');

		if (hash)
			*hash = '\0';
		if (strspn(line, " \t") == strlen(line))
			continue;
		if (first && strncmp(line, "sn,", 3) == 0) {
			nf = ksched__sim_csv_split(line, f, OB_FIELDS_MAX);
			if (nf > OB_FIELDS_MAX)
				return too_many_columns(l->lineno, err, errlen);
			if (!openb_header(f, nf, col))
				return ksched__sim_err(
				    err, errlen,
				    "line %zu: an openb node list needs "
				    "columns sn, cpu_milli, memory_mib, "
				    "gpu",
				    l->lineno);
			csv = true;
			first = false;
			continue;
		}
		first = false;
		if (csv) {
			nf = ksched__sim_csv_split(line, f, OB_FIELDS_MAX);
			if (nf > OB_FIELDS_MAX)
				return too_many_columns(l->lineno, err, errlen);
			e = openb_node(c, col, f, nf, l->lineno, err, errlen);
		} else {
			e = spec_parse_into(c, line, msg, sizeof(msg));
			if (e == KSCHED_EINVAL)
				ksched__sim_err(err, errlen, "line %zu: %s",
						l->lineno, msg);
		}
		if (e == KSCHED_ETOOBIG)
			return ksched__sim_err(err, errlen,
					       "line %zu: more than %u nodes",
					       l->lineno, SIM_NODES_MAX);
		if (e != KSCHED_OK)
			return e;
	}
	if (r < 0)
		return ksched__sim_lines_error(l, err, errlen);
	if (c->n == 0)
		return ksched__sim_err(err, errlen, "no nodes in the file");
	return KSCHED_OK;
}

ksched_err
ksched_sim_cluster_load(const char *path, ksched_sim_cluster **out, char *err,
			size_t errlen)
{
	struct sim_lines l;
	ksched_sim_cluster *c;
	char msg[512];
	ksched_err e;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	e = ksched__sim_lines_open(&l, path, err, errlen);
	if (e != KSCHED_OK)
		return e;
	c = ksched__calloc(1, sizeof(*c));
	if (!c) {
		ksched__sim_lines_close(&l);
		return KSCHED_ENOMEM;
	}
	msg[0] = '\0';
	e = load_lines(c, &l, msg, sizeof(msg));
	ksched__sim_lines_close(&l);
	if (e != KSCHED_OK) {
		if (err && errlen)
			snprintf(err, errlen, "%s: %s", path,
				 msg[0] ? msg : ksched_strerror(e));
		ksched_sim_cluster_free(c);
		return e;
	}
	*out = c;
	return KSCHED_OK;
}
