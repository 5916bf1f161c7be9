"""The web page and JSON API: answers mirror the Python API, bad input is a 4xx with the positioned
message (never a traceback), and in real headless Chromium the page explains dZ1 and checks a formula."""
import os
import re
import socket
import threading
import time
from pathlib import Path

import pytest

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

import chainrule  # noqa: E402
from chainrule.app.pool import InProcess  # noqa: E402
from chainrule.app.web import create_app, server_options  # noqa: E402

client = TestClient(create_app())
OUT = Path(__file__).resolve().parent.parent / "test-output"


def test_derive_api_matches_the_python_api():
    r = client.post("/api/derive", json={"expr": "x.T @ A @ x", "wrt": "x", "shapes": {"A": "n,n", "x": ["n"]}})
    assert r.status_code == 200
    d = r.json()
    assert d["text"] == chainrule.derive("x.T @ A @ x", "x", {"A": ("n", "n"), "x": ("n",)}).text
    assert d["mathml"].startswith("<math") and d["check"] < 1e-6 and d["numpy"] == "(A + A.T) @ x"


def test_backprop_api():
    d = client.post("/api/backprop", json={"example": "two-layer"}).json()
    names = [g["name"] for g in d["gradients"]]
    assert names == [g.name for g in chainrule.backprop(chainrule.example("two-layer")).gradients]
    assert all(g["mathml"].startswith("<math") for g in d["gradients"])
    text = chainrule.example("softmax")
    d = client.post("/api/backprop", json={"model": text, "convention": "strict"}).json()
    assert d["convention"] == "strict"
    assert d["loops"] == []
    (loop,) = client.post("/api/backprop", json={"example": "deep-loop"}).json()["loops"]
    assert loop["header"] == "for l in range(1, 3)" and loop["values"] == [2, 1] and loop["aliases"] == {"A[0]": "X"}
    assert [x["text"] for x in loop["lines"]][1] == "dA[l] ⊙ (Z[l] > 0)" and loop["lines"][0]["mathml"].startswith("<math")


def test_explain_api_model_and_expression():
    d = client.post("/api/explain", json={"example": "two-layer", "target": "dZ1"}).json()
    assert d["formula"] == "dA1 ⊙ (1 − A1²)" and "W2ᵀ dZ2 ⊙ (1 − A1²)" in d["heading"]   # backprop's line; one step
    assert [s["title"] for s in d["steps"]] == ["Setup", "Chain of derivatives", "Index form", "Matrix form",
                                               "Shapes", "Toy example", "Numeric check"]
    assert "<pre>" in d["steps"][5]["html"] and "<math" in d["steps"][3]["html"]
    d = client.post("/api/explain", json={"expr": "trace(A @ X)", "wrt": "X", "shapes": {"A": "k,n", "X": "n,k"}})
    assert d.status_code == 200 and d.json()["formula"] == "Aᵀ"


def test_check_api():
    d = client.post("/api/check", json={"example": "two-layer", "claim": "dW1 = np.dot(dZ1, X.T)"}).json()
    assert d["correct"] is False and "factor m" in d["reason"] and d["hint"]
    d = client.post("/api/check", json={"example": "two-layer", "claim": "dW1 = np.dot(dZ1, X.T) / m"}).json()
    assert d["correct"] is True


@pytest.mark.parametrize("path,body,status,fragment", [
    ("/api/derive", {"expr": "x @@ y", "wrt": "x", "shapes": {"x": "n"}}, 400, "^"),
    ("/api/derive", {"expr": "__import__('os')", "wrt": "x", "shapes": {"x": "n"}}, 400, "only numbers"),
    ("/api/derive", {"expr": "x" * 30000, "wrt": "x"}, 422, "expr"),
    ("/api/derive", {"expr": "sum(x)", "wrt": "x", "order": 9}, 422, "order"),
    ("/api/derive", {"wrt": "x"}, 422, "expr"),
    ("/api/backprop", {"model": "W: n, n\nJ = sum(W @@ W)"}, 400, "line 2"),
    ("/api/backprop", {"example": "nope"}, 400, "no built-in model"),
    ("/api/check", {"example": "two-layer", "claim": "dZ1 = A9"}, 400, "unknown name"),
    ("/api/explain", {"example": "two-layer", "target": "dQ"}, 400, "not an adjoint"),
    ("/api/backprop", {"example": "two-layer", "convention": "loose"}, 422, "convention"),
])
def test_bad_input_is_a_4xx_with_a_message(path, body, status, fragment):
    r = client.post(path, json=body)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert fragment in err and "Traceback" not in err


