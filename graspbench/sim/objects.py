"""Object sets: the things graspbench puts on the table.

Three sources, one type (:class:`ObjectModel`):

* ``random_urdfs``: the 1000 procedural objects shipped with ``pybullet_data``. The usual split
  (PyBullet's ``KukaDiverseObjectEnv``) is test = folders ending in 0, train = the rest.
* ``procedural``: boxes, cylinders, capsules, spheres, irregular convex blobs and L/T-shaped
  composites, generated with trimesh from a seed and cached on disk. Same split rule on the index.
* a folder of the user's own URDFs or meshes (``.obj``, ``.stl``, ``.ply``): one object per URDF, and
  one per mesh that belongs to no URDF, split into convex parts with CoACD once (in a child process)
  and cached on disk. docs/own_objects.md shows the layouts.

Objects the gripper cannot grasp at all are filtered out with a logged message naming them.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pybullet
import pybullet_data
import trimesh
from pybullet_utils import bullet_client

from ..io import write_atomic
from .novel import novel_set
from .obj_files import obj_text, read_obj_parts

log = logging.getLogger(__name__)

SPLITS = ("train", "test", "all")
BUILTIN_SETS = ("random_urdfs", "procedural", "blocks", "novel")
MESH_SUFFIXES = (".obj", ".stl", ".ply")
DENSITY_KG_M3 = 400.0
MASS_RANGE_KG = (0.02, 0.5)
MESH_FRICTION = 1.0
MESH_ROLLING_FRICTION_M = 0.001
"""rolling resistance of meshes (a lever arm, metres): on PyBullet's default of none a lying can
or a ball dropped near the centre rolls out of the workspace (15 of 30 everyday objects at real
size were lost while settling); 1 mm, a table with a soft top, keeps all 30 in view"""
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
        mass_kg: mass for meshes (URDFs carry their own unless ``mass_factor`` is set).
        friction: lateral friction; None: the URDF's own, or ``MESH_FRICTION`` for meshes.
        mass_factor: None, or a factor applied to the mass at spawn (randomised scenes).
    """

    name: str
    path: str
    extents_m: tuple[float, float, float]
    scale: float = 1.0
    mass_kg: float = 0.1
    rgba: tuple[float, float, float, float] = (0.8, 0.5, 0.2, 1.0)
    friction: float | None = None
    mass_factor: float | None = None

    def spawn(self, client, position, orientation) -> int:
        if self.path.endswith(".urdf"):
            body = client.loadURDF(self.path, position, orientation, globalScaling=self.scale)
        else:
            mesh_scale = [self.scale] * 3
            collision = client.createCollisionShape(client.GEOM_MESH, fileName=self.path, meshScale=mesh_scale)
            visual = client.createVisualShape(
                client.GEOM_MESH, fileName=self.path, meshScale=mesh_scale, rgbaColor=self.rgba
            )
            body = client.createMultiBody(self.mass_kg, collision, visual, position, orientation)
            # PyBullet's default friction (0.5) lets light objects squirt out of the fingers;
            # random_urdfs' own URDFs say 1.0, and so do graspbench's meshes.
            client.changeDynamics(body, -1, lateralFriction=MESH_FRICTION, rollingFriction=MESH_ROLLING_FRICTION_M)
        if self.friction is not None:
            client.changeDynamics(body, -1, lateralFriction=self.friction)
        if self.mass_factor is not None:
            client.changeDynamics(body, -1, mass=client.getDynamicsInfo(body, -1)[0] * self.mass_factor)
        return body


