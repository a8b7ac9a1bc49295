/*
 * The base module: errors, assertions, limits, the injected environment,
 * bounded buffers, RFC 3339 time and the msgpack pre-scan. Everything else
 * in Caravanserai depends on it; it depends on nothing but libc.
 */
#ifndef CARA_BASE_H
#define CARA_BASE_H

#include "base/assert.h"
#include "base/buf.h"
#include "base/env.h"
#include "base/error.h"
#include "base/limits.h"
#include "base/mpcheck.h"
#include "base/slotidx.h"
#include "base/time.h"
#include "base/version.h"

#endif
