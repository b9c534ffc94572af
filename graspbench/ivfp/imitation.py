"""Imitation of the demonstrator's successful picks: the IVFP policy's first training (Murray et al.,
section IV.A) and ``graspbench ivfp train-policy``'s work.

**Imitation** (``train_policy``). From the demonstrator's successful picks only. Q_width: cross-
entropy against the demonstrated width. Q_grasp: the paper's cross-entropy "with a Gaussian
penalty" read as cross-entropy against a Gaussian soft target: with the demonstrated width fed to
Q_grasp, the target distribution over valid cells is q(c) proportional to
exp(-d(c)^2 / (2 sigma^2)), d the distance in image pixels from cell c's centre to the
demonstrated point, and the loss is -sum_c q(c) log pi(c | s, w). A prediction a few millimetres
from the demonstrated point is thus penalised a little, one far from it a lot, instead of every
miss counting the same as with a one-hot target. (With sigma -> 0 it is Ravens' one-hot
cross-entropy; the authors' code instead labelled cells within 10 px of the point a class of
their own.) Images are flipped left-right at random: the closing axis stays along image u and the
probe's pull stays towards the image's bottom, so a flipped pick is as physical as the original.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch.nn import functional as F
from tqdm import tqdm

from .. import __version__
from ..io import resume_training, save_checkpoint, save_figure, write_atomic
from ..versions import experiment_version
from .picks import read_bin, read_index, read_metadata
from .policy import (
    GROUPS,
    INPUTS,
    GraspPolicy,
    cell_centres_px,
    policy_payload,
    prepare,
    stack,
    to_tensors,
)

COLLECT_FIX = "collect demonstrations with `graspbench ivfp collect`"


# --- the loss --------------------------------------------------------------------------------


def gaussian_targets(
    u: torch.Tensor, v: torch.Tensor, valid: torch.Tensor, downsample: int, sigma_px: float
) -> torch.Tensor:
    """The soft target of the imitation loss, (B, h*w): over each map's valid cells, proportional
    to exp(-d^2 / (2 sigma^2)), d in image pixels from the cell's centre to (u, v). A point far
    from every valid cell puts its mass on the nearest one (the softmax is shift-invariant)."""
    centres_u, centres_v = cell_centres_px(tuple(valid.shape[1:]), downsample)
    squared = (centres_u[None, None, :] - u[:, None, None]) ** 2 + (centres_v[None, :, None] - v[:, None, None]) ** 2
    return torch.softmax((-squared / (2 * sigma_px**2)).masked_fill(~valid, float("-inf")).flatten(1), dim=1)


def soft_cross_entropy(pixel_log_probs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """-sum_c q(c) log pi(c), per row; invalid cells (q = 0, log pi = -inf) contribute nothing."""
    return -(targets * pixel_log_probs.masked_fill(targets == 0, 0.0)).sum(dim=1)


# --- demonstrations --------------------------------------------------------------------------


@dataclass
class Demonstrations:
    """The successful picks of one or more collections, prepared at the policy's resolution."""

    inputs: dict[str, np.ndarray]
    """compact policy inputs (see :func:`prepare`), stacked along a leading pick axis"""
    u: np.ndarray
    """float32 (N,) demonstrated image column"""
    v: np.ndarray
    """float32 (N,) demonstrated image row"""
    width_index: np.ndarray
    """int64 (N,) demonstrated width"""
    groups: np.ndarray
    """int64 (N,) the bin each pick came from, unique across collections (for splitting)"""
    widths_m: tuple[float, ...]
    """the collections' pre-grasp widths"""
    image_shape: tuple[int, int]
    """(H, W) of the overhead images"""


