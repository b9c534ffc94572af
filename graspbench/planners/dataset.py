"""The torch Dataset that GG-CNN-family trainers read: a dataset folder (docs/dataset_format.md) in,
normalised images (:mod:`graspbench.planners.inputs`, as an agent's when it plans) and dense
ground-truth maps out.

Splits:

* by object set: done when the data is made. ``graspbench generate`` on an environment whose scene
  split is ``train`` writes a dataset of training objects; one on ``test`` a dataset of unseen
  objects. Use separate folders, never mix them here.
* by scene, inside one dataset: :func:`split_scenes` gives train and validation scene indices, to
  pass as ``scenes`` to two :class:`GraspDataset` objects (augment only the training one).

Randomness, all from numpy generators seeded by the scene index (not the position in the
``scenes`` list, so an item's labels and augmentation do not depend on the split):

* the subset of labels kept with ``labels_per_image``: ``default_rng([seed, scene, 0])``, the same
  in every epoch;
* augmentation: ``default_rng([seed, scene, 1, epoch])``; :meth:`GraspDataset.set_epoch` moves to
  the next epoch. Nothing comes from torch's global or worker RNG, so a run is reproducible with
  any number of DataLoader workers. Workers copy the dataset when an iterator is made: call
  ``set_epoch`` before iterating, and do not combine it with ``persistent_workers=True``.

Typical use::

    train, val = split_scenes(root)
    data = GraspDataset(root, input="depth", scenes=train, augment=True)
    loader = DataLoader(data, batch_size=8, shuffle=True, collate_fn=collate)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from ..clearance import fingers_clear, height_map, table_view
from ..data.store import FORMAT, SCENE_FIX, read_index, read_metadata
from ..grasp import GraspRectangle
from ..io import FileFormatError, reading
from ..sim.camera import Camera
from .inputs import model_input, normalise_depth
from .train_args import INPUTS, POSITIVES

OPENING_SCALE_PX = 150.0  # GG-CNN / GR-ConvNet: opening maps hold opening_px / 150 (REFERENCE, Post-processing)
CENTRE_FRACTION = 1 / 3  # GG-CNN ground truth: only the centre third along the closing axis is filled
DEFAULT_ROTATIONS_DEG = (0.0, 90.0, 180.0, 270.0)  # the public GG-CNN repos' rotations (REFERENCE, Inputs)
DEFAULT_ZOOM_RANGE = (0.5, 1.0)  # the public GG-CNN repos' zoom (REFERENCE, Inputs)
DEFAULT_FLIP_PROBABILITY = 0.5  # top-down scenes have no handedness, so mirrored ones are as likely
DENSE_KEYS = ("x", "q", "cos2", "sin2", "opening", "priority", "depth_target", "saliency")
BINNED_KEYS = ("q_bins", "q_bins_weight")  # items of a dataset with angle bins (issue 26, item 5)
LABEL_KEYS = ("label_uv", "label_angle", "label_opening_px", "label_jaw_size_px")

# A pixel centre exactly on a rectangle's edge is inside; cos/sin of multiples of pi/2 are not
# exactly 0 and 1 in floating point, which would otherwise decide such pixels at random.
_EDGE_TOLERANCE_PX = 1e-6
# Separate random streams per scene, so the label subset does not change with augmentation settings.
_LABEL_SUBSET_STREAM = 0
_AUGMENT_STREAM = 1
_CROP_STREAM = 2
# Where augmentation looks outside the source image: nothing is known there, so no object and no
# priority. Images (depth, rgb) repeat their nearest edge pixel instead, the table in practice.
_OUTSIDE_FILL = {"segmentation": -1, "priority": 0.0}
_IMAGE_KEYS = ("rgb", "depth", "depth_noisy", "segmentation", "priority")
_LABEL_FIELDS = ("label_u", "label_v", "label_angle", "label_opening_px", "label_jaw_size_px", "label_success")
# What the free-space check of a grasp turned into another angle bin reads from a scene file.
_CLEARANCE_FIELDS = ("intrinsics", "extrinsics", "label_position_m")


def angle_bin(angle_rad, bins: int) -> np.ndarray:
    """The bin of each grasp angle when [-pi/2, pi/2) is cut into ``bins`` equal bins (0 first)."""
    return (np.floor(np.mod(np.asarray(angle_rad) + np.pi / 2, np.pi) / (np.pi / bins)).astype(np.int64)) % bins


def bin_centre_rad(index, bins: int) -> np.ndarray:
    """The angle at the centre of bin ``index`` (see :func:`angle_bin`)."""
    return -np.pi / 2 + (np.asarray(index) + 0.5) * np.pi / bins


def rasterize_rectangles(
    shape: tuple[int, int], rectangles: Sequence[GraspRectangle], values: np.ndarray
) -> np.ndarray:
    """Paint oriented rectangles into value maps.

    A pixel belongs to a rectangle when its centre, in the rectangle's own frame (closing axis and
    across it), lies within half of ``opening_px`` along the axis and half of ``jaw_size_px``
    across, edges included. Where rectangles overlap, the later one overwrites.

    Args:
        shape: (H, W) of the maps.
        rectangles: K rectangles; ``opening_px`` is the length along the closing axis.
        values: (K, M) values to write for each rectangle, or (K,) for M = 1.

    Returns:
        (M, H, W) float32 maps, 0 where no rectangle covers the pixel.
    """
    height, width = shape
    values = np.asarray(values, dtype=np.float32)
    if values.ndim == 1:
        values = values[:, None]
    maps = np.zeros((values.shape[1], height, width), dtype=np.float32)
    for rect, value in zip(rectangles, values):
        # Only the rectangle's bounding box can hold its pixels.
        reach = 0.5 * np.hypot(rect.opening_px, rect.jaw_size_px)
        u0, u1 = max(int(np.floor(rect.u - reach)), 0), min(int(np.ceil(rect.u + reach)) + 1, width)
        v0, v1 = max(int(np.floor(rect.v - reach)), 0), min(int(np.ceil(rect.v + reach)) + 1, height)
        if u0 >= u1 or v0 >= v1:
            continue
        du = np.arange(u0, u1)[None, :] - rect.u
        dv = np.arange(v0, v1)[:, None] - rect.v
        axis_u, axis_v = np.cos(rect.angle_rad), -np.sin(rect.angle_rad)
        along = du * axis_u + dv * axis_v
        across = -du * axis_v + dv * axis_u
        inside = (np.abs(along) <= rect.opening_px / 2 + _EDGE_TOLERANCE_PX) & (
            np.abs(across) <= rect.jaw_size_px / 2 + _EDGE_TOLERANCE_PX
        )
        maps[:, v0:v1, u0:u1][:, inside] = value[:, None]
    return maps


def split_scenes(root, val_fraction: float = 0.2, seed: int = 0) -> tuple[list[int], list[int]]:
    """Split a dataset's scenes into train and validation, by a seeded permutation.

    The split depends on the set of scenes in index.csv, so split a finished dataset. It splits
    scenes, not objects: for unseen objects, generate a separate dataset on the test object set.

    Args:
        root: the dataset folder.
        val_fraction: share of scenes for validation, rounded to a whole number of scenes.
        seed: seeds the permutation.

    Returns:
        (train, val): sorted scene indices.
    """
    if not 0.0 <= val_fraction <= 1.0:
        raise ValueError(f"val_fraction must be in [0, 1], got {val_fraction}")
    scenes = sorted(_read_scene_files(Path(root)))
    order = np.random.default_rng(seed).permutation(len(scenes))
    n_val = int(round(val_fraction * len(scenes)))
    val = sorted(scenes[i] for i in order[:n_val])
    train = sorted(scenes[i] for i in order[n_val:])
    return train, val


class _Labels(NamedTuple):
    uv: np.ndarray  # (K, 2) float64 pixel centres (u, v)
    angle: np.ndarray  # (K,) radians
    opening_px: np.ndarray  # (K,)
    jaw_size_px: np.ndarray  # (K,)

    def select(self, keep: np.ndarray) -> "_Labels":
        return _Labels(*(field[keep] for field in self))


@dataclass(frozen=True)
class _Augmentation:
    """Flip u, then rotate counter-clockwise (as displayed), then zoom in, all about the image centre."""

    flip: bool
    rotation_rad: float
    zoom: float

    def matrix(self) -> np.ndarray:
        """(2, 2) map of (u, v) offsets from the centre, source to augmented image."""
        flip = np.diag([-1.0 if self.flip else 1.0, 1.0])
        c, s = np.cos(self.rotation_rad), np.sin(self.rotation_rad)
        # Counter-clockwise as displayed is clockwise in (u, v), because v points down.
        rotate = np.array([[c, s], [-s, c]])
        return rotate @ flip / self.zoom

    def source_pixels(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each output pixel, the nearest source pixel (rows, cols, clamped) and whether it was outside."""
        height, width = shape
        centre = np.array([[(width - 1) / 2], [(height - 1) / 2]])
        rows, cols = np.mgrid[0:height, 0:width]
        offsets = np.stack([cols.ravel(), rows.ravel()]) - centre
        source = np.linalg.inv(self.matrix()) @ offsets + centre
        # Nearest neighbour: exact for flips and quarter turns, and no depth blended across edges.
        u = np.floor(source[0] + 0.5).astype(np.int64).reshape(shape)
        v = np.floor(source[1] + 0.5).astype(np.int64).reshape(shape)
        outside = (u < 0) | (u >= width) | (v < 0) | (v >= height)
        return np.clip(v, 0, height - 1), np.clip(u, 0, width - 1), outside

    def labels(self, labels: _Labels, shape: tuple[int, int]) -> _Labels:
        """The labels in the augmented image, without those whose centre left it."""
        height, width = shape
        centre = np.array([(width - 1) / 2, (height - 1) / 2])
        uv = (labels.uv - centre) @ self.matrix().T + centre
        angle = (-labels.angle if self.flip else labels.angle) + self.rotation_rad
        angle = (angle + np.pi / 2) % np.pi - np.pi / 2
        moved = _Labels(uv, angle, labels.opening_px / self.zoom, labels.jaw_size_px / self.zoom)
        # The image spans [-0.5, size - 0.5) around pixel centres 0 .. size - 1.
        inside = (uv[:, 0] >= -0.5) & (uv[:, 0] < width - 0.5) & (uv[:, 1] >= -0.5) & (uv[:, 1] < height - 0.5)
        return moved.select(inside)


