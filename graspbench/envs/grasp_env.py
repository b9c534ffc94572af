"""The Gymnasium environment: clutter removal, one grasp attempt per step."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..grasp import STEP_AFTER_END, Grasp, check_grasp, wrap_angle
from ..sim.camera import Camera
from ..sim.gripper import Gripper, GripperSpec, Outcome
from ..sim.objects import load_object_set, randomized
from ..sim.scenes import SUPPORT_KINDS, build_scene, rebuild_scene
from ..sim.world import World
from .spec import EnvSpec, load_spec


EMPTY_SCENE_REDRAWS = 10


def scene_models(spec) -> list:
    """The objects a spec's scenes draw from: ``scene.objects`` and any sets it mixes in
    (``scene.randomize.more_objects``), at the scale its scenes start from."""
    scene, randomize = spec.scene, spec.scene.randomize
    sets = (scene.objects,) + (randomize.more_objects if randomize else ())
    scale = randomize.scale[0] if randomize and randomize.scale else scene.object_scale
    return [m for name in sets for m in load_object_set(name, scene.split, scale, spec.gripper.max_opening_m)]


class GraspEnv(gym.Env):
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

    **Action.** A Box in [-1, 1]^4: (x, y, angle, opening). x and y map linearly to u in
    [0, width-1] and v in [0, height-1]; angle to [-pi/2, pi/2]; opening to [0, the maximum opening
    in pixels at the table's depth]. :meth:`grasp_to_action` and :meth:`action_to_grasp` convert
    to and from :class:`~graspbench.grasp.Grasp`; :meth:`step_grasp` takes a Grasp directly.

    **Observation.** ``depth`` (H, W) float32 metres; ``rgb`` (H, W, 3) uint8; ``segmentation``
    (H, W) int32 body ids where the spec asks.

    **Info.** ``outcome``, ``collision``, ``touched_ids``, ``removed_ids``, ``lost_ids`` (objects
    that left the workspace), ``objects_left``, ``objects_at_start``, ``target_id`` (the object seen
    at the grasp's centre pixel, None on the background) with its ``level`` and ``top_level``
    (stacked, plates and bin scenes: did the planner aim at an object with nothing on it?), ``object_name``
    (after a step: the aimed-at object's name; in a scene of one object, that object's), ``attempt``, ``sim_time_s`` (simulated time of the attempt: its motions and the settling after),
    ``first_contacts`` (for a collision: (part, what) pairs of the first contact, part
    ``finger_left``, ``finger_right`` or ``palm``, what ``target``, ``neighbour``, ``table`` or
    ``obstacle``),
    ``max_opening_m``, ``grasp_depth_m`` (how deep below the surface a grasp without a depth of its
    own goes), ``intrinsics``, ``extrinsics``.

    Args:
        spec: an :class:`EnvSpec`, a YAML path or a dict.
        render_mode: ``rgb_array`` or ``depth_array``.
        **overrides: sections of the spec to change, e.g. ``scene={"split": "train"}``.
    """

    metadata = {"render_modes": ["rgb_array", "depth_array"], "render_fps": 4}

    def __init__(self, spec: EnvSpec | str | Path | dict = EnvSpec(), render_mode: str | None = None, **overrides):
        self.bench_spec = load_spec(spec, **overrides)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode {render_mode!r} is not one of {self.metadata['render_modes']}")
        self.render_mode = render_mode
        s = self.bench_spec
        self.models = scene_models(s)
        self.camera = Camera.top_down(s.camera.width_px, s.camera.height_px, s.camera.height_m, s.camera.field_m)
        self.world = World(solver_iterations=s.solver_iterations)
        self.scene = self.gripper = None
        H, W = s.camera.height_px, s.camera.width_px
        observation = {
            "depth": spaces.Box(0.0, self.camera.far_m, (H, W), np.float32),
            "rgb": spaces.Box(0, 255, (H, W, 3), np.uint8),
        }
        if s.observe_segmentation:
            observation["segmentation"] = spaces.Box(-1, 2**31 - 1, (H, W), np.int32)
        self.observation_space = spaces.Dict(observation)
        self.action_space = spaces.Box(-1.0, 1.0, (4,), np.float32)
        self.max_opening_px = s.gripper.max_opening_m / float(self.camera.metres_per_pixel(s.camera.height_m))
        self._frame = None

    # --- Gymnasium API ----------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        rng = self.np_random
        s = self.bench_spec.scene
        # An episode on an empty table measures nothing: a scene whose objects all rolled off (a
        # ball, a lying can) is drawn again.
        for _ in range(EMPTY_SCENE_REDRAWS):
            count = int(rng.integers(s.object_count[0], s.object_count[1] + 1))
            picks = rng.choice(len(self.models), size=count, replace=count > len(self.models))
            models = [self.models[i] for i in picks]
            if s.randomize is not None:
                r = s.randomize
                models = [randomized(m, rng, r.scale, r.friction, r.mass_factor, self.bench_spec.gripper.max_opening_m)
                          for m in models]
            self.world.reset()
            self.scene = build_scene(self.world, s.kind, models, rng, s.workspace_m)
            if self.scene.objects:
                break
        else:
            raise RuntimeError(f"{EMPTY_SCENE_REDRAWS} scenes in a row lost every object while settling: "
                               f"widen scene.workspace_m or use objects that stay put")
        self.gripper = Gripper(self.world, self.bench_spec.gripper)
        self.objects_at_start = len(self.scene.objects)
        self.attempts = self.consecutive_failures = 0
        self._frame = self._render_frame()
        self._ended_scene = None
        return self._observation(), self._info(outcome=None)

    def step(self, action):
        return self.step_grasp(self.action_to_grasp(action))

    def step_grasp(self, grasp: Grasp):
        """One attempt with a grasp given in pixels."""
        if self.scene is None or self.scene is getattr(self, "_ended_scene", None):
            raise RuntimeError(STEP_AFTER_END)
        self.check_grasp(grasp)
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
        outcome, lost = result.outcome, []
        if self._blew_up():
            # Never count a simulation failure as a result: rebuild the scene from before the attempt.
            self.world.reset()
            self.scene = rebuild_scene(self.world, before, self.bench_spec.scene.workspace_m)
            self.gripper = Gripper(self.world, self.bench_spec.gripper)
            outcome = "sim_error"
        else:
            lost = self.scene.remove_lost()
        self.attempts += 1
        success = outcome is Outcome.SUCCESS
        self.consecutive_failures = 0 if success else self.consecutive_failures + 1
        self._frame = self._render_frame()
        info = self._info(
            outcome=getattr(outcome, "value", outcome),
            collision=outcome is Outcome.COLLISION,
            touched_ids=result.touched_ids,
            removed_ids=result.lifted_ids if outcome != "sim_error" else [],
            lost_ids=lost,
            target_id=target,
            level=support.level.get(target) if support and target is not None else None,
            top_level=support.top_level.get(target) if support and target is not None else None,
            sim_time_s=sim_time_s,
            first_contacts=[(part, self._what(body, target)) for part, body in result.first_contacts],
        )
        info["object_name"] = object_name
        p = self.bench_spec.protocol
        terminated = not self.scene.objects
        truncated = not terminated and (self.consecutive_failures >= p.max_consecutive_failures or self.attempts >= p.max_attempts)
        self._ended_scene = self.scene if terminated or truncated else None  # a scene built anew starts over
        return self._observation(), float(success), terminated, truncated, info

    def render(self):
        if self._frame is None:
            return None
        if self.render_mode == "depth_array":
            return self._frame.depth_m.copy()
        return self._frame.rgb.copy()

    def close(self):
        if self.world is not None:
            self.world.close()
            self.world = None

    def check_grasp(self, grasp: Grasp, agent: str | None = None) -> None:
        """Raise InvalidGraspError (a ValueError naming ``agent``, the field and the value) unless
        the grasp can be executed here: see :func:`graspbench.grasp.check_grasp`. The opening is
        weighed against the hand's at the surface seen at the grasp's centre."""
        W, H = self.camera.width_px, self.camera.height_px
        check_grasp(grasp, W, H, agent=agent)
        surface_m = float(self._frame.depth_m[int(np.clip(round(grasp.v), 0, H - 1)), int(np.clip(round(grasp.u), 0, W - 1))])
        px_m = float(self.camera.metres_per_pixel(surface_m))
        check_grasp(grasp, W, H, self.bench_spec.gripper.max_opening_m / px_m if px_m > 0 else None, agent)

    # --- conversions ------------------------------------------------------------------------------

    def action_to_grasp(self, action) -> Grasp:
        """A Grasp in pixels from an action in [-1, 1]^4; raises ValueError on a bad action."""
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (4,):
            raise ValueError(f"action must have shape (4,) = (x, y, angle, opening), got shape {action.shape}")
        if not np.isfinite(action).all():
            raise ValueError(f"action must be finite, got {action.tolist()}")
        if np.abs(action).max() > 1.0 + 1e-6:
            raise ValueError(f"action must lie in [-1, 1] in every component, got {action.tolist()}")
        x, y, a, o = np.clip(action, -1.0, 1.0)
        W, H = self.camera.width_px, self.camera.height_px
        return Grasp(u=(x + 1) / 2 * (W - 1), v=(y + 1) / 2 * (H - 1), angle_rad=a * np.pi / 2,
                     opening_px=(o + 1) / 2 * self.max_opening_px)

    def grasp_to_action(self, grasp: Grasp) -> np.ndarray:
        W, H = self.camera.width_px, self.camera.height_px
        action = [2 * grasp.u / (W - 1) - 1, 2 * grasp.v / (H - 1) - 1, wrap_angle(grasp.angle_rad) / (np.pi / 2),
                  2 * grasp.opening_px / self.max_opening_px - 1]
        return np.clip(np.array(action, dtype=np.float32), -1.0, 1.0)

    def grasp_to_pose(self, grasp: Grasp) -> tuple[np.ndarray, float, float]:
        """World TCP position, closing-axis yaw and opening in metres of a grasp, from the last
        observed depth image (as a robot would use its own sensor)."""
        return grasp_to_pose(grasp, self.camera, self._frame.depth_m, self.bench_spec.gripper)

    # --- internals --------------------------------------------------------------------------------

    def _render_frame(self):
        self.gripper.park()
        noise = self.bench_spec.noise
        return self.camera.render(self.world.client, noise, self.np_random if noise else None)

    def _observation(self) -> dict:
        observation = {"depth": self._frame.depth_m, "rgb": self._frame.rgb}
        if self.bench_spec.observe_segmentation:
            segmentation = self._frame.segmentation
            observation["segmentation"] = np.where(np.isin(segmentation, self.scene.bodies), segmentation, -1).astype(np.int32)
        return observation

    def _blew_up(self) -> bool:
        for body in self.scene.bodies:
            position, _ = self.world.pose(body)
            if not np.isfinite(position).all() or self.world.speed_m_s(body) > 10.0:
                return True
        return False

    def _target(self, grasp: Grasp) -> int | None:
        """The object the grasp is aimed at: the one seen at its centre pixel, if any."""
        u = int(np.clip(round(grasp.u), 0, self.camera.width_px - 1))
        v = int(np.clip(round(grasp.v), 0, self.camera.height_px - 1))
        body = int(self._frame.segmentation[v, u])
        return body if body in self.scene.objects else None

    def _object_name(self, target: int | None) -> str | None:
        """The name of the object an attempt is about (per-family results): the one aimed at; in a
        scene of one object, that object wherever the grasp is aimed."""
        if target is not None:
            return self.scene.objects[target].name
        return self.scene.objects[self.scene.bodies[0]].name if len(self.scene.objects) == 1 else None

    def _what(self, body: int, target: int | None) -> str:
        """What a body is to an attempt: ``target``, ``neighbour`` (another object), ``table`` or ``obstacle``."""
        if body == target:
            return "target"
        if body in self.scene.objects:
            return "neighbour"
        return "table" if body == self.scene.table else "obstacle"

    def _info(self, outcome, collision=False, touched_ids=(), removed_ids=(), lost_ids=(), target_id=None, level=None,
              top_level=None, sim_time_s=0.0, first_contacts=()) -> dict:
        return {
            "outcome": outcome,
            "collision": collision,
            "touched_ids": list(touched_ids),
            "removed_ids": list(removed_ids),
            "lost_ids": list(lost_ids),
            "objects_left": len(self.scene.objects),
            "objects_at_start": self.objects_at_start,
            "target_id": target_id,
            "level": level,
            "top_level": top_level,
            "attempt": self.attempts,
            "sim_time_s": sim_time_s,
            "first_contacts": list(first_contacts),
            "max_opening_m": self.bench_spec.gripper.max_opening_m,
            "grasp_depth_m": self.bench_spec.gripper.grasp_depth_m,
            "fingertip_clearance_m": self.bench_spec.gripper.fingertip_clearance_m,
            "intrinsics": self.camera.intrinsics.copy(),
            "extrinsics": self.camera.extrinsics.copy(),
        }


