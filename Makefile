# rdocker — build, run and test. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

CARGO     ?= cargo
PREFIX    ?= /usr/local
UNITDIR   ?= /etc/systemd/system

# `make run` daemon (the same defaults as rdockerd itself).
SOCK      ?= /run/rdocker.sock
DATA_ROOT ?= /var/lib/rdocker
EXEC_ROOT ?= /run/rdocker
PIDFILE   ?= /run/rdockerd.pid
LOGFILE   ?= /var/log/rdockerd.log
DRIVER    ?= overlay2

IMAGE     := out/busybox.tar
RELEASE   := $(or $(CARGO_TARGET_DIR),target)/release
# Tests that need no root (no namespaces, mounts or cgroups): every test of these packages,
# and the unit tests (--lib) of the driver crates, whose tests/ directories need root.
UNIT_PKGS     := api image client daemon testutil
UNIT_LIB_PKGS := graphdriver execdriver

.PHONY: help build release image deps run stop test test-unit lint fmt bench install require-root

help:
	@echo "make build      debug build of the workspace"
	@echo "make run        (root) deps + release build + image, start rdockerd on $(SOCK), run a container"
	@echo "make stop       stop the daemon started by 'make run'"
	@echo "make test       (root) every test, integration tests against a real rdockerd included"
	@echo "make test-unit  the tests that need no root: $(UNIT_PKGS), --lib of $(UNIT_LIB_PKGS)"
	@echo "make lint       clippy -D warnings and rustfmt --check"
	@echo "make bench      (root) container start latency and daemon RSS (scripts/bench.sh)"
	@echo "make install    (root) binaries to $(PREFIX)/bin, systemd unit to $(UNITDIR)"

build:
	$(CARGO) build --workspace

# The release binaries are linked statically (static-pie): rdocker skips dynamic loading and
# relocation at every start (about 0.5 ms of each CLI command on the test VM), and rdockerd
# maps no shared libraries (about 1 MB less resident). Only their final link differs, so they
# are built apart from the rest of the workspace (proc-macros cannot be built crt-static).
# glibc still loads its NSS modules (host name lookup) from the system at run time: build on
# the machine that runs the binaries, as `make run` and `make install` do.
release:
	$(CARGO) build --workspace --release --exclude client --exclude daemon
	$(CARGO) rustc -p client --release --bin rdocker -- -C target-feature=+crt-static
	$(CARGO) rustc -p daemon --release --bin rdockerd -- -C target-feature=+crt-static

# Installs what is missing on a fresh Debian 12; on a prepared machine it does no network access.
deps:
	@need=(); \
	if ! { dpkg-query -W -f='$${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' && [ -x /bin/busybox ]; }; then \
		need+=(busybox-static); fi; \
	command -v ip >/dev/null || need+=(iproute2); \
	command -v curl >/dev/null || need+=(curl); \
	command -v docker-registry >/dev/null || need+=(docker-registry); \
	command -v skopeo >/dev/null || need+=(skopeo); \
	command -v cc >/dev/null || need+=(gcc libc6-dev); \
	if [ $${#need[@]} -gt 0 ]; then \
		[ "$$(id -u)" = 0 ] || { echo "deps: missing $${need[*]}; run 'make deps' as root" >&2; exit 1; }; \
		echo "deps: installing $${need[*]}"; \
		apt-get update; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$${need[@]}"; \
	fi; \
	command -v $(CARGO) >/dev/null || { echo "deps: cargo not found; install Rust (https://rustup.rs)" >&2; exit 1; }

image: $(IMAGE)

$(IMAGE): scripts/mkimage.sh $(wildcard /bin/busybox) | deps
	scripts/mkimage.sh $@

require-root:
	@if [ "$$(id -u)" != 0 ]; then \
		echo "ERROR: this target needs root (namespaces, mounts, cgroups). Run it as root: sudo make $(MAKECMDGOALS)" >&2; \
		exit 1; fi

run: require-root deps release image
	@if [ -f $(PIDFILE) ] && kill -0 "$$(cat $(PIDFILE))" 2>/dev/null; then \
		echo "rdockerd already running (pid $$(cat $(PIDFILE)))"; \
	else \
		mkdir -p $(DATA_ROOT) $(EXEC_ROOT) "$$(dirname $(LOGFILE))"; \
		echo "starting rdockerd on unix://$(SOCK) (log: $(LOGFILE))"; \
		setsid -f $(RELEASE)/rdockerd -H unix://$(SOCK) --data-root $(DATA_ROOT) --exec-root $(EXEC_ROOT) \
			--storage-driver $(DRIVER) --pidfile $(PIDFILE) --log-level info </dev/null >>$(LOGFILE) 2>&1; \
	fi
	@for i in $$(seq 1 200); do \
		curl -sf --unix-socket $(SOCK) http://localhost/_ping >/dev/null && exit 0; sleep 0.05; \
	done; echo "rdockerd did not answer /_ping on $(SOCK) within 10s; see $(LOGFILE)" >&2; tail -n 20 $(LOGFILE) >&2; exit 1
	@curl -sf --unix-socket $(SOCK) http://localhost/images/busybox:latest/json >/dev/null || \
		$(RELEASE)/rdocker -H unix://$(SOCK) import $(IMAGE) busybox:latest
	$(RELEASE)/rdocker -H unix://$(SOCK) run --rm busybox echo "hello from rdocker"
	@echo "rdockerd is running: export DOCKER_HOST=unix://$(SOCK) to use it with docker or rdocker; 'make stop' stops it"

stop:
	@if [ ! -f $(PIDFILE) ]; then echo "no $(PIDFILE): rdockerd not started by 'make run'"; exit 0; fi; \
	pid=$$(cat $(PIDFILE)); \
	if ! kill -0 "$$pid" 2>/dev/null; then echo "rdockerd (pid $$pid) is not running"; rm -f $(PIDFILE); exit 0; fi; \
	kill -TERM "$$pid"; \
	for i in $$(seq 1 200); do kill -0 "$$pid" 2>/dev/null || { echo "rdockerd stopped"; rm -f $(PIDFILE); exit 0; }; sleep 0.05; done; \
	echo "rdockerd (pid $$pid) did not stop within 10s" >&2; exit 1

test: require-root deps image build
	$(CARGO) test --workspace --no-fail-fast -- --test-threads=2

test-unit:
	$(CARGO) test $(addprefix -p ,$(UNIT_PKGS))
	$(CARGO) test $(addprefix -p ,$(UNIT_LIB_PKGS)) --lib

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) fmt --all -- --check

fmt:
	$(CARGO) fmt --all

bench: require-root deps release image
	scripts/bench.sh

install: require-root release
	install -D -m 0755 $(RELEASE)/rdockerd $(DESTDIR)$(PREFIX)/bin/rdockerd
	install -D -m 0755 $(RELEASE)/rdocker $(DESTDIR)$(PREFIX)/bin/rdocker
	install -D -m 0644 daemon/rdockerd.service $(DESTDIR)$(UNITDIR)/rdockerd.service
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; \
		echo "installed; start with: systemctl enable --now rdockerd"; fi