def randomized(
    model: ObjectModel,
    rng: np.random.Generator,
    scale=None,
    friction=None,
    mass_factor=None,
    max_opening_m: float = 0.08,
) -> ObjectModel:
    """``model`` with its scale, friction and mass factor drawn from the given [min, max] ranges
    (None leaves each as it is). ``model`` must have been loaded at ``scale[0]``; the scale is
    clipped so that its smallest side still fits the opening less 5 mm."""
    if scale is not None:
        fits = (max_opening_m - 0.005) / min(model.extents_m) * scale[0]
        model = scaled(model, float(rng.uniform(scale[0], max(min(scale[1], fits), scale[0]))) / scale[0])
    if friction is not None:
        model = dataclasses.replace(model, friction=float(rng.uniform(*friction)))
    if mass_factor is not None:
        model = dataclasses.replace(model, mass_factor=float(np.exp(rng.uniform(*np.log(mass_factor)))))
    return model


def load_object_set(
    name: str, split: str = "all", scale: float = 1.0, max_opening_m: float = 0.08, min_size_m: float = 0.02
) -> list[ObjectModel]:
    """The graspable objects of a set, sorted by name.

    Args:
        name: ``random_urdfs``, ``procedural``, ``blocks`` (procedural boxes only), ``novel`` (everyday
            families no training set uses, see sim/novel.py) or a folder path.
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
    return _graspable(name, split, tuple(scaled(m, scale) for m in models), max_opening_m, min_size_m)


def scaled(model: ObjectModel, scale: float) -> ObjectModel:
    """``model`` made ``scale`` times larger (meshes' masses follow their size; URDFs keep theirs)."""
    extents = tuple(float(e) * scale for e in model.extents_m)
    mass = model.mass_kg if model.path.endswith(".urdf") else _mass_kg(extents)
    return dataclasses.replace(model, extents_m=extents, scale=model.scale * scale, mass_kg=mass)


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
            "%d smaller than %.3f m %s. Change the set's scale (scene.object_scale) to keep them.",
            name,
            split,
            len(kept),
            len(models),
            len(too_big),
            max_opening_m,
            too_big[:5],
            len(too_small),
            min_size_m,
            too_small[:5],
        )
    if not kept:
        raise ValueError(
            f"object set {name!r} ({split}) has no object the gripper can grasp; change its scale (scene.object_scale)"
        )
    return kept


def _in_split(index: int, split: str) -> bool:
    return split == "all" or (index % 10 == 0) == (split == "test")


@functools.lru_cache(maxsize=None)
def _raw_set(name: str, split: str) -> tuple[ObjectModel, ...]:
    if name == "random_urdfs":
        return tuple(_random_urdfs(split))
    if name in ("procedural", "blocks"):
        kinds = ("box",) if name == "blocks" else PROCEDURAL_KINDS
        return _manifest_set(name, procedural_set(seed=0, count=PROCEDURAL_SET_SIZE, kinds=kinds), split)
    if name == "novel":  # everyday families no training set uses, at real size (sim/novel.py)
        return _manifest_set(name, novel_set(cache_dir()), split)
    folder = Path(name).expanduser()
    if not folder.is_dir():
        raise ValueError(f"object set {name!r} is neither one of {BUILTIN_SETS} nor an existing folder")
    return tuple(_user_folder(folder, split))


def _manifest_set(name: str, folder: Path, split: str) -> tuple[ObjectModel, ...]:
    """The ``split`` of a generated set (procedural or novel): the objects its manifest.json lists,
    named ``name/FILE``."""
    manifest = json.loads((folder / "manifest.json").read_text())
    return tuple(
        ObjectModel(f"{name}/{o['file'][:-4]}", str(folder / o["file"]), tuple(o["extents_m"]), rgba=tuple(o["rgba"]))
        for i, o in enumerate(manifest["objects"])
        if _in_split(i, split)
    )


