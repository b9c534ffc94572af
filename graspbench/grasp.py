"""Planar grasps in the image, and the rectangle metric.

Conventions, used everywhere in graspbench:

* pixel coordinates are (u, v) = (column, row);
* ``angle_rad`` is the direction of the closing axis (the line through both fingers), measured in
  the image from +u towards -v, i.e. counter-clockwise as the image is displayed. A parallel-jaw
  grasp is symmetric, so angles are taken modulo pi and kept in [-pi/2, pi/2);
* ``opening_px`` is the distance between the fingers; ``jaw_size_px`` is the size of a finger pad
  across the closing axis. They are different things.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MATCH_MAX_ANGLE_RAD = np.radians(30.0)
MATCH_MIN_IOU = 0.25


def wrap_angle(angle_rad: float) -> float:
    """The same grasp direction in [-pi/2, pi/2)."""
    return float((angle_rad + np.pi / 2) % np.pi - np.pi / 2)


@dataclass(frozen=True)
class Grasp:
    """A top-down grasp chosen in the image.

    Attributes:
        u, v: the grasp centre in pixels.
        angle_rad: direction of the closing axis (see module docstring).
        opening_px: distance between the fingers when they arrive.
        depth_m: depth along the optical axis at which the fingertips stop; None lets the
            environment use the observed depth at (u, v) plus its grasp depth.
        quality: the planner's score, if it has one.
    """

    u: float
    v: float
    angle_rad: float
    opening_px: float
    depth_m: float | None = None
    quality: float | None = None

    def rectangle(self, jaw_size_px: float | None = None) -> "GraspRectangle":
        """As a rectangle; by convention (GG-CNN) the jaw size is half the opening."""
        jaw = self.opening_px / 2 if jaw_size_px is None else jaw_size_px
        return GraspRectangle(self.u, self.v, self.angle_rad, self.opening_px, jaw)


@dataclass(frozen=True)
class GraspRectangle:
    """An oriented rectangle: ``opening_px`` long along the closing axis, ``jaw_size_px`` across."""

    u: float
    v: float
    angle_rad: float
    opening_px: float
    jaw_size_px: float

    def corners(self) -> np.ndarray:
        """(4, 2) corners as (u, v), counter-clockwise as displayed."""
        axis = np.array([np.cos(self.angle_rad), -np.sin(self.angle_rad)])  # closing axis in (u, v)
        across = np.array([axis[1], -axis[0]])
        a, b = axis * self.opening_px / 2, across * self.jaw_size_px / 2
        centre = np.array([self.u, self.v])
        return np.array([centre - a - b, centre + a - b, centre + a + b, centre - a + b])

    def iou(self, other: "GraspRectangle") -> float:
        inter = _polygon_area(_clip(self.corners(), other.corners()))
        union = self.opening_px * self.jaw_size_px + other.opening_px * other.jaw_size_px - inter
        return float(inter / union) if union > 0 else 0.0

    def matches(self, other: "GraspRectangle") -> bool:
        """The rectangle metric: angle within 30 degrees (modulo pi) and IoU above 0.25."""
        angle = abs(wrap_angle(self.angle_rad - other.angle_rad))
        return angle < MATCH_MAX_ANGLE_RAD and self.iou(other) > MATCH_MIN_IOU


def _polygon_area(points: np.ndarray) -> float:
    if len(points) < 3:
        return 0.0
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _clip(subject: np.ndarray, clipper: np.ndarray) -> np.ndarray:
    """Sutherland-Hodgman: the part of convex polygon ``subject`` inside convex ``clipper``."""
    orientation = np.sign(_signed_area(clipper)) or 1.0
    output = list(subject)
    for i in range(len(clipper)):
        a, b = clipper[i], clipper[(i + 1) % len(clipper)]

        def inside(p):
            return orientation * ((b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])) >= 0

        points, output = output, []
        for j, p in enumerate(points):
            q = points[j - 1]
            if inside(p):
                if not inside(q):
                    output.append(_intersection(q, p, a, b))
                output.append(p)
            elif inside(q):
                output.append(_intersection(q, p, a, b))
        if not output:
            break
    return np.array(output)


def _signed_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _intersection(p, q, a, b) -> np.ndarray:
    """Where segment p-q crosses the line through a and b."""
    d1, d2 = q - p, b - a
    denominator = d1[0] * d2[1] - d1[1] * d2[0]
    t = ((a[0] - p[0]) * d2[1] - (a[1] - p[1]) * d2[0]) / denominator
    return p + t * d1


# --- validation: what any planner hands the environment ---------------------------------------

OPENING_SLACK = 2.0
"""a grasp may ask for up to this many times the hand's widest opening: the gripper opens as wide
as it can (planners that widen a grasp rely on that); beyond it the opening is a planner's bug"""

STEP_AFTER_END = "the episode has ended (terminated or truncated): call reset() before step()"
"""the one message of every environment stepped after its episode ended or before its first reset"""


class InvalidGraspError(ValueError):
    """A planner's grasp that cannot be executed: the message names the field and its value."""


def check_grasp(
    grasp, width_px: int, height_px: int, max_opening_px: float | None = None, agent: str | None = None
) -> None:
    """Raise InvalidGraspError unless ``grasp`` can be executed in a ``width_px`` x ``height_px``
    image: finite u, v, angle, opening and depth; the centre on the image (within its pixels'
    area); an opening above 0 and at most OPENING_SLACK x ``max_opening_px`` (the hand's widest
    opening in pixels, at the grasp's surface); a depth, if given, positive. The message names the
    agent when given, the field and the value."""
    who = f"agent {agent}: " if agent else ""

    def fail(field: str, value, why: str):
        raise InvalidGraspError(f"{who}invalid grasp: {field} = {value!r} {why}")

    if not all(hasattr(grasp, field) for field in ("u", "v", "angle_rad", "opening_px")):
        raise InvalidGraspError(f"{who}invalid grasp: expected a graspbench Grasp, got {type(grasp).__name__}")
    values = {}
    for field in ("u", "v", "angle_rad", "opening_px", "depth_m"):
        value = getattr(grasp, field, None)
        if field == "depth_m" and value is None:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            fail(field, value, "is not a number")
        if not np.isfinite(number):
            fail(field, number, "is not finite")
        values[field] = number
    if not -0.5 <= values["u"] <= width_px - 0.5:
        fail("u", values["u"], f"is outside the image (0 to {width_px - 1} pixels)")
    if not -0.5 <= values["v"] <= height_px - 0.5:
        fail("v", values["v"], f"is outside the image (0 to {height_px - 1} pixels)")
    if not values["opening_px"] > 0:
        fail("opening_px", values["opening_px"], "is not a positive opening")
    if max_opening_px is not None and values["opening_px"] > OPENING_SLACK * max_opening_px:
        fail("opening_px", values["opening_px"], f"is wider than the hand opens ({max_opening_px:.1f} pixels there)")
    if "depth_m" in values and not values["depth_m"] > 0:
        fail("depth_m", values["depth_m"], "is not a positive depth")
