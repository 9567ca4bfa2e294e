# Two commands on a fresh Debian 12 machine (as root):
#   make run    nats-server + redis-server + orchestrator serve, then the
#               example login plan submitted with --follow (all stopped after)
#   make test   build everything and pass the tests
# Both install missing Debian packages and build incrementally.

BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= 2

.PHONY: all deps configure build run run-offline test helm-check image image-test bench format clean

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

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS)

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
