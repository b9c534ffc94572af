"""The demonstrator: a scripted operator in place of the paper's 2,143 teleoperated picks, and
``graspbench ivfp collect``, which records its probed picks.

The operator looks at the bin as a person would (the clean depth image and the target's mask)
and aims as a careful person does: at a point well inside the target's visible surface where both
fingers come down on free space, with the narrowest pre-grasp width that spans the target there
plus a margin. People are not exact: the point is spread by a few millimetres, and a share of
picks are careless (a wider spread, a width one step too narrow or too wide). These mistakes are
what give the classifier its failures, as the operators' did in the paper.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage
from tqdm import tqdm

from ..agents.picking import clear_aim
from ..clearance import footprint_heights
from ..data.generate import spec_mapping
from ..data.store import dataset_description
from ..envs.binpick import BinPickEnv
from ..grasp import Grasp
from ..io import write_atomic
from ..parallel import run_tasks
from ..sim.gripper import FINGER_LENGTH_M
from ..versions import experiment_version
from .picks import OUTCOMES, bin_path, read_metadata, write_bin, write_index, write_metadata

AXES_FREE_YAW = 4  # closing-axis directions a person considers when the gripper can turn
AIMS = ("sampled", "clear")


@dataclass(frozen=True)
class DemonstratorSettings:
    """How the scripted operator aims and errs."""

    spread_m: float = 0.004
    """standard deviation of a careful person's aim on the table"""
    careless_rate: float = 0.3
    """share of picks made carelessly"""
    careless_spread_m: float = 0.012
    """standard deviation of a careless aim"""
    margin_m: float = 0.01
    """free space a person leaves on each side of the target when choosing the width"""
    candidates: int = 40
    """points inside the target's mask a person weighs up (aim "sampled")"""
    aim: str = "sampled"
    """how the careful aim is found: "sampled" (the ``candidates`` points, weighted towards the
    middle, scored by how far a finger would land on something: the collections of docs/ivfp.md),
    or "clear" (every target pixel and width checked against the depth image, as the clear-grasp
    agent aims; fixed yaw only)"""

    def check(self) -> None:
        if self.aim not in AIMS:
            raise ValueError(f"aim must be one of {AIMS}, got {self.aim!r}")


def demonstrate(
    env, observation: dict, rng: np.random.Generator, settings: DemonstratorSettings = DemonstratorSettings()
) -> Grasp:
    """The operator's grasp on the current target of a BinPick env."""
    p, gripper = env.bench_spec.pick, env.bench_spec.gripper
    mask = observation["target_mask"].astype(bool)
    depth = observation["depth"]
    if settings.aim == "clear":
        if p.free_yaw:
            raise ValueError(
                "DemonstratorSettings.aim 'clear' searches fixed-yaw grasps; use aim 'sampled' with pick.free_yaw"
            )
        u, v, width = clear_aim(
            mask, depth, env.camera, p.widths_m, settings.margin_m, gripper.grasp_depth_m, gripper.fingertip_clearance_m
        )
        px_m = float(env.camera.metres_per_pixel(depth[int(v), int(u)]))
        return _with_human_error(env, u, v, 0.0, width, px_m, rng, settings)
    heights = env.camera.heights_m(depth)
    inside = ndimage.distance_transform_edt(mask)
    v_all, u_all = np.nonzero(inside > 0)
    weights = inside[v_all, u_all] ** 2
    chosen = rng.choice(len(v_all), size=min(settings.candidates, len(v_all)), replace=False, p=weights / weights.sum())
    angles = np.arange(AXES_FREE_YAW) * np.pi / AXES_FREE_YAW - np.pi / 2 if p.free_yaw else [0.0]
    best, best_score = None, -np.inf
    for k in chosen:
        u, v = float(u_all[k]), float(v_all[k])
        px_m = float(env.camera.metres_per_pixel(depth[int(v), int(u)]))
        for angle in angles:
            span_m = _span_px(mask, u, v, angle) * px_m
            fits = [w for w in p.widths_m if w >= span_m + 2 * settings.margin_m]
            width = fits[0] if fits else p.widths_m[-1]
            fingertip_z = heights[int(v), int(u)] - gripper.grasp_depth_m
            fingers_top, palm_top = footprint_heights(heights, u, v, angle, width / px_m, px_m)
            # How far the fingers (or the palm) would land on something: a person looks for room
            # beside the target first, then for a width that spans it, then for the middle of it.
            blocked_m = max(fingers_top - fingertip_z, palm_top - fingertip_z - FINGER_LENGTH_M, 0.0)
            score = -blocked_m / settings.margin_m + 1.0 * bool(fits) + inside[int(v), int(u)] / inside.max()
            if score > best_score:
                best, best_score = (u, v, angle, width, px_m), score
    return _with_human_error(env, *best, rng, settings)


