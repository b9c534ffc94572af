"""Clutter removal: grasp objects off the table one attempt at a time until none is left."""

from __future__ import annotations

import numpy as np

from ..grasp import Grasp
from ..outcomes import NO_OBJECT, Outcome
from ..sim.scenes import SUPPORT_KINDS, rebuild_scene
from .base import GraspEnv

BLOWN_UP_SPEED_M_S = 10.0  # an object this fast after an attempt was flung by a simulation failure


class ClutterRemovalEnv(GraspEnv):
    """Clutter removal with a top-down parallel-jaw gripper.

    **Task description.** Objects lie on a table (alone, in a pile, packed, stacked or in a bin).
    Each step is one grasp attempt chosen in the image of a top-down RGB-D camera: the gripper
    approaches straight down, closes, lifts; lifted objects are removed.

    **Randomizations.** From the reset seed: which objects (uniformly, from the spec's object set
    and split), how many (uniform in ``scene.object_count``), their drop or placement poses, and
    the depth noise if the spec has some. Physics is deterministic: the same seed and actions give
    the same rollout, bit for bit.

    **Success conditions.** An attempt succeeds when exactly one object is lifted and held
    (reward 1, else 0). The episode terminates when no object is left and is truncated after
    ``protocol.max_consecutive_failures`` failures in a row or ``protocol.max_attempts`` attempts.

    Action, observation and info: :class:`~graspbench.envs.base.GraspEnv`'s. A simulation that
    blows up is never counted: the scene is rebuilt from before the attempt and the outcome is
    ``sim_error``.
    """

    task = "clutter_removal"

    def _execute(self, grasp: Grasp) -> dict:
        before, steps_before = self.scene.record(), self.world.steps
        position, yaw, opening_m = self.grasp_to_pose(grasp)
        support = self.scene.support_graph() if self.scene.kind in SUPPORT_KINDS else None
        target = self._target(grasp)
        object_name = self._object_name(target)
        result = self.gripper.execute(position, yaw, opening_m, self.scene.bodies)
        for body in result.lifted_ids:
            self.scene.remove(body)
        self.scene.settle()
        sim_time_s = (self.world.steps - steps_before) * self.world.time_step_s
        outcome, lost, removed = result.outcome, [], list(result.lifted_ids)
        if self._blew_up():
            # Never count a simulation failure as a result: rebuild the scene from before the attempt.
            self.world.reset()
            self.scene = rebuild_scene(self.world, before, self.bench_spec.scene.workspace_m)
            self._load_gripper()
            outcome, removed = Outcome.SIM_ERROR, []
        else:
            lost = self.scene.remove_lost()
        return {
            "outcome": outcome.value,
            "touched_ids": list(result.touched_ids),
            "removed_ids": removed,
            "lost_ids": list(lost),
            "target_id": NO_OBJECT if target is None else target,
            "level": support.level.get(target, NO_OBJECT) if support and target is not None else NO_OBJECT,
            "top_level": support.top_level.get(target) if support and target is not None else None,
            "sim_time_s": sim_time_s,
            "first_contacts": [(part, self._what(body, target)) for part, body in result.first_contacts],
            "object_name": object_name,
        }

    def evaluate(self, attempt: dict) -> dict:
        p = self.bench_spec.protocol
        terminated = not self.scene.objects
        truncated = not terminated and (
            self.consecutive_failures >= p.max_consecutive_failures or self.attempts >= p.max_attempts
        )
        return {"success": Outcome(attempt["outcome"]).success, "terminated": terminated, "truncated": truncated}

    def _blew_up(self) -> bool:
        for body in self.scene.bodies:
            position, _ = self.world.pose(body)
            if not np.isfinite(position).all() or self.world.speed_m_s(body) > BLOWN_UP_SPEED_M_S:
                return True
        return False
