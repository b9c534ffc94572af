"""A pinhole RGB-D camera with explicit intrinsics and extrinsics, rendered by PyBullet's TinyRenderer.

Conventions: pixel coordinates are (u, v) = (column, row), with (0, 0) the centre of the top-left
pixel. The camera frame is OpenCV's: x right, y down, z along the optical axis. ``depth_m`` is the
metric distance along the optical axis (not along the ray).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pybullet
from scipy import ndimage


@dataclass(frozen=True)
class DepthNoise:
    """A simple structured-light depth noise model: Gaussian noise growing with depth, missing
    pixels at depth edges and in random blobs, then holes filled from the nearest valid pixel.

    Attributes:
        std_m: noise standard deviation at 1 m; it grows with the square of the depth.
        edge_dropout: probability that a pixel on a depth edge is missing.
        edge_threshold_m: a depth jump larger than this between neighbours marks an edge.
        hole_fraction: fraction of the image lost in random blobs.
        inpaint: fill missing pixels from their nearest valid neighbour (else they read 0).
    """

    std_m: float = 0.003
    edge_dropout: float = 0.5
    edge_threshold_m: float = 0.01
    hole_fraction: float = 0.01
    inpaint: bool = True

    def apply(self, depth_m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        noisy = depth_m + rng.normal(size=depth_m.shape) * self.std_m * depth_m**2
        jump = np.maximum(
            np.abs(np.diff(depth_m, axis=0, prepend=depth_m[:1])),
            np.abs(np.diff(depth_m, axis=1, prepend=depth_m[:, :1])),
        )
        missing = (jump > self.edge_threshold_m) & (rng.random(depth_m.shape) < self.edge_dropout)
        if self.hole_fraction > 0:
            # Blobs: sparse seeds grown by a few pixels.
            seeds = rng.random(depth_m.shape) < self.hole_fraction / 20
            missing |= ndimage.binary_dilation(seeds, iterations=2)
        if not self.inpaint:
            return np.where(missing, 0.0, noisy).astype(np.float32)
        if missing.all():
            return noisy.astype(np.float32)
        nearest = ndimage.distance_transform_edt(missing, return_distances=False, return_indices=True)
        return noisy[tuple(nearest)].astype(np.float32)


@dataclass
class Frame:
    """One rendered view.

    Attributes:
        rgb: (H, W, 3) uint8.
        depth_m: (H, W) float32, metric depth along the optical axis.
        segmentation: (H, W) int32 PyBullet body id per pixel, -1 for background.
    """

    rgb: np.ndarray
    depth_m: np.ndarray
    segmentation: np.ndarray


class Camera:
    """A pinhole camera.

    Args:
        intrinsics: 3x3 matrix K (fx, fy, cx, cy in pixels).
        extrinsics: 4x4 pose of the camera in the world (world_from_camera), OpenCV axes.
        width_px, height_px: image size.
        near_m, far_m: clipping planes of the renderer.
    """

    def __init__(
        self,
        intrinsics: np.ndarray,
        extrinsics: np.ndarray,
        width_px: int,
        height_px: int,
        near_m: float = 0.05,
        far_m: float = 2.0,
    ):
        self.intrinsics = np.asarray(intrinsics, dtype=np.float64)
        self.extrinsics = np.asarray(extrinsics, dtype=np.float64)
        self.width_px, self.height_px = int(width_px), int(height_px)
        self.near_m, self.far_m = float(near_m), float(far_m)
        fx, fy, cx, cy = self.fx, self.intrinsics[1, 1], self.intrinsics[0, 2], self.intrinsics[1, 2]
        if not np.isclose(fx, fy) or not np.isclose(cx, (width_px - 1) / 2) or not np.isclose(cy, (height_px - 1) / 2):
            raise ValueError(
                "camera intrinsics: the renderer needs square pixels (fx == fy) and a centred "
                "principal point (cx = (width-1)/2, cy = (height-1)/2)"
            )
        self._view = self._view_matrix()
        fov_y_deg = np.degrees(2 * np.arctan(height_px / (2 * fy)))
        self._projection = pybullet.computeProjectionMatrixFOV(fov_y_deg, width_px / height_px, near_m, far_m)

    @classmethod
    def top_down(
        cls,
        width_px: int,
        height_px: int,
        height_m: float,
        field_m: float,
        centre_xy_m=(0.0, 0.0),
        near_m: float = 0.05,
        far_m: float = 2.0,
    ) -> "Camera":
        """Looking straight down from ``height_m`` so that the table plane shows ``field_m`` across
        the shorter image side. Image u grows with world x, image v against world y."""
        f = min(width_px, height_px) * height_m / field_m
        intrinsics = np.array([[f, 0, (width_px - 1) / 2], [0, f, (height_px - 1) / 2], [0, 0, 1]])
        extrinsics = np.eye(4)
        extrinsics[:3, :3] = np.diag([1.0, -1.0, -1.0])
        extrinsics[:3, 3] = [centre_xy_m[0], centre_xy_m[1], height_m]
        return cls(intrinsics, extrinsics, width_px, height_px, near_m, far_m)

    @property
    def fx(self) -> float:
        return float(self.intrinsics[0, 0])

    def _view_matrix(self):
        rotation, eye = self.extrinsics[:3, :3], self.extrinsics[:3, 3]
        forward, down = rotation[:, 2], rotation[:, 1]
        return pybullet.computeViewMatrix(eye.tolist(), (eye + forward).tolist(), (-down).tolist())

    def render(self, client, noise: DepthNoise | None = None, rng: np.random.Generator | None = None) -> Frame:
        _, _, rgba, zbuffer, segmentation = client.getCameraImage(
            self.width_px, self.height_px, self._view, self._projection, renderer=pybullet.ER_TINY_RENDERER
        )
        rgba = np.asarray(rgba, dtype=np.uint8).reshape(self.height_px, self.width_px, 4)
        zbuffer = np.asarray(zbuffer, dtype=np.float64).reshape(self.height_px, self.width_px)
        depth_m = self.far_m * self.near_m / (self.far_m - (self.far_m - self.near_m) * zbuffer)
        segmentation = np.asarray(segmentation, dtype=np.int32).reshape(self.height_px, self.width_px)
        depth_m = depth_m.astype(np.float32)
        if noise is not None:
            depth_m = noise.apply(depth_m, rng if rng is not None else np.random.default_rng())
        return Frame(rgba[..., :3].copy(), depth_m, segmentation)

    # --- geometry ---------------------------------------------------------------------------------

    def pixel_to_world(self, u, v, depth_m) -> np.ndarray:
        """World points (..., 3) of pixels (u, v) at the given depths."""
        u, v, depth_m = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (u, v, depth_m)))
        K = self.intrinsics
        camera = np.stack([(u - K[0, 2]) / K[0, 0] * depth_m, (v - K[1, 2]) / K[1, 1] * depth_m, depth_m], axis=-1)
        return camera @ self.extrinsics[:3, :3].T + self.extrinsics[:3, 3]

    def world_to_pixel(self, points) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(u, v, depth_m) of world points (..., 3)."""
        points = np.asarray(points, dtype=np.float64)
        camera = (points - self.extrinsics[:3, 3]) @ self.extrinsics[:3, :3]
        K = self.intrinsics
        depth = camera[..., 2]
        return K[0, 0] * camera[..., 0] / depth + K[0, 2], K[1, 1] * camera[..., 1] / depth + K[1, 2], depth

    def depth_at_height(self, u, v, z_m) -> np.ndarray:
        """Depth along the optical axis at which the ray through (u, v) meets the plane z = z_m."""
        K, rotation, eye = self.intrinsics, self.extrinsics[:3, :3], self.extrinsics[:3, 3]
        ray = np.stack(
            np.broadcast_arrays((np.asarray(u) - K[0, 2]) / K[0, 0], (np.asarray(v) - K[1, 2]) / K[1, 1], 1.0), -1
        )
        return (np.asarray(z_m) - eye[2]) / (ray @ rotation[2])

    def heights_m(self, depth_m: np.ndarray) -> np.ndarray:
        """World z of every pixel of a depth image (the table top is z = 0)."""
        v, u = np.indices(depth_m.shape)
        return self.pixel_to_world(u, v, depth_m)[..., 2]

    def metres_per_pixel(self, depth_m) -> np.ndarray:
        return np.asarray(depth_m) / self.fx

    def table_pixel(self, u, v, depth_m) -> tuple[np.ndarray, np.ndarray]:
        """Where the point seen at pixel (u, v) at ``depth_m`` lies in :meth:`orthographic_heights`:
        the pixel its foot on the table projects to."""
        return self._foot_pixel(self.pixel_to_world(u, v, depth_m))

    def _foot_pixel(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The pixel that the foot on the table of each world point projects to."""
        feet = points.copy()
        feet[..., 2] = 0.0
        table_u, table_v, _ = self.world_to_pixel(feet)
        return table_u, table_v

    def orthographic_heights(self, depth_m: np.ndarray) -> np.ndarray:
        """World z on a top-down orthographic grid: pixel (u, v) is the table-plane square this
        camera shows at (u, v), holding the highest point seen above it (``table_pixel``); squares
        no ray reached (behind a tall object's side) take the highest of their neighbours.

        A footprint of the hand is the same shape everywhere in this view. In the perspective image,
        a surface 4 cm below another is seen displaced by 4/45 of its distance from the image centre:
        5 mm at 6 cm, where a finger came down on the can it aimed at (issue 26).
        """
        v, u = np.indices(depth_m.shape)
        points = self.pixel_to_world(u, v, depth_m)
        table_u, table_v = self._foot_pixel(points)
        cols = np.clip(np.round(table_u).astype(int), 0, depth_m.shape[1] - 1)
        rows = np.clip(np.round(table_v).astype(int), 0, depth_m.shape[0] - 1)
        heights = np.full(depth_m.shape, -np.inf)
        np.maximum.at(heights, (rows, cols), points[..., 2])
        while np.isinf(heights).any():
            heights = np.where(np.isinf(heights), ndimage.maximum_filter(heights, size=3), heights)
        return heights
