# Two commands on a fresh Debian 12 machine (as root):
#   make run    one deliberation of a scripted council, from the command line
#   make test   build everything and pass the tests
# Both install missing Debian packages and build incrementally.

BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= 2

.PHONY: all deps configure build run test bench format clean

all: build

deps:
	./scripts/install-deps.sh

$(BUILD_DIR)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

configure: deps $(BUILD_DIR)/CMakeCache.txt

build: configure
	cmake --build $(BUILD_DIR) -j$(JOBS)

run: build
	./$(BUILD_DIR)/orchestrator deliberate --role DEV --agents 3 --rounds 1 \
	  --rubric "Secure, maintainable implementation with tests" \
	  --requirement "input validation" --requirement "rate limiting" \
	  --requirement "audit logging" \
	  "Implement the login endpoint with session handling"

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS)

bench: build
	./$(BUILD_DIR)/bench/deliberation --agents 3 --rounds 1 --concurrency 64 \
	  --deliberations 200000

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf $(BUILD_DIR)
