"""``graspbench benchmark`` and ``graspbench evaluate``: sweeps, the summary table, plots, report.md,
and the comparison of a run with the committed reference (``results/benchmark/``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd

from ..io import read_csv, save_figure, write_atomic
from .catalogue import PAPERS_SUFFIX, agent_names, planner_protocol
from .families import NOVEL_ENVS, beside_default_markdown, family_markdown, family_table, novel_bars
from .metrics import UPH_BOOTSTRAP_SEED, UPH_RESAMPLES, Rate, summarize, summarize_picks
from .runner import PICKS_PER_TRIAL, env_entry, picks_targets, run_sweep, task_of

ENVS = ["GraspBench/Single-v0", "GraspBench/Pile-v0", "GraspBench/Packed-v0", "GraspBench/Stacked-v0"]
# The IVFP paper's Table I (Murray et al.): seen objects are the train split, unseen the test split.
IVFP_ENVS = [("GraspBench/BinPick-v1", "train"), ("GraspBench/BinPick-v1", "test")]
NOVEL_SUITE_ENVS = list(NOVEL_ENVS)
IVFP_AGENTS = ["centroid", "random-mask", "clear-grasp", "il", "il-free", "il-vitl", "rl20", "rl50", "rl-free20"]
OBJECTS = {"train": "seen", "test": "unseen", "all": "all"}
"""what the IVFP paper calls the objects of each object split"""
SUITES = {
    # name: (environments, episodes per agent and environment, agents: None = every shipped one)
    "quick": (["GraspBench/Single-v0", "GraspBench/Pile-v0"], 5, ["random", "heuristic"]),
    "default": (ENVS, 20, None),
    # Like default, clutter removal only: target picking has its own agents and protocol (ivfp).
    "full": (ENVS, 100, None),
    # Target picking: an episode is a trial of PICKS_PER_TRIAL (12) picks in one bin. The paper
    # evaluated 10 trials x 12 picks per method and object set; 20 trials here (240 picks), as
    # simulation is cheap and it narrows a 50% success rate's interval from +-9 to +-6 points, so
    # that the intervals can tell RL@50 from IL. Agents without their weights yet are left out.
    "ivfp": (IVFP_ENVS, 20, IVFP_AGENTS),
    # Generalisation (issue 26): object families no training set uses, at real size; the report adds
    # a table by family and the default suite's rates beside (bench/families.py).
    "novel": (NOVEL_SUITE_ENVS, 100, None),
}
RATES = [("gsr", "grasp success"), ("removal_rate", "object removal"), ("collision_rate", "collision")]
# Target picking's: success rate in percent, units per hour in picks per hour (not a proportion).
PICK_RATES = [("sr", "success rate (SR)"), ("uph", "units per hour (UPH)"), ("collision_rate", "collision")]
PICK_NOTE = [
    "Target picking (IVFP, Murray et al.): one record per pick of a target, every grasp tried on it (probes,",
    "releases, retries) included; an episode is a trial of picks in one bin. Seen objects: the train split;",
    "unseen: the test split. SR: successful picks / picks, with its 95% Wilson interval. UPH: units per hour,",
    "3600 x successes / (simulated seconds of every motion of every attempt + planning seconds), with a 95%",
    f"percentile bootstrap interval over episodes ({UPH_RESAMPLES} resamples, seed {UPH_BOOTSTRAP_SEED}).",
    "Planning ms: the agent's own time per pick (choosing grasps and, with verification in the loop,",
    "classifying the probes' films).",
]
MAKE_WEIGHTS = {
    "clutter_removal": "make them with `graspbench train-agents`",
    "target_picking": "train them as docs/ivfp.md says, into agents/weights/",
}
SUITE_BUDGET_MIN = 15  # the default suite's time bar, on 2 cores
SUITE_BAR = f"default suite within {SUITE_BUDGET_MIN} min on 2 cores"
# The reference a run is compared with: the committed leaderboard (results/README.md says how it is made).
REFERENCE = Path(__file__).resolve().parents[2] / "results" / "benchmark"
AGREEMENT_RULE = "agree: the run's and the reference's 95% intervals overlap, for every rate"


def summary_table(attempts: pd.DataFrame) -> pd.DataFrame:
    """One row per agent and environment, every rate with its 95% interval; target picking (pick
    records) one row per agent, environment and object split, with its success rate (SR) and units
    per hour (UPH) instead of the clutter rates."""
    picks = _is_pick(attempts)
    rows = _clutter_rows(attempts[~picks]) + _pick_rows(attempts[picks])
    return pd.DataFrame(rows).round(4)


def _is_pick(table: pd.DataFrame) -> pd.Series:
    """Which rows of attempt records or of a summary are target picking's: their environment's task says."""
    return table["env"].map(picks_targets).astype(bool)


def _by_split(table: pd.DataFrame) -> list[tuple[tuple[str, str], pd.DataFrame]]:
    """Target picking's rows by environment and object split, in order of appearance."""
    picks = _is_pick(table)
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
        for key in ("gsr", "removal_rate", "collision_rate", "multi_pick_rate", "top_level_rate"):
            rate: Rate | None = s.get(key)
            low, high = rate.interval if rate else (float("nan"), float("nan"))
            row[key] = rate.value if rate else float("nan")
            row[f"{key.removesuffix('_rate')}_ci_low"] = low
            row[f"{key.removesuffix('_rate')}_ci_high"] = high
        row["ctpg_ms"] = s["planning_ms"]
        row["sim_errors"] = s["sim_errors"]
        rows.append(row)
    return rows


