"""Training losses of the planar FCN planners (GG-CNN family, MLGSL, MTG-CNN, GP-Net, GR-ConvNet).

Every loss is a function ``loss(maps, batch) -> dict[str, Tensor]`` of named scalar terms; the
trainer adds them up with :func:`total` and logs each one. Pick one by name with :func:`make_loss`.

Inputs:

* ``maps``: the network's output, with attributes ``q``, ``cos2``, ``sin2``, ``opening`` (float
  tensors (B, 1, H, W), raw outputs without activation), ``aux`` (tensor (B, 1, H, W) or None: an
  auxiliary head, MTG-CNN) and ``priority`` (tensor (B, 1, H, W) or None: GP-Net's P).
* ``batch``: a dict from :func:`graspbench.planners.dataset.collate`: dense targets ``q``, ``cos2``,
  ``sin2``, ``opening``, ``priority``, ``depth_target``, ``saliency`` (B, 1, H, W), and sparse labels
  ``label_uv`` (B, K, 2) as (u, v) = (column, row) pixels, ``label_angle`` (B, K) radians,
  ``label_opening_px`` (B, K) and ``label_mask`` (B, K), False on padding.

Conventions:

* **Batch reduction**: every term is a per-image value, then the mean over the B images of the
  batch. For the dense terms this is the plain mean over all B * H * W pixels (all images have the
  same size). For the sparse terms (``pixmse``, ``mlgsl``, ``mlgsl_log``) an image's value is the
  mean over its own labels, so an image with 2 labels weighs as much as one with 16; an image
  without labels contributes 0 (and still counts in the batch mean).
* **Labelled pixel**: ``label_uv`` rounded to the nearest pixel (halves up: floor(x + 0.5); pixel
  centres are at integer coordinates, as in the ground-truth rasterisation) and clipped to the image.
* **Padding**: labels with ``label_mask`` False contribute nothing, to the value nor to gradients.
* **Targets at labels**: q = 1, cos 2a, sin 2a and opening_px / ``OPENING_SCALE_PX``, the same
  encoding as the dense ground-truth maps.

Losses (``LOSSES``):

* ``imgmse``: GG-CNN ("ImgMSE" in the MLGSL paper); terms q, cos2, sin2, opening.
* ``pixmse``: the MLGSL paper's PixMSE baseline; terms q, cos2, sin2, opening, at labelled pixels.
* ``mlgsl``: MLGSL, eq. 3; terms pixel, cos2, sin2, opening.
* ``mlgsl_log``: MLGSL+Log; terms pixel, log_angle, log_opening.
* ``positional``: MTG-CNN, eq. 3; terms q, cos2, sin2, opening.
* ``priority``: GP-Net, eq. 3; terms q, cos2, sin2, opening, priority.
* ``smooth_l1``: GR-ConvNet; terms q, cos2, sin2, opening.

``make_loss(name, auxiliary="depth_target")`` (or ``"saliency"``) adds MTG-CNN's auxiliary term
``aux`` = MSE(maps.aux, target) to any of them.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F

from .dataset import OPENING_SCALE_PX

Terms = dict[str, torch.Tensor]
LossFn = Callable[[object, Mapping[str, torch.Tensor]], Terms]

PIXEL_TERMS = ("softmax", "normalized")
DEFAULT_PIXEL_TERM = "softmax"  # REFERENCE: -log softmax is the stable reading of MLGSL's P(p|Q)
# MLGSL "normalized" pixel term: Q = softplus(q) + NORMALIZED_Q_EPS keeps every pixel's share
# positive (softplus underflows to 0 in float32 below about -100), so log(Q_p / sum Q) is finite.
NORMALIZED_Q_EPS = 1e-6
# MLGSL+Log: floor inside log(MSE + eps). It bounds the log's gradient scale 1 / (MSE + eps) to 1e4;
# an MSE of 1e-4 is an opening error of 1.5 px (opening / 150) or about 0.3 degrees of angle.
MLGSL_LOG_EPS = 1e-4
SMOOTH_L1_BETA = 1.0  # GR-ConvNet uses torch's default smooth-L1 (beta 1)
AUXILIARY_TARGETS = ("depth_target", "saliency")
MAP_KEYS = ("q", "cos2", "sin2", "opening")
BINNED_LOSSES = ("imgmse", "mlgsl", "mlgsl_log")  # the losses with a form for a q per angle bin


# ----------------------------------------------------------------------------------------------
# Helpers


def _target(batch: Mapping[str, torch.Tensor], key: str, like: torch.Tensor) -> torch.Tensor:
    """``batch[key]`` on the device and in the dtype of ``like``."""
    if key not in batch:
        raise KeyError(f"the batch has no {key!r}; it should come from graspbench.planners.dataset.collate")
    value = batch[key]
    return value.to(device=like.device, dtype=like.dtype if value.is_floating_point() else value.dtype)


def _mse(prediction: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """mean over pixels and images of (weight * (prediction - target))^2."""
    error = prediction - target
    if weight is not None:
        error = weight * error
    return error.square().mean()


def _per_image_label_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of each image's mean over its real labels.

    Args:
        values: (B, K) per-label values.
        mask: (B, K) bool, False on padding.

    Returns:
        Scalar: mean_b [ sum_k mask_bk * values_bk / max(n_b, 1) ], n_b = number of real labels.
    """
    values = torch.where(mask, values, torch.zeros_like(values))
    count = mask.sum(dim=1).clamp(min=1).to(values.dtype)
    return (values.sum(dim=1) / count).mean()


