"""A network's input, the same when it trains (:class:`~graspbench.planners.dataset.GraspDataset`)
and when it plans (:class:`~graspbench.planners.agent.NetworkAgent`): GG-CNN's normalised depth
and colour, stacked as the input kind (depth, rgb or rgbd) says."""

from __future__ import annotations

import numpy as np

from .train_args import INPUTS

DEPTH_CLIP_M = 1.0  # GG-CNN input: depth minus its mean, clipped to [-1, 1] (REFERENCE, Inputs)
RGB_SCALE = 255.0  # GG-CNN input: uint8 colour / 255 before subtracting the mean (REFERENCE, Inputs)


def normalise_depth(depth_m: np.ndarray) -> np.ndarray:
    """GG-CNN's depth input: metres minus the image mean, clipped to [-1, 1].

    Args:
        depth_m: (H, W) depth in metres.

    Returns:
        (H, W) float32.
    """
    depth = depth_m.astype(np.float64)
    return np.clip(depth - depth.mean(), -DEPTH_CLIP_M, DEPTH_CLIP_M).astype(np.float32)


def normalise_rgb(rgb: np.ndarray) -> np.ndarray:
    """GG-CNN's colour input: / 255 minus the per-channel image mean, channels first.

    Args:
        rgb: (H, W, 3) uint8.

    Returns:
        (3, H, W) float32.
    """
    colour = rgb.astype(np.float64) / RGB_SCALE
    colour -= colour.mean(axis=(0, 1))
    return colour.transpose(2, 0, 1).astype(np.float32)


def model_input(kind: str, depth_m: np.ndarray | None = None, rgb: np.ndarray | None = None) -> np.ndarray:
    """A network's (C, H, W) float32 input: normalised depth, rgb, or depth then rgb (``kind``)."""
    channels = []
    if kind in ("depth", "rgbd"):
        channels.append(normalise_depth(depth_m)[None])
    if kind in ("rgb", "rgbd"):
        channels.append(normalise_rgb(rgb))
    if not channels:
        raise ValueError(f"input {kind!r} is not one of {INPUTS}")
    return np.concatenate(channels)
