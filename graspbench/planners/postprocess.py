"""From a planar FCN's output maps to grasps: smoothing, angle decoding, peak picking.

The public GG-CNN / GR-ConvNet post-processing (REFERENCE, "Post-processing"), with one fix:

1. quality: the q map read through ``PostProcess.quality`` ("raw" for MSE-trained networks,
   "softmax" for MLGSL-trained ones), times the predicted priority P when there is one (GP-Net's
   Q* = Q * P), then smoothed with a Gaussian of ``smoothing_sigma_px``;
2. angle: cos 2a and sin 2a are smoothed separately (only at the peaks, where they are read) and
   the angle is atan2(sin, cos) / 2. The public repos smooth the decoded angle map instead, which
   is wrong where it wraps at +-pi/2: the average of +88 and -88 degrees is 0 degrees, a grasp at
   right angles to both;
3. opening_px = opening * OPENING_SCALE_PX (150), the opening map smoothed likewise, and no narrower
   than MIN_OPENING_PX (a regression may undershoot zero at a thin object's pixel);
4. peaks: local maxima of the quality within a square window of half-size ``min_distance_px``
   (``scipy.ndimage.maximum_filter``), above ``threshold``, best first, at most ``top_k``.
   If no peak passes the threshold, the best peaks below it are returned anyway: a planner must
   always answer, and the caller can read their low ``quality`` or, with a depth image, rule some
   out;
5. with a q per angle bin (``angle_bins`` K > 0), steps 1 and 4 take, at each pixel, the best of
   its bins, and the angle is the regressed one if it falls in the best bin, else that bin's
   centre: the bin says which angles are free here, cos/sin refine within it;
6. optionally (:func:`first_clear`, what a careful robot does with a depth image): the best of
   those peaks whose fingers and palm come down on free space and that has something between its
   fingers (:mod:`graspbench.clearance`), widening the opening or turning the grasp if that frees
   them; if none will do, the same over a grid of pixels on the objects (:func:`plan_clear`).

Unlike ``skimage.feature.peak_local_max`` as the repos call it, peaks near the image border are
kept (objects may lie there).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter, maximum_filter

from ..clearance import (
    LOWEST_FINGERTIP_Z_M,
    MAX_GRASP_DEPTH_M,
    TableView,
    fingers_clear,
    fingertip_z,
    height_map,
    something_between,
    table_view,
)
from ..grasp import Grasp, wrap_angle
from .dataset import OPENING_SCALE_PX, angle_bin, bin_centre_rad

QUALITY_MODES = ("raw", "softmax", "normalized")

MIN_OPENING_PX = 1.0
"""the narrowest opening a decoded grasp asks for: a hand opens at least as far as closed, and a
negative opening would be refused as invalid (it stopped a benchmark sweep: dal@papers, Packed-v0)"""


@dataclass
class PostProcess:
    """Settings of :func:`grasps_from_maps`.

    Attributes:
        smoothing_sigma_px: Gaussian sigma for the quality, cos2/sin2 and opening maps; 0 turns
            smoothing off. REFERENCE: sigma 2 in the public repos (5 in the MTG-CNN paper).
        min_distance_px: no two returned peaks lie within this many pixels of each other
            (Chebyshev distance: the square window of the maximum filter).
        threshold: a peak must have a quality above this (after the ``quality`` transform and
            the priority).
        top_k: at most this many grasps, best first.
        quality: how to read the q output:

            * ``"raw"``: as it is (MSE-trained networks: q is already a quality in about [0, 1]);
            * ``"softmax"``: MLGSL with the softmax pixel term: probabilities over the pixels,
              divided by their maximum, i.e. exp(q - max q), so the threshold reads relative to
              the best pixel;
            * ``"normalized"``: MLGSL with the normalized pixel term: softplus(q), divided by its
              maximum.

            Smoothing is applied after the transform, and the division by the maximum after
            smoothing, so the best smoothed pixel has quality 1 in the last two modes.
        use_priority: when a priority map is given, select on Q* = Q * max(P, 0) (GP-Net).
    """

    smoothing_sigma_px: float = 2.0
    min_distance_px: int = 20
    threshold: float = 0.2
    top_k: int = 5
    quality: str = "raw"
    use_priority: bool = True

    def __post_init__(self):
        if self.quality not in QUALITY_MODES:
            raise ValueError(f"unknown quality mode {self.quality!r}; choose one of {QUALITY_MODES}")
        if self.top_k < 1:
            raise ValueError(f"top_k must be at least 1, not {self.top_k}")
        if self.min_distance_px < 0 or self.smoothing_sigma_px < 0:
            raise ValueError("min_distance_px and smoothing_sigma_px must not be negative")


def grasps_from_maps(q, cos2, sin2, opening, priority=None, settings: PostProcess | None = None) -> list[Grasp]:
    """The best grasps of ONE image's output maps.

    Args:
        q, cos2, sin2, opening: (H, W) arrays, or tensors of shape (1, 1, H, W) / (1, H, W), raw
            network outputs (no activation); q may also be (K, H, W), a quality per angle bin.
        priority: predicted priority map of the same shape (GP-Net), or None.
        settings: :class:`PostProcess`; the defaults if None.

    Returns:
        1 to ``settings.top_k`` grasps ``Grasp(u, v, angle_rad, opening_px, quality=...)``, best
        first, with (u, v) = (column, row) of the peak pixel, ``angle_rad`` in [-pi/2, pi/2) and
        ``quality`` the smoothed quality (Q* with priority) there. When no peak is above the
        threshold, the best peaks below it.
    """
    return _grasps_at(_peaks, q, cos2, sin2, opening, priority, settings)


def _grasps_at(pixels, q, cos2, sin2, opening, priority=None, settings: PostProcess | None = None) -> list[Grasp]:
    """The grasps at the pixels ``pixels(quality, settings) -> (rows, cols)`` picks on the smoothed
    quality map, each read from the maps as :func:`grasps_from_maps` describes."""
    settings = PostProcess() if settings is None else settings
    q = _quality_stack(q)
    cos2, sin2, opening = (_image(x, name) for x, name in ((cos2, "cos2"), (sin2, "sin2"), (opening, "opening")))
    for x, name in ((cos2, "cos2"), (sin2, "sin2"), (opening, "opening")):
        if x.shape != q.shape[1:]:
            raise ValueError(f"{name} has shape {x.shape}, q has {q.shape[1:]}")

    scores = bin_quality(q, priority, settings)
    quality = scores.max(axis=0)
    rows, cols = pixels(quality, settings)
    grasps = []
    for r, c in zip(rows, cols):
        # The other maps are only read at the peaks: smooth them there, not everywhere.
        c2, s2, w = (_smoothed_at(x, r, c, settings.smoothing_sigma_px) for x in (cos2, sin2, opening))
        angle = wrap_angle(np.arctan2(s2, c2) / 2)
        bins = len(scores)
        if bins > 1:
            best = int(np.argmax(scores[:, r, c]))
            if angle_bin(angle, bins) != best:
                angle = float(bin_centre_rad(best, bins))
        grasps.append(
            Grasp(
                u=float(c),
                v=float(r),
                angle_rad=angle,
                opening_px=max(float(w * OPENING_SCALE_PX), MIN_OPENING_PX),
                quality=float(quality[r, c]),
            )
        )
    return grasps


def quality_map(q, priority=None, settings: PostProcess | None = None) -> np.ndarray:
    """The smoothed (H, W) score the peaks are picked on (see :class:`PostProcess`): with angle bins,
    each pixel's best bin."""
    return bin_quality(_quality_stack(q), priority, settings).max(axis=0)


