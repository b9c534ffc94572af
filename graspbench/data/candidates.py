"""Grasp candidates for labelling: antipodal pairs of points on each object's mesh with a
near-horizontal closing axis, each turned into the image grasp (u, v, angle, opening_px) that a
planner would output and placed where the environment would execute that image grasp, kept when
its fingers and palm come down on free space in the depth image.

:mod:`graspbench.data.generate` executes them to label a scene; :mod:`graspbench.bench.replay`
samples them to find a failed grasp's nearest verified one.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from ..clearance import MAX_GRASP_DEPTH_M, fingertip_z, footprint_clear, height_map, table_view
from ..envs.base import grasp_to_pose
from ..grasp import Grasp, wrap_angle
from ..sim.gripper import GripperSpec
from ..sim.scenes import SceneRecord


@dataclass(frozen=True)
class LabelSettings:
    """How candidates are sampled and verified."""

    candidates_per_object: int = 8
    """antipodal candidates executed per object"""
    surface_points: int = 400
    """points sampled on each object's mesh to search for antipodal pairs"""
    friction_cone_deg: float = 25.0
    """a contact normal may deviate this much from the closing axis (friction coefficient ~0.47)"""
    horizontal_tolerance_deg: float = 15.0
    """the closing axis of a top-down grasp must be this close to horizontal"""
    margin_m: float = 0.01
    """free space between each finger and its contact when the fingers arrive"""
    max_depth_m: float | None = MAX_GRASP_DEPTH_M
    """each image grasp is executed with its fingertips as deep as the free space allows, at most
    this far below the surface seen at its centre, as the network agents execute theirs
    (:func:`graspbench.clearance.fingertip_z`); None: ``gripper.grasp_depth_m`` below it (the
    labels before issue 26)"""
    perturbations: int = 0
    """perturbed copies of every nominal success, executed for the robustness score (each costs a
    trial; no trainer reads the score, so none by default)"""
    perturbation_m: float = 0.004
    """standard deviation of the perturbation of the grasp centre (x, y)"""
    perturbation_rad: float = 0.1
    """standard deviation of the perturbation of the yaw"""


@dataclass
class Candidate:
    """A grasp in the world: TCP position, closing-axis yaw, opening, and the object it was sampled on."""

    position_m: np.ndarray
    yaw: float
    opening_m: float
    object_index: int
    image: Grasp | None = None
    """the image grasp it executes (straight below its centre pixel's surface point, so the TCP
    itself projects elsewhere), once known"""


