"""Will a top-down grasp come down on free space? The check the planners run on their own depth
image before they grasp: the heuristic, and the network agents' post-processing
(:func:`graspbench.planners.postprocess.first_clear`).

All the footprint geometry lives here: where the fingers and the palm of a top-down grasp land in
a height map (:func:`highest_under`, :func:`footprint_clear`), and the check the planners run,
which reads those footprints with two corrections where the bare check and the real hand disagreed (docs/planners.md, fix 7):

* a depth image samples surfaces at pixel centres, so an object's edge can reach up to a pixel past
  the last pixel that shows it, and a finger placed flush against those pixels comes down on the
  edge: the check reads a height map in which every pixel also stands for its 8 neighbours;
* the environment never lowers the fingertips below ``GripperSpec.fingertip_clearance_m``
  (``grasp_to_pose``): on an object flatter than that plus the grasp depth they stop there, and the
  table under them is no obstacle. The bare check put them below the table and found no grasp on a
  flat object free.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter, maximum_filter1d

from .sim.gripper import FINGER_LENGTH_M, FINGER_THICKNESS_M, FINGER_WIDTH_M, PALM_SIZE_M, GripperSpec

LOWEST_FINGERTIP_Z_M = GripperSpec().fingertip_clearance_m
"""the environment's default floor for the fingertips, for callers whose info does not say it"""
MAX_GRASP_DEPTH_M = FINGER_LENGTH_M - 0.01
"""the deepest :func:`fingertip_z` puts the fingertips below the surface seen at a grasp's centre:
the fingers' 5 cm less 1 cm, so that an object never fills them up to the palm"""
TABLE_TOLERANCE_M = 0.001
"""a footprint this close to the table is on the table (rendered depth puts the table at 0 m)"""


@dataclass(frozen=True)
class TableView:
    """Where a grasp's footprints are checked: its centre in the orthographic view of the depth
    image (:meth:`~graspbench.sim.camera.Camera.orthographic_heights`), where a footprint has the
    same shape at every depth and place in the image."""

    u: float
    v: float
    """the centre's pixel in the orthographic view"""
    px_m: float
    """metres per pixel of the orthographic view"""
    scale: float
    """image pixels to view pixels at the grasp's depth (an opening in view pixels is the image's times this)"""
    top_z: float
    """world z of the surface seen at the centre"""
    max_opening_px: float
    """the gripper's widest opening in image pixels at the grasp's depth"""


def table_view(camera, u: float, v: float, depth_m: float, top_z_m: float, max_opening_m: float = 0.08) -> TableView:
    """The :class:`TableView` of a grasp centred on image pixel (u, v) at ``depth_m``."""
    image_px_m = float(camera.metres_per_pixel(depth_m))
    table_px_m = float(camera.metres_per_pixel(camera.depth_at_height(u, v, 0.0)))
    table_u, table_v = camera.table_pixel(u, v, depth_m)
    return TableView(
        float(table_u), float(table_v), table_px_m, image_px_m / table_px_m, top_z_m, max_opening_m / image_px_m
    )


def height_map(heights_m: np.ndarray) -> np.ndarray:
    """World z per pixel for the footprint check, each pixel raised to the highest of itself and its
    8 neighbours. Of the 26 collisions on validation scenes whose fingers the bare check called
    clear and whose contact lay inside the image (gpnet, Stacked-v0), the contact was a median
    1.0 px, at most 2.8 px, from the nearest pixel that showed the object.

    Args:
        heights_m: (H, W) world z of every pixel (``Camera.heights_m`` of the depth image).
    """
    return maximum_filter(heights_m, size=3)