def grasp_to_pose(grasp: Grasp, camera: Camera, depth_m: np.ndarray, gripper: GripperSpec) -> tuple[np.ndarray, float, float]:
    """World TCP position, closing-axis yaw and opening (metres) of an image grasp: straight below
    the surface point seen at (u, v), the fingertips at the depth observed there plus
    ``gripper.grasp_depth_m`` (or at ``grasp.depth_m``), never lower than
    ``gripper.fingertip_clearance_m``; the opening converted at the observed depth.

    The hand comes down vertically over the surface point, as GG-CNN's robot does; following the
    pixel's ray down to the fingertips instead moved a grasp 4 cm deep 3 mm outwards at the edge of
    the image, onto the side of the object it aimed at."""
    u = int(np.clip(round(grasp.u), 0, camera.width_px - 1))
    v = int(np.clip(round(grasp.v), 0, camera.height_px - 1))
    surface_depth = float(depth_m[v, u])
    depth = surface_depth + gripper.grasp_depth_m if grasp.depth_m is None else grasp.depth_m
    position = camera.pixel_to_world(grasp.u, grasp.v, surface_depth)
    position[2] = max(camera.pixel_to_world(grasp.u, grasp.v, depth)[2], gripper.fingertip_clearance_m)
    axis_end = camera.pixel_to_world(grasp.u + np.cos(grasp.angle_rad), grasp.v - np.sin(grasp.angle_rad), surface_depth)
    direction = axis_end - camera.pixel_to_world(grasp.u, grasp.v, surface_depth)
    yaw = float(np.arctan2(direction[1], direction[0]))
    opening_m = float(grasp.opening_px * camera.metres_per_pixel(surface_depth))
    return position, yaw, opening_m
