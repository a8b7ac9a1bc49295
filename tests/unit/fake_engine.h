/*
 * A fake Docker engine for unit tests of the reconciler: the few Engine API
 * calls the reconciler makes, answered from memory by libmicrohttpd on a
 * unix socket, in a thread of its own. It exists for what the real engine
 * cannot be made to do on demand: refuse a start the way it does after a
 * restart, lose a subnet race to another agent, or run out of addresses.
 *
 * Objects are kept as the engine's own list entries (JSON). Label filters
 * of list calls are honoured; other filters are ignored.
 */
#ifndef CARA_TEST_FAKE_ENGINE_H
#define CARA_TEST_FAKE_ENGINE_H

#include <stddef.h>

typedef struct fake_engine fake_engine;

/* Starts an engine on a fresh socket; fails the test if it cannot. */
fake_engine *fake_engine_start(void);
void fake_engine_stop(fake_engine *fe);
/* "unix:///tmp/...": for cara_docker_config.host. Borrowed. */
const char *fake_engine_host(const fake_engine *fe);

/* What an engine restart left behind when containerd kept the old tasks:
 * every container now exists stopped (exited), and every start of one of
 * them is refused with HTTP 500 "task ID: already exists" for ever, until
 * it is removed. Containers created afterwards start normally. */
void fake_engine_restart_keeping_stale_tasks(fake_engine *fe);
/* Starts the engine refused so far. */
int fake_engine_starts_refused(fake_engine *fe);

/* A network of someone else's (no labels) with `subnet`. */
void fake_engine_add_foreign_network(fake_engine *fe, const char *name, const char *subnet);
/* The next network creation with a subnet loses a race: a foreign network
 * with that very subnet appears and the create is refused with 403
 * "Pool overlaps with other one on this address space". */
void fake_engine_race_next_network(fake_engine *fe);
/* Network creations refused as overlapping so far. */
int fake_engine_overlaps_refused(fake_engine *fe);
/* The subnet of network `name` into out (cap bytes); 0, or -1 if absent. */
int fake_engine_network_subnet(fake_engine *fe, const char *name, char *out, size_t cap);
/* The id of container `name` into out; 0, or -1 if absent. */
int fake_engine_container_id(fake_engine *fe, const char *name, char *out, size_t cap);
/* Containers held. */
size_t fake_engine_containers(fake_engine *fe);

/* What the engine does with an image reference ("repo:tag"). Every image
 * is PRESENT unless set otherwise. An UNPULLABLE one is not held (inspect
 * answers 404) and every pull of it is refused with HTTP 500 and the
 * engine's words when no registry can be reached; a PULLABLE one is not
 * held until a pull, which succeeds. */
typedef enum { FAKE_IMAGE_PRESENT, FAKE_IMAGE_UNPULLABLE, FAKE_IMAGE_PULLABLE } fake_image_state;
void fake_engine_set_image(fake_engine *fe, const char *image, fake_image_state st);
/* Pulls asked for so far, whatever their outcome. */
int fake_engine_pulls(fake_engine *fe);

#endif
