# The two commands of the README: `make demo` and `make test`. Both install what is missing
# (scripts/install-deps.sh), configure with CMake presets and build with Ninja.
#
#   make demo        build release and run `mmsb demo`
#   make test        build release and run every test; with CI=true also the 200-kill crash
#                    test, the asan-ubsan and tsan builds and a short fuzz run
#   make bench       build release and run the benchmarks (BENCH_FILTER=regex to narrow), then
#                    the Python ones (bench/python) with their C++ peers
#   make python      build release and print the PYTHONPATH that imports mmsb from the build tree
#   make asan|tsan   build and test under ASan+UBSan or TSan
#   make fuzz        build the libFuzzer targets (clang) and run each for FUZZ_SECONDS
#   make soak        run the simulator on fresh seeds for SECONDS (default 60)
#   make package     build the Debian package (build/release/mmsb_<version>_amd64.deb)
#   make consumer    install to a temporary prefix and into an unpacked .deb, and build
#                    and run the projects of tests/consumer against each (C++ and C); pip
#                    install the Python package into a virtual environment and run it
#                    (CI=true: in test)
#   make format      clang-format every source file

ifeq ($(CI),true)
export MMSB_WERROR := ON
else
export MMSB_WERROR ?= OFF
endif

RELEASE_DIR := build/release
BENCH_FILTER ?= .
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := delta_decode tick_record segment checkpoint ruleset wire
SECONDS ?= 60
SOAK_START ?= $(shell date +%s)

.PHONY: all deps build demo test bench python asan tsan fuzz soak package consumer format clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release

demo: build
	@$(RELEASE_DIR)/tools/mmsb/mmsb demo

test: build
	@ctest --preset release
ifeq ($(CI),true)
	@MMSB_KILL_ROUNDS=200 $(RELEASE_DIR)/tests/mmsb_tests --gtest_filter='KillTest.*' --gtest_brief=1
	@$(MAKE) --no-print-directory consumer
	@$(MAKE) --no-print-directory asan
	@$(MAKE) --no-print-directory tsan
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=15
endif

bench: build
	@$(RELEASE_DIR)/bench/mmsb_bench --benchmark_filter='$(BENCH_FILTER)'
	@PYTHONPATH=$(RELEASE_DIR)/python /usr/bin/python3 bench/python/bench_python.py \
		--cpp $(RELEASE_DIR)/bench/mmsb_bench

python: build
	@echo "export PYTHONPATH=$(CURDIR)/$(RELEASE_DIR)/python"

asan: deps
	@cmake --preset asan-ubsan >/dev/null
	@cmake --build --preset asan-ubsan
	@ctest --preset asan-ubsan

tsan: deps
	@cmake --preset tsan >/dev/null
	@cmake --build --preset tsan
	@ctest --preset tsan

fuzz: deps
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz
	@for target in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/corpus/$$target; \
		build/fuzz/tests/fuzz/fuzz_$$target -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=build/fuzz/ \
			build/fuzz/corpus/$$target > build/fuzz/$$target.log 2>&1 \
			|| { tail -40 build/fuzz/$$target.log; exit 1; }; \
		printf '%s: ' $$target; grep -E "^Done [0-9]+ runs" build/fuzz/$$target.log; \
	done

package: build
	@cd $(RELEASE_DIR) && cpack -G DEB >/dev/null && ls mmsb_*_amd64.deb

consumer: package
	@rm -rf $(RELEASE_DIR)/consumer-prefix
	@cmake --install $(RELEASE_DIR) --prefix $(RELEASE_DIR)/consumer-prefix >/dev/null
	@bash tests/consumer/run.sh $(RELEASE_DIR)/consumer-prefix
	@bash tests/consumer/run.sh --deb $$(ls $(RELEASE_DIR)/mmsb_*_amd64.deb)
	@bash tests/consumer/python.sh

soak: build
	@$(RELEASE_DIR)/tests/mmsb_sim --soak $(SECONDS) --start $(SOAK_START)

format:
	@clang-format -i $$(git ls-files '*.hpp' '*.cpp')

clean:
	@rm -rf build
