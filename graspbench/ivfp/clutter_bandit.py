"""A clutter-removal pile posed as the contextual bandit REINFORCE learns in (issue 27, item 4).

In BinPick the reward of a grasp mostly reports how hard the bin is; here the action decides it by
construction: every grasp is one pull of the bandit, its context the pile as the camera sees it,
its actions the cells on any object and a pre-grasp width. A grasp between two objects or across
an object's long side collides or slips; one across a free object's narrow side holds. The policy
is :class:`~graspbench.ivfp.policy.GraspPolicy` unchanged, its target mask every object's pixels.

Give it to ``graspbench ivfp reinforce --env graspbench.ivfp.clutter_bandit:pile`` (with
``--reward truth``: a success is an object lifted); ``--init untrained`` starts from a fresh
network, close to uniform over the actions. docs/ivfp.md shows the learning curve.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ..envs import make_env
from ..envs.spec import PickSpec
from ..grasp import Grasp


class ClutterBandit:
    """A clutter-removal environment with the bandit interface of :mod:`.bandit`.

    ``reset(seed)`` builds a pile from ``seed``; ``reset()`` carries on with the pile left by the
    last grasp, and builds the next one when it was cleared or its episode ended. Observations hold
    ``rgb``, ``depth`` and ``target_mask`` (every object's pixels).

    Args:
        env_id: a clutter-removal environment id or spec file.
        widths_m: the policy's pre-grasp widths (BinPick's by default).
    """

    def __init__(self, env_id: str = "GraspBench/Pile-v0", widths_m: tuple[float, ...] = PickSpec().widths_m):
        self.env = make_env(env_id, observe_segmentation=True)
        self.bench_spec = SimpleNamespace(pick=SimpleNamespace(widths_m=tuple(widths_m)))
        self._observation, self._info, self._ended = None, None, True

    def reset(self, seed: int | None = None):
        if seed is not None or self._ended:
            self._observation, self._info = self.env.reset(seed=seed)
            self._ended = False
        return self._with_target(self._observation), self._info

    def step_grasp(self, grasp: Grasp):
        observation, reward, terminated, truncated, info = self.env.step_grasp(grasp)
        self._observation, self._info = observation, info
        self._ended = terminated or truncated or not (observation["segmentation"] >= 0).any()
        return self._with_target(observation), reward, terminated, truncated, info

    def width_to_opening_px(self, width_m: float, u: float, v: float) -> float:
        return self.env.width_to_opening_px(width_m, u, v)

    def close(self):
        self.env.close()

    @staticmethod
    def _with_target(observation: dict) -> dict:
        return {**observation, "target_mask": np.asarray(observation["segmentation"]) >= 0}


def pile() -> ClutterBandit:
    """Pile-v0 as a bandit: the ``--env`` of ``graspbench ivfp reinforce``."""
    return ClutterBandit("GraspBench/Pile-v0")
