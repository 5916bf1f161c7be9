"""Shapes of a learner's notebook code, inferred: union-find over dimension variables as the lines
are read (np.dot(W1, X) ties W1's columns to X's rows; a bias column broadcasts), the classes named the
course's way (n_x and m from X, n_y from Y, n_h for one hidden size, else n_1, n_2, …), and shapes= /
dims= applied on top."""
import ast
import re

from ..core.errors import argument_error


class Dims:
    """Union-find over dimension variables; a class may be the literal size 1."""

    def __init__(self):
        self.parent, self.one = {}, set()

    def new(self):
        k = len(self.parent)
        self.parent[k] = k
        return k

    def find(self, k):
        if k == 1 and k not in self.parent:
            return "1"
        if isinstance(k, str):
            return k
        while self.parent[k] != k:
            self.parent[k] = self.parent[self.parent[k]]
            k = self.parent[k]
        return "1" if k in self.one else k

    def union(self, a, b):
        a, b = self.find(a), self.find(b)
        if a == b:
            return
        if a == "1" or b == "1":
            self.one.add(b if a == "1" else a)
            return
        self.parent[b] = a
        if b in self.one:
            self.one.add(a)


def fixed_names(names, shapes, dims, fixed_shapes, fixed_dims):
    """The inferred dimension names with shapes= and dims= applied (a name or a size for each)."""
    from .shapes import normalize_shapes
    out = dict(names)
    for name, given in normalize_shapes(fixed_shapes).items():
        if name not in shapes:
            raise argument_error(f"shapes names {name!r}, which the code does not use (its arrays: "
                                 f"{', '.join(n for n in shapes if shapes[n])})", "shapes", fixed_shapes,
                                 kind="unknown-name")
        inferred = shapes[name]
        if len(given) != len(inferred):
            raise argument_error(f"shapes gives {name} {len(given)} axes, but the code makes it "
                                 f"{len(inferred)}-D", "shapes", fixed_shapes)
        for d, g in zip(inferred, given):
            c = dims.find(d)
            if c == "1":
                if g != 1:
                    raise argument_error(f"shapes gives {name} the size {g} where the code needs 1 (a bias "
                                         "column, or a broadcast axis)", "shapes", fixed_shapes)
                continue
            if c in _fixed_classes(out, names) and out[c] != str(g):
                raise argument_error(f"shapes gives one dimension two sizes: {out[c]} and {g}", "shapes",
                                     fixed_shapes)
            out[c] = str(g)
    for old, new in fixed_dims.items():
        classes = [c for c, n in names.items() if n == old]
        if not classes:
            raise argument_error(f"dims names {old!r}, which is not a dimension of the code (its dimensions: "
                                 f"{', '.join(dict.fromkeys(names.values()))})", "dims", fixed_dims,
                                 kind="unknown-name")
        if not (isinstance(new, str) and re.match(r"^[A-Za-z][A-Za-z0-9_]*$", new)) and not (
                isinstance(new, int) and not isinstance(new, bool) and 1 <= new <= 10 ** 6):
            raise argument_error(f"dims gives {old} {new!r}: a dimension is a name or a whole number from 1 "
                                 "to 1,000,000", "dims", fixed_dims)
        others = {n for c, n in out.items() if c not in classes}
        if str(new) in others and not isinstance(new, int):
            raise argument_error(f"dims gives {old} the name {new}, which another dimension of the code has: two "
                                 "sizes would be one", "dims", fixed_dims)
        if str(new) in shapes:
            raise argument_error(f"dims gives {old} the name {new}, which is an array of the code", "dims", fixed_dims)
        for c in classes:
            out[c] = str(new)
    return out


def _fixed_classes(out, names):
    """The dimension classes whose name shapes= has already set (differs from the inferred one)."""
    return {c for c in out if out[c] != names.get(c)}


class ShapeMismatch(Exception):
    pass


