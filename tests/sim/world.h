/*
 * cara-sim's world (docs/sim.md): a scenario (scenario.c) run on simnet
 * with an operator who applies, updates and deletes specs through random
 * nodes, nodes that join and leave, a hostile admitted node (hostile.c),
 * nemeses in fault phases then a liveness phase (nemesis.c, world.c), and
 * invariant checkers that watch it all (checks.c). report.c turns what
 * they measured into the JSON summary, the trace and the plot.
 *
 * Everything here is deterministic: every decision draws from generators
 * seeded by the scenario's seed, in an order that depends on nothing else.
 * The real clock is read only by cara_sim.c, for the speed-up, which is
 * never part of the trace.
 */
#ifndef CARA_SIM_WORLD_H
#define CARA_SIM_WORLD_H

#include <stdio.h>

#include "simnet.h"

/* ---- The scenario (scenario.c) ------------------------------------------------- */

enum nemesis_kind {
    NEM_ISOLATE = 0, /* one node cut off from all */
    NEM_SPLIT,       /* a minority cut from the majority */
    NEM_BRIDGE,      /* two halves that only one node sees both of */
    NEM_RING,        /* each node sees its neighbours on a ring: a majority, never the same */
    NEM_HALVES,      /* random halves */
    NEM_ONEWAY,      /* a minority that cannot send to the rest, but hears it */
    NEM_FLAP,        /* links that go down and up every few hundred ms */
    NEM_SKEW,        /* wall clocks set off and drifting */
    NEM_JUMP,        /* wall clocks stepped forwards and back */
    NEM_PAUSE,       /* nodes not driven (a stopped process, a long GC) */
    NEM_KILL,        /* nodes crashed, restarted from their disks at the end */
    NEM_RESTART_ALL, /* every node crashed at once and restarted */
    NEM_CHAOS,       /* loss, duplication, reordering and latency spikes on every link */
    NEM_COUNT_
};
const char *nemesis_name(int kind);
int nemesis_of(const char *name); /* -1: unknown */

/* A link override of the scenario: links from every node of `from` to
 * every node of `to` (and back when both_ways) take `link`. */
#define NODE_SET_RANGES_MAX 32

typedef struct node_set {
    struct {
        size_t lo, hi; /* inclusive; "all" is 0 .. SIZE_MAX */
    } ranges[NODE_SET_RANGES_MAX];
    size_t count;
} node_set;

bool node_set_has(const node_set *ns, size_t i);

typedef struct link_rule {
    node_set from, to;
    bool both_ways;
    bool after_boot, after_boot_set; /* applied once the cluster formed (default: when down) */
    sim_link_cfg link;
} link_rule;

#define SCENARIO_LINK_RULES_MAX 32

typedef struct scenario {
    size_t nodes, spare;     /* members at boot; slots for later joins */
    uint64_t seed;
    uint64_t duration_ms;    /* the fault phase */
    sim_link_cfg link;
    link_rule rules[SCENARIO_LINK_RULES_MAX];
    size_t rules_count;
    sim_store_cfg store;
    cara_gossip_cfg gossip;
    uint32_t nemeses;        /* bit per enum nemesis_kind */
    uint64_t hold_min_ms, hold_max_ms, quiet_min_ms, quiet_max_ms, settle_ms;
    uint32_t overlap;        /* faults at once; partitions never overlap */
    int64_t skew_ms_max, jump_ms_max;
    int32_t drift_ppm_max;
    uint64_t op_interval_ms; /* 0: no operator */
    uint32_t op_holders;
    uint32_t value_bytes_min, value_bytes_max;
    uint32_t mix_apply, mix_update, mix_delete;
    uint32_t services_min, services_max; /* per spec */
    uint32_t pinned_ppm;     /* specs with a node selector (a zone) */
    uint32_t unfit_ppm;      /* specs that fit no node (they stay Pending) */
    uint32_t expire_ppm;     /* specs with an expireAt ... */
    uint64_t expire_after_min_ms, expire_after_max_ms; /* ... this far ahead */
    sim_runtime_cfg runtime;
    bool two_copies_enforced; /* a second running copy is a violation, not only counted */
    bool fencing_off;         /* the node objects never fence (cara_core_cfg.fencing_disabled) */
    bool agreement_all_live;  /* scheduler agreement over every live node, not the converged ones */
    int64_t rendezvous_bound; /* -1: the binomial bound of docs/sim.md; else a fixed one */
    uint64_t join_interval_ms, leave_interval_ms; /* 0: none */
    size_t hostile_count;
    uint64_t hostile_interval_ms;
    bool operator_key_leaked;
    uint64_t liveness_bound_ms; /* 0: the formula of docs/sim.md */
    uint64_t sample_ms;
    uint64_t boot_bound_ms;
} scenario;

