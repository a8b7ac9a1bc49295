/*
 * The JSON summary and the SVG plot of a run (report.c).
 */
#ifndef CARA_SIM_REPORT_H
#define CARA_SIM_REPORT_H

#include <jansson.h>

#include "world.h"

/* What only the command line knows: the real time a run took and the
 * memory it held (never part of the trace). */
typedef struct report_extra {
    uint64_t simulated_ms;
    double wall_s;
    double boot_wall_s;       /* of which the boot (admissions, objects) */
    size_t rss_peak_bytes;
    size_t harness_bytes;
} report_extra;

/* A new JSON object (json_decref it). */
json_t *report_summary(world *w, const report_extra *x);
/* Writes the plot; 0 or CARA_EINVAL (cannot write `path`). */
int report_plot(world *w, const char *path);

#endif