def benchmark(
    suite: str = "default",
    out: str = "runs/benchmark",
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    seed: int = 0,
    agents: list[str] | None = None,
    progress: bool = True,
    resume: bool = False,
    reference=REFERENCE,
    picks_per_trial: int = PICKS_PER_TRIAL,
) -> tuple[pd.DataFrame, list, list]:
    """Run a suite and write attempts.csv, summary.csv, plots and report.md into ``out``; return the
    summary, the bars (see ``bars``) and the comparison with ``reference`` (see ``compare``).

    The suite's agents (every shipped one for its environments' task when it names none) run when
    their weights exist; ``agents`` replaces them. Every block of episodes is run now unless
    ``resume`` (then the blocks an earlier run left in ``out`` are reused, and the suite's time bar
    is not claimed). ``reference``: a folder holding a summary.csv, or None; it is not compared with
    when it is ``out`` itself (the run replaces it). ``picks_per_trial``: picks per episode in
    target-picking environments.
    """

    if suite not in SUITES:
        raise ValueError(f"suite {suite!r} is not one of {sorted(SUITES)}")
    envs, episodes, suite_agents = SUITES[suite]
    tasks = sorted({task_of(env_entry(entry)[0]) for entry in envs})
    # Clutter suites run every network agent twice: as the benchmark does and as the papers do.
    candidates = suite_agents or [name for task in tasks for name in agent_names(task=task, papers=True)]
    ready = set(agent_names(ready_only=True, papers=True))
    missing = [name for name in candidates if name not in ready]
    if missing and progress:
        fix = " or ".join(MAKE_WEIGHTS[task] for task in tasks)
        print(f"not in this benchmark, their weights are missing ({fix}): {missing}")
    agents = agents or [name for name in candidates if name in ready]
    if not agents:
        raise ValueError(
            f"suite {suite}: none of its agents has its weights ({', '.join(missing)}); see agents/README.md"
        )
    if reference is not None and Path(reference).resolve() == Path(out).resolve():
        reference = None  # regenerating the reference: nothing to compare with
    if reference == REFERENCE and not (REFERENCE / "summary.csv").is_file():
        reference = None  # graspbench installed without its repository: no committed reference
    # Read before the sweep: a damaged reference should not be found only after minutes of work.
    reference_summary = read_summary(Path(reference) / "summary.csv") if reference is not None else None
    start = time.perf_counter()
    attempts = run_sweep(
        envs,
        agents,
        episodes,
        out,
        seed=seed,
        executor=executor,
        workers=workers,
        address=address,
        progress=progress,
        resume=resume,
        picks_per_trial=picks_per_trial,
    )
    summary = summary_table(attempts)
    seconds = time.perf_counter() - start
    resumed, discarded = attempts.attrs.get("resumed_blocks", 0), attempts.attrs.get("discarded_blocks", 0)
    episodes_are = (
        f"{episodes} trials of {picks_per_trial} picks per agent, environment and object split"
        if tasks == ["target_picking"]
        else f"{episodes} episodes per agent and environment"
    )
    note = (
        f"suite {suite}: {episodes_are}, seeds {seed}-{seed + episodes - 1}, {seconds:.0f} s on {os.cpu_count()} cores"
    )
    if resumed:
        note += f" (resumed: {resumed} blocks were already done)"
    elif discarded:
        note += f" (a fresh run: it replaced the {discarded} blocks an earlier run had left in {out})"
    # The bars are clutter removal's; target picking's (the IVFP paper's Table I) are not measured here yet.
    clutter = summary[~_is_pick(summary)]
    bar_rows = bars(clutter, seconds if suite == "default" and not resumed else None) if len(clutter) else []
    if suite == "default" and resumed:
        bar_rows.append((SUITE_BAR, "a resumed run times only its rest", "not measured"))
    comparison = compare(summary, reference_summary) if reference_summary is not None else []
    if comparison and all(row["reference"] is None for row in comparison) and suite == "novel":
        comparison = []  # the default suite's reference has no novel environment: shown beside it instead
    families = family_table(attempts)  # empty unless the run met novel objects
    if suite == "novel":
        bar_rows = novel_bars(families)
    sections = (
        protocols_markdown(summary)
        + family_markdown(families)
        + beside_default_markdown(
            summary, reference_summary, shown(Path(reference) / "summary.csv") if reference is not None else None
        )
    )
    if not families.empty:
        write_atomic(Path(out) / "families.csv", families.to_csv(index=False))
    write_reports(
        attempts,
        summary,
        Path(out),
        note,
        bar_rows,
        comparison,
        shown(Path(reference) / "summary.csv") if reference is not None else None,
        sections,
    )
    return summary, bar_rows, comparison


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
    for _, run in summary[~_is_pick(summary)].iterrows():
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
    reference = "-" if row["reference"] is None else _with_interval(row["reference"], key, unit)
    return f"{_with_interval(row['run'], key, unit)} vs {reference}"


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


