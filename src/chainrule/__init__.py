"""chainrule: matrix calculus in matrix notation — derive, backprop, explain, check."""
from .errors import ChainruleError

__all__ = ["ChainruleError", "derive"]
__version__ = "0.1.0"


def derive(expr, wrt, shapes=None, order=1):
    """Derivative of a NumPy-style expression: see chainrule.derive.derive."""
    from .derivation import derive as _derive
    return _derive(expr, wrt, shapes, order)
