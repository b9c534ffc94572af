"""OBJ files whose ``o`` groups are convex parts: the collision meshes graspbench writes and reads
(PyBullet makes each group its own convex hull; trimesh alone would merge them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh


def read_obj_parts(path: Path) -> list:
    """An OBJ's faces as one trimesh per ``o`` or ``g`` group (trimesh would merge them)."""
    vertices, groups = [], [[]]
    with open(path) as f:
        for line in f:
            fields = line.split()
            if not fields:
                continue
            if fields[0] == "v":
                vertices.append([float(x) for x in fields[1:4]])
            elif fields[0] in ("o", "g") and groups[-1]:
                groups.append([])
            elif fields[0] == "f":
                # "f 1/1/1 2/2/2 3/3/3": vertex indices are 1-based, negative ones count from the end
                corners = [int(c.split("/")[0]) for c in fields[1:]]
                corners = [c - 1 if c > 0 else len(vertices) + c for c in corners]
                groups[-1] += [[corners[0], corners[k], corners[k + 1]] for k in range(1, len(corners) - 1)]
    vertices = np.array(vertices, dtype=float).reshape(-1, 3)
    if not np.isfinite(vertices).all():
        raise ValueError("non-finite vertex coordinates")
    parts = []
    for faces in filter(None, groups):
        faces = np.array(faces)
        used, faces = np.unique(faces, return_inverse=True)
        parts.append(trimesh.Trimesh(vertices[used], faces.reshape(-1, 3)))
    return parts


def obj_text(parts) -> str:
    """An OBJ with one ``o`` group per convex part: PyBullet makes each group its own convex hull."""
    lines, offset = [], 1
    for k, part in enumerate(parts):
        lines.append(f"o part{k}")
        lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in part.vertices]
        lines += [f"f {a + offset} {b + offset} {c + offset}" for a, b, c in part.faces]
        offset += len(part.vertices)
    return "\n".join(lines) + "\n"
