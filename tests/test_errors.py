"""Bad input must fail cleanly: one exception type (ChainruleError), a message that names the
sub-expression and the shapes, a caret under the position, no execution of user text, no hang,
bounded work before the refusal, and on the command line exit status 2 with no traceback.

"Fails fast" is tested by counting the engine's work (parser nodes visited, index-form terms built,
nodes printed), never by seconds: timings depend on the machine's load and are measured by
benchmarks/bench_limits.py."""
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import chainrule
import chainrule.render.numpy_code
import chainrule.render.printing
import chainrule.lang.syntax
import chainrule.core.tensor
from chainrule import ChainruleError
from work_counter import counting_work

# Work a failing call may do, about 10x what was measured over every failing call in this file:
# index-form normal-form constructions (Term.make + Expr.make) at most 16 (an undeclared `wrt`: the
# expression is lowered before the check; every other refused input builds none), parser nodes at most 9
# (1 MB and 10,000-deep inputs are refused before the parser's walk) — or, once a derivation has raised
# the recursion limit for the engine's deep walks, the parser's own nesting limit: 202 nodes, bounded
# by 2 × syntax.MAX_DEPTH; printed nodes 0.
ERROR_WORK = 160
ERROR_NODES = 2 * 200 + 10
ERROR_PRINTED = 100
# Not a timing assertion: a safety net that turns a hang into a failure instead of a stalled suite.
WATCHDOG = 60.0      # seconds after which a call is interrupted

SHAPES = {"A": ("n", "n"), "x": ("n",), "y": ("n",), "M": ("n", "m"), "B": ("m", "n")}
CARET_LINE = re.compile(r"^ *\^+$")


class _Hang(BaseException):
    """Raised by the watchdog; a BaseException so that no `except Exception` in the engine swallows it."""


@contextlib.contextmanager
def watchdog(seconds=WATCHDOG):
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum, frame):
        raise _Hang()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _short(value, n=60):
    r = repr(value)
    return r if len(r) <= n else r[:n] + f"...({len(r)} chars)"


def derive_error(expr, wrt="x", shapes=SHAPES, order=1):
    """Call derive, require a ChainruleError (nothing else, no success, no hang, bounded work) and return it."""
    call = f"derive({_short(expr)}, {wrt!r}, order={order!r})"
    err = problem = None
    try:
        with watchdog(), counting_work() as work:
            result = chainrule.derive(expr, wrt, shapes, order)
        problem = f"{call} returned {_short(str(result), 120)} instead of raising ChainruleError"
    except ChainruleError as e:
        err = e
    except _Hang:
        problem = f"{call} still running after {WATCHDOG:.0f}s (hang)"
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - any other type is the bug being tested for
        problem = f"{call} raised {type(e).__name__}: {_short(str(e), 200)} instead of ChainruleError"
    if problem:         # failed outside the except block: no chained traceback of thousands of frames
        pytest.fail(problem)
    built = work["terms"] + work["exprs"]
    assert built <= ERROR_WORK, f"{call} built {built} index-form terms before failing (bound {ERROR_WORK})"
    assert work["nodes"] <= ERROR_NODES, f"{call} visited {work['nodes']} parser nodes before failing"
    assert work["printed"] <= ERROR_PRINTED, f"{call} printed {work['printed']} nodes before failing"
    assert isinstance(err, ValueError)
    assert str(err).strip(), "empty error message"
    return err


def caret(err):
    """(source line as rendered, underlined text) of a positioned error; fails if there is no caret line."""
    lines = str(err).splitlines()
    rows = [k for k, line in enumerate(lines) if CARET_LINE.match(line)]
    assert rows, f"no caret line in the message:\n{err}"
    k = rows[0]
    assert k >= 1, f"caret line without a source line above it:\n{err}"
    source, marks = lines[k - 1], lines[k]
    return source, source[marks.index("^"):len(marks)]


def assert_caret_under(err, expected):
    source, underlined = caret(err)
    assert underlined == expected, f"caret under {underlined!r}, expected {expected!r}:\n{err}"


# --------------------------------------------------------------------------------------------------
# Shape errors
# --------------------------------------------------------------------------------------------------

def test_readme_example_exact_message():
    err = derive_error("W2 @ dZ2", "W2", {"W2": (1, 4), "dZ2": (1, "m")})
    assert str(err) == ("inner dimensions differ: 4 vs 1 — did you mean W2.T @ dZ2?\n"
                        "  W2 @ dZ2\n"
                        "  ^^^^^^^^\n"
                        "  W2: (1, 4), dZ2: (1, m)")
    assert err.position == (1, 0)
    # the suggested fix is itself valid
    chainrule.derive("W2.T @ dZ2", "W2", {"W2": (1, 4), "dZ2": (1, "m")})


