# iothubd: the two commands are `make run` and `make test`; both install what is missing.
# (npm comes from Debian only when no npm is installed: a Node.js build that bundles its own npm
# conflicts with Debian's npm package.)
#
#   make deps    apt-get install the missing Debian packages; npm ci for the interop tests
#   make build   release-ish build into build/ (build/iothubd, build/iothub)
#   make run     deps + build, then start iothubd with embedded storage in ./iothubd-data
#   make test    deps + sanitizer build (ASan+UBSan) in build-asan/, then every test (ctest)
#                then the short torture suite (tests/torture/run.py --profile short)
#   make torture the full torture suite: SIGKILL cycles, full disk, floods, throttling
#   make fuzz    clang libFuzzer build in build-fuzz/; runs each target FUZZ_SECONDS
#   make bench   benchmark scripts in bench/ (figures go to docs/benchmarks.md)
#   make python  the Python modules iothub_client, iothub_service_client into build/python/
#   make format  clang-format every C file in place

DEBIAN_PACKAGES := build-essential cmake pkg-config clang libclang-rt-14-dev clang-format \
	libevent-dev libssl-dev libsqlite3-dev libjansson-dev libcurl4-openssl-dev libcmocka-dev \
	python3 python3-dev iproute2 util-linux openssl sqlite3 nodejs curl \
	mosquitto-clients mosquitto libqpid-proton11-dev
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60
RUN_ARGS ?=

.PHONY: all deps deps-apt deps-npm build build-asan run test torture fuzz fuzz-build fuzz-smoke bench python format \
	format-check install clean

all: build

deps: deps-apt deps-npm

deps-apt:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
		echo "deps: installing $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

deps-npm:
	@if [ ! -d tests/interop/node_modules ] || \
	    [ tests/interop/package-lock.json -nt tests/interop/node_modules/.package-lock.json ]; then \
		cd tests/interop && npm ci --no-audit --no-fund; \
	fi

build: deps-apt
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build -j $(JOBS)

build-asan: deps-apt
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DIOTHUB_SANITIZE=ON >/dev/null
	cmake --build build-asan -j $(JOBS)

run: build
	./build/iothubd $(RUN_ARGS)

test: deps build build-asan fuzz-smoke
	ctest --test-dir build-asan --output-on-failure -j $(JOBS)
	python3 tests/torture/run.py --profile short

# The torture suite in full (docs/testing.md): 30 SIGKILL cycles, a full disk, a
# 10,000-connection flood, throttling. Ends with "torture: N passed, N failed".
torture: deps build build-asan
	python3 tests/torture/run.py --profile full

fuzz-build: deps-apt
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DIOTHUB_FUZZ=ON \
		-DIOTHUB_SANITIZE=ON >/dev/null
	cmake --build build-fuzz -j $(JOBS)

# A few seconds per target on every `make test`; `make fuzz` for real runs.
fuzz-smoke: fuzz-build
	tools/run-fuzzers build-fuzz 5

fuzz: fuzz-build
	tools/run-fuzzers build-fuzz $(FUZZ_SECONDS)

# docs/python.md: PYTHONPATH=build/python IOTHUB_CA_FILE=<ca.pem> /usr/bin/python3 program.py
python: deps-apt
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build -j $(JOBS) --target python

bench: build deps-npm
	bench/run-all

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

install: build
	cmake --install build

clean:
	rm -rf build build-asan build-fuzz
