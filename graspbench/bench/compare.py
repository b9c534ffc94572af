"""A run against a reference: whether each rate of each agent and environment agrees with a
reference's, by default the committed leaderboard (``results/benchmark/``), as terminal lines and
as report.md's section."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..io import read_csv
from .summary import RATES, is_pick, with_interval

# The reference a run is compared with: the committed leaderboard (results/README.md says how it is made).
REFERENCE = Path(__file__).resolve().parents[2] / "results" / "benchmark"
AGREEMENT_RULE = "agree: the run's and the reference's 95% intervals overlap, for every rate"


def shown(path) -> str:
    """A path as a reader would type it: relative to the working folder when inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def read_summary(path) -> pd.DataFrame:
    """A benchmark's summary.csv (to compare with); a damaged or foreign file fails naming it."""
    rates = [column for key, _ in RATES for column in (key, *_interval_columns(key))]
    return read_csv(
        path,
        "a graspbench benchmark summary",
        "give --reference a folder written by `graspbench benchmark`, or restore it with "
        "`git checkout results/benchmark`",
        ["agent", "env", "episodes", *rates],
        ["episodes", *rates],
    )


def compare(summary: pd.DataFrame, reference: pd.DataFrame) -> list[dict]:
    """For every agent and environment of ``summary``, whether its grasp success, object removal
    and collision rates agree with ``reference``'s (see AGREEMENT_RULE). Rows: env, agent, ``run``
    and ``reference`` (their summary rows; the reference's None where it has no such pair) and
    ``disagree`` (the titles of the rates that do not agree; None without a reference row).
    Target picking's rows are not compared: the reference is clutter removal's."""
    rows = []
    for _, run in summary[~is_pick(summary)].iterrows():
        match = reference[(reference["agent"] == run["agent"]) & (reference["env"] == run["env"])]
        ref = None if match.empty else match.iloc[0]
        disagree = None if ref is None else [title for key, title in RATES if not _overlap(run, ref, key)]
        rows.append({"env": run["env"], "agent": run["agent"], "run": run, "reference": ref, "disagree": disagree})
    return rows


def _interval_columns(key: str) -> tuple[str, str]:
    """The summary's columns of a rate's interval: gsr -> gsr_ci_low, gsr_ci_high."""
    ci = key.removesuffix("_rate")
    return f"{ci}_ci_low", f"{ci}_ci_high"


def _overlap(a, b, key: str) -> bool:
    """Whether two summary rows' 95% intervals of a rate overlap."""
    low, high = _interval_columns(key)
    return a[low] <= b[high] and b[low] <= a[high]


def _versus(row: dict, key: str, unit: str = "") -> str:
    """A comparison row's rate: the run's, then the reference's, each with its interval."""
    reference = "-" if row["reference"] is None else with_interval(row["reference"], key, unit)
    return f"{with_interval(row['run'], key, unit)} vs {reference}"


def comparison_text(rows: list[dict], reference_path) -> str:
    """The comparison as terminal lines: one per agent and environment, rates in percent with
    their intervals, run vs reference; then how many agree."""
    if not rows:
        return ""
    lines = [f"against the reference {reference_path} ({AGREEMENT_RULE}):"]
    for r in rows:
        rates = " | ".join(f"{title.split()[-1]} {_versus(r, key)}" for key, title in RATES)
        lines.append(f"  {r['env'].split('/')[-1]:11s} {r['agent']:15s} {rates} -> {_verdict(r)}")
    lines.append(_comparison_summary(rows))
    return "\n".join(lines)


def comparison_markdown(rows: list[dict], reference_path) -> list[str]:
    """The comparison as report.md's section (none without rows): every rate of the run vs the
    reference's, with their intervals, and the verdict of each agent and environment."""
    if not rows:
        return []
    return [
        "## Against the reference",
        "",
        f"Each rate of this run vs {reference_path}; {AGREEMENT_RULE}.",
        _comparison_summary(rows) + ".",
        "",
        "| environment | agent | grasp success | object removal | collision | verdict |",
        "| --- | --- | --- | --- | --- | --- |",
        *(
            f"| {r['env']} | {r['agent']} | "
            + " | ".join(_versus(r, key, "%") for key, _ in RATES)
            + f" | {_verdict(r)} |"
            for r in rows
        ),
        "",
    ]


def _verdict(row: dict) -> str:
    if row["disagree"] is None:
        return "not in the reference"
    return f"DISAGREES ({', '.join(row['disagree'])})" if row["disagree"] else "agrees"


def _comparison_summary(rows: list[dict]) -> str:
    compared = [r for r in rows if r["disagree"] is not None]
    differing = [
        f"{r['agent']} on {r['env'].split('/')[-1]} ({', '.join(r['disagree'])})" for r in compared if r["disagree"]
    ]
    text = f"{len(compared) - len(differing)} of {len(compared)} agent-environment pairs agree with the reference"
    episodes = sorted({int(r[side]["episodes"]) for r in compared for side in ("run", "reference")})
    if len(episodes) > 1:
        text += f" (episodes per pair: {', '.join(map(str, episodes))}: fewer episodes, wider intervals)"
    return text + (f"; disagreeing: {'; '.join(differing)}" if differing else "")
