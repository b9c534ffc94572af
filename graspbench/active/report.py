"""``graspbench active-report``: issue 12's experiments, read from their run folders, into results/.

It reads what ``graspbench active-learn`` wrote (rounds.csv of every trial, same_data.csv) and
writes ``active_learning.md``, the learning curves (``active_learning.png``, ``_curves.csv``) and
the area under them (``_auc.csv``) of the main run, with the paper's claims beside graspbench's
measurements. Everything it says is computed from the run folders; nothing is typed in.

Comparisons between strategies are paired by trial: within a trial every strategy starts from the
same initial pool and the same seeds, so the per-trial difference removes what the pool explains.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import write_atomic
from ..versions import EQUIVALENT
from . import COMMAND_HELP
from .curves import METRIC_NAMES, METRICS, interval, plot_curves, trial_aucs

PAPER = {
    "auc": "DAL has the largest area under the learning curve on Cornell and Jacquard (its Figs. 5-6)",
    "small": "DAL's lead is largest at small budgets (the first rounds)",
    "pool": "with 60% of Cornell's labels DAL's GG-CNN grasps as well as one trained on all of them (real robot)",
    "same": "a plain GG-CNN on DAL's selected images: 77.45%, the DAL-trained model: 80.48%",
    "noisy": "DAL stays ahead with every label's angle perturbed in +-45 degrees (its Fig. 8)",
}


def paired_difference(per_trial: pd.DataFrame, strategy: str, reference: str, column: str = "auc"):
    """Mean and 95% half-width of ``strategy - reference`` over the trials both finished."""
    table = per_trial.pivot(index="trial", columns="strategy", values=column)
    if strategy not in table or reference not in table:
        return float("nan"), float("nan"), 0
    return interval((table[strategy] - table[reference]).dropna())


def _pm(mean: float, half: float, scale: float = 100.0, digits: int = 1) -> str:
    if not np.isfinite(mean):
        return "not measured"
    return f"{scale * mean:.{digits}f}" + (f" +- {scale * half:.{digits}f}" if np.isfinite(half) else "")


def evaluated_with(frames: list) -> str:
    """One sentence on the code that measured every row of ``frames`` (tables, or None for a run
    not given): the simulated metric changes with fixes to the simulator, so a mix must be visible."""
    counts: dict[str, int] = {}
    for frame in frames:
        if frame is not None:
            column = frame["evaluated_with"] if "evaluated_with" in frame else pd.Series(["unrecorded"] * len(frame))
            for version, n in column.fillna("unrecorded").value_counts().items():
                version = EQUIVALENT["active"].get(version, version)  # recorded as the same code
                counts[version] = counts.get(version, 0) + int(n)
    if len(counts) == 1:
        return f"Every row was evaluated by the same code, graspbench {next(iter(counts))}."
    mix = ", ".join(f"{version} ({n} rows)" for version, n in sorted(counts.items()))
    return (
        f"**Rows evaluated by different code**: {mix}. Simulated success is not comparable across them: "
        "run `graspbench active-learn --reevaluate` on each run folder (and `--same-data-round` again)."
    )


COST = {
    "label_core_s": "labelling (CPU)",
    "train_s": "training (wall)",
    "select_s": "selection (wall)",
    "eval_s": "evaluation (wall)",
}
"""The seconds each round records, by what they paid for: the labeller's CPU time, the rest by the clock."""


