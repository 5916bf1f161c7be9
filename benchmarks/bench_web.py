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
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=60) as r:
        r.read()
        assert r.status == 200
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--requests", type=int, default=25, help="per client")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
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
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "chainrule", "serve", "--port", str(port),
                               "--workers", str(workers)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    url = f"http://127.0.0.1:{port}/api/backprop"
    try:
        for _ in range(200):
            try:
                post(url, body())
                break
            except OSError:
                time.sleep(0.05)
        single = statistics.median(post(url, body()) for _ in range(10))
        latencies, lock = [], threading.Lock()

        def client():
            for _ in range(a.requests):
                dt = post(url, body())
                with lock:
                    latencies.append(dt)
        threads = [threading.Thread(target=client) for _ in range(a.clients)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t
    finally:
        server.terminate()
        server.wait(10)
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]   # noqa: E731
    what = "a different model text each time (no cache)" if distinct else "the same request (cached answer)"
    print(f"{workers} server process(es), {what}: one client {single * 1e3:.1f} ms; "
          f"{a.clients} concurrent clients × {a.requests} requests: p50 {p(0.5) * 1e3:.0f} ms, "
          f"p95 {p(0.95) * 1e3:.0f} ms, max {latencies[-1] * 1e3:.0f} ms, "
          f"{len(latencies) / wall:.0f} requests/s")


if __name__ == "__main__":
    main()
