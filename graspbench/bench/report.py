"""``graspbench benchmark``: the suites, a suite's sweep, its bars, and report.md.

What a run writes comes from the modules beside it: the summary table and the leaderboard
(:mod:`graspbench.bench.summary`), the comparison with a reference (:mod:`graspbench.bench.compare`),
the plots (:mod:`graspbench.bench.plots`) and the results by object family
(:mod:`graspbench.bench.families`)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd

from ..io import write_atomic
from .catalogue import PAPERS_SUFFIX, agent_names, planner_protocol
from .compare import REFERENCE, compare, comparison_markdown, read_summary, shown
from .families import NOVEL_ENVS, beside_default_markdown, family_markdown, family_table, novel_bars
from .metrics import REPEAT_RADIUS_PX, UPH_BOOTSTRAP_SEED, UPH_RESAMPLES
from .plots import plot_ctpg, plot_rates
from .runner import PICKS_PER_TRIAL, env_entry, run_sweep, task_of
from .summary import RATES, by_split, is_pick, objects_of, summary_table, with_interval

ENVS = ["GraspBench/Single-v0", "GraspBench/Pile-v0", "GraspBench/Packed-v0", "GraspBench/Stacked-v0"]
# The IVFP paper's Table I (Murray et al.): seen objects are the train split, unseen the test split.
IVFP_ENVS = [("GraspBench/BinPick-v1", "train"), ("GraspBench/BinPick-v1", "test")]
NOVEL_SUITE_ENVS = list(NOVEL_ENVS)
PRIORITY_ENV = "GraspBench/PriorityStacks-v0"
# GP-Net's claim is gpnet against ggcnn; gpnet-nogpp is the same network without its priority head.
# Also as the papers run them: what the network alone prefers, without the free-space check.
PRIORITY_NETWORKS = ["ggcnn", "gpnet-nogpp", "gpnet"]
PRIORITY_AGENTS = ["random", "heuristic", *PRIORITY_NETWORKS, *(n + PAPERS_SUFFIX for n in PRIORITY_NETWORKS)]
IVFP_AGENTS = ["centroid", "random-mask", "clear-grasp", "il", "il-free", "il-vitl", "rl20", "rl50", "rl-free20"]
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
    # Stacks whose supports stay visible (issue 26, docs/novel.md): whether grasp priority matters.
    "priority": ([PRIORITY_ENV], 50, PRIORITY_AGENTS),
}
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
    clutter = summary[~is_pick(summary)]
    bar_rows = bars(clutter, seconds if suite == "default" and not resumed else None) if len(clutter) else []
    if suite == "default" and resumed:
        bar_rows.append((SUITE_BAR, "a resumed run times only its rest", "not measured"))
    comparison = compare(summary, reference_summary) if reference_summary is not None else []
    if comparison and all(row["reference"] is None for row in comparison) and suite == "novel":
        comparison = []  # the default suite's reference has no novel environment: shown beside it instead
    families = family_table(attempts)  # empty unless the run met novel objects
    if suite == "novel":
        bar_rows = novel_bars(families)
    if suite == "priority":
        bar_rows = priority_bars(clutter)
    sections = (
        protocols_markdown(summary)
        + first_attempts_markdown(summary)
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
    plot_rates(summary, out / "rates.png")
    plot_ctpg(summary, out / "ctpg.png")
    write_atomic(out / "report.md", report_markdown(summary, note, bar_rows, comparison, reference_path, sections))


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def bars(summary: pd.DataFrame, suite_seconds: float | None = None) -> list[tuple[str, str, str]]:
    """The benchmark's bars as (bar, measured, verdict) rows; a bar whose agents or environments
    are not in ``summary`` is "not measured". Verdicts compare point estimates; the intervals are
    shown beside them."""

    def row(agent, env):
        match = summary[(summary["agent"] == agent) & (summary["env"] == env)]
        return None if match.empty else match.iloc[0]

    def pct(r, key):
        return with_interval(r, key, "%")

    as_papers = summary["agent"].str.endswith(PAPERS_SUFFIX)
    papers, summary = summary[as_papers], summary[~as_papers]
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


def priority_bars(summary: pd.DataFrame) -> list[tuple[str, str, str]]:
    """Issue 26's bars on PriorityStacks-v0: aiming matters there (random's top-level first <= 60%),
    and GP-Net's grasp priority shows (gpnet >= ggcnn + 10 points, the intervals apart), as the
    benchmark runs the networks and as their papers do."""

    def row(agent):
        match = summary[(summary["agent"] == agent) & (summary["env"] == PRIORITY_ENV)]
        return None if match.empty or pd.isna(match.iloc[0]["top_level_rate"]) else match.iloc[0]

    rows = []
    bar = "PriorityStacks-v0: random's top-level first <= 60%"
    random = row("random")
    rows.append(
        (bar, "-", "not measured")
        if random is None
        else (bar, with_interval(random, "top_level_rate", "%"), verdict(random["top_level_rate"] <= 0.60))
    )
    for protocol, name in (("", ""), (PAPERS_SUFFIX, ", papers' protocol")):
        bar = f"PriorityStacks-v0{name}: top-level first, gpnet >= ggcnn + 10 points with the intervals apart"
        gpnet, ggcnn = row("gpnet" + protocol), row("ggcnn" + protocol)
        if gpnet is None or ggcnn is None:
            rows.append((bar, "-", "not measured"))
            continue
        gain = gpnet["top_level_rate"] - ggcnn["top_level_rate"]
        apart = gpnet["top_level_ci_low"] > ggcnn["top_level_ci_high"]
        measured = (
            f"gpnet{protocol} {with_interval(gpnet, 'top_level_rate', '%')} vs ggcnn{protocol} "
            f"{with_interval(ggcnn, 'top_level_rate', '%')} ({100 * gain:+.1f} points)"
        )
        rows.append((bar, measured, verdict(gain >= 0.10 and apart)))
    return rows


def first_attempts_markdown(summary: pd.DataFrame) -> list[str]:
    """Top-level first on each episode's first attempt, where every support still carries its load;
    later attempts at a support left bare count as top-level and blur the comparison."""
    rows = summary[summary["first_top_level_rate"].notna()] if "first_top_level_rate" in summary else summary.iloc[:0]
    if rows.empty:
        return []
    parts = [
        "## Top-level first, first attempts",
        "",
        "| environment | agent | top-level first, every attempt | first attempt of an episode |",
        "| --- | --- | --- | --- |",
    ]
    for _, r in rows.iterrows():
        parts.append(
            f"| {r['env']} | {r['agent']} | {with_interval(r, 'top_level_rate')} | "
            f"{with_interval(r, 'first_top_level_rate')} |"
        )
    return parts + [""]


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
        "From the check: the points of grasp success the benchmark's free-space check adds. New collisions:",
        f"those at least {REPEAT_RADIUS_PX:g} px from every earlier failed grasp of the episode; a failed grasp that moves nothing",
        "is tried again, image unchanged, until the episode ends, which a real pile rarely allows.",
        "",
        "| environment | agent | grasp success | collision | papers' grasp success | papers' collision "
        "| papers' new collisions | from the check |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for _, p in papers.iterrows():
        match = summary[(summary["agent"] == planner_protocol(p["agent"])) & (summary["env"] == p["env"])]
        if match.empty:
            continue
        r = match.iloc[0]
        parts.append(
            f"| {r['env']} | {r['agent']} | {with_interval(r, 'gsr')} | {with_interval(r, 'collision_rate')} | "
            f"{with_interval(p, 'gsr')} | {with_interval(p, 'collision_rate')} | "
            f"{_maybe(p, 'new_collision_rate')} | {100 * (r['gsr'] - p['gsr']):+.1f} |"
        )
    return parts + [""]


def _maybe(r, key: str) -> str:
    """A rate with its interval, or - where the records could not give it."""
    return with_interval(r, key) if pd.notna(r.get(key)) else "-"


def report_markdown(
    summary: pd.DataFrame, note: str, bar_rows=(), comparison=(), reference_path=None, sections=()
) -> str:
    picks = is_pick(summary)
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
    parts += comparison_markdown(comparison, reference_path)
    for env, group in summary[~picks].groupby("env", sort=False):
        parts += [
            f"## {env}",
            "",
            "| agent | grasp success | object removal | collision | multi-pick | top-level first | CTPG ms | attempts |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for _, r in group.sort_values("gsr", ascending=False).iterrows():
            top = _maybe(r, "top_level_rate")
            parts.append(
                f"| {r['agent']} | {with_interval(r, 'gsr')} | {with_interval(r, 'removal_rate')} | "
                f"{with_interval(r, 'collision_rate')} | {100 * r['multi_pick_rate']:.1f} | {top} | "
                f"{r['ctpg_ms']:.1f} | {r['attempts']} |"
            )
        parts.append("")
    for (env, split), group in by_split(summary):
        parts += [
            f"## {env}, {objects_of(split)}",
            "",
            "| agent | success rate (SR) | units per hour (UPH) | seconds per pick | probes per pick | "
            "retries per pick | collision | multi-pick | planning ms | picks |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for _, r in group.sort_values("sr", ascending=False).iterrows():
            uph = f"{r['uph']:.1f} [{r['uph_ci_low']:.1f}, {r['uph_ci_high']:.1f}]"
            parts.append(
                f"| {r['agent']} | {with_interval(r, 'sr')} | {uph} | {r['seconds_per_pick']:.1f} | "
                f"{r['probes_per_pick']:.2f} | {r['retries_per_pick']:.2f} | {with_interval(r, 'collision_rate')} | "
                f"{100 * r['multi_pick_rate']:.1f} | {r['ctpg_ms']:.1f} | {r['attempts']} |"
            )
        parts.append("")
    parts += list(sections)  # e.g. the novel suite's table by object family (bench/families.py)
    parts += ["![rates](rates.png)", "", "![ctpg](ctpg.png)", ""]
    return "\n".join(parts)