def cost_lines(
    rounds: pd.DataFrame, timed: tuple = (), trials: int = 5, cores: int = 2, optional: tuple[str, ...] = ("gissin",)
) -> list[str]:
    """What one trial of each strategy costs (hours of one core: the mean of each round over the
    trials that reached it, summed over the rounds), and the whole experiment at ``trials`` trials
    on ``cores`` cores kept busy (issue 12's bar: 6 hours on 2), with and without the ``optional``
    strategies (the issue's extras). Every round runs on one core. A round's cost is its labelling
    plus the CPU time of its training, evaluation and selection (``cpu_s``), which does not depend
    on what else ran; rounds older than that column count their wall-clock seconds, which read long
    where other jobs shared the cores. ``timed``: other runs of the same preset (the noisy
    annotator's: label noise changes no computation) whose CPU-timed rounds stand in for rounds
    timed only by the wall clock."""
    every = pd.concat(
        [rounds.assign(main=True), *(frame.assign(main=False) for frame in timed if frame is not None)],
        ignore_index=True,
    )
    wall = every[["train_s", "select_s", "eval_s"]].sum(axis=1)
    cpu = every["cpu_s"] if "cpu_s" in every else pd.Series(np.nan, index=every.index)
    every["core_s"] = every["label_core_s"] + cpu.fillna(wall)
    every["by_cpu"] = cpu.notna()
    # A (strategy, round) counts its CPU-timed rows where it has any, its wall-clock rows otherwise.
    has_cpu = every.groupby(["strategy", "round"])["by_cpu"].transform("any")
    counted = every[every["by_cpu"] | (~has_cpu & every["main"])]
    counted = counted[counted["strategy"].isin(set(rounds["strategy"]))]
    last = int(rounds["round"].max())
    per_round = counted.groupby(["strategy", "round"])[list(COST) + ["core_s"]].mean()
    lines = [
        "| strategy | trials finished | " + " | ".join(COST.values()) + " | one trial | rounds counted by CPU time |",
        "| --- " * (len(COST) + 4) + "|",
    ]
    hours_by_strategy, missing = {}, []
    for strategy in sorted(rounds["strategy"].unique()):
        ours = counted[counted["strategy"] == strategy]
        hours = per_round.loc[strategy].sum() / 3600
        main = rounds[rounds["strategy"] == strategy]
        done = int((main.groupby("trial")["round"].max() == last).sum())
        measured = len(per_round.loc[strategy]) == last + 1
        if not measured:
            missing.append(strategy)
        hours_by_strategy[strategy] = hours["core_s"]
        lines.append(
            f"| {strategy} | {done} | "
            + " | ".join(f"{hours[c]:.2f}" for c in COST)
            + f" | {hours['core_s']:.2f}{'' if measured else ' (rounds missing)'} | "
            f"{int(ours['by_cpu'].sum())} of {len(ours)} |"
        )

    def total(strategies) -> str:
        core_h = trials * sum(hours_by_strategy[s] for s in strategies)
        at_least = "at least " if set(missing) & set(strategies) else ""
        return f"{at_least}{core_h:.1f} core-hours, {at_least}{core_h / cores:.1f} hours on {cores} cores kept busy"

    extras = [s for s in hours_by_strategy if s in optional]
    lines += [
        "",
        f"Core-hours of one trial, rounds 0-{last}. The whole experiment at {trials} trials (the bar: 6 hours "
        f"on {cores} cores): every strategy above, {total(hours_by_strategy)}"
        + (
            f"; without {', '.join(extras)}, {total([s for s in hours_by_strategy if s not in extras])}"
            if extras
            else ""
        )
        + (f". Not yet through every round: {', '.join(missing)}." if missing else "."),
    ]
    return lines


def _rounds(folder: Path | None) -> pd.DataFrame | None:
    if folder is None:
        return None
    path = Path(folder) / "rounds.csv"
    if not path.exists():
        raise ValueError(f"{path} is missing: run `graspbench active-learn --out {folder}` first")
    return pd.read_csv(path)


