"""The web service stops what it abandons: work runs in worker processes that are killed when their
request times out or is cancelled (and replaced: the next request works), memory per worker is
bounded, heavy work is bounded by the pool and its queue (503 past it) while cheap pages never wait,
slow clients are cut off (408), and no worker outlives the server. Behaviour is asserted, never
seconds: the short time limits only keep the tests quick."""
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

import chainrule.app.web as web  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from bench_web import free_port  # noqa: E402  (one helper for a free loopback port)
from chainrule.app import pool as work_pool  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
_fresh = iter(range(10 ** 6))


def derive_body():
    """A derive request not answered before (answers are cached): its dimension has a new name."""
    n = f"n{next(_fresh)}"
    return {"expr": "x.T @ A @ x", "wrt": "x", "shapes": {"A": f"{n},{n}", "x": n}}


CHECK = {"example": "two-layer", "claim": "dW1 = np.dot(dZ1, X.T) / m"}


# stand-ins for the work, patched into chainrule.app.web: the workers import them from this module
def sleepy(req):
    """A request that never finishes by itself."""
    time.sleep(600)


def hog(req):
    """A request that needs more memory than any worker may have."""
    return len(bytearray(4_000_000_000))


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:                                        # a zombie is dead too
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return True


def eventually(predicate, tries=400):
    """Poll a condition that follows an event soon (a process exits); a count, not a time bound."""
    for _ in range(tries):
        if predicate():
            return True
        time.sleep(0.025)
    return predicate()


@pytest.fixture
def app_with_pool():
    made = []

    def make(**options):
        app = web.create_app(pool=1, **options)
        app.state.executor.start()
        made.append(app.state.executor)
        return app, TestClient(app), app.state.executor
    yield make
    for executor in made:
        executor.close()


def test_a_request_past_the_time_limit_gets_504_and_its_worker_is_killed(monkeypatch, app_with_pool):
    monkeypatch.setattr(web, "_check", sleepy)
    app, client, executor = app_with_pool(time_limit=0.5)
    [worker] = executor.pids()
    r = client.post("/api/check", json=CHECK)
    assert r.status_code == 504 and "longer than 0.5 s" in r.json()["error"], r.text
    assert r.headers["x-frame-options"] == "DENY"
    assert not alive(worker) and worker not in executor.pids()
    r = client.post("/api/derive", json=derive_body())                         # the replacement answers
    assert r.status_code == 200 and r.json()["numpy"] == "(A + A.T) @ x"
    assert executor.stats()["replaced"] == 1 and len(executor.pids()) == 1


def test_memory_is_bounded_per_worker(monkeypatch, app_with_pool):
    monkeypatch.setattr(web, "_backprop", hog)
    app, client, executor = app_with_pool(memory_limit=1_000_000_000)
    [worker] = executor.pids()
    r = client.post("/api/backprop", json={"example": "two-layer"})
    assert r.status_code == 507 and "memory limit (1,000 MB)" in r.json()["error"], r.text
    assert eventually(lambda: not alive(worker)) and worker not in executor.pids()
    assert client.post("/api/derive", json=derive_body()).status_code == 200


def test_heavy_work_is_bounded_and_cheap_pages_do_not_wait(monkeypatch, app_with_pool):
    monkeypatch.setattr(web, "_check", sleepy)
    app, client, executor = app_with_pool(time_limit=60, queue=0)
    [worker] = executor.pids()
    slow = {}
    thread = threading.Thread(target=lambda: slow.update(r=client.post("/api/check", json=CHECK)))
    thread.start()
    assert eventually(lambda: executor.stats()["running"] == 1)
    r = client.post("/api/derive", json=derive_body())                         # the pool and its queue are full
    assert r.status_code == 503 and "busy" in r.json()["error"] and r.headers["retry-after"]
    assert client.get("/api/examples").status_code == 200               # cheap pages are served meanwhile
    assert client.get("/").status_code == 200
    executor.close()                                                    # shutting down ends the slow one
    thread.join(30)
    assert slow["r"].status_code == 503 and "shutting down" in slow["r"].json()["error"]
    assert not alive(worker)


def test_a_cancelled_job_kills_its_worker():
    pool = work_pool.ProcessPool(size=1, preload=web.PRELOAD)
    try:
        pool.start()
        [worker] = pool.pids()

        async def cancel_one():
            job = asyncio.ensure_future(pool.run(sleepy, None, timeout=600))
            while pool.stats()["running"] == 0:
                await asyncio.sleep(0.01)
            job.cancel()
            with pytest.raises(asyncio.CancelledError):
                await job
        asyncio.run(cancel_one())
        assert eventually(lambda: not alive(worker) and len(pool.pids()) == 1 and worker not in pool.pids())
        assert asyncio.run(pool.run(pow, 2, 10, timeout=60)) == 1024
        with pytest.raises(ZeroDivisionError):                          # the job's own exception comes back
            asyncio.run(pool.run(divmod, 1, 0, timeout=60))
    finally:
        pool.close()
    assert not alive(worker) and pool.pids() == []


