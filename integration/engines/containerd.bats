#!/usr/bin/env bats
# containerd 1.6 (Debian) with ctr, through the runc shim v2 with the runtime under test
# as its binary (`ctr run --runc-binary`): containerd started here with its own config,
# sockets, root and state under $WORK, the native snapshotter, images imported from a
# local archive. (The shim's own socket is under /run/containerd/s, named by a hash:
# containerd 1.6 puts it there whatever its configuration.)

bats_require_minimum_version 1.5.0
load helpers

setup_file() {
    engine_setup containerd
    cat > "$WORK/config.toml" <<CONF
version = 2
root = "$WORK/root"
state = "$WORK/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$WORK/containerd.sock"

[ttrpc]
  address = "$WORK/containerd.sock.ttrpc"

[debug]
  address = "$WORK/containerd-debug.sock"
CONF
    # fd 3 is bats' own: a daemon holding it would keep bats waiting after the suite.
    in_ns_exec containerd --config "$WORK/config.toml" > "$WORK/containerd.log" 2>&1 3>&- &
    echo $! > "$WORK/containerd.pid"
    export CONTAINERD_SNAPSHOTTER=native
    wait_for c version
    c images import "$IMAGE_TAR"
}

teardown_file() {
    if [ -n "${WORK:-}" ]; then
        local id
        for id in $(c task ls -q 2>/dev/null); do c task kill -s SIGKILL "$id"; done
        for id in $(c task ls -q 2>/dev/null); do
            wait_for stopped "$id"
            c task delete "$id"
        done
        for id in $(c container ls -q 2>/dev/null); do c container delete "$id"; done
        local pid
        if pid=$(cat "$WORK/containerd.pid" 2>/dev/null); then
            kill "$pid" 2>/dev/null
            wait_for sh -c "! kill -0 $pid"
        fi
        # ctr puts containers under /<namespace>/<id>.
        remove_engine_cgroups rrun-test
    fi
    engine_teardown
}

c() { ctr --address "$WORK/containerd.sock" --namespace rrun-test "$@"; }
# ctr's flags for container ID's cgroup: with the systemd driver it must be named
# (system.slice:rrun-test:ID, the unit rrun-test-ID.scope), with cgroupfs ctr picks it.
sd() { if systemd_driver; then echo "--runc-systemd-cgroup --cgroup system.slice:rrun-test:$1"; fi; }
# The cgroupsPath of a whole spec given with --config.
cgpath() { if systemd_driver; then echo "system.slice:rrun-test:$1"; else echo "/rrun-test/$1"; fi; }
crun() { c run --rm --runc-binary "$WRAPPER" "$@"; }
stopped() { c task ls | grep -q "^$1 .* STOPPED"; }
has_status() { c task ls | grep -q "^$1 .* $2"; }