def test_matmul_inner_mismatch_suggests_transpose():
    err = derive_error("M @ M", "M")
    msg = str(err)
    assert "inner dimensions differ: m vs n" in msg
    assert "did you mean M.T @ M?" in msg
    assert "M: (n, m)" in msg
    assert_caret_under(err, "M @ M")
    chainrule.derive("M.T @ M", "M", SHAPES)


def test_matmul_mismatch_inside_larger_expression_points_at_the_product():
    err = derive_error("exp(x) + sum(M @ M) * x", "x")
    assert "did you mean M.T @ M?" in str(err)
    assert_caret_under(err, "M @ M")


def test_transpose_hint_does_not_double_transpose():
    # A (n,n) @ M.T (m,n): the fix is A @ M, not the clumsy "A @ M.T.T"
    err = derive_error("A @ M.T", "A")
    msg = str(err)
    assert "inner dimensions differ: n vs m" in msg
    assert "did you mean" in msg
    assert ".T.T" not in msg, f"hint double-transposes:\n{msg}"


def test_elementwise_broadcast_mismatch():
    err = derive_error("x + M.T @ x", "x")
    msg = str(err)
    assert "(n,) and (m,) do not broadcast" in msg
    assert "x: (n,)" in msg and "M.T @ x: (m,)" in msg
    assert_caret_under(err, "x + M.T @ x")


def test_elementwise_mismatch_suggests_transpose():
    err = derive_error("M * B", "M")
    msg = str(err)
    assert "(n, m) and (m, n) do not broadcast" in msg
    assert "did you mean M.T?" in msg
    assert_caret_under(err, "M * B")


def test_matmul_with_scalar():
    err = derive_error("x @ 2")
    assert "@" in str(err) and "scalar" in str(err)
    assert_caret_under(err, "x @ 2")


# --------------------------------------------------------------------------------------------------
# Names, functions, arguments
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("expr, name", [
    ("foo(x)", "foo"),
    ("np.foo(x)", "foo"),
    ("np.linalg.foo(x)", "foo"),
    ("os.system(x)", "os.system"),
    ("eval(x)", "eval"),
    ("exec(x)", "exec"),
    ("breakpoint()", "breakpoint"),
    ("globals()", "globals"),
])
def test_unknown_function(expr, name):
    err = derive_error(expr)
    assert f"unknown function '{name}'" in str(err)
    assert_caret_under(err, expr)


@pytest.mark.parametrize("expr", ["z", "x @ z", "sum(z)", "exp(z) @ x", "x.T @ A @ z", "trace(z)"])
def test_undeclared_variable_asks_for_a_declaration(expr):
    err = derive_error(expr)
    msg = str(err)
    assert "'z'" in msg
    assert "declare" in msg
    assert "z=" in msg or "'z':" in msg          # shows how to declare it
    assert_caret_under(err, "z")


@pytest.mark.parametrize("wrt", ["q", "n", "", None, 3, ("x",)])
def test_wrt_not_declared(wrt):
    err = derive_error("x.T @ A @ x", wrt)
    msg = str(err)
    assert repr(wrt) in msg
    assert "declared" in msg


@pytest.mark.parametrize("order", [0, 5, "2", -1, 2.0, 1.5, True, None])
def test_bad_order(order):
    err = derive_error("x.T @ A @ x", "x", order=order)
    assert "order" in str(err)
    assert repr(order) in str(err)


@pytest.mark.parametrize("shapes, fragment", [
    (["x"], "dict"),
    ("x=n", "dict"),
    ({"x": ("n", "n", "n")}, "3 axes"),
    ({"x": 3.5}, "3.5"),
    ({"x": None}, "None"),
    ({"x": object()}, "shape of x"),
    ({"x": (0,)}, "dimension 0"),
    ({"x": (-1,)}, "dimension -1"),
    ({"x": (10 ** 7,)}, "10000000"),
    ({"x": (True,)}, "True"),
    ({"x": (2.5,)}, "2.5"),
    ({"x": (float("nan"),)}, "nan"),
    ({"x": ("n m",)}, "'n m'"),
    ({"x": ("1e9",)}, "'1e9'"),
    ({"x": ("__class__",)}, "'__class__'"),
    ({1: ("n",)}, "1"),
    ({"_x": ("n",)}, "'_x'"),
    ({"x y": ("n",)}, "'x y'"),
    ({"__import__": ("n",)}, "__import__"),
])
def test_bad_shapes_values(shapes, fragment):
    err = derive_error("x", "x", shapes)
    assert fragment in str(err)


