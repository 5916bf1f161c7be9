"""A small pool of worker processes that can be stopped: the web service's heavy work runs here.

A thread cannot be stopped, so work that overran its time limit used to keep computing after the
client had its 504. Here each job runs in a worker process; a job past its deadline gets its worker
killed (SIGKILL: the CPU and memory come back at once) and replaced by a fresh one. Workers are forked
from a fork server that imported the engine once (`preload`), so a replacement is ready in
milliseconds and every worker is reused job after job. Each worker bounds its own address space
(`RLIMIT_AS`): a job that runs out gets `OutOfMemory` and its worker is replaced too.

The pool is used from the event loop (`await pool.run(fn, *args, timeout=…)`): a job waits in a
thread of its own (blocked on a pipe, never computing), so the loop stays free for cheap requests.
At most `size` jobs run and `queue` more wait; past that `run` raises `Busy` at once. The time limit
counts from when the job is submitted (waiting included), so no answer takes longer than it.

`fn` and its arguments travel by pickle: `fn` must be a module-level function the workers can import.
"""
import asyncio
import collections
import concurrent.futures
import ctypes
import multiprocessing
import os
import pickle
import resource
import select
import signal
import threading
import time

MEMORY_LIMIT = 1_500_000_000        # bytes of address space per worker
NICE = 5                            # workers yield the CPU to the server's event loop
THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}   # one core each


class Busy(Exception):
    """Every worker is busy and the queue is full."""


class TimedOut(Exception):
    """The job ran (or waited) past its deadline; its worker, if it had one, was killed."""


class OutOfMemory(Exception):
    """The job needed more than the worker's memory limit; the worker was replaced."""


class WorkerDied(Exception):
    """The worker exited while running the job (a signal, a crash in C code); it was replaced."""


class Closed(Exception):
    """The pool was closed (the server is shutting down)."""


class WorkerError(Exception):
    """An exception from the job that could not travel back by pickle: its type name and message."""

    def __init__(self, kind, message):
        super().__init__(kind, message)
        self.kind, self.message = kind, message

    def __str__(self):
        return f"{self.kind}: {self.message}"


class _Cancelled(Exception):
    """The awaiting request was cancelled (client gone, server stopping); the job's worker was killed."""


# -- the worker process ------------------------------------------------------------------------------
def _die_with_parent():
    """Linux: SIGKILL this process when the process that forked it exits (no orphan keeps computing
    if the server is killed)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)     # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _watch(server):
    """A worker's watchdog thread: exit when the server process does (killed outright, it cannot say
    so; a job mid-way would otherwise run on to its end)."""
    try:
        fd = os.pidfd_open(server)
        select.select([fd], [], [])
    except (AttributeError, OSError):               # no pidfd (not Linux 5.3+): look once a second
        while True:
            time.sleep(1)
            try:
                os.kill(server, 0)
            except ProcessLookupError:
                break
            except PermissionError:
                pass
    os._exit(1)


def _portable(exc):
    """The exception itself if it survives a pickle round trip, else a WorkerError naming it."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return WorkerError(type(exc).__name__, str(exc))