# A spec from containerd's defaults with what ctr has no flag for (pids limit, user), on
# the image's root filesystem unpacked to $WORK/rootfs: `ctr run --config` takes a whole
# spec and no image.
spec_with() {
    if [ ! -d "$WORK/rootfs" ]; then
        mkdir "$WORK/rootfs"
        local layer
        layer=$(tar -xOf "$IMAGE_TAR" manifest.json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Layers"][0])')
        tar -xOf "$IMAGE_TAR" "$layer" | tar -x -C "$WORK/rootfs"
    fi
    c oci spec | python3 -c '
import json, sys
spec = json.load(sys.stdin)
change = json.loads(sys.argv[1])
change["root.path"] = sys.argv[2]
change.setdefault("process.env", ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"])
# On cgroup v2 the container gets a cgroup namespace, as containerd'"'"'s CRI gives it there:
# without one, a cgroup2 mount shows the host'"'"'s root (runc mounts it so), not the container'"'"'s.
if any(m.get("type") == "cgroup" for m in change.get("mounts+", [])) and sys.argv[3] == "cgroup2fs":
    spec["linux"]["namespaces"].append({"type": "cgroup"})
for path, value in change.items():
    if path == "mounts+":
        spec["mounts"] += value
        continue
    node = spec
    *parents, last = path.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[last] = value
json.dump(spec, sys.stdout)' "$1" "$WORK/rootfs" "$(stat -f -c %T /sys/fs/cgroup)" > "$WORK/spec.json"
}

@test "containerd: run prints the output and exits 0" {
    run crun $(sd out) "$IMAGE" out echo hello
    [ "$status" -eq 0 ]
    [ "$output" = hello ]
}

@test "containerd: a non-zero exit code comes back" {
    run crun $(sd exitcode) "$IMAGE" exitcode sh -c 'echo failing >&2; exit 3'
    [ "$status" -eq 3 ]
    [ "$output" = failing ]
}

@test "containerd: detached container, exec, stop, remove" {
    c run -d --runc-binary "$WRAPPER" $(sd detached) "$IMAGE" detached sleep 1000
    run c task exec --exec-id probe detached sh -c 'echo inside; exit 4'
    [ "$status" -eq 4 ]
    [ "$output" = inside ]
    c task kill -s SIGKILL detached
    wait_for stopped detached
    c task delete detached
    c container delete detached
    run c container info detached
    [ "$status" -ne 0 ]
}

@test "containerd: interactive tty" {
    run with_tty ctr --address "$WORK/containerd.sock" --namespace rrun-test run --rm -t --runc-binary "$WRAPPER" $(sd tty1) "$IMAGE" tty1 sh -c "'tty; sleep 0.5'"
    [ "$status" -eq 0 ]
    [[ "$output" == *"/dev/pts/0"* ]]
}

@test "containerd: pause and resume" {
    c run -d --runc-binary "$WRAPPER" $(sd paused) "$IMAGE" paused sleep 1000
    c task pause paused
    has_status paused PAUSED
    c task resume paused
    has_status paused RUNNING
    c task exec --exec-id after paused true
    c task kill -s SIGKILL paused
    wait_for stopped paused
    c task delete paused
    c container delete paused
}

@test "containerd: kill with a signal" {
    crun $(sd signalled) "$IMAGE" signalled sh -c "$TRAP_SCRIPT" > "$WORK/signalled.out" 2>&1 &
    local pid=$!
    wait_for grep -q ready "$WORK/signalled.out"
    c task kill -s SIGUSR1 signalled
    local rc=0
    wait "$pid" || rc=$?
    [ "$rc" -eq 7 ]
    grep -q "got USR1" "$WORK/signalled.out"
}

@test "containerd: memory and pids limits are seen inside" {
    spec_with "{\"process.args\": [\"sh\", \"-c\", $(printf '%s' "$LIMITS_SCRIPT" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')],
                \"linux.resources.memory\": {\"limit\": 67108864},
                \"linux.resources.pids\": {\"limit\": 50},
                \"linux.cgroupsPath\": \"$(cgpath limits)\",
                \"mounts+\": [{\"destination\": \"/sys/fs/cgroup\", \"type\": \"cgroup\", \"source\": \"cgroup\", \"options\": [\"ro\", \"nosuid\", \"noexec\", \"nodev\"]}]}"
    run crun $(sd limits) --config "$WORK/spec.json" limits
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf '67108864\n50')" ]
}

@test "containerd: with the systemd driver, the limits are the unit's" {
    systemd_driver || skip "cgroupfs driver (ENGINE_CGROUP_DRIVER=systemd runs this)"
    spec_with "{\"process.args\": [\"sleep\", \"1000\"],
                \"linux.resources.memory\": {\"limit\": 67108864},
                \"linux.resources.pids\": {\"limit\": 50},
                \"linux.cgroupsPath\": \"$(cgpath sdlimits)\",
                \"mounts+\": [{\"destination\": \"/sys/fs/cgroup\", \"type\": \"cgroup\", \"source\": \"cgroup\", \"options\": [\"ro\", \"nosuid\", \"noexec\", \"nodev\"]}]}"
    c run -d --runc-binary "$WRAPPER" $(sd sdlimits) --config "$WORK/spec.json" sdlimits
    check_unit_limits rrun-test-sdlimits.scope
    run c task exec --exec-id probe sdlimits sh -c "$LIMITS_SCRIPT"
    [ "$output" = "$(printf '67108864\n50')" ]
    c task kill -s SIGKILL sdlimits
    wait_for stopped sdlimits
    c task delete sdlimits
    c container delete sdlimits
    check_unit_gone rrun-test-sdlimits.scope
}

@test "containerd: the process's user" {
    spec_with '{"process.args": ["sh", "-c", "id -u; id -g"], "process.user": {"uid": 1000, "gid": 1000}, "linux.cgroupsPath": "'"$(cgpath user)"'"}'
    run crun $(sd user) --config "$WORK/spec.json" user
    [ "$output" = "$(printf '1000\n1000')" ]
}

@test "containerd: --read-only" {
    run crun --read-only "$IMAGE" readonly touch /file
    [ "$status" -ne 0 ]
    [[ "$output" == *"Read-only file system"* ]]
}

@test "containerd: --cap-drop and --cap-add" {
    run crun $(sd capdrop) --cap-drop CAP_CHOWN "$IMAGE" capdrop chown 1000 /tmp
    [ "$status" -ne 0 ]
    [[ "$output" == *"Operation not permitted"* ]]
    run crun $(sd nocap) "$IMAGE" nocap mount -t tmpfs none /tmp
    [ "$status" -ne 0 ]
    run crun $(sd capadd) --cap-add CAP_SYS_ADMIN "$IMAGE" capadd mount -t tmpfs none /tmp
    [ "$status" -eq 0 ]
}

@test "containerd: env and working directory" {
    run crun $(sd env) --env GREETING=hi --cwd /home/user "$IMAGE" env sh -c 'echo $GREETING $(pwd)'
    [ "$output" = "hi /home/user" ]
}

@test "containerd: task ps and metrics" {
    c run -d --runc-binary "$WRAPPER" $(sd observed) "$IMAGE" observed sleep 1000
    run c task ps observed
    local pid
    pid=$(printf '%s\n' "$output" | awk 'NR == 2 { print $1 }')
    [ "$(tr '\0' ' ' < "/proc/$pid/cmdline")" = "sleep 1000 " ]
    run c task metrics observed
    [ "$status" -eq 0 ]
    [[ "$output" =~ memory\.usage[_a-z]*\ +[1-9] ]]
    c task kill -s SIGKILL observed
    wait_for stopped observed
    c task delete observed
    c container delete observed
}

@test "containerd: a stopped container starts again" {
    run c run --runc-binary "$WRAPPER" $(sd restarted) "$IMAGE" restarted echo ran
    [ "$output" = ran ]
    run c task start restarted
    [ "$output" = ran ]
    c task delete restarted 2>/dev/null || true
    c container delete restarted
}

@test "containerd: a missing command shows the runtime's error" {
    run crun $(sd missing) "$IMAGE" missing /no/such/command
    [ "$status" -ne 0 ]
    [[ "$output" == *"/no/such/command"* ]]
    shopt -s nocasematch
    [[ "$output" == *"no such file or directory"* ]]
}
