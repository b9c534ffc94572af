"""Labelling grasps by executing them: one scene in, one npz of images, objects and labels out.

For each scene: render it (clean and noisy depth), record the settled poses and the support graph,
sample antipodal candidates on every object's mesh, turn each into the image grasp (u, v, angle,
opening_px) that a planner would output (:mod:`graspbench.data.candidates`), and execute it
exactly as the environment executes that image grasp (fingertips as deep as the free space allows,
:func:`graspbench.clearance.fingertip_z`), on the scene rebuilt exactly from the recorded poses. A label therefore says what the benchmark would do with
that image grasp, not what a differently placed hand would have done.

Determinism: scene ``i`` is built with seed ``seed + i`` and its candidates drawn from
``default_rng([seed, i])``; every trial starts from a fresh rebuild. A scene's labels therefore do
not depend on which worker made it or what that worker did before.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from ..envs.base import scene_models
from ..envs.clutter import ClutterRemovalEnv
from ..envs.spec import EnvSpec, resolve_spec
from ..io import owns_out_folder, remove_damaged, zip_damage
from ..outcomes import Outcome
from ..parallel import run_tasks
from ..sim.camera import DepthNoise
from ..sim.gripper import FINGER_WIDTH_M, Gripper
from ..sim.objects import scaled
from ..sim.scenes import SceneRecord, rebuild_scene
from .candidates import Candidate, LabelSettings, image_grasp, sample_candidates
from .store import dataset_description, scene_path, write_index, write_metadata, write_scene


@dataclass
class TrialResult:
    outcome: Outcome
    geometric_free: bool


def try_grasp(world, record: SceneRecord, spec: EnvSpec, position_m, yaw: float, opening_m: float) -> TrialResult:
    """Rebuild ``record`` exactly, check the open gripper at the grasp pose against everything,
    then execute the grasp. The same arguments always give the same result."""
    world.reset()
    scene = rebuild_scene(world, record, spec.scene.workspace_m)
    gripper = Gripper(world, spec.gripper)
    x, y, z = (float(a) for a in position_m)
    gripper.teleport((x, y, z, yaw), opening_m)
    world.client.performCollisionDetection()
    geometric_free = not gripper.touching()
    result = gripper.execute(position_m, yaw, opening_m, scene.bodies)
    return TrialResult(result.outcome, geometric_free)


def stored_record(spec: EnvSpec, scene: dict) -> SceneRecord:
    """The SceneRecord of a stored scene (a dict read from its npz), to replay its labels: each
    object at the scale, friction and mass it was labelled with (scenes stored before randomised
    objects have none of these and use the spec's)."""
    models = {
        m.name: m for m in scene_models(dataclasses.replace(spec, scene=dataclasses.replace(spec.scene, split="all")))
    }
    missing = [str(n) for n in scene["object_names"] if str(n) not in models]
    if missing:
        raise ValueError(f"objects {missing[:3]} of the stored scene are not in object set {spec.scene.objects!r}")
    chosen = [models[str(n)] for n in scene["object_names"]]
    if "object_scales" in scene:
        chosen = [
            dataclasses.replace(
                scaled(m, float(scale) / m.scale), friction=_or_none(friction), mass_factor=_or_none(factor)
            )
            for m, scale, friction, factor in zip(
                chosen, scene["object_scales"], scene["object_frictions"], scene["object_mass_factors"]
            )
        ]
    return SceneRecord(spec.scene.kind, tuple(chosen), scene["object_positions"], scene["object_orientations"])


def _or_none(value) -> float | None:
    return None if np.isnan(value) else float(value)


# --- one scene, as a worker runs it ---------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _env(spec_json: str):
    return ClutterRemovalEnv(json.loads(spec_json), observe_segmentation=True)


def label_scene(task: dict) -> dict:
    """Make, label and store one scene; returns its index row.

    ``task``: ``spec`` (a spec mapping), ``seed``, ``scene`` (index), ``settings`` (LabelSettings
    fields), ``out`` (the dataset folder). Runs in worker processes, so it takes plain data.
    """
    start = time.perf_counter()
    spec_json = json.dumps(task["spec"], sort_keys=True)
    env = _env(spec_json)
    spec = env.bench_spec
    settings = LabelSettings(**task["settings"])
    scene_index = task["scene"]
    observation, info = env.reset(seed=task["seed"] + scene_index)
    record = env.scene.record()
    graph = env.scene.support_graph()
    bodies = env.scene.bodies
    camera = env.camera
    rng = np.random.default_rng([task["seed"], scene_index])

    depth = observation["depth"]
    if spec.noise is not None:  # the observation was noisy: render the clean one
        depth = camera.render(env.world.client).depth_m
    noise = spec.noise or DepthNoise()
    depth_noisy = noise.apply(depth, np.random.default_rng([task["seed"], scene_index, 1]))
    body_to_index = {b: k for k, b in enumerate(bodies)}
    segmentation = np.full(depth.shape, -1, dtype=np.int16)
    for body, k in body_to_index.items():
        segmentation[observation["segmentation"] == body] = k

    candidates = sample_candidates(record, settings, spec.gripper, camera, depth, rng)
    labels = []
    world = env.world
    for candidate in candidates:
        trial = try_grasp(world, record, spec, candidate.position_m, candidate.yaw, candidate.opening_m)
        successes = int(trial.outcome is Outcome.SUCCESS)
        trials = 1
        if successes:
            for _ in range(settings.perturbations):
                offset = np.append(rng.normal(0, settings.perturbation_m, 2), 0.0)
                yaw = candidate.yaw + rng.normal(0, settings.perturbation_rad)
                successes += (
                    try_grasp(world, record, spec, candidate.position_m + offset, yaw, candidate.opening_m).outcome
                    is Outcome.SUCCESS
                )
                trials += 1
        labels.append(_label(camera, depth, candidate, trial, successes / trials))

    levels = np.array([graph.level[b] for b in bodies], dtype=np.int16)
    top_level = np.array([graph.top_level[b] for b in bodies], dtype=bool)
    edges = np.array(
        [(body_to_index[upper], body_to_index[lower]) for upper in bodies for lower in graph.rests_on[upper]],
        dtype=np.int16,
    ).reshape(-1, 2)
    arrays = {
        "rgb": observation["rgb"],
        "depth": depth.astype(np.float32),
        "depth_noisy": depth_noisy.astype(np.float32),
        "segmentation": segmentation,
        "priority": priority_map(segmentation, bodies, graph),
        "intrinsics": camera.intrinsics,
        "extrinsics": camera.extrinsics,
        "object_names": np.array([m.name for m in record.models]),
        "object_scales": np.array([m.scale for m in record.models], np.float32),
        "object_frictions": np.array([np.nan if m.friction is None else m.friction for m in record.models], np.float32),
        "object_mass_factors": np.array(
            [np.nan if m.mass_factor is None else m.mass_factor for m in record.models], np.float32
        ),
        "object_positions": record.positions,
        "object_orientations": record.orientations,
        "object_levels": levels,
        "object_top_level": top_level,
        "support_edges": edges,
        **_label_arrays(labels),
    }
    write_scene(task["out"], scene_index, arrays)
    return {"scene": scene_index, "seconds": time.perf_counter() - start, "trials": _trials(labels, settings)}


def _trials(labels, settings) -> int:
    return sum(1 + (settings.perturbations if label["success"] else 0) for label in labels)


def priority_map(segmentation: np.ndarray, bodies: list[int], graph) -> np.ndarray:
    """GP-Net's ground truth: top-level objects 1, each level of objects resting above lowers it."""
    above: dict[int, int] = {}

    def layers_above(body, seen=()):
        if body not in above:
            resting = [b for b in bodies if body in graph.rests_on[b] and b not in seen]
            above[body] = 1 + max((layers_above(b, seen + (body,)) for b in resting), default=-1)
        return above[body]

    d = np.array([layers_above(b) for b in bodies])
    values = 1.0 - d / (d.max(initial=0) + 1)
    priority = np.zeros(segmentation.shape, dtype=np.float32)
    for k in range(len(bodies)):
        priority[segmentation == k] = values[k]
    return priority


def _label(camera, depth, candidate: Candidate, trial: TrialResult, robustness: float) -> dict:
    grasp = candidate.image or image_grasp(camera, depth, candidate)
    depth_m = camera.world_to_pixel(candidate.position_m)[2]
    px_per_m = grasp.opening_px / candidate.opening_m
    return {
        "u": grasp.u,
        "v": grasp.v,
        "angle": grasp.angle_rad,
        "opening_px": grasp.opening_px,
        "jaw_size_px": FINGER_WIDTH_M * px_per_m,
        "depth_m": float(depth_m),
        "object": candidate.object_index,
        "outcome": trial.outcome.value,
        "success": trial.outcome is Outcome.SUCCESS,
        "robustness": robustness,
        "collision_free": trial.geometric_free and trial.outcome is not Outcome.COLLISION,
        "position_m": candidate.position_m,
        "yaw": candidate.yaw,
        "opening_m": candidate.opening_m,
    }


def _label_arrays(labels: list[dict]) -> dict:
    def column(key, dtype):
        return np.array([label[key] for label in labels], dtype=dtype)

    return {
        "label_u": column("u", np.float32),
        "label_v": column("v", np.float32),
        "label_angle": column("angle", np.float32),
        "label_opening_px": column("opening_px", np.float32),
        "label_jaw_size_px": column("jaw_size_px", np.float32),
        "label_depth_m": column("depth_m", np.float32),
        "label_object": column("object", np.int16),
        "label_outcome": np.array([label["outcome"] for label in labels], dtype="<U10"),
        "label_success": column("success", bool),
        "label_robustness": column("robustness", np.float32),
        "label_collision_free": column("collision_free", bool),
        "label_position_m": np.array([label["position_m"] for label in labels], dtype=np.float32).reshape(-1, 3),
        "label_yaw": column("yaw", np.float32),
        "label_opening_m": column("opening_m", np.float32),
    }


LAB_VARIETY = {"more_objects": ["procedural"], "scale": [0.4, 1.0], "friction": [0.5, 1.0], "mass_factor": [0.5, 2.0]}
"""``generate --vary`` (issue 26): training objects as varied as a lab's: random_urdfs mixed with
procedural shapes, each object at a scale anywhere from 0.4 to its real size that the 8 cm hand can
hold (not one 0.6), friction from card on rubber to rubber on rubber, mass from half to double"""


def spec_mapping(env: str, split: str | None = None, vary: bool = False) -> dict:
    """The full spec of an environment id or spec file, as plain data, with an object split
    override, and with ``vary`` the objects randomised as :data:`LAB_VARIETY` says."""
    overrides = {"scene": {**({"split": split} if split else {}), **({"randomize": LAB_VARIETY} if vary else {})}}
    spec = json.loads(json.dumps(dataclasses.asdict(resolve_spec(env, **overrides))))
    if spec["pick"] is None:
        del spec["pick"]  # clutter removal: as datasets made before target picking existed describe it
    return spec


def task_list(spec: dict, seed: int, scenes: int, settings: LabelSettings, out: str) -> list[dict]:
    return [
        {"spec": spec, "seed": seed, "scene": i, "settings": dataclasses.asdict(settings), "out": str(out)}
        for i in range(scenes)
        if not remove_damaged(scene_path(out, i), zip_damage(scene_path(out, i)), "scene")
    ]


@owns_out_folder("generate")  # one run per dataset folder: two would both make every scene
def generate_dataset(
    env: str,
    scenes: int,
    out,
    seed: int = 0,
    split: str | None = "train",
    workers: int | None = None,
    executor: str = "local",
    address: str | None = None,
    settings: LabelSettings = LabelSettings(),
    progress: bool = True,
    vary: bool = False,
) -> dict:
    """Make (or finish) a dataset of ``scenes`` labelled scenes in ``out``; returns a summary.
    ``vary``: the objects randomised as :data:`LAB_VARIETY` says.

    Scenes already in ``out`` are skipped, so running the same command again resumes.
    """
    spec = spec_mapping(env, split, vary)
    write_metadata(out, dataset_description(env, spec, seed, scenes=scenes, labelling=dataclasses.asdict(settings)))
    tasks = task_list(spec, seed, scenes, settings, out)
    start, trials, busy_s = time.perf_counter(), 0, 0.0
    try:
        with tqdm(total=scenes, initial=scenes - len(tasks), desc="scenes", unit="scene", disable=not progress) as bar:
            for _, result in run_tasks(label_scene, tasks, executor=executor, workers=workers, address=address):
                trials += result["trials"]
                busy_s += result["seconds"]
                bar.update()
    finally:
        index = write_index(out)  # even when interrupted: the index lists exactly the finished scenes
    wall_s = time.perf_counter() - start
    return {
        "scenes": len(index),
        "made_now": len(tasks),
        "wall_s": wall_s,
        "trials": trials,
        "trials_per_core_hour": 3600 * trials / busy_s if busy_s else float("nan"),
        "objects": int(index["objects"].sum()),
        "candidates": int(index["candidates"].sum()),
        "successes": int(index["successes"].sum()),
        "collision_free_successes": int(index["collision_free_successes"].sum()),
    }
