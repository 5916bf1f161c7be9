"""Counting the engine's work in tests: limits are bounded by counts of its inner calls, never by
wall-clock time (timings are in benchmarks/)."""
import collections
import contextlib

import pytest

import chainrule.core.tensor
import chainrule.lang.syntax
import chainrule.render.numpy_code
import chainrule.render.printing


@contextlib.contextmanager
def counting_work():
    """Count the engine's work during the block: normal-form constructions (tensor.Term.make and
    tensor.Expr.make, the hot paths of every derivation), syntax nodes visited by the parser, and nodes
    printed as text, LaTeX or NumPy code (a shared subexpression printed twice per level is exponential)."""
    work = collections.Counter()

    def counted(key, original):
        def wrapper(*args, **kwargs):
            work[key] += 1
            return original(*args, **kwargs)
        return wrapper
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(chainrule.core.tensor.Term, "make", staticmethod(counted("terms", chainrule.core.tensor.Term.make)))
        mp.setattr(chainrule.core.tensor.Expr, "make", staticmethod(counted("exprs", chainrule.core.tensor.Expr.make)))
        mp.setattr(chainrule.lang.syntax._Parser, "visit", counted("nodes", chainrule.lang.syntax._Parser.visit))
        mp.setattr(chainrule.render.printing.TextPrinter, "p", counted("printed", chainrule.render.printing.TextPrinter.p))
        mp.setattr(chainrule.render.numpy_code.NumpyPrinter, "p", counted("printed", chainrule.render.numpy_code.NumpyPrinter.p))
        yield work
