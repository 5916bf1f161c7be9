"""Back from index form to matrix notation: reduction rules, factoring, softmax recognition."""
