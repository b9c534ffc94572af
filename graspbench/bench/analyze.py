"""``graspbench analyze``: why a planner's grasps failed.

Reads the attempt records of ``graspbench run``, ``evaluate`` or ``benchmark`` and writes, into one
folder:

* ``causes.csv``: per environment and agent, the attempts, the successes and every failure put in
  exactly one cause (:data:`CAUSES`, :func:`cause_of`), as counts and shares of the failures;
* ``failures.csv``: for some failures (spread evenly over the agents and environments and over
  their causes), the failed grasp's distance to the nearest grasp verified to succeed on the same
  scene: centre offset (mm, in the table plane), angle error (degrees, modulo 180), opening error
  (mm, signed: positive when the failed grasp was wider), height error (mm, signed: positive when
  its fingertips stopped higher), and whether that grasp is on the object the failed one aimed at;
* ``gallery.png``: failed grasps drawn on the image their planner saw, with the nearest verified
  grasp where it was computed;
* ``report.md``: all of it on one page.

Over 500 lines for one job, the failure analysis from records to page (causes, selection,
distances, gallery, report); replaying the scenes is :mod:`graspbench.bench.replay`'s.

How a failure gets its cause (the first rule that applies):

1. ``simulation error``: the physics blew up and the scene was rebuilt (not the planner's doing);
2. ``aimed off objects``: the grasp centre's pixel showed no object (the table or a wall);
3. a collision (the hand touched something before closing), by the first contact, which may pair
   several parts of the hand with several things at once; the most informative single one counts:
   a finger on another object than the one aimed at (``collision: finger on neighbour``: the planner
   ignored the clutter), else the palm on any object (``collision: palm on an object``: the object
   stands taller than the fingers are long, or the grasp went too deep), else a finger on the aimed
   object (``collision: finger on target``: the opening or the angle did not fit it), else the table
   or an obstacle (``collision: table/obstacle``: too deep);
4. ``closed on nothing``, ``slipped``, ``multi-pick``: the outcome codes of the same names.

The scene of any attempt is reproduced exactly by replaying its episode: episode ``i`` of a run was
reset with seed ``seed + i`` and the environment is deterministic, so resetting it and executing the
recorded grasps before the attempt gives the very scene and image the planner saw. A replay checks
every outcome against the records and says so where one differs (the environment's spec changed,
or the records were made with overrides of it). The verified grasps are the dataset labeller's
(:mod:`graspbench.data.generate`): antipodal candidates sampled on the objects' meshes with the
default :class:`~graspbench.data.candidates.LabelSettings`, each executed on the scene rebuilt from its
poses. They are tried in order of distance from the failed grasp's centre until one succeeds, so
the nearest is found for the cost of the trials up to it. The candidates are a sample: the nearest
verified grasp is an upper bound on how far the closest grasp that works was.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..grasp import Grasp, GraspRectangle
from ..io import FileFormatError, reading, save_figure, write_atomic
from ..outcomes import AttemptRecord, Outcome
from ..sim.gripper import FINGER_THICKNESS_M, FINGER_WIDTH_M
from ..sim.world import World
from .replay import Nearest, Snapshot, aimed_object, camera_of, nearest_verified, planned_grasp, replay

CAUSES = (
    "aimed off objects",
    "collision: finger on neighbour",
    "collision: palm on an object",
    "collision: finger on target",
    "collision: table/obstacle",
    "collision: contact not recorded",
    "closed on nothing",
    "slipped",
    "multi-pick",
    "simulation error",
)
OUTCOME_CAUSES = {Outcome.NO_CONTACT: "closed on nothing", Outcome.SLIPPED: "slipped", Outcome.MULTI_PICK: "multi-pick"}
# What the analysis reads; records of graspbench before the grasp columns lack the second list.
RECORD_COLUMNS = ["env", "agent", "seed", "episode", "attempt", "outcome", "success"]
GRASP_COLUMNS = list(AttemptRecord.GRASP_COLUMNS)
FILLED_COLUMNS = RECORD_COLUMNS + ["u", "v", "angle_rad", "opening_px", "on_object"]  # never empty
NUMERIC_COLUMNS = ["seed", "episode", "attempt", "u", "v", "angle_rad", "opening_px"]
CROP_PX = 96  # the gallery's window around each grasp: the 8 cm opening is about 65 px at 224 px
GALLERY_COLUMNS = 4
PLANNED_COLOUR, VERIFIED_COLOUR, TOUCHING_COLOUR = "tab:red", "limegreen", "yellow"
SELECTION_SEED = 0  # which failures of a cause are analysed: a fixed shuffle, the same every run


def cause_of(outcome: str, on_object: bool, first_contact: str | None = None) -> str | None:
    """The cause of a failed attempt (one of :data:`CAUSES`, see the module docstring), None for a success.

    Args:
        outcome: the attempt's outcome code.
        on_object: whether the grasp centre's pixel showed an object.
        first_contact: for a collision, ``part:what`` pairs joined by ``;`` (the records' column).
    """
    if outcome == Outcome.SUCCESS:
        return None
    if outcome == Outcome.SIM_ERROR:
        return "simulation error"
    if not on_object:
        return "aimed off objects"
    if outcome == Outcome.COLLISION:
        contacts = _contacts(first_contact)
        fingers = {what for part, what in contacts if part != "palm"}
        palm = {what for part, what in contacts if part == "palm"}
        if "neighbour" in fingers:
            return "collision: finger on neighbour"
        if palm & {"target", "neighbour"}:
            return "collision: palm on an object"
        if "target" in fingers:
            return "collision: finger on target"
        if contacts:
            return "collision: table/obstacle"
        return "collision: contact not recorded"
    return OUTCOME_CAUSES.get(outcome, f"other: {outcome}")


def warn_unknown_outcomes(records: pd.DataFrame, path) -> list[str]:
    """Say in one line which outcome codes of the records this graspbench does not know (they are
    counted as ``other: CODE``); returns them."""
    known = {outcome.value for outcome in Outcome} | {"sim_error"}
    unknown = sorted(set(records["outcome"].astype(str)) - known)
    if unknown:
        count = int(records["outcome"].astype(str).isin(unknown).sum())
        print(
            f"warning: {path}: {count} attempts have outcome codes this graspbench does not know "
            f"({', '.join(unknown)}); they are counted as 'other'",
            file=sys.stderr,
        )
    return unknown


def _contacts(first_contact) -> list[tuple[str, str]]:
    if not isinstance(first_contact, str) or not first_contact.strip():
        return []
    return [tuple(pair.split(":", 1)) for pair in first_contact.split(";") if ":" in pair]


# --- reading ------------------------------------------------------------------------------------


def read_attempts(path) -> tuple[pd.DataFrame, Path]:
    """The attempt records in ``path`` (a CSV, or a folder holding ``attempts.csv``) and the file read.

    Raises:
        FileFormatError (a ValueError): one line naming the file, when it is not attempt records or
            lacks the columns the analysis needs (records of an older graspbench: run them again).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "attempts.csv"
    what = "a file of graspbench attempt records"
    fix = "give the CSV written by `graspbench run --out`, or a folder of `evaluate`/`benchmark` holding attempts.csv"
    if not path.is_file():
        raise FileFormatError(f"{path} does not exist; {fix}")
    with reading(path, what, fix):
        # Exact floats: a replay must execute the very grasps that were recorded (pandas 3 parses
        # exactly by default and deprecates the option).
        exact = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
        records = pd.read_csv(path, **exact)
        missing = [c for c in RECORD_COLUMNS if c not in records]
        if missing:
            raise ValueError(f"no column {', '.join(missing)}")
    missing = [c for c in GRASP_COLUMNS if c not in records]
    if missing:
        raise FileFormatError(
            f"{path} has no column {', '.join(missing)}: attempt records of an older graspbench, which did not "
            f"record the grasps; run the agents again (`graspbench run/evaluate/benchmark`) to analyse their failures"
        )
    with reading(path, what, fix):
        incomplete = records[FILLED_COLUMNS].isna().any(axis=1)
        if incomplete.any():  # line 1 is the header
            raise ValueError(f"line {int(incomplete.to_numpy().argmax()) + 2} is incomplete: a truncated file?")
        for column in NUMERIC_COLUMNS:
            records[column] = pd.to_numeric(records[column])
        for column in ("success", "on_object"):
            records[column] = records[column].map(_as_bool)
    if records.empty:
        raise FileFormatError(f"{path} is not {what} (no rows: a truncated file?); {fix}")
    return records, path


def _as_bool(value) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "1", "1.0"):
        return True
    if text in ("false", "0", "0.0"):
        return False
    raise ValueError(f"{value!r} is not True or False")