def fingers_clear(
    heights_m: np.ndarray,
    u: float,
    v: float,
    angle_rad: float,
    opening_px: float,
    px_m: float,
    fingertip_z_m: float,
    lowest_fingertip_z_m: float = LOWEST_FINGERTIP_Z_M,
    clearance_m: float = 0.003,
    palm: bool = True,
) -> bool:
    """Do the fingers and the palm of a top-down grasp at pixel (u, v) come down on free space?

    Args:
        heights_m: the map of :func:`height_map`.
        u, v, angle_rad, opening_px: the grasp (pixels, as the environment converts them).
        px_m: metres per pixel at the grasp.
        fingertip_z_m: where the planner puts the fingertips (world z); raised, as the environment
            raises it, to ``lowest_fingertip_z_m`` (``GripperSpec.fingertip_clearance_m``).
        clearance_m: what lies under the fingers must be this much lower than the fingertips, or
            on the table.
        palm: False checks the fingers alone, without the palm's far larger footprint: what a grasp
            turned to another angle meets first, cheap enough to ask for every label in a dataset.
    """
    fingertip_z_m = max(fingertip_z_m, lowest_fingertip_z_m)
    clearance_m = min(clearance_m, fingertip_z_m - TABLE_TOLERANCE_M)
    return footprint_clear(heights_m, u, v, angle_rad, opening_px, px_m, fingertip_z_m, clearance_m, palm)


def fingertip_z(
    heights_m: np.ndarray,
    u: float,
    v: float,
    angle_rad: float,
    opening_px: float,
    px_m: float,
    top_z_m: float,
    grasp_depth_m: float,
    max_depth_m: float | None = MAX_GRASP_DEPTH_M,
    lowest_fingertip_z_m: float = LOWEST_FINGERTIP_Z_M,
    clearance_m: float = 0.003,
) -> float:
    """Where the fingertips of a top-down grasp stop (world z), decided per grasp from the depth image.

    At least ``grasp_depth_m`` below ``top_z_m`` (the surface seen at the grasp's centre, as the
    environment executes a grasp without a depth); with ``max_depth_m``, as deep as the free space
    under the fingers and the palm allows, down to ``max_depth_m`` below it. Never below the floor.

    Why deeper where it is free: rigid fingers are Coulomb point contacts, and a finger that closes
    above a curved object's equator meets it where the surface normal tilts away from the closing
    axis by more than the friction cone's half-angle (atan 0.8 = 39 degrees for the fingers' 1.0
    times the objects' usual 0.8), so squeezing pushes the object out. 1 cm below the top of a
    lying 6.6 cm can is such a place; in the simulator a lying can and a ball slip exactly where
    that cone says they must (docs/simulation.md, "Depth and the friction cone"). One fixed depth
    cannot serve every object: deeper collides beside small ones, shallower slips on large ones.

    Args:
        heights_m: the map of :func:`height_map`.
        u, v, angle_rad, opening_px, px_m: the grasp, as for :func:`fingers_clear`.
        top_z_m: world z of the surface seen at (u, v).
        grasp_depth_m: the least depth below ``top_z_m`` (``GripperSpec.grasp_depth_m``).
        max_depth_m: the most depth below ``top_z_m``; None: exactly ``grasp_depth_m`` (the fixed rule).
        lowest_fingertip_z_m: the fingertips' floor (``GripperSpec.fingertip_clearance_m``).
        clearance_m: what lies under the fingers stays this much below the fingertips.
    """
    shallowest = max(top_z_m - grasp_depth_m, lowest_fingertip_z_m)
    if max_depth_m is None:
        return shallowest
    fingers, palm = footprint_heights(heights_m, u, v, angle_rad, opening_px, px_m)
    deepest = max(
        top_z_m - max_depth_m, fingers + clearance_m, palm - FINGER_LENGTH_M + clearance_m, lowest_fingertip_z_m
    )
    return min(shallowest, deepest)


def something_between(
    heights_m: np.ndarray,
    u: float,
    v: float,
    angle_rad: float,
    opening_px: float,
    px_m: float,
    lowest_fingertip_z_m: float = LOWEST_FINGERTIP_Z_M,
) -> bool:
    """Does anything stand between the fingers of a top-down grasp, higher than the lowest the
    fingertips go? A grasp that closes on the bare table holds nothing, however free its fingers:
    with one thin object left, networks put their best (sub-threshold) peak on an empty corner of
    the image and spent the episode's last attempts there (docs/planners.md, fix 9).

    Args:
        heights_m: world z per pixel (``camera.heights_m``, not the widened :func:`height_map`).
        u, v, angle_rad, opening_px, px_m: the grasp, as for :func:`fingers_clear`.
        lowest_fingertip_z_m: the fingertips' floor (``GripperSpec.fingertip_clearance_m``): what
            is lower passes under them.
    """
    return highest_under("between", heights_m, u, v, angle_rad, opening_px, px_m) > lowest_fingertip_z_m