def _random_urdfs(split: str) -> list[ObjectModel]:
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
    """A user's folder: every URDF is one object, every mesh that belongs to no URDF another.

    A mesh belongs to a URDF when the URDF references it, or when it lies in (or below) a subfolder
    that holds a URDF: the layout of YCB-style sets, where collision, visual and V-HACD meshes sit
    beside their URDF. In the set's top folder, only referenced meshes belong to a URDF.
    """
    urdfs = sorted(p for p in folder.rglob("*") if p.suffix.lower() == ".urdf")
    meshes = sorted(p for p in folder.rglob("*") if p.suffix.lower() in MESH_SUFFIXES)
    if not urdfs and not meshes:
        raise ValueError(f"object folder {folder} has no .urdf, .obj, .stl or .ply files")
    referenced = {mesh for urdf in urdfs for mesh in _urdf_meshes(urdf)}
    urdf_folders = {urdf.parent for urdf in urdfs if urdf.parent != folder}
    loose = [m for m in meshes if m.resolve() not in referenced and not urdf_folders & set(m.parents)]
    if len(loose) < len(meshes):
        log.info(
            "object folder %s: %d URDFs; %d of its %d meshes belong to them and are not objects of their own",
            folder,
            len(urdfs),
            len(meshes) - len(loose),
            len(meshes),
        )
    models = []
    for i, path in enumerate(sorted(urdfs + loose, key=lambda p: p.relative_to(folder).as_posix())):
        if not _in_split(i, split):
            continue
        name = f"{folder.name}/{path.relative_to(folder).as_posix()}"
        if path.suffix.lower() == ".urdf":
            models.append(ObjectModel(name, str(path), _urdf_extents(path)))
        else:
            collision = convex_parts(path)
            models.append(ObjectModel(name, str(collision), _extents(read_obj_parts(collision))))
    return models


def _urdf_meshes(urdf: Path) -> set[Path]:
    """The mesh files a URDF references (resolved), as PyBullet finds them: beside the URDF."""
    try:
        root = ElementTree.parse(urdf).getroot()
    except ElementTree.ParseError as error:
        raise ValueError(f"{urdf}: not a readable URDF ({error}); fix or remove it") from None
    files = (mesh.get("filename", "") for mesh in root.iter("mesh"))
    return {(urdf.parent / name.removeprefix("package://")).resolve() for name in files if name}


def _urdf_extents(path: Path) -> tuple[float, float, float]:
    """Extents of a URDF, measured by loading it once into a throwaway server."""
    client = bullet_client.BulletClient(connection_mode=pybullet.DIRECT)
    try:
        body = client.loadURDF(str(path))
        lower, upper = client.getAABB(body)
        return tuple(float(high - low) for low, high in zip(lower, upper))
    except pybullet.error as error:
        raise ValueError(
            f"{path}: PyBullet cannot load this URDF ({error}); check that the meshes it names exist beside it"
        ) from None
    finally:
        client.disconnect()


def _extents(parts) -> tuple[float, float, float]:
    return tuple(float(e) for e in np.ptp(np.concatenate([p.vertices for p in parts]), axis=0))


# --- convex parts of a user's mesh --------------------------------------------------------------

DECOMPOSITION = "coacd-1"  # in the cache key: a change of method or settings decomposes again
DECOMPOSITION_THRESHOLD = 0.05  # CoACD's concavity threshold: its default, about 5% of the object's size
DECOMPOSITION_TIMEOUT_S = 900

# Run in a child process: CoACD is native code, and a crash or its console output must not reach
# graspbench's process (PyBullet's own V-HACD segfaulted on an OBJ of several convex parts).
_DECOMPOSE_SCRIPT = """
import sys
import coacd
import numpy as np

mesh = np.load(sys.argv[1])
parts = coacd.run_coacd(coacd.Mesh(mesh["vertices"], mesh["faces"]), threshold=float(sys.argv[3]))
arrays = {}
for k, (vertices, faces) in enumerate(parts):
    arrays[f"vertices{k}"], arrays[f"faces{k}"] = vertices, faces
np.savez(sys.argv[2], **arrays)
"""


