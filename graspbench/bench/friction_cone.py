"""Does the simulated hand slip where rigid fingers must, and only there? ``graspbench reproduce
friction_cone`` (issue 26, docs/simulation.md "Depth and the friction cone").

A lying can (radius 3.3 cm, 12 cm long, 0.35 kg) and a ball of the same radius are grasped across,
the fingertips a given depth below their top, at two friction coefficients and with two finger pad
models: rigid (the shipped one) and compliant (PyBullet's contact stiffness and damping on the pads,
a pad that gives a few millimetres). Beside each outcome, the Coulomb verdict for a flat pad whose
lower edge meets the surface at height h above the centre: it holds when the surface normal there
is within the friction cone of the closing axis, asin(h / r) < atan(mu).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..sim.gripper import Gripper, GripperSpec, Outcome
from ..sim.world import World

RADIUS_M = 0.033
CAN_LENGTH_M = 0.12
MASS_KG = 0.35
DEPTHS_M = (0.005, 0.01, 0.015, 0.02, 0.03, 0.04)
FRICTIONS = (0.5, 0.8)
PADS = {"rigid": {}, "compliant": {"contactStiffness": 1e4, "contactDamping": 100.0}}
"""finger pad models: the compliant one sinks about 2 mm under the 20 N grip"""


def grasp_outcome(shape: str, depth_m: float, friction: float, pad: str) -> Outcome:
    """One grasp across a lying can or a ball on the table, fingertips ``depth_m`` below its top."""
    world = World()
    c = world.client
    try:
        c.createMultiBody(0, c.createCollisionShape(c.GEOM_PLANE))
        if shape == "can":
            collision = c.createCollisionShape(c.GEOM_CYLINDER, radius=RADIUS_M, height=CAN_LENGTH_M)
            lying = c.getQuaternionFromEuler([np.pi / 2, 0, 0])  # its axis along y, across the closing axis
        else:
            collision, lying = c.createCollisionShape(c.GEOM_SPHERE, radius=RADIUS_M), [0, 0, 0, 1]
        body = c.createMultiBody(MASS_KG, collision, basePosition=[0, 0, RADIUS_M], baseOrientation=lying)
        c.changeDynamics(body, -1, lateralFriction=friction)
        world.step(120)
        gripper = Gripper(world, GripperSpec())
        for link in gripper.fingers:
            c.changeDynamics(gripper.body, link, **PADS[pad])
        return gripper.execute([0, 0, 2 * RADIUS_M - depth_m], 0.0, 0.08, [body]).outcome
    finally:
        world.close()


def cone_holds(depth_m: float, friction: float) -> bool:
    """The Coulomb verdict: does the contact normal at the fingertips' height lie in the cone?"""
    height_above_centre_m = max(RADIUS_M - depth_m, 0.0)
    return np.arcsin(height_above_centre_m / RADIUS_M) < np.arctan(friction)


def friction_cone_table() -> pd.DataFrame:
    """One row per shape, friction, pad model and depth: the simulated outcome and the cone's verdict."""
    rows = []
    for shape in ("can", "ball"):
        for friction in FRICTIONS:
            for pad in PADS:
                for depth_m in DEPTHS_M:
                    outcome = grasp_outcome(shape, depth_m, friction, pad)
                    rows.append(
                        {
                            "shape": shape,
                            "friction": friction,
                            "pad": pad,
                            "depth_below_top_m": depth_m,
                            "outcome": outcome.value,
                            "held": outcome is Outcome.SUCCESS,
                            "cone_says_held": bool(cone_holds(depth_m, friction)),
                        }
                    )
    return pd.DataFrame(rows)
