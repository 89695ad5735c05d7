#!/usr/bin/env bats
# Rootless Podman 4.3 on the runtime under test: Podman run by the ordinary user
# rrun-podman (its user namespace from /etc/subuid and /etc/subgid through newuidmap), its
# containers.conf naming the runtime, vfs storage under $WORK, no network. On this host
# (cgroup v1, nothing delegated) Podman runs rootless containers without cgroups; with
# ENGINE_CGROUP_DRIVER=systemd (the guest of `make test-systemd`) it uses the user's own
# systemd instance, which delegates the memory and pids controllers, and the limits apply.

bats_require_minimum_version 1.5.0
load helpers
load cli-checks

setup_file() {
    export ENGINE_USER=rrun-podman
    engine_setup podman-rootless
    write_podman_config
    chown "$ENGINE_UID:$ENGINE_GID" "$WORK"/*.conf
    p load -i "$IMAGE_TAR"
}

teardown_file() {
    if [ -n "${WORK:-}" ]; then
        p rm -af -t 0 >/dev/null 2>&1 || true
        engine_user_teardown
    fi
    engine_teardown
}

# Podman's output, without runc 1.1's device warning (see helpers.bash).
p() {
    (cd / && as_engine_user podman "$@") 2>&1 | without_runc_device_warning
    return "${PIPESTATUS[0]}"
}
prun() { p run --rm --network none "$@"; }
cli() { p "$@"; }
cli_run() { prun "$@"; }
logs_say() { p logs "$1" 2>&1 | grep -q "$2"; }

@test "podman rootless: run prints the output and exits 0" {
    check_run_output
}

@test "podman rootless: a non-zero exit code comes back" {
    check_exit_code
}

@test "podman rootless: the container's root is the user on the host" {
    p run -d --network none --name owner "$IMAGE" sleep 1000
    local pid
    pid=$(p inspect -f '{{.State.Pid}}' owner)
    [ "$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")" = "$ENGINE_UID" ]
    [ "$(p exec owner id -u)" = 0 ]
    # The mapping is the user's own id, then its subordinate range.
    run p exec owner cat /proc/self/uid_map
    [[ "$(echo "$output" | awk 'NR == 1 {print $2}')" = "$ENGINE_UID" ]]
    # Podman names no --root: the runtime keeps its state in the user's runtime dir.
    local root=$ENGINE_XDG/rrun
    [ "$(basename "$RUNTIME_UNDER_TEST")" = runc ] && root=$ENGINE_XDG/runc
    [ -d "$root/$(p inspect -f '{{.Id}}' owner)" ]
    [ "$(stat -c %u "$root")" = "$ENGINE_UID" ]
    [ "$(stat -c %a "$root")" = 1700 ]
    p rm -f -t 0 owner
}

@test "podman rootless: a volume in a user namespace of the container's own (--userns=keep-id)" {
    # The runtime, root of Podman's user namespace, makes the container's inside it and
    # detaches the volume from inside the container's mount namespace (rrun: a thread of
    # its own joins it).
    as_engine_user mkdir "$WORK/keepid-vol"
    as_engine_user sh -c "echo from-the-host > '$WORK/keepid-vol/f'"
    run prun --userns=keep-id -v "$WORK/keepid-vol:/data" "$IMAGE" \
        sh -c 'cat /data/f; id -u; echo from-the-container > /data/g'
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf 'from-the-host\n%s' "$ENGINE_UID")" ]
    [ "$(cat "$WORK/keepid-vol/g")" = from-the-container ]
    [ "$(stat -c %u "$WORK/keepid-vol/g")" = "$ENGINE_UID" ]
}

@test "podman rootless: detached container, exec, stop, remove" {
    check_detached_exec_stop_remove
}

@test "podman rootless: interactive tty" {
    run with_tty setpriv --reuid "$ENGINE_UID" --regid "$ENGINE_GID" --init-groups env -i \
        HOME=/home/$ENGINE_USER USER=$ENGINE_USER PATH=/usr/bin:/bin:/usr/sbin:/sbin \
        XDG_RUNTIME_DIR=$ENGINE_XDG ${ENGINE_BUS:+DBUS_SESSION_BUS_ADDRESS=$ENGINE_BUS} \
        CONTAINERS_CONF=$CONTAINERS_CONF CONTAINERS_STORAGE_CONF=$CONTAINERS_STORAGE_CONF \
        CONTAINERS_REGISTRIES_CONF=$CONTAINERS_REGISTRIES_CONF \
        podman run --rm -it --network none "$IMAGE" sh -c "'tty; sleep 0.5'"
    [ "$status" -eq 0 ]
    [[ "$output" == *"/dev/pts/0"* ]]
}

@test "podman rootless: kill with a signal" {
    check_kill_with_a_signal
}

@test "podman rootless: env, workdir and --user" {
    # (stdout only: runc 1.1 with the systemd driver warns about a device on stderr.)
    run --separate-stderr prun -e GREETING=hi -w /home/user "$IMAGE" sh -c 'echo $GREETING $(pwd)'
    [ "$output" = "hi /home/user" ]
    check_user
}

@test "podman rootless: --read-only" {
    check_read_only_podman
}

@test "podman rootless: --cap-drop and --cap-add" {
    check_capabilities
}

@test "podman rootless: a stopped container starts again" {
    check_restart
}

@test "podman rootless: a container joins another's pid and ipc namespaces" {
    check_shares_another_containers_namespaces
}

@test "podman rootless: a missing command shows the runtime's error" {
    check_missing_command
}

@test "podman rootless: memory and pids limits are seen inside (delegated cgroups)" {
    systemd_driver || skip "no cgroups delegated to the user here (the systemd guest runs this)"
    check_limits_inside
}

@test "podman rootless: the limits are the user's systemd unit's" {
    systemd_driver || skip "no user systemd here (the systemd guest runs this)"
    p run -d --network none --name sdlimits --memory 64m --pids-limit 50 "$IMAGE" sleep 1000
    grep -q -- "--systemd-cgroup" "$CALLS_LOG"
    local unit
    unit="libpod-$(p inspect -f '{{.Id}}' sdlimits).scope"
    user_show() { as_engine_user systemctl --user show -p "$1" --value "$unit"; }
    [ "$(user_show ActiveState)" = active ]
    [ "$(user_show MemoryMax)" = 67108864 ]
    [ "$(user_show TasksMax)" = 50 ]
    p rm -f -t 0 sdlimits
    wait_for sh -c "[ \"\$(setpriv --reuid $ENGINE_UID --regid $ENGINE_GID --init-groups env -i XDG_RUNTIME_DIR=$ENGINE_XDG DBUS_SESSION_BUS_ADDRESS=$ENGINE_BUS systemctl --user show -p LoadState --value $unit)\" = not-found ]"
}

@test "podman rootless: top and stats" {
    systemd_driver || skip "Podman has no rootless stats without cgroup v2 (the systemd guest runs this)"
    check_top_and_stats
}

@test "podman rootless: pause and unpause (delegated cgroups)" {
    systemd_driver || skip "Podman can't pause rootless containers on cgroup v1 (the systemd guest runs this)"
    p run -d --network none --name paused "$IMAGE" sleep 1000
    p pause paused
    [ "$(p inspect -f '{{.State.Status}}' paused)" = paused ]
    p unpause paused
    p exec paused true
    p rm -f -t 0 paused
}
