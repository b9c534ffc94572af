"""The probe-video classifier C_phi (Murray et al., section IV.B): its films, network, training and
metrics. Table III, the experiment that compares its probe durations, is :mod:`.table3`.
One job, the classifier, from films to a trained checkpoint and its metrics; over 500 lines because
the film loading, the (2+1)D network and the training are each only meaningful with the others
(the frame indices a checkpoint stores are the films' and the network's contract).

C_phi watches the wrist camera's film of the lift-and-pull probe and says whether continuing the
pick would succeed, pick several objects (``fail_multipick``) or leave the target behind
(``fail_not_picked``). Its probabilities are the reward of the policy learned from experience.

The network. The paper fine-tunes VideoMAE (ViT-B, pretrained on Something-Something v2); no
pretrained weights can be fetched here and a ViT-B does not train on a 2-core CPU in minutes, so
C_phi is a small (2+1)D CNN trained from scratch: 3x3 convolutions on every frame (shared over
time) alternating with residual 3-tap convolutions along time, then pooling and one linear layer.
Why this shape: what tells the classes apart is *motion* relative to the hand (a held object
stays still in the wrist camera while the bin slides away; a target left behind slides away with
it; a second object that moves along is a multi-pick). Factorising space and time gives temporal
mixing at a fraction of a 3D convolution's cost, and every frame also gets its difference to
frame 0 as three extra channels, so "what moved since the fingers closed" is one convolution
away instead of several temporal layers deep. Pooling over time takes both the mean and the
maximum: a slip may show in two frames out of nine and a mean alone would dilute it. Frames are
thinned in time (one every 0.25 s, as the authors' code filmed at 4 Hz) and kept at 64 px (larger
films are downsampled) to fit the time budget: one epoch of the 2 s classifier on 1,600 training
picks costs about 16 s of one core, and Table III's five classifiers, 20 epochs each, about 16
minutes of one core (less on two).

The passive baseline is the same network fed frame 0 only (T = 1: the temporal convolutions see
only their centre tap, the frame-0 difference is zero), the view after the fingers closed and
before the hand moved: same parameters, same training, no interaction.

Probe duration. Table III's "Interactive (D s)" rows are read here as: the classifier sees only
the frames filmed in the first D seconds of the probe (``frame_times_s <= D``); the passive row
is D = 0. Every classifier of the table is trained on the same split and the same balanced
picks, so the rows differ only in how much of the probe they saw.

Data: the seen collection is split 80/10/10 by bin (the picks of a bin share objects, so a split
by pick would leak), the best epoch is the one with the best validation accuracy, and the test
part and the whole unseen collection (test objects) are reported. Successes are undersampled to
as many as the failures, as the paper did (975 successes / 961 failures), in every part by
default (the paper balanced its whole data set before splitting), so accuracies compare with its.
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
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from ..bench.metrics import Rate
from ..io import read_checkpoint_dict, reading, save_checkpoint, write_atomic
from ..options import differing_options
from ..versions import experiment_version
from .picks import CLASSES, read_bin, read_index, read_metadata

BINARY_CLASSES = ("success", "fail")
"""The binary view: success against either failure (the paper's SUCCESS / FAIL and its reward)."""
TIME_TOLERANCE_S = 1e-3
"""Frame times are float32 seconds: a frame at 0.5 s belongs to a 0.5 s probe."""
MIN_PICKS_PER_CLASS = 5
"""Fewer training picks of a class than this cannot teach the class: an error, not a silent model."""
BALANCE_MODES = ("all", "train", "none")
CHECKPOINT_FIX = "train it again with `graspbench ivfp train-classifier`"
COLLECT_FIX = "collect more bins with `graspbench ivfp collect` (same --out resumes and adds bins)"


@dataclass
class ClassifierArgs:
    data: str = "data/ivfp-seen"
    """collection of probed picks with the train objects (`graspbench ivfp collect`); split 80/10/10 by bin"""
    unseen: str | None = None
    """collection made with the test objects, evaluated whole after training; None: none"""
    out: str = "runs/ivfp_classifier/interactive-2.0s.pt"
    """checkpoint file; its metrics go next to it (same name, .json). An existing checkpoint made
    with the same arguments and data is reused, not retrained"""
    probe_s: float = 2.0
    """seconds of the probe film the classifier sees (frames with frame_times_s <= probe_s);
    0: the passive baseline, frame 0 only (after the fingers closed, before the hand moved)"""
    frame_step_s: float = 0.25
    """keep one frame every this many seconds of the film (0: every frame): 9 frames for 2 s"""
    frame_px: int = 64
    """frames are resized to frame_px x frame_px pixels by area averaging; 64 keeps the wrist camera's own size"""
    width: int = 32
    """channels of the middle layer of the network (the first has half, the last twice as many)"""
    epochs: int = 20
    """passes over the training picks"""
    batch_size: int = 32
    """clips per step"""
    lr: float = 2e-3
    """AdamW learning rate, annealed to zero over the epochs by a cosine"""
    weight_decay: float = 1e-4
    """AdamW weight decay"""
    augment: bool = True
    """random shifts of up to 1/12 of the frame, horizontal flips and brightness on training clips
    (the same for every frame of a clip: the camera did not jump)"""
    balance: str = "all"
    """undersample successes to as many as the failures: "all" in every part (train, validation,
    test, unseen; the paper balanced its whole data set, 975 / 961), "train" only, or "none" """
    val_fraction: float = 0.1
    """share of the seen collection's bins that choose the best epoch"""
    test_fraction: float = 0.1
    """share of the seen collection's bins held out for the seen-objects test"""
    seed: int = 0
    """seeds the split, the balancing, initialisation, batch order and augmentation"""
    threads: int = 0
    """torch threads; 0: one per core"""
    progress: bool = True
    """show progress bars and print the metrics"""

    def check(self) -> None:
        for name in ("epochs", "batch_size", "frame_px", "width"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.frame_px < 16:
            raise ValueError(f"--frame-px must be at least 16 (three stride-2 layers), got {self.frame_px}")
        if self.probe_s < 0 or self.frame_step_s < 0:
            raise ValueError(
                f"--probe-s and --frame-step-s must not be negative, got {self.probe_s} and {self.frame_step_s}"
            )
        if self.balance not in BALANCE_MODES:
            raise ValueError(f"--balance {self.balance!r} is not one of {BALANCE_MODES}")
        for name in ("val_fraction", "test_fraction"):
            if not 0 < getattr(self, name) < 0.5:
                raise ValueError(f"--{name.replace('_', '-')} must be between 0 and 0.5, got {getattr(self, name)}")
        for flag, root in (("--data", self.data), ("--unseen", self.unseen)):
            if root is not None:
                try:
                    read_metadata(root)
                except ValueError as error:
                    raise ValueError(f"{flag}: {error}") from None


# --- the films --------------------------------------------------------------------------------


@dataclass
class Films:
    """The probe films of a collection, every frame kept, downsampled once."""

    root: str
    """the collection folder"""
    frames: torch.Tensor
    """uint8 (N, T, 3, S, S): RGB, channels first, S = frame_px"""
    labels: np.ndarray
    """int64 (N,): index of each pick's outcome in CLASSES"""
    bins: np.ndarray
    """int64 (N,): the bin each pick was made in"""
    times_s: np.ndarray
    """float (T,): seconds since the probe started, of every frame"""
    fingerprint: str
    """hash of dataset.json and index.csv: what the collection holds"""


def load_films(root, frame_px: int, progress: bool = False) -> Films:
    """Every probed pick of a collection, bin by bin (so the full-size films never sit in memory
    together), downsampled to ``frame_px``."""
    read_metadata(root)
    index = read_index(root)
    frames, labels, bins, times_s = [], [], [], None
    for b in tqdm(index["bin"], desc=f"loading {root}", disable=not progress, leave=False):
        arrays = read_bin(root, int(b))
        keep = arrays["probed"]
        outcomes = arrays["outcome"][keep]
        unknown = sorted(set(outcomes) - set(CLASSES))
        if unknown:
            raise ValueError(
                f"{root}: bin {int(b)} has probed picks with outcome {unknown[0]!r}, "
                f"not one of {CLASSES}; {COLLECT_FIX}"
            )
        if times_s is None:
            times_s = np.asarray(arrays["frame_times_s"], float)
        elif not _same_times(arrays["frame_times_s"], times_s):
            raise ValueError(
                f"{root}: bin {int(b)} was filmed at other frame times than the first bin; "
                "a collection must use one probe and camera rate throughout"
            )
        frames.append(_downsample(arrays["probe_rgb"][keep], frame_px))
        labels.append(np.array([CLASSES.index(o) for o in outcomes], np.int64))
        bins.append(np.full(len(outcomes), int(b), np.int64))
    if times_s is None or not sum(len(x) for x in labels):
        raise ValueError(f"{root} holds no probed picks; {COLLECT_FIX}")
    return Films(
        str(root), torch.cat(frames), np.concatenate(labels), np.concatenate(bins), times_s, _fingerprint(root)
    )


def _same_times(times_s, other_s) -> bool:
    return len(times_s) == len(other_s) and np.allclose(times_s, other_s, atol=TIME_TOLERANCE_S)


def _fingerprint(root) -> str:
    digest = hashlib.sha256()
    for name in ("dataset.json", "index.csv"):
        digest.update((Path(root) / name).read_bytes())
    return digest.hexdigest()[:16]


def _downsample(probe_rgb: np.ndarray, frame_px: int) -> torch.Tensor:
    """uint8 (N, T, H, W, 3) -> uint8 (N, T, 3, S, S), by area averaging (no aliasing)."""
    n, t, h, w, _ = probe_rgb.shape
    clips = torch.from_numpy(np.ascontiguousarray(probe_rgb)).reshape(n * t, h, w, 3).permute(0, 3, 1, 2)
    if (h, w) != (frame_px, frame_px):
        clips = (
            F.interpolate(clips.float(), size=(frame_px, frame_px), mode="area").round().clamp(0, 255).to(torch.uint8)
        )
    return clips.reshape(n, t, 3, frame_px, frame_px).contiguous()


def frame_indices(times_s, probe_s: float, step_s: float = 0.0) -> np.ndarray:
    """The frames a classifier of a ``probe_s``-second probe sees: those filmed by then
    (``times_s <= probe_s``), thinned to one every ``step_s`` seconds (0: all of them).
    Frame 0 is always the first."""
    times_s = np.asarray(times_s, float)
    if probe_s > times_s[-1] + TIME_TOLERANCE_S:
        raise ValueError(
            f"probe_s (--probe-s) {probe_s:g} s is longer than the probe films ({times_s[-1]:g} s, "
            f"{len(times_s)} frames); choose at most {times_s[-1]:g} s or collect with a longer probe"
        )
    chosen: list[int] = []
    for i, t in enumerate(times_s):
        if t > probe_s + TIME_TOLERANCE_S:
            break
        if not chosen or t - times_s[chosen[-1]] >= step_s - TIME_TOLERANCE_S:
            chosen.append(i)
    return np.array(chosen, np.int64)


# --- the network ------------------------------------------------------------------------------


class _SpaceTimeBlock(nn.Module):
    """A strided 3x3 convolution on every frame, then a residual 3-tap convolution along time."""

    def __init__(self, channels_in: int, channels_out: int):
        super().__init__()
        self.spatial = nn.Sequential(
            nn.Conv2d(channels_in, channels_out, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(channels_out),
            nn.ReLU(inplace=True),
        )
        self.temporal = nn.Sequential(
            nn.Conv2d(channels_out, channels_out, (3, 1), padding=(1, 0), bias=False),
            nn.BatchNorm2d(channels_out),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor, clips: int) -> torch.Tensor:
        x = self.spatial(x)  # (N*T, C, H, W)
        frames = x.shape[0] // clips
        c, h, w = x.shape[1:]
        # Time as the height of a (T, H*W) image lets a 2D convolution mix neighbouring frames.
        along_time = x.reshape(clips, frames, c, h * w).transpose(1, 2)
        along_time = along_time + self.temporal(along_time)
        return along_time.transpose(1, 2).reshape(clips * frames, c, h, w)


class ProbeVideoNet(nn.Module):
    """(2+1)D CNN: clips (N, T, 3, S, S) of floats in [0, 1] -> logits (N, classes)."""

    def __init__(self, width: int = 32, classes: int = len(CLASSES)):
        super().__init__()
        self.config = {"width": width, "classes": classes}
        channels = (width // 2, width, 2 * width)
        self.stem = nn.Sequential(
            nn.Conv2d(6, channels[0], 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(inplace=True),
        )
        self.blocks = nn.ModuleList(
            [_SpaceTimeBlock(channels[0], channels[1]), _SpaceTimeBlock(channels[1], channels[2])]
        )
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(2 * channels[2], classes)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        n, t = clips.shape[:2]
        # The difference to frame 0 is what moved since the fingers closed: the probe's message.
        x = torch.cat([clips - 0.5, clips - clips[:, :1]], dim=2).flatten(0, 1)
        x = self.stem(x)
        for block in self.blocks:
            x = block(x, n)
        per_frame = x.mean(dim=(2, 3)).reshape(n, t, -1)
        pooled = torch.cat([per_frame.mean(dim=1), per_frame.amax(dim=1)], dim=1)
        return self.head(self.dropout(pooled))


def _as_float(frames: torch.Tensor) -> torch.Tensor:
    return frames.float() / 255.0


def _augment(clips: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random shift (replicated border), horizontal flip and brightness, one draw per clip."""
    n, t, c, s, _ = clips.shape
    pad = max(1, s // 12)
    padded = F.pad(clips.flatten(1, 2), (pad, pad, pad, pad), mode="replicate").reshape(
        n, t, c, s + 2 * pad, s + 2 * pad
    )
    offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5
    gains = 0.8 + 0.4 * torch.rand(n, generator=generator)
    out = torch.empty_like(clips)
    for i in range(n):
        dy, dx = int(offsets[i, 0]), int(offsets[i, 1])
        clip = padded[i, :, :, dy : dy + s, dx : dx + s]
        out[i] = clip.flip(-1) if flips[i] else clip
    return (out * gains.view(n, 1, 1, 1, 1)).clamp(0, 1)


# --- the classifier as callers see it ---------------------------------------------------------


class ProbeClassifier:
    """A trained C_phi. Callers pass whole probe films; the frames it was trained on (passive:
    frame 0; interactive: the first probe_s seconds, thinned) are picked here."""

    def __init__(self, model: ProbeVideoNet, checkpoint: dict):
        self.model = model.eval()
        self.classes = tuple(checkpoint["classes"])
        self.probe_s = float(checkpoint["probe_s"])
        self.frame_px = int(checkpoint["frame_px"])
        self.frame_times_s = np.asarray(checkpoint["frame_times_s"], float)
        self.frame_indices = np.asarray(checkpoint["frame_indices"], np.int64)
        self.checkpoint = checkpoint

    @property
    def passive(self) -> bool:
        return self.probe_s == 0

    def predict_proba(self, probe_rgb: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Class probabilities (N, 3), in CLASSES order, of probe films (T, H, W, 3) or
        (N, T, H, W, 3), uint8, filmed at the training films' frame times."""
        probe_rgb = np.asarray(probe_rgb)
        if probe_rgb.ndim == 4:
            probe_rgb = probe_rgb[None]
        if probe_rgb.ndim != 5 or probe_rgb.shape[-1] != 3 or probe_rgb.dtype != np.uint8:
            raise ValueError(
                f"probe_rgb must be uint8 (T, H, W, 3) or (N, T, H, W, 3), got {probe_rgb.dtype} {probe_rgb.shape}"
            )
        if probe_rgb.shape[1] != len(self.frame_times_s):
            raise ValueError(
                f"probe films of {probe_rgb.shape[1]} frames, but this classifier was trained on films of "
                f"{len(self.frame_times_s)} frames ({self.frame_times_s[-1]:g} s); "
                "pass whole films of the same probe"
            )
        probabilities = []
        for start in range(0, len(probe_rgb), batch_size):
            frames = _downsample(probe_rgb[start : start + batch_size][:, self.frame_indices], self.frame_px)
            probabilities.append(self.predict_frames(frames))
        return np.concatenate(probabilities) if probabilities else np.zeros((0, len(self.classes)), np.float32)

    def predict_frames(self, frames: torch.Tensor, batch_size: int = 128) -> np.ndarray:
        """Probabilities of frames already selected and downsampled: uint8 (N, T', 3, S, S)."""
        out = []
        with torch.no_grad():
            for start in range(0, len(frames), batch_size):
                logits = self.model(_as_float(frames[start : start + batch_size]))
                out.append(torch.softmax(logits, dim=1).numpy())
        return np.concatenate(out).astype(np.float32)

    def evaluate(self, films: Films, picks: np.ndarray | None = None) -> dict:
        """Metrics on ``picks`` (indices; default: all) of a collection's films."""
        if not _same_times(films.times_s, self.frame_times_s):
            raise ValueError(
                f"{films.root} was filmed at other frame times ({len(films.times_s)} frames, "
                f"{films.times_s[-1]:g} s) than this classifier's training films "
                f"({len(self.frame_times_s)}, {self.frame_times_s[-1]:g} s)"
            )
        if films.frames.shape[-1] != self.frame_px:
            raise ValueError(
                f"films downsampled to {films.frames.shape[-1]} px, classifier trained at {self.frame_px} px"
            )
        picks = np.arange(len(films.labels)) if picks is None else picks
        probabilities = self.predict_frames(
            films.frames[torch.from_numpy(picks)][:, torch.from_numpy(self.frame_indices)]
        )
        return classification_metrics(films.labels[picks], probabilities.argmax(axis=1), probabilities)


def load_classifier(path) -> ProbeClassifier:
    """A classifier saved by ``train_classifier``; a file that is not one fails with a message naming it."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"classifier checkpoint {path} does not exist; {CHECKPOINT_FIX}")
    required = {
        "state_dict",
        "model_config",
        "classes",
        "probe_s",
        "frame_px",
        "frame_times_s",
        "frame_indices",
        "args",
    }
    checkpoint = read_checkpoint_dict(
        path,
        "an IVFP classifier checkpoint",
        CHECKPOINT_FIX,
        lambda checkpoint: required <= set(checkpoint),
        "fields missing: not written by `graspbench ivfp train-classifier`",
        weights_only=True,
    )
    with reading(path, "an IVFP classifier checkpoint", CHECKPOINT_FIX):
        model = ProbeVideoNet(**checkpoint["model_config"])
        model.load_state_dict(checkpoint["state_dict"])
    return ProbeClassifier(model, checkpoint)


# --- metrics ----------------------------------------------------------------------------------


def _ratio(hits: int, total: int) -> float:
    """Precision or recall; 0 when undefined (a class never predicted), as is usual, so a
    classifier that never says "fail" gets no credit for fail precision."""
    return hits / total if total else 0.0


def _scores(confusion: np.ndarray, names: tuple[str, ...]) -> dict:
    picks = int(confusion.sum())
    correct = int(np.trace(confusion))
    low, high = Rate(correct, picks).interval
    precision = {name: _ratio(int(confusion[i, i]), int(confusion[:, i].sum())) for i, name in enumerate(names)}
    recall = {name: _ratio(int(confusion[i, i]), int(confusion[i].sum())) for i, name in enumerate(names)}
    return {
        "picks": picks,
        "accuracy": _ratio(correct, picks),
        "accuracy_low": low,
        "accuracy_high": high,
        "precision": precision,
        "recall": recall,
        "macro_precision": float(np.mean(list(precision.values()))),
        "macro_recall": float(np.mean(list(recall.values()))),
        "confusion": confusion.tolist(),
        "classes": list(names),
    }


def classification_metrics(true, predicted, probabilities=None) -> dict:
    """3-class accuracy (with its Wilson 95% interval), precision and recall per class and their
    macro means, the confusion matrix (rows: true, columns: predicted); under ``binary`` the same
    for success against fail (either failure). Given the ``probabilities`` (N, 3), also
    ``log_loss``, the mean cross-entropy: how much a reward drawn from them can be trusted."""
    true, predicted = np.asarray(true, np.int64), np.asarray(predicted, np.int64)
    confusion = np.zeros((len(CLASSES), len(CLASSES)), np.int64)
    np.add.at(confusion, (true, predicted), 1)
    binary = np.array([[confusion[0, 0], confusion[0, 1:].sum()], [confusion[1:, 0].sum(), confusion[1:, 1:].sum()]])
    metrics = {**_scores(confusion, CLASSES), "binary": _scores(binary, BINARY_CLASSES)}
    if probabilities is not None:
        chosen = np.asarray(probabilities, float)[np.arange(len(true)), true]
        metrics["log_loss"] = float(-np.log(np.maximum(chosen, 1e-12)).mean()) if len(true) else math.nan
    return metrics


# --- training ---------------------------------------------------------------------------------


def split_bins(bins: np.ndarray, seed: int, val_fraction: float = 0.1, test_fraction: float = 0.1):
    """Bins shuffled with ``seed`` and cut into train, validation and test bins (sorted arrays)."""
    unique = np.unique(bins)
    n_val, n_test = max(1, round(len(unique) * val_fraction)), max(1, round(len(unique) * test_fraction))
    if len(unique) - n_val - n_test < 1:
        raise ValueError(f"{len(unique)} bins cannot be split into train, validation and test bins; {COLLECT_FIX}")
    order = np.random.default_rng(seed).permutation(unique)
    return np.sort(order[n_val + n_test :]), np.sort(order[:n_val]), np.sort(order[n_val : n_val + n_test])


def balance_picks(labels: np.ndarray, picks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``picks`` with successes undersampled to as many as the failures (all kept when fewer)."""
    successes = picks[labels[picks] == 0]
    failures = picks[labels[picks] != 0]
    if len(successes) > len(failures):
        successes = rng.choice(successes, len(failures), replace=False)
    return np.sort(np.concatenate([successes, failures]))


def _parts(args: ClassifierArgs, seen: Films, unseen: Films | None) -> dict[str, tuple[Films, np.ndarray]]:
    """The picks of every part. They depend on the seed and the data only, never on probe_s:
    the classifiers of one table are trained and tested on the very same picks."""
    train_bins, val_bins, test_bins = split_bins(seen.bins, args.seed, args.val_fraction, args.test_fraction)
    parts = {}
    for number, (name, bins) in enumerate((("train", train_bins), ("val", val_bins), ("test_seen", test_bins))):
        picks = np.flatnonzero(np.isin(seen.bins, bins))
        if args.balance == "all" or (args.balance == "train" and name == "train"):
            picks = balance_picks(seen.labels, picks, np.random.default_rng([args.seed, number]))
        parts[name] = (seen, picks)
    if unseen is not None:
        picks = np.arange(len(unseen.labels))
        if args.balance == "all":
            picks = balance_picks(unseen.labels, picks, np.random.default_rng([args.seed, 3]))
        parts["unseen"] = (unseen, picks)
    for name, (films, picks) in parts.items():
        if not len(picks):
            raise ValueError(
                f"{films.root}: the {name} part has no picks left (balancing keeps as many successes "
                f"as failures); {COLLECT_FIX}"
            )
    counts = np.bincount(seen.labels[parts["train"][1]], minlength=len(CLASSES))
    scarce = [f"{name} ({count})" for name, count in zip(CLASSES, counts) if count < MIN_PICKS_PER_CLASS]
    if scarce:
        raise ValueError(
            f"{seen.root}: the training part has too few picks of {', '.join(scarce)}; at least "
            f"{MIN_PICKS_PER_CLASS} of each class are needed; {COLLECT_FIX}"
        )
    return parts


def _reusable(out: Path, args: ClassifierArgs, fingerprints: dict) -> dict | None:
    """The metrics of a checkpoint trained with these arguments on these data, if there is one."""
    metrics_path = out.with_suffix(".json")
    if not (out.is_file() and metrics_path.is_file()):
        return None
    try:
        metrics = json.loads(metrics_path.read_text())
    except (OSError, ValueError):
        return None
    same = not differing_options(metrics.get("args", {}), dataclasses.asdict(args), CLASSIFIER_FREE)
    return metrics if same and metrics.get("fingerprints") == fingerprints else None


CLASSIFIER_FREE = ("threads", "progress", "out")
"""Options that change no result (threads, progress bars, where it is written): a classifier trained
with others differing only in these is reused."""


def train_classifier(args: ClassifierArgs, seen: Films | None = None, unseen: Films | None = None) -> dict:
    """Train C_phi, keep the epoch best on validation, report the seen test part and the unseen
    collection; returns the metrics (also written next to the checkpoint). ``seen`` and ``unseen``
    may be films already loaded (at ``args.frame_px``) to save reloading them."""
    args.check()
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    out = Path(args.out)
    fingerprints = {
        "data": seen.fingerprint if seen else _fingerprint(args.data),
        "unseen": (unseen.fingerprint if unseen else _fingerprint(args.unseen)) if args.unseen else None,
    }
    reused = _reusable(out, args, fingerprints)
    if reused is not None:
        if args.progress:
            print(f"{out}: trained with the same arguments and data, reused")
        return reused

    seen = seen if seen is not None else load_films(args.data, args.frame_px, args.progress)
    if args.unseen and unseen is None:
        unseen = load_films(args.unseen, args.frame_px, args.progress)
    indices = frame_indices(seen.times_s, args.probe_s, args.frame_step_s)
    parts = _parts(args, seen, unseen)
    # Metrics describe the checkpoint beside them: a stale pair must not pass for a finished run.
    out.with_suffix(".json").unlink(missing_ok=True)
    train_picks = parts["train"][1]
    # Only the frames this classifier sees, once: cheaper than indexing every batch.
    train_frames = seen.frames[torch.from_numpy(train_picks)][:, torch.from_numpy(indices)]
    train_labels = torch.from_numpy(seen.labels[train_picks])

    torch.manual_seed(args.seed)
    model = ProbeVideoNet(args.width)
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=args.epochs)
    order = torch.Generator().manual_seed(args.seed)
    augmentation = torch.Generator().manual_seed(args.seed + 1)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(train_frames, train_labels),
        batch_size=args.batch_size,
        shuffle=True,
        generator=order,
    )
    checkpoint = {
        "model_config": model.config,
        "classes": list(CLASSES),
        "probe_s": args.probe_s,
        "frame_px": args.frame_px,
        "frame_times_s": seen.times_s.tolist(),
        "frame_indices": indices.tolist(),
        "args": dataclasses.asdict(args),
        "fingerprints": fingerprints,
    }
    classifier = ProbeClassifier(model, checkpoint)
    history, best, started = [], None, time.perf_counter()
    epochs = tqdm(
        range(args.epochs),
        desc=f"{out.stem} ({len(indices)} frames, {len(train_picks)} picks)",
        disable=not args.progress,
    )
    for epoch in epochs:
        epoch_started = time.perf_counter()
        model.train()
        loss_sum = 0.0
        for frames, labels in loader:
            clips = _as_float(frames)
            if args.augment:
                clips = _augment(clips, augmentation)
            loss = F.cross_entropy(model(clips), labels)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            loss_sum += loss.item() * len(labels)
        schedule.step()
        model.eval()
        val = classifier.evaluate(*parts["val"])
        row = {
            "epoch": epoch + 1,
            "loss": loss_sum / len(train_picks),
            "val_accuracy": val["accuracy"],
            "val_log_loss": val["log_loss"],
            "val_binary_accuracy": val["binary"]["accuracy"],
            "seconds": time.perf_counter() - epoch_started,
        }
        history.append(row)
        epochs.set_postfix(loss=f"{row['loss']:.3f}", val=f"{100 * row['val_accuracy']:.0f}%")
        # A small validation part ties often on accuracy: the lower loss breaks the tie.
        if best is None or (row["val_accuracy"], -row["val_log_loss"]) > (best["val_accuracy"], -best["val_log_loss"]):
            best = row
            save_checkpoint(out, {**checkpoint, "state_dict": model.state_dict(), "epoch": epoch + 1})

    best_classifier = load_classifier(out)
    metrics = {
        "args": dataclasses.asdict(args),
        "fingerprints": fingerprints,
        "best_epoch": best["epoch"],
        "code_version": experiment_version("ivfp"),
        "frames": len(indices),
        "frame_times_s": seen.times_s[indices].tolist(),
        "train_picks": len(train_picks),
        "train_seconds": time.perf_counter() - started,
        "seconds_per_epoch": float(np.mean([r["seconds"] for r in history])),
        "history": history,
    }
    for name, (films, picks) in parts.items():
        if name != "train":
            metrics[name] = best_classifier.evaluate(films, picks)
    write_atomic(out.with_suffix(".json"), json.dumps(metrics, indent=1))
    if args.progress:
        print(f"{out}: best epoch {best['epoch']} of {args.epochs}, {metrics['train_seconds'] / 60:.1f} min")
        for name in ("test_seen", "unseen"):
            if name in metrics:
                print(f"  {name}: {format_metrics(metrics[name])}")
    return metrics


def format_metrics(metrics: dict) -> str:
    binary = metrics["binary"]
    return (
        f"{metrics['picks']} picks, accuracy {100 * metrics['accuracy']:.1f}% "
        f"[{100 * metrics['accuracy_low']:.1f}, {100 * metrics['accuracy_high']:.1f}], "
        f"macro precision {metrics['macro_precision']:.2f}, recall {metrics['macro_recall']:.2f}; "
        f"success vs fail: accuracy {100 * binary['accuracy']:.1f}%, "
        f"precision {binary['macro_precision']:.2f}, recall {binary['macro_recall']:.2f}, "
        f"fail precision {binary['precision']['fail']:.2f}, fail recall {binary['recall']['fail']:.2f}"
    )
