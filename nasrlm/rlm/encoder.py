"""The encoder base class: what the RLM's decoder needs of any encoder (built in, or T5Gemma's).

:func:`nasrlm.rlm.model.build_encoder` makes one from an :class:`~nasrlm.rlm.model.EncoderConfig`.
"""

from __future__ import annotations

from torch import nn

__all__ = ["TextEncoder"]


class TextEncoder(nn.Module):
    """``forward(ids, mask) -> states [B, L, hidden_size]`` for inputs of at most ``max_length`` tokens."""

    hidden_size: int
    max_length: int
