/*
 * The version of this build, as `cara-agent --version` and
 * `caravanctl --version` print it and as every node publishes it in its
 * node record (`agentVersion`). A release build may set it from outside
 * (make CFLAGS=-DCARA_VERSION=\"0.2.0-rc1\"); it must stay within
 * CARA_NODE_VERSION_BYTES_MAX of [0-9A-Za-z.+_-].
 */
#ifndef CARA_BASE_VERSION_H
#define CARA_BASE_VERSION_H

#ifndef CARA_VERSION
#define CARA_VERSION "0.1.0"
#endif

#endif
