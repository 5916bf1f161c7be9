"""The web server under hostile load (issue 15, "Done when"): `chainrule serve` in its own process on
loopback, with a short time limit (--time-limit, default 0.5 s here instead of 20 s: the engine's own
work budget now ends the slowest inputs it knows in seconds, so the limit must be shorter than they
are) and a pool of 2 worker processes, then:
- 20 slow requests (derive of `maximum(…)` nested 5 deep, a different constant each so none is
  cached: the time one takes alone is printed) from 2 clients at once; each must get 504 and its
  worker be killed and replaced (new worker processes counted from /proc);
- meanwhile one client polls `GET /api/examples`: its p50/p95/max, against the same before the load;
- afterwards: seconds until the server's processes (the server and its children, from /proc) are
  back to idle CPU, and their RSS against the start;
- a 50 MB chunked body: what the server answered, how many bytes were sent when it did and in all
  (the client goes on sending until the connection is cut), its RSS;
- slow clients: a request head trickled a byte every 0.5 s, a body trickled a byte a second, 200
  connections that send nothing: seconds until the server cuts each off (or "not cut off" at --cap).
Not a test: run it (python benchmarks/bench_web_hostile.py); it prints a table.
`--server-cmd` measures another server instead (e.g. an older version): a command with {port} and
{time_limit} in it, run from the repository's root."""
import argparse
import json
import os
import select
import shlex
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_web import ROOT, free_port, percentiles  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


# -- the server's processes, from /proc ------------------------------------------------------------------
def table():
    """{pid: (parent pid, cpu ticks, rss kB)} of every process readable."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text().rsplit(") ", 1)[1].split()
            rss = next((int(line.split()[1]) for line in (d / "status").read_text().splitlines()
                        if line.startswith("VmRSS:")), 0)
            out[int(d.name)] = (int(stat[1]), int(stat[11]) + int(stat[12]), rss)
        except (OSError, IndexError, ValueError, StopIteration):
            pass
    return out


def tree(root, snapshot):
    """The root and its descendants, in a snapshot of table()."""
    found, todo = {root}, [root]
    while todo:
        p = todo.pop()
        for child, (parent, _, _) in snapshot.items():
            if parent == p and child not in found:
                found.add(child)
                todo.append(child)
    return found & set(snapshot)


def rss_mb(root):
    snap = table()
    return sum(snap[p][2] for p in tree(root, snap)) / 1024


def cpu_over(root, seconds):
    """CPU used by the server's processes over `seconds`, in cores (1.0 = one core busy); processes
    that exit meanwhile count for what they used before."""
    a = table()
    time.sleep(seconds)
    b = table()
    pids = tree(root, a) | tree(root, b)
    used = sum(b[p][1] - a[p][1] for p in pids if p in a and p in b)
    used += sum(b[p][1] for p in pids if p in b and p not in a)
    return used / TICK / seconds


def wait_idle(root, cap, threshold=0.05, window=0.25):
    """Seconds until the server's CPU stays under `threshold` cores for one window (None past cap)."""
    t = time.perf_counter()
    while time.perf_counter() - t < cap:
        if cpu_over(root, window) < threshold:
            return time.perf_counter() - t
    return None


# -- requests ---------------------------------------------------------------------------------------------
def request(base, path, body=None, timeout=120):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, headers={"Content-Type": "application/json"})
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        e.read()
        status = e.code
    except OSError as e:
        status = type(e).__name__
    return status, time.perf_counter() - t


def slow_body(k):
    e = "x"
    for _ in range(5):
        e = f"maximum({e}, {k + 1} - {e})"
    return {"expr": f"sum({e})", "wrt": "x", "shapes": {"x": "n"}}


def poll_examples(base, stop, latencies):
    while not stop.is_set():
        status, dt = request(base, "/api/examples")
        latencies.append((status, dt))
        time.sleep(0.02)


