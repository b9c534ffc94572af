"""Agents: anything that turns an observation into a grasp.

The protocol every planner follows (learned ones included)::

    class MyPlanner:
        name = "my-planner"
        def reset(self, seed: int | None) -> None: ...          # a new episode begins
        def act(self, observation: dict, info: dict) -> Grasp: ...

``observation`` is the environment's (``depth`` in metres, ``rgb``); ``info`` carries the camera
(``intrinsics``, ``extrinsics``) and the gripper's ``max_opening_m``, as a calibrated robot knows
them.
"""

from __future__ import annotations

from typing import Protocol

from ..grasp import Grasp
from ..sim.camera import Camera


class Agent(Protocol):
    name: str

    def reset(self, seed: int | None) -> None: ...

    def act(self, observation: dict, info: dict) -> Grasp: ...


def camera_from_info(observation: dict, info: dict) -> Camera:
    height, width = observation["depth"].shape
    return Camera(info["intrinsics"], info["extrinsics"], width, height)