class _Labels:
    """The batch's sparse labels, gathered for maps of shape (B, 1, H, W)."""

    def __init__(self, batch: Mapping[str, torch.Tensor], like: torch.Tensor):
        bins, height, width = like.shape[-3:]
        uv = _target(batch, "label_uv", like)
        self.mask = batch["label_mask"].to(like.device, torch.bool)
        u = torch.floor(uv[..., 0] + 0.5).long().clamp(0, width - 1)
        v = torch.floor(uv[..., 1] + 0.5).long().clamp(0, height - 1)
        self.index = v * width + u  # (B, K) into the flattened image
        angle = _target(batch, "label_angle", like)
        # Into the flattened (bins, H, W) quality: the pixel in the label's angle bin (bin 0 if one).
        self.quality_index = self.index + height * width * _angle_bin(angle, bins)
        self.cos2 = torch.cos(2 * angle)
        self.sin2 = torch.sin(2 * angle)
        self.opening = _target(batch, "label_opening_px", like) / OPENING_SCALE_PX

    def gather(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) -> (B, K): the map's values at the labelled pixels."""
        return torch.gather(image.flatten(1), 1, self.index)

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        return _per_image_label_mean(values, self.mask)

    def squared_errors(self, maps) -> Terms:
        """(B, K) squared errors of cos2, sin2 and opening at the labelled pixels."""
        return {
            "cos2": (self.gather(maps.cos2) - self.cos2).square(),
            "sin2": (self.gather(maps.sin2) - self.sin2).square(),
            "opening": (self.gather(maps.opening) - self.opening).square(),
        }


def _angle_bin(angle: torch.Tensor, bins: int) -> torch.Tensor:
    """:func:`graspbench.planners.dataset.angle_bin` in torch."""
    return (torch.floor(torch.remainder(angle + math.pi / 2, math.pi) / (math.pi / bins)).long()) % bins


def _quality_mse(maps, batch) -> torch.Tensor:
    """ImgMSE's q term: the mean squared error against ``q``; with a q per angle bin, against
    ``q_bins`` over the (pixel, bin) pairs whose ``q_bins_weight`` is 1 (where the label is known)."""
    if maps.q.shape[1] == 1:
        return _mse(maps.q, _target(batch, "q", maps.q))
    if "q_bins" not in batch or batch["q_bins"].shape[1] != maps.q.shape[1]:
        raise ValueError(
            f"the network has {maps.q.shape[1]} angle bins but the batch has no q_bins with as many: "
            f"make the dataset with GraspDataset(..., angle_bins={maps.q.shape[1]})"
        )
    target, weight = _target(batch, "q_bins", maps.q), _target(batch, "q_bins_weight", maps.q)
    return (weight * (maps.q - target).square()).sum() / weight.sum().clamp(min=1.0)


def _log_pixel_probability(q: torch.Tensor, pixel_term: str) -> torch.Tensor:
    """(B, K, H, W) quality output -> (B, K*H*W) log P(p | Q) over the (bin,) pixels of each image."""
    flat = q.flatten(1)
    if pixel_term == "softmax":
        return F.log_softmax(flat, dim=1)
    if pixel_term == "normalized":
        share = F.softplus(flat) + NORMALIZED_Q_EPS
        return torch.log(share) - torch.log(share.sum(dim=1, keepdim=True))
    raise ValueError(f"unknown MLGSL pixel term {pixel_term!r}; choose one of {PIXEL_TERMS}")


