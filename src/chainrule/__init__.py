"""chainrule: matrix calculus in matrix notation — derive, backprop, explain, check."""
from .core.errors import ChainruleError, argument_error

__all__ = ["ChainruleError", "main", "backprop", "check", "codegen", "compile", "derive", "example", "examples", "explain",
           "identities", "train", "dataset", "gradcheck", "read_notebook"]
__version__ = "0.1.0"


def main(argv=None):
    """The command line (`chainrule ...`) run in-process: returns the exit status."""
    from .app.cli import main as _main
    return _main(argv)


def derive(expr, wrt, shapes=None, order=1, domain=None):
    """Derivative of a NumPy-style expression (`domain`: {"Y": "onehot"}, what the data are): see
    chainrule.derivation.derive."""
    from .engine.derivation import derive as _derive
    return _derive(expr, wrt, shapes, order, domain)


def read_notebook(source, loss=None, data=None, layers=3, shapes=None, dims=None):
    """The model a learner's Python source (notebook functions) stands for, as model text — read, never
    run. Every call (backprop, explain, check, compile, train, gradcheck) takes the source directly;
    this one lets you choose: `loss` names the loss function, `data` adds names that are data (X and
    Y always are), `layers` is L where the code reads len(parameters) // 2, `shapes` fixes arrays'
    dimensions ({"W1": ("n_h", "n_x")}, sizes allowed) and `dims` renames or sizes the inferred ones
    ({"n_1": "n_h", "m": 64})."""
    from .lang.notebook_model import notebook_model
    if not isinstance(layers, int) or isinstance(layers, bool) or not 1 <= layers <= 100:
        raise argument_error(f"layers must be a whole number from 1 to 100, got {layers!r}", "layers", layers)
    if dims is not None and not isinstance(dims, dict):
        raise argument_error("dims must be a dict such as {'n_1': 'n_h'}", "dims", dims)
    return notebook_model(source, loss=loss, data=data, layers=layers, shapes=shapes, dims=dims)


def backprop(text, convention="course", examples=None):
    """Every adjoint of a model written as assignments (`examples`: the examples dimension, when the
    data do not make it plain): see chainrule.backprop."""
    from .engine.adjoints import backprop as _backprop
    return _backprop(text, convention, examples)


def check(model_text=None, claim=None, convention="course", *, expr=None, wrt=None, shapes=None):
    """A verdict on a learner's formula for one adjoint of a model (see chainrule.tutor.verdict), or,
    with expr/wrt/shapes, on a claimed derivative of an expression — check(claim="A.T @ B.T",
    expr="trace(A @ X @ B)", wrt="X", shapes=...) (see chainrule.tutor.claims)."""
    if expr is not None or wrt is not None:
        if model_text is not None:
            raise argument_error("give a model or an expression (expr, wrt, shapes), not both", "model_text",
                                 model_text)
        from .tutor.claims import check_expression
        return check_expression(claim, expr, wrt, shapes)
    from .tutor.verdict import check as _check
    return _check(model_text, claim, convention)


def explain(model=None, target="dZ1", *, expr=None, wrt=None, shapes=None, convention="course"):
    """The derivation of one adjoint (or of a derivative) in seven sections: see chainrule.mentor."""
    from .tutor.mentor import explain as _explain
    return _explain(model, target, expr=expr, wrt=wrt, shapes=shapes, convention=convention)


def codegen(model_text=None, target="numpy", *, expr=None, wrt=None, shapes=None, order=1):
    """Python source of a module computing the model's loss and exact gradients (loss_and_grads), or with
    expr/wrt/shapes an expression's value_and_grad (and hessian for order 2): see chainrule.generate."""
    from .generation.generate import codegen as _codegen
    return _codegen(model_text, target, expr=expr, wrt=wrt, shapes=shapes, order=order)


def compile(model_text=None, target="numpy", *, expr=None, wrt=None, shapes=None, order=1):  # noqa: A001
    """The generated loss_and_grads(values) -> (loss, grads) callable (value_and_grad for an expression,
    with .hessian attached for order 2)."""
    from .generation.generate import compile_callable
    return compile_callable(model_text, target, expr=expr, wrt=wrt, shapes=shapes, order=order)


def identities(search=None, section=None):
    """The verified identity catalog, optionally searched: see chainrule.catalog."""
    from .tutor.catalog import identities as _identities
    return _identities(search, section)


def train(model_text=None, data="planar", lr=1.2, iterations=10000, seed=1, hidden=None):
    """Batch gradient descent with the generated gradients: see chainrule.training."""
    from .generation.training import train as _train
    return _train(model_text, data, lr, iterations, seed, hidden)


def dataset(name="planar", seed=1):
    """(X, Y) of a built-in data set (planar, moons, circles) or a CSV, examples in columns."""
    from .generation.training import dataset as _dataset
    return _dataset(name, seed)


def gradcheck(model_text=None, epsilon=1e-7, seed=1, loss_and_grads=None):
    """The course's gradient check (relative difference per parameter and overall): see chainrule.training."""
    from .generation.training import gradcheck as _gradcheck
    return _gradcheck(model_text, epsilon, seed, loss_and_grads)


def examples():
    """Names of the built-in models."""
    from .lang.model import examples as _examples
    return _examples()


def example(name):
    """The text of a built-in model."""
    from .lang.model import example as _example
    return _example(name)
