# Planetary Mesh build.
#   make            release binaries in bin/
#   make test       sanitizer build (ASan + UBSan) in build/test/, then unit + integration tests
#   make demo       coordinator + three agents on localhost, a handful of jobs, then everything stops
# Both `test` and `demo` first make sure the Debian packages are installed (deploy/install-deps.sh).

CC      ?= cc
WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
CSTD     = -std=c11 -D_GNU_SOURCE
INCLUDES = -Icommon -Icoordinator -Iagent -Imeshctl
LIBS     = -lcivetweb -lpthread $(shell pkg-config --libs libcurl jansson sqlite3 2>/dev/null || echo -lcurl -ljansson -lsqlite3)
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm)

RELEASE_FLAGS = -O2 -g
TEST_FLAGS    = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined

COMMON_SRC      = $(wildcard common/*.c)
COORDINATOR_SRC = $(filter-out coordinator/main.c,$(wildcard coordinator/*.c))
AGENT_SRC       = $(filter-out agent/main.c,$(wildcard agent/*.c))
MESHCTL_SRC     = $(filter-out meshctl/main.c,$(wildcard meshctl/*.c))
UNIT_TESTS      = $(wildcard tests/unit/test_*.c)
HEADERS         = $(wildcard common/*.h coordinator/*.h agent/*.h meshctl/*.h tests/unit/*.h)

# $(call objs,BUILD_DIR,SOURCES)
objs = $(patsubst %.c,$(1)/obj/%.o,$(2))

.SECONDARY:
.PHONY: all deps test unit integration demo clean bench
all: bin/mesh-coordinator bin/mesh-agent bin/meshctl

# ---- release build -------------------------------------------------------
build/release/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(RELEASE_FLAGS) $(INCLUDES) -c $< -o $@

bin/mesh-coordinator: $(call objs,build/release,coordinator/main.c $(COORDINATOR_SRC) $(COMMON_SRC))
	@mkdir -p bin
	$(CC) $(RELEASE_FLAGS) -o $@ $^ $(LIBS)
bin/mesh-agent: $(call objs,build/release,agent/main.c $(AGENT_SRC) $(COMMON_SRC))
	@mkdir -p bin
	$(CC) $(RELEASE_FLAGS) -o $@ $^ $(LIBS)
bin/meshctl: $(call objs,build/release,meshctl/main.c $(MESHCTL_SRC) $(COMMON_SRC))
	@mkdir -p bin
	$(CC) $(RELEASE_FLAGS) -o $@ $^ $(LIBS)

# ---- sanitizer build for the tests ---------------------------------------
T = build/test
$(T)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(TEST_FLAGS) $(INCLUDES) -c $< -o $@

$(T)/bin/mesh-coordinator: $(call objs,$(T),coordinator/main.c $(COORDINATOR_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(TEST_FLAGS) -o $@ $^ $(LIBS)
$(T)/bin/mesh-agent: $(call objs,$(T),agent/main.c $(AGENT_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(TEST_FLAGS) -o $@ $^ $(LIBS)
$(T)/bin/meshctl: $(call objs,$(T),meshctl/main.c $(MESHCTL_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(TEST_FLAGS) -o $@ $^ $(LIBS)
# Each tests/unit/test_X.c is its own Check runner, linked with every module but the mains.
UNIT_BINS = $(patsubst tests/unit/%.c,$(T)/unit/%,$(UNIT_TESTS))
MODULE_OBJS = $(call objs,$(T),$(COORDINATOR_SRC) $(AGENT_SRC) $(MESHCTL_SRC) $(COMMON_SRC))
$(T)/unit/%: $(T)/obj/tests/unit/%.o $(MODULE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_FLAGS) -o $@ $^ $(LIBS) $(CHECK_LIBS)

TEST_BINS = $(T)/bin/mesh-coordinator $(T)/bin/mesh-agent $(T)/bin/meshctl $(UNIT_BINS)

deps:
	@deploy/install-deps.sh

# `deps` runs first on its own: the rest of the build needs the headers it installs.
test: deps
	@echo "building the sanitizer build (ASan+UBSan) in build/test ..."
	@$(MAKE) -s --no-print-directory -j2 $(TEST_BINS)
	@tests/run.sh $(T)/bin

unit: deps
	@$(MAKE) --no-print-directory $(UNIT_BINS)
	@tests/run.sh $(T)/bin unit

integration: deps
	@$(MAKE) --no-print-directory $(TEST_BINS)
	@tests/run.sh $(T)/bin integration

demo: deps
	@$(MAKE) --no-print-directory all
	@deploy/demo.sh bin

clean:
	rm -rf build bin

# ---- benchmarks (issue 4): never part of `make test` ----------------------
#   make bench                          every scenario (about 5 minutes on 2 cores)
#   make bench SCENARIOS="e2e submit"   a subset (ceiling always runs); bench/run.sh --help
# The daemons are the release build in bin/; the bench tools are built with the
# same release flags and warnings into build/bench/.
BENCH_HEADERS = $(wildcard bench/*.h)
build/bench/obj/%.o: bench/%.c $(BENCH_HEADERS) common/clock.h
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(RELEASE_FLAGS) -Ibench -Icommon -c $< -o $@
build/bench/loadgen: build/bench/obj/loadgen.o build/bench/obj/bench_http.o build/bench/obj/bench_stats.o build/release/obj/common/clock.o
	$(CC) $(RELEASE_FLAGS) -o $@ $^ $(LIBS) -lm
build/bench/ceiling: build/bench/obj/ceiling.o
	$(CC) $(RELEASE_FLAGS) -o $@ $^ $(LIBS)

BENCH_BINS = build/bench/loadgen build/bench/ceiling
# `deps` first, as for test and demo (it installs the sqlite3 CLI the big-store scenario uses).
bench: deps
	@$(MAKE) --no-print-directory all $(BENCH_BINS)
	@bench/run.sh $(SCENARIOS)