def report(
    run: str, out: str = "results", whole_pool: str | None = None, noisy: str | None = None, max_fraction: float = 0.6
) -> str:
    """Write the report of the run folder ``run`` (and the optional whole-pool and noisy runs)
    into ``out``; returns the Markdown text."""
    rounds, pool_rounds, noisy_rounds = _rounds(run), _rounds(whole_pool), _rounds(noisy)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(run) / "curves.csv", out / "active_learning_curves.csv")
    metrics = [m for m in METRICS if m in rounds]
    plot_curves(pd.read_csv(Path(run) / "curves.csv"), metrics, out / "active_learning.png")
    # What a strategy's labels teach shows in the network's own top-1 grasp; the planner's
    # free-space check lifts every network to ~95% from 60 labels. The pool bar is about the
    # agent, so it reads the planner's.
    learned = "net_top1_success" if "net_top1_success" in metrics else metrics[-1]
    agent = "sim_top1_success" if "sim_top1_success" in metrics else metrics[-1]
    command = " ".join(
        ["graspbench active-report", run]
        + [f"--{flag} {value}" for flag, value in (("whole-pool", whole_pool), ("noisy", noisy)) if value]
    )
    lines = [
        "# Active learning (issue 12)",
        "",
        f"Made by `{command}` from the runs of `graspbench active-learn`; mean +- 95% interval over trials, "
        "in %. Differences are paired by trial (the same initial pool).",
        "",
    ]
    same_path = Path(run) / "same_data.csv"
    same = pd.read_csv(same_path) if same_path.exists() else None
    lines += [evaluated_with([rounds, pool_rounds, noisy_rounds, same]), ""]

    lines += [
        "## Area under the learning curve",
        "",
        "| strategy | trials | "
        + " | ".join(f"AUC {METRIC_NAMES[m]}" for m in metrics)
        + " | DAL - strategy, "
        + METRIC_NAMES[learned]
        + " |",
        "| --- " * (len(metrics) + 3) + "|",
    ]
    aucs = {m: trial_aucs(rounds, m) for m in metrics}
    table = []
    for strategy in sorted(rounds["strategy"].unique()):
        row = {"strategy": strategy}
        cells = []
        for m in metrics:
            mean, half, n = interval(aucs[m].loc[aucs[m]["strategy"] == strategy, "auc"])
            row.update({f"{m}_auc": mean, f"{m}_auc_ci95": half, "n_trials": n})
            cells.append(_pm(mean, half))
        d = _pm(*paired_difference(aucs[learned], "dal", strategy)[:2]) if strategy != "dal" else "-"
        lines.append(f"| {strategy} | {row['n_trials']} | " + " | ".join(cells) + f" | {d} |")
        table.append(row)
    write_atomic(out / "active_learning_auc.csv", pd.DataFrame(table).to_csv(index=False))

    claims = []
    if "dal" in set(rounds["strategy"]) and "random" in set(rounds["strategy"]):
        m = learned
        d = paired_difference(aucs[m], "dal", "random")
        claims.append(
            (PAPER["auc"], f"DAL - random AUC of {METRIC_NAMES[m]}: {_pm(d[0], d[1])} points ({d[2]} trials)")
        )
        first = rounds[rounds["round"] <= 2].copy()
        small = paired_difference(
            first.groupby(["strategy", "trial"], as_index=False)[m].mean().rename(columns={m: "auc"}), "dal", "random"
        )
        claims.append(
            (PAPER["small"], f"DAL - random over rounds 0-2 (60-180 labels): {_pm(small[0], small[1])} points")
        )
    if pool_rounds is not None and "dal" in set(rounds["strategy"]):
        dal = rounds[(rounds["strategy"] == "dal") & (rounds["labels_fraction"] <= max_fraction + 1e-9)]
        at = dal[dal["round"] == dal["round"].max()]
        parts = []
        for m in dict.fromkeys([agent, learned]):  # the agent's (the bar), then the network's own
            if m in pool_rounds:
                mean, half, n = interval(at[m])
                whole, whole_half, whole_n = interval(pool_rounds[m])
                parts.append(
                    f"{METRIC_NAMES[m]}: {_pm(mean, half)} ({n} trials) against {_pm(whole, whole_half)} "
                    f"({whole_n} trials), ratio {100 * mean / whole:.1f}%"
                )
        claims.append(
            (
                PAPER["pool"],
                f"DAL at {100 * at['labels_fraction'].iloc[0]:.0f}% of the pool against all of "
                f"it (bar: 95% of the {METRIC_NAMES[agent]}): " + "; ".join(parts),
            )
        )
    if same is not None:
        m = learned if f"dal_{learned}" in same else agent
        d = interval(same[f"dal_{m}"] - same[f"plain_{m}"])
        claims.append(
            (
                PAPER["same"],
                f"round {same['round'].iloc[0]} ({same['labels'].iloc[0]} scenes): DAL "
                f"{_pm(*interval(same[f'dal_{m}'])[:2])}, plain {_pm(*interval(same[f'plain_{m}'])[:2])}, "
                f"paired difference {_pm(d[0], d[1])} ({d[2]} trials)",
            )
        )
    if noisy_rounds is not None:
        m = learned if learned in noisy_rounds else agent
        d = paired_difference(trial_aucs(noisy_rounds, m), "dal", "random")
        claims.append(
            (
                PAPER["noisy"],
                f"DAL - random AUC of {METRIC_NAMES[m]} with noisy labels: {_pm(d[0], d[1])} points ({d[2]} trials)",
            )
        )
    lines += ["", "## The paper's claims beside graspbench's", "", "| the paper | graspbench |", "| --- | --- |"]
    lines += [f"| {paper} | {ours} |" for paper, ours in claims]
    if noisy_rounds is not None:
        lines += noisy_lines(rounds, noisy_rounds, [m for m in metrics if m in noisy_rounds], Path(noisy), out)
    if set(COST) <= set(rounds):  # rows written by active-learn record their seconds
        lines += ["", "## What it costs", ""] + cost_lines(rounds, timed=(noisy_rounds,))
    lines.append("")
    text = "\n".join(lines)
    write_atomic(out / "active_learning.md", text)
    return text