@pytest.mark.parametrize("expr, wrt", [
    ("sum(x, axis=1)", "x"),
    ("sum(x, axis=2)", "x"),
    ("sum(A, axis=2)", "A"),
    ("sum(A, axis=-3)", "A"),
    ("sum(A, 5)", "A"),
    ("mean(M, axis=2)", "M"),
    ("np.mean(x, axis=-2, keepdims=True)", "x"),
    ("softmax(x, axis=1)", "x"),
    ("logsumexp(A, axis=7)", "A"),
    ("sum(x, axis=1000000000000)", "x"),
])
def test_axis_out_of_range(expr, wrt):
    err = derive_error(expr, wrt)
    assert "out of range" in str(err)
    assert_caret_under(err, expr)


@pytest.mark.parametrize("expr, underlined", [
    ("x ** y", "y"),
    ("2 ** x", "x"),
    ("x ** sum(x)", "sum(x)"),
    ("x ** (x.T @ y)", "x.T @ y"),
    ("power(x, y)", "y"),
])
def test_non_constant_exponent(expr, underlined):
    err = derive_error(expr)
    assert "constant" in str(err)
    assert_caret_under(err, underlined)


@pytest.mark.parametrize("fn", ["trace", "tr", "det", "inv", "logdet", "np.linalg.inv", "np.linalg.det", "np.trace"])
def test_square_matrix_functions_reject_non_square(fn):
    expr = f"{fn}(M)"
    err = derive_error(expr, "M")
    msg = str(err)
    assert "square" in msg
    assert "(n, m)" in msg
    assert_caret_under(err, expr)


def test_square_matrix_functions_reject_vectors():
    err = derive_error("det(x)")
    assert "square" in str(err) and "(n,)" in str(err)


# --------------------------------------------------------------------------------------------------
# Adversarial input: never executed, always a ChainruleError, bounded work
# --------------------------------------------------------------------------------------------------

ADVERSARIAL = [
    # attribute and dunder access
    "x.__class__",
    "x.T.__class__",
    "(x).__class__.__bases__",
    "x.__class__.__mro__[1].__subclasses__()",
    "x.real",
    "x.sort()",
    "x.shape[0:1]",
    "x.shape[__import__('os')]",
    "x.shape[True]",
    "np.__dict__",
    "np.os",
    "np.os.system",
    "np.os.system('echo pwned')",
    "np.linalg.inv.__globals__",
    "np.linalg.inv.__globals__['os']",
    "__import__('os')",
    "__import__('os').system('echo pwned')",
    "__builtins__",
    "_x",
    "getattr(x, '__class__')",
    "vars()",
    # lambdas, comprehensions, generators
    "(lambda: x)()",
    "lambda: x",
    "[x for x in y]",
    "{x for x in y}",
    "{x: x for x in y}",
    "sum(x for x in y)",
    "sum([x, y])",
    # subscripts, slices
    "x[0]",
    "x[:]",
    "A[0, 0]",
    "x[...]",
    # strings and f-strings
    "f'{x}'",
    "f'{x.__class__}'",
    "'x'",
    "b'x'",
    "x + 'a'",
    # walrus, starred, keyword tricks
    "(z := x)",
    "sum((z := x))",
    "sum(*x)",
    "sum(*[x])",
    "sum(x, **{})",
    "sum(x, **{'axis': 0})",
    "sum(x, dtype=int)",
    "sum(x, out=x)",
    "sum(x, axis=__import__('os'))",
    "sum(x, axis=x)",
    "sum(x, keepdims=open)",
    "sum(x, axis='0')",
    "sum(x, axis=1e999)",
    "sum(x, keepdims=2)",
    # other syntax
    "x if x else y",
    "x and y",
    "not x",
    "~x",
    "x % 2",
    "x // 2",
    "x == y",
    "1 < x < 2",
    "x, y",
    "[x]",
    "{x}",
    "await x",
    "yield x",
    "x; y",
    "import os",
    "x = 1",
    "x\0",
    "None",
    "True * x",
    "...",
    "1j * x",
    # huge numbers
    "x ** 10 ** 10",
    "x ** (10 ** 10)",
    "x ** -(10 ** 10)",
    "x ** 1e300",
    "x ** 10 ** 10 ** 10",
    "x * 123456789012345678901234567890",
    "eye(10**9)",
    "eye(10**9) @ x",
    "eye(10 ** 10 ** 10)",
    "eye(0)",
    "eye(-1)",
    "eye(2.5)",
    "eye(x)",
    # NaN / inf
    "1e999",
    "x * 1e999",
    "x * -1e999",
    "x + 1e999 - 1e999",
    "x ** 1e999",
    "x * float('nan')",
    "x * float('inf')",
    "x * np.inf",
    "x * np.nan",
    # unicode look-alikes
    "\u0445 + x",                # Cyrillic х
    "x + \u0445",
    "\uff58",                    # fullwidth ｘ (Python would NFKC-normalise it to x)
    "\U0001d431",                # mathematical bold 𝐱 (NFKC -> x)
    "x\u00a0+ y",                # no-break space
    "x\u200b",                   # zero-width space
    "x \u2212 y",                # minus sign
    "x \u00b7 y",                # middle dot
    "\u0391 @ x",                # Greek capital alpha looks like A
    # empty
    "",
    " ",
    "\n\t ",
]