def write_reports(
    attempts: pd.DataFrame,
    summary: pd.DataFrame,
    out: Path,
    note: str,
    bar_rows=(),
    comparison=(),
    reference_path=None,
    sections=(),
) -> None:
    write_atomic(out / "attempts.csv", attempts.to_csv(index=False))
    write_atomic(out / "summary.csv", summary.to_csv(index=False))
    _plot_rates(summary, out / "rates.png")
    _plot_ctpg(summary, out / "ctpg.png")
    write_atomic(out / "report.md", report_markdown(summary, note, bar_rows, comparison, reference_path, sections))


def bars(summary: pd.DataFrame, suite_seconds: float | None = None) -> list[tuple[str, str, str]]:
    """The benchmark's bars as (bar, measured, verdict) rows; a bar whose agents or environments
    are not in ``summary`` is "not measured". Verdicts compare point estimates; the intervals are
    shown beside them."""

    def row(agent, env):
        match = summary[(summary["agent"] == agent) & (summary["env"] == env)]
        return None if match.empty else match.iloc[0]

    def pct(r, key):
        return _with_interval(r, key, "%")

    def verdict(ok):
        return "met" if ok else "MISSED"

    papers = summary[summary["agent"].str.endswith(PAPERS_SUFFIX)]
    summary = summary[summary["agent"] == summary["agent"].map(planner_protocol)]
    rows = []
    for env, key, threshold in (
        ("GraspBench/Single-v0", "gsr", 0.95),
        ("GraspBench/Pile-v0", "removal_rate", 0.90),
        ("GraspBench/Packed-v0", "gsr", 0.90),
    ):
        bar = f"best planner: {dict(RATES)[key]} rate >= {100 * threshold:.0f}% on {env.split('/')[-1]}"
        group = summary[summary["env"] == env]
        if group.empty:
            rows.append((bar, "-", "not measured"))
            continue
        best = group.loc[group[key].idxmax()]
        ci = key.removesuffix("_rate")
        # With few episodes the best of many agents is often lucky: say when the interval spans the bar.
        spans = best[f"{ci}_ci_low"] < threshold <= best[f"{ci}_ci_high"]
        rows.append(
            (
                bar,
                f"{best['agent']}: {pct(best, key)}",
                verdict(best[key] >= threshold) + (" (the interval spans the bar)" if spans else ""),
            )
        )

    bar = "collision-free cluttered data lowers collisions in piles (mlgsl < mlgsl-single)"
    cluttered, single = row("mlgsl", "GraspBench/Pile-v0"), row("mlgsl-single", "GraspBench/Pile-v0")
    rows.append(
        (bar, "-", "not measured")
        if cluttered is None or single is None
        else (
            bar,
            f"mlgsl {pct(cluttered, 'collision_rate')} vs mlgsl-single {pct(single, 'collision_rate')}",
            verdict(cluttered["collision_rate"] < single["collision_rate"]),
        )
    )

    bar = "top-level first on Stacked-v0: gpnet >= ggcnn + 10 points"
    gpnet, ggcnn = row("gpnet", "GraspBench/Stacked-v0"), row("ggcnn", "GraspBench/Stacked-v0")
    if gpnet is None or ggcnn is None:
        rows.append((bar, "-", "not measured"))
    else:
        gain = gpnet["top_level_rate"] - ggcnn["top_level_rate"]
        rows.append(
            (
                bar,
                f"gpnet {pct(gpnet, 'top_level_rate')} vs ggcnn {pct(ggcnn, 'top_level_rate')} "
                f"({100 * gain:+.1f} points)",
                verdict(gain >= 0.10),
            )
        )

    for env in ("GraspBench/Pile-v0", "GraspBench/Packed-v0"):
        bar = f"papers' protocol: best network's grasp success >= 85% and its collisions <= 10% on {env.split('/')[-1]}"
        group = papers[papers["env"] == env]
        if group.empty:
            rows.append((bar, "-", "not measured"))
            continue
        best = group.loc[group["gsr"].idxmax()]
        measured = f"{best['agent']}: {pct(best, 'gsr')}, collisions {pct(best, 'collision_rate')}"
        rows.append((bar, measured, verdict(best["gsr"] >= 0.85 and best["collision_rate"] <= 0.10)))

    if suite_seconds is not None:
        rows.append(
            (
                SUITE_BAR,
                f"{suite_seconds / 60:.1f} min on {os.cpu_count()} cores",
                verdict(suite_seconds <= 60 * SUITE_BUDGET_MIN),
            )
        )
    return rows


