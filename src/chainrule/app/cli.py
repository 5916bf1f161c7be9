"""The chainrule command line: `chainrule derive …` (more commands arrive with later issues)."""
import argparse
import sys

from ..core.errors import ChainruleError
from ..lang.shapes import parse_shape

DEMO = [
    ("x.T @ A @ x", "x", {"A": ("n", "n"), "x": ("n",)}, 1),
    ("x.T @ A @ x", "x", {"A": ("n", "n"), "x": ("n",)}, 2),
    ("trace(A @ X @ B)", "X", {"A": ("p", "n"), "X": ("n", "k"), "B": ("k", "p")}, 1),
    ("logdet(X)", "X", {"X": ("n", "n")}, 1),
    ("sum(G * tanh(W @ X + b))", "W", {"G": ("n", "m"), "W": ("n", "d"), "X": ("d", "m"), "b": ("n", 1)}, 1),
    ("mean(log(1 + exp(-y * (X.T @ w))))", "w", {"X": ("d", "m"), "y": ("m",), "w": ("d",)}, 2),
    ("-1/m * sum(Y * log(sigmoid(W2 @ tanh(W1 @ X + b1) + b2)) + (1 - Y) * log(1 - sigmoid(W2 @ tanh(W1 @ X + b1) + b2)))",
     "W1", {"X": ("n_x", "m"), "Y": (1, "m"), "W1": ("n_h", "n_x"), "b1": ("n_h", 1), "W2": (1, "n_h"),
            "b2": (1, 1)}, 1),
    ("P @ Q", "Q", {"P": ("n", "k"), "Q": ("k", "m")}, 1),
]


def _example_names():
    from ..lang.model import examples
    return examples()


def _console():
    from rich.console import Console
    return Console(highlight=False, soft_wrap=True)


def _superscript(order):
    return "" if order == 1 else str(order).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


def print_derivative(console, r, fmt, check):
    if fmt == "json":
        console.print(r.to_json(), markup=False)
    elif fmt == "latex":
        console.print(r.latex, markup=False)
    elif fmt == "numpy":
        console.print(r.numpy, markup=False)
    elif fmt == "index":
        console.print(r.index, markup=False)
    else:
        from ..lang.shapes import fmt_shape
        sup = _superscript(r.order)
        console.print(f"∂{sup}/∂{r.wrt}{sup} of {r.expression}", style="bold", markup=False)
        console.print(f"  shape {fmt_shape(r.shape)}" + ("" if r.matrix_form else "  (no matrix form: index notation)"),
                      style="dim", markup=False)
        for line in r.text.splitlines():
            console.print(f"  = {line}" if not line.startswith("vec") else f"    {line}", markup=False)
    if check:
        err = r.check()
        verdict = "ok" if err < 1e-5 else "MISMATCH"
        console.print(f"  check: max relative error vs central finite differences {err:.1e} ({verdict})",
                      style="green" if err < 1e-5 else "red", markup=False)
        return err < 1e-5
    return True


def cmd_derive(args, console):
    from ..engine.derivation import derive
    shapes = dict(parse_shape(s) for s in args.shape or [])
    r = derive(args.expression, args.wrt, shapes, args.order)
    return 0 if print_derivative(console, r, args.format, args.check) else 1


def cmd_demo(args, console):
    from ..engine.derivation import derive
    from ..tutor.mentor import explain
    console.print("Where does dZ1 = W2ᵀ dZ2 ⊙ g′(Z1) come from? (chainrule explain)\n", style="bold", markup=False)
    console.print(explain().text() + "\n", markup=False)
    console.print("chainrule: matrix calculus in matrix notation (each result checked against finite differences)\n",
                  style="bold", markup=False)
    ok = True
    for expr, wrt, shapes, order in DEMO:
        ok &= print_derivative(console, derive(expr, wrt, shapes, order), "text", True)
        console.print()
    return 0 if ok else 1


MAX_MODEL_FILE = 1_000_000      # characters of a model file (the model itself allows 2,000 lines)


