"""Object sets: the things graspbench puts on the table.

Three sources, one type (:class:`ObjectModel`):

* ``random_urdfs``: the 1000 procedural objects shipped with ``pybullet_data``. The usual split
  (PyBullet's ``KukaDiverseObjectEnv``) is test = folders ending in 0, train = the rest.
* ``procedural``: boxes, cylinders, capsules, spheres, irregular convex blobs and L/T-shaped
  composites, generated with trimesh from a seed and cached on disk. Same split rule on the index.
* a folder of the user's own URDFs or meshes (``.obj``, ``.stl``, ``.ply``); meshes are split into
  convex parts with PyBullet's V-HACD once and the result cached on disk.

Objects the gripper cannot grasp at all are filtered out with a logged message naming them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import write_atomic

log = logging.getLogger(__name__)

SPLITS = ("train", "test", "all")
BUILTIN_SETS = ("random_urdfs", "procedural", "blocks")
MESH_SUFFIXES = (".obj", ".stl", ".ply")
DENSITY_KG_M3 = 400.0
MASS_RANGE_KG = (0.02, 0.5)
MESH_FRICTION = 1.0
PROCEDURAL_SET_SIZE = 500


def cache_dir() -> Path:
    """Where generated meshes and convex decompositions are kept (``$GRASPBENCH_CACHE``)."""
    return Path(os.environ.get("GRASPBENCH_CACHE", Path.home() / ".cache" / "graspbench"))


@dataclass(frozen=True)
class ObjectModel:
    """One object that can be spawned into a world.

    Attributes:
        name: unique within its set, e.g. ``random_urdfs/013``.
        path: a URDF, or an OBJ whose ``o`` groups are convex parts (used for collision and looks).
        extents_m: axis-aligned size of the model in its own frame, scale applied.
        scale: uniform scale applied when spawning.
        mass_kg: mass for meshes (URDFs carry their own).
    """

    name: str
    path: str
    extents_m: tuple[float, float, float]
    scale: float = 1.0
    mass_kg: float = 0.1
    rgba: tuple[float, float, float, float] = (0.8, 0.5, 0.2, 1.0)

    def spawn(self, client, position, orientation) -> int:
        if self.path.endswith(".urdf"):
            return client.loadURDF(self.path, position, orientation, globalScaling=self.scale)
        mesh_scale = [self.scale] * 3
        collision = client.createCollisionShape(client.GEOM_MESH, fileName=self.path, meshScale=mesh_scale)
        visual = client.createVisualShape(client.GEOM_MESH, fileName=self.path, meshScale=mesh_scale, rgbaColor=self.rgba)
        body = client.createMultiBody(self.mass_kg, collision, visual, position, orientation)
        # PyBullet's default friction (0.5) lets light objects squirt out of the fingers;
        # random_urdfs' own URDFs say 1.0, and so do graspbench's meshes.
        client.changeDynamics(body, -1, lateralFriction=MESH_FRICTION)
        return body


def load_object_set(name: str, split: str = "all", scale: float = 1.0, max_opening_m: float = 0.08,
                    min_size_m: float = 0.02) -> list[ObjectModel]:
    """The graspable objects of a set, sorted by name.

    Args:
        name: ``random_urdfs``, ``procedural``, ``blocks`` (procedural boxes only) or a folder path.
        split: ``train``, ``test`` or ``all``.
        scale: uniform scale applied to every object.
        max_opening_m: objects whose smallest extent does not fit between the fingers are dropped.
        min_size_m: objects whose largest extent is below this slip out of any grasp and are dropped.
    """
    if split not in SPLITS:
        raise ValueError(f"objects split {split!r} is not one of {SPLITS}")
    if not scale > 0:
        raise ValueError(f"object scale must be positive, got {scale}")
    models = _raw_set(name, split)
    return _graspable(name, split, tuple(_scaled(m, scale) for m in models), max_opening_m, min_size_m)


def _scaled(model: ObjectModel, scale: float) -> ObjectModel:
    extents = tuple(float(e) * scale for e in model.extents_m)
    mass = model.mass_kg if model.path.endswith(".urdf") else _mass_kg(extents)
    return ObjectModel(model.name, model.path, extents, model.scale * scale, mass, model.rgba)


def _mass_kg(extents_m) -> float:
    # Half the bounding box is a fair guess of a convex shape's volume.
    return float(np.clip(0.5 * np.prod(extents_m) * DENSITY_KG_M3, *MASS_RANGE_KG))


@functools.lru_cache(maxsize=None)
def _graspable(name, split, models, max_opening_m, min_size_m) -> list[ObjectModel]:
    # Margin: the fingers need room to pass beside the object, not just to touch it.
    too_big = [m.name for m in models if min(m.extents_m) > max_opening_m - 0.005]
    too_small = [m.name for m in models if max(m.extents_m) < min_size_m]
    kept = [m for m in models if m.name not in too_big and m.name not in too_small]
    if too_big or too_small:
        log.warning(
            "object set %s (%s): kept %d of %d objects; %d too large for the %.3f m opening %s; "
            "%d smaller than %.3f m %s. Change the set's scale to keep them.",
            name, split, len(kept), len(models), len(too_big), max_opening_m, too_big[:5],
            len(too_small), min_size_m, too_small[:5])
    if not kept:
        raise ValueError(f"object set {name!r} ({split}) has no object the gripper can grasp; change `scale`")
    return kept


def _in_split(index: int, split: str) -> bool:
    return split == "all" or (index % 10 == 0) == (split == "test")


@functools.lru_cache(maxsize=None)
def _raw_set(name: str, split: str) -> tuple[ObjectModel, ...]:
    if name == "random_urdfs":
        return tuple(_random_urdfs(split))
    if name in ("procedural", "blocks"):
        kinds = ("box",) if name == "blocks" else PROCEDURAL_KINDS
        folder = procedural_set(seed=0, count=PROCEDURAL_SET_SIZE, kinds=kinds)
        manifest = json.loads((folder / "manifest.json").read_text())
        return tuple(ObjectModel(f"{name}/{o['file'][:-4]}", str(folder / o["file"]), tuple(o["extents_m"]), rgba=tuple(o["rgba"]))
                     for i, o in enumerate(manifest["objects"]) if _in_split(i, split))
    folder = Path(name).expanduser()
    if not folder.is_dir():
        raise ValueError(f"object set {name!r} is neither one of {BUILTIN_SETS} nor an existing folder")
    return tuple(_user_folder(folder, split))


def _random_urdfs(split: str) -> list[ObjectModel]:
    import pybullet_data

    root = Path(pybullet_data.getDataPath()) / "random_urdfs"
    models = []
    for folder in sorted(root.iterdir()):
        if not _in_split(int(folder.name), split):
            continue
        urdf = folder / f"{folder.name}.urdf"
        mesh_scale = float(re.search(r'scale="([0-9.eE+-]+)', urdf.read_text()).group(1))
        vertices = _obj_vertices(folder / f"{folder.name}.obj")
        if not np.isfinite(vertices).all():
            log.warning("skipping %s: its mesh has non-finite vertices", urdf)
            continue
        extents = tuple(float(e) for e in np.ptp(vertices, axis=0) * mesh_scale)
        models.append(ObjectModel(f"random_urdfs/{folder.name}", str(urdf), extents))
    return models


def _obj_vertices(path: Path) -> np.ndarray:
    with open(path) as f:
        return np.array([line.split()[1:4] for line in f if line.startswith("v ")], dtype=float)


def _user_folder(folder: Path, split: str) -> list[ObjectModel]:
    import trimesh

    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".urdf",) + MESH_SUFFIXES)
    if not files:
        raise ValueError(f"object folder {folder} has no .urdf, .obj, .stl or .ply files")
    models = []
    for i, path in enumerate(files):
        if not _in_split(i, split):
            continue
        name = f"{folder.name}/{path.relative_to(folder)}"
        if path.suffix.lower() == ".urdf":
            models.append(ObjectModel(name, str(path), _urdf_extents(path)))
        else:
            mesh = trimesh.load(path, force="mesh")
            models.append(ObjectModel(name, str(convex_decomposition(path)), tuple(float(e) for e in mesh.extents)))
    return models


def _urdf_extents(path: Path) -> tuple[float, float, float]:
    """Extents of a URDF, measured by loading it once into a throwaway server."""
    import pybullet
    from pybullet_utils import bullet_client

    client = bullet_client.BulletClient(connection_mode=pybullet.DIRECT)
    try:
        body = client.loadURDF(str(path))
        lower, upper = client.getAABB(body)
        return tuple(float(u - l) for l, u in zip(lower, upper))
    finally:
        client.disconnect()


def convex_decomposition(mesh_path: Path) -> Path:
    """V-HACD convex parts of a mesh as an OBJ, cached by the mesh's content hash."""
    import pybullet
    import trimesh

    digest = hashlib.sha256(Path(mesh_path).read_bytes()).hexdigest()[:16]
    out = cache_dir() / "vhacd" / f"{digest}.obj"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        source = mesh_path
        if Path(mesh_path).suffix.lower() != ".obj":
            source = out.with_suffix(".source.obj")
            write_atomic(source, trimesh.load(mesh_path, force="mesh").export(file_type="obj"))
        tmp = out.with_name(f".{out.name}.tmp.obj")
        log.warning("convex decomposition of %s (once; cached in %s)", mesh_path, out.parent)
        pybullet.vhacd(str(source), str(tmp), str(out.with_suffix(".log")))
        os.replace(tmp, out)
    return out