@pytest.mark.parametrize("expr", ADVERSARIAL, ids=[_short(e, 40) for e in ADVERSARIAL])
def test_adversarial_expression(expr):
    derive_error(expr)


@pytest.mark.parametrize("expr, fragment", [
    ("x.__class__", "'.__class__'"),
    ("__import__('os')", ""),
    ("np.os.system", "'.system'"),
    ("x[0]", "indexing is not supported"),
    ("(lambda: x)()", ""),
    ("[x for x in y]", "ListComp"),
    ("sum(x, **{})", "**"),
    ("sum(*x)", "*"),
    ("sum(x, dtype=int)", "'dtype'"),
    ("x ** 10 ** 10", "constant"),
    ("eye(10**9)", "eye"),
    ("x * 1e999", "finite"),
    ("\u0445 + x", "non-ASCII"),
])
def test_adversarial_messages_say_what_is_wrong(expr, fragment):
    err = derive_error(expr)
    assert fragment in str(err)
    caret(err)


def test_user_text_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    payloads = [
        f"__import__('os').system('touch {marker}')",
        f"np.os.system('touch {marker}')",
        f"open('{marker}', 'w')",
        f"exec(\"open('{marker}', 'w')\")",
        f"sum(x, axis=__import__('os').system('touch {marker}'))",
        f"x.__class__.__init__.__globals__['os'].system('touch {marker}')",
        f"(lambda: __import__('os').system('touch {marker}'))()",
        f"[__import__('os').system('touch {marker}') for _ in y]",
    ]
    for expr in payloads:
        derive_error(expr)
        derive_error("x", "x", {"x": (expr,)})     # also through the shapes dict
        assert not marker.exists(), f"executed: {expr}"


@pytest.mark.parametrize("expr", [42, 1.5, None, b"x", ["x"], ("x",), object(), Path("x")],
                         ids=lambda v: type(v).__name__)
def test_non_string_expression(expr):
    err = derive_error(expr)
    assert "string" in str(err)


DEEP = [
    "(" * 10_000 + "x" + ")" * 10_000,          # 10,000-deep parentheses
    "(" * 5_000 + "x" + ")" * 5_000,            # under the length limit: hits the depth limit instead
    "-" * 10_000 + "x",                         # 10,000 unary minus
    "- " * 9_999 + "x",
    "+" * 10_000 + "x",
    "~" * 10_000 + "x",
    "exp(" * 5_000 + "x" + ")" * 5_000,
    "x" + ".T" * 5_000,
    "x" + " ** 2" * 3_000,
    "x + " * 4_000 + "x",                       # long left-deep chain
    "-(" * 3_000 + "x" + ")" * 3_000,
    "[" * 10_000 + "x" + "]" * 10_000,
    "sum(" * 3_000 + "x" + ", axis=0)" * 3_000,
]

MEGABYTE = [
    "x + " * 250_000 + "x",                     # 1 MB of valid-looking arithmetic
    "x" * 1_000_000,                            # a 1 MB name
    "(" * 500_000 + "x" + ")" * 500_000,        # 1 MB of nesting
    "x" + " " * 1_000_000,                      # 1 MB of trailing blanks
    "1" * 1_000_000,                            # a 1 MB integer literal
]


@pytest.mark.parametrize("expr", DEEP)
def test_deep_nesting(expr):
    derive_error(expr)


@pytest.mark.parametrize("expr", MEGABYTE)
def test_one_megabyte_input(expr):
    assert len(expr) >= 1_000_000
    derive_error(expr)


def test_huge_input_through_shapes_dict():
    err = derive_error("x", "x", {"x": ("n", "n", "n", "n") * 250_000})
    assert "axes" in str(err)


NESTED = [("exp", 20), ("tanh", 12)]
# Both derive. Measured: 192 normal-form constructions each (a blow-up exponential in the depth would be
# thousands: 2 ** 12 = 4,096), and 6,851 (exp) and 2,119 (tanh) nodes printed for the result's text,
# LaTeX, index and NumPy forms (printing a shared argument twice per level is 2 ** 21 for exp).
NESTED_WORK = 2_000
NESTED_PRINTED = 70_000