def _pixel_term(maps, labels: _Labels, pixel_term: str) -> torch.Tensor:
    log_p = _log_pixel_probability(maps.q, pixel_term)
    return labels.mean(-torch.gather(log_p, 1, labels.quality_index))


# ----------------------------------------------------------------------------------------------
# Losses


def imgmse(maps, batch) -> Terms:
    """GG-CNN's loss, "ImgMSE" in the MLGSL paper: MSE of the four maps against the dense targets.

    For X in (q, cos2, sin2, opening), with N = B * H * W pixels::

        L_X = 1/N sum (X - X_gt)^2

    With a q per angle bin, L_q is the mean over the known (pixel, bin) pairs instead (``q_bins``).

    Args:
        maps: network output with ``q, cos2, sin2, opening`` (B, 1, H, W).
        batch: collated batch with the dense targets of the same names.

    Returns:
        Terms ``q``, ``cos2``, ``sin2``, ``opening``.
    """
    terms = {key: _mse(getattr(maps, key), _target(batch, key, maps.q)) for key in MAP_KEYS[1:]}
    return {"q": _quality_mse(maps, batch), **terms}


def pixmse(maps, batch) -> Terms:
    """PixMSE (MLGSL paper, IV-B): squared errors only at the labelled pixels p_i.

    Per image, over its k real labels (angle a_i, opening w_i in px)::

        L_q       = 1/k sum_i (q(p_i) - 1)^2
        L_cos2    = 1/k sum_i (cos2(p_i) - cos 2a_i)^2
        L_sin2    = 1/k sum_i (sin2(p_i) - sin 2a_i)^2
        L_opening = 1/k sum_i (opening(p_i) - w_i / OPENING_SCALE_PX)^2

    then the mean over the batch. Unlabelled pixels get no supervision (and no gradient).

    Returns:
        Terms ``q``, ``cos2``, ``sin2``, ``opening``.
    """
    labels = _Labels(batch, maps.q)
    errors = {"q": (labels.gather(maps.q) - 1.0).square(), **labels.squared_errors(maps)}
    return {key: labels.mean(errors[key]) for key in MAP_KEYS}


def mlgsl(maps, batch, pixel_term: str = DEFAULT_PIXEL_TERM) -> Terms:
    """MLGSL (Maximum Likelihood Grasp Sampling Loss, eq. 3), with labels averaged per image.

    Per image, over its k real labels at pixels p_i::

        L_pixel   = -1/k sum_i log P(p_i | Q)
        L_cos2    =  1/k sum_i (cos2(p_i) - cos 2a_i)^2
        L_sin2    =  1/k sum_i (sin2(p_i) - sin 2a_i)^2
        L_opening =  1/k sum_i (opening(p_i) - w_i / OPENING_SCALE_PX)^2

    The paper sums over labels; the mean keeps the scale independent of the number of labels.
    P(p | Q), the chance of drawing pixel p from the categorical distribution over ALL H * W pixels:

    * ``"softmax"`` (default, the stable reading): P(p | Q) = exp(q_p) / sum_j exp(q_j), i.e.
      log_softmax of the raw q output. Its gradient w.r.t. q_j is softmax_j - [j = p]: the labelled
      pixel is pushed up, every other pixel down. At inference read q through a softmax
      (``PostProcess(quality="softmax")``).
    * ``"normalized"`` (the paper's literal "probability proportional to the quality"):
      P(p | Q) = Q_p / sum_j Q_j with Q = softplus(q) + NORMALIZED_Q_EPS. Softplus rather than
      relu(q) + eps: relu has no gradient where q < 0, so a labelled pixel with a negative output
      could never be raised (and an all-negative map gets stuck at the constant log(H * W)).

    Only the labelled pixels get regression supervision; unlabelled pixels are shaped only
    through the normalisation of the pixel term.

    Args:
        maps: network output (``q, cos2, sin2, opening``).
        batch: collated batch (``label_uv, label_angle, label_opening_px, label_mask``).
        pixel_term: ``"softmax"`` or ``"normalized"``.

    Returns:
        Terms ``pixel``, ``cos2``, ``sin2``, ``opening``.
    """
    labels = _Labels(batch, maps.q)
    terms = {"pixel": _pixel_term(maps, labels, pixel_term)}
    terms.update({key: labels.mean(error) for key, error in labels.squared_errors(maps).items()})
    return terms