def read_model(args):
    from ..lang.model import example
    if args.model and args.example:
        raise ChainruleError("give either a model file or --example NAME, not both")
    if args.model:
        try:
            with open(args.model, encoding="utf-8") as f:
                text = f.read(MAX_MODEL_FILE + 1)        # /dev/zero or a huge file: never read whole
        except OSError as e:
            raise ChainruleError(f"cannot read the model file {args.model!r}: {e.strerror}") from None
        except UnicodeDecodeError:
            raise ChainruleError(f"the model file {args.model!r} is not UTF-8 text") from None
        if len(text) > MAX_MODEL_FILE:
            raise ChainruleError(f"the model file {args.model!r} is too large (limit {MAX_MODEL_FILE:,} characters)")
        return _notebook_options(args, text)
    return _notebook_options(args, example(args.example or "two-layer"))


def _notebook_options(args, text):
    """--layers and --loss, for Python source: the model it is read into with them."""
    from ..lang.notebook import is_python_source
    from ..lang.notebook_model import notebook_model
    layers, loss = getattr(args, "layers", None), getattr(args, "loss", None)
    if layers is None and loss is None:
        return text
    if not is_python_source(text):
        raise ChainruleError("--layers and --loss are for Python source (a notebook's functions), not a model file")
    if layers is not None and not 1 <= layers <= 100:
        raise ChainruleError(f"--layers must be from 1 to 100, got {layers}")
    return notebook_model(text, loss=loss, layers=layers or 3)


def add_notebook_options(parser):
    parser.add_argument("--layers", type=int, metavar="L",
                        help="for Python source: L where the code reads len(parameters) // 2 (default 3)")
    parser.add_argument("--loss", metavar="FUNCTION", help="for Python source: the function that is the loss")


def cmd_backprop(args, console):
    from ..engine.adjoints import backprop
    r = backprop(read_model(args), args.convention, args.examples)
    if args.format == "json":
        console.print(r.to_json(), markup=False)
    elif args.format == "latex":
        for g in r.gradients:
            console.print(f"{g.name} = {g.latex}", markup=False)
    elif args.format == "numpy":
        for g in r.gradients:
            console.print(f"{g.name} = {g.numpy}", markup=False)
    else:
        console.print(r.text(), markup=False)
    if args.check:
        from ..numeric.checks import check_backprop
        errors = check_backprop(r)
        worst = max(errors.values(), default=0.0)
        console.print(f"check: every adjoint against central differences of the loss, max relative error "
                      f"{worst:.1e} ({'ok' if worst < 1e-5 else 'MISMATCH'})", markup=False)
        return 0 if worst < 1e-5 else 1
    return 0


def cmd_check(args, console):
    from ..tutor.verdict import check
    if args.expr is not None or args.wrt is not None:      # check --expr "trace(A @ X @ B)" --wrt X … "A.T @ B.T"
        from ..tutor.claims import check_expression
        if len(args.args) != 1:
            raise ChainruleError("give one claim in quotes after --expr and --wrt, e.g. chainrule check --expr "
                                 "\"trace(A @ X @ B)\" --wrt X --shape A=p,n --shape X=n,m --shape B=m,p \"A.T @ B.T\"")
        v = check_expression(args.args[0], args.expr, args.wrt, dict(parse_shape(s) for s in args.shape or []))
        console.print(str(v), style="green" if v.correct else "red", markup=False)
        return 0 if v.correct else 1
    if len(args.args) > 2:
        raise ChainruleError("give a model file (optional) and one claim in quotes, e.g. "
                             "chainrule check \"dZ1 = np.dot(W2.T, dZ2) * (1 - A1**2)\"")
    args.model = args.args[0] if len(args.args) == 2 else None
    claim = args.args[-1]
    if claim.endswith(".py") and "\n" not in claim:          # a file with your backward_propagation
        from pathlib import Path
        path = Path(claim)
        if not path.is_file():
            raise ChainruleError(f"cannot read {claim!r}: no such file")
        claim = path.read_text()[:1_000_000]
    v = check(read_model(args), claim, args.convention)
    console.print(str(v), style="green" if v.correct else "red", markup=False)
    return 0 if v.correct else 1