class GraspDataset(Dataset):
    """One item per scene: normalised input, GG-CNN ground-truth maps, auxiliary maps, sparse labels.

    Items are dicts of tensors:

    * ``x`` (C, H, W) float32: depth (1 channel), rgb (3) or rgbd (depth then rgb, 4), normalised
      as in GG-CNN (:mod:`graspbench.planners.inputs`).
    * ``q``, ``cos2``, ``sin2``, ``opening`` (1, H, W) float32: for every kept positive label, the
      centre third of its rectangle along the closing axis (full jaw size across) holds 1,
      cos 2a, sin 2a and opening_px / OPENING_SCALE_PX; 0 elsewhere. Overlaps: later labels (in
      the scene file's order) overwrite earlier ones.
    * ``priority`` (1, H, W): the scene's priority map; ``depth_target`` (1, H, W): the normalised
      clean depth, for auxiliary depth heads; ``saliency`` (1, H, W): 1 on objects, 0 elsewhere.
    * ``label_uv`` (K, 2), ``label_angle`` (K,), ``label_opening_px`` (K,),
      ``label_jaw_size_px`` (K,) float32: the kept positive labels; ``label_count``: K (int);
      ``scene``: the scene index (int). Batch items with :func:`collate`.
    * with ``angle_bins`` K > 0, also ``q_bins`` and ``q_bins_weight`` (K, H, W) float32: a quality
      per angle bin (:func:`angle_bin`), over the same centre thirds as ``q``, and where it is known.
      A kept positive writes 1 in its bin. A grasp known to fail there writes 0 in its bin: a stored
      label that is not a positive, and each kept positive turned to another bin's centre angle
      whose fingers would come down on something in the depth image (the planners' own
      free-space check, :func:`graspbench.clearance.fingers_clear` with ``palm=False``, at the label's fingertip
      height). Pixels no positive covers are 0 in every bin, like ``q``, each bin weighing 1 / K
      (a failing grasp's bin 1). A positive's pixels are unknown (weight 0) in its other bins unless
      a failing grasp covers them: a grasp that holds at one angle says nothing about the others.
      This is what lets a network say "this angle collides here", which one ``q`` per pixel cannot
      (docs/planners.md, fixes 11 and 12).

    With ``augment``, each item is flipped horizontally (with probability ``flip``), rotated
    counter-clockwise as displayed by one of ``rotations_deg`` (uniformly), then zoomed in by a
    factor drawn uniformly from ``zoom_range`` (crop the centre ``zoom`` of the image and resize
    it to full size), all about the image centre, with nearest-neighbour resampling. Labels move
    with the images: centres are mapped, angles become ``-a`` under the flip and ``a + rotation``
    after it, openings and jaw sizes are divided by the zoom, and labels whose centre leaves the
    image are dropped. Quarter turns of a non-square image, or other angles, bring in area from
    outside the source: images repeat their edge pixels there, with no object and no priority.
    """

    def __init__(
        self,
        root,
        *,
        input: str = "depth",
        noisy_depth: bool = False,
        scenes: Sequence[int] | None = None,
        labels_per_image: int | None = None,
        positives: str = "collision_free",
        augment: bool = False,
        seed: int = 0,
        rotations_deg: Sequence[float] = DEFAULT_ROTATIONS_DEG,
        zoom_range: tuple[float, float] = DEFAULT_ZOOM_RANGE,
        flip: float = DEFAULT_FLIP_PROBABILITY,
        crop_px: int | None = None,
        angle_bins: int = 0,
    ):
        """Open a dataset folder.

        Args:
            root: the dataset folder, holding dataset.json, index.csv and scenes/*.npz.
            input: network input, one of "depth", "rgb", "rgbd".
            noisy_depth: read ``depth_noisy`` (the depth noise model's output) instead of the clean
                ``depth`` for the input; ``depth_target`` is always the clean depth.
            scenes: scene indices to use (the split by scene); None uses every scene in index.csv.
            labels_per_image: keep at most this many positive labels per scene, a subset that
                depends only on ``seed`` and the scene; None keeps them all.
            positives: which labels are ground-truth grasps: "success" (``label_success``) or
                "collision_free" (``label_success`` and ``label_collision_free``).
            augment: augment items (training only).
            seed: seeds the label subsets and the augmentation.
            rotations_deg: augmentation rotations, counter-clockwise as displayed, drawn uniformly.
            zoom_range: (low, high) of the zoom factor, the share of the image kept, in (0, 1].
            flip: probability of a horizontal flip during augmentation.
            crop_px: training only: a square window of this size, around a random positive label,
                instead of the whole image. The networks are fully convolutional, so they train on
                windows (4 times cheaper at half the side) and still run on whole images.
            angle_bins: K > 0 adds the binned quality targets ``q_bins`` and ``q_bins_weight``;
                0: none.

        Raises:
            ValueError: for an unknown argument value, a folder that is not a dataset, or scenes
                missing from it.
        """
        if input not in INPUTS:
            raise ValueError(f"input must be one of {INPUTS}, got {input!r}")
        if positives not in POSITIVES:
            raise ValueError(f"positives must be one of {POSITIVES}, got {positives!r}")
        if labels_per_image is not None and labels_per_image < 1:
            raise ValueError(f"labels_per_image must be None or at least 1, got {labels_per_image}")
        low, high = zoom_range
        if not 0.0 < low <= high <= 1.0:
            raise ValueError(f"zoom_range must satisfy 0 < low <= high <= 1, got {zoom_range}")
        if not 0.0 <= flip <= 1.0:
            raise ValueError(f"flip is a probability in [0, 1], got {flip}")
        if crop_px is not None and crop_px < 8:
            raise ValueError(f"crop_px must be at least 8 pixels, got {crop_px}")
        self.crop_px = crop_px
        if isinstance(angle_bins, bool) or not isinstance(angle_bins, int) or angle_bins < 0 or angle_bins == 1:
            raise ValueError(f"angle_bins must be 0 (no binned quality) or at least 2, got {angle_bins!r}")
        self.angle_bins = angle_bins
        self._failing: dict[int, _Labels] = {}  # per scene: the grasps known to fail, before augmentation
        if len(rotations_deg) == 0:
            raise ValueError("rotations_deg must hold at least one angle (use (0,) for no rotation)")

        self.root = Path(root)
        self.metadata = _read_metadata(self.root)
        self._files = _read_scene_files(self.root)
        if scenes is None:
            scenes = sorted(self._files)
        unknown = [int(s) for s in scenes if int(s) not in self._files]
        if unknown:
            raise ValueError(
                f"scenes {unknown[:10]} are not in {self.root / 'index.csv'}; "
                f"use scene indices from its 'scene' column (or split_scenes)"
            )
        self.scenes = [int(s) for s in scenes]
        self.input = input
        self.noisy_depth = noisy_depth
        self.labels_per_image = labels_per_image
        self.positives = positives
        self.augment = augment
        self.seed = seed
        self.rotations_rad = np.radians(np.asarray(rotations_deg, dtype=np.float64))
        self.zoom_range = (float(low), float(high))
        self.flip = float(flip)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw new augmentations: items depend on (seed, scene, epoch).

        Args:
            epoch: the training epoch about to start.
        """
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.scenes)

    def __getitem__(self, index: int) -> dict:
        scene = self.scenes[index]
        arrays = self._read_scene(scene)
        labels = self._kept_labels(arrays, scene)
        failing = self._failing_grasps(arrays, scene) if self.angle_bins else None
        images = {key: arrays[key] for key in _IMAGE_KEYS if key in arrays}
        shape = images["depth"].shape
        if self.augment:
            augmentation = self._draw_augmentation(scene)
            rows, cols, outside = augmentation.source_pixels(shape)
            images = {
                key: _resample(image, rows, cols, outside, _OUTSIDE_FILL.get(key)) for key, image in images.items()
            }
            labels = augmentation.labels(labels, shape)
            failing = None if failing is None else augmentation.labels(failing, shape)

        x = model_input(self.input, images["depth_noisy" if self.noisy_depth else "depth"], images.get("rgb"))

        # GraspRectangle's opening_px is the length along the axis: here the centre third of the opening.
        rectangles = [
            GraspRectangle(u, v, angle, opening * CENTRE_FRACTION, jaw)
            for (u, v), angle, opening, jaw in zip(labels.uv, labels.angle, labels.opening_px, labels.jaw_size_px)
        ]
        values = np.stack(
            [
                np.ones_like(labels.angle),
                np.cos(2 * labels.angle),
                np.sin(2 * labels.angle),
                labels.opening_px / OPENING_SCALE_PX,
            ],
            axis=1,
        )
        q, cos2, sin2, opening = rasterize_rectangles(shape, rectangles, values)[:, None]

        def tensor(array) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))

        item = {
            "x": tensor(x),
            "q": tensor(q),
            "cos2": tensor(cos2),
            "sin2": tensor(sin2),
            "opening": tensor(opening),
            "priority": tensor(images["priority"][None]),
            "depth_target": tensor(normalise_depth(images["depth"])[None]),
            "saliency": tensor(images["segmentation"][None] >= 0),
            "label_uv": tensor(labels.uv.reshape(-1, 2)),
            "label_angle": tensor(labels.angle),
            "label_opening_px": tensor(labels.opening_px),
            "label_jaw_size_px": tensor(labels.jaw_size_px),
            "label_count": len(labels.angle),
            "scene": scene,
        }
        if self.angle_bins:
            target, weight = binned_quality(shape, labels, failing, self.angle_bins)
            item["q_bins"], item["q_bins_weight"] = tensor(target), tensor(weight)
        return self._crop(item, scene) if self.crop_px else item

    def _crop(self, item: dict, scene: int) -> dict:
        """A crop_px window around a random label (jittered by up to a quarter window), labels moved."""
        height, width = item["x"].shape[1:]
        size = min(self.crop_px, height, width)
        rng = np.random.default_rng([self.seed, scene, _CROP_STREAM, self.epoch])
        centre = np.array([(width - 1) / 2, (height - 1) / 2])
        if item["label_count"]:
            centre = item["label_uv"][rng.integers(item["label_count"])].numpy()
        centre = centre + rng.uniform(-size / 4, size / 4, size=2)
        left = int(np.clip(round(centre[0] - size / 2), 0, width - size))
        top = int(np.clip(round(centre[1] - size / 2), 0, height - size))
        out = {
            key: item[key][:, top : top + size, left : left + size]
            for key in (*DENSE_KEYS, *BINNED_KEYS)
            if key in item
        }
        uv = item["label_uv"] - torch.tensor([left, top], dtype=torch.float32)
        inside = (uv >= -0.5).all(dim=1) & (uv < size - 0.5).all(dim=1)
        out["label_uv"] = uv[inside]
        for key in ("label_angle", "label_opening_px", "label_jaw_size_px"):
            out[key] = item[key][inside]
        out["label_count"] = int(inside.sum())
        out["scene"] = scene
        return out

    def _required_keys(self) -> list[str]:
        keys = ["depth", "segmentation", "priority", *_LABEL_FIELDS]
        if self.noisy_depth:
            keys.append("depth_noisy")
        if self.input in ("rgb", "rgbd"):
            keys.append("rgb")
        if self.positives == "collision_free":
            keys.append("label_collision_free")
        if self.angle_bins:
            keys.extend(_CLEARANCE_FIELDS)
        return keys

    def _read_scene(self, scene: int) -> dict:
        path = self.root / self._files[scene]
        with reading(path, "a readable scene file", SCENE_FIX), np.load(path, allow_pickle=False) as data:
            missing = [key for key in self._required_keys() if key not in data.files]
            if missing:
                raise FileFormatError(
                    f"scene file {path} has no field(s) {missing}; it was written by another "
                    f"version of the format: regenerate the dataset with `graspbench generate`"
                )
            return {key: data[key] for key in self._required_keys()}

    def _positive(self, arrays: dict) -> np.ndarray:
        positive = arrays["label_success"].astype(bool)
        if self.positives == "collision_free":
            positive &= arrays["label_collision_free"].astype(bool)
        return positive

    def _kept_labels(self, arrays: dict, scene: int) -> _Labels:
        keep = np.flatnonzero(self._positive(arrays))
        if self.labels_per_image is not None and len(keep) > self.labels_per_image:
            rng = np.random.default_rng([self.seed, scene, _LABEL_SUBSET_STREAM])
            # Sorted, so overlapping rectangles overwrite in file order whatever the draw.
            keep = np.sort(rng.choice(keep, size=self.labels_per_image, replace=False))
        return _Labels(
            uv=np.stack([arrays["label_u"][keep], arrays["label_v"][keep]], axis=1).astype(np.float64),
            angle=arrays["label_angle"][keep].astype(np.float64),
            opening_px=arrays["label_opening_px"][keep].astype(np.float64),
            jaw_size_px=arrays["label_jaw_size_px"][keep].astype(np.float64),
        )

    def _failing_grasps(self, arrays: dict, scene: int) -> _Labels:
        """The stored labels that are not positives, and every positive turned to another bin's
        centre angle that the free-space check rules out (computed once per scene)."""
        if scene not in self._failing:
            positive = self._positive(arrays)
            labels = _Labels(
                uv=np.stack([arrays["label_u"], arrays["label_v"]], axis=1).astype(np.float64),
                angle=arrays["label_angle"].astype(np.float64),
                opening_px=arrays["label_opening_px"].astype(np.float64),
                jaw_size_px=arrays["label_jaw_size_px"].astype(np.float64),
            )
            depth_m = arrays["depth"]
            camera = Camera(arrays["intrinsics"], arrays["extrinsics"], depth_m.shape[1], depth_m.shape[0])
            surface_m = camera.heights_m(depth_m)
            free_space = height_map(camera.orthographic_heights(depth_m))
            turned = []
            for i in np.flatnonzero(positive):
                (u, v), fingertip_z_m = labels.uv[i], float(arrays["label_position_m"][i, 2])
                row, col = int(round(v)), int(round(u))
                view = table_view(camera, u, v, float(depth_m[row, col]), float(surface_m[row, col]))
                own, opening_px = angle_bin(labels.angle[i], self.angle_bins), labels.opening_px[i] * view.scale
                for angle in bin_centre_rad(np.arange(self.angle_bins), self.angle_bins):
                    if angle_bin(angle, self.angle_bins) != own and not fingers_clear(
                        free_space, view.u, view.v, angle, opening_px, view.px_m, fingertip_z_m, palm=False
                    ):
                        turned.append((i, angle))
            index = np.array([i for i, _ in turned] + list(np.flatnonzero(~positive)), dtype=np.int64)
            failing = labels.select(index)
            failing.angle[: len(turned)] = [angle for _, angle in turned]
            self._failing[scene] = failing
        return self._failing[scene]

    def _draw_augmentation(self, scene: int) -> _Augmentation:
        rng = np.random.default_rng([self.seed, scene, _AUGMENT_STREAM, self.epoch])
        # Always three draws in this order, so one setting does not shift the others' streams.
        flip = bool(rng.random() < self.flip)
        rotation = float(self.rotations_rad[rng.integers(len(self.rotations_rad))])
        zoom = float(rng.uniform(*self.zoom_range))
        return _Augmentation(flip, rotation, zoom)


def collate(batch: Sequence[dict]) -> dict:
    """Batch :class:`GraspDataset` items: stack dense maps, pad sparse labels.

    Args:
        batch: items from :meth:`GraspDataset.__getitem__`.

    Returns:
        The dense tensors stacked to (B, C, H, W); the ``label_*`` tensors padded with zeros to
        (B, Kmax, ...), with ``label_mask`` (B, Kmax) bool true on real labels; ``label_count``
        and ``scene`` as (B,) int64 tensors.
    """
    out = {key: torch.stack([item[key] for item in batch]) for key in (*DENSE_KEYS, *BINNED_KEYS) if key in batch[0]}
    counts = [item["label_count"] for item in batch]
    k_max = max(counts, default=0)
    out["label_mask"] = torch.zeros(len(batch), k_max, dtype=torch.bool)
    for key in LABEL_KEYS:
        tail = batch[0][key].shape[1:]
        out[key] = torch.zeros((len(batch), k_max, *tail), dtype=batch[0][key].dtype)
    for b, (item, count) in enumerate(zip(batch, counts)):
        out["label_mask"][b, :count] = True
        for key in LABEL_KEYS:
            out[key][b, :count] = item[key]
    out["label_count"] = torch.tensor(counts, dtype=torch.int64)
    out["scene"] = torch.tensor([item["scene"] for item in batch], dtype=torch.int64)
    return out


def binned_quality(
    shape: tuple[int, int], positives: _Labels, failing: _Labels, bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """(target, weight), each (bins, H, W): see ``q_bins`` in :class:`GraspDataset`. Where no
    positive covers a pixel, its bins weigh 1 / bins each (a failing grasp's bin 1): the background
    weighs against a grasp's one bin as it weighs against ``q`` in the papers' single map, instead
    of drowning it bins times over."""

    def covered(labels: _Labels) -> np.ndarray:
        """(bins, H, W): where a label of each bin covers the pixel."""
        rectangles = [
            GraspRectangle(u, v, angle, opening * CENTRE_FRACTION, jaw)
            for (u, v), angle, opening, jaw in zip(labels.uv, labels.angle, labels.opening_px, labels.jaw_size_px)
        ]
        label_bins = angle_bin(labels.angle, bins)
        maps = []
        for k in range(bins):
            in_bin = [r for r, b in zip(rectangles, label_bins) if b == k]
            maps.append(rasterize_rectangles(shape, in_bin, np.ones(len(in_bin)))[0] > 0)
        return np.stack(maps)

    holds, fails = covered(positives), covered(failing)
    weight = np.zeros((bins, *shape), dtype=np.float32)
    weight[:, ~holds.any(axis=0)] = 1.0 / bins
    weight[fails | holds] = 1.0
    return holds.astype(np.float32), weight  # a verified success outranks a failure nearby


def _resample(image: np.ndarray, rows: np.ndarray, cols: np.ndarray, outside: np.ndarray, fill) -> np.ndarray:
    out = image[rows, cols]
    if fill is not None:
        out[outside] = fill
    return out


def _read_metadata(root: Path) -> dict:
    if not root.is_dir():
        raise ValueError(f"dataset folder {root} does not exist; make one with `graspbench generate`")
    metadata = read_metadata(root)
    if metadata.get("format") != FORMAT:
        raise ValueError(
            f"{root / 'dataset.json'} has format {metadata.get('format')!r}, this reader "
            f"needs {FORMAT}; regenerate the dataset with `graspbench generate`"
        )
    return metadata


def _read_scene_files(root: Path) -> dict[int, str]:
    """Scene index -> npz path relative to ``root``, from index.csv."""
    if not root.is_dir():
        raise ValueError(f"dataset folder {root} does not exist; make one with `graspbench generate`")
    index = read_index(root)
    missing = [column for column in ("scene", "file") if column not in index.columns]
    if missing:
        raise ValueError(
            f"{root / 'index.csv'} has no column(s) {missing}; run the same "
            f"`graspbench generate` command again to rebuild it"
        )
    return {int(scene): str(file) for scene, file in zip(index["scene"], index["file"])}