def bin_quality(q, priority=None, settings: PostProcess | None = None) -> np.ndarray:
    """The smoothed (K, H, W) score of each angle bin (K = 1 without bins)."""
    settings = PostProcess() if settings is None else settings
    q = _quality_stack(q)
    if settings.quality == "raw":
        score = q
    elif settings.quality == "softmax":
        score = np.exp(q - q.max())  # softmax over pixels up to its normaliser, which cancels below
    else:
        score = np.logaddexp(0.0, q)  # softplus
    if priority is not None and settings.use_priority:
        priority = _image(priority, "priority")
        if priority.shape != q.shape[1:]:
            raise ValueError(f"priority has shape {priority.shape}, q has {q.shape[1:]}")
        score = score * np.clip(priority, 0.0, None)
    if settings.smoothing_sigma_px > 0:
        score = gaussian_filter(score, (0, settings.smoothing_sigma_px, settings.smoothing_sigma_px))
    if settings.quality != "raw":
        best = score.max()
        score = score / best if best > 0 else score
    return score


def maps_to_numpy(maps, index: int = 0) -> dict[str, np.ndarray | None]:
    """One image of a batched network output, as keyword arguments for :func:`grasps_from_maps`.

    Args:
        maps: object with ``q, cos2, sin2, opening`` (B, 1, H, W) tensors and optionally
            ``priority`` (tensor or None).
        index: which image of the batch.

    Returns:
        ``{"q", "cos2", "sin2", "opening", "priority"}`` as (H, W) float arrays (q (K, H, W) with
        K angle bins; ``priority``
        None when the maps have none), so ``grasps_from_maps(**maps_to_numpy(maps, i))`` works.
    """
    q = _quality_stack(maps.q[index])
    out = {"q": q[0] if len(q) == 1 else q}
    for key in ("cos2", "sin2", "opening", "priority"):
        value = getattr(maps, key, None)
        out[key] = None if value is None else _image(value[index], key)
    return out