# --- the cause table ----------------------------------------------------------------------------


def with_causes(records: pd.DataFrame) -> pd.DataFrame:
    """The records with a ``cause`` column (empty for successes)."""
    records = records.copy()
    records["cause"] = [
        cause_of(o, b, c) for o, b, c in zip(records["outcome"], records["on_object"], records["first_contact"])
    ]
    return records


def cause_table(records: pd.DataFrame) -> pd.DataFrame:
    """One row per (env, agent, cause): ``attempts``, ``successes``, ``failures`` of the pair, the
    failures of that ``cause`` (``count``) and their ``share`` of the failures. Every cause of
    :data:`CAUSES` appears, with count 0 where it did not happen; the counts add up to the failures."""
    records = records if "cause" in records else with_causes(records)
    extra = sorted(set(records["cause"].dropna()) - set(CAUSES))  # outcome codes of a newer graspbench
    rows = []
    for (env, agent), group in records.groupby(["env", "agent"], sort=True):
        attempts, successes = len(group), int(group["success"].sum())
        failures = int(group["cause"].notna().sum())
        counts = group["cause"].value_counts()
        for cause in (*CAUSES, *extra):
            count = int(counts.get(cause, 0))
            rows.append(
                {
                    "env": env,
                    "agent": agent,
                    "attempts": attempts,
                    "successes": successes,
                    "failures": failures,
                    "cause": cause,
                    "count": count,
                    "share": round(count / failures, 4) if failures else 0.0,
                }
            )
    return pd.DataFrame(rows, columns=["env", "agent", "attempts", "successes", "failures", "cause", "count", "share"])


