#!/usr/bin/env bats
# Podman 4.3 (Debian) on the runtime under test: its own containers.conf and storage.conf
# under $WORK (vfs storage, cgroupfs, file events, no network), the runtime given as
# "under-test", images loaded from a local archive. This machine's root can't raise hard
# rlimits above the host's, and Podman's default ulimits do: containers.conf lowers them.

bats_require_minimum_version 1.5.0
load helpers

setup_file() {
    engine_setup podman
    mkdir -p "$WORK/tmp"
    export CONTAINERS_CONF=$WORK/containers.conf
    cat > "$CONTAINERS_CONF" <<CONF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
netns = "none"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$WORK/events.log"
tmp_dir = "$WORK/tmp"
runtime = "under-test"

[engine.runtimes]
under-test = ["$WRAPPER"]
CONF
    export CONTAINERS_STORAGE_CONF=$WORK/storage.conf
    cat > "$CONTAINERS_STORAGE_CONF" <<CONF
[storage]
driver = "vfs"
runroot = "$WORK/runroot"
graphroot = "$WORK/graph"
CONF
    export CONTAINERS_REGISTRIES_CONF=$WORK/registries.conf
    touch "$CONTAINERS_REGISTRIES_CONF"
    p load -i "$IMAGE_TAR"
}

teardown_file() {
    if [ -n "${WORK:-}" ]; then
        p rm -af -t 0 >/dev/null 2>&1 || true
    fi
    engine_teardown
}

p() { in_ns podman --root "$WORK/graph" --runroot "$WORK/runroot" --tmpdir "$WORK/tmp" "$@"; }
prun() { p run --rm --network none "$@"; }
logs_say() { p logs "$1" 2>&1 | grep -q "$2"; }

@test "podman: run prints the output and exits 0" {
    run prun "$IMAGE" echo hello
    [ "$status" -eq 0 ]
    [ "$output" = hello ]
}

@test "podman: a non-zero exit code comes back" {
    run prun "$IMAGE" sh -c 'echo failing >&2; exit 3'
    [ "$status" -eq 3 ]
    [ "$output" = failing ]
}

@test "podman: detached container, exec, stop, remove" {
    p run -d --network none --name detached "$IMAGE" sleep 1000
    run p exec detached sh -c 'echo inside; exit 4'
    [ "$status" -eq 4 ]
    [ "$output" = inside ]
    p stop -t 1 detached
    [ "$(p inspect -f '{{.State.Status}}' detached)" = exited ]
    p rm detached
    run p inspect detached
    [ "$status" -ne 0 ]
}

@test "podman: interactive tty" {
    # The process outlives its output a little: Podman (with any runtime, runc too) can
    # lose the output of a tty process that exits before it has attached.
    run with_tty "$(ns_prefix)" podman --root "$WORK/graph" --runroot "$WORK/runroot" --tmpdir "$WORK/tmp" run --rm -it --network none "$IMAGE" sh -c "'tty; sleep 0.5'"
    [ "$status" -eq 0 ]
    [[ "$output" == *"/dev/pts/0"* ]]
}

@test "podman: pause and unpause" {
    p run -d --network none --name paused "$IMAGE" sleep 1000
    p pause paused
    [ "$(p inspect -f '{{.State.Status}}' paused)" = paused ]
    run p exec paused true
    [ "$status" -ne 0 ]
    p unpause paused
    p exec paused true
    p rm -f -t 0 paused
}

@test "podman: kill with a signal" {
    p run -d --network none --name signalled "$IMAGE" sh -c "$TRAP_SCRIPT"
    wait_for logs_say signalled ready
    p kill -s USR1 signalled
    [ "$(p wait signalled)" = 7 ]
    [[ "$(p logs signalled)" == *"got USR1"* ]]
    p rm signalled
}

@test "podman: memory and pids limits are seen inside" {
    run prun --memory 64m --pids-limit 50 "$IMAGE" sh -c "$LIMITS_SCRIPT"
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf '67108864\n50')" ]
}

@test "podman: --user" {
    run prun --user 1000:1000 "$IMAGE" sh -c 'id -u; id -g'
    [ "$output" = "$(printf '1000\n1000')" ]
}

@test "podman: --read-only" {
    run prun --read-only "$IMAGE" touch /file
    [ "$status" -ne 0 ]
    [[ "$output" == *"Read-only file system"* ]]
    run prun --read-only "$IMAGE" touch /tmp/file
    [ "$status" -eq 0 ]
}

@test "podman: --cap-drop and --cap-add" {
    run prun --cap-drop ALL --cap-add NET_RAW "$IMAGE" grep CapEff /proc/self/status
    [ "$output" = "$(printf 'CapEff:\t0000000000002000')" ]
    run prun --cap-drop CHOWN "$IMAGE" chown 1000 /tmp
    [ "$status" -ne 0 ]
    [[ "$output" == *"Operation not permitted"* ]]
}

@test "podman: env and workdir" {
    # (Podman itself refuses a workdir missing from the image.)
    run prun -e GREETING=hi -w /home/user "$IMAGE" sh -c 'echo $GREETING $(pwd)'
    [ "$output" = "hi /home/user" ]
}

@test "podman: top and stats" {
    p run -d --network none --name observed "$IMAGE" sleep 1000
    run p top observed
    [[ "$output" == *"sleep 1000"* ]]
    run p stats --no-stream --format '{{.MemUsage}} {{.PIDs}}' observed
    [ "$status" -eq 0 ]
    [[ "$output" =~ ^[0-9.]+[kMG]?i?B\ /\ .*\ 1$ ]]
    p rm -f -t 0 observed
}

@test "podman: a stopped container starts again" {
    p run --network none --name restarted "$IMAGE" echo ran
    run p start -a restarted
    [ "$output" = ran ]
    [ "$(p logs restarted | grep -c ran)" -eq 2 ]
    p rm restarted
}

@test "podman: a missing command shows the runtime's error" {
    run -127 prun "$IMAGE" /no/such/command
    [[ "$output" == *"/no/such/command"* ]]
    shopt -s nocasematch
    [[ "$output" == *"no such file or directory"* ]]
}