/* Defaults (docs/sim.md, "Scenario files"). */
void scenario_defaults(scenario *sc);
/* Loads a YAML scenario over the defaults. Returns 0, or CARA_EPARSE with
 * a sentence in err. */
int scenario_load(scenario *sc, const char *path, char *err, size_t err_bytes);
/* "all" or a comma-separated list of names. 0 or CARA_EPARSE. */
int scenario_set_nemeses(scenario *sc, const char *list, char *err, size_t err_bytes);
/* "500ms", "30s", "10m", "2h" or a bare number of milliseconds. */
int parse_duration_ms(const char *text, uint64_t *out);
/* The liveness bound the scenario states or the formula's. */
uint64_t scenario_liveness_bound_ms(const scenario *sc);
size_t scenario_nodes_total(const scenario *sc);

/* ---- The world ------------------------------------------------------------------- */

enum role { ROLE_SPARE = 0, ROLE_MEMBER, ROLE_LEFT };
enum phase { PHASE_BOOT = 0, PHASE_FAULTS, PHASE_LIVENESS, PHASE_DONE };

enum checker {
    CHECK_RECORD_VERIFIES = 0, /* every stored record verifies */
    CHECK_GENUINE_ONLY,        /* nothing forged, altered or unadmitted is accepted */
    CHECK_CONVERGENCE,         /* live nodes converge within the bound after the heal */
    CHECK_MEMBERSHIP,          /* membership views agree within the bound after the heal */
    CHECK_ACKED_DURABLE,       /* no acknowledged spec is lost */
    CHECK_SCHEDULER_AGREEMENT, /* converged nodes agree on each project's scheduler and placement */
    CHECK_TWO_COPIES,          /* no two runtimes run the same project at once */
    CHECK_LIVENESS,            /* after the heal, live projects run once, gone ones nowhere */
    CHECK_RENDEZVOUS,          /* a join or leave moves about 1/N of the schedulers */
    CHECK_COUNT_
};
const char *checker_name(int checker);

typedef struct violation {
    int checker;
    uint64_t at_ms;
    char what[256];
} violation;

#define VIOLATIONS_KEPT_MAX 64

/* A fault in progress (nemesis.c). */
typedef struct fault {
    int kind;
    uint64_t start_ms, end_ms, next_ms; /* next_ms: its own timer (flaps, jumps) */
    size_t *nodes;
    size_t nodes_count;
    char what[160];
} fault;

#define FAULTS_ACTIVE_MAX 8

/* One span of the timeline the plot draws. */
typedef struct span {
    int kind;          /* nemesis kind, or -1 for a phase */
    uint64_t start_ms, end_ms;
    char label[48];
} span;

/* One sample of the convergence curve. */
typedef struct sample {
    uint64_t at_ms;
    uint32_t live, agreeing, views_agreeing, states;
    uint32_t writes_held_ppm; /* the operator's latest writes the live nodes hold, on average */
} sample;

/* What was drawn for one spec (workload.c). */
typedef struct workload_traits {
    uint32_t services;
    bool pinned, unfit;
    uint32_t zone;
    int64_t expire_at_wall_ms; /* 0: none */
} workload_traits;

