/*
 * Every cap in Caravanserai, in one place, each with its reason (curl keeps
 * its limits the same way). Reaching a cap is an error or an eviction by a
 * written rule, never silent growth. Related caps are tied together with
 * _Static_assert so that changing one cannot quietly break another.
 */
#ifndef CARA_BASE_LIMITS_H
#define CARA_BASE_LIMITS_H

/* ---- Names -------------------------------------------------------------- */

/* RFC 1123 label: what Docker, Kubernetes and DNS accept as one label. */
#define CARA_NAME_BYTES_MAX 63
/* RFC 1035: a full domain name in text form, without the trailing dot. */
#define CARA_HOSTNAME_BYTES_MAX 253
/* Docker's reference grammar has no hard cap; 255 matches a repository name
 * (distribution/reference) plus a tag, and keeps a spec small. */
#define CARA_IMAGE_BYTES_MAX 255
/* Label keys follow Kubernetes: optional DNS prefix (253) + "/" + name (63). */
#define CARA_LABEL_KEY_BYTES_MAX 317
#define CARA_LABEL_VALUE_BYTES_MAX 63
#define CARA_LABELS_COUNT_MAX 64

/* ---- Project spec ------------------------------------------------------- */

/* A project is placed on one node as a whole; more services than this is a
 * sign that it should be split. */
#define CARA_SERVICES_COUNT_MAX 64
#define CARA_VOLUMES_COUNT_MAX 64
#define CARA_INGRESS_COUNT_MAX 64
#define CARA_ENV_COUNT_MAX 256
/* Environment variable names: POSIX allows anything but '=' and NUL, and
 * Java-style names ("spring.profiles.active") are common, so we require
 * printable ASCII without '=' and cap it like a long name. */
#define CARA_ENV_NAME_BYTES_MAX 255
/* A value may hold a certificate or a small config file. */
#define CARA_ENV_VALUE_BYTES_MAX 32768
#define CARA_MOUNTS_COUNT_MAX 64
/* Linux PATH_MAX is 4096; a container path this long is a mistake. */
#define CARA_PATH_BYTES_MAX 1024
#define CARA_PORTS_COUNT_MAX 64
#define CARA_ARGS_COUNT_MAX 256
#define CARA_ARG_BYTES_MAX 4096
#define CARA_NODE_SELECTOR_COUNT_MAX 16
/* Health check timings, in seconds: a day is beyond any sensible probe. */
#define CARA_HEALTH_SECONDS_MAX 86400
#define CARA_HEALTH_RETRIES_MAX 100
/* Resource quantities: no single machine has more than 4096 cores or
 * 1 PiB of memory; larger numbers are typos (a missing "m" or "Mi"). */
#define CARA_CPU_MILLIS_MAX (4096ULL * 1000)
#define CARA_MEMORY_BYTES_MAX (1ULL << 50)
/* The encoded spec travels as one record over gossip's TCP path and is
 * stored as one SQLite row: 256 KiB leaves room for large env values while
 * keeping a 10,000-project cluster's state near a few hundred MiB at worst. */
#define CARA_SPEC_BYTES_MAX (256 * 1024)

/* ---- Status and nodes --------------------------------------------------- */

#define CARA_CONDITIONS_COUNT_MAX 32
#define CARA_REASON_BYTES_MAX 128
#define CARA_MESSAGE_BYTES_MAX 1024
/* Restarts counted for one service: almost two years of a crash loop at
 * the one-minute back-off cap, or eleven days at one restart a second. A
 * bigger number is corruption rather than history. */
#define CARA_SVC_RESTARTS_MAX 1000000
/* A status holds at most 32 conditions and one entry per service (64), each
 * string at its cap: about 115 KiB in the worst case (checked below), so
 * that an agent can always publish the status of a valid project. */
#define CARA_STATUS_BYTES_MAX (128 * 1024)
#define CARA_NODE_ADDRS_COUNT_MAX 8
/* "255.255.255.255" or a full IPv6 text form with zone: INET6_ADDRSTRLEN. */
#define CARA_ADDR_BYTES_MAX 46
/* A node record with every list at its cap (32 conditions with 1 KiB
 * messages, 64 labels with 317-byte keys, 8 addresses) is about 67 KiB; the
 * _Static_assert below keeps the cap above that worst case. */
#define CARA_NODE_BYTES_MAX (96 * 1024)
/* A node's gossip address, "host:port": a DNS name at its cap (or a
 * bracketed IPv6 address, 47 bytes), a colon and five port digits. The
 * node's API address (apiAddress) has the same syntax and cap. */
#define CARA_NODE_GOSSIP_ADDR_BYTES_MAX (CARA_HOSTNAME_BYTES_MAX + 6)
/* The agent's version string ("0.1.0", "0.1.0-12-gabcdef1+dirty"): a
 * semantic version with git-describe and build suffixes fits in 64. */
#define CARA_NODE_VERSION_BYTES_MAX 64
/* A node republishes its record when what it says changed (a pressure
 * condition flipped, the engine stopped answering, capacity moved), but at
 * most once per this interval: each record is signed, stored by every
 * replica and gossiped to all of them, so a value that flaps every second
 * on one node must not cost the whole cluster a write a second. Ten
 * seconds is also how often kubelet's eviction manager looks at memory and
 * disk (its housekeeping interval), so a flip is seen about as soon as a
 * kubelet would act on it. A refutation (docs/crdt.md) is not held back. */
#define CARA_NODE_REPUBLISH_MS_MIN (10 * 1000)
/* Pressure thresholds, kubelet's hard eviction defaults: memory.available
 * < 100Mi and nodefs.available < 10 % (the agent's data dir's filesystem).
 * Both can be changed per node (cara-agent --memory-available-min,
 * --disk-available-min). */
#define CARA_NODE_MEMORY_AVAILABLE_MIN_DEFAULT (100ULL << 20)
#define CARA_NODE_DISK_AVAILABLE_PERCENT_MIN_DEFAULT 10
/* How often the agent asks its engine whether it answers (GET /_ping), and
 * how long an unanswered ping may be outstanding before the engine counts
 * as unreachable: three missed periods, so one slow answer under load
 * (a busy engine can take a second or two) does not flip the condition. */
#define CARA_NODE_ENGINE_PING_MS 5000
#define CARA_NODE_ENGINE_PING_TIMEOUT_MS 15000
/* DockerReachable turns False only once the engine has failed this many
 * answers in a row (pings or /info) over at least this long, kubelet's way
 * with node conditions: a condition must hold before it is reported. A
 * single failed ping (the engine busy for a moment on a shared host) then
 * changes nothing, where it cost a signed node record, spread to every
 * member, and another one when the engine answered again. A success
 * turns it True at once. docs/agent.md, "Node health". */
