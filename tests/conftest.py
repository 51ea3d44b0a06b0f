"""Test-wide settings: offline hubs, a non-GUI matplotlib, and one torch thread.

One thread because the unit tests use tiny models, for which thread start-up and synchronization
cost more than they save, and because a 2-core CI machine is often running something else.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# Triton kernels run under the interpreter in tests; set before anything imports triton.
os.environ.setdefault("TRITON_INTERPRET", "1")

import torch

torch.set_num_threads(1)
