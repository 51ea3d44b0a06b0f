"""The channel plan of OFA-MobileNetV3 (width 1.2) and exact parameter and FLOP counts of its subnets.

Counted without building the network (no torch needed), from the same plan the model uses; the
tests check both against the built module (parameters) and ``torch.utils.flop_counter`` (FLOPs).
The plan follows ``OFAMobileNetV3.__init__`` and ``DynamicMBConvLayer.get_active_subnet`` of the
once-for-all code (mit-han-lab/once-for-all, also vendored in HayeonLee/HELP), at ``width_mult=1.2``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .arch import NUM_STAGES, OfaMbv3Arch

__all__ = [
    "FEATURE_MIX_CHANNELS",
    "FINAL_EXPAND_CHANNELS",
    "FIRST_CHANNELS",
    "NUM_CLASSES",
    "STAGES",
    "Stage",
    "count_flops",
    "count_params",
    "make_divisible",
    "mid_channels",
    "se_channels",
]

WIDTH_MULT = 1.2
NUM_CLASSES = 1000  # ImageNet
DIVISOR = 8  # MyNetwork.CHANNEL_DIVISIBLE
SE_REDUCTION = 4  # SEModule.REDUCTION


def make_divisible(value: float, divisor: int = DIVISOR) -> int:
    """OFA's ``make_divisible`` (from the TF MobileNet code): nearest multiple, never 10% below ``value``."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


@dataclass(frozen=True)
class Stage:
    """One searchable stage: output channels, stride of its first layer, activation, squeeze-excite."""

    channels: int
    stride: int
    act: str  # "relu" or "h_swish"
    se: bool


# base_stage_width [16, 16, 24, 40, 80, 112, 160, 960, 1280] x 1.2, made divisible by 8.
FIRST_CHANNELS = make_divisible(16 * WIDTH_MULT)  # first conv and the fixed first block: 24
_BASE = ((24, 2, "relu", False), (40, 2, "relu", True), (80, 2, "h_swish", False), (112, 1, "h_swish", True))
STAGES: tuple[Stage, ...] = (
    *(Stage(make_divisible(w * WIDTH_MULT), s, a, se) for w, s, a, se in _BASE),
    Stage(make_divisible(160 * WIDTH_MULT), 2, "h_swish", True),
)  # channels 32, 48, 96, 136, 192
FINAL_EXPAND_CHANNELS = make_divisible(960 * WIDTH_MULT)  # 1152
FEATURE_MIX_CHANNELS = make_divisible(1280 * WIDTH_MULT)  # 1536
assert len(STAGES) == NUM_STAGES


def mid_channels(in_channels: int, expand: int) -> int:
    """Channels inside an MBConv layer (``active_middle_channel``)."""
    return make_divisible(round(in_channels * expand))


def se_channels(channels: int) -> int:
    """Channels inside a squeeze-excite module on ``channels`` channels."""
    return make_divisible(channels // SE_REDUCTION)


def spatial(size: int, stride: int) -> int:
    """Output size of a same-padded odd-kernel conv."""
    return (size - 1) // stride + 1


def _mbconv_costs(
    c_in: int, c_out: int, kernel: int, expand: int, se: bool, hw_in: int, hw_out: int
) -> tuple[int, int]:
    """(parameters, multiply-accumulates) of one MBConv layer; ``expand == 1``: no 1x1 expansion."""
    mid = c_in if expand == 1 else mid_channels(c_in, expand)
    params, macs = 0, 0
    if expand != 1:
        params += c_in * mid + 2 * mid  # 1x1 conv + BN
        macs += c_in * mid * hw_in
    params += mid * kernel * kernel + 2 * mid  # depthwise conv + BN
    macs += mid * kernel * kernel * hw_out
    if se:
        s = se_channels(mid)
        params += mid * s + s + s * mid + mid  # reduce and expand 1x1 convs, with biases
        macs += 2 * mid * s
    params += mid * c_out + 2 * c_out  # 1x1 projection + BN
    macs += mid * c_out * hw_out
    return params, macs


def _costs(arch: OfaMbv3Arch) -> tuple[int, int]:
    size = spatial(arch.r, 2)
    c = FIRST_CHANNELS
    params, macs = 3 * c * 9 + 2 * c, 3 * c * 9 * size * size  # first conv + BN
    p, m = _mbconv_costs(c, c, 3, 1, False, size * size, size * size)  # the fixed first block
    params, macs = params + p, macs + m
    for s, stage in enumerate(STAGES):
        for layer, (kernel, expand) in enumerate(arch.stage_layers(s)):
            out = spatial(size, stage.stride if layer == 0 else 1)
            p, m = _mbconv_costs(c, stage.channels, kernel, expand, stage.se, size * size, out * out)
            params, macs = params + p, macs + m
            c, size = stage.channels, out
    params += c * FINAL_EXPAND_CHANNELS + 2 * FINAL_EXPAND_CHANNELS  # final expand 1x1 + BN
    macs += c * FINAL_EXPAND_CHANNELS * size * size
    params += FINAL_EXPAND_CHANNELS * FEATURE_MIX_CHANNELS  # feature mix 1x1, no bias, no BN
    macs += FINAL_EXPAND_CHANNELS * FEATURE_MIX_CHANNELS
    params += FEATURE_MIX_CHANNELS * NUM_CLASSES + NUM_CLASSES  # classifier
    macs += FEATURE_MIX_CHANNELS * NUM_CLASSES
    return params, macs


def count_params(arch: OfaMbv3Arch) -> int:
    """Trainable parameters of the subnet (conv weights, BN affine, SE biases, classifier)."""
    return _costs(arch)[0]


def count_flops(arch: OfaMbv3Arch) -> int:
    """FLOPs of one forward pass on one ``r x r`` image, counted as ``torch.utils.flop_counter`` does.

    That is 2 per multiply-accumulate of every convolution and linear layer (OFA's and the
    MobileNet papers' "FLOPs"/"MACs" count each multiply-accumulate once: half this figure);
    activations, pooling, the SE scaling, residual additions and BN (folded into the convs at
    inference) are not counted.
    """
    return 2 * _costs(arch)[1]