class DemonstratorAgent:
    """The demonstrator as an agent of the runner (``graspbench ivfp calibrate``): one
    :func:`demonstrate` grasp per pick, seeded by the episode.

    Args:
        settings: how it aims and errs.
        name: its name in records.
    """

    def __init__(self, settings: DemonstratorSettings = DemonstratorSettings(), name: str = "demonstrator"):
        settings.check()
        self.settings, self.name = settings, name
        self.rng = np.random.default_rng(0)

    def reset(self, seed: int | None) -> None:
        self.rng = np.random.default_rng(seed)

    def pick(self, env, observation: dict, info: dict) -> None:
        env.step_grasp(demonstrate(env.env, observation, self.rng, self.settings))


def _with_human_error(
    env,
    u: float,
    v: float,
    angle: float,
    width: float,
    px_m: float,
    rng: np.random.Generator,
    settings: DemonstratorSettings,
) -> Grasp:
    """The aimed grasp as a person executes it: spread by a few millimetres, and now and then
    carelessly (a wider spread, a width one step off)."""
    widths = env.bench_spec.pick.widths_m
    H, W = env.camera.height_px, env.camera.width_px
    careless = rng.random() < settings.careless_rate
    spread_px = (settings.careless_spread_m if careless else settings.spread_m) / px_m
    if careless and rng.random() < 0.5:
        index = widths.index(width) + int(rng.choice([-1, 1]))
        width = widths[int(np.clip(index, 0, len(widths) - 1))]
    u = float(np.clip(u + rng.normal(0, spread_px), 0, W - 1))
    v = float(np.clip(v + rng.normal(0, spread_px), 0, H - 1))
    return Grasp(u, v, angle, env.width_to_opening_px(width, u, v))


def _span_px(mask: np.ndarray, u: float, v: float, angle: float) -> float:
    """Length of the run of mask pixels through (u, v) along the closing axis."""
    direction = np.array([np.cos(angle), -np.sin(angle)])
    ends = []
    for sign in (1, -1):
        r = 0.0
        while True:
            x, y = np.round(np.array([u, v]) + sign * (r + 1) * direction).astype(int)
            if not (0 <= y < mask.shape[0] and 0 <= x < mask.shape[1] and mask[y, x]):
                break
            r += 1
        ends.append(r)
    return sum(ends) + 1


# --- collecting -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def _env(spec_json: str):
    return BinPickEnv(json.loads(spec_json))


def collect_bin(task: dict) -> dict:
    """Fill bin ``task["bin"]`` (seed ``seed + bin``), make up to ``picks`` demonstrations in it,
    store them; returns the bin's counts and costs. Runs in worker processes: plain data in and out."""
    start = time.perf_counter()
    env = _env(json.dumps(task["spec"], sort_keys=True))
    physics_start = env.world.physics_time_s
    settings = DemonstratorSettings(**task["settings"])
    observation, info = env.reset(seed=task["seed"] + task["bin"])
    rows = []
    for k in range(task["picks"]):
        if k > 0:
            if len(env.scene.objects) < env.bench_spec.pick.min_objects:
                break
            observation, info = env.reset()
            if info["new_bin"]:
                break  # nothing visible enough was left: this bin is done
        grasp = demonstrate(env, observation, np.random.default_rng([task["seed"], task["bin"], k]), settings)
        _, _, _, _, result = env.step_grasp(grasp)
        rows.append(
            {
                "outcome": result["outcome"],
                "probed": result["probed"],
                "probe_rgb": result["probe_rgb"],
                "probe_depth_m": result["probe_depth_m"].astype(np.float16),
                "rgb": observation["rgb"],
                "depth_m": observation["depth"],
                "target_mask": observation["target_mask"].astype(bool),
                "u": grasp.u,
                "v": grasp.v,
                "angle_rad": env.snap(grasp).angle_rad,
                "opening_m": env.bench_spec.pick.widths_m[result["width_index"]],
                "width_index": result["width_index"],
                "sim_time_s": result["sim_time_s"],
                "others_moved_m": np.nan if result["others_moved_m"] is None else result["others_moved_m"],
                "target_rise_m": np.nan if result["target_rise_m"] is None else result["target_rise_m"],
                "target_name": result["target_name"],
            }
        )
    arrays = {key: np.array([row[key] for row in rows]) for key in rows[0]}
    arrays["outcome"] = arrays["outcome"].astype(f"<U{max(len(o) for o in OUTCOMES)}")
    arrays["frame_times_s"] = env.times
    for key in ("u", "v", "angle_rad", "opening_m", "sim_time_s", "others_moved_m", "target_rise_m"):
        arrays[key] = arrays[key].astype(np.float32)
    arrays["width_index"] = arrays["width_index"].astype(np.int16)
    write_bin(task["out"], task["bin"], arrays)
    return {
        "bin": task["bin"],
        "picks": len(rows),
        "seconds": time.perf_counter() - start,
        "physics_s": env.world.physics_time_s - physics_start,
        "sim_s": float(arrays["sim_time_s"].sum()),
    }