def clear_everywhere(
    heights_m: np.ndarray,
    fingertip_z_m: np.ndarray,
    openings_px,
    px_m: float,
    lowest_fingertip_z_m: float = LOWEST_FINGERTIP_Z_M,
    clearance_m: float = 0.003,
) -> np.ndarray:
    """:func:`fingers_clear` at every pixel at once, for grasps whose closing axis runs along u
    (yaw 0, a fixed-yaw hand), at each of several openings: a boolean (len(openings_px), H, W)
    map. Each footprint's highest point is a maximum filter of the height map, so searching a whole
    target mask costs a few filters instead of a footprint per pixel, and the palm's and the
    fingers' filters across the closing axis are shared by every opening.

    Args:
        heights_m: the map of :func:`height_map`.
        fingertip_z_m: where the fingertips would go at each pixel (world z, an (H, W) array).
        openings_px: the openings (pixels) to check.
        px_m, lowest_fingertip_z_m, clearance_m: as for :func:`fingers_clear`, one metres-per-pixel
            for the whole image (the caller's, e.g. at the target's depth).
    """

    def reach(half_px: float) -> int:  # the offsets d with |d| <= half_px
        return int(np.floor(half_px + 1e-9))

    def window_max(values: np.ndarray, axis: int, half_px: float) -> np.ndarray:
        return maximum_filter1d(values, 2 * reach(half_px) + 1, axis=axis, mode="constant", cval=-np.inf)

    fingertip_z_m = np.maximum(fingertip_z_m, lowest_fingertip_z_m)
    clearance_m = np.minimum(clearance_m, fingertip_z_m - TABLE_TOLERANCE_M)
    palm = window_max(window_max(heights_m, 0, PALM_SIZE_M[1] / px_m / 2), 1, PALM_SIZE_M[0] / px_m / 2)
    palm_clear = palm < fingertip_z_m + FINGER_LENGTH_M - clearance_m
    # Each finger covers the columns inner <= |du| <= inner + thickness on either side.
    across = window_max(heights_m, 0, FINGER_WIDTH_M / px_m / 2)
    thickness_px, width = FINGER_THICKNESS_M / px_m, heights_m.shape[1]
    pad = reach(max(openings_px) / 2 + thickness_px) + 1
    padded = np.pad(across, ((0, 0), (pad, pad)), constant_values=-np.inf)
    clear = np.zeros((len(openings_px),) + heights_m.shape, bool)
    for k, opening_px in enumerate(openings_px):
        inner, outer = opening_px / 2, opening_px / 2 + thickness_px
        fingers = np.full(heights_m.shape, -np.inf)
        for d in range(int(np.ceil(inner - 1e-9)), reach(outer) + 1):
            fingers = np.maximum(
                fingers, np.maximum(padded[:, pad + d : pad + d + width], padded[:, pad - d : pad - d + width])
            )
        clear[k] = (fingers < fingertip_z_m - clearance_m) & palm_clear
    return clear