/* What the operator did to one project key. */
typedef struct op_key {
    char name[16];
    uint64_t gen_issued, gen_acked;
    uint64_t acked_at_ms;
    bool deleted;
    workload_traits traits; /* of the latest generation issued */
    uint32_t copies;        /* runtimes running it now */
    uint64_t down_since_ms; /* its last copy stopped then (SIM_NEVER: not down) */
} op_key;

/* A publication waiting for its acknowledgement or its spread. */
typedef struct pending_write {
    size_t key;
    uint64_t gen, at_ms;
    size_t node;
    uint32_t life;
    uint8_t id[CARA_CRDT_ID_BYTES];
    uint64_t hlc;
    bool acked;
    bool spread;      /* every live node holds it (or newer) */
    uint8_t *holders; /* n bytes */
    uint32_t holders_count;
} pending_write;

typedef struct detection {
    size_t node;
    uint32_t life;
    uint64_t crashed_ms;
} detection;

/* A growable array of uint64 samples (percentiles). */
typedef struct series {
    uint64_t *v;
    size_t count, cap;
} series;

typedef struct world world;

typedef struct hostile hostile; /* hostile.c */

/* A joining node is given this many seeds, as an operator lists a few
 * --join addresses: the node that holds its admission first, and others
 * that will once it spreads. */
#define JOIN_SEEDS 3

struct world {
    scenario sc;
    sim *s;
    cara_env *env;
    size_t n;                /* slots: members at boot + spare */
    cara_rng rng;            /* the world's decisions */
    uint8_t *role;           /* enum role per slot */
    uint8_t *killed;         /* crashed by a nemesis, to restart */
    uint8_t *is_hostile;
    uint64_t *up_since_ms;   /* for bytes per node-second */
    size_t (*seeds)[JOIN_SEEDS]; /* per slot: the nodes it joins through (SIZE_MAX: none) */
    uint64_t up_ms_total;
    size_t spare_next;
    size_t live_cached;      /* live members, as of the last crash, start or sample */
    int phase;
    uint64_t phase_start_ms, faults_end_ms, liveness_start_ms;
    uint64_t boot_ms;
    /* Actors' next times. */
    uint64_t next_fault_ms, next_op_ms, next_join_ms, next_leave_ms, next_hostile_ms,
        next_sample_ms;
    fault faults[FAULTS_ACTIVE_MAX];
    size_t faults_count;
    uint32_t fault_counts[NEM_COUNT_];
    /* Leaves in progress: a node told the others, and stops a little later. */
    size_t leaving[16];
    uint64_t leaving_stop_ms[16];
    size_t leaving_count;
    /* The operator's ledger. */
    op_key *keys;
    size_t keys_count, keys_cap;
    uint8_t (*issued)[16];   /* BLAKE2b-128 of every envelope an operator signed (a set) */
    size_t issued_cap, issued_count;
    uint8_t *ever_admitted;  /* per slot: the operator admitted it once */
    pending_write *writes;
    size_t writes_count, writes_cap;
    uint64_t applies, updates, deletes, acked, writes_spread, writes_lost_unspread;
    uint64_t joins, leaves;
    uint64_t expiring;        /* specs written with an expireAt */
    /* The runtimes, seen through their tap. */
    uint64_t copies_started, copies_stopped, two_copy_instants;
    uint32_t copies_max;      /* the most copies of one project running at once */
    series recovery_ms;       /* from a project's last copy stopping to one running again */
    /* What the end of the liveness phase found (checks_projects). */
    uint64_t end_running, end_pending, end_terminated, end_stranded, end_orphans,
        end_shown_scheduled, end_unfit_running, end_gone_shown_scheduled, end_expiry_near;
    uint64_t rdv_projects, rdv_nodes, rdv_changed_max, rdv_bound;
    /* Checkers and measures. */
    violation violations[VIOLATIONS_KEPT_MAX];
    size_t violations_count;
    uint64_t violations_total;
    uint32_t violations_by_checker[CHECK_COUNT_];
    series spread_ms, detect_ms;
    detection *detections;
    size_t detections_count, detections_cap;
    uint64_t undetected, false_suspicions, suspicions;
    uint32_t *susp_inc;      /* per slot: 1 + the incarnation last counted as falsely suspected */
    uint64_t liveness_converged_ms, liveness_agreed_ms; /* SIM_NEVER: not reached */
    uint64_t liveness_bound_ms;
    sample *samples;
    size_t samples_count, samples_cap;
    span *spans;
    size_t spans_count, spans_cap;
    hostile *h;
    FILE *trace;             /* borrowed; NULL: no trace file */
    /* Called as each phase starts (PHASE_DONE: at the end), for the
     * command line to time them with the real clock; may be NULL. */
    void (*on_phase)(void *ctx, int phase);
    void *phase_ctx;
    bool verbose;
};

