"""The learning curves of active learning, as both the loop (its run folder's curves.csv, auc.csv
and learning_curves.png) and the report (results/active_learning.*) compute and draw them: the
metrics, their 95% intervals over trials, the area under each trial's curve, the plot.

Drawing changes no measurement: this module is left out of the active-learning experiment's code
version (:data:`graspbench.versions.NOT_MEASURING`), so a change of plot style marks no row stale.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from ..io import save_figure

METRICS = ("test_top1", "net_top1_success", "sim_top1_success")
METRIC_NAMES = {
    "test_top1": "Top-1 rectangle accuracy",
    "net_top1_success": "network's top-1 simulated success",
    "sim_top1_success": "planner's top-1 simulated success",
}


def interval(values) -> tuple[float, float, int]:
    """Mean and half-width of its 95% t-interval (NaN for fewer than 2 values), and the count."""
    values = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if len(values) == 0:
        return float("nan"), float("nan"), 0
    if len(values) < 2:
        return float(values.mean()), float("nan"), 1
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean()), float(half), len(values)


def trial_aucs(rounds, metric: str):
    """Area under each finished trial's learning curve, divided by the span of labels it covers
    (the mean accuracy over the budget); one row per (strategy, trial) that has every round of the
    run (an unfinished trial's area would cover a smaller budget)."""
    rows, last = [], rounds["round"].max()
    for (strategy, trial), group in rounds.sort_values("labels").groupby(["strategy", "trial"]):
        x, y = group["labels"].to_numpy(float), group[metric].to_numpy(float)
        if len(x) > 1 and group["round"].max() == last and len(group) == last + 1 and np.isfinite(y).all():
            rows.append(
                {
                    "strategy": strategy,
                    "trial": trial,
                    "auc": float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)) / (x[-1] - x[0])),
                }
            )
    return pd.DataFrame(rows, columns=["strategy", "trial", "auc"])


def plot_curves(curves: pd.DataFrame, metrics: list, path: Path) -> None:
    """Learning curves (curves.csv's rows), one panel per metric: mean and 95% interval over
    trials; intervals of strategies with fewer than 3 trials are not drawn (a t-interval over 2
    trials spans more than the axis)."""
    fig = Figure(figsize=(5 * len(metrics), 3.8))
    axes = fig.subplots(1, len(metrics), squeeze=False)
    for axis, metric in zip(axes[0], metrics):
        for strategy, group in curves.groupby("strategy"):
            mean = 100 * group[f"{metric}_mean"]
            (line,) = axis.plot(
                group["labels"], mean, "o-", label=f"{strategy} ({int(group['n_trials'].min())} trials)", markersize=3
            )
            if group["n_trials"].min() >= 3:
                half = 100 * group[f"{metric}_ci95"].fillna(0)
                axis.fill_between(
                    group["labels"],
                    (mean - half).clip(0, 100),
                    (mean + half).clip(0, 100),
                    color=line.get_color(),
                    alpha=0.15,
                )
        axis.set_ylim(0, 100)
        axis.set_xlabel("labelled scenes")
        axis.set_ylabel(f"{METRIC_NAMES[metric]} (%)")
        if axis.lines:
            axis.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
