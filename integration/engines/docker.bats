#!/usr/bin/env bats
# Docker 20.10 (Debian's docker.io) on the runtime under test: dockerd started here on a
# private socket and data root, the runtime added as "under-test", no bridge, no iptables,
# vfs storage, images loaded from a local archive.

bats_require_minimum_version 1.5.0
load helpers
load cli-checks

setup_file() {
    engine_setup docker
    echo '{}' > "$WORK/daemon.json"
    in_ns dockerd --config-file "$WORK/daemon.json" \
        -H "unix://$WORK/docker.sock" --data-root "$WORK/data" --exec-root "$WORK/exec" \
        --pidfile "$WORK/dockerd.pid" --bridge=none --iptables=false --ip-masq=false \
        --storage-driver vfs --exec-opt native.cgroupdriver="$ENGINE_CGROUP_DRIVER" \
        --add-runtime "under-test=$WRAPPER" --default-runtime under-test \
        > "$WORK/dockerd.log" 2>&1 3>&- &
    wait_for d version
    d load -i "$IMAGE_TAR"
}

teardown_file() {
    if [ -n "${WORK:-}" ]; then
        d rm -f $(d ps -aq) >/dev/null 2>&1 || true
        if [ -f "$WORK/dockerd.pid" ]; then
            local pid
            pid=$(cat "$WORK/dockerd.pid")
            kill "$pid" 2>/dev/null
            wait_for sh -c "! kill -0 $pid"
        fi
        remove_engine_cgroups docker
    fi
    engine_teardown
}

d() { /usr/bin/docker -H "unix://$WORK/docker.sock" "$@"; }
drun() { d run --rm --network none "$@"; }
cli() { d "$@"; }
cli_run() { drun "$@"; }
logs_say() { d logs "$1" 2>&1 | grep -q "$2"; }
unit_of() { echo "docker-$(d inspect -f '{{.Id}}' "$1").scope"; }

@test "docker: run prints the output and exits 0" {
    check_run_output
}

@test "docker: a non-zero exit code comes back" {
    check_exit_code
}

@test "docker: detached container, exec, stop, remove" {
    check_detached_exec_stop_remove
}

@test "docker: interactive tty" {
    run with_tty /usr/bin/docker -H "unix://$WORK/docker.sock" run --rm -it --network none "$IMAGE" sh -c "'tty; sleep 0.5'"
    [ "$status" -eq 0 ]
    # The client's pty echoes what the client writes to it first (a NUL, shown as ^@).
    [[ "$output" == *"/dev/pts/0"* ]]
}

@test "docker: pause and unpause" {
    d run -d --network none --name paused "$IMAGE" sleep 1000
    d pause paused
    [ "$(d inspect -f '{{.State.Paused}}' paused)" = true ]
    run d exec paused true
    [ "$status" -ne 0 ]
    [[ "$output" == *paused* ]]
    d unpause paused
    d exec paused true
    d rm -f paused
}

@test "docker: kill with a signal" {
    check_kill_with_a_signal
}

@test "docker: memory and pids limits are seen inside" {
    check_limits_inside
}

@test "docker: with the systemd driver, the limits are the unit's" {
    check_limits_known_to_systemd
}

@test "docker: --user" {
    check_user
}

@test "docker: --read-only" {
    run drun --read-only "$IMAGE" touch /file
    [ "$status" -ne 0 ]
    [[ "$output" == *"Read-only file system"* ]]
    run drun --read-only --tmpfs /scratch "$IMAGE" touch /scratch/file
    [ "$status" -eq 0 ]
}

@test "docker: --cap-drop and --cap-add" {
    check_capabilities
}

@test "docker: env and workdir" {
    run drun -e GREETING=hi -w /home/user/new "$IMAGE" sh -c 'echo $GREETING $(pwd)'
    [ "$output" = "hi /home/user/new" ]
}

@test "docker: top and stats" {
    check_top_and_stats
}

@test "docker: a stopped container starts again" {
    check_restart
}

@test "docker: a container joins another's pid and ipc namespaces" {
    check_shares_another_containers_namespaces
}

@test "docker: AppArmor's docker-default confines the container and an exec" {
    check_apparmor_profile docker-default
}

@test "docker: a missing command shows the runtime's error" {
    check_missing_command
}
