/*
 * Error codes. Every fallible function returns 0 or one negative CARA_E*
 * value; results go out through pointers. The list is written once, below,
 * and generates both the enum and cara_strerror(), so a code can never lack
 * its text (libuv's uv-errno.h does the same).
 */
#ifndef CARA_BASE_ERROR_H
#define CARA_BASE_ERROR_H

#define CARA_ERROR_LIST(X)                                                   \
    X(INVAL, "invalid argument")                                             \
    X(NOMEM, "out of memory")                                                \
    X(TOOBIG, "too large")                                                   \
    X(PARSE, "malformed input")                                              \
    X(SCHEMA, "input does not match the schema")                             \
    X(NONCANON, "encoding is not canonical")                                 \
    X(IO, "input/output error")                                              \
    X(NOENT, "not found")                                                    \
    X(EXIST, "already exists")                                               \
    X(PERM, "permission denied")                                             \
    X(BADSIG, "bad signature")                                               \
    X(UNTRUSTED, "unknown or untrusted key")                                  \
    X(STALE, "older than what is held")                                      \
    X(FUTURE, "timestamp too far in the future")                             \
    X(REPLAY, "replayed message")                                            \
    X(LIMIT, "a configured limit was reached")                               \
    X(AGAIN, "try again")                                                    \
    X(TIMEOUT, "timed out")                                                  \
    X(UNSUPPORTED, "not supported")                                          \
    X(WRONGAUTHOR, "signed by a key that may not write this record")          \
    X(NOTADMITTED, "node is not admitted to the cluster")                     \
    X(COLLECTED, "record is older than a collected tombstone")                \
    X(EXPIRED, "join token expired")                                         \
    X(USEDUP, "join token already used by as many nodes as it allows")

enum cara_error {
    CARA_OK = 0,
#define CARA_ERROR_ENUM_(name, text) CARA_E##name,
    CARA_ERROR_FIRST_ = -1000,
    CARA_ERROR_LIST(CARA_ERROR_ENUM_)
#undef CARA_ERROR_ENUM_
    CARA_ERROR_END_
};

/* Returns a static, never-NULL description of `code` (0 or a CARA_E*). */
const char *cara_strerror(int code);

/* Returns the symbolic name, e.g. "CARA_EPARSE", or "CARA_E?" if unknown. */
const char *cara_errname(int code);

#endif
