"""TransNAS-Bench-101's macro-level search space (Duan et al., CVPR 2021): 3,256 ResNet-like
encoders, 725 with benchmark data on seven Taskonomy tasks. See README.md in this folder."""

from .arch import TransnasMacroArch
from .space import MetricNotMeasuredError, TransnasMacroSpace

__all__ = ["MetricNotMeasuredError", "TransnasMacroArch", "TransnasMacroSpace"]
