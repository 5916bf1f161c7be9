"""Numbers: evaluation of index form and matrix notation, random data of each domain, finite-difference checks."""