def shape_of(node, shapes, dims):
    s = lambda n: shape_of(n, shapes, dims)            # noqa: E731
    if isinstance(node, ast.Name):
        if node.id not in shapes:
            raise ShapeMismatch(f"{node.id} has no shape")
        return shapes[node.id]
    if isinstance(node, ast.Constant):
        return ()
    if isinstance(node, ast.Subscript):                # X.shape[1]: a size
        return ()
    if isinstance(node, ast.Attribute) and node.attr == "T":
        return tuple(reversed(s(node.value)))
    if isinstance(node, ast.UnaryOp):
        return s(node.operand)
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.MatMult):
            return _matmul(s(node.left), s(node.right), dims)
        return _broadcast(s(node.left), s(node.right), dims)
    if isinstance(node, ast.Compare):
        return _broadcast(s(node.left), s(node.comparators[0]), dims)
    if isinstance(node, ast.Call):
        f = node.func
        fname = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
        method = isinstance(f, ast.Attribute) and not (isinstance(f.value, ast.Name) and f.value.id == "np")
        args = ([f.value] if method else []) + list(node.args)
        kw = {k.arg: k.value for k in node.keywords}
        if fname in ("dot", "matmul"):
            return _matmul(s(args[0]), s(args[1]), dims)
        if fname in ("sum", "mean"):
            x = s(args[0])
            axis = kw.get("axis", args[1] if len(args) > 1 else None)
            keep = isinstance(kw.get("keepdims"), ast.Constant) and kw["keepdims"].value
            if axis is None or not x:
                return ()
            k = axis.value if isinstance(axis, ast.Constant) else -1
            k = k % len(x)
            return tuple("1" if j == k else d for j, d in enumerate(x)) if keep else \
                tuple(d for j, d in enumerate(x) if j != k)
        if fname == "squeeze":
            x = s(args[0])
            return tuple(d for d in x if dims.find(d) != "1")
        if fname == "transpose":
            return tuple(reversed(s(args[0])))
        shape = ()
        for a in args:
            shape = _broadcast(shape, s(a), dims)
        return shape
    raise ShapeMismatch(f"cannot read the shape of {ast.unparse(node)}")


def _matmul(a, b, dims):
    if len(a) != 2 or len(b) != 2:
        raise ShapeMismatch("a matrix product of arrays that are not matrices")
    dims.union(a[1], b[0])
    return (a[0], b[1])


def _broadcast(a, b, dims):
    if not a:
        return b
    if not b:
        return a
    if len(a) != len(b):
        raise ShapeMismatch("arrays of different ranks")
    out = []
    for x, y in zip(a, b):
        fx, fy = dims.find(x), dims.find(y)
        if fx == "1":
            out.append(y)
        elif fy == "1":
            out.append(x)
        else:
            dims.union(x, y)
            out.append(x)
    return tuple(out)


def dim_names(reader, shapes, dims):
    """The course's names: n_x and m from X, n_y from Y, n_h for one hidden size (else n_1, n_2, …)."""
    names = {}
    x = next((n for n in ("X", "x", "X_train") if n in shapes and len(shapes[n]) == 2), None)
    y = next((n for n in ("Y", "y", "Y_train") if n in shapes and len(shapes[n]) == 2), None)
    if x:
        names.setdefault(dims.find(shapes[x][0]), "n_x")
        names.setdefault(dims.find(shapes[x][1]), "m")
    if y:
        names.setdefault(dims.find(shapes[y][0]), "n_y")
        names.setdefault(dims.find(shapes[y][1]), "m")
    rest = []
    for name in reader.decls:
        for d in shapes.get(name, ()):
            c = dims.find(d)
            if c != "1" and c not in names and c not in rest:
                rest.append(c)
    for k, c in enumerate(rest):
        names[c] = "n_h" if len(rest) == 1 else f"n_{k + 1}"
    names.pop("1", None)
    return names