def cmd_explain(args, console):
    from ..tutor.mentor import explain
    if args.wrt:                                    # explain "x.T @ A @ x" --wrt x --shape A=n,n …
        shapes = dict(parse_shape(s) for s in args.shape or [])
        e = explain(expr=args.model, wrt=args.wrt, shapes=shapes)
    else:
        e = explain(read_model(args), args.target, convention=args.convention)
    console.print(e.render(args.format), markup=False)
    return 0


def cmd_identities(args, console):
    from pathlib import Path
    from ..tutor import catalog
    entries = catalog.identities(" ".join(args.search) if args.search else None, args.section)
    if args.markdown:
        page = Path(args.markdown)
        write_file(page, catalog.markdown(catalog.identities()) + "\n", args.force)
        console.print(f"wrote {page} ({len(catalog.identities())} identities)", markup=False)
        return 0
    out = {"text": catalog.text, "markdown": catalog.markdown, "json": catalog.to_json}[args.format](entries)
    console.print(out, markup=False, end="" if args.format == "text" else "\n")
    return 0 if entries else 1


def write_file(path, text, force=False):
    """Write a file only where the user said: never through a symlink, never over an existing file
    without --force (nor over a directory)."""
    import os
    path = os.fspath(path)
    if os.path.islink(path):
        raise ChainruleError(f"{path} is a symbolic link: not written (give the real path)")
    if os.path.isdir(path):
        raise ChainruleError(f"{path} is a directory: give a file name")
    if os.path.exists(path) and not force:
        raise ChainruleError(f"{path} exists: not overwritten (add --force to replace it)")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | (0 if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise ChainruleError(f"cannot write {path!r}: {e.strerror}") from None


def cmd_codegen(args, console):
    from ..generation.generate import codegen
    if args.wrt:                                    # codegen "x.T @ A @ x" --wrt x --shape …
        shapes = dict(parse_shape(s) for s in args.shape or [])
        source = codegen(target=args.target, expr=args.model, wrt=args.wrt, shapes=shapes, order=args.order)
    else:
        source = codegen(read_model(args), args.target)
    if args.output:
        write_file(args.output, source, args.force)
        console.print(f"wrote {args.output}", markup=False)
    else:
        console.print(source, markup=False, end="")
    return 0


def cmd_serve(args, console):
    from .web import serve
    if not 0 <= args.port <= 65535:
        raise ChainruleError(f"--port must be 0 … 65535, got {args.port}")
    if not 1 <= args.workers <= 64:
        raise ChainruleError(f"--workers must be 1 … 64, got {args.workers}")
    if args.pool is not None and not 1 <= args.pool <= 64:
        raise ChainruleError(f"--pool must be 1 … 64, got {args.pool}")
    if args.time_limit is not None and not 0.1 <= args.time_limit <= 3600:
        raise ChainruleError(f"--time-limit must be 0.1 … 3600 seconds, got {args.time_limit:g}")
    if args.memory_limit is not None and not (args.memory_limit == 0 or 200 <= args.memory_limit <= 1_000_000):
        raise ChainruleError(f"--memory-limit must be 200 … 1,000,000 MB (or 0: none), got {args.memory_limit:g}")
    import socket
    try:
        socket.getaddrinfo(args.host, args.port)
    except (socket.gaierror, UnicodeError) as e:
        raise ChainruleError(f"--host {args.host!r} is not an address this machine can listen on ({e})") from None
    console.print(f"chainrule: http://{args.host}:{args.port}/  (API docs at /docs; Ctrl-C stops)", markup=False)
    serve(args.host, args.port, args.workers, pool=args.pool, time_limit=args.time_limit,
          memory_limit=args.memory_limit)
    return 0


def cmd_train(args, console):
    from pathlib import Path
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    from ..generation.training import train
    text = read_model(args)
    if args.plot and Path(args.plot).suffix:
        raise ChainruleError(f"--plot takes a directory (it writes cost.png and decision_boundary.png there), "
                             f"got the file name {args.plot}")
    every = max(1, args.iterations // 10)
    with Progress(TextColumn("training"), BarColumn(), TextColumn("{task.completed:>6}/{task.total} it"),
                  TextColumn("cost {task.fields[cost]:.6f}"), TimeRemainingColumn(), console=console,
                  transient=True) as bar:
        task = bar.add_task("train", total=args.iterations, cost=float("nan"))
        log = []

        def progress(i, cost):
            bar.update(task, completed=i + 1, cost=cost)
            if i % every == 0 or i == args.iterations - 1:
                log.append(f"Cost after iteration {i}: {cost:.6f}")
        result = train(text, args.data, args.lr, args.iterations, args.seed, args.hidden, progress=progress,
                       print_every=max(1, args.iterations // 200))
    for line in log:
        console.print(line, markup=False)
    console.print(f"training accuracy: {result.accuracy:.1%}", markup=False)
    if args.plot:
        out = Path(args.plot)
        out.mkdir(parents=True, exist_ok=True)
        console.print(f"wrote {result.plot_cost(out / 'cost.png')}", markup=False)
        if result.X.shape[0] == 2:
            console.print(f"wrote {result.plot_boundary(out / 'decision_boundary.png')}", markup=False)
    return 0


def cmd_gradcheck(args, console):
    from ..generation.training import gradcheck
    g = gradcheck(read_model(args), args.epsilon)
    console.print(str(g), markup=False)
    return 0 if g.ok else 1


def build_parser():
    p = argparse.ArgumentParser(prog="chainrule", description="Matrix calculus in matrix notation.")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("derive", help="derivative of a NumPy-style expression")
    d.add_argument("expression")
    d.add_argument("--wrt", required=True, help="the variable to differentiate with respect to")
    d.add_argument("--shape", action="append", metavar="NAME=DIMS",
                   help="shape of a name, e.g. A=n,n or x=n or t=scalar (repeat for each name)")
    d.add_argument("--order", type=int, default=1, help="derivative order (2 = Hessian)")
    d.add_argument("--format", choices=["text", "latex", "numpy", "index", "json"], default="text")
    d.add_argument("--check", action="store_true", help="compare with finite differences on random data")
    d.set_defaults(run=cmd_derive)
    b = sub.add_parser("backprop", help="every adjoint (dZ2, dW2, …) of a model written as assignments")
    b.add_argument("model", nargs="?", help="a model file (default: --example two-layer)")
    b.add_argument("--example", metavar="NAME", help="a built-in model: " + ", ".join(_example_names()))
    b.add_argument("--convention", choices=["course", "strict"], default="course")
    b.add_argument("--examples", metavar="DIM", help="the examples dimension, when the data do not make it plain")
    b.add_argument("--format", choices=["text", "latex", "numpy", "json"], default="text")
    b.add_argument("--check", action="store_true", help="compare every adjoint with finite differences")
    add_notebook_options(b)
    b.set_defaults(run=cmd_backprop)
    c = sub.add_parser("check", help="a verdict on your formula for one adjoint (exit 0 right, 1 wrong)")
    c.add_argument("args", nargs="+", metavar="[MODEL_FILE] CLAIM",
                   help='optional model file, then the claim, e.g. "dZ1 = np.dot(W2.T, dZ2) * (1 - A1**2)"')
    c.add_argument("--example", metavar="NAME", help="a built-in model (default two-layer)")
    c.add_argument("--convention", choices=["course", "strict"], default="course")
    c.add_argument("--expr", help="check a claimed derivative of this expression instead (with --wrt, --shape)")
    c.add_argument("--wrt", help="the variable of --expr the claim differentiates by")
    c.add_argument("--shape", action="append", metavar="NAME=DIMS", help="a shape for --expr, e.g. X=n,m")
    add_notebook_options(c)
    c.set_defaults(run=cmd_check)
    x = sub.add_parser("explain", help="why an adjoint is what it is: seven sections, from the engine's derivation")
    x.add_argument("model", nargs="?", help="a model file (default: --example two-layer)")
    x.add_argument("--example", metavar="NAME")
    x.add_argument("--target", default="dZ1", help="the adjoint to explain (default dZ1)")
    x.add_argument("--convention", choices=["course", "strict"], default="course")
    add_notebook_options(x)
    c2 = sub.add_parser("codegen", help="a Python module computing the loss and exact gradients (NumPy, JAX, PyTorch)")
    c2.add_argument("model", nargs="?", help="a model file (default: --example two-layer), or an expression with --wrt")
    c2.add_argument("--example", metavar="NAME")
    c2.add_argument("--target", choices=["numpy", "jax", "torch"], default="numpy")
    c2.add_argument("--wrt", help="generate value_and_grad of an expression with respect to this name")
    c2.add_argument("--shape", action="append", metavar="NAME=DIMS")
    c2.add_argument("--order", type=int, default=1, help="2 adds hessian(values)")
    c2.add_argument("-o", "--output", help="write the module to this file (a new file, or --force)")
    c2.add_argument("--force", action="store_true", help="replace the --output file if it exists")
    add_notebook_options(c2)
    c2.set_defaults(run=cmd_codegen)
    w = sub.add_parser("serve", help="the web page and JSON API (offline; FastAPI + uvicorn)")
    w.add_argument("--host", default="127.0.0.1")
    w.add_argument("--port", type=int, default=8000)
    w.add_argument("--workers", type=int, default=1, help="server processes (default 1; use the number of cores)")
    w.add_argument("--pool", type=int, metavar="N",
                   help="worker processes per server process for derive/backprop/explain/check "
                        "(default: the cores shared out among --workers, 1 … 4)")
    w.add_argument("--time-limit", type=float, metavar="SECONDS",
                   help="per request, waiting included; past it 504 and the work is killed (default 20)")
    w.add_argument("--memory-limit", type=float, metavar="MB",
                   help="address space of each worker process (default 1500; 0: no limit)")
    w.set_defaults(run=cmd_serve)
    t = sub.add_parser("train", help="batch gradient descent with the derived gradients (cost, accuracy, plots)")
    t.add_argument("model", nargs="?", help="a model file (default: --example two-layer)")
    t.add_argument("--example", metavar="NAME")
    t.add_argument("--data", default="planar", help="planar, moons, circles or FILE.csv (last column: label)")
    t.add_argument("--hidden", type=int, help="size of every dimension the data does not fix (default 4)")
    t.add_argument("--lr", type=float, default=1.2)
    t.add_argument("--iterations", type=int, default=10000)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--plot", metavar="DIR", help="write cost.png and decision_boundary.png (needs matplotlib)")
    add_notebook_options(t)
    t.set_defaults(run=cmd_train)
    g = sub.add_parser("gradcheck", help="the course's gradient check of every parameter (exit 1 if it fails)")
    g.add_argument("model", nargs="?", help="a model file (default: --example two-layer)")
    g.add_argument("--example", metavar="NAME")
    g.add_argument("--epsilon", type=float, default=1e-7)
    add_notebook_options(g)
    g.set_defaults(run=cmd_gradcheck)
    i = sub.add_parser("identities", help="the verified identity catalog: list or search")
    i.add_argument("search", nargs="*", help="words to look for (name, function, 'matrix', '(100)', …)")
    i.add_argument("--section", help="only this section (e.g. trace, determinant, layers)")
    i.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    i.add_argument("--markdown", metavar="FILE", help="write the whole catalog as one Markdown page to FILE "
                   "(the project's is docs/identities.md)")
    i.add_argument("--force", action="store_true", help="replace FILE if it exists")
    i.set_defaults(run=cmd_identities)
    x.add_argument("--format", choices=["text", "markdown", "latex", "html"], default="text",
                   help="markdown carries LaTeX math; html is a self-contained page (MathML, works offline)")
    x.add_argument("--wrt", help="explain a derivative: the first argument is then an expression")
    x.add_argument("--shape", action="append", metavar="NAME=DIMS")
    x.set_defaults(run=cmd_explain)
    demo = sub.add_parser("demo", help="a short tour on built-in examples")
    demo.set_defaults(run=cmd_demo)
    return p


def main(argv=None):
    for stream in (sys.stdout, sys.stderr):          # a terminal that cannot show ∂ gets '?', not a crash
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    args = build_parser().parse_args(argv)
    console = _console()
    try:
        return args.run(args, console)
    except ChainruleError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
