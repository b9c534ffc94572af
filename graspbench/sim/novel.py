"""The ``novel`` object set: everyday object families that no training set uses, at real size.

Training data come from ``random_urdfs`` (irregular blobs) and ``procedural`` (boxes, cylinders,
capsules, spheres, convex blobs, L and T shapes, see :data:`~graspbench.sim.objects.PROCEDURAL_KINDS`).
The novel set holds other shapes, each family in a few sizes and proportions within the range of
the real objects (metres, used at scale 1.0):

========  =============================================================  ==========
family    shape                                                          concave
========  =============================================================  ==========
mug       a hollow cylinder (5.5-7 cm across) with a bottom and a handle  yes
bottle    a body, a conical shoulder, a neck and a cap (16-19 cm tall)    yes
bowl      a flared thin wall on a foot (10-14 cm across)                  yes
ring      a torus (tape roll, donut: 7-10 cm across)                      yes
funnel    a hollow cone on a narrow spout                                 yes
banana    a bent tube tapering at both ends (11-16 cm long)               yes
spoon     a long round handle with a flattened head (wooden spoon)        yes
duck      pybullet_data's rubber duck (V-HACD parts), 7-10 cm             yes
teddy     pybullet_data's teddy bear (V-HACD parts), 7-9 cm               yes
========  =============================================================  ==========

Every object is an OBJ of convex parts (one ``o`` group each, as the rest of graspbench uses): the
generated families are built from convex pieces (wall segments, tube segments), an exact convex
decomposition of the shape, so no approximate decomposition is needed; the toys are pybullet_data's
own V-HACD parts (``duck_vhacd.obj``, ``teddy2_VHACD_CHs.obj``, in the zlib-licensed pybullet
package; read from the installed package, not copied into the repository), each part taken as its
convex hull. The set is generated once, deterministically (a fixed seed, fixed sizes), into the
cache folder; ``manifest.json`` records each object's family, which is also its name's prefix
(``novel/mug_02``): :func:`family` reads it back for per-family results.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pybullet_data
import trimesh

from ..io import write_atomic
from .obj_files import obj_text, read_obj_parts

NOVEL_FAMILIES = ("mug", "bottle", "bowl", "ring", "funnel", "banana", "spoon", "duck", "teddy")
NOVEL_SEED = 0
NOVEL_VERSION = 1  # in the folder name: a change of shapes generates the set again
PER_FAMILY = {"mug": 4, "bottle": 4, "bowl": 4, "ring": 4, "funnel": 3, "banana": 4, "spoon": 3, "duck": 3, "teddy": 2}
SEGMENTS = 16  # wall and tube segments around a circle
# pybullet_data's toys: the V-HACD file, the scale its URDF uses (real size), the sizes we make of it
TOYS = {"duck": ("duck_vhacd.obj", 0.05, (0.85, 1.0, 1.2)), "teddy": ("teddy2_VHACD_CHs.obj", 0.1, (0.8, 0.95))}


def family(name: str) -> str | None:
    """The family of a novel object from its name (``novel/mug_02`` -> ``mug``); None for objects
    of other sets."""
    if not name.startswith("novel/"):
        return None
    return name.split("/", 1)[1].rsplit("_", 1)[0]


def novel_set(cache: Path) -> Path:
    """Generate (once) the novel set into ``cache``; returns its folder (OBJ files and manifest.json)."""
    folder = Path(cache) / "novel" / f"v{NOVEL_VERSION}_seed{NOVEL_SEED}"
    if (folder / "manifest.json").exists():
        return folder
    rng = np.random.default_rng(NOVEL_SEED)
    objects = []
    for fam in NOVEL_FAMILIES:
        for k in range(PER_FAMILY[fam]):
            parts = _centred(_family_parts(fam, k, PER_FAMILY[fam], rng))
            file = f"{fam}_{k:02d}.obj"
            write_atomic(folder / file, obj_text(parts))
            vertices = np.concatenate([p.vertices for p in parts])
            rgba = (*rng.uniform(0.2, 1.0, 3).round(3), 1.0)
            objects.append(
                {
                    "file": file,
                    "family": fam,
                    "parts": len(parts),
                    "extents_m": np.ptp(vertices, axis=0).round(6).tolist(),
                    "rgba": rgba,
                }
            )
    write_atomic(
        folder / "manifest.json",
        json.dumps(
            {"seed": NOVEL_SEED, "version": NOVEL_VERSION, "families": list(NOVEL_FAMILIES), "objects": objects},
            indent=1,
        ),
    )
    return folder


def _centred(parts) -> list:
    vertices = np.concatenate([p.vertices for p in parts])
    centre = (vertices.min(axis=0) + vertices.max(axis=0)) / 2
    for p in parts:
        p.apply_translation(-centre)
    return parts


def _hull(points):
    return trimesh.convex.convex_hull(np.asarray(points, dtype=float))


def _circle(radius: float, z: float, angles) -> np.ndarray:
    return np.stack([radius * np.cos(angles), radius * np.sin(angles), np.full_like(angles, z)], axis=1)


def _disc(radius: float, z0: float, z1: float) -> object:
    angles = np.linspace(0, 2 * np.pi, 2 * SEGMENTS, endpoint=False)
    return _hull(np.concatenate([_circle(radius, z0, angles), _circle(radius, z1, angles)]))


def _frustum(r0: float, z0: float, r1: float, z1: float) -> object:
    angles = np.linspace(0, 2 * np.pi, 2 * SEGMENTS, endpoint=False)
    return _hull(np.concatenate([_circle(r0, z0, angles), _circle(r1, z1, angles)]))


def _wall(r_bottom: float, r_top: float, thickness: float, z0: float, z1: float) -> list:
    """A thin wall of revolution (cylinder or cone) as SEGMENTS convex segments."""
    parts = []
    for i in range(SEGMENTS):
        a = np.array([i, i + 1]) * 2 * np.pi / SEGMENTS
        points = [
            _circle(r, z, a)
            for r, z in ((r_bottom, z0), (r_bottom - thickness, z0), (r_top, z1), (r_top - thickness, z1))
        ]
        parts.append(_hull(np.concatenate(points)))
    return parts


def _tube(centres: np.ndarray, radii: np.ndarray, sides: int = 10) -> list:
    """A tube along a polyline: one convex segment between consecutive circular cross-sections."""
    sections = []
    for i, (c, r) in enumerate(zip(centres, radii)):
        tangent = centres[min(i + 1, len(centres) - 1)] - centres[max(i - 1, 0)]
        tangent /= np.linalg.norm(tangent)
        helper = np.array([0.0, 0.0, 1.0]) if abs(tangent[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
        e1 = np.cross(tangent, helper)
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(tangent, e1)
        a = np.linspace(0, 2 * np.pi, sides, endpoint=False)[:, None]
        sections.append(c + r * (np.cos(a) * e1 + np.sin(a) * e2))
    return [_hull(np.concatenate([sections[i], sections[i + 1]])) for i in range(len(sections) - 1)]


def _box(extents, centre):
    box = trimesh.creation.box(extents)
    box.apply_translation(centre)
    return box


def _family_parts(fam: str, k: int, count: int, rng: np.random.Generator) -> list:
    """Convex parts of the ``k``-th of ``count`` objects of a family: sizes spread over the family's
    real range (t from 0 to 1), proportions jittered by ``rng``."""
    t = k / max(count - 1, 1)
    u = rng.uniform
    if fam == "mug":
        radius, height, wall = 0.0275 + 0.0075 * t, u(0.075, 0.095), u(0.004, 0.006)
        parts = _wall(radius, radius, wall, 0.0, height) + [_disc(radius, 0.0, 0.006)]
        reach, bar = u(0.018, 0.025), 0.008  # the handle: a C of three bars on the +x side
        z_low, z_high = 0.25 * height, 0.8 * height
        parts += [_box([reach + 0.004, 0.012, bar], [radius + reach / 2 - 0.002, 0, z]) for z in (z_low, z_high)]
        parts.append(_box([bar, 0.012, z_high - z_low + bar], [radius + reach, 0, (z_low + z_high) / 2]))
        return parts
    if fam == "bottle":
        r_body, h_body = 0.025 + 0.01 * t, u(0.09, 0.13)
        h_shoulder, r_neck, h_neck = u(0.02, 0.035), u(0.010, 0.0135), u(0.025, 0.045)
        top = h_body + h_shoulder + h_neck
        return [
            _disc(r_body, 0.0, h_body),
            _frustum(r_body, h_body, r_neck, h_body + h_shoulder),
            _disc(r_neck, h_body + h_shoulder - 0.002, top),
            _disc(r_neck + 0.0015, top - 0.015, top + 0.002),
        ]
    if fam == "bowl":
        r_top, height = 0.05 + 0.02 * t, u(0.04, 0.055)
        r_foot = r_top * u(0.45, 0.55)
        return _wall(r_foot, r_top, 0.005, 0.0, height) + [_disc(r_foot, 0.0, 0.006)]
    if fam == "ring":
        major, minor = 0.024 + 0.014 * t, u(0.008, 0.014)
        a = np.linspace(0, 2 * np.pi, SEGMENTS + 1)
        centres = np.stack([major * np.cos(a), major * np.sin(a), np.zeros_like(a)], axis=1)
        return _tube(centres, np.full(len(a), minor))
    if fam == "funnel":
        r_top, r_spout = 0.03 + 0.006 * t, u(0.008, 0.011)
        h_cone, h_spout = u(0.045, 0.06), u(0.03, 0.045)
        return _wall(r_spout + 0.003, r_top, 0.003, h_spout, h_spout + h_cone) + _wall(
            r_spout, r_spout, 0.003, 0.0, h_spout + 0.002
        )
    if fam == "banana":
        bend, sweep, thickness = u(0.10, 0.14), 0.95 + 0.35 * t, u(0.016, 0.02)
        a = np.linspace(-sweep / 2, sweep / 2, 11)
        centres = np.stack([bend * np.sin(a), bend * np.cos(a), np.zeros_like(a)], axis=1)
        s = np.linspace(0, 1, len(a))
        return _tube(centres, thickness * (0.45 + 0.55 * np.sin(np.pi * s)))
    if fam == "spoon":
        length, radius = 0.17 + 0.05 * t, u(0.005, 0.007)
        head = _hull(_ellipsoid(u(0.028, 0.036), u(0.02, 0.025), u(0.008, 0.011)))
        head.apply_translation([length / 2 + 0.02, 0, 0])
        handle = _tube(np.array([[-length / 2, 0, 0], [length / 2 + 0.005, 0, 0]]), np.array([radius, radius]))
        return handle + [head]
    if fam in TOYS:
        return _toy(fam, TOYS[fam][2][k])
    raise ValueError(f"unknown novel family {fam!r}")


def _ellipsoid(a: float, b: float, c: float) -> np.ndarray:
    return trimesh.creation.icosphere(subdivisions=2, radius=1.0).vertices * [a, b, c]


def _toy(fam: str, size: float) -> list:
    """pybullet_data's V-HACD parts of a toy at its URDF's scale times ``size``, turned z-up
    (the meshes are y-up)."""
    file, urdf_scale, _ = TOYS[fam]
    parts = [p.convex_hull for p in read_obj_parts(Path(pybullet_data.getDataPath()) / file)]
    y_up_to_z_up = np.array([[1, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=float)
    for p in parts:
        p.apply_scale(urdf_scale * size)
        p.apply_transform(y_up_to_z_up)
    return parts
