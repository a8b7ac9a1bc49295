# Caravanserai build. `make` builds every binary into build/; `make test`
# installs what a fresh Debian 12 machine lacks, then runs every test and
# ends with one "N passed, N failed" line. See README.md.

BUILD    ?= build
CC       ?= cc
PKGS      = libsodium libuv msgpack libcurl yaml-0.1 jansson libmicrohttpd sqlite3
# Recursive (=) on purpose: pkg-config may be installed by `make deps` during
# this very run, so it is asked when a recipe runs, not when make starts.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))
OPT      ?= -O2
SAN      ?=
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
             -Wno-missing-field-initializers $(OPT) -g $(SAN) -Isrc -Itests/unit \
             $(PKG_CFLAGS) $(CFLAGS)
LDFLAGS_ALL = $(SAN) $(LDFLAGS)
LIBS_ALL   = $(PKG_LIBS) -lm

# The core library: modules that never touch the OS. src/os (the OS side of
# the env: clocks, randomness, logging, key files) is a library of its own,
# so that whatever links only the core (the fuzzers, the simulator) cannot
# reach a real clock or file even by accident: the linker enforces the
# sans-IO rule, and scripts/check-core.sh checks the core's undefined
# symbols against a list of OS calls.
CORE_DIRS = src/base src/spec src/crdt src/gossip src/sched src/core
CORE_SRC  = $(foreach d,$(CORE_DIRS),$(wildcard $(d)/*.c))
OS_SRC    = $(wildcard src/os/*.c)
CTL_SRC   = $(wildcard src/ctl/*.c)
AGENT_SRC = $(filter-out src/agent/main.c,$(wildcard src/agent/*.c))
UNIT_SRC  = $(wildcard tests/unit/*.c)
# The deterministic cluster harness (simnet: network, clocks, disks, the
# node driver): core-only code, linked into the unit tests that drive gossip
# node objects through it, and into cara-sim with the rest of tests/sim
# (the world, nemeses, checkers, scenario files, report, command line).
SIM_SRC   = tests/sim/simnet.c tests/sim/sim_node.c tests/sim/sim_store.c tests/sim/sim_runtime.c
UNIT_SRC += $(SIM_SRC)
CARA_SIM_SRC = $(filter-out $(SIM_SRC),$(wildcard tests/sim/*.c))
# cara-sim remembers the answers of a few pure public-key operations that a
# simulated cluster asks for N^2 times (tests/sim/sim_crypto.c).
SIM_WRAP  = crypto_sign_verify_detached crypto_kx_client_session_keys \
            crypto_kx_server_session_keys crypto_sign_ed25519_pk_to_curve25519
SIM_LIBS  = $(shell pkg-config --libs libsodium msgpack yaml-0.1 jansson) -lm
FUZZ_SRC  = $(wildcard tests/fuzz/fuzz_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

# `make V=1` prints whole command lines.
ifeq ($(V),1)
Q =
else
Q = @
endif

BINS = $(BUILD)/caravanctl $(BUILD)/cara-sim
ifneq ($(wildcard src/agent/main.c),)
BINS += $(BUILD)/cara-agent
endif


.PHONY: sim demo demo-kill demo-start demo-down test-cluster cluster-down bench-compose bench-crdt bench-sim bench-vs-serf all deps test test-only asan fuzz fuzz-lib fuzz-build fuzz-build-if-possible clean tests-build
all: $(BINS)

# `make sim` builds the simulator alone (docs/sim.md).
sim: $(BUILD)/cara-sim

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(BUILD)/libcara-core.a: $(call obj,$(CORE_SRC))
	@rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/libcara-os.a: $(call obj,$(OS_SRC))
	@rm -f $@
	$(Q)ar rcs $@ $^

LIBCARA = $(BUILD)/libcara-os.a $(BUILD)/libcara-core.a

$(BUILD)/caravanctl: $(call obj,$(CTL_SRC)) $(LIBCARA)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)

# The agent's parts other than main() form a library, so unit tests can
# drive them (the SQLite store, the Docker client) without the daemon.
$(BUILD)/libcara-agent.a: $(call obj,$(AGENT_SRC))
	@rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/cara-agent: $(call obj,src/agent/main.c) $(BUILD)/libcara-agent.a $(LIBCARA)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)

$(BUILD)/test-unit: $(call obj,$(UNIT_SRC)) $(BUILD)/libcara-agent.a $(LIBCARA)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)

# The cluster tests again, linked against the core library alone: the
# harness and the node objects it drives must not need src/os or the agent
# (DESIGN.md §1.4; cara-sim will link the same way).
SIM_TEST_SRC = tests/unit/harness.c tests/unit/test_gossip_node.c tests/unit/test_simnet.c \
               tests/unit/test_core.c $(SIM_SRC)
$(BUILD)/test-sim: $(call obj,$(SIM_TEST_SRC)) $(BUILD)/libcara-core.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)

# The simulator links the core library alone (DESIGN.md §1.4): no src/os,
# no agent, no libuv or curl.
$(BUILD)/cara-sim: $(call obj,$(CARA_SIM_SRC) $(SIM_SRC)) $(BUILD)/libcara-core.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) $(foreach f,$(SIM_WRAP),-Wl,--wrap=$(f)) -o $@ $^ $(SIM_LIBS)

tests-build: all $(BUILD)/test-unit $(BUILD)/test-sim $(BUILD)/libcara-core.a

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---- Set-up -----------------------------------------------------------------

deps:
	@scripts/deps.sh

# ---- Demo -------------------------------------------------------------------

# The demo: three hosts (network namespaces, a wireguard-go overlay, one
# dockerd and one cara-agent each) that keep running, with the examples
# applied; then `make demo-kill NODE=n2`, `make demo-start NODE=n2` and
# `make demo-down` (README.md, "Try it"). Needs root.
demo: deps
	@scripts/deps.sh docker.io busybox-static
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) scripts/demo.sh

demo-kill:
	@BUILD=$(BUILD) scripts/demo-node.sh kill "$(NODE)"

demo-start:
	@BUILD=$(BUILD) scripts/demo-node.sh start "$(NODE)"

demo-down:
	@BUILD=$(BUILD) scripts/demo-down.sh

# ---- Tests ------------------------------------------------------------------

test: deps
	@scripts/ensure-dockerd.sh && scripts/test-image.sh
	@$(MAKE) --no-print-directory tests-build
	@$(MAKE) --no-print-directory fuzz-build-if-possible
	@BUILD=$(BUILD) FUZZ_BUILD=$(FUZZ_BUILD) tests/run.sh

# The end-to-end test on real hosts: network namespaces, a wireguard-go
# overlay, one dockerd and one cara-agent per host (docs/cluster-tests.md).
# Needs root; CARA_SKIP_CLUSTER=1 turns "cannot make hosts" into a SKIP.
test-cluster: deps
	@scripts/deps.sh docker.io busybox-static
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) tests/cluster/run-cluster.sh

# Removes what a killed tests/cluster run left (namespaces, links, engines,
# mounts, iptables rules); `scripts/cluster-down.sh --all` also a live run's.
cluster-down:
	@scripts/cluster-down.sh

# Runs the suite without the dependency check (for quick local loops).
test-only: tests-build
	@BUILD=$(BUILD) FUZZ_BUILD=$(FUZZ_BUILD) tests/run.sh

asan: deps
	@scripts/ensure-dockerd.sh && scripts/test-image.sh
	@$(MAKE) --no-print-directory BUILD=build-asan OPT=-O1 \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    tests-build
	@BUILD=build-asan CARA_SKIP_FUZZ=1 ASAN_OPTIONS=detect_leaks=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 tests/run.sh

# ---- Benchmarks -----------------------------------------------------------------

$(BUILD)/bench-crdt: $(call obj,bench/bench_crdt.c) $(BUILD)/libcara-agent.a $(LIBCARA)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)

# Delta bytes as a fraction of the state, merge+verify and durable ingest throughput.
bench-compose: deps
	@bench/compose.sh

bench-crdt: $(BUILD)/bench-crdt
	@$(BUILD)/bench-crdt

# The simulator's speed and memory at 20, 100, 1000 and 10,000 nodes
# (docs/sim.md, "Speed and scale"). Knobs: BENCH_SIM_SEED, BENCH_SIM_1000
# (simulated time of the 1000-node run, default 10m), BENCH_SIM_SKIP_1000=1.
bench-sim: $(BUILD)/cara-sim
	@BUILD=$(BUILD) scripts/bench-sim.sh

# N=32 cara-agents against N=32 serf agents on loopback: propagation, failure
# detection, memory, gossip bytes, largest datagram, false suspicions
# (docs/bench.md). Knobs: N, R, KILLS, STEADY_S (default 600), SIDES.
bench-vs-serf: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) scripts/bench-vs-serf.sh

# ---- Fuzzing (clang's libFuzzer) ------------------------------------------------

# FUZZ_BUILD may be overridden so that several worktrees or configurations
# do not share one directory (`make FUZZ_BUILD=build-x-fuzz fuzz-build`).
FUZZ_BUILD ?= build-fuzz
FUZZ_FLAGS = -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
FUZZ_BINS  = $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(FUZZ_SRC))
FUZZ_SECONDS ?= 60

# The library is built by a sub-make (other compiler and flags), which this
# make cannot see into, so the targets are relinked on every fuzz-build: a
# stale fuzzer would test old code.
#
# A decoder that lives in the agent but does no I/O is compiled on its own
# with the same flags and linked into the one target that names it in
# FUZZ_EXTRA_<target>: the fuzzers never link the agent library.
FUZZ_AGENT_OBJ = $(FUZZ_BUILD)/obj/src/agent/api_body.o
FUZZ_EXTRA_api_body = $(FUZZ_BUILD)/obj/src/agent/api_body.o

fuzz-lib:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang OPT=-O1 SAN="$(FUZZ_FLAGS)" \
	    $(FUZZ_BUILD)/libcara-core.a $(FUZZ_AGENT_OBJ)

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c fuzz-lib
	clang -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -O1 -g -Isrc $(PKG_CFLAGS) \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    -o $@ $< $(FUZZ_EXTRA_$*) $(FUZZ_BUILD)/libcara-core.a $(LIBS_ALL)

fuzz-build: $(FUZZ_BINS)

# `make test` builds the fuzzers only where clang's fuzzer runtime exists.
fuzz-build-if-possible:
	@if scripts/have-libfuzzer.sh; then $(MAKE) --no-print-directory fuzz-build; \
	 else echo "note: clang's libFuzzer runtime not found; fuzz smoke tests will be reported as not run"; fi

fuzz: deps fuzz-build
	@for f in $(FUZZ_BINS); do \
	    name=$$(basename $$f); mkdir -p $(FUZZ_BUILD)/corpus/$$name; \
	    echo "== $$name for $(FUZZ_SECONDS) s"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        -artifact_prefix=$(FUZZ_BUILD)/$$name- \
	        $(FUZZ_BUILD)/corpus/$$name tests/fuzz/seeds/$$name || exit 1; \
	done

clean:
	rm -rf build build-asan build-fuzz $(FUZZ_BUILD)