/* Makes a world for `sc` (taken: freed with the world). 0 or an error. */
int world_new(world **out, scenario *sc, cara_env *env, FILE *trace);
void world_free(world *w);
/* Runs boot, the fault phase and the liveness phase. */
void world_run(world *w);

/* Helpers shared by the world's files. */
void world_log(world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A line for the trace file only: what the trace hash covers already (the
 * nodes' own events), so that asking for a trace changes no hash. */
void world_trace(world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void world_violation(world *w, int checker, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool world_live(const world *w, size_t i); /* a member that is up */
size_t world_pick_live(world *w, bool allow_hostile); /* SIZE_MAX: none */
void world_span_open(world *w, int kind, const char *label);
void world_span_close(world *w, int kind, const char *label);
void world_crash(world *w, size_t i);
int world_restart(world *w, size_t i);
void series_add(series *s, cara_env *env, uint64_t v);
uint64_t series_pct(series *s, double p); /* sorts in place */

/* The nemeses (nemesis.c). */
void nemesis_start(world *w, int kind, uint64_t hold_ms);
void nemesis_step(world *w, fault *f); /* its own timer fired */
void nemesis_stop(world *w, fault *f);
bool nemesis_partitions(int kind);

/* The operator (world.c) and the ledger the checkers read. */
void ledger_issue(world *w, const uint8_t *envelope, size_t len);
bool ledger_issued(const world *w, const uint8_t *envelope, size_t len);

/* The checkers (checks.c). */
void checks_install(world *w);
void checks_on_crash(world *w, size_t i);
/* A node stopped on purpose (it left): nobody is to detect its death. */
void checks_forget_crash(world *w, size_t i);
void checks_sample(world *w);
bool checks_converged(world *w, uint32_t *states);
bool checks_views_agree(world *w, uint32_t *agreeing);
void checks_final(world *w);
void checks_write_published(world *w, pending_write *pw);
/* The runtimes' tap (sim_taps.on_runtime): counts copies, measures
 * recoveries, and checks two_copies at every start. */
void checks_runtime_tap(void *ctx, sim *s, int node, const char *project, uint64_t generation,
                        bool running);
/* The operator's key of that name, or NULL. */
op_key *world_key_by_name(world *w, const uint8_t *key, size_t len);
/* True when no live node's runtime or object has work in flight. */
bool checks_runtimes_settled(world *w);
/* At the end of the liveness phase: scheduler agreement, liveness of
 * every project, rendezvous stability. */
void checks_projects(world *w);

/* The operator's specs (workload.c): draws traits (an update keeps the
 * fit of `prev`; NULL: a new project), encodes a spec for `name` into
 * out. 0 or the encoder's error. */
int workload_spec(world *w, cara_rng *rng, const char *name, int64_t now_wall_ms,
                  const workload_traits *prev, workload_traits *t, cara_buf *out);

/* The hostile node (hostile.c). */
int hostile_new(world *w);
void hostile_free(world *w);
void hostile_act(world *w);
bool hostile_tap_datagram(world *w, int from, int to, const uint8_t *b, size_t len);
void hostile_tap_change(world *w, int node, const cara_crdt_change *c);
void hostile_summary(world *w, void *json_object); /* a json_t * */

#endif
