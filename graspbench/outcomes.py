"""The outcome vocabulary and the record of an attempt: one name for each way an attempt can end,
the flags each outcome implies, and the columns of the records the runner writes.

Everything that reads or writes an outcome (the gripper, the environments, the runner, the
metrics, the analysis, the IVFP tables) uses these names, never a string of its own.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from enum import Enum


class Outcome(str, Enum):
    """How an attempt ended. Exactly one per attempt (per pick in target picking).

    A ``str`` enum: an outcome compares equal to its code (``Outcome.SUCCESS == "success"``), the
    code (``.value``) being what records and ``info["outcome"]`` hold. pandas does not: compare a
    column with ``.value``, or use ``isin`` with the sets below.
    """

    # Clutter removal: one grasp attempt.
    SUCCESS = "success"  # exactly one object lifted and held (target picking: the target alone extracted)
    COLLISION = "collision"  # the gripper touched something before closing
    NO_CONTACT = "no_contact"  # the fingers closed on nothing
    SLIPPED = "slipped"  # something was between the fingers but not held after the lift
    MULTI_PICK = "multi_pick"  # more than one object came up
    SIM_ERROR = "sim_error"  # the physics blew up; the scene was rebuilt and the attempt is not counted
    # Target picking (BinPick): one pick of a named target.
    FAIL_MULTIPICK = "fail_multipick"  # the target came out with others
    FAIL_NOT_PICKED = "fail_not_picked"  # the target stayed (missed, slipped, or another object came up)
    RELEASED = "released"  # released after the probe on purpose: nothing judged
    NO_ATTEMPT = "no_attempt"  # the agent gave up on the target without grasping

    @property
    def success(self) -> bool:
        return self in SUCCESSES

    @property
    def collision(self) -> bool:
        return self in COLLISIONS

    @property
    def multi_pick(self) -> bool:
        return self in MULTI_PICKS


SUCCESSES = frozenset({Outcome.SUCCESS})
COLLISIONS = frozenset({Outcome.COLLISION})
MULTI_PICKS = frozenset({Outcome.MULTI_PICK, Outcome.FAIL_MULTIPICK})
"""more than one object came up: the clutter-removal and the target-picking names of it"""

# An attempt's ``target_id`` and ``level`` when the grasp's centre is on no object. An int, not None:
# Gymnasium's vector envs stack each info key into one array typed by the first env's value.
NO_OBJECT = -1

GRASP_OUTCOMES = (Outcome.SUCCESS, Outcome.COLLISION, Outcome.NO_CONTACT, Outcome.SLIPPED, Outcome.MULTI_PICK)
"""what the gripper's execution of one grasp can end in (labels of generated datasets)"""
PICK_CLASSES = (Outcome.SUCCESS, Outcome.FAIL_MULTIPICK, Outcome.FAIL_NOT_PICKED)
"""the outcomes of an extracted pick: the IVFP classifier's classes, in the order of its outputs"""
PICK_OUTCOMES = (*PICK_CLASSES, Outcome.COLLISION, Outcome.RELEASED)
"""what one step of the target-picking environment can end in"""

MOTIONS = ("approach_close", "probe", "extract", "release", "settle")
"""the motions of a pick, timed separately in simulated seconds (units per hour pays for all)"""


class _Record:
    @classmethod
    def columns(cls) -> list[str]:
        """The record's columns in the order written: its fields'."""
        return [f.name for f in dataclasses.fields(cls)]


