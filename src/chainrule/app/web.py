"""The web page and JSON API: `chainrule serve` (FastAPI + uvicorn).

One page at `/` (static files shipped in the package, math as MathML rendered by the browser: nothing
is fetched from the internet), and `POST /api/derive`, `/api/backprop`, `/api/explain`, `/api/check`
mirroring the Python API (OpenAPI at `/docs`). Bad input gets a 4xx `{"error": message}` with the
positioned message.

The work (derive, backprop, explain, check) runs in a small pool of worker processes (app/pool.py):
the event loop stays free, so the page and `/api/examples` never wait behind it; a request past the
time limit gets 504 and its worker process is killed and replaced (the CPU and memory come back);
each worker's memory is bounded; past the pool and its queue a request gets 503. Slow clients are
cut off: a request head must arrive within HEADER_TIMEOUT and a body within BODY_TIMEOUT (408).
Settings: `create_app(...)` arguments, else the environment (CHAINRULE_TIME_LIMIT seconds,
CHAINRULE_POOL processes, CHAINRULE_MEMORY_LIMIT megabytes: `serve --workers N` passes them to its
processes this way), else the constants below.
"""
import json
import os
import time
from contextlib import asynccontextmanager
from importlib import resources
from typing import Optional, Union

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..core.errors import ChainruleError
from ..lang.shapes import parse_shape
from . import pool as work_pool

MAX_TEXT = 20_000          # characters of a model or expression
TIME_LIMIT = 20.0          # seconds per request, waiting for a worker included
POOL_SIZE = max(1, min(4, os.cpu_count() or 1))   # worker processes per server process
POOL_QUEUE = 64            # requests waiting for a worker, past the running ones (then 503)
MEMORY_LIMIT = work_pool.MEMORY_LIMIT             # bytes of address space per worker process
ENV = {"time_limit": "CHAINRULE_TIME_LIMIT", "pool": "CHAINRULE_POOL", "memory_limit": "CHAINRULE_MEMORY_LIMIT"}
# imported once by the workers' fork server, so a worker (and its replacement) starts warm
PRELOAD = ("chainrule.app.web", "chainrule.engine.derivation", "chainrule.engine.adjoints", "chainrule.tutor.mentor",
           "chainrule.tutor.verdict", "chainrule.tutor.toy_example", "chainrule.render.document", "chainrule.lang.model",
           "chainrule.numeric.checks", "latex2mathml.converter")

Shape = Union[str, list]


class DeriveIn(BaseModel):
    expr: str = Field(max_length=MAX_TEXT, examples=["x.T @ A @ x"])
    wrt: str = Field(max_length=100, examples=["x"])
    shapes: dict[str, Shape] = Field(default_factory=dict, examples=[{"A": "n,n", "x": "n"}])
    order: int = Field(1, ge=1, le=4)


class ModelIn(BaseModel):
    model: Optional[str] = Field(None, max_length=MAX_TEXT, description="model text (or give example)")
    example: Optional[str] = Field(None, max_length=100, examples=["two-layer"])
    convention: str = Field("course", pattern="^(course|strict)$")


class ExplainIn(ModelIn):
    target: str = Field("dZ1", max_length=100)
    expr: Optional[str] = Field(None, max_length=MAX_TEXT)
    wrt: Optional[str] = Field(None, max_length=100)
    shapes: dict[str, Shape] = Field(default_factory=dict)


class CheckIn(ModelIn):
    claim: str = Field(max_length=MAX_TEXT, examples=["dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(A1, 2))"])


def _shapes(raw):
    out = {}
    for name, v in raw.items():
        if isinstance(v, str):
            out[name] = parse_shape(f"{name}={v}")[1]
        else:
            out[name] = tuple(v)
    return out


def _model_text(req):
    from ..lang.model import example
    if req.model and req.example:
        raise ChainruleError("give either a model text or an example name, not both")
    return req.model if req.model else example(req.example or "two-layer")


def _math(tex):
    from ..render.document import mathml
    return mathml(tex)


def _derive(req):
    from ..engine.derivation import derive
    r = derive(req.expr, req.wrt, _shapes(req.shapes), req.order)
    return dict(text=r.text, latex=r.latex, mathml=_math(r.latex) if r.matrix_form else None, numpy=r.numpy,
                index=r.index, shape=[d for d in r.shape], matrix_form=r.matrix_form,
                check=r.check())


