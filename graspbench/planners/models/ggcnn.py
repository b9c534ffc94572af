"""GG-CNN and GG-CNN2 (Morrison et al.), the generative grasping FCNs the other families build on."""

from __future__ import annotations

from torch import Tensor, nn

from .common import GraspHeads, GraspMaps, check_input, check_input_channels

# GG-CNN (Morrison, Corke, Leitner, RSS 2018): (filters, kernel, stride) per layer.
GGCNN_ENCODER = ((32, 9, 3), (16, 5, 2), (8, 3, 2))
GGCNN_DECODER = ((8, 3, 2), (16, 5, 2), (32, 9, 3))

# GG-CNN2 (Morrison, Corke, Leitner, IJRR 2019), also the shape of the MLGSL and MTG-CNN networks.
GGCNN2_FILTERS = 16
GGCNN2_DILATED_FILTERS = 32
GGCNN2_DOWN_KERNELS = (11, 5, 5, 5)  # a 2x max-pool follows the 2nd and the 4th layer
GGCNN2_POOL_AFTER = (1, 3)  # indices into GGCNN2_DOWN_KERNELS
GGCNN2_DILATED_KERNEL = 5
GGCNN2_DILATIONS = (2, 4)
GGCNN2_UP_KERNEL = 3
GGCNN2_UP_LAYERS = 2  # each doubles the resolution: /4 -> full size
POOL_SIZE = 2


def same_padding(kernel_size: int, dilation: int = 1) -> int:
    """Padding that keeps the size of a stride-1 convolution with an odd kernel."""
    return dilation * (kernel_size - 1) // 2


def ggcnn2_down_layers(input_channels: int, filters: int = GGCNN2_FILTERS) -> list[nn.Module]:
    """GG-CNN2's first half: conv 11, conv 5, max-pool, conv 5, conv 5, max-pool, all ReLU.

    Returned as a flat list (conv, ReLU, [pool]) so that callers can interleave attention blocks.
    """
    layers: list[nn.Module] = []
    channels = input_channels
    for index, kernel in enumerate(GGCNN2_DOWN_KERNELS):
        layers += [nn.Conv2d(channels, filters, kernel, padding=same_padding(kernel)), nn.ReLU(inplace=True)]
        if index in GGCNN2_POOL_AFTER:
            layers.append(nn.MaxPool2d(POOL_SIZE))
        channels = filters
    return layers


def ggcnn2_dilated_layers(in_channels: int, filters: int = GGCNN2_DILATED_FILTERS) -> list[nn.Module]:
    """Two 5x5 dilated convolutions (dilation 2 then 4) with ReLU: the receptive field grows, the size stays."""
    layers: list[nn.Module] = []
    channels = in_channels
    for dilation in GGCNN2_DILATIONS:
        layers += [
            nn.Conv2d(
                channels,
                filters,
                GGCNN2_DILATED_KERNEL,
                dilation=dilation,
                padding=same_padding(GGCNN2_DILATED_KERNEL, dilation),
            ),
            nn.ReLU(inplace=True),
        ]
        channels = filters
    return layers


def transposed_up_layer(in_channels: int, out_channels: int, kernel_size: int = GGCNN2_UP_KERNEL) -> nn.ConvTranspose2d:
    """A transposed convolution with stride 2 that exactly doubles H and W (odd kernel)."""
    return nn.ConvTranspose2d(
        in_channels,
        out_channels,
        kernel_size,
        stride=2,
        padding=kernel_size // 2,
        output_padding=1,
    )


def transposed_up_layers(in_channels: int = GGCNN2_DILATED_FILTERS) -> list[nn.Module]:
    """The upsampling of the MLGSL and MTG-CNN networks (GG-CNN2's own is bilinear): two 3x3
    stride-2 transposed convolutions (16 filters) with ReLU, back to full size from 1/4."""
    layers: list[nn.Module] = []
    channels = in_channels
    for _ in range(GGCNN2_UP_LAYERS):
        layers += [transposed_up_layer(channels, GGCNN2_FILTERS), nn.ReLU(inplace=True)]
        channels = GGCNN2_FILTERS
    return layers


