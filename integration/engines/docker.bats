#!/usr/bin/env bats
# Docker 20.10 (Debian's docker.io) on the runtime under test: dockerd started here on a
# private socket and data root, the runtime added as "under-test", no bridge, no iptables,
# vfs storage, images loaded from a local archive.

bats_require_minimum_version 1.5.0
load helpers

setup_file() {
    engine_setup docker
    echo '{}' > "$WORK/daemon.json"
    in_ns dockerd --config-file "$WORK/daemon.json" \
        -H "unix://$WORK/docker.sock" --data-root "$WORK/data" --exec-root "$WORK/exec" \
        --pidfile "$WORK/dockerd.pid" --bridge=none --iptables=false --ip-masq=false \
        --storage-driver vfs --exec-opt native.cgroupdriver=cgroupfs \
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
    fi
    engine_teardown
}

d() { /usr/bin/docker -H "unix://$WORK/docker.sock" "$@"; }
drun() { d run --rm --network none "$@"; }
logs_say() { d logs "$1" 2>&1 | grep -q "$2"; }

@test "docker: run prints the output and exits 0" {
    run drun "$IMAGE" echo hello
    [ "$status" -eq 0 ]
    [ "$output" = hello ]
}

@test "docker: a non-zero exit code comes back" {
    run drun "$IMAGE" sh -c 'echo failing >&2; exit 3'
    [ "$status" -eq 3 ]
    [ "$output" = failing ]
}

@test "docker: detached container, exec, stop, remove" {
    d run -d --network none --name detached "$IMAGE" sleep 1000
    run d exec detached sh -c 'echo inside; exit 4'
    [ "$status" -eq 4 ]
    [ "$output" = inside ]
    d stop -t 1 detached
    [ "$(d inspect -f '{{.State.Status}}' detached)" = exited ]
    d rm detached
    run d inspect detached
    [ "$status" -ne 0 ]
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
    d run -d --network none --name signalled "$IMAGE" sh -c "$TRAP_SCRIPT"
    wait_for logs_say signalled ready
    d kill -s USR1 signalled
    [ "$(d wait signalled)" = 7 ]
    [[ "$(d logs signalled)" == *"got USR1"* ]]
    d rm signalled
}

@test "docker: memory and pids limits are seen inside" {
    run drun --memory 64m --pids-limit 50 "$IMAGE" sh -c "$LIMITS_SCRIPT"
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf '67108864\n50')" ]
}

@test "docker: --user" {
    run drun --user 1000:1000 "$IMAGE" sh -c 'id -u; id -g'
    [ "$output" = "$(printf '1000\n1000')" ]
}

@test "docker: --read-only" {
    run drun --read-only "$IMAGE" touch /file
    [ "$status" -ne 0 ]
    [[ "$output" == *"Read-only file system"* ]]
    run drun --read-only --tmpfs /scratch "$IMAGE" touch /scratch/file
    [ "$status" -eq 0 ]
}

@test "docker: --cap-drop and --cap-add" {
    run drun --cap-drop ALL --cap-add NET_RAW "$IMAGE" grep CapEff /proc/self/status
    [ "$output" = "$(printf 'CapEff:\t0000000000002000')" ]
    run drun --cap-drop CHOWN "$IMAGE" chown 1000 /tmp
    [ "$status" -ne 0 ]
    [[ "$output" == *"Operation not permitted"* ]]
}

@test "docker: env and workdir" {
    run drun -e GREETING=hi -w /home/user/new "$IMAGE" sh -c 'echo $GREETING $(pwd)'
    [ "$output" = "hi /home/user/new" ]
}

@test "docker: top and stats" {
    d run -d --network none --name observed "$IMAGE" sleep 1000
    run d top observed
    [[ "$output" == *"sleep 1000"* ]]
    run d stats --no-stream --format '{{.MemUsage}} {{.PIDs}}' observed
    [ "$status" -eq 0 ]
    [[ "$output" =~ ^[0-9.]+[KMG]i?B\ /\ .*\ 1$ ]]
    d rm -f observed
}

@test "docker: a stopped container starts again" {
    d run --network none --name restarted "$IMAGE" echo ran
    run d start -a restarted
    [ "$output" = ran ]
    [ "$(d logs restarted | grep -c ran)" -eq 2 ]
    d rm restarted
}

@test "docker: a missing command shows the runtime's error" {
    run -127 drun "$IMAGE" /no/such/command
    [[ "$output" == *"/no/such/command"* ]]
    shopt -s nocasematch
    [[ "$output" == *"no such file or directory"* ]]
}