def test_the_page_is_offline():
    page = client.get("/").text
    assert "<title>chainrule" in page
    assert not re.search(r"(src|href)=\"https?://", page)            # nothing fetched from the internet
    for name in ("app.js", "style.css"):
        body = client.get(f"/static/{name}").text
        assert "http://" not in body and "https://" not in body
    assert client.get("/static/../web.py").status_code == 404
    assert client.get("/docs").status_code == 200
    assert "/api/explain" in client.get("/openapi.json").json()["paths"]


# -- the page in a real browser ---------------------------------------------------------------------
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def server():
    import uvicorn
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    srv = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, **server_options()))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(5)


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_page_in_headless_chromium(server):
    sync_api = pytest.importorskip("playwright.sync_api")
    OUT.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1600})
        page.goto(server + "/")
        page.wait_for_selector("body[data-ready='1']")
        page.click("#btn-explain")                                      # two-layer, dZ1 by default
        page.wait_for_selector("#explanation-title", timeout=60000)
        assert "dZ1 = W2ᵀ dZ2 ⊙ (1 − A1²)" in page.inner_text("#explanation-title")
        titles = page.locator(".step h3").all_inner_texts()
        assert [t.split(". ", 1)[1] for t in titles] == ["Setup", "Chain of derivatives", "Index form",
                                                         "Matrix form", "Shapes", "Toy example", "Numeric check"]
        matrix = page.locator(".step").nth(3)
        assert matrix.locator("math").count() >= 1                      # the dZ1 formula, rendered as MathML
        box = matrix.locator("math").last.bounding_box()
        assert box and box["width"] > 60 and box["height"] > 10         # drawn, not raw text
        toy = page.locator(".step").nth(5)
        assert toy.locator("pre").count() >= 3                          # the equations, one entry, every entry
        assert "z2_11 = w2_11 a1_11 + w2_12 a1_21 + b2_1" in toy.inner_text()
        page.screenshot(path=str(OUT / "explain-dZ1.png"), full_page=True)
        page.fill("#claim", "dZ1 = np.dot(W2, dZ2) * (1 - np.power(A1, 2))")
        page.click("#btn-check")
        page.wait_for_selector("#hint", timeout=60000)
        assert "Wrong" in page.inner_text("#verdict") and "W2.T @ dZ2" in page.inner_text("#hint")
        page.screenshot(path=str(OUT / "check-wrong.png"))
        page.click("#mode-expr")
        page.click("#btn-derive")
        page.wait_for_selector("#derivative math", timeout=60000)
        page.goto(server + "/docs")                                     # Swagger UI, served locally, under the CSP
        page.wait_for_selector(".opblock", timeout=60000)
        assert page.locator(".opblock").count() == 5
        for width in (1300, 420):
            _wide_results_stay_in_the_page(browser.new_page(viewport={"width": width, "height": 900}), server, width)
        browser.close()
    assert (OUT / "explain-dZ1.png").stat().st_size > 10000 and (OUT / "batchnorm-420.png").stat().st_size > 10000


def _wide_results_stay_in_the_page(page, server, width):
    """Batch norm's results (once 2721 px wide) at a desktop and a phone width: the page never scrolls
    sideways, wide blocks scroll in their own box, shapes stay on one line, the convention reads whole."""
    page.goto(server + "/")
    page.wait_for_selector("body[data-ready='1']")
    page_width = lambda: page.evaluate("document.documentElement.scrollWidth")     # noqa: E731
    assert page_width() <= width + 1
    assert page.inner_text("label:has(#convention)").startswith("Gradient convention")
    assert page.evaluate("""() => { const s = document.getElementById("convention"), r = s.getBoundingClientRect();
        const c = document.createElement("canvas").getContext("2d"); c.font = getComputedStyle(s).font;
        const text = Math.max(...[...s.options].map((o) => c.measureText(o.text).width));
        return text + 24 <= s.clientWidth && r.right <= innerWidth; }""")      # no option cut off, on the screen
    page.select_option("#example", "deep-loop")                  # the loop read back, below the adjoints
    page.click("#btn-backprop")
    page.wait_for_selector(".loop math", timeout=60000)
    assert page.locator(".loop li").count() == 5 and "for l in range(1, 3)" in page.inner_text(".loop h3")
    assert page_width() <= width + 1
    page.select_option("#example", "batchnorm")
    page.click("#btn-backprop")
    page.wait_for_selector("#gradients", timeout=60000)
    assert page_width() <= width + 1
    page.fill("#target", "dZ1")
    page.click("#btn-explain")
    page.wait_for_selector("#explanation-title", timeout=60000)
    assert page_width() <= width + 1
    toy = page.locator(".step").nth(5)
    assert toy.locator("h3").inner_text() == "6. Toy example"
    pres = toy.locator("pre")                                          # the equations, the followed entry, every entry
    assert pres.count() >= 3
    for k in range(pres.count()):
        box = pres.nth(k).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width
    if width < 500:                                                    # the long lines scroll inside their box
        assert pres.first.evaluate("(e) => e.scrollWidth > e.clientWidth")
    assert page.evaluate("""() => { const cells = [...document.querySelectorAll("td.shape")];
        return cells.length > 0 && cells.every((td) => { const r = document.createRange(); r.selectNodeContents(td);
                                                           return r.getClientRects().length === 1; }); }""")
    page.screenshot(path=str(OUT / f"batchnorm-{width}.png"), full_page=True)
    page.close()


