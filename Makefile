# SPDX-License-Identifier: Apache-2.0
#
# nametag build.
#   make            build/nametag and build/nametagd
#   make test       install missing Debian packages, build, run every suite
#   make demo       the README's first command
#   make deps       only the package step
#   V=1             show full commands
#
# Variants share these rules and differ by output folder and flags:
#   O=build/asan SAN=1   AddressSanitizer + UndefinedBehaviorSanitizer
#   O=build/fuzz FUZZ=1  clang, libFuzzer instrumentation
.DELETE_ON_ERROR:
.SUFFIXES:
.SECONDARY:

O ?= build
VERSION := 0.1.0

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

CC ?= cc
ifeq ($(origin CC),default)
CC := gcc
endif
ifeq ($(FUZZ),1)
CC := clang
endif

CFLAGS := -std=gnu11 -g -O2 -Wall -Wextra -Werror -Wshadow -Wformat=2 \
	  -Wno-unused-parameter -fno-strict-aliasing -D_GNU_SOURCE \
	  -DNAMETAG_VERSION='"$(VERSION)"' -I. -I/usr/include/libnl3
LDLIBS := -lbpf -lelf -lz -lssl -lcrypto -lcjson -lnl-3

ifeq ($(SAN),1)
CFLAGS += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	  -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(FUZZ),1)
CFLAGS += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined,fuzzer-no-link \
	  -fno-sanitize-recover=all -DNAMETAG_FUZZ
endif

