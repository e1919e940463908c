/*
 * libksched - metrics (see include/ksched/metrics.h).
 *
 * Families in a growable array, each with its series in another; a lookup
 * is a linear scan, which is what a few dozen families with a handful of
 * series each want.  Output goes to a growable buffer.
 */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#include "ksched/metrics.h"

struct series {
	char *lv; /* label value, NULL for none */
	double v;
};

struct ksched_metric {
	enum ksched_metric_type type;
	char *name, *help, *label;
	struct series *s;
	size_t ns, caps;
	/* histogram */
	double bounds[KSCHED_METRIC_BUCKETS_MAX];
	uint64_t counts[KSCHED_METRIC_BUCKETS_MAX + 1]; /* not cumulative */
	size_t nb;
	double sum;
	uint64_t count;
};

struct ksched_metrics {
	struct ksched_metric **m;
	size_t n, cap;
};

ksched_err
ksched_metrics_new(ksched_metrics **out)
{
	*out = ksched__calloc(1, sizeof(**out));
	return *out ? KSCHED_OK : KSCHED_ENOMEM;
}

static void
metric_free(struct ksched_metric *m)
{
	for (size_t i = 0; i < m->ns; i++)
		ksched__free(m->s[i].lv);
	ksched__free(m->s);
	ksched__free(m->name);
	ksched__free(m->help);
	ksched__free(m->label);
	ksched__free(m);
}

void
ksched_metrics_free(ksched_metrics *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		metric_free(r->m[i]);
	ksched__free(r->m);
	ksched__free(r);
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* (colon only when colon_ok). */
static bool
valid_name(const char *s, bool colon_ok)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++) {
		bool ok = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			  (*s >= '0' && *s <= '9') || *s == '_' ||
			  (colon_ok && *s == ':');
		if (!ok)
			return false;
	}
	return true;
}

static ksched_err
family_new(ksched_metrics *r, enum ksched_metric_type type, const char *name,
	   const char *help, const char *label, struct ksched_metric **out)
{
	struct ksched_metric *m;

	*out = NULL;
	if (!valid_name(name, true) || (label && !valid_name(label, false)) ||
	    (label && !strcmp(label, "le")) || type > KSCHED_METRIC_HISTOGRAM)
		return KSCHED_EINVAL;
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->m[i]->name, name))
			return KSCHED_EEXIST;
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 16;
		void *p = ksched__realloc(r->m, cap * sizeof(*r->m));
		if (!p)
			return KSCHED_ENOMEM;
		r->m = p;
		r->cap = cap;
	}
	m = ksched__calloc(1, sizeof(*m));
	if (!m)
		return KSCHED_ENOMEM;
	m->type = type;
	m->name = ksched__strdup(name);
	m->help = ksched__strdup(help ? help : "");
	m->label = label ? ksched__strdup(label) : NULL;
	if (!m->name || !m->help || (label && !m->label)) {
		metric_free(m);
		return KSCHED_ENOMEM;
	}
	r->m[r->n++] = m;
	*out = m;
	return KSCHED_OK;
}

ksched_err
ksched_metrics_add(ksched_metrics *r, enum ksched_metric_type type,
		   const char *name, const char *help, const char *label,
		   ksched_metric **out)
{
	if (type == KSCHED_METRIC_HISTOGRAM) {
		*out = NULL;
		return KSCHED_EINVAL;
	}
	return family_new(r, type, name, help, label, out);
}

ksched_err
ksched_metrics_add_histogram(ksched_metrics *r, const char *name,
			     const char *help, const double *bounds, size_t n,
			     ksched_metric **out)
{
	ksched_err e;

	*out = NULL;
	if (n < 1 || n > KSCHED_METRIC_BUCKETS_MAX)
		return KSCHED_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isfinite(bounds[i]) || (i && bounds[i] <= bounds[i - 1]))
			return KSCHED_EINVAL;
	e = family_new(r, KSCHED_METRIC_HISTOGRAM, name, help, NULL, out);
	if (e)
		return e;
	memcpy((*out)->bounds, bounds, n * sizeof(*bounds));
	(*out)->nb = n;
	return KSCHED_OK;
}

/* The series of lv, made if new; NULL on ENOMEM. */
static struct series *
series_get(struct ksched_metric *m, const char *lv, bool make)
{
	struct series *s;

	if (!m->label)
		lv = NULL;
	for (size_t i = 0; i < m->ns; i++) {
		s = &m->s[i];
		if ((!lv && !s->lv) || (lv && s->lv && !strcmp(lv, s->lv)))
			return s;
	}
	if (!make)
		return NULL;
	if (m->ns == m->caps) {
		size_t cap = m->caps ? 2 * m->caps : 8;
		void *p = ksched__realloc(m->s, cap * sizeof(*m->s));
		if (!p)
			return NULL;
		m->s = p;
		m->caps = cap;
	}
	s = &m->s[m->ns];
	s->v = 0;
	s->lv = NULL;
	if (m->label && !(s->lv = ksched__strdup(lv ? lv : "")))
		return NULL;
	m->ns++;
	return s;
}