# -- hardening: limits, headers, malformed input, the OpenAPI contract --------------------------------
def test_security_headers_on_every_response():
    for r in (client.get("/"), client.get("/static/app.js"), client.post("/api/derive", json={"expr": "x"}),
              client.get("/docs")):
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "http" not in csp
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    page = client.get("/").text + client.get("/docs").text
    assert "<script>" not in page and "onclick" not in page            # no inline script anywhere


def test_oversized_and_malformed_requests():
    r = client.post("/api/derive", content=b"{" + b" " * 200_000 + b"}", headers={"content-type": "application/json"})
    assert r.status_code == 413 and "too large" in r.json()["error"]
    r = client.post("/api/derive", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "error" in r.json()
    r = client.post("/api/derive", json={"expr": 5, "wrt": ["x"]})
    assert r.status_code == 422 and "error" in r.json()
    r = client.post("/api/derive", json={"expr": "x", "wrt": "x", "shapes": {"x": [1, 2, 3]}})
    assert r.status_code == 400 and "axes" in r.json()["error"]
    r = client.post("/api/derive", json={"expr": "x", "wrt": "x", "shapes": {"x": "10000000000"}})
    assert r.status_code == 400


def test_no_internal_detail_reaches_a_client(monkeypatch):
    import chainrule.app.web as web
    monkeypatch.setattr(web, "_derive", lambda req: 1 / 0)          # patched here: the work runs in this process
    r = TestClient(web.create_app(executor=InProcess()), raise_server_exceptions=False).post(
        "/api/derive", json={"expr": "x", "wrt": "x", "shapes": {"x": "n"}})
    assert r.status_code == 500 and r.json() == {"error": "internal error (ZeroDivisionError)"}
    assert "/work" not in r.text and "site-packages" not in r.text


def test_time_limit(monkeypatch):
    import chainrule.app.web as web
    monkeypatch.setattr(web, "TIME_LIMIT", 0.2)
    monkeypatch.setattr(web, "_derive", lambda req: time.sleep(1))
    r = TestClient(web.create_app(executor=InProcess())).post("/api/derive", json={"expr": "x", "wrt": "x", "shapes": {"x": "n"}})
    assert r.status_code == 504 and "longer than" in r.json()["error"]


def test_openapi_contract_with_schemathesis():
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app())
    checked = 0
    for op in schema.get_all_operations():
        operation = op.ok()
        if operation.method.upper() != "POST":
            continue

        @settings(max_examples=25, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case):
            response = case.call()
            assert response.status_code < 500, (case.body, response.text)
            assert "error" in response.json() or response.status_code == 200
            assert "Traceback" not in response.text
        run()
        checked += 1
    assert checked == 4


def test_a_chunked_body_is_refused_while_it_is_read():
    sent = []

    def chunks():                       # 1 MB without a Content-Length, counted as it is pulled
        for _ in range(1000):
            sent.append(1)
            yield b" " * 1000
    quiet = TestClient(create_app(), raise_server_exceptions=False)
    r = quiet.post("/api/derive", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "too large" in r.json()["error"]
    assert r.headers["x-frame-options"] == "DENY"


def test_every_error_answers_error_with_the_security_headers():
    quiet = TestClient(create_app(), raise_server_exceptions=False)
    for r in (quiet.get("/no/such/page"), quiet.put("/api/derive", json={})):
        assert "error" in r.json() and "detail" not in r.json(), r.json()
        assert r.headers["content-security-policy"] and r.headers["x-content-type-options"] == "nosniff"