def chunked_flood(port, total=50_000_000, chunk=65_536):
    """Send a chunked body of `total` bytes, on after the answer until the server cuts the connection:
    the status it answered, bytes sent when the answer came, bytes sent in all."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(b"POST /api/derive HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n")
    piece = f"{chunk:x}\r\n".encode() + b" " * chunk + b"\r\n"
    sent, answer, at_answer = 0, b"", None
    s.settimeout(10)
    try:
        while sent < total:
            if at_answer is None and select.select([s], [], [], 0)[0]:
                answer += s.recv(65536)
                at_answer = sent
            s.sendall(piece)
            sent += len(piece)
    except OSError:                                 # the server closed the connection
        pass
    try:
        while more := s.recv(65536):
            answer += more
    except OSError:
        pass
    s.close()
    status = answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/") else "no answer"
    return status, sent if at_answer is None else at_answer, sent


def cut_off_after(port, head, trickle, every, cap):
    """Send `head`, then one byte of `trickle` every `every` seconds: seconds until the server
    answers or closes the connection (None: still open at cap), and its status."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    t = time.perf_counter()
    s.sendall(head)
    s.settimeout(every)
    data = b""
    k = 0
    while time.perf_counter() - t < cap:
        try:
            got = s.recv(65536)
            if not got:
                break
            data += got
            continue
        except socket.timeout:
            pass
        except OSError:
            break
        try:
            s.send(trickle[k % len(trickle):k % len(trickle) + 1])
            k += 1
        except OSError:
            break
    else:
        s.close()
        return None, "still open"
    s.close()
    status = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "closed"
    return time.perf_counter() - t, status


