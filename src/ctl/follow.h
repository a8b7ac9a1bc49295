/*
 * Following a project until it settles, for `apply --wait` and
 * `delete --wait`, printing a line whenever its phase, a condition or a
 * service changes.
 */
#ifndef CARA_CTL_FOLLOW_H
#define CARA_CTL_FOLLOW_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctl/http_client.h"

/* Follows GET /v1/watch?project=NAME until project `name` is Running (returns 0) or
 * Failed (prints the reason, returns CTL_EXIT_FAIL), or until
 * `deadline_mono_ms` (prints, returns CTL_EXIT_FAIL). A broken stream is
 * opened again until the deadline. */
/* `generation`: the spec generation just applied; a status the owner wrote
 * about an older spec (status.observedGeneration below it) decides nothing. */
int ctl_follow_until_running(ctl_client *c, const char *name, uint64_t generation,
                             uint64_t deadline_mono_ms);

/* Polls GET /v1/projects/NAME until it answers 404 or the phase is
 * Terminated (0), or until the deadline (CTL_EXIT_FAIL). */
int ctl_follow_until_gone(ctl_client *c, const char *name, uint64_t deadline_mono_ms);

/* Splits a byte stream into lines for a callback; a line longer than
 * CTL_WATCH_LINE_BYTES_MAX is an error. */
typedef struct ctl_lines {
    cara_buf pending;
    int (*fn)(void *ctx, char *line, size_t len); /* nonzero stops */
    void *ctx;
    bool too_long;
} ctl_lines;

void ctl_lines_init(ctl_lines *l, cara_env *env, int (*fn)(void *, char *, size_t), void *ctx);
/* A ctl_stream_fn: pass the ctl_lines as ctx. */
int ctl_lines_feed(void *lines, const char *data, size_t len);
void ctl_lines_free(ctl_lines *l);

/* `watch` and `get -w`: prints each change of the objects chosen, one
 * line each (`rows`: a table row under a header, as `get -w`; else an
 * event line, as `watch`), or the API's event lines unchanged (`raw`).
 * A change that would print the same line again is left out. Runs until
 * `timeout_ms` (0: none; exit 0) or the peer closes the stream (exit 1). */
typedef struct ctl_watch {
    const char *kind; /* "Project", "Node" or NULL for both */
    const char *name; /* only this object, or NULL */
    bool raw, rows;
    bool header_done;
    json_t *seen;     /* "kind/name" -> the line last printed */
} ctl_watch;

int ctl_watch_run(ctl_ctx *ctx, ctl_watch *w, int64_t timeout_ms);

#endif
