"""chainrule: matrix calculus in matrix notation — derive, backprop, explain, check."""
from .errors import ChainruleError

__all__ = ["ChainruleError", "backprop", "check", "derive", "example", "examples", "explain", "identities"]
__version__ = "0.1.0"


def derive(expr, wrt, shapes=None, order=1):
    """Derivative of a NumPy-style expression: see chainrule.derivation.derive."""
    from .derivation import derive as _derive
    return _derive(expr, wrt, shapes, order)


def backprop(text, convention="course"):
    """Every adjoint of a model written as assignments: see chainrule.backprop."""
    from .adjoints import backprop as _backprop
    return _backprop(text, convention)


def check(model_text, claim, convention="course"):
    """A verdict on a learner's formula for one adjoint: see chainrule.verdict."""
    from .verdict import check as _check
    return _check(model_text, claim, convention)


def explain(model=None, target="dZ1", *, expr=None, wrt=None, shapes=None, convention="course"):
    """The derivation of one adjoint (or of a derivative) in seven sections: see chainrule.mentor."""
    from .mentor import explain as _explain
    return _explain(model, target, expr=expr, wrt=wrt, shapes=shapes, convention=convention)


def identities(search=None, section=None):
    """The verified identity catalog, optionally searched: see chainrule.catalog."""
    from .catalog import identities as _identities
    return _identities(search, section)


def examples():
    """Names of the built-in models."""
    from importlib.resources import files
    return sorted(p.name[:-len(".model")] for p in files("chainrule").joinpath("examples").iterdir()
                  if p.name.endswith(".model"))


def example(name):
    """The text of a built-in model."""
    from importlib.resources import files
    if name not in examples():
        raise ChainruleError(f"no built-in model {name!r}; choose one of {', '.join(examples())}")
    return files("chainrule").joinpath("examples", f"{name}.model").read_text()