#define CARA_NODE_ENGINE_FAILS_MIN 2
#define CARA_NODE_ENGINE_DOWN_MS_MIN 10000

/* ---- Cluster settings (docs/manifest.md, "Cluster settings") ------------ */

/* Fence timeout: a node cut off from a majority stops its projects after
 * this long. Below 5 s a gossip hiccup of a few lost rounds would stop
 * every project on a healthy node; past an hour a partitioned node keeps
 * serving stale work for longer than anyone would wait for a reschedule. */
#define CARA_SETTINGS_FENCE_SECONDS_MIN 5
#define CARA_SETTINGS_FENCE_SECONDS_MAX 3600
/* Reschedule grace: a project on a NotReady node moves after this long.
 * It must exceed the fence timeout by more than the clock skew (checked by
 * validation), so its range starts above the fence's minimum; a day is the
 * longest an operator would leave a project down on purpose. */
#define CARA_SETTINGS_GRACE_SECONDS_MIN 10
#define CARA_SETTINGS_GRACE_SECONDS_MAX 86400
/* Terminating timeout: a Terminating project on a dead node is forced to
 * Terminated after this long. At least the engine's stop grace (10 s by
 * default) so a live owner can finish; at most a day, like the grace. */
#define CARA_SETTINGS_TERMINATING_SECONDS_MIN 10
#define CARA_SETTINGS_TERMINATING_SECONDS_MAX 86400
/* Tombstone horizon: a replica offline longer than this must resync
 * (docs/crdt.md, "Tombstones"), so an hour is the shortest that survives a
 * reboot or an upgrade; 90 days bounds how long deleted names keep tombstones. */
#define CARA_SETTINGS_HORIZON_SECONDS_MIN 3600
#define CARA_SETTINGS_HORIZON_SECONDS_MAX (90 * 86400)
/* Clock skew bound between any two nodes' wall clocks. At least a second
 * (NTP keeps clocks within milliseconds, but a bound of 0 would refuse
 * every record stamped by a peer a hair ahead); at most ten minutes, past
 * which the clocks are broken rather than skewed. */
#define CARA_SETTINGS_SKEW_SECONDS_MIN 1
#define CARA_SETTINGS_SKEW_SECONDS_MAX 600
/* The encoded settings: two names (63 + 253 bytes), five integers and the
 * field names are about 450 bytes; 1 KiB leaves room for later fields. */
#define CARA_SETTINGS_BYTES_MAX 1024

/* ---- Manifest files ----------------------------------------------------- */

/* A manifest bigger than this is not a hand-written file. */
#define CARA_MANIFEST_BYTES_MAX (4 * 1024 * 1024)
#define CARA_MANIFEST_DOCS_MAX 256
/* Nodes of one parsed document (scalars, maps, sequences): bounds memory
 * against pathological input such as alias expansion. */
#define CARA_DOC_NODES_MAX 200000
/* Distinct YAML anchors in one document: hand-written manifests use a few
 * to share env lists; the cap keeps the linear alias lookup cheap. */
#define CARA_DOC_ANCHORS_MAX 256
/* Nesting of YAML/JSON collections; a Project needs 6. */
#define CARA_DOC_DEPTH_MAX 32
/* One scalar: the largest field is an env value. */
#define CARA_DOC_SCALAR_BYTES_MAX CARA_ENV_VALUE_BYTES_MAX
/* Errors reported for one file before "too many errors" ends the list. */
#define CARA_ERRORS_COUNT_MAX 100
#define CARA_ERROR_BYTES_MAX 512

/* ---- Msgpack decoding of untrusted bytes --------------------------------- */

/* msgpack-c allocates count×24 bytes for a container header before any
 * element is read, and gives up past 32 levels (MSGPACK_EMBED_STACK_SIZE);
 * our pre-scan refuses deeper nesting first. */
#define CARA_MP_DEPTH_MAX 24

/* ---- Agent ---------------------------------------------------------------- */

/* Projects one node runs at once. Each is a network, its volumes and its
 * containers on one engine; past a few hundred, an engine's own list calls
 * slow every pass, so the cap keeps a pass bounded. */
#define CARA_NODE_PROJECTS_MAX 1024
/* Objects of one kind listed from the engine in one pass: every container
 * of every project at its cap would be 64 × 1024; a listing beyond this is
 * refused rather than half-read. */
#define CARA_ENGINE_OBJECTS_MAX 65536
/* Back-off between restarts of a container that keeps stopping, and between
 * retries of a failed step: doubling from the minimum to the maximum. */
#define CARA_RESTART_BACKOFF_MS_MIN 1000
#define CARA_RESTART_BACKOFF_MS_MAX 60000
/* A project network's subnet (src/agent/netpool.h): at most /25, so that a
 * project at its service cap gets an address for each container plus the
 * network, broadcast and gateway addresses. */
#define CARA_NETPOOL_PREFIX_LEN_MAX 25
/* Subnets in one pool: 2^12. Picking one compares each candidate with every
 * network on the engine, so the pick stays in the milliseconds; an engine
 * with thousands of bridges is past what iptables rules handle well anyway. */
#define CARA_NETPOOL_SUBNETS_BITS_MAX 12
/* Creations of one project network refused as overlapping (a race with
 * another agent or tool on the same engine) before the step fails and
 * waits for its back-off. */
#define CARA_NET_CREATE_ATTEMPTS_MAX 8

/* ---- Replicated state (src/crdt) ----------------------------------------- */

/* A record's generation: JSON clients (and the API's own JSON) hold integers
 * exactly only up to 2^53. Applies count up from 1, or use wall-clock
 * milliseconds (about 2^41 today), so the cap is never in the way, and a
 * peer cannot make an operator sign a generation no client can read back. */
#define CARA_GENERATION_MAX ((1ULL << 53) - 1)

/* A record key is a project or node name (a DNS label) or the fixed name of
 * the cluster settings; room for a prefixed form later. */
#define CARA_CRDT_KEY_BYTES_MAX 128
/* The largest value a record carries: a project spec. */
#define CARA_CRDT_VALUE_BYTES_MAX CARA_SPEC_BYTES_MAX
/* Envelope overhead: array headers, magic, kind, two 64-bit stamps, a
 * 32-byte author, the key and a 64-byte signature stay below 512 bytes. */
#define CARA_CRDT_RECORD_OVERHEAD_BYTES 512
#define CARA_CRDT_RECORD_BYTES_MAX (CARA_CRDT_VALUE_BYTES_MAX + CARA_CRDT_RECORD_OVERHEAD_BYTES)
/* Live records in one replica: 10,000 projects with a status each, plus
 * nodes and admissions, with headroom. At the spec cap this is a worst case
 * of several GiB, so the realistic bound is the operator's, not this one. */
