/*
 * The API calls that several caravanctl commands share: reading projects,
 * signing records and sending them (docs/api.md, docs/crdt.md).
 */
#ifndef CARA_CTL_API_H
#define CARA_CTL_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctl/http_client.h"

/* A project or node name as the record envelope allows it: 1..128 bytes of
 * [A-Za-z0-9._-]. Anything else cannot exist, and must not reach a URL. */
bool ctl_name_valid(const char *name);

/* GETs `target` and parses the JSON answer into *out (owned). A 404 gives
 * 0 and *out == NULL when `allow_404`; any other failure is printed and
 * gives CTL_EXIT_FAIL. */
int ctl_api_get(ctl_client *c, const char *target, bool allow_404, json_t **out);

/* GET /v1/projects/NAME; *out is NULL when there is no such project. */
int ctl_api_project(ctl_client *c, const char *name, json_t **out);

/* metadata.generation of a project's JSON (0 when absent). */
uint64_t ctl_project_generation(const json_t *project);

/* Signs a record with the operator key, stamped now (hlc = wall ms << 16),
 * and wraps it as the body {"record": BASE64}. *body_out is owned (free()).
 * Returns 0 or prints and returns CTL_EXIT_FAIL. */
int ctl_record_body(ctl_client *c, int kind, const char *key, uint64_t generation,
                    const uint8_t *value, size_t value_len, char **body_out);

/* Sends a record body with `method` to `target`; on a 2xx answer puts the
 * parsed JSON in *reply (owned) and *status_out (may be NULL); otherwise
 * prints the error and returns CTL_EXIT_FAIL; an answer with status
 * `quiet_status` (0: none) is not printed, and its JSON body is put in
 * *reply, for a caller that handles it. */
int ctl_api_send(ctl_client *c, const char *method, const char *target, const char *body,
                 long quiet_status, json_t **reply, long *status_out);

/* After a PUT or DELETE: 0 when the agent reports the record on as many
 * nodes as wanted; otherwise prints how many hold it and returns
 * CTL_EXIT_FAIL (the record still spreads). */
int ctl_check_durable(const json_t *reply, const char *what);

/* Nested lookups that tolerate absence: ctl_jstr(j, "status", "phase", NULL). */
const char *ctl_jstr(const json_t *j, ...);
json_t *ctl_jget(const json_t *j, ...);

/* Parses "90s", "5m", "1h", "500ms" or a bare number of seconds into
 * milliseconds. Returns 0 or -1. */
int ctl_parse_duration(const char *text, int64_t *ms_out);

#endif