def mlgsl_log(maps, batch, pixel_term: str = DEFAULT_PIXEL_TERM) -> Terms:
    """MLGSL+Log (MLGSL paper, IV-B): the regression MSEs inside a logarithm.

    Per image, over its k real labels::

        L_pixel       = -1/k sum_i log P(p_i | Q)                       (as in :func:`mlgsl`)
        MSE_angle     =  1/k sum_i [(cos2(p_i) - cos 2a_i)^2 + (sin2(p_i) - sin 2a_i)^2] / 2
        MSE_opening   =  1/k sum_i (opening(p_i) - w_i / OPENING_SCALE_PX)^2
        L_log_angle   =  log(MSE_angle + MLGSL_LOG_EPS)
        L_log_opening =  log(MSE_opening + MLGSL_LOG_EPS)

    then the mean over the batch. The log is taken of the image's MSE over its labels (the paper
    writes it per label inside the sum; one log per image is less noisy with few labels). An image
    without labels contributes 0 to every term. The log terms are negative once the MSE is below 1.

    Args:
        maps, batch: as in :func:`mlgsl`.
        pixel_term: ``"softmax"`` or ``"normalized"``, as in :func:`mlgsl`.

    Returns:
        Terms ``pixel``, ``log_angle``, ``log_opening``.
    """
    labels = _Labels(batch, maps.q)
    errors = labels.squared_errors(maps)
    has_labels = labels.mask.any(dim=1)

    def log_mse(error: torch.Tensor) -> torch.Tensor:
        masked = torch.where(labels.mask, error, torch.zeros_like(error))
        per_image = masked.sum(dim=1) / labels.mask.sum(dim=1).clamp(min=1).to(error.dtype)
        log = torch.log(per_image + MLGSL_LOG_EPS)
        return torch.where(has_labels, log, torch.zeros_like(log)).mean()

    return {
        "pixel": _pixel_term(maps, labels, pixel_term),
        "log_angle": log_mse((errors["cos2"] + errors["sin2"]) / 2),
        "log_opening": log_mse(errors["opening"]),
    }


def positional(maps, batch) -> Terms:
    """MTG-CNN's positional loss (eq. 3): angle and opening errors weighted by the true quality.

    With N = B * H * W pixels and Q_gt the dense ground-truth quality::

        L_q       = 1/N sum (q - Q_gt)^2
        L_cos2    = 1/N sum (Q_gt * (cos2 - cos2_gt))^2
        L_sin2    = 1/N sum (Q_gt * (sin2 - sin2_gt))^2
        L_opening = 1/N sum (Q_gt * (opening - opening_gt))^2

    Where Q_gt = 0 the angle and opening outputs are free (no gradient). Add the auxiliary term
    with ``make_loss("positional", auxiliary=...)``.

    Returns:
        Terms ``q``, ``cos2``, ``sin2``, ``opening``.
    """
    weight = _target(batch, "q", maps.q)
    terms = {"q": _mse(maps.q, weight)}
    for key in MAP_KEYS[1:]:
        terms[key] = _mse(getattr(maps, key), _target(batch, key, maps.q), weight)
    return terms


def priority(maps, batch) -> Terms:
    """GP-Net's loss (eq. 3): angle and opening errors weighted by the true priority, plus P's MSE.

    With N = B * H * W pixels, P_gt the dense ground-truth priority and P the predicted one::

        L_q        = 1/N sum (q - Q_gt)^2
        L_cos2     = 1/N sum (P_gt * (cos2 - cos2_gt))^2
        L_sin2     = 1/N sum (P_gt * (sin2 - sin2_gt))^2
        L_opening  = 1/N sum (P_gt * (opening - opening_gt))^2
        L_priority = 1/N sum (P - P_gt)^2

    The paper's squared norms are read as means over pixels, like the other losses here.

    Raises:
        ValueError: the network has no priority head (``maps.priority`` is None).

    Returns:
        Terms ``q``, ``cos2``, ``sin2``, ``opening``, ``priority``.
    """
    predicted = getattr(maps, "priority", None)
    if predicted is None:
        raise ValueError("the 'priority' loss needs a priority head (GP-Net): maps.priority is None")
    weight = _target(batch, "priority", maps.q)
    terms = {"q": _mse(maps.q, _target(batch, "q", maps.q))}
    for key in MAP_KEYS[1:]:
        terms[key] = _mse(getattr(maps, key), _target(batch, key, maps.q), weight)
    terms["priority"] = _mse(predicted, weight)
    return terms