def _quality_stack(q) -> np.ndarray:
    """A (K, H, W) float64 array of one image's quality, K = 1 without angle bins."""
    if hasattr(q, "detach"):
        q = q.detach().cpu().numpy()
    q = np.asarray(q, dtype=np.float64)
    while q.ndim > 3 and q.shape[0] == 1:
        q = q[0]
    if q.ndim == 2:
        q = q[None]
    if q.ndim != 3:
        raise ValueError(f"q must be one image, (H, W), (1, 1, H, W) or (K, H, W) with angle bins; got shape {q.shape}")
    return q


def _image(x, name: str) -> np.ndarray:
    """An (H, W) float64 array from an array or tensor with leading singleton dimensions."""
    if hasattr(x, "detach"):  # a torch tensor, on any device
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    while x.ndim > 2 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 2:
        raise ValueError(f"{name} must be one image, (H, W) or (1, 1, H, W); got shape {x.shape}")
    return x


def _smoothed_at(x: np.ndarray, row: int, col: int, sigma: float) -> float:
    """The Gaussian-smoothed value of ``x`` at one pixel (``gaussian_filter``'s kernel, truncated
    at 4 sigma; at the image border the kernel is renormalised over the pixels inside)."""
    if sigma <= 0:
        return float(x[row, col])
    radius = int(4 * sigma + 0.5)
    top, left = max(row - radius, 0), max(col - radius, 0)
    window = x[top : row + radius + 1, left : col + radius + 1]
    dv = np.arange(top, top + window.shape[0]) - row
    du = np.arange(left, left + window.shape[1]) - col
    weights = np.exp(-(dv[:, None] ** 2 + du[None, :] ** 2) / (2 * sigma**2))
    return float((weights * window).sum() / weights.sum())


