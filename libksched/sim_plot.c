/*
 * libksched - the simulator's plot: queue length and utilization over
 * virtual time as a plain SVG file (two panels sharing the time axis).
 * The timeline is piecewise constant between samples; each of PLOT_N
 * intervals shows its time-weighted mean, so a million batches still make
 * a small file.  Written with fixed formats: same run, same bytes.
 */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "sim_int.h"

#define PLOT_N 600  /* intervals along the time axis */
#define PLOT_W 900  /* image width */
#define PANEL_H 200 /* each panel's height */
#define LEFT 70	    /* room for the value labels */
#define TOP 30

/* Time-weighted mean of the step function (t[i], v[i]) over PLOT_N
 * intervals of [t0, t1]. */
static void
bucket(const int64_t *t, const uint32_t *v, size_t n, int64_t t0, int64_t t1,
       double *out)
{
	double span = (double)(t1 - t0) / PLOT_N;
	size_t i = 0;

	for (size_t b = 0; b < PLOT_N; b++) {
		double lo = (double)t0 + span * (double)b, hi = lo + span;
		double acc = 0;
		while (i + 1 < n && (double)t[i + 1] <= lo)
			i++;
		for (size_t k = i; k < n && (double)t[k] < hi; k++) {
			double a = (double)t[k] > lo ? (double)t[k] : lo;
			double z = k + 1 < n && (double)t[k + 1] < hi
				       ? (double)t[k + 1]
				       : hi;
			if (z > a)
				acc += (double)v[k] * (z - a);
		}
		out[b] = span > 0 ? acc / span : 0;
	}
}

/* Text with XML's special characters escaped. */
static int
put_xml(FILE *f, const char *s)
{
	for (; *s; s++) {
		const char *e = *s == '<'   ? "&lt;"
				: *s == '>' ? "&gt;"
				: *s == '&' ? "&amp;"
				: *s == '"' ? "&quot;"
					    : NULL;
		if (e ? fputs(e, f) < 0 : fputc(*s, f) == EOF)
			return -1;
	}
	return 0;
}

static int
panel(FILE *f, int y0, const char *title, const double *v, double vmax,
      const char *lab, const char *color)
{
	int rc =
	    fprintf(f,
		    "<text x=\"%d\" y=\"%d\" font-size=\"13\">%s</text>\n"
		    "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
		    "fill=\"none\" stroke=\"#888\"/>\n",
		    LEFT, y0 - 6, title, LEFT, y0, PLOT_W - LEFT - 10, PANEL_H);
	if (rc >= 0)
		rc = fprintf(f,
			     "<text x=\"%d\" y=\"%d\" font-size=\"11\" "
			     "text-anchor=\"end\">%s</text>\n"
			     "<text x=\"%d\" y=\"%d\" font-size=\"11\" "
			     "text-anchor=\"end\">0</text>\n"
			     "<polyline fill=\"none\" stroke=\"%s\" points=\"",
			     LEFT - 4, y0 + 10, lab, LEFT - 4, y0 + PANEL_H,
			     color);
	for (size_t b = 0; b < PLOT_N && rc >= 0; b++) {
		double x = LEFT + (double)(PLOT_W - LEFT - 10) * (double)b /
				      (PLOT_N - 1);
		double y =
		    y0 + PANEL_H - (vmax > 0 ? v[b] / vmax : 0) * PANEL_H;
		rc = fprintf(f, "%s%.1f,%.1f", b ? " " : "", x, y);
	}
	return rc < 0 ? rc : fprintf(f, "\"/>\n");
}

ksched_err
ksched_sim_plot_svg(const ksched_sim_result *r, FILE *f)
{
	double *q = ksched__calloc(2 * PLOT_N, sizeof(*q)), *u = q + PLOT_N;
	double qmax = 0;
	char lab[32];
	int64_t t0 = r->ntl ? r->tl_t[0] : 0;
	int64_t t1 = r->ntl ? r->tl_t[r->ntl - 1] : 1;
	int h = TOP + 2 * PANEL_H + 80, rc;

	if (!q)
		return KSCHED_ENOMEM;
	if (t1 <= t0)
		t1 = t0 + 1;
	bucket(r->tl_t, r->tl_queue, r->ntl, t0, t1, q);
	bucket(r->tl_t, r->tl_busy, r->ntl, t0, t1, u);
	for (size_t b = 0; b < PLOT_N; b++) {
		qmax = q[b] > qmax ? q[b] : qmax;
		u[b] = r->slots > 0 ? u[b] / (double)r->slots : 0;
	}
	rc = fprintf(f,
		     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		     "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
		     "height=\"%d\" font-family=\"sans-serif\">\n"
		     "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
		     "<text x=\"%d\" y=\"16\" font-size=\"14\">ksched-sim: ",
		     PLOT_W, h, LEFT);
	if (rc >= 0)
		rc = put_xml(f, ksched_sim_workload_name(r->w));
	if (rc >= 0)
		rc = fputs(", policy ", f) < 0 ? -1 : put_xml(f, r->policy);
	if (rc >= 0)
		rc = fputs("</text>\n", f) < 0 ? -1 : 0;
	snprintf(lab, sizeof(lab), "%.0f", qmax);
	if (rc >= 0)
		rc = panel(f, TOP + 20, "jobs waiting (mean per interval)", q,
			   qmax, lab, "#c03030");
	if (rc >= 0)
		rc = panel(f, TOP + PANEL_H + 60, "utilization (busy slots)", u,
			   1.0, "100%", "#3060c0");
	if (rc >= 0)
		rc = fprintf(f,
			     "<text x=\"%d\" y=\"%d\" font-size=\"11\">"
			     "%.0f s</text>\n<text x=\"%d\" y=\"%d\" "
			     "font-size=\"11\" text-anchor=\"end\">%.0f s"
			     "</text>\n</svg>\n",
			     LEFT, h - 6, (double)t0 / 1000.0, PLOT_W - 10,
			     h - 6, (double)t1 / 1000.0);
	ksched__free(q);
	return rc < 0 || fflush(f) ? KSCHED_EIO : KSCHED_OK;
}
