"""Agents: anything that turns an observation into a grasp.

The protocol every planner follows (learned ones included)::

    class MyPlanner:
        name = "my-planner"
        def reset(self, seed: int | None) -> None: ...          # a new episode begins
        def act(self, observation: dict, info: dict) -> Grasp: ...

``observation`` is the environment's (``depth`` in metres, ``rgb``); ``info`` carries the camera
(``intrinsics``, ``extrinsics``) and the gripper's ``max_opening_m``, as a calibrated robot knows
them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from scipy import ndimage

from .clearance import LOWEST_FINGERTIP_Z_M, MAX_GRASP_DEPTH_M, fingers_clear, height_map
from .grasp import Grasp, wrap_angle
from .sim.camera import Camera
from .sim.gripper import FINGER_WIDTH_M


class Agent(Protocol):
    name: str

    def reset(self, seed: int | None) -> None: ...

    def act(self, observation: dict, info: dict) -> Grasp: ...


def camera_from_info(observation: dict, info: dict) -> Camera:
    height, width = observation["depth"].shape
    return Camera(info["intrinsics"], info["extrinsics"], width, height)


class RandomAgent:
    """A uniform pixel on the foreground (anything above the table), a random angle, full opening.

    Args:
        min_height_m: pixels higher than this above the table count as foreground.
    """

    def __init__(self, min_height_m: float = 0.005, name: str = "random"):
        self.min_height_m, self.name = min_height_m, name
        self.rng = np.random.default_rng()

    def reset(self, seed: int | None) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, observation: dict, info: dict) -> Grasp:
        depth = observation["depth"]
        camera = camera_from_info(observation, info)
        rows, cols = np.nonzero(camera.heights_m(depth) > self.min_height_m)
        if len(rows) == 0:
            rows, cols = np.indices(depth.shape).reshape(2, -1)
        i = self.rng.integers(len(rows))
        u, v = float(cols[i]), float(rows[i])
        opening_px = info["max_opening_m"] / float(camera.metres_per_pixel(depth[rows[i], cols[i]]))
        return Grasp(u, v, float(self.rng.uniform(-np.pi / 2, np.pi / 2)), opening_px)


class FailedGrasps:
    """The grasps that failed so far in an episode. A failed grasp mostly leaves the scene as it
    was (a collision stops the hand before it moves anything), so a planner that answers the same
    image with the same grasp would spend the episode's remaining failures on it.

    Args:
        distance_m: a grasp whose centre is this close to a failed one's ...
        angle_rad: ... and whose angle is this close is the same grasp again.
    """

    def __init__(self, distance_m: float = 0.01, angle_rad: float = np.radians(20)):
        self.distance_m, self.angle_rad = distance_m, angle_rad
        self.failed: list[Grasp] = []
        self.last: Grasp | None = None

    def reset(self) -> None:
        self.failed, self.last = [], None

    def observe(self, info: dict) -> None:
        """Call at every ``act``: the info of the last step says how the last grasp went."""
        if self.last is not None and info.get("outcome") not in (None, "success"):
            self.failed.append(self.last)

    def tried(self, grasp: Grasp, px_m: float) -> bool:
        return any(np.hypot(grasp.u - f.u, grasp.v - f.v) * px_m < self.distance_m and
                   abs(wrap_angle(grasp.angle_rad - f.angle_rad)) < self.angle_rad for f in self.failed)


@dataclass
class HeuristicAgent:
    """The papers' centroid-style baseline, made as strong as geometry alone allows.

    From the height map, objects are tried from the highest down (an object: the pixels near a
    peak, connected to it). On each, grasp at its centroid across its minor axis, and among angles
    near the minor axis pick the narrowest whose two finger footprints and palm land on free space;
    the opening is the object's width across the closing axis plus a margin. The first object with
    such a grasp is taken; if none has one, the highest object at full opening.
    """

    name: str = "heuristic"
    min_height_m: float = 0.005
    """pixels higher than this above the table count as foreground"""
    top_band_m: float = 0.03
    """pixels within this of an object's peak (and connected to it) belong to the object"""
    grasp_depth_m: float = 0.035
    """fingertips go this far below the object's top (less for flat objects); 35 mm slips half as
    often as 25 mm in packed scenes (chosen on seeds 1020-1059, not the benchmark's)"""
    margin_m: float = 0.012
    """free space between each finger and the object when the fingers arrive"""
    clearance_m: float = 0.003
    """finger footprints must be this much lower than the fingertips"""
    max_objects: int = 5
    """objects tried per plan, from the highest down"""
    min_object_px: int = 30
    """smaller regions are not objects (a 2 cm object covers ~200 px in the benchmark's camera)"""

    def __post_init__(self):
        self.failures = FailedGrasps()

    def reset(self, seed: int | None) -> None:
        self.failures.reset()

    def act(self, observation: dict, info: dict) -> Grasp:
        self.failures.observe(info)
        self.failures.last = self._plan(observation, info)
        return self.failures.last

    def _plan(self, observation: dict, info: dict) -> Grasp:
        depth = observation["depth"]
        camera = camera_from_info(observation, info)
        heights = camera.heights_m(depth)
        free_space = height_map(heights)
        unclaimed = heights > self.min_height_m
        chosen, tried = None, 0
        while unclaimed.any() and tried < self.max_objects:
            peak = np.unravel_index(np.argmax(np.where(unclaimed, heights, -np.inf)), depth.shape)
            labels, _ = ndimage.label(unclaimed & (heights > max(heights[peak] - self.top_band_m, self.min_height_m)))
            region = labels == labels[peak]
            unclaimed &= ~ndimage.binary_dilation(region, iterations=2)
            if region.sum() < self.min_object_px:  # a speck of noise or the edge of a claimed object
                continue
            tried += 1
            planned = self._plan_object(heights, free_space, region, peak, depth, camera, info)
            chosen = chosen or planned  # the highest object, unless a lower one is clear
            if planned[2]:
                chosen = planned
                break
        if chosen is None:
            v, u = (np.array(depth.shape) - 1) / 2
            return Grasp(float(u), float(v), 0.0, 1.0)
        grasp, fingertip_z, _ = chosen
        depth_m = float(camera.depth_at_height(grasp.u, grasp.v, fingertip_z))
        return Grasp(grasp.u, grasp.v, grasp.angle_rad, grasp.opening_px, depth_m=depth_m)

    def _plan_object(self, heights, free_space, region, peak, depth, camera, info) -> tuple[Grasp, float, bool]:
        """The best grasp on one object, its fingertip height, and whether it comes down on free space."""
        rows, cols = np.nonzero(region)
        u, v = cols.mean(), rows.mean()
        px_m = float(camera.metres_per_pixel(depth[peak]))  # metres per pixel near the object's top
        top = heights[peak]
        object_height = top - np.min(heights[ndimage.binary_dilation(region, iterations=3)])
        fingertip_z = max(top - min(self.grasp_depth_m, 0.6 * object_height), 0.0)
        points = np.stack([cols - u, rows - v], axis=1)
        minor = np.linalg.eigh(np.cov(points.T) + 1e-9 * np.eye(2))[1][:, 0]  # smallest eigenvalue first
        minor_angle = float(np.arctan2(-minor[1], minor[0]))
        max_opening_px = info["max_opening_m"] / px_m
        half_jaw_px = FINGER_WIDTH_M / px_m / 2

        # Candidates near the minor axis; each is centred on what the finger pads will actually
        # squeeze (the object's pixels in the strip swept by the pads), the narrowest free one wins.
        best, best_width = None, np.inf
        for delta in np.radians(np.arange(-45, 46, 7.5)):
            angle = wrap_angle(minor_angle + delta)
            axis = np.array([np.cos(angle), -np.sin(angle)])
            across = np.array([axis[1], -axis[0]])
            along = points @ axis
            in_strip = np.abs(points @ across) <= half_jaw_px
            if not in_strip.any():
                continue
            low, high = along[in_strip].min(), along[in_strip].max()
            width_px = high - low
            opening_px = width_px + 2 * self.margin_m / px_m
            if opening_px > max_opening_px or width_px >= best_width:
                continue
            centre = np.array([u, v]) + axis * (low + high) / 2
            grasp = Grasp(float(centre[0]), float(centre[1]), angle, float(opening_px))
            if fingers_clear(free_space, grasp.u, grasp.v, angle, grasp.opening_px, px_m, fingertip_z,
                             info.get("fingertip_clearance_m", LOWEST_FINGERTIP_Z_M), self.clearance_m) \
                    and not self.failures.tried(grasp, px_m):
                best, best_width = grasp, width_px
        if best is None:
            return Grasp(float(u), float(v), minor_angle, float(max_opening_px)), fingertip_z, False
        return best, fingertip_z, True


