#!/usr/bin/env python3
"""Side-by-side timings of OCI runtimes on one busybox bundle (see bench/run.sh).

Every measurement is interleaved run by run: container i of rrun, then of runc, then of
crun, then container i+1, so that a slow moment of the machine hits all of them alike.
Each case runs in rounds; a ratio is taken per round (of the round's medians) and printed
as min / median / max over the rounds, so a reader sees how steady it is.

"floor" is the kernel's own cost of such a container with no runtime logic at all: the
same namespaces made by unshare(1), a fork, a chroot and an exec of the same /bin/true.
For `exec`, nsenter(1) joining the running container's namespaces, a fork and the exec of
/bin/true: no cgroups, no checks.

"rrun-ro" is the same rrun binary seen through a read-only overlayfs mount, an install
that no container can write: rrun then runs as it is, without moving onto a sealed view
of itself first (the CVE-2019-5736 defence, src/selfexe/). The difference between
the two rows is what that defence costs where the binary is writable, as it is here.
"""
import json, os, shutil, statistics, subprocess, sys, tempfile, threading, time

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
SEQ = int(os.environ.get("BENCH_SEQ", "50"))
SPLIT = int(os.environ.get("BENCH_SPLIT", "20"))
EXECS = int(os.environ.get("BENCH_EXEC", "30"))
# Spaced: BENCH_SPACED containers (and execs) per round, BENCH_GAP_MS apart: an idle host
# starting one now and then, or a health probe. The back-to-back loops above hide a cost
# such a host pays every time: a pid written into a cgroup waits for an RCU grace period
# unless one passed moments before (docs/performance.md).
SPACED = int(os.environ.get("BENCH_SPACED", "10"))
GAP = int(os.environ.get("BENCH_GAP_MS", "50")) / 1000
# The burst: BURST_LOOPS loops of `run` at once, BURST_EACH containers each.
BURST_LOOPS = int(os.environ.get("BENCH_BURST_LOOPS", "8"))
BURST_EACH = int(os.environ.get("BENCH_BURST_EACH", "10"))
# BENCH_SYSTEMD_MODE=1 (bench/systemd-guest.sh, in the systemd guest): every runtime with
# --systemd-cgroup, sequential `run` only.
SYSTEMD = os.environ.get("BENCH_SYSTEMD_MODE") == "1"
GLOBAL = ["--systemd-cgroup"] if SYSTEMD else []
FLOOR = "floor"
FLOOR_CMD = ["unshare", "--mount", "--uts", "--ipc", "--net", "--pid", "--cgroup", "--fork", "chroot"]
# Followed by the container's pid and the command; -r and -w take its root and directory.
EXEC_FLOOR_CMD = ["nsenter", "--mount", "--uts", "--ipc", "--net", "--pid", "--cgroup", "-r", "-w", "-t"]


def make_bundle(rrun, path, args):
    subprocess.run(["scripts/make-bundle.sh", path, rrun, *args], check=True, stdout=subprocess.DEVNULL)


def engine_profile(caps):
    """The engines' default seccomp profile (containers-common) as linux.seccomp for x86_64,
    converted the way Podman and Docker convert it."""
    p = json.load(open("/usr/share/containers/seccomp.json"))
    arches = ["SCMP_ARCH_X86_64"] + next(m["subArchitectures"] for m in p["archMap"] if m["architecture"] == "SCMP_ARCH_X86_64")
    rules = []
    for s in p["syscalls"]:
        inc, exc = s.get("includes") or {}, s.get("excludes") or {}
        if not all(c in caps for c in inc.get("caps") or []) or any(c in caps for c in exc.get("caps") or []):
            continue
        if (inc.get("arches") and "amd64" not in inc["arches"]) or "amd64" in (exc.get("arches") or []):
            continue
        rule = {"names": s["names"], "action": s["action"]}
        for k in ("args", "errnoRet"):
            if s.get(k) is not None:
                rule[k] = s[k]
        rules.append(rule)
    return {"defaultAction": p["defaultAction"], "defaultErrnoRet": p.get("defaultErrnoRet"), "architectures": arches, "syscalls": rules}