static ksched_err
series_change(ksched_metric *m, const char *lv, double v, bool add)
{
	struct series *s;

	if (m->type == KSCHED_METRIC_HISTOGRAM)
		return KSCHED_EINVAL;
	if (add && m->type == KSCHED_METRIC_COUNTER && !(v >= 0))
		return KSCHED_EINVAL;
	s = series_get(m, lv, true);
	if (!s)
		return KSCHED_ENOMEM;
	s->v = add ? s->v + v : v;
	return KSCHED_OK;
}

ksched_err
ksched_metric_set(ksched_metric *m, const char *lv, double v)
{
	return series_change(m, lv, v, false);
}

ksched_err
ksched_metric_add(ksched_metric *m, const char *lv, double v)
{
	return series_change(m, lv, v, true);
}

void
ksched_metric_observe(ksched_metric *m, double v)
{
	size_t i = 0;

	if (m->type != KSCHED_METRIC_HISTOGRAM || isnan(v))
		return;
	while (i < m->nb && v > m->bounds[i])
		i++;
	m->counts[i]++;
	m->sum += v;
	m->count++;
}

double
ksched_metric_value(const ksched_metric *m, const char *lv)
{
	const struct series *s;

	if (m->type == KSCHED_METRIC_HISTOGRAM)
		return (double)m->count;
	s = series_get((ksched_metric *)m, lv, false);
	return s ? s->v : 0;
}

/* ---- output ------------------------------------------------------------- */

struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void
put(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;
		while (cap < b->len + n + 1)
			cap *= 2;
		p = ksched__realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void
puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* s with '\\' and '\n' escaped, and '"' too when quoted (label values). */
static void
put_escaped(struct buf *b, const char *s, bool quoted)
{
	for (; *s; s++) {
		if (*s == '\\')
			puts_(b, "\\\\");
		else if (*s == '\n')
			puts_(b, "\\n");
		else if (quoted && *s == '"')
			puts_(b, "\\\"");
		else
			put(b, s, 1);
	}
}

/* The shortest of %.15g and %.17g that reads back as v; Prometheus's
 * spellings of the infinities and NaN. */
static void
put_num(struct buf *b, double v)
{
	char s[40];

	if (isnan(v))
		snprintf(s, sizeof(s), "NaN");
	else if (isinf(v))
		snprintf(s, sizeof(s), v > 0 ? "+Inf" : "-Inf");
	else {
		snprintf(s, sizeof(s), "%.15g", v);
		if (strtod(s, NULL) != v)
			snprintf(s, sizeof(s), "%.17g", v);
	}
	puts_(b, s);
}

static void
put_u64(struct buf *b, uint64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
	puts_(b, s);
}

static void
write_series(struct buf *b, const struct ksched_metric *m)
{
	for (size_t i = 0; i < m->ns; i++) {
		puts_(b, m->name);
		if (m->label) {
			puts_(b, "{");
			puts_(b, m->label);
			puts_(b, "=\"");
			put_escaped(b, m->s[i].lv, true);
			puts_(b, "\"}");
		}
		puts_(b, " ");
		put_num(b, m->s[i].v);
		puts_(b, "\n");
	}
}

static void
write_histogram(struct buf *b, const struct ksched_metric *m)
{
	uint64_t cum = 0;

	for (size_t i = 0; i <= m->nb; i++) {
		cum += m->counts[i];
		puts_(b, m->name);
		puts_(b, "_bucket{le=\"");
		if (i < m->nb)
			put_num(b, m->bounds[i]);
		else
			puts_(b, "+Inf");
		puts_(b, "\"} ");
		put_u64(b, cum);
		puts_(b, "\n");
	}
	puts_(b, m->name);
	puts_(b, "_sum ");
	put_num(b, m->sum);
	puts_(b, "\n");
	puts_(b, m->name);
	puts_(b, "_count ");
	put_u64(b, m->count);
	puts_(b, "\n");
}

ksched_err
ksched_metrics_write(const ksched_metrics *r, char **out, size_t *len)
{
	static const char *types[] = {"counter", "gauge", "histogram"};
	struct buf b = {0};

	*out = NULL;
	*len = 0;
	put(&b, "", 0); /* an empty registry is "" */
	for (size_t i = 0; i < r->n; i++) {
		const struct ksched_metric *m = r->m[i];
		puts_(&b, "# HELP ");
		puts_(&b, m->name);
		puts_(&b, " ");
		put_escaped(&b, m->help, false);
		puts_(&b, "\n# TYPE ");
		puts_(&b, m->name);
		puts_(&b, " ");
		puts_(&b, types[m->type]);
		puts_(&b, "\n");
		if (m->type == KSCHED_METRIC_HISTOGRAM)
			write_histogram(&b, m);
		else
			write_series(&b, m);
	}
	if (b.oom) {
		ksched__free(b.p);
		return KSCHED_ENOMEM;
	}
	*out = b.p;
	*len = b.len;
	return KSCHED_OK;
}
