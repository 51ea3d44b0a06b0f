"""Baseline performance predictors (GNNs and classic models) compared against the RLM surrogate."""
