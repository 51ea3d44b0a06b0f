"""Exact parameter and FLOP counts of the macro networks, without building them (no torch needed).

Checked against the built module (parameters) and ``torch.utils.flop_counter`` (FLOPs) in the tests,
and against the vendored table's columns (see ``table_params`` / ``table_flops``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from .arch import BASE_CHANNELS, doubles_channels, downsamples

RESOLUTION = 256  # Taskonomy images as TransNAS-Bench-101 feeds them; the table's FLOPs match it
INPUT_SHAPE = (3, RESOLUTION, RESOLUTION)
NUM_CLASSES = 47  # the scene-classification head: TransNAS-Bench-101's 47 scene classes
STEM_CHANNELS = BASE_CHANNELS // 2
BLOCKS_PER_MODULE = 2


def blocks(modules: Sequence[int]) -> Iterator[tuple[int, int, int]]:
    """Every ResNet basic block as ``(in channels, out channels, stride)``, input to output."""
    c = BASE_CHANNELS
    for kind in modules:
        out = 2 * c if doubles_channels(kind) else c
        stride = 2 if downsamples(kind) else 1
        yield c, out, stride
        for _ in range(BLOCKS_PER_MODULE - 1):
            yield out, out, 1
        c = out


def has_projection(c_in: int, c_out: int, stride: int) -> bool:
    """Whether a block's shortcut is a 1x1 conv + BN (else the identity)."""
    return stride != 1 or c_in != c_out


def final_channels(modules: Sequence[int]) -> int:
    return BASE_CHANNELS * 2 ** sum(doubles_channels(k) for k in modules)


def count_params(modules: Sequence[int], num_classes: int = NUM_CLASSES) -> int:
    """Trainable parameters: conv weights (no bias), BatchNorm scale and shift, the linear head."""
    total = 3 * STEM_CHANNELS * 9 + 2 * STEM_CHANNELS + STEM_CHANNELS * BASE_CHANNELS * 9 + 2 * BASE_CHANNELS
    for c_in, c_out, stride in blocks(modules):
        total += c_in * c_out * 9 + c_out * c_out * 9 + 4 * c_out
        if has_projection(c_in, c_out, stride):
            total += c_in * c_out + 2 * c_out
    c = final_channels(modules)
    return total + c * num_classes + num_classes


def count_macs(modules: Sequence[int], num_classes: int = NUM_CLASSES, resolution: int = RESOLUTION) -> int:
    """Multiply-accumulates of the convolutions and the linear head, one image."""
    h = resolution // 2
    macs = 3 * STEM_CHANNELS * 9 * h * h
    h //= 2
    macs += STEM_CHANNELS * BASE_CHANNELS * 9 * h * h
    for c_in, c_out, stride in blocks(modules):
        h //= stride
        macs += (c_in * c_out * 9 + c_out * c_out * 9) * h * h
        if has_projection(c_in, c_out, stride):
            macs += c_in * c_out * h * h
    return macs + final_channels(modules) * num_classes


def count_flops(modules: Sequence[int], num_classes: int = NUM_CLASSES, resolution: int = RESOLUTION) -> int:
    """FLOPs as ``torch.utils.flop_counter`` counts them: 2 per multiply-accumulate of convs and the
    linear head; BatchNorm (folded into the convs at inference), ReLU, adds and pooling are not counted."""
    return 2 * count_macs(modules, num_classes, resolution)
