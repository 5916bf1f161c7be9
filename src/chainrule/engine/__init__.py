"""The derivations: derive (an expression's derivative) and backprop (every adjoint of a model)."""
