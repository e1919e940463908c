/*
 * libksched - the machine-level schedule profile of the backfilling
 * policies (see plan.h).
 */
#include <string.h>

#include "alloc.h"
#include "plan.h"
#include "policy_int.h"

void
ksched__plan_init(struct ksched__plan *p)
{
	memset(p, 0, sizeof(*p));
}

void
ksched__plan_free(struct ksched__plan *p)
{
	for (size_t s = 0; s < p->scap; s++)
		ksched__free(p->row[s]);
	ksched__free(p->row);
	ksched__free(p->t);
	ksched__free(p->index);
	ksched__free(p->cap);
	ksched__free(p->fu);
	ksched__free(p->um);
	ksched__plan_init(p);
}

/* Rows too short for nm machines are dropped (re-made on demand). */
static int
fit_machines(struct ksched__plan *p, size_t nm)
{
	uint32_t *ix;
	struct ksched_resources *cap;
	int64_t *fu;
	uint32_t *um;
	size_t n;

	if (nm <= p->mcap)
		return 0;
	n = nm < 64 ? 64 : nm * 2;
	ix = ksched__realloc(p->index, n * sizeof(*ix));
	if (ix)
		p->index = ix;
	cap = ksched__realloc(p->cap, n * sizeof(*cap));
	if (cap)
		p->cap = cap;
	fu = ksched__realloc(p->fu, n * sizeof(*fu));
	if (fu)
		p->fu = fu;
	um = ksched__realloc(p->um, n * sizeof(*um));
	if (um)
		p->um = um;
	if (!ix || !cap || !fu || !um)
		return -1;
	p->mcap = n;
	for (size_t s = 0; s < p->scap; s++) {
		ksched__free(p->row[s]);
		p->row[s] = NULL;
	}
	p->rowlen = n;
	return 0;
}

/* Make room for one more slice (a spare row at row[ns]). */
static int
spare_slice(struct ksched__plan *p)
{
	if (p->ns == p->scap) {
		size_t n = p->scap ? p->scap * 2 : 64;
		int64_t *t = ksched__realloc(p->t, n * sizeof(*t));
		struct ksched_resources **row;

		if (!t)
			return -1;
		p->t = t;
		if (!(row = ksched__realloc(p->row, n * sizeof(*row))))
			return -1;
		memset(row + p->scap, 0, (n - p->scap) * sizeof(*row));
		p->row = row;
		p->scap = n;
	}
	if (!p->row[p->ns] &&
	    !(p->row[p->ns] = ksched__malloc(p->rowlen * sizeof(**p->row))))
		return -1;
	return 0;
}

int
ksched__plan_reset(struct ksched__plan *p, int64_t now, size_t nm)
{
	if (fit_machines(p, nm ? nm : 1))
		return -1;
	p->nm = nm;
	p->ns = 0;
	if (spare_slice(p))
		return -1;
	p->t[0] = now;
	memset(p->row[0], 0, p->rowlen * sizeof(**p->row));
	p->ns = 1;
	return 0;
}

/* The slice that starts at tm, made by splitting the one holding it;
 * -1 when out of memory.  tm is at or after t[0]. */
static ptrdiff_t
split(struct ksched__plan *p, int64_t tm)
{
	size_t lo = 0, hi = p->ns; /* t[lo] <= tm < t[hi] */
	struct ksched_resources *spare;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (p->t[mid] <= tm)
			lo = mid;
		else
			hi = mid;
	}
	if (p->t[lo] == tm)
		return (ptrdiff_t)lo;
	if (spare_slice(p))
		return -1;
	spare = p->row[p->ns];
	memmove(&p->row[lo + 2], &p->row[lo + 1],
		(p->ns - lo - 1) * sizeof(*p->row));
	memmove(&p->t[lo + 2], &p->t[lo + 1], (p->ns - lo - 1) * sizeof(*p->t));
	p->row[lo + 1] = spare;
	p->t[lo + 1] = tm;
	memcpy(spare, p->row[lo], p->nm * sizeof(*spare));
	p->ns++;
	return (ptrdiff_t)lo + 1;
}

int
ksched__plan_add(struct ksched__plan *p, int64_t start, int64_t end,
		 const uint32_t *m, size_t k,
		 const struct ksched_resources *need, int sign)
{
	ptrdiff_t s0, s1;

	if (start < p->t[0])
		start = p->t[0];
	if (end <= start || !k)
		return 0;
	/* Both splits first: the second cannot move the first (end > start),
	 * and a failure leaves only an extra breakpoint, which changes no
	 * answer. */
	if ((s0 = split(p, start)) < 0)
		return -1;
	s1 = end == KSCHED__PLAN_FOREVER ? (ptrdiff_t)p->ns : split(p, end);
	if (s1 < 0)
		return -1;
	for (ptrdiff_t s = s0; s < s1; s++) {
		struct ksched_resources *r = p->row[s];
		for (size_t i = 0; i < k; i++)
			ksched__res_add(&r[m[i]], need, sign);
	}
	return 0;
}

