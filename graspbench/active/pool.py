"""The unlabelled pool, the labelled test set and the annotator, all in one data folder.

::

    DATA/pool/pool.json          how the pool was made (environment spec, seed, labelling settings)
    DATA/pool/scenes/NNNNNN.npz  rendered scene i of the pool: depth (H, W) metres, rgb (H, W, 3)
    DATA/labels/                 a graspbench dataset (docs/dataset_format.md) of the pool scenes
                                 annotated so far, shared by every strategy and trial
    DATA/labels/costs/NNNNNN.json  what annotating scene i cost: grasp trials and core-seconds
    DATA/test/                   a graspbench dataset of test-object scenes, labelled up front

Pool scene ``i`` is the environment's scene of seed ``pool_seed + i``: rendering it builds and
settles the scene and renders it, and executes no grasp. Annotating it runs the labeller
(:func:`graspbench.data.generate.label_scene`) on the same seed, which rebuilds exactly that scene,
so the labelled image is the pool image (checked on every annotation). A scene is labelled once
and its cost recorded; a strategy that selects it later is charged the recorded cost, as if it had
labelled it itself, so sharing the labels between strategies saves time without changing any
strategy's accounting.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..data.generate import _env, generate_dataset, label_scene, spec_mapping
from ..data.store import dataset_description, read_scene, write_index, write_metadata
from ..io import read_npz, reading, write_atomic, write_npz
from ..parallel import run_tasks
from ..planners.inputs import model_input

POOL_FIX = "delete the data folder's pool/ to render it again"
# Keys of pool.json that must match for a pool folder to be reused (the scene count may grow).
_POOL_IDENTITY = ("env", "spec", "seed", "labelling")


def pool_scene_path(root, index: int) -> Path:
    return Path(root) / "pool" / "scenes" / f"{index:06d}.npz"


def render_pool_scene(task: dict) -> dict:
    """Build, settle and render one pool scene, without executing any grasp; store its images.

    ``task``: ``spec`` (a spec mapping), ``seed``, ``scene``, ``out`` (the data folder). Runs in
    worker processes, so it takes plain data.
    """
    start = time.perf_counter()
    # The labeller's own environment (same constructor arguments, same cache): the pool image is
    # then, bit for bit, the image the labeller stores for the same seed.
    env = _env(json.dumps(task["spec"], sort_keys=True))
    observation, _ = env.reset(seed=task["seed"] + task["scene"])
    depth = observation["depth"]
    if env.bench_spec.noise is not None:  # as the labeller: the stored depth is the clean one
        depth = env.camera.render(env.world.client).depth_m
    write_npz(
        pool_scene_path(task["out"], task["scene"]), {"depth": depth.astype(np.float32), "rgb": observation["rgb"]}
    )
    return {"scene": task["scene"], "seconds": time.perf_counter() - start}


@dataclasses.dataclass
class PoolData:
    """A data folder made by :func:`prepare`: where everything is and how the pool was made."""

    root: Path
    spec: dict
    """the environment spec of the pool (train objects) as plain data"""
    seed: int
    """pool scene i is the scene of seed ``seed + i``"""
    scenes: int
    """pool size"""
    settings: dict
    """the labeller's LabelSettings fields"""
    test_scenes: int
    """scenes of the test set used"""

    @property
    def labels(self) -> Path:
        return self.root / "labels"

    @property
    def test(self) -> Path:
        return self.root / "test"

    def depth(self, index: int) -> np.ndarray:
        return read_npz(pool_scene_path(self.root, index), "a rendered pool scene", POOL_FIX)["depth"]

    def inputs(self, kind: str = "depth") -> np.ndarray:
        """(N, C, H, W) float32 network inputs of every pool scene, normalised as GraspDataset does."""
        images = []
        for index in range(self.scenes):
            scene = read_npz(pool_scene_path(self.root, index), "a rendered pool scene", POOL_FIX)
            images.append(model_input(kind, scene["depth"], scene["rgb"]))
        return np.stack(images)

    def annotated(self) -> set[int]:
        return {int(p.stem) for p in (self.labels / "costs").glob("*.json")}

    def annotate(self, indices, progress: bool = False) -> dict[int, dict]:
        """Label exactly these pool scenes (those not labelled yet) by executing grasps on them.

        Returns:
            scene -> {"trials", "core_s"}, what labelling each scene cost (recorded when it was
            first labelled).
        """
        indices = sorted(int(i) for i in indices)
        outside = [i for i in indices if not 0 <= i < self.scenes]
        if outside:
            raise ValueError(f"pool scenes {outside[:5]} are outside the pool of {self.scenes} scenes")
        with _locked(self.labels / ".lock"):  # several trials may annotate side by side
            todo = [i for i in indices if i not in self.annotated()]
            for index in tqdm(todo, desc="annotating", unit="scene", disable=not progress, leave=False):
                result = label_scene(
                    {
                        "spec": self.spec,
                        "seed": self.seed,
                        "scene": index,
                        "settings": self.settings,
                        "out": str(self.labels),
                    }
                )
                labelled = read_scene(self.labels, index)["depth"]
                if not np.array_equal(labelled, self.depth(index)):
                    raise RuntimeError(
                        f"pool scene {index}: the labeller rendered another image than the pool holds; "
                        f"the simulator is not deterministic here (see docs/simulation.md)"
                    )
                write_atomic(
                    self.labels / "costs" / f"{index:06d}.json",
                    json.dumps({"trials": result["trials"], "core_s": result["seconds"]}),
                )
            if todo or not (self.labels / "index.csv").exists():
                write_index(self.labels)
        return {i: self.cost(i) for i in indices}

    def cost(self, index: int) -> dict:
        path = self.labels / "costs" / f"{index:06d}.json"
        with reading(path, "an annotation cost record", "delete it and its scene file; the scene is labelled again"):
            return json.loads(path.read_text())


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare(
    root,
    env: str,
    pool_scenes: int,
    test_scenes: int,
    pool_seed: int,
    test_seed: int,
    settings,
    workers: int = 1,
    progress: bool = True,
) -> PoolData:
    """Render the pool and label the test set in ``root`` (or finish them); returns the data.

    Args:
        root: the data folder.
        env: environment id or spec file; the pool uses its train objects, the test set its test objects.
        pool_scenes, test_scenes: how many scenes.
        pool_seed, test_seed: scene i is the scene of seed ``seed + i``.
        settings: the labeller's :class:`~graspbench.data.generate.LabelSettings`.
        workers: processes rendering and labelling side by side.
        progress: show progress bars.
    """
    root = Path(root)
    spec = spec_mapping(env, "train")
    labelling = dataclasses.asdict(settings)
    description = dataset_description(env, spec, pool_seed, labelling=labelling)
    path = root / "pool" / "pool.json"
    render_core_s, existing = 0.0, {}
    if path.exists():
        with reading(path, "a pool description (JSON)", POOL_FIX):
            existing = json.loads(path.read_text())
        for key in _POOL_IDENTITY:
            if existing.get(key) != description[key]:
                raise ValueError(
                    f"{root} holds a pool made with another {key}; give --data-dir a new folder "
                    f"or use the settings it was made with"
                )
        render_core_s = existing.get("render_core_s", 0.0)
    tasks = [
        {"spec": spec, "seed": pool_seed, "scene": i, "out": str(root)}
        for i in range(pool_scenes)
        if not pool_scene_path(root, i).exists()
    ]
    executor = "serial" if workers == 1 else "local"
    with tqdm(
        total=pool_scenes,
        initial=pool_scenes - len(tasks),
        desc="rendering the pool",
        unit="scene",
        disable=not progress,
    ) as bar:
        for _, result in run_tasks(render_pool_scene, tasks, executor=executor, workers=workers):
            render_core_s += result["seconds"]
            bar.update()
    scenes = max(pool_scenes, existing.get("scenes", 0))
    write_atomic(
        path, json.dumps({**description, "scenes": scenes, "render_core_s": render_core_s}, indent=1, sort_keys=True)
    )
    # The annotated scenes form an ordinary dataset, so GraspDataset reads them.
    write_metadata(root / "labels", {**description, "scenes": scenes})
    if progress:
        print(f"test set: {test_scenes} labelled scenes of test objects in {root / 'test'}")
    generate_dataset(
        env,
        test_scenes,
        root / "test",
        seed=test_seed,
        split="test",
        workers=workers,
        executor=executor,
        settings=settings,
        progress=progress,
    )
    return PoolData(root, spec, pool_seed, pool_scenes, labelling, test_scenes)