def load_demonstrations(roots: list[str], downsample: int, progress: bool = False) -> Demonstrations:
    """The successful picks of collections (bin by bin, so whole collections never sit in memory)."""
    widths_m, parts, groups = None, [], []
    for number, root in enumerate(roots):
        metadata = read_metadata(root)
        spec = metadata.get("spec")
        pick = spec.get("pick") if isinstance(spec, dict) else None
        if not pick or "widths_m" not in pick:
            raise ValueError(f"--data {root}: its dataset.json has no spec with pick.widths_m; {COLLECT_FIX}")
        if widths_m is None:
            widths_m = tuple(pick["widths_m"])
        elif tuple(pick["widths_m"]) != widths_m:
            raise ValueError(
                f"--data {root}: widths {pick['widths_m']} differ from {list(widths_m)} of {roots[0]}; "
                "train on collections of one environment"
            )
        for b in tqdm(read_index(root)["bin"], desc=f"loading {root}", disable=not progress, leave=False):
            arrays = read_bin(root, int(b))
            missing = {"outcome", "rgb", "depth_m", "target_mask", "u", "v", "width_index"} - set(arrays)
            if missing:
                raise ValueError(f"--data {root}: bin {int(b)} lacks {sorted(missing)}; {COLLECT_FIX}")
            for k in np.flatnonzero(arrays["outcome"] == "success"):
                parts.append(
                    (
                        prepare(arrays["rgb"][k], arrays["depth_m"][k], arrays["target_mask"][k], downsample),
                        float(arrays["u"][k]),
                        float(arrays["v"][k]),
                        int(arrays["width_index"][k]),
                        arrays["depth_m"][k].shape,
                    )
                )
                groups.append(number * 1_000_000 + int(b))
    if not parts:
        raise ValueError(f"--data {','.join(roots)}: no successful picks to imitate; {COLLECT_FIX}")
    inputs = stack([p[0] for p in parts])
    return Demonstrations(
        inputs,
        np.array([p[1] for p in parts], np.float32),
        np.array([p[2] for p in parts], np.float32),
        np.array([p[3] for p in parts], np.int64),
        np.array(groups, np.int64),
        widths_m,
        parts[0][4],
    )


def _flip(batch: dict[str, torch.Tensor], u: torch.Tensor, flips: torch.Tensor, image_width: int):
    """Mirror the chosen rows left-right (inputs and demonstrated u)."""
    out = {
        key: torch.where(flips.view(-1, *[1] * (value.dim() - 1)), value.flip(-1), value)
        for key, value in batch.items()
    }
    return out, torch.where(flips, image_width - 1 - u, u)


# --- imitation -------------------------------------------------------------------------------


IMITATION_FREE = ("epochs", "progress", "threads", "out")
"""Options a run may be resumed with changed: more epochs (the cosine then spans the new total),
other threads, progress bars, the folder's own name."""