class GGCNN(nn.Module):
    """GG-CNN, the generative grasping CNN of Morrison, Corke and Leitner (RSS 2018).

    Encoder: conv 9x9 stride 3 (32), conv 5x5 stride 2 (16), conv 3x3 stride 2 (8), ReLU; decoder:
    transposed convolutions mirroring it (8, 16, 32), ReLU; four separate 1x1 heads (Q, cos 2θ,
    sin 2θ, opening) with no activation. The decoder's output is at least the input size (a
    multiple of 12 pixels) and is cropped back to exactly H x W.

    Parameters: 62,036 for depth input (the paper: about 62k), 67,220 for RGB, 69,812 for RGB-D.

    Args:
        input_channels: 1 (depth), 3 (RGB) or 4 (RGB-D).
    """

    name = "ggcnn"

    def __init__(self, input_channels: int = 1):
        super().__init__()
        self.input_channels = check_input_channels(input_channels)
        self.config = {"name": self.name, "input_channels": self.input_channels}

        layers: list[nn.Module] = []
        channels = self.input_channels
        for filters, kernel, stride in GGCNN_ENCODER:
            layers += [nn.Conv2d(channels, filters, kernel, stride=stride, padding=kernel // 2), nn.ReLU(inplace=True)]
            channels = filters
        for filters, kernel, stride in GGCNN_DECODER:
            # output_padding = stride - 1 makes each layer multiply the size by exactly `stride`.
            layers += [
                nn.ConvTranspose2d(
                    channels, filters, kernel, stride=stride, padding=kernel // 2, output_padding=stride - 1
                ),
                nn.ReLU(inplace=True),
            ]
            channels = filters
        self.body = nn.Sequential(*layers)
        self.heads = GraspHeads(channels)

    def forward(self, x: Tensor) -> GraspMaps:
        """Predict grasp maps for a (B, C, H, W) image."""
        check_input(x, self.input_channels, type(self).__name__)
        return self.heads(self.body(x), x.shape[-2], x.shape[-1])


class GGCNN2(nn.Module):
    """GG-CNN2, the larger GG-CNN of Morrison, Corke and Leitner (IJRR 2019).

    conv 11x11 (16), conv 5x5 (16), max-pool 2, conv 5x5 (16), conv 5x5 (16), max-pool 2, dilated
    5x5 convs with dilation 2 and 4 (32), then twice bilinear x2 upsampling + conv 3x3 (16), ReLU
    after every convolution, and four 1x1 heads with no activation. Same-size output for H, W
    divisible by 4.

    Parameters: 66,676 for depth input (the paper: about 67k), 70,548 for RGB, 72,484 for RGB-D.

    Args:
        input_channels: 1 (depth), 3 (RGB) or 4 (RGB-D).
    """

    name = "ggcnn2"

    def __init__(self, input_channels: int = 1):
        super().__init__()
        self.input_channels = check_input_channels(input_channels)
        self.config = {"name": self.name, "input_channels": self.input_channels}

        layers = ggcnn2_down_layers(self.input_channels)
        layers += ggcnn2_dilated_layers(GGCNN2_FILTERS)
        channels = GGCNN2_DILATED_FILTERS
        for _ in range(GGCNN2_UP_LAYERS):
            layers += [
                nn.Upsample(scale_factor=POOL_SIZE, mode="bilinear", align_corners=False),
                nn.Conv2d(channels, GGCNN2_FILTERS, GGCNN2_UP_KERNEL, padding=same_padding(GGCNN2_UP_KERNEL)),
                nn.ReLU(inplace=True),
            ]
            channels = GGCNN2_FILTERS
        self.body = nn.Sequential(*layers)
        self.heads = GraspHeads(channels)

    def forward(self, x: Tensor) -> GraspMaps:
        """Predict grasp maps for a (B, C, H, W) image."""
        check_input(x, self.input_channels, type(self).__name__)
        return self.heads(self.body(x), x.shape[-2], x.shape[-1])