# One static library per pure component; each has one header.
LIBDIRS := ca attest enforce
lib_srcs = $(wildcard $(1)/*.c)
lib_objs = $(patsubst %.c,$(O)/%.o,$(call lib_srcs,$(1)))
LIBS := $(foreach d,$(LIBDIRS),$(if $(call lib_srcs,$(d)),$(O)/lib$(d).a))
# attest and enforce use ca, so ca comes last on the link line.
LINKLIBS := $(filter-out $(O)/libca.a,$(LIBS)) $(filter $(O)/libca.a,$(LIBS))

# BPF: one object and skeleton per bpf/*.bpf.c, CO-RE against vmlinux.h.
BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(O)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(O)/bpf/%.skel.h,$(BPF_SRCS))
BPF_CFLAGS := -g -O2 -Wall -Werror -target bpf -mcpu=v3 -D__TARGET_ARCH_x86 -I.
CLANG ?= clang
BPFTOOL ?= bpftool

TOOL_OBJS := $(patsubst %.c,$(O)/%.o,$(wildcard tools/*.c))
DAEMON_OBJS := $(patsubst %.c,$(O)/%.o,$(wildcard userspace/*.c))
# userspace/ files the CLI links too (feature probing, pinned-object access)
SHARED_OBJS := $(filter $(O)/userspace/shared_%.o,$(DAEMON_OBJS))
UNIT_BINS := $(patsubst tests/unit/%.c,$(O)/unit/%,$(wildcard tests/unit/test_*.c))
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(O)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))

.PHONY: all
all: $(O)/nametag $(O)/nametagd

$(O)/%.o: %.c $(wildcard */*.h */*/*.h) | $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -I$(O) -c $< -o $@

$(O)/bpf/%.bpf.o: bpf/%.bpf.c bpf/nametag.h vmlinux.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(O)/bpf/%.skel.h: $(O)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst .,_,$*)_bpf > $@

define lib_rule
$(O)/lib$(1).a: $(call lib_objs,$(1))
	$$(call msg,AR,$$@)
	$$(Q)rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach d,$(LIBDIRS),$(eval $(call lib_rule,$(d))))

$(O)/nametag: $(TOOL_OBJS) $(SHARED_OBJS) $(LIBS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $(TOOL_OBJS) $(SHARED_OBJS) $(LINKLIBS) $(LDLIBS) -o $@

$(O)/nametagd: $(DAEMON_OBJS) $(LIBS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $(DAEMON_OBJS) $(LINKLIBS) $(LDLIBS) -o $@

$(O)/unit/%: $(O)/tests/unit/%.o $(O)/tests/unit/harness.o $(LIBS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $< $(O)/tests/unit/harness.o $(LINKLIBS) $(LDLIBS) -o $@

$(O)/fuzz/%: $(O)/tests/fuzz/%.o $(LIBS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -fsanitize=address,undefined,fuzzer $< $(LINKLIBS) $(LDLIBS) -o $@

$(O)/bench/%: $(O)/bench/%.o $(LIBS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $< $(LINKLIBS) $(LDLIBS) -o $@

# ---- bench/: nametag against plain TCP, stunnel4 and haproxy ---------------
# make bench: SVID mint/verify rates, then bench/run (the side-by-side run,
# about 25 min; docs/performance.md) with the kTLS ratio in the VM.
# BENCH_ARGS=--quick: the one-minute version.
CONNBENCH := $(O)/bench/connbench
unit: $(CONNBENCH)

$(CONNBENCH): $(O)/bench/connbench.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $< -lpthread -o $@

.PHONY: bench
bench: all $(O)/bench/bench_ca $(CONNBENCH)
	$(Q)$(O)/bench/bench_ca
	$(Q)NAMETAG=$(O)/nametag NAMETAGD=$(O)/nametagd CONNBENCH=$(CONNBENCH) \
		bench/run --with-vm $(BENCH_ARGS)

.PHONY: unit fuzz-bins
unit: $(UNIT_BINS)
fuzz-bins: $(FUZZ_BINS)

# ---- live-test helper: nt_testproxy stands in for the node proxy ----------
TESTPROXY := $(O)/tests/nt_testproxy
all unit: $(TESTPROXY)

$(TESTPROXY): $(O)/tests/live/nt_testproxy.o
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $< $(LDLIBS) -o $@

# ---- userspace/etcd: the etcd v3 client (docs/fleet.md) ----------------------
# Its own library, linked with libcurl; the daemon links it in #12's second
# phase. Its tests start a real etcd (tests/unit/fixture_etcd.h).
ETCD_LIB := $(O)/libetcd.a
ETCD_OBJS := $(patsubst %.c,$(O)/%.o,$(wildcard userspace/etcd/*.c))
ETCD_LDLIBS := -lcurl
all unit: $(ETCD_LIB)

$(ETCD_LIB): $(ETCD_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/unit/test_etcd%: $(O)/tests/unit/test_etcd%.o $(O)/tests/unit/harness.o \
		$(ETCD_LIB) $(LIBS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $< $(O)/tests/unit/harness.o $(ETCD_LIB) \
		$(LINKLIBS) $(LDLIBS) $(ETCD_LDLIBS) -o $@

# make bench-etcd: propagation to 50 light watchers and etcd's cost
# (docs/fleet.md "Scale").
$(O)/bench/etcd_%: $(O)/bench/etcd_%.o $(ETCD_LIB) $(LIBS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $< $(ETCD_LIB) $(LINKLIBS) $(LDLIBS) $(ETCD_LDLIBS) -o $@

.PHONY: bench-etcd
bench-etcd: $(O)/bench/etcd_fanout
	$(Q)ETCD_FANOUT=$(O)/bench/etcd_fanout bench/etcd-fanout.sh

$(O)/fuzz/fuzz_etcd%: $(O)/tests/fuzz/fuzz_etcd%.o $(ETCD_LIB) $(LIBS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -fsanitize=address,undefined,fuzzer $< $(ETCD_LIB) \
		$(LINKLIBS) $(LDLIBS) $(ETCD_LDLIBS) -o $@

# ---- tests/vm: kTLS on Debian's kernel under qemu ---------------------------
KTLS_SELFTEST := $(O)/tests/ktls_selftest
unit: $(KTLS_SELFTEST)

$(KTLS_SELFTEST): $(O)/tests/vm/ktls_selftest.o $(O)/userspace/ktls.o $(O)/libca.a
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Boots the VM (kernel fetched once into build/vm/) and runs the suite there.
.PHONY: vm-test
vm-test: $(KTLS_SELFTEST) all
	$(Q)tests/vm/run-in-vm.sh --timeout 240 -- \
		env KTLS_SELFTEST=$(KTLS_SELFTEST) tests/vm/test_ktls.sh
	$(Q)tests/vm/run-in-vm.sh --timeout 300 -- tests/vm/test_mesh_ktls.sh

# ---- dependencies: Debian 12 packages, installed only when missing ---------
DEB_BUILD := gcc make clang llvm pkg-config libssl-dev openssl libcjson-dev \
	     libbpf-dev bpftool libelf-dev zlib1g-dev libnl-3-dev \
	     libnl-route-3-dev libclang-rt-14-dev libcurl4-openssl-dev
DEB_TEST := iproute2 procps jq python3 util-linux curl tcpdump \
	    qemu-system-x86 busybox-static cpio kmod iperf3 stunnel4 haproxy \
	    etcd-server etcd-client

.PHONY: deps
deps:
	$(Q)missing=$$(for p in $(DEB_BUILD) $(DEB_TEST); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		echo "deps: installing" $$missing; \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing; \
	fi

# ---- tests ----------------------------------------------------------------
.PHONY: test check
test: deps
	$(Q)$(MAKE) --no-print-directory all unit
	$(Q)$(MAKE) --no-print-directory O=build/asan SAN=1 all unit
	$(Q)$(MAKE) --no-print-directory O=build/fuzz FUZZ=1 fuzz-bins
	$(Q)tests/run

check: test

.PHONY: demo
demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/demo.sh

.PHONY: clean
clean:
	$(Q)rm -rf build