def noisy_lines(rounds: pd.DataFrame, noisy_rounds: pd.DataFrame, metrics: list, noisy: Path, out: Path) -> list[str]:
    """The noisy annotator (the paper's Fig. 8): its learning curves into
    ``active_learning_noisy.png``, and each strategy's AUC with clean and with noisy labels over
    the trials both runs finished (the same initial pools and seeds)."""
    plot_curves(pd.read_csv(noisy / "curves.csv"), metrics, out / "active_learning_noisy.png")
    lines = [
        "",
        "## The noisy annotator",
        "",
        "Every label's angle perturbed uniformly in +-45 degrees "
        "(`--label-noise-deg 45`), learning curves in `active_learning_noisy.png`. AUC with clean and noisy "
        "labels over the trials both runs finished, and the paired difference:",
        "",
        "| strategy | metric | trials | clean | noisy | noisy - clean |",
        "| --- " * 6 + "|",
    ]
    for m in metrics:
        both = pd.concat(
            [trial_aucs(rounds, m).assign(labels="clean"), trial_aucs(noisy_rounds, m).assign(labels="noisy")]
        )
        for strategy in sorted(noisy_rounds["strategy"].unique()):
            table = both[both["strategy"] == strategy].pivot(index="trial", columns="labels", values="auc").dropna()
            if table.empty or not {"clean", "noisy"} <= set(table):
                continue
            lines.append(
                f"| {strategy} | {METRIC_NAMES[m]} | {len(table)} | {_pm(*interval(table['clean'])[:2])} | "
                f"{_pm(*interval(table['noisy'])[:2])} | {_pm(*interval(table['noisy'] - table['clean'])[:2])} |"
            )
    return lines


def add_parser(sub) -> None:
    p = sub.add_parser("active-report", help=COMMAND_HELP["active-report"])
    p.add_argument("run", help="an active-learn run folder (every strategy to compare, DAL and random at least)")
    p.add_argument("--whole-pool", help="the run of a GG-CNN trained on the whole pool (--initial POOL --rounds 0)")
    p.add_argument("--noisy", help="the run with --label-noise-deg 45")
    p.add_argument("--out", default="results", help="folder for active_learning.md, .png, _curves.csv, _auc.csv")
    p.add_argument(
        "--max-fraction", type=float, default=0.6, help="DAL's model at the last round within this share of the pool"
    )
    p.set_defaults(
        func=lambda args: print(report(args.run, args.out, args.whole_pool, args.noisy, args.max_fraction)) or 0
    )