#define CARA_CRDT_RECORDS_MAX 65536
/* Operator keys a cluster trusts: a handful of people or CI systems. */
#define CARA_CRDT_OPERATORS_MAX 16
/* Admitted nodes: the gossip layer is sized for hundreds, not thousands. */
#define CARA_CRDT_NODES_MAX 1024
/* Floors left by collected tombstones: one per deleted project name, each
 * holding its signed tombstone (about 250 bytes with the index), so that
 * a floor can be proven to a peer: 262,144 floors fit in 64 MiB, and
 * 2,900 deletions a day for the whole floor horizon. Past it the oldest
 * floor goes first (counted; docs/crdt.md says what that risks). */
#define CARA_CRDT_FLOORS_MAX (256 * 1024)
/* Join tokens (docs/joining.md). A token admits at most this many distinct
 * node keys: a token is a bearer secret, so a larger count is a larger
 * blast radius for one leak; enrolling more nodes than this at once is a
 * job for several tokens. */
#define CARA_CRDT_JOIN_USES_MAX 1000
/* The grant an operator signs: array headers, a 15-byte magic, a 16-byte
 * token id, two integers, two 32-byte keys and a 64-byte signature come
 * to about 200 bytes. */
#define CARA_CRDT_JOIN_GRANT_BYTES_MAX 256
/* The token as text: "cara-join-v1." + base64url(grant) + "." +
 * base64url(seed), without padding, plus a NUL. */
#define CARA_CRDT_JOIN_TOKEN_TEXT_BYTES_MAX (13 + (CARA_CRDT_JOIN_GRANT_BYTES_MAX * 4 + 2) / 3 + 1 + 43 + 1)
/* Records refused only because their author's admission has not arrived
 * yet, held and retried when an admission arrives (docs/crdt.md). */
#define CARA_CRDT_HELD_MAX 256
/* Changes logged for the driver between two polls; past it the log is
 * replaced by one RESET (the driver rewrites its store). Two per record
 * covers a full resync of a full state. */
#define CARA_CRDT_CHANGES_MAX (2 * CARA_CRDT_RECORDS_MAX)
/* Actions the node object queues between two drains (docs/core.md). A
 * step evaluating every project queues at most a placement and a RUN or
 * DELETE per project, and the runtime's reports one status each: four per
 * record slot covers a full state with room. Past it the project is
 * evaluated again at the next step. */
#define CARA_CORE_ACTIONS_MAX (4 * CARA_CRDT_RECORDS_MAX)
/* Default HLC skew bound: a record stamped more than this ahead of the
 * local wall clock is refused (Cassandra refuses far-future generations
 * the same way, with a much wider bound). */
#define CARA_CRDT_SKEW_MS_DEFAULT (60 * 1000)
/* Default tombstone horizon: long enough to outlast a weekend partition. */
#define CARA_CRDT_TOMBSTONE_HORIZON_MS_DEFAULT (7LL * 24 * 3600 * 1000)
/* Default floor horizon: how long a collected delete is remembered and
 * proven to peers. A replica out of contact for longer than this may bring
 * a deleted project back (docs/crdt.md); 90 days covers a machine left
 * switched off for a quarter. */
#define CARA_CRDT_FLOOR_HORIZON_MS_DEFAULT (90LL * 24 * 3600 * 1000)
/* One anti-entropy message (digest items): it travels over gossip's TCP
 * path; 1 MiB holds about 30,000 listed entries. */
#define CARA_CRDT_SYNC_MSG_BYTES_MAX (1024 * 1024)
/* Items in one anti-entropy message. */
#define CARA_CRDT_SYNC_ITEMS_MAX 65536
/* A digest prefix listed entry by entry instead of split further once both
 * sides hold at most this many records under it. */
#define CARA_CRDT_SYNC_LEAF_RECORDS 16
/* One delta (concatenated records) sent in reply to a digest: 16 MiB; what
 * does not fit is sent in the next round. */
#define CARA_CRDT_DELTA_BYTES_MAX (16 * 1024 * 1024)
/* Worst-case sizes of the digest items (src/crdt/sync.c), for the asserts
 * below: an FP item is at most 1+1+1+9+9+9 bytes, a listed entry 41 bytes
 * plus its bin header, a WANT 16 bytes per key. */
#define CARA_CRDT_SYNC_FP_ITEM_BYTES_MAX 32
#define CARA_CRDT_SYNC_ENTRY_BYTES 41
#define CARA_CRDT_SYNC_FRAME_BYTES 64
/* Entries one digest message may make the receiver walk. An honest
 * message names disjoint prefixes, so it walks each record at most about
 * three times (a fingerprint, its 16 children, a list); four full states'
 * worth bounds what a hostile peer's overlapping items can cost (about
 * 10 ms here) while never cutting an honest message short. */
#define CARA_CRDT_SYNC_WORK_MAX (4 * CARA_CRDT_RECORDS_MAX)

/* ---- HTTP API (src/agent/http.c, src/agent/auth.c) ------------------------ */

/* Addresses one agent listens on: the overlay's IPv4 and IPv6 address and
 * loopback's two forms. Each address is its own libmicrohttpd daemon, so
 * every cap below that says "per listener" applies to each separately; a
 * flood on the overlay address then cannot starve the operator's loopback. */
#define CARA_HTTP_LISTENERS_MAX 4
/* Open connections per listener, watch streams included. An operator and a
 * few dashboards need tens; the cap keeps file descriptors and the memory
 * below (connections × per-connection memory) bounded. */
#define CARA_HTTP_CONNECTIONS_MAX 256
/* libmicrohttpd's per-connection pool: request line, headers and the read
 * and write buffers live in it. A request whose headers do not fit gets
 * MHD's own 431. 64 KiB is twice MHD's default, to leave room for our
 * header cap plus I/O buffers. */
#define CARA_HTTP_CONN_MEMORY_BYTES (64 * 1024)
/* Request line plus headers, counted by us before the handler runs (431).
 * The largest legitimate request carries four signature headers (about
 * 300 bytes) and a target with a short query. */
#define CARA_HTTP_HEADER_BYTES_MAX (16 * 1024)
/* Request target (path and query) as sent: it is part of the signed
 * message, so it is capped on its own too. */
#define CARA_HTTP_TARGET_BYTES_MAX 8192
/* A request body: a project record is at most CARA_CRDT_RECORD_BYTES_MAX,
 * sent as base64 inside JSON (4/3 of it plus a few bytes). Answered 413. */
