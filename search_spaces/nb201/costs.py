"""Exact parameter and FLOP counts of NB201 networks, without building them (no torch needed).

Verified against the built module (parameters) and ``torch.utils.flop_counter`` (FLOPs) in the tests.
"""

from __future__ import annotations

from collections.abc import Sequence

STEM_CHANNELS = 16
CELLS_PER_STAGE = 5
INPUT_SHAPE = (3, 32, 32)  # CIFAR-10; ImageNet16-120 uses 16x16 inputs and 120 classes

_CONV_KERNEL = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}


def count_params(
    ops: Sequence[str],
    num_classes: int = 10,
    channels: int = STEM_CHANNELS,
    cells_per_stage: int = CELLS_PER_STAGE,
) -> int:
    """Trainable parameters of the network (conv weights, BN affine, classifier)."""
    c = channels
    total = 3 * c * 9 + 2 * c  # stem conv + BN
    for stage in range(3):
        if stage > 0:
            c_out = 2 * c
            total += c * c_out * 9 + 2 * c_out + c_out * c_out * 9 + 2 * c_out + c * c_out
            c = c_out
        cell = sum(c * c * _CONV_KERNEL[op] ** 2 + 2 * c for op in ops if op in _CONV_KERNEL)
        total += cells_per_stage * cell
    return total + 2 * c + c * num_classes + num_classes


def count_flops(
    ops: Sequence[str],
    num_classes: int = 10,
    channels: int = STEM_CHANNELS,
    cells_per_stage: int = CELLS_PER_STAGE,
    resolution: int = 32,
) -> int:
    """FLOPs of one forward pass on one image, counted as torch.utils.flop_counter does.

    That is 2 per multiply-accumulate of every convolution and linear layer; element-wise ops,
    pooling and BN (foldable into the conv) are not counted.
    """
    c, hw = channels, resolution * resolution
    macs = 3 * c * 9 * hw  # stem
    for stage in range(3):
        if stage > 0:
            c_out, hw_out = 2 * c, hw // 4
            macs += (c * c_out * 9 + c_out * c_out * 9 + c * c_out) * hw_out
            c, hw = c_out, hw_out
        macs += cells_per_stage * hw * sum(c * c * _CONV_KERNEL[op] ** 2 for op in ops if op in _CONV_KERNEL)
    macs += c * num_classes
    return 2 * macs