def _record_code_version(out) -> None:
    """Add the IVFP code version (graspbench/versions.py) to the collection's code_versions.json: every
    version that made some of its bins. A file of its own: dataset.json fingerprints the collection
    for the classifier and the policy, and a resume must not change it."""
    path = Path(out) / "code_versions.json"
    versions = json.loads(path.read_text()) if path.exists() else []
    if experiment_version("ivfp") not in versions:
        write_atomic(path, json.dumps(sorted([*versions, experiment_version("ivfp")]), indent=1))


def collect(
    env: str,
    bins: int,
    out,
    picks_per_bin: int = 12,
    seed: int = 0,
    split: str | None = "train",
    after_probe: str = "extract",
    workers: int | None = None,
    executor: str = "local",
    address: str | None = None,
    settings: DemonstratorSettings = DemonstratorSettings(),
    progress: bool = True,
) -> dict:
    """Make (or finish) a collection of ``bins`` bins of demonstrations in ``out``; returns a summary.
    Bins already in ``out`` are skipped, so running the same command again resumes."""
    spec = spec_mapping(env, split)
    if spec.get("pick") is None:
        raise ValueError(
            f"--env {env}: not a target-picking environment (no `pick:` section); use GraspBench/BinPick-v1"
        )
    spec["pick"]["after_probe"] = after_probe
    settings.check()
    if (Path(out) / "dataset.json").exists():  # a resume: the same demonstrator, or the bins would mix two
        made_by = DemonstratorSettings(**read_metadata(out).get("demonstrator", {}))
        if made_by != settings:
            raise ValueError(
                f"{out} was collected by the demonstrator {made_by}; resume it with the same settings "
                f"(--aim {made_by.aim}, --careless-rate {made_by.careless_rate}) or use a new --out folder"
            )
    write_metadata(
        out,
        dataset_description(
            env,
            spec,
            seed,
            bins=bins,
            picks_per_bin=picks_per_bin,
            after_probe=after_probe,
            demonstrator=dataclasses.asdict(settings),
        ),
    )
    _record_code_version(out)
    tasks = [
        {
            "spec": spec,
            "seed": seed,
            "bin": b,
            "picks": picks_per_bin,
            "settings": dataclasses.asdict(settings),
            "out": str(out),
        }
        for b in range(bins)
        if not bin_path(out, b).exists()
    ]
    picks = busy_s = physics_s = sim_s = 0.0
    start = time.perf_counter()
    try:
        with tqdm(total=bins, initial=bins - len(tasks), desc="bins", unit="bin", disable=not progress) as bar:
            for _, result in run_tasks(collect_bin, tasks, executor=executor, workers=workers, address=address):
                picks += result["picks"]
                busy_s += result["seconds"]
                physics_s += result["physics_s"]
                sim_s += result["sim_s"]
                bar.update()
                bar.set_postfix(core_s_per_pick=f"{busy_s / picks:.2f}")
    finally:
        index = write_index(out)
    return {
        "bins": len(index),
        "picks": int(index["picks"].sum()),
        **{o: int(index[o].sum()) for o in OUTCOMES},
        "made_now": int(picks),
        "wall_s": time.perf_counter() - start,
        "core_s_per_pick": busy_s / picks if picks else float("nan"),
        "physics_s_per_pick": physics_s / picks if picks else float("nan"),
        "sim_s_per_pick": sim_s / picks if picks else float("nan"),
    }
