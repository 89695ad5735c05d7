#!/usr/bin/env python3
"""Side-by-side timings of OCI runtimes on one busybox bundle (see bench/run.sh).

Each round runs every runtime in turn (interleaved, so machine noise hits all alike);
the table shows medians over rounds and ratios against crun and runc.
"""
import json, os, shutil, statistics, subprocess, sys, tempfile, time

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
SEQ = int(os.environ.get("BENCH_SEQ", "50"))
SPLIT = int(os.environ.get("BENCH_SPLIT", "20"))

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
    out = {"rrun": rrun}
    for name in ("runc", "crun"):
        p = shutil.which(name)
        if p:
            out[name] = p
    return out

def cmd(binary, root, *args):
    # No pipes: a created container inherits the runtime's stdio and would hold them open.
    return subprocess.run([binary, "--root", root, *args], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)

def seq_runs(binary, root, bundle, n, tag):
    t0 = time.perf_counter()
    for i in range(n):
        cmd(binary, root, "run", "--bundle", bundle, f"{tag}-{i}")
    return (time.perf_counter() - t0) / n * 1000

def split_steps(binary, root, bundle, n, tag):
    steps = {"create": [], "start": [], "wait": [], "delete": []}
    for i in range(n):
        cid = f"{tag}-{i}"
        t0 = time.perf_counter(); cmd(binary, root, "create", "--bundle", bundle, cid)
        t1 = time.perf_counter(); cmd(binary, root, "start", cid)
        t2 = time.perf_counter()
        while True:
            st = subprocess.run([binary, "--root", root, "state", cid], capture_output=True, check=True)
            if json.loads(st.stdout)["status"] == "stopped":
                break
        t3 = time.perf_counter(); cmd(binary, root, "delete", cid)
        t4 = time.perf_counter()
        for k, v in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            v and steps[k].append(v * 1000)
    return {k: statistics.median(v) for k, v in steps.items()}

def peak_rss_kb(binary, root, bundle, tag):
    r = subprocess.run(["/usr/bin/time", "-f", "%M", binary, "--root", root, "run", "--bundle", bundle, tag],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True, text=True)
    return int(r.stderr.strip().splitlines()[-1])

def main():
    rrun = sys.argv[1]
    work = tempfile.mkdtemp(prefix="rrun-bench-")
    bundle = os.path.join(work, "bundle")
    make_bundle(rrun, bundle, ["/bin/true"])
    seccomp_bundle = os.path.join(work, "bundle-seccomp")
    with_seccomp(bundle, seccomp_bundle)
    rts = runtimes(rrun)
    roots = {n: os.path.join(work, "root-" + n) for n in rts}
    seq = {n: [] for n in rts}
    seq_sc = {n: [] for n in rts}
    split = {n: [] for n in rts}
    for r in range(ROUNDS):
        for n, b in rts.items():
            seq[n].append(seq_runs(b, roots[n], bundle, SEQ, f"s{r}"))
        for n, b in rts.items():
            split[n].append(split_steps(b, roots[n], bundle, SPLIT, f"p{r}"))
        for n, b in rts.items():
            seq_sc[n].append(seq_runs(b, roots[n], seccomp_bundle, SEQ, f"c{r}"))
    rss = {n: peak_rss_kb(b, roots[n], bundle, "rss") for n, b in rts.items()}
    med = {n: statistics.median(v) for n, v in seq.items()}
    med_sc = {n: statistics.median(v) for n, v in seq_sc.items()}
    steps = {n: {k: statistics.median(s[k] for s in split[n]) for k in split[n][0]} for n in rts}

    def ratio(n, value_of):
        return "  ".join(f"{n}/{o} {value_of(n) / value_of(o):.2f}" for o in ("crun", "runc") if o in rts and o != n)

    print(f"# {time.strftime('%Y-%m-%d %H:%M')} on {os.uname().nodename}, kernel {os.uname().release}, "
          f"{os.cpu_count()} cpus; {ROUNDS} rounds, medians\n")
    print(f"## {SEQ} sequential `run` of /bin/true (ms per container)")
    for n in rts:
        print(f"{n:5} {med[n]:7.2f}   {ratio(n, lambda x: med[x])}")
    print(f"\n## create / start / wait / delete split ({SPLIT} containers per round, ms)")
    print(f"{'':5} {'create':>7} {'start':>7} {'wait':>7} {'delete':>7} {'total':>7}")
    for n in rts:
        s = steps[n]
        total = sum(s.values())
        print(f"{n:5} {s['create']:7.2f} {s['start']:7.2f} {s['wait']:7.2f} {s['delete']:7.2f} {total:7.2f}   "
              f"{ratio(n, lambda x: steps[x]['create'] + steps[x]['start'] + steps[x]['delete'])} (create+start+delete)")
    print(f"\n## {SEQ} sequential `run` with the engines' default seccomp profile (ms per container)")
    for n in rts:
        print(f"{n:5} {med_sc[n]:7.2f}   {ratio(n, lambda x: med_sc[x])}   profile costs {med_sc[n] - med[n]:+.2f} ms (compile + load)")
    print("\n## peak RSS of one `run` (MB) and binary size (MB)")
    for n, b in rts.items():
        print(f"{n:5} rss {rss[n] / 1024:6.1f}   binary {os.path.getsize(os.path.realpath(b)) / 1e6:6.2f}")
    shutil.rmtree(work, ignore_errors=True)

if __name__ == "__main__":
    main()
