"""Run the hostile generator (fuzz/hostile.py): every case in a child process, so its time and memory are
measured and a runaway is killed. Outcomes: ok, error (a ChainruleError with a position), error-unpositioned,
crash:<ExceptionType>, slow (over 2 s of CPU), killed (still running after the hard limit: 10 s of CPU, or
30 s of wall time),
memory (peak RSS over 1 GB, or a MemoryError), died (the child ended by a signal).

Workers are forked from a parent that has already imported and warmed the engine, run cases one at a
time, reset their peak RSS before each (/proc/self/clear_refs, so VmHWM is the case's own peak), run
under RLIMIT_AS (their resting size + 1 GiB) and are recycled every --recycle cases or when they grow.

Usage: python fuzz/hostile_run.py --count 2000 --seed 1 --jobs 2 [--start 0] [--family nesting]
       [--json /tmp/hostile_failures.json] [--report /tmp/hostile_report.md] [--replay SEED:K]"""
import argparse
import collections
import json
import multiprocessing as mp
import math
import os
import re
import signal
import resource
import sys
import time
import warnings
from multiprocessing.connection import wait
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")      # one core per worker (BLAS threads oversubscribe)
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import hostile  # noqa: E402

SLOW = 2.0              # seconds of CPU: over it the case is 'slow'
HARD = 10.0             # seconds of CPU: the child is killed (RLIMIT_CPU, SIGXCPU)
WALL = 3                # ... and at WALL × HARD seconds of wall time, whatever it is doing
GIB = 1 << 30
MEMORY = GIB            # peak RSS over it: 'memory'
FAILURES = ("error-unpositioned", "slow", "killed", "memory", "died")


def _status():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if v.strip().endswith("kB"):
                out[k] = int(v.split()[0]) * 1024
    return out


def _cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def worker(conn, recycle):
    warnings.simplefilter("ignore")         # NumPy's overflow warnings on extreme data are not outcomes
    rest = _status()
    limit = rest.get("VmSize", 0) + MEMORY
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    for done in range(recycle):
        try:
            c = conn.recv()
        except EOFError:
            return
        if c is None:
            return
        resettable = _reset_peak()
        t, cpu = time.perf_counter(), _cpu()
        resource.setrlimit(resource.RLIMIT_CPU, (math.ceil(cpu + HARD), resource.RLIM_INFINITY))
        try:
            hostile.execute(c)
            exc = None
        except Exception as e:      # noqa: BLE001 — classified below
            exc = e
        wall, cpu = time.perf_counter() - t, _cpu() - cpu
        try:
            outcome, detail = hostile.classify(c, exc)
        except Exception as e:      # noqa: BLE001 — str() of the exception itself may fail
            outcome, detail = f"crash:{type(exc).__name__}", f"(unprintable: {type(e).__name__})"
        st = _status()
        peak = st.get("VmHWM", 0) if resettable else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        if outcome != "memory" and peak > MEMORY:
            outcome, detail = "memory", f"peak RSS {peak / 2**20:.0f} MB ({outcome}: {detail})"[:300]
        elif cpu > SLOW and outcome not in ("memory",):
            outcome, detail = "slow", f"{cpu:.1f} s CPU ({outcome}: {detail})"[:300]
        last = done == recycle - 1 or st.get("VmRSS", 0) > rest.get("VmRSS", 0) + 300 * 2**20
        conn.send((outcome, detail, wall, cpu, peak, last))
        if last:
            return


