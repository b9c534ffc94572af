"""Target picking from a dense bin, one probed pick per episode (IVFP, Murray et al.)."""

from __future__ import annotations

import dataclasses

import numpy as np
from gymnasium import spaces

from ..grasp import Grasp
from ..outcomes import MOTIONS, Outcome
from ..sim.probe import WristCamera, frame_times, run_probe
from ..sim.scenes import TRAY_WALL_HEIGHT_M, SceneRecord, rebuild_scene
from .base import GraspEnv
from .spec import ENVS_DIR

MAX_FILLS = 10  # bins filled before giving up on finding a visible target
STILL_TIME_S = 0.3  # after release: let the fingers open before the hand leaves


class BinPickEnv(GraspEnv):
    """Pick a given target out of a dense bin: a contextual bandit, one pick per episode.

    **Task description.** A bin with walls is filled with objects dropped into it. Each episode
    names a target (``target_mask``); the agent chooses a grasp point and a pre-grasp width. The
    hand comes down top-down, closes, runs the interactive probe (lift, pull, push back, lower),
    filmed by the wrist camera, then extracts (lifts out of the bin). Extracted objects leave the
    bin, and the next episode continues in the same bin with a new target, as in the paper, so
    that filling a bin is not paid per pick.

    **Randomizations.** A seeded reset fills a new bin (objects, drop poses) and draws the target
    uniformly among the objects showing at least ``pick.min_target_pixels`` pixels (and, with
    ``pick.target_rule: top_level``, carrying no other object). A reset
    without a seed continues the bin (a new bin when fewer than ``pick.min_objects`` are left or
    no object is visible enough). Physics is deterministic: the same seed and actions give the same
    picks, frames and outcomes.

    **Success conditions.** ``success``: the target, and only it, is extracted (wholly above the
    walls). ``fail_multipick``: the target with others. ``fail_not_picked``: the target stays
    (missed, slipped, or another object came up). ``collision``: the hand touched the bin before closing,
    or objects it pushed past on the way down stopped it (no probe). Reward 1 for a success, else 0. Every episode terminates after its pick.

    **Action.** As :class:`~graspbench.envs.base.GraspEnv`'s (x, y, angle, opening) in [-1, 1]^4. The opening snaps to
    the nearest of ``pick.widths_m``; the angle is ignored unless ``pick.free_yaw`` (the closing
    axis then stays along image u).

    **Observation.** ``depth``, ``rgb`` and ``target_mask`` (H, W) uint8, 1 on the target's
    visible pixels.

    **Info.** GraspEnv's, with ``outcome`` one of :data:`~graspbench.outcomes.PICK_OUTCOMES`, ``target_id``,
    ``target_name``, ``width_index``, ``probe_rgb`` (T, h, w, 3) uint8 and ``probe_depth_m``
    (T, h, w) from the wrist camera (zeros after a collision), ``frame_times_s``, ``probed``,
    ``extracted_ids``, ``motion_s`` (simulated seconds of each motion of the pick, for units per
    hour), ``others_moved_m`` (with ``after_probe: release``: how far the non-target object that
    moved most went from the fingers closing to after the release, else None), ``new_bin``.

    **Verification in the loop.** ``step_grasp(grasp, verify=...)`` hands the probe's film to
    ``verify(probe_rgb) -> bool`` before extraction: True extracts; False releases the target
    where the probe ended (as ``pick.after_probe: release`` does) and the episode goes on with the
    same target (``outcome`` ``released``, not terminated), so that another grasp can be tried on
    the bin as it now is. With ``verify``, a collision also keeps the target; either keeps it only
    while it is still in view. ``info["verdict"]`` is what ``verify`` said (None without it);
    ``reset()`` gives up on a target. Without ``verify`` nothing changes.
    """

    task = "target_picking"

    def __init__(self, spec=ENVS_DIR / "binpick.yaml", render_mode=None, **overrides):
        super().__init__(spec, render_mode, **overrides)
        s = self.bench_spec
        if s.pick is None:
            raise ValueError("BinPickEnv needs a spec with a `pick:` section (see envs/binpick.yaml)")
        if s.scene.kind != "bin":
            raise ValueError(f"scene.kind: BinPick needs 'bin', got {s.scene.kind!r}")
        H, W = s.camera.height_px, s.camera.width_px
        self.observation_space = spaces.Dict(
            {
                **self.observation_space.spaces,
                "target_mask": spaces.Box(0, 1, (H, W), np.uint8),
            }
        )
        self.times = frame_times(s.pick.probe, s.pick.wrist_camera)
        self.target, self._new_bin, self._verifying = None, False, False

    # --- task hooks -------------------------------------------------------------------------------

    def _initialize_episode(self, seed: int | None, options: dict) -> None:
        """A seeded reset fills a new bin; a seedless one names a new target in the same bin (a
        new bin when too few objects are left or none is visible enough)."""
        new_bin = seed is not None or self.scene is None or options.get("new_bin", False)
        if not new_bin:
            self._frame = self._render_frame()
            self.target = self._choose_target()
            new_bin = self.target is None or len(self.scene.objects) < self.bench_spec.pick.min_objects
        if new_bin:
            self._load_scene()
        self._new_bin = new_bin

    def _load_scene(self) -> None:
        """A new bin with a target visible enough."""
        for _ in range(MAX_FILLS):
            super()._load_scene()
            self.target = self._choose_target()
            if self.target is not None:
                return
        raise RuntimeError(
            f"no bin with a visible target in {MAX_FILLS} tries: lower pick.min_target_pixels or scene.object_scale"
        )

    def _load_gripper(self) -> None:
        super()._load_gripper()
        self.wrist_camera = WristCamera(self.gripper, self.bench_spec.pick.wrist_camera)

    def _ready(self) -> bool:
        return self.scene is not None and self.target is not None

    def step_grasp(self, grasp: Grasp, verify=None):
        """One pick. ``verify``: optional ``verify(probe_rgb) -> bool``, asked after the probe
        whether to extract (True) or to release and keep the target (False); see the class."""
        return super().step_grasp(grasp, verify=verify)

    def _execute(self, grasp: Grasp, verify=None) -> dict:
        p, world = self.bench_spec.pick, self.world
        self._verifying = verify is not None  # evaluate's: only a verified pick may keep its target
        target_name = self._target_name
        grasp = self.snap(grasp)
        position, yaw, opening_m = self.grasp_to_pose(grasp)
        width_index = int(np.argmin(np.abs(np.array(p.widths_m) - opening_m)))
        opening_m = p.widths_m[width_index]
        motion_s, steps = {}, world.steps

        def timed(name):
            nonlocal steps
            motion_s[name] = motion_s.get(name, 0.0) + (world.steps - steps) * world.time_step_s
            steps = world.steps

        brush = (self.scene.bodies + (self.scene.obstacles if p.fabric_walls else [])) if p.brush_force_n > 0 else ()
        contacts = self.gripper.approach_and_close(position, yaw, opening_m, brush, p.brush_force_n)
        timed("approach_close")
        film, extracted, others_moved, verdict, released = None, [], None, None, False
        if contacts:
            outcome = Outcome.COLLISION
        else:
            # Reversibility is the probe's (and the release's) doing, not the approach's: measured from here.
            closed = {b: world.pose(b)[0] for b in self.scene.bodies}
            film = run_probe(self.gripper, p.probe, self.wrist_camera, watch=self.target)
            timed("probe")
            if verify is not None:
                verdict = bool(verify(film.rgb))
            extract = verdict if verify is not None else p.after_probe == "extract"
            if extract:
                self.gripper.lift_to(p.extract_height_m)
                timed("extract")
                extracted = self._extracted()
                if self.target not in extracted:
                    outcome = Outcome.FAIL_NOT_PICKED
                else:
                    outcome = Outcome.FAIL_MULTIPICK if len(extracted) > 1 else Outcome.SUCCESS
                for body in extracted:
                    self.scene.remove(body)
            else:
                # Released on purpose: nothing is judged (a rejected verification keeps its target).
                outcome = Outcome.RELEASED
                released = True
                # Back to the pre-grasp width, not wider: the fingers would push the neighbours away.
                self.gripper.fingers_to(opening_m, self.bench_spec.gripper.finger_force_n)
                world.step(int(STILL_TIME_S / world.time_step_s))
                self.gripper.lift_to(p.extract_height_m)
                timed("release")
        self.gripper.park()
        self.scene.settle()
        timed("settle")
        lost = self.scene.remove_lost()
        if released:
            moved = [np.linalg.norm(world.pose(b)[0] - closed[b]) for b in self.scene.bodies if b != self.target]
            others_moved = float(max(moved, default=0.0))
        T = len(self.times)
        h, w = p.wrist_camera.height_px, p.wrist_camera.width_px
        return {
            "outcome": outcome.value,
            "touched_ids": sorted({b for _, b in contacts}),
            "removed_ids": extracted,
            "lost_ids": lost,
            "target_id": self.target,
            "sim_time_s": sum(motion_s.values()),
            "first_contacts": [(part, self._what(body, self.target)) for part, body in contacts],
            "target_name": target_name,
            "width_index": width_index,
            "probed": film is not None,
            "probe_rgb": film.rgb if film is not None else np.zeros((T, h, w, 3), np.uint8),
            "probe_depth_m": film.depth_m if film is not None else np.zeros((T, h, w), np.float32),
            "frame_times_s": self.times,
            "extracted_ids": extracted,
            "others_moved_m": others_moved,
            "target_rise_m": float(np.max(film.watched_z_m - film.watched_z_m[0])) if film is not None else None,
            "motion_s": {name: motion_s.get(name, 0.0) for name in MOTIONS},
            "new_bin": self._new_bin,
            "verdict": verdict,
        }

    def evaluate(self, attempt: dict) -> dict:
        """One pick per episode; with verify, a rejected or colliding attempt is not yet the pick
        while the target is still there to grasp again (the episode goes on with it)."""
        retry = (
            self._verifying
            and attempt["outcome"] in (Outcome.RELEASED, Outcome.COLLISION)
            and bool((self._frame.segmentation == attempt["target_id"]).any())
        )
        self.target = attempt["target_id"] if retry else None
        return {"success": Outcome(attempt["outcome"]).success, "terminated": not retry, "truncated": False}

    def set_bin(self, record: SceneRecord, target_index: int):
        """Replace the bin by a hand-built one (``record.kind`` is ignored) and name its
        ``target_index``-th object the target; returns the observation and info, as reset does."""
        self.world.reset()
        self.scene = rebuild_scene(
            self.world, dataclasses.replace(record, kind="bin"), self.bench_spec.scene.workspace_m
        )
        self._load_gripper()
        self.scene.settle()
        self.objects_at_start = len(self.scene.objects)
        self.target, self._new_bin = self.scene.bodies[target_index], True
        self.attempts = self.consecutive_failures = 0
        self._frame = self._render_frame()
        return self._observation(), self._info()

    # --- the grasp --------------------------------------------------------------------------------

    def snap(self, grasp: Grasp) -> Grasp:
        """The grasp as executed: the angle fixed unless ``pick.free_yaw``."""
        if self.bench_spec.pick.free_yaw:
            return grasp
        return Grasp(grasp.u, grasp.v, 0.0, grasp.opening_px, grasp.depth_m, grasp.quality)

    # --- internals --------------------------------------------------------------------------------

    def _choose_target(self) -> int | None:
        segmentation = self._frame.segmentation
        pick = self.bench_spec.pick
        visible = [b for b in self.scene.bodies if (segmentation == b).sum() >= pick.min_target_pixels]
        if pick.target_rule == "top_level":
            top_level = self.scene.support_graph().top_level
            visible = [b for b in visible if top_level[b]]
        if not visible:
            return None
        return int(visible[int(self.np_random.integers(len(visible)))])

    @property
    def _target_name(self) -> str:
        return self.scene.objects[self.target].name if self.target in self.scene.objects else ""

    def _extracted(self) -> list[int]:
        c = self.world.client
        return [b for b in self.scene.bodies if c.getAABB(b)[0][2] > TRAY_WALL_HEIGHT_M]

    def _observation(self) -> dict:
        observation = super()._observation()
        target = self.target if self.target is not None else -2
        observation["target_mask"] = (self._frame.segmentation == target).astype(np.uint8)
        return observation

    def _info(self, **attempt) -> dict:
        info = super()._info(**attempt)
        if not attempt:  # a reset: the target it names
            info.update(target_id=self.target, target_name=self._target_name, new_bin=self._new_bin)
        return info