@pytest.mark.parametrize("fn, depth", NESTED)
def test_nested_functions_do_not_blow_up(fn, depth):
    # Small (~100 character) valid input, well inside the nesting limit. It may be derived or refused
    # with a ChainruleError, but its work must stay linear-ish in the depth, not blow up.
    expr = f"{fn}(" * depth + "x" + ")" * depth
    hung = False
    try:
        with watchdog(), counting_work() as work:
            chainrule.derive(expr, "x", {"x": ("n",)})
    except ChainruleError:
        pass
    except _Hang:
        hung = True
    if hung:
        pytest.fail(f"derive({expr!r}) still running after {WATCHDOG:.0f}s (exponential blow-up)")
    built = work["terms"] + work["exprs"]
    assert built <= NESTED_WORK, f"derive({expr!r}) built {built} index-form terms (bound {NESTED_WORK})"
    assert work["printed"] <= NESTED_PRINTED, \
        f"derive({expr!r}) printed {work['printed']:,} nodes (bound {NESTED_PRINTED:,}): exponential printing?"


@pytest.mark.parametrize("expr", ["sum(A, axis=0, axis=1)", "sum(x, 0, axis=0)", "sum(x, axis=None, axis=None)",
                                  "mean(A, 0, axis=1)"])
def test_repeated_or_conflicting_axis_is_rejected(expr):
    # Python refuses a repeated keyword (SyntaxError) and NumPy refuses axis given twice (TypeError);
    # silently picking one is wrong.
    derive_error(expr, "A" if "A" in expr else "x")


# --------------------------------------------------------------------------------------------------
# Every positioned error carries a caret under the right place
# --------------------------------------------------------------------------------------------------

POSITIONED = [
    ("W2 @ dZ2", "W2", {"W2": (1, 4), "dZ2": (1, "m")}),
    ("M @ M", "M", SHAPES),
    ("x + M.T @ x", "x", SHAPES),
    ("M * B", "M", SHAPES),
    ("foo(x)", "x", SHAPES),
    ("x @ z", "x", SHAPES),
    ("sum(x, axis=2)", "x", SHAPES),
    ("x ** y", "x", SHAPES),
    ("trace(M)", "M", SHAPES),
    ("det(M)", "M", SHAPES),
    ("inv(M)", "M", SHAPES),
    ("x.__class__", "x", SHAPES),
    ("__import__('os')", "x", SHAPES),
    ("np.os.system", "x", SHAPES),
    ("(lambda: x)()", "x", SHAPES),
    ("[x for x in y]", "x", SHAPES),
    ("x[0]", "x", SHAPES),
    ("f'{x}'", "x", SHAPES),
    ("(z := x)", "x", SHAPES),
    ("sum(*x)", "x", SHAPES),
    ("sum(x, **{})", "x", SHAPES),
    ("sum(x, dtype=int)", "x", SHAPES),
    ("x ** 10 ** 10", "x", SHAPES),
    ("eye(10**9)", "x", SHAPES),
    ("-" * 10_000 + "x", "x", SHAPES),
    ("\u0445 + x", "x", SHAPES),
    ("x * 1e999", "x", SHAPES),
    ("exp(x, y)", "x", SHAPES),
    ("clip(x, y, 1)", "x", SHAPES),
    ("pi * x", "x", SHAPES),
    ("x +", "x", SHAPES),
    ("(x", "x", SHAPES),
    ("x )", "x", SHAPES),
    ("  M @ M", "M", SHAPES),
    ("x +\n(M @ M)", "x", SHAPES),
    ("\n\nM @ M\n", "M", SHAPES),
    ("(x\n+ M @ M)", "x", SHAPES),
    ("(x +\n foo(x))", "x", SHAPES),
    ("(x +\n  sum(M,\n axis=3))", "x", SHAPES),
]


@pytest.mark.parametrize("expr, wrt, shapes", POSITIONED, ids=[_short(p[0], 40) for p in POSITIONED])
def test_positioned_errors_have_a_caret(expr, wrt, shapes):
    err = derive_error(expr, wrt, shapes)
    assert err.start is not None, f"error is not positioned:\n{err}"
    source, underlined = caret(err)
    # the line above the caret is (part of) the expression the user typed
    body = source.strip()
    body = re.sub(r"^(line \d+, )?column \d+: ", "", body).strip("…")      # a long line is shown as a window
    assert body and body in expr, f"caret is not under the user's text:\n{err}"
    # for semantic errors (not syntax errors at end of input) the caret underlines real text
    if not str(err).startswith("syntax error"):
        assert underlined.strip() and underlined in expr, f"caret underlines {underlined!r}:\n{err}"


@pytest.mark.parametrize("expr, underlined", [
    ("  M @ M", "M @ M"),
    ("\n\nM @ M\n", "M @ M"),
    ("\nM @ M", "M @ M"),
    ("(x\n+ M @ M)", "M @ M"),
    ("(M @ M\n + x)", "M @ M"),
    ("x +\\\n M @ M", "M @ M"),
])
def test_caret_position_with_leading_blanks_and_newlines(expr, underlined):
    err = derive_error(expr, "M")
    assert_caret_under(err, underlined)
    assert "did you mean M.T @ M?" in str(err), str(err)
    assert "M: (n, m)" in str(err), str(err)


