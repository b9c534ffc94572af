"""GR-ConvNet (Kumra, Joshi, Sahin, IROS 2020), the residual generative grasping network."""

from __future__ import annotations

from torch import Tensor, nn

from .common import GraspHeads, GraspMaps, check_input, check_input_channels, check_probability

# (filters, kernel, stride) of the encoder; each conv is followed by BatchNorm + ReLU.
GRCONVNET_ENCODER = ((32, 9, 1), (64, 4, 2), (128, 4, 2))
GRCONVNET_RESIDUAL_BLOCKS = 5
GRCONVNET_RESIDUAL_KERNEL = 3
# (filters, kernel, stride) of the transposed-conv decoder, mirroring the encoder.
GRCONVNET_DECODER = ((64, 4, 2), (32, 4, 2), (32, 9, 1))
GRCONVNET_DROPOUT = 0.1


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int, stride: int) -> nn.Sequential:
    """Convolution, BatchNorm, ReLU. Even kernels with stride 2 and padding k/2 - 1 halve H, W exactly."""
    return _bn_relu(nn.Conv2d, in_channels, out_channels, kernel_size, stride)


def deconv_bn_relu(in_channels: int, out_channels: int, kernel_size: int, stride: int) -> nn.Sequential:
    """Transposed convolution, BatchNorm, ReLU; multiplies H, W by exactly ``stride``."""
    return _bn_relu(nn.ConvTranspose2d, in_channels, out_channels, kernel_size, stride)


def _bn_relu(conv, in_channels: int, out_channels: int, kernel_size: int, stride: int) -> nn.Sequential:
    """``conv`` (a convolution or a transposed one) followed by BatchNorm and ReLU, padded
    alike: the encoder's and the decoder's layers mirror each other."""
    padding = (kernel_size - stride + 1) // 2
    return nn.Sequential(
        conv(in_channels, out_channels, kernel_size, stride=stride, padding=padding),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class ResidualBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus the identity, at constant width and size."""

    def __init__(self, channels: int, kernel_size: int = GRCONVNET_RESIDUAL_KERNEL):
        super().__init__()
        padding = kernel_size // 2
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size, padding=padding),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, kernel_size, padding=padding),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class GRConvNet(nn.Module):
    """GR-ConvNet, the generative residual convolutional network of Kumra, Joshi and Sahin (IROS 2020).

    conv 9x9 (32), conv 4x4 stride 2 (64), conv 4x4 stride 2 (128), each with BatchNorm + ReLU;
    five residual blocks at 128 channels and 1/4 resolution; transposed convs 4x4 stride 2 (64),
    4x4 stride 2 (32) and 9x9 (32) with BatchNorm + ReLU back to full size; dropout on the features
    feeding the four 1x1 heads (no output activation). Same-size output for H, W divisible by 4.

    Parameters: 1,892,804 for depth input (the paper: about 1.9M), 1,900,580 for RGB-D.

    Args:
        input_channels: 1 (depth), 3 (RGB) or 4 (RGB-D).
        dropout: dropout probability before the heads (the paper: 0.1); 0 disables it.
    """

    name = "grconvnet"

    def __init__(self, input_channels: int = 1, dropout: float = GRCONVNET_DROPOUT):
        super().__init__()
        self.input_channels = check_input_channels(input_channels)
        self.dropout_p = check_probability("dropout", dropout)
        self.config = {"name": self.name, "input_channels": self.input_channels, "dropout": self.dropout_p}

        layers: list[nn.Module] = []
        channels = self.input_channels
        for filters, kernel, stride in GRCONVNET_ENCODER:
            layers.append(conv_bn_relu(channels, filters, kernel, stride))
            channels = filters
        layers += [ResidualBlock(channels) for _ in range(GRCONVNET_RESIDUAL_BLOCKS)]
        for filters, kernel, stride in GRCONVNET_DECODER:
            layers.append(deconv_bn_relu(channels, filters, kernel, stride))
            channels = filters
        self.body = nn.Sequential(*layers)
        self.dropout = nn.Dropout(self.dropout_p)
        self.heads = GraspHeads(channels)

    def forward(self, x: Tensor) -> GraspMaps:
        """Predict grasp maps for a (B, C, H, W) image."""
        check_input(x, self.input_channels, type(self).__name__)
        return self.heads(self.dropout(self.body(x)), x.shape[-2], x.shape[-1])