def sample_candidates(
    record: SceneRecord,
    settings: LabelSettings,
    gripper: GripperSpec,
    camera,
    depth_m: np.ndarray,
    rng: np.random.Generator,
) -> list[Candidate]:
    """Antipodal pairs of surface points on each object's mesh with a near-horizontal closing axis,
    kept when the fingers and palm would come down on free space in the depth image (executing
    the others would mostly waste a trial on a collision)."""
    candidates = []
    cos_cone = np.cos(np.radians(settings.friction_cone_deg))
    sin_horizontal = np.sin(np.radians(settings.horizontal_tolerance_deg))
    max_width = gripper.max_opening_m - 2 * settings.margin_m
    surface_m, heights = camera.heights_m(depth_m), camera.orthographic_heights(depth_m)
    free_space = height_map(heights)  # once a scene: the filter costs as much as a candidate's check
    for index, (model, position, orientation) in enumerate(zip(record.models, record.positions, record.orientations)):
        points, normals = _surface_samples(model, position, orientation, settings.surface_points, rng)
        axis = points[None, :, :] - points[:, None, :]  # pair (i, j): from i to j
        width = np.linalg.norm(axis, axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            direction = axis / width[..., None]
        # Outward normals: at i pointing away from j, at j pointing away from i.
        antipodal = (np.einsum("ijk,ik->ij", direction, normals) < -cos_cone) & (
            np.einsum("ijk,jk->ij", direction, normals) > cos_cone
        )
        valid = antipodal & (np.abs(direction[..., 2]) < sin_horizontal) & (width > 0.002) & (width < max_width)
        pairs = np.argwhere(np.triu(valid))
        kept = 0
        for i, j in pairs[rng.permutation(len(pairs))]:
            yaw = float(np.arctan2(points[j][1] - points[i][1], points[j][0] - points[i][0]))
            candidate = _as_executed(
                Candidate((points[i] + points[j]) / 2, yaw, float(width[i, j] + 2 * settings.margin_m), index),
                camera,
                depth_m,
                surface_m,
                free_space,
                gripper,
                settings.max_depth_m,
            )
            if candidate is not None and _clear_in_image(candidate, camera, heights):
                candidates.append(candidate)
                kept += 1
                if kept == settings.candidates_per_object:
                    break
    return candidates


def _as_executed(
    candidate: Candidate,
    camera,
    depth_m: np.ndarray,
    surface_m: np.ndarray,
    free_space: np.ndarray,
    gripper: GripperSpec,
    max_depth_m: float | None,
) -> Candidate | None:
    """The candidate as the environment would execute its image grasp (None outside the image):
    same centre pixel, angle and opening, the fingertips where a planner puts them
    (:func:`graspbench.clearance.fingertip_z` on ``free_space``, the :func:`height_map` of the
    orthographic heights) and ``grasp_to_pose`` converts them."""
    grasp = image_grasp(camera, depth_m, candidate)
    if grasp is None:
        return None
    if max_depth_m is not None:
        row, col = int(round(grasp.v)), int(round(grasp.u))
        view = table_view(camera, grasp.u, grasp.v, float(depth_m[row, col]), float(surface_m[row, col]))
        z = fingertip_z(
            free_space,
            view.u,
            view.v,
            grasp.angle_rad,
            grasp.opening_px * view.scale,
            view.px_m,
            view.top_z,
            gripper.grasp_depth_m,
            max_depth_m,
            gripper.fingertip_clearance_m,
        )
        grasp = dataclasses.replace(grasp, depth_m=float(camera.depth_at_height(grasp.u, grasp.v, z)))
    position, yaw, opening_m = grasp_to_pose(grasp, camera, depth_m, gripper)
    return Candidate(position, yaw, opening_m, candidate.object_index, grasp)


def image_grasp(camera, depth_m: np.ndarray, candidate: Candidate) -> Grasp | None:
    """The image grasp (u, v, angle, opening_px) of a world grasp, None when its centre is outside the image."""
    u, v, _ = camera.world_to_pixel(candidate.position_m)
    if not (0 <= u <= camera.width_px - 1 and 0 <= v <= camera.height_px - 1):
        return None
    # As the environment converts openings: at the surface seen at the centre pixel.
    surface_m = float(depth_m[int(round(float(v))), int(round(float(u)))])
    return Grasp(
        float(u),
        float(v),
        _image_angle(camera, candidate),
        candidate.opening_m / float(camera.metres_per_pixel(surface_m)),
    )


def _clear_in_image(candidate: Candidate, camera, heights_m: np.ndarray) -> bool:
    """Do the candidate's fingers and palm come down on free space in the orthographic ``heights_m``?"""
    u, v, depth = camera.world_to_pixel(candidate.position_m)
    view = table_view(camera, float(u), float(v), float(depth), candidate.position_m[2])
    return footprint_clear(
        heights_m,
        view.u,
        view.v,
        _image_angle(camera, candidate),
        candidate.opening_m / view.px_m,
        view.px_m,
        candidate.position_m[2],
    )


def _image_angle(camera, candidate: Candidate) -> float:
    u, v, _ = camera.world_to_pixel(candidate.position_m)
    u2, v2, _ = camera.world_to_pixel(
        candidate.position_m + 0.01 * np.array([np.cos(candidate.yaw), np.sin(candidate.yaw), 0.0])
    )
    return wrap_angle(float(np.arctan2(-(v2 - v), u2 - u)))


@functools.lru_cache(maxsize=4096)
def _mesh(path: str, scale: float):
    """The object's collision mesh in its own frame, as PyBullet sees it (URDFs: their mesh file)."""
    mesh_path, mesh_scale = Path(path), 1.0
    if mesh_path.suffix == ".urdf":
        text = mesh_path.read_text()
        match = re.search(r'<collision>.*?filename="([^"]+)"(?:\s+scale="([^" ]+))?', text, re.S)
        mesh_path = mesh_path.parent / match.group(1)
        mesh_scale = float(match.group(2) or 1.0)
    mesh = trimesh.load(mesh_path, force="mesh", process=False)
    return (
        np.asarray(mesh.vertices) * mesh_scale * scale,
        np.asarray(mesh.faces),
        np.asarray(mesh.face_normals),
        mesh.area_faces,
    )


def _surface_samples(model, position, orientation, count: int, rng: np.random.Generator):
    """Area-weighted points on the mesh surface with their face normals, in the world frame."""
    vertices, faces, face_normals, areas = _mesh(model.path, model.scale)
    chosen = rng.choice(len(faces), size=count, p=areas / areas.sum())
    r1, r2 = rng.random(count), rng.random(count)
    flip = r1 + r2 > 1
    r1, r2 = np.where(flip, 1 - r1, r1), np.where(flip, 1 - r2, r2)
    a, b, c = (vertices[faces[chosen, k]] for k in range(3))
    local = a + r1[:, None] * (b - a) + r2[:, None] * (c - a)
    rotation = _rotation(orientation)
    return local @ rotation.T + position, face_normals[chosen] @ rotation.T


def _rotation(quaternion) -> np.ndarray:
    x, y, z, w = quaternion
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )
