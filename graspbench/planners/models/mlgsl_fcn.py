"""The fully-convolutional network of the MLGSL paper, with optional spatial attention (SAM)."""

from __future__ import annotations

from torch import Tensor, nn

from .common import GraspHeads, GraspMaps, SpatialAttention, check_choice, check_input, check_input_channels
from .ggcnn import GGCNN2_FILTERS, ggcnn2_dilated_layers, ggcnn2_down_layers, transposed_up_layers

SAM_PLACEMENTS = ("none", "down", "up", "all")
"""Where SAM blocks go: nowhere, after each downsampling layer, after each upsampling layer, or
after every layer (down, dilated and up): the four variants the paper compares."""


def with_attention(layers: list[nn.Module], enabled: bool) -> list[nn.Module]:
    """Insert a SAM block after every activation of ``layers`` (so before any pooling) if enabled."""
    if not enabled:
        return layers
    result: list[nn.Module] = []
    for layer in layers:
        result.append(layer)
        if isinstance(layer, nn.ReLU):
            result.append(SpatialAttention())
    return result


class MLGSLFCN(nn.Module):
    """The FCN of "Learn to Grasp with Less Supervision" (MLGSL; Zhu et al., 2021), section III-C.

    Four downsampling layers with kernels 11, 5, 5, 5 (16 filters, ReLU) with a 2x max-pool after
    the second and the fourth, so the bottleneck is at 1/4 resolution like GG-CNN2 (the paper
    says "activated by ReLU and max-pooling" without placing the pools; two pools are what the
    two stride-2 upsampling layers undo); two 5x5 dilated layers with dilations 2 and 4 (32
    filters); two 3x3 stride-2 transposed convolutions (16 filters, ReLU); four 1x1 heads with
    no activation. The paper gives no filter counts; GG-CNN2's are used, which it says it follows.

    ``sam`` adds CBAM spatial attention modules (98 parameters each) after the activation of the
    chosen layers: 4 for "down", 2 for "up", 8 for "all".

    Parameters for depth input: 66,676 with sam="none", 67,068 "down", 66,872 "up", 67,460 "all".

    Args:
        input_channels: 1 (depth), 3 (RGB) or 4 (RGB-D).
        sam: "none", "down", "up" or "all".
    """

    name = "mlgsl_fcn"

    def __init__(self, input_channels: int = 1, sam: str = "none"):
        super().__init__()
        self.input_channels = check_input_channels(input_channels)
        self.sam = check_choice("sam", sam, SAM_PLACEMENTS)
        self.config = {"name": self.name, "input_channels": self.input_channels, "sam": self.sam}

        down = with_attention(ggcnn2_down_layers(self.input_channels), sam in ("down", "all"))
        dilated = with_attention(ggcnn2_dilated_layers(GGCNN2_FILTERS), sam == "all")
        up = with_attention(transposed_up_layers(), sam in ("up", "all"))
        self.body = nn.Sequential(*down, *dilated, *up)
        self.heads = GraspHeads(GGCNN2_FILTERS)

    def forward(self, x: Tensor) -> GraspMaps:
        """Predict grasp maps for a (B, C, H, W) image; q is the logit map MLGSL's softmax reads."""
        check_input(x, self.input_channels, type(self).__name__)
        return self.heads(self.body(x), x.shape[-2], x.shape[-1])
