"""Run one fuzz input through the pipeline and classify the outcome."""
import signal
import time

import chainrule
from chainrule import ChainruleError

from grammar import SHAPES

LIMIT = 2.0


class Slow(Exception):
    pass


def _alarm(*_):
    raise Slow()


def pipeline(kind, text, wrt, deep=False):
    """parse → shapes → derive → print (→ explain); for models: backprop (→ explain, check)."""
    if kind.startswith("model"):
        r = chainrule.backprop(text)
        r.text()
        r.to_json()
        if deep and r.gradients:
            g = r.gradients[-1]
            chainrule.explain(text, g.name)
            chainrule.check(text, f"{g.name} = {g.numpy}")
        return "ok"
    shapes = {n: s for n, s in SHAPES.items() if n in text}
    d = chainrule.derive(text, wrt, shapes)
    d.text, d.latex, d.numpy, d.index  # noqa: B018 — printing is part of the pipeline
    d.to_json()
    if deep:
        chainrule.explain(expr=text, wrt=wrt, shapes=shapes)
    return "ok"


def run(kind, text, wrt, deep=False):
    """('ok' | 'error' | 'error-unpositioned' | 'crash' | 'slow', detail, seconds)."""
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, LIMIT)
    t = time.perf_counter()
    try:
        outcome, detail = pipeline(kind, text, wrt, deep), ""
    except ChainruleError as e:
        positioned = e.start is not None or "with respect to" in e.message
        outcome, detail = ("error" if positioned else "error-unpositioned"), e.message[:120]
    except Slow:
        outcome, detail = "slow", ""
    except RecursionError as e:
        outcome, detail = "crash", f"RecursionError: {e}"[:200]
    except Exception as e:      # noqa: BLE001 — anything else is a bug to report
        outcome, detail = "crash", f"{type(e).__name__}: {e}"[:200]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return outcome, detail, time.perf_counter() - t
