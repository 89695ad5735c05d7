#!/usr/bin/env python3
"""Side-by-side timings of OCI runtimes on one busybox bundle (see bench/run.sh).

Every measurement is interleaved run by run: container i of rrun, then of runc, then of
crun, then container i+1, so that a slow moment of the machine hits all of them alike.
The table shows medians of the per-container times over all rounds, and ratios.
"""
import json, os, shutil, statistics, subprocess, sys, tempfile, time

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
SEQ = int(os.environ.get("BENCH_SEQ", "50"))
SPLIT = int(os.environ.get("BENCH_SPLIT", "20"))
EXECS = int(os.environ.get("BENCH_EXEC", "30"))
# BENCH_SYSTEMD_MODE=1 (bench/systemd-guest.sh, in the systemd guest): every runtime with
# --systemd-cgroup, sequential `run` only.
SYSTEMD = os.environ.get("BENCH_SYSTEMD_MODE") == "1"
GLOBAL = ["--systemd-cgroup"] if SYSTEMD else []


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


def cmd(binary, root, *args):
    # No pipes: a created container inherits the runtime's stdio and would hold them open.
    return subprocess.run([binary, "--root", root, *GLOBAL, *args], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)


def timed(binary, root, *args):
    t0 = time.perf_counter()
    cmd(binary, root, *args)
    return (time.perf_counter() - t0) * 1000


def status(binary, root, cid):
    st = subprocess.run([binary, "--root", root, "state", cid], capture_output=True, check=True)
    return json.loads(st.stdout)["status"]


def seq_runs(rts, roots, bundle, n, tag, out):
    for i in range(n):
        for name, b in rts.items():
            out[name].append(timed(b, roots[name], "run", "--bundle", bundle, f"{tag}-{i}"))


def split_steps(rts, roots, bundle, n, tag, out):
    for i in range(n):
        for name, b in rts.items():
            cid, root, steps = f"{tag}-{i}", roots[name], out[name]
            steps["create"].append(timed(b, root, "create", "--bundle", bundle, cid))
            steps["start"].append(timed(b, root, "start", cid))
            t0 = time.perf_counter()
            while status(b, root, cid) != "stopped":
                pass
            steps["wait"].append((time.perf_counter() - t0) * 1000)
            steps["delete"].append(timed(b, root, "delete", cid))


def exec_runs(rts, roots, bundle, n, tag, out):
    """`exec /bin/true` into one running container per runtime."""
    for name, b in rts.items():
        cmd(b, roots[name], "run", "--detach", "--bundle", bundle, tag)
    try:
        for _ in range(n):
            for name, b in rts.items():
                out[name].append(timed(b, roots[name], "exec", tag, "/bin/true"))
    finally:
        for name, b in rts.items():
            subprocess.run([b, "--root", roots[name], "delete", "--force", tag],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def peak_rss_kb(binary, root, bundle, tag):
    r = subprocess.run(["/usr/bin/time", "-f", "%M", binary, "--root", root, "run", "--bundle", bundle, tag],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True, text=True)
    return int(r.stderr.strip().splitlines()[-1])


def systemd_main(rrun):
    """Sequential `run` of /bin/true with --systemd-cgroup: a scope per container, made and
    stopped through systemd. Ratios only: the guest is emulated."""
    work = tempfile.mkdtemp(prefix="rrun-bench-")
    bundle = os.path.join(work, "bundle")
    make_bundle(rrun, bundle, ["/bin/true"])
    rts = runtimes(rrun)
    roots = {n: os.path.join(work, "root-" + n) for n in rts}
    per_round = {n: [] for n in rts}
    for r in range(ROUNDS):
        seq = {n: [] for n in rts}
        seq_runs(rts, roots, bundle, SEQ, f"sd{r}", seq)
        for n in rts:
            per_round[n].append(statistics.median(seq[n]))
    print(f"## systemd guest (emulated): {SEQ} sequential `run --systemd-cgroup` of /bin/true per round, "
          f"{ROUNDS} rounds; ratios of the per-round medians (min / median / max)")
    for n in (n for n in rts if n != "crun"):
        for o in ("crun", "runc"):
            if o in rts and o != n:
                rs = sorted(a / b for a, b in zip(per_round[n], per_round[o]))
                print(f"{n}/{o} {rs[0]:.2f} / {statistics.median(rs):.2f} / {rs[-1]:.2f}")
    shutil.rmtree(work, ignore_errors=True)


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
    roots = {n: os.path.join(work, "root-" + n) for n in rts}
    seq = {n: [] for n in rts}
    seq_sc = {n: [] for n in rts}
    execs = {n: [] for n in rts}
    split = {n: {"create": [], "start": [], "wait": [], "delete": []} for n in rts}
    for r in range(ROUNDS):
        seq_runs(rts, roots, bundle, SEQ, f"s{r}", seq)
        split_steps(rts, roots, bundle, SPLIT, f"p{r}", split)
        seq_runs(rts, roots, seccomp_bundle, SEQ, f"c{r}", seq_sc)
        exec_runs(rts, roots, sleeper, EXECS, f"e{r}", execs)
    rss = {n: statistics.median(peak_rss_kb(b, roots[n], bundle, f"rss{i}") for i in range(5)) for n, b in rts.items()}
    med = {n: statistics.median(v) for n, v in seq.items()}
    med_sc = {n: statistics.median(v) for n, v in seq_sc.items()}
    med_exec = {n: statistics.median(v) for n, v in execs.items()}
    steps = {n: {k: statistics.median(v) for k, v in split[n].items()} for n in rts}

    def ratio(n, value_of):
        return "  ".join(f"{n}/{o} {value_of(n) / value_of(o):.2f}" for o in ("crun", "runc") if o in rts and o != n)

    print(f"# {time.strftime('%Y-%m-%d %H:%M')} on {os.uname().nodename}, kernel {os.uname().release}, "
          f"{os.cpu_count()} cpus; {ROUNDS} rounds, medians per container\n")
    print(f"## {SEQ} sequential `run` of /bin/true per round (ms per container)")
    for n in rts:
        print(f"{n:5} {med[n]:7.2f}   {ratio(n, lambda x: med[x])}")
    print(f"\n## create / start / wait / delete split ({SPLIT} containers per round, ms)")
    print(f"{'':5} {'create':>7} {'start':>7} {'wait':>7} {'delete':>7} {'c+s+d':>7}")
    csd = {n: steps[n]["create"] + steps[n]["start"] + steps[n]["delete"] for n in rts}
    for n in rts:
        s = steps[n]
        print(f"{n:5} {s['create']:7.2f} {s['start']:7.2f} {s['wait']:7.2f} {s['delete']:7.2f} {csd[n]:7.2f}   "
              f"{ratio(n, lambda x: csd[x])} (create+start+delete)")
    print(f"\n## `exec /bin/true` into a running container ({EXECS} per round, ms)")
    for n in rts:
        print(f"{n:5} {med_exec[n]:7.2f}   {ratio(n, lambda x: med_exec[x])}")
    print(f"\n## {SEQ} sequential `run` with the engines' default seccomp profile (ms per container)")
    for n in rts:
        print(f"{n:5} {med_sc[n]:7.2f}   {ratio(n, lambda x: med_sc[x])}   profile costs {med_sc[n] - med[n]:+.2f} ms (compile + load)")
    print("\n## peak RSS of one `run` (MB, median of 5) and binary size (MB)")
    for n, b in rts.items():
        print(f"{n:5} rss {rss[n] / 1024:6.1f}   binary {os.path.getsize(os.path.realpath(b)) / 1e6:6.2f}   "
              f"{ratio(n, lambda x: rss[x])}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
