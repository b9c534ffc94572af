"""Scripted agents for clutter removal: a random baseline and a depth heuristic (no learning).
Both follow the protocol of :mod:`graspbench.agents.protocol`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..clearance import LOWEST_FINGERTIP_Z_M, fingers_clear, height_map
from ..grasp import Grasp, wrap_angle
from ..outcomes import Outcome
from ..sim.gripper import FINGER_WIDTH_M
from .protocol import camera_from_info


class RandomAgent:
    """A uniform pixel on the foreground (anything above the table), a random angle, full opening.

    Args:
        min_height_m: pixels higher than this above the table count as foreground.
    """

    def __init__(self, min_height_m: float = 0.005, name: str = "random"):
        self.min_height_m, self.name = min_height_m, name
        self.rng = np.random.default_rng()

    def reset(self, seed: int | None) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, observation: dict, info: dict) -> Grasp:
        depth = observation["depth"]
        camera = camera_from_info(observation, info)
        rows, cols = np.nonzero(camera.heights_m(depth) > self.min_height_m)
        if len(rows) == 0:
            rows, cols = np.indices(depth.shape).reshape(2, -1)
        i = self.rng.integers(len(rows))
        u, v = float(cols[i]), float(rows[i])
        opening_px = info["max_opening_m"] / float(camera.metres_per_pixel(depth[rows[i], cols[i]]))
        return Grasp(u, v, float(self.rng.uniform(-np.pi / 2, np.pi / 2)), opening_px)


class FailedGrasps:
    """The grasps that failed so far in an episode. A failed grasp mostly leaves the scene as it
    was (a collision stops the hand before it moves anything), so a planner that answers the same
    image with the same grasp would spend the episode's remaining failures on it.

    Args:
        distance_m: a grasp whose centre is this close to a failed one's ...
        angle_rad: ... and whose angle is this close is the same grasp again.
    """

    def __init__(self, distance_m: float = 0.01, angle_rad: float = np.radians(20)):
        self.distance_m, self.angle_rad = distance_m, angle_rad
        self.failed: list[Grasp] = []
        self.last: Grasp | None = None

    def reset(self) -> None:
        self.failed, self.last = [], None

    def observe(self, info: dict) -> None:
        """Call at every ``act``: the info of the last step says how the last grasp went."""
        if self.last is not None and info.get("outcome") not in (None, Outcome.SUCCESS):
            self.failed.append(self.last)

    def tried(self, grasp: Grasp, px_m: float) -> bool:
        return any(
            np.hypot(grasp.u - f.u, grasp.v - f.v) * px_m < self.distance_m
            and abs(wrap_angle(grasp.angle_rad - f.angle_rad)) < self.angle_rad
            for f in self.failed
        )


@dataclass
class HeuristicAgent:
    """The papers' centroid-style baseline, made as strong as geometry alone allows.

    From the height map, objects are tried from the highest down (an object: the pixels near a
    peak, connected to it). On each, grasp at its centroid across its minor axis, and among angles
    near the minor axis pick the narrowest whose two finger footprints and palm land on free space;
    the opening is the object's width across the closing axis plus a margin. An object with no such
    grasp at its centroid (a ring's hole, a bowl wider than the hand) is tried at points of its own
    (:meth:`_rim_grasp`): the section of it around each point, at every angle, one finger inside
    a hollow if need be. The first object with a clear grasp is taken; if none has one, the
    highest object at full opening. A clear grasp that failed already in the episode is not tried again.
    """

    name: str = "heuristic"
    min_height_m: float = 0.005
    """pixels higher than this above the table count as foreground"""
    top_band_m: float = 0.03
    """pixels within this of an object's peak (and connected to it) belong to the object"""
    grasp_depth_m: float = 0.035
    """fingertips go this far below the object's top (less for flat objects); 35 mm slips half as
    often as 25 mm in packed scenes (chosen on seeds 1020-1059, not the benchmark's)"""
    margin_m: float = 0.012
    """free space between each finger and the object when the fingers arrive"""
    min_margin_m: float = 0.004
    """an object this close to the hand's opening is still grasped, the hand fully open"""
    clearance_m: float = 0.003
    """finger footprints must be this much lower than the fingertips"""
    max_objects: int = 5
    """objects tried per plan, from the highest down"""
    min_object_px: int = 30
    """smaller regions are not objects (a 2 cm object covers ~200 px in the benchmark's camera)"""
    rim_spacing_m: float = 0.008
    """points of an object tried when its centroid has no clear grasp are this far apart"""
    rim_angles: int = 12
    """angles tried at each of those points, evenly over 180 degrees"""
    min_section_fill: float = 0.75
    """share of the pads' rectangle on the object that a section there must fill"""

    def __post_init__(self):
        self.failures = FailedGrasps()

    def reset(self, seed: int | None) -> None:
        self.failures.reset()

    def act(self, observation: dict, info: dict) -> Grasp:
        self.failures.observe(info)
        self.failures.last = self._plan(observation, info)
        return self.failures.last

    def _plan(self, observation: dict, info: dict) -> Grasp:
        depth = observation["depth"]
        camera = camera_from_info(observation, info)
        heights = camera.heights_m(depth)
        free_space = height_map(heights)
        unclaimed = heights > self.min_height_m
        chosen, tried = None, 0
        while unclaimed.any() and tried < self.max_objects:
            peak = np.unravel_index(np.argmax(np.where(unclaimed, heights, -np.inf)), depth.shape)
            labels, _ = ndimage.label(unclaimed & (heights > max(heights[peak] - self.top_band_m, self.min_height_m)))
            region = labels == labels[peak]
            unclaimed &= ~ndimage.binary_dilation(region, iterations=2)
            if region.sum() < self.min_object_px:  # a speck of noise or the edge of a claimed object
                continue
            tried += 1
            planned = self._plan_object(heights, free_space, region, peak, depth, camera, info)
            chosen = chosen or planned  # the highest object, unless a lower one is clear
            if planned[2]:
                chosen = planned
                break
        if chosen is None:
            v, u = (np.array(depth.shape) - 1) / 2
            return Grasp(float(u), float(v), 0.0, 1.0)
        grasp, fingertip_z, _ = chosen
        depth_m = float(camera.depth_at_height(grasp.u, grasp.v, fingertip_z))
        return Grasp(grasp.u, grasp.v, grasp.angle_rad, grasp.opening_px, depth_m=depth_m)

    def _plan_object(self, heights, free_space, region, peak, depth, camera, info) -> tuple[Grasp, float, bool]:
        """The best grasp on one object, its fingertip height, and whether it comes down on free space."""
        rows, cols = np.nonzero(region)
        u, v = cols.mean(), rows.mean()
        px_m = float(camera.metres_per_pixel(depth[peak]))  # metres per pixel near the object's top
        top = heights[peak]
        object_height = top - np.min(heights[ndimage.binary_dilation(region, iterations=3)])
        fingertip_z = max(top - min(self.grasp_depth_m, 0.6 * object_height), 0.0)
        points = np.stack([cols - u, rows - v], axis=1)
        minor = np.linalg.eigh(np.cov(points.T) + 1e-9 * np.eye(2))[1][:, 0]  # smallest eigenvalue first
        minor_angle = float(np.arctan2(-minor[1], minor[0]))
        max_opening_px = info["max_opening_m"] / px_m
        half_jaw_px = FINGER_WIDTH_M / px_m / 2

        # Candidates near the minor axis; each is centred on what the finger pads will actually
        # squeeze (the object's pixels in the strip swept by the pads), the narrowest free one wins.
        best, best_width = None, np.inf
        for delta in np.radians(np.arange(-45, 46, 7.5)):
            angle = wrap_angle(minor_angle + delta)
            axis = np.array([np.cos(angle), -np.sin(angle)])
            across = np.array([axis[1], -axis[0]])
            along = points @ axis
            in_strip = np.abs(points @ across) <= half_jaw_px
            if not in_strip.any():
                continue
            low, high = along[in_strip].min(), along[in_strip].max()
            width_px = high - low
            opening_px = min(width_px + 2 * self.margin_m / px_m, max_opening_px)
            if width_px + 2 * self.min_margin_m / px_m > max_opening_px or width_px >= best_width:
                continue
            centre = np.array([u, v]) + axis * (low + high) / 2
            grasp = Grasp(float(centre[0]), float(centre[1]), angle, float(opening_px))
            if self._untried_and_clear(grasp, free_space, px_m, fingertip_z, info):
                best, best_width = grasp, width_px
        if best is None:
            best = self._rim_grasp(points, np.array([u, v]), free_space, px_m, fingertip_z, info)
        if best is None:
            return Grasp(float(u), float(v), minor_angle, float(max_opening_px)), fingertip_z, False
        return best, fingertip_z, True

    def _rim_grasp(self, points, centroid, free_space, px_m, fingertip_z, info) -> Grasp | None:
        """The narrowest clear grasp on the section of the object around one of its own points.

        ``points`` are the object's pixels as offsets from ``centroid``. At each point of a grid
        over them (spacing ``rim_spacing_m``) and each of ``rim_angles`` angles, the fingers close on
        the run of object pixels along the closing axis that holds the point (gaps of a pixel or two
        are the same run; a wider gap, such as a ring's hole, ends it), plus the margin each side.
        """
        step_px = max(1, round(self.rim_spacing_m / px_m))
        seeds = points[np.unique(np.floor(points / step_px), axis=0, return_index=True)[1]]  # one per grid cell
        half_jaw_px = FINGER_WIDTH_M / px_m / 2
        max_opening_px = info["max_opening_m"] / px_m
        best, best_width = None, np.inf
        for seed in seeds:
            offsets = points - seed
            for angle in np.linspace(-np.pi / 2, np.pi / 2, self.rim_angles, endpoint=False):
                axis = np.array([np.cos(angle), -np.sin(angle)])
                along = np.sort((offsets @ axis)[np.abs(offsets @ np.array([axis[1], -axis[0]])) <= half_jaw_px])
                # The run of pixels that holds the seed (its own projection is 0).
                breaks = np.flatnonzero(np.diff(along) > 2.0)
                starts, ends = np.r_[along[:1], along[breaks + 1]], np.r_[along[breaks], along[-1:]]
                run = np.flatnonzero((starts <= 0) & (ends >= 0))
                if not len(run):
                    continue
                low, high = starts[run[0]], ends[run[0]]
                opening_px = high - low + 2 * self.margin_m / px_m
                if opening_px > max_opening_px or high - low >= best_width:
                    continue
                # The pads must meet a whole section, not pinch a corner (a triangle fills half its box).
                in_run = np.count_nonzero((along >= low) & (along <= high))
                if in_run < self.min_section_fill * (high - low + 1) * 2 * half_jaw_px:
                    continue
                centre = centroid + seed + axis * (low + high) / 2
                if not (0 <= centre[0] <= free_space.shape[1] - 1 and 0 <= centre[1] <= free_space.shape[0] - 1):
                    continue  # an object at the image's edge
                grasp = Grasp(float(centre[0]), float(centre[1]), float(angle), float(opening_px))
                if self._untried_and_clear(grasp, free_space, px_m, fingertip_z, info):
                    best, best_width = grasp, high - low
        return best

    def _untried_and_clear(self, grasp: Grasp, free_space, px_m: float, fingertip_z: float, info: dict) -> bool:
        """Whether ``grasp`` comes down on free space and has not failed already in this episode."""
        return fingers_clear(
            free_space,
            grasp.u,
            grasp.v,
            grasp.angle_rad,
            grasp.opening_px,
            px_m,
            fingertip_z,
            info.get("fingertip_clearance_m", LOWEST_FINGERTIP_Z_M),
            self.clearance_m,
        ) and not self.failures.tried(grasp, px_m)
