"""The network agent: a trained planar FCN as a planner (the agent protocol of
:mod:`graspbench.agents.protocol`)."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ..agents.protocol import camera_from_info
from ..agents.scripted import FailedGrasps
from ..clearance import LOWEST_FINGERTIP_Z_M, MAX_GRASP_DEPTH_M
from ..grasp import Grasp
from .inputs import model_input
from .models import for_inference
from .postprocess import GRID_SPACING_PX, PostProcess, grasps_from_maps, maps_to_numpy, plan_clear
from .train import load_checkpoint


class NetworkAgent:
    """A trained planar FCN: the observation through the network, then post-processing; the best
    grasp (on Q* = Q * P for networks that predict a priority map).

    Args:
        checkpoint: a ``best.pt`` written by ``graspbench train``.
        name: the agent's name in records.
        postprocess: overrides of the checkpoint's post-processing settings.
        threads: torch threads for planning (1: the per-core figure the benchmark reports).
        check_clearance: among the ``candidates`` best peaks, take the best whose fingers and palm
            land on free space in the depth image (:func:`~graspbench.planners.postprocess.first_clear`)
            and that has not failed already in this episode (:class:`FailedGrasps`); False: the
            best peak, as the papers do.
        candidates: peaks considered by the clearance check.
        max_grasp_depth_m: with the clearance check, the chosen grasp's fingertips go as deep as
            the free space allows, at most this far below the surface at its centre
            (:func:`~graspbench.clearance.fingertip_z`); None: the environment's fixed depth.
        grid_spacing_px: with the clearance check, when no peak will do, the pixels this far apart
            on the objects are weighed the same way (:func:`~graspbench.planners.postprocess.plan_clear`);
            0: the best peak, colliding as it is.
    """

    def __init__(
        self,
        checkpoint: str,
        name: str = "network",
        postprocess: dict | None = None,
        threads: int = 1,
        check_clearance: bool = True,
        candidates: int = 10,
        max_grasp_depth_m: float | None = MAX_GRASP_DEPTH_M,
        grid_spacing_px: int = GRID_SPACING_PX,
    ):
        torch.set_num_threads(threads)
        model, meta = load_checkpoint(
            checkpoint,
            fix=f"make it again: `graspbench train-agents --agents {name}` "
            f"for a shipped agent, `graspbench train` for your own",
        )
        model_input, settings = meta["input"], meta["postprocess"]
        self.model, self.name, self.input = for_inference(model), name, model_input
        self.check_clearance, self.max_grasp_depth_m = check_clearance, max_grasp_depth_m
        self.grid_spacing_px = grid_spacing_px
        top_k = candidates if check_clearance else 1
        self.settings = PostProcess(**{**settings, "top_k": top_k, **(postprocess or {})})

        self.failures = FailedGrasps()

    def reset(self, seed: int | None) -> None:
        self.failures.reset()

    def act(self, observation: dict, info: dict) -> Grasp:
        x = torch.from_numpy(model_input(self.input, observation["depth"], observation.get("rgb")))
        with torch.no_grad():
            maps = self.model(x[None].to(memory_format=torch.channels_last))
        camera = camera_from_info(observation, info)
        if not self.check_clearance:
            grasp = grasps_from_maps(**maps_to_numpy(maps, 0), settings=self.settings)[0]
            return within_hand(grasp, observation["depth"], camera, info["max_opening_m"])
        self.failures.observe(info)
        px_m = float(camera.metres_per_pixel(np.median(observation["depth"])))  # at the table, most of the image
        self.failures.last = plan_clear(
            maps_to_numpy(maps, 0),
            self.settings,
            observation["depth"],
            camera,
            info["max_opening_m"],
            info.get("grasp_depth_m", 0.01),
            info.get("fingertip_clearance_m", LOWEST_FINGERTIP_Z_M),
            skip=lambda g: self.failures.tried(g, px_m),
            max_depth_m=self.max_grasp_depth_m,
            grid_spacing_px=self.grid_spacing_px,
        )
        self.failures.last = within_hand(self.failures.last, observation["depth"], camera, info["max_opening_m"])
        return self.failures.last


def within_hand(grasp: Grasp, depth_m: np.ndarray, camera, max_opening_m: float) -> Grasp:
    """``grasp`` with its opening no wider than the hand opens at its centre's depth. The width head
    is unbounded and the gripper clips what it cannot open, so a wider opening says nothing more; it
    would only fail the environment's check of a planner's grasp (on novel objects a network asked
    for twice the hand's opening)."""
    row = int(np.clip(round(grasp.v), 0, depth_m.shape[0] - 1))
    col = int(np.clip(round(grasp.u), 0, depth_m.shape[1] - 1))
    max_opening_px = max_opening_m / float(camera.metres_per_pixel(depth_m[row, col]))
    return dataclasses.replace(grasp, opening_px=min(grasp.opening_px, max_opening_px))
