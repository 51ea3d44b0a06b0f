"""Exact parameter and FLOP counts of FBNet networks, from the arch alone (no torch needed).

Verified in the tests against the built module's parameters and ``torch.utils.flop_counter``.
"""

from __future__ import annotations

from collections.abc import Sequence

from .arch import HEAD_CHANNELS, LAYERS, NUM_CLASSES, RESOLUTION, STEM_CHANNELS, LayerSpec, block_spec

__all__ = ["count_flops", "count_params", "layer_macs", "layer_params"]


def _skip_projects(layer: LayerSpec) -> bool:
    """A ``skip`` is a 1x1 conv (+ BN, ReLU) where the layer changes channels or stride, else the identity."""
    return layer.stride != 1 or layer.c_in != layer.c_out


def layer_params(op: str, layer: LayerSpec) -> int:
    """Parameters of one searchable layer: conv weights (no biases) and BN scale and shift."""
    spec = block_spec(op)
    if spec is None:
        return layer.c_in * layer.c_out + 2 * layer.c_out if _skip_projects(layer) else 0
    mid = layer.c_in * spec.expansion
    expand = mid * (layer.c_in // spec.groups) + 2 * mid
    depthwise = mid * spec.kernel**2 + 2 * mid
    project = layer.c_out * (mid // spec.groups) + 2 * layer.c_out
    return expand + depthwise + project


def layer_macs(op: str, layer: LayerSpec) -> int:
    """Multiply-accumulates of one layer's convolutions on one image."""
    hw_in = layer.resolution**2
    hw_out = (layer.resolution // layer.stride) ** 2
    spec = block_spec(op)
    if spec is None:
        return layer.c_in * layer.c_out * hw_out if _skip_projects(layer) else 0
    mid = layer.c_in * spec.expansion
    expand = mid * (layer.c_in // spec.groups) * hw_in  # 1x1 at the input resolution
    depthwise = mid * spec.kernel**2 * hw_out  # the depthwise conv carries the stride
    project = layer.c_out * (mid // spec.groups) * hw_out
    return expand + depthwise + project


def _final_resolution() -> int:
    return LAYERS[-1].resolution // LAYERS[-1].stride


def count_params(ops: Sequence[str], num_classes: int = NUM_CLASSES) -> int:
    """Trainable parameters of the network (conv weights, BN affine, linear weight and bias)."""
    stem = 3 * STEM_CHANNELS * 9 + 2 * STEM_CHANNELS
    layers = sum(layer_params(op, layer) for op, layer in zip(ops, LAYERS, strict=True))
    head = LAYERS[-1].c_out * HEAD_CHANNELS + 2 * HEAD_CHANNELS
    return stem + layers + head + HEAD_CHANNELS * num_classes + num_classes


def count_flops(ops: Sequence[str], num_classes: int = NUM_CLASSES) -> int:
    """FLOPs of one forward pass of one 32x32 image, counted as ``torch.utils.flop_counter`` does:
    2 per multiply-accumulate of every convolution and linear layer (BN, ReLU, adds, pooling and the
    channel shuffle are not counted)."""
    macs = 3 * STEM_CHANNELS * 9 * RESOLUTION**2
    macs += sum(layer_macs(op, layer) for op, layer in zip(ops, LAYERS, strict=True))
    macs += LAYERS[-1].c_out * HEAD_CHANNELS * _final_resolution() ** 2
    macs += HEAD_CHANNELS * num_classes
    return 2 * macs