bool
ksched__plan_fits(const struct ksched__plan *p, size_t s, size_t m,
		  const struct ksched_resources *need)
{
	const struct ksched_resources *u = &p->row[s][m], *c = &p->cap[m];

	return need->slots <= c->slots - u->slots &&
	       need->cpu_milli <= c->cpu_milli - u->cpu_milli &&
	       need->mem_mb <= c->mem_mb - u->mem_mb &&
	       need->gpus <= c->gpus - u->gpus;
}

int64_t
ksched__plan_end(int64_t start, int64_t wall)
{
	if (wall == KSCHED__PLAN_FOREVER || wall > KSCHED__PLAN_FOREVER - start)
		return KSCHED__PLAN_FOREVER;
	return start + wall;
}

/* Whether m fits need over [t[s], end). */
static bool
fits_over(const struct ksched__plan *p, size_t s, size_t m, int64_t end,
	  const struct ksched_resources *need)
{
	for (; s < p->ns && p->t[s] < end; s++)
		if (!ksched__plan_fits(p, s, m, need))
			return false;
	return true;
}

/* The lowest k usable machines that fit from slice s for wall, in out;
 * false if fewer than k do. */
static bool
fit_at(const struct ksched__plan *p, size_t s,
       const struct ksched_resources *need, size_t k, int64_t wall,
       const bool *usable, uint32_t *out)
{
	int64_t end = ksched__plan_end(p->t[s], wall);
	size_t got = 0;

	for (size_t m = 0; m < p->nm && got < k; m++)
		if (usable[m] && fits_over(p, s, m, end, need))
			out[got++] = (uint32_t)m;
	return got == k;
}

/* The first slice starting at or after tm (ns if none). */
static size_t
slice_from(const struct ksched__plan *p, int64_t tm)
{
	size_t lo = 0, hi = p->ns;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (p->t[mid] < tm)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The earliest anchor at or before `before`, walking the slices backwards:
 * fu[m] is how long m keeps fitting from the current slice on (the start
 * of the slice itself if it does not fit there), so one pass answers every
 * anchor.  The pass starts at the first slice past before + wall: fitting
 * longer than that answers no anchor it looks at.
 */
static ptrdiff_t
earliest_anchor(struct ksched__plan *p, const struct ksched_resources *need,
		size_t k, int64_t wall, const bool *usable, int64_t before)
{
	int64_t horizon = ksched__plan_end(before, wall);
	size_t e =
	    horizon == KSCHED__PLAN_FOREVER ? p->ns : slice_from(p, horizon);
	int64_t init = e < p->ns ? p->t[e] : KSCHED__PLAN_FOREVER;
	uint32_t *um = p->um;
	size_t nu = 0;
	ptrdiff_t best = -1;

	/* The usable machines once, so the inner loop skips none. */
	for (size_t m = 0; m < p->nm; m++)
		if (usable[m]) {
			um[nu] = (uint32_t)m;
			p->fu[nu++] = init;
		}
	if (nu < k)
		return -1;
	for (size_t s = e; s-- > 0;) {
		const struct ksched_resources *row = p->row[s];
		int64_t ts = p->t[s], end = ksched__plan_end(ts, wall);
		size_t cnt = 0;
		for (size_t i = 0; i < nu; i++) {
			const struct ksched_resources *u = &row[um[i]];
			const struct ksched_resources *c = &p->cap[um[i]];
			if (need->slots > c->slots - u->slots ||
			    need->cpu_milli > c->cpu_milli - u->cpu_milli ||
			    need->mem_mb > c->mem_mb - u->mem_mb ||
			    need->gpus > c->gpus - u->gpus)
				p->fu[i] = ts;
			cnt += p->fu[i] >= end;
		}
		if (cnt >= k && ts <= before)
			best = (ptrdiff_t)s;
	}
	return best;
}

int64_t
ksched__plan_first_fit(struct ksched__plan *p,
		       const struct ksched_resources *need, size_t k,
		       int64_t wall, const bool *usable, int64_t before,
		       uint32_t *out)
{
	ptrdiff_t s;

	if (!k || k > p->nm)
		return -1;
	if (fit_at(p, 0, need, k, wall, usable, out))
		return p->t[0];
	if (before < 0)
		return -1;
	s = earliest_anchor(p, need, k, wall, usable, before);
	if (s < 0 && before != KSCHED__PLAN_FOREVER)
		s = earliest_anchor(p, need, k, wall, usable,
				    KSCHED__PLAN_FOREVER);
	if (s < 0)
		return -1;
	return fit_at(p, (size_t)s, need, k, wall, usable, out) ? p->t[s] : -1;
}