def box_model(extents_m, folder: Path, name: str = "box") -> ObjectModel:
    """A box of the given size as an ObjectModel (for hand-built scenes and tests)."""
    import trimesh

    path = Path(folder) / f"{name}.obj"
    write_atomic(path, _obj_text([trimesh.creation.box(extents_m)]))
    extents = tuple(float(e) for e in extents_m)
    return ObjectModel(name, str(path), extents, mass_kg=_mass_kg(extents))


# --- the procedural set -------------------------------------------------------------------------

PROCEDURAL_KINDS = ("box", "cylinder", "capsule", "sphere", "blob", "L", "T")


def procedural_set(seed: int, count: int, kinds=PROCEDURAL_KINDS) -> Path:
    """Generate (once) ``count`` objects of the given kinds from ``seed``; returns their folder.

    Sizes are drawn so that every object fits the 8 cm Franka opening across at least one axis.
    """
    folder = cache_dir() / "procedural" / f"{'-'.join(kinds)}_seed{seed}_n{count}"
    if (folder / "manifest.json").exists():
        return folder
    rng = np.random.default_rng(seed)
    objects = []
    for i in range(count):
        kind = kinds[int(rng.integers(len(kinds)))]
        parts = _procedural_parts(kind, rng)
        rgba = (*rng.uniform(0.2, 1.0, 3).round(3), 1.0)
        file = f"{i:04d}.obj"
        write_atomic(folder / file, _obj_text(parts))
        vertices = np.concatenate([p.vertices for p in parts])
        objects.append({"file": file, "kind": kind, "extents_m": np.ptp(vertices, axis=0).round(6).tolist(), "rgba": rgba})
    write_atomic(folder / "manifest.json", json.dumps({"seed": seed, "kinds": list(kinds), "objects": objects}, indent=1))
    return folder