#define CARA_HTTP_BODY_BYTES_MAX (1024 * 1024)
/* One JSON reply serialised in memory. A listing of every project at a
 * realistic spec size fits many times over; a reply that does not is a
 * bug or calls for streaming, and is answered 500 rather than buffered. */
#define CARA_HTTP_REPLY_BYTES_MAX (64 * 1024 * 1024)
/* A chunked body over the cap is read and thrown away so that the 413 can
 * still be sent (MHD queues a reply only before or after the body); past
 * this many discarded bytes the connection is simply closed. */
#define CARA_HTTP_DISCARD_BYTES_MAX (4 * 1024 * 1024)
/* A connection with nothing read or written for this long is closed: it
 * bounds how long a slow or stalled client holds a connection slot. */
#define CARA_HTTP_IDLE_TIMEOUT_S 30
/* Bytes queued for one streaming reply (a watcher or a log follower). A
 * client that does not read fills it, and the agent is told (CARA_ETOOBIG)
 * so it can drop that client instead of buffering without bound. */
#define CARA_HTTP_STREAM_QUEUE_BYTES_MAX (256 * 1024)
/* How often suspended streams are checked for a client that went away:
 * libmicrohttpd does not watch a suspended connection's socket. */
#define CARA_HTTP_STREAM_PROBE_MS 1000
/* Clock difference accepted on a signed request (docs/api.md). */
#define CARA_AUTH_WINDOW_MS (60 * 1000)
/* Nonces remembered for replay detection, each for 2 × the window. A full
 * cache refuses new signed requests (503) rather than forget a nonce that
 * could still be replayed: 16,384 over 120 s is about 136 signed requests
 * per second sustained, far beyond what operators send. */
#define CARA_AUTH_NONCES_MAX 16384

/* Upper bound of an encoded node record: each field's bytes plus generous
 * msgpack and key-name overhead (96 bytes a condition, 16 a label). */
#define CARA_NODE_WORST_BYTES                                                            \
    (CARA_CONDITIONS_COUNT_MAX *                                                          \
         (CARA_NAME_BYTES_MAX + CARA_REASON_BYTES_MAX + CARA_MESSAGE_BYTES_MAX + 96) +    \
     CARA_LABELS_COUNT_MAX * (CARA_LABEL_KEY_BYTES_MAX + CARA_LABEL_VALUE_BYTES_MAX + 16) + \
     CARA_NODE_ADDRS_COUNT_MAX * (CARA_ADDR_BYTES_MAX + 4) + 2 * CARA_HOSTNAME_BYTES_MAX +  \
     2 * CARA_NODE_GOSSIP_ADDR_BYTES_MAX + CARA_NODE_VERSION_BYTES_MAX + 1024)

/* ---- Gossip transport (src/gossip/seal.c, docs/gossip-transport.md) ----- */

/* One UDP datagram, sealed: a WireGuard interface's MTU of 1420 minus the
 * 20-byte IPv4 header and the 8-byte UDP header inside the tunnel, so that
 * gossip never fragments on the overlay (DESIGN.md §5). */
#define CARA_GOSSIP_WG_MTU_BYTES 1420
#define CARA_GOSSIP_DATAGRAM_BYTES_MAX (CARA_GOSSIP_WG_MTU_BYTES - 20 - 8)
/* The clear header of a sealed datagram or frame: magic (1), version and
 * type (1), the sender's key id (8: a hash of its Ed25519 public key that
 * the receiver maps to the admitted keys) and a 64-bit counter (8); then a
 * 16-byte Poly1305 tag. */
#define CARA_GOSSIP_SEAL_KEY_ID_BYTES 8
#define CARA_GOSSIP_SEAL_HEADER_BYTES (2 + CARA_GOSSIP_SEAL_KEY_ID_BYTES + 8)
#define CARA_GOSSIP_SEAL_TAG_BYTES 16
#define CARA_GOSSIP_SEAL_OVERHEAD_BYTES (CARA_GOSSIP_SEAL_HEADER_BYTES + CARA_GOSSIP_SEAL_TAG_BYTES)
/* What the protocol above may put in one datagram. */
#define CARA_GOSSIP_PLAINTEXT_BYTES_MAX \
    (CARA_GOSSIP_DATAGRAM_BYTES_MAX - CARA_GOSSIP_SEAL_OVERHEAD_BYTES)
/* Counters a receiver remembers per peer, as a sliding bitmap (the scheme
 * of IPsec, RFC 4303 §3.4.3 and RFC 6479, and of WireGuard): a datagram
 * overtaken by up to 1023 later ones from the same sender is still
 * accepted, once; an older one is refused as too old. 128 bytes a peer. */
#define CARA_GOSSIP_REPLAY_WINDOW 1024
/* Peers with pairwise keys: every admitted node, no more (an admit past it
 * is refused with CARA_ELIMIT; a revoke evicts the entry at once). */
#define CARA_GOSSIP_PEERS_MAX CARA_CRDT_NODES_MAX
/* Admitted keys that may share one key id; the receiver tries each one's
 * pairwise key, so this bounds the tag checks one datagram can cost. Two
 * keys among 1024 share a 64-bit id by chance with odds of about 2^-45,
 * and making one on purpose takes about 2^64 key generations: the bound
 * is there so that the cost is written down, not because it is reached. */
#define CARA_GOSSIP_KEY_ID_PEERS_MAX 4
/* Datagrams one sender sends to one peer within one epoch: the counter is
 * epoch << 32 | n, so an epoch bumped at every start never reuses a nonce
 * (docs/gossip-transport.md, "Counters across restarts"). */
#define CARA_GOSSIP_EPOCH_SENDS_MAX (1ULL << 32)
/* One frame on a stream (TCP): the plaintext of one sealed frame. Larger
 * messages (anti-entropy deltas) are cut into frames by the layer above;
 * 64 KiB keeps the receiver's buffer small and the tag check frequent. */
#define CARA_GOSSIP_FRAME_PLAINTEXT_BYTES_MAX (64 * 1024)
/* On the wire a frame is a 4-byte big-endian length, then the sealed frame. */
#define CARA_GOSSIP_FRAME_BYTES_MAX \
    (4 + CARA_GOSSIP_SEAL_OVERHEAD_BYTES + CARA_GOSSIP_FRAME_PLAINTEXT_BYTES_MAX)

/* ---- Gossip membership (src/gossip/swim.c, docs/gossip.md) -------------- */

