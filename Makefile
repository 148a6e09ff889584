# SPDX-License-Identifier: GPL-2.0
#
# ipvs_rs: the two commands that matter are `make demo` and `make check`.
# Both install what is missing (scripts/bootstrap.sh), build the cached
# kernel (scripts/kernel-build.sh), the modules and ipvsctl, and boot the
# test VM (scripts/vm-exec.sh). See README.md.
#
# Kbuild compiles the modules (this directory's Kbuild file); this Makefile
# is only read by `make` run here, never by kbuild.

SHELL := /bin/bash
.DEFAULT_GOAL := all
REPO := $(CURDIR)
KCONFIG ?= base
export KCONFIG

LIB := source scripts/lib.sh
KDIR_CMD := scripts/kernel-build.sh

.PHONY: all deps kernel modules ipvsctl genlfuzz build host-test fmt clippy test-unit \
	selftests check soak demo vm-exec vm-shell bench profile clean distclean

all: build

deps:
	@scripts/bootstrap.sh

kernel: deps
	@$(KDIR_CMD) >/dev/null

# The modules, built against the cached kernel with its exact rustc, and
# linted by clippy-driver (module code denies unwrap/expect/indexing/panic).
modules: kernel
	@set -e; $(LIB); kdir=$$($(KDIR_CMD)); \
	$(MAKE) --no-print-directory -C "$$kdir" M="$(REPO)" $$(kbuild_args) \
		CLIPPY=1 CLIPPY_DRIVER=$${KRUSTC%/rustc}/clippy-driver modules; \
	mkdir -p build; cp ipvs_rs.ko toa_rs.ko build/

ipvsctl: deps
	@cargo build --release --locked -q -p ipvsctl
	@mkdir -p build/bin && cp target/release/ipvsctl build/bin/

# The control-plane fuzzer of selftests/test_genl_fuzz.sh.
genlfuzz: deps
	@cargo build --release --locked -q -p genlfuzz
	@mkdir -p build/bin && cp target/release/genlfuzz build/bin/

build: modules ipvsctl genlfuzz

# Host checks: unit and property tests, clippy, formatting.
test-unit: deps
	cargo test --locked -q --workspace

clippy: deps
	cargo clippy --locked -q --workspace --all-targets -- -D warnings

fmt: deps
	cargo fmt --all -- --check
	rustfmt --edition 2021 --check rust/ipvs_rs/ipvs_rs_main.rs rust/toa_rs/toa_rs_main.rs

host-test: test-unit clippy fmt

# Every selftest (or those in T), in one VM boot (TAP 13 on stdout); on
# the debug kernel in two boots side by side (scripts/selftests.sh,
# VM_SHARDS).
selftests: build
	scripts/selftests.sh $(T)

check: host-test selftests
	@echo "make check: all tests passed"

demo: build
	scripts/vm-exec.sh scripts/demo.sh

# The long versions of the hardening tests: the control-plane fuzzer with
# FUZZ_MSGS (100,000) privileged requests (selftests/test_genl_fuzz.sh),
# then SOAK_SECS (600) seconds of traffic with configuration churn
# (selftests/test_soak.sh; SOAK_SEED repeats a run).
soak: build
	scripts/vm-exec.sh "FUZZ_MSGS=$(or $(FUZZ_MSGS),100000) SOAK_SECS=$(or $(SOAK_SECS),600) \
		$(if $(SOAK_SEED),SOAK_SEED=$(SOAK_SEED)) SELFTEST_TIMEOUT=7200 \
		selftests/run.sh test_genl_fuzz.sh test_soak.sh"

# ipvs_rs against upstream ip_vs in one VM boot; writes bench/RESULTS.md
# (Documentation/bench.rst). Builds tools/connbench. Not a test.
bench: build
	scripts/bench.sh

# Where the packet path spends its time (perf in the VM, guest time):
# make profile [LB=ipvs_rs|upstream] [PATHS='nat dr tun fwd']
# (build/profile/LB-PATH.txt).
profile: build
	scripts/profile.sh $(or $(LB),ipvs_rs) $(or $(PATHS),nat)

# make vm-exec CMD='ipvsadm -L -n' (CMD reaches the shell unexpanded)
export CMD
vm-exec: build
	scripts/vm-exec.sh "$$CMD"

vm-shell: build
	scripts/vm-exec.sh

clean:
	@set -e; $(LIB); kdir=$$(kernel_dir)/linux; \
	if [ -d "$$kdir" ]; then $(MAKE) --no-print-directory -C "$$kdir" M="$(REPO)" clean; fi
	rm -rf build rust/kbind/bindings_generated.rs
	cargo clean -q

# Also drop the cached kernel builds.
distclean: clean
	@$(LIB); rm -rf "$$IPVS_RS_CACHE/kernel"
