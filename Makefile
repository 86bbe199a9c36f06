# SPDX-License-Identifier: Apache-2.0
#
# nametag build.
#   make            build/nametag and build/nametagd
#   make test       install missing Debian packages, build, run every suite
#   make demo       the README's first command
#   make demo-fleet the demo as two nodes and one etcd
#   make deps       only the package step
#   make install    PREFIX (/usr/local) and DESTDIR, as usual
#   make fuzz       every fuzz target for FUZZ_SECONDS (default 300) each
#   V=1             show full commands
#   CFLAGS=..., EXTRA_CFLAGS=..., CC=clang: added to the flags nametag needs
#
# Variants share these rules and differ by output folder and flags:
#   O=build/asan SAN=1   AddressSanitizer + UndefinedBehaviorSanitizer
#   O=build/fuzz FUZZ=1  clang, libFuzzer instrumentation
#   O=build/tsan TSAN=1  ThreadSanitizer (the unit tests: relay threads)
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

ifeq ($(origin CC),default)
CC := gcc
endif
ifeq ($(FUZZ),1)
CC := clang
endif
CLANG ?= clang
LLVM_STRIP ?= llvm-strip
BPFTOOL ?= bpftool

# CFLAGS is the user's to set (optimisation, debug info); what nametag
# needs is added to it, and EXTRA_CFLAGS comes last.
CFLAGS ?= -g -O2
override CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wformat=2 \
	-Wmissing-prototypes -Wredundant-decls -Wno-unused-parameter \
	-fno-strict-aliasing -D_GNU_SOURCE -DNAMETAG_VERSION='"$(VERSION)"' \
	-I. -I$(O) -I/usr/include/libnl3
LDLIBS := -lbpf -lelf -lz -lssl -lcrypto -lcjson -lnl-3 -lnghttp2 -lprotobuf-c -pthread -lcurl

ifeq ($(SAN),1)
override CFLAGS += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(TSAN),1)
override CFLAGS += -O1 -fno-omit-frame-pointer -fsanitize=thread
LDFLAGS += -fsanitize=thread
endif
ifeq ($(FUZZ),1)
override CFLAGS += -O1 -fno-omit-frame-pointer \
	-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=all \
	-DNAMETAG_FUZZ
endif
ALL_CFLAGS = $(CFLAGS) $(EXTRA_CFLAGS)