@dataclass
class AttemptRecord(_Record):
    """One grasp attempt of clutter removal, as the runner writes it (one CSV row; the fields are
    the columns, in order)."""

    env: str
    agent: str
    seed: int
    episode: int
    attempt: int
    outcome: str
    success: bool
    collision: bool
    multi_pick: bool
    """the flags the outcome implies (:func:`flags`)"""
    removed: int
    """objects lifted and removed"""
    objects_left: int
    objects_at_start: int
    level: int | None
    """stacked and bin scenes: the aimed object's level in the support graph"""
    top_level: bool | None
    """stacked and bin scenes: whether the aimed object had nothing on it"""
    planning_ms: float
    """wall-clock of the agent's planning call"""
    sim_time_s: float
    # The grasp as planned, where it was aimed, what the hand hit first: what `graspbench analyze` reads.
    u: float
    v: float
    angle_rad: float
    opening_px: float
    depth_m: float | None
    quality: float | None
    on_object: bool
    first_contact: str
    """``part:what`` pairs of the first contact, joined by ``;``"""
    object_name: str | None = None
    """the aimed-at object's name (its family: the novel suite's results by family)"""

    GRASP_COLUMNS = ("u", "v", "angle_rad", "opening_px", "depth_m", "quality", "on_object", "first_contact")
    """the grasp as planned and what it hit first: what ``graspbench analyze`` replays (records before them lack them)"""

    @classmethod
    def from_step(
        cls, env: str, agent: str, seed: int, episode: int, grasp, planning_ms: float, info: dict
    ) -> AttemptRecord:
        """The record of one ``step_grasp`` of a clutter-removal environment, from its info."""
        outcome = Outcome(info["outcome"])
        return cls(
            env=env,
            agent=agent,
            seed=seed,
            episode=episode,
            attempt=info["attempt"],
            outcome=outcome.value,
            success=outcome.success,
            collision=outcome.collision,
            multi_pick=outcome.multi_pick,
            removed=len(info["removed_ids"]),
            objects_left=info["objects_left"],
            objects_at_start=info["objects_at_start"],
            level=None if info["level"] == NO_OBJECT else info["level"],
            top_level=info["top_level"],
            planning_ms=round(planning_ms, 3),
            sim_time_s=round(info["sim_time_s"], 4),
            u=grasp.u,
            v=grasp.v,
            angle_rad=grasp.angle_rad,
            opening_px=grasp.opening_px,
            depth_m=grasp.depth_m,
            quality=grasp.quality,
            on_object=info["target_id"] != NO_OBJECT,
            first_contact=";".join(f"{part}:{what}" for part, what in info["first_contacts"]),
            object_name=info.get("object_name"),
        )


@dataclass
class PickRecord(_Record):
    """One pick of target picking (BinPick), as the runner writes it: every grasp tried on the
    target (probes, releases, retries) and the motions they took. The outcome is the last grasp's."""

    env: str
    split: str
    """the object split (the IVFP paper's seen objects: train, unseen: test)"""
    agent: str
    seed: int
    episode: int
    pick: int
    """the pick's number in its trial, from 1"""
    target_name: str
    outcome: str
    """the last grasp's (``no_attempt``: the agent gave up on the target without grasping)"""
    success: bool
    collision: bool
    multi_pick: bool
    removed: int
    """objects extracted by every grasp tried on the target"""
    objects_left: int
    objects_at_start: int
    """objects in the bin when it was filled"""
    planning_ms: float
    """the agent's own time for the pick: choosing grasps and, with verification, judging probes"""
    sim_time_s: float
    """simulated seconds of every motion of every grasp tried, one column per motion after it"""
    approach_close_s: float
    probe_s: float
    extract_s: float
    release_s: float
    settle_s: float
    probes: int
    retries: int
    """grasps tried after the first (verification released the target, or a collision kept it)"""
    # The last grasp; NaN (an empty cell) when the agent gave up without grasping.
    u: float = math.nan
    v: float = math.nan
    opening_px: float = math.nan
    width_m: float = math.nan
    """the pre-grasp width the opening snapped to"""


MOTION_COLUMNS = [f"{motion}_s" for motion in MOTIONS]
"""a pick record's column for each motion"""


def flags(outcome: str) -> dict[str, bool]:
    """The ``success``, ``collision`` and ``multi_pick`` columns an outcome code implies."""
    outcome = Outcome(outcome)
    return {"success": outcome.success, "collision": outcome.collision, "multi_pick": outcome.multi_pick}
