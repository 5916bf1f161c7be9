"""The web page and JSON API: `chainrule serve` (FastAPI + uvicorn).

One page at `/` (static files shipped in the package, math as MathML rendered by the browser: nothing
is fetched from the internet), and `POST /api/derive`, `/api/backprop`, `/api/explain`, `/api/check`
mirroring the Python API (OpenAPI at `/docs`). Bad input gets a 4xx `{"error": message}` with the
positioned message; the work runs in worker threads (a bounded pool) so one slow request does not
block the others, and a request that takes longer than the time limit gets 504.
"""
from importlib import resources
from typing import Optional, Union

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from ..core.errors import ChainruleError
from ..lang.shapes import parse_shape

MAX_TEXT = 20_000          # characters of a model or expression
TIME_LIMIT = 20.0          # seconds per request
WORKERS = anyio.CapacityLimiter(4)

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
    return dict(convention=r.convention, note=r.note, gradients=[
        dict(name=g.name, of=g.of, text=g.text, latex=g.latex, mathml=_math(f"{_lx(g.name)} = {g.latex}"),
             numpy=g.numpy, shape=list(g.shape), scale=g.scale) for g in r.gradients])


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


async def _run(fn, req):
    """The work in a worker thread, with a time limit (the event loop stays free for other users).
    Answers are pure functions of the request, so repeated requests are served from a small cache."""
    key = (fn.__name__, req.model_dump_json())
    if key in _CACHE:
        return _CACHE[key]
    try:
        with anyio.fail_after(TIME_LIMIT):
            out = await anyio.to_thread.run_sync(fn, req, limiter=WORKERS, abandon_on_cancel=True)
        if len(_CACHE) >= CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = out
        return out
    except TimeoutError:
        return JSONResponse({"error": f"the request took longer than {TIME_LIMIT:.0f} s and was stopped"},
                            status_code=504)


MAX_BODY = 100_000         # bytes of a request body
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class BodyTooLarge(Exception):
    """A request body past MAX_BODY, found while it is read (a chunked body has no Content-Length)."""


class _LimitBody:
    """ASGI middleware: count a request body's bytes as they arrive and stop past MAX_BODY."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > MAX_BODY:
                    raise BodyTooLarge()
            return message
        await self.app(scope, limited, send)


def _caused_by_size(exc):
    """Is this BodyTooLarge, or an exception group (anyio's task groups) holding one?"""
    if isinstance(exc, BodyTooLarge):
        return True
    return isinstance(exc, BaseExceptionGroup) and any(_caused_by_size(e) for e in exc.exceptions)


def _too_large():
    return JSONResponse({"error": f"request body too large (limit {MAX_BODY:,} bytes)"}, status_code=413,
                        headers=SECURITY_HEADERS)


def create_app():
    app = FastAPI(title="chainrule", version="0.1.0", docs_url=None, redoc_url=None,
                  description="Matrix calculus in matrix notation: derive, backprop, explain, check.")
    app.openapi_version = "3.0.3"          # the packaged Swagger UI (4.x) reads OpenAPI 3.0 documents

    @app.middleware("http")
    async def _guard(request: Request, call_next):
        """Reject oversized bodies before reading them; every response carries the security headers."""
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            response = JSONResponse({"error": f"request body too large (limit {MAX_BODY:,} bytes)"}, status_code=413)
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
        if _caused_by_size(exc.__cause__):
            return _too_large()
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=SECURITY_HEADERS)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):       # never a traceback to the client
        if _caused_by_size(exc):
            return _too_large()
        return JSONResponse({"error": f"internal error ({type(exc).__name__})"}, status_code=500,
                            headers=SECURITY_HEADERS)

    app.add_middleware(_LimitBody)

    @app.post("/api/derive", summary="Derivative of an expression (gradient, Jacobian, Hessian)")
    async def derive_api(req: DeriveIn):
        return await _run(_derive, req)

    @app.post("/api/backprop", summary="Every adjoint of a model written as assignments")
    async def backprop_api(req: ModelIn):
        return await _run(_backprop, req)

    @app.post("/api/explain", summary="The mentor's derivation of one adjoint or derivative, in seven sections")
    async def explain_api(req: ExplainIn):
        return await _run(_explain, req)

    @app.post("/api/check", summary="A verdict on a learner's formula for one adjoint")
    async def check_api(req: CheckIn):
        return await _run(_check, req)

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


def serve(host="127.0.0.1", port=8000, workers=1):
    import uvicorn
    if workers > 1:                       # processes: CPU-bound answers use every core
        uvicorn.run("chainrule.app.web:create_app", factory=True, host=host, port=port, workers=workers,
                    log_level="warning")
    else:
        uvicorn.run(create_app(), host=host, port=port, log_level="warning")
