"""``graspbench benchmark`` and ``graspbench evaluate``: sweeps, the summary table, plots, report.md,
and the comparison of a run with the committed reference (``results/benchmark/``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd

from ..io import read_csv, save_figure, write_atomic
from .metrics import Rate, summarize
from .runner import run_sweep

ENVS = ["GraspBench/Single-v0", "GraspBench/Pile-v0", "GraspBench/Packed-v0", "GraspBench/Stacked-v0"]
SUITES = {
    # name: (environments, episodes per agent and environment, agents: None = every shipped one)
    "quick": (["GraspBench/Single-v0", "GraspBench/Pile-v0"], 5, ["random", "heuristic"]),
    "default": (ENVS, 20, None),
    "full": (ENVS, 100, None),
}
RATES = [("gsr", "grasp success"), ("removal_rate", "object removal"), ("collision_rate", "collision")]
SUITE_BUDGET_MIN = 15  # the default suite's time bar, on 2 cores
SUITE_BAR = f"default suite within {SUITE_BUDGET_MIN} min on 2 cores"
# The reference a run is compared with: the committed leaderboard (results/README.md says how it is made).
REFERENCE = Path(__file__).resolve().parents[2] / "results" / "benchmark"
AGREEMENT_RULE = "agree: the run's and the reference's 95% intervals overlap, for every rate"


def summary_table(attempts: pd.DataFrame) -> pd.DataFrame:
    """One row per agent and environment, every rate with its 95% interval."""
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
    return pd.DataFrame(rows).round(4)


def benchmark(suite: str = "default", out: str = "runs/benchmark", executor: str = "local", workers: int | None = None,
              address: str | None = None, seed: int = 0, agents: list[str] | None = None, progress: bool = True,
              resume: bool = False, reference=REFERENCE) -> tuple[pd.DataFrame, list, list]:
    """Run a suite and write attempts.csv, summary.csv, plots and report.md into ``out``; return the
    summary, the bars (see ``bars``) and the comparison with ``reference`` (see ``compare``).

    Every block of episodes is run now unless ``resume`` (then the blocks an earlier run left in
    ``out`` are reused, and the suite's time bar is not claimed). ``reference``: a folder holding a
    summary.csv, or None; it is not compared with when it is ``out`` itself (the run replaces it).
    """
    from ..agents import agent_names

    if suite not in SUITES:
        raise ValueError(f"suite {suite!r} is not one of {sorted(SUITES)}")
    envs, episodes, suite_agents = SUITES[suite]
    agents = agents or suite_agents or agent_names(ready_only=True)
    missing = sorted(set(agent_names()) - set(agent_names(ready_only=True)))
    if missing and progress:
        print(f"not in this benchmark, their weights are missing (make them with `graspbench train-agents`): {missing}")
    if reference is not None and Path(reference).resolve() == Path(out).resolve():
        reference = None  # regenerating the reference: nothing to compare with
    if reference == REFERENCE and not (REFERENCE / "summary.csv").is_file():
        reference = None  # graspbench installed without its repository: no committed reference
    # Read before the sweep: a damaged reference should not be found only after minutes of work.
    reference_summary = read_summary(Path(reference) / "summary.csv") if reference is not None else None
    start = time.perf_counter()
    attempts = run_sweep(envs, agents, episodes, out, seed=seed, executor=executor, workers=workers, address=address,
                         progress=progress, resume=resume)
    summary = summary_table(attempts)
    seconds = time.perf_counter() - start
    resumed, discarded = attempts.attrs.get("resumed_blocks", 0), attempts.attrs.get("discarded_blocks", 0)
    note = (f"suite {suite}: {episodes} episodes per agent and environment, seeds {seed}-{seed + episodes - 1}, "
            f"{seconds:.0f} s on {os.cpu_count()} cores")
    if resumed:
        note += f" (resumed: {resumed} blocks were already done)"
    elif discarded:
        note += f" (a fresh run: it replaced the {discarded} blocks an earlier run had left in {out})"
    bar_rows = bars(summary, seconds if suite == "default" and not resumed else None)
    if suite == "default" and resumed:
        bar_rows.append((SUITE_BAR, "a resumed run times only its rest", "not measured"))
    comparison = compare(summary, reference_summary) if reference_summary is not None else []
    write_reports(attempts, summary, Path(out), note, bar_rows, comparison,
                  shown(Path(reference) / "summary.csv") if reference is not None else None)
    return summary, bar_rows, comparison


def shown(path) -> str:
    """A path as a reader would type it: relative to the working folder when inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def read_summary(path) -> pd.DataFrame:
    """A benchmark's summary.csv (to compare with); a damaged or foreign file fails naming it."""
    rates = [column for key, _ in RATES for column in (key, *_interval_columns(key))]
    return read_csv(path, "a graspbench benchmark summary",
                    "give --reference a folder written by `graspbench benchmark`, or restore it with "
                    "`git checkout results/benchmark`", ["agent", "env", "episodes", *rates], ["episodes", *rates])


def compare(summary: pd.DataFrame, reference: pd.DataFrame) -> list[dict]:
    """For every agent and environment of ``summary``, whether its grasp success, object removal
    and collision rates agree with ``reference``'s (see AGREEMENT_RULE). Rows: env, agent, ``run``
    and ``reference`` (their summary rows; the reference's None where it has no such pair) and
    ``disagree`` (the titles of the rates that do not agree; None without a reference row)."""
    rows = []
    for _, run in summary.iterrows():
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
    differing = [f"{r['agent']} on {r['env'].split('/')[-1]} ({', '.join(r['disagree'])})"
                 for r in compared if r["disagree"]]
    text = f"{len(compared) - len(differing)} of {len(compared)} agent-environment pairs agree with the reference"
    episodes = sorted({int(r[side]["episodes"]) for r in compared for side in ("run", "reference")})
    if len(episodes) > 1:
        text += f" (episodes per pair: {', '.join(map(str, episodes))}: fewer episodes, wider intervals)"
    return text + (f"; disagreeing: {'; '.join(differing)}" if differing else "")


def write_reports(attempts: pd.DataFrame, summary: pd.DataFrame, out: Path, note: str, bar_rows=(), comparison=(),
                  reference_path=None) -> None:
    write_atomic(out / "attempts.csv", attempts.to_csv(index=False))
    write_atomic(out / "summary.csv", summary.to_csv(index=False))
    _plot_rates(summary, out / "rates.png")
    _plot_ctpg(summary, out / "ctpg.png")
    write_atomic(out / "report.md", report_markdown(summary, note, bar_rows, comparison, reference_path))


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

    rows = []
    for env, key, threshold in (("GraspBench/Single-v0", "gsr", 0.95), ("GraspBench/Pile-v0", "removal_rate", 0.90),
                                ("GraspBench/Packed-v0", "gsr", 0.90)):
        bar = f"best planner: {dict(RATES)[key]} rate >= {100 * threshold:.0f}% on {env.split('/')[-1]}"
        group = summary[summary["env"] == env]
        if group.empty:
            rows.append((bar, "-", "not measured"))
            continue
        best = group.loc[group[key].idxmax()]
        ci = key.removesuffix("_rate")
        # With few episodes the best of many agents is often lucky: say when the interval spans the bar.
        spans = best[f"{ci}_ci_low"] < threshold <= best[f"{ci}_ci_high"]
        rows.append((bar, f"{best['agent']}: {pct(best, key)}",
                     verdict(best[key] >= threshold) + (" (the interval spans the bar)" if spans else "")))

    bar = "collision-free cluttered data lowers collisions in piles (mlgsl < mlgsl-single)"
    cluttered, single = row("mlgsl", "GraspBench/Pile-v0"), row("mlgsl-single", "GraspBench/Pile-v0")
    rows.append((bar, "-", "not measured") if cluttered is None or single is None else
                (bar, f"mlgsl {pct(cluttered, 'collision_rate')} vs mlgsl-single {pct(single, 'collision_rate')}",
                 verdict(cluttered["collision_rate"] < single["collision_rate"])))

    bar = "top-level first on Stacked-v0: gpnet >= ggcnn + 10 points"
    gpnet, ggcnn = row("gpnet", "GraspBench/Stacked-v0"), row("ggcnn", "GraspBench/Stacked-v0")
    if gpnet is None or ggcnn is None:
        rows.append((bar, "-", "not measured"))
    else:
        gain = gpnet["top_level_rate"] - ggcnn["top_level_rate"]
        rows.append((bar, f"gpnet {pct(gpnet, 'top_level_rate')} vs ggcnn {pct(ggcnn, 'top_level_rate')} "
                          f"({100 * gain:+.1f} points)", verdict(gain >= 0.10)))

    if suite_seconds is not None:
        rows.append((SUITE_BAR,
                     f"{suite_seconds / 60:.1f} min on {os.cpu_count()} cores",
                     verdict(suite_seconds <= 60 * SUITE_BUDGET_MIN)))
    return rows


def _with_interval(r, key: str, unit: str = "") -> str:
    """A summary row's rate in percent with its interval, e.g. 95.2% [77.3, 99.2]."""
    ci = key.removesuffix("_rate")
    return f"{100 * r[key]:.1f}{unit} [{100 * r[ci + '_ci_low']:.1f}, {100 * r[ci + '_ci_high']:.1f}]"


def leaderboard(summary: pd.DataFrame) -> str:
    """The summary as a text table, best grasp success first in each environment."""
    lines = []
    for env, group in summary.groupby("env", sort=False):
        lines.append(f"{env}")
        for _, r in group.sort_values("gsr", ascending=False).iterrows():
            top = f"  top-level first {100 * r['top_level_rate']:5.1f}%" if pd.notna(r["top_level_rate"]) else ""
            lines.append(f"  {r['agent']:18s} success {100 * r['gsr']:5.1f}% [{100 * r['gsr_ci_low']:5.1f}, "
                         f"{100 * r['gsr_ci_high']:5.1f}]  removal {100 * r['removal_rate']:5.1f}%  collision "
                         f"{100 * r['collision_rate']:5.1f}%{top}  {r['ctpg_ms']:7.1f} ms  ({r['attempts']} attempts)")
    return "\n".join(lines)


def report_markdown(summary: pd.DataFrame, note: str, bar_rows=(), comparison=(), reference_path=None) -> str:
    parts = ["# graspbench leaderboard", "", note, "",
             "Rates in percent with 95% Wilson intervals. Top-level first: of the attempts aimed at an object",
             "(the object seen at the grasp's centre pixel), the share aimed at one with nothing resting on it",
             "(stacked scenes). CTPG: computation time per grasp, the agent's planning call, in ms.", ""]
    if bar_rows:
        parts += ["## Bars", "", "Why a bar is missed: results/README.md.", "", "| bar | measured | verdict |",
                  "| --- | --- | --- |"] + [f"| {bar} | {measured} | {verdict} |" for bar, measured, verdict in bar_rows] + [""]
    if comparison:
        parts += ["## Against the reference", "", f"Each rate of this run vs {reference_path}; {AGREEMENT_RULE}.",
                  _comparison_summary(comparison) + ".", "",
                  "| environment | agent | grasp success | object removal | collision | verdict |",
                  "| --- | --- | --- | --- | --- | --- |"]
        parts += [f"| {r['env']} | {r['agent']} | " + " | ".join(_versus(r, key, "%") for key, _ in RATES) +
                  f" | {_verdict(r)} |" for r in comparison] + [""]
    for env, group in summary.groupby("env", sort=False):
        parts += [f"## {env}", "", "| agent | grasp success | object removal | collision | multi-pick | top-level first | CTPG ms | attempts |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for _, r in group.sort_values("gsr", ascending=False).iterrows():
            top = _with_interval(r, "top_level_rate") if pd.notna(r["top_level_rate"]) else "-"
            parts.append(f"| {r['agent']} | {_with_interval(r, 'gsr')} | {_with_interval(r, 'removal_rate')} | "
                         f"{_with_interval(r, 'collision_rate')} | {100 * r['multi_pick_rate']:.1f} | {top} | "
                         f"{r['ctpg_ms']:.1f} | {r['attempts']} |")
        parts.append("")
    parts += ["![rates](rates.png)", "", "![ctpg](ctpg.png)", ""]
    return "\n".join(parts)


def _plot_rates(summary: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = list(dict.fromkeys(summary["env"]))
    fig, axes = plt.subplots(len(RATES), len(envs), figsize=(4 * len(envs), 2.8 * len(RATES)), squeeze=False)
    for j, env in enumerate(envs):
        group = summary[summary["env"] == env]
        for i, (key, title) in enumerate(RATES):
            ci = key.removesuffix("_rate")
            values = 100 * group[key]
            errors = [100 * (group[key] - group[f"{ci}_ci_low"]), 100 * (group[f"{ci}_ci_high"] - group[key])]
            ax = axes[i][j]
            ax.bar(group["agent"], values, yerr=errors, capsize=3, color="tab:blue" if i < 2 else "tab:red")
            ax.set_ylim(0, 100)
            ax.set_title(f"{env.split('/')[-1]}: {title}", fontsize=9)
            ax.set_ylabel("%")
            ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def _plot_ctpg(summary: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for env, group in summary.groupby("env", sort=False):
        ax.scatter(group["ctpg_ms"], 100 * group["gsr"], label=env.split("/")[-1])
        for _, r in group.iterrows():
            ax.annotate(r["agent"], (r["ctpg_ms"], 100 * r["gsr"]), fontsize=6, xytext=(3, 2), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("computation time per grasp (ms, log)")
    ax.set_ylabel("grasp success (%)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
