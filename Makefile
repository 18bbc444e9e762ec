# The README's commands. CMake does the building; this file only names the jobs.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CTEST = ctest --output-on-failure -j $(JOBS) --timeout 300

.PHONY: all deps build test sanitize tsan demo fuzz install clean

all: build

deps:
	@scripts/deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && $(CTEST)

# AddressSanitizer + UndefinedBehaviorSanitizer over the whole suite.
sanitize: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug \
	    -DIOM_SANITIZE=address,undefined
	cmake --build build-asan -j $(JOBS)
	cd build-asan && $(CTEST)

# ThreadSanitizer over the suites that use threads: the pool, the loop's
# cross-thread wake-ups and signals, and a run-mode case woken by a thread.
# (TSan holds signals back until an intercepted call, which the single-
# threaded selector tests' signal cases never make.)
tsan: deps
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DIOM_SANITIZE=thread
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

install: build
	cmake --install $(BUILD) $(if $(PREFIX),--prefix $(PREFIX))

clean:
	rm -rf build build-asan build-tsan