def causes_text(table: pd.DataFrame) -> str:
    """The cause table for the terminal: one block per environment, a column per agent; causes
    that happened nowhere are left out."""
    lines = []
    width = max([len(c) for c in table["cause"]] + [10]) + 2
    for env, block in table.groupby("env", sort=True):
        agents = list(dict.fromkeys(block["agent"]))
        firsts = block.groupby("agent", sort=False).first()
        column = max([len(a) for a in agents] + [11]) + 2
        lines.append(f"{env:<{width}}" + "".join(f"{a:>{column}}" for a in agents))
        lines.append(
            f"{'  attempts':<{width}}" + "".join(f"{int(firsts.loc[a, 'attempts']):>{column}}" for a in agents)
        )
        for name in ("successes", "failures"):
            cells = [_count_share(int(firsts.loc[a, name]), int(firsts.loc[a, "attempts"])) for a in agents]
            lines.append(f"{'  ' + name:<{width}}" + "".join(f"{c:>{column}}" for c in cells))
        lines.append("  causes (share of the failures):")
        happened = block.groupby("cause", sort=False)["count"].sum()
        for cause in happened.index[happened > 0]:
            rows = block[block["cause"] == cause].set_index("agent")
            cells = [_count_share(int(rows.loc[a, "count"]), int(rows.loc[a, "failures"])) for a in agents]
            lines.append(f"{'    ' + cause:<{width}}" + "".join(f"{c:>{column}}" for c in cells))
        lines.append("")
    return "\n".join(lines).rstrip()


def _count_share(count: int, total: int) -> str:
    return f"{count} ({100 * count / total:.0f}%)" if total else str(count)


# --- which failures are replayed ----------------------------------------------------------------


def select_failures(records: pd.DataFrame, count: int) -> list:
    """Up to ``count`` failed attempts (index labels), spread evenly: the (env, agent) pairs take
    turns, and within a pair its causes take turns, each cause's failures in a fixed shuffled order.
    Any prefix of a longer selection is the shorter selection. Simulation errors are left out."""
    records = records if "cause" in records else with_causes(records)
    failed = records[records["cause"].notna() & (records["cause"] != "simulation error")]
    rng = np.random.default_rng(SELECTION_SEED)
    queues = []
    for _, group in failed.groupby(["env", "agent"], sort=True):
        by_cause = []
        for cause in (*CAUSES, *sorted(set(group["cause"]) - set(CAUSES))):
            labels = list(group.index[group["cause"] == cause])
            by_cause.append([labels[i] for i in rng.permutation(len(labels))])
        queues.append(_interleave(by_cause))
    return _interleave(queues)[:count]


def _interleave(lists: list[list]) -> list:
    out, depth = [], max((len(items) for items in lists), default=0)
    for i in range(depth):
        out += [items[i] for items in lists if i < len(items)]
    return out


