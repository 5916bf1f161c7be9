"""Printers: matrix notation as text, LaTeX and NumPy code; index notation; explanation documents."""