def smooth_l1(maps, batch) -> Terms:
    """GR-ConvNet's loss: smooth-L1 (Huber, beta = SMOOTH_L1_BETA) of the four maps.

    For X in (q, cos2, sin2, opening), with e = X - X_gt and N = B * H * W pixels::

        L_X = 1/N sum s(e),  s(e) = 0.5 e^2 / beta if |e| < beta, else |e| - 0.5 beta

    Returns:
        Terms ``q``, ``cos2``, ``sin2``, ``opening``.
    """
    return {
        key: F.smooth_l1_loss(getattr(maps, key), _target(batch, key, maps.q), beta=SMOOTH_L1_BETA) for key in MAP_KEYS
    }


def auxiliary(maps, batch, target: str) -> Terms:
    """MTG-CNN's auxiliary term: MSE of the auxiliary head against depth or saliency.

    With N = B * H * W pixels and A_gt = ``batch[target]``::

        L_aux = 1/N sum (aux - A_gt)^2

    Args:
        maps: network output with ``aux`` (B, 1, H, W).
        batch: collated batch.
        target: ``"depth_target"`` (normalised clean depth) or ``"saliency"`` (1 on objects).

    Raises:
        ValueError: unknown target, or the network has no auxiliary head.

    Returns:
        Term ``aux``.
    """
    if target not in AUXILIARY_TARGETS:
        raise ValueError(f"unknown auxiliary target {target!r}; choose one of {AUXILIARY_TARGETS}")
    aux = getattr(maps, "aux", None)
    if aux is None:
        raise ValueError("an auxiliary loss needs an auxiliary head (MTG-CNN): maps.aux is None")
    return {"aux": _mse(aux, _target(batch, target, aux))}


LOSSES: dict[str, LossFn] = {
    "imgmse": imgmse,
    "pixmse": pixmse,
    "mlgsl": mlgsl,
    "mlgsl_log": mlgsl_log,
    "positional": positional,
    "priority": priority,
    "smooth_l1": smooth_l1,
}


def total(terms: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The loss to minimise: the unweighted sum of the named terms."""
    if not terms:
        raise ValueError("no loss terms to add up")
    return sum(terms.values())


class Loss:
    """A configured loss: ``Loss(maps, batch) -> dict`` of terms, optionally with the ``aux`` term.

    Made by :func:`make_loss`; ``name`` and ``options`` say what it is, for logs.
    """

    def __init__(self, name: str, options: Mapping[str, object], auxiliary_target: str | None):
        self.name = name
        self.options = dict(options)
        self.auxiliary_target = auxiliary_target

    def __call__(self, maps, batch) -> Terms:
        if maps.q.shape[1] > 1 and self.name not in BINNED_LOSSES:
            raise ValueError(
                f"loss {self.name!r} has no form for a q per angle bin; use one of {BINNED_LOSSES} or angle_bins 0"
            )
        terms = LOSSES[self.name](maps, batch, **self.options)
        if self.auxiliary_target is not None:
            terms.update(auxiliary(maps, batch, self.auxiliary_target))
        return terms

    def __repr__(self) -> str:
        options = dict(self.options)
        if self.auxiliary_target is not None:
            options["auxiliary"] = self.auxiliary_target
        return f"Loss({self.name!r}{''.join(f', {k}={v!r}' for k, v in options.items())})"


def make_loss(name: str, auxiliary: str | None = None, **options) -> Loss:
    """A loss by name, with its options checked now rather than at the first batch.

    Args:
        name: one of ``LOSSES``.
        auxiliary: None, or ``"depth_target"`` / ``"saliency"`` to add the ``aux`` term (MTG-CNN).
        **options: the loss's own keyword arguments, e.g. ``pixel_term="normalized"`` for
            ``mlgsl`` and ``mlgsl_log``.

    Raises:
        ValueError: unknown name, auxiliary target, option or pixel term.
    """
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}")
    if auxiliary is not None and auxiliary not in AUXILIARY_TARGETS:
        raise ValueError(f"unknown auxiliary target {auxiliary!r}; choose one of {AUXILIARY_TARGETS} or None")
    accepted = list(inspect.signature(LOSSES[name]).parameters)[2:]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"loss {name!r} takes no option(s) {unknown}; it accepts {accepted or 'none'}")
    if "pixel_term" in options and options["pixel_term"] not in PIXEL_TERMS:
        raise ValueError(f"unknown MLGSL pixel term {options['pixel_term']!r}; choose one of {PIXEL_TERMS}")
    return Loss(name, options, auxiliary)