def clear_for_widths(
    depth_m: np.ndarray,
    camera,
    px_m: float,
    widths_m,
    grasp_depth_m: float,
    lowest_fingertip_z_m: float = LOWEST_FINGERTIP_Z_M,
    where: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`clear_everywhere` for each of a fixed-yaw hand's widths, fingertips ``grasp_depth_m``
    below every pixel's surface: a boolean (len(widths_m), H, W) map.

    Args:
        depth_m: the clean depth image; ``camera`` its :class:`~graspbench.sim.camera.Camera`.
        px_m: metres per pixel for every width's opening (e.g. at the target's depth).
        where: the pixels the caller asks about (e.g. a target mask), or None for all. Only the
            window around them that a hand there can reach is searched (the palm's 20 cm keep it
            wide: on a 224 x 224 bin, 17 ms of wall clock instead of 50 on shared cores); every other pixel reads False.
    """
    surface_m = camera.heights_m(depth_m)
    window = (slice(None), slice(None))
    if where is not None:
        rows, cols = np.nonzero(where)
        # What a footprint at a pixel of `where` reads, plus height_map's neighbour and a spare one.
        reach_u = int(np.ceil(max(max(widths_m) / 2 + FINGER_THICKNESS_M, PALM_SIZE_M[0] / 2) / px_m)) + 2
        reach_v = int(np.ceil(max(FINGER_WIDTH_M, PALM_SIZE_M[1]) / 2 / px_m)) + 2
        window = (
            slice(max(rows.min() - reach_v, 0), rows.max() + reach_v + 1),
            slice(max(cols.min() - reach_u, 0), cols.max() + reach_u + 1),
        )
    surface_m = surface_m[window]
    heights, fingertip_z_m = height_map(surface_m), surface_m - grasp_depth_m
    clear = np.zeros((len(widths_m),) + depth_m.shape, bool)
    clear[(slice(None),) + window] = clear_everywhere(
        heights, fingertip_z_m, [w / px_m for w in widths_m], px_m, lowest_fingertip_z_m
    )
    return clear if where is None else clear & where


def footprint_clear(
    heights_m: np.ndarray,
    u: float,
    v: float,
    angle_rad: float,
    opening_px: float,
    px_m: float,
    fingertip_z: float,
    clearance_m: float = 0.003,
    palm: bool = True,
) -> bool:
    """Would a top-down grasp at pixel (u, v) come down on free space? Both finger footprints
    must be lower than the fingertips and (with ``palm``) the palm's lower than its underside, by
    ``clearance_m``, in a height map (world z per pixel). Blind to what the camera cannot see."""
    # Most grasps that are not clear put a finger on something, and the fingers' window is a fraction of the palm's.
    if not highest_under("fingers", heights_m, u, v, angle_rad, opening_px, px_m) < fingertip_z - clearance_m:
        return False
    return not palm or bool(
        highest_under("palm", heights_m, u, v, angle_rad, opening_px, px_m)
        < fingertip_z + FINGER_LENGTH_M - clearance_m
    )


def footprint_heights(
    heights_m: np.ndarray, u: float, v: float, angle_rad: float, opening_px: float, px_m: float
) -> tuple[float, float]:
    """The highest point under the fingers' and under the palm's footprints of a top-down grasp at
    pixel (u, v), in a height map (world z per pixel); -inf where a footprint leaves the image."""
    return tuple(highest_under(part, heights_m, u, v, angle_rad, opening_px, px_m) for part in ("fingers", "palm"))


def highest_under(
    part: str, heights_m: np.ndarray, u: float, v: float, angle_rad: float, opening_px: float, px_m: float
) -> float:
    """The highest point under the ``fingers`` or the ``palm`` of a top-down grasp, or ``between``
    the fingers (what they would close on); -inf off the image."""
    inner = opening_px / 2
    if part in ("fingers", "between"):
        reach_px = np.hypot(inner + FINGER_THICKNESS_M / px_m, FINGER_WIDTH_M / px_m / 2)
    else:
        reach_px = np.hypot(*PALM_SIZE_M) / 2 / px_m
    # Only the window the part can reach matters.
    reach = int(np.ceil(reach_px)) + 1
    top, left = max(int(v) - reach, 0), max(int(u) - reach, 0)
    heights_m = heights_m[top : int(v) + reach + 1, left : int(u) + reach + 1]
    rows, cols = np.indices(heights_m.shape)
    rows, cols = rows + top, cols + left
    axis = np.array([np.cos(angle_rad), -np.sin(angle_rad)])
    along = (cols - u) * axis[0] + (rows - v) * axis[1]
    across = np.abs((cols - u) * axis[1] - (rows - v) * axis[0])
    if part == "fingers":
        under = (
            (across <= FINGER_WIDTH_M / px_m / 2)
            & (np.abs(along) >= inner)
            & (np.abs(along) <= inner + FINGER_THICKNESS_M / px_m)
        )
    elif part == "between":
        under = (across <= FINGER_WIDTH_M / px_m / 2) & (np.abs(along) < inner)
    else:
        under = (np.abs(along) <= PALM_SIZE_M[0] / px_m / 2) & (across <= PALM_SIZE_M[1] / px_m / 2)
    return float(heights_m[under].max()) if under.any() else -np.inf
