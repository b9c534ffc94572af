"""The on-disk store of probed picks: ``dataset.json``, ``index.csv`` and one npz per bin.

A bin is filled once and picked from several times (one pick per target), so the unit of work,
of resuming and of storage is a bin: ``bins/NNNNNN.npz`` holds all of its picks as arrays with a
leading pick axis. Every file goes through a temporary name and a rename (graspbench.io), so an
interrupted collection leaves only whole bins behind.

Arrays of a bin file (N picks, T probe frames of H x W pixels from the wrist camera; the overhead
observation is h x w):

    outcome          (N,) str     success, fail_multipick, fail_not_picked, collision or released
    probed           (N,) bool    the probe ran (every outcome but collision)
    probe_rgb        (N, T, H, W, 3) uint8   wrist camera during the probe; frame 0 is taken after
                                  the fingers closed and before the hand moved (the passive view)
    probe_depth_m    (N, T, H, W) float16
    frame_times_s    (T,) float32 seconds since the probe started
    rgb, depth_m     (N, h, w, 3) uint8, (N, h, w) float32: the overhead view before the pick
    target_mask      (N, h, w) bool
    u, v, angle_rad  (N,) float32 the grasp in the overhead image
    opening_m        (N,) float32 the pre-grasp width; width_index (N,) int16 its index in the spec's widths
    sim_time_s       (N,) float32 simulated seconds of every motion of the pick (probe and extraction included)
    others_moved_m   (N,) float32 from the fingers closing to after the release (``--after-probe release``): how far the
                                  non-target object that moved most went; NaN when extracted
    target_rise_m    (N,) float32 how far the target rose during the probe (NaN after a collision):
                                  the truth behind the film, for diagnostics; collections made
                                  before it was recorded lack it
    target_name      (N,) str
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import read_csv, read_npz, reading, write_atomic, write_description, write_npz
from ..outcomes import PICK_CLASSES, PICK_OUTCOMES

FORMAT = 1
CLASSES = tuple(outcome.value for outcome in PICK_CLASSES)
"""The classifier's classes, in the order of its outputs; ``collision`` attempts are never probed."""
OUTCOMES = tuple(outcome.value for outcome in PICK_OUTCOMES)
"""``released``: the probe ended with the fingers opening (``--after-probe release``), nothing judged."""
INDEX_COLUMNS = ["bin", "file", "picks", *OUTCOMES]
FIX = "delete it and run the same `graspbench ivfp collect` command again to remake it"


def bin_path(root, index: int) -> Path:
    return Path(root) / "bins" / f"{index:06d}.npz"


def write_bin(root, index: int, arrays: dict) -> None:
    write_npz(bin_path(root, index), arrays)


def read_bin(root, index: int) -> dict:
    return read_npz(bin_path(root, index), "a bin of probed picks", FIX)


def write_metadata(root, metadata: dict) -> None:
    """Write dataset.json, or check that an existing one describes the same collection (resume)."""
    write_description(
        Path(root) / "dataset.json",
        {"format": FORMAT, "kind": "ivfp-picks", **metadata},
        ("env", "spec", "seed", "after_probe"),
        read=lambda _: read_metadata(root),  # also refuses a folder that holds another kind of dataset
    )


def read_metadata(root) -> dict:
    path = Path(root) / "dataset.json"
    if not path.exists():
        raise ValueError(
            f"{root} is not a collection of probed picks (no dataset.json); make one with `graspbench ivfp collect`"
        )
    with reading(path, "a collection's description (JSON)", "remake it with `graspbench ivfp collect` in a new folder"):
        metadata = json.loads(path.read_text())
    if metadata.get("kind") != "ivfp-picks":
        raise ValueError(
            f"{path} describes a {metadata.get('kind', 'grasp')} dataset, not probed picks; "
            "make one with `graspbench ivfp collect`"
        )
    return metadata


def write_index(root) -> pd.DataFrame:
    """index.csv from the bin files present, in bin order."""
    rows = []
    for path in sorted((Path(root) / "bins").glob("*.npz")):
        outcome = read_bin(root, int(path.stem))["outcome"]
        rows.append(
            {
                "bin": int(path.stem),
                "file": str(path.relative_to(root)),
                "picks": len(outcome),
                **{name: int((outcome == name).sum()) for name in OUTCOMES},
            }
        )
    index = pd.DataFrame(rows, columns=INDEX_COLUMNS)
    write_atomic(Path(root) / "index.csv", index.to_csv(index=False))
    return index


def read_index(root) -> pd.DataFrame:
    return read_csv(
        Path(root) / "index.csv",
        "an index of probed picks",
        "run the same `graspbench ivfp collect` command again to rebuild it",
        columns=INDEX_COLUMNS[:3],
        numeric=["bin", "picks"],
    )


def load_picks(root, keys=("probe_rgb", "outcome", "frame_times_s"), probed_only: bool = True) -> dict:
    """Arrays of every pick of a collection, bins concatenated along the pick axis, ``keys`` only;
    ``frame_times_s`` (the same for every pick) is returned once."""
    read_metadata(root)
    index = read_index(root)
    parts: dict[str, list] = {key: [] for key in keys}
    times = None
    for b in index["bin"]:
        arrays = read_bin(root, int(b))
        keep = arrays["probed"] if probed_only else np.ones(len(arrays["outcome"]), bool)
        for key in keys:
            if key == "frame_times_s":
                times = arrays[key]
            else:
                parts[key].append(arrays[key][keep])
    out = {
        key: np.concatenate(value) if value else np.zeros(0) for key, value in parts.items() if key != "frame_times_s"
    }
    if "frame_times_s" in keys:
        out["frame_times_s"] = times
    return out


PROBE_ORACLE_RISE_M = 0.03


def summarize(root) -> dict:
    """One collection in figures: picks per outcome, the simulated seconds of a pick and, for
    probes released instead of extracted, how far they moved the objects around the target."""
    metadata = read_metadata(root)
    index = read_index(root)
    # Collections made before the target's height was recorded lack it.
    has_rise = len(index) > 0 and "target_rise_m" in read_bin(root, int(index["bin"].iloc[0]))
    keys = ("outcome", "sim_time_s", "others_moved_m", "probed") + (("target_rise_m",) if has_rise else ())
    picks = load_picks(root, keys=keys, probed_only=False)
    outcome, probed = picks["outcome"], picks["probed"]
    row = {
        "collection": str(root),
        "objects": metadata["spec"]["scene"]["split"],
        "after_probe": metadata["after_probe"],
        "bins": len(index),
        "picks": len(outcome),
        "probed": int(probed.sum()),
        **{name: int((outcome == name).sum()) for name in OUTCOMES},
        "sim_s_per_pick": round(float(picks["sim_time_s"].mean()), 3),
    }
    if has_rise and metadata["after_probe"] == "extract":
        # A judge that knew whether the target came up with the hand (3 cm) during the probe: how
        # well can any classifier of the probe's film do, when slips after the probe count?
        came_up, success = picks["target_rise_m"][probed] > PROBE_ORACLE_RISE_M, outcome[probed] == "success"
        row.update(probe_oracle_accuracy=round(float((came_up == success).mean()), 3))
    if metadata["after_probe"] == "release":
        moved = picks["others_moved_m"][probed]
        row.update(
            others_within_1cm=round(float((moved < 0.01).mean()), 3),
            others_moved_median_mm=round(1000 * float(np.median(moved)), 2),
            others_moved_p90_mm=round(1000 * float(np.quantile(moved, 0.9)), 2),
        )
    return row
