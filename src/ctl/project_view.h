/*
 * Reading a project's JSON (as the API gives it) for display: its age, a
 * service summary, the reason it failed. Tolerates absent fields: the
 * status grows over time (status.services is newer than the rest).
 */
#ifndef CARA_CTL_PROJECT_VIEW_H
#define CARA_CTL_PROJECT_VIEW_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* The API gives no creation time; the age shown is that of the oldest
 * condition transition or event the node remembers. */
void ctl_project_age(const json_t *p, int64_t now_wall_ms, char *out, size_t cap);

/* "READY/TOTAL" when status.services exists (ready: Running or Completed),
 * else the number of services in the spec. */
void ctl_project_services(const json_t *p, char *out, size_t cap);

/* The condition of `type` in status.conditions, or NULL. */
const json_t *ctl_condition(const json_t *p, const char *type);

/* Why the project is Failed: the Phase condition's message, else the
 * newest Warning event's message, else its reason. */
const char *ctl_project_failure(const json_t *p);

/* True when a service state counts as ready. */
bool ctl_service_ready(const char *state);

#endif
