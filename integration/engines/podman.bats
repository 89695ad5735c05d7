#!/usr/bin/env bats
# Podman 4.3 (Debian) on the runtime under test: its own containers.conf and storage.conf
# under $WORK (vfs storage, cgroupfs, file events, no network), the runtime given as
# "under-test", images loaded from a local archive. This machine's root can't raise hard
# rlimits above the host's, and Podman's default ulimits do: containers.conf lowers them.

bats_require_minimum_version 1.5.0
load helpers
load cli-checks

setup_file() {
    engine_setup podman
    mkdir -p "$WORK/tmp"
    write_podman_config "tmp_dir = \"$WORK/tmp\""
    p load -i "$IMAGE_TAR"
}

teardown_file() {
    if [ -n "${WORK:-}" ]; then
        p rm -af -t 0 >/dev/null 2>&1 || true
        # Podman makes libpod_parent itself, for its conmon processes.
        remove_engine_cgroups libpod_parent/conmon libpod_parent
    fi
    engine_teardown
}

# Podman's output, without runc 1.1's device warning (see helpers.bash).
p() {
    in_ns podman --root "$WORK/graph" --runroot "$WORK/runroot" --tmpdir "$WORK/tmp" "$@" 2>&1 |
        without_runc_device_warning
    return "${PIPESTATUS[0]}"
}
prun() { p run --rm --network none "$@"; }
cli() { p "$@"; }
cli_run() { prun "$@"; }
logs_say() { p logs "$1" 2>&1 | grep -q "$2"; }
unit_of() { echo "libpod-$(p inspect -f '{{.Id}}' "$1").scope"; }

@test "podman: run prints the output and exits 0" {
    check_run_output
}

@test "podman: a non-zero exit code comes back" {
    check_exit_code
}

@test "podman: detached container, exec, stop, remove" {
    check_detached_exec_stop_remove
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
    check_kill_with_a_signal
}

@test "podman: memory and pids limits are seen inside" {
    check_limits_inside
}

@test "podman: with the systemd driver, the limits are the unit's" {
    check_limits_known_to_systemd
}

@test "podman: --user" {
    check_user
}

@test "podman: --read-only" {
    check_read_only_podman
}

@test "podman: --cap-drop and --cap-add" {
    check_capabilities
}

@test "podman: env and workdir" {
    # (Podman itself refuses a workdir missing from the image.)
    run prun -e GREETING=hi -w /home/user "$IMAGE" sh -c 'echo $GREETING $(pwd)'
    [ "$output" = "hi /home/user" ]
}

@test "podman: top and stats" {
    check_top_and_stats
}

@test "podman: a stopped container starts again" {
    check_restart
}

@test "podman: a container joins another's pid and ipc namespaces" {
    check_shares_another_containers_namespaces
}

@test "podman: AppArmor's containers-default confines the container and an exec" {
    check_apparmor_profile 'containers-default-*'
}

@test "podman: a missing command shows the runtime's error" {
    check_missing_command
}

@test "podman: with the runtime in runtime_supports_json, its error is the message alone" {
    # Podman passes --log-format=json (and --log) only to the runtimes its
    # runtime_supports_json names, and then shows the log's "msg"; to the others it
    # passes nothing, and shows their stderr line whole, time= and level= with it.
    # docs/engines.md tells users to list rrun.
    sed 's/^\[engine\]$/[engine]\nruntime_supports_json = ["under-test"]/' "$CONTAINERS_CONF" \
        > "$WORK/json.conf"
    CONTAINERS_CONF=$WORK/json.conf run -127 prun "$IMAGE" /no/such/command
    [[ "$output" == *'exec: "/no/such/command": stat /no/such/command: no such file or directory'* ]]
    [[ "$output" != *"level="* && "$output" != *"time="* ]]
}

# The count a container's log shows last.
last_count() { p logs "$1" | tail -1; }
count_passes() { [ "$(last_count "$1")" -gt "$2" ]; }

@test "podman: checkpoint and restore (CRIU)" {
    # CRIU 3.17 can't run on the host's kernel: the systemd guest runs this.
    criu check >/dev/null 2>&1 || skip "CRIU cannot run here"
    p run -d --network none --name counting "$IMAGE" sh -c 'i=0; while :; do echo $i; i=$((i+1)); sleep 0.1; done'
    wait_for count_passes counting 3
    p container checkpoint counting
    [ "$(p inspect -f '{{.State.Status}}' counting)" = exited ]
    grep -q "checkpoint" "$CALLS_LOG"
    seen=$(last_count counting)
    p container restore counting
    [ "$(p inspect -f '{{.State.Status}}' counting)" = running ]
    grep -q "restore" "$CALLS_LOG"
    # It counts on from where it was, not from 0 again.
    wait_for count_passes counting "$((seen + 2))"
    p logs counting | grep -qx 0
    [ "$(p logs counting | grep -cx 0)" -eq 1 ]
    p rm -f -t 0 counting
}
