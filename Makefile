# rrun: build, test, demo, install, bench. Every target installs what it needs itself
# (Debian packages through apt-get) so it works on a fresh machine as root.

CARGO   ?= cargo
PREFIX  ?= /usr/local
# .cargo/config.toml names the target (for the static link), hence the triple in paths.
# musl where rustup has (or can fetch) its target, else glibc (see `toolchain`): evaluated
# when used, after `toolchain` ran. Exported, so cargo and the scripts build and find the
# same one.
MUSL    := x86_64-unknown-linux-musl
TARGET   = $(shell rustup target list --installed 2>/dev/null | grep -qx $(MUSL) && echo $(MUSL) || echo x86_64-unknown-linux-gnu)
export CARGO_BUILD_TARGET = $(TARGET)
BUILD_DIR = target/$(TARGET)
RELEASE  = $(BUILD_DIR)/release/rrun
APT     := DEBIAN_FRONTEND=noninteractive apt-get install -y -qq

.PHONY: all build build-deps fuzz test test-v2 test-systemd test-engines stress engine-deps lint unit-and-integration deps toolchain demo install bench clean

all: build

# rrun is linked with musl (.cargo/config.toml says why): its target comes with rustup,
# from rustup's server (bounded: a server that never answers must not stall the build).
# Where that can't be reached, glibc's static link serves.
toolchain:
	@command -v $(CARGO) >/dev/null || { echo "rrun needs a Rust toolchain (cargo, rustc >= 1.85): install it with rustup" >&2; exit 1; }
	@rustup target list --installed 2>/dev/null | grep -qx $(MUSL) || timeout 300 rustup target add $(MUSL) \
		|| echo "warning: no $(MUSL) target (rustup target add failed): building against glibc, whose start is slower" >&2

# busybox-static is what the test bundles and the demo are made of; gcc builds the static
# syscall probe of the security tests; containers-common has the engines' seccomp profile;
# strace injects the faults of the reliability tests; time measures their memory; uidmap
# has newuidmap/newgidmap, which the rootless tests' multi-range mappings go through; criu
# is there so that checkpoint's error on a kernel CRIU can't run on is tested; iproute2's `ip`
# makes the veth devices and namespaces the netDevices tests move.
TEST_PACKAGES := busybox-static gcc libc6-dev golang-github-containers-common strace time uidmap criu iproute2
deps:
	@missing=$$(for p in $(TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then apt-get update -qq && $(APT) $$missing; fi

# The link goes through cc (gcc), with the musl objects the target brought (or, without
# it, glibc's static archive from libc6-dev).
build-deps:
	@missing=$$(for p in gcc libc6-dev; do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then apt-get update -qq && $(APT) $$missing; fi

build: toolchain build-deps
	$(CARGO) build --release

lint: toolchain
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

unit-and-integration: toolchain deps
	$(CARGO) test

# The same integration tests on a pure cgroup v2 kernel, in a QEMU guest (this host is v1).
test-v2: toolchain deps
	scripts/v2-guest.sh

# The systemd cgroup driver where systemd is PID 1: a Debian guest (systemd 252, built
# once by mmdebstrap and cached under build/systemd-guest/) on cgroup v2 with the
# integration tests and the engines in their systemd configuration, then on cgroup v1.
test-systemd: toolchain deps
	scripts/test-systemd.sh

# containerd, Podman and Docker running their everyday operations on rrun, each started
# by its suite on private sockets and directories; if a test fails, the same suites on
# runc, so that a failure is always told apart: rrun's, or the test's
# (ENGINE_REFERENCE=always runs runc's pass every time).
ENGINE_PACKAGES := bats containerd podman docker.io
ENGINE_SUITES := integration/engines/containerd.bats integration/engines/podman.bats integration/engines/docker.bats integration/engines/podman-rootless.bats
engine-deps: deps
	@missing=$$(for p in $(ENGINE_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then apt-get update -qq && $(APT) $$missing; fi

test-engines: build engine-deps
	integration/engines/run-suites.sh $(ENGINE_SUITES)

# CI runs all of it: the stress suite at full size (about a minute) and each fuzz target
# for FUZZ_SECONDS. Each phase's time is printed after it, to keep CI's in sight (the
# emulated guests are most of it, and this machine's speed varies by half from hour to hour).
TEST_PHASES := lint unit-and-integration stress fuzz test-v2 test-systemd test-engines
test:
	@for phase in $(TEST_PHASES); do \
		start=$$(date +%s); \
		status=0; $(MAKE) --no-print-directory $$phase || status=$$?; \
		echo "=== make test: $$phase $$([ $$status -eq 0 ] && echo took || echo FAILED after) $$(( $$(date +%s) - start )) s"; \
		[ $$status -eq 0 ] || exit $$status; \
	done

# Many containers in a row, in parallel, and racing commands; then the host must hold what
# it held before (mounts, cgroups, state dirs, fds, children, network namespaces).
STRESS_SEQUENTIAL ?= 1000
STRESS_PARALLEL ?= 100
stress: toolchain deps
	STRESS_SEQUENTIAL=$(STRESS_SEQUENTIAL) STRESS_PARALLEL=$(STRESS_PARALLEL) \
		$(CARGO) test --release --test stress -- --test-threads=1 --nocapture

# libFuzzer over config.json and exec's process.json for FUZZ_SECONDS per target
# (scripts/fuzz.sh, fuzz/).
FUZZ_SECONDS ?= 60
fuzz: build
	scripts/fuzz.sh $(RELEASE) $(FUZZ_SECONDS)

demo: build deps
	scripts/demo.sh $(RELEASE)

install: build
	install -D -m 0755 $(RELEASE) $(DESTDIR)$(PREFIX)/sbin/rrun

bench: build deps
	bench/run.sh $(RELEASE)

clean:
	$(CARGO) clean
	rm -rf build