@dataclass
class PolicyArgs:
    data: str = "data/ivfp-seen"
    """collections of probed picks (`graspbench ivfp collect`), comma-separated; their successful
    picks are imitated, split by bin into training and validation"""
    out: str = "runs/ivfp_policy"
    """run folder: best.pt (lowest validation loss), last.pt (resume state), metrics.csv,
    training_curve.png, run.json. An existing run with the same arguments and data is resumed"""
    input: str = "rgbd"
    """rgbd: RGB, target mask and heights relative to the target; rgb: RGB and mask (the paper)"""
    downsample: int = 2
    """image pixels per policy cell along each axis: 224 px images give a 112 x 112 policy grid"""
    base_channels: int = 16
    """channels of the backbone's first layer (its levels have 2, 4 and 8 times as many); a multiple of 8"""
    fpn_channels: int = 32
    """channels of the FPN decoder; a multiple of 8"""
    width_embedding: int = 8
    """size of the learned width embedding concatenated to the decoder's features"""
    sigma_px: float = 6.0
    """standard deviation, in image pixels, of the Gaussian soft target around the demonstrated
    point (6 px is about 5 mm on the bin's floor: the demonstrator's own aim spreads 4 mm)"""
    width_loss_weight: float = 1.0
    """weight of Q_width's cross-entropy beside Q_grasp's"""
    epochs: int = 30
    """passes over the training picks"""
    batch_size: int = 16
    """picks per step"""
    lr: float = 1e-3
    """AdamW learning rate, annealed to zero over the epochs by a cosine"""
    weight_decay: float = 1e-4
    """AdamW weight decay"""
    augment: bool = True
    """mirror training picks left-right at random (physically equivalent: see the module's docstring)"""
    val_fraction: float = 0.1
    """share of the bins held out to choose the best epoch"""
    seed: int = 0
    """seeds the split, initialisation, batch order and augmentation"""
    threads: int = 0
    """torch threads; 0: one per core"""
    progress: bool = True
    """show progress bars and print every epoch"""

    def check(self) -> None:
        if self.input not in INPUTS:
            raise ValueError(f"--input {self.input!r} is not one of {INPUTS}")
        for name in ("epochs", "batch_size", "downsample", "width_embedding"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("base_channels", "fpn_channels"):
            if getattr(self, name) < GROUPS or getattr(self, name) % GROUPS:
                raise ValueError(
                    f"--{name.replace('_', '-')} must be a positive multiple of {GROUPS}, got {getattr(self, name)}"
                )
        if not self.sigma_px > 0:
            raise ValueError(f"--sigma-px must be positive, got {self.sigma_px}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"--val-fraction must be between 0 and 1, got {self.val_fraction}")
        if not self.data_roots:
            raise ValueError("--data: give at least one collection folder")
        for root in self.data_roots:
            try:
                read_metadata(root)
            except ValueError as error:
                raise ValueError(f"--data: {error}") from None

    @property
    def data_roots(self) -> list[str]:
        return [root.strip() for root in self.data.split(",") if root.strip()]


def _fingerprint(roots: list[str]) -> str:
    digest = hashlib.sha256()
    for root in roots:
        for name in ("dataset.json", "index.csv"):
            digest.update((Path(root) / name).read_bytes())
    return digest.hexdigest()[:16]


def split_groups(groups: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training and validation picks, split by bin (picks of a bin share objects)."""
    unique = np.unique(groups)
    if len(unique) < 2:
        raise ValueError(
            f"{len(unique)} bin of successful picks cannot be split into training and validation; {COLLECT_FIX}"
        )
    held = np.random.default_rng(seed).permutation(unique)[: max(1, round(len(unique) * fraction))]
    val = np.isin(groups, held)
    return np.flatnonzero(~val), np.flatnonzero(val)


def _batch(demos: Demonstrations, picks: np.ndarray) -> dict[str, torch.Tensor]:
    return {key: torch.from_numpy(value[picks]) for key, value in demos.inputs.items()}


def imitation_losses(
    policy: GraspPolicy, batch: dict, u: torch.Tensor, v: torch.Tensor, width_index: torch.Tensor, sigma_px: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per pick: Q_grasp's soft cross-entropy, Q_width's cross-entropy, and the greedy cell's
    distance (image px) to the demonstrated point, Q_grasp fed the demonstrated width."""
    x, valid = to_tensors(batch, policy.input)
    width_logits, pixel_log_probs = policy(x, valid, width_index)
    targets = gaussian_targets(u, v, valid, policy.downsample, sigma_px)
    pixel_loss = soft_cross_entropy(pixel_log_probs, targets)
    width_loss = F.cross_entropy(width_logits, width_index, reduction="none")
    with torch.no_grad():
        w = valid.shape[2]
        best = pixel_log_probs.argmax(dim=1)
        centres_u, centres_v = cell_centres_px(tuple(valid.shape[1:]), policy.downsample)
        error_px = torch.hypot(centres_u[best % w] - u, centres_v[best // w] - v)
        width_hit = (width_logits.argmax(dim=1) == width_index).float()
    return pixel_loss, width_loss, torch.stack([error_px, width_hit], dim=1)


def evaluate_imitation(
    policy: GraspPolicy, demos: Demonstrations, picks: np.ndarray, sigma_px: float, batch_size: int = 64
) -> dict:
    """Mean losses, width accuracy and median point error (px) on ``picks``."""
    policy.eval()
    sums, stats = np.zeros(2), []
    with torch.no_grad():
        for start in range(0, len(picks), batch_size):
            chosen = picks[start : start + batch_size]
            pixel, width, extra = imitation_losses(
                policy,
                _batch(demos, chosen),
                torch.from_numpy(demos.u[chosen]),
                torch.from_numpy(demos.v[chosen]),
                torch.from_numpy(demos.width_index[chosen]),
                sigma_px,
            )
            sums += [pixel.sum().item(), width.sum().item()]
            stats.append(extra.numpy())
    stats = np.concatenate(stats)
    return {
        "pixel_loss": float(sums[0]) / len(picks),
        "width_loss": float(sums[1]) / len(picks),
        "point_error_px": float(np.median(stats[:, 0])),
        "width_accuracy": float(stats[:, 1].mean()),
    }


def train_policy(args: PolicyArgs, demos: Demonstrations | None = None) -> dict:
    """Imitate the demonstrator's successful picks; keeps the epoch with the lowest validation
    loss as best.pt; resumes a run stopped part-way. Returns the best epoch's metrics."""
    args.check()
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    roots = args.data_roots
    demos = demos if demos is not None else load_demonstrations(roots, args.downsample, args.progress)
    train_picks, val_picks = split_groups(demos.groups, args.val_fraction, args.seed)
    meta = {
        "args": dataclasses.asdict(args),
        "fingerprint": _fingerprint(roots),
        "graspbench_version": __version__,
        "code_version": experiment_version("ivfp"),
        "train_picks": len(train_picks),
        "val_picks": len(val_picks),
    }

    torch.manual_seed(args.seed)
    policy = GraspPolicy(
        demos.widths_m, args.downsample, args.input, args.base_channels, args.fpn_channels, args.width_embedding
    )
    optimiser = torch.optim.AdamW(policy.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    history, best, start_epoch = [], None, 0
    state = resume_training(
        out,
        meta,
        "an IVFP policy training state",
        f"delete it to train {out} from the start",
        IMITATION_FREE,
        ("the data", "fingerprint"),
        policy,
        optimiser,
    )
    if state is not None:
        history, best, start_epoch = state["history"], state["best"], len(state["history"])
        if args.progress and start_epoch < args.epochs:
            print(f"{out}: resuming after epoch {start_epoch}")

    image_width = demos.image_shape[1]
    epochs = tqdm(
        range(start_epoch, args.epochs),
        desc=f"imitation ({len(train_picks)} picks)",
        disable=not args.progress,
        initial=start_epoch,
        total=args.epochs,
    )
    for epoch in epochs:
        started = time.perf_counter()
        policy.train()
        for group in optimiser.param_groups:  # a cosine from lr to 0 over the epochs, from the epoch alone
            group["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * epoch / args.epochs))
        # Generators seeded by the epoch: a resumed run draws what the uninterrupted one would.
        order = torch.Generator().manual_seed(args.seed * 1000 + epoch)
        flips = torch.Generator().manual_seed(args.seed * 1000 + epoch + 500)
        permutation = train_picks[torch.randperm(len(train_picks), generator=order).numpy()]
        sums = np.zeros(2)
        for start in range(0, len(permutation), args.batch_size):
            chosen = permutation[start : start + args.batch_size]
            batch, u = _batch(demos, chosen), torch.from_numpy(demos.u[chosen])
            if args.augment:
                batch, u = _flip(batch, u, torch.rand(len(chosen), generator=flips) < 0.5, image_width)
            pixel, width, _ = imitation_losses(
                policy,
                batch,
                u,
                torch.from_numpy(demos.v[chosen]),
                torch.from_numpy(demos.width_index[chosen]),
                args.sigma_px,
            )
            loss = pixel.mean() + args.width_loss_weight * width.mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            sums += [pixel.sum().item(), width.sum().item()]
        val = evaluate_imitation(policy, demos, val_picks, args.sigma_px)
        row = {
            "epoch": epoch + 1,
            "pixel_loss": float(sums[0]) / len(train_picks),
            "width_loss": float(sums[1]) / len(train_picks),
            **{f"val_{k}": value for k, value in val.items()},
            "val_loss": val["pixel_loss"] + args.width_loss_weight * val["width_loss"],
            "seconds": time.perf_counter() - started,
        }
        history.append(row)
        if best is None or row["val_loss"] < best["val_loss"]:
            best = dict(row)
            save_checkpoint(out / "best.pt", policy_payload(policy, **meta, epoch=epoch + 1, val=best))
        save_checkpoint(
            out / "last.pt",
            {
                **policy_payload(policy, **meta, epoch=epoch + 1),
                "meta": meta,
                "optimiser": optimiser.state_dict(),
                "history": history,
                "best": best,
            },
        )
        write_atomic(out / "metrics.csv", pd.DataFrame(history).to_csv(index=False))
        _plot_imitation(history, out / "training_curve.png")
        epochs.set_postfix(
            val_loss=f"{row['val_loss']:.3f}",
            width=f"{100 * row['val_width_accuracy']:.0f}%",
            error=f"{row['val_point_error_px']:.1f}px",
        )
    write_atomic(
        out / "run.json",
        json.dumps(
            {
                **meta,
                "best": best,
                "widths_m": list(demos.widths_m),
                "train_seconds": sum(r["seconds"] for r in history),
            },
            indent=1,
        ),
    )
    if args.progress:
        print(
            f"{out}/best.pt: epoch {best['epoch']} of {args.epochs}, validation loss {best['val_loss']:.3f}, "
            f"width accuracy {100 * best['val_width_accuracy']:.0f}%, median point error {best['val_point_error_px']:.1f} px "
            f"({len(train_picks)} training / {len(val_picks)} validation picks)"
        )
    return best


def _plot_imitation(history: list[dict], path: Path) -> None:
    epochs = [r["epoch"] for r in history]
    fig = Figure(figsize=(10, 3.6))
    left, right = fig.subplots(1, 2)
    left.plot(epochs, [r["pixel_loss"] + r["width_loss"] for r in history], "o-", label="training")
    left.plot(epochs, [r["val_pixel_loss"] + r["val_width_loss"] for r in history], "s--", label="validation")
    left.set_xlabel("epoch")
    left.set_ylabel("loss (Q_grasp soft CE + Q_width CE)")
    left.legend()
    right.plot(epochs, [100 * r["val_width_accuracy"] for r in history], "o-", color="tab:green")
    right.set_xlabel("epoch")
    right.set_ylabel("validation width accuracy (%)", color="tab:green")
    twin = right.twinx()
    twin.plot(epochs, [r["val_point_error_px"] for r in history], "s--", color="tab:purple")
    twin.set_ylabel("median point error (image px)", color="tab:purple")
    fig.suptitle("IVFP policy: imitation of the demonstrator's successful picks")
    fig.tight_layout()
    save_figure(fig, path)