def failure_rows(
    records: pd.DataFrame, labelled: list, snapshots: dict, progress: bool = True
) -> tuple[pd.DataFrame, dict]:
    """``failures.csv``: the labelled failures with their distance to the nearest verified grasp."""
    rows, nearest, worlds = [], {}, {}
    try:
        for label in tqdm(labelled, desc="label", unit="failure", disable=not progress):
            row, snapshot = records.loc[label], snapshots[label]
            grasp = planned_grasp(row)
            if snapshot is None:
                rows.append(
                    {
                        **{c: row[c] for c in ("env", "agent", "seed", "episode", "attempt", "outcome", "cause")},
                        "replay": "the replayed episode ended before this attempt",
                        "verified_found": False,
                    }
                )
                continue
            env_id = row["env"]
            if env_id not in worlds:
                worlds[env_id] = World(solver_iterations=snapshot.spec.solver_iterations)
            aimed = aimed_object(snapshot, grasp)
            result = Nearest(0, 0)
            if snapshot.replay == "ok":
                rng = np.random.default_rng([int(row["seed"]), int(row["episode"]), int(row["attempt"])])
                result = nearest_verified(worlds[env_id], snapshot.spec, snapshot, grasp, rng)
            nearest[label] = result
            g = result.grasp
            rows.append(
                {
                    "env": env_id,
                    "agent": row["agent"],
                    "seed": int(row["seed"]),
                    "episode": int(row["episode"]),
                    "attempt": int(row["attempt"]),
                    "outcome": row["outcome"],
                    "cause": row["cause"],
                    "first_contact": row["first_contact"] if isinstance(row["first_contact"], str) else "",
                    "u": grasp.u,
                    "v": grasp.v,
                    "angle_rad": grasp.angle_rad,
                    "opening_px": grasp.opening_px,
                    "quality": row["quality"],
                    "replay": snapshot.replay,
                    "aimed_object": snapshot.object_names[aimed] if aimed is not None else "",
                    "candidates": result.candidates,
                    "trials": result.trials,
                    "verified_found": result.found,
                    "centre_offset_mm": _round(result.centre_offset_mm),
                    "angle_error_deg": _round(result.angle_error_deg),
                    "opening_error_mm": _round(result.opening_error_mm),
                    "height_error_mm": _round(result.height_error_mm),
                    "same_object": result.found and aimed is not None and result.object_index == aimed,
                    "nearest_object": snapshot.object_names[result.object_index] if result.found else "",
                    "nearest_u": _round(g.u) if g else float("nan"),
                    "nearest_v": _round(g.v) if g else float("nan"),
                    "nearest_angle_rad": _round(g.angle_rad, 4) if g else float("nan"),
                    "nearest_opening_px": _round(g.opening_px) if g else float("nan"),
                }
            )
    finally:
        for world in worlds.values():
            world.close()
    return pd.DataFrame(rows, columns=FAILURE_COLUMNS), nearest


FAILURE_COLUMNS = [
    "env",
    "agent",
    "seed",
    "episode",
    "attempt",
    "outcome",
    "cause",
    "first_contact",
    "u",
    "v",
    "angle_rad",
    "opening_px",
    "quality",
    "replay",
    "aimed_object",
    "candidates",
    "trials",
    "verified_found",
    "centre_offset_mm",
    "angle_error_deg",
    "opening_error_mm",
    "height_error_mm",
    "same_object",
    "nearest_object",
    "nearest_u",
    "nearest_v",
    "nearest_angle_rad",
    "nearest_opening_px",
]


def _round(value: float, digits: int = 2) -> float:
    return round(float(value), digits) if np.isfinite(value) else float("nan")


