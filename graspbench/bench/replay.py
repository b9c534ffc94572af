"""Replaying recorded attempts for ``graspbench analyze``: the scene and image a planner saw before
an attempt (:func:`replay`, exact: episode ``i`` was reset with ``seed + i`` and the environment is
deterministic), and the verified grasp nearest to a failed one on that scene
(:func:`nearest_verified`, the dataset labeller's candidates executed in order of distance)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
from tqdm import tqdm

from ..data.candidates import LabelSettings, image_grasp, sample_candidates
from ..data.generate import try_grasp
from ..envs import make_env
from ..envs.base import grasp_to_pose
from ..grasp import Grasp, wrap_angle
from ..outcomes import Outcome
from ..sim.camera import Camera


@dataclass
class Snapshot:
    """What the planner saw before one attempt, and what the scene was."""

    rgb: np.ndarray
    depth_m: np.ndarray  # as observed (noisy where the spec adds noise): the grasp was executed from it
    clean_depth_m: np.ndarray  # what the labeller converts its candidates with
    segmentation: np.ndarray
    record: object  # SceneRecord: the settled poses, to rebuild the scene exactly
    bodies: list[int]
    object_names: list[str]
    spec: object  # the environment's EnvSpec
    replay: str  # "ok", or where the replay stopped matching the records


@dataclass
class Nearest:
    """The nearest verified grasp to a failed one."""

    candidates: int
    trials: int
    found: bool = False
    centre_offset_mm: float = float("nan")
    angle_error_deg: float = float("nan")
    opening_error_mm: float = float("nan")
    height_error_mm: float = float("nan")
    object_index: int | None = None
    grasp: Grasp | None = None


def replay(records: pd.DataFrame, chosen: list, progress: bool = True) -> dict:
    """Snapshots of the chosen attempts (index labels of ``records``), by replaying their episodes."""
    snapshots = {}
    wanted = records.loc[chosen]
    with tqdm(total=len(chosen), desc="replay", unit="failure", disable=not progress) as bar:
        for env_id, env_rows in wanted.groupby("env", sort=True):
            if env_id not in gym.registry and not Path(env_id).is_file():
                raise ValueError(
                    f"environment {env_id!r} of the records is neither a registered id nor a spec file "
                    f"here: analyze them from the folder they were made in"
                )
            env = make_env(env_id, observe_segmentation=True)
            try:
                for (seed, episode), rows in env_rows.groupby(["seed", "episode"], sort=True):
                    episode_records = records[
                        (records["env"] == env_id)
                        & (records["agent"].isin(rows["agent"]))
                        & (records["seed"] == seed)
                        & (records["episode"] == episode)
                    ]
                    for agent, agent_rows in rows.groupby("agent", sort=True):
                        history = episode_records[episode_records["agent"] == agent].sort_values("attempt")
                        snapshots.update(_replay_episode(env, int(seed + episode), history, set(agent_rows.index)))
                        bar.update(len(agent_rows))
            finally:
                env.close()
    return snapshots


def _replay_episode(env, reset_seed: int, history: pd.DataFrame, wanted: set) -> dict:
    observation, info = env.reset(seed=reset_seed)
    status, snapshots = "ok", {}
    last = max(history.loc[list(wanted), "attempt"])
    for label, row in history.iterrows():
        if row["attempt"] > last:
            break
        if label in wanted:
            clean = observation["depth"]
            if env.bench_spec.noise is not None:  # the labeller converts with the clean depth, as in datasets
                clean = env.camera.render(env.world.client).depth_m
            bodies = env.scene.bodies
            snapshots[label] = Snapshot(
                observation["rgb"],
                observation["depth"],
                clean,
                observation["segmentation"],
                env.scene.record(),
                bodies,
                [env.scene.objects[b].name for b in bodies],
                env.bench_spec,
                status,
            )
        observation, _, terminated, truncated, info = env.step_grasp(planned_grasp(row))
        if status == "ok" and info["outcome"] != row["outcome"]:
            status = f"differs from the records at attempt {int(row['attempt'])} ({info['outcome']}, recorded {row['outcome']})"
            if label in snapshots:
                snapshots[label].replay = status
        if terminated or truncated:
            break
    for label in wanted - set(snapshots):  # the replayed episode ended earlier than the recorded one
        snapshots[label] = None
    return snapshots


def planned_grasp(row) -> Grasp:
    depth = row["depth_m"]
    return Grasp(
        float(row["u"]),
        float(row["v"]),
        float(row["angle_rad"]),
        float(row["opening_px"]),
        None if pd.isna(depth) else float(depth),
    )


def nearest_verified(world, spec, snapshot: Snapshot, grasp: Grasp, rng: np.random.Generator, settings=None) -> Nearest:
    """The verified grasp nearest (centre, in the table plane) to ``grasp`` on the snapshot's scene:
    candidates executed in order of distance until one succeeds."""
    camera = camera_of(spec)
    settings = settings or LabelSettings()
    candidates = sample_candidates(snapshot.record, settings, spec.gripper, camera, snapshot.clean_depth_m, rng)
    position, yaw, opening_m = grasp_to_pose(grasp, camera, snapshot.depth_m, spec.gripper)
    opening_m = min(opening_m, spec.gripper.max_opening_m)  # what the gripper did with it
    offsets = [float(np.linalg.norm(c.position_m[:2] - position[:2])) for c in candidates]
    for trials, k in enumerate(np.argsort(offsets, kind="stable"), start=1):
        candidate = candidates[k]
        if (
            try_grasp(world, snapshot.record, spec, candidate.position_m, candidate.yaw, candidate.opening_m).outcome
            is not Outcome.SUCCESS
        ):
            continue
        return Nearest(
            len(candidates),
            trials,
            True,
            1000 * offsets[k],
            float(np.degrees(abs(wrap_angle(yaw - candidate.yaw)))),
            1000 * (opening_m - candidate.opening_m),
            1000 * float(position[2] - candidate.position_m[2]),
            candidate.object_index,
            image_grasp(camera, snapshot.clean_depth_m, candidate),
        )
    return Nearest(len(candidates), len(candidates))


def camera_of(spec) -> Camera:
    """The camera of an environment spec."""
    s = spec.camera
    return Camera.top_down(s.width_px, s.height_px, s.height_m, s.field_m)


def aimed_object(snapshot: Snapshot, grasp: Grasp) -> int | None:
    """Index (in the scene record) of the object seen at the grasp's centre pixel, None off objects."""
    height, width = snapshot.segmentation.shape
    u = int(np.clip(round(grasp.u), 0, width - 1))
    v = int(np.clip(round(grasp.v), 0, height - 1))
    body = int(snapshot.segmentation[v, u])
    return snapshot.bodies.index(body) if body in snapshot.bodies else None
