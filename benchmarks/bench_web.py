"""Latency of the web API under load: `chainrule serve` in its own process on loopback, 20 concurrent
clients each posting /api/backprop for the two-layer model. Reports p50/p95/max over all requests.
Not a test: run `make bench`; CI runs `--quick`.
Usage: python benchmarks/bench_web.py [--clients 20] [--requests 25] [--quick]"""
import argparse
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """`chainrule serve` in its own process on a free loopback port, ready when entered."""

    def __init__(self, workers=1, probe=None):
        self.port, self.workers, self.probe = free_port(), workers, probe

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-m", "chainrule", "serve", "--port", str(self.port),
                                      "--workers", str(self.workers)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        for _ in range(200):
            try:
                self.probe(f"http://127.0.0.1:{self.port}")
                break
            except OSError:
                time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(10)


def run_clients(count, target):
    """Run `target(k)` in `count` threads at once; the wall-clock seconds they took together."""
    threads = [threading.Thread(target=target, args=(k,)) for k in range(count)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return time.perf_counter() - t


def percentiles(latencies):
    latencies.sort()
    return lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=60) as r:
        r.read()
        assert r.status == 200
    return time.perf_counter() - t


MIX = [
    ("/api/backprop", {"example": "two-layer"}),
    ("/api/backprop", {"example": "batchnorm", "convention": "strict"}),
    ("/api/derive", {"expr": "x.T @ A @ x", "wrt": "x", "shapes": {"A": "n,n", "x": "n"}, "order": 2}),
    ("/api/derive", {"expr": "sum(G * tanh(W @ X + b))", "wrt": "W",
                     "shapes": {"G": "n,m", "W": "n,d", "X": "d,m", "b": "n,1"}}),
    ("/api/check", {"example": "two-layer", "claim": "dZ1 = np.dot(W2, dZ2) * (1 - np.power(A1, 2))"}),
    ("/api/check", {"example": "deep-relu", "claim": "dW2 = np.dot(dZ2, A1.T) / m"}),
    ("/api/explain", {"example": "softmax", "target": "dZ1"}),
    ("/api/derive", {"expr": "x @@ y", "wrt": "x", "shapes": {"x": "n"}}),           # a 400, on purpose
]


def load(clients, duration):
    """A bounded load test: `clients` threads post a mix of requests (one deliberately bad) for
    `duration` seconds; every answer must be the expected status."""
    latencies, errors, lock = [], [], threading.Lock()
    with Server(probe=lambda base: post(base + MIX[0][0], MIX[0][1])) as base:
        stop = time.perf_counter() + duration

        def client(k):
            i = k
            while time.perf_counter() < stop:
                path, body = MIX[i % len(MIX)]
                i += 1
                t = time.perf_counter()
                req = urllib.request.Request(base + path, data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(req, timeout=60) as r:
                        r.read()
                        status = r.status
                except urllib.error.HTTPError as e:
                    status = e.code
                except OSError as e:
                    status = f"{type(e).__name__}"
                dt = time.perf_counter() - t
                expected = 400 if "@@" in body.get("expr", "") else 200
                with lock:
                    latencies.append(dt)
                    if status != expected:
                        errors.append((path, status))
        wall = run_clients(clients, client)
    p = percentiles(latencies)
    print(f"load: {clients} clients for {wall:.0f} s, a mix of {len(MIX)} requests (derive, backprop, explain, "
          f"check, one bad): {len(latencies)} requests, {len(errors)} unexpected answers, "
          f"p50 {p(0.5) * 1e3:.0f} ms, p95 {p(0.95) * 1e3:.0f} ms, max {latencies[-1] * 1e3:.0f} ms, "
          f"{len(latencies) / wall:.0f} requests/s")
    return errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--requests", type=int, default=25, help="per client")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--load", type=float, metavar="SECONDS", help="the load test instead: 50 clients this long")
    a = ap.parse_args()
    if a.load:
        sys.exit(1 if load(50, a.load) else 0)
    if a.quick:
        a.clients, a.requests = 3, 2
    for workers in (1, 2):
        for distinct in (False, True):
            run(a, workers, distinct)


def run(a, workers, distinct):
    """distinct: every request a different model text (a numbered comment), so no answer is cached."""
    sys.path.insert(0, str(ROOT / "src"))
    import chainrule
    text = chainrule.example("two-layer")
    counter = iter(range(10 ** 9))
    body = (lambda: {"model": f"# request {next(counter)}\n" + text}) if distinct else \
        (lambda: {"example": "two-layer"})
    with Server(workers, probe=lambda base: post(base + "/api/backprop", body())) as base:
        url = base + "/api/backprop"
        single = statistics.median(post(url, body()) for _ in range(10))
        latencies, lock = [], threading.Lock()

        def client(k):
            for _ in range(a.requests):
                dt = post(url, body())
                with lock:
                    latencies.append(dt)
        wall = run_clients(a.clients, client)
    p = percentiles(latencies)
    what = "a different model text each time (no cache)" if distinct else "the same request (cached answer)"
    print(f"{workers} server process(es), {what}: one client {single * 1e3:.1f} ms; "
          f"{a.clients} concurrent clients × {a.requests} requests: p50 {p(0.5) * 1e3:.0f} ms, "
          f"p95 {p(0.95) * 1e3:.0f} ms, max {latencies[-1] * 1e3:.0f} ms, "
          f"{len(latencies) / wall:.0f} requests/s")


if __name__ == "__main__":
    main()