class NetworkAgent:
    """A trained planar FCN: the observation through the network, then post-processing; the best
    grasp (on Q* = Q * P for networks that predict a priority map).

    Args:
        checkpoint: a ``best.pt`` written by ``graspbench train``.
        name: the agent's name in records.
        postprocess: overrides of the checkpoint's post-processing settings.
        threads: torch threads for planning (1: the per-core figure the benchmark reports).
        check_clearance: among the ``candidates`` best peaks, take the best whose fingers and palm
            land on free space in the depth image (:func:`~graspbench.postprocess.first_clear`)
            and that has not failed already in this episode (:class:`FailedGrasps`); False: the
            best peak, as the papers do.
        candidates: peaks considered by the clearance check.
        max_grasp_depth_m: with the clearance check, the chosen grasp's fingertips go as deep as
            the free space allows, at most this far below the surface at its centre
            (:func:`~graspbench.clearance.fingertip_z`); None: the environment's fixed depth.
    """

    def __init__(self, checkpoint: str, name: str = "network", postprocess: dict | None = None, threads: int = 1,
                 check_clearance: bool = True, candidates: int = 10, max_grasp_depth_m: float | None = MAX_GRASP_DEPTH_M):
        import torch

        from .models import for_inference
        from .postprocess import PostProcess
        from .train import load_checkpoint

        torch.set_num_threads(threads)
        model, meta = load_checkpoint(checkpoint, fix=f"make it again: `graspbench train-agents --agents {name}` "
                                                      f"for a shipped agent, `graspbench train` for your own")
        model_input, settings = meta["input"], meta["postprocess"]
        self.model, self.name, self.input = for_inference(model), name, model_input
        self.check_clearance, self.max_grasp_depth_m = check_clearance, max_grasp_depth_m
        top_k = candidates if check_clearance else 1
        self.settings = PostProcess(**{**settings, "top_k": top_k, **(postprocess or {})})

        self.failures = FailedGrasps()

    def reset(self, seed: int | None) -> None:
        self.failures.reset()

    def act(self, observation: dict, info: dict) -> Grasp:
        import torch

        from .data.dataset import model_input
        from .postprocess import grasps_from_maps, maps_to_numpy, plan_clear

        x = torch.from_numpy(model_input(self.input, observation["depth"], observation.get("rgb")))
        with torch.no_grad():
            maps = self.model(x[None].to(memory_format=torch.channels_last))
        if not self.check_clearance:
            return grasps_from_maps(**maps_to_numpy(maps, 0), settings=self.settings)[0]
        self.failures.observe(info)
        camera = camera_from_info(observation, info)
        px_m = float(camera.metres_per_pixel(np.median(observation["depth"])))  # at the table, most of the image
        self.failures.last = plan_clear(maps_to_numpy(maps, 0), self.settings, observation["depth"], camera,
                                        info["max_opening_m"], info.get("grasp_depth_m", 0.01),
                                        info.get("fingertip_clearance_m", LOWEST_FINGERTIP_Z_M),
                                        skip=lambda g: self.failures.tried(g, px_m), max_depth_m=self.max_grasp_depth_m)
        return self.failures.last