def protocols_markdown(summary: pd.DataFrame) -> list[str]:
    """Every network agent run both ways, side by side (issue 26): as the benchmark runs it (the best
    of its peaks whose fingers land on free space, as deep as that space allows) and as the papers do
    (``@papers``: its best peak at the fixed depth). The difference is the share of its grasp
    success that the shared free-space check makes, not the network."""
    papers = summary[summary["agent"].str.endswith(PAPERS_SUFFIX)]
    if papers.empty:
        return []
    parts = [
        "## Two protocols",
        "",
        "Each network as the benchmark runs it, and as its paper does (`NAME@papers`: the network's best",
        "peak, no free-space check, the fingertips the environment's fixed depth below the surface).",
        "From the check: the points of grasp success the benchmark's free-space check adds.",
        "",
        "| environment | agent | grasp success | collision | papers' grasp success | papers' collision | from the check |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for _, p in papers.iterrows():
        match = summary[(summary["agent"] == planner_protocol(p["agent"])) & (summary["env"] == p["env"])]
        if match.empty:
            continue
        r = match.iloc[0]
        parts.append(
            f"| {r['env']} | {r['agent']} | {_with_interval(r, 'gsr')} | {_with_interval(r, 'collision_rate')} | "
            f"{_with_interval(p, 'gsr')} | {_with_interval(p, 'collision_rate')} | {100 * (r['gsr'] - p['gsr']):+.1f} |"
        )
    return parts + [""]


def _with_interval(r, key: str, unit: str = "") -> str:
    """A summary row's rate in percent with its interval, e.g. 95.2% [77.3, 99.2]."""
    ci = key.removesuffix("_rate")
    return f"{100 * r[key]:.1f}{unit} [{100 * r[ci + '_ci_low']:.1f}, {100 * r[ci + '_ci_high']:.1f}]"


def leaderboard(summary: pd.DataFrame) -> str:
    """The summary as a text table, best grasp success first in each environment (target
    picking: best success rate first, for each object split)."""
    picks = _is_pick(summary)
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
    for (env, split), group in _by_split(summary):
        lines.append(f"{env}, {_objects(split)}")
        for _, r in group.sort_values("sr", ascending=False).iterrows():
            lines.append(
                f"  {r['agent']:18s} SR {100 * r['sr']:5.1f}% [{100 * r['sr_ci_low']:5.1f}, "
                f"{100 * r['sr_ci_high']:5.1f}]  UPH {r['uph']:6.1f} [{r['uph_ci_low']:6.1f}, "
                f"{r['uph_ci_high']:6.1f}]  {r['seconds_per_pick']:5.1f} s/pick  "
                f"{r['probes_per_pick']:.2f} probes/pick  {r['ctpg_ms']:7.1f} ms  ({r['attempts']} picks)"
            )
    return "\n".join(lines)


def _objects(split: str) -> str:
    """An object split as the IVFP paper names it: seen objects (train split)."""
    return f"{OBJECTS[split]} objects ({split} split)" if split in OBJECTS else f"{split} split"


def report_markdown(
    summary: pd.DataFrame, note: str, bar_rows=(), comparison=(), reference_path=None, sections=()
) -> str:
    picks = _is_pick(summary)
    parts = ["# graspbench leaderboard", "", note, ""]
    if (~picks).any() or not picks.any():
        parts += [
            "Rates in percent with 95% Wilson intervals. Top-level first: of the attempts aimed at an object",
            "(the object seen at the grasp's centre pixel), the share aimed at one with nothing resting on it",
            "(stacked scenes). CTPG: computation time per grasp, the agent's planning call, in ms.",
            "",
        ]
    if picks.any():
        parts += PICK_NOTE + [""]
    if bar_rows:
        parts += (
            [
                "## Bars",
                "",
                "Why a bar is missed: results/README.md.",
                "",
                "| bar | measured | verdict |",
                "| --- | --- | --- |",
            ]
            + [f"| {bar} | {measured} | {verdict} |" for bar, measured, verdict in bar_rows]
            + [""]
        )
    if comparison:
        parts += [
            "## Against the reference",
            "",
            f"Each rate of this run vs {reference_path}; {AGREEMENT_RULE}.",
            _comparison_summary(comparison) + ".",
            "",
            "| environment | agent | grasp success | object removal | collision | verdict |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        parts += [
            f"| {r['env']} | {r['agent']} | "
            + " | ".join(_versus(r, key, "%") for key, _ in RATES)
            + f" | {_verdict(r)} |"
            for r in comparison
        ] + [""]
    for env, group in summary[~picks].groupby("env", sort=False):
        parts += [
            f"## {env}",
            "",
            "| agent | grasp success | object removal | collision | multi-pick | top-level first | CTPG ms | attempts |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for _, r in group.sort_values("gsr", ascending=False).iterrows():
            top = _with_interval(r, "top_level_rate") if pd.notna(r["top_level_rate"]) else "-"
            parts.append(
                f"| {r['agent']} | {_with_interval(r, 'gsr')} | {_with_interval(r, 'removal_rate')} | "
                f"{_with_interval(r, 'collision_rate')} | {100 * r['multi_pick_rate']:.1f} | {top} | "
                f"{r['ctpg_ms']:.1f} | {r['attempts']} |"
            )
        parts.append("")
    for (env, split), group in _by_split(summary):
        parts += [
            f"## {env}, {_objects(split)}",
            "",
            "| agent | success rate (SR) | units per hour (UPH) | seconds per pick | probes per pick | "
            "retries per pick | collision | multi-pick | planning ms | picks |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for _, r in group.sort_values("sr", ascending=False).iterrows():
            uph = f"{r['uph']:.1f} [{r['uph_ci_low']:.1f}, {r['uph_ci_high']:.1f}]"
            parts.append(
                f"| {r['agent']} | {_with_interval(r, 'sr')} | {uph} | {r['seconds_per_pick']:.1f} | "
                f"{r['probes_per_pick']:.2f} | {r['retries_per_pick']:.2f} | {_with_interval(r, 'collision_rate')} | "
                f"{100 * r['multi_pick_rate']:.1f} | {r['ctpg_ms']:.1f} | {r['attempts']} |"
            )
        parts.append("")
    parts += list(sections)  # e.g. the novel suite's table by object family (bench/families.py)
    parts += ["![rates](rates.png)", "", "![ctpg](ctpg.png)", ""]
    return "\n".join(parts)


def _plot_rates(summary: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # One column of panels per environment (per environment and object split in target picking).
    picks = _is_pick(summary)
    columns = [
        (env.split("/")[-1], summary[~picks & (summary["env"] == env)], RATES)
        for env in dict.fromkeys(summary.loc[~picks, "env"])
    ]
    columns += [
        (f"{env.split('/')[-1]} {OBJECTS.get(split, split)}", group, PICK_RATES)
        for (env, split), group in _by_split(summary)
    ]
    fig, axes = plt.subplots(len(RATES), len(columns), figsize=(4 * len(columns), 2.8 * len(RATES)), squeeze=False)
    for j, (name, group, rates) in enumerate(columns):
        for i, (key, title) in enumerate(rates):
            ci = key.removesuffix("_rate")
            scale = 1 if key == "uph" else 100  # units per hour are not a proportion
            values = scale * group[key]
            # An interval that cannot be computed (UPH of one episode) is drawn as none.
            errors = [
                (scale * (group[key] - group[f"{ci}_ci_low"])).fillna(0),
                (scale * (group[f"{ci}_ci_high"] - group[key])).fillna(0),
            ]
            ax = axes[i][j]
            ax.bar(group["agent"], values, yerr=errors, capsize=3, color="tab:blue" if i < 2 else "tab:red")
            if key != "uph":
                ax.set_ylim(0, 100)
            ax.set_title(f"{name}: {title}", fontsize=9)
            ax.set_ylabel("picks per hour" if key == "uph" else "%")
            ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def _plot_ctpg(summary: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picks = _is_pick(summary)
    series = [(env.split("/")[-1], group, "gsr") for env, group in summary[~picks].groupby("env", sort=False)]
    series += [
        (f"{env.split('/')[-1]} {OBJECTS.get(split, split)}", group, "sr") for (env, split), group in _by_split(summary)
    ]
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, group, key in series:
        ax.scatter(group["ctpg_ms"], 100 * group[key], label=label)
        for _, r in group.iterrows():
            ax.annotate(r["agent"], (r["ctpg_ms"], 100 * r[key]), fontsize=6, xytext=(3, 2), textcoords="offset points")
    ax.set_xscale("log")
    if picks.any():
        ax.set_xlabel("computation time per grasp, per pick in target picking (ms, log)")
        ax.set_ylabel("grasp success, success rate in target picking (%)")
    else:
        ax.set_xlabel("computation time per grasp (ms, log)")
        ax.set_ylabel("grasp success (%)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
