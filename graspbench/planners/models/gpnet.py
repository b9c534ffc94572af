"""GP-Net (Yang et al.): a lightweight generative grasp network with grasp priority."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .common import GraspHeads, GraspMaps, check_bool, check_input, check_input_channels

# Feature extraction, (filters, kernel, stride): 224 -> 112 -> 56 -> 56, each conv + BN + ReLU.
GPNET_ENCODER = ((32, 9, 2), (64, 4, 2), (128, 3, 1))
# Generation block, transposed convs (filters, kernel, stride): 56 -> 56 -> 112 -> 224, + BN + ReLU.
GPNET_DECODER = ((64, 3, 1), (32, 4, 2), (32, 4, 2))
CGC_KERNEL = 3
SCCONV_POOL = 4  # down-sampling rate of the self-calibration's latent space (SCNet's r)
GC_REDUCTION = 4  # bottleneck ratio of the global-context transform (GCNet's r)


def conv_bn(in_channels: int, out_channels: int, kernel_size: int = CGC_KERNEL) -> nn.Sequential:
    """Size-preserving convolution followed by BatchNorm."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
    )


def stage_padding(kernel_size: int, stride: int) -> int:
    """Padding under which a conv divides, and a transposed conv multiplies, H and W by ``stride``."""
    return (kernel_size - stride + 1) // 2


class SelfCalibratedConv(nn.Module):
    """Self-calibrated convolution (Liu et al., CVPR 2020), the W2, W3, W4 of GP-Net's figure 3.

    W2 runs in a latent space down-sampled by ``pool``; its output, upsampled back and added to the
    input, gates through a sigmoid the original-scale features W3(x); W4 transforms the result.
    """

    def __init__(self, channels: int, pool: int = SCCONV_POOL):
        super().__init__()
        self.pool = pool
        self.w2 = conv_bn(channels, channels)
        self.w3 = conv_bn(channels, channels)
        self.w4 = conv_bn(channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        latent = F.avg_pool2d(x, self.pool, stride=self.pool, ceil_mode=True)
        reference = F.interpolate(self.w2(latent), size=x.shape[-2:], mode="nearest")
        calibrated = self.w3(x) * torch.sigmoid(x + reference)
        return F.relu(self.w4(calibrated))


class GlobalContext(nn.Module):
    """Global-context block (Cao et al., GCNet 2019): one attention map shared by all positions.

    A 1x1 conv scores every position, a softmax over positions turns the scores into weights, the
    weighted sum of the features is the (B, C, 1, 1) context, a bottleneck transform
    (1x1 conv, LayerNorm, ReLU, 1x1 conv) maps it, and it is added back to every position.
    """

    def __init__(self, channels: int, reduction: int = GC_REDUCTION):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.context_score = nn.Conv2d(channels, 1, kernel_size=1)
        self.transform = nn.Sequential(
            nn.Conv2d(channels, hidden, kernel_size=1),
            nn.LayerNorm([hidden, 1, 1]),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, kernel_size=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        batch, channels = x.shape[:2]
        weights = torch.softmax(self.context_score(x).flatten(1), dim=1)  # (B, HW)
        context = torch.bmm(x.flatten(2), weights.unsqueeze(2))  # (B, C, 1)
        return x + self.transform(context.view(batch, channels, 1, 1))


class CalibratedGlobalContext(nn.Module):
    """GP-Net's calibrated global context (CGC) module, section 3.2.1.

    The channels are split in two halves: one goes through a self-calibrated convolution and a
    global-context block (deeper features, larger receptive field, long-range dependencies), the
    other through a plain conv + BN + ReLU that preserves the upstream representation; the two
    are concatenated back to the input width.
    """

    def __init__(self, channels: int):
        super().__init__()
        if channels % 2:
            raise ValueError(f"CalibratedGlobalContext needs an even channel count, got {channels}")
        half = channels // 2
        self.calibrated = nn.Sequential(SelfCalibratedConv(half), GlobalContext(half))
        self.plain = nn.Sequential(conv_bn(half, half), nn.ReLU(inplace=True))

    def forward(self, x: Tensor) -> Tensor:
        upper, lower = torch.chunk(x, 2, dim=1)
        return torch.cat([self.calibrated(upper), self.plain(lower)], dim=1)


class GPNet(nn.Module):
    """GP-Net, the grasp-priority network of Yang, Xing, Zhang and Tao (sections 3.2-3.3).

    Feature extraction (conv 9x9/2 (32), 4x4/2 (64), 3x3 (128), each BN + ReLU: 224 -> 112 -> 56
    -> 56), the CGC module at 1/4 resolution, a generation block of transposed convs (3x3 (64),
    4x4/2 (32), 4x4/2 (32), each BN + ReLU: 56 -> 56 -> 112 -> 224) and 1x1 heads for q, cos2,
    sin2, opening (no activation) and the grasp priority P (sigmoid, so P is in [0, 1] and
    Q* = Q * P only re-weights Q; see ``quality_star``). The paper gives no layer widths; these
    follow GR-ConvNet's, the network it is compared with, without the residual stack.

    Parameters for depth input: 383,382 (cgc=True, gpp=True); 383,349 with gpp=False;
    380,901 with cgc=False; 391,158 for RGB-D. The paper does not give a count.

    Args:
        input_channels: 1 (depth), 3 (RGB) or 4 (RGB-D, the paper's best).
        cgc: False replaces the CGC module by a plain conv 3x3 + BN + ReLU of similar cost (the
            paper's "No CGC" ablation).
        gpp: False drops the priority head (``priority`` is None; the paper's "No GPP" ablation).
    """

    name = "gpnet"

    def __init__(self, input_channels: int = 1, cgc: bool = True, gpp: bool = True):
        super().__init__()
        self.input_channels = check_input_channels(input_channels)
        self.cgc = check_bool("cgc", cgc)
        self.gpp = check_bool("gpp", gpp)
        self.config = {"name": self.name, "input_channels": self.input_channels, "cgc": self.cgc, "gpp": self.gpp}

        self.features, channels = _stages(nn.Conv2d, self.input_channels, GPNET_ENCODER)
        if self.cgc:
            self.attention: nn.Module = CalibratedGlobalContext(channels)
        else:
            self.attention = nn.Sequential(conv_bn(channels, channels), nn.ReLU(inplace=True))
        self.generation, channels = _stages(nn.ConvTranspose2d, channels, GPNET_DECODER)
        self.heads = GraspHeads(channels, priority=self.gpp)

    def forward(self, x: Tensor) -> GraspMaps:
        """Predict grasp maps (and the priority map when ``gpp``) for a (B, C, H, W) image."""
        check_input(x, self.input_channels, type(self).__name__)
        features = self.generation(self.attention(self.features(x)))
        return self.heads(features, x.shape[-2], x.shape[-1])


def quality_star(maps: GraspMaps) -> Tensor:
    """GP-Net's Q* = Q * P, the quality that ranks grasps; plain Q when there is no priority map."""
    return maps.q if maps.priority is None else maps.q * maps.priority


def _stages(conv, channels: int, stages) -> tuple[nn.Sequential, int]:
    """(conv, BatchNorm, ReLU) per (filters, kernel, stride) stage; returns them and the last width."""
    layers: list[nn.Module] = []
    for filters, kernel, stride in stages:
        layers += [
            conv(channels, filters, kernel, stride=stride, padding=stage_padding(kernel, stride)),
            nn.BatchNorm2d(filters),
            nn.ReLU(inplace=True),
        ]
        channels = filters
    return nn.Sequential(*layers), channels
