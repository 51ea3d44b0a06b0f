"""Test-wide settings: offline hubs, a non-GUI matplotlib, and one torch thread.

One thread because the unit tests use tiny models, for which thread start-up and synchronization
cost more than they save, and because a 2-core CI machine is often running something else.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import torch

torch.set_num_threads(1)
