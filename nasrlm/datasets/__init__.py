"""Data sets shipped with nasrlm (beyond the search spaces' benchmark tables).

* :func:`load_program_memory`: real programs (HumanEval in Python, its Rust translations), each run on
  inputs of several sizes, with the measured peak memory: a text-to-number table for the RLM.
"""

from __future__ import annotations

from nasrlm.datasets.program_memory import load_program_memory, program_memory_manifest

__all__ = ["load_program_memory", "program_memory_manifest"]
