"""The IR and its algebra: index form (tensor), matrix notation (matrix), the primitives' registry (rules) and differentiation."""
