"""Scripted agents for target picking (BinPick), following the protocol of
:mod:`graspbench.agents.protocol`: ``reset(seed)``, ``act(observation, info) -> Grasp``.

The IVFP paper's baselines (Murray et al., section V.E) and a geometric ceiling:

- :class:`CentroidAgent`: the centroid of the target mask's largest connected part (the nearest
  target pixel when the centroid falls outside it, as for a crescent), a fixed 5 cm width.
- :class:`RandomMaskAgent`: a uniform pixel of the target mask, a uniform width.
- :class:`ClearGraspAgent`: geometry alone, with no counterpart in the paper: the point deepest
  inside the target whose fingers and palm come down on free space in the depth image, at the
  narrowest width that spans the target there (the ceiling the learned policies are measured
  against; docs/ivfp.md).

The shipped ones are ``agents/{centroid,random-mask,clear-grasp}.yaml``. Every agent converts its
width to the action's opening in pixels at the grasp point's depth from the camera in ``info``, as
a calibrated robot would (the same as ``GraspEnv.width_to_opening_px``).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..clearance import clear_for_widths
from ..envs.spec import PickSpec
from ..grasp import Grasp
from .protocol import camera_from_info

CENTROID_WIDTH_M = 0.05
"""The paper's centroid baseline grasps at a fixed 5 cm (the authors' code)."""


def opening_px(observation: dict, info: dict, width_m: float, u: float, v: float) -> float:
    """The action opening (pixels) that selects ``width_m`` at image pixel (u, v)."""
    depth = float(observation["depth"][int(round(v)), int(round(u))])
    return width_m / float(camera_from_info(observation, info).metres_per_pixel(depth))


def _target(observation: dict) -> np.ndarray:
    mask = np.asarray(observation["target_mask"]).astype(bool)
    if not mask.any():
        raise ValueError("target_mask is empty: there is no target to grasp (reset the environment)")
    return mask


class CentroidAgent:
    """The centroid of the target mask's largest connected part, fixed width.

    Args:
        width_m: pre-grasp width (the environment snaps it to its nearest width).
        name: the agent's name in records.
    """

    def __init__(self, width_m: float = CENTROID_WIDTH_M, name: str = "centroid"):
        if not width_m > 0:
            raise ValueError(f"width_m must be positive, got {width_m}")
        self.width_m, self.name = width_m, name

    def reset(self, seed: int | None) -> None:
        pass  # deterministic

    def act(self, observation: dict, info: dict) -> Grasp:
        labels, count = ndimage.label(_target(observation))
        sizes = ndimage.sum_labels(np.ones_like(labels), labels, index=np.arange(1, count + 1))
        part = labels == 1 + int(np.argmax(sizes))
        rows, cols = np.nonzero(part)
        v, u = rows.mean(), cols.mean()
        if not part[int(round(v)), int(round(u))]:  # a crescent or a ring: its nearest pixel
            nearest = int(np.argmin((rows - v) ** 2 + (cols - u) ** 2))
            v, u = rows[nearest], cols[nearest]
        u, v = float(u), float(v)
        return Grasp(u, v, 0.0, opening_px(observation, info, self.width_m, u, v))


class RandomMaskAgent:
    """A uniform pixel of the target mask and a uniform width.

    Args:
        widths_m: the widths to draw from (default: BinPick's).
        name: the agent's name in records.
    """

    def __init__(self, widths_m=PickSpec().widths_m, name: str = "random-mask"):
        if not len(widths_m) or min(widths_m) <= 0:
            raise ValueError(f"widths_m must be positive widths, got {list(widths_m)}")
        self.widths_m, self.name = tuple(float(w) for w in widths_m), name
        self.rng = np.random.default_rng()

    def reset(self, seed: int | None) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, observation: dict, info: dict) -> Grasp:
        rows, cols = np.nonzero(_target(observation))
        k = int(self.rng.integers(len(rows)))
        u, v = float(cols[k]), float(rows[k])
        width_m = self.widths_m[int(self.rng.integers(len(self.widths_m)))]
        return Grasp(u, v, 0.0, opening_px(observation, info, width_m, u, v))


class ClearGraspAgent:
    """The deepest point of the target mask where a fixed-yaw grasp comes down on free space.

    Every pixel of the target and every width is checked against the clean depth image as the
    network agents' free-space check does (:func:`graspbench.clearance.clear_everywhere`): both
    fingers lower than the fingertips and the palm lower than its underside. Among the pixels
    with a clear width it takes the one farthest from the mask's edge (the nearest to its
    centroid among equals), with the narrowest clear width that spans the target's run of pixels
    there plus ``margin_m`` a side (or the widest clear one). Where nothing is clear: the deepest
    pixel at the narrowest spanning width.

    Args:
        widths_m: the widths to choose from (default: BinPick's).
        margin_m: room left on each side of the target when choosing the width.
        name: the agent's name in records.
    """

    def __init__(self, widths_m=PickSpec().widths_m, margin_m: float = 0.005, name: str = "clear-grasp"):
        if not len(widths_m) or min(widths_m) <= 0:
            raise ValueError(f"widths_m must be positive widths, got {list(widths_m)}")
        if margin_m < 0:
            raise ValueError(f"margin_m must be at least 0, got {margin_m}")
        self.widths_m, self.margin_m, self.name = tuple(sorted(float(w) for w in widths_m)), margin_m, name

    def reset(self, seed: int | None) -> None:
        pass  # deterministic

    def act(self, observation: dict, info: dict) -> Grasp:
        u, v, width_m = clear_aim(
            _target(observation),
            np.asarray(observation["depth"]),
            camera_from_info(observation, info),
            self.widths_m,
            self.margin_m,
            info["grasp_depth_m"],
            info["fingertip_clearance_m"],
        )
        return Grasp(u, v, 0.0, opening_px(observation, info, width_m, u, v))


def clear_aim(
    mask: np.ndarray,
    depth_m: np.ndarray,
    camera,
    widths_m,
    margin_m: float,
    grasp_depth_m: float,
    lowest_fingertip_z_m: float,
) -> tuple[float, float, float]:
    """:class:`ClearGraspAgent`'s choice on a target ``mask``: pixel (u, v) and width (m)."""
    px_m = float(camera.metres_per_pixel(np.median(depth_m[mask])))
    widths_m = sorted(widths_m, reverse=True)
    clear = clear_for_widths(depth_m, camera, px_m, widths_m, grasp_depth_m, lowest_fingertip_z_m, where=mask)
    # Each pixel's run of target pixels along the closing axis (u): what the fingers must span.
    runs, _ = ndimage.label(mask, structure=[[0, 0, 0], [1, 1, 1], [0, 0, 0]])
    span_m = np.bincount(runs.ravel())[runs] * px_m
    # The chosen width per pixel: the narrowest clear one that spans, else the widest clear one.
    chosen = np.full(mask.shape, np.nan)
    spans = np.zeros(mask.shape, bool)
    for width_m, clear_here in zip(widths_m, clear):
        fits = clear_here & (width_m >= span_m + 2 * margin_m)
        chosen[fits | (clear_here & ~spans & np.isnan(chosen))] = width_m
        spans |= fits
    # Deepest inside the mask; of equally deep pixels (along a long object) the one nearest its centroid.
    rows, cols = np.indices(mask.shape)
    v_mid, u_mid = ndimage.center_of_mass(mask)
    inside = ndimage.distance_transform_edt(mask) - 1e-3 * np.hypot(rows - v_mid, cols - u_mid)
    candidates = spans if spans.any() else ~np.isnan(chosen)
    if candidates.any():
        v, u = np.unravel_index(np.argmax(np.where(candidates, inside, -np.inf)), mask.shape)
        return float(u), float(v), float(chosen[v, u])
    v, u = np.unravel_index(np.argmax(np.where(mask, inside, -np.inf)), mask.shape)
    fits = [w for w in sorted(widths_m) if w >= span_m[v, u] + 2 * margin_m]
    return float(u), float(v), fits[0] if fits else max(widths_m)
