/*
 * Seeded generators of valid model objects, for property tests and for the
 * fuzzers' seed corpora. Every object is allocated from `env` like the
 * binder's output, so cara_*_free releases it. Strings are chosen to stress
 * the codecs: YAML look-alikes ("true", "3306", "~", "a: b"), empty
 * strings where the schema allows them, multi-line text and non-ASCII.
 */
#ifndef CARA_TEST_SPEC_GEN_H
#define CARA_TEST_SPEC_GEN_H

#include "spec/spec.h"

/* `size` scales list lengths: 0 gives minimal objects, 3 or more gives
 * objects with most optional parts present. */
cara_project *gen_project(cara_env *env, cara_rng *rng, int size);
cara_project_status *gen_project_status(cara_env *env, cara_rng *rng, int size);
cara_node *gen_node(cara_env *env, cara_rng *rng, int size);
/* Valid cluster settings: names from short to the longest the host rule
 * allows, timers anywhere in their ranges that keep the timer rules. */
cara_settings *gen_settings(cara_env *env, cara_rng *rng);

/* The WordPress project of DESIGN.md §3, built by hand. */
cara_project *gen_wordpress(cara_env *env);

/* A copy of `s` allocated from env (asserts on allocation failure). */
char *gen_strdup(cara_env *env, const char *s);

#endif
