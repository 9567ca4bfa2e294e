# Two commands on a fresh Debian 12 machine (as root):
#   make run    nats-server + redis-server + orchestrator serve, then the
#               example login plan submitted with --follow (all stopped after)
#   make test   build everything and pass the tests, then the same tests
#               built with ASan+UBSan (make sanitize)
# Both install missing Debian packages and build incrementally.

BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= 2

.PHONY: all deps configure build run run-offline test sanitize tsan fuzz faults soak helm-check image image-test bench format clean

all: build

deps:
	./scripts/install-deps.sh

$(BUILD_DIR)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

configure: deps $(BUILD_DIR)/CMakeCache.txt

build: configure
	cmake --build $(BUILD_DIR) -j$(JOBS)

run: build
	./scripts/main-job.sh examples/login-feature.yaml $(BUILD_DIR)

run-offline: build
	./$(BUILD_DIR)/orchestrator run examples/login-feature.yaml \
	  --out $(BUILD_DIR)/login-feature-results.json

# The normal suite, the ASan+UBSan suite, then a short libFuzzer run of every
# target (FUZZ_CI_SECONDS each, from the seed corpus; measured: about 8.5
# minutes from a cold build on 2 cores).
FUZZ_CI_SECONDS ?= 15
test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS)
	$(MAKE) sanitize
	./scripts/fuzz.sh $(FUZZ_CI_SECONDS)

# The test suite built with ASan+UBSan (sanitize) or ThreadSanitizer (tsan),
# in build-asan / build-tsan, and run. Optimised lightly (-O1) with line
# tables, so that reports have file:line and the build stays quick.
SANITIZER_TARGETS = orch_tests orchestrator llm_stub fuzz_targets
SANITIZER_FLAGS = -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1"

sanitize: deps
	cmake -S . -B build-asan $(SANITIZER_FLAGS) -DORCH_SANITIZE=address
	cmake --build build-asan -j$(JOBS) --target $(SANITIZER_TARGETS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=$(CURDIR)/scripts/sanitizers/ubsan.supp \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/sanitizers/lsan.supp \
	  ctest --output-on-failure -j$(JOBS) -E '^(helm_chart|faults)$$'

# tsan runs everything on Debian's CAF rebuilt with ThreadSanitizer
# (scripts/caf-tsan.sh), which TSan needs to see CAF's own synchronisation.
tsan: deps
	JOBS=$(JOBS) ./scripts/caf-tsan.sh $(CURDIR)/build-tsan/caf
	cmake -S . -B build-tsan $(SANITIZER_FLAGS) -DORCH_SANITIZE=thread
	cmake --build build-tsan -j$(JOBS) --target $(SANITIZER_TARGETS)
	cd build-tsan && LD_LIBRARY_PATH=$(CURDIR)/build-tsan/caf/lib \
	  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 \
	  suppressions=$(CURDIR)/scripts/sanitizers/tsan.supp" \
	  ctest --output-on-failure -j$(JOBS) -E '^(helm_chart|faults)$$'

# libFuzzer runs of every target (clang): FUZZ_SECONDS each.
FUZZ_SECONDS ?= 60
fuzz: deps
	./scripts/fuzz.sh $(FUZZ_SECONDS)

# Every fault during a running plan, one line each (scripts/faults.sh).
faults: build
	BUILD_DIR=$(BUILD_DIR) ./scripts/faults.sh

# A steady load at half of the capacity for SOAK_MINUTES, a line a minute.
SOAK_MINUTES ?= 60
soak: build
	./$(BUILD_DIR)/bench/soak --minutes $(SOAK_MINUTES)

helm-check: deps
	TOOLS_DIR=$(BUILD_DIR)/tools ./scripts/helm-check.sh

# The container image (needs root, podman, mmdebstrap, runc): opt-in.
image:
	BUILD_DIR=$(BUILD_DIR) ./scripts/build-image.sh

image-test: build image
	BUILD_DIR=$(BUILD_DIR) ./scripts/image-test.sh

bench: build
	./$(BUILD_DIR)/bench/deliberation --agents 3 --rounds 1 --concurrency 64 \
	  --deliberations 200000
	./$(BUILD_DIR)/bench/deliberation --mode engine --agents 3 --rounds 1 \
	  --concurrency 64 --deliberations 200000
	./$(BUILD_DIR)/bench/deliberation --mode engine --agents 3 --rounds 1 \
	  --concurrency 64 --deliberations 200000 --clients 2
	./$(BUILD_DIR)/bench/messaging --pairs 2000000 --concurrency 64
	./$(BUILD_DIR)/bench/messaging --pairs 2000000 --concurrency 64 --task
	./$(BUILD_DIR)/bench/llm_concurrency --agents 3 --rounds 1 \
	  --concurrency 100 --deliberations 1000 --latency-ms 50
	./$(BUILD_DIR)/bench/queue --tasks 200000
	./$(BUILD_DIR)/bench/e2e --plans 400 --tasks 10 --seconds 10
	./$(BUILD_DIR)/bench/grpc --requests 2000 --clients 1,16,128
	./$(BUILD_DIR)/bench/scale

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf $(BUILD_DIR)
