"""A generated data set of Triton kernels and their GPU latencies, for the Regression Language Model.

``generate`` defines the sweep (kernel variant x launch config x problem shape) and each row's text,
``templates`` the variants (common kernels from ``kernels`` and the project's fused NB201 ops),
``measure`` times the sweep on a CUDA GPU. See README.md in this folder.
"""
