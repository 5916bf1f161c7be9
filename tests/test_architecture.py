"""The import contract, read from the `ast` of every module (function-level imports included): layers
only import downward, no cycles, no module reaches another module's `_private` names, and nothing
inside the package imports the public API (chainrule/__init__.py)."""
import ast
import collections
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "chainrule"

# lowest first: a module may import its own layer and the layers before it
LAYERS = {
    "core": {"errors", "tensor", "matrix", "rules", "differentiate"},
    "lang": {"syntax", "shapes", "lower", "fn_spec", "fn_elementwise", "fn_array", "functions", "model"},
    "render": {"printing", "numpy_code", "index_notation", "document"},
    "numeric": {"evaluate", "matrix_eval", "numeric"},
    "notation": {"to_matrix", "collect", "softmax"},
    "engine": {"derivation", "adjoints"},
    "tutor": {"toy", "verdict", "catalog", "mentor"},
    "codegen": {"generate", "training"},
    "app": {"cli", "web"},
    "api": {"__init__", "__main__"},
}
RANK = {layer: k for k, layer in enumerate(LAYERS)}
SIBLINGS = {"tutor": "codegen", "codegen": "tutor"}      # same height, independent of each other
LAYER_OF = {m: layer for layer, mods in LAYERS.items() for m in mods}


def modules():
    return {p.stem: p for p in PACKAGE.glob("*.py")}


def imports(path):
    """(imported module, names, line) for every package-relative import in the file, at any depth."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names = [a.name for a in node.names]
            if node.module:
                out.append((node.module.split(".")[0], names, node.lineno))
            else:                                  # from . import x, y: submodules or the package itself
                for n in names:
                    out.append((n if n in modules() else "__init__", [n], node.lineno))
    return out


def edges():
    found = collections.defaultdict(list)
    for name, path in modules().items():
        for target, names, line in imports(path):
            if target != name:
                found[name].append((target, names, line))
    return found


def test_every_module_has_a_layer():
    missing = sorted(set(modules()) - set(LAYER_OF))
    assert not missing, f"modules with no layer in the contract: {missing}"


def test_layers_only_import_downward():
    bad = []
    for name, targets in edges().items():
        for target, names, line in targets:
            a, b = LAYER_OF[name], LAYER_OF.get(target)
            if b is None:
                continue
            if RANK[b] > RANK[a] or SIBLINGS.get(a) == b:
                bad.append(f"{name}.py:{line} ({a}) imports {target} ({b})")
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_no_import_cycles():
    graph = {n: {t for t, _, _ in ts} for n, ts in edges().items()}
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
            bad += [f"{name}.py:{line} imports {target}.{n}" for n in names if n.startswith("_") and n != "__version__"]
    for name, path in modules().items():                  # module._private through an alias (S._Parser)
        aliases = {a.asname or a.name: a.name for node in ast.walk(ast.parse(path.read_text()))
                   if isinstance(node, ast.ImportFrom) and node.level == 1 and not node.module for a in node.names}
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases \
                    and node.attr.startswith("_") and not node.attr.startswith("__"):
                bad.append(f"{name}.py:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    assert not bad, "private names used across modules:\n" + "\n".join(bad)


def test_nothing_inside_imports_the_public_api():
    bad = [f"{name}.py:{line}" for name, targets in edges().items() if name not in LAYERS["api"]
           for target, _, line in targets if target == "__init__"]
    assert not bad, "imports of chainrule/__init__.py from inside the package: " + ", ".join(bad)


def test_the_contract_catches_an_upward_import(tmp_path, monkeypatch):
    """The test can fail: a core module importing the engine is reported."""
    fake = tmp_path / "chainrule"
    fake.mkdir()
    for name, path in modules().items():
        (fake / path.name).write_text(path.read_text())
    (fake / "tensor.py").write_text((fake / "tensor.py").read_text() + "\n\ndef _late():\n    from .adjoints import backprop\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    try:
        test_layers_only_import_downward()
    except AssertionError as e:
        assert "tensor.py" in str(e) and "imports adjoints (engine)" in str(e)
    else:
        raise AssertionError("an upward import went unnoticed")
