"""The on-disk store of a dataset (see docs/dataset_format.md): dataset.json, index.csv, one npz per scene.

Every file goes through a temporary name and a rename, so an interrupted run leaves nothing
half-written, and the index is always rebuilt from the scene files, so a resumed run ends with
the same index as an uninterrupted one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .. import __version__
from ..io import read_csv, read_npz, reading, write_atomic, write_description, write_npz

FORMAT = 1
INDEX_COLUMNS = [
    "scene",
    "file",
    "objects",
    "candidates",
    "successes",
    "collision_free_successes",
    "objects_with_success",
]


SCENE_FIX = "delete it and run the same `graspbench generate` command again to remake it"


def scene_path(root, index: int) -> Path:
    return Path(root) / "scenes" / f"{index:06d}.npz"


def write_scene(root, index: int, arrays: dict) -> None:
    write_npz(scene_path(root, index), arrays)


def read_scene(root, index: int) -> dict:
    path = scene_path(root, index)
    if not path.exists():
        raise ValueError(f"{path}: no such scene file; regenerate the dataset with `graspbench generate`")
    return read_npz(path, "a readable scene file", SCENE_FIX)


def dataset_description(env: str, spec: dict, seed: int, **more) -> dict:
    """What the dataset.json of every collection of scenes (labelled datasets, active learning's
    pool, IVFP's probed picks) records of them: the graspbench that made them, the environment (its
    id and resolved spec) and the seed of the first scene, then ``more``."""
    return {"graspbench_version": __version__, "env": env, "spec": spec, "seed": seed, **more}


def write_metadata(root, metadata: dict) -> None:
    """Write dataset.json, or check that an existing one describes the same dataset (resume)."""
    write_description(Path(root) / "dataset.json", {"format": FORMAT, **metadata}, ("env", "spec", "seed", "labelling"))


def read_metadata(root) -> dict:
    path = Path(root) / "dataset.json"
    if not path.exists():
        raise ValueError(f"{root} is not a graspbench dataset (no dataset.json); make one with `graspbench generate`")
    with reading(
        path, "a dataset's description (JSON)", "remake the dataset with `graspbench generate` in a new folder"
    ):
        return json.loads(path.read_text())


def index_row(root, index: int, scene: dict | None = None) -> dict:
    scene = read_scene(root, index) if scene is None else scene
    success = scene["label_success"]
    return {
        "scene": index,
        "file": str(scene_path(root, index).relative_to(root)),
        "objects": len(scene["object_names"]),
        "candidates": len(success),
        "successes": int(success.sum()),
        "collision_free_successes": int((success & scene["label_collision_free"]).sum()),
        "objects_with_success": len(set(scene["label_object"][success].tolist())),
    }


def write_index(root) -> pd.DataFrame:
    """index.csv from the scene files present, in scene order."""
    files = sorted((Path(root) / "scenes").glob("*.npz"))
    index = pd.DataFrame([index_row(root, int(f.stem)) for f in files], columns=INDEX_COLUMNS)
    write_atomic(Path(root) / "index.csv", index.to_csv(index=False))
    return index


def read_index(root) -> pd.DataFrame:
    path = Path(root) / "index.csv"
    if not path.exists():
        raise ValueError(f"{path} is missing; run the same `graspbench generate` command again to finish the dataset")
    return read_csv(
        path,
        "a dataset index",
        "delete it and run the same `graspbench generate` command again to rebuild it",
        columns=INDEX_COLUMNS,
        numeric=["scene", "objects", "candidates", "successes"],
    )