def _peaks(quality: np.ndarray, settings: PostProcess) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the best peaks, best first; those below the threshold if none passes it."""
    if settings.top_k == 1:  # the best pixel is always the best peak: no need to find the others
        row, col = np.unravel_index(int(np.argmax(quality)), quality.shape)
        return np.array([row]), np.array([col])
    window = 2 * settings.min_distance_px + 1
    local_max = quality == maximum_filter(quality, size=window, mode="nearest")
    if (local_max & (quality > settings.threshold)).any():
        local_max &= quality > settings.threshold
    rows, cols = np.nonzero(local_max)
    order = np.argsort(-quality[rows, cols], kind="stable")  # ties: row-major order
    kept: list[tuple[int, int]] = []
    # Equal maxima (plateaus, ties) within one window all pass the filter: keep the first.
    for r, c in zip(rows[order], cols[order]):
        if all(max(abs(r - r0), abs(c - c0)) > settings.min_distance_px for r0, c0 in kept):
            kept.append((int(r), int(c)))
            if len(kept) == settings.top_k:
                break
    return np.array([k[0] for k in kept]), np.array([k[1] for k in kept])


GRID_SPACING_PX = 6
"""the spacing of the pixels a planner with a depth image falls back on when no peak's fingers land
on free space (about 8 mm: a ring's section or a bowl's rim holds one); 0: no fallback search"""

MAX_GRID_GRASPS = 300
"""the most of those pixels weighed, best quality first"""

MAX_PEAKS = 100
"""the most peaks of one image a planner with a depth check weighs (about one per 20 x 20 pixels)"""


def planner_candidates(maps: dict, settings: PostProcess) -> list[Grasp]:
    """What a planner with a depth image hands :func:`first_clear`: the ``settings.top_k`` best
    peaks above the threshold, then every peak below it, best first. Networks give a thin object
    only a faint peak, below the threshold and below border artefacts (MLGSL's quality is relative
    to its best pixel, often a corner of the image): first_clear weighs those last, where
    something stands within the fingers' reach. ``maps``: one image's, from :func:`maps_to_numpy`."""
    peaks = grasps_from_maps(**maps, settings=dataclasses.replace(settings, threshold=-np.inf, top_k=MAX_PEAKS))
    strong = [g for g in peaks if g.quality > settings.threshold][: settings.top_k]
    return strong + [g for g in peaks if g.quality <= settings.threshold]


def grid_candidates(
    maps: dict, settings: PostProcess, heights_m: np.ndarray, floor_m: float, spacing_px: int = GRID_SPACING_PX
) -> list[Grasp]:
    """Every ``spacing_px``-th pixel (both ways) where something stands higher than ``floor_m``, read
    from the maps as a peak would be, best quality first (at most MAX_GRID_GRASPS). Peaks sit where
    the network saw graspable objects in training; on a ring wider than the hand or a bowl they sit
    in the hole, and the grasps that would hold (one finger in the hollow, across the rim) lie on
    the slope of the quality map, at no peak."""

    def on_grid(quality: np.ndarray, _) -> tuple[np.ndarray, np.ndarray]:
        grid = np.zeros(quality.shape, dtype=bool)
        grid[spacing_px // 2 :: spacing_px, spacing_px // 2 :: spacing_px] = True
        rows, cols = np.nonzero(grid & (heights_m > floor_m))
        order = np.argsort(-quality[rows, cols], kind="stable")[:MAX_GRID_GRASPS]
        return rows[order], cols[order]

    return _grasps_at(on_grid, **maps, settings=settings)


def plan_clear(
    maps: dict,
    settings: PostProcess,
    depth_m: np.ndarray,
    camera,
    max_opening_m: float,
    grasp_depth_m: float,
    lowest_fingertip_z_m: float = LOWEST_FINGERTIP_Z_M,
    skip=None,
    max_depth_m: float | None = MAX_GRASP_DEPTH_M,
    grid_spacing_px: int = GRID_SPACING_PX,
) -> Grasp:
    """A network planner's grasp on one image: :func:`first_clear` over :func:`planner_candidates`,
    the weak peaks weighed last (what the network agents and the simulated validation execute),
    the fingertips as deep as free space allows (:func:`~graspbench.clearance.fingertip_z`). If
    no peak will do, the same over :func:`grid_candidates` (``grid_spacing_px`` 0: not); if none
    of those either, the best peak as it is."""
    check = dict(skip=skip, lowest_fingertip_z_m=lowest_fingertip_z_m, max_depth_m=max_depth_m, fallback=False)
    peaks = planner_candidates(maps, settings)
    grasp = first_clear(peaks, depth_m, camera, max_opening_m, grasp_depth_m, threshold=settings.threshold, **check)
    if grasp is None and grid_spacing_px > 0:
        grid = grid_candidates(maps, settings, camera.heights_m(depth_m), lowest_fingertip_z_m, grid_spacing_px)
        grasp = first_clear(grid, depth_m, camera, max_opening_m, grasp_depth_m, **check) if grid else None
    return peaks[0] if grasp is None else grasp


def first_clear(
    grasps: list[Grasp],
    depth_m: np.ndarray,
    camera,
    max_opening_m: float,
    grasp_depth_m: float,
    widen: tuple[float, ...] = (1.0, 1.25, 1.5),
    turns_deg: tuple[float, ...] = (0, 30, -30, 60, -60, 90),
    skip=None,
    lowest_fingertip_z_m: float = LOWEST_FINGERTIP_Z_M,
    threshold: float = -np.inf,
    max_depth_m: float | None = None,
    fallback: bool = True,
) -> Grasp | None:
    """The first grasp (best first) whose finger footprints and palm land on free space in the
    depth image (read in its orthographic view, where a footprint has the same shape at every depth
    and place) and that has something between its fingers (:func:`~graspbench.clearance.something_between`),
    at the first of the ``widen`` factors of its opening that frees them (never past
    the gripper's maximum); if none does at its own angle, the first that does turned by the next
    of ``turns_deg``; if none does at any turn, the first that does at the widest opening, turned
    likewise; the first grasp as it is if none does at all (None if not ``fallback``). ``skip(grasp) -> bool`` rules out
    candidates (as turned and widened), e.g. grasps that already failed on this scene. Grasps whose
    quality is not above ``threshold`` are weighed, the same way, only when none above it will do,
    and only those with something higher than the fingertips' floor within the widest opening's
    reach (see :func:`planner_candidates`).

    The turns matter on a lone object whose predicted peaks all sit on it at nearly one angle: with
    no fallback but the best peak, a planner spent its episode colliding with the object 5 times.
    The widest opening matters on small and flat objects, where a network predicts an opening of a
    few pixels that 1.5 times itself leaves on the object.
    The check puts the fingertips where the environment puts them: ``grasp_depth_m`` below the
    surface seen at the grasp's centre pixel, never below ``lowest_fingertip_z_m``. With
    ``max_depth_m`` the chosen grasp then goes as deep as the free space allows
    (:func:`~graspbench.clearance.fingertip_z`, its ``depth_m`` set); None leaves its depth to the
    environment (the papers' fixed depth). The check is
    :func:`graspbench.clearance.fingers_clear`; like any check on one depth image it is blind to
    what the camera cannot see.
    """
    surface_m = camera.heights_m(depth_m)
    heights = camera.orthographic_heights(depth_m)  # footprints are checked where they really fall
    free_space = height_map(heights)
    views = [_view(grasp, depth_m, surface_m, camera, max_opening_m) for grasp in grasps]
    strong = [g.quality is None or g.quality > threshold for g in grasps]
    # A weak peak is worth its checks only where something stands within the fingers' reach.
    weighed = [
        s or _within_reach(heights, view.u, view.v, max_opening_m / view.px_m / 2, lowest_fingertip_z_m)
        for view, s in zip(views, strong)
    ]
    for tier in (True, False):
        for widest_only in (False, True):
            for turn in np.radians(turns_deg):
                for grasp, view, strength, weigh in zip(grasps, views, strong, weighed):
                    if strength != tier or not weigh:
                        continue
                    candidate = _clear_candidate(
                        grasp,
                        view,
                        turn,
                        widest_only,
                        grasp_depth_m,
                        heights,
                        free_space,
                        widen,
                        skip,
                        lowest_fingertip_z_m,
                    )
                    if candidate is not None and max_depth_m is not None:
                        z = fingertip_z(
                            free_space,
                            view.u,
                            view.v,
                            candidate.angle_rad,
                            candidate.opening_px * view.scale,
                            view.px_m,
                            view.top_z,
                            grasp_depth_m,
                            max_depth_m,
                            lowest_fingertip_z_m,
                        )
                        candidate = dataclasses.replace(
                            candidate, depth_m=float(camera.depth_at_height(candidate.u, candidate.v, z))
                        )
                    if candidate is not None:
                        return candidate
    return grasps[0] if fallback else None


def _view(grasp: Grasp, depth_m: np.ndarray, surface_m: np.ndarray, camera, max_opening_m: float) -> TableView:
    row = int(np.clip(round(grasp.v), 0, depth_m.shape[0] - 1))
    col = int(np.clip(round(grasp.u), 0, depth_m.shape[1] - 1))
    return table_view(camera, grasp.u, grasp.v, float(depth_m[row, col]), float(surface_m[row, col]), max_opening_m)


def _within_reach(heights_m: np.ndarray, u: float, v: float, radius_px: float, floor_m: float) -> bool:
    """Does anything higher than ``floor_m`` stand within ``radius_px`` of (u, v), where the fingers
    could close on it at some turn?"""
    r = int(np.ceil(radius_px))
    top, left = max(int(v) - r, 0), max(int(u) - r, 0)
    window = heights_m[top : int(v) + r + 1, left : int(u) + r + 1]
    rows, cols = np.indices(window.shape)
    inside = np.hypot(rows + top - v, cols + left - u) <= radius_px
    return bool((window[inside] > floor_m).any())


def _clear_candidate(
    grasp: Grasp,
    view: TableView,
    turn: float,
    widest_only: bool,
    grasp_depth_m: float,
    heights,
    free_space,
    widen,
    skip,
    lowest_fingertip_z_m: float,
):
    """``grasp`` turned by ``turn`` at the first of its openings that passes first_clear's checks, or None."""
    angle = wrap_angle(grasp.angle_rad + turn)
    shallow_z = view.top_z - grasp_depth_m
    for opening_px in _openings(grasp.opening_px, view.max_opening_px, widen, widest_only):
        candidate = dataclasses.replace(grasp, angle_rad=angle, opening_px=opening_px)
        opening_table_px = opening_px * view.scale
        if (
            fingers_clear(
                free_space, view.u, view.v, angle, opening_table_px, view.px_m, shallow_z, lowest_fingertip_z_m
            )
            and something_between(heights, view.u, view.v, angle, opening_table_px, view.px_m, lowest_fingertip_z_m)
            and not (skip is not None and skip(candidate))
        ):
            return candidate
    return None


def _openings(opening_px: float, max_opening_px: float, widen: tuple[float, ...], widest_only: bool) -> list[float]:
    """The openings to try for one grasp, narrowest first: its own widened by each factor, up to the
    widest (tried once); or the widest alone."""
    if widest_only:
        return [max_opening_px]
    openings = []
    for factor in widen:
        openings.append(min(opening_px * factor, max_opening_px))
        if openings[-1] >= max_opening_px:
            break
    return openings
