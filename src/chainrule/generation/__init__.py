"""Generated code (NumPy, JAX, PyTorch) and training with it."""