# ---- libraries ----------------------------------------------------------------
# One static library per folder, each with one header (docs/architecture.md).
# lib/ is libntcore.a, which every other one uses; the daemon's layers
# userspace/datapath and userspace/proxy build as libraries too.
lib_srcs = $(wildcard $(1)/*.c)
lib_objs = $(patsubst %.c,$(O)/%.o,$(call lib_srcs,$(1)))
LIB_NTCORE := $(O)/libntcore.a
LIB_CA := $(O)/libca.a
LIB_ATTEST := $(O)/libattest.a
LIB_ENFORCE := $(O)/libenforce.a
LIB_DATAPATH := $(O)/libdatapath.a
LIB_PROXY := $(O)/libproxy.a
# userspace/workload_api: its rules are below, with its generated code.
WLAPI_LIB := $(O)/libworkload_api.a
LIB_ETCD := $(O)/libetcd.a
# In link order: a library before the ones it uses.
LIBS := $(LIB_ATTEST) $(LIB_ENFORCE) $(LIB_CA) $(LIB_NTCORE)
USERSPACE_LIBS := $(WLAPI_LIB) $(LIB_PROXY) $(LIB_DATAPATH) $(LIB_ETCD)

$(LIB_NTCORE): $(call lib_objs,lib)
$(LIB_CA): $(call lib_objs,ca)
$(LIB_ATTEST): $(call lib_objs,attest)
$(LIB_ENFORCE): $(call lib_objs,enforce)
$(LIB_DATAPATH): $(call lib_objs,userspace/datapath)
$(LIB_PROXY): $(call lib_objs,userspace/proxy)
$(LIB_ETCD): $(call lib_objs,userspace/etcd)
$(LIBS) $(USERSPACE_LIBS):
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

# ---- BPF: one object and skeleton per bpf/*.bpf.c, CO-RE against vmlinux.h ----
BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(O)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(O)/bpf/%.skel.h,$(BPF_SRCS))
BPF_CFLAGS := -g -O2 -Wall -Werror -target bpf -mcpu=v3 -D__TARGET_ARCH_x86 -I.

# The skeleton embeds the object: without DWARF (llvm-strip -g) it is a
# sixth of the size; BTF and CO-RE relocations stay.
$(BPF_OBJS): $(O)/bpf/%.bpf.o: bpf/%.bpf.c
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MMD -MP -c $< -o $@
	$(Q)$(LLVM_STRIP) -g $@

$(SKELS): $(O)/bpf/%.skel.h: $(O)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst .,_,$*)_bpf > $@

# ---- C objects --------------------------------------------------------------------
# -MMD -MP: each object's .d lists the headers it read. Only the datapath,
# the one user of the skeletons, waits for them (before its first build
# the .d files do not exist yet, hence the order-only prerequisite).
$(call lib_objs,userspace/datapath): $(O)/%.o: %.c | $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(O)/%.o: %.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

-include $(wildcard $(O)/*/*.d $(O)/*/*/*.d $(O)/*/*/*/*.d)

# ---- programs -----------------------------------------------------------------------
TOOL_OBJS := $(patsubst %.c,$(O)/%.o,$(wildcard tools/*.c))
DAEMON_OBJS := $(patsubst %.c,$(O)/%.o,$(wildcard userspace/daemon/*.c))

.PHONY: all
all: $(O)/nametag $(O)/nametagd

# The CLI's Workload API client takes only the protobuf-c code generated
# into libworkload_api.a, never the server.
$(O)/nametag: $(TOOL_OBJS) $(WLAPI_LIB) $(LIB_ETCD) $(LIBS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $(TOOL_OBJS) $(WLAPI_LIB) $(LIB_ETCD) $(LIBS) $(LDLIBS) -o $@

$(O)/nametagd: $(DAEMON_OBJS) $(USERSPACE_LIBS) $(LIBS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $(DAEMON_OBJS) $(USERSPACE_LIBS) $(LIBS) $(LDLIBS) -o $@

# ---- tests --------------------------------------------------------------------------
UNIT_BINS := $(patsubst tests/unit/%.c,$(O)/unit/%,$(wildcard tests/unit/test_*.c))
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(O)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
HARNESS := $(O)/tests/unit/harness.o

# Every unit test may use every library; a test pulls only the objects it
# calls (the proxy's tests, userspace/proxy and its datapath calls).
$(O)/unit/%: $(O)/tests/unit/%.o $(HARNESS) $(USERSPACE_LIBS) $(LIBS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $< $(HARNESS) $(USERSPACE_LIBS) $(LIBS) $(LDLIBS) -o $@

# The sk_lookup program's test loads its skeleton.
$(O)/tests/unit/test_sk_lookup.o: | $(SKELS)

$(O)/fuzz/%: $(O)/tests/fuzz/%.o $(USERSPACE_LIBS) $(LIBS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -fsanitize=address,undefined,fuzzer $< $(USERSPACE_LIBS) $(LIBS) \
		$(LDLIBS) -o $@

$(O)/bench/%: $(O)/bench/%.o $(LIBS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $< $(LIBS) $(LDLIBS) -o $@

.PHONY: unit fuzz-bins
unit: $(UNIT_BINS)
fuzz-bins: $(FUZZ_BINS)

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

# ---- live-test helper: nt_testproxy stands in for the node proxy ----------
TESTPROXY := $(O)/tests/nt_testproxy
all unit: $(TESTPROXY)

$(TESTPROXY): $(O)/tests/live/nt_testproxy.o $(LIBS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $< $(LIBS) $(LDLIBS) -o $@

# nt_connect: connect() through io_uring, and a connect flood (test_held*)
NT_CONNECT := $(O)/tests/nt_connect
all unit: $(NT_CONNECT)

$(NT_CONNECT): $(O)/tests/live/nt_connect.o
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $< -o $@

# ---- userspace/workload_api: the SPIFFE Workload API (docs/workload-api.md) --
# libworkload_api.a: the library and the protobuf-c code generated from its
# .proto (and from google/protobuf/struct.proto, which it imports); nghttp2
# and protobuf-c are in LDLIBS.
WLAPI_DIR := userspace/workload_api
PB_DIR := $(O)/proto
PROTO_INC := /usr/include
PB_SRCS := $(PB_DIR)/workload.pb-c.c $(PB_DIR)/google/protobuf/struct.pb-c.c
PB_HDRS := $(PB_SRCS:.c=.h)
WLAPI_OBJS := $(patsubst %.c,$(O)/%.o,$(wildcard $(WLAPI_DIR)/*.c))
WLAPI_TESTD := $(O)/tests/wlapi_testd
all unit: $(WLAPI_LIB) $(WLAPI_TESTD)

$(PB_DIR)/workload.pb-c.c: $(WLAPI_DIR)/workload.proto
	$(call msg,PROTOC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)protoc-c --c_out=$(PB_DIR) -I$(WLAPI_DIR) -I$(PROTO_INC) $<

$(PB_DIR)/google/protobuf/struct.pb-c.c: $(PROTO_INC)/google/protobuf/struct.proto
	$(call msg,PROTOC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)protoc-c --c_out=$(PB_DIR) -I$(PROTO_INC) google/protobuf/struct.proto

$(PB_DIR)/%.pb-c.h: $(PB_DIR)/%.pb-c.c ;

$(PB_DIR)/%.pb-c.o: $(PB_DIR)/%.pb-c.c $(PB_HDRS)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -I$(PB_DIR) -c $< -o $@

$(WLAPI_OBJS) $(TOOL_OBJS) $(O)/tests/workload_api/wlapi_testd.o \
$(O)/tests/fuzz/fuzz_wlapi.o: CFLAGS += -I$(PB_DIR)
$(WLAPI_OBJS) $(TOOL_OBJS) $(O)/tests/workload_api/wlapi_testd.o \
$(O)/tests/fuzz/fuzz_wlapi.o: $(PB_HDRS)

$(WLAPI_LIB): $(WLAPI_OBJS) $(PB_SRCS:.c=.o)

# The stand-in daemon the client suites drive (tests/workload_api/).
$(WLAPI_TESTD): $(O)/tests/workload_api/wlapi_testd.o $(WLAPI_LIB) $(LIB_CA) $(LIB_NTCORE)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $< $(WLAPI_LIB) $(LIB_CA) $(LIB_NTCORE) \
		$(LDLIBS) -o $@

$(O)/fuzz/fuzz_wlapi: $(O)/tests/fuzz/fuzz_wlapi.o $(WLAPI_LIB) $(LIB_CA) $(LIB_NTCORE)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -fsanitize=address,undefined,fuzzer $< $(WLAPI_LIB) \
		$(LIB_CA) $(LIB_NTCORE) $(LDLIBS) -o $@

# Python stubs for the python3-grpcio client, from the same .proto.
WLAPI_PB2 := $(O)/tests/workload_api/workload_pb2.py
all unit: $(WLAPI_PB2)
$(WLAPI_PB2): $(WLAPI_DIR)/workload.proto
	$(call msg,PROTOC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)protoc --python_out=$(@D) -I$(WLAPI_DIR) -I$(PROTO_INC) $<

# @grpc/grpc-js and @grpc/proto-loader at the versions package-lock.json
# pins, into build/npm (shared by every build variant, never committed).
NPM_DIR := build/npm
.PHONY: npm-deps
npm-deps: $(NPM_DIR)/node_modules/.installed
$(NPM_DIR)/node_modules/.installed: tests/workload_api/package.json \
				    tests/workload_api/package-lock.json
	$(call msg,NPM,$(NPM_DIR))
	$(Q)mkdir -p $(NPM_DIR)
	$(Q)cp $^ $(NPM_DIR)/
	$(Q)cd $(NPM_DIR) && npm ci --no-audit --no-fund --ignore-scripts \
		--loglevel=error >/dev/null
	$(Q)touch $@

# make bench-etcd: propagation to 50 light watchers and etcd's cost
# (docs/fleet.md "Scale").
$(O)/bench/etcd_%: $(O)/bench/etcd_%.o $(LIB_ETCD) $(LIBS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $< $(LIB_ETCD) $(LIBS) $(LDLIBS) -o $@

.PHONY: bench-etcd
bench-etcd: $(O)/bench/etcd_fanout
	$(Q)ETCD_FANOUT=$(O)/bench/etcd_fanout bench/etcd-fanout.sh

# ---- tests/vm: kTLS on Debian's kernel under qemu ---------------------------
KTLS_SELFTEST := $(O)/tests/ktls_selftest
unit: $(KTLS_SELFTEST)

$(KTLS_SELFTEST): $(O)/tests/vm/ktls_selftest.o $(LIB_PROXY) $(LIBS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $< $(LIB_PROXY) $(LIBS) $(LDLIBS) -o $@

# Boots the VM (kernel fetched once into build/vm/) and runs the suite there.
.PHONY: vm-test
vm-test: $(KTLS_SELFTEST) all
	$(Q)tests/vm/run-in-vm.sh --timeout 240 -- \
		env KTLS_SELFTEST=$(KTLS_SELFTEST) tests/vm/test_ktls.sh
	$(Q)tests/vm/run-in-vm.sh --timeout 300 -- tests/vm/test_mesh_ktls.sh
	$(Q)tests/vm/run-in-vm.sh --timeout 400 -- tests/vm/test_upgrade_ktls.sh

# ---- dependencies: Debian 12 packages, installed only when missing ---------
DEB_BUILD := gcc make clang llvm pkg-config libssl-dev openssl libcjson-dev \
	     libbpf-dev bpftool libelf-dev zlib1g-dev libnl-3-dev \
	     libnl-route-3-dev libclang-rt-14-dev libcurl4-openssl-dev \
	     libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev
DEB_TEST := iproute2 procps jq python3 python3-cryptography util-linux curl tcpdump \
	    qemu-system-x86 busybox-static cpio kmod iperf3 stunnel4 haproxy \
	    prometheus python3-grpcio python3-protobuf protobuf-compiler python3-h2 \
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
	@# node and npm by command: a NodeSource nodejs provides npm itself.
	$(Q)if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		echo "deps: installing nodejs npm"; \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq nodejs npm; \
	fi
	$(Q)$(MAKE) --no-print-directory npm-deps

# ---- tests ----------------------------------------------------------------
.PHONY: test check
test: deps
	$(Q)$(MAKE) --no-print-directory all unit
	$(Q)$(MAKE) --no-print-directory O=build/asan SAN=1 all unit
	$(Q)$(MAKE) --no-print-directory O=build/fuzz FUZZ=1 fuzz-bins
	$(Q)tests/run

check: test

# Longer fuzzing campaigns: FUZZ_SECONDS per target (1-2M executions in
# 5 minutes for the bundle and SVID targets; 10M each before a release).
FUZZ_SECONDS ?= 300
.PHONY: fuzz
fuzz:
	$(Q)$(MAKE) --no-print-directory O=build/fuzz FUZZ=1 fuzz-bins
	$(Q)tests/fuzz/run --seconds $(FUZZ_SECONDS) build/fuzz/fuzz/fuzz_*

.PHONY: demo demo-fleet
demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/demo.sh

# The same as a fleet: one etcd, a signer, two nodes (docs/fleet.md).
demo-fleet: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/demo_fleet.sh

# ---- install ----------------------------------------------------------------
PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
DOCDIR ?= $(DATADIR)/doc/nametag
COMPLETIONDIR ?= $(DATADIR)/bash-completion/completions
UNITDIR ?= $(PREFIX)/lib/systemd/system

.PHONY: install uninstall
install: all
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)install -D -m 0755 $(O)/nametag $(DESTDIR)$(SBINDIR)/nametag
	$(Q)install -D -m 0755 $(O)/nametagd $(DESTDIR)$(SBINDIR)/nametagd
	$(Q)install -D -m 0644 docs/man/nametag.8 $(DESTDIR)$(MANDIR)/man8/nametag.8
	$(Q)install -D -m 0644 docs/man/nametagd.8 $(DESTDIR)$(MANDIR)/man8/nametagd.8
	$(Q)install -D -m 0644 contrib/bash-completion/nametag \
		$(DESTDIR)$(COMPLETIONDIR)/nametag
	$(Q)install -d $(DESTDIR)$(UNITDIR)
	$(Q)sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' \
		contrib/nametagd.service.in > $(DESTDIR)$(UNITDIR)/nametagd.service
	$(Q)chmod 0644 $(DESTDIR)$(UNITDIR)/nametagd.service
	$(Q)install -D -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md

uninstall:
	$(Q)rm -f $(DESTDIR)$(SBINDIR)/nametag $(DESTDIR)$(SBINDIR)/nametagd \
		$(DESTDIR)$(MANDIR)/man8/nametag.8 $(DESTDIR)$(MANDIR)/man8/nametagd.8 \
		$(DESTDIR)$(COMPLETIONDIR)/nametag $(DESTDIR)$(UNITDIR)/nametagd.service \
		$(DESTDIR)$(DOCDIR)/README.md

.PHONY: clean
clean:
	$(Q)rm -rf build