def distance_summary(failures: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """Per (env, agent): how many failures were analysed, the medians of their distances to the
    nearest verified grasp, how often it was on the aimed object, and the planner's peak quality
    of its successes and failures where it reports one."""
    rows = []
    for (env, agent), group in records.groupby(["env", "agent"], sort=True):
        mine = failures[(failures["env"] == env) & (failures["agent"] == agent)]
        found = mine[mine["verified_found"].astype(bool)]
        quality = pd.to_numeric(group["quality"], errors="coerce")
        rows.append(
            {
                "env": env,
                "agent": agent,
                "analysed": len(mine),
                "with_verified": len(found),
                "median_centre_offset_mm": _median(found["centre_offset_mm"]),
                "median_angle_error_deg": _median(found["angle_error_deg"]),
                "median_abs_opening_error_mm": _median(found["opening_error_mm"].abs()),
                "same_object_share": round(float(found["same_object"].astype(bool).mean()), 3)
                if len(found)
                else float("nan"),
                "median_quality_successes": _median(quality[group["success"]]),
                "median_quality_failures": _median(quality[~group["success"]]),
            }
        )
    return pd.DataFrame(rows)


def _median(values) -> float:
    values = pd.to_numeric(pd.Series(values), errors="coerce").dropna()
    return round(float(values.median()), 3) if len(values) else float("nan")


def distances_text(summary: pd.DataFrame) -> str:
    """The distance summary for the terminal."""
    header = (
        f"{'':34s}{'analysed':>9s}{'offset mm':>11s}{'angle deg':>11s}{'|opening| mm':>14s}"
        f"{'same obj':>10s}{'quality ok/failed':>19s}"
    )
    lines = ["distance of the failed grasp to the nearest verified grasp (medians):", header]
    for _, r in summary.iterrows():
        analysed = f"{r['with_verified']}/{r['analysed']}"
        same = "-" if np.isnan(r["same_object_share"]) else f"{100 * r['same_object_share']:.0f}%"
        quality = (
            "-"
            if np.isnan(r["median_quality_failures"]) and np.isnan(r["median_quality_successes"])
            else f"{_fmt(r['median_quality_successes'], 2)}/{_fmt(r['median_quality_failures'], 2)}"
        )
        lines.append(
            f"{(r['agent'] + ' on ' + r['env'])[:33]:34s}{analysed:>9s}{_fmt(r['median_centre_offset_mm'], 1):>11s}"
            f"{_fmt(r['median_angle_error_deg'], 1):>11s}{_fmt(r['median_abs_opening_error_mm'], 1):>14s}"
            f"{same:>10s}{quality:>19s}"
        )
    lines.append("(analysed: failures with a verified grasp found / failures replayed and labelled)")
    return "\n".join(lines)


def _fmt(value, digits: int) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


# --- the gallery --------------------------------------------------------------------------------


def draw_gallery(records: pd.DataFrame, shown: list, snapshots: dict, nearest: dict, path) -> None:
    """A grid of crops of the image each failed grasp was planned on: the fingers' footprints (a
    finger of the first contact filled) and the closing axis in red, the nearest verified grasp in
    green dashed where it was computed."""
    # matplotlib here, not at the head: the Agg backend must be chosen before pyplot is imported,
    # and importing this module (warn_unknown_outcomes, the causes) must not switch the caller's.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    columns = min(GALLERY_COLUMNS, len(shown))
    rows = -(-len(shown) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.7 * columns, 3.2 * rows + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, label in zip(axes.flat, shown):
        row, snapshot = records.loc[label], snapshots[label]
        grasp, spec = planned_grasp(row), snapshot.spec
        ax.imshow(snapshot.rgb, interpolation="nearest")
        result = nearest.get(label)
        if result is not None and result.grasp is not None:
            _draw_grasp(ax, result.grasp, snapshot, spec, VERIFIED_COLOUR, "--", touching=())
        touching = (
            {part for part, _ in _contacts(row["first_contact"])} if row["outcome"] == Outcome.COLLISION else set()
        )
        _draw_grasp(ax, grasp, snapshot, spec, PLANNED_COLOUR, "-", touching)
        half = CROP_PX / 2
        ax.set_xlim(grasp.u - half, grasp.u + half)
        ax.set_ylim(grasp.v + half, grasp.v - half)
        title = (
            f"{row['agent']}, {str(row['env']).split('/')[-1]}: ep {int(row['episode'])}, attempt {int(row['attempt'])}"
        )
        title += f"\n{_outcome_and_cause(row['outcome'], row['cause'])}"
        if result is not None:
            title += (
                f"\nnearest: {result.centre_offset_mm:.0f} mm, {result.angle_error_deg:.0f}\u00b0"
                if result.found
                else ("\nno verified grasp found" if snapshot.replay == "ok" else "\nreplay differs")
            )
        ax.set_title(title, fontsize=7)
    fig.legend(
        handles=[
            Line2D([], [], color=PLANNED_COLOUR, label="planned grasp (filled: finger of the first contact)"),
            Line2D([], [], color=VERIFIED_COLOUR, linestyle="--", label="nearest verified grasp"),
        ],
        loc="lower center",
        ncol=2,
        fontsize=7,
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    save_figure(fig, path)


def _outcome_and_cause(outcome: str, cause: str) -> str:
    """``collision: finger on target``, ``slipped``, ``no_contact (closed on nothing)``: the outcome
    code is said once."""
    same = cause.startswith(outcome) or cause == outcome.replace("_", "-")
    return cause if same else f"{outcome} ({cause})"


def finger_rectangles(grasp: Grasp, px_m: float, max_opening_m: float) -> dict[str, GraspRectangle]:
    """The footprints of ``finger_left`` and ``finger_right`` of an image grasp, ``px_m`` metres
    per pixel at the surface: ``finger_left`` opens towards -axis, as in the gripper's URDF."""
    opening = min(grasp.opening_px, max_opening_m / px_m)
    thickness, width = FINGER_THICKNESS_M / px_m, FINGER_WIDTH_M / px_m
    axis = np.array([np.cos(grasp.angle_rad), -np.sin(grasp.angle_rad)])
    feet = {}
    for part, sign in (("finger_left", -1.0), ("finger_right", 1.0)):
        u, v = np.array([grasp.u, grasp.v]) + sign * (opening + thickness) / 2 * axis
        feet[part] = GraspRectangle(float(u), float(v), grasp.angle_rad, thickness, width)
    return feet


def _draw_grasp(ax, grasp: Grasp, snapshot: Snapshot, spec, colour: str, style: str, touching) -> None:
    height, width = snapshot.depth_m.shape
    surface = float(
        snapshot.depth_m[int(np.clip(round(grasp.v), 0, height - 1)), int(np.clip(round(grasp.u), 0, width - 1))]
    )
    px_m = float(camera_of(spec).metres_per_pixel(surface))
    feet = finger_rectangles(grasp, px_m, spec.gripper.max_opening_m)
    for part, rectangle in feet.items():
        corners = np.vstack([rectangle.corners(), rectangle.corners()[:1]])
        if part in touching:
            ax.fill(corners[:, 0], corners[:, 1], color=TOUCHING_COLOUR, alpha=0.8)
        ax.plot(corners[:, 0], corners[:, 1], style, color=colour, linewidth=1.4)
    ends = np.array([[feet["finger_left"].u, feet["finger_left"].v], [feet["finger_right"].u, feet["finger_right"].v]])
    ax.plot(ends[:, 0], ends[:, 1], style, color=colour, linewidth=1.0)
    ax.plot([grasp.u], [grasp.v], "o", color=colour, markersize=3)


# --- the whole analysis -------------------------------------------------------------------------


@dataclass
class Analysis:
    """What :func:`analyze` made."""

    records_path: Path
    out_dir: Path
    causes: pd.DataFrame
    failures: pd.DataFrame
    distances: pd.DataFrame
    files: list[Path] = field(default_factory=list)

    def text(self) -> str:
        """The cause table and the distance summary, for the terminal."""
        parts = [causes_text(self.causes)]
        if len(self.failures):
            parts.append(distances_text(self.distances))
        return "\n\n".join(parts)


def analyze(records, out_dir=None, label: int = 20, gallery: int = 16, progress: bool = True) -> Analysis:
    """Break a planner's failures down by cause, measure how far some were from a grasp that works,
    and draw them (see the module docstring for what is written).

    Args:
        records: a CSV of attempt records or a folder holding ``attempts.csv``.
        out_dir: where the outputs go (default: ``analysis/`` beside the records).
        label: how many failures to replay and compare with the scene's verified grasps (each
            costs a replay of its episode and the labeller's trials up to the nearest success).
        gallery: how many failures to draw.
        progress: show progress bars.
    """
    for name, value in (("label", label), ("gallery", gallery)):
        if int(value) != value or value < 0:
            raise ValueError(f"{name} must be a count of failures (0 or more), got {value}")
    records, path = read_attempts(records)
    warn_unknown_outcomes(records, path)
    out_dir = Path(out_dir) if out_dir is not None else path.parent / "analysis"
    records = with_causes(records)
    causes = cause_table(records)
    chosen = select_failures(records, max(label, gallery))
    labelled, shown = chosen[:label], chosen[:gallery]
    snapshots = replay(records, chosen, progress) if chosen else {}
    failures, nearest = failure_rows(records, labelled, snapshots, progress)
    distances = distance_summary(failures, records)

    files = [out_dir / "causes.csv", out_dir / "failures.csv"]
    write_atomic(files[0], causes.to_csv(index=False))
    write_atomic(files[1], failures.to_csv(index=False))
    shown = [label for label in shown if snapshots.get(label) is not None]
    if shown:
        files.append(out_dir / "gallery.png")
        draw_gallery(records, shown, snapshots, nearest, files[-1])
    analysis = Analysis(path, out_dir, causes, failures, distances, files)
    files.append(out_dir / "report.md")
    write_atomic(files[-1], report_markdown(analysis, len(shown)))
    return analysis


def report_markdown(analysis: Analysis, shown: int) -> str:
    """``report.md``: the cause table, the distances and the gallery on one page."""
    causes = analysis.causes
    lines = [
        f"# Why the grasps failed: {analysis.records_path}",
        "",
        "Made by `graspbench analyze`. Every failed attempt is put in one cause (the first rule that applies: "
        "simulation error; aimed off objects, the centre pixel showed no object; for a collision, by the first "
        "contact: a finger on another object than the one aimed at, else the palm on an object, else a finger on "
        "the aimed object, else the table or an obstacle; then closed on nothing, slipped, multi-pick). "
        "Shares are of the failures.",
        "",
    ]
    pairs = causes.groupby(["env", "agent"], sort=True).first().reset_index()
    happened = causes.groupby("cause", sort=False)["count"].sum()
    shown_causes = list(happened.index[happened > 0])
    lines.append("| env | agent | attempts | successes | failures | " + " | ".join(shown_causes) + " |")
    lines.append("|" + " --- |" * (5 + len(shown_causes)))
    for _, pair in pairs.iterrows():
        mine = causes[(causes["env"] == pair["env"]) & (causes["agent"] == pair["agent"])].set_index("cause")
        cells = [_count_share(int(mine.loc[c, "count"]), int(pair["failures"])) for c in shown_causes]
        lines.append(
            f"| {pair['env']} | {pair['agent']} | {pair['attempts']} | "
            f"{_count_share(int(pair['successes']), int(pair['attempts']))} | "
            f"{_count_share(int(pair['failures']), int(pair['attempts']))} | " + " | ".join(cells) + " |"
        )
    lines += ["", "## Distance to the nearest verified grasp", ""]
    if len(analysis.failures):
        lines += [
            "Failures replayed exactly from the records, their scene labelled by executing the labeller's "
            "antipodal candidates nearest first: how far the failed grasp was from the nearest that succeeds "
            "(centre offset in the table plane, angle modulo 180 degrees, absolute opening error; medians), "
            "how often that grasp is on the object aimed at, and the planner's peak quality where it reports one. "
            "Every analysed failure: `failures.csv`.",
            "",
            "| env | agent | analysed | with a verified grasp | offset (mm) | angle error (deg) | opening error, absolute (mm) | "
            "same object | quality of successes | quality of failures |",
            "|" + " --- |" * 10,
        ]
        for _, r in analysis.distances.iterrows():
            same = "-" if np.isnan(r["same_object_share"]) else f"{100 * r['same_object_share']:.0f}%"
            lines.append(
                f"| {r['env']} | {r['agent']} | {r['analysed']} | {r['with_verified']} | "
                f"{_fmt(r['median_centre_offset_mm'], 1)} | {_fmt(r['median_angle_error_deg'], 1)} | "
                f"{_fmt(r['median_abs_opening_error_mm'], 1)} | {same} | "
                f"{_fmt(r['median_quality_successes'], 3)} | {_fmt(r['median_quality_failures'], 3)} |"
            )
        differs = int((analysis.failures["replay"] != "ok").sum())
        if differs:
            lines += [
                "",
                f"{differs} replays did not reproduce the records (see the `replay` column of `failures.csv`): "
                "the environment's spec changed since, or the records were made with overrides of it.",
            ]
    else:
        lines.append("No failure was analysed (none failed, or `--label 0`).")
    lines += ["", "## Gallery", ""]
    lines.append(
        f"{shown} failed grasps on the image their planner saw: planned in red (a finger of the first contact "
        f"filled), the nearest verified grasp in green dashed.\n\n![gallery](gallery.png)"
        if shown
        else "No failure to draw."
    )
    lines += [
        "",
        "Files: `causes.csv` (one row per environment, agent and cause), `failures.csv` (one row per analysed "
        "failure), `gallery.png`.",
        "",
    ]
    return "\n".join(lines)