def _serve(conn, server, memory_limit, nice):
    """A worker's life: bound its memory, then answer jobs `(fn, args)` with `(kind, value)` until
    the pipe closes; after a MemoryError it answers and exits (its heap is not to be trusted)."""
    _die_with_parent()
    threading.Thread(target=_watch, args=(server,), daemon=True, name="chainrule-watchdog").start()
    signal.signal(signal.SIGINT, signal.SIG_IGN)        # Ctrl-C reaches the process group: the server decides
    try:
        os.nice(nice)
    except OSError:
        pass
    if memory_limit:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = memory_limit if hard == resource.RLIM_INFINITY else min(memory_limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            fn, args = pickle.loads(data)
            del data
            answer = ("ok", fn(*args))
        except MemoryError:
            answer = ("memory", None)
        except BaseException as e:                      # noqa: BLE001 — every failure goes back to the caller
            answer = ("raise", _portable(e))
        try:
            try:
                out = pickle.dumps(answer)
            except MemoryError:
                answer, out = ("memory", None), pickle.dumps(("memory", None))
            except Exception as e:
                out = pickle.dumps(("raise", WorkerError(type(e).__name__, f"the answer could not be sent: {e}")))
            conn.send_bytes(out)
        except (OSError, MemoryError):
            return
        if answer[0] == "memory":
            return


# -- the pool ------------------------------------------------------------------------------------------
class _Worker:
    def __init__(self, process, conn):
        self.process, self.conn = process, conn


class _Job:
    def __init__(self, data):
        self.data = data
        self.worker = None
        self.cancelled = False


class ProcessPool:
    """`size` worker processes, `queue` more jobs waiting; see the module's docstring."""

    def __init__(self, size=2, queue=64, memory_limit=MEMORY_LIMIT, preload=(), nice=NICE):
        if size < 1 or queue < 0:
            raise ValueError("a pool needs at least one worker and a queue of 0 or more")
        self.size, self.queue, self.memory_limit, self.nice = size, queue, memory_limit, nice
        methods = multiprocessing.get_all_start_methods()
        self._ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        self._preload = list(preload)
        self._cond = threading.Condition()
        self._start_lock = threading.Lock()
        self._idle, self._all = [], set()
        self._waiting = collections.deque()        # jobs waiting for a worker, oldest first
        self._pending = 0
        self._started = self._closed = False
        self._threads = concurrent.futures.ThreadPoolExecutor(size + queue, thread_name_prefix="chainrule-pool")
        self.replaced = 0                    # workers killed and replaced (timeouts, memory, crashes)

    # -- life cycle
    def start(self):
        """Start the workers (the first call boots the fork server: the imports in `preload`)."""
        with self._start_lock:
            if self._started or self._closed:
                return
            if self._ctx.get_start_method() == "forkserver":
                self._boot_forkserver()
            workers = [self._spawn() for _ in range(self.size)]
            with self._cond:
                if self._closed:
                    for w in workers:
                        self._stop(w)
                    return
                self._idle.extend(workers)
                self._all.update(workers)
                self._started = True
                self._cond.notify_all()

    def _boot_forkserver(self):
        from multiprocessing import forkserver
        self._ctx.set_forkserver_preload(self._preload)
        saved = {k: os.environ.get(k) for k in THREADS}
        for k, v in THREADS.items():
            os.environ.setdefault(k, v)
        try:
            forkserver.ensure_running()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)

    def _spawn(self):
        mine, theirs = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(target=_serve, args=(theirs, os.getpid(), self.memory_limit, self.nice),
                                    name="chainrule-worker", daemon=True)
        process.start()
        theirs.close()
        return _Worker(process, mine)

    @staticmethod
    def _stop(worker, close=True):
        """Kill the worker's process and wait for it; close its pipe unless a job's thread still reads
        it (that thread closes it when it sees the end)."""
        try:
            worker.process.kill()
        except (OSError, ValueError):
            pass
        worker.process.join(5)
        if close:
            worker.conn.close()

    def close(self):
        """Kill every worker (running jobs end with `Closed`); idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            workers, idle = list(self._all), set(self._idle)
            self._all.clear()
            self._idle.clear()
            self._cond.notify_all()
        for w in workers:
            self._stop(w, close=w in idle)
        self._threads.shutdown(wait=False)          # a job not yet begun finds the pool closed

    def pids(self):
        """The worker processes' ids (the running and the idle ones)."""
        with self._cond:
            return sorted(w.process.pid for w in self._all)

    def stats(self):
        """workers, running (jobs in a worker), waiting (jobs waiting for one), replaced (workers killed
        and replaced so far)."""
        with self._cond:
            running = len(self._all) - len(self._idle)
            return dict(workers=len(self._all), running=running, waiting=max(0, self._pending - running),
                        replaced=self.replaced)

    @property
    def closed(self):
        return self._closed

    # -- jobs
    async def run(self, fn, *args, timeout):
        """`fn(*args)` in a worker, within `timeout` seconds; its answer, or its exception re-raised
        (Busy, TimedOut, OutOfMemory, WorkerDied, Closed from the pool itself)."""
        data = pickle.dumps((fn, args))                 # fails here, in the caller, if fn cannot travel
        with self._cond:
            if self._closed:
                raise Closed()
            if self._pending >= self.size + self.queue:
                raise Busy()
            self._pending += 1
        job = _Job(data)
        try:
            future = self._threads.submit(self._call, job, timeout)
        except RuntimeError:                            # the thread pool was shut down: closed meanwhile
            with self._cond:
                self._pending -= 1
            raise Closed() from None
        waiting = asyncio.wrap_future(future)
        try:
            return await asyncio.shield(waiting)        # a cancelled request must not cancel the thread's bookkeeping
        except asyncio.CancelledError:
            waiting.add_done_callback(lambda f: f.cancelled() or f.exception())    # retrieved: no warning
            self._cancel(job)
            raise

    def _cancel(self, job):
        with self._cond:
            job.cancelled = True
            if job.worker is not None:
                try:
                    job.worker.process.kill()       # the waiting thread sees the pipe close, then replaces it
                except (OSError, ValueError):
                    pass
            self._cond.notify_all()

    def _call(self, job, timeout):
        try:
            self.start()                            # boots the pool on first use; its time is not the job's
            deadline = time.monotonic() + timeout
            worker = self._acquire(job, deadline)
            try:
                worker.conn.send_bytes(job.data)
                if not worker.conn.poll(max(0.0, deadline - time.monotonic())):
                    self._replace(worker, job)
                    raise TimedOut()
                answer = worker.conn.recv_bytes()
            except (EOFError, OSError):
                code = worker.process.exitcode
                self._replace(worker, job)
                if self._closed:
                    raise Closed() from None
                if job.cancelled:
                    raise _Cancelled() from None
                raise WorkerDied(code) from None
            try:
                kind, value = pickle.loads(answer)
            except Exception as e:                  # noqa: BLE001 — an answer that does not unpickle here
                kind, value = "raise", WorkerError(type(e).__name__, f"the answer could not be read: {e}")
            if kind == "memory":
                self._replace(worker, job)
                raise OutOfMemory()
            self._release(worker, job)
            if kind == "raise":
                raise value
            return value
        finally:
            with self._cond:
                self._pending -= 1

    def _acquire(self, job, deadline):
        """A worker for the job, first come first served (a job arriving later never takes the worker
        an earlier one waits for)."""
        with self._cond:
            self._waiting.append(job)
            try:
                while True:
                    if self._closed:
                        raise Closed()
                    if job.cancelled:
                        raise _Cancelled()
                    if self._idle and self._waiting[0] is job:
                        job.worker = self._idle.pop()
                        return job.worker
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimedOut()
                    self._cond.wait(remaining)
            finally:
                self._waiting.remove(job)
                self._cond.notify_all()             # the next in line may go

    def _release(self, worker, job):
        with self._cond:
            job.worker = None                       # a late cancel must not kill the worker's next job
            if worker in self._all:
                self._idle.append(worker)
                self._cond.notify_all()

    def _replace(self, worker, job):
        """Kill the worker (if it still runs) and put a fresh one in its place."""
        with self._cond:
            job.worker = None
            known = worker in self._all
            self._all.discard(worker)
        self._stop(worker)
        if not known or self._closed:
            return
        try:
            fresh = self._spawn()
        except Exception:                           # noqa: BLE001 — the pool shrinks rather than failing the caller
            return self._cond_notify()
        with self._cond:
            self.replaced += 1
            if self._closed:
                closing = True
            else:
                closing = False
                self._all.add(fresh)
                self._idle.append(fresh)
                self._cond.notify_all()
        if closing:
            self._stop(fresh)

    def _cond_notify(self):
        with self._cond:
            self._cond.notify_all()


class InProcess:
    """The same interface in a thread of this process — for tests that patch the work functions. It
    cannot stop work that overruns (the thread runs on after TimedOut); never use it to serve."""

    size = queue = memory_limit = 0
    closed = False

    def start(self):
        pass

    def close(self):
        pass

    def pids(self):
        return []

    def stats(self):
        return dict(workers=0, running=0, waiting=0, replaced=0)

    async def run(self, fn, *args, timeout):
        import anyio
        try:
            with anyio.fail_after(timeout):
                return await anyio.to_thread.run_sync(fn, *args, abandon_on_cancel=True)
        except TimeoutError:
            raise TimedOut() from None