/* A member's name: a node name with room for a short domain suffix. */
#define CARA_SWIM_NAME_BYTES_MAX 64
/* A member's public key, carried opaquely (the seal layer checks it). */
#define CARA_SWIM_KEY_BYTES 32
/* An opaque transport address: an IPv6 address and a port. */
#define CARA_SWIM_ADDR_BYTES_MAX 18
/* The membership table holds every admitted node and no more. */
#define CARA_SWIM_MEMBERS_MAX CARA_CRDT_NODES_MAX
/* Bytes kept in a datagram's plaintext for the node object's envelope
 * around a membership message (magic, version, message kind). */
#define CARA_SWIM_ENVELOPE_RESERVE_BYTES 16
/* Worst-case msgpack of one piggybacked update, an array of 6: header 1,
 * kind 1, incarnation (uint32) 5, name str8 2+64, key bin8 2+32, address
 * bin8 2+18, accuser name str8 2+64. */
#define CARA_SWIM_UPDATE_BYTES_MAX                                            \
    (1 + 1 + 5 + (2 + CARA_SWIM_NAME_BYTES_MAX) + (2 + CARA_SWIM_KEY_BYTES) + \
     (2 + CARA_SWIM_ADDR_BYTES_MAX) + (2 + CARA_SWIM_NAME_BYTES_MAX))
/* Worst-case msgpack of a message without its updates: array header 1,
 * type 1, sequence (uint32) 5, target name 2+64, key 2+32, address 2+18,
 * membership digest (uint32) 5, array16 header of the update list 3. */
#define CARA_SWIM_HEADER_BYTES_MAX                                            \
    (1 + 1 + 5 + (2 + CARA_SWIM_NAME_BYTES_MAX) + (2 + CARA_SWIM_KEY_BYTES) + \
     (2 + CARA_SWIM_ADDR_BYTES_MAX) + 5 + 3)
/* The byte budget of the piggyback list: what a sealed datagram's
 * plaintext (1358 bytes) leaves after the envelope and the header, 1207
 * bytes. The list is filled by encoded size, so six worst-case updates fit,
 * and sixteen with names of a dozen bytes. */
#define CARA_SWIM_PIGGYBACK_BYTES_MAX                                         \
    (CARA_GOSSIP_PLAINTEXT_BYTES_MAX - CARA_SWIM_ENVELOPE_RESERVE_BYTES -     \
     CARA_SWIM_HEADER_BYTES_MAX)
/* Updates per message, whatever their size: bounds the struct. */
#define CARA_SWIM_PIGGYBACK_MAX 16
/* Member states sampled into a message's spare room (docs/gossip.md). */
#define CARA_SWIM_SAMPLES_PER_MSG 3
/* One pending update per member and one about ourselves; a newer update
 * about a member replaces the older. Past the cap the most-sent entry is
 * evicted (counted). */
#define CARA_SWIM_BROADCASTS_MAX (CARA_SWIM_MEMBERS_MAX + 1)
/* Indirect probes (k) one probe may ask for; memberlist's default is 3. */
#define CARA_SWIM_INDIRECT_MAX 8
/* Pings this node relays for others at once; past it a ping-req is
 * dropped (counted) and its requester sees a missed nack. */
#define CARA_SWIM_RELAYS_MAX 64
/* Independent accusers remembered per suspicion, and the most
 * confirmations a suspicion may wait for (suspicion_confirmations, K;
 * the LAN default is 3). */
#define CARA_SWIM_CONFIRMS_MAX 8
/* Multipliers: the probe period grows to at most 16x under bad health;
 * retransmissions are at most 16 * ceil(log10(N + 1)). */
#define CARA_SWIM_AWARENESS_MAX 16
#define CARA_SWIM_RETRANSMIT_MULT_MAX 16
#define CARA_SWIM_SUSPICION_MULT_MAX 16
/* A node raises its incarnation only to refute a suspicion, a few times a
 * day at worst: a number past 2^31 is a peer playing games (or about to
 * wrap), and the update is dropped and counted. */
#define CARA_SWIM_INCARNATION_MAX 0x7fffffffu
/* A leaving node tells this many members directly; the rest hear it by
 * gossip. */
#define CARA_SWIM_LEAVE_NOTICES_MAX 128
/* Messages waiting for the driver; one call sends at most a probe, its
 * ping-reqs, a nack per relay, or the leave notices. */
#define CARA_SWIM_OUTBOX_MAX 256
/* Events waiting for the driver: two per member between polls. */
#define CARA_SWIM_EVENTS_MAX (2 * CARA_SWIM_MEMBERS_MAX)

/* ---- Gossip node object (src/gossip/gossip.c, docs/gossip.md) ----------- */

/* A record just learnt is forwarded at once, in at most one extra gossip
 * round this often: a burst of records shares rounds. */
#define CARA_GOSSIP_FORWARD_MS_MIN 10
/* The gossip port, UDP and TCP (the API is 7951). */
#define CARA_GOSSIP_PORT_DEFAULT 7950

/* Datagrams waiting for the driver: a probe period's swim output with its
 * relays and leave notices, plus the pushes and acks of a burst of records.
 * Past it a datagram is dropped and counted (UDP may drop it anyway). */
#define CARA_GOSSIP_OUTBOX_MAX 512
/* Records being piggybacked. A record that no longer fits is evicted, the
 * most transmitted first; anti-entropy still carries it. */
#define CARA_GOSSIP_BCASTS_MAX 256
/* Published records whose holders are being counted at once (one per
 * pending `apply` or `delete`), and the holders remembered for each: the
 * API waits for min(2, live) and the extra ones only cost memory. */
#define CARA_GOSSIP_TRACKS_MAX 64
#define CARA_GOSSIP_HOLDERS_MAX 8
/* The most nodes an apply can wait for (--ack N): this node and the
 * holders a track remembers. */
#define CARA_GOSSIP_ACK_NODES_MAX (CARA_GOSSIP_HOLDERS_MAX + 1)
/* The longest wait between two tries of an unanswered or refused seed. */
#define CARA_GOSSIP_JOIN_BACKOFF_MS_MAX (60 * 1000)
/* An inbound stream must finish its hello (or its clear JOIN) within this,
 * whatever trickle of bytes it sends: a slot is not held by a stranger. */
#define CARA_GOSSIP_HANDSHAKE_MS_MAX (3 * 1000)
/* Seeds given with --join. */
#define CARA_GOSSIP_SEEDS_MAX 16
/* The proof a joiner sends (a join-token record): a record, small. */
#define CARA_GOSSIP_PROOF_BYTES_MAX (8 * 1024)
/* Streams open at once: one outgoing anti-entropy, a few pushes and joins,
 * and what peers open to us. An inbound stream past it is refused. */