def _procedural_parts(kind: str, rng: np.random.Generator) -> list:
    """Convex trimesh parts of one object, centred on its bounding box."""
    import trimesh

    u = rng.uniform
    if kind == "box":
        parts = [trimesh.creation.box(u([0.02, 0.02, 0.02], [0.065, 0.10, 0.07]))]
    elif kind == "cylinder":
        parts = [trimesh.creation.cylinder(radius=u(0.012, 0.033), height=u(0.02, 0.10), sections=24)]
    elif kind == "capsule":
        parts = [trimesh.creation.capsule(height=u(0.01, 0.06), radius=u(0.012, 0.03), count=[16, 16])]
    elif kind == "sphere":
        parts = [trimesh.creation.icosphere(subdivisions=2, radius=u(0.015, 0.035))]
    elif kind == "blob":
        points = rng.normal(size=(40, 3)) * u([0.008, 0.008, 0.008], [0.02, 0.03, 0.025])
        parts = [trimesh.convex.convex_hull(points)]
    else:  # "L" or "T": a bar with a perpendicular arm
        length, width, height = u(0.06, 0.11), u(0.015, 0.03), u(0.015, 0.04)
        arm = u(0.03, 0.06)
        bar = trimesh.creation.box([length, width, height])
        side = trimesh.creation.box([width, arm, height])
        offset_x = (length - width) / 2 if kind == "L" else 0.0
        side.apply_translation([offset_x, (width + arm) / 2, 0.0])
        parts = [bar, side]
    vertices = np.concatenate([p.vertices for p in parts])
    centre = (vertices.min(axis=0) + vertices.max(axis=0)) / 2
    for p in parts:
        p.apply_translation(-centre)
    return parts


def _obj_text(parts) -> str:
    """An OBJ with one ``o`` group per convex part: PyBullet makes each group its own convex hull."""
    lines, offset = [], 1
    for k, part in enumerate(parts):
        lines.append(f"o part{k}")
        lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in part.vertices]
        lines += [f"f {a + offset} {b + offset} {c + offset}" for a, b, c in part.faces]
        offset += len(part.vertices)
    return "\n".join(lines) + "\n"