def _backprop(req):
    from ..engine.adjoints import backprop
    r = backprop(_model_text(req), req.convention)
    loops = []
    for loop in r.loops:                       # each loop read back as one backward body, in indexed names
        d = loop.to_dict()
        for line in d["lines"] + d["sums"]:
            line["mathml"] = _math(f"{_lx(line['name'])} = {line['latex']}")
        loops.append(d)
    return dict(convention=r.convention, note=r.note, gradients=[
        dict(name=g.name, of=g.of, text=g.text, latex=g.latex, mathml=_math(f"{_lx(g.name)} = {g.latex}"),
             numpy=g.numpy, shape=list(g.shape), scale=g.scale) for g in r.gradients], loops=loops)


def _lx(name):
    from ..render.printing import latex_name
    return latex_name(name)


def _explain(req):
    from ..tutor.mentor import explain
    if req.expr:
        e = explain(expr=req.expr, wrt=req.wrt, shapes=_shapes(req.shapes))
    else:
        e = explain(_model_text(req), req.target, convention=req.convention)
    return dict(target=e.target, formula=e.formula, heading=e.heading, markdown=e.markdown,
                steps=[dict(title=s.title, markdown=s.markdown, latex=s.latex, html=s.html) for s in e.steps])


def _check(req):
    from ..tutor.verdict import check
    v = check(_model_text(req), req.claim, req.convention)
    return dict(correct=v.correct, reason=v.reason, hint=v.hint, expected=v.expected, target=v.target,
                text=str(v))


def _examples():
    from ..lang.model import example
    from ..lang.model import examples
    return [dict(name=n, text=example(n)) for n in examples()]


_CACHE = {}
CACHE_SIZE = 256


async def _run(executor, time_limit, fn, req):
    """The work in a worker process, within the time limit (the event loop stays free for other
    users). Answers are pure functions of the request, so repeated requests are served from a small
    cache; the pool's refusals become {"error": …} answers."""
    key = (fn.__name__, req.model_dump_json())
    if key in _CACHE:
        return _CACHE[key]
    try:
        out = await executor.run(fn, req, timeout=time_limit)
    except work_pool.TimedOut:
        return _error(504, f"the request took longer than {time_limit:g} s and was stopped")
    except work_pool.OutOfMemory:
        limit = f" ({executor.memory_limit / 1e6:,.0f} MB)" if executor.memory_limit else ""
        return _error(507, f"the request needed more than the memory limit{limit} and was stopped")
    except work_pool.Busy:
        return _error(503, f"the server is busy ({executor.size + executor.queue} requests running or waiting); "
                           "try again in a few seconds", {"Retry-After": "5"})
    except work_pool.Closed:
        return _error(503, "the server is shutting down", {"Retry-After": "5"})
    except work_pool.WorkerDied as e:
        return _error(500, f"internal error (the worker process exited with code {e.args[0]})")
    if len(_CACHE) >= CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = out
    return out


def _error(status, message, headers=None):
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _setting(value, name, default, kind=float):
    """An argument, else its environment variable, else the default."""
    if value is not None:
        return value
    raw = os.environ.get(ENV[name])
    if raw is None:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ChainruleError(f"{ENV[name]} must be a number, got {raw!r}") from None


MAX_BODY = 100_000         # bytes of a request body
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


HEADER_TIMEOUT = 10.0      # seconds for a request head to arrive whole (from the connection or the last answer)
BODY_TIMEOUT = 20.0        # seconds for a request body to arrive whole
KEEP_ALIVE = 5             # seconds an idle keep-alive connection stays open (uvicorn's timer)
MAX_HEAD = 16_384          # bytes of a request head (uvicorn/h11: a longer one is a 400)
MAX_CONNECTIONS = 1_000    # open connections per server process; past it a new one gets 503
GRACE = 5                  # seconds a shutdown waits for running requests before cancelling them


class BodyRefused(Exception):
    """A request body stopped while it is read: past MAX_BODY (a chunked body has no Content-Length),
    or not arrived within BODY_TIMEOUT."""
    status = 400

    def message(self):
        return "request body refused"


class BodyTooLarge(BodyRefused):
    status = 413

    def message(self):
        return f"request body too large (limit {MAX_BODY:,} bytes)"


class BodyTooSlow(BodyRefused):
    status = 408

    def message(self):
        return f"the request body did not arrive within {BODY_TIMEOUT:g} s"


