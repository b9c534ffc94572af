"""The networks the strategies add to GG-CNN: DAL's discriminator on the shared encoder, Learning
Loss's loss predictor, VAAL's VAE and adversary; and the encoder's image features.

GG-CNN and GG-CNN2 are ``heads(body(x))`` with ``body`` a flat ``nn.Sequential``; their encoder is
the part of ``body`` before the first upsampling layer (a transposed convolution in GG-CNN, a
bilinear upsample in GG-CNN2).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

FEATURES = 128
"""length of an image's feature vector: the encoder's output averaged over a grid of about
FEATURES / channels cells (GG-CNN: 8 channels x 4 x 4; GG-CNN2: 32 x 2 x 2)"""
DISCRIMINATOR_HIDDEN = 16
"""DAL's MLP: FEATURES -> 16 -> 1, 2,081 parameters (the paper: "about 2k")"""
LOSS_PREDICTOR_WIDTH = 128
"""Learning Loss: each feature block -> global average pool -> FC 128 -> ReLU (Yoo & Kweon)"""
VAE_SIZE_PX = 64
"""VAAL sees the depth image resized to 64 x 64 (its paper's VAE takes 32 to 128 px images)"""
VAE_CHANNELS = (32, 64, 128, 256)
"""VAAL's VAE: four 4x4 stride-2 convolutions (64 -> 4 px), mirrored by the decoder; VAAL's own
is twice as wide (128 ... 1024), too slow on a CPU for one VAE per round and trial"""
VAE_LATENT = 32
"""VAAL's latent size (sinhasam/vaal)"""
ADVERSARY_HIDDEN = 512
"""VAAL's discriminator: latent -> 512 -> 512 -> 1"""
SUPPORTED_MODELS = ("ggcnn", "ggcnn2")


def encoder_length(model: nn.Module) -> int:
    """How many layers of ``model.body`` form the encoder: those before the first upsampling layer."""
    body = getattr(model, "body", None)
    if not isinstance(body, nn.Sequential):
        raise ValueError(
            f"model {model.config.get('name')!r} has no flat body; active learning supports "
            f"{', '.join(SUPPORTED_MODELS)}"
        )
    for index, layer in enumerate(body):
        if isinstance(layer, (nn.ConvTranspose2d, nn.Upsample)):
            return index
    raise ValueError(f"model {model.config.get('name')!r} has no upsampling layer to split its encoder at")


def encode(model: nn.Module, x: Tensor) -> Tensor:
    """The encoder's output (B, C, h, w)."""
    return model.body[: encoder_length(model)](x)


def pooled(encoded: Tensor) -> Tensor:
    """(B, C, h, w) -> (B, about FEATURES): averages over a coarse grid, so that where things are
    in the image still shows (a global average of GG-CNN's 8 channels would keep only 8 numbers)."""
    side = max(1, round(math.sqrt(FEATURES / encoded.shape[1])))
    return F.adaptive_avg_pool2d(encoded, side).flatten(1)


def features(model: nn.Module, x: Tensor, batch_size: int = 32) -> Tensor:
    """The pooled encoder features of many images, without gradients, in evaluation mode."""
    model.eval()
    with torch.no_grad():
        return torch.cat([pooled(encode(model, x[i : i + batch_size])) for i in range(0, len(x), batch_size)])


def feature_size(model: nn.Module, input_channels: int) -> int:
    with torch.no_grad():
        return pooled(encode(model, torch.zeros(1, input_channels, 96, 96))).shape[1]


def forward_with_blocks(model: nn.Module, x: Tensor):
    """GraspMaps plus the output of every ReLU of the body (Learning Loss's feature blocks)."""
    blocks = []
    out = x
    for layer in model.body:
        out = layer(out)
        if isinstance(layer, nn.ReLU):
            blocks.append(out)
    return model.heads(out, x.shape[-2], x.shape[-1]), blocks


class Discriminator(nn.Module):
    """DAL's active-learning discriminator: pooled shared-encoder features -> logit of "labelled"."""

    def __init__(self, in_features: int = FEATURES, hidden: int = DISCRIMINATOR_HIDDEN):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 1))

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).squeeze(1)


class LossPredictor(nn.Module):
    """Learning Loss's loss-prediction module: per feature block GAP -> FC -> ReLU, concatenated, linear."""

    def __init__(self, block_channels: list[int], width: int = LOSS_PREDICTOR_WIDTH):
        super().__init__()
        self.fcs = nn.ModuleList(nn.Linear(c, width) for c in block_channels)
        self.out = nn.Linear(width * len(block_channels), 1)

    def forward(self, blocks: list[Tensor]) -> Tensor:
        hidden = [F.relu(fc(block.mean(dim=(2, 3)))) for fc, block in zip(self.fcs, blocks)]
        return self.out(torch.cat(hidden, dim=1)).squeeze(1)


def block_channels(model: nn.Module, input_channels: int) -> list[int]:
    with torch.no_grad():
        _, blocks = forward_with_blocks(model, torch.zeros(1, input_channels, 96, 96))
    return [b.shape[1] for b in blocks]


def ranking_loss(predicted: Tensor, target: Tensor, margin: float = 1.0) -> Tensor:
    """Learning Loss's pairwise margin ranking loss: the batch's first half against its reversed
    second half; for each pair the predictor must order the two losses as they are, by ``margin``.
    An odd last item is left out."""
    half = len(predicted) // 2
    if half == 0:
        return predicted.sum() * 0.0
    predicted_diff = predicted[:half] - predicted[half : 2 * half].flip(0)
    target_diff = (target[:half] - target[half : 2 * half].flip(0)).detach()
    sign = 2 * (target_diff > 0).to(predicted.dtype) - 1
    return torch.clamp(margin - sign * predicted_diff, min=0).mean()


def vae_input(x: Tensor) -> Tensor:
    """The first (depth) channel of network inputs, resized to VAE_SIZE_PX and clipped to [-1, 1]."""
    return F.interpolate(x[:, :1], size=(VAE_SIZE_PX, VAE_SIZE_PX), mode="area").clamp(-1, 1)


class VAE(nn.Module):
    """VAAL's VAE, narrowed for a CPU (VAE_CHANNELS): image -> (mu, logvar) -> reconstruction."""

    def __init__(self, latent: int = VAE_LATENT, channels=VAE_CHANNELS):
        super().__init__()
        layers, previous = [], 1
        for c in channels:
            layers += [nn.Conv2d(previous, c, 4, stride=2, padding=1), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            previous = c
        self.encoder = nn.Sequential(*layers)
        self.side = VAE_SIZE_PX // 2 ** len(channels)
        flat = channels[-1] * self.side**2
        self.mu = nn.Linear(flat, latent)
        self.logvar = nn.Linear(flat, latent)
        self.expand = nn.Linear(latent, flat)
        layers = []
        for c_in, c_out in zip(channels[::-1], channels[::-1][1:]):
            layers += [
                nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
        layers.append(nn.ConvTranspose2d(channels[0], 1, 4, stride=2, padding=1))
        self.decoder = nn.Sequential(*layers)
        self.channels = channels

    def forward(self, x: Tensor):
        h = self.encoder(x).flatten(1)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        reconstruction = self.decoder(self.expand(z).view(-1, self.channels[-1], self.side, self.side))
        return reconstruction, mu, logvar


class Adversary(nn.Module):
    """VAAL's discriminator on the VAE's latent mean: logit of "labelled"."""

    def __init__(self, latent: int = VAE_LATENT, hidden: int = ADVERSARY_HIDDEN):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, 1),
        )

    def forward(self, mu: Tensor) -> Tensor:
        return self.net(mu).squeeze(1)