def idle_sockets(port, count, cap):
    """Open `count` connections that send nothing: seconds until the server has closed all of them."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(count)]
    t = time.perf_counter()
    open_ = set(range(count))
    for s in socks:
        s.setblocking(False)
    while open_ and time.perf_counter() - t < cap:
        for k in list(open_):
            try:
                if socks[k].recv(1) == b"":
                    open_.discard(k)
            except BlockingIOError:
                pass
            except OSError:
                open_.discard(k)
        time.sleep(0.05)
    for s in socks:
        s.close()
    return (time.perf_counter() - t, 0) if not open_ else (None, len(open_))


# -- the run ----------------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--time-limit", type=float, default=0.5)
    ap.add_argument("--slow", type=int, default=20, help="slow requests")
    ap.add_argument("--clients", type=int, default=2, help="clients sending them (default: the pool's size)")
    ap.add_argument("--pool", type=int, default=2, help="worker processes")
    ap.add_argument("--cap", type=float, default=60, help="seconds to wait for idle CPU or a cut-off")
    ap.add_argument("--server-cmd", help="another server to measure: a command with {port} and {time_limit}")
    a = ap.parse_args()

    port = free_port()
    cmd = (shlex.split(a.server_cmd.format(port=port, time_limit=a.time_limit)) if a.server_cmd else
           [sys.executable, "-m", "chainrule", "serve", "--port", str(port), "--time-limit", str(a.time_limit),
            "--pool", str(a.pool)])
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    rows = [("the slow input alone", slow_alone())]
    try:
        for _ in range(600):
            if request(base, "/api/backprop", {"example": "two-layer"}, timeout=30)[0] == 200:
                break
            time.sleep(0.1)
        time.sleep(1.0)
        alone = [request(base, "/api/backprop", {"model": f"# {k}\n" + two_layer()})[1] for k in range(10)]
        idle = wait_idle(proc.pid, 10)
        rss0, cpu0 = rss_mb(proc.pid), cpu_over(proc.pid, 1.0)
        quiet = []
        for _ in range(50):
            quiet.append(request(base, "/api/examples"))
        q = percentiles([dt for _, dt in quiet])
        rows.append(("start", f"RSS {rss0:.0f} MB (server + its processes), CPU {cpu0 * 100:.0f} % of a core"
                              f"{'' if idle is not None else ' (not idle)'}; a new two-layer backprop "
                              f"{sorted(alone)[5] * 1e3:.0f} ms (median of 10)"))
        rows.append(("GET /api/examples, quiet", f"p50 {q(0.5) * 1e3:.1f} ms, p95 {q(0.95) * 1e3:.1f} ms"))

        # 20 slow requests, and the cheap page meanwhile
        stop, polled, answers, lock = threading.Event(), [], [], threading.Lock()
        poller = threading.Thread(target=poll_examples, args=(base, stop, polled))
        poller.start()
        peak, seen = [0.0], set(tree(proc.pid, table()))
        first = set(seen)

        def watch():
            while not stop.is_set():
                snap = table()
                family = tree(proc.pid, snap)
                seen.update(family)
                peak[0] = max(peak[0], sum(snap[p][2] for p in family) / 1024)
                time.sleep(0.05)
        watcher = threading.Thread(target=watch)
        watcher.start()
        todo = iter(range(a.slow))

        def client(_):
            for k in todo:
                status, dt = request(base, "/api/derive", slow_body(k))
                with lock:
                    answers.append((status, dt))
        threads = [threading.Thread(target=client, args=(c,)) for c in range(a.clients)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t
        stop.set()
        poller.join()
        watcher.join()
        back = wait_idle(proc.pid, a.cap)
        seen.update(tree(proc.pid, table()))
        time.sleep(0.5)
        rss1 = rss_mb(proc.pid)
        statuses = sorted({str(s) for s, _ in answers})
        p = percentiles([dt for _, dt in polled])
        rows.append((f"{a.slow} slow requests ({a.clients} clients, time limit {a.time_limit:g} s)",
                     f"answers {', '.join(f'{s} ×{sum(1 for x, _ in answers if str(x) == s)}' for s in statuses)}; "
                     f"each {min(dt for _, dt in answers):.1f}–{max(dt for _, dt in answers):.1f} s; "
                     f"all in {wall:.1f} s; RSS peak {peak[0]:.0f} MB; "
                     f"{len(seen - first)} new processes (workers replaced)"))
        rows.append(("GET /api/examples meanwhile",
                     f"{len(polled)} requests, p50 {p(0.5) * 1e3:.1f} ms, p95 {p(0.95) * 1e3:.1f} ms, "
                     f"max {max(dt for _, dt in polled) * 1e3:.0f} ms; "
                     f"{sum(1 for s, _ in polled if s != 200)} not 200"))
        rows.append(("after: CPU back to idle", "not within %.0f s" % a.cap if back is None else
                     f"{back:.2f} s after the last 504 (under 5 % of a core)"))
        rows.append(("after: RSS", f"{rss1:.0f} MB, {rss1 - rss0:+.0f} MB against the start"))
        status, dt = request(base, "/api/backprop", {"model": "# after\n" + two_layer()})
        rows.append(("after: a new two-layer backprop", f"{status} in {dt * 1e3:.0f} ms"))

        # a 50 MB chunked body
        before = rss_mb(proc.pid)
        status, at_answer, taken = chunked_flood(port)
        rows.append(("50 MB chunked body", f"answer {status} when {at_answer / 1e6:.1f} MB were sent; "
                                          + ("all 50 MB taken" if taken >= 50e6 else
                                             f"connection closed at {taken / 1e6:.1f} MB")
                                          + f"; RSS {before:.0f} → {rss_mb(proc.pid):.0f} MB"))

        # slow clients
        secs, status = cut_off_after(port, b"POST /api/derive HTTP/1.1\r\nHost: x\r\n",
                                     b"X-Slow: aaaaaaaaaaaaaaaaaaaa\r\n", 0.5, a.cap)
        rows.append(("head trickled, a byte every 0.5 s",
                     f"not cut off in {a.cap:.0f} s" if secs is None else f"cut off after {secs:.1f} s ({status})"))
        secs, status = cut_off_after(port, b"POST /api/derive HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                                     b"\r\nContent-Length: 1000\r\n\r\n", b'{"expr": "x", "wrt": "x"}      ', 1.0, a.cap)
        rows.append(("body trickled, a byte a second",
                     f"not cut off in {a.cap:.0f} s" if secs is None else f"cut off after {secs:.1f} s ({status})"))
        secs, left = idle_sockets(port, 200, a.cap)
        rows.append(("200 connections sending nothing",
                     f"{left} still open after {a.cap:.0f} s" if secs is None else f"all closed after {secs:.1f} s"))
        status, dt = request(base, "/api/examples")
        rows.append(("after all that: GET /api/examples", f"{status} in {dt * 1e3:.1f} ms"))
    finally:
        family = tree(proc.pid, table())
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        t = time.perf_counter()
        while time.perf_counter() - t < 10 and [pid for pid in family if pid in table() and pid != proc.pid]:
            time.sleep(0.05)
        left = [pid for pid in family if pid in table() and pid != proc.pid]
        rows.append(("shutdown (SIGTERM)", f"{len(family)} processes, " +
                     (f"{len(left)} still running after 10 s: {left}" if left else
                      f"all gone {time.perf_counter() - t:.1f} s after the server exited")))
        for pid in left:                            # ours: do not leave them behind
            try:
                os.kill(pid, 9)
            except OSError:
                pass
    width = max(len(r[0]) for r in rows)
    print(f"{'what':<{width}}  measured")
    for what, value in rows:
        print(f"{what:<{width}}  {value}")


def slow_alone():
    """How long the first slow request takes in this process, without a time limit."""
    sys.path.insert(0, str(ROOT / "src"))
    import chainrule
    body = slow_body(0)
    t = time.perf_counter()
    try:
        chainrule.derive(body["expr"], "x", {"x": ("n",)}).check()
        outcome = "an answer"
    except chainrule.ChainruleError as e:
        outcome = "an error: " + str(e).split(":")[0]
    return f"{time.perf_counter() - t:.1f} s, to {outcome} ({body['expr'][:40]}…)"


def two_layer():
    sys.path.insert(0, str(ROOT / "src"))
    import chainrule
    return chainrule.example("two-layer")


if __name__ == "__main__":
    main()
