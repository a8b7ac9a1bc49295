/*
 * The Docker objects a Project becomes (DESIGN.md §3): network
 * `cara-{project}`, volumes `cara-{project}-{volume}`, containers
 * `{project}-{service}`, each labelled with the project, service, owning
 * node and a spec hash, so that reconciliation can be stateless and several
 * agents can share one engine without touching each other's objects.
 *
 * Pure functions from the model to Engine API request bodies (jansson
 * values, returned as new references) and names.
 */
#ifndef CARA_AGENT_OBJECTS_H
#define CARA_AGENT_OBJECTS_H

#include <jansson.h>

#include "spec/spec.h"

#define CARA_LABEL_MANAGED "io.caravanserai.managed"
#define CARA_LABEL_PROJECT "io.caravanserai.project"
#define CARA_LABEL_SERVICE "io.caravanserai.service"
#define CARA_LABEL_VOLUME "io.caravanserai.volume"
#define CARA_LABEL_NODE "io.caravanserai.node"
#define CARA_LABEL_SPEC_HASH "io.caravanserai.spec-hash"

/* Longest object name: "cara-" + project + "-" + volume. */
#define CARA_OBJECT_NAME_BYTES_MAX (5 + CARA_NAME_BYTES_MAX + 1 + CARA_NAME_BYTES_MAX)

/* Each writes a NUL-terminated name into out[CARA_OBJECT_NAME_BYTES_MAX + 1]. */
void cara_obj_network_name(const cara_project *p, char *out);
void cara_obj_volume_name(const cara_project *p, const cara_volume *v, char *out);
void cara_obj_container_name(const cara_project *p, const cara_service *s, char *out);

/* Body of POST /networks/create for the project's network. With `subnet`
 * ("10.214.3.0/25") and `gateway` (borrowed), the engine is told the
 * addresses (IPAM); with NULL it picks from its own default pools. */
json_t *cara_obj_network_body(const cara_project *p, const char *node, const char *subnet,
                              const char *gateway);
/* Body of POST /volumes/create for one of its volumes. */
json_t *cara_obj_volume_body(const cara_project *p, const cara_volume *v, const char *node);
/* Body of POST /containers/create?name=... for one service. `spec_hash` is
 * the hex digest that identifies this service's spec (borrowed). */
json_t *cara_obj_container_body(const cara_project *p, const cara_service *s, const char *node,
                                const char *spec_hash);

#endif