#define CARA_GOSSIP_STREAMS_MAX 64
/* Of those, what peers open to us: an inbound stream is held until its
 * hello and then its idle timeout, so a flood of connections that never
 * speak would otherwise take every slot and stop this node's own
 * anti-entropy, pushes and joins for as long as it lasts. The rest stays
 * for streams this node dials. */
#define CARA_GOSSIP_STREAMS_INBOUND_MAX 48
/* Bytes buffered per stream beyond one frame: reading stops being useful
 * past one whole message. */
#define CARA_GOSSIP_STREAM_RX_BYTES_MAX (CARA_GOSSIP_FRAME_BYTES_MAX + 4096)
/* One anti-entropy exchange: at most this many messages each way and this
 * many bytes of delta per message; what does not fit is taken up by the
 * next exchange (the crdt's sync is resumable). */
#define CARA_GOSSIP_SYNC_ROUNDS_MAX 64
#define CARA_GOSSIP_DELTA_BYTES_MAX (4 * 1024 * 1024)
/* Record versions this node is pulling (lazy push): one entry per slot
 * advertised to us that we lack, kept until the record arrives, the pull
 * times out at every advertiser remembered, or its quiet time after
 * giving up ends. Full: the entry closest to its deadline goes (counted);
 * the record still comes by a later advert or by anti-entropy. */
#define CARA_GOSSIP_PULLS_MAX 256
/* Advertisers remembered per pulled record: the first is asked, the
 * others in turn if it does not answer in time. */
#define CARA_GOSSIP_PULL_ALTS_MAX 3
/* Events waiting for the driver. */
#define CARA_GOSSIP_EVENTS_MAX (2 * CARA_SWIM_MEMBERS_MAX + 256)
/* ---- Gossip wire (src/gossip/wire.c, docs/gossip.md "Wire") ------------- */

/* Records in one message (a PUSH, a datagram's piggyback, a JOIN or
 * WELCOME): an apply writes a handful and a join a few admissions; 1024
 * borrowed slots of 16 bytes keep the decoded struct at 16 KiB. */
#define CARA_WIRE_RECORDS_MAX 1024
/* Record versions acknowledged in one ACK: one per record of an apply,
 * with room to spare; a larger PUSH is acknowledged in several ACKs. */
#define CARA_WIRE_ACKS_MAX 256
/* The human text of a join refusal: one sentence. */
#define CARA_WIRE_TEXT_BYTES_MAX 200
/* One clear (unsealed) frame on a join stream, header included: it holds
 * the joiner's identity and a few admission records (each well under
 * 1 KiB), and is read before anything is authenticated, so it is small. */
#define CARA_WIRE_CLEAR_BYTES_MAX (64 * 1024)
/* An anti-entropy delta in one stream message. The node object hands
 * cara_crdt_sync_recv a delta buffer of this size, so catching up on the
 * crdt's 16 MiB delta cap takes four exchanges, and a peer never makes us
 * reassemble more than this (plus the envelope) per stream. */
#define CARA_WIRE_DELTA_BYTES_MAX (4 * 1024 * 1024)
/* One stream message once its frames are joined: the largest blob (a
 * delta) or the largest PUSH of one record, plus the envelope. */
#define CARA_WIRE_STREAM_MSG_BYTES_MAX (CARA_WIRE_DELTA_BYTES_MAX + 64 * 1024)
/* Record versions advertised in one SWIM datagram ("I have", the lazy
 * push of docs/gossip.md) or asked for in one PULL. Each is 24 bytes (a
 * 16-byte slot id and an 8-byte HLC), so 48 take 1,152 of a datagram's
 * 1,358 bytes of plaintext: a pull answers one datagram's adverts. */
#define CARA_WIRE_IHAVES_MAX 48
#define CARA_WIRE_IHAVE_BYTES (16 + 8)
/* The SWIM datagram's envelope around the membership message: fixarray
 * header 1, version 1, kind 1, the records array's header (array16, 3
 * bytes, for any count up to CARA_WIRE_RECORDS_MAX) and the adverts'
 * bin header (bin16, 3 bytes, for up to CARA_WIRE_IHAVES_MAX). */
#define CARA_WIRE_SWIM_ENVELOPE_BYTES_MAX (1 + 1 + 1 + 3 + 3)
/* Worst-case msgpack of one ACK item: fixarray 1, id bin8 2+16, hlc
 * uint64 9. */
#define CARA_WIRE_ACK_ITEM_BYTES_MAX (1 + 2 + 16 + 9)

/* ---- Relations ---------------------------------------------------------- */

_Static_assert(CARA_DOC_SCALAR_BYTES_MAX >= CARA_ENV_VALUE_BYTES_MAX,
               "a scalar must be able to hold the largest field");
_Static_assert(CARA_MP_DEPTH_MAX < 32, "msgpack-c's own nesting cap is 32");
_Static_assert(CARA_DOC_DEPTH_MAX <= 64, "recursive walkers assume shallow trees");
_Static_assert(CARA_SPEC_BYTES_MAX <= CARA_MANIFEST_BYTES_MAX,
               "one spec must fit in a manifest");
_Static_assert(CARA_NODE_WORST_BYTES <= CARA_NODE_BYTES_MAX,
               "a node with every list at its cap must be encodable");
_Static_assert(CARA_NODE_GOSSIP_ADDR_BYTES_MAX >= 2 + CARA_ADDR_BYTES_MAX + 6,
               "a bracketed IPv6 address and a port must fit the gossip address");
_Static_assert(CARA_NODE_ENGINE_DOWN_MS_MIN <= CARA_NODE_ENGINE_PING_TIMEOUT_MS &&
                   CARA_NODE_ENGINE_FAILS_MIN >= 2,
               "a ping unanswered past its timeout has held long enough; one miss never flips");
_Static_assert(CARA_NODE_ENGINE_PING_MS < CARA_NODE_ENGINE_PING_TIMEOUT_MS,
               "a ping must be given longer than one period to answer");
_Static_assert(CARA_NODE_DISK_AVAILABLE_PERCENT_MIN_DEFAULT > 0 &&
                   CARA_NODE_DISK_AVAILABLE_PERCENT_MIN_DEFAULT < 100,
               "the disk threshold is a percentage");
_Static_assert(CARA_NODE_PROJECTS_MAX * CARA_SERVICES_COUNT_MAX <= CARA_ENGINE_OBJECTS_MAX,
               "a full node's containers must fit in one listing");
_Static_assert(CARA_RESTART_BACKOFF_MS_MIN < CARA_RESTART_BACKOFF_MS_MAX, "back-off must grow");
_Static_assert((1u << (32 - CARA_NETPOOL_PREFIX_LEN_MAX)) >= CARA_SERVICES_COUNT_MAX + 3,
               "a project network holds every service of a project at its cap");
