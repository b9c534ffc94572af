"""The benchmark's summary: one row per agent and environment (target picking: per agent,
environment and object split), every rate with its 95% interval; and the same as a text table, the
leaderboard printed after a run."""

from __future__ import annotations

import pandas as pd

from .metrics import Rate, summarize, summarize_picks
from .runner import picks_targets

RATES = [("gsr", "grasp success"), ("removal_rate", "object removal"), ("collision_rate", "collision")]
# Target picking's: success rate in percent, units per hour in picks per hour (not a proportion).
PICK_RATES = [("sr", "success rate (SR)"), ("uph", "units per hour (UPH)"), ("collision_rate", "collision")]
CLUTTER_RATES = (
    "gsr",
    "removal_rate",
    "collision_rate",
    "multi_pick_rate",
    "top_level_rate",
    "new_collision_rate",  # collisions that do not repeat a failed grasp (metrics.repeats_failure)
    "first_top_level_rate",  # top-level first on each episode's first attempt
)
OBJECTS = {"train": "seen", "test": "unseen", "all": "all"}
"""what the IVFP paper calls the objects of each object split"""


def summary_table(attempts: pd.DataFrame) -> pd.DataFrame:
    """One row per agent and environment, every rate with its 95% interval; target picking (pick
    records) one row per agent, environment and object split, with its success rate (SR) and units
    per hour (UPH) instead of the clutter rates."""
    picks = is_pick(attempts)
    rows = _clutter_rows(attempts[~picks]) + _pick_rows(attempts[picks])
    return pd.DataFrame(rows).round(4)


def is_pick(table: pd.DataFrame) -> pd.Series:
    """Which rows of attempt records or of a summary are target picking's: their environment's task says."""
    return table["env"].map(picks_targets).astype(bool)


def by_split(table: pd.DataFrame) -> list[tuple[tuple[str, str], pd.DataFrame]]:
    """Target picking's rows by environment and object split, in order of appearance."""
    picks = is_pick(table)
    return list(table[picks].groupby(["env", "split"], sort=False)) if picks.any() else []


def _pick_rows(picks: pd.DataFrame) -> list[dict]:
    if picks.empty:
        return []
    rows = []
    for (agent, env, split), group in picks.groupby(["agent", "env", "split"], sort=False):
        s = summarize_picks(group)
        row = {"agent": agent, "env": env, "split": split, "episodes": s["episodes"], "attempts": s["picks"]}
        for key in ("sr", "collision_rate", "multi_pick_rate", "uph"):
            low, high = s[key].interval
            row[key] = s[key].value
            row[f"{key.removesuffix('_rate')}_ci_low"] = low
            row[f"{key.removesuffix('_rate')}_ci_high"] = high
        row.update(
            seconds_per_pick=s["seconds_per_pick"],
            probes_per_pick=s["probes_per_pick"],
            retries_per_pick=s["retries_per_pick"],
            ctpg_ms=s["planning_ms"],
            sim_errors=0,
        )
        rows.append(row)
    return rows


def _clutter_rows(attempts: pd.DataFrame) -> list[dict]:
    rows = []
    for (agent, env), group in attempts.groupby(["agent", "env"], sort=False):
        s = summarize(group)
        row = {"agent": agent, "env": env, "episodes": s["episodes"], "attempts": s["attempts"]}
        for key in CLUTTER_RATES:
            rate: Rate | None = s.get(key)
            low, high = rate.interval if rate else (float("nan"), float("nan"))
            row[key] = rate.value if rate else float("nan")
            row[f"{key.removesuffix('_rate')}_ci_low"] = low
            row[f"{key.removesuffix('_rate')}_ci_high"] = high
        row["ctpg_ms"] = s["planning_ms"]
        row["sim_errors"] = s["sim_errors"]
        rows.append(row)
    return rows


def with_interval(r, key: str, unit: str = "") -> str:
    """A summary row's rate in percent with its interval, e.g. 95.2% [77.3, 99.2]."""
    ci = key.removesuffix("_rate")
    return f"{100 * r[key]:.1f}{unit} [{100 * r[ci + '_ci_low']:.1f}, {100 * r[ci + '_ci_high']:.1f}]"


def leaderboard(summary: pd.DataFrame) -> str:
    """The summary as a text table, best grasp success first in each environment (target
    picking: best success rate first, for each object split)."""
    picks = is_pick(summary)
    lines = []
    for env, group in summary[~picks].groupby("env", sort=False):
        lines.append(f"{env}")
        for _, r in group.sort_values("gsr", ascending=False).iterrows():
            top = f"  top-level first {100 * r['top_level_rate']:5.1f}%" if pd.notna(r["top_level_rate"]) else ""
            lines.append(
                f"  {r['agent']:18s} success {100 * r['gsr']:5.1f}% [{100 * r['gsr_ci_low']:5.1f}, "
                f"{100 * r['gsr_ci_high']:5.1f}]  removal {100 * r['removal_rate']:5.1f}%  collision "
                f"{100 * r['collision_rate']:5.1f}%{top}  {r['ctpg_ms']:7.1f} ms  ({r['attempts']} attempts)"
            )
    for (env, split), group in by_split(summary):
        lines.append(f"{env}, {objects_of(split)}")
        for _, r in group.sort_values("sr", ascending=False).iterrows():
            lines.append(
                f"  {r['agent']:18s} SR {100 * r['sr']:5.1f}% [{100 * r['sr_ci_low']:5.1f}, "
                f"{100 * r['sr_ci_high']:5.1f}]  UPH {r['uph']:6.1f} [{r['uph_ci_low']:6.1f}, "
                f"{r['uph_ci_high']:6.1f}]  {r['seconds_per_pick']:5.1f} s/pick  "
                f"{r['probes_per_pick']:.2f} probes/pick  {r['ctpg_ms']:7.1f} ms  ({r['attempts']} picks)"
            )
    return "\n".join(lines)


def objects_of(split: str) -> str:
    """An object split as the IVFP paper names it: seen objects (train split)."""
    return f"{OBJECTS[split]} objects ({split} split)" if split in OBJECTS else f"{split} split"
