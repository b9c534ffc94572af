"""The options of ``graspbench train``, one dataclass field each with its docstring: the command
line is generated from them (:func:`graspbench.options.add_options`). Apart from the trainer so
that building the command line does not import torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..options import check_options, non_negative_int, positive_int

INPUTS = ("depth", "rgb", "rgbd")
"""what a network sees: depth, colour, or both"""
POSITIVES = ("success", "collision_free")
"""which labels are ground-truth grasps"""
POSITIVE = {"type": positive_int}  # a field's flag takes integers of at least 1
# What a run may change when it resumes: nothing that changes what is trained.
RESUMABLE_CHANGES = ("epochs", "progress", "threads")


@dataclass
class TrainArgs:
    model: str = "ggcnn2"
    """network: ggcnn, ggcnn2, grconvnet, mlgsl_fcn, mtgcnn, gpnet"""
    loss: str = "imgmse"
    """imgmse, pixmse, mlgsl, mlgsl_log, positional, priority, smooth_l1"""
    data: str = "data/single-train"
    """dataset folder made by `graspbench generate`; several, comma-separated, are trained on together"""
    out: str = "runs/ggcnn2-imgmse"
    """run folder: metrics.csv, training_curve.png, best.pt, last.pt; an existing run is resumed"""
    input: str = field(default="depth", metadata={"choices": INPUTS})
    """depth, rgb or rgbd"""
    labels_per_image: int | None = field(default=None, metadata=POSITIVE)
    """keep at most this many positive labels per training image (the MLGSL sweeps); None: all"""
    positives: str = field(default="collision_free", metadata={"choices": POSITIVES})
    """which labels are ground truth: success, or collision_free successes"""
    val_data: str | None = None
    """a separate validation dataset (e.g. test objects); None: 20% of the scenes of `data`"""
    sim_val_data: str | None = None
    """datasets (comma-separated, e.g. the *-val sets of test objects) whose scenes the planner's grasp
    is executed on after every epoch, with and without the free-space check; the checkpoint whose lower
    simulated success of the two is highest is kept"""
    sim_val_scenes: int = field(default=25, metadata=POSITIVE)
    """scenes of each sim_val_data dataset executed per validation (the first ones)"""
    sim_val_every: int = field(default=1, metadata=POSITIVE)
    """execute the validation grasps every this many epochs (and after the last): each costs ~1 s a scene"""
    epochs: int = field(default=30, metadata=POSITIVE)
    """passes over the training scenes"""
    batch_size: int = field(default=8, metadata=POSITIVE)
    """images per step"""
    lr: float = 1e-3
    """Adam learning rate"""
    seed: int = 0
    """seeds the split, the label subsets, augmentation, initialisation and batch order"""
    augment: bool = True
    """rotations, zoom and flips on the training images (never on validation)"""
    crop_px: int | None = field(default=112, metadata={"type": lambda text: int(text) or None})
    """train on windows of this size around labels (4x cheaper than 224x224 images); None (0 on the
    command line): whole images"""
    auxiliary: str | None = None
    """MTG-CNN's auxiliary target: depth_target or saliency (set automatically from the model)"""
    angle_bins: int = field(default=0, metadata={"type": non_negative_int})
    """K > 1: a quality per angle bin, trained on where each angle is known to hold or fail (the
    free-space check's failures included), so the network alone can avoid colliding angles
    (docs/planners.md, fix 12); 0: one quality per pixel, as in the papers"""
    model_options: dict = field(default_factory=dict)
    """extra constructor arguments of the model, e.g. {"sam": "all"} or {"cgc": false}"""
    threads: int = 0
    """torch threads; 0: one per core"""
    progress: bool = True
    """show progress bars"""

    def check(self) -> None:
        check_options(self)
        for flag, folders in (("--data", self.data_roots), ("--sim-val-data", dataset_roots(self.sim_val_data))):
            for root in folders:
                if not (Path(root) / "dataset.json").exists():
                    raise ValueError(
                        f"{flag} {root}: not a dataset folder; make one with `graspbench generate` "
                        f"(see docs/datasets.md)"
                    )

    @property
    def data_roots(self) -> list[str]:
        return dataset_roots(self.data)


def dataset_roots(folders: str | None) -> list[str]:
    return [root.strip() for root in (folders or "").split(",") if root.strip()]
