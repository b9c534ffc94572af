"""The benchmark's plots: its rates with their intervals (rates.png) and grasp success against
computation time per grasp (ctpg.png), one series per environment (and object split)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..io import save_figure
from .summary import OBJECTS, PICK_RATES, RATES, by_split, is_pick


def plot_rates(summary: pd.DataFrame, path: Path) -> None:
    # matplotlib in the functions that draw, not at the head: the Agg backend must be chosen before
    # pyplot is imported, and importing bench.report (its suites and tables) must not switch the caller's.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # One column of panels per environment (per environment and object split in target picking).
    picks = is_pick(summary)
    columns = [
        (env.split("/")[-1], summary[~picks & (summary["env"] == env)], RATES)
        for env in dict.fromkeys(summary.loc[~picks, "env"])
    ]
    columns += [
        (f"{env.split('/')[-1]} {OBJECTS.get(split, split)}", group, PICK_RATES)
        for (env, split), group in by_split(summary)
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


def plot_ctpg(summary: pd.DataFrame, path: Path) -> None:
    # matplotlib here: see plot_rates
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picks = is_pick(summary)
    series = [(env.split("/")[-1], group, "gsr") for env, group in summary[~picks].groupby("env", sort=False)]
    series += [
        (f"{env.split('/')[-1]} {OBJECTS.get(split, split)}", group, "sr") for (env, split), group in by_split(summary)
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
