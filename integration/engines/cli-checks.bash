# The checks the Docker and Podman suites share, their command lines being alike. A suite
# defines `cli` (its client with the suite's options), `cli_run` (`cli run --rm` with no
# network) and `logs_say ID TEXT` before calling them from its @test blocks.

# run prints the output and exits 0
check_run_output() {
    run cli_run "$IMAGE" echo hello
    [ "$status" -eq 0 ]
    [ "$output" = hello ]
}

# a non-zero exit code comes back
check_exit_code() {
    run cli_run "$IMAGE" sh -c 'echo failing >&2; exit 3'
    [ "$status" -eq 3 ]
    [ "$output" = failing ]
}

# detached container, exec, stop, remove
check_detached_exec_stop_remove() {
    cli run -d --network none --name detached "$IMAGE" sleep 1000
    run cli exec detached sh -c 'echo inside; exit 4'
    [ "$status" -eq 4 ]
    [ "$output" = inside ]
    cli stop -t 1 detached
    [ "$(cli inspect -f '{{.State.Status}}' detached)" = exited ]
    cli rm detached
    run cli inspect detached
    [ "$status" -ne 0 ]
}

# kill with a signal
check_kill_with_a_signal() {
    cli run -d --network none --name signalled "$IMAGE" sh -c "$TRAP_SCRIPT"
    wait_for logs_say signalled ready
    cli kill -s USR1 signalled
    [ "$(cli wait signalled)" = 7 ]
    [[ "$(cli logs signalled)" == *"got USR1"* ]]
    cli rm signalled
}

# memory and pids limits are seen inside
check_limits_inside() {
    run cli_run --memory 64m --pids-limit 50 "$IMAGE" sh -c "$LIMITS_SCRIPT"
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf '67108864\n50')" ]
}

# --user
check_user() {
    run cli_run --user 1000:1000 "$IMAGE" sh -c 'id -u; id -g'
    [ "$output" = "$(printf '1000\n1000')" ]
}

# --read-only: the root is read-only, the /tmp Podman mounts is not
check_read_only_podman() {
    run cli_run --read-only "$IMAGE" touch /file
    [ "$status" -ne 0 ]
    [[ "$output" == *"Read-only file system"* ]]
    run cli_run --read-only "$IMAGE" touch /tmp/file
    [ "$status" -eq 0 ]
}

# --cap-drop and --cap-add
check_capabilities() {
    run cli_run --cap-drop ALL --cap-add NET_RAW "$IMAGE" grep CapEff /proc/self/status
    [ "$output" = "$(printf 'CapEff:\t0000000000002000')" ]
    run cli_run --cap-drop CHOWN "$IMAGE" chown 1000 /tmp
    [ "$status" -ne 0 ]
    [[ "$output" == *"Operation not permitted"* ]]
}

# top and stats
check_top_and_stats() {
    cli run -d --network none --name observed "$IMAGE" sleep 1000
    run cli top observed
    [[ "$output" == *"sleep 1000"* ]]
    run cli stats --no-stream --format '{{.MemUsage}} {{.PIDs}}' observed
    [ "$status" -eq 0 ]
    [[ "$output" =~ ^[0-9.]+[kKMG]?i?B\ /\ .*\ 1$ ]]
    cli kill observed >/dev/null
    cli rm -f observed
}

# a stopped container starts again
check_restart() {
    cli run --network none --name restarted "$IMAGE" echo ran
    # (stdout only: runc 1.1 with the systemd driver may warn about a device on stderr.)
    run --separate-stderr cli start -a restarted
    [ "$output" = ran ]
    [ "$(cli logs restarted | grep -c ran)" -eq 2 ]
    cli rm restarted
}

# a container joins another's pid and ipc namespaces (`--pid/--ipc container:NAME`; Docker
# also runs its prestart hook, which rrun must start from its own pid namespace)
check_shares_another_containers_namespaces() {
    cli run -d --network none --ipc shareable --name sharer "$IMAGE" sh -c 'echo shared > /dev/shm/note; exec sleep 1000' 2>/dev/null ||
        cli run -d --network none --ipc private --name sharer "$IMAGE" sh -c 'echo shared > /dev/shm/note; exec sleep 1000'
    run cli_run --pid container:sharer --ipc container:sharer "$IMAGE" sh -c 'cat /dev/shm/note; ps -o comm | grep -c sleep'
    # (Killed first: Podman's `rm -f` gives the sleep, pid 1, ten seconds to take SIGTERM.)
    cli kill sharer >/dev/null
    cli rm -f sharer
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = shared ]
    [ "${lines[1]}" = 1 ]
}

# where AppArmor is enabled, the container and an exec run confined by the engine's
# default profile (its name a glob: $1)
check_apparmor_profile() {
    [ -e /sys/kernel/security/apparmor ] || skip "AppArmor is not enabled here"
    local profile=$1
    run cli_run "$IMAGE" cat /proc/self/attr/current
    [ "$status" -eq 0 ]
    [[ "$output" == $profile" (enforce)" ]]
    cli run -d --network none --name confined "$IMAGE" sleep 1000
    run cli exec confined cat /proc/self/attr/current
    cli kill confined >/dev/null
    cli rm -f confined
    [ "$status" -eq 0 ]
    [[ "$output" == $profile" (enforce)" ]]
}

# a missing command shows the runtime's error
check_missing_command() {
    if [[ "$ENGINE" == podman* ]] && systemd_driver && [ "$(basename "$RUNTIME_UNDER_TEST")" = runc ]; then
        # runc 1.1 first warns on stderr that the host has no /dev/char/10:200 for
        # systemd's DeviceAllow, and Podman reports that line instead of the error.
        skip "runc 1.1 with the systemd driver: Podman shows runc's device warning instead"
    fi
    run -127 cli_run "$IMAGE" /no/such/command
    [[ "$output" == *"/no/such/command"* ]]
    shopt -s nocasematch
    [[ "$output" == *"no such file or directory"* ]]
}

# with the systemd driver, the container runs in a unit that has its limits
# (the suite defines `unit_of NAME`)
check_limits_known_to_systemd() {
    systemd_driver || skip "cgroupfs driver (ENGINE_CGROUP_DRIVER=systemd runs this)"
    cli run -d --network none --name sdlimits --memory 64m --pids-limit 50 "$IMAGE" sleep 1000
    local unit
    unit=$(unit_of sdlimits)
    check_unit_limits "$unit"
    run cli exec sdlimits sh -c "$LIMITS_SCRIPT"
    [ "$output" = "$(printf '67108864\n50')" ]
    cli rm -f sdlimits
    check_unit_gone "$unit"
}
