"""The papers' fully-convolutional grasp networks, one file per family, and a registry.

Every model takes a (B, C, H, W) float image (C = 1 depth, 3 RGB, 4 RGB-D; H, W divisible by 8)
and returns :class:`GraspMaps` at the same H, W. Every model keeps the arguments it was built with
in ``model.config`` (plain values, ``name`` and ``input_channels`` included), so a checkpoint
rebuilds it with ``build_model(**config)``.

Example:
    >>> import torch
    >>> model = build_model("ggcnn2", input_channels=1)
    >>> maps = model(torch.zeros(1, 1, 224, 224))
    >>> maps.q.shape
    torch.Size([1, 1, 224, 224])
"""

from __future__ import annotations

import inspect

import torch
from torch import nn

from .common import GraspMaps, count_parameters
from .ggcnn import GGCNN, GGCNN2
from .gpnet import GPNet, quality_star
from .grconvnet import GRConvNet
from .mlgsl_fcn import MLGSLFCN
from .mtgcnn import MTGCNN

MODELS: dict[str, type[nn.Module]] = {
    "ggcnn": GGCNN,
    "ggcnn2": GGCNN2,
    "grconvnet": GRConvNet,
    "mlgsl_fcn": MLGSLFCN,
    "mtgcnn": MTGCNN,
    "gpnet": GPNet,
}
"""Model name -> class; the name is also ``model.config["name"]``."""


def build_model(name: str, input_channels: int, angle_bins: int = 0, **config) -> nn.Module:
    """Build a registered grasp network.

    Args:
        name: a key of ``MODELS``.
        input_channels: 1 (depth), 3 (RGB) or 4 (RGB-D).
        angle_bins: K > 0 gives the q head K channels, a quality per angle bin (the targets
            ``q_bins`` of :class:`~graspbench.planners.dataset.GraspDataset`); 0: one q per pixel, as
            in the papers.
        **config: the model's own options (see each class), e.g. ``sam="down"`` for
            ``mlgsl_fcn`` or ``gpp=False`` for ``gpnet``.

    Returns:
        The model, in training mode, with ``model.config`` equal to these arguments plus defaults.

    Raises:
        ValueError: unknown name (the message lists the choices), an option the model does not
            take (the message lists those it takes), or a bad value (the message names the field).
    """
    if name not in MODELS:
        raise ValueError(f"unknown model name {name!r}; choose one of: {', '.join(MODELS)}")
    cls = MODELS[name]
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "input_channels")]
    unknown = sorted(set(config) - set(accepted))
    if unknown:
        options = ", ".join(accepted) if accepted else "none"
        raise ValueError(f"model {name!r} has no option(s) {', '.join(unknown)}; its options: {options}")
    if isinstance(angle_bins, bool) or not isinstance(angle_bins, int) or angle_bins < 0 or angle_bins == 1:
        raise ValueError(f"angle_bins must be 0 (one q per pixel) or at least 2, got {angle_bins!r}")
    model = cls(input_channels=input_channels, **config)
    if angle_bins:
        model.heads.q = nn.Conv2d(model.heads.q.in_channels, angle_bins, kernel_size=1)
        model.config["angle_bins"] = angle_bins
    return model


__all__ = [
    "GGCNN",
    "GGCNN2",
    "GPNet",
    "GRConvNet",
    "GraspMaps",
    "MLGSLFCN",
    "MODELS",
    "MTGCNN",
    "build_model",
    "for_inference",
    "count_parameters",
    "quality_star",
]


def for_inference(model: nn.Module) -> nn.Module:
    """Evaluation mode in channels-last memory: oneDNN then skips re-laying out every activation,
    which makes these few-channel networks 2-3 times faster on a CPU. Feed it channels-last inputs
    (``x.to(memory_format=torch.channels_last)``)."""
    return model.eval().to(memory_format=torch.channels_last)