def with_seccomp(src, dst):
    shutil.copytree(src, dst, symlinks=True)
    c = json.load(open(os.path.join(dst, "config.json")))
    c["linux"]["seccomp"] = engine_profile(c["process"]["capabilities"]["bounding"])
    json.dump(c, open(os.path.join(dst, "config.json"), "w"))


def runtimes(rrun):
    """rrun, runc and crun, plus any NAME=PATH in BENCH_ALSO (e.g. another build of rrun)."""
    out = {"rrun": rrun}
    for name in ("runc", "crun"):
        p = shutil.which(name)
        if p:
            out[name] = p
    for extra in filter(None, os.environ.get("BENCH_ALSO", "").split(",")):
        name, path = extra.split("=", 1)
        out[name] = os.path.realpath(path)
    return out


def read_only_install(rrun, work):
    """rrun's binary seen through a read-only overlayfs (lower layers only), as an install
    on a read-only image would be: rrun finds itself sealed and skips its seal. The
    mount lives in the bench's private mount namespace and goes with it."""
    lower, empty, view = (os.path.join(work, d) for d in ("ro-lower", "ro-empty", "ro-view"))
    for d in (lower, empty, view):
        os.makedirs(d)
    shutil.copy2(rrun, os.path.join(lower, "rrun"))
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"ro,lowerdir={lower}:{empty}", view], check=True)
    return os.path.join(view, "rrun")


def read_afresh(binaries):
    """Drops each binary's pages from the page cache, so that every runtime's is read from
    disk by its first run, with readahead, as an installed binary is. A binary the linker
    has just written is held in the pages its writes left: rrun's own build ran `exec` 8 %
    slower than the same file read afresh (docs/performance.md, 18:30), while runc's and
    crun's, installed long ago, were read from disk."""
    os.sync()
    for path in binaries:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def quiet(argv):
    # No pipes: a created container inherits the runtime's stdio and would hold them open.
    return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, check=True)


def cmd(binary, root, *args):
    return quiet([binary, "--root", root, *GLOBAL, *args])


def since(t0):
    return (time.perf_counter() - t0) * 1000


def timed_argv(argv):
    t0 = time.perf_counter()
    quiet(argv)
    return since(t0)


def timed(binary, root, *args):
    return timed_argv([binary, "--root", root, *GLOBAL, *args])


def run_one(name, binary, root, bundle, cid):
    """One container's whole life, `run` (or the floor's unshare), in ms."""
    if name == FLOOR:
        return timed_argv([*FLOOR_CMD, os.path.join(bundle, "rootfs"), "/bin/true"])
    return timed(binary, root, "run", "--bundle", bundle, cid)


def state(binary, root, cid):
    st = subprocess.run([binary, "--root", root, "state", cid], capture_output=True, check=True)
    return json.loads(st.stdout)


def status(binary, root, cid):
    return state(binary, root, cid)["status"]


# Container ids carry the runtime's name: without cgroupsPath, a container's cgroup is named
# after its id, and two runtimes must not meet in one cgroup.

def seq_runs(rts, roots, bundle, n, tag, gap=0):
    """n containers per runtime, interleaved (`gap` seconds before each): each runtime's
    times in ms."""
    out = {name: [] for name in rts}
    for i in range(n):
        for name, b in rts.items():
            time.sleep(gap)
            out[name].append(run_one(name, b, roots.get(name), bundle, f"{tag}-{name}-{i}"))
    return out


def split_steps(rts, roots, bundle, n, tag, out):
    for i in range(n):
        for name, b in rts.items():
            cid, root, steps = f"{tag}-{name}-{i}", roots[name], out[name]
            steps["create"].append(timed(b, root, "create", "--bundle", bundle, cid))
            steps["start"].append(timed(b, root, "start", cid))
            t0 = time.perf_counter()
            while status(b, root, cid) != "stopped":
                pass
            steps["wait"].append(since(t0))
            steps["delete"].append(timed(b, root, "delete", cid))


