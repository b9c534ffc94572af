"""The base environment: one grasp attempt per step, with the hooks a task overrides.

A task (:mod:`.clutter`, :mod:`.binpick`) is a subclass that overrides a few hooks, in the manner
of ManiSkill's tasks:

- ``_load_scene()``: build a new scene (objects drawn from the seed, the gripper, the first frame);
- ``_initialize_episode(seed, options)``: what a reset does beyond seeding (by default a new scene);
- ``_execute(grasp, **kwargs)``: run one attempt in the simulation, return its info fields
  (``outcome`` one of :class:`~graspbench.outcomes.Outcome`);
- ``evaluate(attempt)``: from the attempt's info and the state after it, ``success``,
  ``terminated`` and ``truncated``.

The base class does the rest the same way for every task: seeding, spaces, the camera, the
conversions between actions, grasps and poses, counting attempts, rendering, the info dict.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..grasp import STEP_AFTER_END, Grasp, check_grasp, wrap_angle
from ..outcomes import NO_OBJECT, Outcome
from ..sim.camera import Camera
from ..sim.gripper import Gripper, GripperSpec
from ..sim.objects import load_object_set, randomized
from ..sim.scenes import build_scene
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
    """A top-down parallel-jaw gripper over objects on a table, one grasp attempt per step; the
    task is a subclass's (:class:`~graspbench.envs.clutter.ClutterRemovalEnv`,
    :class:`~graspbench.envs.binpick.BinPickEnv`).

    **Action.** A Box in [-1, 1]^4: (x, y, angle, opening). x and y map linearly to u in
    [0, width-1] and v in [0, height-1]; angle to [-pi/2, pi/2]; opening to [0, the maximum opening
    in pixels at the table's depth]. :meth:`grasp_to_action` and :meth:`action_to_grasp` convert
    to and from :class:`~graspbench.grasp.Grasp`; :meth:`step_grasp` takes a Grasp directly.

    **Observation.** ``depth`` (H, W) float32 metres; ``rgb`` (H, W, 3) uint8; ``segmentation``
    (H, W) int32 body ids where the spec asks.

    **Info.** ``outcome``, ``collision``, ``touched_ids``, ``removed_ids``, ``lost_ids`` (objects
    that left the workspace), ``objects_left``, ``objects_at_start``, ``target_id`` (the object seen
    at the grasp's centre pixel, ``NO_OBJECT`` (-1) on the background) with its ``level`` and ``top_level``
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
    task = None
    """the task's kind, as :attr:`EnvSpec.task <graspbench.envs.spec.EnvSpec.task>` names it"""

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
        self._initialize_episode(seed, options or {})
        self.attempts = self.consecutive_failures = 0
        self._ended_scene = None
        return self._observation(), self._info()

    def step(self, action):
        return self.step_grasp(self.action_to_grasp(action))

    def step_grasp(self, grasp: Grasp, **kwargs):
        """One attempt with a grasp given in pixels (``kwargs``: the task's, see its class)."""
        if not self._ready() or self.scene is getattr(self, "_ended_scene", None):
            raise RuntimeError(STEP_AFTER_END)
        self.check_grasp(grasp)
        attempt = self._execute(grasp, **kwargs)
        self.attempts += 1
        success = Outcome(attempt["outcome"]).success
        self.consecutive_failures = 0 if success else self.consecutive_failures + 1
        self._frame = self._render_frame()
        evaluation = self.evaluate(attempt)
        # A scene built anew (a new bin, a reset) starts over; the one that ended takes no more attempts.
        self._ended_scene = self.scene if evaluation["terminated"] or evaluation["truncated"] else None
        return (
            self._observation(),
            float(evaluation["success"]),
            evaluation["terminated"],
            evaluation["truncated"],
            self._info(**attempt),
        )

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

    # --- task hooks -------------------------------------------------------------------------------

    def _load_scene(self) -> None:
        """A new scene drawn from the episode's generator: which objects, how many, where."""
        rng, s = self.np_random, self.bench_spec.scene
        # An episode on an empty table measures nothing: a scene whose objects all rolled off (a
        # ball, a lying can) is drawn again.
        for _ in range(EMPTY_SCENE_REDRAWS):
            count = int(rng.integers(s.object_count[0], s.object_count[1] + 1))
            picks = rng.choice(len(self.models), size=count, replace=count > len(self.models))
            models = [self.models[i] for i in picks]
            if s.randomize is not None:
                r = s.randomize
                models = [
                    randomized(m, rng, r.scale, r.friction, r.mass_factor, self.bench_spec.gripper.max_opening_m)
                    for m in models
                ]
            self.world.reset()
            self.scene = build_scene(self.world, s.kind, models, rng, s.workspace_m)
            if self.scene.objects:
                break
        else:
            raise RuntimeError(
                f"{EMPTY_SCENE_REDRAWS} scenes in a row lost every object while settling: "
                f"widen scene.workspace_m or use objects that stay put"
            )
        self._load_gripper()
        self.objects_at_start = len(self.scene.objects)
        self._frame = self._render_frame()

    def _load_gripper(self) -> None:
        """The gripper (and what rides on it), after every ``World.reset``."""
        self.gripper = Gripper(self.world, self.bench_spec.gripper)

    def _initialize_episode(self, seed: int | None, options: dict) -> None:
        """What a reset does after seeding: by default, a new scene."""
        self._load_scene()

    def _ready(self) -> bool:
        """Whether an attempt may be made (a reset came first)."""
        return self.scene is not None

    def _execute(self, grasp: Grasp, **kwargs) -> dict:
        """Run one attempt; its info fields (``outcome`` and what :meth:`_info` lists, the task's own after)."""
        raise NotImplementedError

    def evaluate(self, attempt: dict) -> dict:
        """``success``, ``terminated`` and ``truncated`` of an attempt, from its info and the state after it."""
        raise NotImplementedError

    def check_grasp(self, grasp: Grasp, agent: str | None = None) -> None:
        """Raise InvalidGraspError (a ValueError naming ``agent``, the field and the value) unless
        the grasp can be executed here: see :func:`graspbench.grasp.check_grasp`. The opening is
        weighed against the hand's at the surface seen at the grasp's centre."""
        W, H = self.camera.width_px, self.camera.height_px
        check_grasp(grasp, W, H, agent=agent)
        surface_m = float(
            self._frame.depth_m[int(np.clip(round(grasp.v), 0, H - 1)), int(np.clip(round(grasp.u), 0, W - 1))]
        )
        px_m = float(self.camera.metres_per_pixel(surface_m))
        check_grasp(grasp, W, H, self.bench_spec.gripper.max_opening_m / px_m if px_m > 0 else None, agent)

    # --- conversions ------------------------------------------------------------------------------

    def width_to_opening_px(self, width_m: float, u: float, v: float) -> float:
        """The opening (pixels) of a grasp at pixel (u, v) that opens the hand ``width_m`` wide, at
        the depth seen there (BinPick's pre-grasp widths, the bandit's actions)."""
        depth = float(self._frame.depth_m[int(round(v)), int(round(u))])
        return width_m / float(self.camera.metres_per_pixel(depth))

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
        return Grasp(
            u=(x + 1) / 2 * (W - 1),
            v=(y + 1) / 2 * (H - 1),
            angle_rad=a * np.pi / 2,
            opening_px=(o + 1) / 2 * self.max_opening_px,
        )

    def grasp_to_action(self, grasp: Grasp) -> np.ndarray:
        W, H = self.camera.width_px, self.camera.height_px
        action = [
            2 * grasp.u / (W - 1) - 1,
            2 * grasp.v / (H - 1) - 1,
            wrap_angle(grasp.angle_rad) / (np.pi / 2),
            2 * grasp.opening_px / self.max_opening_px - 1,
        ]
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
            observation["segmentation"] = np.where(np.isin(segmentation, self.scene.bodies), segmentation, -1).astype(
                np.int32
            )
        return observation

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

    def _info(self, **attempt) -> dict:
        """The info of a reset (no ``attempt``) or of an attempt: its fields (from ``_execute``)
        over the standing ones; the task's own fields come after."""
        outcome = attempt.get("outcome")
        info = {
            "outcome": outcome,
            "collision": outcome is not None and Outcome(outcome).collision,
            "touched_ids": [],
            "removed_ids": [],
            "lost_ids": [],
            "objects_left": len(self.scene.objects),
            "objects_at_start": self.objects_at_start,
            "target_id": NO_OBJECT,
            "level": NO_OBJECT,
            "top_level": None,
            "attempt": self.attempts,
            "sim_time_s": 0.0,
            "first_contacts": [],
            "max_opening_m": self.bench_spec.gripper.max_opening_m,
            "grasp_depth_m": self.bench_spec.gripper.grasp_depth_m,
            "fingertip_clearance_m": self.bench_spec.gripper.fingertip_clearance_m,
            "intrinsics": self.camera.intrinsics.copy(),
            "extrinsics": self.camera.extrinsics.copy(),
        }
        info.update(attempt)
        return info


def grasp_to_pose(
    grasp: Grasp, camera: Camera, depth_m: np.ndarray, gripper: GripperSpec
) -> tuple[np.ndarray, float, float]:
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
    axis_end = camera.pixel_to_world(
        grasp.u + np.cos(grasp.angle_rad), grasp.v - np.sin(grasp.angle_rad), surface_depth
    )
    direction = axis_end - camera.pixel_to_world(grasp.u, grasp.v, surface_depth)
    yaw = float(np.arctan2(direction[1], direction[0]))
    opening_m = float(grasp.opening_px * camera.metres_per_pixel(surface_depth))
    return position, yaw, opening_m
