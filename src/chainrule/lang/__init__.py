"""The input language: parsing against a whitelist (syntax), shapes, the functions' registry, lowering to index form, models."""
