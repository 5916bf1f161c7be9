"""The import contract, read from the `ast` of every module (function-level imports included): layers
only import downward, no cycles, no module reaches another module's `_private` names, and nothing
inside the package imports the public API (chainrule/__init__.py)."""
import ast
import collections
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "chainrule"

# lowest first: a module may import its own package and the packages before it
LAYERS = ("core", "lang", "render", "numeric", "notation", "engine", "tutor", "generation", "app", "api")
RANK = {layer: k for k, layer in enumerate(LAYERS)}
SIBLINGS = {"tutor": "generation", "generation": "tutor"}      # same height, independent of each other


def modules():
    """{dotted name inside the package: path}: 'engine.adjoints', 'core.tensor', '__init__'."""
    return {".".join(p.relative_to(PACKAGE).with_suffix("").parts): p for p in PACKAGE.rglob("*.py")}


def layer_of(module):
    head = module.split(".")[0]
    return head if head in RANK else "api"               # chainrule/__init__.py and __main__.py


def imports(module, path):
    """(imported module, names, line) for every package-internal import in the file, at any depth."""
    package = module.split(".")[:-1] if not module.endswith("__init__") else module.split(".")[:-1]
    known = modules()
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.ImportFrom) and node.level >= 1):
            continue
        base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
        names = [a.name for a in node.names]
        if node.module:
            out.append((".".join(base + node.module.split(".")), names, node.lineno))
        else:                                   # from . import x: a submodule, a subpackage or the package itself
            for n in names:
                dotted = ".".join(base + [n])
                if dotted in known or dotted + ".__init__" in known:
                    out.append((dotted, [n], node.lineno))
                else:
                    out.append((".".join(base + ["__init__"]), [n], node.lineno))
    return out


def edges():
    found = collections.defaultdict(list)
    for name, path in modules().items():
        for target, names, line in imports(name, path):
            if target != name:
                found[name].append((target, names, line))
    return found


def test_every_package_is_a_layer():
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages == set(LAYERS) - {"api"}, packages ^ (set(LAYERS) - {"api"})


def test_layers_only_import_downward():
    bad = []
    for name, targets in edges().items():
        for target, names, line in targets:
            a, b = layer_of(name), layer_of(target)
            if RANK[b] > RANK[a] or SIBLINGS.get(a) == b:
                bad.append(f"{name}.py:{line} ({a}) imports {target} ({b})")
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_no_import_cycles():
    graph = {n: {t for t, _, _ in ts if not t.endswith("__init__")} for n, ts in edges().items()}
    seen, cycles = {}, []

    def visit(n, path):
        seen[n] = "open"
        for t in graph.get(n, ()):
            if seen.get(t) == "open":
                cycles.append(path[path.index(t):] + [t])
            elif t not in seen:
                visit(t, path + [t])
        seen[n] = "done"
    for n in sorted(graph):
        if n not in seen:
            visit(n, [n])
    assert not cycles, f"import cycles: {cycles}"


def test_no_reach_into_private_names():
    bad = []
    for name, targets in edges().items():
        for target, names, line in targets:
            bad += [f"{name}.py:{line} imports {target}.{n}" for n in names if n.startswith("_") and n != "__version__"
                    and not target.endswith("__init__")]
    for name, path in modules().items():                  # module._private through an alias (S._Parser)
        aliases = {a.asname or a.name: a.name for node in ast.walk(ast.parse(path.read_text()))
                   if isinstance(node, ast.ImportFrom) and node.level >= 1 for a in node.names}
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases \
                    and node.attr.startswith("_") and not node.attr.startswith("__"):
                bad.append(f"{name}.py:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    assert not bad, "private names used across modules:\n" + "\n".join(bad)


def test_nothing_inside_imports_the_public_api():
    bad = [f"{name}.py:{line}" for name, targets in edges().items() if layer_of(name) != "api"
           for target, _, line in targets if target == "__init__"]
    assert not bad, "imports of chainrule/__init__.py from inside the package: " + ", ".join(bad)


def test_the_contract_catches_an_upward_import(tmp_path, monkeypatch):
    """The test can fail: a core module importing the engine is reported."""
    fake = tmp_path / "chainrule"
    for name, path in modules().items():
        target = fake / path.relative_to(PACKAGE)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text())
    tensor = fake / "core" / "tensor.py"
    tensor.write_text(tensor.read_text() + "\n\ndef _late():\n    from ..engine.adjoints import backprop\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    try:
        test_layers_only_import_downward()
    except AssertionError as e:
        assert "core.tensor.py" in str(e) and "imports engine.adjoints (engine)" in str(e), str(e)
    else:
        raise AssertionError("an upward import went unnoticed")


# Tests use the public API, or the internals of one layer (its unit tests). These cross layers by
# design, each for the reason given; a new test file must not join them without one.
CROSS_LAYER_TESTS = {
    "test_registry.py": "runs every registry entry through every consumer (evaluators, toy, printers)",
    "test_errors.py": "bounds work by counting the normal form's, parser's and printers' inner calls",
    "test_limits.py": "bounds work by counting the normal form's, parser's and printers' inner calls",
    "test_backprop_api.py": "counts lowerings and compares the matrix evaluator with generated code",
    "test_explain.py": "unit-tests the trace (core) that explain (tutor) renders",
    "test_sizes.py": "counts the shapes (core), draws (numeric) and claim evaluations (tutor) that cost estimates save",
    "test_toy.py": "evaluates the toy's scalar IR (core, tutor) against the matrix evaluator (numeric) and backprop (engine)",
    "test_loops.py": "evaluates each rolled loop (engine) with the matrix evaluator (numeric) and counts the algebra's work (core)",
    "test_catalog.py": "draws each identity's data from its declared domains (numeric) and parses its stated result (lang)",
}


def test_tests_use_the_public_api_or_one_layer():
    tests = Path(__file__).resolve().parent
    bad = []
    for path in sorted(tests.glob("test_*.py")):
        layers = set()
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for n in names:
                parts = n.split(".")
                if parts[0] == "chainrule" and len(parts) > 1 and parts[1] in RANK:
                    layers.add(parts[1])
        if len(layers) > 1 and path.name not in CROSS_LAYER_TESTS:
            bad.append(f"{path.name} imports the internals of {sorted(layers)}")
    assert not bad, "\n".join(bad)
