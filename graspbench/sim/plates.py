"""The plates of priority-stacks scenes (scene kind ``plates``): long flat boxes that carry other objects.

Sizes (metres) are those of books, boards and boxes lying flat: 12-16 cm long, 5-6.5 cm wide, 2-4 cm
high. Every plate is too long to grasp across its long side and a good grasp across its short side
(the open hand passes around 7.5 cm), so a planner that aims at a plate carrying an object succeeds
at the wrong object first (lifting what rests on it, or dropping it), and a cleared plate is an
object to remove like any other. (Plates too wide to grasp at all, as in the first version, ended
every episode on five collisions, 52% of the best planner's attempts, and hid the planners'
differences.) Generated once, deterministically, into the cache folder, named by the sizes.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import trimesh

from ..io import write_atomic
from .obj_files import obj_text
from .objects import MASS_RANGE_KG, ObjectModel, cache_dir

PLATE_SEED = 0
PLATE_COUNT = 24
PLATE_LENGTH_M = (0.12, 0.16)
PLATE_WIDTH_M = (0.05, 0.065)
PLATE_HEIGHT_M = (0.02, 0.04)
PLATE_DENSITY_KG_M3 = 500.0  # wood; the box is solid


def plate_models() -> tuple:
    """The plate set as ObjectModels (``plates/NN``), sorted by name."""
    return _plate_models(cache_dir())


@functools.lru_cache(maxsize=None)
def _plate_models(cache) -> tuple:
    sizes_mm = "_".join(
        f"{1000 * low:g}-{1000 * high:g}" for low, high in (PLATE_LENGTH_M, PLATE_WIDTH_M, PLATE_HEIGHT_M)
    )
    folder = cache / "plates" / f"seed{PLATE_SEED}_n{PLATE_COUNT}_{sizes_mm}"
    if not (folder / "manifest.json").exists():
        rng = np.random.default_rng(PLATE_SEED)
        objects = []
        for i in range(PLATE_COUNT):
            extents = [rng.uniform(*PLATE_LENGTH_M), rng.uniform(*PLATE_WIDTH_M), rng.uniform(*PLATE_HEIGHT_M)]
            extents = np.round(extents, 4).tolist()
            file = f"{i:02d}.obj"
            write_atomic(folder / file, obj_text([trimesh.creation.box(extents)]))
            shade = float(np.round(rng.uniform(0.35, 0.6), 3))
            objects.append({"file": file, "extents_m": extents, "rgba": [shade, shade * 0.9, shade * 0.8, 1.0]})
        write_atomic(folder / "manifest.json", json.dumps({"seed": PLATE_SEED, "objects": objects}, indent=1))
    manifest = json.loads((folder / "manifest.json").read_text())
    return tuple(
        ObjectModel(
            f"plates/{o['file'][:-4]}",
            str(folder / o["file"]),
            tuple(o["extents_m"]),
            mass_kg=float(np.clip(np.prod(o["extents_m"]) * PLATE_DENSITY_KG_M3, *MASS_RANGE_KG)),
            rgba=tuple(o["rgba"]),
        )
        for o in manifest["objects"]
    )