class _LimitBody:
    """ASGI middleware: count a request body's bytes as they arrive and stop past MAX_BODY; stop a
    body that has not arrived whole within BODY_TIMEOUT (one byte a second never ends)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        seen, more, deadline = 0, True, time.monotonic() + BODY_TIMEOUT

        async def limited():
            nonlocal seen, more
            if not more:                                 # the body is in: later receives wait for a disconnect
                return await receive()
            with anyio.move_on_after(max(0.0, deadline - time.monotonic())) as waited:
                message = await receive()
            if waited.cancelled_caught:
                raise BodyTooSlow()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                more = message.get("more_body", False)
                if seen > MAX_BODY:
                    raise BodyTooLarge()
            return message
        await self.app(scope, limited, send)


def _refusal(exc):
    """The BodyRefused this exception is, or that an exception group (anyio's task groups) holds."""
    if isinstance(exc, BodyRefused):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for e in exc.exceptions:
            if (found := _refusal(e)) is not None:
                return found
    return None


def _refused(exc):
    """The answer to a refused body; the connection closes (the rest of the body is not read)."""
    return JSONResponse({"error": exc.message()}, status_code=exc.status,
                        headers={**SECURITY_HEADERS, "Connection": "close"})


def create_app(executor=None, time_limit=None, pool=None, memory_limit=None, queue=POOL_QUEUE):
    """The FastAPI app. `executor` runs the work: by default a ProcessPool of `pool` workers with
    `memory_limit` bytes each (see the module's docstring for the environment); tests that patch the
    work functions pass `pool.InProcess()`. `time_limit`: seconds per request."""
    time_limit = float(_setting(time_limit, "time_limit", TIME_LIMIT))
    if executor is None:
        if memory_limit is None:                        # the environment gives megabytes
            megabytes = _setting(None, "memory_limit", None)
            memory_limit = MEMORY_LIMIT if megabytes is None else int(megabytes * 1e6)
        executor = work_pool.ProcessPool(size=int(_setting(pool, "pool", POOL_SIZE, int)), queue=queue,
                                         memory_limit=memory_limit, preload=PRELOAD)

    @asynccontextmanager
    async def lifespan(app):
        import threading
        threading.Thread(target=executor.start, daemon=True).start()    # boot the workers; startup stays quick
        try:
            yield
        finally:
            executor.close()                    # no worker outlives the server

    app = FastAPI(title="chainrule", version="0.1.0", docs_url=None, redoc_url=None, lifespan=lifespan,
                  description="Matrix calculus in matrix notation: derive, backprop, explain, check.")
    app.state.executor, app.state.time_limit = executor, time_limit

    async def run(fn, req):
        return await _run(executor, time_limit, fn, req)
    app.openapi_version = "3.0.3"          # the packaged Swagger UI (4.x) reads OpenAPI 3.0 documents

    @app.middleware("http")
    async def _guard(request: Request, call_next):
        """Reject oversized bodies before reading them; every response carries the security headers."""
        length = request.headers.get("content-length")
        if length is not None and (not (length.isascii() and length.isdigit()) or int(length) > MAX_BODY):
            response = _refused(BodyTooLarge())
        else:
            response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(ChainruleError)
    async def _bad_input(request: Request, exc: ChainruleError):
        return JSONResponse({"error": str(exc), "message": exc.message}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid request')}"}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):   # 404, 405, a body that failed to read
        if (refused := _refusal(exc.__cause__)) is not None:
            return _refused(refused)
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=SECURITY_HEADERS)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):       # never a traceback to the client
        if (refused := _refusal(exc)) is not None:
            return _refused(refused)
        kind = exc.kind if isinstance(exc, work_pool.WorkerError) else type(exc).__name__
        return JSONResponse({"error": f"internal error ({kind})"}, status_code=500, headers=SECURITY_HEADERS)

    app.add_middleware(_LimitBody)

    @app.post("/api/derive", summary="Derivative of an expression (gradient, Jacobian, Hessian)")
    async def derive_api(req: DeriveIn):
        return await run(_derive, req)

    @app.post("/api/backprop", summary="Every adjoint of a model written as assignments")
    async def backprop_api(req: ModelIn):
        return await run(_backprop, req)

    @app.post("/api/explain", summary="The mentor's derivation of one adjoint or derivative, in seven sections")
    async def explain_api(req: ExplainIn):
        return await run(_explain, req)

    @app.post("/api/check", summary="A verdict on a learner's formula for one adjoint")
    async def check_api(req: CheckIn):
        return await run(_check, req)

    @app.get("/api/examples", summary="The built-in models")
    async def examples_api():
        return _examples()

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon():
        return Response(status_code=204)

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    async def docs():
        """Swagger UI from the swagger-ui-bundle package (served locally, no CDN)."""
        return HTMLResponse(_static("docs.html"))

    @app.get("/static/swagger/{name}", include_in_schema=False)
    async def swagger(name: str):
        kinds = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}
        if name not in kinds:
            return JSONResponse({"error": "not found"}, status_code=404)
        try:
            from swagger_ui_bundle import swagger_ui_path
        except ImportError:
            return JSONResponse({"error": "swagger-ui-bundle is not installed"}, status_code=404)
        from pathlib import Path
        return Response((Path(swagger_ui_path) / name).read_bytes(), media_type=kinds[name])

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        return HTMLResponse(_static("index.html"))

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str):
        kinds = {"js": "text/javascript", "css": "text/css"}
        ext = name.rsplit(".", 1)[-1]
        if ext not in kinds or "/" in name or name.startswith("."):
            return JSONResponse({"error": "not found"}, status_code=404)
        try:
            return Response(_static(name), media_type=kinds[ext])
        except FileNotFoundError:
            return JSONResponse({"error": "not found"}, status_code=404)

    return app