/* Per entry, 128 and 64 bytes cover the keys, msgpack headers, enum names,
 * times and integers around the capped strings. */
_Static_assert(CARA_STATUS_BYTES_MAX >=
                   CARA_CONDITIONS_COUNT_MAX * (CARA_NAME_BYTES_MAX + CARA_REASON_BYTES_MAX +
                                                CARA_MESSAGE_BYTES_MAX + 128) +
                       CARA_SERVICES_COUNT_MAX *
                           (CARA_NAME_BYTES_MAX + CARA_MESSAGE_BYTES_MAX + 64) +
                       CARA_NAME_BYTES_MAX + 64,
               "a status with every list and string at its cap must encode");
_Static_assert(CARA_SVC_RESTARTS_MAX <= 4294967295u, "restarts are a uint32_t");
_Static_assert(CARA_HOSTNAME_BYTES_MAX >= 2 * CARA_NAME_BYTES_MAX + 1,
               "an ingress host is at least two labels");
_Static_assert(CARA_SETTINGS_FENCE_SECONDS_MIN + CARA_SETTINGS_SKEW_SECONDS_MIN <
                   CARA_SETTINGS_GRACE_SECONDS_MAX,
               "some fence timeout and skew must leave room for a valid grace");
_Static_assert(CARA_SETTINGS_HORIZON_SECONDS_MAX <= 4294967295u &&
                   CARA_SETTINGS_GRACE_SECONDS_MAX <= 4294967295u,
               "timers are uint32_t seconds");
_Static_assert(CARA_SETTINGS_BYTES_MAX >= 512 + CARA_NAME_BYTES_MAX + CARA_HOSTNAME_BYTES_MAX,
               "settings with both names at their cap must encode");
_Static_assert(CARA_SETTINGS_BYTES_MAX <= CARA_CRDT_VALUE_BYTES_MAX,
               "settings travel as a record value");

_Static_assert(CARA_CRDT_KEY_BYTES_MAX >= CARA_HOSTNAME_BYTES_MAX / 2 &&
                   CARA_CRDT_KEY_BYTES_MAX >= CARA_NAME_BYTES_MAX,
               "a record key must hold a project or node name");
_Static_assert(CARA_CRDT_VALUE_BYTES_MAX >= CARA_SPEC_BYTES_MAX &&
                   CARA_CRDT_VALUE_BYTES_MAX >= CARA_STATUS_BYTES_MAX &&
                   CARA_CRDT_VALUE_BYTES_MAX >= CARA_NODE_BYTES_MAX,
               "every record value must fit");
_Static_assert(CARA_CRDT_VALUE_BYTES_MAX >= CARA_CRDT_JOIN_GRANT_BYTES_MAX + 32 + 64 + 16,
               "a join record's value (grant, node key, token signature) fits a record");
_Static_assert(CARA_CRDT_RECORD_OVERHEAD_BYTES >= CARA_CRDT_KEY_BYTES_MAX + 64 + 32 + 64,
               "the envelope overhead must cover key, signature, author and headers");
_Static_assert(CARA_CRDT_DELTA_BYTES_MAX >= 2 * CARA_CRDT_RECORD_BYTES_MAX,
               "a delta must carry at least one record of the largest size");
/* Every exchange makes progress: a reply can always hold the largest piece
 * of work one item makes (a fan-out of 16 fingerprints, or a leaf's list
 * and the wants it answers with), and a delta always holds one record. So
 * a budgeted reply carries at least one item, whatever the divergence. */
_Static_assert(CARA_CRDT_SYNC_MSG_BYTES_MAX >=
                   CARA_CRDT_SYNC_FRAME_BYTES + 16 * CARA_CRDT_SYNC_FP_ITEM_BYTES_MAX +
                       CARA_CRDT_SYNC_LEAF_RECORDS * (CARA_CRDT_SYNC_ENTRY_BYTES + 16) + 16,
               "a reply must hold one item's worth of work");
_Static_assert(CARA_CRDT_DELTA_BYTES_MAX >= CARA_CRDT_RECORD_BYTES_MAX,
               "a delta must hold the largest record, or that record never travels");
/* A full state splits into leaves of at most CARA_CRDT_SYNC_LEAF_RECORDS
 * within the 16 levels of a 64-bit trie (65,536 records need 3). */
_Static_assert(CARA_CRDT_RECORDS_MAX / CARA_CRDT_SYNC_LEAF_RECORDS <= (1ULL << 60),
               "the trie must be deep enough for the record cap");
/* The list of one leaf must fit a reply even when the peer wants all of
 * it; and a full state's records can be listed by many exchanges. */
_Static_assert(CARA_CRDT_SYNC_ITEMS_MAX >= 16 + 1, "an FP fan-out and a WANT per reply");
_Static_assert(CARA_CRDT_SYNC_LEAF_RECORDS >= 16,
               "a leaf must be no smaller than the fan-out, or splitting never ends early");

_Static_assert(CARA_HTTP_HEADER_BYTES_MAX + 16 * 1024 <= CARA_HTTP_CONN_MEMORY_BYTES,
               "headers at their cap must leave MHD room for its I/O buffers");
_Static_assert(CARA_HTTP_TARGET_BYTES_MAX <= CARA_HTTP_HEADER_BYTES_MAX,
               "the target is part of the header block");
_Static_assert(CARA_HTTP_BODY_BYTES_MAX >= CARA_CRDT_RECORD_BYTES_MAX * 4 / 3 + 1024,
               "a base64 record in a JSON body must fit");
_Static_assert(CARA_HTTP_DISCARD_BYTES_MAX > CARA_HTTP_BODY_BYTES_MAX,
               "a body just over the cap must still get its 413");
_Static_assert(CARA_HTTP_STREAM_PROBE_MS < CARA_HTTP_IDLE_TIMEOUT_S * 1000,
               "a dead watcher is found sooner than an idle connection is closed");

_Static_assert(CARA_GOSSIP_DATAGRAM_BYTES_MAX == 1392, "1420 - 20 - 8, DESIGN.md §5");
_Static_assert(CARA_GOSSIP_SEAL_HEADER_BYTES == 1 + 1 + 8 + 8,
               "magic, version and type, sender key id, counter");
_Static_assert(CARA_GOSSIP_KEY_ID_PEERS_MAX >= 1 && CARA_GOSSIP_KEY_ID_PEERS_MAX <= 8,
               "a datagram costs at most a few tag checks");