def exec_runs(rts, roots, bundle, n, tag, gap=0):
    """`exec /bin/true` into one running container per runtime (`gap` seconds before each):
    each runtime's times in ms."""
    out = {name: [] for name in rts}
    started = {name: b for name, b in rts.items() if name != FLOOR}
    for name, b in started.items():
        cmd(b, roots[name], "run", "--detach", "--bundle", bundle, f"{tag}-{name}")
    try:
        # The floor enters rrun's container (any would do: the namespaces are alike).
        pid = state(rts["rrun"], roots["rrun"], f"{tag}-rrun")["pid"]
        floor = [*EXEC_FLOOR_CMD, str(pid), "/bin/true"]
        for _ in range(n):
            for name, b in rts.items():
                time.sleep(gap)
                if name == FLOOR:
                    out[name].append(timed_argv(floor))
                else:
                    out[name].append(timed(b, roots[name], "exec", f"{tag}-{name}", "/bin/true"))
    finally:
        for name, b in started.items():
            subprocess.run([b, "--root", roots[name], "delete", "--force", f"{tag}-{name}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return out


def burst(name, binary, root, bundle, tag):
    """BURST_LOOPS loops of `run` at once, BURST_EACH containers each: containers per second."""
    errors = []

    def loop(w):
        try:
            for j in range(BURST_EACH):
                run_one(name, binary, root, bundle, f"{tag}-{name}-{w}-{j}")
        except Exception as e:  # noqa: BLE001 — reported below, after the other loops end
            errors.append(e)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(w,)) for w in range(BURST_LOOPS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return BURST_LOOPS * BURST_EACH / (time.perf_counter() - t0)


def peak_rss_kb(binary, root, bundle, tag):
    r = subprocess.run(["/usr/bin/time", "-f", "%M", binary, "--root", root, "run", "--bundle", bundle, tag],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True, text=True)
    return int(r.stderr.strip().splitlines()[-1])


class Rounds:
    """One value per runtime per round (a round's median, or a rate); prints the overall
    value and each ratio as min / median / max over the rounds."""

    def __init__(self, names):
        self.per_round = {n: [] for n in names}

    def add_round(self, values):
        for n, v in values.items():
            self.per_round[n].append(v)

    def add_medians(self, samples):
        self.add_round({n: statistics.median(v) for n, v in samples.items()})

    def spread(self, n, o):
        rs = sorted(a / b for a, b in zip(self.per_round[n], self.per_round[o]))
        return f"{rs[0]:.2f} / {statistics.median(rs):.2f} / {rs[-1]:.2f}"

    def print(self, unit, fmt="{:7.2f}"):
        names = list(self.per_round)
        others = [o for o in ("crun", "runc") if o in names]
        for n in names:
            line = f"{n:7} {fmt.format(statistics.median(self.per_round[n]))} {unit}"
            for o in others:
                if o != n:
                    line += f"   {n}/{o} {self.spread(n, o)}"
            print(line)


def state_roots(work, names):
    """Each runtime's --root, on a tmpfs: where runc's own help says state belongs ("this
    should be located in tmpfs") and where /run is on the hosts engines run on. This VM's
    /run is on its root ext4, which has no journal, and ext4 without one passes over every
    inode freed in the last minute or more when it allocates one: the bench's own state
    directories, made and removed by the thousand, made each mkdir and mknod there cost up
    to 0.2 ms as the rounds went on, the same for every runtime (docs/performance.md)."""
    state = os.path.join(work, "state")
    os.mkdir(state)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0711", "rrun-bench", state], check=True)
    return state, {n: os.path.join(state, "root-" + n) for n in names}


def remove(work, state):
    subprocess.run(["umount", state], check=False)
    shutil.rmtree(work, ignore_errors=True)


def systemd_main(rrun):
    """Sequential `run` of /bin/true with --systemd-cgroup: a scope per container, made and
    stopped through systemd. Ratios only: the guest is emulated."""
    work = tempfile.mkdtemp(prefix="rrun-bench-")
    bundle = os.path.join(work, "bundle")
    make_bundle(rrun, bundle, ["/bin/true"])
    rts = runtimes(rrun)
    read_afresh(rts.values())
    state, roots = state_roots(work, rts)
    seq = Rounds(rts)
    for r in range(ROUNDS):
        seq.add_medians(seq_runs(rts, roots, bundle, SEQ, f"sd{r}"))
    print(f"## systemd guest (emulated): {SEQ} sequential `run --systemd-cgroup` of /bin/true per round, "
          f"{ROUNDS} rounds; ratios of the per-round medians (min / median / max)")
    seq.print("ms")
    print_daemons_cpu(rts, roots, bundle)
    remove(work, state)


# What the system's daemons spend per container: systemd's floor, as the floor above is the
# kernel's. Counted per runtime in blocks, not interleaved: systemd removes a scope after
# its runtime returned, and that work must be counted for the runtime that asked for it.
DAEMONS = ("systemd", "dbus-daemon", "systemd-journal", "systemd-logind")
SYSTEMD_BLOCK = int(os.environ.get("BENCH_SYSTEMD_BLOCK", "10"))


def daemon_pids():
    pids = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            comm = open(f"/proc/{pid}/comm").read().strip()
        except OSError:
            continue
        if comm in DAEMONS and (comm != "systemd" or pid == "1"):
            pids[comm] = pid
    return pids


def cpu_ms(pid):
    """utime + stime of a process, in ms."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def print_daemons_cpu(rts, roots, bundle):
    pids = daemon_pids()
    names = [d for d in DAEMONS if d in pids]
    print(f"## systemd guest: CPU of the system's daemons per container ({SYSTEMD_BLOCK} `run` in a row "
          f"per runtime, then 2 s for systemd to remove the last scope; ms, two blocks)")
    print("        " + "".join(f"{d:>17}" for d in names) + "   wall")
    for block in range(2):
        # The second block in the reverse order: a slow minute of the emulated machine
        # raises systemd's CPU as much as the wall time, so no runtime always goes first.
        order = list(rts.items()) if block == 0 else list(reversed(rts.items()))
        for name, b in order:
            time.sleep(2)
            before = {d: cpu_ms(pids[d]) for d in names}
            t0 = time.perf_counter()
            for i in range(SYSTEMD_BLOCK):
                cmd(b, roots[name], "run", "--bundle", bundle, f"sdcpu{block}-{name}-{i}")
            wall = since(t0) / SYSTEMD_BLOCK
            time.sleep(2)
            used = {d: (cpu_ms(pids[d]) - before[d]) / SYSTEMD_BLOCK for d in names}
            print(f"{name:6}  " + "".join(f"{used[d]:17.0f}" for d in names) + f"   {wall:5.0f}")


def main():
    rrun = sys.argv[1]
    if SYSTEMD:
        return systemd_main(rrun)
    work = tempfile.mkdtemp(prefix="rrun-bench-")
    bundle = os.path.join(work, "bundle")
    make_bundle(rrun, bundle, ["/bin/true"])
    seccomp_bundle = os.path.join(work, "bundle-seccomp")
    with_seccomp(bundle, seccomp_bundle)
    sleeper = os.path.join(work, "bundle-sleep")
    make_bundle(rrun, sleeper, ["/bin/sleep", "1000"])
    rts = runtimes(rrun)
    if os.environ.get("BENCH_READ_ONLY_INSTALL", "1") != "0":
        rts["rrun-ro"] = read_only_install(rrun, work)
    read_afresh(rts.values())
    with_floor = {**rts, FLOOR: None}
    state, roots = state_roots(work, rts)
    seq, seq_sc, execs, bursts = Rounds(with_floor), Rounds(rts), Rounds(with_floor), Rounds(with_floor)
    spaced, spaced_execs = Rounds(with_floor), Rounds(with_floor)
    split = {n: {"create": [], "start": [], "wait": [], "delete": []} for n in rts}
    for r in range(ROUNDS):
        seq.add_medians(seq_runs(with_floor, roots, bundle, SEQ, f"s{r}"))
        seq_sc.add_medians(seq_runs(rts, roots, seccomp_bundle, SEQ, f"c{r}"))
        split_steps(rts, roots, bundle, SPLIT, f"p{r}", split)
        execs.add_medians(exec_runs(with_floor, roots, sleeper, EXECS, f"e{r}"))
        bursts.add_round({n: burst(n, b, roots.get(n), bundle, f"b{r}") for n, b in with_floor.items()})
        spaced.add_medians(seq_runs(with_floor, roots, bundle, SPACED, f"g{r}", GAP))
        spaced_execs.add_medians(exec_runs(with_floor, roots, sleeper, SPACED, f"h{r}", GAP))
    rss = {n: statistics.median(peak_rss_kb(b, roots[n], bundle, f"rss{i}-{n}") for i in range(5)) for n, b in rts.items()}
    steps = {n: {k: statistics.median(v) for k, v in split[n].items()} for n in rts}

    def ratio(n, value_of):
        return "  ".join(f"{n}/{o} {value_of(n) / value_of(o):.2f}" for o in ("crun", "runc") if o in rts and o != n)

    print(f"# {time.strftime('%Y-%m-%d %H:%M')} on {os.uname().nodename}, kernel {os.uname().release}, "
          f"{os.cpu_count()} cpus; {ROUNDS} rounds; ratios per round as min / median / max\n")
    print(f"## {SEQ} sequential `run` of /bin/true per round (median ms per container)")
    seq.print("ms")
    print(f"\n## spaced `run`: one container every {GAP * 1000:.0f} ms, {SPACED} per round (an idle host; median ms)")
    spaced.print("ms")
    print(f"\n## burst: {BURST_LOOPS} loops of `run` at once, {BURST_EACH} containers each (containers per second)")
    bursts.print("/s", "{:7.1f}")
    print(f"\n## create / start / wait / delete split ({SPLIT} containers per round, median ms)")
    print(f"{'':7} {'create':>7} {'start':>7} {'wait':>7} {'delete':>7} {'c+s+d':>7}")
    csd = {n: steps[n]["create"] + steps[n]["start"] + steps[n]["delete"] for n in rts}
    for n in rts:
        s = steps[n]
        print(f"{n:7} {s['create']:7.2f} {s['start']:7.2f} {s['wait']:7.2f} {s['delete']:7.2f} {csd[n]:7.2f}   "
              f"{ratio(n, lambda x: csd[x])} (create+start+delete)")
    print(f"\n## `exec /bin/true` into a running container ({EXECS} per round, median ms)")
    execs.print("ms")
    print(f"\n## spaced `exec /bin/true`: one every {GAP * 1000:.0f} ms, {SPACED} per round (a health probe; median ms)")
    spaced_execs.print("ms")
    print(f"\n## {SEQ} sequential `run` with the engines' default seccomp profile (median ms per container)")
    seq_sc.print("ms")
    for n in rts:
        cost = statistics.median(seq_sc.per_round[n]) - statistics.median(seq.per_round[n])
        print(f"{n:7} profile costs {cost:+.2f} ms (compile + load)")
    print("\n## peak RSS of one `run` (MB, median of 5) and binary size (MB)")
    for n, b in rts.items():
        print(f"{n:7} rss {rss[n] / 1024:6.1f}   binary {os.path.getsize(os.path.realpath(b)) / 1e6:6.2f}   "
              f"{ratio(n, lambda x: rss[x])}")
    if "rrun-ro" in rts:
        subprocess.run(["umount", os.path.dirname(rts["rrun-ro"])], check=False)
    remove(work, state)


if __name__ == "__main__":
    main()