def test_unpositioned_errors_have_no_stray_caret():
    assert not any(CARET_LINE.match(line) for line in str(derive_error(None)).splitlines())
    # an argument given beside the text is shown as `argument=value`, the caret under the value
    for err, shown in ((derive_error("x", "x", order=0), "order=0"), (derive_error("x", "x", ["x"]), "shapes=['x']"),
                       (derive_error("x", "q"), "wrt='q'")):
        lines = str(err).splitlines()
        assert lines[1].strip() == shown and lines[2].strip() == "^" * (len(shown) - shown.index("=") - 1), str(err)
    assert derive_error("   ").start is not None                  # empty input: placed at its start


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------

def _cli_command():
    exe = Path(sys.executable).with_name("chainrule")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "chainrule"]


def run_cli(*args, env_extra=None, via_module=False):
    env = dict(os.environ, PYTHONIOENCODING="utf-8", COLUMNS="200", NO_COLOR="1")
    env.update(env_extra or {})
    cmd = [sys.executable, "-m", "chainrule"] if via_module else _cli_command()
    return subprocess.run(cmd + list(args), capture_output=True, timeout=120, env=env,
                          encoding="utf-8", errors="replace")


def assert_clean_failure(proc, *fragments):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    for f in fragments:
        assert f in proc.stderr, proc.stderr


def test_cli_shape_error_exits_2_without_traceback():
    proc = run_cli("derive", "W2 @ dZ2", "--wrt", "W2", "--shape", "W2=1,4", "--shape", "dZ2=1,m")
    assert_clean_failure(proc, "inner dimensions differ: 4 vs 1 — did you mean W2.T @ dZ2?",
                         "  W2 @ dZ2\n  ^^^^^^^^\n", "W2: (1, 4), dZ2: (1, m)")
    assert proc.stdout == ""


def test_cli_via_python_dash_m():
    proc = run_cli("derive", "M @ M", "--wrt", "M", "--shape", "M=n,m", via_module=True)
    assert_clean_failure(proc, "did you mean M.T @ M?", "^^^^^")