AGENTS_DIR = Path(__file__).resolve().parents[1] / "agents"
BUILTIN_CLASSES = {"random": RandomAgent, "heuristic": HeuristicAgent, "network": NetworkAgent}
TASKS = ("clutter_removal", "target_picking")
"""what an agent is for (a spec's ``task``, clutter_removal unless it says): clutter removal
(Single, Pile, Packed, Stacked) or target picking (BinPick, whose observation names a target)"""
WEIGHT_FIELDS = ("checkpoint", "classifier")
"""spec fields naming files of trained weights: relative to the spec's folder, and needed for the
agent to be ready"""


def agent_names(ready_only: bool = False, task: str | None = None) -> list[str]:
    """The agents shipped in ``agents/`` (one YAML each); ``ready_only``: those whose weights,
    if they need any, exist (``graspbench train-agents`` makes them); ``task``: those for this
    task only (one of TASKS)."""
    names = []
    for path in sorted(AGENTS_DIR.glob("*.yaml")):
        spec = _read_spec(path)
        if task is not None and agent_task(spec, path) != task:
            continue
        if not ready_only or all(weights.is_file() for weights in _weights(spec, path)):
            names.append(path.stem)
    return names


def agent_task(spec: dict, path: Path) -> str:
    """An agent spec's ``task``; one that is not in TASKS fails naming the file and the fix."""
    task = spec.get("task", TASKS[0])
    if task not in TASKS:
        raise ValueError(f"{path}: task {task!r} is not one of {', '.join(TASKS)}; fix the spec's 'task' field")
    return task