def _static(name):
    return resources.files("chainrule").joinpath("web_static", name).read_text(encoding="utf-8")


# -- serving: uvicorn, with the limits it lacks -------------------------------------------------------
class GuardedH11(H11Protocol):
    """uvicorn's h11 protocol, plus: a request head must arrive whole within HEADER_TIMEOUT of the
    connection (or of the previous answer on a kept-alive one) — uvicorn restarts its keep-alive timer
    on every byte, so a head trickled a byte at a time held a connection forever, and a connection
    that sends nothing is never closed —; past MAX_CONNECTIONS open connections a new one gets 503
    at once; and what it answers itself (408, 503, 400 for a malformed head) is JSON {"error": …}
    with the security headers, like the app's answers."""

    def connection_made(self, transport):
        self._head_timer = None
        super().connection_made(transport)
        if len(self.connections) > MAX_CONNECTIONS:
            self._answer(503, "too many open connections; try again in a moment")
        else:
            self._arm()

    def _arm(self):
        self._disarm()
        self._head_timer = self.loop.call_later(HEADER_TIMEOUT, self._head_late)

    def _disarm(self):
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def data_received(self, data):
        cycle = self.cycle
        super().data_received(data)
        if self.cycle is not cycle:                 # a request head is complete: the app has it now
            self._disarm()

    def on_response_complete(self):
        done = self.cycle
        super().on_response_complete()
        if not self.transport.is_closing() and self.cycle is done:    # (not a pipelined request already)
            self._arm()

    def connection_lost(self, exc):
        self._disarm()
        super().connection_lost(exc)

    def _head_late(self):
        self._head_timer = None
        if self.transport.is_closing() or (self.cycle is not None and not self.cycle.response_complete):
            return
        if self.conn.trailing_data[0]:              # part of a head arrived: say why the connection ends
            self._answer(408, f"the request head did not arrive within {HEADER_TIMEOUT:g} s")
        else:                                       # nothing arrived: close quietly, like an idle keep-alive
            self.transport.close()

    def send_400_response(self, msg):
        self._answer(400, "invalid HTTP request (malformed, or a head longer than "
                          f"{MAX_HEAD:,} bytes)")

    def _answer(self, status, message):
        """Write a JSON answer outside h11 (no request to answer, or a broken one) and close."""
        from http import HTTPStatus
        body = json.dumps({"error": message}).encode()
        head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", "content-type: application/json",
                f"content-length: {len(body)}", "connection: close"]
        head += [f"{k.lower()}: {v}" for k, v in SECURITY_HEADERS.items()]
        self.transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        self.transport.close()


def server_options():
    """uvicorn's settings for every chainrule server (serve, the tests' and benchmarks' servers)."""
    return dict(http=GuardedH11, timeout_keep_alive=KEEP_ALIVE, h11_max_incomplete_event_size=MAX_HEAD,
                timeout_graceful_shutdown=GRACE, log_level="warning")


def serve(host="127.0.0.1", port=8000, workers=1, pool=None, time_limit=None, memory_limit=None):
    """Run the server. `workers`: server processes (each with its own pool of `pool` worker
    processes, by default the cores shared out, 1 … 4); `memory_limit` in megabytes."""
    import uvicorn
    if pool is None:
        pool = max(1, min(4, (os.cpu_count() or 1) // workers))
    for name, value in (("pool", pool), ("time_limit", time_limit), ("memory_limit", memory_limit)):
        if value is not None:                       # the factory below reads them in each server process
            os.environ[ENV[name]] = str(value)
    if workers > 1:                       # processes: CPU-bound answers use every core
        uvicorn.run("chainrule.app.web:create_app", factory=True, host=host, port=port, workers=workers,
                    **server_options())
    else:
        uvicorn.run(create_app(), host=host, port=port, **server_options())
