"""The functions of the input language: the registry every part of chainrule reads (shape checking,
lowering, NumPy evaluation, code generation, the toy expansion, LaTeX, test domains).

The entries are in fn_elementwise.py (element-wise functions, most read from the primitives of
rules.py) and fn_array.py (products, reductions, matrix functions); fn_spec.py defines an entry.
"""
from . import fn_array, fn_elementwise  # noqa: F401 — importing them registers their entries
from .fn_spec import FUNCTIONS, STATED, Function, unique_functions  # noqa: F401