# -- slow clients, on a real server ---------------------------------------------------------------------
@pytest.fixture
def live(monkeypatch):
    import uvicorn
    monkeypatch.setattr(web, "HEADER_TIMEOUT", 0.3)
    monkeypatch.setattr(web, "BODY_TIMEOUT", 0.3)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    srv = uvicorn.Server(uvicorn.Config(web.create_app(pool=1), host="127.0.0.1", port=port, **web.server_options()))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    assert eventually(lambda: srv.started)
    yield port
    srv.should_exit = True
    thread.join(10)


def exchange(port, *parts, pause=0.0):
    """Send the parts (pausing between them), then read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        for part in parts:
            s.sendall(part)
            time.sleep(pause)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


def answer(data):
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    headers = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
    return status, headers, json.loads(body)


def test_slow_clients_are_cut_off(live):
    # a head that never ends: 408 and the connection closes
    status, headers, body = answer(exchange(live, b"POST /api/derive HTTP/1.1\r\nHost: x\r\nX-Slow: "))
    assert status == 408 and "head did not arrive" in body["error"] and headers[b"connection"] == b"close"
    assert headers[b"x-frame-options"] == b"DENY"
    # a body that never ends
    status, headers, body = answer(exchange(live, b"POST /api/derive HTTP/1.1\r\nHost: x\r\n"
                                            b"Content-Type: application/json\r\nContent-Length: 60\r\n\r\n{\"ex"))
    assert status == 408 and "body did not arrive" in body["error"] and headers[b"connection"] == b"close"
    # a connection that sends nothing is closed without an answer
    assert exchange(live) == b""
    # a malformed head answers JSON too
    status, _, body = answer(exchange(live, b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"))
    assert status == 400 and "invalid HTTP request" in body["error"]
    # a kept-alive connection gets a fresh head deadline after each answer, and still works
    data = exchange(live, b"GET /api/examples HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /api/exa", pause=0.05)
    assert data.startswith(b"HTTP/1.1 200") and b"HTTP/1.1 408" in data


def test_past_the_connection_limit_a_connection_gets_503(live, monkeypatch):
    monkeypatch.setattr(web, "MAX_CONNECTIONS", 2)
    monkeypatch.setattr(web, "HEADER_TIMEOUT", 60)                    # the two held connections stay open
    held = [socket.create_connection(("127.0.0.1", live), timeout=30) for _ in range(2)]
    try:
        assert eventually(lambda: exchange(live).startswith(b"HTTP/1.1 503"))
        status, _, body = answer(exchange(live))
        assert status == 503 and "too many open connections" in body["error"]
    finally:
        for s in held:
            s.close()
    assert eventually(lambda: answer(exchange(live, b"GET /api/examples HTTP/1.1\r\nHost: x\r\n"
                                                    b"Connection: close\r\n\r\n"))[0] == 200)


def test_the_server_leaves_no_worker_behind():
    """`chainrule serve --workers 2`: two server processes, each with its pool; a shutdown (SIGTERM)
    ends every process it started."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", "serve", "--port", str(port), "--workers", "2",
                             "--pool", "1"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert eventually(lambda: backprop_ok(port), tries=2000), "the server did not answer"
        assert eventually(lambda: len(workers_of(proc.pid)) == 2, tries=2000)    # one pool per server process
        family = descendants(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        assert eventually(lambda: not any(alive(p) for p in family), tries=2000), \
            [p for p in family if alive(p)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


KILLED = """
import asyncio, threading, time
from chainrule.app.pool import ProcessPool
pool = ProcessPool(size=1)
pool.start()
def report():
    while pool.stats()["running"] == 0:
        time.sleep(0.01)
    time.sleep(0.3)                                # the job is in the worker now
    print(pool.pids()[0], flush=True)
threading.Thread(target=report, daemon=True).start()
asyncio.run(pool.run(time.sleep, 600, timeout=600))
"""


def test_a_busy_worker_does_not_outlive_a_killed_server():
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-c", KILLED], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        worker = int(proc.stdout.readline())
        assert alive(worker)
        proc.kill()                                 # no cleanup runs: the worker's watchdog sees the server gone
        proc.wait()
        assert eventually(lambda: not alive(worker), tries=2000)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def backprop_ok(port):
    import urllib.request
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/backprop", data=b'{"example": "two-layer"}',
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status == 200
    except OSError:
        return False


def children():
    """{pid: parent pid} of every process."""
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                out[int(d.name)] = int((d / "stat").read_text().rsplit(") ", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    return out


def parent_of(pid):
    return children().get(pid)


def descendants(root):
    table, found, todo = children(), set(), [root]
    while todo:
        p = todo.pop()
        for child, parent in table.items():
            if parent == p and child not in found:
                found.add(child)
                todo.append(child)
    return found


def forkserver(pid):
    """Is this a fork server or a process forked from one (the pool's workers)?"""
    try:
        return b"multiprocessing.forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, TypeError):
        return False


def workers_of(root):
    """The pool's workers among the server's descendants: forked from a fork server."""
    return {p for p in descendants(root) if forkserver(p) and forkserver(parent_of(p))}
