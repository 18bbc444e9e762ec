# The README's commands. CMake does the building; this file only names the jobs.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CTEST = ctest --output-on-failure -j $(JOBS) --timeout 300

# The cmake -D flags for configuring build directory $(1) as build type
# $(2): the type only when the directory is new, so a build configured by
# hand (say, in Release) keeps its own; IOM_WERROR only when WERROR is given
# (CI: make test WERROR=1), else the cache keeps its value (default off).
cmake_flags = $(if $(wildcard $(1)/CMakeCache.txt),,-DCMAKE_BUILD_TYPE=$(2)) \
              $(if $(WERROR),-DIOM_WERROR=$(WERROR))

.PHONY: all deps build test sanitize tsan demo fuzz install clean

all: build

deps:
	@scripts/deps.sh

build: deps
	cmake -S . -B $(BUILD) $(call cmake_flags,$(BUILD),RelWithDebInfo)
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && $(CTEST)

# AddressSanitizer + UndefinedBehaviorSanitizer over the whole suite.
sanitize: deps
	cmake -S . -B build-asan $(call cmake_flags,build-asan,Debug) \
	    -DIOM_SANITIZE=address,undefined
	cmake --build build-asan -j $(JOBS)
	cd build-asan && $(CTEST)

# ThreadSanitizer over the suites that use threads: the pool, the loop's
# cross-thread wake-ups and signals, and a run-mode case woken by a thread.
# (TSan holds signals back until an intercepted call, which the single-
# threaded selector tests' signal cases never make.)
tsan: deps
	cmake -S . -B build-tsan $(call cmake_flags,build-tsan,Debug) \
	    -DIOM_SANITIZE=thread
	cmake --build build-tsan -j $(JOBS)
	cd build-tsan && $(CTEST) -R '^(pool|loop_async|loop_signal|loop_run)(\.|$$)'

# The lab in one command (under 3 minutes on 2 cores): what one wake-up
# costs per backend as fds grow, then the telling echo models and the
# libuv/libev anchors side by side at 1, 100 and 1000 connections. The
# comparison's table comes last, with where its report and charts are.
demo:
	@scripts/deps.sh bench
	$(MAKE) build
	$(BUILD)/apps/bench/iomux-bench selector
	$(BUILD)/apps/bench/iomux-bench compare --quick --out report

# The fuzz targets under clang's libFuzzer with ASan and UBSan, each for
# FUZZ_SECONDS (default 60): the IRC line parser and command dispatch
# (tests/fuzz/fuzz_irc.c; inputs it finds go to build-fuzz/corpus_irc, a
# crash leaves its input in build-fuzz/), then the HTTP response parser
# (tests/fuzz/http).
FUZZ_SECONDS ?= 60
fuzz: build
	tests/fuzz/build.sh build-fuzz/fuzz_irc
	mkdir -p build-fuzz/corpus_irc
	cd build-fuzz && ./fuzz_irc -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	    -dict=../tests/fuzz/irc.dict corpus_irc ../tests/fuzz/corpus_irc
	cmake -S . -B $(BUILD) -DFUZZ_SECONDS=$(FUZZ_SECONDS)
	cmake --build $(BUILD) --target fuzz-http

# Build the existing build directory as it is configured (its type and
# options stay; no dependency check) and install it. Only a directory never
# configured is made first, by make build.
install:
	$(if $(wildcard $(BUILD)/CMakeCache.txt),,$(MAKE) build)
	cmake --build $(BUILD) -j $(JOBS)
	cmake --install $(BUILD) $(if $(PREFIX),--prefix $(PREFIX))

clean:
	rm -rf build build-asan build-tsan