def _child_usage(pid):
    """(CPU seconds, peak RSS bytes) of a running child, from /proc (0 when unreadable)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        with open(f"/proc/{pid}/status") as f:
            peak = next((int(ln.split()[1]) * 1024 for ln in f if ln.startswith("VmHWM:")), 0)
        return cpu, peak
    except (OSError, ValueError, IndexError):
        return 0.0, 0


class Slot:
    def __init__(self, ctx, recycle):
        self.ctx, self.recycle = ctx, recycle
        self.spawn()

    def spawn(self):
        parent, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=worker, args=(child, self.recycle), daemon=True)
        self.proc.start()
        child.close()
        self.conn, self.case, self.started = parent, None, None

    def give(self, c):
        self.case, self.started = c, time.perf_counter()
        self.cpu0 = _child_usage(self.proc.pid)[0]
        self.conn.send(c)

    def kill(self):
        if self.proc.is_alive():
            self.proc.kill()                 # only our own child, by its pid
        self.proc.join()
        self.conn.close()


def warm():
    """Import and exercise every path once in the parent, so forked workers start warm."""
    for c in ({"api": "derive+check", "args": {"expr": "sum(tanh(A @ x))", "wrt": "A", "shapes": {"A": ["n", "n"], "x": ["n"]}}},
              {"api": "backprop+check", "args": {"model": hostile.example("two-layer")}},
              {"api": "explain", "args": {"model": hostile.example("two-layer"), "target": "dZ1"}},
              {"api": "explain", "args": {"expr": "x.T @ A @ x", "wrt": "x", "shapes": {"A": ["n", "n"], "x": ["n"]}}},
              {"api": "check", "args": {"model": hostile.example("two-layer"), "claim": "dZ2 = A2 - Y"}}):
        hostile.execute(c)
    for name in hostile.EXAMPLES:
        hostile.gradients(name)


def campaign(cases, jobs, recycle=200, progress=None):
    """Run the cases (an iterator) on `jobs` workers; yields (case, outcome, detail, wall, cpu, peak)."""
    ctx = mp.get_context("fork")
    slots = [Slot(ctx, recycle) for _ in range(jobs)]
    cases = iter(cases)
    pending = True
    try:
        while True:
            for s in slots:
                if s.case is None and pending:
                    c = next(cases, None)
                    if c is None:
                        pending = False
                    else:
                        s.give(c)
            busy = [s for s in slots if s.case is not None]
            if not busy:
                return
            now = time.perf_counter()
            timeout = max(0.01, min(s.started + WALL * HARD - now for s in busy))
            ready = wait([s.conn for s in busy], timeout)
            now = time.perf_counter()
            for s in busy:
                if s.conn in ready:
                    try:
                        outcome, detail, wall, cpu, peak, last = s.conn.recv()
                    except (EOFError, OSError):
                        s.proc.join()
                        code = s.proc.exitcode
                        if code == -signal.SIGXCPU:
                            yield s.case, "killed", f"over {HARD:.0f} s of CPU: killed", now - s.started, None, None
                        else:
                            yield s.case, "died", f"child exited with {code}", now - s.started, None, None
                        s.kill()
                        s.spawn()
                        continue
                    yield s.case, outcome, detail, wall, cpu, peak
                    s.case = None
                    if last:
                        s.kill()
                        s.spawn()
                elif now - s.started > WALL * HARD:
                    cpu, peak = _child_usage(s.proc.pid)
                    cpu -= s.cpu0
                    yield s.case, "killed", f"still running after {WALL * HARD:.0f} s ({cpu:.1f} s of CPU): killed", \
                        now - s.started, cpu, peak
                    s.kill()
                    s.spawn()
    finally:
        for s in slots:
            try:
                if s.case is None and s.proc.is_alive():
                    s.conn.send(None)
            except OSError:
                pass
            s.kill()


# ------------------------------------------------------------------------------------------ report
def size(c):
    return len(json.dumps(c["args"], ensure_ascii=False, default=str))


class Tally:
    def __init__(self):
        self.by_family = collections.defaultdict(collections.Counter)
        self.slowest = {}                   # family -> (wall, cpu, seed, k, api)
        self.peak = {}                      # family -> (bytes, seed, k)
        self.classes = {}                   # signature -> dict
        self.rows = []
        self.total = 0

    def add(self, c, outcome, detail, wall, cpu, peak):
        fam = c["family"]
        self.total += 1
        self.by_family[fam][outcome] += 1
        if wall > self.slowest.get(fam, (-1,))[0]:
            self.slowest[fam] = (wall, cpu, c["seed"], c["k"], c["api"])
        if peak and peak > self.peak.get(fam, (-1,))[0]:
            self.peak[fam] = (peak, c["seed"], c["k"])
        if outcome == "ok" or outcome == "error":
            return
        sig = hostile.signature(outcome, detail, c)
        row = {"seed": c["seed"], "k": c["k"], "family": fam, "api": c["api"], "outcome": outcome,
               "detail": detail, "wall": round(wall, 3), "cpu": None if cpu is None else round(cpu, 3),
               "peak_mb": None if not peak else round(peak / 2**20, 1)}
        self.rows.append(row)
        k = self.classes.get(sig)
        if k is None:
            k = self.classes[sig] = {"signature": sig, "outcome": outcome, "count": 0, "families": collections.Counter(),
                                     "apis": collections.Counter(), "examples": [], "minimal": None, "minimal_size": None}
        k["count"] += 1
        k["families"][fam] += 1
        k["apis"][c["api"]] += 1
        if len(k["examples"]) < 3:
            k["examples"].append(dict(row, case=c))
        if k["minimal"] is None or size(c) < k["minimal_size"]:
            k["minimal"], k["minimal_size"] = dict(row, case=c), size(c)

    def ranked(self):
        return sorted(self.classes.values(), key=lambda k: -k["count"])

    def table(self):
        outcomes = ["ok", "error"] + sorted({o for f in self.by_family.values() for o in f} - {"ok", "error"})
        head = ["family", "inputs"] + outcomes + ["slowest (wall s / cpu s, seed:k, api)", "peak RSS MB (seed:k)"]
        rows = []
        for fam in sorted(self.by_family):
            f = self.by_family[fam]
            w = self.slowest.get(fam)
            p = self.peak.get(fam)
            slow = f"{w[0]:.2f} / {'–' if w[1] is None else f'{w[1]:.2f}'} ({w[2]}:{w[3]}, {w[4]})" if w else ""
            rows.append([fam, str(sum(f.values()))] + [str(f.get(o, 0)) for o in outcomes] +
                        [slow, f"{p[0] / 2**20:.0f} ({p[1]}:{p[2]})" if p else ""])
        tot = collections.Counter()
        for f in self.by_family.values():
            tot.update(f)
        rows.append(["**all**", str(self.total)] + [str(tot.get(o, 0)) for o in outcomes] + ["", ""])
        return head, rows

    def markdown(self, title, elapsed, examples=3):
        head, rows = self.table()
        out = [f"# {title}", "", f"{self.total} inputs in {elapsed:.0f} s", "",
               "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        out += ["", "## Failure classes (most frequent first)", ""]
        for k in self.ranked():
            m = k["minimal"]
            out.append(f"### {k['count']} × {k['signature']}")
            out.append(f"families {dict(k['families'])}, apis {dict(k['apis'])}")
            out.append(f"minimal repro ({m['seed']}:{m['k']}, {m['wall']} s wall, {m['cpu']} s cpu, {m['peak_mb']} MB): "
                       f"`{m['api']}` {json.dumps(m['case']['args'], ensure_ascii=True, default=str)[:700]}")
            out.append(f"→ {m['detail'][:300]!r}")
            for e in k["examples"][:examples]:
                if e["k"] != m["k"] or e["seed"] != m["seed"]:
                    out.append(f"- {e['seed']}:{e['k']} {e['api']} ({e['wall']} s): "
                               f"{json.dumps(e['case']['args'], ensure_ascii=True, default=str)[:300]}")
            out.append("")
        return "\n".join(out)

    def dump(self, path):
        classes = []
        for k in self.ranked():
            classes.append({"signature": k["signature"], "outcome": k["outcome"], "count": k["count"],
                            "families": dict(k["families"]), "apis": dict(k["apis"]), "minimal": k["minimal"],
                            "examples": k["examples"]})
        with open(path, "w") as f:
            json.dump({"total": self.total, "by_family": {f: dict(c) for f, c in self.by_family.items()},
                       "classes": classes}, f, indent=1, ensure_ascii=True, default=str)


# ------------------------------------------------------------------------------------------ shrink
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*|\d+(?:\.\d*)?(?:e[-+]?\d+)?|\*\*|\S|\s+")


def _candidates(text):
    """Smaller variants of a text: whole lines dropped (models), then chunks of tokens, halves first."""
    lines = text.split("\n")
    if len(lines) > 2:
        for size in (len(lines) // 2, len(lines) // 4, 1):
            for i in range(0, len(lines), max(1, size)):
                if size:
                    yield "\n".join(lines[:i] + lines[i + size:])
    toks = _TOKEN.findall(text)
    n = len(toks)
    size = n // 2
    while size >= 1:
        for i in range(0, n - size + 1, size):
            yield "".join(toks[:i] + toks[i + size:])
        size //= 2


def shrink(c, signature, jobs=2, budget=60.0):
    """The smallest variant of case c (its longest text field cut down) with the same failure signature."""
    best, t, tried = c, time.time(), set()
    while time.time() - t < budget:
        key = max((k for k in ("expr", "model", "claim") if isinstance(best["args"].get(k), str)),
                  key=lambda k: len(best["args"][k]), default=None)
        if key is None:
            return best
        todo = []
        for text in _candidates(best["args"][key]):
            if text not in tried:
                tried.add(text)
                todo.append(dict(best, args=dict(best["args"], **{key: text})))
        found = None
        for i in range(0, len(todo), jobs * 2):
            if time.time() - t > budget:
                break
            for cand, outcome, detail, *_ in campaign(todo[i:i + jobs * 2], jobs):
                if hostile.signature(outcome, detail, cand) == signature and size(cand) < size(found or best):
                    found = cand
            if found:
                break
        if not found:
            return best
        best = found
    return best


def shrink_file(path, jobs, budget):
    data = json.load(open(path))
    for k in data["classes"]:
        m = k["minimal"]
        if k["outcome"] == "killed":
            continue                                    # each attempt would take the full hard limit
        small = shrink(m["case"], k["signature"], jobs, budget)
        if small is not m["case"]:
            k["shrunk"] = small
            print(f"{k['signature'][:70]}: {size(m['case'])} → {size(small)} characters", flush=True)
    json.dump(data, open(path, "w"), indent=1, ensure_ascii=True, default=str)


def recheck(a):
    """Run the failing inputs of an earlier campaign again; a table of old -> new outcomes and a Tally."""
    old = [json.loads(line) for line in open(a.recheck)]
    was = {(r["seed"], r["k"]): r for r in old}
    cases = (hostile.case(r["seed"], r["k"], None) for r in old)
    tally, moves, t = Tally(), collections.Counter(), time.time()
    for c, outcome, detail, wall, cpu, peak in campaign(cases, a.jobs, a.recycle):
        tally.add(c, outcome, detail, wall, cpu, peak)
        r = was[(c["seed"], c["k"])]
        moves[(hostile.signature(r["outcome"], r["detail"], c), outcome)] += 1
    print(f"{tally.total} failing inputs run again in {time.time() - t:.0f} s")
    print("| was | count | now ok | now error | still failing |\n|---|---|---|---|---|")
    by = collections.defaultdict(collections.Counter)
    for (sig, now), n in moves.items():
        by[sig]["ok" if now == "ok" else "error" if now == "error" else "fail"] += n
    for sig, n in sorted(by.items(), key=lambda kv: -sum(kv[1].values())):
        print(f"| {sig[:100]} | {sum(n.values())} | {n['ok']} | {n['error']} | {n['fail']} |")
    tally.dump(a.json)
    md = tally.markdown(f"recheck of {a.recheck}", time.time() - t, a.examples)
    if a.report:
        Path(a.report).write_text(md)
    print(md)
    return 1 if tally.rows else 0


def main(argv=None):
    global HARD
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", type=int, default=0, help="first case index (to continue a campaign)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--family", default=None, choices=sorted(hostile.FAMILIES))
    ap.add_argument("--recycle", type=int, default=200, help="cases per worker before it is replaced")
    ap.add_argument("--json", default="/tmp/hostile_failures.json")
    ap.add_argument("--rows", default="/tmp/hostile_failures_rows.jsonl", help="every failing input, one a line")
    ap.add_argument("--report", default=None, help="also write the markdown summary here")
    ap.add_argument("--examples", type=int, default=3)
    ap.add_argument("--hard", type=float, default=HARD, help="seconds of CPU before a case is killed")
    ap.add_argument("--replay", default=None, help="SEED:K — run one case and print it")
    ap.add_argument("--recheck", default=None, help="a failing-rows file (--rows): run those inputs again and "
                    "tabulate old outcome -> new outcome (after an engine fix)")
    ap.add_argument("--shrink", default=None, help="a failures JSON file: cut each class's minimal repro down")
    ap.add_argument("--budget", type=float, default=60.0, help="seconds of shrinking per class")
    a = ap.parse_args(argv)
    if not 1 <= a.jobs <= 4:
        ap.error("--jobs must be 1 … 4 (the machine is shared)")
    HARD = a.hard
    warm()
    if a.shrink:
        shrink_file(a.shrink, a.jobs, a.budget)
        return 0
    if a.recheck:
        return recheck(a)
    if a.replay:
        seed, k = (int(v) for v in a.replay.split(":"))
        c = hostile.case(seed, k, a.family)
        print(json.dumps(c, ensure_ascii=True, default=str)[:4000])
        for _, outcome, detail, wall, cpu, peak in campaign([c], 1):
            print(outcome, f"{wall:.2f} s wall", cpu and f"{cpu:.2f} s cpu", peak and f"{peak / 2**20:.0f} MB")
            print(detail)
        return 0
    tally = Tally()
    t = time.time()
    gen = (hostile.case(a.seed, k, a.family) for k in range(a.start, a.start + a.count))
    step = max(500, min(2000, a.count // 20))
    rows = open(a.rows, "w")

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))    # SIGTERM or Ctrl-C: stop and report
    last = a.start - 1
    try:
        for n, (c, outcome, detail, wall, cpu, peak) in enumerate(campaign(gen, a.jobs, a.recycle), 1):
            if stopping:
                raise KeyboardInterrupt
            tally.add(c, outcome, detail, wall, cpu, peak)
            last = max(last, c["k"])
            if outcome not in ("ok", "error"):
                rows.write(json.dumps(tally.rows[-1], ensure_ascii=True) + "\n")
            if n % step == 0:
                rows.flush()
                print(f"… {n} inputs, {time.time() - t:.0f} s, {len(tally.rows)} failures", flush=True)
                tally.dump(a.json)
                if a.report:
                    Path(a.report).write_text(tally.markdown(f"hostile fuzz, seed {a.seed} (in progress)",
                                                             time.time() - t))
    except KeyboardInterrupt:
        print(f"stopped after {tally.total} inputs", flush=True)
        a.count = last - a.start + 1
    rows.close()
    elapsed = time.time() - t
    tally.dump(a.json)
    md = tally.markdown(f"hostile fuzz, seed {a.seed}, cases {a.start}…{a.start + a.count - 1}", elapsed, a.examples)
    if a.report:
        Path(a.report).write_text(md)
    print(md)
    return 1 if tally.rows else 0


if __name__ == "__main__":
    sys.exit(main())