def convex_parts(mesh_path: Path) -> Path:
    """The mesh as an OBJ of convex parts (one ``o`` group each), cached by the file's content.

    A mesh whose parts are already convex (an OBJ whose ``o``/``g`` groups are convex hulls, as
    V-HACD and CoACD write them, or a single convex mesh) is used as it is; any other is decomposed
    with CoACD once, in a child process. Fails with a ValueError naming the file if it cannot be read
    or decomposed.
    """
    mesh_path = Path(mesh_path)
    digest = hashlib.sha256(mesh_path.read_bytes() + DECOMPOSITION.encode()).hexdigest()[:16]
    out = cache_dir() / "convex" / f"{digest}.obj"
    if out.exists():
        return out
    parts = _read_mesh_parts(mesh_path)
    if not all(part.is_convex for part in parts):
        parts = _decompose(mesh_path, parts, out)
    write_atomic(out, obj_text(parts))
    return out


def _read_mesh_parts(path: Path) -> list:
    """The parts of a mesh file: an OBJ's ``o``/``g`` groups, the whole mesh of other formats."""
    try:
        parts = read_obj_parts(path) if path.suffix.lower() == ".obj" else [trimesh.load(path, force="mesh")]
    except Exception as error:  # trimesh and the OBJ parser fail in many ways on a damaged file
        raise ValueError(
            f"{path}: cannot read it as a mesh ({type(error).__name__}: {error}); export it again as OBJ, STL or PLY"
        ) from None
    parts = [p for p in parts if len(p.faces)]
    if not parts:
        raise ValueError(f"{path}: the mesh has no faces; export it again as OBJ, STL or PLY")
    return parts


def _decompose(mesh_path: Path, parts: list, out: Path) -> list:
    """CoACD's convex parts of the union of ``parts``, computed in a child process."""
    mesh = trimesh.util.concatenate(parts)
    log_path = out.with_suffix(".log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log.warning("convex decomposition of %s with CoACD (once; cached in %s)", mesh_path, out.parent)
    with tempfile.TemporaryDirectory() as tmp:
        source, result = Path(tmp) / "mesh.npz", Path(tmp) / "parts.npz"
        np.savez(source, vertices=mesh.vertices, faces=mesh.faces)
        with open(log_path, "w") as console:  # CoACD's chatter goes here, not to the terminal
            try:
                code = subprocess.run(
                    [sys.executable, "-c", _DECOMPOSE_SCRIPT, str(source), str(result), str(DECOMPOSITION_THRESHOLD)],
                    stdout=console,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    timeout=DECOMPOSITION_TIMEOUT_S,
                ).returncode
                why = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
            except subprocess.TimeoutExpired:
                code, why = None, f"not done after {DECOMPOSITION_TIMEOUT_S} s"
        if code != 0 or not result.exists():
            raise ValueError(
                f"{mesh_path}: convex decomposition failed ({why}; its output: {log_path}); simplify "
                f"the mesh, or give it a URDF whose collision mesh is already split into convex parts"
            )
        with np.load(result) as arrays:
            count = len(arrays.files) // 2
            return [trimesh.Trimesh(arrays[f"vertices{k}"], arrays[f"faces{k}"]) for k in range(count)]


def box_model(extents_m, folder: Path, name: str = "box") -> ObjectModel:
    """A box of the given size as an ObjectModel (for hand-built scenes and tests)."""
    path = Path(folder) / f"{name}.obj"
    write_atomic(path, obj_text([trimesh.creation.box(extents_m)]))
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
        write_atomic(folder / file, obj_text(parts))
        vertices = np.concatenate([p.vertices for p in parts])
        objects.append(
            {"file": file, "kind": kind, "extents_m": np.ptp(vertices, axis=0).round(6).tolist(), "rgba": rgba}
        )
    write_atomic(
        folder / "manifest.json", json.dumps({"seed": seed, "kinds": list(kinds), "objects": objects}, indent=1)
    )
    return folder


def _procedural_parts(kind: str, rng: np.random.Generator) -> list:
    """Convex trimesh parts of one object, centred on its bounding box."""
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