_Static_assert(CARA_GOSSIP_PLAINTEXT_BYTES_MAX + CARA_GOSSIP_SEAL_OVERHEAD_BYTES ==
                   CARA_GOSSIP_DATAGRAM_BYTES_MAX,
               "a full plaintext seals to exactly one full datagram");
_Static_assert(CARA_GOSSIP_PLAINTEXT_BYTES_MAX >= 1024,
               "a datagram must carry a probe and some piggybacked updates");
_Static_assert(CARA_GOSSIP_REPLAY_WINDOW % 64 == 0 &&
                   (CARA_GOSSIP_REPLAY_WINDOW & (CARA_GOSSIP_REPLAY_WINDOW - 1)) == 0,
               "the window is a ring of whole 64-bit words");
_Static_assert(CARA_GOSSIP_PEERS_MAX >= CARA_CRDT_NODES_MAX,
               "every admitted node must get a pairwise key");
_Static_assert(CARA_GOSSIP_FRAME_PLAINTEXT_BYTES_MAX >= CARA_GOSSIP_PLAINTEXT_BYTES_MAX,
               "a stream frame carries at least what a datagram does");
_Static_assert(CARA_GOSSIP_STREAMS_INBOUND_MAX < CARA_GOSSIP_STREAMS_MAX &&
                   CARA_GOSSIP_STREAMS_MAX - CARA_GOSSIP_STREAMS_INBOUND_MAX >=
                       1 + CARA_GOSSIP_SEEDS_MAX / 2,
               "inbound streams leave room for an anti-entropy exchange, joins and pushes");
_Static_assert(CARA_GOSSIP_FRAME_BYTES_MAX <= 0xffffffffu, "the length prefix is 32 bits");

_Static_assert(CARA_SWIM_ENVELOPE_RESERVE_BYTES + CARA_SWIM_HEADER_BYTES_MAX +
                       CARA_SWIM_PIGGYBACK_BYTES_MAX + CARA_GOSSIP_SEAL_OVERHEAD_BYTES <=
                   CARA_GOSSIP_DATAGRAM_BYTES_MAX,
               "a membership message fits one sealed datagram");
_Static_assert(CARA_SWIM_PIGGYBACK_BYTES_MAX >= 6 * CARA_SWIM_UPDATE_BYTES_MAX,
               "six worst-case updates fit the piggyback budget");
_Static_assert(CARA_SWIM_MEMBERS_MAX <= CARA_GOSSIP_PEERS_MAX,
               "every member has a pairwise key in the seal layer");
_Static_assert(CARA_SWIM_KEY_BYTES == 32, "an Ed25519 public key, as the seal admits");
_Static_assert(CARA_SWIM_PIGGYBACK_MAX <= 255, "the update count is a uint8_t");
_Static_assert(CARA_SWIM_SAMPLES_PER_MSG < CARA_SWIM_PIGGYBACK_MAX,
               "samples only fill spare room");
_Static_assert(CARA_SWIM_NAME_BYTES_MAX <= 255 && CARA_SWIM_ADDR_BYTES_MAX <= 255,
               "lengths are uint8_t and str8/bin8 in msgpack");
_Static_assert(CARA_SWIM_OUTBOX_MAX >= 1 + CARA_SWIM_INDIRECT_MAX + CARA_SWIM_RELAYS_MAX +
                                           CARA_SWIM_LEAVE_NOTICES_MAX + 1,
               "one call's sends fit the outbox");

_Static_assert(CARA_WIRE_SWIM_ENVELOPE_BYTES_MAX <= CARA_SWIM_ENVELOPE_RESERVE_BYTES,
               "the wire's envelope fits the room membership keeps for it");
_Static_assert(CARA_WIRE_SWIM_ENVELOPE_BYTES_MAX + CARA_SWIM_HEADER_BYTES_MAX +
                       CARA_SWIM_PIGGYBACK_BYTES_MAX <=
                   CARA_GOSSIP_PLAINTEXT_BYTES_MAX,
               "a worst-case SWIM message with a full piggyback list and no records fits "
               "one datagram's plaintext");
_Static_assert(CARA_WIRE_RECORDS_MAX < 65536 && CARA_WIRE_ACKS_MAX < 65536,
               "list headers are at most array16 (the envelope bound counts 3 bytes)");
_Static_assert(CARA_WIRE_TEXT_BYTES_MAX <= 0xffff, "text_len is a uint16_t");
_Static_assert(CARA_WIRE_IHAVES_MAX * CARA_WIRE_IHAVE_BYTES < 65536 &&
                   CARA_WIRE_IHAVES_MAX * CARA_WIRE_IHAVE_BYTES + 16 <=
                       CARA_GOSSIP_PLAINTEXT_BYTES_MAX,
               "the adverts' bin is at most bin16, and a full PULL fits one datagram");
_Static_assert(CARA_WIRE_DELTA_BYTES_MAX >= CARA_CRDT_RECORD_BYTES_MAX &&
                   CARA_WIRE_DELTA_BYTES_MAX <= CARA_CRDT_DELTA_BYTES_MAX,
               "a wire delta holds the largest record and is a budget within the crdt's");
_Static_assert(CARA_WIRE_STREAM_MSG_BYTES_MAX >= CARA_WIRE_DELTA_BYTES_MAX + 16 &&
                   CARA_WIRE_STREAM_MSG_BYTES_MAX >= CARA_CRDT_SYNC_MSG_BYTES_MAX + 16 &&
                   CARA_WIRE_STREAM_MSG_BYTES_MAX >= CARA_CRDT_RECORD_BYTES_MAX + 16 &&
                   CARA_WIRE_STREAM_MSG_BYTES_MAX >=
                       CARA_WIRE_ACKS_MAX * CARA_WIRE_ACK_ITEM_BYTES_MAX + 16,
               "a stream message holds a delta, a sync message, a PUSH of the largest "
               "record, and a full ACK, each with its envelope");
_Static_assert(CARA_WIRE_STREAM_MSG_BYTES_MAX <= 0xffffffffu, "lengths fit 32 bits");
_Static_assert(CARA_WIRE_CLEAR_BYTES_MAX >=
                   7 + 16 + (2 + CARA_SWIM_NAME_BYTES_MAX) + (2 + CARA_SWIM_KEY_BYTES) +
                       (2 + CARA_SWIM_ADDR_BYTES_MAX) +
                       16 * (CARA_CRDT_RECORD_OVERHEAD_BYTES + 128),
               "a JOIN or WELCOME holds an identity and sixteen admission records");
_Static_assert(CARA_WIRE_CLEAR_BYTES_MAX <= CARA_GOSSIP_FRAME_BYTES_MAX + 16,
               "a clear frame is no larger than a sealed one");

#endif