def test_cli_good_call_exits_0():
    proc = run_cli("derive", "x.T @ A @ x", "--wrt", "x", "--shape", "A=n,n", "--shape", "x=n", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    out = json.loads(proc.stdout)
    assert out["wrt"] == "x" and out["order"] == 1 and out["shape"] == ["n"]


def test_cli_good_call_with_check_and_hessian():
    proc = run_cli("derive", "x.T @ A @ x", "--wrt", "x", "--shape", "A=n,n", "--shape", "x=n",
                   "--order", "2", "--check")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout.strip()


@pytest.mark.parametrize("args, fragment", [
    (["foo(x)", "--wrt", "x", "--shape", "x=n"], "unknown function 'foo'"),
    (["x @ z", "--wrt", "x", "--shape", "x=n"], "declare"),
    (["x.T @ x", "--wrt", "q", "--shape", "x=n"], "'q'"),
    (["x.T @ x", "--wrt", "x", "--shape", "x=n", "--order", "0"], "order"),
    (["x.T @ x", "--wrt", "x", "--shape", "x=n", "--order", "5"], "order"),
    (["x", "--wrt", "x", "--shape", "x"], "--shape"),
    (["x", "--wrt", "x", "--shape", "x=n,n,n"], "axes"),
    (["x", "--wrt", "x", "--shape", "x=0"], "dimension"),
    (["sum(x, axis=2)", "--wrt", "x", "--shape", "x=n"], "out of range"),
    (["x ** y", "--wrt", "x", "--shape", "x=n", "--shape", "y=n"], "constant"),
    (["trace(M)", "--wrt", "M", "--shape", "M=n,m"], "square"),
    (["x.__class__", "--wrt", "x", "--shape", "x=n"], "__class__"),
    (["__import__('os').system('echo pwned')", "--wrt", "x", "--shape", "x=n"], "^"),
    (["x[0]", "--wrt", "x", "--shape", "x=n"], "^"),
    (["\u0445 + x", "--wrt", "x", "--shape", "x=n"], "non-ASCII"),
    (["x * 1e999", "--wrt", "x", "--shape", "x=n"], "finite"),
    (["", "--wrt", "x", "--shape", "x=n"], "empty"),
    (["--wrt", "x", "--shape", "x=n", "--", "-" * 10_000 + "x"], "nested"),
    (["(" * 10_000 + "x" + ")" * 10_000, "--wrt", "x", "--shape", "x=n"], "too long"),
])
def test_cli_bad_input_exits_2_without_traceback(args, fragment):
    proc = run_cli("derive", *args)
    assert_clean_failure(proc, "error:", fragment)
    assert "pwned" not in proc.stdout


def test_cli_error_on_non_utf8_stderr_still_clean():
    proc = run_cli("derive", "W2 @ dZ2", "--wrt", "W2", "--shape", "W2=1,4", "--shape", "dZ2=1,m",
                   env_extra={"PYTHONIOENCODING": "ascii"})
    assert_clean_failure(proc, "inner dimensions differ")


def test_cli_good_call_on_non_utf8_stdout_does_not_crash():
    # e.g. a Windows pipe (cp1252) or a C locale: the result contains ∂ and ᵀ
    proc = run_cli("derive", "x.T @ A @ x", "--wrt", "x", "--shape", "A=n,n", "--shape", "x=n",
                   env_extra={"PYTHONIOENCODING": "ascii"})
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("call", [
    lambda: chainrule.derive("sum(np * x)", "x", {"np": ("n",), "x": ("n",)}),
    lambda: chainrule.backprop("np: n, n\nJ = sum(np)"),
    lambda: chainrule.backprop("W: n, n\ndtype = W\nJ = sum(dtype)"),
])
def test_library_names_are_reserved(call):
    with pytest.raises(ChainruleError, match="reserved name"):
        call()


@pytest.mark.parametrize("argv,fragment", [
    (["backprop", "MODEL", "--check"], "does not depend on any parameter"),
    (["gradcheck", "MODEL"], "does not depend on any parameter"),
    (["train", "--example", "two-layer", "--hidden", "-3", "--iterations", "5"], "hidden must be"),
    (["serve", "--port", "99999"], "--port must be"),
    (["train", "--example", "two-layer", "--iterations", "5", "--plot", "out/file.png"], "takes a directory"),
])
def test_cli_bad_arguments_exit_2_with_a_message(argv, fragment, tmp_path, capsys):
    model = tmp_path / "constant.model"
    model.write_text("W: n, n\nX: n, m data\nJ = sum(X)\n")
    argv = [str(model) if a == "MODEL" else str(tmp_path / a) if a.startswith("out/") else a for a in argv]
    assert chainrule.main(argv) == 2
    out = capsys.readouterr()
    assert fragment in out.out + out.err and "Traceback" not in out.out + out.err
    assert not (tmp_path / "out").exists()


def test_files_are_written_only_where_the_user_says(tmp_path, capsys):
    out = tmp_path / "module.py"
    assert chainrule.main(["codegen", "--example", "two-layer", "-o", str(out)]) == 0
    assert chainrule.main(["codegen", "--example", "two-layer", "-o", str(out)]) == 2         # exists
    assert "--force" in capsys.readouterr().err
    assert chainrule.main(["codegen", "--example", "two-layer", "-o", str(out), "--force"]) == 0
    target, link = tmp_path / "elsewhere.py", tmp_path / "link.py"
    link.symlink_to(target)
    assert chainrule.main(["codegen", "--example", "two-layer", "-o", str(link), "--force"]) == 2
    assert not target.exists() and "symbolic link" in capsys.readouterr().err
    page = tmp_path / "catalog.md"
    assert chainrule.main(["identities", "--markdown", str(page)]) == 0 and page.read_text().startswith("#")


@pytest.mark.parametrize("call, shown", [
    (lambda: chainrule.derive("sum(x)", "dZ", {"x": "n"}), "wrt='dZ'"),
    (lambda: chainrule.derive("sum(x)", "x", {"x": "n"}, order=9), "order=9"),
    (lambda: chainrule.derive("sum(x)", "x", {"x": "n, n, n"}), "shapes['x']="),
    (lambda: chainrule.derive("sum(x)", "x", {"np": "n", "x": "n"}), "shapes={'np': 'n'}"),
    (lambda: chainrule.explain(chainrule.example("two-layer"), "dZ9"), "target='dZ9'"),
    (lambda: chainrule.explain(chainrule.example("two-layer"), ""), "target=''"),
    (lambda: chainrule.backprop(chainrule.example("two-layer"), "row-major"), "convention='row-major'"),
])
def test_an_argument_error_shows_the_argument_with_a_caret(call, shown):
    err = derive_error_of(call)
    assert err.source.startswith(shown) and err.start == err.source.index("=") + 1
    assert any(CARET_LINE.match(line) for line in str(err).splitlines()), str(err)


def derive_error_of(call):
    with pytest.raises(ChainruleError) as info:
        call()
    return info.value


@pytest.mark.parametrize("expr, wrt, underlined", [
    ("sum(log(x - x))", "x", "log(x - x)"),
    ("sum(inv(A * 0) @ x)", "A", "inv(A * 0)"),
    ("sum(x) / (1e-320) * 2", "x", "sum(x) / (1e-320)"),
])
def test_a_numeric_check_that_cannot_run_points_at_the_sub_expression(expr, wrt, underlined):
    err = derive_error_of(lambda: chainrule.derive(expr, wrt, {"x": "n", "A": "n, n"}).check())
    assert err.kind == "numeric" and err.source[err.start:err.end] == underlined, str(err)


def test_a_model_whose_forward_pass_is_not_finite_points_at_the_line():
    model = "X: n, m data\nW: n, n\nZ = W @ X\nA = log(Z * 0)\nJ = sum(A) / m"
    for call in (lambda: chainrule.backprop(model).check(), lambda: chainrule.check(model, "dZ = 0 * Z")):
        err = derive_error_of(call)
        assert err.kind == "numeric" and err.line == 4 and "log(Z * 0) is not finite" in err.message, str(err)
    e = chainrule.explain(model, "dW")
    assert "No numeric check here: log(Z * 0) is not finite" in e.markdown


def test_the_cli_refuses_a_model_file_it_cannot_read_whole():
    out = subprocess.run([sys.executable, "-m", "chainrule", "backprop", "/dev/zero"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "too large" in out.stderr + out.stdout and "Traceback" not in out.stderr


@pytest.mark.parametrize("call, kind, underlined", [
    # a dimension named like a library the generated code uses
    (lambda: chainrule.backprop("Y: np\nb2:\nZ2 = b2\nJ = sum(Z2)").check(), None, "np"),
    (lambda: chainrule.derive("sum(x)", "x", {"x": "np"}), "reserved", None),
    # a constant a float cannot hold: named, for an underflow too
    (lambda: chainrule.derive("sum(x) * (1e-296) ** 2", "x", {"x": "n"}).check(), "numeric", "(1e-296) ** 2"),
    # the work budget met after lowering (a long product of one matrix): at the expression
    (lambda: chainrule.derive("sum(" + " @ ".join(["A"] * 200) + ")", "A", {"A": "n, n"}), "budget", None),
    # and inside an explanation of an expression (its index-form sections are printed under the budget)
    (lambda: chainrule.explain(expr="sum(" + "abs(" * 150 + "x" + ")" * 150 + ")", wrt="x", shapes={"x": "n"}),
     "budget", None),
])
def test_hostile_inputs_end_in_a_positioned_error(call, kind, underlined):
    err = derive_error_of(call)
    assert err.start is not None and err.source, str(err)
    assert kind is None or err.kind == kind, (err.kind, str(err))
    assert underlined is None or err.source.splitlines()[(err.line or 1) - 1][err.start:err.end] == underlined, str(err)


def test_a_constant_to_a_tiny_power_stays_exact_and_quick():
    # 2 ** 1e-20 once looked for an integer 10²⁰-th root by computing 2 ** 10²⁰ (it never ended)
    r = chainrule.derive("2 ** 1e-20 * sum(x)", "x", {"x": "n"})
    assert r.text == "2^(1e-20) 𝟏" and r.check() < 1e-9


def test_the_toy_example_stays_a_toy():
    deep = "sum(" + "(" * 11 + "x" + ") ** 2" * 11 + ")"           # x ** 2048: past a float at 1.7
    e = chainrule.explain(expr=deep, wrt="x", shapes={"x": ("n",)})
    assert "2048 x_1^2047" in e.markdown and "agree: yes" in e.markdown
    e = chainrule.explain(expr="u.T @ inv(inv(S).T @ S) @ u", wrt="S", shapes={"S": (4, 4), "u": (4,)})
    assert "writes out inv of matrices up to 2×2; here 4×4" in e.markdown and "(agrees)" in e.markdown


def test_an_explanation_past_the_work_budget_points_at_the_line_that_grows():
    model = "x: n, m data\nW: k, n\nZ1 = W @ x\nA1 = " + "sin(" * 120 + "Z1" + ")" * 120 + "\nJ = sum(A1)\n"
    err = derive_error_of(lambda: chainrule.explain(model, "dZ1"))
    assert err.kind == "budget" and err.line == 4 and "explaining dZ1" in err.message


def test_the_toy_example_refuses_a_formula_too_long_to_follow():
    nested = "x"                               # a tower the hostile generator made: explain took minutes
    for fn in ("logaddexp", "logaddexp", "maximum", "logaddexp", "maximum"):
        nested = f"{fn}({nested}, 1 - {nested})"
    e = chainrule.explain(expr=f"sum({nested})", wrt="x", shapes={"x": "n"})
    assert "too many to follow by hand" in e.steps[5].text and "(agrees)" in e.markdown


def test_a_forward_value_named_like_the_losss_adjoint_is_explained_as_itself():
    """dJ = W2 @ A1 + b2 beside a loss J: J's adjoint is never printed, so dJ is the model's own value
    (the toy example once took J's 1×1 shape for it and crashed)."""
    model = chainrule.example("two-layer").replace("Z2", "dJ")
    assert "ddJ" in chainrule.backprop(model).text()
    text = chainrule.explain(model, target="dZ1").text()
    assert "dj_22" in text and "All 4 entries agree: yes" in text and "(agrees)" in text