def _weights(spec: dict, path: Path) -> list[Path]:
    """The files of trained weights a spec names (WEIGHT_FIELDS), resolved from its folder."""
    return [path.parent / spec[field] for field in WEIGHT_FIELDS if spec.get(field)]


def _read_spec(path: Path) -> dict:
    """An agent YAML's fields; a file that is not a YAML mapping fails naming it."""
    import yaml

    from .io import reading

    with reading(path, "an agent spec", "fix its YAML: a mapping with a 'class' field (docs/own_planner.md)"):
        spec = yaml.safe_load(path.read_text()) or {}
        if not isinstance(spec, dict):
            raise ValueError("not a mapping of fields")
    return spec


def agent_spec_path(name_or_spec: str) -> Path:
    """The YAML of a shipped agent's name, or the path given."""
    path = Path(name_or_spec)
    if not path.suffix:
        path = AGENTS_DIR / f"{name_or_spec}.yaml"
    if not path.is_file():
        raise ValueError(f"agent {name_or_spec!r}: neither a shipped agent ({', '.join(agent_names())}) nor a YAML file")
    return path


def agent_files(name_or_spec: str) -> list[Path]:
    """The files an agent is made from: its YAML and, for trained ones, its weights."""
    path = agent_spec_path(name_or_spec)
    return [path] + [weights for weights in _weights(_read_spec(path), path) if weights.is_file()]


def make_agent(name_or_spec: str) -> Agent:
    """An agent from the name of a YAML file in ``agents/`` or the path of one.

    A spec names its ``class``: ``random``, ``heuristic``, ``network`` (with a ``checkpoint``), or
    any importable class as ``package.module:Class`` following the agent protocol. Other keys are
    passed to the class as keyword arguments, except ``description``, ``task`` (see TASKS) and
    ``train`` (how ``graspbench train-agents`` makes the checkpoint); a relative ``checkpoint`` or
    ``classifier`` is read from the spec's folder.
    """
    import importlib

    path = agent_spec_path(name_or_spec)
    spec = _read_spec(path)
    if "class" not in spec:
        raise ValueError(f"{path}: an agent spec needs a 'class' field (random, heuristic, network or module:Class)")
    spec = dict(spec)
    class_name = spec.pop("class")
    spec.setdefault("name", path.stem)
    agent_task(spec, path)
    for documentation_only in ("description", "task", "train"):
        spec.pop(documentation_only, None)
    for field in WEIGHT_FIELDS:
        if field in spec and not Path(spec[field]).is_absolute():
            spec[field] = str(path.parent / spec[field])
    if class_name in BUILTIN_CLASSES:
        cls = BUILTIN_CLASSES[class_name]
    elif ":" in str(class_name):
        module, _, attribute = class_name.partition(":")
        try:
            cls = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as error:
            raise ValueError(f"{path}: class {class_name!r} cannot be imported ({error})") from None
    else:
        raise ValueError(f"{path}: class {class_name!r} is not one of {sorted(BUILTIN_CLASSES)} nor module:Class")
    try:
        agent = cls(**spec)
    except TypeError as error:
        raise ValueError(f"{path}: {error}; fix the spec's fields") from None
    for method in ("act", "reset"):
        if not callable(getattr(agent, method, None)):
            raise ValueError(f"{path}: {class_name} has no {method}() method; see 'Evaluate your own planner' in docs/")
    if not hasattr(agent, "name"):
        agent.name = spec["name"]
    return agent
