"""Pieces every grasp network shares: the output type, the heads, argument checks, size matching."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

GRASP_MAP_NAMES = ("q", "cos2", "sin2", "opening")
"""The four maps every planar FCN predicts, in the order the papers list them."""

SAM_KERNEL_SIZE = 7
"""CBAM's spatial attention convolution (Woo et al. 2018)."""


@dataclass
class GraspMaps:
    """Dense per-pixel grasp predictions; every tensor is (B, 1, H, W) at the input's H, W.

    Attributes:
        q: grasp quality, the raw network output with no activation; each loss decides how to read
            it (a regression target, or logits of a softmax over pixels for MLGSL). (B, K, H, W)
            for a model built with K ``angle_bins``: a quality per angle bin.
        cos2: cos(2 * angle) of the closing axis.
        sin2: sin(2 * angle) of the closing axis.
        opening: gripper opening in pixels divided by 150 (``graspbench.planners.dataset.OPENING_SCALE_PX``).
        aux: MTG-CNN's auxiliary map (depth reconstruction or saliency, raw output); None when the
            auxiliary branch was not run (inference) or the model has none.
        priority: GP-Net's grasp priority P in [0, 1]; None for every other model and for GP-Net
            without its priority head.
    """

    q: Tensor
    cos2: Tensor
    sin2: Tensor
    opening: Tensor
    aux: Tensor | None = None
    priority: Tensor | None = None

    def grasp_maps(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(q, cos2, sin2, opening), the four maps every model gives."""
        return self.q, self.cos2, self.sin2, self.opening


def check_input_channels(input_channels: object) -> int:
    """Validate the number of input channels (1 depth, 3 RGB, 4 RGB-D; any positive int works)."""
    if isinstance(input_channels, bool) or not isinstance(input_channels, int) or input_channels < 1:
        raise ValueError(
            f"input_channels must be a positive integer (1 for depth, 3 for RGB, 4 for RGB-D), got {input_channels!r}"
        )
    return input_channels


def check_bool(field: str, value: object) -> bool:
    """Validate a boolean switch, naming the field in the error."""
    if not isinstance(value, bool):
        raise ValueError(f"{field} must be True or False, got {value!r}")
    return value


def check_choice(field: str, value: object, choices: tuple[str, ...]) -> str:
    """Validate a string option against its choices, naming the field in the error."""
    if value not in choices:
        raise ValueError(f"{field} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value  # type: ignore[return-value]


def check_probability(field: str, value: object) -> float:
    """Validate a rate in [0, 1), e.g. a dropout probability."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{field} must be a number in [0, 1), got {value!r}")
    return float(value)


def check_input(x: Tensor, input_channels: int, name: str) -> None:
    """Fail early, with the expected shape, on a wrongly shaped input."""
    if x.dim() != 4 or x.shape[1] != input_channels:
        raise ValueError(f"{name} expects a (B, {input_channels}, H, W) tensor, got shape {tuple(x.shape)}")


def match_size(x: Tensor, height: int, width: int) -> Tensor:
    """Bring a decoder output to exactly (height, width).

    A larger map is cropped at the bottom/right: with symmetric padding in encoder and decoder the
    top-left pixels stay aligned with the input's. A smaller one (no architecture here produces
    one for H, W divisible by 8) is resized bilinearly.
    """
    if x.shape[-2] >= height and x.shape[-1] >= width:
        return x[..., :height, :width]
    return F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)


class GraspHeads(nn.Module):
    """Separate 1x1 convolutions for q, cos2, sin2, opening (and optionally priority).

    No activation on the four grasp maps (the losses decide how to read them); priority, when
    present, goes through a sigmoid so that it is a weight in [0, 1], as GP-Net's Q* = Q * P needs.
    """

    def __init__(self, in_channels: int, priority: bool = False):
        super().__init__()
        self.q = nn.Conv2d(in_channels, 1, kernel_size=1)
        self.cos2 = nn.Conv2d(in_channels, 1, kernel_size=1)
        self.sin2 = nn.Conv2d(in_channels, 1, kernel_size=1)
        self.opening = nn.Conv2d(in_channels, 1, kernel_size=1)
        self.priority = nn.Conv2d(in_channels, 1, kernel_size=1) if priority else None

    def forward(self, features: Tensor, height: int, width: int) -> GraspMaps:
        """Apply the heads and bring every map to (height, width)."""

        def head(conv: nn.Module) -> Tensor:
            return match_size(conv(features), height, width)

        priority = None if self.priority is None else torch.sigmoid(head(self.priority))
        return GraspMaps(
            q=head(self.q),
            cos2=head(self.cos2),
            sin2=head(self.sin2),
            opening=head(self.opening),
            priority=priority,
        )


class SpatialAttention(nn.Module):
    """CBAM's spatial attention module (SAM, Woo et al. 2018), as the MLGSL paper adds it.

    Max and mean over the channel axis, a 7x7 convolution of those two maps, a sigmoid, and the
    features multiplied by the resulting (B, 1, H, W) attention map. 98 parameters.
    """

    def __init__(self, kernel_size: int = SAM_KERNEL_SIZE):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(pooled))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
